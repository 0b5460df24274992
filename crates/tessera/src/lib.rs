//! # Tessera
//!
//! A framework-agnostic auth kernel, wire-compatible with better-auth 1.7.25's
//! session system: `http::Request<Bytes>` in, `http::Response<Bytes>` out.
//! Adapters (axum, actix-web, hyper, AWS Lambda) are thin crates around two
//! calls: [`Auth::handle`] for the auth API and [`Auth::session`] for
//! application routes.
//!
//! ```
//! use bytes::Bytes;
//! use http::Request;
//! use tessera::{Auth, Options};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let auth = Auth::builder(
//!     Options::new().secret("a-long-random-secret-of-at-least-32-characters!"),
//! )
//! .build()
//! .expect("valid configuration");
//!
//! let res = auth
//!     .handle(Request::get("/api/auth/ok").body(Bytes::new()).unwrap())
//!     .await;
//! assert_eq!(res.body().as_ref(), br#"{"ok":true}"#);
//!
//! // In an application route: the session, and the cookies to set.
//! let outcome = auth.session(&http::HeaderMap::new()).await.unwrap();
//! assert!(outcome.session.is_none());
//! # }
//! ```
//!
//! Section references such as "spec §6.4" point into the wire specification
//! of better-auth 1.7.25 the kernel follows.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

// The layers, bottom up; a module names only modules of its layer or below
// (`cargo xtask ci` fails on an import cycle between them).
//
// Primitives: plain data, codecs, stores.
pub mod cache;
mod clock;
pub mod cookie;
pub mod email_token;
mod id;
pub mod ip;
pub mod mail;
pub mod options;
pub mod password;
pub mod rate_limit;
pub mod secret;
pub mod store;
mod timestamp;
// The session engine: create, resolve, refresh, revoke; no HTTP.
pub mod session;
// OAuth and OpenID Connect on the engine: providers, state and account cookies.
pub mod oauth;
// better-auth's HTTP errors, and the mapping of engine and store errors.
pub mod error;
// The plugin API: `Plugin`, `Ctx`, hooks, routes.
pub mod plugin;
// The HTTP pipeline: limits, routing, rate limits, origin checks, core endpoints.
pub mod api;

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};

pub use clock::{Clock, SystemClock, TestClock};
pub use cookie::{AuthCookies, CookieJar, RequestCookies};
pub use error::{ApiError, ErrorCode};
pub use id::{generate_id, ID_LENGTH};
pub use ip::ClientAddr;
pub use options::{Environment, Options};
pub use plugin::{Ctx, Endpoint, Reply, Route};
pub use secret::{SecretError, Secrets};
pub use session::{ResolveError, ResolveOptions, SessionEngine, SessionOutcome, Sessions};
pub use store::{Database, SecondaryStorage, Session, SessionWithUser, StoreError, User};
pub use timestamp::Timestamp;

use api::{Pipeline, Router, TrustedOrigins};
use cookie::MAX_AGE_LIMIT;
use rate_limit::{AccountThrottle, RateLimiter};
use store::MemoryDatabase;

/// Why an [`Auth`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The secrets are unusable.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// A plugin asked for by id is not linked into this binary.
    #[error("plugin {id:?} is not linked into this binary: add the crate that provides it (e.g. `tessera-{id}`) as a dependency and reference it, e.g. by calling its `link()` function; plugins that need code of yours (such as custom-session) are added with `AuthBuilder::plugin` instead")]
    UnknownPlugin {
        /// The id.
        id: String,
    },
    /// Two plugins share an id.
    #[error("two plugins have the id {0:?}; plugin ids must be unique")]
    DuplicatePlugin(String),
    /// A plugin declares an error code the kernel or another plugin
    /// already answers with another status or message.
    #[error("plugin {plugin:?} declares the error code {code:?} with another status or message than the kernel or an earlier plugin")]
    ConflictingErrorCode {
        /// The plugin's id.
        plugin: &'static str,
        /// The code.
        code: &'static str,
    },
    /// The cookie cache keys could not be set up.
    #[error(transparent)]
    Cache(#[from] cache::KeySetupError),
    /// An option has a value that cannot work.
    #[error("invalid option {option}: {reason}")]
    Invalid {
        /// The option.
        option: &'static str,
        /// Why.
        reason: String,
    },
}

