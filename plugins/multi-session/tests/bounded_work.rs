//! The store work a request's device cookies can cause is bounded by
//! `maximumSessions`, whatever the `Cookie` header holds: a device cookie
//! counts only under its own name, each token once, and no more than
//! `maximumSessions` of them, everywhere device cookies are enumerated.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use http::{Method, StatusCode};
use serde_json::json;
use tessera::store::{MemorySecondaryStorage, UpdateFn, Watermark};
use tessera::{SecondaryStorage, StoreError};
use tessera_multi_session::MultiSession;

const MAX: usize = 3;
const REPLAYS: usize = 100;

/// A secondary storage that records the key of every call.
struct CountingStorage {
    inner: MemorySecondaryStorage,
    keys: Mutex<Vec<String>>,
}

impl CountingStorage {
    fn record(&self, key: &str) {
        self.keys.lock().unwrap().push(key.to_owned());
    }

    /// How many calls touched one of `tokens` since the last call.
    fn take_calls_on(&self, tokens: &[String]) -> usize {
        std::mem::take(&mut *self.keys.lock().unwrap())
            .iter()
            .filter(|k| tokens.contains(k))
            .count()
    }

    /// At most `bound` calls touched one of `tokens` since the last call.
    fn assert_calls_on(&self, tokens: &[String], bound: usize, what: &str) {
        let calls = self.take_calls_on(tokens);
        assert!(
            calls <= bound,
            "{what}: {calls} store calls, more than {bound}"
        );
    }
}

#[async_trait]
impl SecondaryStorage for CountingStorage {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.record(key);
        self.inner.get(key).await
    }
    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), StoreError> {
        self.record(key);
        self.inner.set(key, value, ttl).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.record(key);
        self.inner.delete(key).await
    }
    async fn set_if_exists(
        &self,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.record(key);
        self.inner.set_if_exists(key, value, ttl).await
    }
    async fn get_session_record(
        &self,
        token: &str,
    ) -> Result<Option<(String, Watermark)>, StoreError> {
        self.record(token);
        self.inner.get_session_record(token).await
    }
    async fn get_and_delete(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.record(key);
        self.inner.get_and_delete(key).await
    }
    async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, StoreError> {
        self.record(key);
        self.inner.increment(key, ttl).await
    }
    async fn update(&self, key: &str, f: &UpdateFn<'_>) -> Result<(), StoreError> {
        self.record(key);
        self.inner.update(key, f).await
    }
}

fn harness() -> (Harness, Arc<CountingStorage>) {
    let storage = Arc::new(CountingStorage {
        inner: MemorySecondaryStorage::new(),
        keys: Mutex::new(Vec::new()),
    });
    let shared = storage.clone();
    let h = Harness::with(options(), ORIGIN, move |b| {
        b.plugin(Arc::new(MultiSession::with_maximum_sessions(MAX)))
            .secondary_storage(shared)
    });
    (h, storage)
}

