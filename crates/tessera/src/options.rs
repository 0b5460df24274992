//! Configuration: [`Options`] as a typed builder, and [`Options::from_env`]
//! reading the variables better-auth reads (spec §11.2).

use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use http::HeaderName;
use ipnet::{IpNet, Ipv4Net};

use crate::cache::{CacheStrategy, CacheVersion, CookieCacheOptions, RefreshCache};
use crate::cookie::CookieOptions;
use crate::secret::{SecretError, Secrets, DEFAULT_SECRET};

/// Where the process runs; decides the default-secret and rate-limit rules
/// (better-auth reads `NODE_ENV`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Environment {
    /// Local development: the well-known default secret is allowed, with a warning.
    Development,
    /// Test runs.
    Test,
    /// Production (the default): no default secret, rate limiting on.
    #[default]
    Production,
}

impl std::fmt::Display for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Environment::Development => "development",
            Environment::Test => "test",
            Environment::Production => "production",
        })
    }
}

impl Environment {
    /// From a `NODE_ENV`-style value; anything unknown is production.
    pub fn parse(s: &str) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "development" | "dev" => Environment::Development,
            "test" => Environment::Test,
            _ => Environment::Production,
        }
    }
}

/// Session lifetimes (spec §6.1). All durations are seconds.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SessionOptions {
    /// Session lifetime (default 7 days).
    pub expires_in: u64,
    /// How old a session must be before use extends it (default 1 day; 0 = every use).
    pub update_age: u64,
    /// How recent a sign-in must be for sensitive endpoints (default 1 day; 0 = never stale).
    pub fresh_age: u64,
    /// Never extend `expiresAt`.
    pub disable_session_refresh: bool,
    /// `GET /get-session` is read-only and reports `needsRefresh`; `POST` refreshes.
    pub defer_session_refresh: bool,
    /// With secondary storage, also keep sessions in the database.
    pub store_session_in_database: bool,
    /// With secondary storage, end database rows instead of deleting them.
    pub preserve_session_in_database: bool,
    /// Extra columns on the session record (`session.additionalFields`).
    pub additional_fields: Vec<AdditionalField>,
    /// The `session_data` cookie cache (spec §2).
    pub cookie_cache: CookieCacheOptions,
    /// How long a revocation may take to reach every process sharing the
    /// store, cookie-cache hits included (`session.revocationLag`; default
    /// one second). Each process follows a revocation log in the store,
    /// and a cache hit it cannot vouch for within this lag is read from
    /// the store instead (see `docs/revocation.md`). `None` restores
    /// better-auth's behaviour: a cached session lives until its cache
    /// expires. No effect in stateless mode, which has no store.
    pub revocation_lag: Option<Duration>,
}

/// The default [`SessionOptions::revocation_lag`].
pub const DEFAULT_REVOCATION_LAG: Duration = Duration::from_secs(1);

/// An extra field on a record (better-auth's `additionalFields`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdditionalField {
    /// JSON key.
    pub name: String,
    /// Whether clients may set it (`input`, default true).
    pub input: bool,
}

impl AdditionalField {
    /// A client-settable field.
    pub fn new(name: impl Into<String>) -> Self {
        AdditionalField {
            name: name.into(),
            input: true,
        }
    }

    /// A server-only field (`input: false`).
    pub fn server_only(name: impl Into<String>) -> Self {
        AdditionalField {
            name: name.into(),
            input: false,
        }
    }
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            expires_in: 604_800,
            update_age: 86_400,
            fresh_age: 86_400,
            disable_session_refresh: false,
            defer_session_refresh: false,
            store_session_in_database: false,
            preserve_session_in_database: false,
            additional_fields: Vec::new(),
            cookie_cache: CookieCacheOptions::default(),
            revocation_lag: Some(DEFAULT_REVOCATION_LAG),
        }
    }
}

/// Email and password sign-in (spec §7.3).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EmailPasswordOptions {
    /// Whether `/sign-in/email` and `/sign-up/email` work at all.
    pub enabled: bool,
    /// Refuse new sign-ups.
    pub disable_sign_up: bool,
    /// Minimum password length (default 8), in UTF-16 code units as
    /// better-auth counts ([`password_length`](crate::password::password_length)).
    pub min_password_length: usize,
    /// Maximum password length (default 128), in UTF-16 code units; at most
    /// 1,024 (see [`MAX_PASSWORD_BYTES`](crate::password::MAX_PASSWORD_BYTES)).
    /// Checked at sign-up and at sign-in, before any hashing.
    pub max_password_length: usize,
    /// Sign the user in after sign-up (default true).
    pub auto_sign_in: bool,
    /// Refuse sign-in until the email is verified
    /// (`TESSERA_REQUIRE_EMAIL_VERIFICATION`).
    pub require_email_verification: bool,
    /// Offer password reset by mail (`/request-password-reset`) when a
    /// mailer is configured (default true; `TESSERA_PASSWORD_RESET`).
    pub password_reset: bool,
    /// How long a reset link works, in seconds (default 3600, better-auth's
    /// `resetPasswordTokenExpiresIn`).
    pub reset_password_token_expires_in: u64,
    /// A password reset ends every session of the user (default false;
    /// `TESSERA_REVOKE_SESSIONS_ON_PASSWORD_RESET`).
    pub revoke_sessions_on_password_reset: bool,
    /// How many passwords may be hashed at once, on as many threads (each
    /// hash takes 32 MiB and tens of milliseconds of a core); `None`, the
    /// default: one per available core. See [`HashPool`](crate::password::HashPool).
    pub hash_threads: Option<std::num::NonZeroUsize>,
}

impl Default for EmailPasswordOptions {
    fn default() -> Self {
        EmailPasswordOptions {
            enabled: true,
            disable_sign_up: false,
            min_password_length: crate::password::MIN_PASSWORD_LENGTH,
            max_password_length: crate::password::MAX_PASSWORD_LENGTH,
            auto_sign_in: true,
            require_email_verification: false,
            password_reset: true,
            reset_password_token_expires_in: 3600,
            revoke_sessions_on_password_reset: false,
            hash_threads: None,
        }
    }
}

/// Email verification (better-auth's `emailVerification`). Links are sent
/// when a mailer is configured and [`EmailVerificationOptions::enabled`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EmailVerificationOptions {
    /// Send verification links when a mailer is configured (default true;
    /// `TESSERA_EMAIL_VERIFICATION`).
    pub enabled: bool,
    /// Send a link on sign-up; `None` (better-auth's default) follows
    /// `require_email_verification` (`TESSERA_SEND_ON_SIGN_UP`).
    pub send_on_sign_up: Option<bool>,
    /// Send a new link when an unverified user signs in and is refused
    /// (better-auth's `sendOnSignIn`, default false;
    /// `TESSERA_SEND_ON_SIGN_IN`).
    pub send_on_sign_in: bool,
    /// Following a verification link signs the user in (default false;
    /// `TESSERA_AUTO_SIGN_IN_AFTER_VERIFICATION`).
    pub auto_sign_in_after_verification: bool,
    /// How long a verification link works, in seconds (default 3600).
    pub expires_in: u64,
}

