//! The cookie cache end to end: each strategy, stateless mode, version
//! checks, misses, chunking.

mod common;

use std::sync::Arc;

use common::*;
use http::StatusCode;
use serde_json::{json, Value};
use tessera::cache::{CacheStrategy, CacheVersion, RefreshCache};
use tessera::store::MemoryDatabase;
use tessera::Options;

const DATA: &str = "better-auth.session_data";
const TOKEN: &str = "better-auth.session_token";

fn cached(strategy: CacheStrategy) -> Options {
    let mut o = options();
    o.session.cookie_cache.enabled = Some(true);
    o.session.cookie_cache.strategy = Some(strategy);
    o
}

/// Every strategy with the decode memo on (the default) and off, labelled.
fn with_memo_on_and_off() -> impl Iterator<Item = (String, Options)> {
    [None, Some(0)].into_iter().flat_map(|memo_bytes| {
        ALL.into_iter().map(move |strategy| {
            let mut o = cached(strategy);
            o.session.cookie_cache.memo_bytes = memo_bytes;
            (format!("{strategy} memo {memo_bytes:?}"), o)
        })
    })
}

const ALL: [CacheStrategy; 3] = [
    CacheStrategy::Compact,
    CacheStrategy::Jwt,
    CacheStrategy::Jwe,
];

#[tokio::test]
async fn a_cache_hit_needs_no_store() {
    for strategy in ALL {
        let db = Arc::new(MemoryDatabase::new());
        let db2 = db.clone();
        let h = Harness::with(cached(strategy), |b| b.database(db2));
        let mut b = h.browser();
        let up = b.sign_up("alice@example.com").await;
        let line = up
            .set_cookie_line(DATA)
            .unwrap_or_else(|| panic!("{strategy}: no cache cookie"));
        assert!(line.contains("Max-Age=300"), "{line}");
        // Remove the session from the store: a cache hit does not notice.
        use tessera::Database;
        let token = up.body()["token"].as_str().unwrap();
        db.delete_session(token).await.unwrap();
        let s = b.get("/get-session").await;
        assert_eq!(s.body()["session"]["token"], token, "{strategy}");
        assert_eq!(s.body()["user"]["email"], "alice@example.com");
        assert!(s.set_cookies.is_empty(), "{strategy}: {:?}", s.set_cookies);
        // disableCookieCache reads the store: the session is gone.
        let s = b.get("/get-session?disableCookieCache=true").await;
        assert_eq!(*s.body(), Value::Null, "{strategy}");
        assert_eq!(s.cookie(TOKEN), Some(None));
    }
}

#[tokio::test]
async fn an_expired_cache_falls_back_to_the_store_and_is_rewritten() {
    for strategy in ALL {
        let h = Harness::new(cached(strategy));
        let mut b = h.browser();
        b.sign_up("bob@example.com").await;
        h.advance(301);
        let s = b.get("/get-session").await;
        assert_ne!(*s.body(), Value::Null, "{strategy}");
        assert!(
            s.cookie(DATA).flatten().is_some(),
            "{strategy}: cache rewritten from the store"
        );
    }
}

#[tokio::test]
async fn undecodable_cache_is_a_miss_never_an_error() {
    for strategy in ALL {
        let h = Harness::new(cached(strategy));
        let mut b = h.browser();
        b.sign_up("carol@example.com").await;
        for garbage in [
            "x",
            "%%%",
            "eyJhbGciOiJIUzI1NiJ9.e30.sig",
            "a.b.c.d.e",
            "!!!!",
            "",
        ] {
            let mut tampered = h.browser();
            tampered.cookies = b.cookies.clone();
            tampered.cookies.retain(|(n, _)| n != DATA);
            tampered.cookies.push((DATA.into(), garbage.into()));
            let s = tampered.get("/get-session").await;
            assert_eq!(s.status, StatusCode::OK, "{strategy} {garbage:?}");
            assert_ne!(
                *s.body(),
                Value::Null,
                "{strategy} {garbage:?}: falls back to the store"
            );
        }
    }
}

