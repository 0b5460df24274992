//! Revocation reaches every process sharing a store within the lag, cookie
//! cache on (`docs/revocation.md`): two `Auth`s over one store and one test
//! clock stand for two processes.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use common::*;
use http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use tessera::cache::CacheStrategy;
use tessera::store::{
    Database, MemoryDatabase, MemorySecondaryStorage, SecondaryStorage, StoreError,
};
use tessera::{Auth, ClientAddr, Options, TestClock, Timestamp};

/// The cache as the deployment has it: `jwe`, five minutes.
fn cached() -> Options {
    let mut o = options();
    o.session.cookie_cache.enabled = Some(true);
    o.session.cookie_cache.strategy = Some(CacheStrategy::Jwe);
    o.session.cookie_cache.max_age = Some(300);
    o
}

#[derive(Clone, Copy, Debug)]
enum Shared {
    /// One database, no secondary storage: the log lives in the database.
    Database,
    /// Secondary storage (and a database): the log lives in the storage.
    Secondary,
}

/// Two processes over one store.
struct Pair {
    a: Auth,
    b: Auth,
    clock: TestClock,
}

impl Pair {
    fn new(shared: Shared, options: Options) -> Self {
        let clock = TestClock::at(Timestamp::from_millis(T0));
        let db: Arc<dyn Database> = Arc::new(MemoryDatabase::new());
        let storage: Arc<dyn SecondaryStorage> =
            Arc::new(MemorySecondaryStorage::with_clock(Arc::new(clock.clone())));
        Self::over(shared, options, clock, db, storage)
    }

    fn over(
        shared: Shared,
        options: Options,
        clock: TestClock,
        db: Arc<dyn Database>,
        storage: Arc<dyn SecondaryStorage>,
    ) -> Self {
        let build = || {
            let mut b = Auth::builder(options.clone())
                .clock(Arc::new(clock.clone()))
                .database(Arc::clone(&db));
            if let Shared::Secondary = shared {
                b = b.secondary_storage(Arc::clone(&storage));
            }
            b.build().expect("valid configuration")
        };
        Pair {
            a: build(),
            b: build(),
            clock,
        }
    }

    fn advance_ms(&self, ms: u64) {
        self.clock.advance(Duration::from_millis(ms));
    }
}

/// A client's cookies: `(name, raw value)`.
#[derive(Clone, Debug, Default)]
struct Jar(Vec<(String, String)>);

