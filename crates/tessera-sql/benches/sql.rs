//! `SqlDatabase` under `Auth::handle`: get-session on a cache miss (cookie
//! cache off, so every request reads the database) on SQLite and
//! PostgreSQL, and email sign-in end to end on SQLite. Run with
//! `cargo bench -p tessera-sql --bench sql`.
//!
//! SQLite is a migrated temp file; PostgreSQL (`DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`) a migrated schema of the
//! bench's own, dropped afterwards, or skipped with a banner when the server
//! cannot be reached. Both hold 1,000 other users' sessions, so a lookup is
//! an index probe, not a scan of a one-row table.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

// The integration tests' fixtures (temp file, own schema, cleanup, a
// call-counting `Database`), not a copy of them.
#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use common::{CountingDatabase, Fixture};
use criterion::{criterion_group, criterion_main, Criterion};
use http::Request;
use tessera::store::Database;
use tessera::{Auth, Options};
use tokio::runtime::Runtime;

const SECRET: &str = "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
const OTHER_USERS: usize = 1_000;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn auth(db: Arc<dyn Database>) -> Auth {
    let mut options = Options::new()
        .secret(SECRET)
        .base_url("http://localhost:3000")
        .rate_limit(false);
    // A cache miss on every request: the session comes from the database.
    options.session.cookie_cache.enabled = Some(false);
    Auth::builder(options).database(db).build().unwrap()
}

fn json_post(path: &str, body: &str) -> Request<Bytes> {
    Request::post(path)
        .header("content-type", "application/json")
        .header("user-agent", "tessera-bench/1.0")
        .body(Bytes::from(body.to_owned()))
        .unwrap()
}

fn get_session_request(cookie: &str) -> Request<Bytes> {
    Request::get("/api/auth/get-session")
        .header("cookie", cookie)
        .body(Bytes::new())
        .unwrap()
}

/// Signs up a user and returns the `Cookie` header of their session.
fn signed_up(rt: &Runtime, auth: &Auth, email: &str) -> String {
    let res = rt.block_on(auth.handle(json_post(
        "/api/auth/sign-up/email",
        &format!(r#"{{"email":"{email}","password":"password1234","name":"Bench"}}"#),
    )));
    assert_eq!(res.status(), 200, "sign-up: {:?}", res.body());
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|line| line.starts_with("better-auth.session_token="))
        .and_then(|line| line.split(';').next())
        .expect("a session cookie")
        .to_owned()
}

/// Other users with a session each, written straight through the
/// `Database` (sign-up would spend 80 ms of scrypt on each).
fn seed(rt: &Runtime, db: &dyn Database) {
    rt.block_on(async {
        for i in 0..OTHER_USERS {
            let id = format!("seed-user-{i:06}");
            db.create_user(&common::user(&id, &format!("seed{i}@example.com")))
                .await
                .unwrap();
            let token = format!("seedtoken{i:023}");
            db.create_session(&common::session(&token, &id, 0))
                .await
                .unwrap();
        }
    });
}

fn bench_get_session(c: &mut Criterion, rt: &Runtime, backend: &str, fixture: &Fixture) {
    let sql = fixture.sql.clone().expect("an SQL fixture");
    seed(rt, &sql);
    let auth = auth(fixture.db.clone());
    let cookie = signed_up(rt, &auth, &format!("bench-{backend}@example.com"));

    // What one request costs the database, through the same tables.
    let counting = Arc::new(CountingDatabase::new(sql));
    let counted = self::auth(counting.clone());
    let res = rt.block_on(counted.handle(get_session_request(&cookie)));
    assert!(res.body().starts_with(b"{\"session\""), "{:?}", res.body());
    let calls = counting.take();
    println!(
        "get_session/{backend}/cache_miss: database calls per request: {calls:?} ({})",
        fixture.label
    );
    assert_eq!(calls, ["find_session"], "one statement per cache miss");

    c.bench_function(&format!("get_session/{backend}/cache_miss"), |b| {
        b.iter(|| {
            let res = rt.block_on(auth.handle(get_session_request(&cookie)));
            assert_eq!(res.status(), 200);
            assert_ne!(res.body().as_ref(), b"null");
            black_box(res);
        })
    });
}

fn get_session(c: &mut Criterion) {
    let rt = runtime();
    let sqlite = rt.block_on(common::sqlite());
    bench_get_session(c, &rt, "sqlite", &sqlite);
    drop(sqlite);

    // `None` after the skip banner when PostgreSQL is unreachable.
    if let Some(postgres) = rt.block_on(common::postgres()) {
        bench_get_session(c, &rt, "postgres", &postgres);
        // Close the pool before the fixture drops its schema.
        rt.block_on(postgres.sql.as_ref().unwrap().close());
    }
}

fn sign_in(c: &mut Criterion) {
    let rt = runtime();
    let sqlite = rt.block_on(common::sqlite());
    seed(&rt, sqlite.db.as_ref());
    let auth = auth(sqlite.db.clone());
    let _ = signed_up(&rt, &auth, "signin@example.com");
    let mut group = c.benchmark_group("sign_in/sqlite");
    // scrypt (N=16384, r=16) dominates: ~80 ms an iteration.
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

criterion_group!(benches, get_session, sign_in);
criterion_main!(benches);
