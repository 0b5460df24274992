//! A fake OAuth provider and an in-process harness for the callback tests
//! (`oauth_callback.rs`, `oauth_presets.rs`): canned answers by URL through
//! the kernel's `HttpClient`, ID tokens signed with RSA keys generated once
//! per run, and a browser-side driver of `/sign-in/social` and
//! `/callback/<id>` over `Auth::handle`. Nothing here touches the network.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::KeyPair;
use josekit::jws::{self, JwsHeader};
use serde_json::{json, Value};
use tessera::oauth::{HttpClient, HttpClientError, Provider};
use tessera::store::{MemoryDatabase, User};
use tessera::{Auth, Options, TestClock, Timestamp};
pub use tessera_testkit::{ClientCookies, TestResponse};

/// The base URL of every harness (the vectors' `meta.baseURL`).
pub const BASE_URL: &str = "http://127.0.0.1:3005";
/// The API's URL: better-auth's `ctx.context.baseURL`.
pub const API: &str = "http://127.0.0.1:3005/api/auth";
/// The vectors' secret (`meta.secret`).
pub const SECRET: &str = "refharness-fixed-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
/// Another secret (`meta.otherSecret`).
pub const OTHER_SECRET: &str = "a-completely-different-secret-9876543210-zyxwvutsrqponmlkjihgf";
/// 2026-11-28T00:00:00.000Z
pub const T0: i64 = 1_795_824_000_000;

pub const OAUTH_STATE: &str = "better-auth.oauth_state";
pub const SIGNED_STATE: &str = "better-auth.state";
pub const SESSION_TOKEN: &str = "better-auth.session_token";
pub const SESSION_DATA: &str = "better-auth.session_data";
pub const ACCOUNT_DATA: &str = "better-auth.account_data";

/// The kid of [`key`]`(0)` in every key set served here.
pub const KID: &str = "tessera-test-key";

// --- the recorded vectors ---

/// `shared/vectors/better-auth-1.7.25-oauth.json`.
pub fn vectors() -> &'static Value {
    static VECTORS: OnceLock<Value> = OnceLock::new();
    VECTORS.get_or_init(|| {
        let dir = std::env::var_os("TESSERA_VECTORS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
            });
        let path = dir.join("better-auth-1.7.25-oauth.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "OAuth vectors at {}: {e} (set TESSERA_VECTORS_DIR)",
                path.display()
            )
        });
        serde_json::from_str(&text).expect("the vectors are JSON")
    })
}

/// A string of the vectors.
pub fn recorded(pointer: &str) -> &'static str {
    vectors()
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in the vectors"))
}

// --- keys ---

/// Two RSA keys, generated once per run: 0 is served under [`KID`], 1 is
/// never served.
pub fn key(which: usize) -> &'static RsaKeyPair {
    static KEYS: OnceLock<[RsaKeyPair; 2]> = OnceLock::new();
    &KEYS.get_or_init(|| {
        [
            jws::RS256.generate_key_pair(2048).unwrap(),
            jws::RS256.generate_key_pair(2048).unwrap(),
        ]
    })[which]
}

/// The key set a provider serves: key 0 under [`KID`], then `extra` keys
/// (e.g. the recorded oidc-provider key).
pub fn key_set(extra: &[Value]) -> Value {
    let mut jwk = key(0).to_jwk_public_key();
    jwk.set_key_id(KID);
    jwk.set_key_use("sig");
    jwk.set_algorithm("RS256");
    let mut keys = vec![Value::Object(jwk.as_ref().clone())];
    keys.extend(extra.iter().cloned());
    json!({ "keys": keys })
}

/// `claims` signed with RS256 by key `which` under a header naming `kid`.
pub fn sign(which: usize, kid: &str, claims: &Value) -> String {
    let signer = jws::RS256
        .signer_from_jwk(&key(which).to_jwk_private_key())
        .unwrap();
    let mut header = JwsHeader::new();
    header.set_key_id(kid);
    header.set_token_type("JWT");
    jws::serialize_compact(claims.to_string().as_bytes(), &header, &signer).unwrap()
}

/// `claims` as a token served key signs.
pub fn id_token(claims: &Value) -> String {
    sign(0, KID, claims)
}

// --- the fake provider ---

