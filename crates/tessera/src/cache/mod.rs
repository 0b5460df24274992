//! The cookie cache: the `session_data` cookie in better-auth's three
//! strategies (spec §2), and its options.
//!
//! A codec per strategy behind one small trait, chosen when [`crate::Auth`]
//! is built, with every key derived then. A value that does not decode is a
//! [`Miss`], never an error response.

mod compact;
mod jwe;
mod jwt;
mod memo;
mod payload;

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use compact::Compact;
pub(crate) use jwe::TOLERANCE_SECS as JWE_TOLERANCE_SECS;
pub use jwe::{thumbprint, Jwe, ACCOUNT_SALT, SESSION_SALT};
pub use jwt::Jwt;
pub(crate) use memo::Entry;
pub use memo::DEFAULT_MEMO_BYTES;
pub(crate) use payload::coerce_string;
pub use payload::{CachePayload, CachedSession, Miss, Opened, TimeWindow};

use crate::store::{Session, User};
use crate::Timestamp;

/// Encodes and decodes `session_data` values for one strategy.
pub trait CacheCodec: Send + Sync + 'static {
    /// The cookie value for `payload`, written at `now`; `max_age` is the
    /// cookie's Max-Age (`None` for a browser-session cookie, when the
    /// strategy's own fallback lifetime applies).
    fn encode(&self, payload: &CachePayload<'_>, now: Timestamp, max_age: Option<u64>) -> String;
    /// Verifies and reads a value, leaving the clock checks to the
    /// returned [`TimeWindow`]. `now` only stands in for a date the payload
    /// lacks (zod's defaults), which [`Opened::clock_defaults`] reports.
    /// Any failure is a [`Miss`].
    fn open(&self, value: &str, now: Timestamp) -> Result<Opened, Miss>;
    /// Verifies and reads a value valid at `now`. Any failure is a [`Miss`].
    fn decode(&self, value: &str, now: Timestamp) -> Result<CachedSession, Miss> {
        let opened = self.open(value, now)?;
        opened.window.check(now)?;
        Ok(opened.session)
    }
}

/// The cache keys could not be set up (the crypto backend refused a key).
#[derive(Debug, thiserror::Error)]
#[error("cookie cache key setup failed")]
pub struct KeySetupError(#[source] Box<dyn std::error::Error + Send + Sync>);

impl KeySetupError {
    pub(crate) fn new(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        KeySetupError(Box::new(e))
    }
}

/// How the cache is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CacheStrategy {
    /// base64url JSON signed with HMAC-SHA256 (better-auth's default).
    Compact,
    /// An HS256 JWT.
    Jwt,
    /// A `dir`/`A256CBC-HS512` JWE (the stateless default).
    Jwe,
}

impl CacheStrategy {
    /// `compact`, `jwt` or `jwe`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "compact" => Some(CacheStrategy::Compact),
            "jwt" => Some(CacheStrategy::Jwt),
            "jwe" => Some(CacheStrategy::Jwe),
            _ => None,
        }
    }
}

impl fmt::Display for CacheStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CacheStrategy::Compact => "compact",
            CacheStrategy::Jwt => "jwt",
            CacheStrategy::Jwe => "jwe",
        })
    }
}

/// A boxed future, for [`VersionFn`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A cache version computed per session, e.g. per user (spec §2.6).
pub type VersionFn = dyn for<'a> Fn(&'a Session, &'a User) -> BoxFuture<'a, String> + Send + Sync;

/// `cookieCache.version`: a string, or an async function of the session
/// and user. A cache written under another version is a miss.
#[derive(Clone)]
pub enum CacheVersion {
    /// The same version for everyone.
    Static(String),
    /// A version per session/user (both from the cache on read).
    PerSession(Arc<VersionFn>),
}

impl fmt::Debug for CacheVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheVersion::Static(v) => f.debug_tuple("Static").field(v).finish(),
            CacheVersion::PerSession(_) => f.write_str("PerSession(..)"),
        }
    }
}

impl Default for CacheVersion {
    fn default() -> Self {
        CacheVersion::Static("1".to_owned())
    }
}

impl CacheVersion {
    /// The version for a session.
    pub async fn for_session(&self, session: &Session, user: &User) -> Cow<'_, str> {
        match self {
            CacheVersion::Static(v) => Cow::Borrowed(v),
            CacheVersion::PerSession(f) => Cow::Owned(f(session, user).await),
        }
    }
}

/// `cookieCache.refreshCache` (spec §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshCache {
    /// Never re-issue a cache hit.
    Off,
    /// Re-issue once less than 20 % of `maxAge` remains.
    On,
    /// Re-issue once less than this many seconds remain.
    UpdateAge(u64),
}

