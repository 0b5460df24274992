//! The signed-in user's own record, as better-auth 1.7.25 answers for it
//! (`update-user.mjs`; `docs/account-lifecycle.md`): `/update-user`,
//! `/change-email`, `/delete-user` and `GET /delete-user/callback`.

use http::StatusCode;
use serde_json::{Map, Value};

use super::body::{is_truthy, missing_query, Validator};
use super::lifecycle::{send_verification_link, sign_token, verification_on, verify_email_url};
use super::routes::{hash_failed, is_fresh, status_true};
use super::verification;
use crate::cookie::encode_uri_component;
use crate::email_token::EmailToken;
use crate::error::{codes, ApiError};
use crate::id::generate_lowercase_token;
use crate::mail::MailKind;
use crate::password;
use crate::plugin::{Ctx, Reply, Route};
use crate::session::ResolveOptions;
use crate::store::{SessionWithUser, StoreError, User, CREDENTIAL_PROVIDER};

/// Length of a delete-account token (`generateRandomString(32, "0-9", "a-z")`).
const DELETE_TOKEN_LENGTH: usize = 32;

/// The routes of the user's own record.
pub(crate) fn user_routes() -> Vec<Route> {
    vec![
        Route::post("/update-user", |ctx| Box::pin(update_user(ctx))),
        Route::post("/change-email", |ctx| Box::pin(change_email(ctx))),
        Route::post("/delete-user", |ctx| Box::pin(delete_user(ctx))),
        Route::get("/delete-user/callback", |ctx| {
            Box::pin(delete_user_callback(ctx))
        })
        .checks_query_callback_url(),
    ]
}

/// The identifier of a delete-account record.
fn delete_identifier(token: &str) -> String {
    format!("delete-account-{token}")
}

async fn update_user(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let mut v = Validator::record(ctx.body())?;
    // better-auth takes any value here and hands it to the database; a name
    // that is not a string, or an image that is neither a string nor null,
    // is refused rather than stored.
    let name = v.opt_string("name");
    let image = v.nullable_string("image");
    let fields = v.fields();
    v.finish()?;
    let current = ctx.require_session(ResolveOptions::default()).await?;
    if fields.get("email").is_some_and(is_truthy) {
        return Err(codes::email_can_not_be_updated());
    }
    let extra = additional_fields(ctx, &fields)?;
    let image_given = fields.contains_key("image");
    if name.is_none() && !image_given && extra.is_empty() {
        return Err(ApiError::message_only(
            StatusCode::BAD_REQUEST,
            "No fields to update",
        ));
    }
    // The row as stored, not the session's copy, which a cookie cache may
    // have kept from before another change.
    let db = ctx.sessions().database().clone();
    let mut user = db
        .find_user_by_id(&current.user.id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    if let Some(name) = name {
        user.name = name;
    }
    if image_given {
        user.image = image;
    }
    user.extra.extend(extra);
    user.updated_at = ctx.now();
    ctx.sessions().update_user(&user, ctx.now()).await?;
    let pair = SessionWithUser {
        session: current.session,
        user,
    };
    ctx.set_session_cookie(&pair, None).await;
    Ok(status_true())
}

/// The additional fields of an update (better-auth's `parseUserInput(…,
/// "update")`): those the client may set are taken as given, one it may
/// not is refused when its value is truthy, and any other key is ignored.
fn additional_fields(
    ctx: &Ctx<'_>,
    body: &Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    let mut extra = Map::new();
    for field in &ctx.options().user_additional_fields {
        let Some(value) = body.get(&field.name) else {
            continue;
        };
        if field.input {
            extra.insert(field.name.clone(), value.clone());
        } else if is_truthy(value) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "FIELD_NOT_ALLOWED",
                format!("{} is not allowed to be set", field.name),
            ));
        }
    }
    Ok(extra)
}

