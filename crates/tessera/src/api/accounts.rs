//! better-auth's account routes: `/list-accounts`, `/link-social` (and
//! the link its callback completes), `/unlink-account`, `/account-info`,
//! `/get-access-token`, `/refresh-token` (`docs/oauth.md`). Without a
//! database the provider's account lives in the `account_data` cookie
//! (spec §4.2), and these routes read it there.

use http::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value};

use super::body::{received, Validator};
use super::oauth::{
    origin_of_base, provider_not_found, set_account_cookie, store_state, STATE_TTL_MS,
};
use crate::error::{codes, ApiError};
use crate::id::{generate_id, ID_LENGTH};
use crate::oauth::{
    self, AuthorizationRequest, LinkData, Provider, ProviderUser, StateData, Tokens, UserInfoError,
};
use crate::plugin::{Ctx, Reply, Route};
use crate::store::{Account, SessionWithUser, StoreError};
use crate::Timestamp;

/// An access token this close to its expiry is refreshed first
/// (better-auth's `getValidAccessToken`: 5 s).
const REFRESH_MARGIN_MS: i64 = 5_000;

/// The account routes.
pub(crate) fn account_routes() -> Vec<Route> {
    vec![
        Route::get("/list-accounts", |ctx| Box::pin(list_accounts(ctx))),
        Route::post("/link-social", |ctx| Box::pin(link_social(ctx))),
        Route::post("/unlink-account", |ctx| Box::pin(unlink_account(ctx))),
        Route::get("/account-info", |ctx| Box::pin(account_info(ctx))),
        Route::post("/get-access-token", |ctx| Box::pin(get_access_token(ctx))),
        Route::post("/refresh-token", |ctx| Box::pin(refresh_token(ctx))),
    ]
}

fn account_not_found() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "ACCOUNT_NOT_FOUND",
        "Account not found",
    )
}

/// The `account_data` cookie of this request, if it opens.
fn account_from_cookie(ctx: &Ctx<'_>) -> Option<Account> {
    let def = &ctx.auth_cookies().account_data;
    let value = crate::cookie::read_chunked(def, ctx.cookies())?;
    ctx.oauth().open_account(&value, ctx.now())
}

/// An account as `/list-accounts` shows it: no tokens, `scopes` split.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListedAccount<'a> {
    id: &'a str,
    provider_id: &'a str,
    created_at: Timestamp,
    updated_at: Timestamp,
    account_id: &'a str,
    user_id: &'a str,
    scopes: Vec<&'a str>,
}