#[tokio::test]
async fn a_cache_from_another_strategy_is_a_miss() {
    let compact = Harness::new(cached(CacheStrategy::Compact));
    let mut b = compact.browser();
    b.sign_up("dave@example.com").await;
    for other in [CacheStrategy::Jwt, CacheStrategy::Jwe] {
        let h = Harness::stateless(cached(other));
        let mut b2 = h.browser();
        b2.cookies = b.cookies.clone();
        let s = b2.get("/get-session").await;
        assert_eq!(s.status, StatusCode::OK);
        assert_eq!(*s.body(), Value::Null, "store is empty: no session");
        assert_eq!(s.cookie(DATA), Some(None), "the unusable cache is expired");
    }
}

#[tokio::test]
async fn version_mismatch_is_a_miss() {
    let mut o = cached(CacheStrategy::Compact);
    o.session.cookie_cache.version = Some(CacheVersion::Static("2".into()));
    let v2 = Harness::stateless(o);
    let mut b = v2.browser();
    b.sign_up("erin@example.com").await;
    assert_ne!(*b.get("/get-session").await.body(), Value::Null);
    let v1 = Harness::stateless(cached(CacheStrategy::Compact));
    let mut b1 = v1.browser();
    b1.cookies = b.cookies.clone();
    assert_eq!(*b1.get("/get-session").await.body(), Value::Null);
}

#[tokio::test]
async fn per_user_versions() {
    let mut o = cached(CacheStrategy::Jwt);
    o.session.cookie_cache.version = Some(CacheVersion::PerSession(Arc::new(|_s, user| {
        let v = if user.email.starts_with("admin") {
            "admin-3"
        } else {
            "1"
        };
        Box::pin(async move { v.to_owned() })
    })));
    let h = Harness::stateless(o);
    let mut b = h.browser();
    b.sign_up("admin@example.com").await;
    let s = b.get("/get-session").await;
    assert_ne!(*s.body(), Value::Null);
    assert!(s.set_cookies.is_empty(), "a hit under the per-user version");
}

#[tokio::test]
async fn stateless_defaults_are_jwe_with_max_age_expires_in() {
    let h = Harness::stateless(options());
    assert!(h.auth.is_stateless());
    let c = h.auth.cookie_cache();
    assert!(c.enabled);
    assert_eq!(c.strategy, CacheStrategy::Jwe);
    assert_eq!(c.max_age, 604_800);
    let mut b = h.browser();
    let up = b.sign_up("frank@example.com").await;
    let line = up.set_cookie_line(DATA).unwrap();
    assert!(line.starts_with("better-auth.session_data=eyJ"), "{line}");
    assert!(line.contains("Max-Age=604800"));
}

#[tokio::test]
async fn a_stateless_session_survives_a_restart() {
    let first = Harness::stateless(options());
    let mut b = first.browser();
    b.sign_up("gina@example.com").await;
    // Another process with the same secret and no shared state.
    let second = Harness::stateless(options());
    let mut b2 = second.browser();
    b2.cookies = b.cookies.clone();
    let s = b2.get("/get-session").await;
    assert_eq!(s.body()["user"]["email"], "gina@example.com");
}

#[tokio::test]
async fn without_a_valid_token_a_valid_cache_is_not_enough() {
    let h = Harness::stateless(options());
    let mut b = h.browser();
    b.sign_up("hank@example.com").await;
    b.cookies.retain(|(n, _)| n != TOKEN);
    let s = b.get("/get-session").await;
    assert_eq!(*s.body(), Value::Null);
    assert!(s.set_cookies.is_empty());
}

#[tokio::test]
async fn dont_remember_makes_a_session_cache_cookie() {
    for strategy in ALL {
        let h = Harness::new(cached(strategy));
        h.browser().sign_up("ivy@example.com").await;
        let mut b = h.browser();
        let r = b
            .post(
                "/sign-in/email",
                json!({"email": "ivy@example.com", "password": "password1234", "rememberMe": false}),
            )
            .await;
        let line = r.set_cookie_line(DATA).unwrap();
        assert!(!line.contains("Max-Age"), "{line}");
        // compact: 60 s embedded expiry; jwt/jwe: 300 s.
        h.advance(61);
        let s = b.get("/get-session").await;
        let rewritten = s.cookie(DATA).flatten().is_some() || s.cookie(DATA) == Some(None);
        assert_eq!(rewritten, strategy == CacheStrategy::Compact, "{strategy}");
    }
}

