//! `Auth` over `SqlDatabase`, through `Auth::handle`: the flows a browser
//! goes through and the rows they leave, on SQLite and PostgreSQL; and the
//! number of database calls a session lookup costs.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tessera::store::Database;
use tessera::{Auth, Options, TestClock, Timestamp};
use tessera_sql::sqlx::{self, Row};
use tessera_sql::SqlDatabase;
use tessera_testkit::{send_auth, ClientCookies, TestRequest, TestResponse};

const SECRET: &str = "tessera-sql-test-secret-0123456789-abcdefghijklmnop";
const ORIGIN: &str = "http://localhost:3000";
const SESSION_TOKEN: &str = "better-auth.session_token";
const SESSION_DATA: &str = "better-auth.session_data";
const WEEK_MS: i64 = 604_800_000;

fn options() -> Options {
    Options::new()
        .secret(SECRET)
        .base_url(ORIGIN)
        .rate_limit(false)
        // The test client hands requests over in process (no socket peer)
        // with an X-Forwarded-For.
        .trust_headers_without_peer(true)
}

fn with_cookie_cache() -> Options {
    let mut o = options();
    o.session.cookie_cache.enabled = Some(true);
    o
}

fn build(options: Options, db: Arc<dyn Database>, clock: &TestClock) -> Auth {
    Auth::builder(options)
        .database(db)
        .clock(Arc::new(clock.clone()))
        .build()
        .expect("valid test configuration")
}

/// A browser: its cookies, sent to one `Auth`.
struct Browser {
    cookies: ClientCookies,
}

impl Browser {
    fn new() -> Self {
        Browser {
            cookies: ClientCookies::new(),
        }
    }

    async fn send(&mut self, auth: &Auth, req: TestRequest) -> TestResponse {
        let req = req
            .origin(ORIGIN)
            .header("user-agent", "tessera-sql-tests/1.0")
            .header("x-forwarded-for", "203.0.113.7")
            .cookies(&self.cookies);
        let res = send_auth(auth, ORIGIN, &req).await;
        self.cookies.update(&res);
        res
    }

    async fn post(&mut self, auth: &Auth, path: &str, body: Value) -> TestResponse {
        let res = self
            .send(
                auth,
                TestRequest::post(format!("/api/auth{path}")).json(&body),
            )
            .await;
        assert_eq!(res.status, 200, "POST {path}: {}", res.text);
        res
    }

    async fn get_session(&mut self, auth: &Auth) -> Value {
        let res = self
            .send(auth, TestRequest::get("/api/auth/get-session"))
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        res.json.unwrap_or(Value::Null)
    }

    async fn sign_up(&mut self, auth: &Auth, email: &str) -> TestResponse {
        self.post(
            auth,
            "/sign-up/email",
            json!({"email": email, "password": "password1234", "name": "Alice"}),
        )
        .await
    }

    async fn sign_in(&mut self, auth: &Auth, email: &str) -> TestResponse {
        self.post(
            auth,
            "/sign-in/email",
            json!({"email": email, "password": "password1234"}),
        )
        .await
    }
}

/// What the tables hold, read with SQL of its own (not through the trait).
#[derive(Debug)]
struct StoredSession {
    token: String,
    expires_at: Timestamp,
    created_at: Timestamp,
    updated_at: Timestamp,
    ip_address: Option<String>,
    user_agent: Option<String>,
}

