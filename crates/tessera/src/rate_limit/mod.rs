//! better-auth's rate limiter (spec §11.1): per client IP and matched
//! route, in bounded memory or in secondary storage; and the per-account
//! throttle of failed sign-ins ([`AccountThrottle`]), which better-auth
//! does not have.
//!
//! Keys are `{ip}|{route}`: the client IP as [`crate::ip`] resolves it
//! (IPv6 masked to its /64), and the path of the route the request
//! matched, or [`UNROUTED`] for every request that matches none (it is
//! answered 404 anyway), so clients cannot make keys up by inventing paths.
//! In memory at most [`RateLimitOptions::memory_capacity`] keys are kept,
//! so unique addresses cannot grow it either; in secondary storage keys
//! expire with their window.

mod account;
mod counters;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use account::AccountThrottle;
use counters::{BoundedCounters, Window};

use crate::options::{RateLimitOptions, RateLimitRule};
use crate::store::SecondaryStorage;
use crate::Timestamp;

/// The route part of the key of requests that match no route: they all
/// share one bucket per client (and its rule is the default one, or a
/// catch-all `/*` rule). Not a path, so no route can collide with it.
pub const UNROUTED: &str = "(unrouted)";

/// Built-in rules: sign-in and sign-up and the like are limited to 3 per 10 s.
const STRICT_PREFIXES: [&str; 4] = ["/sign-in", "/sign-up", "/change-password", "/change-email"];
/// Email-sending paths: 3 per 60 s.
const EMAIL_PATHS: [&str; 5] = [
    "/request-password-reset",
    "/send-verification-email",
    "/forget-password",
    "/email-otp/send-verification-otp",
    "/email-otp/request-password-reset",
];

/// A request refused by the limiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limited {
    /// Seconds until the client may retry.
    pub retry_after: u64,
}

/// Where counters live.
enum Counters {
    Memory(BoundedCounters<String>),
    Storage(Arc<dyn SecondaryStorage>),
}

/// The limiter of one [`crate::Auth`].
pub(crate) struct RateLimiter {
    enabled: bool,
    options: RateLimitOptions,
    plugin_rules: Vec<(String, Option<RateLimitRule>)>,
    counters: Counters,
    warned_no_ip: AtomicBool,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A limiter; counters go to `storage` when given, else to memory
    /// (at most `options.memory_capacity` keys).
    pub fn new(
        enabled: bool,
        options: RateLimitOptions,
        plugin_rules: Vec<(String, Option<RateLimitRule>)>,
        storage: Option<Arc<dyn SecondaryStorage>>,
    ) -> Self {
        RateLimiter {
            enabled,
            counters: match storage {
                Some(s) => Counters::Storage(s),
                None => Counters::Memory(BoundedCounters::new(options.memory_capacity)),
            },
            options,
            plugin_rules,
            warned_no_ip: AtomicBool::new(false),
        }
    }

    /// Whether limiting is on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The rule for a route path (relative to the base path) or
    /// [`UNROUTED`]: user rules, then plugin rules, then the built-in
    /// special rules, then the default.
    pub fn rule_for(&self, path: &str) -> Option<RateLimitRule> {
        if let Some(rule) = self.options.custom_rules.get(path) {
            return *rule;
        }
        for (pattern, rule) in &self.options.custom_rules {
            if let Some(prefix) = pattern.strip_suffix("/*") {
                if path.starts_with(prefix) {
                    return *rule;
                }
            }
        }
        for (pattern, rule) in &self.plugin_rules {
            if matches_rule(pattern, path) {
                return *rule;
            }
        }
        if STRICT_PREFIXES.iter().any(|p| path.starts_with(p)) {
            return Some(RateLimitRule { window: 10, max: 3 });
        }
        if EMAIL_PATHS.iter().any(|p| path.starts_with(p)) {
            return Some(RateLimitRule { window: 60, max: 3 });
        }
        Some(self.options.default_rule)
    }

    /// Counts one request from `ip` to `route` (the matched route's path,
    /// `None` when it matched none); `Err` when it must be refused. A
    /// storage failure lets the request through (and is logged): limiting
    /// is protection, not a reason to take the service down.
    pub async fn check(
        &self,
        ip: Option<&str>,
        route: Option<&str>,
        now: Timestamp,
    ) -> Result<(), Limited> {
        if !self.enabled {
            return Ok(());
        }
        let route = route.unwrap_or(UNROUTED);
        let Some(rule) = self.rule_for(route) else {
            return Ok(());
        };
        let ip = match ip {
            Some(ip) => ip,
            None => {
                if !self.warned_no_ip.swap(true, Ordering::Relaxed) {
                    tracing::warn!("rate limiting without a client IP: requests share one bucket; pass the socket peer (ClientAddr) and configure trusted proxies");
                }
                "no-trusted-ip"
            }
        };
        let key = format!("{ip}|{route}");
        match &self.counters {
            Counters::Memory(counters) => check_memory(counters, &key, rule, now),
            Counters::Storage(storage) => {
                match storage
                    .increment(&key, Duration::from_secs(rule.window))
                    .await
                {
                    Ok(n) if n <= rule.max => Ok(()),
                    Ok(_) => Err(Limited {
                        retry_after: rule.window,
                    }),
                    Err(e) => {
                        tracing::error!(error = %e, "rate-limit counter unavailable; request allowed");
                        Ok(())
                    }
                }
            }
        }
    }

