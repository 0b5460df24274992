//! The adapter end to end: a real listener, a real HTTP client.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::{service_fn, Service};
use hyper::{Request, Response};
use serde_json::{json, Value};
use tessera::{Auth, Options};
use tessera_hyper::{serve, serve_service, AuthService, WithSession};
use tessera_testkit::conformance::cookie_bomb;
use tessera_testkit::{send_raw_status, TestRequest};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const SECRET: &str = "kY3vQ8pZr2LmX7wN4tB9sD1fH6jG0cVeA5uR8iOq";

fn auth() -> Auth {
    Auth::builder(Options::new().secret(SECRET).rate_limit(false))
        .build()
        .expect("valid options")
}

/// A running server and the switch that stops it.
struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    done: tokio::task::JoinHandle<()>,
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn shut_down(self) {
        let _ = self.stop.send(());
        self.done.await.expect("server task");
    }
}

async fn start_auth_only() -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(serve(listener, auth(), async {
        let _ = stopped.await;
    }));
    Running { addr, stop, done }
}

/// The auth API under its base path, an application everywhere else.
async fn start_with_app() -> Running {
    let auth = auth();
    let api = AuthService::new(auth.clone());
    let app = WithSession::new(
        auth.clone(),
        service_fn(|req: Request<Incoming>| async move {
            let body = match tessera_hyper::session(&req) {
                Some(s) => json!({ "user": s.user.email }),
                None => json!({ "user": null }),
            };
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body.to_string()))))
        }),
    );
    let base = auth.base_path().to_owned();
    let router = service_fn(move |req: Request<Incoming>| {
        let (api, app) = (api.clone(), app.clone());
        let to_api = req.uri().path().starts_with(&base);
        async move {
            if to_api {
                api.call(req).await
            } else {
                app.call(req).await
            }
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(serve_service(listener, router, async {
        let _ = stopped.await;
    }));
    Running { addr, stop, done }
}

/// Signs up and returns the `name=value` of the session cookie.
async fn sign_up(client: &reqwest::Client, server: &Running) -> String {
    let res = client
        .post(server.url("/api/auth/sign-up/email"))
        .json(&json!({ "email": "a@example.com", "password": "password1234", "name": "A" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("better-auth.session_token="))
        .expect("a session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    cookie
}

#[tokio::test]
async fn ok_endpoint_answers() {
    let server = start_auth_only().await;
    let res = reqwest::get(server.url("/api/auth/ok")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({ "ok": true }));
    server.shut_down().await;
}

#[tokio::test]
async fn paths_outside_the_base_path_are_404() {
    let server = start_auth_only().await;
    let res = reqwest::get(server.url("/elsewhere")).await.unwrap();
    assert_eq!(res.status(), 404);
    server.shut_down().await;
}

#[tokio::test]
async fn oversized_body_is_413_json() {
    let server = start_auth_only().await;
    let res = reqwest::Client::new()
        .post(server.url("/api/auth/sign-up/email"))
        .header("content-type", "application/json")
        .body(vec![b' '; tessera_hyper::DEFAULT_BODY_LIMIT + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({ "message": "Request body too large", "code": "PAYLOAD_TOO_LARGE" })
    );
    server.shut_down().await;
}

#[tokio::test]
async fn sign_up_then_get_session_with_the_cookie() {
    let server = start_auth_only().await;
    let client = reqwest::Client::new();
    let cookie = sign_up(&client, &server).await;

    let res = client
        .get(server.url("/api/auth/get-session"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["email"], "a@example.com");
    assert!(body["session"]["token"].is_string());
    server.shut_down().await;
}

#[tokio::test]
async fn app_route_behind_with_session_sees_the_session() {
    let server = start_with_app().await;
    let client = reqwest::Client::new();

    let anonymous: Value = client
        .get(server.url("/dashboard"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(anonymous, json!({ "user": null }));

    let cookie = sign_up(&client, &server).await;
    let res = client
        .get(server.url("/dashboard"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({ "user": "a@example.com" })
    );
    server.shut_down().await;
}

#[tokio::test]
async fn app_route_carries_the_kernels_set_cookie_headers() {
    // Same secret, separate in-memory databases: a cookie from the first
    // server is validly signed but names no session on the second, so the
    // kernel deletes the session cookies and WithSession must pass that on.
    let issuer = start_auth_only().await;
    let client = reqwest::Client::new();
    let cookie = sign_up(&client, &issuer).await;
    issuer.shut_down().await;

    let server = start_with_app().await;
    let res = client
        .get(server.url("/dashboard"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let set_cookies: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        set_cookies
            .iter()
            .any(|c| c.starts_with("better-auth.session_token=;") && c.contains("Max-Age=0")),
        "{set_cookies:?}"
    );
    // One header per cookie, never comma-joined.
    assert!(set_cookies
        .iter()
        .all(|c| c.matches("Max-Age").count() <= 1));
    assert_eq!(res.json::<Value>().await.unwrap(), json!({ "user": null }));
    server.shut_down().await;
}

const TOO_LARGE: &str =
    r#"{"message":"Request header fields too large","code":"REQUEST_HEADER_FIELDS_TOO_LARGE"}"#;

#[tokio::test]
async fn a_cookie_header_over_the_kernels_limit_is_431_json_on_api_and_app() {
    let server = start_with_app().await;
    let client = reqwest::Client::new();
    // Over the kernel's 48 KiB, within what hyper reads for it.
    let cookie = format!("big={}", "x".repeat(64 * 1024));
    for path in ["/api/auth/ok", "/api/auth/get-session", "/dashboard"] {
        let res = client
            .get(server.url(path))
            .header("cookie", cookie.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 431, "{path}");
        assert_eq!(res.text().await.unwrap(), TOO_LARGE, "{path}");
    }
    server.shut_down().await;
}

#[tokio::test]
async fn a_cookie_bomb_past_hypers_head_limit_is_431_and_the_server_serves_on() {
    let server = start_with_app().await;
    let bomb = cookie_bomb();
    let base = server.url("");
    for path in ["/api/auth/ok", "/api/auth/get-session", "/dashboard"] {
        // hyper refuses it unread (kernel limit + 64 KiB): its own 431,
        // empty body, and the connection closed on a client still sending.
        let req = TestRequest::get(path).header("cookie", bomb.as_str());
        assert_eq!(send_raw_status(&base, &req).await, Ok(431), "{path}");
    }
    let res = reqwest::get(server.url("/api/auth/ok")).await.unwrap();
    assert_eq!(res.status(), 200);
    server.shut_down().await;
}

#[tokio::test]
async fn serve_reads_heads_as_large_as_the_kernels_configured_limits() {
    let mut options = Options::new().secret(SECRET).rate_limit(false);
    options.limits.max_head_bytes = 1024 * 1024;
    options.limits.max_cookie_bytes = 1024 * 1024;
    let auth = Auth::builder(options).build().expect("valid options");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(serve(listener, auth, async {
        let _ = stopped.await;
    }));
    let server = Running { addr, stop, done };
    // Past hyper's own default buffer (about 400 KB).
    let cookie = format!("big={}", "x".repeat(600 * 1024));
    let res = reqwest::Client::new()
        .get(server.url("/api/auth/ok"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    server.shut_down().await;
}
