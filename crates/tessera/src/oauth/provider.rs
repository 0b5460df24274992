//! OAuth providers: how one is configured ([`ProviderConfig`]), how it is
//! made ready ([`Provider`], discovered from an issuer or given its
//! endpoints), and the three exchanges with it: the authorization URL, the
//! token endpoint (code and refresh grants), and userinfo.
//!
//! What better-auth 1.7.25 does, and this follows (`@better-auth/core`'s
//! `oauth2/` and the `genericOAuth` plugin):
//! - the authorization URL carries `response_type=code`, `client_id`,
//!   `state`, `scope` (space-separated; `openid` first for an OpenID
//!   provider), `redirect_uri`, then `login_hint`, `nonce`, `prompt` when
//!   set and, with PKCE, `code_challenge_method=S256` and `code_challenge`;
//! - the token request is a form POST (`grant_type`, `code`,
//!   `code_verifier`, `redirect_uri`, and `client_id` + `client_secret` in
//!   the body: `client_secret_post` whenever there is a secret), with
//!   `accept: application/json`, refusing redirects;
//! - a token response's `expires_in` becomes `accessTokenExpiresAt`
//!   (now + seconds), `scope` may be a space-separated string or an array.

use std::fmt;

use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use serde_json::{Map, Value};
use url::Url;

use super::http::{HttpClient, HttpClientError};
use crate::Timestamp;

/// Microsoft's multi-tenant issuer: `{tid}` is the token's own tenant.
pub const MICROSOFT_TENANT_ISSUER: &str = "https://login.microsoftonline.com/{tid}/v2.0";

/// The largest provider document (discovery, token, userinfo) read as JSON.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// Which claims of a provider's profile hold the user's fields.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProfileMapping {
    /// The stable account id (`sub` for OpenID Connect, `id` for most
    /// OAuth 2.0 providers).
    pub id: String,
    /// The email address.
    pub email: String,
    /// Whether the provider verified the address (a boolean, or the
    /// strings `"true"`/`"false"`).
    pub email_verified: String,
    /// The display name.
    pub name: String,
    /// The picture URL.
    pub image: String,
}

impl ProfileMapping {
    /// OpenID Connect's standard claims: `sub`, `email`, `email_verified`,
    /// `name`, `picture`.
    pub fn oidc() -> Self {
        ProfileMapping {
            id: "sub".into(),
            email: "email".into(),
            email_verified: "email_verified".into(),
            name: "name".into(),
            image: "picture".into(),
        }
    }

    /// Claims named `id`, `email`, `email_verified`, `name`, `picture`:
    /// what better-auth's generic OAuth 2.0 provider reads.
    pub fn oauth2() -> Self {
        ProfileMapping {
            id: "id".into(),
            ..ProfileMapping::oidc()
        }
    }

    /// Sets the claim of one field.
    pub fn with_id(mut self, claim: impl Into<String>) -> Self {
        self.id = claim.into();
        self
    }

    /// Sets the claim holding the display name.
    pub fn with_name(mut self, claim: impl Into<String>) -> Self {
        self.name = claim.into();
        self
    }

    /// Sets the claim holding the picture URL.
    pub fn with_image(mut self, claim: impl Into<String>) -> Self {
        self.image = claim.into();
        self
    }

    /// Sets the claim holding whether the email is verified.
    pub fn with_email_verified(mut self, claim: impl Into<String>) -> Self {
        self.email_verified = claim.into();
        self
    }
}

/// A provider's endpoints, given or discovered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Endpoints {
    /// Where the browser is sent to sign in.
    pub authorization: String,
    /// The token endpoint (code and refresh grants).
    pub token: String,
    /// The userinfo endpoint, if any.
    pub userinfo: Option<String>,
    /// The JWKS the provider signs ID tokens with, if it issues them.
    pub jwks_uri: Option<String>,
    /// The issuer ID tokens and authorization responses (`iss`) must name.
    pub issuer: Option<String>,
    /// `id_token_signing_alg_values_supported`, from discovery.
    pub id_token_algorithms: Vec<String>,
    /// `end_session_endpoint` (OpenID Connect RP-initiated logout), from
    /// discovery: sign-out answers with it (better-auth's provider logout).
    pub end_session: Option<String>,
}

impl Endpoints {
    /// Explicit authorization and token endpoints.
    pub fn new(authorization: impl Into<String>, token: impl Into<String>) -> Self {
        Endpoints {
            authorization: authorization.into(),
            token: token.into(),
            ..Endpoints::default()
        }
    }

    /// With a userinfo endpoint.
    pub fn with_userinfo(mut self, url: impl Into<String>) -> Self {
        self.userinfo = Some(url.into());
        self
    }