    /// How many keys the in-memory counters hold, and the most they can
    /// (`(0, 0)` with secondary storage).
    #[cfg(test)]
    pub(crate) fn memory_keys(&self) -> (usize, usize) {
        match &self.counters {
            Counters::Memory(counters) => (counters.len(), counters.limit()),
            Counters::Storage(_) => (0, 0),
        }
    }
}

/// better-auth's memory rule: a window restarts when `window` seconds have
/// passed since the last request it allowed; refusals change nothing.
fn check_memory(
    counters: &BoundedCounters<String>,
    key: &str,
    rule: RateLimitRule,
    now: Timestamp,
) -> Result<(), Limited> {
    let window_ms = i64::try_from(rule.window.saturating_mul(1000)).unwrap_or(i64::MAX);
    let now = now.as_millis();
    counters.update(key, |w| {
        if w.count == 0 || now.saturating_sub(w.at_ms) >= window_ms {
            *w = Window {
                count: 1,
                at_ms: now,
            };
            Ok(())
        } else if w.count >= rule.max {
            let wait_ms = w.at_ms.saturating_add(window_ms).saturating_sub(now);
            Err(Limited {
                retry_after: u64::try_from(wait_ms.max(0)).unwrap_or(0).div_ceil(1000),
            })
        } else {
            *w = Window {
                count: w.count + 1,
                at_ms: now,
            };
            Ok(())
        }
    })
}

/// The option that cannot work, and why, if one cannot.
pub(crate) fn invalid_option(options: &RateLimitOptions) -> Option<(&'static str, String)> {
    if options.memory_capacity == 0 {
        return Some((
            "rate_limit.memory_capacity",
            "must be at least 1 (turn rate limiting off instead)".to_owned(),
        ));
    }
    let per_account = &options.per_account;
    if per_account.max_failures == 0 || per_account.window == 0 {
        return Some((
            "rate_limit.per_account",
            "max_failures and window must be at least 1 (set enabled to Some(false) to turn it off)"
                .to_owned(),
        ));
    }
    None
}

fn matches_rule(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix("/*") {
        Some(prefix) => path.starts_with(prefix),
        None => pattern == path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> RateLimiter {
        RateLimiter::new(true, RateLimitOptions::default(), Vec::new(), None)
    }

    #[tokio::test]
    async fn sign_in_allows_three_per_ten_seconds() {
        let l = limiter();
        let t = Timestamp::from_millis(1_000_000);
        for _ in 0..3 {
            l.check(Some("1.2.3.4"), Some("/sign-in/email"), t)
                .await
                .unwrap();
        }
        let refused = l
            .check(
                Some("1.2.3.4"),
                Some("/sign-in/email"),
                t.plus_millis(2_500),
            )
            .await
            .unwrap_err();
        assert_eq!(refused.retry_after, 8);
        // Another client is not affected.
        l.check(Some("5.6.7.8"), Some("/sign-in/email"), t)
            .await
            .unwrap();
        // After the window the bucket resets.
        l.check(Some("1.2.3.4"), Some("/sign-in/email"), t.plus_secs(11))
            .await
            .unwrap();
    }

    /// Through the whole pipeline, with the socket peer an adapter passes.
    #[tokio::test]
    async fn unique_paths_and_clients_never_grow_memory_past_its_capacity() {
        use std::net::{IpAddr, Ipv6Addr};

        let mut options = crate::Options::new()
            .secret("rate-limit-test-secret-0123456789-abcdefghij")
            .rate_limit(true);
        options.rate_limit.memory_capacity = 1_000;
        let auth = crate::Auth::builder(options).build().unwrap();
        let made_up = |i: u32| {
            http::Request::get(format!("/api/auth/made-up/{i}"))
                .body(bytes::Bytes::new())
                .unwrap()
        };
        let one = crate::ClientAddr("198.51.100.4".parse().unwrap());
        for i in 0..5_000 {
            auth.handle_from(made_up(i), Some(one)).await;
        }
        let limiter = &auth.inner.rate_limiter;
        assert_eq!(limiter.memory_keys().0, 1, "made-up paths share one key");
        for i in 0..20_000 {
            // A new /64 per request, as an IPv6 attacker can have.
            let ip = Ipv6Addr::new(0x2001, 0xdb8, (i >> 16) as u16, i as u16, 0, 0, 0, 1);
            let peer = crate::ClientAddr(IpAddr::V6(ip));
            auth.handle_from(made_up(i), Some(peer)).await;
            let (held, limit) = limiter.memory_keys();
            assert!(held <= limit, "{held} keys after {i} clients");
        }
        assert!(limiter.memory_keys().1 < 1_000 + 64);
    }

    #[tokio::test]
    async fn custom_rule_can_disable_a_path() {
        let mut options = RateLimitOptions::default();
        options.custom_rules.insert("/sign-in/email".into(), None);
        let l = RateLimiter::new(true, options, Vec::new(), None);
        let t = Timestamp::from_millis(0);
        for _ in 0..10 {
            l.check(Some("1.2.3.4"), Some("/sign-in/email"), t)
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn secondary_storage_counters() {
        let storage = Arc::new(crate::store::MemorySecondaryStorage::new());
        let l = RateLimiter::new(true, RateLimitOptions::default(), Vec::new(), Some(storage));
        let t = Timestamp::from_millis(0);
        for _ in 0..3 {
            l.check(Some("1.2.3.4"), Some("/sign-up/email"), t)
                .await
                .unwrap();
        }
        assert_eq!(
            l.check(Some("1.2.3.4"), Some("/sign-up/email"), t)
                .await
                .unwrap_err(),
            Limited { retry_after: 10 }
        );
    }
}
