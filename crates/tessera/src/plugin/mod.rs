//! Plugins: the trait a plugin crate implements, and the link-time registry
//! (`inventory`) that lets `tessera serve` enable plugins by id (spec §10).
//!
//! Two ways to register: explicitly on the builder
//! ([`crate::AuthBuilder::plugin`]), or by submitting a
//! [`PluginRegistration`] from the plugin crate and naming its id in the
//! options. A binary must reference the plugin crate (for instance by calling
//! its `link()` function), or the linker may drop it and its registration
//! with it.

use std::sync::Arc;

use async_trait::async_trait;

use crate::cache::CachedSession;
use crate::cookie::{CookieJar, RequestCookies};
use crate::{AuthInner, Timestamp};

/// A plugin. Every hook has a default that does nothing.
#[async_trait]
pub trait Plugin: Send + Sync + 'static {
    /// A unique id, e.g. `stateless-refresh`.
    fn id(&self) -> &'static str;

    /// Called on a valid cookie-cache hit (spec §6.4 step 7), before the
    /// cached session is returned. It may re-issue the cookies.
    async fn on_cache_hit(&self, hit: &mut CacheHit<'_>) {
        let _ = hit;
    }
}

/// A plugin submitted for link-time discovery:
/// `inventory::submit!(PluginRegistration { … })` in the plugin crate.
#[derive(Debug)]
pub struct PluginRegistration {
    /// The plugin's id.
    pub id: &'static str,
    /// The crate to add when the id is asked for but not linked.
    pub crate_name: &'static str,
    /// Makes the plugin with its defaults.
    pub create: fn() -> Arc<dyn Plugin>,
}

inventory::collect!(PluginRegistration);

/// Every plugin linked into this binary, sorted by id (a deterministic order).
pub fn registered() -> Vec<&'static PluginRegistration> {
    let mut all: Vec<&'static PluginRegistration> =
        inventory::iter::<PluginRegistration>.into_iter().collect();
    all.sort_by_key(|r| r.id);
    all
}

/// A linked plugin by id.
pub fn find(id: &str) -> Option<&'static PluginRegistration> {
    inventory::iter::<PluginRegistration>
        .into_iter()
        .find(|r| r.id == id)
}

/// A valid cookie-cache hit, as a plugin sees it.
pub struct CacheHit<'a> {
    pub(crate) auth: &'a AuthInner,
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
    pub fn cache(&self) -> &crate::cache::SessionCache {
        &self.auth.cache
    }

    /// Re-issues the cache and the signed session token from the cached
    /// session, with `updatedAt = now` (spec §3): a fresh `session_data`
    /// with Max-Age = `maxAge`, and `session_token` with Max-Age =
    /// `expiresIn` (none when the request carries `dont_remember`). The
    /// session's own `expiresAt` is not extended.
    pub async fn reissue(&mut self) {
        let data = &self.cached.data;
        self.auth
            .set_cookie_cache(self.jar, self.cookies, data, false, self.now)
            .await;
        let dont_remember = self.auth.has_dont_remember(self.cookies);
        self.auth
            .set_token_cookie(self.jar, &data.session.token, dont_remember);
    }
}
