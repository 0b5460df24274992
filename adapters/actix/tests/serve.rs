//! The adapter on a real server: actix's `HttpServer` on 127.0.0.1:0,
//! reqwest (through the test kit) as the client.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{error, web, App, HttpResponse, HttpServer};
use serde_json::{json, Value};
use tessera::store::MemoryDatabase;
use tessera::{Auth, Options, TestClock, Timestamp};
use tessera_actix::{OptionalSession, RequiredSession, SessionMiddleware};
use tessera_testkit::{ClientCookies, Target, TestRequest, TestResponse};

const SECRET: &str = "a-long-random-secret-of-at-least-32-characters!";
const SESSION_TOKEN: &str = "better-auth.session_token";
const DONT_REMEMBER: &str = "better-auth.dont_remember";
/// 2026-01-01T00:00:00Z.
const START: Timestamp = Timestamp::from_millis(1_767_225_600_000);
/// Past updateAge (1 day), within expiresIn (7 days).
const TWO_DAYS: Duration = Duration::from_secs(2 * 24 * 60 * 60);

async fn hello(OptionalSession(session): OptionalSession) -> String {
    match session {
        Some(s) => format!("hello, {}", s.user.name),
        None => "hello, anonymous".to_owned(),
    }
}

async fn me(RequiredSession(s): RequiredSession) -> String {
    s.user.email
}

/// A handler that fails after the session was resolved.
async fn fails(RequiredSession(_): RequiredSession) -> Result<String, actix_web::Error> {
    Err(error::ErrorConflict("the app said no"))
}

/// The application behind the middleware, the auth API beside it.
fn standard(
    auth: Auth,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .wrap(SessionMiddleware::new(auth.clone()))
        .configure(tessera_actix::configure(auth))
        .route("/", web::get().to(hello))
        .route("/me", web::get().to(me))
        .route("/fails", web::get().to(fails))
}

/// An inner middleware answering `/broken` with an `Err`, not a response:
/// the session middleware outside it must still deliver its cookies.
fn with_failing_inner_middleware(
    auth: Auth,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    type Fut = Pin<Box<dyn Future<Output = Result<ServiceResponse, actix_web::Error>>>>;
    App::new()
        .wrap_fn(|req, srv| -> Fut {
            if req.path() == "/broken" {
                Box::pin(async { Err(error::ErrorServiceUnavailable("inner middleware failed")) })
            } else {
                Box::pin(srv.call(req))
            }
        })
        .wrap(SessionMiddleware::new(auth.clone()))
        .configure(tessera_actix::configure(auth))
        .route("/broken", web::get().to(HttpResponse::Ok))
}

/// No middleware: the extractors cannot work.
fn without_middleware(
    auth: Auth,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .configure(tessera_actix::configure(auth))
        .route("/me", web::get().to(me))
}

/// The auth API with a 16-byte body limit.
fn small_payload_limit(
    auth: Auth,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::PayloadConfig::new(16))
        .configure(tessera_actix::configure(auth))
}

struct Server {
    base_url: String,
    clock: TestClock,
    target: Target,
    handle: actix_web::dev::ServerHandle,
}

impl Server {
    async fn start() -> Server {
        Server::start_with(standard).await
    }

