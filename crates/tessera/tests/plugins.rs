//! The plugin contract, pinned with test plugins: registration (builder and
//! `inventory`), hook order, short-circuits, response replacement, cookies,
//! endpoint replacement, interceptors and rate-limit rules.

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use common::*;
use http::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use tessera::api::{ApiError, Ctx, Endpoint, Reply, Route};
use tessera::cookie::CookieAttributes;
use tessera::plugin::{
    AfterHook, BeforeHook, Hook, Interceptor, Matcher, Plugin, PluginRegistration, Schema,
};
use tessera::{Auth, BuildError};

type Log = Arc<Mutex<Vec<String>>>;

struct Recorder {
    id: &'static str,
    log: Log,
    matcher: Matcher,
}

struct LogBefore(&'static str, Log);
#[async_trait]
impl BeforeHook for LogBefore {
    async fn before(&self, ctx: &mut Ctx<'_>) -> Result<Option<Reply>, ApiError> {
        self.1
            .lock()
            .unwrap()
            .push(format!("{} before {}", self.0, ctx.path()));
        Ok(None)
    }
}

struct LogAfter(&'static str, Log);
#[async_trait]
impl AfterHook for LogAfter {
    async fn after(&self, ctx: &mut Ctx<'_>, result: &mut Result<Reply, ApiError>) {
        let status = match result {
            Ok(r) => r.status.as_u16(),
            Err(e) => e.status.as_u16(),
        };
        self.1
            .lock()
            .unwrap()
            .push(format!("{} after {} {status}", self.0, ctx.path()));
    }
}

impl Plugin for Recorder {
    fn id(&self) -> &'static str {
        self.id
    }
    fn hooks(&self) -> Vec<Hook> {
        vec![
            Hook::before(self.matcher.clone(), LogBefore(self.id, self.log.clone())),
            Hook::after(self.matcher.clone(), LogAfter(self.id, self.log.clone())),
        ]
    }
}

fn with_plugins(plugins: Vec<Arc<dyn Plugin>>) -> Harness {
    Harness::with(options(), move |mut b| {
        b = b.database(Arc::new(tessera::store::MemoryDatabase::new()));
        for p in plugins {
            b = b.plugin(p);
        }
        b
    })
}

#[tokio::test]
async fn hooks_run_in_plugin_order_around_the_endpoint() {
    let log: Log = Default::default();
    let h = with_plugins(vec![
        Arc::new(Recorder {
            id: "first",
            log: log.clone(),
            matcher: Matcher::All,
        }),
        Arc::new(Recorder {
            id: "second",
            log: log.clone(),
            matcher: Matcher::Path("/ok".into()),
        }),
        Arc::new(Recorder {
            id: "third",
            log: log.clone(),
            matcher: Matcher::PathPrefix("/sign-".into()),
        }),
    ]);
    h.browser().get("/ok").await;
    assert_eq!(
        *log.lock().unwrap(),
        [
            "first before /ok",
            "second before /ok",
            "first after /ok 200",
            "second after /ok 200"
        ]
    );
    log.lock().unwrap().clear();
    h.browser().post("/sign-out", json!({})).await;
    assert_eq!(
        *log.lock().unwrap(),
        [
            "first before /sign-out",
            "third before /sign-out",
            "first after /sign-out 200",
            "third after /sign-out 200"
        ]
    );
}

struct ShortCircuit;
#[async_trait]
impl BeforeHook for ShortCircuit {
    async fn before(&self, ctx: &mut Ctx<'_>) -> Result<Option<Reply>, ApiError> {
        if ctx.headers().contains_key("x-block") {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "BLOCKED",
                "Blocked by plugin",
            ));
        }
        if ctx.query("teapot").is_some() {
            return Ok(Some(
                Reply::json(&json!({"short": true})).with_status(StatusCode::IM_A_TEAPOT),
            ));
        }
        Ok(None)
    }
}

struct Guard(Log);
impl Plugin for Guard {
    fn id(&self) -> &'static str {
        "guard"
    }
    fn hooks(&self) -> Vec<Hook> {
        vec![
            Hook::before(Matcher::Path("/ok".into()), ShortCircuit),
            Hook::after(Matcher::All, LogAfter("guard", self.0.clone())),
        ]
    }
}

#[tokio::test]
async fn a_before_hook_can_short_circuit_or_fail() {
    let log: Log = Default::default();
    let h = with_plugins(vec![Arc::new(Guard(log.clone()))]);
    let r = h.browser().get("/ok?teapot=1").await;
    assert_eq!(r.status, StatusCode::IM_A_TEAPOT);
    assert_eq!(*r.body(), json!({"short": true}));
    assert!(
        log.lock().unwrap().is_empty(),
        "endpoint and after hooks skipped"
    );
    let req = Request::get("/api/auth/ok")
        .header("x-block", "1")
        .body(Bytes::new())
        .unwrap();
    let r = TestResponse::from(h.auth.handle(req).await);
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        *r.body(),
        json!({"message": "Blocked by plugin", "code": "BLOCKED"})
    );
}