impl Default for EmailVerificationOptions {
    fn default() -> Self {
        EmailVerificationOptions {
            enabled: true,
            send_on_sign_up: None,
            send_on_sign_in: false,
            auto_sign_in_after_verification: false,
            expires_in: 3600,
        }
    }
}

/// Changes a user may make to their account (better-auth's `user`
/// options).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserOptions {
    /// `/change-email`.
    pub change_email: ChangeEmailOptions,
    /// `/delete-user`.
    pub delete_user: DeleteUserOptions,
}

/// `/change-email` (better-auth's `user.changeEmail`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChangeEmailOptions {
    /// Whether the endpoint works (default false; `TESSERA_CHANGE_EMAIL`).
    pub enabled: bool,
    /// An unverified user's address changes at once, without a link
    /// (default false; `TESSERA_UPDATE_EMAIL_WITHOUT_VERIFICATION`).
    pub update_email_without_verification: bool,
    /// A verified user first confirms from the current address (better-auth's
    /// `sendChangeEmailConfirmation`; default true, with a mailer).
    pub send_change_email_confirmation: bool,
}

impl Default for ChangeEmailOptions {
    fn default() -> Self {
        ChangeEmailOptions {
            enabled: false,
            update_email_without_verification: false,
            send_change_email_confirmation: true,
        }
    }
}

/// `/delete-user` (better-auth's `user.deleteUser`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeleteUserOptions {
    /// Whether the endpoint works (default false; `TESSERA_DELETE_USER`).
    pub enabled: bool,
    /// Deletion waits for a link sent by mail (better-auth's
    /// `sendDeleteAccountVerification`; default true, with a mailer).
    pub send_delete_account_verification: bool,
    /// How long that link works, in seconds (default 86400).
    pub delete_token_expires_in: u64,
}

impl Default for DeleteUserOptions {
    fn default() -> Self {
        DeleteUserOptions {
            enabled: false,
            send_delete_account_verification: true,
            delete_token_expires_in: 86_400,
        }
    }
}

/// A rate-limit window: at most `max` requests per `window` seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitRule {
    /// Window length in seconds.
    pub window: u64,
    /// Requests allowed per window.
    pub max: u64,
}

/// Rate limiting (spec §11.1).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimitOptions {
    /// `None`: on in production only (better-auth's default).
    pub enabled: Option<bool>,
    /// The default rule (10 s, 100 requests).
    pub default_rule: RateLimitRule,
    /// Per-path rules (`/path` or `/prefix/*`); `None` disables limiting there.
    pub custom_rules: HashMap<String, Option<RateLimitRule>>,
    /// Most counters kept in memory, by the IP limiter and by the
    /// per-account throttle each (default 100,000, better-auth's cap; at
    /// least 1; rounded up to a whole number per internal shard). Past it
    /// the least used are evicted. Unused with secondary storage, where
    /// counters expire with their window.
    pub memory_capacity: usize,
    /// Per-account throttling of failed email sign-ins.
    pub per_account: AccountThrottleOptions,
}

impl Default for RateLimitOptions {
    fn default() -> Self {
        RateLimitOptions {
            enabled: None,
            default_rule: RateLimitRule {
                window: 10,
                max: 100,
            },
            custom_rules: HashMap::new(),
            memory_capacity: 100_000,
            per_account: AccountThrottleOptions::default(),
        }
    }
}

/// Throttling of `POST /sign-in/email` per account, whatever the client's
/// address: after `max_failures` attempts without a correct password within
/// `window` seconds of the first, the email's sign-ins answer 429 until the
/// window ends. Unknown emails are counted exactly as known ones. Not in
/// better-auth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccountThrottleOptions {
    /// `None`: on whenever rate limiting is.
    pub enabled: Option<bool>,
    /// Failed attempts allowed per window (default 5, at least 1).
    pub max_failures: u64,
    /// Seconds from an account's first failure (default 900, at least 1).
    pub window: u64,
}

impl Default for AccountThrottleOptions {
    fn default() -> Self {
        AccountThrottleOptions {
            enabled: None,
            max_failures: 5,
            window: 900,
        }
    }
}

/// Client IP detection (spec §6.2); the `ip` module, a layer above these
/// options, says which address counts.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IpOptions {
    /// Headers a trusted proxy names the client in, tried in order
    /// (default `x-forwarded-for`; `TESSERA_IP_HEADERS`).
    pub headers: Vec<HeaderName>,
    /// Record no IP and skip IP rate limiting.
    pub disable_ip_tracking: bool,
    /// The proxies whose headers are believed (`TESSERA_TRUSTED_PROXIES`):
    /// the socket peer must be one of them, and their hops are skipped when
    /// walking a forwarded chain. Default none: the socket peer is the
    /// client, whatever it forwards.
    pub trusted_proxies: Vec<IpNetwork>,
    /// IPv6 addresses are stored masked to this prefix (default 64).
    pub ipv6_subnet: u8,
    /// When the adapter knows no socket peer (an ALB event on Lambda,
    /// [`crate::Auth::handle`]), believe the headers as if a trusted proxy
    /// had sent them (`TESSERA_TRUST_HEADERS_WITHOUT_PEER`). Turn on only
    /// when every request comes through a proxy that writes them (an ALB
    /// appends the address it saw to `X-Forwarded-For`). Default false:
    /// without a peer there is no client IP.
    pub trust_headers_without_peer: bool,
}

impl Default for IpOptions {
    fn default() -> Self {
        IpOptions {
            headers: vec![HeaderName::from_static("x-forwarded-for")],
            disable_ip_tracking: false,
            trusted_proxies: Vec::new(),
            ipv6_subnet: 64,
            trust_headers_without_peer: false,
        }
    }
}

