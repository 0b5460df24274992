//! The account lifecycle's endpoints, as better-auth 1.7.25 answers them
//! (`docs/account-lifecycle.md`): email verification, password reset and
//! change of password. Mail goes through the configured
//! [`Mailer`](crate::mail::Mailer); without one these flows answer as
//! better-auth answers without its mail callbacks.

use std::time::{Duration, Instant};

use http::StatusCode;
use serde::Serialize;

use super::body::{is_valid_email, missing_query, Validator};
use super::oauth::append_query_params;
use super::routes::{hash_failed, hash_new_password, status_true};
use super::verification;
use crate::cookie::encode_uri_component;
use crate::email_token::{self, EmailToken, TokenError};
use crate::error::{codes, ApiError};
use crate::id::{generate_id, ID_LENGTH};
use crate::mail::MailKind;
use crate::password;
use crate::plugin::{Ctx, Reply, Route};
use crate::session::ResolveOptions;
use crate::store::{Account, SessionWithUser, StoreError, User, CREDENTIAL_PROVIDER};

/// The answer to `/request-password-reset`, whether the address is known
/// or not.
const RESET_MESSAGE: &str =
    "If this email exists in our system, check your email for the reset link";

/// How long `/send-verification-email` takes at least without a session,
/// so that a known unverified address (a mail to send) cannot be told from
/// the rest by timing (better-auth's `MINIMUM_MS`).
const VERIFICATION_FLOOR: Duration = Duration::from_millis(500);

/// The least time `/request-password-reset` takes, known address or not:
/// above what storing a record and handing over a message take on a
/// fast store, so that both answers wait for the same timer.
pub(crate) const RESET_FLOOR_MIN: Duration = Duration::from_micros(500);
/// The most it waits for, whatever a slow store took lately.
pub(crate) const RESET_FLOOR_MAX: Duration = Duration::from_secs(2);

/// The lifecycle's routes.
pub(crate) fn lifecycle_routes() -> Vec<Route> {
    vec![
        Route::post("/send-verification-email", |ctx| {
            Box::pin(send_verification_email(ctx))
        }),
        Route::get("/verify-email", |ctx| Box::pin(verify_email(ctx))).checks_query_callback_url(),
        Route::post("/request-password-reset", |ctx| {
            Box::pin(request_password_reset(ctx))
        }),
        Route::get("/reset-password/:token", |ctx| {
            Box::pin(reset_password_callback(ctx))
        })
        .checks_query_callback_url(),
        Route::post("/reset-password", |ctx| Box::pin(reset_password(ctx))),
        Route::post("/change-password", |ctx| Box::pin(change_password(ctx))),
    ]
}

/// The password length rules (`minPasswordLength`, `maxPasswordLength`)
/// for a new password.
fn check_new_password(ctx: &Ctx<'_>, password: &str) -> Result<(), ApiError> {
    let opts = &ctx.options().email_and_password;
    let len = password::password_length(password);
    if len < opts.min_password_length {
        return Err(codes::password_too_short());
    }
    if len > opts.max_password_length {
        return Err(codes::password_too_long());
    }
    Ok(())
}

/// Whether verification links can be sent.
pub(super) fn verification_on(ctx: &Ctx<'_>) -> bool {
    ctx.has_mailer() && ctx.options().email_verification.enabled
}

/// `encodeURIComponent(callbackURL || "/")`.
fn encoded_callback(callback_url: Option<&str>) -> String {
    encode_uri_component(callback_url.filter(|c| !c.is_empty()).unwrap_or("/"))
}

/// A verification token for `claims`, valid for
/// `emailVerification.expiresIn`.
pub(super) fn sign_token(ctx: &Ctx<'_>, claims: &EmailToken) -> String {
    email_token::sign(
        &ctx.services.engine.secrets,
        claims,
        ctx.now(),
        ctx.options().email_verification.expires_in,
    )
}

