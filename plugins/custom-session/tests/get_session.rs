//! `/get-session` with the plugin: null without calling the function, the
//! function's body otherwise, its errors as responses, POST as in core.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use serde_json::{json, Value};
use tessera::store::MemoryDatabase;
use tessera::{Auth, SessionWithUser};
use tessera_custom_session::{CustomSession, ID};
use tessera_testkit::TestRequest;

fn assert_no_store(res: &tessera_testkit::TestResponse) {
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(res.header("pragma"), Some("no-cache"));
}

#[tokio::test]
async fn no_session_answers_null_without_calling_the_function() {
    for h in [Harness::stateful(options()), Harness::stateless(options())] {
        let mut browser = h.browser();
        let res = browser.get("/get-session").await;
        assert_eq!((res.status, res.text.as_str()), (200, "null"));
        assert_no_store(&res);
        // A forged token: still signed out, still not called.
        browser.cookies.insert(SESSION_TOKEN, "forged.c2lnbmF0dXJl");
        let res = browser.get("/get-session").await;
        assert_eq!((res.status, res.text.as_str()), (200, "null"));
        assert_eq!(h.calls(), 0);
    }
}

#[tokio::test]
async fn signed_out_after_sign_out_does_not_call_the_function() {
    let h = Harness::stateful(options());
    let mut browser = h.browser();
    browser.sign_up("out@example.com").await;
    let res = browser.post("/sign-out", &json!({})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = browser.get("/get-session").await;
    assert_eq!(res.text, "null");
    assert_eq!(h.calls(), 0);
}

#[tokio::test]
async fn session_body_is_exactly_what_the_function_returns() {
    for h in [Harness::stateful(options()), Harness::stateless(options())] {
        let mut browser = h.browser();
        let signed_up = browser.sign_up("ada@example.com").await;
        assert_eq!(h.calls(), 0, "sign-up does not shape");
        let res = browser.get("/get-session").await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_no_store(&res);
        let body = body(&res);
        let keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["roles", "user", "session"],
            "the body is replaced whole"
        );
        assert_eq!(body["roles"], json!(["user"]));
        assert_eq!(body["user"]["newField"], "newField");
        assert_eq!(body["user"]["email"], "ada@example.com");
        assert_eq!(
            body["user"]
                .as_object()
                .unwrap()
                .keys()
                .next_back()
                .unwrap(),
            "newField",
            "the new field follows the user's own, as `{{...user, newField}}` does"
        );
        assert_eq!(
            body["session"]["token"],
            signed_up.json.as_ref().unwrap()["token"]
        );
        assert!(body.get("needsRefresh").is_none());
        assert_eq!(h.calls(), 1);
    }
}