/// `browser`'s cookies plus `extra` ones, sent once: the browser keeps
/// what the response sets, but not the extra cookies.
async fn send_with(
    browser: &mut Browser<'_>,
    extra: &[(String, String)],
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> TestResponse {
    let own = browser.cookies.len();
    browser.cookies.extend(extra.iter().cloned());
    let r = browser.send(method, path, body).await;
    let mut kept = browser.cookies.split_off(own);
    kept.retain(|c| !extra.contains(c));
    browser.cookies.extend(kept);
    r
}

#[tokio::test]
async fn a_device_cookie_replayed_under_other_names_is_looked_up_at_most_maximum_sessions_times() {
    let (h, storage) = harness();
    h.sign_up("mallory@example.com").await;
    let mut device = h.browser();
    let token = device.sign_in("mallory@example.com").await.token();
    let genuine = device
        .get_cookie(&common::device(&token))
        .unwrap()
        .to_owned();
    // One signed value under many device-cookie names.
    let replays: Vec<(String, String)> = (0..REPLAYS)
        .map(|i| (format!("{SESSION_TOKEN}_multi-fake{i}"), genuine.clone()))
        .collect();
    let mut tokens = vec![token];
    storage.take_calls_on(&tokens);

    let r = send_with(
        &mut device,
        &replays,
        Method::GET,
        "/multi-session/list-device-sessions",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body());
    storage.assert_calls_on(&tokens, MAX, "list");

    let r = send_with(
        &mut device,
        &replays,
        Method::POST,
        "/sign-in/email",
        Some(json!({"email": "mallory@example.com", "password": PASSWORD})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body());
    storage.assert_calls_on(&tokens, MAX, "sign-in's after hook");
    // The new session replaced the one of the genuine device cookie.
    let token = r.token();
    tokens.push(token.clone());

    // The session's own lookups (resolving the caller, deleting the
    // revoked session) come on top of the device cookies'.
    let r = send_with(
        &mut device,
        &replays,
        Method::POST,
        "/multi-session/revoke",
        Some(json!({ "sessionToken": token })),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body());
    storage.assert_calls_on(&tokens, 2 + MAX, "revoke");

    let r = send_with(
        &mut device,
        &replays,
        Method::POST,
        "/sign-out",
        Some(json!({})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body());
    storage.assert_calls_on(&tokens, 1 + MAX, "sign-out");
}

#[tokio::test]
async fn a_device_holding_more_genuine_cookies_than_allowed_costs_maximum_sessions_lookups() {
    let (h, storage) = harness();
    // Twelve accounts, each signed in on a device of its own; their device
    // cookies are then put together in one Cookie header.
    let mut tokens = Vec::new();
    let mut cookies = Vec::new();
    for i in 0..12 {
        let email = format!("user{i}@example.com");
        h.sign_up(&email).await;
        let mut own = h.browser();
        let token = own.sign_in(&email).await.token();
        let name = common::device(&token);
        cookies.push((name.clone(), own.get_cookie(&name).unwrap().to_owned()));
        tokens.push(token);
    }
    let mut device = h.browser();
    storage.take_calls_on(&tokens);

    let r = send_with(
        &mut device,
        &cookies,
        Method::GET,
        "/multi-session/list-device-sessions",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body());
    assert_eq!(
        r.body().as_array().unwrap().len(),
        MAX,
        "the first {MAX} only"
    );
    storage.assert_calls_on(&tokens, MAX, "list");

    h.sign_up("late@example.com").await;
    let r = send_with(
        &mut device,
        &cookies,
        Method::POST,
        "/sign-in/email",
        Some(json!({"email": "late@example.com", "password": PASSWORD})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body());
    storage.assert_calls_on(&tokens, MAX, "sign-in's after hook");
    assert!(r.device_cookies_set().is_empty(), "the device is full");

    let r = send_with(
        &mut device,
        &cookies,
        Method::POST,
        "/sign-out",
        Some(json!({})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body());
    // Two calls per session ended: its record is read, so that its
    // revocation is published before the key is taken (docs/revocation.md).
    storage.assert_calls_on(&tokens, 2 * MAX, "sign-out");
    assert_eq!(r.device_cookies_expired().len(), MAX);
}

#[tokio::test]
async fn a_device_cookie_under_another_name_is_ignored_everywhere() {
    let (h, _) = harness();
    h.sign_up("alice@example.com").await;
    let mut victim = h.browser();
    let token = victim.sign_in("alice@example.com").await.token();
    let value = victim
        .get_cookie(&common::device(&token))
        .unwrap()
        .to_owned();

    // The right value under a name that is not its token's.
    let mut other = h.browser();
    other.set_raw(&common::device("not-the-token"), &value);
    assert_eq!(other.list().await, Vec::<String>::new());
    let r = other.post("/sign-out", json!({})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.device_cookies_expired().is_empty(), "{:?}", r.set_cookies);
    assert_eq!(victim.whoami().await.as_deref(), Some("alice@example.com"));
}
