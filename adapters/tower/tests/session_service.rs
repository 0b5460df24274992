//! `SessionService` around a recording application: which requests get a
//! session, which pass through untouched, what the responses carry, and
//! that the instance polled ready is the one called.

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::mem::size_of;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{COOKIE, SET_COOKIE};
use http::{Request, Response, StatusCode};
use tessera::store::{MemoryDatabase, MemorySecondaryStorage, StoreError};
use tessera::{Auth, Clock, CurrentSession, Options, SecondaryStorage, SystemClock, TestClock};
use tessera_tower::{Dialect, ResponseFuture, SessionLayer, SessionService};
use tower::{Layer, Service, ServiceExt};

const ORIGIN: &str = "http://127.0.0.1:3000";
const TWO_DAYS: Duration = Duration::from_secs(2 * 24 * 60 * 60);

/// What the application saw of one request.
#[derive(Clone, Debug, PartialEq)]
enum Seen {
    /// No `CurrentSession` in the extensions: no layer resolved it.
    Untouched,
    /// Signed out.
    SignedOut,
    /// Signed in as this email.
    SignedIn(String),
}

/// An application recording what it saw and answering 200 `app`.
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<(String, Seen)>>>,
}

impl Recorder {
    fn seen(&self) -> Vec<(String, Seen)> {
        std::mem::take(&mut self.seen.lock().unwrap())
    }
}

impl Service<Request<Bytes>> for Recorder {
    type Response = Response<Bytes>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Bytes>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Bytes>) -> Self::Future {
        let seen = match req.extensions().get::<CurrentSession>() {
            None => Seen::Untouched,
            Some(CurrentSession(None)) => Seen::SignedOut,
            Some(CurrentSession(Some(s))) => Seen::SignedIn(s.user.email.clone()),
        };
        let path = req.uri().path().to_owned();
        self.seen.lock().unwrap().push((path, seen));
        ready(Ok(Response::new(Bytes::from_static(b"app"))))
    }
}

/// A secondary storage that can be taken down.
#[derive(Default)]
struct Switchable {
    store: MemorySecondaryStorage,
    down: AtomicBool,
}

impl Switchable {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("the store is down".into()));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl SecondaryStorage for Switchable {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.check()?;
        self.store.get(key).await
    }

    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), StoreError> {
        self.check()?;
        self.store.set(key, value, ttl).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.check()?;
        self.store.delete(key).await
    }

    async fn get_and_delete(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.check()?;
        self.store.get_and_delete(key).await
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, StoreError> {
        self.check()?;
        self.store.increment(key, ttl).await
    }
}

struct Kernel {
    auth: Auth,
    clock: TestClock,
    storage: Arc<Switchable>,
}

fn kernel() -> Kernel {
    let clock = TestClock::at(SystemClock.now());
    let storage = Arc::new(Switchable::default());
    let auth = Auth::builder(
        Options::new()
            .secret("a-long-random-secret-of-at-least-32-characters!")
            .base_url(ORIGIN)
            .rate_limit(false),
    )
    .database(Arc::new(MemoryDatabase::new()))
    .secondary_storage(storage.clone())
    .clock(Arc::new(clock.clone()))
    .build()
    .unwrap();
    Kernel {
        auth,
        clock,
        storage,
    }
}

fn get(path: &str, cookie: Option<&str>) -> Request<Bytes> {
    let mut req = Request::get(path);
    if let Some(cookie) = cookie {
        req = req.header(COOKIE, cookie);
    }
    req.body(Bytes::new()).unwrap()
}

fn post(path: &str, cookie: Option<&str>, body: &'static str) -> Request<Bytes> {
    let mut req = Request::post(path)
        .header("origin", ORIGIN)
        .header("content-type", "application/json");
    if let Some(cookie) = cookie {
        req = req.header(COOKIE, cookie);
    }
    req.body(Bytes::from_static(body.as_bytes())).unwrap()
}