fn scopes_of(account: &Account) -> Vec<&str> {
    account
        .scope
        .as_deref()
        .map(|s| {
            s.split([',', ' '])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The user's accounts. Without a database the account lives in its
/// cookie: it is one of them, where better-auth forgets it with a restart
/// (a deliberate difference).
async fn user_accounts(ctx: &Ctx<'_>, user_id: &str) -> Result<Vec<Account>, ApiError> {
    let db = ctx.sessions().database().clone();
    let mut accounts = db.find_accounts(user_id).await?;
    if ctx.oauth().stores_account_cookie() && ctx.is_stateless() {
        if let Some(account) = account_from_cookie(ctx) {
            if account.user_id == user_id
                && !accounts.iter().any(|a| {
                    a.provider_id == account.provider_id && a.account_id == account.account_id
                })
            {
                accounts.push(account);
            }
        }
    }
    Ok(accounts)
}

async fn list_accounts(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let session = ctx
        .require_session(crate::ResolveOptions::default())
        .await?;
    let accounts = user_accounts(ctx, &session.user.id).await?;
    let listed: Vec<ListedAccount<'_>> = accounts
        .iter()
        .map(|a| ListedAccount {
            id: &a.id,
            provider_id: &a.provider_id,
            created_at: a.created_at,
            updated_at: a.updated_at,
            account_id: &a.account_id,
            user_id: &a.user_id,
            scopes: scopes_of(a),
        })
        .collect();
    Ok(Reply::json(&listed))
}

/// `{accountId, userId?}` or `{useAccountCookie: true, userId?}`, strictly
/// (better-auth's `accountSelectionSchema`).
enum Selection {
    Id(String),
    Cookie,
}

fn selection(ctx: &Ctx<'_>) -> Result<(Selection, Option<String>), ApiError> {
    match ctx.body() {
        Some(Value::Object(body)) => select_account(body, "body"),
        _ => Err(ApiError::validation("[body] Invalid input")),
    }
}

/// `accountSelectionSchema`, a union of two strict objects, as zod 4
/// reads it: a shape with only unknown keys wrong is refused by naming
/// them when it is the only shape whose fields have the right types;
/// anything else is `Invalid input`. `source` is `body` or `query`.
fn select_account(
    fields: &Map<String, Value>,
    source: &str,
) -> Result<(Selection, Option<String>), ApiError> {
    let user_id = match fields.get("userId") {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(()),
    };
    let by_id = match (fields.get("accountId"), &user_id) {
        (Some(Value::String(id)), Ok(_)) => Some(Selection::Id(id.clone())),
        _ => None,
    };
    let by_cookie = match (fields.get("useAccountCookie"), &user_id) {
        (Some(Value::Bool(true)), Ok(_)) => Some(Selection::Cookie),
        _ => None,
    };
    let unknown = |known: &str| -> Vec<&str> {
        fields
            .keys()
            .map(String::as_str)
            .filter(|k| *k != known && *k != "userId")
            .collect()
    };
    let (selection, unknown) = match (by_id, by_cookie) {
        (Some(selection), None) => (selection, unknown("accountId")),
        (None, Some(selection)) => (selection, unknown("useAccountCookie")),
        _ => return Err(ApiError::validation(format!("[{source}] Invalid input"))),
    };
    if unknown.is_empty() {
        return Ok((selection, user_id.unwrap_or_default()));
    }
    let quoted: Vec<String> = unknown
        .iter()
        .map(|k| Value::String((*k).to_owned()).to_string())
        .collect();
    let plural = if quoted.len() > 1 { "s" } else { "" };
    Err(ApiError::validation(format!(
        "[{source}] Unrecognized key{plural}: {}",
        quoted.join(", ")
    )))
}

/// The session, read from the store when there is one, so that a
/// revocation takes effect at once (better-auth's
/// `getAuthoritativeSessionFromCtx`); without a store the cookie is the
/// session. 401 without one.
async fn authoritative_session(ctx: &mut Ctx<'_>) -> Result<SessionWithUser, ApiError> {
    let opts = if ctx.is_stateless() {
        crate::ResolveOptions::default()
    } else {
        crate::ResolveOptions::from_store()
    };
    ctx.require_session(opts).await
}

/// The user these token routes act for. better-auth lets a server-side
/// caller without a session name a `userId`; a request Tessera answers
/// comes from a client, which must carry a session, and its user wins.
async fn resolve_user_id(ctx: &mut Ctx<'_>, _user_id: Option<String>) -> Result<String, ApiError> {
    Ok(authoritative_session(ctx).await?.user.id)
}

async fn resolve_account(
    ctx: &mut Ctx<'_>,
    user_id: &str,
    selection: &Selection,
) -> Result<Account, ApiError> {
    match selection {
        Selection::Id(id) => {
            let db = ctx.sessions().database().clone();
            let stored = db
                .find_accounts(user_id)
                .await?
                .into_iter()
                .find(|a| &a.id == id);
            // Without a database `/list-accounts` lists the cookie's
            // account, so its id selects it (the cookie is the store).
            let from_cookie = || {
                (ctx.is_stateless() && ctx.oauth().stores_account_cookie())
                    .then(|| account_from_cookie(ctx))
                    .flatten()
                    .filter(|a| &a.id == id && a.user_id == user_id)
            };
            stored.or_else(from_cookie).ok_or_else(account_not_found)
        }
        Selection::Cookie if ctx.oauth().stores_account_cookie() => account_from_cookie(ctx)
            // Bound to the session's user, with or without a database
            // (better-auth binds it only with one).
            .filter(|a| a.user_id == user_id)
            .ok_or_else(account_not_found),
        Selection::Cookie => Err(account_not_found()),
    }
}

fn failed_to_get_access_token() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "FAILED_TO_GET_ACCESS_TOKEN",
        "Failed to get a valid access token",
    )
}

/// Stores refreshed tokens on the account and in its cookie.
async fn save_refreshed(
    ctx: &mut Ctx<'_>,
    mut account: Account,
    tokens: &Tokens,
) -> Result<Account, ApiError> {
    account.access_token = tokens.access_token.clone();
    account.access_token_expires_at = tokens.access_token_expires_at;
    if tokens.refresh_token.is_some() {
        account.refresh_token = tokens.refresh_token.clone();
    }
    if tokens.refresh_token_expires_at.is_some() {
        account.refresh_token_expires_at = tokens.refresh_token_expires_at;
    }
    if tokens.id_token.is_some() {
        account.id_token = tokens.id_token.clone();
    }
    account.updated_at = ctx.now();
    let db = ctx.sessions().database().clone();
    // In stateless mode the row may be gone with a restart: the cookie is
    // the account then.
    db.update_account(&account).await?;
    if ctx.oauth().stores_account_cookie() {
        set_account_cookie(ctx, &account);
    }
    Ok(account)
}

async fn refresh_with_provider(ctx: &Ctx<'_>, account: &Account) -> Result<Tokens, ApiError> {
    let provider = ctx
        .oauth()
        .provider(&account.provider_id)
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "PROVIDER_NOT_SUPPORTED",
                format!("Provider {} is not supported.", account.provider_id),
            )
        })?;
    let refresh = account.refresh_token.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "REFRESH_TOKEN_NOT_FOUND",
            "Refresh token not found",
        )
    })?;
    let client = ctx
        .oauth()
        .client()
        .ok_or_else(failed_to_get_access_token)?;
    provider
        .refresh(client, refresh, ctx.now())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, provider = %provider.id(), "token refresh failed");
            failed_to_get_access_token()
        })
}