/// Bounds on the head of one request, so that the work a request costs is
/// bounded whatever a client sends. A request over any of them is answered
/// 431 `REQUEST_HEADER_FIELDS_TOO_LARGE`, by [`Auth::handle`](crate::Auth::handle)
/// and by [`Auth::session`](crate::Auth::session) (so the adapters' session
/// layers answer it) for application routes: the sizes before anything
/// reads the headers (before rate limiting and plugin interceptors), the
/// cookie count by the parser as it reads the cookies, which it stops
/// doing past the limit.
///
/// The defaults admit everything Tessera itself sets — a session cache
/// chunked up to two thirds of [`max_cookie_bytes`](Self::max_cookie_bytes)
/// (eight 4 KB chunks by default), the session token, `dont_remember` and
/// the multi-session device cookies — with room left for the
/// application's own cookies, and they sit above the limits of the
/// servers in front of most deployments:
///
/// | where | limit |
/// |---|---|
/// | Node.js (better-auth) | 16 KiB for the whole head: a large chunked session cache answers 431 (e.g. codelitdev/courselit#796, stacklok/toolhive-cloud-ui#240) |
/// | nginx | 8 KiB per header line (`large_client_header_buffers 4 8k`) |
/// | AWS ALB | 64 KiB for all headers |
/// | browsers | 4096 bytes per cookie, about 180 cookies per site |
///
/// ```
/// use tessera::options::RequestLimits;
///
/// let limits = RequestLimits::default();
/// assert_eq!(limits.max_head_bytes, 64 * 1024);
/// assert_eq!(limits.max_cookie_bytes, 48 * 1024);
/// assert_eq!(limits.max_cookies, 300);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestLimits {
    /// All header fields together, counted as HTTP/1.1 writes them
    /// (`name: value` and a line break each; the request line is not
    /// counted). Default 64 KiB, AWS ALB's limit and four times Node's.
    pub max_head_bytes: usize,
    /// All `Cookie` header values together. Default 48 KiB: two thirds of it
    /// (32 KiB, eight chunks) for the session cache, the rest for the
    /// session token, `dont_remember`, the device cookies of
    /// `maximumSessions` accounts and the application's own cookies.
    pub max_cookie_bytes: usize,
    /// Cookies in all `Cookie` headers together: every `name=value` pair,
    /// repeated names included. Default 300: above the ~180 cookies
    /// browsers keep per site, with room for partitioned ones. Past it the
    /// request is refused rather than its last cookies ignored: which
    /// cookie wins a duplicate name never depends on where a cap cuts.
    pub max_cookies: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_head_bytes: 64 * 1024,
            max_cookie_bytes: 48 * 1024,
            max_cookies: 300,
        }
    }
}

impl RequestLimits {
    /// These limits with another [`max_head_bytes`](Self::max_head_bytes).
    ///
    /// ```
    /// let limits = tessera::options::RequestLimits::default().with_max_cookies(200);
    /// assert_eq!(limits.max_cookies, 200);
    /// ```
    pub const fn with_max_head_bytes(mut self, bytes: usize) -> Self {
        self.max_head_bytes = bytes;
        self
    }

    /// These limits with another [`max_cookie_bytes`](Self::max_cookie_bytes).
    pub const fn with_max_cookie_bytes(mut self, bytes: usize) -> Self {
        self.max_cookie_bytes = bytes;
        self
    }

    /// These limits with another [`max_cookies`](Self::max_cookies).
    pub const fn with_max_cookies(mut self, cookies: usize) -> Self {
        self.max_cookies = cookies;
        self
    }

    /// The smallest [`max_cookie_bytes`](Self::max_cookie_bytes) accepted:
    /// one browser cookie's worth, so the session token and a small cache
    /// always fit.
    pub const MIN_COOKIE_BYTES: usize = 4096;
    /// The smallest [`max_cookies`](Self::max_cookies) accepted: Tessera
    /// alone may set the session token, `dont_remember`, the cache chunks
    /// and several device cookies.
    pub const MIN_COOKIES: usize = 32;

    /// The bytes of `Cookie` header the session cache may take: two thirds
    /// of [`max_cookie_bytes`](Self::max_cookie_bytes). A cache that would
    /// need more is not written (a warning is logged), so Tessera never
    /// sets cookies its own limits would then refuse.
    pub fn session_cache_bytes(&self) -> usize {
        self.max_cookie_bytes / 3 * 2
    }

    /// Why these limits cannot work, if they cannot: the option and the
    /// reason.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        if self.max_cookie_bytes < Self::MIN_COOKIE_BYTES {
            return Some((
                "limits.max_cookie_bytes",
                format!(
                    "{} is below {} bytes, one browser cookie: the session cookies would not fit",
                    self.max_cookie_bytes,
                    Self::MIN_COOKIE_BYTES
                ),
            ));
        }
        if self.max_head_bytes < self.max_cookie_bytes {
            return Some((
                "limits.max_head_bytes",
                format!(
                    "{} is below limits.max_cookie_bytes ({}): the Cookie header is part of the head",
                    self.max_head_bytes, self.max_cookie_bytes
                ),
            ));
        }
        if self.max_cookies < Self::MIN_COOKIES {
            return Some((
                "limits.max_cookies",
                format!(
                    "{} is below {}: Tessera's own cookies would not fit",
                    self.max_cookies,
                    Self::MIN_COOKIES
                ),
            ));
        }
        None
    }
}

/// An IP network (`10.0.0.0/8`, `2001:db8::/32`) or a single address
/// (`10.0.0.1`, a network of one), as trusted proxies are configured.
///
/// IPv4-mapped IPv6 forms mean the IPv4 network: `::ffff:10.0.0.0/104` is
/// `10.0.0.0/8`.
///
/// ```
/// use tessera::options::IpNetwork;
///
/// let proxies: IpNetwork = "10.0.0.0/8".parse().unwrap();
/// assert!(proxies.contains("10.1.2.3".parse().unwrap()));
/// assert!(proxies.contains("::ffff:10.1.2.3".parse().unwrap()));
/// assert!(!proxies.contains("192.0.2.1".parse().unwrap()));
///
/// let list = IpNetwork::parse_list("127.0.0.1, ::1, 2001:db8::/32").unwrap();
/// assert_eq!(list.len(), 3);
/// assert!("10.0.0.0/33".parse::<IpNetwork>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNetwork(IpNet);

/// A value that is not an IP address or network.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{value:?} is not an IP address or CIDR network (e.g. 10.0.0.1, 10.0.0.0/8, 2001:db8::/32)"
)]
pub struct InvalidNetwork {
    /// The value given.
    pub value: String,
}

impl IpNetwork {
    /// Whether `ip` (in any form, `::ffff:10.0.0.1` too) is in the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }

    /// A comma-separated list (`TESSERA_TRUSTED_PROXIES`); blank entries
    /// are skipped.
    pub fn parse_list(list: &str) -> Result<Vec<IpNetwork>, InvalidNetwork> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect()
    }
}

impl FromStr for IpNetwork {
    type Err = InvalidNetwork;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidNetwork {
            value: s.to_owned(),
        };
        let trimmed = s.trim();
        let (addr, prefix) = match trimmed.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (trimmed, None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| invalid())?;
        let bits = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            // Digits only: `u8::from_str` would take `+8`.
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| invalid())?
            }
            Some(_) => return Err(invalid()),
        };
        let mapped = match ip {
            IpAddr::V6(v6) if prefix >= 96 => v6.to_ipv4_mapped(),
            _ => None,
        };
        let net = match mapped {
            Some(v4) => Ipv4Net::new(v4, prefix - 96).map(IpNet::V4),
            None => IpNet::new(ip, prefix),
        }
        .map_err(|_| invalid())?;
        Ok(IpNetwork(net.trunc()))
    }
}

