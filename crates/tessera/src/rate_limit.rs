//! better-auth's rate limiter (spec §11.1): per client IP and path, in
//! memory or in secondary storage.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use http::{HeaderValue, StatusCode};

use crate::api::ApiError;
use crate::options::{RateLimitOptions, RateLimitRule};
use crate::store::SecondaryStorage;
use crate::Timestamp;

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

impl Limited {
    /// better-auth's 429: `{"message":"Too many requests. Please try again later."}`
    /// with `X-Retry-After`.
    pub fn into_response(self) -> http::Response<bytes::Bytes> {
        let mut res = ApiError::message_only(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests. Please try again later.",
        )
        .into_response();
        res.headers_mut()
            .insert("x-retry-after", HeaderValue::from(self.retry_after));
        res
    }
}

/// Where counters live.
enum Counters {
    Memory(DashMap<String, (u64, Timestamp)>),
    Storage(Arc<dyn SecondaryStorage>),
}

/// The limiter of one [`crate::Auth`].
pub struct RateLimiter {
    enabled: bool,
    options: RateLimitOptions,
    plugin_rules: Vec<(String, Option<RateLimitRule>)>,
    counters: Counters,
    warned_no_ip: AtomicBool,
    writes: AtomicU64,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A limiter; counters go to `storage` when given, else to memory.
    pub fn new(
        enabled: bool,
        options: RateLimitOptions,
        plugin_rules: Vec<(String, Option<RateLimitRule>)>,
        storage: Option<Arc<dyn SecondaryStorage>>,
    ) -> Self {
        RateLimiter {
            enabled,
            options,
            plugin_rules,
            counters: match storage {
                Some(s) => Counters::Storage(s),
                None => Counters::Memory(DashMap::new()),
            },
            warned_no_ip: AtomicBool::new(false),
            writes: AtomicU64::new(0),
        }
    }

    /// Whether limiting is on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The rule for a path (relative to the base path): user rules, then
    /// plugin rules, then the built-in special rules, then the default.
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

    /// Counts one request; `Err` when it must be refused. A storage failure
    /// lets the request through (and is logged): limiting is protection, not
    /// a reason to take the service down.
    pub async fn check(&self, ip: Option<&str>, path: &str, now: Timestamp) -> Result<(), Limited> {
        if !self.enabled {
            return Ok(());
        }
        let Some(rule) = self.rule_for(path) else {
            return Ok(());
        };
        let ip = match ip {
            Some(ip) => ip,
            None => {
                if !self.warned_no_ip.swap(true, Ordering::Relaxed) {
                    tracing::warn!("rate limiting without a client IP: requests share one bucket; configure ip headers");
                }
                "no-trusted-ip"
            }
        };
        let key = format!("{ip}|{path}");
        match &self.counters {
            Counters::Memory(map) => self.check_memory(map, key, rule, now),
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

    fn check_memory(
        &self,
        map: &DashMap<String, (u64, Timestamp)>,
        key: String,
        rule: RateLimitRule,
        now: Timestamp,
    ) -> Result<(), Limited> {
        let window_ms = i64::try_from(rule.window.saturating_mul(1000)).unwrap_or(i64::MAX);
        let mut entry = map.entry(key).or_insert((0, now));
        let (count, last) = *entry;
        let result = if count == 0 || now.as_millis() - last.as_millis() > window_ms {
            *entry = (1, now);
            Ok(())
        } else if count >= rule.max {
            let wait_ms = last.as_millis() + window_ms - now.as_millis();
            Err(Limited {
                retry_after: u64::try_from(wait_ms.max(0)).unwrap_or(0).div_ceil(1000),
            })
        } else {
            *entry = (count + 1, now);
            Ok(())
        };
        drop(entry);
        if self.writes.fetch_add(1, Ordering::Relaxed) % 8192 == 8191 {
            let horizon = now.as_millis() - 3_600_000;
            map.retain(|_, (_, last)| last.as_millis() > horizon);
        }
        result
    }
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
            l.check(Some("1.2.3.4"), "/sign-in/email", t).await.unwrap();
        }
        let refused = l
            .check(Some("1.2.3.4"), "/sign-in/email", t.plus_millis(2_500))
            .await
            .unwrap_err();
        assert_eq!(refused.retry_after, 8);
        // Another client is not affected.
        l.check(Some("5.6.7.8"), "/sign-in/email", t).await.unwrap();
        // After the window the bucket resets.
        l.check(Some("1.2.3.4"), "/sign-in/email", t.plus_secs(11))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn custom_rule_can_disable_a_path() {
        let mut options = RateLimitOptions::default();
        options.custom_rules.insert("/sign-in/email".into(), None);
        let l = RateLimiter::new(true, options, Vec::new(), None);
        let t = Timestamp::from_millis(0);
        for _ in 0..10 {
            l.check(Some("1.2.3.4"), "/sign-in/email", t).await.unwrap();
        }
    }

    #[tokio::test]
    async fn secondary_storage_counters() {
        let storage = Arc::new(crate::store::MemorySecondaryStorage::new());
        let l = RateLimiter::new(true, RateLimitOptions::default(), Vec::new(), Some(storage));
        let t = Timestamp::from_millis(0);
        for _ in 0..3 {
            l.check(Some("1.2.3.4"), "/sign-up/email", t).await.unwrap();
        }
        assert_eq!(
            l.check(Some("1.2.3.4"), "/sign-up/email", t)
                .await
                .unwrap_err(),
            Limited { retry_after: 10 }
        );
    }
}