/// `<baseURL>/verify-email?token=…&callbackURL=…`, the link every
/// verification mail carries.
pub(super) fn verify_email_url(ctx: &Ctx<'_>, token: &str, callback_url: Option<&str>) -> String {
    format!(
        "{}/verify-email?token={token}&callbackURL={}",
        ctx.base_url(),
        encoded_callback(callback_url)
    )
}

/// better-auth's `sendVerificationEmailFn`: a link that verifies `user`'s
/// address, to that address.
pub(crate) async fn send_verification_link(ctx: &Ctx<'_>, user: &User, callback_url: Option<&str>) {
    let claims = EmailToken::verify_address(&user.email, &user.id);
    let token = sign_token(ctx, &claims);
    let url = verify_email_url(ctx, &token, callback_url);
    ctx.send_mail(MailKind::VerifyEmail, &user.email, &user.name, &url, None)
        .await;
}

async fn send_verification_email(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let mut v = Validator::object(ctx.body())?;
    let email = v.email("email");
    let callback_url = v.opt_string("callbackURL");
    v.finish()?;
    if !verification_on(ctx) {
        tracing::error!("verification email isn't enabled: no mailer is configured");
        return Err(codes::verification_email_not_enabled());
    }
    let Some(current) = ctx.session(ResolveOptions::default()).await?.cloned() else {
        // No session: the same answer, after the same time, whether the
        // address is unknown, verified or waiting for a link.
        let start = Instant::now();
        let user = ctx
            .sessions()
            .database()
            .find_user_by_email(&email.to_lowercase())
            .await?;
        match user {
            Some(user) if !user.email_verified => {
                send_verification_link(ctx, &user, callback_url.as_deref()).await;
            }
            _ => {
                // As better-auth: the token is made and dropped.
                let _ = sign_token(ctx, &EmailToken::verify_address(&email, ""));
            }
        }
        if let Some(rest) = VERIFICATION_FLOOR.checked_sub(start.elapsed()) {
            tokio::time::sleep(rest).await;
        }
        return Ok(status_true());
    };
    if current.user.email.to_lowercase() != email.to_lowercase() {
        return Err(codes::email_mismatch());
    }
    if current.user.email_verified {
        return Err(codes::email_already_verified());
    }
    send_verification_link(ctx, &current.user, callback_url.as_deref()).await;
    Ok(status_true())
}

/// `/verify-email`'s failure: a redirect to `callbackURL?error=<code>`
/// when there is one, else 401 with the code.
fn verify_failure(
    callback_url: Option<&str>,
    code: &'static str,
    message: &'static str,
) -> Result<Reply, ApiError> {
    match callback_url {
        Some(url) => Ok(Reply::redirect(&append_query_params(
            url,
            &format!("error={code}"),
        ))),
        None => Err(ApiError::new(StatusCode::UNAUTHORIZED, code, message)),
    }
}

async fn verify_email(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let callback_url = ctx.query("callbackURL").map(str::to_owned);
    let callback = callback_url.as_deref();
    let Some(token) = ctx.query("token").map(str::to_owned) else {
        return Err(missing_query("token"));
    };
    let claims = match email_token::verify(&ctx.services.engine.secrets, &token, ctx.now()) {
        Ok(claims) if is_valid_email(&claims.email) => claims,
        Err(TokenError::Expired) => {
            return verify_failure(callback, "TOKEN_EXPIRED", "Token expired")
        }
        _ => return verify_failure(callback, "INVALID_TOKEN", "Invalid token"),
    };
    if claims.update_to.is_some() {
        return change_email_link(ctx, claims, callback).await;
    }
    let db = ctx.sessions().database().clone();
    let Some(user) = db.find_user_by_email(&claims.email).await? else {
        return verify_failure(callback, "USER_NOT_FOUND", "User not found");
    };
    if claims.user_id.as_ref().is_some_and(|id| *id != user.id) {
        return verify_failure(callback, "INVALID_TOKEN", "Invalid token");
    }
    if !user.email_verified {
        let mut verified = user.clone();
        verified.email_verified = true;
        verified.updated_at = ctx.now();
        ctx.sessions().update_user(&verified, ctx.now()).await?;
        if ctx
            .options()
            .email_verification
            .auto_sign_in_after_verification
        {
            let current = ctx.session(ResolveOptions::default()).await?.cloned();
            match current {
                Some(current) if current.user.email == claims.email => {
                    let mut user = current.user.clone();
                    user.email_verified = true;
                    let pair = SessionWithUser {
                        session: current.session.clone(),
                        user,
                    };
                    ctx.set_session_cookie(&pair, None).await;
                }
                _ => {
                    ctx.create_session(&verified, false).await?;
                }
            }
        }
    }
    if let Some(url) = callback {
        return Ok(Reply::redirect(url));
    }
    Ok(Reply::json(
        &serde_json::json!({ "status": true, "user": null }),
    ))
}

