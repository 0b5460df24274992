//! End-to-end flows through `Auth::handle`, with the clock moved instead of
//! sleeping.

mod common;

use std::sync::Arc;

use common::*;
use http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Value};
use tessera::store::{MemoryDatabase, MemorySecondaryStorage, SecondaryStorage};
use tessera::{Auth, Environment, Options, SecretError, Timestamp};

const TOKEN: &str = "better-auth.session_token";

fn expires_at(body: &Value) -> i64 {
    Timestamp::parse_iso(body["session"]["expiresAt"].as_str().unwrap())
        .unwrap()
        .as_millis()
}

#[tokio::test]
async fn sign_up_get_session_sign_out() {
    let h = Harness::new(options());
    let mut b = h.browser();
    let up = b.sign_up("Alice@Example.com").await;
    assert_eq!(up.body()["user"]["email"], "alice@example.com");
    assert_eq!(up.body()["user"]["emailVerified"], false);
    let token = up.body()["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 32);
    let line = up.set_cookie_line(TOKEN).unwrap();
    assert!(
        line.ends_with("; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax"),
        "{line}"
    );

    let s = b.get("/get-session").await;
    assert_eq!(s.status, StatusCode::OK);
    assert_eq!(s.headers["cache-control"], "no-store");
    assert_eq!(s.body()["session"]["token"], token.as_str());
    assert_eq!(s.body()["session"]["ipAddress"], "203.0.113.7");
    assert_eq!(s.body()["session"]["userAgent"], "tessera-tests/1.0");
    assert_eq!(s.body()["user"]["id"], up.body()["user"]["id"]);
    assert_eq!(expires_at(s.body()), T0 + 604_800_000);
    assert!(s.set_cookies.is_empty(), "no refresh on a fresh session");

    let out = b.post("/sign-out", json!({})).await;
    assert_eq!(*out.body(), json!({"success": true}));
    assert_eq!(out.cookie(TOKEN), Some(None));
    assert_eq!(out.cookie("better-auth.dont_remember"), Some(None));
    assert!(!b.has_cookie(TOKEN));

    // The old cookie is useless now, even when replayed.
    let mut replay = h.browser();
    replay.cookies = vec![(TOKEN.into(), up.cookie(TOKEN).unwrap().unwrap())];
    assert_eq!(*replay.get("/get-session").await.body(), Value::Null);
}

#[tokio::test]
async fn sign_in_returns_token_and_user_and_redirect() {
    let h = Harness::new(options());
    h.browser().sign_up("bob@example.com").await;
    let mut b = h.browser();
    let r = b
        .post(
            "/sign-in/email",
            json!({"email": "BOB@example.com", "password": "password1234", "callbackURL": "/dash"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body()["redirect"], true);
    assert_eq!(r.body()["url"], "/dash");
    assert_eq!(r.headers["location"], "/dash");
    let keys: Vec<_> = r.body().as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["redirect", "token", "url", "user"]);

    let wrong = h
        .browser()
        .post(
            "/sign-in/email",
            json!({"email": "bob@example.com", "password": "nope-nope"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.code(), Some("INVALID_EMAIL_OR_PASSWORD"));
    let unknown = h
        .browser()
        .post(
            "/sign-in/email",
            json!({"email": "eve@example.com", "password": "password1234"}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(*unknown.body(), *wrong.body());
}

/// Issue 11, hole #3: a browser reads `http://evil.example\@localhost:3000/x`
/// as a URL on evil.example; sign-in must refuse it, not hand it back as
/// the place to go.
#[tokio::test]
async fn sign_in_refuses_a_callback_that_browsers_send_elsewhere() {
    let h = Harness::new(options());
    h.browser().sign_up("hal@example.com").await;
    for callback in [
        "http://evil.example\\@localhost:3000/x",
        "http://evil.example\\@localhost:3000",
        "/\\evil.example",
        "http://localhost:3000@evil.example/",
    ] {
        let r = h
            .browser()
            .post(
                "/sign-in/email",
                json!({"email": "hal@example.com", "password": "password1234", "callbackURL": callback}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{callback}: {:?}",
            r.body()
        );
        assert_eq!(r.code(), Some("INVALID_CALLBACK_URL"), "{callback}");
        assert!(r.set_cookies.is_empty(), "{callback}: no session");
        assert!(r.headers.get("location").is_none(), "{callback}");
    }
    // What a browser reads as this origin passes, as written.
    let callback = "http://localhost:3000\\@evil.example/x";
    let r = h
        .browser()
        .post(
            "/sign-in/email",
            json!({"email": "hal@example.com", "password": "password1234", "callbackURL": callback}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body()["url"], callback);
}

/// better-auth also checks a `callbackURL` in the query, and answers 400
/// for one that is not a string.
#[tokio::test]
async fn callback_urls_in_the_query_and_of_other_types_are_checked() {
    let h = Harness::new(options());
    let r = h
        .browser()
        .post(
            "/sign-in/email?callbackURL=https%3A%2F%2Fevil.example",
            json!({"email": "x@example.com", "password": "password1234"}),
        )
        .await;
    assert_eq!(r.code(), Some("INVALID_CALLBACK_URL"));
    for (field, label) in [
        ("callbackURL", "callbackURL"),
        ("redirectTo", "redirectURL"),
    ] {
        let r = h
            .browser()
            .post(
                "/sign-in/email",
                json!({"email": "x@example.com", "password": "password1234", field: {"href": "/"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            *r.body(),
            json!({"message": format!("Invalid {label}: expected a string")})
        );
    }
}

#[tokio::test]
async fn refresh_happens_exactly_when_update_age_has_passed() {
    let h = Harness::new(options());
    let mut b = h.browser();
    b.sign_up("carol@example.com").await;

    h.advance(86_400 - 1);
    let before = b.get("/get-session").await;
    assert!(before.set_cookies.is_empty());
    assert_eq!(expires_at(before.body()), T0 + 604_800_000);

    h.advance(1);
    let at = b.get("/get-session").await;
    let now = T0 + 86_400_000;
    assert_eq!(expires_at(at.body()), now + 604_800_000);
    let line = at.set_cookie_line(TOKEN).expect("re-issued session cookie");
    assert!(line.contains("Max-Age=604800"));
    // The same token, re-signed.
    assert_eq!(
        at.body()["session"]["token"],
        before.body()["session"]["token"]
    );

    // Right after a refresh, no further refresh.
    let after = b.get("/get-session").await;
    assert!(after.set_cookies.is_empty());
}

#[tokio::test]
async fn expired_session_is_signed_out_and_deleted() {
    let h = Harness::new(options().update_age(1_000_000));
    let mut b = h.browser();
    b.sign_up("dave@example.com").await;
    h.advance(604_800 + 1);
    let r = b.get("/get-session").await;
    assert_eq!(*r.body(), Value::Null);
    assert_eq!(r.cookie(TOKEN), Some(None));
    assert_eq!(r.cookie("better-auth.session_data"), Some(None));
}

#[tokio::test]
async fn disable_refresh_query_is_coerced_like_zod() {
    let h = Harness::new(options());
    let mut b = h.browser();
    b.sign_up("erin@example.com").await;
    h.advance(86_400 + 10);
    // "false" is a non-empty string, so it means true (spec §6.4).
    let r = b.get("/get-session?disableRefresh=false").await;
    assert!(r.set_cookies.is_empty());
    assert_eq!(expires_at(r.body()), T0 + 604_800_000);
    // An empty value means false: the refresh happens.
    let r = b.get("/get-session?disableRefresh=").await;
    assert!(r.set_cookie_line(TOKEN).is_some());
}

#[tokio::test]
async fn remember_me_false_makes_browser_session_cookies_and_never_refreshes() {
    let h = Harness::new(options().update_age(60));
    h.browser().sign_up("frank@example.com").await;
    let mut b = h.browser();
    let r = b
        .post(
            "/sign-in/email",
            json!({"email": "frank@example.com", "password": "password1234", "rememberMe": false}),
        )
        .await;
    let token_line = r.set_cookie_line(TOKEN).unwrap();
    assert!(!token_line.contains("Max-Age"), "{token_line}");
    let marker = r.set_cookie_line("better-auth.dont_remember").unwrap();
    assert!(marker.starts_with("better-auth.dont_remember=true."));
    assert!(!marker.contains("Max-Age"));

    let s = b.get("/get-session").await;
    assert_eq!(expires_at(s.body()), T0 + 86_400_000, "one day");
    h.advance(3_600);
    let s = b.get("/get-session").await;
    assert!(s.set_cookies.is_empty(), "never refreshed");
    assert_eq!(expires_at(s.body()), T0 + 86_400_000);
}

#[tokio::test]
async fn deferred_refresh_reports_on_get_and_refreshes_on_post() {
    let mut o = options();
    o.session.defer_session_refresh = true;
    let h = Harness::new(o);
    let mut b = h.browser();
    b.sign_up("gina@example.com").await;
    let r = b.get("/get-session").await;
    assert_eq!(r.body()["needsRefresh"], false);
    h.advance(86_400);
    let r = b.get("/get-session").await;
    assert_eq!(r.body()["needsRefresh"], true);
    assert!(r.set_cookies.is_empty());
    let r = b.send(Method::POST, "/get-session", Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body().get("needsRefresh").is_none());
    assert!(r.set_cookie_line(TOKEN).is_some());
    assert_eq!(expires_at(r.body()), T0 + 86_400_000 + 604_800_000);
}

#[tokio::test]
async fn post_get_session_without_defer_is_405() {
    let h = Harness::new(options());
    let r = h
        .browser()
        .send(Method::POST, "/get-session", Some(json!({})))
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.code(), Some("METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED"));
    assert_eq!(r.headers["cache-control"], "no-store");
}

#[tokio::test]
async fn tampered_cookie_is_no_session_and_clears_nothing() {
    let h = Harness::new(options());
    let mut b = h.browser();
    b.sign_up("hank@example.com").await;
    let (_, v) = b.cookies.iter_mut().find(|(n, _)| n == TOKEN).unwrap();
    v.replace_range(0..1, if v.starts_with('A') { "B" } else { "A" });
    let r = b.get("/get-session").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(*r.body(), Value::Null);
    assert!(r.set_cookies.is_empty());
}

#[tokio::test]
async fn list_sessions_requires_a_fresh_session() {
    let h = Harness::new(options());
    let mut b = h.browser();
    b.sign_up("ivy@example.com").await;
    let list = b.get("/list-sessions").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body().as_array().unwrap().len(), 1);

    h.advance(86_400);
    let stale = b.get("/list-sessions").await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN);
    assert_eq!(stale.code(), Some("SESSION_NOT_FRESH"));
    // The lookup refreshed the session on the way: its cookie is still sent.
    assert!(stale.set_cookie_line(TOKEN).is_some());

    let anonymous = h.browser().get("/list-sessions").await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        *anonymous.body(),
        json!({"message": "Unauthorized", "code": "UNAUTHORIZED"})
    );
}

async fn two_devices<'h>(h: &'h Harness, email: &str) -> (Browser<'h>, Browser<'h>) {
    let mut a = h.browser();
    a.sign_up(email).await;
    let mut b = h.browser();
    let r = b
        .post(
            "/sign-in/email",
            json!({"email": email, "password": "password1234"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    (a, b)
}

#[tokio::test]
async fn revoke_session_ends_another_device() {
    let h = Harness::new(options());
    let (mut a, mut b) = two_devices(&h, "jack@example.com").await;
    let b_token = b.get("/get-session").await.body()["session"]["token"].clone();
    let r = a.post("/revoke-session", json!({"token": b_token})).await;
    assert_eq!(*r.body(), json!({"status": true}));
    assert_eq!(*b.get("/get-session").await.body(), Value::Null);
    assert_ne!(*a.get("/get-session").await.body(), Value::Null);

    // Another user's token is silently ignored.
    let (_, mut other) = two_devices(&h, "kate@example.com").await;
    let other_token = other.get("/get-session").await.body()["session"]["token"].clone();
    let r = a
        .post("/revoke-session", json!({"token": other_token}))
        .await;
    assert_eq!(*r.body(), json!({"status": true}));
    assert_ne!(*other.get("/get-session").await.body(), Value::Null);
}

#[tokio::test]
async fn revoke_sessions_and_revoke_other_sessions() {
    let h = Harness::new(options());
    let (mut a, mut b) = two_devices(&h, "liam@example.com").await;
    let mut c = h.browser();
    c.post(
        "/sign-in/email",
        json!({"email": "liam@example.com", "password": "password1234"}),
    )
    .await;
    let r = a.post("/revoke-other-sessions", json!({})).await;
    assert_eq!(*r.body(), json!({"status": true}));
    assert!(r.set_cookies.is_empty(), "cookies untouched");
    assert_ne!(*a.get("/get-session").await.body(), Value::Null);
    assert_eq!(*b.get("/get-session").await.body(), Value::Null);
    assert_eq!(*c.get("/get-session").await.body(), Value::Null);

    let r = a.post("/revoke-sessions", json!({})).await;
    assert_eq!(*r.body(), json!({"status": true}));
    assert_eq!(r.cookie(TOKEN), Some(None));
    assert_eq!(*a.get("/get-session").await.body(), Value::Null);
}

#[tokio::test]
async fn update_session_sets_only_declared_additional_fields() {
    let mut o = options();
    o.session.additional_fields = vec![
        tessera::options::AdditionalField::new("theme"),
        tessera::options::AdditionalField::server_only("role"),
    ];
    let h = Harness::new(o);
    let mut b = h.browser();
    b.sign_up("mia@example.com").await;
    let none = b.post("/update-session", json!({"userId": "x"})).await;
    assert_eq!(none.status, StatusCode::BAD_REQUEST);
    assert_eq!(*none.body(), json!({"message": "No fields to update"}));
    let refused = b.post("/update-session", json!({"role": "admin"})).await;
    assert_eq!(refused.code(), Some("FIELD_NOT_ALLOWED"));
    let ok = b.post("/update-session", json!({"theme": "dark"})).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body()["session"]["theme"], "dark");
    assert!(ok.set_cookie_line(TOKEN).is_some());
    assert_eq!(
        b.get("/get-session").await.body()["session"]["theme"],
        "dark"
    );
}

#[tokio::test]
async fn application_call_returns_refresh_cookies_with_the_session() {
    let h = Harness::new(options());
    let mut b = h.browser();
    b.sign_up("noah@example.com").await;
    h.advance(86_400);
    let mut headers = HeaderMap::new();
    headers.insert("cookie", b.cookie_header().parse().unwrap());
    let outcome = h.auth.session(&headers).await.unwrap();
    assert!(outcome.session.is_some());
    let names: Vec<_> = outcome.cookies.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, [TOKEN]);

    let empty = h.auth.session(&HeaderMap::new()).await.unwrap();
    assert!(empty.session.is_none() && empty.cookies.is_empty());
}

#[tokio::test]
async fn leftover_cache_cookie_is_expired_when_the_cache_is_off() {
    let h = Harness::new(options());
    let mut b = h.browser();
    b.sign_up("olga@example.com").await;
    b.cookies
        .push(("better-auth.session_data".into(), "stale".into()));
    b.cookies
        .push(("better-auth.session_data.1".into(), "stale".into()));
    let r = b.get("/get-session").await;
    assert_ne!(*r.body(), Value::Null);
    assert_eq!(r.cookie("better-auth.session_data"), Some(None));
    assert_eq!(r.cookie("better-auth.session_data.1"), Some(None));
}

#[tokio::test]
async fn sign_up_validation_and_duplicates() {
    let h = Harness::new(options());
    let mut b = h.browser();
    let short = b
        .post(
            "/sign-up/email",
            json!({"email": "p@example.com", "password": "short", "name": "P"}),
        )
        .await;
    assert_eq!(short.code(), Some("PASSWORD_TOO_SHORT"));
    let long = b
        .post(
            "/sign-up/email",
            json!({"email": "p@example.com", "password": "x".repeat(129), "name": "P"}),
        )
        .await;
    assert_eq!(long.code(), Some("PASSWORD_TOO_LONG"));
    let bad = b
        .post(
            "/sign-up/email",
            json!({"email": "nope", "password": "password1234", "name": "P"}),
        )
        .await;
    assert_eq!(
        *bad.body(),
        json!({"message": "[body.email] Invalid email address", "code": "VALIDATION_ERROR"})
    );
    b.sign_up("p@example.com").await;
    let mut other = h.browser();
    let dup = other
        .post(
            "/sign-up/email",
            json!({"email": "P@EXAMPLE.COM", "password": "password1234", "name": "P"}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(dup.code(), Some("USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"));
}

#[tokio::test]
async fn email_verified_cannot_be_set_at_sign_up() {
    let h = Harness::new(options());
    let r = h
        .browser()
        .post(
            "/sign-up/email",
            json!({"email": "q@example.com", "password": "password1234", "name": "Q", "emailVerified": true}),
        )
        .await;
    assert_eq!(r.body()["user"]["emailVerified"], false);
}

#[tokio::test]
async fn form_encoded_sign_in_is_accepted() {
    let h = Harness::new(options());
    h.browser().sign_up("r@example.com").await;
    let req = http::Request::post("/api/auth/sign-in/email")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(bytes::Bytes::from_static(
            b"email=r%40example.com&password=password1234",
        ))
        .unwrap();
    let r = TestResponse::from(h.auth.handle(req).await);
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body());
}

#[tokio::test]
async fn origin_checks() {
    let h = Harness::new(options());
    let send = |origin: Option<&str>, cookie: bool, extra: &[(&str, &str)]| {
        let mut req =
            http::Request::post("/api/auth/sign-out").header("content-type", "application/json");
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if cookie {
            req = req.header("cookie", "a=b");
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let auth = h.auth.clone();
        async move {
            TestResponse::from(
                auth.handle(req.body(bytes::Bytes::from_static(b"{}")).unwrap())
                    .await,
            )
        }
    };
    assert_eq!(
        send(None, true, &[]).await.code(),
        Some("MISSING_OR_NULL_ORIGIN")
    );
    assert_eq!(
        send(Some("https://evil.com"), true, &[]).await.code(),
        Some("INVALID_ORIGIN")
    );
    assert_eq!(send(Some(ORIGIN), true, &[]).await.status, StatusCode::OK);
    // No cookie: no CSRF risk, no check.
    assert_eq!(send(None, false, &[]).await.status, StatusCode::OK);
    // "null" origin only with Sec-Fetch-Site: same-origin.
    assert_eq!(
        send(Some("null"), true, &[]).await.code(),
        Some("MISSING_OR_NULL_ORIGIN")
    );
    assert_eq!(
        send(Some("null"), true, &[("sec-fetch-site", "same-origin")])
            .await
            .status,
        StatusCode::OK
    );
    // Untrusted callback URL.
    let req = http::Request::post("/api/auth/sign-in/email")
        .header("content-type", "application/json")
        .body(bytes::Bytes::from(
            json!({"email": "x@example.com", "password": "password1234", "callbackURL": "https://evil.com/x"}).to_string(),
        ))
        .unwrap();
    assert_eq!(
        TestResponse::from(h.auth.handle(req).await).code(),
        Some("INVALID_CALLBACK_URL")
    );
    // Cross-site form navigation on sign-in.
    let req = http::Request::post("/api/auth/sign-in/email")
        .header("content-type", "application/json")
        .header("sec-fetch-site", "cross-site")
        .header("sec-fetch-mode", "navigate")
        .body(bytes::Bytes::from_static(b"{}"))
        .unwrap();
    assert_eq!(
        TestResponse::from(h.auth.handle(req).await).code(),
        Some("CROSS_SITE_NAVIGATION_LOGIN_BLOCKED")
    );
}

#[tokio::test]
async fn routing_edges_are_404_with_empty_body() {
    let h = Harness::new(options());
    for (method, uri) in [
        ("GET", "/api/auth/nope"),
        ("GET", "/api/auth/ok/"),
        ("GET", "/api/auth//ok"),
        ("PUT", "/api/auth/ok"),
        ("GET", "/elsewhere"),
        ("GET", "/api/authx/ok"),
    ] {
        let req = http::Request::builder()
            .method(method)
            .uri(uri)
            .body(bytes::Bytes::new())
            .unwrap();
        let r = h.auth.handle(req).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{method} {uri}");
        assert!(r.body().is_empty());
    }
}

#[tokio::test]
async fn base_url_path_becomes_the_base_path() {
    let h = Harness::new(options().base_url("http://localhost:3000/auth"));
    let req = http::Request::get("/auth/ok")
        .body(bytes::Bytes::new())
        .unwrap();
    assert_eq!(h.auth.handle(req).await.status(), StatusCode::OK);
}

/// better-auth refuses a base URL that is not http(s) (`assertHasProtocol`).
#[test]
fn base_url_must_be_an_http_or_https_url() {
    for url in [
        "ftp://auth.example.com",
        "localhost:3000",
        "auth.example.com",
        "http://[::1",
    ] {
        let built = Auth::builder(options().base_url(url)).build();
        assert!(built.is_err(), "{url}");
    }
}

/// The base URL is read as a browser reads it: its origin is trusted and
/// its path is the base path.
#[tokio::test]
async fn base_url_is_parsed_as_a_browser_parses_it() {
    let h = Harness::new(options().base_url("HTTP://LocalHost:80/Auth/"));
    let req = http::Request::get("/Auth/ok")
        .body(bytes::Bytes::new())
        .unwrap();
    assert_eq!(h.auth.handle(req).await.status(), StatusCode::OK);
    let sign_in = |callback: &str| {
        http::Request::post("/Auth/sign-in/email")
            .header("content-type", "application/json")
            .body(bytes::Bytes::from(
                json!({"email": "not-an-email", "password": "password1234", "callbackURL": callback})
                    .to_string(),
            ))
            .unwrap()
    };
    let trusted = TestResponse::from(h.auth.handle(sign_in("http://localhost/x")).await);
    assert_eq!(trusted.code(), Some("INVALID_EMAIL"));
    let untrusted = TestResponse::from(h.auth.handle(sign_in("http://localhost:3000/x")).await);
    assert_eq!(untrusted.code(), Some("INVALID_CALLBACK_URL"));
}

#[tokio::test]
async fn https_base_url_uses_secure_cookie_names() {
    let h = Harness::new(
        options()
            .base_url("https://auth.example.com")
            .trusted_origin(ORIGIN),
    );
    let r = h.browser().sign_up("s@example.com").await;
    let line = r
        .set_cookie_line("__Secure-better-auth.session_token")
        .unwrap();
    assert!(line.contains("; Secure"));
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let h = Harness::new(options().rate_limit(true));
    let mut last = None;
    for _ in 0..4 {
        let r = h
            .browser()
            .post(
                "/sign-in/email",
                json!({"email": "t@example.com", "password": "password1234"}),
            )
            .await;
        last = Some(r);
    }
    let r = last.unwrap();
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        *r.body(),
        json!({"message": "Too many requests. Please try again later."})
    );
    assert_eq!(r.headers["x-retry-after"], "10");
    h.advance(11);
    let r = h.browser().get("/ok").await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn default_secret_is_refused_outside_development() {
    let err = Auth::builder(Options::new()).build().unwrap_err();
    assert!(matches!(
        err,
        tessera::BuildError::Secret(SecretError::DefaultSecret)
    ));
    let dev = Auth::builder(Options::new().environment(Environment::Development)).build();
    assert!(dev.is_ok());
}

/// Issue 11, hole #6: an older version of `BETTER_AUTH_SECRETS` still
/// verifies tokens and cookie caches, so the public default is refused in
/// every slot, and as the legacy secret beside them, outside development.
#[test]
fn default_secret_is_refused_in_every_slot_outside_development() {
    use tessera::secret::DEFAULT_SECRET;
    let strong = "Xk9#pL2$vQ8@nR5&mT1*wY7!zB4^cF6%hJ3";
    let from_env = |vars: &[(&str, &str)], env: &str| {
        let vars: Vec<(String, String)> = vars
            .iter()
            .chain(&[("NODE_ENV", env)])
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let options =
            Options::from_vars(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
                .unwrap();
        Auth::builder(options).build()
    };
    let older = format!("2:{strong},1:{DEFAULT_SECRET}");
    let cases: [(&[(&str, &str)], SecretError); 3] = [
        (
            &[("BETTER_AUTH_SECRETS", &older)],
            SecretError::DefaultSecretVersion(1),
        ),
        (
            &[("BETTER_AUTH_SECRETS", &format!("2:{DEFAULT_SECRET}"))],
            SecretError::DefaultSecretVersion(2),
        ),
        (
            &[
                ("BETTER_AUTH_SECRETS", &format!("2:{strong}")),
                ("BETTER_AUTH_SECRET", DEFAULT_SECRET),
            ],
            SecretError::DefaultLegacySecret,
        ),
    ];
    for (vars, refusal) in cases {
        for env in ["production", "test"] {
            match from_env(vars, env) {
                Err(tessera::BuildError::Secret(e)) => {
                    assert_eq!(e, refusal, "{vars:?} {env}");
                    let line = e.to_string();
                    assert!(
                        !line.contains('\n') && !line.contains(DEFAULT_SECRET),
                        "{line}"
                    );
                }
                other => panic!("{vars:?} in {env}: {:?}", other.map(|_| "built")),
            }
        }
        assert!(
            from_env(vars, "development").is_ok(),
            "{vars:?} in development"
        );
    }
    assert!(from_env(
        &[("BETTER_AUTH_SECRETS", &format!("2:{strong}"))],
        "production"
    )
    .is_ok());
}

#[tokio::test]
async fn secondary_storage_uses_better_auth_keys_and_watermark() {
    let storage = Arc::new(MemorySecondaryStorage::new());
    let s2 = storage.clone();
    let h = Harness::with(options(), |b| {
        b.database(Arc::new(MemoryDatabase::new()))
            .secondary_storage(s2)
    });
    let (mut a, mut b) = two_devices(&h, "uma@example.com").await;
    let session = a.get("/get-session").await.body().clone();
    let token = session["session"]["token"].as_str().unwrap();
    let user_id = session["user"]["id"].as_str().unwrap();
    let cached: Value = serde_json::from_str(&storage.get(token).await.unwrap().unwrap()).unwrap();
    assert_eq!(cached["session"]["token"], token);
    assert_eq!(cached["user"]["email"], "uma@example.com");
    let index: Value = serde_json::from_str(
        &storage
            .get(&format!("active-sessions-{user_id}"))
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(index.as_array().unwrap().len(), 2);
    assert!(index[0]["expiresAt"].is_i64());

    let r = a.post("/revoke-sessions", json!({})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(*b.get("/get-session").await.body(), Value::Null);
    let watermark = storage
        .get(&format!("revoked-sessions-before-{user_id}"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(watermark, (T0).to_string());
    assert!(storage
        .get(&format!("active-sessions-{user_id}"))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn secondary_storage_refresh_moves_the_index_entry() {
    let storage = Arc::new(MemorySecondaryStorage::new());
    let s2 = storage.clone();
    let h = Harness::with(options(), |b| b.secondary_storage(s2));
    let mut a = h.browser();
    let up = a.sign_up("vera@example.com").await;
    let user_id = up.body()["user"]["id"].as_str().unwrap().to_owned();
    h.advance(86_400);
    let r = a.get("/get-session").await;
    assert!(r.set_cookie_line(TOKEN).is_some());
    let index: Value = serde_json::from_str(
        &storage
            .get(&format!("active-sessions-{user_id}"))
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(index[0]["expiresAt"], T0 + 86_400_000 + 604_800_000);
    let list = a.get("/list-sessions").await;
    assert_eq!(
        list.status,
        StatusCode::FORBIDDEN,
        "created a day ago: not fresh"
    );
}

#[tokio::test]
async fn the_socket_peer_counts_the_same_passed_or_as_an_extension() {
    use tessera::ClientAddr;
    let h = Harness::new(options().environment(Environment::Production));
    let addr = |ip: &str| ClientAddr(ip.parse().unwrap());
    let sign_up = |email: &str| {
        http::Request::post("/api/auth/sign-up/email")
            .header("content-type", "application/json")
            .header("origin", ORIGIN)
            .body(bytes::Bytes::from(
                json!({"email": email, "password": "password1234", "name": "P"}).to_string(),
            ))
            .unwrap()
    };
    let session_ip = |res: http::Response<bytes::Bytes>| session_ip_of(&h, cookie_header_of(&res));
    async fn session_ip_of(h: &Harness, cookie: String) -> Value {
        let req = http::Request::get("/api/auth/get-session")
            .header("cookie", cookie)
            .body(bytes::Bytes::new())
            .unwrap();
        let body: Value = serde_json::from_slice(h.auth.handle(req).await.body()).unwrap();
        body["session"]["ipAddress"].clone()
    }
    let passed = h
        .auth
        .handle_from(sign_up("p1@example.com"), Some(addr("198.51.100.4")))
        .await;
    assert_eq!(session_ip(passed).await, "198.51.100.4");
    let mut req = sign_up("p2@example.com");
    req.extensions_mut().insert(addr("198.51.100.5"));
    let extension = h.auth.handle(req).await;
    assert_eq!(session_ip(extension).await, "198.51.100.5");
    let mut req = sign_up("p3@example.com");
    req.extensions_mut().insert(addr("198.51.100.6"));
    let both = h.auth.handle_from(req, Some(addr("203.0.113.9"))).await;
    assert_eq!(session_ip(both).await, "198.51.100.6", "the extension wins");

    // The rate limiter keys on it too: one peer limited, another not.
    let h = Harness::new(options().rate_limit(true));
    let sign_in = || {
        http::Request::post("/api/auth/sign-in/email")
            .header("content-type", "application/json")
            .header("origin", ORIGIN)
            .body(bytes::Bytes::from(
                json!({"email": "t@example.com", "password": "password1234"}).to_string(),
            ))
            .unwrap()
    };
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let res = h
            .auth
            .handle_from(sign_in(), Some(addr("198.51.100.4")))
            .await;
        statuses.push(res.status());
    }
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
    let other = h
        .auth
        .handle_from(sign_in(), Some(addr("198.51.100.5")))
        .await;
    assert_ne!(other.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// Options where better-auth hides whether an email is taken.
fn hiding_duplicates(require_email_verification: bool) -> Options {
    let mut o = options();
    if require_email_verification {
        o.email_and_password.require_email_verification = true;
    } else {
        o.email_and_password.auto_sign_in = false;
    }
    o
}

fn keys(user: &Value) -> Vec<&str> {
    user.as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

#[tokio::test]
async fn duplicate_sign_up_gets_a_new_users_answer_where_better_auth_hides_it() {
    for require_email_verification in [true, false] {
        let h = Harness::new(hiding_duplicates(require_email_verification));
        let first = h
            .browser()
            .post(
                "/sign-up/email",
                json!({"email": "taken@example.com", "password": "password1234", "name": "First"}),
            )
            .await;
        assert_eq!(first.status, StatusCode::OK, "{:?}", first.body());
        h.advance(60);
        let again = h
            .browser()
            .post(
                "/sign-up/email",
                json!({"email": "TAKEN@example.com", "password": "another-password", "name": "Second"}),
            )
            .await;
        let new = h
            .browser()
            .post(
                "/sign-up/email",
                json!({"email": "new@example.com", "password": "password1234", "name": "New"}),
            )
            .await;
        for reply in [&again, &new] {
            assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body());
            assert_eq!(reply.body()["token"], Value::Null);
            assert!(reply.set_cookies.is_empty(), "{:?}", reply.set_cookies);
        }
        // The user this sign-up would have created: the input, lowercased
        // email, now, a fresh id; the same fields as a real new user's.
        let user = &again.body()["user"];
        assert_eq!(keys(user), keys(&new.body()["user"]));
        assert_eq!(user["name"], "Second");
        assert_eq!(user["email"], "taken@example.com");
        assert_eq!(user["emailVerified"], false);
        let now = Timestamp::from_millis(T0 + 60_000).to_iso();
        assert_eq!(user["createdAt"], now.as_str());
        assert_eq!(user["updatedAt"], now.as_str());
        let id = user["id"].as_str().unwrap();
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(user["id"], first.body()["user"]["id"]);
        // Nothing was stored: the account is the first one.
        let stored = h
            .auth
            .sessions()
            .database()
            .find_user_by_email("taken@example.com")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.name, "First");
    }
}

#[tokio::test]
async fn hidden_duplicate_sign_up_keeps_the_image_it_was_sent() {
    let h = Harness::new(hiding_duplicates(true));
    h.browser().sign_up("pic@example.com").await;
    let again = h
        .browser()
        .post(
            "/sign-up/email",
            json!({"email": "pic@example.com", "password": "password1234", "name": "P", "image": "https://example.com/p.png"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body()["user"]["image"], "https://example.com/p.png");
}

#[tokio::test]
async fn sign_up_spends_one_hash_whether_or_not_the_email_is_hidden_as_taken() {
    let hashes = |h: &Harness| h.auth.hash_pool().completed();
    let body = |email: &str| json!({"email": email, "password": "password1234", "name": "N"});

    let h = Harness::new(hiding_duplicates(true));
    h.browser()
        .post("/sign-up/email", body("a@example.com"))
        .await;
    assert_eq!(hashes(&h), 1);
    let hidden = h
        .browser()
        .post("/sign-up/email", body("a@example.com"))
        .await;
    assert_eq!(hidden.status, StatusCode::OK);
    assert_eq!(
        hashes(&h),
        2,
        "a hidden duplicate costs what a sign-up costs"
    );

    // Where the answer says it anyway, better-auth answers before hashing.
    let h = Harness::new(options());
    h.browser().sign_up("b@example.com").await;
    let shown = h
        .browser()
        .post("/sign-up/email", body("b@example.com"))
        .await;
    assert_eq!(shown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(shown.code(), Some("USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"));
    assert_eq!(hashes(&h), 1);
}

#[tokio::test]
async fn sign_in_spends_one_hash_for_an_unknown_email_as_for_a_wrong_password() {
    let h = Harness::new(options());
    h.browser().sign_up("known@example.com").await;
    for email in ["known@example.com", "unknown@example.com"] {
        let hashes = h.auth.hash_pool().completed();
        let r = h
            .browser()
            .post(
                "/sign-in/email",
                json!({"email": email, "password": "wrong-password"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.code(), Some("INVALID_EMAIL_OR_PASSWORD"));
        assert_eq!(h.auth.hash_pool().completed(), hashes + 1, "{email}");
    }
}

#[tokio::test]
async fn sign_in_refuses_a_password_over_the_maximum_before_any_lookup_or_hash() {
    let h = Harness::new(options());
    h.browser().sign_up("long@example.com").await;
    let hashes = h.auth.hash_pool().completed();
    let too_long = [
        "x".repeat(129),
        // 130 UTF-16 code units, as better-auth counts (JavaScript's length).
        "\u{1F600}".repeat(65),
        // One mebibyte that NFKC would make 18 times longer.
        "\u{FDFA}".repeat(350_000),
    ];
    for email in ["long@example.com", "nobody@example.com"] {
        for password in &too_long {
            let r = h
                .browser()
                .post(
                    "/sign-in/email",
                    json!({"email": email, "password": password}),
                )
                .await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST);
            assert_eq!(
                *r.body(),
                json!({"message": "Password too long", "code": "PASSWORD_TOO_LONG"})
            );
        }
    }
    assert_eq!(h.auth.hash_pool().completed(), hashes);
    // At the maximum, it is an ordinary wrong password.
    let r = h
        .browser()
        .post(
            "/sign-in/email",
            json!({"email": "long@example.com", "password": "x".repeat(128)}),
        )
        .await;
    assert_eq!(r.code(), Some("INVALID_EMAIL_OR_PASSWORD"));
}

#[tokio::test]
async fn password_lengths_count_utf16_code_units_as_better_auth_does() {
    let h = Harness::new(options());
    // Four emoji are eight code units: long enough.
    let r = h
        .browser()
        .post(
            "/sign-up/email",
            json!({"email": "emoji@example.com", "password": "\u{1F600}".repeat(4), "name": "E"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body());
    // Sixty-five are 130: too long.
    let r = h
        .browser()
        .post(
            "/sign-up/email",
            json!({"email": "emoji2@example.com", "password": "\u{1F600}".repeat(65), "name": "E"}),
        )
        .await;
    assert_eq!(r.code(), Some("PASSWORD_TOO_LONG"));
}

#[tokio::test]
async fn the_longest_configurable_password_is_hashed_and_no_longer_one_is_allowed() {
    let with_max = |max: usize| {
        let mut o = options();
        o.email_and_password.max_password_length = max;
        Auth::builder(o).build()
    };
    let err = with_max(1025).unwrap_err().to_string();
    assert!(
        err.contains("email_and_password.max_password_length"),
        "{err}"
    );
    let mut o = options();
    o.email_and_password.max_password_length = 1024;
    let h = Harness::new(o);
    // 1,024 code units of a character NFKC makes 18: 3 KiB in, 33 KiB hashed.
    let password = "\u{FDFA}".repeat(1024);
    let mut b = h.browser();
    let r = b
        .post(
            "/sign-up/email",
            json!({"email": "max@example.com", "password": password, "name": "M"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body());
    let r = b
        .post(
            "/sign-in/email",
            json!({"email": "max@example.com", "password": password}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body());
}

#[tokio::test]
async fn hash_threads_sets_the_pool_size() {
    let one = std::num::NonZeroUsize::new(1).unwrap();
    let h = Harness::new(options().hash_threads(one));
    assert_eq!(h.auth.hash_pool().size(), 1);
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    assert_eq!(Harness::new(options()).auth.hash_pool().size(), cores);
}