    async fn start_with<T, B>(app: fn(Auth) -> App<T>) -> Server
    where
        T: ServiceFactory<
                ServiceRequest,
                Config = (),
                Response = ServiceResponse<B>,
                Error = actix_web::Error,
                InitError = (),
            > + 'static,
        B: MessageBody + 'static,
    {
        // The kernel must know the server's origin, known only once bound;
        // workers build their app after that.
        let cell = Arc::new(OnceLock::<Auth>::new());
        let factory_cell = Arc::clone(&cell);
        let server = HttpServer::new(move || {
            app(factory_cell.get().expect("auth is set before run").clone())
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(("127.0.0.1", 0))
        .expect("bind an ephemeral port");
        let base_url = format!("http://{}", server.addrs()[0]);
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
        .expect("valid options");
        cell.set(auth).expect("set once");
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Server {
            target: Target::http(base_url.clone()),
            base_url,
            clock,
            handle,
        }
    }

    async fn stop(self) {
        self.handle.stop(true).await;
    }

    async fn send(&self, req: TestRequest) -> TestResponse {
        self.target.send(&req).await
    }

    async fn sign_up(&self) -> ClientCookies {
        self.sign_up_with(json!({
            "email": "ada@example.com",
            "password": "password1234",
            "name": "Ada",
        }))
        .await
    }

    /// Signs up; the browser's cookies.
    async fn sign_up_with(&self, body: Value) -> ClientCookies {
        let res = self
            .send(
                TestRequest::post("/api/auth/sign-up/email")
                    .origin(self.base_url.as_str())
                    .json(&body),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        let mut cookies = ClientCookies::new();
        cookies.update(&res);
        assert!(
            cookies.get(SESSION_TOKEN).is_some(),
            "{:?}",
            res.set_cookies
        );
        cookies
    }

    async fn get_session(&self, cookies: &ClientCookies) -> TestResponse {
        self.send(TestRequest::get("/api/auth/get-session").cookies(cookies))
            .await
    }
}

#[actix_web::test]
async fn sign_up_sets_the_session_cookie_and_get_session_returns_it() {
    let server = Server::start().await;
    let cookies = server.sign_up().await;

    let res = server.get_session(&cookies).await;
    assert_eq!(res.status, 200);
    let body = res.json.expect("a JSON body");
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert!(body["session"]["token"].is_string());
    server.stop().await;
}

#[actix_web::test]
async fn every_cookie_is_its_own_set_cookie_header() {
    let server = Server::start().await;
    server.sign_up().await;
    let res = server
        .send(
            TestRequest::post("/api/auth/sign-in/email")
                .origin(server.base_url.as_str())
                .json(&json!({
                    "email": "ada@example.com",
                    "password": "password1234",
                    "rememberMe": false,
                })),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let names = res.cookie_names();
    assert!(
        names.contains(SESSION_TOKEN) && names.contains(DONT_REMEMBER),
        "{names:?}"
    );
    assert_eq!(res.set_cookies.len(), res.cookies().len());
    assert!(
        res.set_cookies
            .iter()
            .all(|line| line.matches("better-auth.").count() == 1),
        "comma-joined: {:?}",
        res.set_cookies
    );
    server.stop().await;
}

#[actix_web::test]
async fn protected_route_needs_a_session() {
    let server = Server::start().await;

    let res = server.send(TestRequest::get("/me")).await;
    assert_eq!(res.status, 401);
    assert_eq!(
        res.text,
        r#"{"message":"Unauthorized","code":"UNAUTHORIZED"}"#
    );
    assert_eq!(res.header("content-type"), Some("application/json"));
    let res = server.send(TestRequest::get("/")).await;
    assert_eq!((res.status, res.text.as_str()), (200, "hello, anonymous"));

    let cookies = server.sign_up().await;
    let res = server.send(TestRequest::get("/me").cookies(&cookies)).await;
    assert_eq!((res.status, res.text.as_str()), (200, "ada@example.com"));
    let res = server.send(TestRequest::get("/").cookies(&cookies)).await;
    assert_eq!(res.text, "hello, Ada");
    // A fresh session needs no cookie work on an application route.
    assert!(res.set_cookies.is_empty(), "{:?}", res.set_cookies);
    server.stop().await;
}

#[actix_web::test]
async fn refresh_after_update_age_sets_cookies_on_app_route() {
    let server = Server::start().await;
    let mut cookies = server.sign_up().await;
    server.clock.advance(TWO_DAYS);

    let res = server.send(TestRequest::get("/me").cookies(&cookies)).await;
    assert_eq!(res.status, 200);
    let token = res
        .set_cookie(SESSION_TOKEN)
        .expect("the refreshed session_token cookie is on the app's response");
    assert_eq!(token.attribute("Max-Age"), Some("604800"));
    cookies.update(&res);

    // The stored session was extended from the new "now".
    let body = server.get_session(&cookies).await.json.expect("a session");
    let expected = START.plus_secs(2 * 24 * 60 * 60 + 7 * 24 * 60 * 60);
    assert_eq!(body["session"]["expiresAt"], json!(expected.to_iso()));
    server.stop().await;
}

#[actix_web::test]
async fn refresh_cookies_ride_on_the_apps_error_responses() {
    let server = Server::start().await;
    let cookies = server.sign_up().await;
    server.clock.advance(TWO_DAYS);

    let res = server
        .send(TestRequest::get("/fails").cookies(&cookies))
        .await;
    assert_eq!(res.status, 409);
    assert!(
        res.set_cookie(SESSION_TOKEN).is_some(),
        "{:?}",
        res.set_cookies
    );
    server.stop().await;
}

#[actix_web::test]
async fn refresh_cookies_ride_on_an_inner_middlewares_error() {
    let server = Server::start_with(with_failing_inner_middleware).await;
    let cookies = server.sign_up().await;
    server.clock.advance(TWO_DAYS);

    let res = server
        .send(TestRequest::get("/broken").cookies(&cookies))
        .await;
    assert_eq!(res.status, 503);
    assert_eq!(res.text, "inner middleware failed");
    assert!(
        res.set_cookie(SESSION_TOKEN).is_some(),
        "{:?}",
        res.set_cookies
    );
    server.stop().await;
}

#[actix_web::test]
async fn auth_api_is_not_resolved_twice_when_the_middleware_wraps_it() {
    // A sign-out past updateAge expires the cookies and never re-issues them.
    let server = Server::start().await;
    let cookies = server.sign_up().await;
    server.clock.advance(TWO_DAYS);

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
    server.stop().await;
}

#[actix_web::test]
async fn sign_out_ends_the_session() {
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

    // A browser that kept the old cookie: no session, and the middleware's
    // cookie work (expiring the dead session's cookie) is on the 401.
    assert_eq!(server.get_session(&cookies).await.json, Some(Value::Null));
    let res = server.send(TestRequest::get("/me").cookies(&cookies)).await;
    assert_eq!(res.status, 401);
    assert!(res.expired_cookie_names().contains(SESSION_TOKEN));
    server.stop().await;
}

#[actix_web::test]
async fn malformed_json_is_bad_request() {
    let server = Server::start().await;
    let res = server
        .send(
            TestRequest::post("/api/auth/sign-in/email")
                .origin(server.base_url.as_str())
                .header("content-type", "application/json")
                .body("{\"email\":"),
        )
        .await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert_eq!(res.code(), Some("BAD_REQUEST"));
    server.stop().await;
}

#[actix_web::test]
async fn untrusted_origin_with_a_cookie_is_forbidden() {
    let server = Server::start().await;
    let cookies = server.sign_up().await;
    let res = server
        .send(
            TestRequest::post("/api/auth/sign-out")
                .origin("http://evil.example")
                .cookies(&cookies)
                .json(&json!({})),
        )
        .await;
    assert_eq!(res.status, 403, "{}", res.text);
    assert_eq!(res.code(), Some("INVALID_ORIGIN"));
    // The session survived.
    assert!(server.get_session(&cookies).await.json.unwrap()["session"].is_object());
    server.stop().await;
}

#[actix_web::test]
async fn tampered_cookie_is_no_session() {
    let server = Server::start().await;
    let cookies = server.sign_up().await;
    let genuine = cookies.get(SESSION_TOKEN).unwrap().to_owned();
    // `token.signature`, percent-encoded: flip the token's first character.
    let first = if genuine.starts_with('A') { "B" } else { "A" };
    let mut tampered = ClientCookies::new();
    tampered.insert(SESSION_TOKEN, format!("{first}{}", &genuine[1..]));

    let res = server.get_session(&tampered).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json, Some(Value::Null));
    let res = server.send(TestRequest::get("/").cookies(&tampered)).await;
    assert_eq!(res.text, "hello, anonymous");
    server.stop().await;
}

#[actix_web::test]
async fn peer_address_reaches_the_kernel() {
    let server = Server::start().await;
    let cookies = server.sign_up().await;
    // No forwarded-for header: only the socket peer (ClientAddr) names the
    // client.
    let body = server.get_session(&cookies).await.json.expect("a session");
    assert_eq!(body["session"]["ipAddress"], "127.0.0.1");
    server.stop().await;
}

#[actix_web::test]
async fn body_over_actix_payload_limit_answers_413_json() {
    let server = Server::start_with(small_payload_limit).await;
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
    server.stop().await;
}

#[actix_web::test]
async fn extractor_without_the_middleware_is_a_generic_500() {
    let server = Server::start_with(without_middleware).await;
    let res = server.send(TestRequest::get("/me")).await;
    assert_eq!(res.status, 500);
    assert_eq!(
        res.text,
        r#"{"message":"Internal Server Error","code":"INTERNAL_SERVER_ERROR"}"#
    );
    server.stop().await;
}

#[actix_web::test]
async fn paths_outside_the_base_path_are_the_apps() {
    let server = Server::start().await;
    let res = server.send(TestRequest::get("/api/authx")).await;
    assert_eq!(res.status, 404);
    let res = server.send(TestRequest::get("/api/auth/ok")).await;
    assert_eq!(res.json, Some(json!({ "ok": true })));
    server.stop().await;
}

const TOO_LARGE: &str =
    r#"{"message":"Request header fields too large","code":"REQUEST_HEADER_FIELDS_TOO_LARGE"}"#;

#[actix_web::test]
async fn a_cookie_header_over_the_kernels_limit_is_431_json_on_api_and_app() {
    let server = Server::start().await;
    // Over the kernel's 48 KiB, within actix-http's 128 KiB head buffer.
    let cookie = format!("big={}", "x".repeat(64 * 1024));
    for path in ["/api/auth/ok", "/api/auth/get-session", "/me", "/"] {
        let res = server
            .send(TestRequest::get(path).header("cookie", cookie.as_str()))
            .await;
        assert_eq!((res.status, res.text.as_str()), (431, TOO_LARGE), "{path}");
    }
    server.stop().await;
}

/// A head past actix-http's fixed 128 KiB buffer never reaches the app:
/// actix answers 431 itself, with an empty body, and closes the connection
/// on a client still sending (which may see it reset rather than read the
/// answer); the server serves on.
#[actix_web::test]
async fn a_cookie_bomb_past_actix_head_buffer_is_actix_own_431() {
    let server = Server::start().await;
    let bomb = tessera_testkit::conformance::cookie_bomb();
    for path in ["/api/auth/ok", "/api/auth/get-session", "/me"] {
        let req = TestRequest::get(path).header("cookie", bomb.as_str());
        let status = tessera_testkit::send_raw_status(&server.base_url, &req).await;
        assert_eq!(status, Ok(431), "{path}");
    }
    let res = server.send(TestRequest::get("/api/auth/ok")).await;
    assert_eq!(res.status, 200);
    server.stop().await;
}
