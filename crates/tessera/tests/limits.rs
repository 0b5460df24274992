//! Bounded work per request (issue 11, hole #1): a request head over the
//! [`RequestLimits`] is answered 431 before anything reads it, on the auth
//! API and on application routes alike, and the cookies Tessera itself
//! sets always come back under those limits.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use common::{options, Harness};
use http::{HeaderMap, Request, Response, StatusCode};
use serde_json::json;
use tessera::cache::CacheStrategy;
use tessera::options::{RateLimitRule, RequestLimits};
use tessera::plugin::{Interceptor, Plugin};
use tessera::{BuildError, ClientAddr, Options};

const TOO_LARGE: &str =
    r#"{"message":"Request header fields too large","code":"REQUEST_HEADER_FIELDS_TOO_LARGE"}"#;

/// The review's cookie bomb: 54,000 cookies with three-letter names,
/// `aaa=1; aab=1; …`, about 380 KB (names repeat past 17,576).
fn cookie_bomb() -> String {
    let letters = |i: usize| {
        let l = |k: usize| char::from(b'a' + (i / k % 26) as u8);
        [l(676), l(26), l(1)].into_iter().collect::<String>()
    };
    (0..54_000)
        .map(|i| format!("{}=1", letters(i)))
        .collect::<Vec<_>>()
        .join("; ")
}

fn get(path: &str, cookie: &str) -> Request<Bytes> {
    Request::get(path)
        .header("cookie", cookie)
        .body(Bytes::new())
        .unwrap()
}

async fn status_and_body(res: Response<Bytes>) -> (StatusCode, String) {
    let (parts, body) = res.into_parts();
    (parts.status, String::from_utf8(body.to_vec()).unwrap())
}

fn cookie_headers(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("cookie", value.parse().unwrap());
    headers
}

