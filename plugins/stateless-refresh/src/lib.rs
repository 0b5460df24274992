//! `refreshCache` for Tessera (spec §3): in stateless mode, a cookie-cache
//! hit whose cache expires within `updateAge` is re-issued — a fresh
//! `session_data` and a re-signed `session_token` — without touching any
//! store. The session's own `expiresAt` is never extended, so a stateless
//! session still ends when it was created to end.
//!
//! The kernel turns this plugin on by itself in stateless mode when the
//! crate is linked (`refreshCache` defaults to on there), and never with a
//! database or secondary storage, as better-auth 1.7 does. Reference the
//! crate so the linker keeps its registration:
//!
//! ```
//! tessera_stateless_refresh::link();
//! let auth = tessera::Auth::builder(
//!     tessera::Options::new().secret("a-long-random-secret-of-at-least-32-characters!"),
//! )
//! .build()
//! .unwrap();
//! assert_eq!(auth.plugin_ids(), ["stateless-refresh"]);
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::sync::Arc;

use async_trait::async_trait;
use tessera::plugin::{CacheHit, CacheHitHook, Plugin, PluginRegistration};

/// The plugin's id.
pub const ID: &str = tessera::STATELESS_REFRESH_PLUGIN;

/// Re-issues cookie caches in their last `updateAge` seconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct StatelessRefresh;

impl Plugin for StatelessRefresh {
    fn id(&self) -> &'static str {
        ID
    }

    fn cache_hit_hook(&self) -> Option<Arc<dyn CacheHitHook>> {
        Some(Arc::new(*self))
    }
}

#[async_trait]
impl CacheHitHook for StatelessRefresh {
    async fn on_cache_hit(&self, hit: &mut CacheHit<'_>) {
        let Some(update_age) = hit.cache().refresh_update_age else {
            return;
        };
        if hit.skip_refresh() {
            return;
        }
        let remaining_ms = hit.cached().expires_at.as_millis() - hit.now().as_millis();
        let window_ms = i64::try_from(update_age.saturating_mul(1000)).unwrap_or(i64::MAX);
        if remaining_ms < window_ms {
            hit.reissue().await;
        }
    }
}

inventory::submit! {
    PluginRegistration {
        id: ID,
        crate_name: env!("CARGO_PKG_NAME"),
        create: || Arc::new(StatelessRefresh),
    }
}

/// Keeps this crate, and so its registration, in the final binary. Call it
/// once (anywhere) from a binary that enables the plugin by id.
#[inline(never)]
pub fn link() {
    std::hint::black_box(ID);
}
