//! better-auth's OAuth sign-in: `/sign-in/social` and `/callback/<id>`
//! (the account routes are in [`super::accounts`]). The flow's rules are
//! written down in `docs/oauth.md`; the cookies are spec §4.2
//! (`account_data`) and §4.3 (`oauth_state`).

use http::StatusCode;
use serde::Serialize;
use serde_json::Value;

use super::body::Validator;
use crate::error::ApiError;
use crate::id::{generate_id, ID_LENGTH};
use crate::oauth::{self, AuthorizationRequest, Provider, ProviderUser, StateData, Tokens};
use crate::options::StateStrategy;
use crate::plugin::{Ctx, Reply, Route};
use crate::store::{Account, StoreError, User};
use crate::Timestamp;

/// How long a state waits for its callback (better-auth: 10 minutes).
pub(super) const STATE_TTL_MS: i64 = 600_000;

/// The OAuth routes. `/callback/:id` takes any id, as better-auth's does:
/// an unknown provider is its `oauth_provider_not_found` redirect, after
/// the state is checked.
pub(crate) fn oauth_routes() -> Vec<Route> {
    let mut routes = vec![
        Route::post("/sign-in/social", |ctx| Box::pin(sign_in_social(ctx))),
        Route::get("/callback/:id", |ctx| Box::pin(callback(ctx))),
        // `form_post`: the parameters come as a form (or JSON).
        Route::post("/callback/:id", |ctx| Box::pin(callback_post(ctx)))
            .with_body(Some(crate::plugin::BodyKind::JsonOrForm)),
    ];
    routes.extend(super::accounts::account_routes());
    routes
}

pub(super) fn provider_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "PROVIDER_NOT_FOUND",
        "Provider not found",
    )
}

async fn sign_in_social(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let mut v = Validator::object(ctx.body())?;
    let provider_id = v.union_string("provider");
    let callback_url = v.opt_string("callbackURL");
    let error_url = v.opt_string("errorCallbackURL");
    let new_user_url = v.opt_string("newUserCallbackURL");
    let disable_redirect = v.opt_bool("disableRedirect").unwrap_or(false);
    let scopes = v.opt_string_array("scopes").unwrap_or_default();
    let request_sign_up = v.opt_bool("requestSignUp");
    let login_hint = v.opt_string("loginHint");
    v.finish()?;

    let Some(provider) = ctx.oauth().provider(&provider_id).cloned() else {
        tracing::error!(provider = %provider_id, "OAuth provider not found");
        return Err(provider_not_found());
    };
    let base_url = ctx.base_url();
    let state = oauth::random_string(32);
    let code_verifier = oauth::random_string(128);
    let nonce = provider
        .verifies_id_tokens()
        .then(|| oauth::random_string(32));
    let mut data = StateData::new(
        callback_url.unwrap_or_else(|| origin_of_base(&base_url)),
        code_verifier.clone(),
        Timestamp::from_millis(ctx.now().as_millis() + STATE_TTL_MS),
    );
    data.error_url = error_url;
    data.new_user_url = new_user_url;
    data.request_sign_up = request_sign_up;
    data.id_token_nonce = nonce.clone();
    data.oauth_state = Some(state.clone());
    store_state(ctx, &state, &data).await?;
    let redirect_uri = format!("{base_url}/callback/{}", provider.id());
    let mut request =
        AuthorizationRequest::new(&state, &code_verifier, nonce.as_deref(), &redirect_uri);
    request.scopes = &scopes;
    request.login_hint = login_hint.as_deref();
    let url = provider.authorization_url(&request);
    #[derive(Serialize)]
    struct Body<'a> {
        url: &'a str,
        redirect: bool,
    }
    let mut reply = Reply::json(&Body {
        url: &url,
        redirect: !disable_redirect,
    });
    if !disable_redirect {
        if let Ok(location) = http::HeaderValue::from_str(&url) {
            reply = reply.with_header(http::header::LOCATION, location);
        }
    }
    Ok(reply)
}

/// better-auth's `baseURL` option when only the API's URL is known: its
/// origin (the default `callbackURL`).
pub(super) fn origin_of_base(base_url: &str) -> String {
    url::Url::parse(base_url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| "/".to_owned())
}