impl std::fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Everything a Tessera instance is configured with.
///
/// ```
/// use tessera::Options;
///
/// let options = Options::new()
///     .secret("a-long-random-secret-of-at-least-32-characters!")
///     .base_url("https://auth.example.com")
///     .trusted_origin("https://app.example.com");
/// assert_eq!(options.base_path, "/api/auth");
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// Public URL of the app (`BETTER_AUTH_URL`); its origin is trusted and
    /// its scheme decides `__Secure-` cookies. A path in it becomes the base path.
    pub base_url: Option<String>,
    /// Where the API is mounted (default `/api/auth`).
    pub base_path: String,
    /// Secrets; `None` falls back to better-auth's public default, which is
    /// refused outside development.
    pub secrets: Option<Secrets>,
    /// Where the process runs.
    pub environment: Environment,
    /// Extra trusted origins (exact, or with `*`/`?` wildcards).
    pub trusted_origins: Vec<String>,
    /// Session lifetimes.
    pub session: SessionOptions,
    /// Email and password.
    pub email_and_password: EmailPasswordOptions,
    /// Rate limiting.
    pub rate_limit: RateLimitOptions,
    /// Cookie naming and attributes.
    pub cookies: CookieOptions,
    /// Client IP detection.
    pub ip: IpOptions,
    /// Skip the CSRF origin check on cookie-bearing requests.
    pub disable_csrf_check: bool,
    /// Skip validating callback URLs against trusted origins.
    pub disable_origin_check: bool,
    /// Plugins to enable by id from the link-time registry (`TESSERA_PLUGINS`).
    pub plugins: Vec<String>,
    /// Extra fields on the user record (`user.additionalFields`).
    pub user_additional_fields: Vec<AdditionalField>,
    /// Bounds on a request's head and cookies (431 past them).
    pub limits: RequestLimits,
    /// OAuth accounts: where the state lives, the account cookie, linking.
    pub account: AccountOptions,
    /// Email verification.
    pub email_verification: EmailVerificationOptions,
    /// Changes of email and deletion of the account.
    pub user: UserOptions,
    /// The application's name, in mail (default `Tessera`;
    /// `TESSERA_APP_NAME`).
    pub app_name: String,
}

/// Where the OAuth `state` and PKCE verifier wait for the callback
/// (better-auth's `account.storeStateStrategy`, spec §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateStrategy {
    /// In the encrypted `oauth_state` cookie: no store needed.
    Cookie,
    /// In a verification record `auth-state:<state>` (database or
    /// secondary storage), with the signed `state` cookie.
    Database,
}

impl StateStrategy {
    /// `cookie` or `database`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cookie" => Some(StateStrategy::Cookie),
            "database" => Some(StateStrategy::Database),
            _ => None,
        }
    }
}

/// OAuth accounts (better-auth's `account` options).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccountOptions {
    /// Where the state lives; `None`: better-auth's default, `cookie`
    /// without a store and `database` with one (`TESSERA_OAUTH_STATE`).
    pub store_state_strategy: Option<StateStrategy>,
    /// Keep the provider's account in the encrypted `account_data` cookie;
    /// `None`: better-auth's default, on without a database
    /// (`TESSERA_ACCOUNT_COOKIE`).
    pub store_account_cookie: Option<bool>,
    /// With the `database` strategy, do not require the signed `state`
    /// cookie to match (`skipStateCookieCheck`).
    pub skip_state_cookie_check: bool,
    /// Link a provider's account to an existing user with the same email
    /// (`accountLinking.enabled`, default true).
    pub account_linking: bool,
    /// Providers whose email is trusted for linking even when they do not
    /// say it is verified (`accountLinking.trustedProviders`).
    pub trusted_providers: Vec<String>,
    /// Link only to users whose own email is verified
    /// (`accountLinking.requireLocalEmailVerified`, default true).
    pub require_local_email_verified: bool,
    /// `/link-social` may link an account whose email differs from the
    /// user's (`accountLinking.allowDifferentEmails`).
    pub allow_different_emails: bool,
    /// `/unlink-account` may remove a user's last account
    /// (`accountLinking.allowUnlinkingAll`).
    pub allow_unlinking_all: bool,
    /// Store the fresh tokens of each sign-in on the account
    /// (`updateAccountOnSignIn`, default true).
    pub update_account_on_sign_in: bool,
}

impl Default for AccountOptions {
    fn default() -> Self {
        AccountOptions {
            store_state_strategy: None,
            store_account_cookie: None,
            skip_state_cookie_check: false,
            account_linking: true,
            trusted_providers: Vec::new(),
            require_local_email_verified: true,
            allow_different_emails: false,
            allow_unlinking_all: false,
            update_account_on_sign_in: true,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            base_url: None,
            base_path: "/api/auth".to_owned(),
            secrets: None,
            environment: Environment::Production,
            trusted_origins: Vec::new(),
            session: SessionOptions::default(),
            email_and_password: EmailPasswordOptions::default(),
            rate_limit: RateLimitOptions::default(),
            cookies: CookieOptions::default(),
            ip: IpOptions::default(),
            disable_csrf_check: false,
            disable_origin_check: false,
            plugins: Vec::new(),
            user_additional_fields: Vec::new(),
            limits: RequestLimits::default(),
            account: AccountOptions::default(),
            email_verification: EmailVerificationOptions::default(),
            user: UserOptions::default(),
            app_name: "Tessera".to_owned(),
        }
    }
}

/// A bad value in the environment.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// A secret variable is malformed.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// A variable has a value that cannot be used.
    #[error("{name}={value:?}: {reason}")]
    Invalid {
        /// The variable.
        name: String,
        /// Its value (never a secret).
        value: String,
        /// What is expected.
        reason: String,
    },
}

impl Options {
    /// Defaults: production, `/api/auth`, 7-day sessions.
    pub fn new() -> Self {
        Options::default()
    }