struct RewriteEmail;
#[async_trait]
impl BeforeHook for RewriteEmail {
    async fn before(&self, ctx: &mut Ctx<'_>) -> Result<Option<Reply>, ApiError> {
        if let Some(Value::Object(body)) = ctx.body_mut() {
            if let Some(Value::String(email)) = body.get_mut("email") {
                *email = email.replace("+tag", "");
            }
        }
        Ok(None)
    }
}

struct ReplaceResponse;
#[async_trait]
impl AfterHook for ReplaceResponse {
    async fn after(&self, ctx: &mut Ctx<'_>, result: &mut Result<Reply, ApiError>) {
        if let (Ok(reply), Some(session)) = (&*result, ctx.new_session()) {
            let mut body: Value = serde_json::from_slice(&reply.body).unwrap();
            body["plugin"] = json!({"sawSession": session.user.email});
            *result = Ok(Reply::json(&body));
            let attrs = CookieAttributes::default();
            ctx.jar
                .set(tessera::cookie::SetCookie::new("audit", "1", attrs));
        }
    }
}

struct Mutator;
impl Plugin for Mutator {
    fn id(&self) -> &'static str {
        "mutator"
    }
    fn hooks(&self) -> Vec<Hook> {
        vec![
            Hook::before(Matcher::Path("/sign-up/email".into()), RewriteEmail),
            Hook::after(Matcher::Path("/sign-up/email".into()), ReplaceResponse),
        ]
    }
}

#[tokio::test]
async fn hooks_can_change_input_replace_the_response_and_add_cookies() {
    let h = with_plugins(vec![Arc::new(Mutator)]);
    let mut b = h.browser();
    let r = b
        .post(
            "/sign-up/email",
            json!({"email": "alice+tag@example.com", "password": "password1234", "name": "A"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body()["user"]["email"], "alice@example.com");
    assert_eq!(r.body()["plugin"]["sawSession"], "alice@example.com");
    assert!(r.set_cookie_line("better-auth.session_token").is_some());
    assert!(
        r.set_cookie_line("audit").is_some(),
        "appended after the kernel's cookies"
    );
    assert!(r.set_cookies.last().unwrap().starts_with("audit="));
}

struct Hello;
#[async_trait]
impl Endpoint for Hello {
    async fn call(&self, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
        let session = ctx.session(Default::default()).await?.cloned();
        Ok(Reply::json(&json!({
            "hello": session.map(|s| s.user.name),
        })))
    }
}

struct Okay;
#[async_trait]
impl Endpoint for Okay {
    async fn call(&self, _ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
        Ok(Reply::json(&json!({"ok": "replaced"})))
    }
}

struct Routes;
impl Plugin for Routes {
    fn id(&self) -> &'static str {
        "routes"
    }
    fn endpoints(&self) -> Vec<Route> {
        vec![
            Route::new(Method::GET, "/hello", Arc::new(Hello)),
            Route::new(Method::GET, "/ok", Arc::new(Okay)),
        ]
    }
    fn rate_limit_rules(&self) -> Vec<(String, Option<tessera::options::RateLimitRule>)> {
        vec![(
            "/hello".into(),
            Some(tessera::options::RateLimitRule { window: 60, max: 1 }),
        )]
    }
    fn schema(&self) -> Schema {
        Schema {
            user: vec![tessera::options::AdditionalField::new("nickname")],
            session: vec![],
        }
    }
}

#[tokio::test]
async fn plugins_add_and_replace_endpoints_and_fields() {
    let h = with_plugins(vec![Arc::new(Routes)]);
    assert!(h.auth.routes().contains(&"GET /hello".to_owned()));
    let mut b = h.browser();
    assert_eq!(*b.get("/ok").await.body(), json!({"ok": "replaced"}));
    assert_eq!(*b.get("/hello").await.body(), json!({"hello": null}));
    let up = b
        .post(
            "/sign-up/email",
            json!({"email": "n@example.com", "password": "password1234", "name": "N", "nickname": "nn"}),
        )
        .await;
    assert_eq!(up.body()["user"]["nickname"], "nn");
    assert_eq!(*b.get("/hello").await.body(), json!({"hello": "N"}));
}

#[tokio::test]
async fn plugin_rate_limit_rules_apply() {
    let h = Harness::with(options().rate_limit(true), |b| b.plugin(Arc::new(Routes)));
    assert_eq!(h.browser().get("/hello").await.status, StatusCode::OK);
    assert_eq!(
        h.browser().get("/hello").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

struct Tagger;
#[async_trait]
impl Interceptor for Tagger {
    async fn on_request(&self, req: &mut Request<Bytes>) -> Option<Response<Bytes>> {
        if req.uri().path().ends_with("/maintenance") {
            let mut res = Response::new(Bytes::from_static(b"{\"down\":true}"));
            *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            return Some(res);
        }
        None
    }
    async fn on_response(&self, res: &mut Response<Bytes>) {
        res.headers_mut().insert("x-tagged", "1".parse().unwrap());
    }
}

struct Intercepting;
impl Plugin for Intercepting {
    fn id(&self) -> &'static str {
        "intercepting"
    }
    fn interceptor(&self) -> Option<Arc<dyn Interceptor>> {
        Some(Arc::new(Tagger))
    }
}

#[tokio::test]
async fn interceptors_see_every_request_and_response() {
    let h = with_plugins(vec![Arc::new(Intercepting)]);
    let r = h.browser().get("/maintenance").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers["x-tagged"], "1");
    let r = h.browser().get("/ok").await;
    assert_eq!(r.headers["x-tagged"], "1");
}

#[tokio::test]
async fn duplicate_ids_fail_at_build() {
    let err = Auth::builder(options())
        .plugin(Arc::new(Mutator))
        .plugin(Arc::new(Mutator))
        .build()
        .unwrap_err();
    assert!(matches!(err, BuildError::DuplicatePlugin(id) if id == "mutator"));
}

// Link-time discovery: this test binary submits a plugin of its own.
struct Discovered;
impl Plugin for Discovered {
    fn id(&self) -> &'static str {
        "discovered-test-plugin"
    }
    fn endpoints(&self) -> Vec<Route> {
        vec![Route::new(Method::GET, "/discovered", Arc::new(Okay))]
    }
}