impl Jar {
    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn absorb(&mut self, lines: &[String]) {
        for line in lines {
            let (pair, attrs) = line.split_once(';').unwrap_or((line, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.0.retain(|(n, _)| n != name);
            if !attrs.contains("Max-Age=0") {
                self.0.push((name.to_owned(), value.to_owned()));
            }
        }
    }
}

async fn send(
    auth: &Auth,
    jar: &mut Jar,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> TestResponse {
    let mut req = Request::builder()
        .method(method)
        .uri(format!("/api/auth{path}"))
        .header("origin", ORIGIN)
        .header("user-agent", "tessera-tests/1.0");
    if !jar.0.is_empty() {
        req = req.header("cookie", jar.header());
    }
    let body = match body {
        Some(v) => {
            req = req.header("content-type", "application/json");
            Bytes::from(serde_json::to_vec(&v).unwrap())
        }
        None => Bytes::new(),
    };
    let peer = ClientAddr(BROWSER_IP.parse().unwrap());
    let res = TestResponse::from(auth.handle_from(req.body(body).unwrap(), Some(peer)).await);
    jar.absorb(&res.set_cookies);
    res
}

async fn get_session(auth: &Auth, jar: &Jar) -> TestResponse {
    // A copy of the cookies: what an attacker holding them would present,
    // untouched by what the answer sets.
    send(auth, &mut jar.clone(), Method::GET, "/get-session", None).await
}

async fn sign_up(auth: &Auth, email: &str) -> Jar {
    let mut jar = Jar::default();
    let r = send(
        auth,
        &mut jar,
        Method::POST,
        "/sign-up/email",
        Some(json!({"email": email, "password": "password1234", "name": "Ada"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body());
    assert!(jar.header().contains("session_data="), "the cache is on");
    jar
}

async fn sign_in(auth: &Auth, email: &str) -> Jar {
    let mut jar = Jar::default();
    let r = send(
        auth,
        &mut jar,
        Method::POST,
        "/sign-in/email",
        Some(json!({"email": email, "password": "password1234"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body());
    jar
}

fn token_of(r: &TestResponse) -> String {
    r.body()["session"]["token"].as_str().unwrap().to_owned()
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    SignOut,
    RevokeSession,
    RevokeSessions,
    RevokeOtherSessions,
    /// Every session of the user, as a password change or reset, or the
    /// user's deletion, revokes them.
    AllOfUser,
}

const KINDS: [Kind; 5] = [
    Kind::SignOut,
    Kind::RevokeSession,
    Kind::RevokeSessions,
    Kind::RevokeOtherSessions,
    Kind::AllOfUser,
];

/// Revokes `victim` on process A in the way `kind` does.
async fn revoke(pair: &Pair, kind: Kind, victim: &Jar, other: &Jar) {
    let a = &pair.a;
    let ok = |r: &TestResponse| assert_eq!(r.status, StatusCode::OK, "{kind:?}: {:?}", r.body());
    match kind {
        Kind::SignOut => ok(&send(
            a,
            &mut victim.clone(),
            Method::POST,
            "/sign-out",
            Some(json!({})),
        )
        .await),
        Kind::RevokeSession => {
            let token = token_of(&get_session(a, victim).await);
            ok(&send(
                a,
                &mut other.clone(),
                Method::POST,
                "/revoke-session",
                Some(json!({"token": token})),
            )
            .await);
        }
        Kind::RevokeSessions => ok(&send(
            a,
            &mut other.clone(),
            Method::POST,
            "/revoke-sessions",
            Some(json!({})),
        )
        .await),
        Kind::RevokeOtherSessions => ok(&send(
            a,
            &mut other.clone(),
            Method::POST,
            "/revoke-other-sessions",
            Some(json!({})),
        )
        .await),
        Kind::AllOfUser => {
            let user = get_session(a, victim).await.body()["user"]["id"]
                .as_str()
                .unwrap()
                .to_owned();
            a.sessions()
                .delete_user_sessions(&user, a.clock().now())
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn every_kind_of_revocation_reaches_the_other_process_within_the_lag() {
    for shared in [Shared::Database, Shared::Secondary] {
        for kind in KINDS {
            let pair = Pair::new(shared, cached());
            let email = "ada@example.com";
            let victim = sign_up(&pair.a, email).await;
            let other = sign_in(&pair.a, email).await;
            // B accepts the session from its cookie cache.
            let before = get_session(&pair.b, &victim).await;
            assert_eq!(before.status, StatusCode::OK);
            assert!(
                before.body().is_object(),
                "{shared:?} {kind:?}: signed in on B"
            );
            assert!(
                before.set_cookies.is_empty(),
                "{shared:?} {kind:?}: a plain cache hit"
            );

            pair.advance_ms(100);
            revoke(&pair, kind, &victim, &other).await;
            // One lag later, B no longer accepts the cached session.
            pair.advance_ms(1_000);
            let after = get_session(&pair.b, &victim).await;
            assert_eq!(after.status, StatusCode::OK, "{shared:?} {kind:?}");
            assert_eq!(
                *after.body(),
                Value::Null,
                "{shared:?} {kind:?}: revoked on B within the lag"
            );
            assert!(
                after
                    .set_cookies
                    .iter()
                    .any(|l| l.starts_with("better-auth.session_token=;")),
                "{shared:?} {kind:?}: B expires the dead session's cookies: {:?}",
                after.set_cookies
            );
            // The process that revoked knew at once.
            assert_eq!(*get_session(&pair.a, &victim).await.body(), Value::Null);
            // A session the revocation spared stays signed in on B.
            let spared = matches!(
                kind,
                Kind::SignOut | Kind::RevokeSession | Kind::RevokeOtherSessions
            );
            assert_eq!(
                get_session(&pair.b, &other).await.body().is_object(),
                spared,
                "{shared:?} {kind:?}: the other session"
            );
        }
    }
}

#[tokio::test]
async fn cache_hits_read_the_log_at_most_twice_per_lag() {
    let pair = Pair::new(Shared::Secondary, cached());
    let jar = sign_up(&pair.a, "ada@example.com").await;
    let reads = pair.b.sessions().revocation_log_reads();
    // 200 hits over 10 seconds.
    for _ in 0..200 {
        pair.advance_ms(50);
        let r = get_session(&pair.b, &jar).await;
        assert!(r.body().is_object() && r.set_cookies.is_empty());
    }
    let spent = pair.b.sessions().revocation_log_reads() - reads;
    assert!((1..=21).contains(&spent), "one read per half lag: {spent}");
}

#[tokio::test]
async fn without_a_lag_the_cache_outlives_the_revocation_as_in_better_auth() {
    for shared in [Shared::Database, Shared::Secondary] {
        let mut options = cached();
        options.session.revocation_lag = None;
        let pair = Pair::new(shared, options);
        let jar = sign_up(&pair.a, "ada@example.com").await;
        assert!(get_session(&pair.b, &jar).await.body().is_object());
        send(
            &pair.a,
            &mut jar.clone(),
            Method::POST,
            "/sign-out",
            Some(json!({})),
        )
        .await;
        pair.advance_ms(299_000);
        assert!(
            get_session(&pair.b, &jar).await.body().is_object(),
            "{shared:?}: the cache vouches until it expires"
        );
        pair.advance_ms(2_000);
        assert_eq!(
            *get_session(&pair.b, &jar).await.body(),
            Value::Null,
            "{shared:?}"
        );
        assert_eq!(pair.b.sessions().revocation_log_reads(), 0);
    }
}

/// Secondary storage that can be taken away, as a stopped Redis is.
#[derive(Debug)]
struct Switchable {
    inner: MemorySecondaryStorage,
    down: AtomicBool,
}

impl Switchable {
    fn up(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("the storage is stopped".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl SecondaryStorage for Switchable {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.up()?;
        self.inner.get(key).await
    }
    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), StoreError> {
        self.up()?;
        self.inner.set(key, value, ttl).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.up()?;
        self.inner.delete(key).await
    }
    async fn get_and_delete(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.up()?;
        self.inner.get_and_delete(key).await
    }
    async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, StoreError> {
        self.up()?;
        self.inner.increment(key, ttl).await
    }
}

/// Two processes over [`Switchable`] secondary storage, up.
fn over_switchable_storage() -> (Pair, Arc<Switchable>) {
    let clock = TestClock::at(Timestamp::from_millis(T0));
    let storage = Arc::new(Switchable {
        inner: MemorySecondaryStorage::with_clock(Arc::new(clock.clone())),
        down: AtomicBool::new(false),
    });
    let pair = Pair::over(
        Shared::Secondary,
        cached(),
        clock,
        Arc::new(MemoryDatabase::new()),
        storage.clone(),
    );
    (pair, storage)
}

#[tokio::test]
async fn a_store_away_longer_than_the_lag_fails_cache_hits_closed_then_service_resumes() {
    let (pair, storage) = over_switchable_storage();
    let jar = sign_up(&pair.a, "ada@example.com").await;
    assert!(get_session(&pair.b, &jar).await.body().is_object());

    storage.down.store(true, Ordering::SeqCst);
    // Within the lag the last read of the log still vouches.
    pair.advance_ms(900);
    let within = get_session(&pair.b, &jar).await;
    assert!(within.body().is_object(), "{:?}", within.body());
    // Past it, the hit is sent to the store, which is away: 503, and the
    // client keeps its cookies.
    pair.advance_ms(200);
    let away = get_session(&pair.b, &jar).await;
    assert_eq!(
        away.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        away.body()
    );
    assert!(away.set_cookies.is_empty(), "{:?}", away.set_cookies);

    storage.down.store(false, Ordering::SeqCst);
    pair.advance_ms(100);
    let back = get_session(&pair.b, &jar).await;
    assert!(back.body().is_object(), "service resumes without a restart");
}

#[tokio::test]
async fn a_revocation_the_store_cannot_take_is_an_error_and_revokes_nothing() {
    let (pair, storage) = over_switchable_storage();
    let jar = sign_up(&pair.a, "ada@example.com").await;
    let revoke_sessions = || async {
        send(
            &pair.a,
            &mut jar.clone(),
            Method::POST,
            "/revoke-sessions",
            Some(json!({})),
        )
        .await
    };
    storage.down.store(true, Ordering::SeqCst);
    let r = revoke_sessions().await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body());
    storage.down.store(false, Ordering::SeqCst);
    // The client retries, and the revocation reaches B.
    let r = revoke_sessions().await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body());
    pair.advance_ms(1_000);
    assert_eq!(*get_session(&pair.b, &jar).await.body(), Value::Null);
}
