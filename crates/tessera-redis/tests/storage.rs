//! The `SecondaryStorage` contract over a real Redis: the same behaviour
//! the kernel's memory store pins, plus what only Redis can show (TTLs in
//! whole seconds, the key prefix, atomic updates across processes).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{KeySpace, Raw};
use tessera::store::{SecondaryStorage, StoreError, Watermark};
use tessera_redis::{ConnectError, RedisOptions, RedisStorage, UpdateConflict};

const WEEK: Duration = Duration::from_secs(604_800);

#[tokio::test]
async fn get_set_delete_round_trip_under_the_prefix() {
    let space = KeySpace::new("roundtrip");
    let Some(s) = space.storage().await else {
        return;
    };
    let mut raw = Raw::of(&s).await;
    assert_eq!(s.get("k").await.unwrap(), None);
    s.set("k", r#"{"a":1}"#, None).await.unwrap();
    assert_eq!(s.get("k").await.unwrap().as_deref(), Some(r#"{"a":1}"#));
    let full = format!("{}k", space.prefix);
    assert_eq!(raw.get(&full).await.as_deref(), Some(r#"{"a":1}"#));
    assert_eq!(raw.ttl(&full).await, -1, "no TTL given: no expiry");
    assert_eq!(space.keys(), ["k"]);
    s.delete("k").await.unwrap();
    assert_eq!(s.get("k").await.unwrap(), None);
    s.delete("k").await.unwrap();
}

/// What two plain reads give: the record, then, when it names its user
/// by a string, that user's watermark.
async fn two_reads(s: &RedisStorage, token: &str) -> Option<(String, Watermark)> {
    let value = s.get(token).await.unwrap()?;
    let user = serde_json::from_str::<serde_json::Value>(&value)
        .ok()
        .and_then(|v| v["session"]["userId"].as_str().map(str::to_owned));
    let watermark = match user {
        Some(user) => Watermark::Read(
            s.get(&format!("revoked-sessions-before-{user}"))
                .await
                .unwrap(),
        ),
        None => Watermark::Unread,
    };
    Some((value, watermark))
}

#[tokio::test]
async fn a_session_record_and_its_watermark_come_back_as_two_reads_would() {
    let space = KeySpace::new("record");
    let Some(s) = space.storage().await else {
        return;
    };
    let record =
        |user: &str| format!(r#"{{"session":{{"userId":{user},"token":"t"}},"user":{{}}}}"#);
    s.set("revoked-sessions-before-u1", "1700000000000", None)
        .await
        .unwrap();
    s.set("with-watermark", &record(r#""u1""#), None)
        .await
        .unwrap();
    s.set("without-watermark", &record(r#""u2""#), None)
        .await
        .unwrap();
    s.set("numeric-user", &record("7"), None).await.unwrap();
    s.set("not-json", "{oops", None).await.unwrap();
    for token in [
        "with-watermark",
        "without-watermark",
        "numeric-user",
        "not-json",
        "missing",
    ] {
        let one = s.get_session_record(token).await.unwrap();
        assert_eq!(one, two_reads(&s, token).await, "{token}");
    }
    assert_eq!(
        s.get_session_record("with-watermark").await.unwrap(),
        Some((
            record(r#""u1""#),
            Watermark::Read(Some("1700000000000".to_owned()))
        ))
    );
}

#[tokio::test]
async fn ttls_are_whole_seconds() {
    let space = KeySpace::new("ttl");
    let Some(s) = space.storage().await else {
        return;
    };
    let mut raw = Raw::of(&s).await;
    s.set("week", "v", Some(WEEK)).await.unwrap();
    let ttl = raw.ttl(&format!("{}week", space.prefix)).await;
    assert!((604_799..=604_800).contains(&ttl), "ttl {ttl}");
    s.set("short", "v", Some(Duration::from_millis(1_999)))
        .await
        .unwrap();
    assert_eq!(raw.ttl(&format!("{}short", space.prefix)).await, 1);
}

#[tokio::test]
async fn secondary_storage_honours_ttl() {
    let space = KeySpace::new("expiry");
    let Some(s) = space.storage().await else {
        return;
    };
    s.set("k", "v", Some(Duration::from_secs(1))).await.unwrap();
    assert_eq!(s.get("k").await.unwrap().as_deref(), Some("v"));
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(s.get("k").await.unwrap(), None);
}

#[tokio::test]
async fn get_and_delete_is_one_shot() {
    let space = KeySpace::new("getdel");
    let Some(s) = space.storage().await else {
        return;
    };
    s.set("k", "v", None).await.unwrap();
    assert_eq!(s.get_and_delete("k").await.unwrap().as_deref(), Some("v"));
    assert_eq!(s.get_and_delete("k").await.unwrap(), None);
    assert_eq!(s.get("k").await.unwrap(), None);
}

#[tokio::test]
async fn get_and_delete_hands_a_value_to_exactly_one_caller() {
    let space = KeySpace::new("getdel-race");
    let Some(s) = space.storage().await else {
        return;
    };
    s.set("state", "v", None).await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.get_and_delete("state").await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap().is_some());
    }
    assert_eq!(winners, 1);
}

#[tokio::test]
async fn increment_sets_ttl_only_on_creation() {
    let space = KeySpace::new("incr");
    let Some(s) = space.storage().await else {
        return;
    };
    let mut raw = Raw::of(&s).await;
    let full = format!("{}c", space.prefix);
    assert_eq!(s.increment("c", Duration::from_secs(10)).await.unwrap(), 1);
    assert_eq!(raw.ttl(&full).await, 10);
    assert_eq!(
        s.increment("c", Duration::from_secs(1_000)).await.unwrap(),
        2
    );
    let ttl = raw.ttl(&full).await;
    assert!((9..=10).contains(&ttl), "the TTL is kept: {ttl}");
    assert_eq!(raw.get(&full).await.as_deref(), Some("2"));
    // Once the counter expires, the next increment starts a new window.
    raw.pexpire(&full, 1).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(s.increment("c", Duration::from_secs(60)).await.unwrap(), 1);
    assert_eq!(raw.ttl(&full).await, 60);
}

#[tokio::test]
async fn concurrent_increments_count_every_call() {
    let space = KeySpace::new("incr-race");
    let Some(s) = space.storage().await else {
        return;
    };
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.increment("c", Duration::from_secs(60)).await.unwrap() })
        })
        .collect();
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=100).collect::<Vec<u64>>());
}

#[tokio::test]
async fn set_if_exists_never_creates() {
    let space = KeySpace::new("setxx");
    let Some(s) = space.storage().await else {
        return;
    };
    let mut raw = Raw::of(&s).await;
    let full = format!("{}k", space.prefix);
    assert!(!s.set_if_exists("k", "v", Some(WEEK)).await.unwrap());
    assert_eq!(
        s.get("k").await.unwrap(),
        None,
        "a missing key stays missing"
    );
    s.set("k", "old", None).await.unwrap();
    assert!(s
        .set_if_exists("k", "new", Some(Duration::from_secs(60)))
        .await
        .unwrap());
    assert_eq!(s.get("k").await.unwrap().as_deref(), Some("new"));
    assert_eq!(raw.ttl(&full).await, 60);
    assert!(s.set_if_exists("k", "newer", None).await.unwrap());
    assert_eq!(raw.ttl(&full).await, -1);
}

#[tokio::test]
async fn update_creates_replaces_and_deletes() {
    let space = KeySpace::new("update");
    let Some(s) = space.storage().await else {
        return;
    };
    let mut raw = Raw::of(&s).await;
    let full = format!("{}k", space.prefix);
    // Create, with a TTL.
    s.update("k", &|cur: Option<&str>| {
        assert_eq!(cur, None);
        Some(("1".to_owned(), Some(Duration::from_secs(30))))
    })
    .await
    .unwrap();
    assert_eq!(s.get("k").await.unwrap().as_deref(), Some("1"));
    assert_eq!(raw.ttl(&full).await, 30);
    // Replace from the current value, without a TTL.
    s.update("k", &|cur: Option<&str>| {
        let n: u32 = cur.unwrap().parse().unwrap();
        Some(((n + 1).to_string(), None))
    })
    .await
    .unwrap();
    assert_eq!(s.get("k").await.unwrap().as_deref(), Some("2"));
    assert_eq!(raw.ttl(&full).await, -1);
    // Delete.
    s.update("k", &|cur: Option<&str>| {
        assert_eq!(cur, Some("2"));
        None
    })
    .await
    .unwrap();
    assert_eq!(s.get("k").await.unwrap(), None);
    // Deleting a missing key is a no-op.
    s.update("k", &|_: Option<&str>| None).await.unwrap();
    assert_eq!(s.get("k").await.unwrap(), None);
    assert!(space.keys().is_empty());
}

/// Appends `i` to the JSON list at `list`.
async fn append(s: &RedisStorage, i: u32, calls: &AtomicUsize, pause: Duration) {
    s.update("list", &|cur: Option<&str>| {
        calls.fetch_add(1, Ordering::Relaxed);
        let mut v: Vec<u32> = cur
            .map(|c| serde_json::from_str(c).unwrap())
            .unwrap_or_default();
        v.push(i);
        if !pause.is_zero() {
            // Widens the window between GET and EXEC, as a slow network
            // would, so writers from other processes get in between.
            std::thread::sleep(pause);
        }
        Some((serde_json::to_string(&v).unwrap(), Some(WEEK)))
    })
    .await
    .unwrap();
}

async fn list(s: &RedisStorage) -> Vec<u32> {
    let mut v: Vec<u32> = serde_json::from_str(&s.get("list").await.unwrap().unwrap()).unwrap();
    v.sort_unstable();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_lose_nothing() {
    let space = KeySpace::new("update-race");
    let Some(s) = space.storage().await else {
        return;
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (s, calls) = (s.clone(), calls.clone());
            tokio::spawn(async move { append(&s, i, &calls, Duration::ZERO).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(list(&s).await, (0..200).collect::<Vec<u32>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_from_two_processes_lose_nothing() {
    let space = KeySpace::new("update-two");
    // Two independent storages stand for two servers sharing one Redis:
    // only WATCH keeps them from overwriting each other.
    let (Some(a), Some(b)) = (space.storage().await, space.storage().await) else {
        return;
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            let calls = calls.clone();
            tokio::spawn(async move { append(&s, i, &calls, Duration::from_millis(2)).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(list(&a).await, (0..100).collect::<Vec<u32>>());
    let calls = calls.load(Ordering::Relaxed);
    assert!(
        calls > 100,
        "no WATCH conflict happened in {calls} calls: the race was not exercised"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_that_always_loses_gives_up_with_a_clear_error() {
    let space = KeySpace::new("update-conflict");
    let Some(s) = space
        .storage_with(RedisOptions::new().update_attempts(3))
        .await
    else {
        return;
    };
    s.set("k", "0", None).await.unwrap();
    let full = format!("{}k", space.prefix);
    let client = redis::Client::open(space.url.as_str()).unwrap();
    let other = std::sync::Mutex::new(client.get_connection().unwrap());
    let calls = AtomicUsize::new(0);
    let err = s
        .update("k", &|_: Option<&str>| {
            // Another writer changes the key every time, between our GET
            // and our EXEC.
            let n = calls.fetch_add(1, Ordering::Relaxed);
            let mut other = other.lock().unwrap();
            redis::cmd("SET")
                .arg(&full)
                .arg(format!("other-{n}"))
                .exec(&mut *other)
                .unwrap();
            Some(("mine".to_owned(), None))
        })
        .await
        .expect_err("every attempt conflicts");
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    let StoreError::Backend(source) = &err else {
        panic!("expected a backend error, got {err:?}");
    };
    let conflict = source
        .downcast_ref::<UpdateConflict>()
        .expect("an UpdateConflict");
    assert_eq!(conflict.attempts, 3);
    assert_eq!(s.get("k").await.unwrap().as_deref(), Some("other-2"));
}

#[tokio::test]
async fn unreachable_server_is_a_connect_error_without_credentials() {
    let port = common::free_port();
    let err = RedisStorage::connect(&format!("redis://:hunter2@127.0.0.1:{port}"), "")
        .await
        .expect_err("nothing listens there");
    assert!(matches!(err, ConnectError::Connect { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "cannot connect to Redis at redis://127.0.0.1:{port}:"
        )),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn tls_urls_are_refused_clearly() {
    let err = RedisStorage::connect("rediss://cache.example.com:6380", "")
        .await
        .expect_err("no TLS in this build");
    assert!(matches!(err, ConnectError::TlsNotSupported), "{err:?}");
    assert!(err.to_string().contains("rediss://"), "{err}");
    for bad in ["http://127.0.0.1:6379", "redis://:hunter2@cache:port"] {
        let err = RedisStorage::connect(bad, "")
            .await
            .expect_err("not a Redis URL");
        assert!(matches!(err, ConnectError::InvalidUrl(_)), "{err:?}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
    }
}

#[tokio::test]
async fn address_and_prefix_are_reported() {
    let space = KeySpace::new("describe");
    let Some(s) = space.storage().await else {
        return;
    };
    assert!(s.address().starts_with("redis://"), "{}", s.address());
    assert_eq!(s.prefix(), space.prefix);
    let debug = format!("{s:?}");
    assert!(debug.contains(&space.prefix), "{debug}");
}