/// A `/verify-email` link of a change of address (`updateTo`), sent by
/// `/change-email`: the confirmation from the current address sends the
/// link to the new one, and that link makes the change.
async fn change_email_link(
    ctx: &mut Ctx<'_>,
    claims: EmailToken,
    callback: Option<&str>,
) -> Result<Reply, ApiError> {
    let Some(user_id) = claims.user_id.as_deref() else {
        return verify_failure(callback, "INVALID_TOKEN", "Invalid token");
    };
    let db = ctx.sessions().database().clone();
    let Some(user) = db.find_user_by_id(user_id).await? else {
        return verify_failure(callback, "USER_NOT_FOUND", "User not found");
    };
    if user.email.to_lowercase() != claims.email {
        return verify_failure(callback, "INVALID_TOKEN", "Invalid token");
    }
    let current = ctx.session(ResolveOptions::default()).await?.cloned();
    if current.as_ref().is_some_and(|s| s.user.id != user.id) {
        return verify_failure(callback, "INVALID_USER", "Invalid user");
    }
    let new_email = claims.update_to.clone().unwrap_or_default();
    if claims.request_type.as_deref() == Some("change-email-confirmation") {
        // The current address confirmed: the new one gets its link.
        let next = EmailToken {
            email: claims.email.clone(),
            update_to: Some(new_email.clone()),
            user_id: Some(user.id.clone()),
            request_type: Some("change-email-verification".to_owned()),
        };
        let token = sign_token(ctx, &next);
        let url = verify_email_url(ctx, &token, callback);
        if verification_on(ctx) {
            ctx.send_mail(MailKind::VerifyEmail, &new_email, &user.name, &url, None)
                .await;
        }
        if let Some(url) = callback {
            return Ok(Reply::redirect(url));
        }
        return Ok(status_true());
    }
    // `change-email-verification` keeps the verified flag; the legacy
    // one-step link (no request type) clears it and sends a new link.
    let two_step = claims.request_type.as_deref() == Some("change-email-verification");
    let mut updated = user.clone();
    updated.email = new_email.to_lowercase();
    updated.email_verified = two_step && user.email_verified;
    updated.updated_at = ctx.now();
    match ctx.sessions().update_user(&updated, ctx.now()).await {
        // The new address was taken after the link was sent.
        Err(StoreError::Conflict(_)) => {
            return verify_failure(callback, "INVALID_TOKEN", "Invalid token")
        }
        other => other?,
    };
    if !two_step && verification_on(ctx) {
        send_verification_link(ctx, &updated, callback).await;
    }
    if let Some(current) = current {
        let mut user = current.user.clone();
        user.email = updated.email.clone();
        user.email_verified = updated.email_verified;
        let pair = SessionWithUser {
            session: current.session.clone(),
            user,
        };
        ctx.set_session_cookie(&pair, None).await;
    }
    if let Some(url) = callback {
        return Ok(Reply::redirect(url));
    }
    Ok(Reply::json(
        &serde_json::json!({ "status": true, "user": updated }),
    ))
}

