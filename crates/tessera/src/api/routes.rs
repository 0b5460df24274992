//! better-auth's core endpoints (spec §7.3).

use http::{header, HeaderValue, StatusCode};
use serde::Serialize;
use serde_json::Value;

use super::body::{is_valid_email, Validator};
use crate::error::{codes, ApiError};
use crate::id::{generate_id, ID_LENGTH};
use crate::password;
use crate::plugin::{Ctx, Reply, Route};
use crate::session::ResolveOptions;
use crate::store::{Account, Session, SessionUpdate, SessionWithUser, StoreError, User};

/// better-auth's core endpoints, written as plugins write theirs.
pub(crate) fn core_routes() -> Vec<Route> {
    vec![
        Route::post("/sign-up/email", |ctx| Box::pin(sign_up_email(ctx))).form_csrf(),
        Route::post("/sign-in/email", |ctx| Box::pin(sign_in_email(ctx))).form_csrf(),
        Route::get("/get-session", |ctx| Box::pin(get_session(ctx))),
        Route::post("/get-session", |ctx| Box::pin(get_session(ctx))),
        Route::post("/sign-out", |ctx| Box::pin(sign_out(ctx))),
        Route::get("/list-sessions", |ctx| Box::pin(list_sessions(ctx))),
        Route::post("/revoke-session", |ctx| Box::pin(revoke_session(ctx))),
        Route::post("/revoke-sessions", |ctx| Box::pin(revoke_sessions(ctx))),
        Route::post("/revoke-other-sessions", |ctx| {
            Box::pin(revoke_other_sessions(ctx))
        }),
        Route::post("/update-session", |ctx| Box::pin(update_session(ctx))),
        Route::get("/ok", |ctx| Box::pin(ok(ctx))),
    ]
}

/// `password` hashed on the pool, for storing.
pub(super) async fn hash_new_password(ctx: &Ctx<'_>, password: String) -> Result<String, ApiError> {
    ctx.hash_pool()
        .run(move || password::hash_password(&password))
        .await
        .map_err(hash_failed)?
        .map_err(|_| codes::password_too_long())
}

