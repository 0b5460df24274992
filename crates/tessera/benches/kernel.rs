//! Kernel micro-benchmarks: get-session on the memory store, cookie
//! parsing, signing and verification, sign-in. Run with `cargo xtask bench`
//! (or `cargo bench -p tessera --bench kernel`).

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http::Request;
use tessera::cookie::{sign_value, verify_value, RequestCookies};
use tessera::{Auth, Options, Secrets};

const SECRET: &str = "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn auth() -> Auth {
    Auth::builder(
        Options::new()
            .secret(SECRET)
            .base_url("http://localhost:3000")
            .rate_limit(false),
    )
    .database(std::sync::Arc::new(tessera::store::MemoryDatabase::new()))
    .build()
    .unwrap()
}

fn json_post(path: &str, body: &str) -> Request<Bytes> {
    Request::post(path)
        .header("content-type", "application/json")
        .body(Bytes::from(body.to_owned()))
        .unwrap()
}

/// Signs up a user and returns the `Cookie` header of the session (every
/// cookie the sign-up set).
fn signed_in(rt: &tokio::runtime::Runtime, auth: &Auth, email: &str) -> String {
    let res = rt.block_on(auth.handle(json_post(
        "/api/auth/sign-up/email",
        &format!(r#"{{"email":"{email}","password":"password1234","name":"Bench"}}"#),
    )));
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Benches `GET /get-session` sent with `cookie`.
fn bench_get_session(
    c: &mut Criterion,
    name: &str,
    rt: &tokio::runtime::Runtime,
    auth: &Auth,
    cookie: &str,
) {
    c.bench_function(name, |b| {
        b.iter(|| {
            let req = Request::get("/api/auth/get-session")
                .header("cookie", cookie)
                .body(Bytes::new())
                .unwrap();
            let res = rt.block_on(auth.handle(req));
            assert_eq!(res.status(), 200);
            black_box(res);
        })
    });
}

fn get_session(c: &mut Criterion) {
    let rt = runtime();
    let auth = auth();
    let cookie = signed_in(&rt, &auth, "bench@example.com");
    // Realistic store size: the lookup is a hash probe, not a scan.
    for i in 0..1_000 {
        let _ = signed_in(&rt, &auth, &format!("user{i}@example.com"));
    }
    bench_get_session(c, "get_session/memory/valid_token", &rt, &auth, &cookie);
    let headers = {
        let mut h = http::HeaderMap::new();
        h.insert("cookie", cookie.parse().unwrap());
        h
    };
    c.bench_function("session/memory/app_call", |b| {
        b.iter(|| black_box(rt.block_on(auth.session(&headers)).unwrap()))
    });
}

/// The whole-server load path (`cargo xtask bench load`) in process:
/// stateless mode, a valid `jwe` cookie cache, `GET /get-session`.
fn get_session_stateless(c: &mut Criterion) {
    let rt = runtime();
    let auth = Auth::builder(
        Options::new()
            .secret(SECRET)
            .base_url("http://localhost:3000")
            .rate_limit(false),
    )
    .build()
    .unwrap();
    let cookie = signed_in(&rt, &auth, "bench@example.com");
    bench_get_session(c, "get_session/stateless/jwe_hit", &rt, &auth, &cookie);
}

/// A cookie-cache hit with the revocation log followed (lag 1 s) and not
/// (`None`), over memory secondary storage, with 10,000 revoked sessions
/// known to the follower: what following costs a hit.
fn get_session_revocation(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("get_session/jwe_hit_with_secondary_storage");
    for (label, lag) in [
        ("following_the_log", Some(std::time::Duration::from_secs(1))),
        ("not_following", None),
    ] {
        let mut options = Options::new()
            .secret(SECRET)
            .base_url("http://localhost:3000")
            .rate_limit(false);
        options.session.cookie_cache.enabled = Some(true);
        options.session.cookie_cache.strategy = Some(tessera::cache::CacheStrategy::Jwe);
        options.session.revocation_lag = lag;
        let auth = Auth::builder(options)
            .database(std::sync::Arc::new(tessera::store::MemoryDatabase::new()))
            .secondary_storage(std::sync::Arc::new(
                tessera::store::MemorySecondaryStorage::new(),
            ))
            .build()
            .unwrap();
        // 10,000 sessions revoked: entries the follower knows.
        let user = tessera::store::User {
            name: "Revoked".to_owned(),
            email: "revoked@example.com".to_owned(),
            email_verified: false,
            image: None,
            created_at: tessera::Timestamp::from_millis(0),
            updated_at: tessera::Timestamp::from_millis(0),
            id: "revoked-user".to_owned(),
            extra: Default::default(),
        };
        let now = auth.clock().now();
        let meta = tessera::session::SessionMeta::default();
        for _ in 0..10_000 {
            let session = rt
                .block_on(auth.sessions().create(&user, &meta, false, now))
                .unwrap();
            rt.block_on(auth.sessions().delete(&session.token, now))
                .unwrap();
        }
        let cookie = signed_in(&rt, &auth, "bench@example.com");
        group.bench_function(label, |b| {
            b.iter(|| {
                let req = Request::get("/api/auth/get-session")
                    .header("cookie", &cookie)
                    .body(Bytes::new())
                    .unwrap();
                let res = rt.block_on(auth.handle(req));
                assert_eq!(res.status(), 200);
                black_box(res);
            })
        });
    }
    group.finish();
}

fn cookies(c: &mut Criterion) {
    let secrets = Secrets::single(SECRET);
    let signed = sign_value(&secrets, "Dq126CZaWZeVbN8dleAGBHLINk38aYUc");
    let header = format!(
        "_ga=GA1.1.123456789.1700000000; theme=dark; better-auth.session_token={}; better-auth.dont_remember=true.abc; csrf=xyz",
        signed.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D")
    );
    c.bench_function("cookie/parse_header_5_cookies", |b| {
        b.iter(|| black_box(RequestCookies::parse(black_box(&header))))
    });
    c.bench_function("cookie/sign", |b| {
        b.iter(|| {
            black_box(sign_value(
                &secrets,
                black_box("Dq126CZaWZeVbN8dleAGBHLINk38aYUc"),
            ))
        })
    });
    c.bench_function("cookie/verify", |b| {
        b.iter(|| black_box(verify_value(&secrets, black_box(&signed))))
    });
}

fn sign_in(c: &mut Criterion) {
    let rt = runtime();
    let auth = auth();
    let _ = signed_in(&rt, &auth, "signin@example.com");
    let mut group = c.benchmark_group("sign_in");
    group.sample_size(10);
    group.bench_function("email_password", |b| {
        b.iter(|| {
            let res = rt.block_on(auth.handle(json_post(
                "/api/auth/sign-in/email",
                r#"{"email":"signin@example.com","password":"password1234"}"#,
            )));
            assert_eq!(res.status(), 200);
            black_box(res);
        })
    });
    group.finish();
}

/// A plugin whose hooks match a path no request in the benchmark uses.
struct Idle(&'static str);

struct NoopBefore;
#[async_trait::async_trait]
impl tessera::plugin::BeforeHook for NoopBefore {
    async fn before(
        &self,
        _ctx: &mut tessera::Ctx<'_>,
    ) -> Result<Option<tessera::Reply>, tessera::ApiError> {
        Ok(None)
    }
}

struct NoopAfter;
#[async_trait::async_trait]
impl tessera::plugin::AfterHook for NoopAfter {
    async fn after(
        &self,
        _ctx: &mut tessera::Ctx<'_>,
        _result: &mut Result<tessera::Reply, tessera::ApiError>,
    ) {
    }
}

impl tessera::plugin::Plugin for Idle {
    fn id(&self) -> &'static str {
        self.0
    }
    fn hooks(&self) -> Vec<tessera::plugin::Hook> {
        use tessera::plugin::{Hook, Matcher};
        vec![
            Hook::before(Matcher::Path(format!("/never/{}", self.0)), NoopBefore),
            Hook::after(Matcher::PathPrefix("/never".into()), NoopAfter),
        ]
    }
}

const IDS: [&str; 10] = ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"];

fn dispatch(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("dispatch/get_ok");
    for n in [0usize, 1, 10] {
        let mut builder = Auth::builder(
            Options::new()
                .secret(SECRET)
                .base_url("http://localhost:3000")
                .rate_limit(false),
        )
        .database(std::sync::Arc::new(tessera::store::MemoryDatabase::new()));
        for id in &IDS[..n] {
            builder = builder.plugin(std::sync::Arc::new(Idle(id)));
        }
        let auth = builder.build().unwrap();
        group.bench_function(format!("{n}_plugins"), |b| {
            b.iter(|| {
                let req = Request::get("/api/auth/ok").body(Bytes::new()).unwrap();
                black_box(rt.block_on(auth.handle(req)))
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    get_session,
    get_session_stateless,
    get_session_revocation,
    cookies,
    sign_in,
    dispatch
);
criterion_main!(benches);