async fn request_password_reset(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let mut v = Validator::object(ctx.body())?;
    let email = v.email("email");
    let redirect_to = v.opt_string("redirectTo");
    v.finish()?;
    let opts = &ctx.options().email_and_password;
    if !ctx.has_mailer() || !opts.password_reset {
        tracing::error!("reset password isn't enabled: no mailer is configured");
        return Err(codes::reset_password_disabled());
    }
    // The same answer after the same time whether the address is known:
    // the work for a known one is timed, and every answer waits for the
    // slowest recent such work (`EvenTiming`).
    let start = Instant::now();
    let known = ctx
        .sessions()
        .database()
        .find_user_by_email(&email.to_lowercase())
        .await?;
    match known {
        Some(user) => {
            send_reset_link(ctx, &user, redirect_to.as_deref()).await?;
            ctx.services.mail.reset_timing.record(start.elapsed());
        }
        None => {
            // As better-auth: a token and a lookup are spent all the same.
            let _ = generate_id(24);
            verification::find(ctx, "dummy-verification-token").await?;
        }
    }
    let rest = ctx.services.mail.reset_timing.remaining(start.elapsed());
    if !rest.is_zero() {
        tokio::time::sleep(rest).await;
    }
    Ok(Reply::json(
        &serde_json::json!({ "status": true, "message": RESET_MESSAGE }),
    ))
}

/// Stores a one-time reset record for `user` and mails its link.
async fn send_reset_link(
    ctx: &Ctx<'_>,
    user: &User,
    redirect_to: Option<&str>,
) -> Result<(), ApiError> {
    let token = generate_id(24);
    let expires_in = ctx
        .options()
        .email_and_password
        .reset_password_token_expires_in;
    verification::issue(
        ctx,
        format!("reset-password:{token}"),
        user.id.clone(),
        verification::secs_to_ms(expires_in),
    )
    .await?;
    let callback = redirect_to.map(encode_uri_component).unwrap_or_default();
    let url = format!(
        "{}/reset-password/{token}?callbackURL={callback}",
        ctx.base_url()
    );
    ctx.send_mail(MailKind::ResetPassword, &user.email, &user.name, &url, None)
        .await;
    Ok(())
}

/// better-auth's `redirectError`/`redirectCallback`: `callbackURL`
/// resolved against the base URL, with `key=value` set in its query.
fn redirect_with(base_url: &str, callback_url: &str, key: &str, value: &str) -> Reply {
    let base = url::Url::parse(base_url).ok();
    let url = match base.as_ref() {
        Some(base) => base.join(callback_url).ok(),
        None => url::Url::parse(callback_url).ok(),
    };
    let Some(mut url) = url else {
        return Reply::redirect(callback_url);
    };
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != key)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair(key, value);
    Reply::redirect(url.as_str())
}

async fn reset_password_callback(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let token = ctx.path().rsplit('/').next().unwrap_or_default().to_owned();
    let Some(callback_url) = ctx.query("callbackURL").map(str::to_owned) else {
        return Err(missing_query("callbackURL"));
    };
    let base_url = ctx.base_url();
    if token.is_empty() || callback_url.is_empty() {
        let target = if callback_url.is_empty() {
            format!("{base_url}/error")
        } else {
            callback_url
        };
        return Ok(redirect_with(&base_url, &target, "error", "INVALID_TOKEN"));
    }
    let found = verification::find(ctx, &format!("reset-password:{token}")).await?;
    match found {
        Some((_, expires_at)) if expires_at >= ctx.now() => {
            Ok(redirect_with(&base_url, &callback_url, "token", &token))
        }
        _ => Ok(redirect_with(
            &base_url,
            &callback_url,
            "error",
            "INVALID_TOKEN",
        )),
    }
}

