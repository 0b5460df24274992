//! OAuth 2.0 and OpenID Connect sign-in, on the session engine: providers,
//! the `oauth_state` and `account_data` cookies, and the HTTP client trait
//! the kernel talks to providers through. The endpoints that expose it
//! live in the HTTP pipeline (`api/`); [`OAuth`] is what they share, built once with
//! [`Auth`](crate::Auth).

mod account_cookie;
pub mod env;
mod http;
mod id_token;
mod provider;
mod state;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

pub use account_cookie::AccountCookie;
pub use http::{HttpClient, HttpClientError};
pub use id_token::{
    verify_id_token, IdTokenClaims, IdTokenError, IdTokenExpectations, Jwks, JwksCache, JwksError,
    JwksFetchError, SigningAlgorithm, MAX_ID_TOKEN_BYTES, MAX_JWKS_BYTES, MAX_JWKS_KEYS,
};
pub use provider::{
    AuthorizationRequest, EndpointSource, Endpoints, FlowError, ProfileMapping, Provider,
    ProviderConfig, ProviderError, ProviderUser, Tokens, UserInfoStyle, MICROSOFT_TENANT_ISSUER,
};
pub use state::{
    pkce_challenge, random_string, LinkData, Purpose, StateCipher, StateCookieError, StateData,
    MAX_SEALED_LEN,
};

use crate::options::{AccountOptions, StateStrategy};

/// The OAuth side of one [`Auth`](crate::Auth): its providers, the client
/// it reaches them with, and the keys of its cookies, derived once.
pub struct OAuth {
    providers: HashMap<String, Provider>,
    order: Vec<String>,
    client: Option<Arc<dyn HttpClient>>,
    strategy: StateStrategy,
    account_cookie: bool,
    options: AccountOptions,
    state_cipher: StateCipher,
    link_cipher: StateCipher,
    account_codec: AccountCookie,
    jwks: JwksCache,
}

impl fmt::Debug for OAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth")
            .field("providers", &self.order)
            .field("strategy", &self.strategy)
            .field("account_cookie", &self.account_cookie)
            .finish_non_exhaustive()
    }
}

impl OAuth {
    /// better-auth's defaults (spec §4.1): the state in a cookie without a
    /// store, in the store with one; the account cookie without a database.
    pub(crate) fn new(
        providers: Vec<Provider>,
        client: Option<Arc<dyn HttpClient>>,
        options: &AccountOptions,
        has_database: bool,
        has_store: bool,
        secrets: &crate::secret::Secrets,
    ) -> Result<Self, String> {
        if !providers.is_empty() && client.is_none() {
            return Err("OAuth providers need an HTTP client (AuthBuilder::http_client)".into());
        }
        let mut map = HashMap::new();
        let mut order = Vec::new();
        for p in providers {
            if map.contains_key(p.id()) {
                return Err(format!("two OAuth providers have the id {:?}", p.id()));
            }
            order.push(p.id().to_owned());
            map.insert(p.id().to_owned(), p);
        }
        Ok(OAuth {
            providers: map,
            order,
            client,
            strategy: options.store_state_strategy.unwrap_or(if has_store {
                StateStrategy::Database
            } else {
                StateStrategy::Cookie
            }),
            account_cookie: options.store_account_cookie.unwrap_or(!has_database),
            options: options.clone(),
            state_cipher: StateCipher::new(secrets, Purpose::OAuthStateCookie),
            link_cipher: StateCipher::new(secrets, Purpose::OAuthLinkSessionToken),
            account_codec: AccountCookie::new(secrets)
                .map_err(|e| format!("cannot derive the account cookie's key: {e}"))?,
            jwks: JwksCache::new(),
        })
    }

    /// The provider with this id.
    pub fn provider(&self, id: &str) -> Option<&Provider> {
        self.providers.get(id)
    }

    /// Every provider, in the order they were added.
    pub fn providers(&self) -> impl Iterator<Item = &Provider> {
        self.order.iter().filter_map(|id| self.providers.get(id))
    }

    /// The client providers are reached with (set whenever there is a
    /// provider).
    pub fn client(&self) -> Option<&dyn HttpClient> {
        self.client.as_deref()
    }

    /// Where the state waits for the callback.
    pub fn state_strategy(&self) -> StateStrategy {
        self.strategy
    }

    /// Whether accounts travel in the `account_data` cookie.
    pub fn stores_account_cookie(&self) -> bool {
        self.account_cookie
    }

    /// The account options in force.
    pub fn options(&self) -> &AccountOptions {
        &self.options
    }

    /// Seals a state for the `oauth_state` cookie (spec §4.3).
    pub fn seal_state(&self, data: &StateData) -> String {
        self.state_cipher.seal(data)
    }

    /// Opens an `oauth_state` cookie.
    pub fn open_state(&self, value: &str) -> Result<StateData, StateCookieError> {
        self.state_cipher.open(value)
    }

    /// Seals the session token of a `/link-social` for its state's
    /// [`LinkData::encrypted_session_token`] (better-auth's
    /// `oauth-link-session-token` purpose).
    pub fn seal_link_token(&self, session_token: &str) -> String {
        self.link_cipher.seal_str(session_token)
    }

    /// Opens a link's sealed session token.
    pub fn open_link_token(&self, sealed: &str) -> Result<String, StateCookieError> {
        self.link_cipher.open_str(sealed)
    }

    /// Seals an account for the `account_data` cookie (spec §4.2).
    pub fn seal_account(
        &self,
        account: &crate::store::Account,
        now: crate::Timestamp,
        max_age_secs: u64,
    ) -> String {
        self.account_codec.seal(account, now, max_age_secs)
    }