/// Whether `session` is younger than `session.freshAge` (`0` turns the
/// check off): better-auth's `freshSessionMiddleware` and `/delete-user`.
pub(super) fn is_fresh(ctx: &Ctx<'_>, session: &Session) -> bool {
    let fresh_age = ctx.options().session.fresh_age;
    let age_ms = ctx.now().as_millis() - session.created_at.as_millis();
    fresh_age == 0 || age_ms < i64::try_from(fresh_age.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// A password hash that could not run (its thread failed): a 500.
pub(super) fn hash_failed(e: std::io::Error) -> ApiError {
    ApiError::internal("INTERNAL_SERVER_ERROR", "Internal Server Error", &e)
}

async fn sign_up_email(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let mut v = Validator::object_or_record(ctx.body())?;
    let name = v.string("name");
    let email = v.email("email");
    let password = v.string("password");
    let image = v.nullable_string("image");
    let callback_url = v.opt_string("callbackURL");
    let remember_me = v.opt_bool("rememberMe");
    v.finish()?;
    let mut extra = serde_json::Map::new();
    if let Some(Value::Object(body)) = ctx.body() {
        for field in &ctx.options().user_additional_fields {
            match body.get(&field.name) {
                None | Some(Value::Null) => {}
                Some(value) if !field.input => {
                    if value != &Value::Bool(false) {
                        return Err(codes::field_not_allowed());
                    }
                }
                Some(value) => {
                    extra.insert(field.name.clone(), value.clone());
                }
            }
        }
    }

    let opts = &ctx.options().email_and_password;
    if !opts.enabled || opts.disable_sign_up {
        return Err(codes::email_password_sign_up_disabled());
    }
    let len = password::password_length(&password);
    if len < opts.min_password_length {
        return Err(codes::password_too_short());
    }
    if len > opts.max_password_length {
        return Err(codes::password_too_long());
    }
    // better-auth's `shouldReturnGenericDuplicateResponse`: where a new
    // account gets no session anyway, a taken email is not revealed.
    let hide_existing = !opts.auto_sign_in || opts.require_email_verification;
    let email = email.to_lowercase();
    let db = ctx.sessions().database().clone();
    let exists = db.find_user_by_email(&email).await?.is_some();
    if exists && !hide_existing {
        // better-auth answers before hashing here: the answer itself says
        // the email is taken.
        return Err(codes::user_already_exists());
    }
    // One hash whether the email is taken or not, so both answers take as
    // long (better-auth hashes in both cases too).
    let hash = hash_new_password(ctx, password).await?;
    let now = ctx.now();
    let user = User {
        name,
        email,
        email_verified: false,
        image,
        created_at: now,
        updated_at: now,
        id: generate_id(ID_LENGTH),
        extra,
    };
    #[derive(Serialize)]
    struct Body<'a> {
        token: Option<&'a str>,
        user: &'a User,
    }
    // better-auth's generic duplicate answer: `{token: null, user}` with the
    // user this sign-up would have created (a fresh id, now, the input),
    // never stored: the same answer a new account gets here.
    let without_session = |user: &User| Reply::json(&Body { token: None, user });
    if exists {
        return Ok(without_session(&user));
    }
    let account = Account::credential(generate_id(ID_LENGTH), &user.id, hash, now);
    match db.create_user_with_account(&user, &account).await {
        Ok(()) => {}
        // Taken between the lookup and the insert.
        Err(StoreError::Conflict(_)) if hide_existing => return Ok(without_session(&user)),
        Err(StoreError::Conflict(_)) => return Err(codes::user_already_exists()),
        Err(e @ StoreError::Unavailable(_)) => return Err(e.into()),
        Err(e) => {
            tracing::error!(error = %e, "failed to create user");
            return Err(codes::failed_to_create_user());
        }
    }
    let send_on_sign_up = ctx
        .options()
        .email_verification
        .send_on_sign_up
        .unwrap_or(opts.require_email_verification);
    if send_on_sign_up && ctx.has_mailer() && ctx.options().email_verification.enabled {
        super::lifecycle::send_verification_link(ctx, &user, callback_url.as_deref()).await;
    }
    if hide_existing {
        return Ok(without_session(&user));
    }
    let dont_remember = remember_me == Some(false);
    let session = ctx.create_session(&user, dont_remember).await?;
    Ok(Reply::json(&Body {
        token: Some(&session.token),
        user: &user,
    }))
}

async fn sign_in_email(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let mut v = Validator::object(ctx.body())?;
    let email = v.string("email");
    let password = v.string("password");
    let callback_url = v.opt_string("callbackURL");
    let remember_me = v.opt_bool("rememberMe");
    v.finish()?;

    let opts = &ctx.options().email_and_password;
    if !opts.enabled {
        return Err(codes::email_password_disabled());
    }
    if !is_valid_email(&email) {
        return Err(codes::invalid_email());
    }
    // better-auth checks the maximum (not the minimum) before the lookup:
    // no hashing, and no normalising, of an over-long password.
    if password::password_length(&password) > opts.max_password_length {
        return Err(codes::password_too_long());
    }
    let email = email.to_lowercase();
    // Before the lookup: known and unknown emails are counted alike.
    let throttle = ctx.account_throttle();
    throttle.attempt(&email, ctx.now()).await?;
    let found = ctx
        .sessions()
        .database()
        .find_user_with_credential(&email)
        .await?;
    let (user, hash) = match found {
        Some((
            user,
            Some(Account {
                password: Some(hash),
                ..
            }),
        )) => (user, hash),
        _ => {
            // Spend one hash so an unknown email answers as slowly as a known one.
            ctx.hash_pool()
                .run(move || password::burn_hash(&password))
                .await
                .map_err(hash_failed)?;
            return Err(codes::invalid_email_or_password());
        }
    };
    let valid = ctx
        .hash_pool()
        .run(move || password::verify_password(&hash, &password))
        .await
        .map_err(hash_failed)?;
    match valid {
        Ok(true) => throttle.succeeded(&email).await,
        Ok(false) => return Err(codes::invalid_email_or_password()),
        Err(e) => {
            tracing::error!(error = %e, user_id = %user.id, "stored password hash is malformed");
            return Err(codes::invalid_email_or_password());
        }
    }
    if opts.require_email_verification && !user.email_verified {
        let verification = &ctx.options().email_verification;
        if verification.send_on_sign_in && verification.enabled && ctx.has_mailer() {
            super::lifecycle::send_verification_link(ctx, &user, callback_url.as_deref()).await;
        }
        return Err(codes::email_not_verified());
    }
    let session = ctx
        .create_session(&user, remember_me == Some(false))
        .await?;
    #[derive(Serialize)]
    struct Body<'a> {
        redirect: bool,
        token: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        url: Option<&'a str>,
        user: &'a User,
    }
    let mut reply = Reply::json(&Body {
        redirect: callback_url.is_some(),
        token: &session.token,
        url: callback_url.as_deref(),
        user: &user,
    });
    if let Some(url) = callback_url
        .as_deref()
        .and_then(|u| HeaderValue::from_str(u).ok())
    {
        reply = reply.with_header(header::LOCATION, url);
    }
    Ok(reply)
}

