//! refreshCache with the clock moved: the window, the original expiry, and
//! what "don't remember" keeps.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode};
use serde_json::Value;
use tessera::cache::{CacheStrategy, RefreshCache};
use tessera::{Auth, Options, TestClock, Timestamp};

const SECRET: &str = "refresh-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
const T0: i64 = 1_795_824_000_000;
const DATA: &str = "better-auth.session_data";
const TOKEN: &str = "better-auth.session_token";

struct Client {
    auth: Auth,
    clock: TestClock,
    cookies: Vec<(String, String)>,
}

struct Reply {
    status: StatusCode,
    set_cookies: Vec<String>,
    body: Value,
}

impl Reply {
    fn sets(&self, name: &str) -> bool {
        self.set_cookies
            .iter()
            .any(|l| l.starts_with(&format!("{name}=")) && !l.contains("Max-Age=0"))
    }
    fn line(&self, name: &str) -> &str {
        self.set_cookies
            .iter()
            .find(|l| l.starts_with(&format!("{name}=")))
            .map(String::as_str)
            .unwrap_or("")
    }
}

impl Client {
    fn new(mut options: Options) -> Self {
        tessera_stateless_refresh::link();
        options = options
            .secret(SECRET)
            .base_url("http://localhost:3000")
            .rate_limit(false);
        let clock = TestClock::at(Timestamp::from_millis(T0));
        let auth = Auth::builder(options)
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        Client {
            auth,
            clock,
            cookies: Vec::new(),
        }
    }

    fn at(&self, secs: f64) {
        self.clock
            .set(Timestamp::from_millis(T0 + (secs * 1000.0) as i64));
    }

    async fn send(&mut self, method: &str, path: &str, body: &str) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("/api/auth{path}"))
            .header("content-type", "application/json");
        if !self.cookies.is_empty() {
            let header: Vec<String> = self
                .cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            req = req
                .header("cookie", header.join("; "))
                .header("origin", "http://localhost:3000");
        }
        let res = self
            .auth
            .handle(req.body(Bytes::from(body.to_owned())).unwrap())
            .await;
        let set_cookies: Vec<String> = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for line in &set_cookies {
            let (pair, attrs) = line.split_once(';').unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            if !attrs.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        Reply {
            status: res.status(),
            set_cookies,
            body: serde_json::from_slice(res.body()).unwrap_or(Value::Null),
        }
    }

    async fn sign_up(&mut self, remember: bool) {
        let body = format!(
            r#"{{"email":"a@example.com","password":"password1234","name":"A","rememberMe":{remember}}}"#
        );
        assert_eq!(
            self.send("POST", "/sign-up/email", &body).await.status,
            StatusCode::OK
        );
    }

    async fn get_session(&mut self) -> Reply {
        self.send("GET", "/get-session", "").await
    }
}

fn stateless(strategy: CacheStrategy, max_age: u64) -> Options {
    let mut o = Options::new();
    o.session.cookie_cache.strategy = Some(strategy);
    o.session.cookie_cache.max_age = Some(max_age);
    o
}

#[tokio::test]
async fn refresh_happens_in_the_last_fifth_of_max_age_not_before() {
    for strategy in [
        CacheStrategy::Compact,
        CacheStrategy::Jwt,
        CacheStrategy::Jwe,
    ] {
        let mut c = Client::new(stateless(strategy, 100));
        assert_eq!(c.auth.plugin_ids(), ["stateless-refresh"]);
        assert_eq!(c.auth.cookie_cache().refresh_update_age, Some(20));
        c.sign_up(true).await;
        c.at(79.0);
        let early = c.get_session().await;
        assert!(
            early.set_cookies.is_empty(),
            "{strategy}: no refresh at 79 s"
        );
        c.at(81.0);
        let due = c.get_session().await;
        assert!(due.sets(DATA), "{strategy}: cache re-issued at 81 s");
        assert!(due.sets(TOKEN), "{strategy}: token re-issued at 81 s");
        assert!(due.line(DATA).contains("Max-Age=100"));
        assert!(due.line(TOKEN).contains("Max-Age=604800"));
        // The re-issued cache carries the session on for another max age.
        c.at(170.0);
        let later = c.get_session().await;
        assert_eq!(later.body["user"]["email"], "a@example.com", "{strategy}");
    }
}

#[tokio::test]
async fn disable_refresh_skips_the_refresh() {
    let mut c = Client::new(stateless(CacheStrategy::Jwe, 100));
    c.sign_up(true).await;
    c.at(90.0);
    let r = c.send("GET", "/get-session?disableRefresh=true", "").await;
    assert!(r.set_cookies.is_empty());
    assert_ne!(r.body, Value::Null);
}

#[tokio::test]
async fn a_stateless_session_ends_at_its_original_expiry() {
    let mut o = stateless(CacheStrategy::Jwe, 100);
    o.session.expires_in = 300;
    let mut c = Client::new(o);
    c.sign_up(true).await;
    let first = c.get_session().await;
    let expires_at = first.body["session"]["expiresAt"].clone();
    // Keep refreshing: every ~90 s the cache is re-issued...
    for t in [90.0, 180.0, 270.0] {
        c.at(t);
        let r = c.get_session().await;
        assert_eq!(
            r.body["session"]["expiresAt"], expires_at,
            "never extended (t = {t})"
        );
    }
    // ...but the session itself ends when it was created to end.
    c.at(301.0);
    let end = c.get_session().await;
    assert_eq!(end.body, Value::Null);
}

#[tokio::test]
async fn update_age_option_sets_the_window() {
    let mut o = stateless(CacheStrategy::Compact, 100);
    o.session.cookie_cache.refresh_cache = Some(RefreshCache::UpdateAge(50));
    let mut c = Client::new(o);
    c.sign_up(true).await;
    c.at(49.0);
    assert!(c.get_session().await.set_cookies.is_empty());
    c.at(51.0);
    assert!(c.get_session().await.sets(DATA));
}

#[tokio::test]
async fn dont_remember_keeps_a_browser_session_token() {
    let mut c = Client::new(stateless(CacheStrategy::Jwt, 100));
    c.sign_up(false).await;
    // Without Max-Age the jwt cache embeds better-auth's 300 s fallback.
    c.at(279.0);
    assert!(c.get_session().await.set_cookies.is_empty());
    c.at(281.0);
    let r = c.get_session().await;
    assert!(r.sets(TOKEN));
    assert!(!r.line(TOKEN).contains("Max-Age"), "{}", r.line(TOKEN));
    // The cache itself is re-issued with maxAge, as better-auth does.
    assert!(r.line(DATA).contains("Max-Age=100"));
}

#[tokio::test]
async fn refresh_is_off_with_a_database() {
    let mut o = stateless(CacheStrategy::Jwe, 100);
    o.session.cookie_cache.enabled = Some(true);
    o.session.cookie_cache.refresh_cache = Some(RefreshCache::On);
    let o = o.secret(SECRET);
    let auth = Auth::builder(o)
        .database(Arc::new(tessera::store::MemoryDatabase::new()))
        .build()
        .unwrap();
    assert_eq!(auth.cookie_cache().refresh_update_age, None);
}