/// `generateGenericState`: the state in the encrypted `oauth_state`
/// cookie, or in a verification record plus the signed `state` cookie.
pub(super) async fn store_state(
    ctx: &mut Ctx<'_>,
    state: &str,
    data: &StateData,
) -> Result<(), ApiError> {
    match ctx.oauth().state_strategy() {
        StateStrategy::Cookie => {
            let sealed = ctx.oauth().seal_state(data);
            let def = ctx.auth_cookies().oauth_state.clone();
            ctx.jar.set(def.with_value(sealed));
        }
        StateStrategy::Database => {
            let identifier = format!("auth-state:{state}");
            super::verification::issue(ctx, identifier, data.to_json(), STATE_TTL_MS)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "cannot store the OAuth state");
                    ApiError::internal("INTERNAL_SERVER_ERROR", "Unable to create verification", &e)
                })?;
            let signed = ctx.sign(state);
            let def = ctx.auth_cookies().state.clone();
            ctx.jar.set(def.with_value(signed));
        }
    }
    Ok(())
}

/// A callback failure: better-auth's error redirect, `<errorURL>?error=<code>`.
struct CallbackError {
    code: &'static str,
    description: Option<String>,
    /// The flow's own error URL, once the state is known.
    error_url: Option<String>,
}

impl CallbackError {
    fn new(code: &'static str) -> Self {
        CallbackError {
            code,
            description: None,
            error_url: None,
        }
    }
}

