//! The `account_data` cookie around the session (spec §4.1, §4.2): it
//! slides whenever the cookie cache is written, is kept only for the
//! session's own user when there is a database, and sign-out expires it
//! (and `oauth_state`) exactly when better-auth does.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, Request, Response};
use serde_json::{json, Value};
use tessera::cache::CacheStrategy;
use tessera::oauth::AccountCookie;
use tessera::store::{Account, MemoryDatabase};
use tessera::{Auth, Options, Secrets, Timestamp};

const BASE: &str = "http://localhost:3000";
const SECRET: &str = "a-long-random-secret-of-at-least-32-characters!";
const ACCOUNT: &str = "better-auth.account_data";
const STATE: &str = "better-auth.oauth_state";

fn stateless() -> Auth {
    Auth::builder(Options::new().secret(SECRET).base_url(BASE))
        .build()
        .unwrap()
}

/// A database, the cookie cache on, and the account cookie asked for.
fn with_database(account_cookie: bool) -> Auth {
    let mut options = Options::new().secret(SECRET).base_url(BASE);
    options.session.cookie_cache.enabled = Some(true);
    options.session.cookie_cache.strategy = Some(CacheStrategy::Jwe);
    options.account.store_account_cookie = Some(account_cookie);
    Auth::builder(options)
        .database(Arc::new(MemoryDatabase::new()))
        .build()
        .unwrap()
}

fn account_for(user_id: &str) -> String {
    let now = Timestamp::from_millis(
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap(),
    );
    let account = Account {
        id: "acc-1".into(),
        account_id: "alice".into(),
        provider_id: "oidc".into(),
        user_id: user_id.into(),
        access_token: Some("at".into()),
        refresh_token: Some("rt".into()),
        id_token: None,
        access_token_expires_at: None,
        refresh_token_expires_at: None,
        scope: Some("openid".into()),
        password: None,
        created_at: now,
        updated_at: now,
    };
    AccountCookie::new(&Secrets::single(SECRET))
        .unwrap()
        .seal(&account, now, 300)
}

async fn post(auth: &Auth, path: &str, cookie: &str, body: Value) -> Response<Bytes> {
    let mut req = Request::post(format!("{BASE}/api/auth{path}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ORIGIN, BASE);
    if !cookie.is_empty() {
        req = req.header(header::COOKIE, cookie);
    }
    auth.handle(req.body(Bytes::from(body.to_string())).unwrap())
        .await
}

/// The `Set-Cookie` lines for `name`.
fn set_cookies<'r>(res: &'r Response<Bytes>, name: &str) -> Vec<&'r str> {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|l| l.starts_with(&format!("{name}=")))
        .collect()
}

fn pairs(res: &Response<Bytes>) -> String {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .filter(|p| !p.ends_with('='))
        .collect::<Vec<_>>()
        .join("; ")
}

fn user_id(res: &Response<Bytes>) -> String {
    let body: Value = serde_json::from_slice(res.body()).unwrap();
    body["user"]["id"].as_str().unwrap().to_owned()
}

fn sign_up_body() -> Value {
    json!({"email": "a@example.com", "password": "password1234", "name": "A"})
}

#[tokio::test]
async fn writing_the_cache_slides_the_account_cookie_in_stateless_mode() {
    let auth = stateless();
    let cookie = format!("{ACCOUNT}={}", account_for("someone"));
    let res = post(&auth, "/sign-up/email", &cookie, sign_up_body()).await;
    assert_eq!(res.status(), 200);
    let written = set_cookies(&res, ACCOUNT);
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(!written[0].contains("Max-Age=0"), "{}", written[0]);

    // No cache written, no account cookie written.
    let req = Request::get(format!("{BASE}/api/auth/ok"))
        .header(header::COOKIE, format!("{}; {cookie}", pairs(&res)))
        .body(Bytes::new())
        .unwrap();
    let res = auth.handle(req).await;
    assert_eq!(res.status(), 200);
    assert!(set_cookies(&res, ACCOUNT).is_empty());
}

#[tokio::test]
async fn with_a_database_only_the_session_users_account_slides() {
    let auth = with_database(true);
    let res = post(&auth, "/sign-up/email", "", sign_up_body()).await;
    let id = user_id(&res);
    let session = pairs(&res);

    let own = format!("{session}; {ACCOUNT}={}", account_for(&id));
    let body = json!({"email": "a@example.com", "password": "password1234"});
    let res = post(&auth, "/sign-in/email", &own, body.clone()).await;
    let written = set_cookies(&res, ACCOUNT);
    assert_eq!(written.len(), 1);
    assert!(!written[0].contains("Max-Age=0"), "{}", written[0]);

    let foreign = format!("{session}; {ACCOUNT}={}", account_for("another-user"));
    let res = post(&auth, "/sign-in/email", &foreign, body).await;
    let written = set_cookies(&res, ACCOUNT);
    assert_eq!(written.len(), 1);
    assert!(written[0].contains("Max-Age=0"), "{}", written[0]);
}

#[tokio::test]
async fn sign_out_expires_the_oauth_cookies_as_better_auth_does() {
    // Stateless: account cookie on, cookie state strategy: both expired.
    let auth = stateless();
    let res = post(&auth, "/sign-up/email", "", sign_up_body()).await;
    let res = post(&auth, "/sign-out", &pairs(&res), json!({})).await;
    assert!(set_cookies(&res, ACCOUNT)[0].contains("Max-Age=0"));
    assert!(set_cookies(&res, STATE)[0].contains("Max-Age=0"));

    // A database with the account cookie asked for: it is expired; the
    // state lives in the database, so `oauth_state` is left alone.
    let auth = with_database(true);
    let res = post(&auth, "/sign-up/email", "", sign_up_body()).await;
    let res = post(&auth, "/sign-out", &pairs(&res), json!({})).await;
    assert!(set_cookies(&res, ACCOUNT)[0].contains("Max-Age=0"));
    assert!(set_cookies(&res, STATE).is_empty());

    // Neither.
    let auth = with_database(false);
    let res = post(&auth, "/sign-up/email", "", sign_up_body()).await;
    let res = post(&auth, "/sign-out", &pairs(&res), json!({})).await;
    assert!(set_cookies(&res, ACCOUNT).is_empty());
    assert!(set_cookies(&res, STATE).is_empty());
}
