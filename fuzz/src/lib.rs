//! Fixtures shared by Tessera's fuzz targets (`fuzz_targets/`, run with
//! `cargo xtask fuzz` or `cargo +nightly fuzz run <target> -s none`) and by
//! the program that writes their seed corpora (`examples/seed.rs`), so that
//! both agree on secrets, tokens and input layouts.
//!
//! Everything is deterministic: a fixed clock, fixed tokens, fixed secrets
//! (the test vectors' own, so seeds taken from them verify), so a crash
//! input reproduces.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response};
use serde_json::{json, Map, Value};
use tessera::cookie::{encode_uri_component, sign_value};
use tessera::oauth::{
    Endpoints, HttpClient, HttpClientError, ProfileMapping, Provider, ProviderConfig,
};
use tessera::options::AdditionalField;
use tessera::store::MemoryDatabase;
use tessera::{ApiError, Auth, Database, Options, Secrets, Session, TestClock, Timestamp, User};
use tessera_custom_session::CustomSession;
use tessera_multi_session::{device_cookie_name, MultiSession};

/// The current secret: the one the shared test vectors were made with, so
/// their signed cookies and caches verify.
pub const SECRET: &str = "refharness-fixed-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
/// An older secret still in force.
pub const OLDER_SECRET: &str = "tessera-fuzz-older-secret-0123456789-abcdefghijklmnopqrst";
/// A secret not in force: nothing signed with it may verify.
pub const FOREIGN_SECRET: &str = "a-completely-different-secret-9876543210-zyxwvutsrqponmlkjihgf";
/// The base URL's origin, trusted.
pub const ORIGIN: &str = "http://127.0.0.1:3005";
/// "Now" for every fixture: just after the shared vectors were made.
pub const NOW: Timestamp = Timestamp::from_millis(1_795_853_204_000);
/// The multi-session plugin's `maximumSessions` in the fixtures.
pub const MAXIMUM_SESSIONS: usize = 3;
/// The `session_token` cookie name of the fixtures.
pub const SESSION_TOKEN_COOKIE: &str = "better-auth.session_token";
/// The session the endpoint fixture's requests may carry.
pub const SESSION_TOKEN: &str = "FuzzSessionToken0123456789abcdef";
/// The sessions of the device fixture, one user each; the last one has
/// expired.
pub const DEVICE_TOKENS: [&str; 5] = [
    "DeviceTokenA0123456789abcdefghij",
    "DeviceTokenB0123456789abcdefghij",
    "DeviceTokenC0123456789abcdefghij",
    "DeviceTokenD0123456789abcdefghij",
    "DeviceTokenE0123456789abcdefghij",
];

/// The recorded OpenID provider's issuer (oidc-provider in
/// `better-auth-1.7.25-oauth.json`).
pub const OIDC_ISSUER: &str = "http://127.0.0.1:4010";
/// The client the recorded ID tokens are for.
pub const OIDC_CLIENT_ID: &str = "tessera-test";
/// The nonce of the recorded flow, in its ID tokens.
pub const OIDC_NONCE: &str = "QtWMjBKHRLmpuc3uBi8UxpRjMF-OOZsq";
/// The recorded provider's `jwks_uri`.
pub const OIDC_JWKS_URI: &str = "http://127.0.0.1:4010/jwks";
/// The recorded provider's key set (`provider.jwks`): its ID tokens
/// verify with it.
pub const OIDC_JWKS: &str = r#"{"keys":[{"kty":"RSA","use":"sig","kid":"keystore-CHANGE-ME","alg":"RS256","e":"AQAB","n":"xwQ72P9z9OYshiQ-ntDYaPnnfwG6u9JAdLMZ5o0dmjlcyrvwQRdoFIKPnO65Q8mh6F_LDSxjxa2Yzo_wdjhbPZLjfUJXgCzm54cClXzT5twzo7lzoAfaJlkTsoZc2HFWqmcri0BuzmTFLZx2Q7wYBm0pXHmQKF0V-C1O6NWfd4mfBhbM-I1tHYSpAMgarSm22WDMDx-WWI7TEzy2QhaBVaENW9BKaKkJklocAZCxk18WhR0fckIGiWiSM5FcU1PY2jfGsTmX505Ub7P5Dz75Ygqrutd5tFrcqyPAtPTFDk8X1InxkkUwpP3nFU5o50DGhwQolGYKPGtQ-ZtmbOfcWQ"}]}"#;
/// "Now" for ID tokens: a second after the first recorded one was issued,
/// so both recorded tokens are valid.
pub const OIDC_NOW: Timestamp = Timestamp::from_millis(1_795_855_231_000);