/// better-auth's `getValidAccessToken`: the account, refreshed first when
/// its access token expires within [`REFRESH_MARGIN_MS`] and it has a
/// refresh token.
async fn with_valid_access_token(ctx: &mut Ctx<'_>, account: Account) -> Result<Account, ApiError> {
    let expiring = account
        .access_token_expires_at
        .is_some_and(|t| t.as_millis() - ctx.now().as_millis() < REFRESH_MARGIN_MS);
    if expiring && account.refresh_token.is_some() {
        let tokens = refresh_with_provider(ctx, &account)
            .await
            .map_err(|_| failed_to_get_access_token())?;
        save_refreshed(ctx, account, &tokens).await
    } else {
        Ok(account)
    }
}

async fn get_access_token(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let (selection, user_id) = selection(ctx)?;
    let user_id = resolve_user_id(ctx, user_id).await?;
    let account = resolve_account(ctx, &user_id, &selection).await?;
    if ctx.oauth().provider(&account.provider_id).is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "PROVIDER_NOT_SUPPORTED",
            format!("Provider {} is not supported.", account.provider_id),
        ));
    }
    let account = with_valid_access_token(ctx, account).await?;
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Body<'a> {
        access_token: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        access_token_expires_at: Option<Timestamp>,
        scopes: Vec<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        id_token: Option<&'a str>,
    }
    Ok(Reply::json(&Body {
        access_token: account.access_token.as_deref().unwrap_or_default(),
        access_token_expires_at: account.access_token_expires_at,
        scopes: scopes_of(&account),
        id_token: account.id_token.as_deref(),
    }))
}

