//! Tessera and the real better-auth 1.7.25 on one PostgreSQL schema: the
//! tables better-auth's own migrations create are the tables Tessera
//! reads and writes, so users, passwords and sessions cross over both ways.
//!
//! Needs PostgreSQL (`DATABASE_URL`) and the reference server (node + npm);
//! without them the test skips with a banner, or fails under `CI=true`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tessera::{Auth, Options, SystemClock, TestClock};
use tessera_sql::sqlx::{self, PgPool, Row};
use tessera_sql::{SqlDatabase, MIGRATIONS};
use tessera_testkit::{require_refserver, ClientCookies, Target, TestRequest, TestResponse};

const SECRET: &str = "differential-secret-0123456789-abcdefghijklmnopqrstuvwxyz";

/// Sends `req` with `cookies` (from the target's own origin) and keeps
/// what it sets.
async fn send(
    target: &Target,
    origin: &str,
    cookies: &mut ClientCookies,
    req: TestRequest,
) -> TestResponse {
    let res = target
        .send(
            &req.origin(origin)
                .header("user-agent", "tessera-differential/1.0")
                .cookies(cookies),
        )
        .await;
    cookies.update(&res);
    res
}

async fn post(
    target: &Target,
    origin: &str,
    cookies: &mut ClientCookies,
    path: &str,
    body: Value,
) -> TestResponse {
    let res = send(
        target,
        origin,
        cookies,
        TestRequest::post(format!("/api/auth{path}")).json(&body),
    )
    .await;
    assert_eq!(
        res.status,
        200,
        "{} POST {path}: {}",
        target.label(),
        res.text
    );
    res
}

async fn get_session(target: &Target, origin: &str, cookies: &mut ClientCookies) -> Value {
    let res = send(
        target,
        origin,
        cookies,
        TestRequest::get("/api/auth/get-session"),
    )
    .await;
    assert_eq!(res.status, 200, "{}: {}", target.label(), res.text);
    res.json.unwrap_or(Value::Null)
}

/// Columns (name, type, nullable, default) and indexes of the better-auth
/// tables in the pool's schema.
async fn shape(pool: &PgPool) -> (Vec<String>, Vec<String>) {
    let columns = sqlx::query(
        "select table_name::text || '.' || column_name::text || ' ' || data_type::text || ' ' \
         || is_nullable::text || ' ' || coalesce(column_default, '')::text \
         from information_schema.columns where table_schema = current_schema() \
         and table_name in ('user', 'session', 'account', 'verification') \
         order by table_name, ordinal_position",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect();
    let indexes = sqlx::query(
        "select indexname::text || ': ' || indexdef::text from pg_indexes \
         where schemaname = current_schema() \
         and tablename in ('user', 'session', 'account', 'verification') order by indexname",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        let def: String = r.get(0);
        // indexdef names the schema, which differs between the two.
        def.replace(&format!("{}.", current_schema_of(&def)), "")
    })
    .collect();
    (columns, indexes)
}