inventory::submit! {
    PluginRegistration {
        id: "discovered-test-plugin",
        crate_name: "tessera (tests)",
        create: || Arc::new(Discovered),
    }
}

#[tokio::test]
async fn plugins_are_enabled_by_id_from_the_registry() {
    let ids: Vec<_> = tessera::plugin::registered().iter().map(|r| r.id).collect();
    assert_eq!(ids, ["discovered-test-plugin"]);
    let mut o = options();
    o.plugins = vec!["discovered-test-plugin".into()];
    let h = Harness::new(o);
    assert_eq!(h.auth.plugin_ids(), ["discovered-test-plugin"]);
    assert_eq!(h.browser().get("/discovered").await.status, StatusCode::OK);

    let mut o = options();
    o.plugins = vec!["not-linked".into()];
    let err = Auth::builder(o).build().unwrap_err();
    assert!(matches!(&err, BuildError::UnknownPlugin { id } if id == "not-linked"));
    assert!(err.to_string().contains("tessera-not-linked"), "{err}");
}

/// A `Finally` hook and an after hook that replaces the result.
struct Closer {
    id: &'static str,
    log: Log,
}

struct Replace418;
#[async_trait]
impl AfterHook for Replace418 {
    async fn after(&self, _ctx: &mut Ctx<'_>, result: &mut Result<Reply, ApiError>) {
        *result = Ok(Reply::json(&json!({"replaced": true})).with_status(StatusCode::IM_A_TEAPOT));
    }
}

impl Plugin for Closer {
    fn id(&self) -> &'static str {
        self.id
    }
    fn hooks(&self) -> Vec<Hook> {
        vec![Hook::finally(
            Matcher::Path("/ok".into()),
            LogAfter(self.id, self.log.clone()),
        )]
    }
}

struct Replacer(Log);
impl Plugin for Replacer {
    fn id(&self) -> &'static str {
        "replacer"
    }
    fn hooks(&self) -> Vec<Hook> {
        vec![
            Hook::after(
                Matcher::Path("/ok".into()),
                LogAfter("replacer", self.0.clone()),
            ),
            Hook::after(Matcher::Path("/ok".into()), Replace418),
        ]
    }
}

#[tokio::test]
async fn finally_hooks_see_the_result_every_after_hook_made() {
    let log: Log = Default::default();
    // The closer is added first, yet runs after the later plugin's hooks.
    let h = with_plugins(vec![
        Arc::new(Closer {
            id: "closer",
            log: log.clone(),
        }),
        Arc::new(Replacer(log.clone())),
        Arc::new(Closer {
            id: "second closer",
            log: log.clone(),
        }),
    ]);
    let r = h.browser().get("/ok").await;
    assert_eq!(r.status, StatusCode::IM_A_TEAPOT);
    assert_eq!(
        *log.lock().unwrap(),
        [
            "replacer after /ok 200",
            "closer after /ok 418",
            "second closer after /ok 418"
        ]
    );
    // Not on routes the matcher leaves out.
    log.lock().unwrap().clear();
    h.browser().post("/sign-out", json!({})).await;
    assert!(log.lock().unwrap().is_empty());
}
