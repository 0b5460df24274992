//! Differential tests for `customSession` (spec §8): better-auth 1.7.25
//! (`MODE=memory PLUGINS=custom-session`, whose function adds
//! `roles: ["user"]` and `user.newField = "newField"`) against Tessera with
//! `tessera-custom-session` and the same function.
//!
//! One deliberate difference is pinned: better-auth's replacement endpoint
//! is GET-only, so its `POST /get-session` answers 404; Tessera's answers
//! core's 405 `METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED` (and refreshes
//! with `deferSessionRefresh`).
//!
//! Without node/npm the tests print a SKIPPED banner and pass, unless
//! `CI=true` (then they fail).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::json;
use tessera::store::MemoryDatabase;
use tessera::{Auth, Options, SessionWithUser};
use tessera_custom_session::CustomSession;
use tessera_testkit::json::normalized;
use tessera_testkit::{
    require_refserver, ClientCookies, RefServer, Target, TestRequest, TestResponse,
};

/// The reference server's default `SECRET`.
const SECRET: &str = "refharness-fixed-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
const PASSWORD: &str = "password1234";

/// better-auth with `customSession` and Tessera with the same function.
struct Pair {
    server: RefServer,
    ba: Target,
    ts: Target,
    /// How often Tessera's function ran.
    calls: Arc<AtomicUsize>,
}

impl Pair {
    fn new(server: RefServer) -> Pair {
        let origin = server.base_url().to_owned();
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        // auth-config.mjs: ({user, session}) => ({roles: ["user"],
        // user: {...user, newField: "newField"}, session})
        let custom = CustomSession::new(move |s: SessionWithUser, _| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move {
                let SessionWithUser { session, mut user } = s;
                user.extra.insert("newField".into(), json!("newField"));
                Ok(json!({ "roles": ["user"], "user": user, "session": session }))
            }
        });
        let auth = Auth::builder(
            Options::new()
                .secret(SECRET)
                .base_url(origin.clone())
                .trusted_origin(format!("http://localhost:{}", server.port()))
                .rate_limit(false),
        )
        .database(Arc::new(MemoryDatabase::new()))
        .plugin(Arc::new(custom))
        .build()
        .expect("tessera builds");
        Pair {
            ba: Target::http(origin.clone()),
            ts: Target::auth(auth, origin),
            server,
            calls,
        }
    }

    fn origin(&self) -> &str {
        self.server.base_url()
    }

    fn targets(&self) -> [&Target; 2] {
        [&self.ba, &self.ts]
    }
}

macro_rules! require_pair {
    () => {
        Pair::new(require_refserver!(&[
            ("MODE", "memory"),
            ("PLUGINS", "custom-session")
        ]))
    };
}

fn api(path: &str) -> String {
    format!("/api/auth{path}")
}

fn unique_email(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{tag}-{}@example.com", N.fetch_add(1, Ordering::Relaxed))
}

async fn sign_up(target: &Target, origin: &str, email: &str) -> ClientCookies {
    let res = target
        .send(
            &TestRequest::post(api("/sign-up/email"))
                .origin(origin)
                .json(&json!({ "email": email, "password": PASSWORD, "name": "Ada Lovelace" })),
        )
        .await;
    assert_eq!(res.status, 200, "{} sign-up: {}", target.label(), res.text);
    let mut cookies = ClientCookies::new();
    cookies.update(&res);
    cookies
}