    /// Sets a single secret.
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secrets = Some(Secrets::single(secret));
        self
    }

    /// Sets versioned secrets.
    pub fn secrets(mut self, secrets: Secrets) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// Sets the public base URL.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Adds a trusted origin.
    pub fn trusted_origin(mut self, origin: impl Into<String>) -> Self {
        self.trusted_origins.push(origin.into());
        self
    }

    /// Sets the environment.
    pub fn environment(mut self, env: Environment) -> Self {
        self.environment = env;
        self
    }

    /// Sets the session lifetime in seconds.
    pub fn expires_in(mut self, secs: u64) -> Self {
        self.session.expires_in = secs;
        self
    }

    /// Sets the refresh threshold in seconds.
    pub fn update_age(mut self, secs: u64) -> Self {
        self.session.update_age = secs;
        self
    }

    /// Sets the freshness window in seconds.
    pub fn fresh_age(mut self, secs: u64) -> Self {
        self.session.fresh_age = secs;
        self
    }

    /// Turns rate limiting on or off.
    pub fn rate_limit(mut self, enabled: bool) -> Self {
        self.rate_limit.enabled = Some(enabled);
        self
    }

    /// Trusts the proxies in `network` to name the client in forwarded
    /// headers (see [`IpOptions::trusted_proxies`]).
    ///
    /// ```
    /// let options = tessera::Options::new().trusted_proxy("10.0.0.0/8".parse().unwrap());
    /// assert_eq!(options.ip.trusted_proxies.len(), 1);
    /// ```
    pub fn trusted_proxy(mut self, network: IpNetwork) -> Self {
        self.ip.trusted_proxies.push(network);
        self
    }

    /// Believes the forwarded headers when the adapter knows no socket peer
    /// (see [`IpOptions::trust_headers_without_peer`]): Lambda behind an
    /// ALB, or requests handed to [`Auth::handle`](crate::Auth::handle) in
    /// process.
    ///
    /// ```
    /// let options = tessera::Options::new().trust_headers_without_peer(true);
    /// assert!(options.ip.trust_headers_without_peer);
    /// ```
    pub fn trust_headers_without_peer(mut self, trust: bool) -> Self {
        self.ip.trust_headers_without_peer = trust;
        self
    }

    /// Sets how many passwords may be hashed at once (default: one per
    /// available core).
    pub fn hash_threads(mut self, threads: std::num::NonZeroUsize) -> Self {
        self.email_and_password.hash_threads = Some(threads);
        self
    }

    /// Reads the process environment; see [`Options::from_vars`].
    pub fn from_env() -> Result<Self, EnvError> {
        Options::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `get`, as better-auth reads its env:
    ///
    /// - `BETTER_AUTH_SECRET` (or `AUTH_SECRET`): the single secret;
    /// - `BETTER_AUTH_SECRETS`: `"2:new,1:old"`, current first; the single
    ///   secret, if also set and different, is kept as the legacy secret;
    /// - `BETTER_AUTH_URL`: the base URL;
    /// - `BETTER_AUTH_TRUSTED_ORIGINS`: comma-separated origins;
    /// - `NODE_ENV`: `development` / `test` / `production`;
    /// - `TESSERA_SESSION_EXPIRES_IN`, `TESSERA_SESSION_UPDATE_AGE`,
    ///   `TESSERA_SESSION_FRESH_AGE`: seconds;
    /// - `TESSERA_REVOCATION_LAG`: seconds, fractions allowed (`0.5`), or
    ///   `none` for better-auth's behaviour; see
    ///   [`SessionOptions::revocation_lag`];
    /// - `TESSERA_RATE_LIMIT`: `true` / `false`;
    /// - `TESSERA_TRUSTED_PROXIES`: comma-separated IPs and CIDR networks
    ///   of the proxies whose forwarded headers are believed;
    /// - `TESSERA_IP_HEADERS`: comma-separated header names they name the
    ///   client in (default `x-forwarded-for`);
    /// - `TESSERA_TRUST_HEADERS_WITHOUT_PEER`: `true` to believe them when
    ///   the adapter knows no socket peer (see [`IpOptions`]);
    /// - `TESSERA_SIGN_IN_THROTTLE`: `off`, or `failures/seconds` (default
    ///   `5/900`): failed email sign-ins allowed per account per window;
    /// - `TESSERA_COOKIE_CACHE`: `off`, `compact`, `jwt` or `jwe`;
    ///   `TESSERA_COOKIE_CACHE_MAX_AGE` (seconds), `TESSERA_COOKIE_CACHE_VERSION`,
    ///   `TESSERA_COOKIE_CACHE_MEMO_BYTES` (the decode memo's budget, `0`: off),
    ///   `TESSERA_REFRESH_CACHE` (`false`, `true` or an update age in seconds);
    /// - `TESSERA_PLUGINS`: comma-separated plugin ids;
    /// - `TESSERA_MAX_HEAD_BYTES`, `TESSERA_MAX_COOKIE_BYTES`,
    ///   `TESSERA_MAX_COOKIES`: the [`RequestLimits`];
    /// - `TESSERA_OAUTH_STATE`: `cookie` or `database` (where the OAuth
    ///   state waits for the callback), `TESSERA_ACCOUNT_COOKIE`: `true` /
    ///   `false` (the `account_data` cookie); see [`AccountOptions`];
    /// - the account lifecycle, `true` / `false`:
    ///   `TESSERA_REQUIRE_EMAIL_VERIFICATION`, `TESSERA_PASSWORD_RESET`,
    ///   `TESSERA_REVOKE_SESSIONS_ON_PASSWORD_RESET`,
    ///   `TESSERA_EMAIL_VERIFICATION`, `TESSERA_SEND_ON_SIGN_UP`,
    ///   `TESSERA_SEND_ON_SIGN_IN`, `TESSERA_AUTO_SIGN_IN_AFTER_VERIFICATION`,
    ///   `TESSERA_CHANGE_EMAIL`, `TESSERA_UPDATE_EMAIL_WITHOUT_VERIFICATION`,
    ///   `TESSERA_DELETE_USER`; `TESSERA_MIN_PASSWORD_LENGTH`,
    ///   `TESSERA_MAX_PASSWORD_LENGTH` (UTF-16 code units); `TESSERA_APP_NAME`
    ///   (named in mail).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, EnvError> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let mut o = Options::new();
        if let Some(env) = get("NODE_ENV") {
            o.environment = Environment::parse(&env);
        }
        let single = get("BETTER_AUTH_SECRET").or_else(|| get("AUTH_SECRET"));
        o.secrets = match get("BETTER_AUTH_SECRETS") {
            Some(list) => Some(Secrets::versioned(
                Secrets::parse_versioned_list(&list)?,
                single,
            )?),
            None => single.map(Secrets::single),
        };
        o.base_url = get("BETTER_AUTH_URL");
        if let Some(list) = get("BETTER_AUTH_TRUSTED_ORIGINS") {
            o.trusted_origins = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(v) = get("TESSERA_SESSION_EXPIRES_IN") {
            o.session.expires_in = parse_secs("TESSERA_SESSION_EXPIRES_IN", &v)?;
        }
        if let Some(v) = get("TESSERA_SESSION_UPDATE_AGE") {
            o.session.update_age = parse_secs("TESSERA_SESSION_UPDATE_AGE", &v)?;
        }
        if let Some(v) = get("TESSERA_SESSION_FRESH_AGE") {
            o.session.fresh_age = parse_secs("TESSERA_SESSION_FRESH_AGE", &v)?;
        }
        if let Some(v) = get("TESSERA_REVOCATION_LAG") {
            o.session.revocation_lag = parse_revocation_lag("TESSERA_REVOCATION_LAG", &v)?;
        }
        if let Some(v) = get("TESSERA_RATE_LIMIT") {
            o.rate_limit.enabled = Some(parse_bool("TESSERA_RATE_LIMIT", &v)?);
        }
        if let Some(v) = get("TESSERA_TRUSTED_PROXIES") {
            o.ip.trusted_proxies = IpNetwork::parse_list(&v).map_err(|e| EnvError::Invalid {
                name: "TESSERA_TRUSTED_PROXIES".to_owned(),
                value: v.clone(),
                reason: format!("{e}; expected a comma-separated list of them"),
            })?;
        }
        if let Some(v) = get("TESSERA_IP_HEADERS") {
            o.ip.headers = parse_header_names("TESSERA_IP_HEADERS", &v)?;
        }
        if let Some(v) = get("TESSERA_TRUST_HEADERS_WITHOUT_PEER") {
            o.ip.trust_headers_without_peer = parse_bool("TESSERA_TRUST_HEADERS_WITHOUT_PEER", &v)?;
        }
        if let Some(v) = get("TESSERA_SIGN_IN_THROTTLE") {
            o.rate_limit.per_account = parse_account_throttle("TESSERA_SIGN_IN_THROTTLE", &v)?;
        }
        let cache = &mut o.session.cookie_cache;
        if let Some(v) = get("TESSERA_COOKIE_CACHE") {
            match v.trim().to_ascii_lowercase().as_str() {
                "off" | "false" | "none" => cache.enabled = Some(false),
                other => {
                    let strategy =
                        CacheStrategy::parse(other).ok_or_else(|| EnvError::Invalid {
                            name: "TESSERA_COOKIE_CACHE".to_owned(),
                            value: v.clone(),
                            reason: "expected off, compact, jwt or jwe".to_owned(),
                        })?;
                    cache.enabled = Some(true);
                    cache.strategy = Some(strategy);
                }
            }
        }
        if let Some(v) = get("TESSERA_COOKIE_CACHE_MAX_AGE") {
            cache.max_age = Some(parse_secs("TESSERA_COOKIE_CACHE_MAX_AGE", &v)?);
        }
        if let Some(v) = get("TESSERA_COOKIE_CACHE_VERSION") {
            cache.version = Some(CacheVersion::Static(v.trim().to_owned()));
        }
        if let Some(v) = get("TESSERA_COOKIE_CACHE_MEMO_BYTES") {
            cache.memo_bytes = Some(v.trim().parse().map_err(|_| EnvError::Invalid {
                name: "TESSERA_COOKIE_CACHE_MEMO_BYTES".to_owned(),
                value: v.clone(),
                reason: "expected a whole number of bytes (0 turns the memo off)".to_owned(),
            })?);
        }
        if let Some(v) = get("TESSERA_REFRESH_CACHE") {
            cache.refresh_cache = Some(match v.trim().to_ascii_lowercase().as_str() {
                "false" | "off" | "0" | "no" => RefreshCache::Off,
                "true" | "on" | "yes" => RefreshCache::On,
                secs => RefreshCache::UpdateAge(secs.parse().map_err(|_| EnvError::Invalid {
                    name: "TESSERA_REFRESH_CACHE".to_owned(),
                    value: v.clone(),
                    reason: "expected false, true or an update age in seconds".to_owned(),
                })?),
            });
        }
        if let Some(v) = get("TESSERA_PLUGINS") {
            o.plugins = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        }
        let limits = &mut o.limits;
        for (name, field) in [
            ("TESSERA_MAX_HEAD_BYTES", &mut limits.max_head_bytes),
            ("TESSERA_MAX_COOKIE_BYTES", &mut limits.max_cookie_bytes),
            ("TESSERA_MAX_COOKIES", &mut limits.max_cookies),
        ] {
            if let Some(v) = get(name) {
                *field = v.trim().parse().map_err(|_| EnvError::Invalid {
                    name: name.to_owned(),
                    value: v.clone(),
                    reason: "expected a whole number".to_owned(),
                })?;
            }
        }
        if let Some(v) = get("TESSERA_OAUTH_STATE") {
            o.account.store_state_strategy = Some(StateStrategy::parse(v.trim()).ok_or_else(
                || EnvError::Invalid {
                    name: "TESSERA_OAUTH_STATE".to_owned(),
                    value: v.clone(),
                    reason: "expected cookie or database".to_owned(),
                },
            )?);
        }
        if let Some(v) = get("TESSERA_ACCOUNT_COOKIE") {
            o.account.store_account_cookie = Some(parse_bool("TESSERA_ACCOUNT_COOKIE", &v)?);
        }
        o.read_lifecycle_vars(&get)?;
        Ok(o)
    }

    /// The account lifecycle's variables (see [`Options::from_vars`]).
    fn read_lifecycle_vars(
        &mut self,
        get: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), EnvError> {
        let ep = &mut self.email_and_password;
        let ev = &mut self.email_verification;
        let user = &mut self.user;
        for (name, field) in [
            (
                "TESSERA_REQUIRE_EMAIL_VERIFICATION",
                &mut ep.require_email_verification,
            ),
            ("TESSERA_PASSWORD_RESET", &mut ep.password_reset),
            (
                "TESSERA_REVOKE_SESSIONS_ON_PASSWORD_RESET",
                &mut ep.revoke_sessions_on_password_reset,
            ),
            ("TESSERA_EMAIL_VERIFICATION", &mut ev.enabled),
            ("TESSERA_SEND_ON_SIGN_IN", &mut ev.send_on_sign_in),
            (
                "TESSERA_AUTO_SIGN_IN_AFTER_VERIFICATION",
                &mut ev.auto_sign_in_after_verification,
            ),
            ("TESSERA_CHANGE_EMAIL", &mut user.change_email.enabled),
            (
                "TESSERA_UPDATE_EMAIL_WITHOUT_VERIFICATION",
                &mut user.change_email.update_email_without_verification,
            ),
            ("TESSERA_DELETE_USER", &mut user.delete_user.enabled),
        ] {
            if let Some(v) = get(name) {
                *field = parse_bool(name, &v)?;
            }
        }
        if let Some(v) = get("TESSERA_SEND_ON_SIGN_UP") {
            ev.send_on_sign_up = Some(parse_bool("TESSERA_SEND_ON_SIGN_UP", &v)?);
        }
        for (name, field) in [
            ("TESSERA_MIN_PASSWORD_LENGTH", &mut ep.min_password_length),
            ("TESSERA_MAX_PASSWORD_LENGTH", &mut ep.max_password_length),
        ] {
            if let Some(v) = get(name) {
                *field = v.trim().parse().map_err(|_| EnvError::Invalid {
                    name: name.to_owned(),
                    value: v.clone(),
                    reason: "expected a whole number".to_owned(),
                })?;
            }
        }
        if let Some(v) = get("TESSERA_APP_NAME").filter(|v| !v.trim().is_empty()) {
            self.app_name = v.trim().to_owned();
        }
        Ok(())
    }

    /// The secrets in force (the public default when none is configured).
    pub(crate) fn effective_secrets(&self) -> Secrets {
        self.secrets
            .clone()
            .unwrap_or_else(|| Secrets::single(DEFAULT_SECRET))
    }
}