    /// With an issuer and the JWKS its ID tokens are signed with.
    pub fn with_id_tokens(
        mut self,
        issuer: impl Into<String>,
        jwks_uri: impl Into<String>,
        algorithms: &[&str],
    ) -> Self {
        self.issuer = Some(issuer.into());
        self.jwks_uri = Some(jwks_uri.into());
        self.id_token_algorithms = algorithms.iter().map(|a| (*a).to_owned()).collect();
        self
    }
}

/// Where a provider's endpoints come from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndpointSource {
    /// OpenID Connect discovery: `<issuer>/.well-known/openid-configuration`.
    Issuer(String),
    /// Given.
    Explicit(Endpoints),
}

/// One provider's configuration: plain data, made ready by
/// [`Provider::discover`] or [`Provider::new`].
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderConfig {
    /// The id in `/callback/<id>` and in `{"provider": "<id>"}`.
    pub id: String,
    /// The name people see (`Continue with <name>`).
    pub name: String,
    /// The client id registered with the provider.
    pub client_id: String,
    /// The client secret, sent as `client_secret_post`.
    pub client_secret: Option<String>,
    /// Scopes asked for on every sign-in, after those of the request.
    pub scopes: Vec<String>,
    /// `prompt` (e.g. `consent`, `select_account`).
    pub prompt: Option<String>,
    /// PKCE with S256 (default on).
    pub pkce: bool,
    /// The endpoints.
    pub endpoints: EndpointSource,
    /// Which profile claims hold the user's fields.
    pub profile: ProfileMapping,
    /// Extra query parameters on the authorization URL.
    pub authorization_params: Vec<(String, String)>,
    /// No new users through this provider.
    pub disable_sign_up: bool,
    /// New users only when the sign-in asks for it (`requestSignUp`).
    pub disable_implicit_sign_up: bool,
    /// Overwrite the user's name and image with the provider's on every
    /// sign-in (`overrideUserInfoOnSignIn`).
    pub override_user_info: bool,
    /// How the profile is read beyond the standard claims.
    pub user_info_style: UserInfoStyle,
    /// Where the provider sends the browser after its logout
    /// (`postLogoutRedirectURI`), when sign-out gives no `callbackURL`;
    /// relative to the base URL.
    pub post_logout_redirect_uri: Option<String>,
}

/// How a provider's profile is read, where it departs from OpenID
/// Connect's claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserInfoStyle {
    /// The verified ID token's claims, else the userinfo answer.
    Standard,
    /// GitHub: `/user`, and `/user/emails` for the primary (or first)
    /// address and whether it is verified; the name falls back to `login`.
    GitHub,
    /// Discord: `/users/@me`; `verified` says whether the email is, the
    /// name is `global_name` or `username`, the image is built from the
    /// avatar hash.
    Discord,
    /// Microsoft Entra ID: the standard claims; when they say nothing of
    /// `email_verified`, the email is verified if `verified_primary_email`
    /// or `verified_secondary_email` lists it (better-auth's `microsoft`).
    Microsoft,
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "…"))
            .field("scopes", &self.scopes)
            .field("prompt", &self.prompt)
            .field("pkce", &self.pkce)
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

impl ProviderConfig {
    /// A generic OpenID Connect provider, discovered from `issuer`, asking
    /// for `openid email profile`.
    pub fn oidc(
        id: impl Into<String>,
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: Option<String>,
    ) -> Self {
        let id = id.into();
        ProviderConfig {
            name: id.clone(),
            id,
            client_id: client_id.into(),
            client_secret,
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            prompt: None,
            pkce: true,
            endpoints: EndpointSource::Issuer(issuer.into()),
            profile: ProfileMapping::oidc(),
            authorization_params: Vec::new(),
            disable_sign_up: false,
            disable_implicit_sign_up: false,
            override_user_info: false,
            user_info_style: UserInfoStyle::Standard,
            post_logout_redirect_uri: None,
        }
    }

    /// Google, as better-auth's `google` provider: its fixed endpoints,
    /// ID tokens from `https://accounts.google.com` checked against
    /// Google's JWKS, scopes `email profile openid`,
    /// `include_granted_scopes=true`.
    pub fn google(client_id: impl Into<String>, client_secret: Option<String>) -> Self {
        ProviderConfig::oauth2(
            "google",
            Endpoints::new(
                "https://accounts.google.com/o/oauth2/v2/auth",
                "https://oauth2.googleapis.com/token",
            )
            .with_userinfo("https://openidconnect.googleapis.com/v1/userinfo")
            .with_id_tokens(
                "https://accounts.google.com",
                "https://www.googleapis.com/oauth2/v3/certs",
                &["RS256"],
            ),
            client_id,
            client_secret,
            ProfileMapping::oidc(),
        )
        .with_name("Google")
        .with_scopes(["email", "profile", "openid"])
        .with_authorization_param("include_granted_scopes", "true")
    }

