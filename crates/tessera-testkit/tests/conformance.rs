//! One suite, every adapter: `conformance::run_suite` against hyper, axum
//! and actix-web servers on a real loopback listener, and against the
//! reference better-auth itself, which proves the scenarios describe
//! better-auth's behaviour.
//!
//! Each Tessera server serves the auth API at `/api/auth` and the protected
//! route `GET /me` of the suite's contract, over a memory database and a
//! `TestClock` the suite moves.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use serde_json::json;
use tessera::options::RequestLimits;
use tessera::store::MemoryDatabase;
use tessera::{ApiError, Auth, Clock, Options, SystemClock, TestClock};
use tessera_testkit::conformance::{run_suite, SuiteReport, SuiteTarget};
use tessera_testkit::require_refserver;
use tokio::sync::oneshot;

const SECRET: &str = "conformance-suite-secret-0123456789-abcdefghij";
const PROTECTED: &str = "/me";

/// A kernel served at `origin`, on a memory database, reading `clock`.
fn auth(origin: &str, clock: &TestClock) -> Auth {
    Auth::builder(
        Options::new()
            .secret(SECRET)
            .base_url(origin)
            .rate_limit(false),
    )
    .database(Arc::new(MemoryDatabase::new()))
    .clock(Arc::new(clock.clone()))
    .build()
    .expect("valid options")
}

/// A clock stopped at the real "now": cookies carry plausible dates.
fn clock() -> TestClock {
    TestClock::at(SystemClock.now())
}

/// The protected route's `200` body.
fn email_body(email: &str) -> String {
    json!({ "email": email }).to_string()
}

/// Every scenario ran; none was skipped for lack of a route or a clock.
fn assert_nothing_skipped(report: &SuiteReport) {
    assert!(
        report.skipped().is_empty(),
        "an adapter target must run every scenario:\n{report}"
    );
}

async fn serve_target(target: SuiteTarget) -> SuiteReport {
    let report = run_suite(&target).await;
    assert_nothing_skipped(&report);
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_adapter_passes_the_suite() {
    use hyper::body::Incoming;
    use hyper::service::{service_fn, Service};
    use tessera_hyper::{AuthService, WithSession};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let clock = clock();
    let auth = auth(&origin, &clock);

    let api = AuthService::new(auth.clone());
    let me = WithSession::new(
        auth.clone(),
        service_fn(|req: Request<Incoming>| async move {
            let res = match tessera_hyper::session(&req) {
                Some(s) => Response::builder()
                    .header(CONTENT_TYPE, "application/json")
                    .body(Full::new(Bytes::from(email_body(&s.user.email))))
                    .expect("a valid response"),
                None => ApiError::unauthorized().into_response().map(Full::new),
            };
            Ok::<_, Infallible>(res)
        }),
    );
    let routes = service_fn(move |req: Request<Incoming>| {
        let (api, me, auth) = (api.clone(), me.clone(), auth.clone());
        async move {
            if auth.owns_path(req.uri().path()) {
                api.call(req).await
            } else if req.uri().path() == PROTECTED {
                me.call(req).await
            } else {
                let mut res = Response::new(Full::new(Bytes::new()));
                *res.status_mut() = StatusCode::NOT_FOUND;
                Ok(res)
            }
        }
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(tessera_hyper::serve_service(listener, routes, async {
        let _ = stopped.await;
    }));

    serve_target(
        SuiteTarget::new(origin)
            .protected_path(PROTECTED)
            .clock(clock)
            .request_limits(RequestLimits::default()),
    )
    .await;
    let _ = stop.send(());
    server.await.expect("the server stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_adapter_passes_the_suite() {
    use axum::response::IntoResponse;
    use axum::routing::get;
    use axum::Router;
    use tessera_axum::{RequiredSession, SessionLayer};

    async fn me(RequiredSession(s): RequiredSession) -> impl IntoResponse {
        (
            [(CONTENT_TYPE, "application/json")],
            email_body(&s.user.email),
        )
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let clock = clock();
    let auth = auth(&origin, &clock);
    let app = Router::new()
        .route(PROTECTED, get(me))
        .layer(SessionLayer::new(auth.clone()))
        .merge(tessera_axum::router(auth));
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        })
        .await
    });

    serve_target(
        SuiteTarget::new(origin)
            .protected_path(PROTECTED)
            .clock(clock)
            .request_limits(RequestLimits::default()),
    )
    .await;
    let _ = stop.send(());
    server
        .await
        .expect("the server task")
        .expect("the server stops cleanly");
}

/// `tessera_hyper::AuthService` as a tower service, mounted in an axum
/// router with `route_service`: the tower face of the hyper adapter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_auth_service_as_tower_service_passes_the_suite() {
    use axum::response::IntoResponse;
    use axum::routing::get;
    use axum::Router;
    use tessera_axum::{RequiredSession, SessionLayer};
    use tessera_hyper::AuthService;

    async fn me(RequiredSession(s): RequiredSession) -> impl IntoResponse {
        (
            [(CONTENT_TYPE, "application/json")],
            email_body(&s.user.email),
        )
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let clock = clock();
    let auth = auth(&origin, &clock);
    let app = Router::new()
        .route(PROTECTED, get(me))
        .layer(SessionLayer::new(auth.clone()))
        .route_service(
            &format!("{}/{{*rest}}", auth.base_path()),
            AuthService::new(auth),
        );
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });

    serve_target(
        SuiteTarget::new(origin)
            .protected_path(PROTECTED)
            .clock(clock)
            .request_limits(RequestLimits::default()),
    )
    .await;
    let _ = stop.send(());
    server
        .await
        .expect("the server task")
        .expect("the server stops cleanly");
}

