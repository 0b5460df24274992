//! Each provider's current key set, shared by every verification: fetched
//! on first use, refreshed when old, refetched on an unknown key at most
//! once per interval.
//!
//! Readers take a `std::sync::RwLock` only to clone an `Arc` (never across
//! an `.await`). Fetches go through one `tokio::sync::Mutex` per provider,
//! held across the request: tasks that find the set missing or stale while
//! a fetch is in flight wait for it and take its outcome instead of
//! fetching again. That lock is taken by nothing else and nothing is
//! locked while waiting for it, so it cannot deadlock; a waiter whose
//! future is dropped simply leaves the queue.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::ACCEPT;
use http::Request;

use super::jwks::{Jwks, JwksError};
use crate::oauth::{HttpClient, HttpClientError};
use crate::Timestamp;

/// Key sets by `jwks_uri`, with their refresh policy.
///
/// ```
/// use std::time::Duration;
/// use tessera::oauth::JwksCache;
///
/// let cache = JwksCache::new()
///     .with_max_age(Duration::from_secs(3600))
///     .with_min_refetch_interval(Duration::from_secs(60));
/// # let _ = cache;
/// ```
#[derive(Debug)]
pub struct JwksCache {
    providers: RwLock<HashMap<String, Arc<Provider>>>,
    max_age_ms: i64,
    min_refetch_interval_ms: i64,
}

impl Default for JwksCache {
    fn default() -> Self {
        JwksCache::new()
    }
}

/// One provider's key set and what is known about its fetches.
#[derive(Debug, Default)]
struct Provider {
    state: RwLock<State>,
    /// Held by the one task fetching; see the module docs.
    fetch: tokio::sync::Mutex<()>,
}

#[derive(Clone, Debug, Default)]
struct State {
    keys: Option<Arc<Jwks>>,
    fetched_at: Timestamp,
    /// Fetches completed (or sets inserted): a task compares the count it
    /// saw before waiting with the count after, to share a fetch that
    /// finished meanwhile.
    fetches: u64,
    last_fetch: Option<Timestamp>,
    last_failed: bool,
}

/// Why a provider's key set is being fetched.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Refetch {
    /// None held yet, or older than the maximum age.
    Stale,
    /// A token names a key the held set lacks: at most once per interval.
    UnknownKey,
}

/// What a provider's entry held when a task looked.
pub(super) struct Seen {
    provider: Arc<Provider>,
    pub(super) keys: Option<Arc<Jwks>>,
    fetches: u64,
}

impl JwksCache {
    /// How long a key set is used before it is fetched again: 10 minutes,
    /// the `cacheMaxAge` of jose's `createRemoteJWKSet` that better-auth
    /// verifies ID tokens with.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(600);
    /// The least time between two fetches caused by unknown keys: 30
    /// seconds, jose's `cooldownDuration`.
    pub const DEFAULT_MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(30);

    /// An empty cache with the default policy.
    pub fn new() -> Self {
        JwksCache {
            providers: RwLock::default(),
            max_age_ms: millis(Self::DEFAULT_MAX_AGE),
            min_refetch_interval_ms: millis(Self::DEFAULT_MIN_REFETCH_INTERVAL),
        }
    }

