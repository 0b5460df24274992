//! Per-account throttling of failed email sign-ins, beyond the per-IP
//! limit: an attacker with many addresses still gets only
//! [`AccountThrottleOptions::max_failures`] guesses per account per window.
//! better-auth 1.7.25 has no such limit.
//!
//! Attempts are counted when they start, before the account is looked up,
//! and a correct password clears the count; so the count is the failures
//! since the last success, concurrent guesses cannot all slip in before a
//! failure is recorded, and a known email and an unknown one are counted,
//! refused and timed alike (a refusal answers before any lookup or hash).
//! The window is fixed from the first counted attempt: refused attempts do
//! not prolong it.
//!
//! Keys are an HMAC of the normalised email under a key derived from the
//! current secret, so secondary storage (shared by every process) holds no
//! email addresses; rotating the secret starts every count afresh.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::counters::{BoundedCounters, Window};
use super::Limited;
use crate::options::AccountThrottleOptions;
use crate::store::SecondaryStorage;
use crate::{Secrets, Timestamp};

/// Domain separation for the key derived from the secret.
const KEY_LABEL: &[u8] = b"tessera/sign-in-throttle/v1";
/// Prefix of the counters' keys in secondary storage.
const STORAGE_PREFIX: &str = "tessera-sign-in-attempts:";

/// Where counts live.
enum Counters {
    Memory(BoundedCounters<[u8; 32]>),
    Storage(Arc<dyn SecondaryStorage>),
}

/// The per-account throttle of one [`crate::Auth`].
pub struct AccountThrottle {
    enabled: bool,
    options: AccountThrottleOptions,
    key: Hmac<Sha256>,
    counters: Counters,
}

