//! `RedisStorage` on a Redis Cluster (three masters with a replica each,
//! started by the test): the same calls with better-auth's key names,
//! atomic updates as compare-and-set scripts on each key's node, the
//! session lookup falling back to two reads (its watermark lives in
//! another slot), the revocation log, two processes sharing the cluster,
//! and a master killed mid-way losing nothing confirmed.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::ORIGIN;
use serde_json::{json, Value};
use tessera::store::{SecondaryStorage, Watermark};
use tessera::{Auth, TestClock, Timestamp};
use tessera_redis::{RedisOptions, RedisStorage};
use tessera_testkit::redis_cluster::ThrowawayCluster;
use tessera_testkit::{ClientCookies, TestRequest, TestResponse};

async fn storage(cluster: &ThrowawayCluster, options: RedisOptions) -> RedisStorage {
    let s = RedisStorage::connect_with(&cluster.url(), options)
        .await
        .expect("connects to the cluster");
    assert!(s.is_cluster());
    assert!(
        s.address().starts_with("redis+cluster://127.0.0.1:"),
        "{}",
        s.address()
    );
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_works_on_a_cluster() {
    let Some(cluster) = ThrowawayCluster::start_steady() else {
        return;
    };
    let s = storage(&cluster, RedisOptions::new().prefix("p:")).await;
    // Keys spread over the three masters.
    let keys: Vec<String> = (0..30).map(|i| format!("key-{i}")).collect();
    let masters: std::collections::HashSet<u16> = keys
        .iter()
        .map(|k| cluster.master_of(&format!("p:{k}")))
        .collect();
    assert_eq!(masters.len(), 3, "the keys land on every master");
    for k in &keys {
        s.set(k, "v", Some(Duration::from_secs(60))).await.unwrap();
    }
    let all = s.get_many(&keys).await.unwrap();
    assert!(
        all.iter().all(|v| v.as_deref() == Some("v")),
        "MGET across slots: {all:?}"
    );
    assert!(s.set_if_exists("key-0", "w", None).await.unwrap());
    assert!(!s.set_if_exists("absent", "w", None).await.unwrap());
    assert_eq!(
        s.get_and_delete("key-0").await.unwrap().as_deref(),
        Some("w")
    );
    assert_eq!(s.get("key-0").await.unwrap(), None);
    s.delete("key-1").await.unwrap();
    assert_eq!(s.get("key-1").await.unwrap(), None);
    assert_eq!(s.increment("n", Duration::from_secs(60)).await.unwrap(), 1);
    assert_eq!(s.increment("n", Duration::from_secs(60)).await.unwrap(), 2);
    // A session record: the watermark is read apart, in its own slot.
    s.set("tok", r#"{"session":{"userId":"u"}}"#, None)
        .await
        .unwrap();
    let (value, watermark) = s.get_session_record("tok").await.unwrap().unwrap();
    assert!(value.contains("userId"));
    assert_eq!(watermark, Watermark::Unread);
    // The revocation log is one stream in one slot.
    let n = s
        .append_revocation("entry", Duration::from_secs(60))
        .await
        .unwrap();
    let page = s.read_revocations(0, &[], 10).await.unwrap();
    assert_eq!(page.entries, [(n, "entry".to_owned())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_from_two_processes_lose_nothing_on_a_cluster() {
    let Some(cluster) = ThrowawayCluster::start_steady() else {
        return;
    };
    let a = Arc::new(storage(&cluster, RedisOptions::new()).await);
    let b = Arc::new(storage(&cluster, RedisOptions::new()).await);
    let calls = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..40u32 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        let calls = calls.clone();
        tasks.push(tokio::spawn(async move {
            s.update("list", &|cur: Option<&str>| {
                calls.fetch_add(1, Ordering::Relaxed);
                let mut items: Vec<u32> = cur
                    .map(|c| serde_json::from_str(c).unwrap())
                    .unwrap_or_default();
                items.push(i);
                Some((serde_json::to_string(&items).unwrap(), None))
            })
            .await
            .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut items: Vec<u32> = serde_json::from_str(&a.get("list").await.unwrap().unwrap()).unwrap();
    items.sort_unstable();
    assert_eq!(items, (0..40).collect::<Vec<_>>());
    assert!(calls.load(Ordering::Relaxed) >= 40);
    // Deleting through an update.
    a.update("list", &|_| None).await.unwrap();
    assert_eq!(a.get("list").await.unwrap(), None);
}

fn process(storage: RedisStorage, clock: &TestClock) -> Auth {
    common::cached_process(storage, clock)
}

async fn send(auth: &Auth, cookies: &mut ClientCookies, req: TestRequest) -> TestResponse {
    common::send_with(auth, cookies, req).await
}

async fn sign_up(auth: &Auth, email: &str) -> (String, ClientCookies) {
    let mut cookies = ClientCookies::new();
    let req = TestRequest::post("/api/auth/sign-up/email")
        .origin(ORIGIN)
        .json(&json!({"email": email, "password": "password1234", "name": "Ada"}));
    let res = send(auth, &mut cookies, req).await;
    assert_eq!(res.status, 200, "{}", res.text);
    (res.body()["token"].as_str().unwrap().to_owned(), cookies)
}

/// `/get-session` from the store (not the cache), with a copy of `cookies`.
async fn stored_session(auth: &Auth, cookies: &ClientCookies) -> TestResponse {
    send(
        auth,
        &mut cookies.clone(),
        TestRequest::get("/api/auth/get-session?disableCookieCache=true"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_sessions_and_revocations_on_a_cluster() {
    let Some(cluster) = ThrowawayCluster::start_steady() else {
        return;
    };
    let clock = TestClock::at(Timestamp::from_millis(1_795_824_000_000));
    let a = process(storage(&cluster, RedisOptions::new()).await, &clock);
    let b = process(storage(&cluster, RedisOptions::new()).await, &clock);
    let (token, cookies) = sign_up(&a, "ada@example.com").await;
    let on_b = stored_session(&b, &cookies).await;
    assert_eq!(
        on_b.body()["session"]["token"],
        token.as_str(),
        "{}",
        on_b.text
    );
    // better-auth's key names, whatever node holds them.
    let raw = storage(&cluster, RedisOptions::new()).await;
    let user = on_b.body()["user"]["id"].as_str().unwrap().to_owned();
    assert!(raw.get(&token).await.unwrap().is_some());
    assert!(raw
        .get(&format!("active-sessions-{user}"))
        .await
        .unwrap()
        .is_some());

    // A cache hit on B, then a sign-out on A: B stops within the lag.
    let hit = send(
        &b,
        &mut cookies.clone(),
        TestRequest::get("/api/auth/get-session"),
    )
    .await;
    assert!(hit.body().is_object() && hit.set_cookies.is_empty());
    let out = send(
        &a,
        &mut cookies.clone(),
        TestRequest::post("/api/auth/sign-out")
            .origin(ORIGIN)
            .json(&json!({})),
    )
    .await;
    assert_eq!(out.status, 200, "{}", out.text);
    clock.advance(Duration::from_millis(1_000));
    let after = send(
        &b,
        &mut cookies.clone(),
        TestRequest::get("/api/auth/get-session"),
    )
    .await;
    assert_eq!(*after.body(), Value::Null);
    assert_eq!(raw.get(&token).await.unwrap(), None);
}

/// A process whose writes are confirmed only once on the master and on its
/// replica, and `n` users it signed up: their tokens and cookies.
async fn with_confirmed_sessions(
    cluster: &ThrowawayCluster,
    n: usize,
) -> (Auth, Vec<(String, ClientCookies)>) {
    let clock = TestClock::at(Timestamp::from_millis(1_795_824_000_000));
    let options = RedisOptions::new().wait_for_replicas(1, Duration::from_secs(2));
    let auth = process(storage(cluster, options).await, &clock);
    let mut sessions = Vec::new();
    for i in 0..n {
        sessions.push(sign_up(&auth, &format!("user-{i}@example.com")).await);
    }
    (auth, sessions)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_failing_over_loses_no_confirmed_session() {
    let Some(mut cluster) = ThrowawayCluster::start() else {
        return;
    };
    let (auth, sessions) = with_confirmed_sessions(&cluster, 20).await;
    // Kill the master holding the first session, at once: no grace for
    // its replica beyond what each confirmed write already waited for.
    let victim = cluster.master_of(&sessions[0].0);
    cluster.fail_over(victim);
    let mut lost = Vec::new();
    for (token, cookies) in &sessions {
        let res = stored_session(&auth, cookies).await;
        if res.body()["session"]["token"] != token.as_str() {
            lost.push((token.clone(), res.status, res.text.clone()));
        }
    }
    assert!(lost.is_empty(), "sessions lost in the failover: {lost:?}");
    // The promoted master has no replica yet: a write there cannot be
    // confirmed, and is refused (503) rather than confirmed unsafely.
    // Once the old master rejoins as its replica, writes confirm again.
    cluster.rejoin(victim);
    for i in 0..10 {
        sign_up(&auth, &format!("after-{i}@example.com")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_master_is_left_behind_once_its_replica_takes_over() {
    let Some(mut cluster) = ThrowawayCluster::start() else {
        return;
    };
    let (auth, sessions) = with_confirmed_sessions(&cluster, 12).await;
    // The master of the first session stops answering (a frozen process,
    // a network black hole); its replica takes over.
    let victim = cluster.master_of(&sessions[0].0);
    cluster.freeze(victim);
    let started = std::time::Instant::now();
    for (token, cookies) in &sessions {
        let res = stored_session(&auth, cookies).await;
        assert_eq!(
            res.body()["session"]["token"],
            token.as_str(),
            "{} after {:?}",
            res.text,
            started.elapsed()
        );
    }
    // Within one response timeout (2 s) and a watch of the slot map.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    cluster.thaw(victim);
    sign_up(&auth, "after@example.com").await;
}
