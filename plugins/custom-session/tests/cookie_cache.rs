//! Cached data never includes custom fields (spec §8 "What it does not
//! change"): the cookie cache and the stores hold the base session and
//! user, and the function runs on every request, cache hit or not.

mod common;

use common::*;
use serde_json::Value;
use tessera::SessionWithUser;
use tessera_testkit::decode_uri_component;

fn has_custom_fields(data: &SessionWithUser) -> bool {
    let json = serde_json::to_value(data).unwrap();
    data.user.extra.contains_key("newField")
        || json.get("roles").is_some()
        || json.to_string().contains("newField")
}

/// The `session_data` the browser holds, decoded as the kernel does.
fn cached(h: &Harness, browser: &Browser<'_>) -> SessionWithUser {
    let raw = browser.cookies.get(SESSION_DATA).expect("a cookie cache");
    let cached = h
        .auth
        .cookie_cache()
        .decode(&decode_uri_component(raw), h.now())
        .expect("a valid cookie cache");
    SessionWithUser::clone(&cached.data)
}

#[tokio::test]
async fn the_function_runs_on_every_cache_hit() {
    let mut opts = options();
    opts.session.cookie_cache.enabled = Some(true);
    let h = Harness::stateful(opts);
    let mut browser = h.browser();
    browser.sign_up("cache@example.com").await;
    assert!(!has_custom_fields(&cached(&h, &browser)));

    for n in 1..=3 {
        let res = browser.get("/get-session").await;
        assert_eq!(body(&res)["user"]["newField"], "newField");
        assert_eq!(h.calls(), n);
    }

    // The cache expires: the store is read and the cache rewritten, still
    // without the custom fields.
    h.advance(301);
    let res = browser.get("/get-session").await;
    assert!(sets(&res, SESSION_DATA), "{:?}", res.set_cookies);
    assert_eq!(body(&res)["roles"][0], "user");
    assert!(!has_custom_fields(&cached(&h, &browser)));
    let stored = h
        .auth
        .sessions()
        .find(&browser.token())
        .await
        .unwrap()
        .unwrap();
    assert!(!has_custom_fields(&stored));
    assert_eq!(h.calls(), 4);

    // Proof the next answer is a cache hit: the store no longer has the
    // session, yet it is shaped again from the cookie. (Removed from the
    // database directly: a revocation through `Sessions` would be
    // published to the revocation log, and the hit refused.)
    h.auth
        .sessions()
        .database()
        .delete_session(&browser.token())
        .await
        .unwrap();
    let res = browser.get("/get-session").await;
    assert_eq!(body(&res)["user"]["email"], "cache@example.com");
    assert_eq!(body(&res)["roles"][0], "user");
    assert_eq!(h.calls(), 5);
}

#[tokio::test]
async fn stateless_cache_holds_only_the_base_session() {
    let h = Harness::stateless(options());
    let mut browser = h.browser();
    browser.sign_up("jwe@example.com").await;
    for n in 1..=2 {
        let res = browser.get("/get-session").await;
        assert_eq!(body(&res)["user"]["newField"], "newField");
        assert_eq!(h.calls(), n);
    }
    let data = cached(&h, &browser);
    assert_eq!(data.user.email, "jwe@example.com");
    assert!(!has_custom_fields(&data));
    assert_eq!(
        serde_json::to_value(&data.session).unwrap()["token"],
        Value::String(browser.token())
    );
}
