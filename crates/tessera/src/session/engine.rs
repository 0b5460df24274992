//! The session engine: cookies, secrets, the cookie cache and the stores
//! together, behind the calls every caller shares — [`crate::Auth::session`]
//! for application routes, [`crate::Ctx`] for endpoints and hooks, and
//! cache-hit hooks. It knows nothing of HTTP statuses: what can go wrong is
//! a [`ResolveError`], which the HTTP layer maps to better-auth's codes.

use std::sync::Arc;

use async_trait::async_trait;

use super::Sessions;
use crate::cache::{CachedSession, SessionCache};
use crate::clock::Clock;
use crate::cookie::{sign_value, verify_value, AuthCookies, CookieJar, RequestCookies};
use crate::options::Options;
use crate::secret::Secrets;
use crate::store::StoreError;
use crate::Timestamp;

/// Why a session could not be resolved. Not an answer to a client: the HTTP
/// layer maps it (`From<ResolveError> for ApiError`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The session ended during this request (revoked between its read and
    /// its refresh): the request is signed out, and its cookies are
    /// already expired in the jar.
    #[error("the session ended while it was being refreshed")]
    Unauthorized,
    /// A store failed.
    #[error("session storage failed")]
    Storage(#[from] StoreError),
}

/// Sessions with their cookies: create, resolve, refresh, revoke (spec §6).
/// Built once with [`crate::Auth`]; every resolution of the kernel goes
/// through its one `resolve` call ([`crate::Auth::session`], [`crate::Ctx`]
/// and the cache-hit hook alike).
pub struct SessionEngine {
    pub(crate) options: Options,
    pub(crate) secrets: Secrets,
    pub(crate) cookies: AuthCookies,
    pub(crate) sessions: Sessions,
    pub(crate) cache: SessionCache,
    pub(crate) clock: Arc<dyn Clock>,
    /// No database and no secondary storage: better-auth's stateless mode (spec §4.1).
    pub(crate) stateless: bool,
    /// The plugins' cache-hit hooks, only those that have one.
    pub(crate) cache_hit_hooks: Vec<Arc<dyn CacheHitHook>>,
    /// Sign-out expires `account_data` (`account.storeAccountCookie` on).
    pub(crate) expire_account_data: bool,
    /// Sign-out expires `oauth_state` (the `cookie` state strategy).
    pub(crate) expire_oauth_state: bool,
}

impl std::fmt::Debug for SessionEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionEngine")
            .field("stateless", &self.stateless)
            .field("cache", &self.cache)
            .field("cache_hit_hooks", &self.cache_hit_hooks.len())
            .finish_non_exhaustive()
    }
}

impl SessionEngine {
    /// The configuration in force.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Session records over the configured stores.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// Cookie names and attributes.
    pub fn cookies(&self) -> &AuthCookies {
        &self.cookies
    }

    /// The cookie cache as resolved (defaults applied).
    pub fn cache(&self) -> &SessionCache {
        &self.cache
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Whether there is no database and no secondary storage (spec §4.1).
    pub fn is_stateless(&self) -> bool {
        self.stateless
    }

    /// Signs a cookie value with the current secret (better-call's format).
    pub fn sign(&self, value: &str) -> String {
        sign_value(&self.secrets, value)
    }

    /// Verifies a signed cookie value (already percent-decoded) against
    /// every secret in force.
    pub fn verify<'v>(&self, signed: &'v str) -> Option<&'v str> {
        verify_value(&self.secrets, signed)
    }
}

/// What a plugin does on a valid cookie-cache hit (spec §6.4 step 7),
/// before the cached session is returned: it may re-issue the cookies.
/// Returned by a plugin's `Plugin::cache_hit_hook`; a cache hit costs
/// nothing for plugins without one.
#[async_trait]
pub trait CacheHitHook: Send + Sync + 'static {
    /// Runs on the hit.
    async fn on_cache_hit(&self, hit: &mut CacheHit<'_>);
}

/// A valid cookie-cache hit, as a plugin sees it.
pub struct CacheHit<'a> {
    pub(crate) engine: &'a SessionEngine,
    pub(crate) cached: &'a CachedSession,
    pub(crate) cookies: &'a RequestCookies,
    pub(crate) jar: &'a mut CookieJar,
    pub(crate) now: Timestamp,
    pub(crate) skip_refresh: bool,
}

impl CacheHit<'_> {
    /// The decoded cache.
    pub fn cached(&self) -> &CachedSession {
        self.cached
    }

    /// "Now" for this request.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Whether this request asked not to refresh (`disableRefresh`).
    pub fn skip_refresh(&self) -> bool {
        self.skip_refresh
    }

    /// The resolved cache settings (`max_age`, `refresh_update_age`, …).
    pub fn cache(&self) -> &SessionCache {
        &self.engine.cache
    }

    /// Re-issues the cache and the signed session token from the cached
    /// session, with `updatedAt = now` (spec §3): a fresh `session_data`
    /// with Max-Age = `maxAge`, and `session_token` with Max-Age =
    /// `expiresIn` (none when the request carries `dont_remember`). The
    /// session's own `expiresAt` is not extended.
    pub async fn reissue(&mut self) {
        let data = &self.cached.data;
        let engine = self.engine;
        engine
            .set_cookie_cache(self.jar, self.cookies, data, false, self.now)
            .await;
        let dont_remember = engine.has_dont_remember(self.cookies);
        engine.set_token_cookie(self.jar, &data.session.token, dont_remember);
    }
}
