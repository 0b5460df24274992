//! Who a request counts as, and how much it may do: client IPs believed
//! from forwarded headers only through trusted proxies, rate limits keyed on
//! the matched route, and the per-account throttle of failed sign-ins.
//! Every request goes through `Auth::handle_from`, with the socket peer an
//! adapter would pass.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::*;
use http::{Request, Response, StatusCode};
use serde_json::{json, Value};
use tessera::store::{MemoryDatabase, MemorySecondaryStorage};
use tessera::{Auth, ClientAddr, Options, TestClock, Timestamp};

const PASSWORD: &str = "password1234";

fn peer(ip: &str) -> Option<ClientAddr> {
    Some(ClientAddr(ip.parse().unwrap()))
}

fn post(path: &str, body: Value, forwarded_for: Option<&str>) -> Request<Bytes> {
    let mut req = Request::post(format!("/api/auth{path}"))
        .header("content-type", "application/json")
        .header("origin", ORIGIN);
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    req.body(Bytes::from(body.to_string())).unwrap()
}

fn sign_in(email: &str, password: &str, forwarded_for: Option<&str>) -> Request<Bytes> {
    post(
        "/sign-in/email",
        json!({"email": email, "password": password}),
        forwarded_for,
    )
}

async fn sign_up(h: &Harness, email: &str, from: Option<ClientAddr>, xff: Option<&str>) {
    let req = post(
        "/sign-up/email",
        json!({"email": email, "password": PASSWORD, "name": "Ada"}),
        xff,
    );
    let res = h.auth.handle_from(req, from).await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// The `ipAddress` of the session `res` signed in.
async fn session_ip(h: &Harness, res: Response<Bytes>) -> Value {
    let req = Request::get("/api/auth/get-session")
        .header("cookie", cookie_header_of(&res))
        .body(Bytes::new())
        .unwrap();
    let body: Value = serde_json::from_slice(h.auth.handle(req).await.body()).unwrap();
    body["session"]["ipAddress"].clone()
}

fn trusting(options: Options, proxies: &str) -> Options {
    let mut options = options;
    options.ip.trusted_proxies = tessera::options::IpNetwork::parse_list(proxies).unwrap();
    options
}

/// Rate limiting on, and the per-account throttle off, to see the IP limit
/// alone.
fn ip_limited() -> Options {
    let mut options = options().rate_limit(true);
    options.rate_limit.per_account.enabled = Some(false);
    options
}

// ---------------------------------------------------------------------------
// Client IPs
// ---------------------------------------------------------------------------

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_shares_the_peers_bucket() {
    let h = Harness::new(ip_limited());
    let mut statuses = Vec::new();
    for i in 0..8 {
        // A new forged address (and a new email) per attempt.
        let req = sign_in(
            &format!("guess{i}@example.com"),
            "wrong-password",
            Some(&format!("192.0.2.{i}")),
        );
        statuses.push(h.auth.handle_from(req, peer("198.51.100.4")).await.status());
    }
    assert_eq!(
        statuses,
        [
            [StatusCode::UNAUTHORIZED; 3].as_slice(),
            &[StatusCode::TOO_MANY_REQUESTS; 5]
        ]
        .concat(),
        "sign-in allows 3 per 10 s per client"
    );
}

#[tokio::test]
async fn a_trusted_proxys_forwarded_client_is_honoured() {
    let h = Harness::new(trusting(ip_limited(), "10.0.0.0/8"));
    // Clients behind two proxies each have their own bucket...
    for i in 0..8 {
        let req = sign_in(
            &format!("guess{i}@example.com"),
            "wrong-password",
            Some(&format!("192.0.2.{i}, 10.1.1.1")),
        );
        let res = h.auth.handle_from(req, peer("10.0.0.2")).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "client {i}");
    }
    // ...and one client's guesses share its own, whatever it prepends.
    let mut statuses = Vec::new();
    for i in 0..4 {
        let chain = format!("198.51.100.{i}, 203.0.113.7, 10.1.1.1");
        let req = sign_in(
            &format!("more{i}@example.com"),
            "wrong-password",
            Some(&chain),
        );
        statuses.push(h.auth.handle_from(req, peer("10.0.0.2")).await.status());
    }
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));

    // The session records the client the proxy forwarded.
    let h = Harness::new(trusting(options(), "10.0.0.0/8, ::1"));
    sign_up(&h, "ada@example.com", None, None).await;
    let res = h
        .auth
        .handle_from(
            sign_in("ada@example.com", PASSWORD, Some("203.0.113.7, 10.1.1.1")),
            peer("::1"),
        )
        .await;
    assert_eq!(session_ip(&h, res).await, "203.0.113.7");
}