/// `POST /callback/:id` (`form_post` providers): better-auth redirects to
/// the `GET` form with the merged parameters, so the state cookie
/// (`SameSite=Lax`) is sent with the top-level navigation.
async fn callback_post(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    const FIELDS: [&str; 7] = [
        "code",
        "error",
        "device_id",
        "error_description",
        "state",
        "user",
        "iss",
    ];
    let id = ctx.path().rsplit('/').next().unwrap_or_default().to_owned();
    let mut params = form_urlencoded::Serializer::new(String::new());
    for field in FIELDS {
        let value = ctx.query(field).map(str::to_owned).or_else(|| {
            ctx.body()
                .and_then(|b| b.get(field))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        if let Some(value) = value {
            params.append_pair(field, &value);
        }
    }
    let location = format!("{}/callback/{id}?{}", ctx.base_url(), params.finish());
    Ok(Reply::redirect(&location))
}

async fn callback(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let default_error_url = format!("{}/error", ctx.base_url());
    match run_callback(ctx).await {
        Ok(location) => Ok(Reply::redirect(&location)),
        Err(e) => {
            let base = e.error_url.unwrap_or(default_error_url);
            let mut params = form_urlencoded::Serializer::new(String::new());
            params.append_pair("error", e.code);
            if let Some(d) = &e.description {
                params.append_pair("error_description", d);
            }
            Ok(Reply::redirect(&append_query_params(
                &base,
                &params.finish(),
            )))
        }
    }
}

/// better-auth's `appendQueryParams`: `query` goes after the URL's own
/// query (joined by `&` unless it already ends with one) and before its
/// fragment, the URL serialised as `new URL(…)` does; a root-relative URL
/// stays relative.
pub(super) fn append_query_params(input: &str, query: &str) -> String {
    const REFERENCE: &str = "https://better-auth.invalid";
    let relative = input.starts_with('/');
    let parsed = if relative {
        url::Url::parse(REFERENCE).and_then(|r| r.join(input))
    } else {
        url::Url::parse(input)
    };
    let mut url = match parsed {
        Ok(url) if !relative || url.origin().ascii_serialization() == REFERENCE => url,
        // Not a URL better-auth would have accepted as an error URL: the
        // query is appended as it stands.
        _ => {
            let sep = if input.contains('?') { '&' } else { '?' };
            return format!("{input}{sep}{query}");
        }
    };
    let joined = match url.query().filter(|q| !q.is_empty()) {
        None => query.to_owned(),
        Some(own) if own.ends_with('&') => format!("{own}{query}"),
        Some(own) => format!("{own}&{query}"),
    };
    url.set_query(Some(&joined));
    if relative {
        url[url::Position::BeforePath..].to_owned()
    } else {
        url.into()
    }
}

/// The callback's steps (better-auth's `callbackOAuth`); the redirect
/// target on success.
async fn run_callback(ctx: &mut Ctx<'_>) -> Result<String, CallbackError> {
    let id = ctx.path().rsplit('/').next().unwrap_or_default().to_owned();
    let query = |ctx: &Ctx<'_>, k: &str| ctx.query(k).map(str::to_owned);
    let code = query(ctx, "code");
    let error = query(ctx, "error");
    let error_description = query(ctx, "error_description");
    let iss = query(ctx, "iss");
    let Some(state) = query(ctx, "state").filter(|s| !s.is_empty()) else {
        return Err(CallbackError::new("state_not_found"));
    };
    let data = parse_state(ctx, &state).await?;
    let fail = |code: &'static str| CallbackError {
        code,
        description: None,
        error_url: data.error_url.clone(),
    };
    // better-auth: `if (error)`, `if (description)`: empty is absent.
    if let Some(error) = error.filter(|e| !e.is_empty()) {
        // The provider's own code, passed on (a known, bounded set in
        // practice; anything else is carried as a description).
        let mut e = fail(provider_error_code(&error));
        e.description = error_description.filter(|d| !d.is_empty());
        if e.code == "oauth_error" && e.description.is_none() {
            e.description = Some(error);
        }
        return Err(e);
    }
    let Some(code) = code.filter(|c| !c.is_empty()) else {
        return Err(fail("no_code"));
    };
    let Some(provider) = ctx.oauth().provider(&id).cloned() else {
        return Err(fail("oauth_provider_not_found"));
    };
    if let (Some(iss), Some(issuer)) = (&iss, &provider.endpoints().issuer) {
        if !issuer_matches(issuer, iss) {
            tracing::error!(expected = %issuer, received = %iss, "OAuth issuer mismatch");
            return Err(fail("issuer_mismatch"));
        }
    }
    if provider.verifies_id_tokens() && data.id_token_nonce.is_none() {
        return Err(fail("nonce_binding_missing"));
    }
    let redirect_uri = format!("{}/callback/{}", ctx.base_url(), provider.id());
    let now = ctx.now();
    let tokens = {
        let client = ctx.oauth().client().ok_or_else(|| fail("invalid_code"))?;
        provider
            .exchange_code(client, &code, &data.code_verifier, &redirect_uri, now)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, provider = %provider.id(), "failed to validate the authorization code");
                fail("invalid_code")
            })?
    };
    let user_info = ctx
        .oauth()
        .user_info(&provider, &tokens, data.id_token_nonce.as_deref(), now)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, provider = %provider.id(), "unable to get user info");
            fail("unable_to_get_user_info")
        })?;
    // A `/link-social` flow links and goes back, before the email check.
    if let Some(link) = &data.link {
        return match super::accounts::link_account(ctx, &provider, &user_info, &tokens, link).await
        {
            Ok(()) => Ok(data.callback_url.clone()),
            Err((code, description)) => Err(CallbackError {
                description,
                ..fail(code)
            }),
        };
    }
    if user_info.email.as_deref().unwrap_or_default().is_empty() {
        tracing::error!(provider = %provider.id(), "the provider did not return an email");
        return Err(fail("email_not_found"));
    }
    let disable_sign_up = (provider.config().disable_implicit_sign_up
        && data.request_sign_up != Some(true))
        || provider.config().disable_sign_up;
    let (user, is_register) =
        match handle_user_info(ctx, &provider, &user_info, &tokens, disable_sign_up).await {
            Ok(done) => done,
            Err(code) => return Err(fail(code)),
        };
    ctx.create_session(&user, false).await.map_err(|e| {
        tracing::error!(error = %e, "unable to create session");
        fail("unable_to_create_session")
    })?;
    Ok(if is_register {
        data.new_user_url.clone().unwrap_or(data.callback_url)
    } else {
        data.callback_url
    })
}

/// RFC 9207: the callback's `iss` is the provider's issuer. Microsoft's
/// multi-tenant issuer (`…/{tid}/v2.0`, [`oauth::MICROSOFT_TENANT_ISSUER`])
/// matches any one tenant's, as the ID token's own `tid` is checked later.
fn issuer_matches(issuer: &str, iss: &str) -> bool {
    match issuer.split_once("{tid}") {
        None => iss == issuer,
        Some((before, after)) => iss
            .strip_prefix(before)
            .and_then(|rest| rest.strip_suffix(after))
            .is_some_and(|tid| {
                !tid.is_empty() && tid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }),
    }
}