async fn stored_sessions(db: &SqlDatabase) -> Vec<StoredSession> {
    // Dates as epoch milliseconds, whatever the dialect stores.
    const POSTGRES: &str = r#"select "token", (extract(epoch from "expiresAt") * 1000)::bigint, (extract(epoch from "createdAt") * 1000)::bigint, (extract(epoch from "updatedAt") * 1000)::bigint, "ipAddress", "userAgent" from "session" order by "createdAt", "token""#;
    const SQLITE: &str = r#"select "token", "expiresAt", "createdAt", "updatedAt", "ipAddress", "userAgent" from "session" order by "createdAt", "token""#;
    if let Some(pool) = db.postgres_pool() {
        let rows = sqlx::query(POSTGRES).fetch_all(pool).await.unwrap();
        rows.iter()
            .map(|r| StoredSession {
                token: r.get(0),
                expires_at: Timestamp::from_millis(r.get(1)),
                created_at: Timestamp::from_millis(r.get(2)),
                updated_at: Timestamp::from_millis(r.get(3)),
                ip_address: r.get(4),
                user_agent: r.get(5),
            })
            .collect()
    } else {
        let pool = db.sqlite_pool().unwrap();
        let rows = sqlx::query(SQLITE).fetch_all(pool).await.unwrap();
        let date = |s: String| {
            // better-auth's SQLite form: toISOString() text.
            assert_eq!(s.len(), 24, "{s}");
            Timestamp::parse_iso(&s).unwrap()
        };
        rows.iter()
            .map(|r| StoredSession {
                token: r.get(0),
                expires_at: date(r.get(1)),
                created_at: date(r.get(2)),
                updated_at: date(r.get(3)),
                ip_address: r.get(4),
                user_agent: r.get(5),
            })
            .collect()
    }
}

/// (email, emailVerified, providerId, accountId = user id, password) of
/// every user, with the credential account.
async fn stored_users(db: &SqlDatabase) -> Vec<(String, bool, String, bool, String)> {
    const SQL: &str = r#"select u."email", u."emailVerified", a."providerId", a."accountId" = u."id", a."password" from "user" u join "account" a on a."userId" = u."id" order by u."email""#;
    macro_rules! read {
        ($pool:expr) => {
            sqlx::query(SQL)
                .fetch_all($pool)
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
                .collect()
        };
    }
    match (db.postgres_pool(), db.sqlite_pool()) {
        (Some(pool), _) => read!(pool),
        (_, Some(pool)) => read!(pool),
        _ => unreachable!(),
    }
}

fn is_scrypt_hash(s: &str) -> bool {
    let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit());
    matches!(s.split_once(':'), Some((salt, key)) if hex(salt, 32) && hex(key, 128))
}

/// Sign-up, sign-in on a second device, get-session, refresh after
/// updateAge, revoke the other device, sign out: the rows after each step.
async fn browser_flows_leave_the_expected_rows(db: SqlDatabase) {
    let clock = TestClock::at(at(0));
    let auth = build(options(), Arc::new(db.clone()), &clock);
    let mut phone = Browser::new();
    let mut laptop = Browser::new();

    let up = phone.sign_up(&auth, "Alice@Example.com").await;
    let phone_token = up.json.as_ref().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let users = stored_users(&db).await;
    assert_eq!(users.len(), 1, "{users:?}");
    let (email, verified, provider, account_is_user, password) = &users[0];
    assert_eq!(email, "alice@example.com", "stored lowercased");
    assert!(!verified);
    assert_eq!(provider, "credential");
    assert!(account_is_user, "accountId is the user id");
    assert!(is_scrypt_hash(password), "{password}");

    clock.advance(Duration::from_millis(1_234));
    let laptop_token = laptop
        .sign_in(&auth, "alice@example.com")
        .await
        .json
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let rows = stored_sessions(&db).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0].token, phone_token);
    assert_eq!(rows[1].token, laptop_token);
    assert_eq!(rows[1].created_at, at(1_234), "millisecond precision");
    for row in &rows {
        assert_eq!(row.token.len(), 32);
        assert_eq!(
            row.expires_at.as_millis(),
            row.created_at.as_millis() + WEEK_MS
        );
        assert_eq!(row.updated_at, row.created_at);
        assert_eq!(row.ip_address.as_deref(), Some("203.0.113.7"));
        assert_eq!(row.user_agent.as_deref(), Some("tessera-sql-tests/1.0"));
    }

    let s = phone.get_session(&auth).await;
    assert_eq!(s["user"]["email"], "alice@example.com");
    assert_eq!(s["session"]["token"], phone_token.as_str());

    // A day and a second later the phone's session is due for refresh.
    clock.advance(Duration::from_secs(86_401));
    let now = clock_now(&clock);
    let res = phone
        .send(&auth, TestRequest::get("/api/auth/get-session"))
        .await;
    assert!(res.set_cookie(SESSION_TOKEN).is_some(), "re-issued cookie");
    let rows = stored_sessions(&db).await;
    let phone_row = rows.iter().find(|r| r.token == phone_token).unwrap();
    assert_eq!(phone_row.expires_at.as_millis(), now.as_millis() + WEEK_MS);
    assert_eq!(phone_row.updated_at, now);
    assert_eq!(phone_row.created_at, at(0), "refresh never moves createdAt");

    // The phone revokes the laptop.
    phone
        .post(&auth, "/revoke-session", json!({"token": laptop_token}))
        .await;
    assert_eq!(laptop.get_session(&auth).await, Value::Null);
    let rows = stored_sessions(&db).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].token, phone_token);

    phone.post(&auth, "/sign-out", json!({})).await;
    assert_eq!(phone.get_session(&auth).await, Value::Null);
    assert!(stored_sessions(&db).await.is_empty());
    assert_eq!(stored_users(&db).await.len(), 1, "the user stays");
}