#[tokio::test]
async fn session_ip_address_cannot_be_forged_from_an_untrusted_peer() {
    let h = Harness::new(options().environment(tessera::Environment::Production));
    let from = peer("198.51.100.4");
    sign_up(&h, "ada@example.com", from, Some("203.0.113.66")).await;
    let res = h
        .auth
        .handle_from(
            sign_in("ada@example.com", PASSWORD, Some("203.0.113.66")),
            from,
        )
        .await;
    assert_eq!(session_ip(&h, res).await, "198.51.100.4");

    // Nor without a peer: no address is recorded rather than the header's.
    let res = h
        .auth
        .handle(sign_in("ada@example.com", PASSWORD, Some("203.0.113.66")))
        .await;
    assert_eq!(session_ip(&h, res).await, "");
}

// ---------------------------------------------------------------------------
// Rate-limit keys
// ---------------------------------------------------------------------------

#[tokio::test]
async fn made_up_paths_share_one_bucket() {
    let h = Harness::new(ip_limited());
    let from = peer("198.51.100.4");
    let made_up = |i: u32| {
        Request::get(format!("/api/auth/made-up-{i}"))
            .body(Bytes::new())
            .unwrap()
    };
    // The default rule: 100 per 10 s, for all unknown paths together.
    for i in 0..100 {
        let res = h.auth.handle_from(made_up(i), from).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "request {i}");
    }
    let res = h.auth.handle_from(made_up(100), from).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // Known routes keep their own buckets.
    let ok = Request::get("/api/auth/ok").body(Bytes::new()).unwrap();
    assert_eq!(h.auth.handle_from(ok, from).await.status(), StatusCode::OK);
}

// ---------------------------------------------------------------------------
// Per-account throttling of failed sign-ins
// ---------------------------------------------------------------------------