    /// Opens an `account_data` cookie; `None` when it does not open or has
    /// expired.
    pub fn open_account(
        &self,
        value: &str,
        now: crate::Timestamp,
    ) -> Option<crate::store::Account> {
        self.account_codec.open(value, now).ok()
    }
}

impl OAuth {
    /// Who signed in (the `genericOAuth` provider's `getUserInfo`): the
    /// verified ID token's claims when they name the subject and an email,
    /// else the userinfo answer, which must name the same subject as the ID
    /// token. An ID token is only ever read after its signature, issuer,
    /// audience, expiry and `nonce` are checked; a provider without a JWKS
    /// is asked its userinfo endpoint instead.
    pub async fn user_info(
        &self,
        provider: &Provider,
        tokens: &Tokens,
        nonce: Option<&str>,
        now: crate::Timestamp,
    ) -> Result<ProviderUser, UserInfoError> {
        let client = self.client().ok_or(UserInfoError::NoClient)?;
        if let Some(access_token) = tokens.access_token.as_deref() {
            if let Some(user) = provider.styled_user(client, access_token).await {
                return Ok(user?);
            }
        }
        let claims = match (&tokens.id_token, provider.verifies_id_tokens()) {
            (Some(token), true) => Some(self.verify_id_token(provider, token, nonce, now).await?),
            (None, true) if nonce.is_some() => return Err(UserInfoError::MissingIdToken),
            _ => None,
        };
        let subject = claims
            .as_ref()
            .and_then(|c| c.get("sub"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        if let Some(claims) = &claims {
            if subject.is_some() && claims.get("email").is_some_and(|e| e.is_string()) {
                return provider
                    .profile_user(claims)
                    .ok_or(UserInfoError::NoSubject);
            }
        }
        let access_token = tokens
            .access_token
            .as_deref()
            .ok_or(UserInfoError::NoSubject)?;
        let profile = provider.userinfo(client, access_token).await?;
        if let Some(sub) = &subject {
            let same = match profile.get("sub") {
                Some(serde_json::Value::String(s)) => s == sub,
                Some(v) => &v.to_string() == sub,
                None => false,
            };
            if !same {
                return Err(UserInfoError::SubjectMismatch);
            }
        }
        provider
            .profile_user(&profile)
            .ok_or(UserInfoError::NoSubject)
    }
}

impl OAuth {
    /// Verifies `token` as `provider`'s ID token for this client: its
    /// signature against the provider's (cached) JWKS, its issuer,
    /// audience, times and `nonce`; the claims, once all hold.
    async fn verify_id_token(
        &self,
        provider: &Provider,
        token: &str,
        nonce: Option<&str>,
        now: crate::Timestamp,
    ) -> Result<serde_json::Map<String, serde_json::Value>, UserInfoError> {
        let client = self.client().ok_or(UserInfoError::NoClient)?;
        let endpoints = provider.endpoints();
        let (Some(issuer), Some(jwks_uri)) = (&endpoints.issuer, &endpoints.jwks_uri) else {
            return Err(UserInfoError::MissingIdToken);
        };
        let algorithms: Vec<SigningAlgorithm> = endpoints
            .id_token_algorithms
            .iter()
            .filter_map(|a| SigningAlgorithm::from_name(a))
            .collect();
        // Microsoft's multi-tenant issuer names the token's own tenant; the
        // signature check then covers the `tid` it was read from.
        let issuer = if issuer.contains("{tid}") {
            let tid = unverified_claim(token, "tid")
                .ok_or(UserInfoError::IdToken(IdTokenError::WrongIssuer))?;
            if !tid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(UserInfoError::IdToken(IdTokenError::WrongIssuer));
            }
            issuer.replace("{tid}", &tid)
        } else if issuer == GOOGLE_ISSUER
            && unverified_claim(token, "iss").as_deref() == Some(GOOGLE_BARE_ISSUER)
        {
            // Google signs either form of its issuer; better-auth accepts both.
            GOOGLE_BARE_ISSUER.to_owned()
        } else {
            issuer.clone()
        };
        let mut expected =
            IdTokenExpectations::new(&issuer, &provider.config().client_id).nonce(nonce);
        if !algorithms.is_empty() {
            expected = expected.algorithms(&algorithms);
        }
        verify_id_token(&self.jwks, client, jwks_uri, token, &expected, now)
            .await
            .map(|c| c.claims)
            .map_err(UserInfoError::IdToken)
    }
}

/// Google's issuer, as its discovery document names it.
const GOOGLE_ISSUER: &str = "https://accounts.google.com";
/// The other form of Google's issuer its ID tokens may carry.
const GOOGLE_BARE_ISSUER: &str = "accounts.google.com";

/// A string claim of a JWT's payload, read before verification (only to
/// choose what to verify against).
fn unverified_claim(token: &str, name: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    if payload.len() > MAX_ID_TOKEN_BYTES {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get(name)?.as_str().map(str::to_owned)
}

/// Why the user behind a sign-in could not be known (each is better-auth's
/// `unable_to_get_user_info` redirect).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserInfoError {
    /// No HTTP client is configured.
    #[error("no HTTP client is configured")]
    NoClient,
    /// The provider verifies ID tokens but sent none.
    #[error("the provider sent no ID token")]
    MissingIdToken,
    /// The ID token did not verify.
    #[error("the ID token did not verify")]
    IdToken(#[source] IdTokenError),
    /// Userinfo could not be fetched.
    #[error("userinfo could not be fetched")]
    Flow(#[from] FlowError),
    /// Userinfo names another subject than the ID token.
    #[error("userinfo names another subject than the ID token")]
    SubjectMismatch,
    /// The profile has no account id.
    #[error("the provider's profile has no account id")]
    NoSubject,
}