/// A get-session answer: `{session, user}`, and `needsRefresh` in a
/// deferred read.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionBody<'a> {
    session: &'a Session,
    user: &'a User,
    #[serde(skip_serializing_if = "Option::is_none")]
    needs_refresh: Option<bool>,
}

async fn get_session(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let opts = match ctx.get_session_options() {
        Ok(opts) => opts,
        Err(reply) => return Ok(*reply),
    };
    let resolved = ctx.resolve(opts).await?;
    let reply = match (
        resolved.session,
        resolved.needs_refresh,
        resolved.cache_entry,
    ) {
        // A cookie-cache hit: the JSON rendered once for this cache value.
        (Some(_), None, Some(entry)) => Reply::json_bytes(entry.records_json()),
        (Some(s), needs_refresh, _) => Reply::json(&SessionBody {
            session: &s.session,
            user: &s.user,
            needs_refresh,
        }),
        (None, ..) => Reply::json(&Value::Null),
    };
    Ok(reply.no_store())
}

async fn sign_out(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let mut v = Validator::optional_object(ctx.body())?;
    let callback_url = v.opt_string("callbackURL");
    let disable_redirect = v.opt_bool("disableRedirect").unwrap_or(false);
    let state = v.opt_string("state");
    v.finish()?;
    let mut user_id = None;
    if let Some(token) = ctx.session_token().map(str::to_owned) {
        // Read before it is deleted: whose provider to log out of.
        if ctx.oauth().providers().next().is_some() {
            user_id = ctx
                .sessions()
                .find(&token)
                .await
                .ok()
                .flatten()
                .map(|s| s.user.id);
        }
        ctx.sessions().delete(&token, ctx.now()).await?;
    }
    ctx.delete_session_cookies();
    let logout = match user_id {
        Some(user_id) => {
            provider_logout_url(ctx, &user_id, callback_url.as_deref(), state.as_deref()).await
        }
        None => None,
    };
    let Some(url) = logout else {
        return Ok(Reply::json(&serde_json::json!({ "success": true })));
    };
    // better-auth's provider logout (RP-initiated logout).
    let redirect = !disable_redirect;
    let mut reply = Reply::json(&serde_json::json!({
        "success": true,
        "url": url,
        "redirect": redirect,
    }));
    if redirect {
        if let Ok(location) = HeaderValue::from_str(&url) {
            reply = reply.with_header(header::LOCATION, location);
        }
    }
    Ok(reply)
}

