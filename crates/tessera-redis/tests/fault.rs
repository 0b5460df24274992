//! Redis going away under a running Tessera: a throwaway `redis-server`
//! is killed, frozen and restarted while requests keep coming. Every
//! request answers, in bounded time, with a clear 5xx JSON error (never a
//! panic, never a silent "signed out", never a revocation reported as
//! done), and service resumes once Redis is back.

mod common;

use std::time::Duration;

use common::{Browser, ThrowawayRedis, ORIGIN};
use serde_json::Value;
use tessera_redis::RedisStorage;
use tessera_testkit::{TestRequest, TestResponse};

/// A hang guard only: failures are expected well within the storage's own
/// operation timeout (5 s).
const HANG: Duration = Duration::from_secs(20);

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(HANG, f)
        .await
        .unwrap_or_else(|_| panic!("{what} hung for {HANG:?}"))
}

/// A 5xx with a JSON `{message, code}` body that names no internals.
fn assert_storage_failure(what: &str, res: &TestResponse, codes: &[&str]) {
    assert!(
        (500..600).contains(&res.status),
        "{what}: expected a 5xx, got {} {}",
        res.status,
        res.text
    );
    let code = res
        .code()
        .unwrap_or_else(|| panic!("{what}: no code in {}", res.text));
    assert!(
        codes.contains(&code),
        "{what}: code {code} not in {codes:?}"
    );
    assert!(
        res.message().is_some(),
        "{what}: no message in {}",
        res.text
    );
    let lower = res.text.to_ascii_lowercase();
    for leak in ["redis", "refused", "127.0.0.1", "os error"] {
        assert!(
            !lower.contains(leak),
            "{what}: leaks {leak:?}: {}",
            res.text
        );
    }
    assert!(
        !res.set_cookies.iter().any(|c| c.contains("Max-Age=0")),
        "{what}: a storage failure must not sign the browser out: {:?}",
        res.set_cookies
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_frozen_and_restarted_mid_run() {
    let Some(mut server) = ThrowawayRedis::start() else {
        return;
    };
    let storage = RedisStorage::connect(&server.url(), "fault:")
        .await
        .expect("the throwaway server is up");
    let mut raw = common::Raw::of(&storage).await;
    let auth = common::auth(storage, ORIGIN);
    let mut browser = Browser::new(&auth, ORIGIN);
    let up = browser.sign_up("fault@example.com").await;
    assert_eq!(up.status, 200, "{}", up.text);
    let cookie = browser.cookies.header().unwrap();
    let with_cookie =
        |path: &str| TestRequest::get(format!("/api/auth{path}")).header("cookie", cookie.clone());
    assert_eq!(browser.get("/get-session").await.status, 200);

    // Writes paused (reads still answered): the session is found, the
    // revocation cannot be written, and says so.
    redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(10_000)
        .arg("WRITE")
        .exec_async(&mut raw.0)
        .await
        .unwrap();
    let revoke = TestRequest::post("/api/auth/revoke-sessions")
        .origin(ORIGIN)
        .header("cookie", cookie.clone())
        .json(&serde_json::json!({}));
    let started = std::time::Instant::now();
    let res = within("revoke-sessions", browser.send(revoke.clone())).await;
    eprintln!(
        "Redis writes paused: POST /revoke-sessions -> {} {} after {:?}",
        res.status,
        res.text,
        started.elapsed()
    );
    redis::cmd("CLIENT")
        .arg("UNPAUSE")
        .exec_async(&mut raw.0)
        .await
        .unwrap();
    assert_eq!(res.status, 503, "{}", res.text);
    assert_eq!(res.code(), Some("STORAGE_UNAVAILABLE"));
    assert!(res.set_cookies.is_empty(), "{:?}", res.set_cookies);
    // Retried once Redis takes writes again: done, and reported so.
    let res = within("revoke-sessions", browser.send(revoke)).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.text, r#"{"status":true}"#);
    let res = within("get-session", browser.send(with_cookie("/get-session"))).await;
    assert_eq!(res.json, Some(Value::Null), "revoked: {}", res.text);
    let up = browser.sign_in("fault@example.com").await;
    assert_eq!(up.status, 200, "{}", up.text);
    let cookie = browser.cookies.header().unwrap();
    let with_cookie =
        |path: &str| TestRequest::get(format!("/api/auth{path}")).header("cookie", cookie.clone());

    // Killed: connections are refused.
    server.kill();
    let started = std::time::Instant::now();
    let res = within("get-session", browser.send(with_cookie("/get-session"))).await;
    eprintln!(
        "Redis down: GET /get-session -> {} {} after {:?}",
        res.status,
        res.text,
        started.elapsed()
    );
    assert_storage_failure("get-session", &res, &["STORAGE_UNAVAILABLE"]);
    assert_eq!(res.status, 503, "unreachable storage is a 503");

    let revoke = TestRequest::post("/api/auth/revoke-sessions")
        .origin(ORIGIN)
        .header("cookie", cookie.clone())
        .json(&serde_json::json!({}));
    let res = within("revoke-sessions", browser.send(revoke.clone())).await;
    eprintln!(
        "Redis down: POST /revoke-sessions -> {} {}",
        res.status, res.text
    );
    assert_ne!(
        res.text, r#"{"status":true}"#,
        "a revocation that did not happen"
    );
    assert_storage_failure("revoke-sessions", &res, &["STORAGE_UNAVAILABLE"]);
    assert_eq!(
        res.status, 503,
        "a revocation that cannot reach Redis is a 503"
    );

    let mut other = Browser::new(&auth, ORIGIN);
    let res = within("sign-up", other.sign_up("down@example.com")).await;
    eprintln!(
        "Redis down: POST /sign-up/email -> {} {}",
        res.status, res.text
    );
    assert!(res.status >= 500, "{} {}", res.status, res.text);

    // Back, empty (no persistence): the old session is gone, new ones work.
    server.restart();
    let res = within("get-session", browser.send(with_cookie("/get-session"))).await;
    eprintln!(
        "Redis back (empty): GET /get-session -> {} {}",
        res.status, res.text
    );
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json, Some(Value::Null));
    let mut fresh = Browser::new(&auth, ORIGIN);
    let res = within("sign-in", fresh.sign_in("fault@example.com")).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = within("get-session", fresh.get("/get-session")).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(
        res.json.as_ref().unwrap()["user"]["email"],
        "fault@example.com"
    );

    // Frozen (a hung server or a partition): bounded, then resumes.
    server.signal("STOP");
    let started = std::time::Instant::now();
    let res = within("get-session", fresh.get("/get-session")).await;
    eprintln!(
        "Redis frozen: GET /get-session -> {} {} after {:?}",
        res.status,
        res.text,
        started.elapsed()
    );
    assert_storage_failure(
        "get-session (frozen)",
        &res,
        &["FAILED_TO_GET_SESSION", "STORAGE_UNAVAILABLE"],
    );
    server.signal("CONT");
    let res = within("get-session", fresh.get("/get-session")).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(
        res.json.as_ref().unwrap()["user"]["email"],
        "fault@example.com"
    );
    // The revocation that failed while Redis was down can now be made.
    let res = within("revoke-sessions", {
        let req = TestRequest::post("/api/auth/revoke-sessions")
            .origin(ORIGIN)
            .json(&serde_json::json!({}));
        fresh.send(req)
    })
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.text, r#"{"status":true}"#);
}