async fn refresh_token(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let (selection, user_id) = selection(ctx)?;
    let user_id = resolve_user_id(ctx, user_id).await?;
    let account = resolve_account(ctx, &user_id, &selection).await?;
    let tokens = refresh_with_provider(ctx, &account).await?;
    let account = save_refreshed(ctx, account, &tokens).await?;
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Body<'a> {
        access_token: Option<&'a str>,
        refresh_token: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        access_token_expires_at: Option<Timestamp>,
        #[serde(skip_serializing_if = "Option::is_none")]
        refresh_token_expires_at: Option<Timestamp>,
        #[serde(skip_serializing_if = "Option::is_none")]
        scope: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        id_token: Option<&'a str>,
    }
    Ok(Reply::json(&Body {
        access_token: account.access_token.as_deref(),
        refresh_token: account.refresh_token.as_deref(),
        access_token_expires_at: account.access_token_expires_at,
        refresh_token_expires_at: account.refresh_token_expires_at,
        scope: account.scope.as_deref(),
        id_token: account.id_token.as_deref(),
    }))
}

// --- /link-social ---

/// `/link-social`'s body (`linkSocialAccount`'s schema; `additionalParams`
/// is not supported, as on `/sign-in/social`).
struct LinkSocialBody {
    callback_url: Option<String>,
    provider: String,
    id_token: Option<IdTokenBody>,
    request_sign_up: Option<bool>,
    scopes: Vec<String>,
    error_url: Option<String>,
    disable_redirect: bool,
    login_hint: Option<String>,
    additional_data: Option<Map<String, Value>>,
}

/// `idToken`: a token the client already holds, linked without a redirect.
struct IdTokenBody {
    token: String,
    nonce: Option<String>,
    access_token: Option<String>,
    refresh_token: Option<String>,
}

/// A `Validator`'s issues, kept to be reported with the others.
fn keep_issues(issues: &mut Vec<String>, checked: Result<(), ApiError>) {
    if let Err(e) = checked {
        issues.push(e.message.into_owned());
    }
}

/// `idToken: z.object({token, nonce?, accessToken?, refreshToken?}).optional()`.
fn id_token_body(value: Option<&Value>, issues: &mut Vec<String>) -> Option<IdTokenBody> {
    let fields = match value? {
        Value::Object(fields) => fields,
        other => {
            issues.push(format!(
                "[body.idToken] Invalid input: expected object, received {}",
                received(Some(other))
            ));
            return None;
        }
    };
    let mut field = |name: &str, required: bool| match fields.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        None if !required => None,
        other => {
            issues.push(format!(
                "[body.idToken.{name}] Invalid input: expected string, received {}",
                received(other)
            ));
            None
        }
    };
    let token = field("token", true);
    let nonce = field("nonce", false);
    let access_token = field("accessToken", false);
    let refresh_token = field("refreshToken", false);
    Some(IdTokenBody {
        token: token?,
        nonce,
        access_token,
        refresh_token,
    })
}

/// Reads the body, reporting every issue in the schema's order.
fn link_social_body(ctx: &Ctx<'_>) -> Result<LinkSocialBody, ApiError> {
    let body = ctx.body();
    let mut issues = Vec::new();
    let mut head = Validator::object(body)?;
    let callback_url = head.opt_string("callbackURL");
    keep_issues(&mut issues, head.finish());
    // `z.enum([...]).or(z.string())`: a union, whose failure says no more.
    let provider = match body.and_then(|b| b.get("provider")) {
        Some(Value::String(provider)) => provider.clone(),
        _ => {
            issues.push("[body.provider] Invalid input".to_owned());
            String::new()
        }
    };
    let id_token = id_token_body(body.and_then(|b| b.get("idToken")), &mut issues);
    let mut tail = Validator::object(body)?;
    let request_sign_up = tail.opt_bool("requestSignUp");
    let scopes = tail.opt_string_array("scopes").unwrap_or_default();
    let error_url = tail.opt_string("errorCallbackURL");
    let disable_redirect = tail.opt_bool("disableRedirect").unwrap_or(false);
    let login_hint = tail.opt_string("loginHint");
    keep_issues(&mut issues, tail.finish());
    let additional_data = match body.and_then(|b| b.get("additionalData")) {
        None => None,
        Some(Value::Object(data)) => Some(data.clone()),
        Some(other) => {
            issues.push(format!(
                "[body.additionalData] Invalid input: expected record, received {}",
                received(Some(other))
            ));
            None
        }
    };
    if !issues.is_empty() {
        return Err(ApiError::validation(issues.join("; ")));
    }
    Ok(LinkSocialBody {
        callback_url,
        provider,
        id_token,
        request_sign_up,
        scopes,
        error_url,
        disable_redirect,
        login_hint,
        additional_data,
    })
}

