//! `RedisStorage` under `Auth::handle`: get-session on a cache miss (cookie
//! cache off) with sessions in Redis and users in the memory database. Run
//! with `cargo bench -p tessera-redis --bench redis`.
//!
//! Redis is `REDIS_URL` (default `redis://127.0.0.1:6379`), under a key
//! prefix of the bench's own whose keys are deleted afterwards; skipped
//! with a banner when Redis cannot be reached. Before measuring, the bench
//! prints what one request costs Redis, counted twice: the storage calls
//! the kernel makes, and the server's `INFO commandstats` delta over
//! `PROBE_REQUESTS` requests.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

// The integration tests' fixtures (own key prefix, cleanup), not a copy.
#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use common::KeySpace;
use criterion::{criterion_group, criterion_main, Criterion};
use http::Request;
use redis::aio::MultiplexedConnection;
use tessera::store::{MemoryDatabase, UpdateFn};
use tessera::{Auth, Options, SecondaryStorage, StoreError};
use tessera_redis::RedisStorage;
use tokio::runtime::Runtime;

const SECRET: &str = "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
const PROBE_REQUESTS: u64 = 1_000;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn auth(db: Arc<MemoryDatabase>, storage: Arc<dyn SecondaryStorage>) -> Auth {
    let mut options = Options::new()
        .secret(SECRET)
        .base_url("http://localhost:3000")
        .rate_limit(false);
    // A cache miss on every request: the session comes from Redis.
    options.session.cookie_cache.enabled = Some(false);
    Auth::builder(options)
        .database(db)
        .secondary_storage(storage)
        .build()
        .unwrap()
}

fn get_session_request(cookie: &str) -> Request<Bytes> {
    Request::get("/api/auth/get-session")
        .header("cookie", cookie)
        .body(Bytes::new())
        .unwrap()
}

/// A `SecondaryStorage` that records each call (method and key) before
/// passing it on; with `RedisStorage` underneath, each is one command.
struct CountingStorage {
    inner: RedisStorage,
    calls: Mutex<Vec<String>>,
}

impl CountingStorage {
    fn record(&self, method: &str, key: &str) {
        self.calls.lock().unwrap().push(format!("{method} {key}"));
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

#[async_trait]
impl SecondaryStorage for CountingStorage {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.record("get", key);
        self.inner.get(key).await
    }
    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), StoreError> {
        self.record("set", key);
        self.inner.set(key, value, ttl).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.record("delete", key);
        self.inner.delete(key).await
    }
    async fn set_if_exists(
        &self,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.record("set_if_exists", key);
        self.inner.set_if_exists(key, value, ttl).await
    }
    async fn get_session_record(
        &self,
        token: &str,
    ) -> Result<Option<(String, tessera::store::Watermark)>, StoreError> {
        self.record("get_session_record", token);
        self.inner.get_session_record(token).await
    }
    async fn get_and_delete(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.record("get_and_delete", key);
        self.inner.get_and_delete(key).await
    }
    async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, StoreError> {
        self.record("increment", key);
        self.inner.increment(key, ttl).await
    }
    async fn update(&self, key: &str, f: &UpdateFn<'_>) -> Result<(), StoreError> {
        self.record("update", key);
        self.inner.update(key, f).await
    }
}

/// `calls` per command from `INFO commandstats`, the `INFO` calls this
/// bench makes itself left out.
async fn command_calls(conn: &mut MultiplexedConnection) -> BTreeMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats.strip_prefix("calls=")?.split(',').next()?;
            Some((name.to_owned(), calls.parse().ok()?))
        })
        .filter(|(name, _)| name != "info")
        .collect()
}

fn get_session(c: &mut Criterion) {
    let rt = runtime();
    let space = KeySpace::new("bench");
    // `None` after the skip banner when Redis is unreachable.
    let Some(storage) = rt.block_on(space.storage()) else {
        return;
    };
    let mut raw = rt.block_on(storage.raw_connection()).unwrap();
    let counting = Arc::new(CountingStorage {
        inner: storage.clone(),
        calls: Mutex::new(Vec::new()),
    });
    // Two views of the same stores: one measured, one counting its calls.
    let db = Arc::new(MemoryDatabase::new());
    let auth = auth(db.clone(), Arc::new(storage));
    let counted = self::auth(db, counting.clone());

    let res = rt.block_on(
        counted.handle(
            Request::post("/api/auth/sign-up/email")
                .header("content-type", "application/json")
                .body(Bytes::from_static(
                    br#"{"email":"bench@example.com","password":"password1234","name":"Bench"}"#,
                ))
                .unwrap(),
        ),
    );
    assert_eq!(res.status(), 200, "sign-up: {:?}", res.body());
    let body: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    let user_id = body["user"]["id"].as_str().unwrap().to_owned();
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|line| line.starts_with("better-auth.session_token="))
        .and_then(|line| line.split(';').next())
        .expect("a session cookie")
        .to_owned();
    counting.take();

    // One request, call by call.
    let res = rt.block_on(counted.handle(get_session_request(&cookie)));
    assert!(res.body().starts_with(b"{\"session\""), "{:?}", res.body());
    let calls: Vec<String> = counting
        .take()
        .into_iter()
        .map(|call| {
            call.replace(&token, "<token>")
                .replace(&user_id, "<userId>")
        })
        .collect();
    println!(
        "get_session/redis/cache_miss: storage calls per request: {} {calls:?}",
        calls.len()
    );

    // The server's own count, over many requests of the Auth measured below.
    let before = rt.block_on(command_calls(&mut raw));
    for _ in 0..PROBE_REQUESTS {
        let res = rt.block_on(auth.handle(get_session_request(&cookie)));
        assert_ne!(res.body().as_ref(), b"null");
    }
    let after = rt.block_on(command_calls(&mut raw));
    let delta: Vec<String> = after
        .iter()
        .filter_map(|(name, calls)| {
            let d = calls - before.get(name).copied().unwrap_or(0);
            (d > 0).then(|| format!("{name} {:.2}", d as f64 / PROBE_REQUESTS as f64))
        })
        .collect();
    println!(
        "get_session/redis/cache_miss: Redis commands per request (INFO commandstats over {PROBE_REQUESTS} requests; commands a script runs count too, each evalsha/eval is one round trip; other clients of this server count too): {}",
        delta.join(", ")
    );

    c.bench_function("get_session/redis/cache_miss", |b| {
        b.iter(|| {
            let res = rt.block_on(auth.handle(get_session_request(&cookie)));
            assert_eq!(res.status(), 200);
            assert_ne!(res.body().as_ref(), b"null");
            black_box(res);
        })
    });
    // `space` drops last and deletes the bench's keys.
    drop(auth);
    drop(counted);
}

criterion_group!(benches, get_session);
criterion_main!(benches);