fn clock_now(clock: &TestClock) -> Timestamp {
    use tessera::Clock;
    clock.now()
}

#[tokio::test]
async fn sqlite_browser_flows_leave_the_expected_rows() {
    let fixture = sqlite().await;
    browser_flows_leave_the_expected_rows(fixture.sql.clone().unwrap()).await;
}

#[tokio::test]
async fn postgres_browser_flows_leave_the_expected_rows() {
    let Some(fixture) = postgres().await else {
        return;
    };
    browser_flows_leave_the_expected_rows(fixture.sql.clone().unwrap()).await;
}

#[tokio::test]
async fn sqlite_sessions_survive_a_restart() {
    let fixture = sqlite().await;
    let path = fixture.label.clone();
    let clock = TestClock::at(at(0));
    let mut browser = Browser::new();
    {
        let db = SqlDatabase::open_sqlite(&path).await.unwrap();
        let auth = build(options(), Arc::new(db.clone()), &clock);
        browser.sign_up(&auth, "alice@example.com").await;
        db.close().await;
    }
    // A new process: a new pool on the same file, migrations a no-op.
    let db = SqlDatabase::open_sqlite(&path).await.unwrap();
    assert!(db.migrate().await.unwrap().applied.is_empty());
    let auth = build(options(), Arc::new(db), &clock);
    assert_eq!(
        browser.get_session(&auth).await["user"]["email"],
        "alice@example.com"
    );
    browser.sign_in(&auth, "alice@example.com").await;
}