async fn reset_password(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let mut v = Validator::object(ctx.body())?;
    let new_password = v.string("newPassword");
    let body_token = v.opt_string("token");
    v.finish()?;
    let token = body_token
        .filter(|t| !t.is_empty())
        .or_else(|| {
            ctx.query("token")
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        })
        .ok_or_else(codes::invalid_token)?;
    check_new_password(ctx, &new_password)?;
    let identifier = format!("reset-password:{token}");
    let user_id = match verification::find(ctx, &identifier).await? {
        Some((user_id, expires_at)) if expires_at >= ctx.now() => user_id,
        _ => return Err(codes::invalid_token()),
    };
    let db = ctx.sessions().database().clone();
    if db.find_user_by_id(&user_id).await?.is_none() {
        return Err(codes::user_not_found());
    }
    let hash = hash_new_password(ctx, new_password).await?;
    // Spent first: of two resets with one token, one goes through.
    if verification::consume(ctx, &identifier).await?.is_none() {
        return Err(codes::invalid_token());
    }
    // Sessions end before the password changes: if the write fails, the
    // old password still stands and no stolen session outlives the reset.
    if ctx
        .options()
        .email_and_password
        .revoke_sessions_on_password_reset
    {
        ctx.sessions()
            .delete_user_sessions(&user_id, ctx.now())
            .await?;
    }
    set_credential_password(ctx, &user_id, hash).await?;
    Ok(status_true())
}

/// Sets the credential account's password, creating the account when the
/// user has none (better-auth's `resetCredentialPassword`).
async fn set_credential_password(
    ctx: &Ctx<'_>,
    user_id: &str,
    hash: String,
) -> Result<(), ApiError> {
    let db = ctx.sessions().database();
    let now = ctx.now();
    let account = db
        .find_accounts(user_id)
        .await?
        .into_iter()
        .find(|a| a.provider_id == CREDENTIAL_PROVIDER);
    match account {
        Some(mut account) => {
            account.password = Some(hash);
            account.updated_at = now;
            db.update_account(&account).await?;
        }
        None => {
            db.create_account(&Account::credential(
                generate_id(ID_LENGTH),
                user_id,
                hash,
                now,
            ))
            .await?;
        }
    }
    Ok(())
}

async fn change_password(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let mut v = Validator::object(ctx.body())?;
    let new_password = v.string("newPassword");
    let current_password = v.string("currentPassword");
    let revoke_others = v.opt_bool("revokeOtherSessions").unwrap_or(false);
    v.finish()?;
    let current = ctx.require_sensitive_session().await?;
    check_new_password(ctx, &new_password)?;
    if password::password_length(&current_password)
        > ctx.options().email_and_password.max_password_length
    {
        return Err(codes::password_too_long());
    }
    let db = ctx.sessions().database().clone();
    let account = db
        .find_accounts(&current.user.id)
        .await?
        .into_iter()
        .find(|a| a.provider_id == CREDENTIAL_PROVIDER && a.password.is_some());
    let Some(mut account) = account else {
        return Err(codes::credential_account_not_found());
    };
    let stored = account.password.clone().unwrap_or_default();
    // Both hashes on the pool, in better-auth's order: the new one first.
    let hash = hash_new_password(ctx, new_password).await?;
    let valid = ctx
        .hash_pool()
        .run(move || password::verify_password(&stored, &current_password))
        .await
        .map_err(hash_failed)?;
    if !matches!(valid, Ok(true)) {
        return Err(codes::invalid_password());
    }
    if revoke_others {
        ctx.sessions()
            .delete_user_sessions(&current.user.id, ctx.now())
            .await?;
    }
    account.password = Some(hash);
    account.updated_at = ctx.now();
    db.update_account(&account).await?;
    let mut token = None;
    if revoke_others {
        let session = ctx.create_session(&current.user, false).await?;
        token = Some(session.token);
    }
    #[derive(Serialize)]
    struct Body<'a> {
        token: Option<String>,
        user: &'a User,
    }
    Ok(Reply::json(&Body {
        token,
        user: &current.user,
    }))
}
