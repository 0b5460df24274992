//! A Tessera instance with the plugin and a counting shaper, and a
//! browser-like client over `Auth::handle` (the test kit's cookie store).

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, StatusCode};
use serde::Serialize;
use serde_json::{json, Value};
use tessera::store::MemoryDatabase;
use tessera::{
    ApiError, Auth, AuthBuilder, Options, Session, SessionWithUser, TestClock, Timestamp, User,
};
use tessera_custom_session::{CustomSession, RequestInfo, SessionShaper};
use tessera_testkit::{send_auth, ClientCookies, TestRequest, TestResponse};

pub const SECRET: &str = "custom-session-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
pub const ORIGIN: &str = "http://localhost:3000";
/// 2026-11-28T00:00:00.000Z
pub const T0: i64 = 1_795_824_000_000;
pub const SESSION_TOKEN: &str = "better-auth.session_token";
pub const SESSION_DATA: &str = "better-auth.session_data";
/// Makes [`Roles`] fail with this header's value as the error code.
pub const FAIL_HEADER: &str = "x-fail-with";

pub fn options() -> Options {
    Options::new()
        .secret(SECRET)
        .base_url(ORIGIN)
        .rate_limit(false)
}

/// better-auth's docs example (`roles`, `user.newField`), counting its
/// calls; it fails with a 403 when the request carries [`FAIL_HEADER`].
#[derive(Clone, Debug, Default)]
pub struct Roles {
    pub calls: Arc<AtomicUsize>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WithRoles {
    pub roles: Vec<String>,
    pub user: User,
    pub session: Session,
}

impl SessionShaper for Roles {
    type Output = WithRoles;

    async fn shape(
        &self,
        s: SessionWithUser,
        req: &RequestInfo<'_>,
    ) -> Result<WithRoles, ApiError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(code) = req.header(FAIL_HEADER) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                code.to_owned(),
                "Roles are unavailable",
            ));
        }
        let SessionWithUser { session, mut user } = s;
        user.extra.insert("newField".into(), json!("newField"));
        Ok(WithRoles {
            roles: vec!["user".to_owned()],
            user,
            session,
        })
    }
}

pub struct Harness {
    pub auth: Auth,
    pub clock: TestClock,
    pub custom: Arc<CustomSession<Roles>>,
}

impl Harness {
    /// An in-memory database; no cookie cache unless the options turn it on.
    pub fn stateful(options: Options) -> Self {
        Self::with(options, CustomSession::with_shaper(Roles::default()), |b| {
            b.database(Arc::new(MemoryDatabase::new()))
        })
    }

    /// better-auth's stateless mode: no database (a JWE cookie cache).
    pub fn stateless(options: Options) -> Self {
        Self::with(options, CustomSession::with_shaper(Roles::default()), |b| b)
    }

    pub fn with(
        options: Options,
        custom: CustomSession<Roles>,
        f: impl FnOnce(AuthBuilder) -> AuthBuilder,
    ) -> Self {
        let clock = TestClock::at(Timestamp::from_millis(T0));
        let custom = Arc::new(custom);
        let builder = Auth::builder(options)
            .clock(Arc::new(clock.clone()))
            .plugin(custom.clone());
        let auth = f(builder).build().expect("valid test configuration");
        Harness {
            auth,
            clock,
            custom,
        }
    }

    pub fn calls(&self) -> usize {
        self.custom.shaper().calls.load(Ordering::SeqCst)
    }

    pub fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    pub fn now(&self) -> Timestamp {
        self.auth.clock().now()
    }

    pub fn browser(&self) -> Browser<'_> {
        Browser {
            auth: &self.auth,
            cookies: ClientCookies::new(),
        }
    }
}

/// Keeps cookies like a browser, sends `Origin` like one.
pub struct Browser<'a> {
    pub auth: &'a Auth,
    pub cookies: ClientCookies,
}

impl Browser<'_> {
    pub async fn send(&mut self, req: TestRequest) -> TestResponse {
        let req = req
            .origin(ORIGIN)
            .header("user-agent", "custom-session-tests/1.0")
            .cookies(&self.cookies);
        let res = send_auth(self.auth, ORIGIN, &req).await;
        self.cookies.update(&res);
        res
    }

    pub async fn get(&mut self, path: &str) -> TestResponse {
        self.send(TestRequest::get(api(path))).await
    }

    pub async fn post(&mut self, path: &str, body: &Value) -> TestResponse {
        self.send(TestRequest::post(api(path)).json(body)).await
    }

    pub async fn sign_up(&mut self, email: &str) -> TestResponse {
        let res = self
            .post(
                "/sign-up/email",
                &json!({"email": email, "password": "password1234", "name": "Alice"}),
            )
            .await;
        assert_eq!(res.status, 200, "sign-up failed: {}", res.text);
        res
    }

    /// The request headers an application route would see.
    pub fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(cookie) = self.cookies.header() {
            headers.insert(http::header::COOKIE, cookie.parse().unwrap());
        }
        headers
    }

    pub fn token(&self) -> String {
        let raw = self.cookies.get(SESSION_TOKEN).expect("a session cookie");
        let signed = tessera_testkit::decode_uri_component(raw);
        signed.rsplit_once('.').unwrap().0.to_owned()
    }
}

pub fn api(path: &str) -> String {
    format!("/api/auth{path}")
}

/// Whether the response sets (not expires) `name`.
pub fn sets(res: &TestResponse, name: &str) -> bool {
    res.set_cookie(name).is_some_and(|c| !c.is_expired())
}

pub fn body(res: &TestResponse) -> &Value {
    res.json
        .as_ref()
        .unwrap_or_else(|| panic!("not JSON: {}", res.text))
}
