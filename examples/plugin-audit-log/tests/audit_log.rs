//! The audit log as an application sees it: enabled by id, through the
//! HTTP surface.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tessera::store::MemoryDatabase;
use tessera::{Auth, Options, TestClock, Timestamp};
use tessera_plugin_audit_log::{AuditLog, EventKind};
use tessera_testkit::{ClientCookies, Target, TestRequest, TestResponse};

const BASE_URL: &str = "http://localhost:3000";
const SECRET: &str = "a-long-random-secret-of-at-least-32-characters!";
/// 2026-01-01T00:00:00Z.
const START: Timestamp = Timestamp::from_millis(1_767_225_600_000);
const CLIENT_IP: &str = "203.0.113.7";

struct App {
    target: Target,
    clock: TestClock,
}

impl App {
    /// The plugin enabled by id, as `TESSERA_PLUGINS=audit-log` would.
    fn by_id() -> App {
        tessera_plugin_audit_log::link();
        let mut options = Options::new()
            .secret(SECRET)
            .base_url(BASE_URL)
            .trust_headers_without_peer(true)
            .rate_limit(false);
        options.plugins = vec!["audit-log".into()];
        App::build(Auth::builder(options))
    }

    fn build(builder: tessera::AuthBuilder) -> App {
        let clock = TestClock::at(START);
        let auth = builder
            .database(Arc::new(MemoryDatabase::new()))
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        App {
            target: Target::auth(auth, BASE_URL),
            clock,
        }
    }

    async fn send(&self, req: TestRequest) -> TestResponse {
        self.target.send(&req).await
    }

    async fn post(&self, path: &str, cookies: &mut ClientCookies, body: Value) -> TestResponse {
        let res = self
            .send(
                TestRequest::post(format!("/api/auth{path}"))
                    .origin(BASE_URL)
                    .header("x-forwarded-for", CLIENT_IP)
                    .cookies(cookies)
                    .json(&body),
            )
            .await;
        cookies.update(&res);
        res
    }

    /// Signs `name` up; returns the user id and the browser's cookies.
    async fn sign_up(&self, name: &str) -> (String, ClientCookies) {
        let mut cookies = ClientCookies::new();
        let res = self
            .post(
                "/sign-up/email",
                &mut cookies,
                json!({ "email": email(name), "password": "password1234", "name": name }),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        let id = res.json.unwrap()["user"]["id"].as_str().unwrap().to_owned();
        (id, cookies)
    }

    async fn sign_in(&self, name: &str, cookies: &mut ClientCookies) -> TestResponse {
        self.post(
            "/sign-in/email",
            cookies,
            json!({ "email": email(name), "password": "password1234" }),
        )
        .await
    }

    async fn audit_log(&self, cookies: &ClientCookies) -> TestResponse {
        self.send(TestRequest::get("/api/auth/audit-log").cookies(cookies))
            .await
    }
}

fn email(name: &str) -> String {
    format!("{}@example.com", name.to_lowercase())
}

fn at(secs: i64) -> String {
    START.plus_secs(secs).to_iso()
}

#[tokio::test]
async fn sign_ins_and_sign_outs_are_listed_in_order() {
    let app = App::by_id();
    let (ada, mut cookies) = app.sign_up("Ada").await;

    app.clock.advance(Duration::from_secs(60));
    assert_eq!(app.sign_in("Ada", &mut cookies).await.status, 200);

    app.clock.advance(Duration::from_secs(60));
    let res = app.post("/sign-out", &mut cookies, json!({})).await;
    assert_eq!(res.status, 200, "{}", res.text);

    app.clock.advance(Duration::from_secs(60));
    assert_eq!(app.sign_in("Ada", &mut cookies).await.status, 200);

    let res = app.audit_log(&cookies).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let event = |kind: &str, secs: i64| json!({ "event": kind, "userId": ada, "at": at(secs), "ipAddress": CLIENT_IP });
    assert_eq!(
        res.json.unwrap(),
        json!([
            event("sign-up", 0),
            event("sign-in", 60),
            event("sign-out", 120),
            event("sign-in", 180),
        ])
    );
}

#[tokio::test]
async fn another_user_sees_only_their_own_events() {
    let app = App::by_id();
    let (_ada, mut ada_cookies) = app.sign_up("Ada").await;
    app.sign_in("Ada", &mut ada_cookies).await;
    let (bob, bob_cookies) = app.sign_up("Bob").await;

    let res = app.audit_log(&bob_cookies).await;
    let events = res.json.unwrap();
    assert_eq!(events.as_array().unwrap().len(), 1, "{events}");
    assert_eq!(events[0]["event"], "sign-up");
    assert_eq!(events[0]["userId"], bob.as_str());

    let ada_events = app.audit_log(&ada_cookies).await.json.unwrap();
    assert_eq!(ada_events.as_array().unwrap().len(), 2, "{ada_events}");
}

#[tokio::test]
async fn audit_log_without_a_session_is_401() {
    let app = App::by_id();
    let res = app.audit_log(&ClientCookies::new()).await;
    assert_eq!(res.status, 401);
    assert_eq!(
        res.text,
        r#"{"message":"Unauthorized","code":"UNAUTHORIZED"}"#
    );
}

#[tokio::test]
async fn failed_sign_in_and_anonymous_sign_out_record_nothing() {
    let app = App::by_id();
    let (_ada, mut cookies) = app.sign_up("Ada").await;

    let mut stranger = ClientCookies::new();
    let res = app
        .post(
            "/sign-in/email",
            &mut stranger,
            json!({ "email": "ada@example.com", "password": "wrong-password" }),
        )
        .await;
    assert_eq!(res.status, 401);
    let res = app.post("/sign-out", &mut stranger, json!({})).await;
    assert_eq!(res.status, 200);

    let events = app.audit_log(&cookies).await.json.unwrap();
    assert_eq!(events.as_array().unwrap().len(), 1, "{events}");
    // The session itself is untouched by the audit hooks.
    assert_eq!(app.sign_in("Ada", &mut cookies).await.status, 200);
}

#[tokio::test]
async fn builder_registration_exposes_the_log() {
    let audit = Arc::new(AuditLog::new());
    let app = App::build(
        Auth::builder(
            Options::new()
                .secret(SECRET)
                .base_url(BASE_URL)
                .trust_headers_without_peer(true)
                .rate_limit(false),
        )
        .plugin(audit.clone()),
    );
    let (ada, mut cookies) = app.sign_up("Ada").await;
    app.post("/sign-out", &mut cookies, json!({})).await;

    let kinds: Vec<EventKind> = audit
        .log()
        .events_for(&ada)
        .iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(kinds, [EventKind::SignUp, EventKind::SignOut]);
}