/// `POST /link-social` (`linkSocialAccount`): the signed-in user starts a
/// sign-in with another provider whose state carries the link; the
/// callback then links instead of signing in ([`link_account`]). With
/// `idToken` the account is linked at once.
async fn link_social(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let body = link_social_body(ctx)?;
    let session = authoritative_session(ctx).await?;
    let Some(provider) = ctx.oauth().provider(&body.provider).cloned() else {
        tracing::error!(provider = %body.provider, "OAuth provider not found");
        return Err(provider_not_found());
    };
    if let Some(id_token) = &body.id_token {
        return link_with_id_token(ctx, &provider, &session, id_token).await;
    }
    let state = oauth::random_string(32);
    let code_verifier = oauth::random_string(128);
    let nonce = provider
        .verifies_id_tokens()
        .then(|| oauth::random_string(32));
    let callback_url = body
        .callback_url
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| origin_of_base(&ctx.base_url()));
    let mut data = StateData::new(
        callback_url,
        code_verifier.clone(),
        Timestamp::from_millis(ctx.now().as_millis() + STATE_TTL_MS),
    );
    data.extra = body.additional_data.unwrap_or_default();
    data.error_url = body.error_url;
    data.link = Some(LinkData {
        user_id: session.user.id.clone(),
        email: session.user.email.clone(),
        encrypted_session_token: Some(ctx.oauth().seal_link_token(&session.session.token)),
    });
    data.request_sign_up = body.request_sign_up;
    data.id_token_nonce = nonce.clone();
    data.oauth_state = Some(state.clone());
    store_state(ctx, &state, &data).await?;
    let redirect_uri = format!("{}/callback/{}", ctx.base_url(), provider.id());
    let mut request =
        AuthorizationRequest::new(&state, &code_verifier, nonce.as_deref(), &redirect_uri);
    request.scopes = &body.scopes;
    request.login_hint = body.login_hint.as_deref();
    let url = provider.authorization_url(&request);
    #[derive(Serialize)]
    struct Body<'a> {
        url: &'a str,
        redirect: bool,
    }
    let mut reply = Reply::json(&Body {
        url: &url,
        redirect: !body.disable_redirect,
    });
    if !body.disable_redirect {
        if let Ok(location) = http::HeaderValue::from_str(&url) {
            reply = reply.with_header(http::header::LOCATION, location);
        }
    }
    Ok(reply)
}

