//! The largest set of cookies Tessera itself issues — a session cache
//! chunked up to its budget, `dont_remember`, and the device cookies of
//! `maximumSessions` multi-session accounts — comes back under the request
//! limits, and is no larger than the set the conformance suite sends every
//! adapter over HTTP ([`largest_tessera_cookie_header`]).

use std::sync::Arc;

use serde_json::json;
use tessera::cache::CacheStrategy;
use tessera::options::RequestLimits;
use tessera::store::MemoryDatabase;
use tessera::{Auth, Options};
use tessera_multi_session::{
    device_cookie_name, is_device_cookie, MultiSession, DEFAULT_MAXIMUM_SESSIONS,
};
use tessera_testkit::conformance::{
    largest_tessera_cookie_header, DEVICE_COOKIES, DONT_REMEMBER, SESSION_TOKEN,
};
use tessera_testkit::{ClientCookies, Target, TestRequest};

const ORIGIN: &str = "http://127.0.0.1:3000";
/// A user this long has a compact cache of about 30 KB: eight chunks.
const NAME_LEN: usize = 22_000;

#[tokio::test]
async fn the_cookies_of_maximum_sessions_accounts_with_full_caches_come_back() {
    let mut options = Options::new()
        .secret("limits-test-secret-0123456789-abcdefghijklmnop")
        .base_url(ORIGIN)
        .rate_limit(false);
    options.session.cookie_cache.enabled = Some(true);
    options.session.cookie_cache.strategy = Some(CacheStrategy::Compact);
    let auth = Auth::builder(options)
        .database(Arc::new(MemoryDatabase::new()))
        .plugin(Arc::new(MultiSession::new()))
        .build()
        .unwrap();
    let limits = auth.options().limits;
    let device = Target::auth(auth, ORIGIN);
    let mut cookies = ClientCookies::new();
    for i in 0..DEFAULT_MAXIMUM_SESSIONS {
        let res = device
            .send(
                &TestRequest::post("/api/auth/sign-up/email")
                    .origin(ORIGIN)
                    .cookies(&cookies)
                    .json(&json!({
                        "email": format!("user{i}@example.com"),
                        "password": "password1234",
                        "name": "n".repeat(NAME_LEN),
                        "rememberMe": false,
                    })),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        cookies.update(&res);
    }
    let header = cookies.header().unwrap();
    let names: Vec<&str> = header
        .split("; ")
        .map(|pair| pair.split_once('=').unwrap().0)
        .collect();
    let count = |pick: &dyn Fn(&str) -> bool| names.iter().filter(|n| pick(n)).count();
    assert_eq!(count(&|n| is_device_cookie(n)), DEFAULT_MAXIMUM_SESSIONS);
    assert!(count(&|n| n.starts_with("better-auth.session_data.")) >= 7);
    assert_eq!(count(&|n| n == DONT_REMEMBER), 1);

    let token = cookies.get(SESSION_TOKEN).unwrap();
    let largest = largest_tessera_cookie_header(&limits, token);
    assert!(
        header.len() <= largest.len() && largest.len() <= limits.max_cookie_bytes,
        "issued {} bytes, the suite's largest set {} bytes, the limit {}",
        header.len(),
        largest.len(),
        limits.max_cookie_bytes
    );

    eprintln!(
        "{} cookies issued: {} bytes of Cookie header; the suite's largest set {} bytes; limit {}",
        names.len(),
        header.len(),
        largest.len(),
        limits.max_cookie_bytes
    );
    let res = device
        .send(&TestRequest::get("/api/auth/get-session").cookies(&cookies))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let body = res.json.unwrap();
    assert_eq!(body["user"]["email"], "user4@example.com");
    let res = device
        .send(&TestRequest::get("/api/auth/multi-session/list-device-sessions").cookies(&cookies))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(
        res.json.unwrap().as_array().map(Vec::len),
        Some(DEFAULT_MAXIMUM_SESSIONS)
    );
}

#[test]
fn the_suites_largest_set_fills_the_cache_budget_beats_node_and_fits_the_limit() {
    let limits = RequestLimits::default();
    let header = largest_tessera_cookie_header(&limits, "token.signature");
    let cache: usize = header
        .split("; ")
        .filter(|pair| pair.starts_with("better-auth.session_data."))
        .map(|pair| pair.len() + 2)
        .sum();
    // Eight full chunks: as close to the budget as whole chunks get.
    assert!(cache <= limits.session_cache_bytes(), "{cache}");
    assert!(cache + 4096 > limits.session_cache_bytes(), "{cache}");
    assert!(header.len() > 16 * 1024 && header.len() <= limits.max_cookie_bytes);
}

/// The suite states better-auth's device cookies itself (it links no
/// plugin): they are the plugin's, as many as its default allows.
#[test]
fn the_suites_device_cookies_are_the_multi_session_plugins() {
    assert_eq!(DEVICE_COOKIES, DEFAULT_MAXIMUM_SESSIONS);
    let header = largest_tessera_cookie_header(&RequestLimits::default(), "token.signature");
    let devices: Vec<&str> = header
        .split("; ")
        .map(|pair| pair.split_once('=').unwrap().0)
        .filter(|name| is_device_cookie(name))
        .collect();
    assert_eq!(devices.len(), DEFAULT_MAXIMUM_SESSIONS);
    for (i, name) in devices.iter().enumerate() {
        assert_eq!(
            *name,
            device_cookie_name(SESSION_TOKEN, &format!("{i:0>32}"))
        );
    }
}