/// Attempts at one email, each from a new address (so the IP limit never
/// applies): status, body, `X-Retry-After`.
async fn attempts(
    h: &Harness,
    email: &str,
    passwords: &[&str],
    first_peer: u8,
) -> Vec<(StatusCode, Value, Option<String>)> {
    let mut out = Vec::new();
    for (i, password) in passwords.iter().enumerate() {
        let from = peer(&format!("198.51.100.{}", usize::from(first_peer) + i));
        let res = h
            .auth
            .handle_from(sign_in(email, password, None), from)
            .await;
        let retry = res
            .headers()
            .get("x-retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = serde_json::from_slice(res.body()).unwrap_or(Value::Null);
        out.push((res.status(), body, retry));
    }
    out
}

#[tokio::test]
async fn an_account_is_throttled_after_five_failures_from_any_address() {
    let h = Harness::new(options().rate_limit(true));
    sign_up(&h, "ada@example.com", peer("192.0.2.1"), None).await;
    let wrong = ["wrong-password"; 6];
    let answers = attempts(&h, "ada@example.com", &wrong, 10).await;
    let statuses: Vec<StatusCode> = answers.iter().map(|a| a.0).collect();
    assert_eq!(
        statuses,
        [
            [StatusCode::UNAUTHORIZED; 5].as_slice(),
            &[StatusCode::TOO_MANY_REQUESTS]
        ]
        .concat()
    );
    let (_, body, retry) = &answers[5];
    assert_eq!(
        body,
        &json!({"message": "Too many requests. Please try again later."})
    );
    assert_eq!(retry.as_deref(), Some("900"));
    // Throttled, even the right password is refused (and not tried).
    let right = attempts(&h, "ada@example.com", &[PASSWORD], 20).await;
    assert_eq!(right[0].0, StatusCode::TOO_MANY_REQUESTS);
    // Whatever the case the email is written in.
    let upper = attempts(&h, "ADA@Example.com", &[PASSWORD], 21).await;
    assert_eq!(upper[0].0, StatusCode::TOO_MANY_REQUESTS);
    // Another account is not affected.
    sign_up(&h, "bob@example.com", peer("192.0.2.2"), None).await;
    let bob = attempts(&h, "bob@example.com", &[PASSWORD], 30).await;
    assert_eq!(bob[0].0, StatusCode::OK);
    // When the window ends, the account signs in again.
    h.advance(900);
    let later = attempts(&h, "ada@example.com", &[PASSWORD], 40).await;
    assert_eq!(later[0].0, StatusCode::OK);
}

#[tokio::test]
async fn an_unknown_email_is_throttled_exactly_like_a_known_one() {
    let h = Harness::new(options().rate_limit(true));
    sign_up(&h, "ada@example.com", peer("192.0.2.1"), None).await;
    let wrong = ["wrong-password"; 7];
    let known = attempts(&h, "ada@example.com", &wrong, 10).await;
    let unknown = attempts(&h, "nobody@example.com", &wrong, 30).await;
    assert_eq!(known, unknown);
    assert_eq!(known[6].0, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_successful_sign_in_resets_the_accounts_count() {
    let h = Harness::new(options().rate_limit(true));
    sign_up(&h, "ada@example.com", peer("192.0.2.1"), None).await;
    let mostly_wrong = [
        "wrong-password",
        "wrong-password",
        "wrong-password",
        "wrong-password",
    ];
    attempts(&h, "ada@example.com", &mostly_wrong, 10).await;
    let ok = attempts(&h, "ada@example.com", &[PASSWORD], 20).await;
    assert_eq!(ok[0].0, StatusCode::OK);
    let again = attempts(&h, "ada@example.com", &["wrong-password"; 5], 30).await;
    assert!(again.iter().all(|a| a.0 == StatusCode::UNAUTHORIZED));
}

#[tokio::test]
async fn processes_sharing_secondary_storage_share_the_count() {
    let clock = TestClock::at(Timestamp::from_millis(T0));
    let db = Arc::new(MemoryDatabase::new());
    let storage = Arc::new(MemorySecondaryStorage::with_clock(Arc::new(clock.clone())));
    let mut throttled = options().rate_limit(true);
    throttled.rate_limit.per_account.max_failures = 3;
    let process = || {
        let auth = Auth::builder(throttled.clone())
            .database(db.clone())
            .secondary_storage(storage.clone())
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        Harness {
            auth,
            clock: clock.clone(),
        }
    };
    let (a, b) = (process(), process());
    sign_up(&a, "ada@example.com", peer("192.0.2.1"), None).await;
    let first = attempts(&a, "ada@example.com", &["wrong-password"; 2], 10).await;
    let second = attempts(&b, "ada@example.com", &["wrong-password"; 2], 20).await;
    assert_eq!(first[1].0, StatusCode::UNAUTHORIZED);
    assert_eq!(second[0].0, StatusCode::UNAUTHORIZED);
    assert_eq!(second[1].0, StatusCode::TOO_MANY_REQUESTS);
    let on_a = attempts(&a, "ada@example.com", &[PASSWORD], 30).await;
    assert_eq!(on_a[0].0, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_throttle_can_be_turned_off() {
    let mut off = options().rate_limit(true);
    off.rate_limit.per_account.enabled = Some(false);
    let h = Harness::new(off);
    sign_up(&h, "ada@example.com", peer("192.0.2.1"), None).await;
    let answers = attempts(&h, "ada@example.com", &["wrong-password"; 8], 10).await;
    assert!(answers.iter().all(|a| a.0 == StatusCode::UNAUTHORIZED));
    let mut bad = options();
    bad.rate_limit.per_account.max_failures = 0;
    let err = Auth::builder(bad).build().unwrap_err();
    assert!(err.to_string().contains("rate_limit.per_account"), "{err}");
}
