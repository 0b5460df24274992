//! The plugin API without traps: a session read from the cookie cache does
//! not stand in for a later authoritative read, endpoints and hooks written
//! as closures, plugin error codes in the kernel's table, cache-hit hooks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use serde_json::{json, Value};
use tessera::cache::CacheStrategy;
use tessera::plugin::{CacheHit, CacheHitHook, ErrorCode, Hook, Matcher, Plugin};
use tessera::store::MemoryDatabase;
use tessera::{ApiError, Auth, BuildError, Options, Reply, ResolveOptions, Route};

const BASE: &str = "http://localhost:3000";
const SECRET: &str = "a-long-random-secret-of-at-least-32-characters!";

fn options() -> Options {
    let mut options = Options::new().secret(SECRET).base_url(BASE);
    options.session.cookie_cache.enabled = Some(true);
    options.session.cookie_cache.strategy = Some(CacheStrategy::Compact);
    options
}

/// With a database, so revocation is real and the cache is only a cache.
fn build(plugins: Vec<Arc<dyn Plugin>>) -> Auth {
    build_with(options(), plugins)
}

fn build_with(options: Options, plugins: Vec<Arc<dyn Plugin>>) -> Auth {
    let mut builder = Auth::builder(options).database(Arc::new(MemoryDatabase::new()));
    for p in plugins {
        builder = builder.plugin(p);
    }
    builder.build().expect("valid configuration")
}

async fn post(auth: &Auth, path: &str, cookie: Option<&str>, body: Value) -> Response<Bytes> {
    let mut req = Request::post(format!("{BASE}/api/auth{path}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ORIGIN, BASE);
    if let Some(cookie) = cookie {
        req = req.header(header::COOKIE, cookie);
    }
    auth.handle(req.body(Bytes::from(body.to_string())).unwrap())
        .await
}

/// The `Cookie` header a browser would send back after `res`.
fn cookies_of(res: &Response<Bytes>) -> String {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect::<Vec<_>>()
        .join("; ")
}

fn json_of(res: &Response<Bytes>) -> Value {
    serde_json::from_slice(res.body()).unwrap_or(Value::Null)
}

/// Signs up a user; its session token and the cookies (token and cache).
async fn signed_up(auth: &Auth) -> (String, String) {
    let res = post(
        auth,
        "/sign-up/email",
        None,
        json!({ "email": "ada@example.com", "password": "password1234", "name": "Ada" }),
    )
    .await;
    assert_eq!(res.status(), 200, "{:?}", res.body());
    let cookies = cookies_of(&res);
    assert!(
        cookies.contains("session_data="),
        "the cache is on: {cookies}"
    );
    let token = json_of(&res)["token"].as_str().unwrap().to_owned();
    (token, cookies)
}

/// Reads the session before every endpoint, as an audit or a tenant
/// plugin would: from the cookie cache when it is on.
struct ReadsSessionFirst;

impl Plugin for ReadsSessionFirst {
    fn id(&self) -> &'static str {
        "reads-session-first"
    }

    fn hooks(&self) -> Vec<Hook> {
        vec![Hook::before_fn(Matcher::All, |ctx| {
            Box::pin(async move {
                ctx.session(ResolveOptions::default()).await?;
                Ok(None)
            })
        })]
    }
}

#[tokio::test]
async fn a_sensitive_read_after_a_cache_hit_reads_the_store() {
    let auth = build(vec![Arc::new(ReadsSessionFirst)]);
    let (token, cookies) = signed_up(&auth).await;
    // Revoked elsewhere: the cookie cache still vouches for the session.
    auth.sessions()
        .delete(&token, auth.clock().now())
        .await
        .unwrap();
    let res = post(&auth, "/revoke-other-sessions", Some(&cookies), json!({})).await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "revoke-other-sessions is sensitive: it must read the store, not reuse the before hook's cache hit"
    );
}

#[tokio::test]
async fn a_cache_read_after_a_cache_hit_is_not_repeated() {
    // better-auth's cache (no revocation log), so that the revoked
    // session's cache still vouches for it.
    let mut options = options();
    options.session.revocation_lag = None;
    let auth = build_with(options, vec![Arc::new(ReadsSessionFirst)]);
    let (token, cookies) = signed_up(&auth).await;
    auth.sessions()
        .delete(&token, auth.clock().now())
        .await
        .unwrap();
    // `list-sessions` reads through the cache as better-auth does: the hit
    // stands, so the revoked session still lists (until the cache expires).
    let req = Request::get(format!("{BASE}/api/auth/list-sessions"))
        .header(header::COOKIE, &cookies)
        .body(Bytes::new())
        .unwrap();
    assert_eq!(auth.handle(req).await.status(), 200);
}