/// Parses a whole number of seconds.
pub(crate) fn parse_secs(name: &str, v: &str) -> Result<u64, EnvError> {
    v.trim().parse().map_err(|_| EnvError::Invalid {
        name: name.to_owned(),
        value: v.to_owned(),
        reason: "expected a whole number of seconds".to_owned(),
    })
}

/// Parses a revocation lag: seconds (fractions allowed, more than 0 and at
/// most a day), or `none`/`off`.
fn parse_revocation_lag(name: &str, v: &str) -> Result<Option<Duration>, EnvError> {
    let trimmed = v.trim();
    if matches!(
        trimmed.to_ascii_lowercase().as_str(),
        "none" | "off" | "false"
    ) {
        return Ok(None);
    }
    trimmed
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.001 && *s <= 86_400.0)
        .map(|s| Some(Duration::from_secs_f64(s)))
        .ok_or_else(|| EnvError::Invalid {
            name: name.to_owned(),
            value: v.to_owned(),
            reason: "expected seconds (0.001 to 86400, fractions allowed) or none".to_owned(),
        })
}

/// Parses `off` or `failures/seconds` (both at least 1).
fn parse_account_throttle(name: &str, v: &str) -> Result<AccountThrottleOptions, EnvError> {
    let trimmed = v.trim();
    if matches!(
        trimmed.to_ascii_lowercase().as_str(),
        "off" | "false" | "0" | "no"
    ) {
        return Ok(AccountThrottleOptions {
            enabled: Some(false),
            ..AccountThrottleOptions::default()
        });
    }
    let parsed = trimmed.split_once('/').and_then(|(failures, secs)| {
        let failures = failures.trim().parse::<u64>().ok().filter(|n| *n > 0)?;
        let window = secs.trim().parse::<u64>().ok().filter(|n| *n > 0)?;
        Some(AccountThrottleOptions {
            enabled: None,
            max_failures: failures,
            window,
        })
    });
    parsed.ok_or_else(|| EnvError::Invalid {
        name: name.to_owned(),
        value: v.to_owned(),
        reason: "expected off, or failures/seconds such as 5/900".to_owned(),
    })
}

