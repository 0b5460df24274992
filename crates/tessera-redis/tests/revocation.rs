//! The revocation log on a real Redis (a stream, `docs/revocation.md`),
//! and two processes sharing one Redis: a revocation on one reaches the
//! other's cookie-cache hits within the lag; with Redis frozen longer than
//! the lag, hits fail closed, and service resumes when it thaws.

mod common;

use std::time::Duration;

use common::{KeySpace, ThrowawayRedis, ORIGIN};
use serde_json::{json, Value};
use tessera::store::SecondaryStorage;
use tessera::{Auth, TestClock, Timestamp};
use tessera_redis::{RedisOptions, RedisStorage};
use tessera_testkit::{ClientCookies, TestRequest, TestResponse};

/// 2026-11-28T00:00:00.000Z
const T0: i64 = 1_795_824_000_000;

#[tokio::test]
async fn the_log_is_a_stream_read_in_order_and_in_pages() {
    let space = KeySpace::new("revocation-log");
    let Some(s) = space.storage().await else {
        return;
    };
    let keep = Duration::from_secs(60);
    let mut numbers = Vec::new();
    for i in 0..5 {
        numbers.push(
            s.append_revocation(&format!("entry-{i}"), keep)
                .await
                .unwrap(),
        );
    }
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    let all = s.read_revocations(0, &[], 100).await.unwrap();
    let read: Vec<&str> = all.entries.iter().map(|(_, e)| e.as_str()).collect();
    assert_eq!(
        read,
        ["entry-0", "entry-1", "entry-2", "entry-3", "entry-4"]
    );
    assert_eq!(all.read_to, numbers[4]);
    assert!(!all.more && all.missing.is_empty());
    let first = s.read_revocations(0, &[], 2).await.unwrap();
    assert_eq!(first.entries.len(), 2);
    assert!(first.more);
    let rest = s.read_revocations(first.read_to, &[], 100).await.unwrap();
    assert_eq!(rest.entries.first().map(|(n, _)| *n), Some(numbers[2]));
    let none = s.read_revocations(all.read_to, &[], 100).await.unwrap();
    assert!(none.entries.is_empty() && !none.more);
    assert_eq!(none.read_to, all.read_to);
    // One key, a hash tag under the prefix.
    assert_eq!(space.keys(), [common::REVOCATION_LOG]);
}

#[tokio::test]
async fn an_idle_log_expires_whole() {
    let space = KeySpace::new("revocation-expiry");
    let Some(s) = space.storage().await else {
        return;
    };
    s.append_revocation("entry", Duration::from_millis(100))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let page = s.read_revocations(0, &[], 100).await.unwrap();
    assert!(page.entries.is_empty(), "{page:?}");
    assert!(space.keys().is_empty());
}

/// Tessera over its own connection to `url`: one process.
async fn process(url: &str, prefix: &str, clock: &TestClock) -> Option<Auth> {
    // Short timeouts, so that a frozen Redis costs the test little time.
    let options = RedisOptions::new()
        .prefix(prefix)
        .response_timeout(Duration::from_millis(300))
        .operation_timeout(Duration::from_millis(500));
    let storage = match RedisStorage::connect_with(url, options).await {
        Ok(s) => s,
        Err(e) => {
            return tessera_testkit::service::skip_or_fail(
                tessera_testkit::service::Service::Redis,
                &e.to_string(),
            )
        }
    };
    Some(common::cached_process(storage, clock))
}

async fn sign_up(auth: &Auth) -> ClientCookies {
    let mut cookies = ClientCookies::new();
    let req = TestRequest::post("/api/auth/sign-up/email")
        .origin(ORIGIN)
        .json(&json!({"email": "ada@example.com", "password": "password1234", "name": "Ada"}));
    let res = common::send_with(auth, &mut cookies, req).await;
    assert_eq!(res.status, 200, "{}", res.text);
    cookies
}

/// `/get-session` with a copy of `cookies`, as someone holding them would.
async fn get_session(auth: &Auth, cookies: &ClientCookies) -> TestResponse {
    common::send_with(
        auth,
        &mut cookies.clone(),
        TestRequest::get("/api/auth/get-session"),
    )
    .await
}