fn set_cookies<B>(res: &Response<B>) -> Vec<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// Signs Ada up through the auth API; the `Cookie` header her browser
/// then sends.
async fn sign_up(auth: &Auth) -> String {
    let body = r#"{"email":"ada@example.com","password":"password1234","name":"Ada"}"#;
    let res = auth
        .handle(post("/api/auth/sign-up/email", None, body))
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{:?}", res.body());
    set_cookies(&res)
        .iter()
        .map(|c| c.split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Ada's cookie after she signed out elsewhere: a dead session.
async fn dead_session_cookie(auth: &Auth) -> String {
    let cookie = sign_up(auth).await;
    let res = auth
        .handle(post("/api/auth/sign-out", Some(&cookie), "{}"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    cookie
}

#[tokio::test]
async fn signed_out_request_gets_an_empty_current_session() {
    let Kernel { auth, .. } = kernel();
    let app = Recorder::default();
    let res = SessionService::new(auth, app.clone())
        .oneshot(get("/", None))
        .await
        .unwrap();
    assert_eq!(res.body().as_ref(), b"app");
    assert!(set_cookies(&res).is_empty());
    assert_eq!(app.seen(), [("/".to_owned(), Seen::SignedOut)]);
}

#[tokio::test]
async fn signed_in_request_gets_its_session_and_the_refresh_cookie() {
    let Kernel { auth, clock, .. } = kernel();
    let cookie = sign_up(&auth).await;
    let app = Recorder::default();
    let service = SessionLayer::new(auth).layer(app.clone());

    let res = service
        .clone()
        .oneshot(get("/me", Some(&cookie)))
        .await
        .unwrap();
    assert!(set_cookies(&res).is_empty(), "nothing to refresh yet");

    clock.advance(TWO_DAYS);
    let res = service.oneshot(get("/me", Some(&cookie))).await.unwrap();
    let refreshed = set_cookies(&res);
    assert!(
        refreshed
            .iter()
            .any(|c| c.starts_with("better-auth.session_token=") && !c.contains("Max-Age=0")),
        "{refreshed:?}"
    );
    let ada = Seen::SignedIn("ada@example.com".to_owned());
    assert_eq!(
        app.seen(),
        [("/me".to_owned(), ada.clone()), ("/me".to_owned(), ada)]
    );
}

#[tokio::test]
async fn a_dead_sessions_cookies_are_deleted_one_header_each() {
    let Kernel { auth, .. } = kernel();
    let cookie = dead_session_cookie(&auth).await;
    let app = Recorder::default();
    let res = SessionService::new(auth, app.clone())
        .oneshot(get("/me", Some(&cookie)))
        .await
        .unwrap();
    let deleted = set_cookies(&res);
    assert!(deleted.len() > 1, "{deleted:?}");
    assert!(
        deleted
            .iter()
            .all(|c| c.contains("Max-Age=0") && !c.contains(", ")),
        "{deleted:?}"
    );
    assert!(deleted
        .iter()
        .any(|c| c.starts_with("better-auth.session_token=;")));
    assert_eq!(app.seen(), [("/me".to_owned(), Seen::SignedOut)]);
}

#[tokio::test]
async fn the_auth_apis_paths_pass_through_untouched() {
    let Kernel { auth, .. } = kernel();
    // A dead session: resolving it would append cookie deletions.
    let cookie = dead_session_cookie(&auth).await;
    let app = Recorder::default();
    let service = SessionService::new(auth, app.clone());
    for path in ["/api/auth/get-session", "/api/auth/", "/api/auth/sign-out"] {
        let res = service
            .clone()
            .oneshot(get(path, Some(&cookie)))
            .await
            .unwrap();
        assert!(set_cookies(&res).is_empty(), "{path}: {res:?}");
    }
    assert_eq!(
        app.seen(),
        [
            ("/api/auth/get-session".to_owned(), Seen::Untouched),
            ("/api/auth/".to_owned(), Seen::Untouched),
            ("/api/auth/sign-out".to_owned(), Seen::Untouched),
        ]
    );
}

#[tokio::test]
async fn paths_beside_the_auth_api_are_the_applications() {
    let Kernel { auth, .. } = kernel();
    let cookie = sign_up(&auth).await;
    let app = Recorder::default();
    let service = SessionService::new(auth, app.clone());
    let paths = [
        "/api/auth",
        "/api/authx",
        "/api/authx/get-session",
        "/api/auth//get-session",
        "/API/auth/get-session",
        "/api",
    ];
    for path in paths {
        service
            .clone()
            .oneshot(get(path, Some(&cookie)))
            .await
            .unwrap();
    }
    let ada = Seen::SignedIn("ada@example.com".to_owned());
    let expected: Vec<_> = paths.iter().map(|p| (p.to_string(), ada.clone())).collect();
    assert_eq!(app.seen(), expected);
}

#[tokio::test]
async fn a_head_over_the_limits_is_431_without_calling_the_app() {
    let Kernel { auth, .. } = kernel();
    let app = Recorder::default();
    let bomb = format!("big={}", "x".repeat(70 * 1024));
    let res = SessionService::new(auth, app.clone())
        .oneshot(get("/me", Some(&bomb)))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(
        res.headers()["content-type"],
        "application/json",
        "{:?}",
        res.body()
    );
    assert!(std::str::from_utf8(res.body())
        .unwrap()
        .contains(r#""code":"REQUEST_HEADER_FIELDS_TOO_LARGE""#));
    assert!(app.seen().is_empty());
}

#[tokio::test]
async fn a_store_outage_is_503_without_calling_the_app() {
    let Kernel { auth, storage, .. } = kernel();
    let cookie = sign_up(&auth).await;
    storage.down.store(true, Ordering::SeqCst);
    let app = Recorder::default();
    let res = SessionService::new(auth, app.clone())
        .oneshot(get("/me", Some(&cookie)))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = std::str::from_utf8(res.body()).unwrap();
    assert!(!body.contains("the store is down"), "{body}");
    assert!(app.seen().is_empty());
}

/// Answers only when this very instance was polled ready; a clone starts
/// unready, as the clone of a buffered or rate-limited service may.
struct ReadyOnce {
    ready: bool,
    calls: Arc<Mutex<u32>>,
}

impl Clone for ReadyOnce {
    fn clone(&self) -> Self {
        ReadyOnce {
            ready: false,
            calls: self.calls.clone(),
        }
    }
}

impl Service<Request<Bytes>> for ReadyOnce {
    type Response = Response<Bytes>;
    type Error = &'static str;
    type Future = Ready<Result<Response<Bytes>, &'static str>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.ready = true;
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Request<Bytes>) -> Self::Future {
        *self.calls.lock().unwrap() += 1;
        if !std::mem::take(&mut self.ready) {
            return ready(Err("called without being polled ready"));
        }
        ready(Ok(Response::new(Bytes::new())))
    }
}

#[tokio::test]
async fn the_instance_polled_ready_is_the_one_called() {
    let Kernel { auth, .. } = kernel();
    let calls = Arc::new(Mutex::new(0));
    let mut service = SessionService::new(
        auth,
        ReadyOnce {
            ready: false,
            calls: calls.clone(),
        },
    );
    for path in ["/me", "/api/auth/ok", "/me", "/api/auth/ok"] {
        let service = service.ready().await.unwrap();
        let res = service.call(get(path, None)).await;
        assert!(res.is_ok(), "{path}: {res:?}");
    }
    assert_eq!(*calls.lock().unwrap(), 4);
}

#[tokio::test]
async fn call_shared_passes_through_and_resolves_as_call_does() {
    #[derive(Clone)]
    struct Shared(Recorder);

    impl Shared {
        fn respond(&self, req: Request<Bytes>) -> Ready<Result<Response<Bytes>, Infallible>> {
            self.0.clone().call(req)
        }
    }

    let Kernel { auth, .. } = kernel();
    let cookie = dead_session_cookie(&auth).await;
    let app = Recorder::default();
    let service = SessionService::new(auth, Shared(app.clone()));

    let res = service
        .call_shared(get("/api/auth/get-session", Some(&cookie)), Shared::respond)
        .await
        .unwrap();
    assert!(set_cookies(&res).is_empty());
    let res = service
        .call_shared(get("/me", Some(&cookie)), Shared::respond)
        .await
        .unwrap();
    assert!(set_cookies(&res).len() > 1, "{res:?}");
    assert_eq!(
        app.seen(),
        [
            ("/api/auth/get-session".to_owned(), Seen::Untouched),
            ("/me".to_owned(), Seen::SignedOut),
        ]
    );
}

/// A platform that puts `/stage` before every path and wants `String`
/// bodies.
#[derive(Clone)]
struct Staged;

impl Dialect<Bytes, String> for Staged {
    fn kernel_path<'r>(&self, _auth: &Auth, req: &'r Request<Bytes>) -> &'r str {
        let path = req.uri().path();
        path.strip_prefix("/stage").unwrap_or(path)
    }

    fn error_response(&self, res: Response<Bytes>) -> Response<String> {
        res.map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }
}

#[tokio::test]
async fn a_dialect_decides_the_path_and_the_error_body() {
    let Kernel { auth, .. } = kernel();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = tower::service_fn({
        let seen = seen.clone();
        move |req: Request<Bytes>| {
            let current = req.extensions().get::<CurrentSession>().cloned();
            seen.lock().unwrap().push(current.is_some());
            ready(Ok::<_, Infallible>(Response::new(String::from("app"))))
        }
    });
    let service = SessionLayer::with_dialect(auth, Staged).layer(app);

    let passed = service
        .clone()
        .oneshot(get("/stage/api/auth/ok", None))
        .await
        .unwrap();
    assert_eq!(passed.body(), "app");
    service
        .clone()
        .oneshot(get("/stage/me", None))
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), [false, true]);

    let bomb = format!("big={}", "x".repeat(70 * 1024));
    let refused = service
        .oneshot(get("/stage/me", Some(&bomb)))
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    assert!(refused.body().contains("REQUEST_HEADER_FIELDS_TOO_LARGE"));
}

#[test]
fn the_response_future_is_the_inner_future_or_one_box() {
    type Inner = Ready<Result<Response<Bytes>, Infallible>>;
    let boxed = size_of::<Box<dyn std::future::Future<Output = ()> + Send>>();
    assert!(
        size_of::<ResponseFuture<Inner>>() <= size_of::<Inner>().max(boxed) + 8,
        "{} bytes around a {}-byte inner future",
        size_of::<ResponseFuture<Inner>>(),
        size_of::<Inner>()
    );
}
