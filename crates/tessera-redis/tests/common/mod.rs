//! Shared by the Redis integration tests: the server under test
//! (`REDIS_URL`, default `redis://127.0.0.1:6379`), a key prefix of each
//! test's own that is cleaned up even when the test fails, raw commands,
//! and a throwaway `redis-server` for fault tests.
//!
//! **Skip/fail rule** (`tessera_testkit::service`): when Redis cannot be
//! reached (or `redis-server` is missing), a test prints a loud `SKIPPED`
//! banner and returns early — unless `CI=true`, where it fails.

#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use tessera::store::MemoryDatabase;
use tessera::{Auth, Options};
use tessera_redis::{RedisOptions, RedisStorage};
use tessera_testkit::{send_auth, ClientCookies, TestRequest, TestResponse};

pub const SECRET: &str = "refharness-fixed-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
pub const ORIGIN: &str = "http://localhost:3000";

pub use tessera_testkit::service::redis_url;

/// Tessera's revocation log (a stream), the one key better-auth does not
/// share: `docs/revocation.md`.
pub const REVOCATION_LOG: &str = "{tessera-revocations}";
use tessera_testkit::service::{skip_or_fail, Service};

/// A key prefix of this test's own; its keys are deleted on drop, also
/// when the test panics.
pub struct KeySpace {
    pub url: String,
    pub prefix: String,
}

impl KeySpace {
    pub fn new(label: &str) -> Self {
        KeySpace {
            url: redis_url(),
            prefix: format!(
                "tessera-test:{label}:{}:",
                tessera::generate_id(12).to_ascii_lowercase()
            ),
        }
    }

    /// Storage on this prefix with `options` (its prefix is replaced), or
    /// `None` after the skip banner.
    pub async fn storage_with(&self, options: RedisOptions) -> Option<RedisStorage> {
        match RedisStorage::connect_with(&self.url, options.prefix(self.prefix.clone())).await {
            Ok(s) => Some(s),
            Err(e) => skip_or_fail(Service::Redis, &e.to_string()),
        }
    }

    pub async fn storage(&self) -> Option<RedisStorage> {
        self.storage_with(RedisOptions::new()).await
    }

    /// The keys under this prefix that better-auth also reads: all but
    /// Tessera's own revocation log ([`REVOCATION_LOG`]), sorted.
    pub fn shared_keys(&self) -> Vec<String> {
        let mut keys = self.keys();
        keys.retain(|k| k != REVOCATION_LOG);
        keys
    }

    /// Whether Tessera's revocation log is under this prefix.
    pub fn has_revocation_log(&self) -> bool {
        self.keys().iter().any(|k| k == REVOCATION_LOG)
    }

    /// The keys under this prefix, prefix stripped, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = scan(&self.url, &self.prefix)
            .into_iter()
            .map(|k| k[self.prefix.len()..].to_owned())
            .collect();
        keys.sort();
        keys
    }
}

impl Drop for KeySpace {
    fn drop(&mut self) {
        let keys = scan(&self.url, &self.prefix);
        if keys.is_empty() {
            return;
        }
        if let Ok(mut conn) =
            redis::Client::open(self.url.as_str()).and_then(|c| c.get_connection())
        {
            let _ = redis::cmd("DEL").arg(&keys).exec(&mut conn);
        }
    }
}

/// Every key starting with `prefix` (blocking; test helper).
fn scan(url: &str, prefix: &str) -> Vec<String> {
    let Ok(mut conn) = redis::Client::open(url).and_then(|c| c.get_connection()) else {
        return Vec::new();
    };
    let pattern = format!("{prefix}*");
    let mut cursor = 0u64;
    let mut out = Vec::new();
    loop {
        let Ok((next, keys)): Result<(u64, Vec<String>), _> = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query(&mut conn)
        else {
            return out;
        };
        out.extend(keys);
        if next == 0 {
            return out;
        }
        cursor = next;
    }
}

/// Raw commands on full (prefixed) key names.
pub struct Raw(pub MultiplexedConnection);

impl Raw {
    pub async fn of(storage: &RedisStorage) -> Raw {
        Raw(storage.raw_connection().await.expect("a raw connection"))
    }

    pub async fn get(&mut self, key: &str) -> Option<String> {
        redis::cmd("GET")
            .arg(key)
            .query_async(&mut self.0)
            .await
            .unwrap()
    }

    /// `TTL`: -2 missing, -1 no expiry.
    pub async fn ttl(&mut self, key: &str) -> i64 {
        redis::cmd("TTL")
            .arg(key)
            .query_async(&mut self.0)
            .await
            .unwrap()
    }

