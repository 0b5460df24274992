//! One suite, every adapter: `conformance::run_suite` against hyper, axum,
//! actix-web and Lambda servers on a real loopback listener, and against
//! the reference better-auth itself, which proves the scenarios describe
//! better-auth's behaviour.
//!
//! Each Tessera server serves the auth API at `/api/auth` and the protected
//! route `GET /me` of the suite's contract, over a memory database and a
//! `TestClock` the suite moves; its session layer wraps the whole server,
//! the auth API included, and the protected route's handler answers every
//! other path (the suite's application fallback).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Request, Response};
use http_body_util::Full;
use serde_json::json;
use tessera::options::RequestLimits;
use tessera::store::MemoryDatabase;
use tessera::{ApiError, Auth, Clock, Options, SessionWithUser, SystemClock, TestClock};
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

/// The protected route's answer for `session` (the application fallback
/// answers every other path the same way).
fn me(session: Option<&SessionWithUser>) -> Response<Bytes> {
    match session {
        Some(s) => Response::builder()
            .header(CONTENT_TYPE, "application/json")
            .body(Bytes::from(email_body(&s.user.email)))
            .expect("a valid response"),
        None => ApiError::unauthorized().into_response(),
    }
}

/// What every adapter target offers: the protected route, the application
/// fallback behind a session layer wrapping the whole server, the clock
/// and the default request limits.
fn adapter_target(origin: String, clock: TestClock) -> SuiteTarget {
    SuiteTarget::new(origin)
        .protected_path(PROTECTED)
        .app_fallback()
        .clock(clock)
        .request_limits(RequestLimits::default())
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
    let routes = service_fn({
        let auth = auth.clone();
        move |req: Request<Incoming>| {
            let (api, auth) = (api.clone(), auth.clone());
            async move {
                if auth.owns_path(req.uri().path()) {
                    api.call(req).await
                } else {
                    Ok(me(tessera_hyper::session(&req)).map(Full::new))
                }
            }
        }
    });
    let app = WithSession::new(auth, routes);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(tessera_hyper::serve_service(listener, app, async {
        let _ = stopped.await;
    }));

    serve_target(adapter_target(origin, clock)).await;
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
        .fallback(me)
        .merge(tessera_axum::router(auth.clone()))
        .layer(SessionLayer::new(auth));
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

    serve_target(adapter_target(origin, clock)).await;
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
        .fallback(me)
        .route_service(
            &format!("{}/{{*rest}}", auth.base_path()),
            AuthService::new(auth.clone()),
        )
        .layer(SessionLayer::new(auth));
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });

    serve_target(adapter_target(origin, clock)).await;
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
            .default_service(web::to(me))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)
    .expect("listen on the bound socket")
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    serve_target(adapter_target(origin, clock)).await;
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
            "session_layer_follows_the_owns_path_rule",
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

/// The Lambda adapter's services behind a loopback HTTP front that builds
/// `lambda_http` requests the way the runtime hands them over (the event
/// shapes themselves are the adapter's own tests): `WithSession` around a
/// function routing the auth API to `AuthService` and everything else to
/// the application.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_adapter_passes_the_suite() {
    use http_body_util::BodyExt;
    use hyper::body::Incoming;
    use tessera_lambda::lambda_http::{self, Body, Service};
    use tessera_lambda::{lambda_response, AuthService, WithSession};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let clock = clock();
    let auth = auth(&origin, &clock);

    let api = AuthService::new(auth.clone());
    let routes = lambda_http::service_fn({
        let auth = auth.clone();
        move |req: lambda_http::Request| {
            let (mut api, auth) = (api.clone(), auth.clone());
            async move {
                if auth.owns_path(req.uri().path()) {
                    api.call(req).await
                } else {
                    Ok(lambda_response(me(tessera_lambda::session(&req))))
                }
            }
        }
    });
    let function = WithSession::new(auth, routes);
    let front = hyper::service::service_fn(move |req: Request<Incoming>| {
        let mut function = function.clone();
        async move {
            let (parts, body) = req.into_parts();
            let bytes = body.collect().await?.to_bytes();
            let body = if bytes.is_empty() {
                Body::Empty
            } else {
                Body::Binary(bytes.to_vec())
            };
            let res = match function.call(Request::from_parts(parts, body)).await {
                Ok(res) => res,
                Err(never) => match never {},
            };
            Ok::<_, hyper::Error>(res.map(|body| Full::new(Bytes::copy_from_slice(&body))))
        }
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(tessera_hyper::serve_service(listener, front, async {
        let _ = stopped.await;
    }));

    serve_target(adapter_target(origin, clock)).await;
    let _ = stop.send(());
    server.await.expect("the server stops cleanly");
}

/// A hyper server whose hand-written session layer passes a request
/// through when `passes_through` says so, and otherwise resolves,
/// inserts and appends as the adapters do.
async fn serve_with_layer_rule(
    passes_through: fn(&Auth, &str) -> bool,
) -> (
    SuiteTarget,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    use hyper::body::Incoming;
    use hyper::service::{service_fn, Service};
    use tessera::CurrentSession;
    use tessera_hyper::AuthService;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let clock = clock();
    let auth = auth(&origin, &clock);
    let api = AuthService::new(auth.clone());
    let routes = service_fn(move |mut req: Request<Incoming>| {
        let (api, auth) = (api.clone(), auth.clone());
        async move {
            let route = |req: Request<Incoming>| async {
                if auth.owns_path(req.uri().path()) {
                    api.call(req).await
                } else {
                    let session = req
                        .extensions()
                        .get::<CurrentSession>()
                        .and_then(CurrentSession::get);
                    Ok(me(session).map(Full::new))
                }
            };
            if passes_through(&auth, req.uri().path()) {
                return route(req).await;
            }
            let outcome = match auth.session(req.headers()).await {
                Ok(outcome) => outcome,
                Err(err) => return Ok(err.into_response().map(Full::new)),
            };
            req.extensions_mut().insert(CurrentSession(outcome.session));
            let mut res = route(req).await?;
            outcome.cookies.write_to(res.headers_mut());
            Ok::<_, Infallible>(res)
        }
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(tessera_hyper::serve_service(listener, routes, async {
        let _ = stopped.await;
    }));
    (adapter_target(origin, clock), stop, server)
}

/// The owns_path scenario has teeth both ways: a layer passing through
/// every path that merely starts with the base path withholds the session
/// from `/api/authx`; a layer passing nothing through deletes a dead
/// session's cookies a second time on the auth API's own responses. The
/// kernel's rule passes everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_layers_with_another_owns_path_rule_fail_the_suite() {
    use tessera_testkit::conformance::run_scenarios;

    let prefix: fn(&Auth, &str) -> bool = |auth, path| path.starts_with(auth.base_path());
    let never: fn(&Auth, &str) -> bool = |_, _| false;
    let kernels: fn(&Auth, &str) -> bool = |auth, path| auth.app_session(path).is_none();
    let cases = [
        (prefix, &["session_layer_follows_the_owns_path_rule"][..]),
        (
            never,
            &[
                "set_cookie_headers_arrive_separately",
                "session_layer_follows_the_owns_path_rule",
            ][..],
        ),
        (kernels, &[][..]),
    ];
    for (rule, expected) in cases {
        let (target, stop, server) = serve_with_layer_rule(rule).await;
        let report = run_scenarios(&target).await;
        eprint!("{report}");
        assert_eq!(report.failed(), expected, "{report}");
        let _ = stop.send(());
        server.await.expect("the server stops cleanly");
    }
}