async fn sign_in(auth: &Auth) -> ClientCookies {
    let mut cookies = ClientCookies::new();
    let req = TestRequest::post("/api/auth/sign-in/email")
        .origin(ORIGIN)
        .json(&json!({"email": "ada@example.com", "password": "password1234"}));
    let res = common::send_with(auth, &mut cookies, req).await;
    assert_eq!(res.status, 200, "{}", res.text);
    cookies
}

/// `POST path` on `auth` with a copy of `cookies`.
async fn post(auth: &Auth, cookies: &ClientCookies, path: &str, body: Value) -> TestResponse {
    let req = TestRequest::post(format!("/api/auth{path}"))
        .origin(ORIGIN)
        .json(&body);
    common::send_with(auth, &mut cookies.clone(), req).await
}

#[tokio::test]
async fn every_kind_of_revocation_on_one_process_reaches_the_others_cache_within_the_lag() {
    for kind in [
        "sign-out",
        "revoke-session",
        "revoke-sessions",
        "revoke-other-sessions",
        "all of the user's sessions",
    ] {
        let space = KeySpace::new("revocation-two-processes");
        let clock = TestClock::at(Timestamp::from_millis(T0));
        let (Some(a), Some(b)) = (
            process(&space.url, &space.prefix, &clock).await,
            process(&space.url, &space.prefix, &clock).await,
        ) else {
            return;
        };
        let victim = sign_up(&a).await;
        let other = sign_in(&a).await;
        let hit = get_session(&b, &victim).await;
        assert!(
            hit.body().is_object() && hit.set_cookies.is_empty(),
            "{kind}: a cache hit on B"
        );
        clock.advance(Duration::from_millis(100));
        let done = match kind {
            "sign-out" => Some(post(&a, &victim, "/sign-out", json!({})).await),
            "revoke-session" => {
                let token = get_session(&a, &victim).await.body()["session"]["token"].clone();
                Some(post(&a, &other, "/revoke-session", json!({ "token": token })).await)
            }
            "revoke-sessions" => Some(post(&a, &other, "/revoke-sessions", json!({})).await),
            "revoke-other-sessions" => {
                Some(post(&a, &other, "/revoke-other-sessions", json!({})).await)
            }
            _ => {
                let user = hit.body()["user"]["id"].as_str().unwrap().to_owned();
                a.sessions()
                    .delete_user_sessions(&user, a.clock().now())
                    .await
                    .unwrap();
                None
            }
        };
        if let Some(done) = done {
            assert_eq!(done.status, 200, "{kind}: {}", done.text);
        }
        clock.advance(Duration::from_millis(1_000));
        assert_eq!(
            *get_session(&b, &victim).await.body(),
            Value::Null,
            "{kind}: B rejects the cached session within the lag"
        );
    }
}

#[tokio::test]
async fn redis_frozen_past_the_lag_fails_hits_closed_and_service_resumes_when_it_thaws() {
    let Some(redis) = ThrowawayRedis::start() else {
        return;
    };
    let clock = TestClock::at(Timestamp::from_millis(T0));
    let (Some(a), Some(b)) = (
        process(&redis.url(), "", &clock).await,
        process(&redis.url(), "", &clock).await,
    ) else {
        return;
    };
    let cookies = sign_up(&a).await;
    assert!(get_session(&b, &cookies).await.body().is_object());

    redis.signal("STOP");
    // Within the lag: B's last read of the log still vouches (its attempt
    // to read again times out in the background of this request).
    clock.advance(Duration::from_millis(900));
    let within = get_session(&b, &cookies).await;
    assert!(within.body().is_object(), "{}", within.text);
    // Past the lag: the hit goes to Redis, which does not answer: 503.
    clock.advance(Duration::from_millis(200));
    let frozen = get_session(&b, &cookies).await;
    assert_eq!(frozen.status, 503, "{}", frozen.text);
    assert!(frozen.set_cookies.is_empty(), "{:?}", frozen.set_cookies);

    redis.signal("CONT");
    clock.advance(Duration::from_millis(100));
    let back = get_session(&b, &cookies).await;
    assert_eq!(back.status, 200, "{}", back.text);
    assert!(back.body().is_object(), "service resumes without a restart");
}