/// The `schema.` in `… ON schema.table …`.
fn current_schema_of(indexdef: &str) -> String {
    indexdef
        .split(" ON ")
        .nth(1)
        .and_then(|rest| rest.split('.').next())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn tessera_and_better_auth_share_one_postgres_schema() {
    let Some((schema, options)) = postgres_schema().await else {
        return;
    };
    let server = require_refserver!(&[
        ("MODE", "postgres"),
        ("DATABASE_URL", postgres_url().as_str()),
        ("DB_SCHEMA", schema.as_str()),
        ("SECRET", SECRET),
    ]);
    let db = SqlDatabase::connect_postgres(options).await.unwrap();
    let _cleanup = postgres_fixture(schema, db.clone());
    let pool = db.postgres_pool().unwrap().clone();

    // Tessera's migrations change nothing in better-auth's tables.
    let before = shape(&pool).await;
    assert_eq!(
        before.0.len(),
        34,
        "better-auth created its tables: {before:?}"
    );
    let migrated = db.migrate().await.unwrap();
    assert_eq!(
        migrated.applied.len(),
        MIGRATIONS.len(),
        "recorded in tessera_migrations"
    );
    assert_eq!(
        shape(&pool).await,
        before,
        "a no-op on better-auth's tables"
    );
    // And the tables are the ones Tessera creates by itself.
    if let Some(own) = postgres().await {
        let own_pool = own.sql.as_ref().unwrap().postgres_pool().unwrap().clone();
        assert_eq!(shape(&own_pool).await, before);
    }

    let origin = server.base_url().to_owned();
    let better_auth = Target::http(&origin);
    // better-auth checks expiry against the real time.
    let clock = TestClock::at(tessera::Clock::now(&SystemClock));
    let auth = Auth::builder(
        Options::new()
            .secret(SECRET)
            .base_url(&origin)
            .rate_limit(false),
    )
    .database(Arc::new(db.clone()))
    .clock(Arc::new(clock.clone()))
    .build()
    .unwrap();
    let tessera = Target::auth(auth, &origin);

    // Signed up on better-auth, signed in on Tessera with that password.
    let mut a_ba = ClientCookies::new();
    post(
        &better_auth,
        &origin,
        &mut a_ba,
        "/sign-up/email",
        json!({"email": "Ann@Example.com", "password": "password1234", "name": "Ann"}),
    )
    .await;
    let mut a_ts = ClientCookies::new();
    let signed_in = post(
        &tessera,
        &origin,
        &mut a_ts,
        "/sign-in/email",
        json!({"email": "ann@example.com", "password": "password1234"}),
    )
    .await;
    let ts_token = signed_in.json.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Tessera's cookie on better-auth: the same session, as Tessera sees it.
    let on_ba = get_session(&better_auth, &origin, &mut a_ts.clone()).await;
    let on_ts = get_session(&tessera, &origin, &mut a_ts).await;
    assert_eq!(on_ba["session"]["token"], ts_token.as_str(), "{on_ba}");
    for field in [
        "id",
        "token",
        "userId",
        "expiresAt",
        "createdAt",
        "updatedAt",
        "userAgent",
    ] {
        assert_eq!(
            on_ba["session"][field], on_ts["session"][field],
            "session.{field}"
        );
    }
    for field in [
        "id",
        "email",
        "name",
        "emailVerified",
        "createdAt",
        "updatedAt",
    ] {
        assert_eq!(on_ba["user"][field], on_ts["user"][field], "user.{field}");
    }
    assert_eq!(on_ts["user"]["email"], "ann@example.com");

    // Revoked on better-auth, rejected on Tessera.
    post(
        &better_auth,
        &origin,
        &mut a_ba,
        "/revoke-session",
        json!({"token": ts_token}),
    )
    .await;
    assert_eq!(get_session(&tessera, &origin, &mut a_ts).await, Value::Null);

    // Signed up on Tessera, signed in on better-auth; revoked on Tessera,
    // rejected on better-auth.
    let mut b_ts = ClientCookies::new();
    post(
        &tessera,
        &origin,
        &mut b_ts,
        "/sign-up/email",
        json!({"email": "bob@example.com", "password": "password5678", "name": "Bob"}),
    )
    .await;
    let mut b_ba = ClientCookies::new();
    let res = post(
        &better_auth,
        &origin,
        &mut b_ba,
        "/sign-in/email",
        json!({"email": "bob@example.com", "password": "password5678"}),
    )
    .await;
    let ba_token = res.json.unwrap()["token"].as_str().unwrap().to_owned();
    assert_eq!(
        get_session(&tessera, &origin, &mut b_ba.clone()).await["session"]["token"],
        ba_token.as_str()
    );

    // A refresh written by Tessera (its clock a day ahead) is read back by
    // better-auth to the millisecond.
    clock.advance(Duration::from_secs(86_401));
    let refreshed = get_session(&tessera, &origin, &mut b_ts).await;
    let on_ba = get_session(&better_auth, &origin, &mut b_ts.clone()).await;
    assert_eq!(
        on_ba["session"]["expiresAt"],
        refreshed["session"]["expiresAt"]
    );
    assert_eq!(
        on_ba["session"]["updatedAt"],
        refreshed["session"]["updatedAt"]
    );

    post(
        &tessera,
        &origin,
        &mut b_ts,
        "/revoke-session",
        json!({"token": ba_token}),
    )
    .await;
    assert_eq!(
        get_session(&better_auth, &origin, &mut b_ba).await,
        Value::Null
    );

    // What each wrote, the other reads: both users, one credential each.
    let rows: Vec<(String, bool, String)> = sqlx::query(
        r#"select u."email", u."emailVerified", a."providerId" from "user" u join "account" a on a."userId" = u."id" order by u."email""#,
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect();
    assert_eq!(
        rows,
        [
            ("ann@example.com".to_owned(), false, "credential".to_owned()),
            ("bob@example.com".to_owned(), false, "credential".to_owned())
        ]
    );
}
