//! A browser-like client over `Auth::handle` with the multi-session plugin:
//! it keeps cookies in the order it received them, like a browser's
//! `Cookie` header.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use tessera::store::MemoryDatabase;
use tessera::{Auth, AuthBuilder, Options, TestClock, Timestamp};
use tessera_multi_session::{device_cookie_name, is_device_cookie, MultiSession};
pub use tessera_testkit::TestResponse;

pub const SECRET: &str = "multi-session-test-secret-0123456789-abcdefghijklmnop";
pub const ORIGIN: &str = "http://localhost:3000";
pub const PASSWORD: &str = "password1234";
pub const SESSION_TOKEN: &str = "better-auth.session_token";
/// 2026-11-28T00:00:00.000Z
pub const T0: i64 = 1_795_824_000_000;

pub fn options() -> Options {
    Options::new()
        .secret(SECRET)
        .base_url(ORIGIN)
        .rate_limit(false)
}

pub struct Harness {
    pub auth: Auth,
    pub clock: TestClock,
    pub origin: String,
}

impl Harness {
    /// An in-memory database and the plugin with its defaults.
    pub fn new() -> Self {
        Self::with_plugin(MultiSession::new())
    }

    pub fn with_plugin(plugin: MultiSession) -> Self {
        Self::with(options(), ORIGIN, move |b| b.plugin(Arc::new(plugin)))
    }

    pub fn with(
        options: Options,
        origin: &str,
        f: impl FnOnce(AuthBuilder) -> AuthBuilder,
    ) -> Self {
        let clock = TestClock::at(Timestamp::from_millis(T0));
        let builder = Auth::builder(options)
            .database(Arc::new(MemoryDatabase::new()))
            .clock(Arc::new(clock.clone()));
        let auth = f(builder).build().expect("valid test configuration");
        Harness {
            auth,
            clock,
            origin: origin.to_owned(),
        }
    }

    pub fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    pub fn browser(&self) -> Browser<'_> {
        Browser {
            h: self,
            cookies: Vec::new(),
        }
    }

    /// Signs `email` up on a browser of its own.
    pub async fn sign_up(&self, email: &str) {
        let r = self
            .browser()
            .post(
                "/sign-up/email",
                json!({"email": email, "password": PASSWORD, "name": email}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "sign-up failed: {}", r.body());
    }

    /// The user email of the session a `session_token` cookie with this
    /// raw value resolves to, or `None` when it resolves to nothing.
    pub async fn session_of(&self, raw_signed_token: &str) -> Option<String> {
        let mut b = self.browser();
        b.cookies
            .push((SESSION_TOKEN.to_owned(), raw_signed_token.to_owned()));
        let r = b.get("/get-session").await;
        assert_eq!(r.status, StatusCode::OK);
        r.body()["user"]["email"].as_str().map(str::to_owned)
    }
}

/// What these tests read off a response beyond [`TestResponse`]: the
/// plugin's device cookies and the session token of a sign-in.
pub trait MultiSessionResponse {
    /// Names of the device cookies this response sets (live values).
    fn device_cookies_set(&self) -> Vec<String>;
    /// Names of the device cookies this response expires.
    fn device_cookies_expired(&self) -> Vec<String>;
    /// The body's `token`.
    fn token(&self) -> String;
}

impl MultiSessionResponse for TestResponse {
    fn device_cookies_set(&self) -> Vec<String> {
        device_cookie_names(self, false)
    }

    fn device_cookies_expired(&self) -> Vec<String> {
        device_cookie_names(self, true)
    }

    fn token(&self) -> String {
        self.body()["token"]
            .as_str()
            .expect("a token in the body")
            .to_owned()
    }
}

fn device_cookie_names(res: &TestResponse, expired: bool) -> Vec<String> {
    res.cookies()
        .into_iter()
        .filter(|c| c.is_expired() == expired)
        .map(|c| c.name)
        .filter(|n| is_device_cookie(n))
        .collect()
}

pub struct Browser<'h> {
    pub h: &'h Harness,
    /// name, raw (encoded) value, in the order first received.
    pub cookies: Vec<(String, String)>,
}

impl Browser<'_> {
    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn get_cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn device_cookies(&self) -> Vec<String> {
        self.cookies
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| is_device_cookie(n))
            .collect()
    }

    pub fn set_raw(&mut self, name: &str, raw: &str) {
        match self.cookies.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = raw.to_owned(),
            None => self.cookies.push((name.to_owned(), raw.to_owned())),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.cookies.retain(|(n, _)| n != name);
    }

    pub async fn send(&mut self, method: Method, path: &str, body: Option<Value>) -> TestResponse {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("/api/auth{path}"))
            .header("origin", self.h.origin.as_str())
            .header("user-agent", "tessera-tests/1.0")
            .header("x-forwarded-for", "203.0.113.7");
        if !self.cookies.is_empty() {
            req = req.header("cookie", self.cookie_header());
        }
        let body = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Bytes::from(serde_json::to_vec(&v).unwrap())
            }
            None => Bytes::new(),
        };
        let res = TestResponse::from(self.h.auth.handle(req.body(body).unwrap()).await);
        self.absorb(&res.set_cookies);
        res
    }

    /// Applies `Set-Cookie` lines like a browser: a replaced cookie keeps
    /// its place, a new one goes last, an expired one goes away.
    pub fn absorb(&mut self, lines: &[String]) {
        for line in lines {
            let (pair, attrs) = line.split_once(';').unwrap_or((line, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.remove(name);
            } else {
                self.set_raw(name, value);
            }
        }
    }

    pub async fn get(&mut self, path: &str) -> TestResponse {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&mut self, path: &str, body: Value) -> TestResponse {
        self.send(Method::POST, path, Some(body)).await
    }

    /// Signs in and returns the new session token.
    pub async fn sign_in(&mut self, email: &str) -> TestResponse {
        let r = self
            .post(
                "/sign-in/email",
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "sign-in failed: {}", r.body());
        r
    }

    pub async fn list(&mut self) -> Vec<String> {
        let r = self.get("/multi-session/list-device-sessions").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body());
        r.body()
            .as_array()
            .expect("an array")
            .iter()
            .map(|e| e["user"]["email"].as_str().unwrap().to_owned())
            .collect()
    }

    pub async fn set_active(&mut self, token: &str) -> TestResponse {
        self.post(
            "/multi-session/set-active",
            json!({ "sessionToken": token }),
        )
        .await
    }

    pub async fn revoke(&mut self, token: &str) -> TestResponse {
        self.post("/multi-session/revoke", json!({ "sessionToken": token }))
            .await
    }

    /// Who the browser's `session_token` resolves to.
    pub async fn whoami(&mut self) -> Option<String> {
        let r = self.get("/get-session").await;
        r.body()["user"]["email"].as_str().map(str::to_owned)
    }
}

/// The device cookie name of `token` with the default cookie names.
pub fn device(token: &str) -> String {
    device_cookie_name(SESSION_TOKEN, token)
}
