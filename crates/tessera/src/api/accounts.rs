//! better-auth's account routes: `/list-accounts`, `/get-access-token`,
//! `/refresh-token` (`docs/oauth.md`). Without a database the provider's
//! account lives in the `account_data` cookie (spec §4.2), and these
//! routes read it there.

use http::StatusCode;
use serde::Serialize;
use serde_json::Value;

use super::oauth::set_account_cookie;
use crate::error::{codes, ApiError};
use crate::oauth::Tokens;
use crate::plugin::{Ctx, Reply, Route};
use crate::store::Account;
use crate::Timestamp;

/// An access token this close to its expiry is refreshed first
/// (better-auth's `getValidAccessToken`: 5 s).
const REFRESH_MARGIN_MS: i64 = 5_000;

/// The account routes.
pub(crate) fn account_routes() -> Vec<Route> {
    vec![
        Route::get("/list-accounts", |ctx| Box::pin(list_accounts(ctx))),
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

async fn list_accounts(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let session = ctx
        .require_session(crate::ResolveOptions::default())
        .await?;
    let db = ctx.sessions().database().clone();
    let mut accounts = db.find_accounts(&session.user.id).await?;
    // Without a database the account lives in its cookie: list it, where
    // better-auth answers `[]` after a restart (a deliberate difference).
    if ctx.oauth().stores_account_cookie() && ctx.is_stateless() {
        if let Some(account) = account_from_cookie(ctx) {
            if account.user_id == session.user.id
                && !accounts.iter().any(|a| {
                    a.provider_id == account.provider_id && a.account_id == account.account_id
                })
            {
                accounts.push(account);
            }
        }
    }
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
    let invalid = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "[body] Invalid input",
        )
    };
    let Some(Value::Object(body)) = ctx.body() else {
        return Err(invalid());
    };
    let user_id = match body.get("userId") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(invalid()),
    };
    let allowed = |k: &str| matches!(k, "userId" | "accountId" | "useAccountCookie");
    if !body.keys().all(|k| allowed(k)) {
        return Err(invalid());
    }
    match (body.get("accountId"), body.get("useAccountCookie")) {
        (Some(Value::String(id)), None) => Ok((Selection::Id(id.clone()), user_id)),
        (None, Some(Value::Bool(true))) => Ok((Selection::Cookie, user_id)),
        _ => Err(invalid()),
    }
}

/// The user these token routes act for: the session's (read from the
/// store when there is one), else a server-side `userId`.
async fn resolve_user_id(ctx: &mut Ctx<'_>, user_id: Option<String>) -> Result<String, ApiError> {
    let session = if ctx.is_stateless() {
        ctx.session(crate::ResolveOptions::default()).await?
    } else {
        ctx.session(crate::ResolveOptions::from_store()).await?
    };
    match (session, user_id) {
        (Some(s), _) => Ok(s.user.id.clone()),
        // A request from a client must carry a session.
        (None, _) => Err(codes::unauthorized()),
    }
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
    let expiring = account
        .access_token_expires_at
        .is_some_and(|t| t.as_millis() - ctx.now().as_millis() < REFRESH_MARGIN_MS);
    let account = if expiring && account.refresh_token.is_some() {
        let tokens = refresh_with_provider(ctx, &account)
            .await
            .map_err(|_| failed_to_get_access_token())?;
        save_refreshed(ctx, account, &tokens).await?
    } else {
        account
    };
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