/// `/link-social` with `idToken`: the token is verified as the provider's
/// (its `nonce` when given), and its account linked to the session's user
/// on the spot.
async fn link_with_id_token(
    ctx: &mut Ctx<'_>,
    provider: &Provider,
    session: &SessionWithUser,
    body: &IdTokenBody,
) -> Result<Reply, ApiError> {
    let unauthorized = |code: &'static str, message: &'static str| {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    };
    if !provider.verifies_id_tokens() {
        tracing::error!(provider = %provider.id(), "the provider does not verify ID tokens");
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "ID_TOKEN_NOT_SUPPORTED",
            "id_token not supported",
        ));
    }
    let tokens = Tokens {
        id_token: Some(body.token.clone()),
        ..Tokens::default()
    };
    let info = match ctx
        .oauth()
        .user_info(provider, &tokens, body.nonce.as_deref(), ctx.now())
        .await
    {
        Ok(info) => info,
        Err(UserInfoError::IdToken(e)) => {
            tracing::warn!(error = %e, provider = %provider.id(), "invalid ID token");
            return Err(unauthorized("INVALID_TOKEN", "Invalid token"));
        }
        Err(e) => {
            tracing::error!(error = %e, provider = %provider.id(), "failed to get user info");
            return Err(unauthorized(
                "FAILED_TO_GET_USER_INFO",
                "Failed to get user info",
            ));
        }
    };
    let Some(email) = info.email.as_deref().filter(|e| !e.is_empty()) else {
        tracing::error!(provider = %provider.id(), "the ID token has no email");
        return Err(unauthorized("USER_EMAIL_NOT_FOUND", "User email not found"));
    };
    let db = ctx.sessions().database().clone();
    let now = ctx.now();
    let user_id = &session.user.id;
    match db.find_account_by_provider(provider.id(), &info.id).await? {
        Some(mut account) if &account.user_id == user_id => {
            if body.access_token.is_some() {
                account.access_token = body.access_token.clone();
            }
            if body.refresh_token.is_some() {
                account.refresh_token = body.refresh_token.clone();
            }
            account.id_token = Some(body.token.clone());
            account.updated_at = now;
            db.update_account(&account).await?;
            return Ok(linked_at_once());
        }
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "SOCIAL_ACCOUNT_ALREADY_LINKED",
                "Social account already linked",
            ))
        }
        None => {}
    }
    let opts = ctx.oauth().options();
    let trusted = opts.trusted_providers.iter().any(|p| p == provider.id());
    if (!trusted && !info.email_verified) || !opts.account_linking {
        return Err(unauthorized(
            "LINKING_NOT_ALLOWED",
            "Account not linked - linking not allowed",
        ));
    }
    if email.to_lowercase() != session.user.email.to_lowercase() && !opts.allow_different_emails {
        return Err(unauthorized(
            "LINKING_DIFFERENT_EMAILS_NOT_ALLOWED",
            "Account not linked - different emails not allowed",
        ));
    }
    let account = Account {
        id: generate_id(ID_LENGTH),
        account_id: info.id.clone(),
        provider_id: provider.id().to_owned(),
        user_id: user_id.clone(),
        access_token: body.access_token.clone(),
        refresh_token: body.refresh_token.clone(),
        id_token: Some(body.token.clone()),
        access_token_expires_at: None,
        refresh_token_expires_at: None,
        scope: None,
        password: None,
        created_at: now,
        updated_at: now,
    };
    db.create_account(&account).await.map_err(|e| {
        tracing::error!(error = %e, "unable to link account");
        ApiError::new(
            StatusCode::EXPECTATION_FAILED,
            "LINKING_FAILED",
            "Account not linked - unable to create account",
        )
    })?;
    Ok(linked_at_once())
}

/// `/link-social`'s answer when `idToken` linked without a redirect.
fn linked_at_once() -> Reply {
    Reply::json(&serde_json::json!({"url": "", "status": true, "redirect": false}))
}

/// better-auth's `isLinkSessionLive`: with a store, the session that
/// started the link still exists, belongs to the link's user and has not
/// expired. Without a store the session lives only in its cookie: there is
/// no record to ask, and better-auth does not check.
async fn link_session_live(ctx: &Ctx<'_>, link: &LinkData) -> Result<bool, StoreError> {
    let Some(sealed) = &link.encrypted_session_token else {
        return Ok(true);
    };
    if ctx.is_stateless() {
        return Ok(true);
    }
    let Ok(token) = ctx.oauth().open_link_token(sealed) else {
        return Ok(false);
    };
    Ok(ctx.sessions().find(&token).await?.is_some_and(|found| {
        found.session.user_id == link.user_id
            && found.session.expires_at.as_millis() > ctx.now().as_millis()
    }))
}