/// The provider's `error` parameter as one of the codes better-auth's
/// clients know, else `oauth_error` (the raw value goes in the
/// description): the redirect never carries a string the provider chose
/// as its code.
fn provider_error_code(error: &str) -> &'static str {
    const KNOWN: [&str; 8] = [
        "access_denied",
        "invalid_request",
        "unauthorized_client",
        "unsupported_response_type",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
        "interaction_required",
    ];
    KNOWN
        .iter()
        .find(|k| **k == error)
        .copied()
        .unwrap_or("oauth_error")
}

/// `parseGenericState` (spec §4.3), both strategies.
async fn parse_state(ctx: &mut Ctx<'_>, state: &str) -> Result<StateData, CallbackError> {
    let now = ctx.now();
    let data = match ctx.oauth().state_strategy() {
        StateStrategy::Cookie => {
            let def = ctx.auth_cookies().oauth_state.clone();
            // better-auth: `if (!encryptedData)`: an empty cookie is none.
            let sealed = ctx.cookies().get(&def.name).filter(|v| !v.is_empty());
            let Some(sealed) = sealed.map(str::to_owned) else {
                return Err(CallbackError::new("state_mismatch"));
            };
            let data = ctx
                .oauth()
                .open_state(&sealed)
                .map_err(|_| CallbackError::new("state_invalid"))?;
            if !data.matches_state(state) {
                return Err(CallbackError {
                    error_url: data.error_url.clone(),
                    ..CallbackError::new("state_mismatch")
                });
            }
            ctx.jar.expire(&def);
            data
        }
        StateStrategy::Database => {
            let identifier = format!("auth-state:{state}");
            // An expired record is still read (better-auth's adapter finds
            // it): it is used up below and refused at the flow's error URL.
            let record = super::verification::find(ctx, &identifier)
                .await
                .map_err(|_| CallbackError::new("internal_server_error"))?;
            let Some((value, record_expires_at)) = record else {
                return Err(CallbackError::new("state_mismatch"));
            };
            let data =
                StateData::from_json(&value).map_err(|_| CallbackError::new("state_invalid"))?;
            if data
                .oauth_state
                .as_deref()
                .is_some_and(|s| !constant_time_eq(s, state))
            {
                return Err(CallbackError {
                    error_url: data.error_url.clone(),
                    ..CallbackError::new("state_mismatch")
                });
            }
            let def = ctx.auth_cookies().state.clone();
            if !ctx.oauth().options().skip_state_cookie_check {
                let cookie_ok = ctx
                    .cookies()
                    .get(&def.name)
                    .and_then(|signed| ctx.verify_signed(signed))
                    .is_some_and(|v| constant_time_eq(v, state));
                if !cookie_ok {
                    return Err(CallbackError {
                        error_url: data.error_url.clone(),
                        ..CallbackError::new("state_mismatch")
                    });
                }
            }
            ctx.jar.expire(&def);
            // Consumed: the same state cannot complete a second callback.
            if let Err(e) = super::verification::delete(ctx, &identifier).await {
                tracing::error!(error = %e, "cannot delete the OAuth state");
            }
            if record_expires_at.as_millis() < now.as_millis() {
                return Err(CallbackError {
                    error_url: data.error_url.clone(),
                    ..CallbackError::new("state_mismatch")
                });
            }
            data
        }
    };
    if data.is_expired(now) {
        return Err(CallbackError {
            error_url: data.error_url.clone(),
            ..CallbackError::new("state_mismatch")
        });
    }
    Ok(data)
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// better-auth's `handleOAuthUserInfo`: the user this sign-in is for, found
/// by the provider's account, linked by a verified email, or created; the
/// account's tokens stored, and the `account_data` cookie set. The error is
/// better-auth's redirect code.
async fn handle_user_info(
    ctx: &mut Ctx<'_>,
    provider: &Provider,
    info: &ProviderUser,
    tokens: &Tokens,
    disable_sign_up: bool,
) -> Result<(User, bool), &'static str> {
    let db = ctx.sessions().database().clone();
    let now = ctx.now();
    let email = info.email.clone().unwrap_or_default().to_lowercase();
    let store_failed = |e: StoreError| {
        tracing::error!(error = %e, "OAuth sign-in: the database failed");
        "internal_server_error"
    };
    // better-auth drops the fields the answer did not carry from the
    // update: what it lacks is kept.
    let fresh = |account: &mut Account| {
        account.access_token = tokens.access_token.clone().or(account.access_token.take());
        account.refresh_token = tokens
            .refresh_token
            .clone()
            .or(account.refresh_token.take());
        account.id_token = tokens.id_token.clone().or(account.id_token.take());
        account.access_token_expires_at = tokens
            .access_token_expires_at
            .or(account.access_token_expires_at);
        account.refresh_token_expires_at = tokens
            .refresh_token_expires_at
            .or(account.refresh_token_expires_at);
        account.updated_at = now;
    };
    let owned = db
        .find_account_by_provider(provider.id(), &info.id)
        .await
        .map_err(store_failed)?;
    let (user, account, is_register) = if let Some(mut account) = owned {
        let Some(user) = db
            .find_user_by_id(&account.user_id)
            .await
            .map_err(store_failed)?
        else {
            tracing::error!("OAuth account references a missing user");
            return Err("unable_to_link_account");
        };
        // `scope` is left as it is: only linking changes it.
        if ctx.oauth().options().update_account_on_sign_in {
            fresh(&mut account);
            db.update_account(&account).await.map_err(store_failed)?;
        }
        (user, account, false)
    } else if let Some(user) = db.find_user_by_email(&email).await.map_err(store_failed)? {
        let opts = ctx.oauth().options();
        let trusted = opts.trusted_providers.iter().any(|p| p == provider.id());
        if (!trusted && !info.email_verified)
            || (opts.require_local_email_verified && !user.email_verified)
            || !opts.account_linking
        {
            return Err("account_not_linked");
        }
        let account = new_account(provider, info, tokens, &user.id, now);
        db.create_account(&account).await.map_err(|e| {
            tracing::error!(error = %e, "unable to link account");
            "unable_to_link_account"
        })?;
        let mut user = user;
        if info.email_verified && !user.email_verified && email == user.email {
            user.email_verified = true;
            user.updated_at = now;
            ctx.sessions()
                .update_user(&user, now)
                .await
                .map_err(store_failed)?;
        }
        (user, account, false)
    } else {
        if disable_sign_up {
            return Err("signup_disabled");
        }
        let user = User {
            id: generate_id(ID_LENGTH),
            name: info.name.clone().unwrap_or_default(),
            email: email.clone(),
            email_verified: info.email_verified,
            image: info.image.clone(),
            created_at: now,
            updated_at: now,
            extra: serde_json::Map::new(),
        };
        let account = new_account(provider, info, tokens, &user.id, now);
        db.create_user_with_account(&user, &account)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "unable to create OAuth user");
                "unable_to_create_user"
            })?;
        (user, account, true)
    };
    let user = if provider.config().override_user_info && !is_register {
        let mut user = user;
        user.name = info.name.clone().unwrap_or_default();
        user.image = info.image.clone();
        user.updated_at = now;
        ctx.sessions()
            .update_user(&user, now)
            .await
            .map_err(store_failed)?;
        user
    } else {
        user
    };
    if ctx.oauth().stores_account_cookie() {
        set_account_cookie(ctx, &account);
    }
    Ok((user, is_register))
}