    /// GitHub, as better-auth's `github` provider: scopes `read:user
    /// user:email`, the profile from `/user` and the email from
    /// `/user/emails` (GitHub issues no ID tokens).
    pub fn github(client_id: impl Into<String>, client_secret: Option<String>) -> Self {
        let mut config = ProviderConfig::oauth2(
            "github",
            Endpoints::new(
                "https://github.com/login/oauth/authorize",
                "https://github.com/login/oauth/access_token",
            )
            .with_userinfo("https://api.github.com/user"),
            client_id,
            client_secret,
            ProfileMapping::oauth2().with_image("avatar_url"),
        )
        .with_name("GitHub")
        .with_scopes(["read:user", "user:email"]);
        config.user_info_style = UserInfoStyle::GitHub;
        config
    }

    /// Discord, as better-auth's `discord` provider: scopes `identify
    /// email`, `prompt=none` unless set, the profile from `/users/@me`.
    pub fn discord(client_id: impl Into<String>, client_secret: Option<String>) -> Self {
        let mut config = ProviderConfig::oauth2(
            "discord",
            Endpoints::new(
                "https://discord.com/api/oauth2/authorize",
                "https://discord.com/api/oauth2/token",
            )
            .with_userinfo("https://discord.com/api/users/@me"),
            client_id,
            client_secret,
            ProfileMapping::oauth2().with_email_verified("verified"),
        )
        .with_name("Discord")
        .with_scopes(["identify", "email"])
        .with_prompt("none");
        config.user_info_style = UserInfoStyle::Discord;
        config
    }

    /// Microsoft Entra ID, as better-auth's `microsoft` provider: the
    /// v2.0 endpoints of `tenant` (`common` by default in better-auth),
    /// scopes `openid profile email User.Read offline_access`, the account
    /// id from the `oid` claim. ID tokens are checked against the tenant's
    /// keys; for `common`, `organizations` and `consumers` the issuer is
    /// the token's own tenant (`https://login.microsoftonline.com/{tid}/v2.0`).
    pub fn microsoft(
        tenant: &str,
        client_id: impl Into<String>,
        client_secret: Option<String>,
    ) -> Self {
        let base = format!("https://login.microsoftonline.com/{tenant}");
        let mut config = ProviderConfig::oauth2(
            "microsoft",
            Endpoints::new(
                format!("{base}/oauth2/v2.0/authorize"),
                format!("{base}/oauth2/v2.0/token"),
            )
            .with_userinfo("https://graph.microsoft.com/oidc/userinfo")
            .with_id_tokens(
                if matches!(tenant, "common" | "organizations" | "consumers") {
                    MICROSOFT_TENANT_ISSUER.to_owned()
                } else {
                    format!("{base}/v2.0")
                },
                format!("{base}/discovery/v2.0/keys"),
                &["RS256"],
            ),
            client_id,
            client_secret,
            ProfileMapping::oidc().with_id("oid"),
        )
        .with_name("Microsoft EntraID")
        .with_scopes(["openid", "profile", "email", "User.Read", "offline_access"]);
        config.user_info_style = UserInfoStyle::Microsoft;
        config
    }

    /// A generic OAuth 2.0 provider with explicit endpoints and a profile
    /// mapping for its userinfo answer.
    pub fn oauth2(
        id: impl Into<String>,
        endpoints: Endpoints,
        client_id: impl Into<String>,
        client_secret: Option<String>,
        profile: ProfileMapping,
    ) -> Self {
        ProviderConfig {
            endpoints: EndpointSource::Explicit(endpoints),
            profile,
            scopes: Vec::new(),
            ..ProviderConfig::oidc(id, String::new(), client_id, client_secret)
        }
    }

    /// Sets the display name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Replaces the scopes.
    pub fn with_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `prompt`.
    pub fn with_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(prompt.into()).filter(|p: &String| !p.is_empty());
        self
    }

    /// Turns PKCE off (for providers that refuse `code_challenge`).
    pub fn without_pkce(mut self) -> Self {
        self.pkce = false;
        self
    }

    /// Adds a query parameter to the authorization URL.
    pub fn with_authorization_param(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.authorization_params.push((name.into(), value.into()));
        self
    }
}

/// Why a provider could not be made ready.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The discovery document could not be fetched.
    #[error("provider {id}: cannot fetch {url}")]
    Unreachable {
        /// The provider id.
        id: String,
        /// The discovery URL.
        url: String,
        /// Why.
        #[source]
        source: FlowError,
    },
    /// The configuration or the discovery document is unusable.
    #[error("provider {id}: {reason}")]
    Invalid {
        /// The provider id.
        id: String,
        /// What is wrong.
        reason: String,
    },
}