/// What the fake answers for one URL.
#[derive(Clone, Debug)]
pub enum Answer {
    /// A response with a body and extra headers.
    Response {
        status: StatusCode,
        headers: Vec<(&'static str, String)>,
        body: Bytes,
    },
    /// No connection (`HttpClientError::connect`).
    Connect,
    /// No answer in time (`HttpClientError::Timeout`).
    Timeout,
}

impl Answer {
    /// A JSON answer.
    pub fn json(status: u16, body: Value) -> Self {
        Answer::Response {
            status: StatusCode::from_u16(status).unwrap(),
            headers: vec![("content-type", "application/json".into())],
            body: Bytes::from(body.to_string()),
        }
    }

    /// Any bytes.
    pub fn raw(status: u16, content_type: &str, body: impl Into<Bytes>) -> Self {
        Answer::Response {
            status: StatusCode::from_u16(status).unwrap(),
            headers: vec![("content-type", content_type.into())],
            body: body.into(),
        }
    }

    /// A redirect elsewhere.
    pub fn redirect(status: u16, location: &str) -> Self {
        Answer::Response {
            status: StatusCode::from_u16(status).unwrap(),
            headers: vec![("location", location.into())],
            body: Bytes::new(),
        }
    }
}

/// A request the fake received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub uri: String,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Seen {
    /// The form fields of the body.
    pub fn form(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }
}

/// Answers by `(method, URL)`; anything else is a 404. Its locks are never
/// held across an `.await`.
#[derive(Default)]
pub struct FakeProvider {
    answers: Mutex<HashMap<(Method, String), Answer>>,
    seen: Mutex<Vec<Seen>>,
}

impl FakeProvider {
    /// Sets the answer to `method url`.
    pub fn answer(&self, method: Method, url: &str, answer: Answer) {
        self.answers
            .lock()
            .unwrap()
            .insert((method, url.to_owned()), answer);
    }

    /// Every request so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The requests to `url`.
    pub fn seen_at(&self, url: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.uri == url).collect()
    }

    pub fn forget(&self) {
        self.seen.lock().unwrap().clear();
    }
}

#[async_trait::async_trait]
impl HttpClient for FakeProvider {
    async fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpClientError> {
        let (parts, body) = request.into_parts();
        let uri = parts.uri.to_string();
        self.seen.lock().unwrap().push(Seen {
            method: parts.method.clone(),
            uri: uri.clone(),
            headers: parts.headers.clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        let answer = self
            .answers
            .lock()
            .unwrap()
            .get(&(parts.method, uri))
            .cloned();
        tokio::task::yield_now().await;
        match answer {
            Some(Answer::Response {
                status,
                headers,
                body,
            }) => {
                let mut response = Response::new(body);
                *response.status_mut() = status;
                for (name, value) in headers {
                    response.headers_mut().insert(name, value.parse().unwrap());
                }
                Ok(response)
            }
            Some(Answer::Connect) => Err(HttpClientError::connect(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "connection refused",
            ))),
            Some(Answer::Timeout) => Err(HttpClientError::Timeout),
            None => {
                let mut response = Response::new(Bytes::from_static(b"{\"error\":\"not_found\"}"));
                *response.status_mut() = StatusCode::NOT_FOUND;
                Ok(response)
            }
        }
    }
}

// --- the harness ---

/// One `Auth` with its clock, its fake provider and (when stateful) its
/// database.
pub struct Harness {
    pub auth: Auth,
    pub clock: TestClock,
    pub provider: Arc<FakeProvider>,
    pub db: Option<Arc<MemoryDatabase>>,
}

/// better-auth's options of the recorded harness: its secret and base URL,
/// no rate limit.
pub fn options() -> Options {
    Options::new()
        .secret(SECRET)
        .base_url(BASE_URL)
        .rate_limit(false)
}

impl Harness {
    /// `providers` behind `options`, at `at_ms`; with a memory database when
    /// `database`.
    pub fn new(options: Options, providers: Vec<Provider>, database: bool, at_ms: i64) -> Self {
        let clock = TestClock::at(Timestamp::from_millis(at_ms));
        let provider = Arc::new(FakeProvider::default());
        let db = database.then(|| Arc::new(MemoryDatabase::new()));
        let mut builder = Auth::builder(options)
            .clock(Arc::new(clock.clone()))
            .http_client(provider.clone());
        for p in providers {
            builder = builder.oauth_provider(p);
        }
        if let Some(db) = &db {
            builder = builder.database(db.clone());
        }
        let auth = builder.build().expect("a valid test configuration");
        Harness {
            auth,
            clock,
            provider,
            db,
        }
    }