/// Parses a comma-separated list of header names (at least one).
fn parse_header_names(name: &str, v: &str) -> Result<Vec<HeaderName>, EnvError> {
    let invalid = |reason: String| EnvError::Invalid {
        name: name.to_owned(),
        value: v.to_owned(),
        reason,
    };
    let names = v
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            HeaderName::from_bytes(s.as_bytes())
                .map_err(|_| invalid(format!("{s:?} is not a header name")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if names.is_empty() {
        return Err(invalid(
            "expected comma-separated header names, e.g. x-forwarded-for".to_owned(),
        ));
    }
    Ok(names)
}

/// Parses `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
pub(crate) fn parse_bool(name: &str, v: &str) -> Result<bool, EnvError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(EnvError::Invalid {
            name: name.to_owned(),
            value: v.to_owned(),
            reason: "expected true or false".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn reads_versioned_secrets_with_legacy() {
        let o = Options::from_vars(vars(&[
            ("BETTER_AUTH_SECRETS", "2:new-one,1:old-one"),
            ("BETTER_AUTH_SECRET", "legacy-one"),
        ]))
        .unwrap();
        let s = o.secrets.unwrap();
        assert_eq!(s.current().expose(), b"new-one");
        assert_eq!(s.all().len(), 3);
    }

    #[test]
    fn reads_urls_origins_and_lifetimes() {
        let o = Options::from_vars(vars(&[
            ("BETTER_AUTH_URL", "https://auth.example.com"),
            (
                "BETTER_AUTH_TRUSTED_ORIGINS",
                "https://a.example.com, https://b.example.com",
            ),
            ("TESSERA_SESSION_EXPIRES_IN", "3600"),
            ("TESSERA_RATE_LIMIT", "false"),
            ("NODE_ENV", "development"),
        ]))
        .unwrap();
        assert_eq!(o.base_url.as_deref(), Some("https://auth.example.com"));
        assert_eq!(o.trusted_origins.len(), 2);
        assert_eq!(o.session.expires_in, 3600);
        assert_eq!(o.rate_limit.enabled, Some(false));
        assert_eq!(o.environment, Environment::Development);
    }

    #[test]
    fn reads_the_revocation_lag() {
        let lag = |v: &str| {
            Options::from_vars(vars(&[("TESSERA_REVOCATION_LAG", v)]))
                .map(|o| o.session.revocation_lag)
        };
        assert_eq!(
            Options::new().session.revocation_lag,
            Some(Duration::from_secs(1))
        );
        assert_eq!(lag("2").unwrap(), Some(Duration::from_secs(2)));
        assert_eq!(lag(" 0.25 ").unwrap(), Some(Duration::from_millis(250)));
        assert_eq!(lag("none").unwrap(), None);
        assert_eq!(lag("OFF").unwrap(), None);
        for bad in ["0", "-1", "NaN", "inf", "1s", "100000"] {
            let err = lag(bad).unwrap_err().to_string();
            assert!(err.contains("TESSERA_REVOCATION_LAG"), "{bad}: {err}");
        }
    }

    #[test]
    fn reads_cookie_cache_settings() {
        let o = Options::from_vars(vars(&[
            ("TESSERA_COOKIE_CACHE", "jwe"),
            ("TESSERA_COOKIE_CACHE_MAX_AGE", "600"),
            ("TESSERA_COOKIE_CACHE_VERSION", "2"),
            ("TESSERA_REFRESH_CACHE", "120"),
            ("TESSERA_COOKIE_CACHE_MEMO_BYTES", "0"),
            ("TESSERA_PLUGINS", "multi-session, custom-session"),
        ]))
        .unwrap();
        let c = &o.session.cookie_cache;
        assert_eq!(c.enabled, Some(true));
        assert_eq!(c.strategy, Some(CacheStrategy::Jwe));
        assert_eq!(c.max_age, Some(600));
        assert!(matches!(&c.version, Some(CacheVersion::Static(v)) if v == "2"));
        assert_eq!(c.refresh_cache, Some(RefreshCache::UpdateAge(120)));
        assert_eq!(c.memo_bytes, Some(0));
        assert_eq!(o.plugins, ["multi-session", "custom-session"]);
        let off = Options::from_vars(vars(&[("TESSERA_COOKIE_CACHE", "off")])).unwrap();
        assert_eq!(off.session.cookie_cache.enabled, Some(false));
        assert!(Options::from_vars(vars(&[("TESSERA_COOKIE_CACHE", "jws")])).is_err());
        assert!(Options::from_vars(vars(&[("TESSERA_REFRESH_CACHE", "soon")])).is_err());
        assert!(Options::from_vars(vars(&[("TESSERA_COOKIE_CACHE_MEMO_BYTES", "-1")])).is_err());
    }

    #[test]
    fn reads_trusted_proxies_and_ip_headers() {
        let o = Options::from_vars(vars(&[
            ("TESSERA_TRUSTED_PROXIES", "10.0.0.0/8, ::1,2001:db8::/32"),
            ("TESSERA_IP_HEADERS", "CF-Connecting-IP, x-forwarded-for"),
            ("TESSERA_TRUST_HEADERS_WITHOUT_PEER", "true"),
        ]))
        .unwrap();
        let proxies: Vec<String> = o.ip.trusted_proxies.iter().map(|p| p.to_string()).collect();
        assert_eq!(proxies, ["10.0.0.0/8", "::1/128", "2001:db8::/32"]);
        assert_eq!(o.ip.headers, ["cf-connecting-ip", "x-forwarded-for"]);
        assert!(o.ip.trust_headers_without_peer);
        let defaults = Options::from_vars(vars(&[])).unwrap();
        assert!(defaults.ip.trusted_proxies.is_empty());
        assert_eq!(defaults.ip.headers, ["x-forwarded-for"]);
        assert!(!defaults.ip.trust_headers_without_peer);
        for (name, value) in [
            ("TESSERA_TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal"),
            ("TESSERA_TRUSTED_PROXIES", "10.0.0.0/40"),
            ("TESSERA_IP_HEADERS", "x forwarded for"),
            ("TESSERA_IP_HEADERS", " , "),
            ("TESSERA_TRUST_HEADERS_WITHOUT_PEER", "sometimes"),
        ] {
            let err = Options::from_vars(vars(&[(name, value)])).unwrap_err();
            assert!(err.to_string().starts_with(name), "{err}");
        }
    }

    #[test]
    fn reads_the_sign_in_throttle() {
        let throttle = |v: &str| {
            Options::from_vars(vars(&[("TESSERA_SIGN_IN_THROTTLE", v)]))
                .map(|o| o.rate_limit.per_account)
        };
        let t = throttle("10/3600").unwrap();
        assert_eq!((t.enabled, t.max_failures, t.window), (None, 10, 3600));
        assert_eq!(throttle("off").unwrap().enabled, Some(false));
        for bad in ["10", "0/900", "5/0", "five/900", "5/900/1"] {
            let err = throttle(bad).unwrap_err().to_string();
            assert!(err.starts_with("TESSERA_SIGN_IN_THROTTLE="), "{err}");
        }
        let defaults = Options::from_vars(vars(&[]))
            .unwrap()
            .rate_limit
            .per_account;
        assert_eq!(defaults, AccountThrottleOptions::default());
    }

    #[test]
    fn bad_numbers_are_named_errors() {
        let err = Options::from_vars(vars(&[("TESSERA_SESSION_UPDATE_AGE", "soon")])).unwrap_err();
        assert!(err.to_string().contains("TESSERA_SESSION_UPDATE_AGE"));
    }
}

/// Where a server listens when neither `TESSERA_LISTEN` nor `PORT` is set.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:3000";

/// The `host:port` a server listens on, read through `get` the way
/// `tessera serve` and the example apps read it (blank counts as unset):
///
/// - `TESSERA_LISTEN`: `host:port`, an IPv6 host in brackets
///   (`[::1]:3000`); wins over `PORT`;
/// - `PORT`: a port on `127.0.0.1`, so setting only a port never exposes
///   the server beyond this machine;
/// - neither: [`DEFAULT_LISTEN`].
///
/// The host is not resolved here; binding is the caller's.
///
/// ```
/// use tessera::options::{listen_address, DEFAULT_LISTEN};
///
/// let env = |pairs: &'static [(&'static str, &'static str)]| {
///     move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
/// };
/// assert_eq!(listen_address(env(&[])).unwrap(), DEFAULT_LISTEN);
/// assert_eq!(listen_address(env(&[("PORT", "8080")])).unwrap(), "127.0.0.1:8080");
/// let both = env(&[("PORT", "8080"), ("TESSERA_LISTEN", "0.0.0.0:4000")]);
/// assert_eq!(listen_address(both).unwrap(), "0.0.0.0:4000");
/// let err = listen_address(env(&[("PORT", "http")])).unwrap_err();
/// assert!(err.to_string().starts_with("PORT=\"http\""));
/// ```
pub fn listen_address(get: impl Fn(&str) -> Option<String>) -> Result<String, EnvError> {
    let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
    let invalid = |name: &str, value: &str, reason: &str| EnvError::Invalid {
        name: name.to_owned(),
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    if let Some(value) = get("TESSERA_LISTEN") {
        let listen = value.trim();
        let (host, port) = listen.rsplit_once(':').ok_or_else(|| {
            invalid(
                "TESSERA_LISTEN",
                &value,
                "expected host:port, e.g. 0.0.0.0:3000",
            )
        })?;
        if port.parse::<u16>().is_err() {
            return Err(invalid(
                "TESSERA_LISTEN",
                &value,
                "expected host:port with a port from 0 to 65535",
            ));
        }
        let bracketed = host.starts_with('[') && host.ends_with(']') && host.len() > 2;
        if host.is_empty() || (host.contains(':') && !bracketed) {
            return Err(invalid(
                "TESSERA_LISTEN",
                &value,
                "expected host:port; write IPv6 addresses in brackets, e.g. [::1]:3000",
            ));
        }
        return Ok(listen.to_owned());
    }
    match get("PORT") {
        Some(value) => match value.trim().parse::<u16>() {
            Ok(port) => Ok(format!("127.0.0.1:{port}")),
            Err(_) => Err(invalid(
                "PORT",
                &value,
                "expected a port number from 0 to 65535",
            )),
        },
        None => Ok(DEFAULT_LISTEN.to_owned()),
    }
}

#[cfg(test)]
mod listen_address_tests {
    use super::*;

    fn listen(pairs: &[(&str, &str)]) -> Result<String, String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        listen_address(|name| {
            pairs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn tessera_listen_wins_over_port_which_binds_loopback() {
        assert_eq!(listen(&[]).unwrap(), DEFAULT_LISTEN);
        assert_eq!(listen(&[("PORT", " 8080 ")]).unwrap(), "127.0.0.1:8080");
        assert_eq!(
            listen(&[("PORT", "8080"), ("TESSERA_LISTEN", "0.0.0.0:4000")]).unwrap(),
            "0.0.0.0:4000"
        );
        for host in ["[::1]:4000", "localhost:4000", "10.0.0.5:0"] {
            assert_eq!(listen(&[("TESSERA_LISTEN", host)]).unwrap(), host);
        }
        // Blank counts as unset.
        assert_eq!(
            listen(&[("PORT", " "), ("TESSERA_LISTEN", "")]).unwrap(),
            DEFAULT_LISTEN
        );
    }

    #[test]
    fn bad_values_are_named() {
        for (name, value) in [
            ("PORT", "http"),
            ("PORT", "70000"),
            ("TESSERA_LISTEN", "3000"),
            ("TESSERA_LISTEN", "0.0.0.0:http"),
            ("TESSERA_LISTEN", ":3000"),
            ("TESSERA_LISTEN", "::1:3000"),
        ] {
            let err = listen(&[(name, value)]).unwrap_err();
            assert!(err.starts_with(&format!("{name}={value:?}: ")), "{err}");
        }
    }
}