#[tokio::test]
async fn a_cookie_bomb_is_431_on_the_auth_api() {
    let h = Harness::new(options());
    let bomb = cookie_bomb();
    assert!(bomb.len() > 370_000);
    for path in ["/api/auth/ok", "/api/auth/get-session"] {
        let res = h.auth.handle(get(path, &bomb)).await;
        assert_eq!(
            status_and_body(res).await,
            (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                TOO_LARGE.into()
            ),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_cookie_bomb_is_431_for_application_routes() {
    let h = Harness::new(options());
    let err = h
        .auth
        .session(&cookie_headers(&cookie_bomb()))
        .await
        .unwrap_err();
    assert_eq!(err.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(*err.body(), Bytes::from_static(TOO_LARGE.as_bytes()));
}

#[tokio::test]
async fn a_head_over_the_limit_is_431_without_any_cookie() {
    let h = Harness::new(options());
    let pad = "v".repeat(RequestLimits::default().max_head_bytes);
    let req = Request::get("/api/auth/ok")
        .header("x-padding", pad.as_str())
        .body(Bytes::new())
        .unwrap();
    let res = h.auth.handle(req).await;
    assert_eq!(res.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let mut headers = HeaderMap::new();
    headers.insert("x-padding", pad.parse().unwrap());
    let err = h.auth.session(&headers).await.unwrap_err();
    assert_eq!(err.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
}

#[tokio::test]
async fn more_cookies_than_the_cap_are_431_even_in_a_few_bytes() {
    let h = Harness::new(options());
    let max = RequestLimits::default().max_cookies;
    let header = |n: usize| {
        (0..n)
            .map(|i| format!("c{i}=1"))
            .collect::<Vec<_>>()
            .join(";")
    };
    assert!(header(max + 1).len() < 3 * 1024);
    let res = h.auth.handle(get("/api/auth/ok", &header(max))).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = h.auth.handle(get("/api/auth/ok", &header(max + 1))).await;
    assert_eq!(res.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let err = h
        .auth
        .session(&cookie_headers(&header(max + 1)))
        .await
        .unwrap_err();
    assert_eq!(err.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
}

#[tokio::test]
async fn the_limits_are_options() {
    let mut o = options();
    o.limits.max_cookie_bytes = 8 * 1024;
    let h = Harness::new(o);
    let cookie = format!("pad={}", "v".repeat(8 * 1024));
    let res = h.auth.handle(get("/api/auth/ok", &cookie)).await;
    assert_eq!(res.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    // The same cookie under the default limits.
    let h = Harness::new(options());
    let res = h.auth.handle(get("/api/auth/ok", &cookie)).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[test]
fn the_limits_are_read_from_the_environment() {
    let vars = |name: &str| match name {
        "TESSERA_MAX_HEAD_BYTES" => Some("100000".to_owned()),
        "TESSERA_MAX_COOKIE_BYTES" => Some(" 65536 ".to_owned()),
        "TESSERA_MAX_COOKIES" => Some("500".to_owned()),
        _ => None,
    };
    let o = Options::from_vars(vars).unwrap();
    assert_eq!(
        o.limits,
        RequestLimits::default()
            .with_max_head_bytes(100_000)
            .with_max_cookie_bytes(65_536)
            .with_max_cookies(500)
    );
    let err = Options::from_vars(|n| (n == "TESSERA_MAX_COOKIES").then(|| "many".to_owned()))
        .unwrap_err();
    assert!(err.to_string().starts_with("TESSERA_MAX_COOKIES="), "{err}");
}

#[test]
fn limits_that_cannot_work_refuse_to_build() {
    let build = |limits: RequestLimits| {
        let mut o = options();
        o.limits = limits;
        tessera::Auth::builder(o).build()
    };
    let defaults = RequestLimits::default();
    for (limits, option) in [
        (
            defaults.with_max_cookie_bytes(1024),
            "limits.max_cookie_bytes",
        ),
        (
            defaults.with_max_head_bytes(16 * 1024),
            "limits.max_head_bytes",
        ),
        (defaults.with_max_cookies(4), "limits.max_cookies"),
    ] {
        match build(limits) {
            Err(BuildError::Invalid { option: o, .. }) => assert_eq!(o, option),
            other => panic!("{limits:?} built: {other:?}"),
        }
    }
    assert!(build(defaults).is_ok());
}

/// Counts the requests its interceptor sees.
struct Counting(Arc<AtomicUsize>);

#[async_trait]
impl Interceptor for Counting {
    async fn on_request(&self, _req: &mut Request<Bytes>) -> Option<Response<Bytes>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        None
    }
}

struct CountingPlugin(Arc<AtomicUsize>);

impl Plugin for CountingPlugin {
    fn id(&self) -> &'static str {
        "counting"
    }
    fn interceptor(&self) -> Option<Arc<dyn Interceptor>> {
        Some(Arc::new(Counting(self.0.clone())))
    }
}

#[tokio::test]
async fn refused_heads_reach_neither_the_rate_limiter_nor_interceptors() {
    let seen = Arc::new(AtomicUsize::new(0));
    let mut o = options().rate_limit(true);
    o.rate_limit.default_rule = RateLimitRule { window: 60, max: 2 };
    let plugin = Arc::new(CountingPlugin(seen.clone()));
    let h = Harness::with(o, |b| b.plugin(plugin));
    let peer = Some(ClientAddr("192.0.2.9".parse().unwrap()));
    let bomb = cookie_bomb();
    for _ in 0..5 {
        let res = h.auth.handle_from(get("/api/auth/ok", &bomb), peer).await;
        assert_eq!(res.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
    assert_eq!(seen.load(Ordering::SeqCst), 0);
    // The refused requests used none of the window's two requests.
    for _ in 0..2 {
        let res = h.auth.handle_from(get("/api/auth/ok", "a=1"), peer).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}

/// A stateful instance with the compact cookie cache on and `limits`.
fn cached(limits: RequestLimits) -> Harness {
    let mut o = options();
    o.session.cookie_cache.enabled = Some(true);
    o.session.cookie_cache.strategy = Some(CacheStrategy::Compact);
    o.limits = limits;
    Harness::new(o)
}

/// Signs up a user whose name is `name_len` characters long.
async fn sign_up_with_name<'h>(h: &'h Harness, name_len: usize) -> common::Browser<'h> {
    let mut b = h.browser();
    let r = b
        .post(
            "/sign-up/email",
            json!({"email": "big@example.com", "password": "password1234", "name": "n".repeat(name_len)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body());
    b
}

fn cache_chunks(b: &common::Browser<'_>) -> usize {
    b.cookies
        .iter()
        .filter(|(n, _)| n.starts_with("better-auth.session_data"))
        .count()
}

#[tokio::test]
async fn the_largest_session_cache_comes_back_under_the_limits() {
    let limits = RequestLimits::default();
    let h = cached(limits);
    // A user of 22,000 characters: a compact cache of about 30 KB.
    let mut b = sign_up_with_name(&h, 22_000).await;
    assert!(cache_chunks(&b) >= 7, "{:?}", b.cookies);
    let header = b.cookie_header();
    assert!(
        header.len() <= limits.session_cache_bytes() + 512,
        "{}",
        header.len()
    );
    let r = b.get("/get-session").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body()["user"]["name"].as_str().map(str::len),
        Some(22_000)
    );
    // And so do application routes.
    let outcome = h.auth.session(&cookie_headers(&header)).await.unwrap();
    assert!(outcome.session.is_some());
}

#[tokio::test]
async fn a_session_cache_over_its_budget_is_not_written() {
    let h = cached(RequestLimits::default());
    // About 40 KB of cache: more than the 32 KiB budget.
    let mut b = sign_up_with_name(&h, 30_000).await;
    assert_eq!(cache_chunks(&b), 0, "{:?}", b.cookies);
    assert!(b.has_cookie("better-auth.session_token"));
    // The session works from the store.
    let r = b.get("/get-session").await;
    assert_eq!(
        r.body()["user"]["name"].as_str().map(str::len),
        Some(30_000)
    );
}

#[tokio::test]
async fn a_lower_cookie_limit_lowers_the_cache_budget() {
    let limits = RequestLimits::default().with_max_cookie_bytes(8 * 1024);
    let h = cached(limits);
    // About 7 KB of cache: two chunks, over 5,461 bytes.
    let b = sign_up_with_name(&h, 5_000).await;
    assert_eq!(cache_chunks(&b), 0, "{:?}", b.cookies);
    let h = cached(limits);
    let mut b = sign_up_with_name(&h, 2_000).await;
    assert_eq!(cache_chunks(&b), 1, "{:?}", b.cookies);
    assert_eq!(b.get("/get-session").await.status, StatusCode::OK);
}