/// Why an exchange with a provider failed. Each becomes better-auth's
/// error redirect (`invalid_code`, `unable_to_get_user_info`, …) at the
/// endpoint; none is the client's fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlowError {
    /// No response (timeout, refused, too large).
    #[error("no answer from the provider")]
    Http(#[from] HttpClientError),
    /// A response that is not 2xx.
    #[error("the provider answered {status}: {error}")]
    Status {
        /// Its status.
        status: StatusCode,
        /// Its OAuth `error` code, or the start of its body.
        error: String,
    },
    /// A 2xx response that is not what the protocol says.
    #[error("the provider's answer is malformed: {0}")]
    Malformed(String),
}

/// The tokens of a code or refresh grant (better-auth's `OAuth2Tokens`).
#[derive(Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Tokens {
    /// `token_type`.
    pub token_type: Option<String>,
    /// `access_token`.
    pub access_token: Option<String>,
    /// `refresh_token`.
    pub refresh_token: Option<String>,
    /// now + `expires_in`.
    pub access_token_expires_at: Option<Timestamp>,
    /// now + `refresh_token_expires_in`.
    pub refresh_token_expires_at: Option<Timestamp>,
    /// `scope`, split.
    pub scopes: Vec<String>,
    /// `id_token`.
    pub id_token: Option<String>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |t: &Option<String>| t.as_ref().map(|_| "…");
        f.debug_struct("Tokens")
            .field("token_type", &self.token_type)
            .field("access_token", &redacted(&self.access_token))
            .field("refresh_token", &redacted(&self.refresh_token))
            .field("access_token_expires_at", &self.access_token_expires_at)
            .field("refresh_token_expires_at", &self.refresh_token_expires_at)
            .field("scopes", &self.scopes)
            .field("id_token", &redacted(&self.id_token))
            .finish()
    }
}

impl Tokens {
    /// Reads a token endpoint's JSON answer (RFC 6749 §5.1) at `now`.
    pub fn from_response(json: &Value, now: Timestamp) -> Result<Self, FlowError> {
        let obj = json
            .as_object()
            .ok_or_else(|| FlowError::Malformed("the token response is not an object".into()))?;
        let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
        let seconds = |k: &str| {
            obj.get(k)
                .and_then(|v| v.as_f64().or_else(|| v.as_str()?.parse().ok()))
                .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e12)
                .map(|s| now.plus_millis((s * 1000.0) as i64))
        };
        let scopes = match obj.get("scope") {
            Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        Ok(Tokens {
            token_type: text("token_type"),
            access_token: text("access_token"),
            refresh_token: text("refresh_token"),
            access_token_expires_at: seconds("expires_in"),
            refresh_token_expires_at: seconds("refresh_token_expires_in"),
            scopes,
            id_token: text("id_token"),
        })
    }
}

/// What an authorization URL is made of, per sign-in.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AuthorizationRequest<'a> {
    /// The random `state`.
    pub state: &'a str,
    /// The PKCE verifier (its S256 challenge goes in the URL).
    pub code_verifier: &'a str,
    /// The ID token `nonce`, for providers that issue ID tokens.
    pub nonce: Option<&'a str>,
    /// `<baseURL>/callback/<id>`.
    pub redirect_uri: &'a str,
    /// Scopes of this request, before the provider's own.
    pub scopes: &'a [String],
    /// `login_hint`.
    pub login_hint: Option<&'a str>,
}

impl<'a> AuthorizationRequest<'a> {
    /// A request with no extra scopes and no login hint.
    pub fn new(
        state: &'a str,
        code_verifier: &'a str,
        nonce: Option<&'a str>,
        redirect_uri: &'a str,
    ) -> Self {
        AuthorizationRequest {
            state,
            code_verifier,
            nonce,
            redirect_uri,
            scopes: &[],
            login_hint: None,
        }
    }
}

/// A provider ready to use: its configuration and its endpoints.
#[derive(Clone, Debug)]
pub struct Provider {
    config: ProviderConfig,
    endpoints: Endpoints,
}

impl Provider {
    /// A provider with explicit endpoints (no network). Fails for an
    /// [`EndpointSource::Issuer`]: use [`Provider::discover`].
    pub fn new(config: ProviderConfig) -> Result<Self, ProviderError> {
        let endpoints = match &config.endpoints {
            EndpointSource::Explicit(e) => e.clone(),
            EndpointSource::Issuer(_) => {
                return Err(invalid(&config.id, "an issuer needs discovery"));
            }
        };
        Self::checked(config, endpoints)
    }

