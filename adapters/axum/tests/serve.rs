//! The adapter on a real server: axum::serve on 127.0.0.1:0, reqwest as the
//! client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use tessera::store::MemoryDatabase;
use tessera::{Auth, Options, TestClock, Timestamp};
use tessera_axum::{OptionalSession, RequiredSession, SessionLayer};
use tessera_testkit::{ClientCookies, Target, TestRequest, TestResponse};
use tokio::net::TcpListener;

const SECRET: &str = "a-long-random-secret-of-at-least-32-characters!";
const SESSION_TOKEN: &str = "better-auth.session_token";
/// 2026-01-01T00:00:00Z.
const START: Timestamp = Timestamp::from_millis(1_767_225_600_000);

async fn hello(OptionalSession(session): OptionalSession) -> String {
    match session {
        Some(s) => format!("hello, {}", s.user.name),
        None => "hello, anonymous".to_owned(),
    }
}

async fn me(RequiredSession(s): RequiredSession) -> String {
    s.user.email
}

struct Server {
    base_url: String,
    clock: TestClock,
    target: Target,
}

impl Server {
    /// The application behind the layer, the auth API merged beside it.
    async fn start() -> Server {
        Server::start_with(|app, auth| {
            app.layer(SessionLayer::new(auth.clone()))
                .merge(tessera_axum::router(auth))
        })
        .await
    }

    async fn start_with(wire: impl FnOnce(Router, Auth) -> Router) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let clock = TestClock::at(START);
        let auth = Auth::builder(
            Options::new()
                .secret(SECRET)
                .base_url(base_url.as_str())
                .rate_limit(false),
        )
        .database(Arc::new(MemoryDatabase::new()))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
        let app = Router::new().route("/", get(hello)).route("/me", get(me));
        let app = wire(app, auth);
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        Server {
            target: Target::http(base_url.clone()),
            base_url,
            clock,
        }
    }

    async fn send(&self, req: TestRequest) -> TestResponse {
        self.target.send(&req).await
    }

    /// Signs Ada up; her browser's cookies.
    async fn sign_up(&self) -> ClientCookies {
        let res = self
            .send(
                TestRequest::post("/api/auth/sign-up/email")
                    .origin(self.base_url.as_str())
                    .json(&json!({
                        "email": "ada@example.com",
                        "password": "password1234",
                        "name": "Ada",
                    })),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        let mut cookies = ClientCookies::new();
        cookies.update(&res);
        assert!(cookies.get(SESSION_TOKEN).is_some());
        cookies
    }
}

#[tokio::test]
async fn signed_up_user_reaches_protected_and_public_routes() {
    let server = Server::start().await;
    let cookies = server.sign_up().await;

    let res = server.send(TestRequest::get("/me").cookies(&cookies)).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text, "ada@example.com");

    let res = server.send(TestRequest::get("/").cookies(&cookies)).await;
    assert_eq!(res.text, "hello, Ada");
    // A fresh session needs no cookie work on an application route.
    assert!(res.set_cookies.is_empty(), "{:?}", res.set_cookies);
}

#[tokio::test]
async fn protected_route_without_session_answers_better_auths_401() {
    let server = Server::start().await;

    let res = server.send(TestRequest::get("/me")).await;
    assert_eq!(res.status, 401);
    assert_eq!(
        res.text,
        r#"{"message":"Unauthorized","code":"UNAUTHORIZED"}"#
    );
    assert_eq!(res.header("content-type"), Some("application/json"));

    let res = server.send(TestRequest::get("/")).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text, "hello, anonymous");
}

#[tokio::test]
async fn refresh_after_update_age_sets_cookies_on_app_route() {
    let server = Server::start().await;
    let mut cookies = server.sign_up().await;
    // Past updateAge (1 day), within expiresIn (7 days).
    server.clock.advance(Duration::from_secs(2 * 24 * 60 * 60));

    let res = server.send(TestRequest::get("/me").cookies(&cookies)).await;
    assert_eq!(res.status, 200);
    let token = res
        .set_cookie(SESSION_TOKEN)
        .expect("the refreshed session_token cookie is on the app's response");
    assert_eq!(token.attribute("Max-Age"), Some("604800"));
    cookies.update(&res);

    // The stored session was extended from the new "now".
    let res = server
        .send(TestRequest::get("/api/auth/get-session").cookies(&cookies))
        .await;
    let body = res.json.expect("a session");
    let expected = START.plus_secs(2 * 24 * 60 * 60 + 7 * 24 * 60 * 60);
    assert_eq!(body["session"]["expiresAt"], json!(expected.to_iso()));
}

