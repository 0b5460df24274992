//! Refresh by `updateAge` (spec §6.4 step 12) and `deferSessionRefresh`
//! (spec §6.1) with the plugin: the cookie work always reaches the client.

mod common;

use common::*;
use serde_json::json;
use std::sync::Arc;
use tessera::store::MemoryDatabase;
use tessera::{Auth, Options, Timestamp};
use tessera_custom_session::{CustomSession, SessionShaper};
use tessera_testkit::TestRequest;

const DAY: u64 = 86_400;
const WEEK_MS: i64 = 604_800_000;

fn expires_at(res: &tessera_testkit::TestResponse) -> i64 {
    let iso = body(res)["session"]["expiresAt"].as_str().unwrap();
    Timestamp::parse_iso(iso).unwrap().as_millis()
}

fn deferred() -> Options {
    let mut opts = options();
    opts.session.defer_session_refresh = true;
    opts
}

#[tokio::test]
async fn refresh_after_update_age_still_sets_the_cookies() {
    let h = Harness::stateful(options());
    let mut browser = h.browser();
    browser.sign_up("refresh@example.com").await;
    let res = browser.get("/get-session").await;
    assert!(res.set_cookies.is_empty(), "{:?}", res.set_cookies);

    h.advance(DAY + 1);
    let res = browser.get("/get-session").await;
    assert_eq!(res.status, 200, "{}", res.text);
    let token = res
        .set_cookie(SESSION_TOKEN)
        .expect("the token is re-issued");
    assert_eq!(token.attribute("Max-Age"), Some("604800"));
    assert_eq!(
        expires_at(&res),
        h.now().as_millis() + WEEK_MS,
        "the shaped body carries the refreshed session"
    );
    assert_eq!(body(&res)["roles"], json!(["user"]));
}

#[tokio::test]
async fn a_failing_function_keeps_the_refresh_cookies() {
    let h = Harness::stateful(options());
    let mut browser = h.browser();
    browser.sign_up("keep@example.com").await;
    h.advance(DAY + 1);
    let res = browser
        .send(TestRequest::get(api("/get-session")).header(FAIL_HEADER, "NOPE"))
        .await;
    assert_eq!(res.status, 403);
    // The store was extended; the browser hears about it anyway.
    assert!(sets(&res, SESSION_TOKEN), "{:?}", res.set_cookies);
    let stored = h
        .auth
        .sessions()
        .find(&browser.token())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.session.expires_at.as_millis(),
        h.now().as_millis() + WEEK_MS
    );
}

#[tokio::test]
async fn deferred_get_reports_needs_refresh_and_post_refreshes() {
    let h = Harness::stateful(deferred());
    let mut browser = h.browser();
    browser.sign_up("defer@example.com").await;

    let res = browser.get("/get-session").await;
    assert_eq!(body(&res)["needsRefresh"], false);
    let keys: Vec<&str> = body(&res)
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["roles", "user", "session", "needsRefresh"]);

    h.advance(DAY + 1);
    let res = browser.get("/get-session").await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(body(&res)["needsRefresh"], true);
    assert_eq!(body(&res)["roles"], json!(["user"]));
    assert!(!sets(&res, SESSION_TOKEN), "a GET stays read-only");
    let before = expires_at(&res);

    // POST is routed (better-auth's customSession answers 404 here).
    let res = browser.post("/get-session", &json!({})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert!(sets(&res, SESSION_TOKEN), "{:?}", res.set_cookies);
    assert!(body(&res).get("needsRefresh").is_none(), "as core's POST");
    assert_eq!(body(&res)["roles"], json!(["user"]));
    assert!(expires_at(&res) > before);

    let res = browser.get("/get-session").await;
    assert_eq!(body(&res)["needsRefresh"], false);
    assert_eq!(h.calls(), 4);
}

#[tokio::test]
async fn deferred_post_without_a_session_is_null() {
    let h = Harness::stateful(deferred());
    let res = h.browser().post("/get-session", &json!({})).await;
    assert_eq!((res.status, res.text.as_str()), (200, "null"));
    assert_eq!(h.calls(), 0);
}

#[tokio::test]
async fn needs_refresh_is_added_only_to_object_bodies_without_one() {
    fn build<S: SessionShaper>(custom: CustomSession<S>) -> Auth {
        Auth::builder(deferred())
            .database(Arc::new(MemoryDatabase::new()))
            .plugin(Arc::new(custom))
            .build()
            .unwrap()
    }
    let list = build(CustomSession::new(|s, _| async move {
        Ok(json!([s.user.email]))
    }));
    let own = build(CustomSession::new(|_, _| async move {
        Ok(json!({"needsRefresh": "mine", "plan": "pro"}))
    }));
    for (auth, expected) in [
        (&list, json!(["n@example.com"])),
        (&own, json!({"needsRefresh": "mine", "plan": "pro"})),
    ] {
        let mut browser = Browser {
            auth,
            cookies: Default::default(),
        };
        browser.sign_up("n@example.com").await;
        let res = browser.get("/get-session").await;
        assert_eq!(body(&res), &expected);
    }
}