/// Status, body (normalized), cookies and the no-store headers must agree.
fn assert_same(label: &str, ba: &TestResponse, ts: &TestResponse) {
    let body = |r: &TestResponse| match &r.json {
        Some(v) => normalized(v).to_string(),
        None => format!("(text) {:?}", r.text),
    };
    assert_eq!(
        (
            ba.status,
            body(ba),
            ba.cookie_shapes(),
            ba.header("cache-control"),
            ba.header("pragma")
        ),
        (
            ts.status,
            body(ts),
            ts.cookie_shapes(),
            ts.header("cache-control"),
            ts.header("pragma")
        ),
        "{label}: better-auth (left) and tessera (right) differ\n  better-auth: {}\n  tessera:     {}",
        ba.text,
        ts.text
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_in_get_session_bodies_match() {
    let pair = require_pair!();
    let email = unique_email("custom");
    let mut answers = Vec::new();
    for target in pair.targets() {
        let cookies = sign_up(target, pair.origin(), &email).await;
        let get = target
            .send(&TestRequest::get(api("/get-session")).cookies(&cookies))
            .await;
        let list = target
            .send(&TestRequest::get(api("/list-sessions")).cookies(&cookies))
            .await;
        answers.push((get, list));
    }
    let ((ba_get, ba_list), (ts_get, ts_list)) = (&answers[0], &answers[1]);

    // Pin better-auth's answer, so the test checks what it says.
    assert_eq!(ba_get.status, 200, "{}", ba_get.text);
    let body = ba_get.json.as_ref().expect("JSON");
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["roles", "user", "session"]);
    assert_eq!(body["roles"], json!(["user"]));
    assert_eq!(body["user"]["newField"], "newField");
    assert_eq!(body["user"]["email"], email.as_str());
    assert_eq!(ba_get.header("cache-control"), Some("no-store"));

    assert_same("GET /get-session signed in", ba_get, ts_get);
    // Other endpoints are not shaped, on either side.
    assert!(ba_list.json.as_ref().unwrap()[0].get("roles").is_none());
    assert_same("GET /list-sessions signed in", ba_list, ts_list);
    assert_eq!(pair.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_session_is_null_on_both_without_calling_the_function() {
    let pair = require_pair!();
    let email = unique_email("signed-out");
    let mut answers = Vec::new();
    for target in pair.targets() {
        let anonymous = target.send(&TestRequest::get(api("/get-session"))).await;
        let garbage = target
            .send(
                &TestRequest::get(api("/get-session"))
                    .header("cookie", "better-auth.session_token=abc.def"),
            )
            .await;
        let cookies = sign_up(target, pair.origin(), &email).await;
        let out = target
            .send(
                &TestRequest::post(api("/sign-out"))
                    .origin(pair.origin())
                    .cookies(&cookies),
            )
            .await;
        assert_eq!(out.status, 200, "{} sign-out: {}", target.label(), out.text);
        let signed_out = target
            .send(&TestRequest::get(api("/get-session")).cookies(&cookies))
            .await;
        answers.push([anonymous, garbage, signed_out]);
    }
    let labels = [
        "no cookie",
        "a garbage token",
        "a signed-out session's cookie",
    ];
    for ((label, ba), ts) in labels.iter().zip(&answers[0]).zip(&answers[1]) {
        assert_eq!(
            (ba.status, ba.text.as_str()),
            (200, "null"),
            "better-auth, {label}"
        );
        assert_same(&format!("GET /get-session with {label}"), ba, ts);
    }
    assert_eq!(pair.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn post_get_session_is_404_in_better_auth_and_cores_405_in_tessera() {
    let pair = require_pair!();
    let email = unique_email("post");
    for signed_in in [false, true] {
        let mut answers = Vec::new();
        for target in pair.targets() {
            let cookies = if signed_in {
                sign_up(target, pair.origin(), &email).await
            } else {
                ClientCookies::new()
            };
            let req = TestRequest::post(api("/get-session"))
                .origin(pair.origin())
                .cookies(&cookies);
            answers.push(target.send(&req).await);
        }
        let (ba, ts) = (&answers[0], &answers[1]);
        // Documented difference: better-auth's customSession replaces
        // getSession with a GET-only endpoint, so POST is not routed.
        assert_eq!(ba.status, 404, "better-auth: {}", ba.text);
        // Tessera keeps core's behaviour (spec §6.1).
        assert_eq!(ts.status, 405, "tessera: {}", ts.text);
        assert_eq!(ts.code(), Some("METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED"));
        assert_eq!(ts.header("cache-control"), Some("no-store"));
        assert!(ts.set_cookies.is_empty(), "{:?}", ts.set_cookies);
    }
    assert_eq!(pair.calls.load(Ordering::SeqCst), 0);
}