#[actix_web::test]
async fn actix_adapter_passes_the_suite() {
    use actix_web::{web, App, HttpResponse, HttpServer};
    use tessera_actix::{RequiredSession, SessionMiddleware};

    async fn me(RequiredSession(s): RequiredSession) -> HttpResponse {
        HttpResponse::Ok()
            .content_type("application/json")
            .body(email_body(&s.user.email))
    }

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let clock = clock();
    let auth = auth(&origin, &clock);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(SessionMiddleware::new(auth.clone()))
            .configure(tessera_actix::configure(auth.clone()))
            .route(PROTECTED, web::get().to(me))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)
    .expect("listen on the bound socket")
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    serve_target(
        SuiteTarget::new(origin)
            .protected_path(PROTECTED)
            .clock(clock)
            .request_limits(RequestLimits::default()),
    )
    .await;
    handle.stop(true).await;
}

/// better-auth 1.7.25 itself (memory adapter): no protected application
/// route, no movable clock and Node's 16 KiB head limit, so exactly the
/// scenarios needing them are skipped; everything else must hold as it
/// does for the adapters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn better_auth_passes_the_suite() {
    let server = require_refserver!(&[("MODE", "memory")]);
    let report = run_suite(&SuiteTarget::new(server.base_url())).await;
    assert_eq!(
        report.skipped(),
        [
            "protected_route_without_session_is_401",
            "protected_route_with_session_returns_the_user",
            "session_refreshes_after_update_age",
            "tesseras_largest_cookie_set_is_accepted",
        ],
        "{report}"
    );
}

/// The suite has teeth: a server that joins its `Set-Cookie` headers into
/// one and whose protected route drops the session's cookie work (and its
/// errors: a refused head reads as signed out) fails exactly the scenarios
/// about those things.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_losing_cookie_work_fails_the_suite() {
    use http::header::SET_COOKIE;
    use http::HeaderValue;
    use hyper::body::Incoming;
    use hyper::service::{service_fn, Service};
    use tessera_hyper::AuthService;
    use tessera_testkit::conformance::run_scenarios;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let clock = clock();
    let auth = auth(&origin, &clock);
    let api = AuthService::new(auth.clone());
    let routes = service_fn(move |req: Request<Incoming>| {
        let (api, auth) = (api.clone(), auth.clone());
        async move {
            let mut res = if auth.owns_path(req.uri().path()) {
                api.call(req).await?
            } else {
                // The session without its Set-Cookie headers.
                match auth
                    .session(req.headers())
                    .await
                    .ok()
                    .and_then(|o| o.session)
                {
                    Some(s) => Response::new(Full::new(Bytes::from(email_body(&s.user.email)))),
                    None => ApiError::unauthorized().into_response().map(Full::new),
                }
            };
            let joined: Vec<&str> = res
                .headers()
                .get_all(SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            if joined.len() > 1 {
                let joined = HeaderValue::from_str(&joined.join(", ")).expect("ASCII cookies");
                res.headers_mut().insert(SET_COOKIE, joined);
            }
            Ok::<_, Infallible>(res)
        }
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(tessera_hyper::serve_service(listener, routes, async {
        let _ = stopped.await;
    }));

    let target = SuiteTarget::new(origin)
        .protected_path(PROTECTED)
        .clock(clock);
    let report = run_scenarios(&target).await;
    eprint!("{report}");
    assert_eq!(
        report.failed(),
        [
            "session_refreshes_after_update_age",
            "set_cookie_headers_arrive_separately",
            "oversized_cookie_headers_are_431",
        ],
        "{report}"
    );
    let _ = stop.send(());
    server.await.expect("the server stops cleanly");
}