    /// Fetches a provider's set again once it is `max_age` old. When that
    /// fetch fails, verifications fail with it, as jose's do: a set is not
    /// used past its maximum age.
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age_ms = millis(max_age);
        self
    }

    /// Refetches for an unknown key at most once per `interval` (counted
    /// from the last fetch, whether it succeeded or not), so that tokens
    /// naming random `kid`s cannot make the kernel hammer the provider.
    pub fn with_min_refetch_interval(mut self, interval: Duration) -> Self {
        self.min_refetch_interval_ms = millis(interval);
        self
    }

    /// Uses `jwks` as the set at `jwks_uri`, as if fetched at `now`: for
    /// keys configured rather than fetched, and for tests.
    pub fn insert(&self, jwks_uri: &str, jwks: Jwks, now: Timestamp) {
        let provider = self.provider(jwks_uri);
        let mut state = write(&provider.state);
        state.keys = Some(Arc::new(jwks));
        state.fetched_at = now;
        state.fetches += 1;
        state.last_fetch = Some(now);
        state.last_failed = false;
    }

    /// The provider's current set at `now`, fetched through `client` when
    /// none is held or it is older than the maximum age.
    pub async fn key_set(
        &self,
        client: &dyn HttpClient,
        jwks_uri: &str,
        now: Timestamp,
    ) -> Result<Arc<Jwks>, JwksFetchError> {
        let seen = self.look(jwks_uri, now);
        match &seen.keys {
            Some(keys) => Ok(keys.clone()),
            None => self
                .refetch(client, jwks_uri, &seen, now, Refetch::Stale)
                .await?
                .ok_or(JwksFetchError::ConcurrentFailure),
        }
    }

    /// The provider's entry and its set when fresh at `now`.
    pub(super) fn look(&self, jwks_uri: &str, now: Timestamp) -> Seen {
        let provider = self.provider(jwks_uri);
        let (keys, fetches) = {
            let state = read(&provider.state);
            let fresh = within(now, state.fetched_at, self.max_age_ms);
            (state.keys.clone().filter(|_| fresh), state.fetches)
        };
        Seen {
            provider,
            keys,
            fetches,
        }
    }

    /// Fetches the set again, unless a fetch finished since `seen` (then
    /// its outcome), or, for an unknown key, one was made within the
    /// minimum interval (then `None`).
    pub(super) async fn refetch(
        &self,
        client: &dyn HttpClient,
        jwks_uri: &str,
        seen: &Seen,
        now: Timestamp,
        why: Refetch,
    ) -> Result<Option<Arc<Jwks>>, JwksFetchError> {
        let provider = &seen.provider;
        let _fetching = provider.fetch.lock().await;
        {
            let state = read(&provider.state);
            if state.fetches != seen.fetches {
                if state.last_failed {
                    return Err(JwksFetchError::ConcurrentFailure);
                }
                return Ok(state.keys.clone());
            }
            let cooling = state
                .last_fetch
                .is_some_and(|at| within(now, at, self.min_refetch_interval_ms));
            if why == Refetch::UnknownKey && cooling {
                return Ok(None);
            }
        }
        let fetched = fetch(client, jwks_uri).await;
        let mut state = write(&provider.state);
        state.fetches += 1;
        state.last_fetch = Some(now);
        state.last_failed = fetched.is_err();
        let keys = Arc::new(fetched?);
        state.keys = Some(keys.clone());
        state.fetched_at = now;
        Ok(Some(keys))
    }

    fn provider(&self, jwks_uri: &str) -> Arc<Provider> {
        if let Some(provider) = read(&self.providers).get(jwks_uri) {
            return provider.clone();
        }
        write(&self.providers)
            .entry(jwks_uri.to_owned())
            .or_default()
            .clone()
    }
}

/// GETs the key set document and reads it.
async fn fetch(client: &dyn HttpClient, jwks_uri: &str) -> Result<Jwks, JwksFetchError> {
    let request = Request::get(jwks_uri)
        .header(ACCEPT, "application/json")
        .body(Bytes::new())
        .map_err(JwksFetchError::InvalidUri)?;
    let response = client.send(request).await.map_err(JwksFetchError::Http)?;
    if !response.status().is_success() {
        return Err(JwksFetchError::Status {
            status: response.status().as_u16(),
        });
    }
    Jwks::from_json(response.body()).map_err(JwksFetchError::Invalid)
}

/// Whether `now` is less than `span_ms` from `at`, either way. Concurrent
/// verifications may pass instants slightly out of order, which must not
/// count as old; a clock set back by more than the span refreshes rather
/// than trusting the set until it catches up.
fn within(now: Timestamp, at: Timestamp, span_ms: i64) -> bool {
    now.as_millis().abs_diff(at.as_millis()) < span_ms.unsigned_abs()
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// Why a provider's key set could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwksFetchError {
    /// The `jwks_uri` cannot be requested.
    #[error("the jwks_uri is not a valid request URI")]
    InvalidUri(#[source] http::Error),
    /// The request got no response.
    #[error("the request for the key set failed")]
    Http(#[source] HttpClientError),
    /// The provider answered with a status other than 2xx.
    #[error("the provider answered the key set request with status {status}")]
    Status {
        /// The status code.
        status: u16,
    },
    /// The response is not a usable key set.
    #[error("the provider's key set is unusable")]
    Invalid(#[source] JwksError),
    /// Another task's fetch of this key set, which this one waited for,
    /// failed (that task has the cause).
    #[error("a concurrent fetch of the key set failed")]
    ConcurrentFailure,
}