/// An endpoint and hooks written as closures.
struct Audit {
    seen: Arc<AtomicUsize>,
}

impl Plugin for Audit {
    fn id(&self) -> &'static str {
        "audit"
    }

    fn endpoints(&self) -> Vec<Route> {
        vec![Route::post("/audit/export", |ctx| {
            Box::pin(async move {
                let current = ctx.require_session(ResolveOptions::default()).await?;
                Ok(Reply::json(&json!({ "exportedFor": current.user.email })))
            })
        })]
    }

    fn hooks(&self) -> Vec<Hook> {
        let seen = Arc::clone(&self.seen);
        vec![Hook::after_fn(
            Matcher::Path("/audit/export".into()),
            move |_ctx, result| {
                let seen = Arc::clone(&seen);
                Box::pin(async move {
                    seen.fetch_add(1, Ordering::SeqCst);
                    if let Ok(reply) = result {
                        *reply = reply.clone().with_status(StatusCode::ACCEPTED);
                    }
                })
            },
        )]
    }
}

#[tokio::test]
async fn endpoints_and_hooks_can_be_closures() {
    let seen = Arc::new(AtomicUsize::new(0));
    let auth = build(vec![Arc::new(Audit {
        seen: Arc::clone(&seen),
    })]);
    let (_, cookies) = signed_up(&auth).await;
    let res = post(&auth, "/audit/export", Some(&cookies), json!({})).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED, "{:?}", res.body());
    assert_eq!(json_of(&res), json!({ "exportedFor": "ada@example.com" }));
    let anonymous = post(&auth, "/audit/export", None, json!({})).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}

struct Declares(&'static str, ErrorCode);

impl Plugin for Declares {
    fn id(&self) -> &'static str {
        self.0
    }

    fn error_codes(&self) -> Vec<ErrorCode> {
        vec![self.1]
    }
}

const TENANT_SUSPENDED: ErrorCode = ErrorCode {
    status: StatusCode::FORBIDDEN,
    code: "TENANT_SUSPENDED",
    message: "Tenant suspended",
};

#[test]
fn plugin_error_codes_join_the_kernels_table() {
    let auth = build(vec![
        Arc::new(Declares("a", TENANT_SUSPENDED)),
        // The same code, the same meaning: listed once.
        Arc::new(Declares("b", TENANT_SUSPENDED)),
    ]);
    let codes = auth.error_codes();
    assert!(codes.iter().any(|c| c.code == "INVALID_ORIGIN"));
    assert_eq!(
        codes
            .iter()
            .filter(|c| c.code == "TENANT_SUSPENDED")
            .count(),
        1
    );
    assert_eq!(
        TENANT_SUSPENDED.error(),
        ApiError::new(
            StatusCode::FORBIDDEN,
            "TENANT_SUSPENDED",
            "Tenant suspended"
        )
    );
}

#[test]
fn a_code_redeclared_with_another_meaning_is_a_build_error() {
    let clash = ErrorCode {
        status: StatusCode::BAD_REQUEST,
        code: "UNAUTHORIZED",
        message: "Something else",
    };
    let err = Auth::builder(options())
        .plugin(Arc::new(Declares("clash", clash)))
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            BuildError::ConflictingErrorCode {
                plugin: "clash",
                code: "UNAUTHORIZED"
            }
        ),
        "{err}"
    );
}

/// Counts cache hits.
struct CountsHits(Arc<AtomicUsize>);

#[async_trait]
impl CacheHitHook for CountsHits {
    async fn on_cache_hit(&self, hit: &mut CacheHit<'_>) {
        assert!(!hit.cached().data.session.token.is_empty());
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

struct HitCounter(Arc<AtomicUsize>);

impl Plugin for HitCounter {
    fn id(&self) -> &'static str {
        "hit-counter"
    }

    fn cache_hit_hook(&self) -> Option<Arc<dyn CacheHitHook>> {
        Some(Arc::new(CountsHits(Arc::clone(&self.0))))
    }
}

#[tokio::test]
async fn cache_hit_hooks_run_on_hits_from_every_caller() {
    let hits = Arc::new(AtomicUsize::new(0));
    let auth = build(vec![Arc::new(HitCounter(Arc::clone(&hits)))]);
    let (_, cookies) = signed_up(&auth).await;
    let req = Request::get(format!("{BASE}/api/auth/get-session"))
        .header(header::COOKIE, &cookies)
        .body(Bytes::new())
        .unwrap();
    assert_eq!(auth.handle(req).await.status(), 200);
    // An application route's read goes through the same engine call.
    let mut headers = http::HeaderMap::new();
    headers.insert(header::COOKIE, cookies.parse().unwrap());
    let outcome = auth.session(&headers).await.unwrap();
    assert!(outcome.session.is_some());
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}