    pub async fn set(&mut self, key: &str, value: &str) {
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .exec_async(&mut self.0)
            .await
            .unwrap();
    }

    pub async fn pexpire(&mut self, key: &str, ms: u64) {
        redis::cmd("PEXPIRE")
            .arg(key)
            .arg(ms)
            .exec_async(&mut self.0)
            .await
            .unwrap();
    }
}

/// Tessera over an in-memory database and `storage`.
pub fn auth(storage: RedisStorage, base_url: &str) -> Auth {
    Auth::builder(
        Options::new()
            .secret(SECRET)
            .base_url(base_url)
            .rate_limit(false),
    )
    .database(Arc::new(MemoryDatabase::new()))
    .secondary_storage(Arc::new(storage))
    .build()
    .expect("valid test configuration")
}

/// A browser-like client of an in-process [`Auth`].
pub struct Browser<'a> {
    pub auth: &'a Auth,
    pub base_url: String,
    pub cookies: ClientCookies,
}

impl<'a> Browser<'a> {
    pub fn new(auth: &'a Auth, base_url: &str) -> Self {
        Browser {
            auth,
            base_url: base_url.to_owned(),
            cookies: ClientCookies::new(),
        }
    }

    pub async fn send(&mut self, req: TestRequest) -> TestResponse {
        let req = match self.cookies.header() {
            Some(cookie) => req.header("cookie", cookie),
            None => req,
        };
        let res = send_auth(self.auth, &self.base_url, &req).await;
        self.cookies.update(&res);
        res
    }

    pub async fn post(&mut self, path: &str, body: serde_json::Value) -> TestResponse {
        let req = TestRequest::post(format!("/api/auth{path}"))
            .origin(self.base_url.clone())
            .json(&body);
        self.send(req).await
    }

    pub async fn get(&mut self, path: &str) -> TestResponse {
        self.send(TestRequest::get(format!("/api/auth{path}")))
            .await
    }

    pub async fn sign_up(&mut self, email: &str) -> TestResponse {
        self.post(
            "/sign-up/email",
            serde_json::json!({"email": email, "password": "password1234", "name": "A"}),
        )
        .await
    }

    pub async fn sign_in(&mut self, email: &str) -> TestResponse {
        self.post(
            "/sign-in/email",
            serde_json::json!({"email": email, "password": "password1234"}),
        )
        .await
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `redis-server` of the test's own on a loopback port, no persistence;
/// killed on drop.
pub struct ThrowawayRedis {
    pub port: u16,
    child: Option<Child>,
}

impl ThrowawayRedis {
    /// Starts one on a free port, or `None` after the skip banner when
    /// `redis-server` is missing.
    pub fn start() -> Option<ThrowawayRedis> {
        let mut server = ThrowawayRedis {
            port: free_port(),
            child: None,
        };
        match server.spawn() {
            Ok(()) => Some(server),
            Err(e) => skip_or_fail(Service::Redis, &e),
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) -> Result<(), String> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "redis-server did not listen on {} in time",
            self.port
        ))
    }

    /// Kills the server (connections are refused from now on).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn().expect("redis-server restarts on its port");
    }

    /// Sends `signal` (`STOP`, `CONT`) to the server process.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {pid}");
    }
}

impl Drop for ThrowawayRedis {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A frozen server must be woken to die cleanly.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
        }
        self.kill();
    }
}

/// Options of a process with the `jwe` cookie cache on (five minutes).
pub fn cached_options() -> Options {
    let mut o = Options::new()
        .secret(SECRET)
        .base_url(ORIGIN)
        .rate_limit(false);
    o.session.cookie_cache.enabled = Some(true);
    o.session.cookie_cache.strategy = Some(tessera::cache::CacheStrategy::Jwe);
    o.session.cookie_cache.max_age = Some(300);
    o
}

/// One process: Tessera with the cookie cache over `storage`, on `clock`.
pub fn cached_process(storage: RedisStorage, clock: &tessera::TestClock) -> Auth {
    Auth::builder(cached_options())
        .clock(Arc::new(clock.clone()))
        .database(Arc::new(MemoryDatabase::new()))
        .secondary_storage(Arc::new(storage))
        .build()
        .expect("valid configuration")
}

/// Sends `req` to `auth` with `cookies`, and keeps what the answer sets.
pub async fn send_with(auth: &Auth, cookies: &mut ClientCookies, req: TestRequest) -> TestResponse {
    let req = match cookies.header() {
        Some(c) => req.header("cookie", c),
        None => req,
    };
    let res = send_auth(auth, ORIGIN, &req).await;
    cookies.update(&res);
    res
}