#[tokio::test]
async fn large_payloads_are_chunked_and_read_back() {
    let mut o = cached(CacheStrategy::Compact);
    o.session.additional_fields = vec![tessera::options::AdditionalField::new("blob")];
    let h = Harness::new(o);
    let mut b = h.browser();
    b.sign_up("jack@example.com").await;
    let r = b
        .post("/update-session", json!({"blob": "x".repeat(9000)}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let chunks: Vec<_> = r
        .set_cookies
        .iter()
        .filter(|l| l.starts_with("better-auth.session_data."))
        .collect();
    assert!(chunks.len() >= 3, "{chunks:?}");
    assert!(r.set_cookies.iter().all(|l| l.len() <= 4050));
    // Served from the chunks, no store needed.
    let s = b.get("/get-session").await;
    assert_eq!(
        s.body()["session"]["blob"].as_str().map(str::len),
        Some(9000)
    );
    assert!(s.set_cookies.is_empty());
    // Shrinking expires the chunks no longer needed.
    let r = b.post("/update-session", json!({"blob": "small"})).await;
    assert!(r.cookie("better-auth.session_data.1") == Some(None));
    assert!(r.cookie(DATA).flatten().is_some());
}

#[tokio::test]
async fn refresh_cache_is_forced_off_with_a_database() {
    let mut o = cached(CacheStrategy::Jwe);
    o.session.cookie_cache.refresh_cache = Some(RefreshCache::On);
    let h = Harness::new(o);
    assert_eq!(h.auth.cookie_cache().refresh_update_age, None);
}

#[tokio::test]
async fn explicit_refresh_without_the_plugin_fails_with_a_clear_error() {
    let mut o = options();
    o.session.cookie_cache.refresh_cache = Some(RefreshCache::On);
    let err = tessera::Auth::builder(o).build().unwrap_err();
    assert!(err.to_string().contains("stateless-refresh"), "{err}");
}

#[tokio::test]
async fn remembered_caches_still_expire_on_time() {
    // The memo (on by default) keeps opened values; their expiry is
    // checked on every request, so a value used a moment ago is refused
    // once its time is up, exactly as with the memo off.
    for (label, options) in with_memo_on_and_off() {
        let h = Harness::new(options);
        let mut b = h.browser();
        b.sign_up("carol@example.com").await;
        let before = b.cookie_value(DATA).map(str::to_owned);
        for _ in 0..3 {
            let s = b.get("/get-session").await;
            assert_eq!(s.body()["user"]["email"], "carol@example.com");
            assert!(s.set_cookies.is_empty(), "{label}: {:?}", s.set_cookies);
        }
        h.advance(301);
        let s = b.get("/get-session").await;
        assert_eq!(s.body()["user"]["email"], "carol@example.com");
        let after = s.cookie(DATA).flatten();
        assert!(
            after.is_some() && after != before,
            "{label}: an expired cache is re-read from the store and rewritten"
        );
    }
}

#[tokio::test]
async fn a_remembered_cache_value_vouches_only_for_the_token_it_came_with() {
    // After a hit, the memo skips the HMAC for the exact signed token that
    // verified with that cache value. Any other token sent with the same
    // value, a forged signature or a token not its own, is verified in
    // full and refused, with the memo on or off, and the real one keeps
    // working.
    for (label, options) in with_memo_on_and_off() {
        let h = Harness::new(options);
        let mut b = h.browser();
        b.sign_up("dave@example.com").await;
        for _ in 0..2 {
            let s = b.get("/get-session").await;
            assert_eq!(s.body()["user"]["email"], "dave@example.com");
        }
        let genuine = b.cookie_value(TOKEN).unwrap().to_owned();
        let dot = genuine.rfind('.').unwrap();
        let flip = |s: &str, at: usize| {
            let mut bytes = s.as_bytes().to_vec();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            String::from_utf8(bytes).unwrap()
        };
        let forged = [
            flip(&genuine, dot - 1),   // another token, the genuine signature
            flip(&genuine, dot + 1),   // the genuine token, a forged signature
            genuine[..dot].to_owned(), // the bare token, unsigned
            format!("{genuine}x"),     // the genuine value and more
        ];
        for bad in forged {
            let mut other = h.browser();
            other.cookies = b.cookies.clone();
            for (name, value) in &mut other.cookies {
                if name == TOKEN {
                    value.clone_from(&bad);
                }
            }
            let s = other.get("/get-session").await;
            assert_eq!(*s.body(), Value::Null, "{label}: {bad}");
        }
        let s = b.get("/get-session").await;
        assert_eq!(s.body()["user"]["email"], "dave@example.com", "{label}");
    }
}
