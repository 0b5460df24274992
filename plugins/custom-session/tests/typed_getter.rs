//! `CustomSession::session`: the function's own type for application
//! routes, together with the cookie work.

mod common;

use common::*;
use http::{HeaderMap, StatusCode};
use serde_json::json;

const DAY: u64 = 86_400;

fn set_cookie_lines(jar: &tessera::CookieJar) -> Vec<String> {
    let mut headers = HeaderMap::new();
    jar.write_to(&mut headers);
    headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn signed_out_is_none_without_calling_the_function() {
    let h = Harness::stateful(options());
    let outcome = h.custom.session(&h.auth, &HeaderMap::new()).await.unwrap();
    assert!(outcome.session.is_none());
    assert!(outcome.cookies.is_empty());
    assert_eq!(h.calls(), 0);
}

#[tokio::test]
async fn returns_the_functions_typed_value() {
    for h in [Harness::stateful(options()), Harness::stateless(options())] {
        let mut browser = h.browser();
        browser.sign_up("typed@example.com").await;
        let outcome = h.custom.session(&h.auth, &browser.headers()).await.unwrap();
        let shaped: WithRoles = outcome.session.expect("signed in");
        assert_eq!(shaped.roles, ["user"]);
        assert_eq!(shaped.user.email, "typed@example.com");
        assert_eq!(shaped.user.extra["newField"], json!("newField"));
        assert_eq!(shaped.session.token, browser.token());
        assert_eq!(outcome.needs_refresh, None);
        assert_eq!(h.calls(), 1);
    }
}

#[tokio::test]
async fn carries_the_refresh_cookies() {
    let h = Harness::stateful(options());
    let mut browser = h.browser();
    browser.sign_up("cookies@example.com").await;
    h.advance(DAY + 1);
    let outcome = h.custom.session(&h.auth, &browser.headers()).await.unwrap();
    let shaped = outcome.session.expect("signed in");
    assert_eq!(
        shaped.session.expires_at.as_millis(),
        h.now().as_millis() + 604_800_000
    );
    let lines = set_cookie_lines(&outcome.cookies);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{SESSION_TOKEN}=")) && l.contains("Max-Age=604800")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn an_error_keeps_the_refresh_cookies() {
    let h = Harness::stateful(options());
    let mut browser = h.browser();
    browser.sign_up("typed-err@example.com").await;
    h.advance(DAY + 1);
    let mut headers = browser.headers();
    headers.insert(FAIL_HEADER, "ROLES_UNAVAILABLE".parse().unwrap());
    let err = h.custom.session(&h.auth, &headers).await.unwrap_err();
    assert_eq!(err.error.status, StatusCode::FORBIDDEN);
    assert_eq!(err.error.code.as_deref(), Some("ROLES_UNAVAILABLE"));
    assert!(err.cookies.contains(SESSION_TOKEN));
}

#[tokio::test]
async fn deferred_refresh_is_reported_not_done() {
    let mut opts = options();
    opts.session.defer_session_refresh = true;
    let h = Harness::stateful(opts);
    let mut browser = h.browser();
    browser.sign_up("typed-defer@example.com").await;
    h.advance(DAY + 1);
    let outcome = h.custom.session(&h.auth, &browser.headers()).await.unwrap();
    assert!(outcome.session.is_some());
    assert_eq!(outcome.needs_refresh, Some(true));
    assert!(!outcome.cookies.contains(SESSION_TOKEN));
}