/// The secrets in force: [`SECRET`] (current) and [`OLDER_SECRET`].
pub fn secrets() -> Secrets {
    Secrets::versioned(
        vec![(2, SECRET.to_owned()), (1, OLDER_SECRET.to_owned())],
        None,
    )
    .expect("valid fuzz secrets")
}

/// The secrets of the OAuth cookie fixtures: [`secrets`], with [`SECRET`]
/// also as the legacy `BETTER_AUTH_SECRET`, so the vectors' bare-hex
/// `oauth_state` opens beside `$ba$` envelopes.
pub fn oauth_secrets() -> Secrets {
    Secrets::versioned(
        vec![(2, SECRET.to_owned()), (1, OLDER_SECRET.to_owned())],
        Some(SECRET.to_owned()),
    )
    .expect("valid fuzz secrets")
}

/// `name=value` of a signed cookie as a browser sends it back.
pub fn signed_cookie(name: &str, value: &str) -> String {
    format!(
        "{name}={}",
        encode_uri_component(&sign_value(&secrets(), value))
    )
}

/// `name=value` of the device cookie of `token`.
pub fn device_cookie(token: &str) -> String {
    signed_cookie(&device_cookie_name(SESSION_TOKEN_COOKIE, token), token)
}

/// The layout of an `endpoint_body` input: the route (an index into
/// [`Server::routes`], modulo their number), flags, then the body.
#[derive(Clone, Copy, Debug)]
pub struct EndpointInput<'a> {
    /// Index of the route.
    pub route: u8,
    /// Bits 0–1 the `Content-Type` (JSON, form, none, `text/plain`), bit 2
    /// the session cookie, bit 3 the device cookie, bit 4 a trusted
    /// `Origin` header.
    pub flags: u8,
    /// The request body.
    pub body: &'a [u8],
}

impl<'a> EndpointInput<'a> {
    /// Bit 2: send the session cookie.
    pub const SESSION: u8 = 1 << 2;
    /// Bit 3: send the device cookie of the session.
    pub const DEVICE: u8 = 1 << 3;
    /// Bit 4: send a trusted `Origin`.
    pub const ORIGIN: u8 = 1 << 4;

    /// Splits fuzzer bytes; `None` when too short.
    pub fn parse(data: &'a [u8]) -> Option<Self> {
        let (&route, rest) = data.split_first()?;
        let (&flags, body) = rest.split_first()?;
        Some(EndpointInput { route, flags, body })
    }

    /// The bytes of this input.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![self.route, self.flags];
        out.extend_from_slice(self.body);
        out
    }
}

/// An in-memory [`Auth`] on a fixed clock with a runtime to drive it.
pub struct Server {
    /// The kernel.
    pub auth: Auth,
    db: Arc<MemoryDatabase>,
    rt: tokio::runtime::Runtime,
    routes: Vec<(Method, String)>,
}

impl Server {
    /// The endpoint fixture: every core route and the multi-session and
    /// custom-session plugins' routes, additional user and session fields,
    /// the compact cookie cache, one user whose session
    /// [`SESSION_TOKEN`] each request may carry.
    ///
    /// Email and password sign-in and sign-up are disabled: they answer
    /// once the body is validated, so no input costs a password hash
    /// (scrypt would make a run a thousand times slower); their bodies'
    /// validation is what is fuzzed.
    pub fn endpoints() -> Self {
        let mut options = base_options();
        options.email_and_password.enabled = false;
        options.user_additional_fields = vec![
            AdditionalField::new("nickname"),
            AdditionalField::server_only("role"),
        ];
        options.session.additional_fields = vec![
            AdditionalField::new("theme"),
            AdditionalField::server_only("tier"),
        ];
        options.session.cookie_cache.enabled = Some(true);
        // The user's own record: without a mailer, a change of address is
        // made at once and deletion needs only the fresh session, so both
        // write paths run (the user is put back after every request).
        options.user.change_email.enabled = true;
        options.user.change_email.update_email_without_verification = true;
        options.user.delete_user.enabled = true;
        let custom = CustomSession::new(|s, _req| async move {
            Ok::<Value, ApiError>(
                json!({ "roles": ["user"], "user": s.user, "session": s.session }),
            )
        })
        .should_mutate_list_device_sessions_endpoint(true);
        // An OAuth provider, so `/sign-in/social` runs to its redirect and
        // `/callback/fuzz` exists; it is never reached (every exchange
        // fails as a provider that is down).
        let provider = Provider::new(ProviderConfig::oauth2(
            "fuzz",
            Endpoints::new("https://idp.invalid/auth", "https://idp.invalid/token")
                .with_userinfo("https://idp.invalid/me"),
            "fuzz-client",
            Some("fuzz-secret".to_owned()),
            ProfileMapping::oauth2(),
        ))
        .expect("a valid provider");
        let server = Server::build(options, |b| {
            b.plugin(Arc::new(custom))
                .oauth_provider(provider)
                .http_client(Arc::new(ProviderDown))
        });
        server
            .block_on(server.db.create_user(&user(0)))
            .expect("memory store");
        server.reset_session();
        server
    }