    pub fn now(&self) -> Timestamp {
        use tessera::Clock as _;
        self.clock.now()
    }

    pub fn now_secs(&self) -> i64 {
        self.now().as_millis() / 1000
    }

    pub fn advance_secs(&self, secs: u64) {
        self.clock.advance(std::time::Duration::from_secs(secs));
    }

    pub fn db(&self) -> &MemoryDatabase {
        self.db.as_deref().expect("a stateful harness")
    }

    /// Sends a request as a browser would, with `cookies`.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        cookies: Option<&str>,
        body: Option<&Value>,
    ) -> TestResponse {
        let mut req = Request::builder()
            .method(method)
            .uri(path_and_query)
            .header("origin", BASE_URL)
            .header("user-agent", "tessera-oauth-tests/1.0");
        if let Some(cookies) = cookies {
            req = req.header("cookie", cookies);
        }
        let body = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        TestResponse::from(self.auth.handle(req.body(body).unwrap()).await)
    }

    /// `POST /sign-in/social` with `body`: the flow it starts.
    pub async fn sign_in(&self, body: Value) -> Flow {
        let r = self
            .send(Method::POST, "/api/auth/sign-in/social", None, Some(&body))
            .await;
        assert_eq!(r.status, 200, "sign-in/social: {}", r.text);
        let url = url::Url::parse(r.body()["url"].as_str().unwrap()).unwrap();
        let param = |k: &str| {
            url.query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.into_owned())
        };
        let mut cookies = ClientCookies::new();
        cookies.update(&r);
        Flow {
            provider: body["provider"].as_str().unwrap().to_owned(),
            state: param("state").expect("a state"),
            nonce: param("nonce"),
            url,
            cookies,
        }
    }

    /// `GET /callback/<provider>?<query>` with `cookies`.
    pub async fn callback(
        &self,
        provider: &str,
        query: &[(&str, &str)],
        cookies: &ClientCookies,
    ) -> TestResponse {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in query {
            q.append_pair(k, v);
        }
        let path = format!("/api/auth/callback/{provider}?{}", q.finish());
        self.send(Method::GET, &path, cookies.header().as_deref(), None)
            .await
    }

    /// The session's user id, read back with `get-session`.
    pub async fn session_user(&self, cookies: &ClientCookies) -> Option<String> {
        let r = self
            .send(
                Method::GET,
                "/api/auth/get-session",
                cookies.header().as_deref(),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body()["user"]["id"].as_str().map(str::to_owned)
    }

    /// A user in the database.
    pub async fn create_user(&self, email: &str, verified: bool) -> User {
        let now = self.now();
        let user = User {
            id: tessera::generate_id(tessera::ID_LENGTH),
            name: "Local".into(),
            email: email.into(),
            email_verified: verified,
            image: None,
            created_at: now,
            updated_at: now,
            extra: serde_json::Map::new(),
        };
        use tessera::store::Database as _;
        self.db().create_user(&user).await.unwrap();
        user
    }
}

/// A sign-in waiting for its callback.
pub struct Flow {
    pub provider: String,
    pub state: String,
    pub nonce: Option<String>,
    pub url: url::Url,
    /// The cookies the sign-in set (the state).
    pub cookies: ClientCookies,
}

impl Flow {
    /// The provider's redirect back with `code`.
    pub async fn finish(&self, h: &Harness, code: &str) -> TestResponse {
        h.callback(
            &self.provider,
            &[("code", code), ("state", &self.state)],
            &self.cookies,
        )
        .await
    }

    /// The PKCE verifier's challenge the sign-in sent.
    pub fn param(&self, name: &str) -> Option<String> {
        self.url
            .query_pairs()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// `<API>/error?error=<code>`: better-auth's default error redirect.
pub fn error_page(code: &str) -> String {
    format!("{API}/error?error={code}")
}

/// The names of the cookies `r` sets (not expires).
pub fn set_names(r: &TestResponse) -> Vec<String> {
    let mut names: Vec<String> = r
        .cookies()
        .into_iter()
        .filter(|c| !c.is_expired())
        .map(|c| c.name)
        .collect();
    names.sort();
    names
}

/// The names of the cookies `r` expires.
pub fn expired_names(r: &TestResponse) -> Vec<String> {
    r.expired_cookie_names().into_iter().collect()
}