async fn change_email(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let mut v = Validator::object(ctx.body())?;
    let new_email = v.email("newEmail");
    let callback_url = v.opt_string("callbackURL");
    v.finish()?;
    let current = ctx.require_sensitive_session().await?;
    let options = &ctx.options().user.change_email;
    if !options.enabled {
        tracing::error!("change email is disabled");
        return Err(codes::change_email_disabled());
    }
    let new_email = new_email.to_lowercase();
    if new_email == current.user.email {
        return Err(ApiError::message_only(
            StatusCode::BAD_REQUEST,
            "Email is the same",
        ));
    }
    // Checked before the lookup, so that a taken address and a free one
    // are answered alike (better-auth's early configuration check).
    let verified = current.user.email_verified;
    let without_verification = !verified && options.update_email_without_verification;
    let can_verify = verification_on(ctx);
    let can_confirm = can_verify && verified && options.send_change_email_confirmation;
    if !without_verification && !can_verify {
        tracing::error!("verification email isn't enabled: no mailer is configured");
        return Err(ApiError::message_only(
            StatusCode::BAD_REQUEST,
            "Verification email isn't enabled",
        ));
    }
    let db = ctx.sessions().database().clone();
    if db.find_user_by_email(&new_email).await?.is_some() {
        // As better-auth: the token is made and dropped, and the answer is
        // the one a free address gets.
        let _ = sign_token(ctx, &change_claims(&current.user, &new_email, None));
        tracing::info!("change email attempt for an existing email");
        return Ok(status_true());
    }
    if without_verification {
        let mut user = current.user.clone();
        user.email = new_email;
        user.updated_at = ctx.now();
        match ctx.sessions().update_user(&user, ctx.now()).await {
            // Taken since the lookup: answered as a taken address is.
            Err(StoreError::Conflict(_)) => return Ok(status_true()),
            other => other?,
        };
        let pair = SessionWithUser {
            session: current.session.clone(),
            user: user.clone(),
        };
        ctx.set_session_cookie(&pair, None).await;
        if can_verify {
            send_verification_link(ctx, &user, callback_url.as_deref()).await;
        }
        return Ok(status_true());
    }
    let (request_type, kind, to) = if can_confirm {
        // The current address confirms first; its link sends the next one.
        (
            "change-email-confirmation",
            MailKind::ChangeEmailConfirmation,
            current.user.email.clone(),
        )
    } else {
        (
            "change-email-verification",
            MailKind::VerifyEmail,
            new_email.clone(),
        )
    };
    let claims = change_claims(&current.user, &new_email, Some(request_type));
    let token = sign_token(ctx, &claims);
    let url = verify_email_url(ctx, &token, callback_url.as_deref());
    let new_address = can_confirm.then_some(new_email.as_str());
    ctx.send_mail(kind, &to, &current.user.name, &url, new_address)
        .await;
    Ok(status_true())
}

/// The claims of a change-of-address token for `user`.
fn change_claims(user: &User, new_email: &str, request_type: Option<&str>) -> EmailToken {
    EmailToken {
        email: user.email.clone(),
        update_to: Some(new_email.to_owned()),
        user_id: Some(user.id.clone()),
        request_type: request_type.map(str::to_owned),
    }
}

/// better-auth's `APIError.fromStatus("NOT_FOUND")`: a 404 whose JSON body
/// is empty (`/delete-user` while it is off).
fn empty_not_found() -> Reply {
    Reply {
        status: StatusCode::NOT_FOUND,
        headers: http::HeaderMap::new(),
        body: bytes::Bytes::new(),
    }
}

fn user_deleted() -> Reply {
    Reply::json(&serde_json::json!({ "success": true, "message": "User deleted" }))
}