/// The database calls behind each kind of `/get-session`, through the
/// kernel: a miss of the cookie cache costs exactly one call (one joined
/// statement), a hit costs none but the revocation log's read, at most once
/// per half `session.revocationLag` (1 s by default).
async fn session_lookups_cost_one_call_or_none(db: SqlDatabase) {
    let counted = Arc::new(CountingDatabase::new(db));
    let clock = TestClock::at(at(0));

    // No cookie cache: every lookup is a miss.
    let auth = build(options(), counted.clone(), &clock);
    let mut browser = Browser::new();
    browser.sign_up(&auth, "alice@example.com").await;
    assert_eq!(
        counted.take(),
        [
            "find_user_by_email",
            "create_user_with_account",
            "create_session"
        ]
    );
    assert_eq!(
        browser.get_session(&auth).await["user"]["email"],
        "alice@example.com"
    );
    assert_eq!(counted.take(), ["find_session"]);
    // Due for refresh: the lookup, then the one update.
    clock.advance(Duration::from_secs(86_401));
    browser.get_session(&auth).await;
    assert_eq!(counted.take(), ["find_session", "update_session"]);
    browser.sign_in(&auth, "alice@example.com").await;
    assert_eq!(
        counted.take(),
        ["find_user_with_credential", "create_session"]
    );

    // Cookie cache on: a hit needs no session lookup; the first one reads
    // the revocation log, the next ones within half a lag read nothing.
    let auth = build(with_cookie_cache(), counted.clone(), &clock);
    let mut browser = Browser::new();
    browser.sign_in(&auth, "alice@example.com").await;
    assert!(browser.cookies.get(SESSION_DATA).is_some());
    counted.take();
    for hit in 0..3 {
        assert_eq!(
            browser.get_session(&auth).await["user"]["email"],
            "alice@example.com"
        );
        let expected: &[&str] = if hit == 0 { &["read_revocations"] } else { &[] };
        assert_eq!(counted.take(), expected, "hit {hit}");
    }
    // Past the cache's max age (300 s): one call, and the cache is rewritten.
    clock.advance(Duration::from_secs(301));
    browser.get_session(&auth).await;
    assert_eq!(counted.take(), ["find_session"]);
    // A hit: the log was last read 301 s ago, so it is read again.
    browser.get_session(&auth).await;
    assert_eq!(counted.take(), ["read_revocations"]);
    browser.get_session(&auth).await;
    assert_eq!(counted.take(), Vec::<&str>::new());
}

#[tokio::test]
async fn sqlite_session_lookups_cost_one_call_or_none() {
    let fixture = sqlite().await;
    session_lookups_cost_one_call_or_none(fixture.sql.clone().unwrap()).await;
}

#[tokio::test]
async fn postgres_session_lookups_cost_one_call_or_none() {
    let Some(fixture) = postgres().await else {
        return;
    };
    session_lookups_cost_one_call_or_none(fixture.sql.clone().unwrap()).await;
}

#[tokio::test]
async fn a_closed_pool_answers_503_and_never_leaks_details() {
    let fixture = sqlite().await;
    let db = fixture.sql.clone().unwrap();
    let clock = TestClock::at(at(0));
    let auth = build(options(), Arc::new(db.clone()), &clock);
    let mut browser = Browser::new();
    browser.sign_up(&auth, "alice@example.com").await;
    db.close().await;
    let res = Browser::new()
        .send(
            &auth,
            TestRequest::post("/api/auth/sign-in/email")
                .json(&json!({"email": "alice@example.com", "password": "password1234"})),
        )
        .await;
    assert_eq!(res.status, 503, "{}", res.text);
    assert_eq!(res.code(), Some("STORAGE_UNAVAILABLE"));
    let res = browser
        .send(
            &auth,
            TestRequest::post("/api/auth/sign-out").json(&json!({})),
        )
        .await;
    assert_eq!(
        res.status, 503,
        "a sign-out that did not happen is not reported as done"
    );
    // An unreachable store is a 503 on session lookups too, so clients
    // retry instead of treating the answer as "signed out".
    let res = browser
        .send(&auth, TestRequest::get("/api/auth/get-session"))
        .await;
    assert_eq!(res.status, 503, "{}", res.text);
    assert_eq!(res.code(), Some("STORAGE_UNAVAILABLE"));
    assert!(
        !res.text.contains("sqlx") && !res.text.contains("pool"),
        "{}",
        res.text
    );
}

/// `/get-session` with a copy of `cookies`, untouched by what the answer
/// sets.
async fn get_session_with(auth: &Auth, cookies: &ClientCookies) -> Value {
    Browser {
        cookies: cookies.clone(),
    }
    .get_session(auth)
    .await
}