    /// The device fixture: the multi-session plugin with
    /// [`MAXIMUM_SESSIONS`], and one user per [`DEVICE_TOKENS`] entry
    /// with that session (the last one expired).
    pub fn devices() -> Self {
        let server = Server::build(base_options(), |b| b);
        for (i, token) in DEVICE_TOKENS.iter().enumerate() {
            let user = user(i);
            server
                .block_on(server.db.create_user(&user))
                .expect("memory store");
            let expires_at = if i + 1 == DEVICE_TOKENS.len() {
                NOW.plus_secs(-60)
            } else {
                NOW.plus_secs(86_400)
            };
            server
                .block_on(server.db.create_session(&session(&user, token, expires_at)))
                .expect("memory store");
        }
        server
    }

    fn build(
        options: Options,
        extra: impl FnOnce(tessera::AuthBuilder) -> tessera::AuthBuilder,
    ) -> Self {
        let db = Arc::new(MemoryDatabase::new());
        let builder = Auth::builder(options)
            .database(db.clone())
            .clock(Arc::new(TestClock::at(NOW)))
            .plugin(Arc::new(MultiSession::with_maximum_sessions(
                MAXIMUM_SESSIONS,
            )));
        let auth = extra(builder).build().expect("valid fuzz configuration");
        let mut routes: Vec<(Method, String)> = auth
            .routes()
            .iter()
            .filter_map(|r| {
                let (method, path) = r.split_once(' ')?;
                Some((method.parse().ok()?, path.to_owned()))
            })
            .collect();
        routes.sort();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        Server {
            auth,
            db,
            rt,
            routes,
        }
    }

    /// Every route, as `(method, path below the base path)`, sorted.
    pub fn routes(&self) -> &[(Method, String)] {
        &self.routes
    }

    /// Runs a future to completion.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Answers one request.
    pub fn handle(&self, req: Request<Bytes>) -> Response<Bytes> {
        self.block_on(self.auth.handle(req))
    }

    /// Puts the endpoint fixture's user back as it was, with one session,
    /// [`SESSION_TOKEN`], whatever the last request did (signed out,
    /// revoked, updated, deleted).
    pub fn reset_session(&self) {
        let user = user(0);
        self.block_on(async {
            let restored = self.db.update_user(&user).await.expect("memory store");
            if !restored {
                self.db.create_user(&user).await.expect("memory store");
            }
            self.db
                .delete_user_sessions(&user.id)
                .await
                .expect("memory store");
            self.db
                .create_session(&session(&user, SESSION_TOKEN, NOW.plus_secs(86_400)))
                .await
                .expect("memory store");
        });
    }
}

fn base_options() -> Options {
    Options::new()
        .secrets(secrets())
        .base_url(ORIGIN)
        .rate_limit(false)
}

fn user(i: usize) -> User {
    User {
        name: format!("Fuzz User {i}"),
        email: format!("fuzz{i}@example.com"),
        email_verified: false,
        image: None,
        created_at: NOW,
        updated_at: NOW,
        id: format!("FuzzUserId{i:022}"),
        extra: Map::new(),
    }
}

fn session(user: &User, token: &str, expires_at: Timestamp) -> Session {
    Session {
        expires_at,
        token: token.to_owned(),
        created_at: NOW.plus_secs(-3600),
        updated_at: NOW.plus_secs(-3600),
        ip_address: Some("203.0.113.7".to_owned()),
        user_agent: Some("tessera-fuzz".to_owned()),
        user_id: user.id.clone(),
        id: format!("Session-{token}"),
        extra: Map::new(),
    }
}

/// An OAuth provider that cannot be reached.
struct ProviderDown;

#[async_trait::async_trait]
impl HttpClient for ProviderDown {
    async fn send(&self, _request: Request<Bytes>) -> Result<Response<Bytes>, HttpClientError> {
        Err(HttpClientError::Timeout)
    }
}