/// A configured auth kernel. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Auth {
    inner: Arc<Pipeline>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("base_path", &self.inner.base_path)
            .field("stateless", &self.engine().stateless)
            .finish_non_exhaustive()
    }
}

/// Builds an [`Auth`] from [`Options`] and the stores.
pub struct AuthBuilder {
    options: Options,
    database: Option<Arc<dyn Database>>,
    secondary: Option<Arc<dyn SecondaryStorage>>,
    clock: Arc<dyn Clock>,
    plugins: Vec<Arc<dyn plugin::Plugin>>,
    oauth_providers: Vec<oauth::Provider>,
    http_client: Option<Arc<dyn oauth::HttpClient>>,
    mailer: Option<Arc<dyn mail::Mailer>>,
    mail_templates: Arc<dyn mail::MailTemplates>,
}

impl std::fmt::Debug for AuthBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthBuilder")
            .field("options", &self.options)
            .field("database", &self.database.is_some())
            .field("secondary", &self.secondary.is_some())
            .field("mailer", &self.mailer.is_some())
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// Starts building with `options`.
    pub fn builder(options: Options) -> AuthBuilder {
        AuthBuilder {
            options,
            database: None,
            secondary: None,
            clock: Arc::new(SystemClock),
            plugins: Vec::new(),
            oauth_providers: Vec::new(),
            http_client: None,
            mailer: None,
            mail_templates: Arc::new(mail::DefaultTemplates),
        }
    }

    /// Serves one request of the auth API (everything under the base path).
    /// Paths outside it answer 404 with an empty body.
    pub fn handle(&self, req: Request<Bytes>) -> impl Future<Output = Response<Bytes>> + Send + '_ {
        self.inner.dispatch(req, None)
    }

    /// [`Auth::handle`] with the client's socket address, when the adapter
    /// knows it: the same as passing it as a [`ClientAddr`] request
    /// extension (which, when present, wins), without building an
    /// extension map on every request.
    ///
    /// ```
    /// # async fn demo(auth: tessera::Auth) {
    /// let req = http::Request::get("/api/auth/ok").body(bytes::Bytes::new()).unwrap();
    /// let peer = tessera::ClientAddr("192.0.2.7".parse().unwrap());
    /// let res = auth.handle_from(req, Some(peer)).await;
    /// assert_eq!(res.status(), 200);
    /// # }
    /// ```
    pub fn handle_from(
        &self,
        req: Request<Bytes>,
        peer: Option<ClientAddr>,
    ) -> impl Future<Output = Response<Bytes>> + Send + '_ {
        self.inner.dispatch(req, peer)
    }

    /// The session of an application request, with the `Set-Cookie` headers
    /// its response must carry (a refresh, or the deletion of a dead
    /// session's cookies). Apply `outcome.cookies` to the response even when
    /// there is no session.
    ///
    /// A head over the [`RequestLimits`](options::RequestLimits) is an error:
    /// 431 `REQUEST_HEADER_FIELDS_TOO_LARGE`, to be answered as it is.
    pub async fn session(&self, headers: &HeaderMap) -> Result<SessionOutcome, ApiError> {
        let engine = self.engine();
        api::limits::check(headers, &engine.options.limits)?;
        let cookies = api::limits::cookies(headers, &engine.options.limits)?;
        let mut jar = CookieJar::new();
        let opts = ResolveOptions {
            read_only: engine.options.session.defer_session_refresh,
            ..ResolveOptions::default()
        };
        let now = engine.clock.now();
        match engine.resolve(&cookies, opts, &mut jar, now).await {
            Ok(resolved) => Ok(SessionOutcome {
                session: resolved.session.map(Arc::unwrap_or_clone),
                cookies: jar,
                needs_refresh: resolved.needs_refresh,
            }),
            // The session ended during a refresh: for an application route
            // that is "signed out", with the cookie deletions applied.
            Err(ResolveError::Unauthorized) => Ok(SessionOutcome {
                session: None,
                cookies: jar,
                needs_refresh: None,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Where every adapter's session layer starts: `None` when the auth API
    /// owns `path` ([`Auth::owns_path`]), and the request must pass through
    /// untouched because the API does its own cookie work; otherwise the
    /// application's claim to a session, to [`resolve`](PendingSession::resolve)
    /// with the request's headers. Then insert the session into the request
    /// as a [`CurrentSession`] and apply the outcome's cookies to the
    /// application's response; answer an error (431 over the
    /// [`RequestLimits`](options::RequestLimits), 503 when the store is
    /// down) as it is, without calling the application.
    ///
    /// `path` is the request path as the kernel would see it: Lambda's
    /// adapter, for one, passes it without API Gateway's stage.
    ///
    /// ```
    /// # async fn demo(auth: tessera::Auth) {
    /// assert!(auth.app_session("/api/auth/get-session").is_none());
    /// let pending = auth.app_session("/dashboard").expect("an application path");
    /// let outcome = pending.resolve(&http::HeaderMap::new()).await.unwrap();
    /// let current = tessera::CurrentSession(outcome.session);
    /// assert!(current.get().is_none() && outcome.cookies.is_empty());
    /// # }
    /// ```
    pub fn app_session(&self, path: &str) -> Option<PendingSession> {
        (!self.owns_path(path)).then(|| PendingSession { auth: self.clone() })
    }

    /// Whether a request path belongs to the auth API: [`Auth::handle`]
    /// serves it, and a session layer passes it through
    /// ([`Auth::app_session`]).
    ///
    /// The API owns the base path followed by `/` and more, without an
    /// empty segment: with `/api/auth`, `/api/auth/get-session` and
    /// `/api/auth/` are the API's; `/api/auth` itself, `/api/authx` and
    /// `/api/auth//get-session` are not ([`Auth::handle`] answers them 404
    /// with no cookie work), so an application may serve them, with their
    /// session. The comparison is on the raw path, case-sensitive and
    /// without percent-decoding. With an empty base path the API owns every
    /// path and no application route gets a session.
    pub fn owns_path(&self, path: &str) -> bool {
        self.inner.relative_path(path).is_some()
    }

    /// The session engine: sessions with their cookies, over the stores.
    pub fn engine(&self) -> &SessionEngine {
        &self.inner.services.engine
    }

    /// The configuration in force.
    pub fn options(&self) -> &Options {
        &self.engine().options
    }

    /// Session records (create, find, revoke) over the configured stores.
    pub fn sessions(&self) -> &Sessions {
        &self.engine().sessions
    }

    /// Cookie names and attributes.
    pub fn cookies(&self) -> &AuthCookies {
        &self.engine().cookies
    }

    /// Where the API is mounted, e.g. `/api/auth`.
    pub fn base_path(&self) -> &str {
        &self.inner.base_path
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.engine().clock
    }

    /// The cookie cache as resolved (defaults applied).
    pub fn cookie_cache(&self) -> &cache::SessionCache {
        &self.engine().cache
    }

    /// Every error code this instance answers with: better-auth's core
    /// codes, then the plugins' (`$ERROR_CODES`), each once.
    pub fn error_codes(&self) -> &[ErrorCode] {
        &self.inner.error_codes
    }

    /// Every routed `METHOD /path` (relative to the base path), sorted.
    pub fn routes(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .inner
            .router
            .routes()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        all.sort();
        all
    }

    /// The configured OAuth providers, in the order they were added: each
    /// one's [`id`](oauth::Provider::id) (what `/sign-in/social` takes as
    /// `provider`) and display [`name`](oauth::Provider::name). Public
    /// knowledge, e.g. for a sign-in page's buttons.
    pub fn oauth_providers(&self) -> impl Iterator<Item = &oauth::Provider> {
        self.inner.services.oauth.providers()
    }

    /// Ids of the active plugins, in order.
    pub fn plugin_ids(&self) -> Vec<&'static str> {
        self.inner.plugin_ids.clone()
    }

    /// Where passwords are hashed: its [`running`](password::HashPool::running)
    /// and [`completed`](password::HashPool::completed) counts are ready-made
    /// metrics.
    pub fn hash_pool(&self) -> &password::HashPool {
        &self.inner.services.hash_pool
    }

    /// Whether this instance runs without database and secondary storage
    /// (better-auth's stateless mode, spec §4.1).
    pub fn is_stateless(&self) -> bool {
        self.engine().stateless
    }
}

/// An application request's claim to its session, from
/// [`Auth::app_session`]: the path is not the auth API's.
#[derive(Clone, Debug)]
#[must_use = "resolve the session, or the request goes without it"]
pub struct PendingSession {
    auth: Auth,
}

impl PendingSession {
    /// The session of the request with these headers and the cookie work
    /// its response must carry: [`Auth::session`].
    pub async fn resolve(self, headers: &HeaderMap) -> Result<SessionOutcome, ApiError> {
        self.auth.session(headers).await
    }
}

/// The session a session layer resolved for an application request, in the
/// request's extensions: `None` inside when signed out. Framework
/// extractors and `session(&req)` helpers read it; its absence means no
/// session layer ran.
///
/// ```
/// use tessera::CurrentSession;
///
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(CurrentSession(None));
/// let current = req.extensions().get::<CurrentSession>().expect("the layer ran");
/// assert!(current.get().is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CurrentSession(pub Option<SessionWithUser>);

impl CurrentSession {
    /// The session and its user, if signed in.
    pub fn get(&self) -> Option<&SessionWithUser> {
        self.0.as_ref()
    }

    /// The session and its user, owned.
    pub fn into_inner(self) -> Option<SessionWithUser> {
        self.0
    }
}

impl From<Option<SessionWithUser>> for CurrentSession {
    fn from(session: Option<SessionWithUser>) -> Self {
        CurrentSession(session)
    }
}

impl AuthBuilder {
    /// Uses `db` as the database. Without one, an in-memory database is used
    /// and the instance runs in stateless mode (spec §4.1).
    pub fn database(mut self, db: Arc<dyn Database>) -> Self {
        self.database = Some(db);
        self
    }

    /// Uses `storage` as secondary storage (spec §5).
    pub fn secondary_storage(mut self, storage: Arc<dyn SecondaryStorage>) -> Self {
        self.secondary = Some(storage);
        self
    }

    /// Adds a plugin explicitly (it runs before plugins enabled by id).
    pub fn plugin(mut self, plugin: Arc<dyn plugin::Plugin>) -> Self {
        self.plugins.push(plugin);
        self
    }

    /// Adds an OAuth provider, made ready with [`oauth::Provider::discover`]
    /// or [`oauth::Provider::new`]; its sign-in starts at `/sign-in/social`
    /// and ends at `/callback/<id>`. Needs [`AuthBuilder::http_client`].
    pub fn oauth_provider(mut self, provider: oauth::Provider) -> Self {
        self.oauth_providers.push(provider);
        self
    }

    /// The client OAuth providers are reached with (`tessera-reqwest`'s,
    /// or your own [`oauth::HttpClient`]).
    pub fn http_client(mut self, client: Arc<dyn oauth::HttpClient>) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Delivers the account lifecycle's mail (email verification, password
    /// reset, change of email, account deletion) with `mailer`
    /// (`tessera-smtp`'s, [`mail::LogMailer`] or your own). Without one,
    /// those flows answer as better-auth answers without its mail callbacks.
    pub fn mailer(mut self, mailer: Arc<dyn mail::Mailer>) -> Self {
        self.mailer = Some(mailer);
        self
    }

    /// Writes the lifecycle's messages with `templates` instead of
    /// [`mail::DefaultTemplates`].
    pub fn mail_templates(mut self, templates: Arc<dyn mail::MailTemplates>) -> Self {
        self.mail_templates = templates;
        self
    }

    /// Uses `clock` for every notion of "now".
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Validates the options, derives keys and builds the route table.
    pub fn build(self) -> Result<Auth, BuildError> {
        let mut options = self.options;
        let secrets = options.effective_secrets();
        if let Some(refusal) = secrets.default_secret_use() {
            // In every slot: an older version still verifies (issue 11, hole #6).
            if options.environment != Environment::Development {
                return Err(refusal.into());
            }
            tracing::warn!("using better-auth's well-known default secret: development only");
        } else {
            for weakness in secrets.weaknesses() {
                tracing::warn!("{weakness}");
            }
        }
        if let Some((option, reason)) = options.limits.problem() {
            return Err(BuildError::Invalid { option, reason });
        }
        if options.session.expires_in == 0 {
            options.session.expires_in = options::SessionOptions::default().expires_in;
        }
        if options.session.expires_in > MAX_AGE_LIMIT {
            return Err(BuildError::Invalid {
                option: "session.expires_in",
                reason: format!(
                    "{} s exceeds the 400-day cookie limit ({MAX_AGE_LIMIT} s)",
                    options.session.expires_in
                ),
            });
        }
        let max_password_length = options.email_and_password.max_password_length;
        if max_password_length > password::MAX_PASSWORD_BYTES / 3 {
            return Err(BuildError::Invalid {
                option: "email_and_password.max_password_length",
                reason: format!(
                    "{max_password_length} exceeds {}, the longest password hashing accepts \
                     ({} bytes, 3 per UTF-16 code unit)",
                    password::MAX_PASSWORD_BYTES / 3,
                    password::MAX_PASSWORD_BYTES
                ),
            });
        }
        let (base_path, base_origin, https) = base_url_parts(&options)?;
        let mut trusted: Vec<&str> = Vec::new();
        if let Some(origin) = base_origin.as_deref() {
            trusted.push(origin);
        }
        trusted.extend(options.trusted_origins.iter().map(String::as_str));
        let trusted = TrustedOrigins::new(trusted);
        let stateless = self.database.is_none() && self.secondary.is_none();
        let mut plugins = self.plugins;
        for id in &options.plugins {
            if plugins.iter().any(|p| p.id() == id) {
                continue;
            }
            let registration =
                plugin::find(id).ok_or_else(|| BuildError::UnknownPlugin { id: id.clone() })?;
            plugins.push((registration.create)());
        }
        // Plugins adjust options before defaults apply (user values win:
        // plugins fill only what is unset) and declare their fields.
        for p in &plugins {
            p.init(&mut options);
            let schema = p.schema();
            options.session.additional_fields.extend(schema.session);
            options.user_additional_fields.extend(schema.user);
        }
        let cache = resolve_cache(&options, &secrets, stateless, &mut plugins)?;
        for (i, p) in plugins.iter().enumerate() {
            if plugins[..i].iter().any(|q| q.id() == p.id()) {
                return Err(BuildError::DuplicatePlugin(p.id().to_owned()));
            }
        }
        // Plugin contributions: routes, hooks, rate-limit rules,
        // interceptors, cache-hit hooks and error codes, each selected once.
        let mut routes = api::routes::core_routes();
        routes.extend(api::oauth::oauth_routes());
        routes.extend(api::lifecycle::lifecycle_routes());
        routes.extend(api::user::user_routes());
        let mut hooks = Vec::new();
        let mut plugin_rules = Vec::new();
        let mut interceptors = Vec::new();
        let mut cache_hit_hooks = Vec::new();
        let mut error_codes = api::codes::ALL.to_vec();
        for p in &plugins {
            routes.extend(p.endpoints());
            hooks.extend(p.hooks());
            plugin_rules.extend(p.rate_limit_rules());
            interceptors.extend(p.interceptor());
            cache_hit_hooks.extend(p.cache_hit_hook());
            for code in p.error_codes() {
                match error_codes.iter().find(|c| c.code == code.code) {
                    None => error_codes.push(code),
                    Some(known) if known.status == code.status && known.message == code.message => {
                    }
                    Some(_) => {
                        return Err(BuildError::ConflictingErrorCode {
                            plugin: p.id(),
                            code: code.code,
                        })
                    }
                }
            }
        }
        let router = Router::build(routes, &hooks);
        let cookies = AuthCookies::new(
            &options.cookies,
            https,
            options.session.expires_in,
            cache.max_age,
        );
        let has_database = self.database.is_some();
        let has_store = has_database || self.secondary.is_some();
        let database = self
            .database
            .unwrap_or_else(|| Arc::new(MemoryDatabase::new()));
        let mut sessions = Sessions::new(
            Arc::clone(&database),
            self.secondary.clone(),
            options.session.clone(),
        );
        if let Some(store) = revocation_log_store(
            &options,
            cache.enabled,
            has_database.then_some(&database),
            self.secondary.as_ref(),
        )? {
            let lag = options
                .session
                .revocation_lag
                .unwrap_or(options::DEFAULT_REVOCATION_LAG);
            let max_age = std::time::Duration::from_secs(cache.max_age);
            let follower = session::RevocationFollower::new(store, lag, max_age);
            sessions = sessions.with_revocations(Arc::new(follower));
        }
        let rate_limit_on = options
            .rate_limit
            .enabled
            .unwrap_or(options.environment == Environment::Production);
        if let Some((option, reason)) = rate_limit::invalid_option(&options.rate_limit) {
            return Err(BuildError::Invalid { option, reason });
        }
        let per_account = options.rate_limit.per_account;
        let account_throttle = AccountThrottle::new(
            per_account.enabled.unwrap_or(rate_limit_on),
            per_account,
            options.rate_limit.memory_capacity,
            &secrets,
            self.secondary.clone(),
        );
        let rate_limiter = RateLimiter::new(
            rate_limit_on,
            options.rate_limit.clone(),
            plugin_rules,
            self.secondary,
        );
        let hash_pool = options
            .email_and_password
            .hash_threads
            .map_or_else(password::HashPool::default, password::HashPool::new);
        let oauth = oauth::OAuth::new(
            self.oauth_providers,
            self.http_client,
            &options.account,
            has_database,
            has_store,
            &secrets,
        )
        .map_err(|reason| BuildError::Invalid {
            option: "oauth",
            reason,
        })?;
        let engine = SessionEngine {
            secrets,
            cookies,
            sessions,
            cache,
            clock: self.clock,
            stateless,
            cache_hit_hooks,
            expire_account_data: oauth.stores_account_cookie(),
            expire_oauth_state: oauth.state_strategy() == options::StateStrategy::Cookie,
            options,
        };
        Ok(Auth {
            inner: Arc::new(Pipeline {
                services: plugin::Services {
                    engine,
                    hash_pool,
                    account_throttle,
                    oauth,
                    base_url: base_origin.as_ref().map(|o| format!("{o}{base_path}")),
                    mail: plugin::MailService {
                        mailer: self.mailer,
                        templates: self.mail_templates,
                        reset_timing: mail::EvenTiming::new(
                            api::lifecycle::RESET_FLOOR_MIN,
                            api::lifecycle::RESET_FLOOR_MAX,
                        ),
                    },
                },
                trusted,
                rate_limiter,
                router,
                base_path,
                interceptors,
                error_codes,
                plugin_ids: plugins.iter().map(|p| p.id()).collect(),
            }),
        })
    }
}

/// The plugin that refreshes stateless cookie caches (spec §3).
pub const STATELESS_REFRESH_PLUGIN: &str = "stateless-refresh";

/// Applies better-auth's cookie-cache defaults (spec §2.1, §4.1: stateless
/// mode turns the cache on, `jwe`, `maxAge = expiresIn`, refresh on; user
/// values win) and derives the codec's keys.
fn resolve_cache(
    options: &Options,
    secrets: &Secrets,
    stateless: bool,
    plugins: &mut Vec<Arc<dyn plugin::Plugin>>,
) -> Result<cache::SessionCache, BuildError> {
    use cache::{CacheStrategy, RefreshCache};
    let c = &options.session.cookie_cache;
    let enabled = c.enabled.unwrap_or(stateless);
    let max_age = match c.max_age.filter(|m| *m > 0) {
        Some(m) => m,
        None if stateless => options.session.expires_in,
        None => 300,
    };
    if max_age > MAX_AGE_LIMIT {
        return Err(BuildError::Invalid {
            option: "session.cookie_cache.max_age",
            reason: format!("{max_age} s exceeds the 400-day cookie limit"),
        });
    }
    let strategy = c.strategy.unwrap_or(if stateless {
        CacheStrategy::Jwe
    } else {
        CacheStrategy::Compact
    });
    let requested = c.refresh_cache;
    let refresh = requested.unwrap_or(if stateless {
        RefreshCache::On
    } else {
        RefreshCache::Off
    });
    let mut refresh_update_age = match refresh {
        RefreshCache::Off => None,
        RefreshCache::On => Some(max_age / 5),
        RefreshCache::UpdateAge(s) => Some(s),
    };
    if refresh_update_age.is_some() && enabled {
        if !stateless {
            // better-auth 1.7: with a database or secondary storage the store
            // is authoritative; refreshing from a cookie would outlive revocation.
            tracing::warn!(
                "cookie cache refreshCache is ignored with a database or secondary storage"
            );
            refresh_update_age = None;
        } else if !plugins.iter().any(|p| p.id() == STATELESS_REFRESH_PLUGIN) {
            match plugin::find(STATELESS_REFRESH_PLUGIN) {
                Some(registration) => plugins.push((registration.create)()),
                None if requested.is_some() => {
                    return Err(BuildError::UnknownPlugin {
                        id: STATELESS_REFRESH_PLUGIN.to_owned(),
                    })
                }
                None => {
                    tracing::warn!(
                        "stateless cookie-cache refresh is off: link the tessera-stateless-refresh crate to turn it on"
                    );
                    refresh_update_age = None;
                }
            }
        }
    }
    let mut cache = cache::SessionCache::new(
        strategy,
        secrets,
        max_age,
        c.version.clone().unwrap_or_default(),
        refresh_update_age,
    )?
    .with_memo_bytes(c.memo_bytes.unwrap_or(cache::DEFAULT_MEMO_BYTES));
    cache.enabled = enabled;
    Ok(cache)
}

/// Where revocations are published and followed (`docs/revocation.md`):
/// the secondary storage when there is one, the database otherwise; none
/// in stateless mode or with `session.revocation_lag: None`. A database
/// without a revocation log is refused while the cookie cache is on, since
/// revocation could not reach other processes within the lag.
fn revocation_log_store(
    options: &Options,
    cache_enabled: bool,
    database: Option<&Arc<dyn Database>>,
    secondary: Option<&Arc<dyn SecondaryStorage>>,
) -> Result<Option<session::LogStore>, BuildError> {
    if options.session.revocation_lag.is_none() {
        return Ok(None);
    }
    if let Some(storage) = secondary {
        return Ok(Some(session::LogStore::Secondary(Arc::clone(storage))));
    }
    match database {
        Some(db) if db.has_revocation_log() => {
            Ok(Some(session::LogStore::Database(Arc::clone(db))))
        }
        Some(_) if cache_enabled => Err(BuildError::Invalid {
            option: "session.revocation_lag",
            reason: "this database keeps no revocation log, so a revocation could not reach \
                     other processes' cookie caches within the lag; add secondary storage, or \
                     set the lag to None for better-auth's behaviour"
                .to_owned(),
        }),
        _ => Ok(None),
    }
}

/// The base path, the base URL's origin, and whether it is https. A path in
/// the base URL is the base path (spec §7.1).
fn base_url_parts(options: &Options) -> Result<(String, Option<String>, bool), BuildError> {
    let normalize = |p: &str| {
        let p = p.trim_end_matches('/');
        if p.is_empty() {
            String::new()
        } else if p.starts_with('/') {
            p.to_owned()
        } else {
            format!("/{p}")
        }
    };
    let Some(url) = options.base_url.as_deref() else {
        return Ok((normalize(&options.base_path), None, false));
    };
    // Parsed as better-auth parses it (`new URL`): http(s) only.
    let parsed = url::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| BuildError::Invalid {
            option: "base_url",
            reason: format!("{url:?} is not an absolute http:// or https:// URL"),
        })?;
    let origin = parsed.origin().ascii_serialization();
    let https = parsed.scheme() == "https";
    let base_path = match normalize(parsed.path()) {
        path if path.is_empty() => normalize(&options.base_path),
        path => path,
    };
    Ok((base_path, Some(origin), https))
}