/// Two processes over one database, cookie cache on: a sign-out on A
/// reaches B's cookie-cache hits within `session.revocationLag` (1 s)
/// through `tessera_revocation`. A third process without the lag, as
/// better-auth behaves, still takes the cached session: the control that
/// shows the first answer comes from the log.
async fn revocations_reach_the_other_process_within_the_lag(a: SqlDatabase, b: SqlDatabase) {
    let clock = TestClock::at(at(0));
    let counted_b = Arc::new(CountingDatabase::new(b.clone()));
    let process_a = build(with_cookie_cache(), Arc::new(a), &clock);
    let process_b = build(with_cookie_cache(), counted_b.clone(), &clock);
    let mut lagless = with_cookie_cache();
    lagless.session.revocation_lag = None;
    let process_c = build(lagless, Arc::new(b), &clock);

    let mut browser = Browser::new();
    browser.sign_up(&process_a, "alice@example.com").await;
    // What a client (or an attacker) holding the cookies keeps presenting.
    let stolen = browser.cookies.clone();
    assert_eq!(
        get_session_with(&process_b, &stolen).await["user"]["email"],
        "alice@example.com"
    );
    assert!(
        !counted_b.take().contains(&"find_session"),
        "B answered from the cookie cache"
    );
    assert_eq!(
        get_session_with(&process_c, &stolen).await["user"]["email"],
        "alice@example.com"
    );

    clock.advance(Duration::from_millis(100));
    browser.post(&process_a, "/sign-out", json!({})).await;
    clock.advance(Duration::from_millis(1_000));

    assert_eq!(
        get_session_with(&process_b, &stolen).await,
        Value::Null,
        "revoked on B within the lag"
    );
    assert!(counted_b.take().contains(&"read_revocations"));
    assert_eq!(
        get_session_with(&process_c, &stolen).await["user"]["email"],
        "alice@example.com",
        "without the lag the cache outlives the sign-out, as in better-auth"
    );

    // The other kinds of revocation, each for a user of its own with a
    // second session that does the revoking.
    for kind in [
        "revoke-session",
        "revoke-sessions",
        "revoke-other-sessions",
        "all of the user's sessions",
    ] {
        let email = format!("{}@example.com", kind.replace(' ', "-").replace('\'', ""));
        let mut victim = Browser::new();
        victim.sign_up(&process_a, &email).await;
        let mut other = Browser::new();
        other.sign_in(&process_a, &email).await;
        let stolen = victim.cookies.clone();
        let on_b = get_session_with(&process_b, &stolen).await;
        assert_eq!(on_b["user"]["email"], email.as_str(), "{kind}");
        clock.advance(Duration::from_millis(100));
        match kind {
            "revoke-session" => {
                let token = on_b["session"]["token"].clone();
                other
                    .post(&process_a, "/revoke-session", json!({ "token": token }))
                    .await;
            }
            "revoke-sessions" | "revoke-other-sessions" => {
                other.post(&process_a, &format!("/{kind}"), json!({})).await;
            }
            _ => {
                let user = on_b["user"]["id"].as_str().unwrap().to_owned();
                process_a
                    .sessions()
                    .delete_user_sessions(&user, clock_now(&clock))
                    .await
                    .unwrap();
            }
        }
        clock.advance(Duration::from_millis(1_000));
        assert_eq!(
            get_session_with(&process_b, &stolen).await,
            Value::Null,
            "{kind}: revoked on B within the lag"
        );
    }
}

#[tokio::test]
async fn sqlite_revocations_reach_the_other_process_within_the_lag() {
    let fixture = sqlite().await;
    // Each process with its own pool on the same file.
    let other = SqlDatabase::open_sqlite(&fixture.label).await.unwrap();
    revocations_reach_the_other_process_within_the_lag(fixture.sql.clone().unwrap(), other).await;
}

#[tokio::test]
async fn postgres_revocations_reach_the_other_process_within_the_lag() {
    let Some((schema, options)) = postgres_schema().await else {
        return;
    };
    // Each process with its own pool on the same schema.
    let a = SqlDatabase::connect_postgres(options.clone())
        .await
        .unwrap();
    let b = SqlDatabase::connect_postgres(options).await.unwrap();
    let _cleanup = postgres_fixture(schema, a.clone());
    a.migrate().await.unwrap();
    revocations_reach_the_other_process_within_the_lag(a, b).await;
}