/// better-auth's `mergeScopes`: the stored scopes (comma-separated), then
/// the new ones, each once.
fn merge_scopes(stored: Option<&str>, incoming: &[String]) -> String {
    let mut merged: Vec<&str> = Vec::new();
    let stored = stored.unwrap_or_default().split(',');
    for scope in stored.chain(incoming.iter().map(String::as_str)) {
        let scope = scope.trim();
        if !scope.is_empty() && !merged.contains(&scope) {
            merged.push(scope);
        }
    }
    merged.join(",")
}

/// The callback of a `/link-social` flow (better-auth's
/// `linkOAuthAccount`): the provider's account is linked to the link's
/// user, or its tokens and scopes refreshed when it already is. The error
/// is better-auth's redirect code, with a description when it has one.
pub(super) async fn link_account(
    ctx: &Ctx<'_>,
    provider: &Provider,
    info: &ProviderUser,
    tokens: &Tokens,
    link: &LinkData,
) -> Result<(), (&'static str, Option<String>)> {
    const UNABLE: &str = "unable_to_link_account";
    let store_failed = |e: StoreError| {
        tracing::error!(error = %e, "OAuth link: the database failed");
        ("internal_server_error", None)
    };
    if !link_session_live(ctx, link).await.map_err(store_failed)? {
        tracing::error!(provider = %provider.id(), "the session that started the link is gone");
        return Err((UNABLE, None));
    }
    let opts = ctx.oauth().options();
    let trusted = opts.trusted_providers.iter().any(|p| p == provider.id());
    if (!trusted && !info.email_verified) || !opts.account_linking {
        tracing::error!(provider = %provider.id(), "unable to link account: untrusted provider");
        return Err((UNABLE, None));
    }
    let same_email = info
        .email
        .as_deref()
        .is_some_and(|e| e.to_lowercase() == link.email.to_lowercase());
    if !same_email && !opts.allow_different_emails {
        return Err(("email_does_not_match", None));
    }
    let db = ctx.sessions().database().clone();
    let now = ctx.now();
    match db
        .find_account_by_provider(provider.id(), &info.id)
        .await
        .map_err(store_failed)?
    {
        Some(account) if account.user_id != link.user_id => {
            Err(("account_already_linked_to_different_user", None))
        }
        Some(mut account) => {
            // Only what the provider sent replaces what is stored.
            let merged = merge_scopes(account.scope.as_deref(), &tokens.scopes);
            if !merged.is_empty() {
                account.scope = Some(merged);
            }
            if tokens.access_token.is_some() {
                account.access_token = tokens.access_token.clone();
            }
            if tokens.refresh_token.is_some() {
                account.refresh_token = tokens.refresh_token.clone();
            }
            if tokens.id_token.is_some() {
                account.id_token = tokens.id_token.clone();
            }
            if tokens.access_token_expires_at.is_some() {
                account.access_token_expires_at = tokens.access_token_expires_at;
            }
            if tokens.refresh_token_expires_at.is_some() {
                account.refresh_token_expires_at = tokens.refresh_token_expires_at;
            }
            account.updated_at = now;
            db.update_account(&account).await.map_err(store_failed)?;
            Ok(())
        }
        None => {
            let account = super::oauth::new_account(provider, info, tokens, &link.user_id, now);
            db.create_account(&account).await.map_err(|e| {
                tracing::error!(error = %e, "unable to link account");
                (UNABLE, None)
            })
        }
    }
}

// --- /unlink-account ---

/// The session, which must be younger than `session.freshAge`
/// (`freshSessionMiddleware`; `0` turns the check off).
async fn fresh_session(ctx: &mut Ctx<'_>) -> Result<SessionWithUser, ApiError> {
    let session = ctx
        .require_session(crate::ResolveOptions::default())
        .await?;
    if !super::routes::is_fresh(ctx, &session.session) {
        return Err(codes::session_not_fresh());
    }
    Ok(session)
}