#[tokio::test]
async fn sign_out_ends_the_session_on_app_routes() {
    let server = Server::start().await;
    let cookies = server.sign_up().await;

    let res = server
        .send(
            TestRequest::post("/api/auth/sign-out")
                .origin(server.base_url.as_str())
                .cookies(&cookies)
                .json(&json!({})),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json, Some(json!({ "success": true })));
    assert!(res.expired_cookie_names().contains(SESSION_TOKEN));

    // A browser that kept the old cookie: 401, and the layer's cookie work
    // (expiring the dead session's cookie) is on the rejection too.
    let res = server.send(TestRequest::get("/me").cookies(&cookies)).await;
    assert_eq!(res.status, 401);
    assert!(res.expired_cookie_names().contains(SESSION_TOKEN));
}

#[tokio::test]
async fn peer_address_reaches_the_kernel() {
    let server = Server::start().await;
    let cookies = server.sign_up().await;
    // No forwarded-for header and a production environment: only the
    // socket peer (ConnectInfo -> ClientAddr) can name the client.
    let res = server
        .send(TestRequest::get("/api/auth/get-session").cookies(&cookies))
        .await;
    let body: Value = res.json.expect("a session");
    assert_eq!(body["session"]["ipAddress"], "127.0.0.1");
}

#[tokio::test]
async fn body_over_axums_limit_answers_413_json() {
    let server = Server::start_with(|app, auth| {
        app.merge(tessera_axum::router(auth))
            .layer(DefaultBodyLimit::max(16))
    })
    .await;
    let res = server
        .send(
            TestRequest::post("/api/auth/sign-up/email")
                .origin(server.base_url.as_str())
                .json(&json!({ "email": "a-rather-long-address@example.com" })),
        )
        .await;
    assert_eq!(res.status, 413);
    assert_eq!(
        res.text,
        r#"{"message":"Request body too large","code":"PAYLOAD_TOO_LARGE"}"#
    );
}

#[tokio::test]
async fn auth_api_is_not_resolved_twice_when_the_layer_wraps_it() {
    // The layer applied over the merged auth routes must leave them alone:
    // a sign-out past updateAge expires the cookies and never re-issues them.
    let server = Server::start_with(|app, auth| {
        app.merge(tessera_axum::router(auth.clone()))
            .layer(SessionLayer::new(auth))
    })
    .await;
    let cookies = server.sign_up().await;
    server.clock.advance(Duration::from_secs(2 * 24 * 60 * 60));

    let res = server
        .send(
            TestRequest::post("/api/auth/sign-out")
                .origin(server.base_url.as_str())
                .cookies(&cookies)
                .json(&json!({})),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let token_lines: Vec<_> = res
        .cookies()
        .into_iter()
        .filter(|c| c.name == SESSION_TOKEN)
        .collect();
    assert_eq!(token_lines.len(), 1, "{:?}", res.set_cookies);
    assert!(token_lines[0].is_expired());
}

const TOO_LARGE: &str =
    r#"{"message":"Request header fields too large","code":"REQUEST_HEADER_FIELDS_TOO_LARGE"}"#;

/// `axum::serve` reads heads up to hyper's default buffer (about 400 KB):
/// a 380 KB cookie bomb reaches the kernel, which answers 431 with
/// better-auth's JSON on the auth API and on every route behind the layer.
#[tokio::test]
async fn a_cookie_bomb_answers_the_kernels_431_json() {
    let server = Server::start().await;
    let bomb = tessera_testkit::conformance::cookie_bomb();
    for path in ["/api/auth/ok", "/api/auth/get-session", "/me", "/"] {
        let res = server
            .send(TestRequest::get(path).header("cookie", bomb.as_str()))
            .await;
        assert_eq!((res.status, res.text.as_str()), (431, TOO_LARGE), "{path}");
    }
    let res = server.send(TestRequest::get("/api/auth/ok")).await;
    assert_eq!(res.status, 200);
}