    /// Makes a provider ready: for an issuer, fetches its discovery
    /// document (`<issuer>/.well-known/openid-configuration`) and takes the
    /// endpoints, the issuer and the ID token algorithms from it; the
    /// document's `issuer` must equal the configured one (OpenID Connect
    /// Discovery §4.3).
    pub async fn discover(
        config: ProviderConfig,
        client: &dyn HttpClient,
    ) -> Result<Self, ProviderError> {
        let issuer = match &config.endpoints {
            EndpointSource::Explicit(_) => return Self::new(config),
            EndpointSource::Issuer(issuer) => issuer.clone(),
        };
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let request = Request::get(&url)
            .header(header::ACCEPT, "application/json")
            .body(Bytes::new())
            .map_err(|e| invalid(&config.id, &format!("bad issuer URL {issuer:?}: {e}")))?;
        let doc =
            send_json(client, request)
                .await
                .map_err(|source| ProviderError::Unreachable {
                    id: config.id.clone(),
                    url: url.clone(),
                    source,
                })?;
        let field = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_owned);
        let found_issuer = field("issuer")
            .ok_or_else(|| invalid(&config.id, "the discovery document names no issuer"))?;
        if found_issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(invalid(
                &config.id,
                &format!("the discovery document names issuer {found_issuer:?}, not {issuer:?}"),
            ));
        }
        let endpoints = Endpoints {
            authorization: field("authorization_endpoint").unwrap_or_default(),
            token: field("token_endpoint").unwrap_or_default(),
            userinfo: field("userinfo_endpoint"),
            jwks_uri: field("jwks_uri"),
            end_session: field("end_session_endpoint"),
            issuer: Some(found_issuer),
            id_token_algorithms: doc
                .get("id_token_signing_alg_values_supported")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        };
        Self::checked(config, endpoints)
    }

    fn checked(config: ProviderConfig, endpoints: Endpoints) -> Result<Self, ProviderError> {
        if config.id.is_empty()
            || !config
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                &config.id,
                "the id must be letters, digits, '-' or '_'",
            ));
        }
        if config.client_id.is_empty() {
            return Err(invalid(&config.id, "no client id"));
        }
        for (what, url) in [
            ("authorization endpoint", Some(&endpoints.authorization)),
            ("token endpoint", Some(&endpoints.token)),
            ("userinfo endpoint", endpoints.userinfo.as_ref()),
            ("jwks_uri", endpoints.jwks_uri.as_ref()),
        ] {
            if let Some(url) = url {
                match Url::parse(url) {
                    Ok(u) if matches!(u.scheme(), "https" | "http") => {}
                    _ => return Err(invalid(&config.id, &format!("bad {what} {url:?}"))),
                }
            }
        }
        Ok(Provider { config, endpoints })
    }

    /// The provider id.
    pub fn id(&self) -> &str {
        &self.config.id
    }

    /// The display name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The configuration.
    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// The endpoints in use.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// Whether the provider issues ID tokens this kernel verifies (an
    /// issuer and a JWKS): then the sign-in carries a `nonce`, and the ID
    /// token must carry it back (better-auth's `requiresIdTokenNonce`).
    pub fn verifies_id_tokens(&self) -> bool {
        self.endpoints.issuer.is_some() && self.endpoints.jwks_uri.is_some()
    }

    /// The URL the browser is sent to (spec order, see the module docs).
    pub fn authorization_url(&self, req: &AuthorizationRequest<'_>) -> String {
        let mut scopes: Vec<&str> = Vec::new();
        for s in req.scopes.iter().chain(&self.config.scopes) {
            if !scopes.contains(&s.as_str()) {
                scopes.push(s);
            }
        }
        if !self.endpoints.id_token_algorithms.is_empty() && !scopes.contains(&"openid") {
            scopes.insert(0, "openid");
        }
        let mut url = match Url::parse(&self.endpoints.authorization) {
            Ok(url) => url,
            // Checked when the provider was made ready.
            Err(_) => unreachable_url(),
        };
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.config.client_id)
                .append_pair("state", req.state);
            if !scopes.is_empty() {
                q.append_pair("scope", &scopes.join(" "));
            }
            q.append_pair("redirect_uri", req.redirect_uri);
            if let Some(hint) = req.login_hint {
                q.append_pair("login_hint", hint);
            }
            if let Some(nonce) = req.nonce {
                q.append_pair("nonce", nonce);
            }
            if let Some(prompt) = &self.config.prompt {
                q.append_pair("prompt", prompt);
            }
            if self.config.pkce {
                q.append_pair("code_challenge_method", "S256")
                    .append_pair("code_challenge", &super::pkce_challenge(req.code_verifier));
            }
            for (k, v) in &self.config.authorization_params {
                q.append_pair(k, v);
            }
        }
        url.into()
    }

    /// The provider's logout URL for a sign-out (better-auth's
    /// `genericOAuth` `createEndSessionURL`), `None` without an
    /// `end_session_endpoint`: `id_token_hint` when the account has an ID
    /// token; with a post-logout redirect (`post_logout` from the request,
    /// else the configured one, resolved against `base_url`) also
    /// `post_logout_redirect_uri`, `client_id` and `state`; without either,
    /// `client_id` alone.
    pub fn end_session_url(
        &self,
        id_token: Option<&str>,
        post_logout: Option<&str>,
        state: Option<&str>,
        base_url: &str,
    ) -> Option<String> {
        let mut url = Url::parse(self.endpoints.end_session.as_deref()?).ok()?;
        let redirect = post_logout
            .or(self.config.post_logout_redirect_uri.as_deref())
            .and_then(|r| Url::parse(base_url).ok()?.join(r).ok());
        {
            let mut q = url.query_pairs_mut();
            if let Some(hint) = id_token {
                q.append_pair("id_token_hint", hint);
            }
            match &redirect {
                Some(redirect) => {
                    q.append_pair("post_logout_redirect_uri", redirect.as_str())
                        .append_pair("client_id", &self.config.client_id);
                    if let Some(state) = state {
                        q.append_pair("state", state);
                    }
                }
                None if id_token.is_none() => {
                    q.append_pair("client_id", &self.config.client_id);
                }
                None => {}
            }
        }
        Some(url.into())
    }

    /// Exchanges an authorization code for tokens.
    pub async fn exchange_code(
        &self,
        client: &dyn HttpClient,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
        now: Timestamp,
    ) -> Result<Tokens, FlowError> {
        let mut pairs = vec![("grant_type", "authorization_code"), ("code", code)];
        if self.config.pkce {
            pairs.push(("code_verifier", code_verifier));
        }
        pairs.push(("redirect_uri", redirect_uri));
        let body = self.token_form(&pairs);
        self.token_request(client, body, now).await
    }

    /// Refreshes an access token (`grant_type=refresh_token`).
    pub async fn refresh(
        &self,
        client: &dyn HttpClient,
        refresh_token: &str,
        now: Timestamp,
    ) -> Result<Tokens, FlowError> {
        let body = self.token_form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ]);
        self.token_request(client, body, now).await
    }

    /// A token request's form: `pairs`, then the client's credentials in
    /// the body (`client_secret_post`, or the id alone without a secret).
    fn token_form(&self, pairs: &[(&str, &str)]) -> String {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            form.append_pair(k, v);
        }
        form.append_pair("client_id", &self.config.client_id);
        if let Some(secret) = &self.config.client_secret {
            form.append_pair("client_secret", secret);
        }
        form.finish()
    }

    async fn token_request(
        &self,
        client: &dyn HttpClient,
        body: String,
        now: Timestamp,
    ) -> Result<Tokens, FlowError> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(&self.endpoints.token)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(Bytes::from(body))
            .map_err(|e| FlowError::Malformed(format!("bad token endpoint: {e}")))?;
        let json = send_json(client, request).await?;
        if let Some(error) = json.get("error").and_then(Value::as_str) {
            // Some providers (GitHub) answer errors with 200.
            return Err(FlowError::Status {
                status: StatusCode::OK,
                error: error.to_owned(),
            });
        }
        Tokens::from_response(&json, now)
    }

    /// The userinfo answer for an access token, as JSON.
    pub async fn userinfo(
        &self,
        client: &dyn HttpClient,
        access_token: &str,
    ) -> Result<Map<String, Value>, FlowError> {
        let url =
            self.endpoints.userinfo.as_deref().ok_or_else(|| {
                FlowError::Malformed("the provider has no userinfo endpoint".into())
            })?;
        match get_with_token(client, url, access_token).await? {
            Value::Object(map) => Ok(map),
            _ => Err(FlowError::Malformed("userinfo is not an object".into())),
        }
    }

    /// Who signed in, by the provider's own API for the styles that are
    /// not OpenID Connect ([`UserInfoStyle::GitHub`], [`UserInfoStyle::Discord`]);
    /// `None` for [`UserInfoStyle::Standard`].
    pub async fn styled_user(
        &self,
        client: &dyn HttpClient,
        access_token: &str,
    ) -> Option<Result<ProviderUser, FlowError>> {
        match self.config.user_info_style {
            UserInfoStyle::Standard | UserInfoStyle::Microsoft => None,
            UserInfoStyle::GitHub => Some(self.github_user(client, access_token).await),
            UserInfoStyle::Discord => Some(self.discord_user(client, access_token).await),
        }
    }

    async fn github_user(
        &self,
        client: &dyn HttpClient,
        access_token: &str,
    ) -> Result<ProviderUser, FlowError> {
        let mut profile = self.userinfo(client, access_token).await?;
        let emails = get_with_token(client, GITHUB_EMAILS, access_token)
            .await
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default();
        // better-auth: `if (!profile.email && emails)`: null or empty.
        if profile
            .get("email")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            let chosen = emails
                .iter()
                .find(|e| e.get("primary") == Some(&Value::Bool(true)))
                .or_else(|| emails.first())
                .and_then(|e| e.get("email"))
                .cloned();
            if let Some(email) = chosen {
                profile.insert("email".into(), email);
            }
        }
        let email = profile
            .get("email")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let verified = emails.iter().any(|e| {
            e.get("email").and_then(Value::as_str) == email.as_deref()
                && e.get("verified") == Some(&Value::Bool(true))
        });
        let mut user = self.profile_user(&profile).ok_or_else(no_id)?;
        user.email_verified = verified;
        if user.name.is_none() {
            user.name = profile
                .get("login")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        Ok(user)
    }

    async fn discord_user(
        &self,
        client: &dyn HttpClient,
        access_token: &str,
    ) -> Result<ProviderUser, FlowError> {
        let profile = self.userinfo(client, access_token).await?;
        let mut user = self.profile_user(&profile).ok_or_else(no_id)?;
        let text = |k: &str| {
            profile
                .get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        user.name = text("global_name").or(text("username")).map(str::to_owned);
        user.image = Some(match text("avatar") {
            Some(hash) => {
                let ext = if hash.starts_with("a_") { "gif" } else { "png" };
                format!(
                    "https://cdn.discordapp.com/avatars/{}/{hash}.{ext}",
                    user.id
                )
            }
            None => {
                let index = match text("discriminator") {
                    Some(d) if d != "0" => d.parse::<u64>().unwrap_or(0) % 5,
                    _ => user.id.parse::<u64>().map_or(0, |id| (id >> 22) % 6),
                };
                format!("https://cdn.discordapp.com/embed/avatars/{index}.png")
            }
        });
        Ok(user)
    }

    /// The user a profile describes, by this provider's mapping; `None`
    /// without an account id.
    pub fn profile_user(&self, profile: &Map<String, Value>) -> Option<ProviderUser> {
        let m = &self.config.profile;
        let text = |k: &str| match profile.get(k) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let id = text(&m.id).filter(|id| !id.trim().is_empty() && id != "null")?;
        // An email is a string: a number is not one (better-auth would fail
        // on `email.toLowerCase()`).
        let email = match profile.get(&m.email) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        let email_verified = match profile.get(&m.email_verified) {
            Some(v) => matches!(v, Value::Bool(true)) || v.as_str() == Some("true"),
            None if self.config.user_info_style == UserInfoStyle::Microsoft => {
                let listed = |claim: &str| match profile.get(claim) {
                    Some(Value::Array(list)) => list
                        .iter()
                        .any(|v| v.as_str().is_some() && v.as_str() == email.as_deref()),
                    _ => false,
                };
                email.is_some()
                    && (listed("verified_primary_email") || listed("verified_secondary_email"))
            }
            None => false,
        };
        Some(ProviderUser {
            id,
            email,
            email_verified,
            name: text(&m.name),
            image: text(&m.image),
            profile: profile.clone(),
        })
    }
}