#[tokio::test]
async fn a_closure_shapes_with_any_serializable_output() {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let custom = CustomSession::new(move |s: SessionWithUser, req| {
        counter.fetch_add(1, Ordering::SeqCst);
        let path = req.path().map(str::to_owned);
        async move { Ok((s.user.email, path)) }
    });
    let auth = Auth::builder(options())
        .database(Arc::new(MemoryDatabase::new()))
        .plugin(Arc::new(custom))
        .build()
        .unwrap();
    let mut browser = Browser {
        auth: &auth,
        cookies: Default::default(),
    };
    browser.sign_up("tuple@example.com").await;
    let res = browser.get("/get-session").await;
    assert_eq!(body(&res), &json!(["tuple@example.com", "/get-session"]));
    assert_eq!(seen.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_error_from_the_function_is_the_response_not_a_sign_out() {
    let h = Harness::stateful(options());
    let mut browser = h.browser();
    browser.sign_up("err@example.com").await;
    let res = browser
        .send(TestRequest::get(api("/get-session")).header(FAIL_HEADER, "ROLES_UNAVAILABLE"))
        .await;
    assert_eq!(res.status, 403, "{}", res.text);
    assert_eq!(
        body(&res),
        &json!({"message": "Roles are unavailable", "code": "ROLES_UNAVAILABLE"})
    );
    assert!(
        res.expired_cookie_names().is_empty(),
        "no cookie is deleted: {:?}",
        res.set_cookies
    );
    // Still signed in.
    let res = browser.get("/get-session").await;
    assert_eq!(body(&res)["user"]["email"], "err@example.com");
}

#[tokio::test]
async fn post_without_defer_answers_cores_405() {
    let h = Harness::stateful(options());
    let mut browser = h.browser();
    browser.sign_up("post@example.com").await;
    let res = browser.post("/get-session", &json!({})).await;
    assert_eq!(res.status, 405, "{}", res.text);
    assert_eq!(
        res.code(),
        Some("METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED")
    );
    assert_eq!(
        res.message(),
        Some("POST method requires deferSessionRefresh to be enabled in session config")
    );
    assert_no_store(&res);
    assert_eq!(h.calls(), 0);

    // Exactly what core answers without the plugin.
    let core = Auth::builder(options())
        .database(Arc::new(MemoryDatabase::new()))
        .build()
        .unwrap();
    let mut plain = Browser {
        auth: &core,
        cookies: Default::default(),
    };
    let core_res = plain.post("/get-session", &json!({})).await;
    assert_eq!((core_res.status, core_res.text), (res.status, res.text));
}

#[tokio::test]
async fn query_flags_reach_the_core_resolution() {
    let mut opts = options();
    opts.session.cookie_cache.enabled = Some(true);
    let h = Harness::stateful(opts);
    let mut browser = h.browser();
    browser.sign_up("flags@example.com").await;
    // Gone from the database behind Tessera's back (not revoked through
    // `Sessions`, which would publish it and refuse the cache at once).
    h.auth
        .sessions()
        .database()
        .delete_session(&browser.token())
        .await
        .unwrap();
    // The cache still vouches for the session ...
    let res = browser.get("/get-session").await;
    assert_eq!(body(&res)["user"]["email"], "flags@example.com");
    // ... unless the store is asked: then it is gone, unshaped.
    let calls = h.calls();
    let res = browser.get("/get-session?disableCookieCache=true").await;
    assert_eq!(res.text, "null");
    assert_eq!(h.calls(), calls);

    let mut browser = h.browser();
    browser.sign_up("norefresh@example.com").await;
    h.advance(86_401);
    let res = browser.get("/get-session?disableRefresh=true").await;
    assert_eq!(body(&res)["user"]["email"], "norefresh@example.com");
    assert!(!sets(&res, SESSION_TOKEN), "{:?}", res.set_cookies);
}

#[tokio::test]
async fn replaces_get_and_post_get_session_and_nothing_else() {
    let h = Harness::stateful(options());
    let core = Auth::builder(options()).build().unwrap();
    assert_eq!(h.auth.routes(), core.routes());
    assert_eq!(h.auth.plugin_ids(), [ID]);
    assert!(h.auth.routes().contains(&"POST /get-session".to_owned()));
    // Other endpoints are not shaped.
    let mut browser = h.browser();
    browser.sign_up("other@example.com").await;
    let res = browser.get("/list-sessions").await;
    assert!(body(&res)[0].get("roles").is_none());
    assert_eq!(h.calls(), 0);
}

#[tokio::test]
async fn cannot_be_enabled_by_id() {
    assert!(tessera::plugin::find(ID).is_none(), "not in the registry");
    let mut opts = options();
    opts.plugins.push(ID.to_owned());
    let err = Auth::builder(opts.clone()).build().unwrap_err();
    assert!(
        matches!(err, tessera::BuildError::UnknownPlugin { ref id } if id == ID),
        "{err}"
    );
    // Named in the options and added on the builder: the builder's wins.
    let auth = Auth::builder(opts)
        .plugin(Arc::new(CustomSession::new(|_, _| async {
            Ok(Value::Null)
        })))
        .build()
        .unwrap();
    assert_eq!(auth.plugin_ids(), [ID]);
}