/// `session.cookieCache`. `None` fields take better-auth's defaults, which
/// differ in stateless mode (spec §2.1, §4.1): user values always win.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct CookieCacheOptions {
    /// Whether the cache is on (default off; on in stateless mode).
    pub enabled: Option<bool>,
    /// Cache lifetime in seconds (default 300; `expiresIn` in stateless mode).
    pub max_age: Option<u64>,
    /// Encoding (default `compact`; `jwe` in stateless mode).
    pub strategy: Option<CacheStrategy>,
    /// Version (default `"1"`).
    pub version: Option<CacheVersion>,
    /// Refresh on hit (default off; on in stateless mode; forced off with a
    /// database or secondary storage).
    pub refresh_cache: Option<RefreshCache>,
    /// Bytes of memory for remembering opened cache values, so a client
    /// repeating its cookie is verified and decoded once (default
    /// [`DEFAULT_MEMO_BYTES`]; `0` turns it off). Outcomes are the same
    /// either way: clock and session checks run on every request.
    pub memo_bytes: Option<u64>,
}

/// The cookie cache as resolved when [`crate::Auth`] is built.
#[derive(Clone)]
pub struct SessionCache {
    /// Whether the cache is used at all.
    pub enabled: bool,
    /// Lifetime of the cache cookie, seconds.
    pub max_age: u64,
    /// Encoding.
    pub strategy: CacheStrategy,
    /// Version.
    pub version: CacheVersion,
    /// Seconds before the cache's expiry within which a hit is re-issued
    /// (`None`: never).
    pub refresh_update_age: Option<u64>,
    pub(crate) codec: Arc<dyn CacheCodec>,
    memo: Option<Arc<memo::OpenMemo>>,
}

impl fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCache")
            .field("enabled", &self.enabled)
            .field("max_age", &self.max_age)
            .field("strategy", &self.strategy)
            .field("version", &self.version)
            .field("refresh_update_age", &self.refresh_update_age)
            .field("memo", &self.memo)
            .finish()
    }
}

impl SessionCache {
    /// A cache with these settings, its codec keyed with `secrets`; it
    /// opens every value on every request until given a memo with
    /// [`SessionCache::with_memo_bytes`] (an [`crate::Auth`] gives it
    /// [`CookieCacheOptions::memo_bytes`]).
    pub fn new(
        strategy: CacheStrategy,
        secrets: &crate::Secrets,
        max_age: u64,
        version: CacheVersion,
        refresh_update_age: Option<u64>,
    ) -> Result<Self, KeySetupError> {
        Ok(SessionCache {
            enabled: true,
            max_age,
            strategy,
            version,
            refresh_update_age,
            codec: Self::codec_for(strategy, secrets)?,
            memo: None,
        })
    }

    /// The same cache remembering opened values within about `bytes` of
    /// memory; `0` opens every value on every request.
    #[must_use]
    pub fn with_memo_bytes(mut self, bytes: u64) -> Self {
        self.memo = (bytes > 0).then(|| Arc::new(memo::OpenMemo::new(bytes)));
        self
    }

    /// The codec of a strategy, keyed with `secrets`.
    pub fn codec_for(
        strategy: CacheStrategy,
        secrets: &crate::Secrets,
    ) -> Result<Arc<dyn CacheCodec>, KeySetupError> {
        Ok(match strategy {
            CacheStrategy::Compact => Arc::new(Compact::new(secrets.clone())),
            CacheStrategy::Jwt => Arc::new(Jwt::new(secrets)),
            CacheStrategy::Jwe => Arc::new(Jwe::new(secrets, SESSION_SALT)?),
        })
    }

    /// Decodes a `session_data` value valid at `now` with the configured
    /// strategy.
    pub fn decode(&self, value: &str, now: Timestamp) -> Result<CachedSession, Miss> {
        self.decode_shared(value, now)
            .map(|entry| entry.opened.session.clone())
    }

    /// [`SessionCache::decode`], through the memo when there is one.
    pub(crate) fn decode_shared(
        &self,
        value: &str,
        now: Timestamp,
    ) -> Result<Arc<memo::Entry>, Miss> {
        let entry = match &self.memo {
            Some(memo) => memo.open(&*self.codec, value, now)?,
            None => Arc::new(memo::Entry::new(self.codec.open(value, now)?)),
        };
        Self::in_window(entry, now)
    }

    /// What the memo remembers of `value`, not yet checked against the
    /// clock ([`SessionCache::in_window`]); `None` without a memo.
    pub(crate) fn recall(&self, value: &str) -> Option<Arc<memo::Entry>> {
        self.memo.as_ref()?.recall(value)
    }

    /// `entry` if its value is valid at `now` (`exp`, `nbf`).
    pub(crate) fn in_window(
        entry: Arc<memo::Entry>,
        now: Timestamp,
    ) -> Result<Arc<memo::Entry>, Miss> {
        entry.opened.window.check(now)?;
        Ok(entry)
    }

    /// Encodes a value as `setCookieCache` does (spec §2.2).
    pub fn encode(
        &self,
        session: &Session,
        user: &User,
        version: &str,
        now: Timestamp,
        max_age: Option<u64>,
    ) -> String {
        let payload = CachePayload {
            session,
            user,
            updated_at: now.as_millis(),
            version,
        };
        self.codec.encode(&payload, now, max_age)
    }
}