async fn delete_user(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let mut v = Validator::object(ctx.body())?;
    let callback_url = v.opt_string("callbackURL");
    let password = v.opt_string("password").filter(|p| !p.is_empty());
    let token = v.opt_string("token").filter(|t| !t.is_empty());
    v.finish()?;
    let current = ctx.require_sensitive_session().await?;
    let options = ctx.options().user.delete_user.clone();
    if !options.enabled {
        tracing::error!("delete user is disabled");
        return Ok(empty_not_found());
    }
    if let Some(password) = &password {
        check_password(ctx, &current.user.id, password.clone()).await?;
    }
    if let Some(token) = token {
        delete_with_token(ctx, &current.user, &token).await?;
        return Ok(user_deleted());
    }
    if options.send_delete_account_verification && ctx.has_mailer() {
        let token = generate_lowercase_token(DELETE_TOKEN_LENGTH);
        verification::issue(
            ctx,
            delete_identifier(&token),
            current.user.id.clone(),
            verification::secs_to_ms(options.delete_token_expires_in),
        )
        .await?;
        let callback = callback_url.filter(|c| !c.is_empty());
        let url = format!(
            "{}/delete-user/callback?token={token}&callbackURL={}",
            ctx.base_url(),
            encode_uri_component(callback.as_deref().unwrap_or("/"))
        );
        let user = &current.user;
        ctx.send_mail(MailKind::DeleteAccount, &user.email, &user.name, &url, None)
            .await;
        return Ok(Reply::json(
            &serde_json::json!({ "success": true, "message": "Verification email sent" }),
        ));
    }
    if password.is_none() && !is_fresh(ctx, &current.session) {
        return Err(codes::session_expired());
    }
    delete_current_user(ctx, &current.user).await?;
    Ok(user_deleted())
}

/// Checks `password` against the user's credential account: better-auth's
/// `CREDENTIAL_ACCOUNT_NOT_FOUND` without one, `INVALID_PASSWORD` when wrong.
async fn check_password(ctx: &Ctx<'_>, user_id: &str, password: String) -> Result<(), ApiError> {
    if password::password_length(&password) > ctx.options().email_and_password.max_password_length {
        return Err(codes::password_too_long());
    }
    let stored = ctx
        .sessions()
        .database()
        .find_accounts(user_id)
        .await?
        .into_iter()
        .find(|a| a.provider_id == CREDENTIAL_PROVIDER)
        .and_then(|a| a.password)
        .ok_or_else(codes::credential_account_not_found)?;
    let valid = ctx
        .hash_pool()
        .run(move || password::verify_password(&stored, &password))
        .await
        .map_err(hash_failed)?;
    if matches!(valid, Ok(true)) {
        Ok(())
    } else {
        Err(codes::invalid_password())
    }
}

/// Spends a delete-account token issued to `user` and deletes the user
/// (better-auth's `deleteUserWithToken`): 404 `INVALID_TOKEN` for a token
/// that is unknown, spent, expired or another user's.
async fn delete_with_token(ctx: &mut Ctx<'_>, user: &User, token: &str) -> Result<(), ApiError> {
    let owner = verification::consume(ctx, &delete_identifier(token)).await?;
    if owner.as_deref() != Some(user.id.as_str()) {
        return Err(codes::delete_token_invalid());
    }
    delete_current_user(ctx, user).await
}

/// Deletes the signed-in user, ends every session of theirs (in every
/// store, and published to the revocation log) and expires this
/// request's session cookies.
async fn delete_current_user(ctx: &mut Ctx<'_>, user: &User) -> Result<(), ApiError> {
    ctx.sessions().delete_user(&user.id, ctx.now()).await?;
    ctx.delete_session_cookies();
    Ok(())
}

async fn delete_user_callback(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let Some(token) = ctx.query("token").map(str::to_owned) else {
        return Err(missing_query("token"));
    };
    let callback_url = ctx.query("callbackURL").map(str::to_owned);
    if !ctx.options().user.delete_user.enabled {
        tracing::error!("delete user is disabled");
        return Err(codes::not_found());
    }
    let opts = if ctx.is_stateless() {
        ResolveOptions::default()
    } else {
        ResolveOptions::from_store()
    };
    let Some(current) = ctx.session(opts).await?.cloned() else {
        return Err(codes::failed_to_get_user_info());
    };
    delete_with_token(ctx, &current.user, &token).await?;
    match callback_url.filter(|c| !c.is_empty()) {
        Some(url) => Ok(Reply::redirect(&url)),
        None => Ok(user_deleted()),
    }
}