/// A user as a provider describes them.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ProviderUser {
    /// The provider's stable id (the account id).
    pub id: String,
    /// Email.
    pub email: Option<String>,
    /// Whether the provider verified the email.
    pub email_verified: bool,
    /// Display name.
    pub name: Option<String>,
    /// Picture URL.
    pub image: Option<String>,
    /// The whole profile.
    pub profile: Map<String, Value>,
}

/// GitHub's list of the user's addresses.
const GITHUB_EMAILS: &str = "https://api.github.com/user/emails";

fn no_id() -> FlowError {
    FlowError::Malformed("the profile has no account id".into())
}

/// `GET url` with a bearer token, as JSON.
async fn get_with_token(
    client: &dyn HttpClient,
    url: &str,
    access_token: &str,
) -> Result<Value, FlowError> {
    let request = Request::get(url)
        .header(header::ACCEPT, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {access_token}"))
        .body(Bytes::new())
        .map_err(|e| FlowError::Malformed(format!("bad request to {url}: {e}")))?;
    send_json(client, request).await
}

fn invalid(id: &str, reason: &str) -> ProviderError {
    ProviderError::Invalid {
        id: id.to_owned(),
        reason: reason.to_owned(),
    }
}

/// A URL known valid: [`Provider::checked`] parsed every endpoint.
fn unreachable_url() -> Url {
    Url::parse("http://invalid.invalid/").expect("a literal URL parses")
}

/// Sends `request` and reads a 2xx JSON answer; an OAuth error answer
/// becomes [`FlowError::Status`] with its `error` code.
async fn send_json(client: &dyn HttpClient, request: Request<Bytes>) -> Result<Value, FlowError> {
    let response = client.send(request).await?;
    let status = response.status();
    let body = response.into_body();
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(HttpClientError::TooLarge {
            limit: MAX_DOCUMENT_BYTES,
        }
        .into());
    }
    if !status.is_success() {
        let error = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("error")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned());
        return Err(FlowError::Status { status, error });
    }
    serde_json::from_slice(&body).map_err(|e| FlowError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> Provider {
        Provider::new(
            ProviderConfig::oauth2(
                "oidc",
                Endpoints::new("http://127.0.0.1:4010/auth", "http://127.0.0.1:4010/token")
                    .with_id_tokens(
                        "http://127.0.0.1:4010",
                        "http://127.0.0.1:4010/jwks",
                        &["RS256"],
                    ),
                "tessera-test",
                Some("tessera-test-secret".into()),
                ProfileMapping::oidc(),
            )
            .with_scopes(["openid", "email", "profile", "offline_access"])
            .with_prompt("consent"),
        )
        .unwrap()
    }

    #[test]
    fn the_authorization_url_is_better_auths() {
        // Recorded from better-auth 1.7.25's genericOAuth (the OAuth vectors' `flow`).
        let expected = "http://127.0.0.1:4010/auth?response_type=code&client_id=tessera-test&state=5Ggp2-hw0-Y1kQqkAoKdY-ZR9YbT5w0h&scope=openid+email+profile+offline_access&redirect_uri=http%3A%2F%2F127.0.0.1%3A3005%2Fapi%2Fauth%2Fcallback%2Foidc&nonce=QtWMjBKHRLmpuc3uBi8UxpRjMF-OOZsq&prompt=consent&code_challenge_method=S256&code_challenge=";
        let url = provider().authorization_url(&AuthorizationRequest::new(
            "5Ggp2-hw0-Y1kQqkAoKdY-ZR9YbT5w0h",
            "verifier",
            Some("QtWMjBKHRLmpuc3uBi8UxpRjMF-OOZsq"),
            "http://127.0.0.1:3005/api/auth/callback/oidc",
        ));
        assert_eq!(
            url,
            format!("{expected}{}", super::super::pkce_challenge("verifier"))
        );
    }

    #[test]
    fn token_responses_are_read_as_better_auth_reads_them() {
        let now = Timestamp::from_millis(1_000_000);
        let t = Tokens::from_response(
            &serde_json::json!({"access_token":"a","token_type":"Bearer","expires_in":3600,
                "refresh_token":"r","scope":"openid  email","id_token":"i"}),
            now,
        )
        .unwrap();
        assert_eq!(t.access_token_expires_at, Some(now.plus_secs(3600)));
        assert_eq!(t.scopes, ["openid", "email"]);
        let t = Tokens::from_response(&serde_json::json!({"scope":["a"," b ",""]}), now).unwrap();
        assert_eq!(t.scopes, ["a", "b"]);
        assert_eq!(t.access_token_expires_at, None);
        assert!(Tokens::from_response(&serde_json::json!([1]), now).is_err());
    }

    #[test]
    fn profiles_map_to_users() {
        let p = provider();
        let profile = serde_json::json!({"sub":"alice","email":"alice@example.com",
            "email_verified":"true","name":"alice"});
        let user = p.profile_user(profile.as_object().unwrap()).unwrap();
        assert_eq!(user.id, "alice");
        assert!(user.email_verified);
        assert_eq!(user.image, None);
        assert!(p
            .profile_user(serde_json::json!({"email":"x@y.z"}).as_object().unwrap())
            .is_none());
    }

    #[test]
    fn the_logout_url_is_generic_oauths() {
        let mut endpoints = Endpoints::new("https://op.example/auth", "https://op.example/token");
        let no_logout = Provider::new(ProviderConfig::oauth2(
            "op",
            endpoints.clone(),
            "client",
            None,
            ProfileMapping::oidc(),
        ))
        .unwrap();
        assert_eq!(
            no_logout.end_session_url(Some("t"), None, None, "https://app.example/api/auth"),
            None
        );
        endpoints.end_session = Some("https://op.example/session/end".into());
        let p = Provider::new(ProviderConfig::oauth2(
            "op",
            endpoints,
            "client",
            None,
            ProfileMapping::oidc(),
        ))
        .unwrap();
        let base = "https://app.example/api/auth";
        assert_eq!(
            p.end_session_url(Some("t"), None, Some("s"), base)
                .as_deref(),
            Some("https://op.example/session/end?id_token_hint=t")
        );
        assert_eq!(
            p.end_session_url(None, None, None, base).as_deref(),
            Some("https://op.example/session/end?client_id=client")
        );
        assert_eq!(
            p.end_session_url(Some("t"), Some("/bye"), Some("s"), base).as_deref(),
            Some("https://op.example/session/end?id_token_hint=t&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye&client_id=client&state=s")
        );
    }

    #[test]
    fn bad_configurations_are_refused() {
        let bad = ProviderConfig::oauth2(
            "bad id",
            Endpoints::new("https://a.example/auth", "https://a.example/token"),
            "c",
            None,
            ProfileMapping::oauth2(),
        );
        assert!(Provider::new(bad).is_err());
        let bad = ProviderConfig::oauth2(
            "p",
            Endpoints::new("javascript:alert(1)", "https://a.example/token"),
            "c",
            None,
            ProfileMapping::oauth2(),
        );
        assert!(Provider::new(bad).is_err());
    }
}