pub(super) fn new_account(
    provider: &Provider,
    info: &ProviderUser,
    tokens: &Tokens,
    user_id: &str,
    now: Timestamp,
) -> Account {
    Account {
        id: generate_id(ID_LENGTH),
        account_id: info.id.clone(),
        provider_id: provider.id().to_owned(),
        user_id: user_id.to_owned(),
        access_token: tokens.access_token.clone(),
        refresh_token: tokens.refresh_token.clone(),
        id_token: tokens.id_token.clone(),
        access_token_expires_at: tokens.access_token_expires_at,
        refresh_token_expires_at: tokens.refresh_token_expires_at,
        scope: Some(tokens.scopes.join(",")).filter(|s| !s.is_empty()),
        password: None,
        created_at: now,
        updated_at: now,
    }
}

/// better-auth's `setAccountCookie`: the account as a JWE, chunked when
/// long, for `cookieCache.maxAge` (spec §4.2).
pub(super) fn set_account_cookie(ctx: &mut Ctx<'_>, account: &Account) {
    let def = ctx.auth_cookies().account_data.clone();
    let max_age = def.attributes.max_age.unwrap_or(300);
    let sealed = ctx.oauth().seal_account(account, ctx.now(), max_age);
    let request = ctx.cookies().clone();
    ctx.jar.set_chunked(&def, &sealed, &request);
}
