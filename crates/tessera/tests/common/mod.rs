//! A small browser-like client over `Auth::handle`, for the kernel's
//! integration tests: it keeps cookies like a browser would.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use serde_json::Value;
use tessera::{Auth, Options, TestClock, Timestamp};
pub use tessera_testkit::TestResponse;

pub const SECRET: &str = "kernel-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
pub const ORIGIN: &str = "http://localhost:3000";
/// The address every [`Browser`] connects from.
pub const BROWSER_IP: &str = "203.0.113.7";
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
}

impl Harness {
    /// A stateful instance: an in-memory database, no cookie cache unless
    /// the options turn it on.
    pub fn new(options: Options) -> Self {
        Self::with(options, |b| {
            b.database(Arc::new(tessera::store::MemoryDatabase::new()))
        })
    }

    /// better-auth's stateless mode: no database given.
    pub fn stateless(options: Options) -> Self {
        Self::with(options, |b| b)
    }

    pub fn with(
        options: Options,
        f: impl FnOnce(tessera::AuthBuilder) -> tessera::AuthBuilder,
    ) -> Self {
        let clock = TestClock::at(Timestamp::from_millis(T0));
        let auth = f(Auth::builder(options).clock(Arc::new(clock.clone())))
            .build()
            .expect("valid test configuration");
        Harness { auth, clock }
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
}

pub struct Browser<'h> {
    pub h: &'h Harness,
    /// name, raw (encoded) value
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

    pub fn has_cookie(&self, name: &str) -> bool {
        self.cookies.iter().any(|(n, _)| n == name)
    }

    /// The raw (encoded) value of a cookie the browser holds.
    pub fn cookie_value(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub async fn send(&mut self, method: Method, path: &str, body: Option<Value>) -> TestResponse {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("/api/auth{path}"))
            .header("origin", ORIGIN)
            .header("user-agent", "tessera-tests/1.0");
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
        // The browser's address, as the adapter's socket would give it.
        let peer = tessera::ClientAddr(BROWSER_IP.parse().unwrap());
        let res = self
            .h
            .auth
            .handle_from(req.body(body).unwrap(), Some(peer))
            .await;
        let reply = TestResponse::from(res);
        self.absorb(&reply.set_cookies);
        reply
    }

    pub fn absorb(&mut self, lines: &[String]) {
        for line in lines {
            let (pair, attrs) = line.split_once(';').unwrap_or((line, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            if !attrs.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    pub async fn get(&mut self, path: &str) -> TestResponse {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&mut self, path: &str, body: Value) -> TestResponse {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn sign_up(&mut self, email: &str) -> TestResponse {
        let r = self
            .post(
                "/sign-up/email",
                serde_json::json!({"email": email, "password": "password1234", "name": "Alice"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "sign-up failed: {:?}", r.body());
        r
    }
}

/// The `Cookie` header a client sends back after `res`: every cookie it
/// set, attributes dropped.
pub fn cookie_header_of(res: &http::Response<Bytes>) -> String {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}