/// The logout URL of the provider the user's most recently updated
/// account belongs to, among those with an `end_session_endpoint`.
async fn provider_logout_url(
    ctx: &Ctx<'_>,
    user_id: &str,
    callback_url: Option<&str>,
    state: Option<&str>,
) -> Option<String> {
    let mut accounts = match ctx.sessions().database().find_accounts(user_id).await {
        Ok(accounts) => accounts,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the accounts for provider logout");
            return None;
        }
    };
    accounts.sort_by_key(|a| std::cmp::Reverse(a.updated_at.as_millis()));
    let base_url = ctx.base_url();
    accounts.iter().find_map(|account| {
        let provider = ctx.oauth().provider(&account.provider_id)?;
        provider.end_session_url(account.id_token.as_deref(), callback_url, state, &base_url)
    })
}

async fn list_sessions(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let current = ctx.require_session(ResolveOptions::default()).await?;
    if !is_fresh(ctx, &current.session) {
        return Err(codes::session_not_fresh());
    }
    let sessions = ctx.sessions().list(&current.user.id, ctx.now()).await?;
    Ok(Reply::json(&sessions))
}

const STATUS_TRUE: &[u8] = br#"{"status":true}"#;

/// `{"status": true}`, better-auth's answer of done.
pub(super) fn status_true() -> Reply {
    Reply {
        status: StatusCode::OK,
        headers: Default::default(),
        body: bytes::Bytes::from_static(STATUS_TRUE),
    }
}

async fn revoke_session(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let mut v = Validator::object(ctx.body())?;
    let token = v.string("token");
    v.finish()?;
    let current = ctx.require_sensitive_session().await?;
    let target = ctx.sessions().find(&token).await?;
    if let Some(target) = target.filter(|t| t.session.user_id == current.user.id) {
        ctx.sessions()
            .delete(&target.session.token, ctx.now())
            .await?;
        if target.session.token == current.session.token {
            ctx.delete_session_cookies();
        }
    }
    Ok(status_true())
}

async fn revoke_sessions(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let current = ctx.require_sensitive_session().await?;
    ctx.sessions()
        .delete_user_sessions(&current.user.id, ctx.now())
        .await?;
    ctx.delete_session_cookies();
    Ok(status_true())
}

async fn revoke_other_sessions(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let current = ctx.require_sensitive_session().await?;
    let sessions = ctx.sessions().list(&current.user.id, ctx.now()).await?;
    for s in sessions.iter().filter(|s| s.token != current.session.token) {
        ctx.sessions().delete(&s.token, ctx.now()).await?;
    }
    Ok(status_true())
}

async fn update_session(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let v = Validator::object(ctx.body())?;
    v.finish()?;
    let current = ctx.require_session(ResolveOptions::default()).await?;
    // Only additional session fields may be set: core fields and unknown
    // keys are stripped (as better-auth's schema does), `input: false`
    // fields are refused.
    let mut update = SessionUpdate::default();
    if let Some(Value::Object(body)) = ctx.body() {
        for field in &ctx.options().session.additional_fields {
            let Some(value) = body.get(&field.name) else {
                continue;
            };
            if !field.input {
                return Err(codes::field_not_allowed());
            }
            update.extra.insert(field.name.clone(), value.clone());
        }
    }
    if update.extra.is_empty() {
        return Err(ApiError::message_only(
            StatusCode::BAD_REQUEST,
            "No fields to update",
        ));
    }
    let session = ctx
        .sessions()
        .update(&current.session.token, &update, ctx.now())
        .await?
        .ok_or_else(codes::failed_to_get_session)?;
    let pair = SessionWithUser {
        session,
        user: current.user,
    };
    ctx.set_session_cookie(&pair, None).await;
    #[derive(Serialize)]
    struct Body<'a> {
        session: &'a Session,
    }
    Ok(Reply::json(&Body {
        session: &pair.session,
    }))
}

async fn ok(_ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    Ok(Reply::json(&serde_json::json!({ "ok": true })))
}
