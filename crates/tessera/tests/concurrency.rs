//! Shared state under concurrency: refreshes racing revocations on one
//! user never resurrect a revoked session and never lose a live one, and the
//! cookie-cache memo hands each cookie its own session.

mod common;

use std::sync::Arc;
use std::time::Duration;

use tessera::options::SessionOptions;
use tessera::session::{SessionMeta, Sessions};
use tessera::store::{
    Database, MemoryDatabase, MemorySecondaryStorage, SecondaryStorage, SessionUpdate, StoreError,
    UpdateFn, User,
};
use tessera::Timestamp;

use common::cookie_header_of;

/// Memory storage that yields before every operation, so concurrent tasks
/// interleave between a read and the write that follows it, as they do over
/// a network.
struct Yielding(MemorySecondaryStorage);

#[async_trait::async_trait]
impl SecondaryStorage for Yielding {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        tokio::task::yield_now().await;
        self.0.get(key).await
    }
    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        self.0.set(key, value, ttl).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        self.0.delete(key).await
    }
    async fn get_and_delete(&self, key: &str) -> Result<Option<String>, StoreError> {
        tokio::task::yield_now().await;
        self.0.get_and_delete(key).await
    }
    async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, StoreError> {
        tokio::task::yield_now().await;
        self.0.increment(key, ttl).await
    }
    async fn set_if_exists(
        &self,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        tokio::task::yield_now().await;
        self.0.set_if_exists(key, value, ttl).await
    }
    async fn update(&self, key: &str, f: &UpdateFn<'_>) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        self.0.update(key, f).await
    }
}

fn user() -> User {
    User {
        name: "Race".into(),
        email: "race@example.com".into(),
        email_verified: false,
        image: None,
        created_at: Timestamp::from_millis(0),
        updated_at: Timestamp::from_millis(0),
        id: "race-user".into(),
        extra: Default::default(),
    }
}

async fn race(sessions: Sessions) {
    let now = Timestamp::from_millis(common::T0);
    let u = user();
    sessions.database().create_user(&u).await.unwrap();
    let mut tokens = Vec::new();
    for _ in 0..20 {
        let s = sessions
            .create(&u, &SessionMeta::default(), false, now)
            .await
            .unwrap();
        tokens.push(s.token);
    }
    let revoked: Vec<String> = tokens.iter().step_by(3).cloned().collect();
    let sessions = Arc::new(sessions);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let sessions = sessions.clone();
        let token = tokens[i % tokens.len()].clone();
        // Revoked sessions are revoked in even rounds and refreshed in odd
        // ones, all at once.
        let revoke = revoked.contains(&token) && (i / tokens.len()) % 2 == 0;
        tasks.push(tokio::spawn(async move {
            if revoke {
                sessions.delete(&token, now).await.unwrap();
            } else {
                let update = SessionUpdate {
                    expires_at: Some(now.plus_secs(604_800 + i as i64)),
                    updated_at: Some(now),
                    ..SessionUpdate::default()
                };
                sessions.update(&token, &update, now).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for token in &tokens {
        let found = sessions.find(token).await.unwrap();
        if revoked.contains(token) {
            assert!(found.is_none(), "revoked session {token} came back");
        } else {
            assert!(found.is_some(), "live session {token} was lost");
        }
    }
    let listed = sessions.list(&u.id, now).await.unwrap();
    assert_eq!(listed.len(), tokens.len() - revoked.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_racing_revocation_with_secondary_storage() {
    let storage: Arc<dyn SecondaryStorage> = Arc::new(Yielding(MemorySecondaryStorage::new()));
    let db: Arc<dyn Database> = Arc::new(MemoryDatabase::new());
    race(Sessions::new(db, Some(storage), SessionOptions::default())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_racing_revocation_with_a_database() {
    let db: Arc<dyn Database> = Arc::new(MemoryDatabase::new());
    race(Sessions::new(db, None, SessionOptions::default())).await;
}

/// The cookie-cache memo is shared by every request of an `Auth`: under
/// many concurrent readers with more distinct cookies than it can hold
/// (so it evicts as they run), each request still gets its own session.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_decode_memo_answers_each_cookie_with_its_own_session_under_load() {
    use bytes::Bytes;
    use http::Request;

    let mut options = tessera::Options::new()
        .secret("a-long-random-secret-of-at-least-32-characters!")
        .base_url("http://localhost:3000")
        .rate_limit(false);
    // Room for a handful of values: the 24 users' cookies keep evicting.
    options.session.cookie_cache.memo_bytes = Some(16 * 1024);
    let auth = tessera::Auth::builder(options).build().unwrap();
    let mut users = Vec::new();
    for i in 0..24 {
        let email = format!("user{i}@example.com");
        let body = format!(r#"{{"email":"{email}","password":"password1234","name":"U{i}"}}"#);
        let res = auth
            .handle(
                Request::post("/api/auth/sign-up/email")
                    .header("content-type", "application/json")
                    .body(Bytes::from(body))
                    .unwrap(),
            )
            .await;
        assert_eq!(res.status(), 200);
        users.push((email, cookie_header_of(&res)));
    }
    let users = Arc::new(users);
    let tasks: Vec<_> = (0..480)
        .map(|n| {
            let (auth, users) = (auth.clone(), users.clone());
            tokio::spawn(async move {
                let (email, cookie) = &users[(n * 7) % users.len()];
                let res = auth
                    .handle(
                        Request::get("/api/auth/get-session")
                            .header("cookie", cookie.as_str())
                            .body(Bytes::new())
                            .unwrap(),
                    )
                    .await;
                let body: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
                assert_eq!(body["user"]["email"], email.as_str(), "request {n}");
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}