impl std::fmt::Debug for AccountThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountThrottle")
            .field("enabled", &self.enabled)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl AccountThrottle {
    /// A throttle; counts go to `storage` when given (shared by every
    /// process using it), else to memory (at most `memory_capacity`
    /// accounts).
    pub fn new(
        enabled: bool,
        options: AccountThrottleOptions,
        memory_capacity: usize,
        secrets: &Secrets,
        storage: Option<Arc<dyn SecondaryStorage>>,
    ) -> Self {
        let mut derive = secrets.current().hmac();
        derive.update(KEY_LABEL);
        let key = Hmac::<Sha256>::new_from_slice(&derive.finalize().into_bytes())
            .expect("HMAC accepts keys of any length");
        AccountThrottle {
            enabled,
            options,
            key,
            counters: match storage {
                Some(s) => Counters::Storage(s),
                None => Counters::Memory(BoundedCounters::new(memory_capacity)),
            },
        }
    }

    /// Whether throttling is on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Counts a sign-in attempt for `email` (normalised: lowercased), to
    /// call before the account is looked up; `Err` when the account has
    /// used its failures for this window. A storage failure lets the
    /// attempt through (and is logged).
    pub async fn attempt(&self, email: &str, now: Timestamp) -> Result<(), Limited> {
        if !self.enabled {
            return Ok(());
        }
        let max = self.options.max_failures;
        let account = self.account_key(email);
        match &self.counters {
            Counters::Memory(counters) => {
                let window_ms =
                    i64::try_from(self.options.window.saturating_mul(1000)).unwrap_or(i64::MAX);
                let now = now.as_millis();
                counters.update(&account, |w| {
                    if w.count == 0 || now.saturating_sub(w.at_ms) >= window_ms {
                        *w = Window {
                            count: 1,
                            at_ms: now,
                        };
                    } else {
                        w.count = w.count.saturating_add(1);
                    }
                    if w.count <= max {
                        return Ok(());
                    }
                    let wait_ms = w.at_ms.saturating_add(window_ms).saturating_sub(now);
                    Err(Limited {
                        retry_after: u64::try_from(wait_ms.max(0)).unwrap_or(0).div_ceil(1000),
                    })
                })
            }
            Counters::Storage(storage) => {
                let key = storage_key(&account);
                let window = Duration::from_secs(self.options.window);
                match storage.increment(&key, window).await {
                    Ok(n) if n <= max => Ok(()),
                    // The key's remaining TTL is not known here: at most the window.
                    Ok(_) => Err(Limited {
                        retry_after: self.options.window,
                    }),
                    Err(e) => {
                        tracing::error!(error = %e, "sign-in attempt counter unavailable; attempt allowed");
                        Ok(())
                    }
                }
            }
        }
    }

    /// A correct password for `email`: its count starts again.
    pub async fn succeeded(&self, email: &str) {
        if !self.enabled {
            return;
        }
        let account = self.account_key(email);
        match &self.counters {
            Counters::Memory(counters) => counters.remove(&account),
            Counters::Storage(storage) => {
                if let Err(e) = storage.delete(&storage_key(&account)).await {
                    tracing::error!(error = %e, "sign-in attempt counter not cleared");
                }
            }
        }
    }

    /// How many accounts the in-memory counters hold, and the most they
    /// can (`(0, 0)` with secondary storage).
    pub fn memory_keys(&self) -> (usize, usize) {
        match &self.counters {
            Counters::Memory(counters) => (counters.len(), counters.limit()),
            Counters::Storage(_) => (0, 0),
        }
    }

    fn account_key(&self, email: &str) -> [u8; 32] {
        let mut mac = self.key.clone();
        mac.update(email.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

fn storage_key(account: &[u8; 32]) -> String {
    format!("{STORAGE_PREFIX}{}", hex::encode(account))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemorySecondaryStorage;

    const T0: i64 = 1_000_000;

    fn options() -> AccountThrottleOptions {
        AccountThrottleOptions {
            enabled: Some(true),
            max_failures: 3,
            window: 60,
        }
    }

    fn throttles() -> Vec<(&'static str, AccountThrottle)> {
        let secrets = Secrets::single("account-throttle-test-secret-0123456789");
        vec![
            (
                "memory",
                AccountThrottle::new(true, options(), 100, &secrets, None),
            ),
            (
                "storage",
                AccountThrottle::new(
                    true,
                    options(),
                    100,
                    &secrets,
                    Some(Arc::new(MemorySecondaryStorage::new())),
                ),
            ),
        ]
    }

    #[tokio::test]
    async fn an_account_is_refused_after_its_failures_until_the_window_ends() {
        for (kind, t) in throttles() {
            let at = |secs: i64| Timestamp::from_millis(T0 + secs * 1000);
            for s in 0..3 {
                t.attempt("ada@example.com", at(s)).await.unwrap();
            }
            let refused = t.attempt("ada@example.com", at(10)).await.unwrap_err();
            match kind {
                "memory" => assert_eq!(refused.retry_after, 50),
                _ => assert_eq!(refused.retry_after, 60),
            }
            // Another account is not affected.
            t.attempt("bob@example.com", at(10)).await.unwrap();
            if kind == "memory" {
                // Refusals do not prolong the window (storage: its TTL).
                t.attempt("ada@example.com", at(60)).await.unwrap();
            }
        }
    }

    #[tokio::test]
    async fn a_correct_password_clears_the_count() {
        for (kind, t) in throttles() {
            let now = Timestamp::from_millis(T0);
            for _ in 0..3 {
                t.attempt("ada@example.com", now).await.unwrap();
            }
            t.succeeded("ada@example.com").await;
            for _ in 0..3 {
                t.attempt("ada@example.com", now).await.expect(kind);
            }
            assert!(t.attempt("ada@example.com", now).await.is_err(), "{kind}");
        }
    }

    #[tokio::test]
    async fn storage_keys_hold_no_email() {
        let storage = Arc::new(MemorySecondaryStorage::new());
        let secrets = Secrets::single("account-throttle-test-secret-0123456789");
        let t = AccountThrottle::new(true, options(), 100, &secrets, Some(storage.clone()));
        t.attempt("ada@example.com", Timestamp::from_millis(T0))
            .await
            .unwrap();
        let key = storage_key(&t.account_key("ada@example.com"));
        assert_eq!(storage.get(&key).await.unwrap().as_deref(), Some("1"));
        assert!(!key.contains("ada"));
        // Another secret, another key.
        let other = AccountThrottle::new(
            true,
            options(),
            100,
            &Secrets::single("another-account-throttle-secret-0123456"),
            None,
        );
        assert_ne!(
            other.account_key("ada@example.com"),
            t.account_key("ada@example.com")
        );
    }

    #[tokio::test]
    async fn unique_emails_never_grow_memory_past_its_capacity() {
        let secrets = Secrets::single("account-throttle-test-secret-0123456789");
        let t = AccountThrottle::new(true, options(), 500, &secrets, None);
        let now = Timestamp::from_millis(T0);
        for i in 0..20_000 {
            t.attempt(&format!("user{i}@example.com"), now)
                .await
                .unwrap();
        }
        let (held, limit) = t.memory_keys();
        assert!(held <= limit && limit < 500 + 64, "{held} of {limit}");
    }

    #[tokio::test]
    async fn disabled_counts_nothing() {
        let secrets = Secrets::single("account-throttle-test-secret-0123456789");
        let t = AccountThrottle::new(false, options(), 100, &secrets, None);
        for _ in 0..10 {
            t.attempt("ada@example.com", Timestamp::from_millis(T0))
                .await
                .unwrap();
        }
        assert_eq!(t.memory_keys().0, 0);
    }
}