/// `POST /unlink-account` `{accountId}` (`unlinkAccount`): removes one of
/// the user's accounts, by its own id, never the last one unless
/// `allowUnlinkingAll`.
async fn unlink_account(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let mut v = Validator::object(ctx.body())?;
    let account_id = v.string("accountId");
    v.finish()?;
    let session = fresh_session(ctx).await?;
    let accounts = user_accounts(ctx, &session.user.id).await?;
    if accounts.len() == 1 && !ctx.oauth().options().allow_unlinking_all {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "FAILED_TO_UNLINK_LAST_ACCOUNT",
            "You can't unlink your last account",
        ));
    }
    let Some(account) = accounts.into_iter().find(|a| a.id == account_id) else {
        return Err(account_not_found());
    };
    ctx.sessions()
        .database()
        .delete_account(&account.id)
        .await?;
    // The account cookie must not outlive its account: `/list-accounts`
    // and `useAccountCookie` would still find it there.
    if ctx.oauth().stores_account_cookie()
        && account_from_cookie(ctx).is_some_and(|a| a.id == account.id)
    {
        let def = ctx.auth_cookies().account_data.clone();
        let request = ctx.cookies().clone();
        ctx.jar.expire(&def);
        ctx.jar.expire_request_chunks_only(&def, &request);
    }
    Ok(Reply::json(&serde_json::json!({"status": true})))
}

// --- /account-info ---

/// The query as better-call hands it to zod: a repeated key becomes an
/// array of its values.
fn query_object(ctx: &Ctx<'_>) -> Map<String, Value> {
    let mut query = Map::new();
    for (key, value) in &ctx.query {
        let value = Value::String(value.clone());
        match query.get_mut(key) {
            Some(Value::Array(values)) => values.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
            None => {
                query.insert(key.clone(), value);
            }
        }
    }
    query
}

/// The user as a provider describes them, in `/account-info`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProviderUserBody<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<&'a str>,
    email_verified: bool,
}

/// `GET /account-info?accountId=` (`accountInfo`): what the provider says
/// about the account now, asked with its access token (refreshed first
/// when it expires).
async fn account_info(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    // `useAccountCookie` is a string in a query, never `true`: only an
    // `accountId` selects.
    let (selection, user_id) = select_account(&query_object(ctx), "query")?;
    let user_id = resolve_user_id(ctx, user_id).await?;
    let account = resolve_account(ctx, &user_id, &selection).await?;
    let Some(provider) = ctx.oauth().provider(&account.provider_id).cloned() else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "PROVIDER_NOT_CONFIGURED",
            "Account is not associated with a configured social provider.",
        ));
    };
    let account = with_valid_access_token(ctx, account).await?;
    let Some(access_token) = account.access_token.clone().filter(|t| !t.is_empty()) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "ACCESS_TOKEN_NOT_FOUND",
            "Access token not found",
        ));
    };
    let tokens = Tokens {
        access_token: Some(access_token),
        access_token_expires_at: account.access_token_expires_at,
        id_token: account.id_token.clone(),
        scopes: scopes_of(&account).into_iter().map(str::to_owned).collect(),
        ..Tokens::default()
    };
    // No nonce: the stored ID token is verified, its nonce not looked at.
    let info = ctx
        .oauth()
        .user_info(&provider, &tokens, None, ctx.now())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, provider = %provider.id(), "failed to get user info");
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "FAILED_TO_GET_USER_INFO",
                "Failed to get user info",
            )
        })?;
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct AccountRef<'a> {
        id: &'a str,
        provider_id: &'a str,
        account_id: &'a str,
    }
    #[derive(Serialize)]
    struct Body<'a> {
        user: ProviderUserBody<'a>,
        data: &'a Map<String, Value>,
        account: AccountRef<'a>,
    }
    Ok(Reply::json(&Body {
        user: ProviderUserBody {
            id: &info.id,
            name: info.name.as_deref(),
            email: info.email.as_deref(),
            image: info.image.as_deref(),
            email_verified: info.email_verified,
        },
        data: &info.profile,
        account: AccountRef {
            id: &account.id,
            provider_id: &account.provider_id,
            account_id: &account.account_id,
        },
    }))
}
