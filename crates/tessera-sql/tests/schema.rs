//! The schema is better-auth's own, and migrations are idempotent.

mod common;

use common::*;
use tessera_sql::sqlx::{self, Row};
use tessera_sql::{Dialect, SqlDatabase, MIGRATIONS};

/// better-auth 1.7.25's `getMigrations(...).compileMigrations()` for an
/// empty database of each dialect, with Kysely's `DummyDriver` (no server
/// needed: introspection finds no tables, so everything is created).
const COMPILE_MIGRATIONS: &str = r#"
import { Kysely, DummyDriver, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler,
         PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler } from "kysely";
import { getMigrations } from "better-auth/db/migration";
const dialects = {
  sqlite: { createAdapter: () => new SqliteAdapter(), createDriver: () => new DummyDriver(),
            createIntrospector: (db) => new SqliteIntrospector(db), createQueryCompiler: () => new SqliteQueryCompiler() },
  postgres: { createAdapter: () => new PostgresAdapter(), createDriver: () => new DummyDriver(),
              createIntrospector: (db) => new PostgresIntrospector(db), createQueryCompiler: () => new PostgresQueryCompiler() },
};
const out = {};
for (const [type, dialect] of Object.entries(dialects)) {
  const db = new Kysely({ dialect });
  const m = await getMigrations({ database: { db, type }, emailAndPassword: { enabled: true },
    telemetry: { enabled: false }, logger: { disabled: true }, secret: "x".repeat(40) });
  out[type] = (await m.compileMigrations()).split(";").map((s) => s.trim()).filter(Boolean);
}
console.log(JSON.stringify(out));
"#;

#[test]
fn ddl_is_what_better_auth_itself_runs() {
    tessera_testkit::require_node!();
    let out = tessera_testkit::node_eval(COMPILE_MIGRATIONS).expect("better-auth compiles its DDL");
    let better_auth: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    for (dialect, key) in [(Dialect::Sqlite, "sqlite"), (Dialect::Postgres, "postgres")] {
        let theirs: Vec<&str> = better_auth[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        // Ours are theirs with `if not exists`, so that running them on
        // tables better-auth created changes nothing.
        let ours: Vec<String> = MIGRATIONS[0]
            .statements(dialect)
            .iter()
            .map(|s| s.replace(" if not exists", ""))
            .collect();
        assert_eq!(ours, theirs, "{key}");
    }
}

/// better-auth's four tables are better-auth's (migration 1, checked
/// above); every later migration creates only Tessera's own `tessera_*`
/// tables and indexes and never names one of better-auth's.
#[test]
fn later_migrations_touch_only_tesseras_own_tables() {
    let theirs = [
        r#""user""#,
        r#""session""#,
        r#""account""#,
        r#""verification""#,
    ];
    for migration in &MIGRATIONS[1..] {
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            for statement in migration.statements(dialect) {
                assert!(
                    statement.starts_with(r#"create table if not exists "tessera_"#)
                        || statement.starts_with(r#"create index if not exists "tessera_"#),
                    "{}: {statement}",
                    migration.version
                );
                assert!(
                    theirs.iter().all(|t| !statement.contains(t)),
                    "{}: {statement}",
                    migration.version
                );
            }
        }
    }
}

async fn migrations_are_idempotent(db: &SqlDatabase) {
    // The fixture migrated once already.
    let again = db.migrate().await.unwrap();
    assert!(again.applied.is_empty(), "{again:?}");
    assert_eq!(again.version, MIGRATIONS.last().unwrap().version);
    let sql = r#"select "version", "name" from "tessera_migrations" order by "version""#;
    let rows: Vec<(i64, String)> = match (db.sqlite_pool(), db.postgres_pool()) {
        (Some(pool), _) => sqlx::query(sql)
            .fetch_all(pool)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect(),
        (_, Some(pool)) => sqlx::query(sql)
            .fetch_all(pool)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect(),
        _ => unreachable!(),
    };
    let all: Vec<(i64, String)> = MIGRATIONS
        .iter()
        .map(|m| (m.version, m.name.to_owned()))
        .collect();
    assert_eq!(rows, all);
    assert_eq!(all.iter().map(|(v, _)| *v).collect::<Vec<_>>(), [1, 2]);
}

#[tokio::test]
async fn sqlite_migrations_are_idempotent() {
    let fixture = sqlite().await;
    migrations_are_idempotent(fixture.sql.as_ref().unwrap()).await;
}

#[tokio::test]
async fn postgres_migrations_are_idempotent() {
    let Some(fixture) = postgres().await else {
        return;
    };
    migrations_are_idempotent(fixture.sql.as_ref().unwrap()).await;
}

#[tokio::test]
async fn concurrent_migrations_on_one_sqlite_file_both_succeed() {
    let fixture = sqlite().await; // already migrated: start from a new file
    let path = std::path::Path::new(&fixture.label).with_file_name("concurrent.db");
    let (a, b) = (
        SqlDatabase::open_sqlite(&path).await.unwrap(),
        SqlDatabase::open_sqlite(&path).await.unwrap(),
    );
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(
        ra.applied.len() + rb.applied.len(),
        MIGRATIONS.len(),
        "applied once"
    );
}

#[tokio::test]
async fn concurrent_migrations_on_one_postgres_schema_both_succeed() {
    let Some((schema, options)) = postgres_schema().await else {
        return;
    };
    let a = SqlDatabase::connect_postgres(options.clone())
        .await
        .unwrap();
    let b = SqlDatabase::connect_postgres(options).await.unwrap();
    let _cleanup = postgres_fixture(schema, a.clone());
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(
        ra.applied.len() + rb.applied.len(),
        MIGRATIONS.len(),
        "applied once"
    );
}

/// `information_schema.columns` as `shared/refserver/README.md` records it
/// for better-auth 1.7.25 on PostgreSQL 15 (`MODE=postgres`).
const BETTER_AUTH_COLUMNS: &[(&str, &str, &str, &str, &str)] = &[
    ("account", "id", "text", "NO", ""),
    ("account", "accountId", "text", "NO", ""),
    ("account", "providerId", "text", "NO", ""),
    ("account", "userId", "text", "NO", ""),
    ("account", "accessToken", "text", "YES", ""),
    ("account", "refreshToken", "text", "YES", ""),
    ("account", "idToken", "text", "YES", ""),
    (
        "account",
        "accessTokenExpiresAt",
        "timestamp with time zone",
        "YES",
        "",
    ),
    (
        "account",
        "refreshTokenExpiresAt",
        "timestamp with time zone",
        "YES",
        "",
    ),
    ("account", "scope", "text", "YES", ""),
    ("account", "password", "text", "YES", ""),
    (
        "account",
        "createdAt",
        "timestamp with time zone",
        "NO",
        "CURRENT_TIMESTAMP",
    ),
    ("account", "updatedAt", "timestamp with time zone", "NO", ""),
    ("session", "id", "text", "NO", ""),
    ("session", "expiresAt", "timestamp with time zone", "NO", ""),
    ("session", "token", "text", "NO", ""),
    (
        "session",
        "createdAt",
        "timestamp with time zone",
        "NO",
        "CURRENT_TIMESTAMP",
    ),
    ("session", "updatedAt", "timestamp with time zone", "NO", ""),
    ("session", "ipAddress", "text", "YES", ""),
    ("session", "userAgent", "text", "YES", ""),
    ("session", "userId", "text", "NO", ""),
    ("user", "id", "text", "NO", ""),
    ("user", "name", "text", "NO", ""),
    ("user", "email", "text", "NO", ""),
    ("user", "emailVerified", "boolean", "NO", ""),
    ("user", "image", "text", "YES", ""),
    (
        "user",
        "createdAt",
        "timestamp with time zone",
        "NO",
        "CURRENT_TIMESTAMP",
    ),
    (
        "user",
        "updatedAt",
        "timestamp with time zone",
        "NO",
        "CURRENT_TIMESTAMP",
    ),
    ("verification", "id", "text", "NO", ""),
    ("verification", "identifier", "text", "NO", ""),
    ("verification", "value", "text", "NO", ""),
    (
        "verification",
        "expiresAt",
        "timestamp with time zone",
        "NO",
        "",
    ),
    (
        "verification",
        "createdAt",
        "timestamp with time zone",
        "NO",
        "CURRENT_TIMESTAMP",
    ),
    (
        "verification",
        "updatedAt",
        "timestamp with time zone",
        "NO",
        "CURRENT_TIMESTAMP",
    ),
];

/// `pg_indexes` / constraints as the README records them.
const BETTER_AUTH_INDEXES: &[&str] = &[
    "account_pkey",
    "account_userId_idx",
    "session_pkey",
    "session_token_key",
    "session_userId_idx",
    "user_email_key",
    "user_pkey",
    "verification_identifier_idx",
    "verification_pkey",
];

#[tokio::test]
async fn postgres_tables_match_better_auths() {
    let Some(fixture) = postgres().await else {
        return;
    };
    let pool = fixture.sql.as_ref().unwrap().postgres_pool().unwrap();
    // better-auth's four, and Tessera's own two (left out below).
    let tables: Vec<String> = sqlx::query_scalar(
        "select table_name::text from information_schema.tables \
         where table_schema = current_schema() order by table_name",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(
        tables,
        [
            "account",
            "session",
            "tessera_migrations",
            "tessera_revocation",
            "user",
            "verification"
        ]
    );
    let columns: Vec<(String, String, String, String, String)> = sqlx::query(
        "select table_name::text, column_name::text, data_type::text, is_nullable::text, \
         coalesce(column_default, '')::text from information_schema.columns \
         where table_schema = current_schema() and table_name not like 'tessera\\_%' \
         order by table_name, ordinal_position",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
    .collect();
    let expected: Vec<(String, String, String, String, String)> = BETTER_AUTH_COLUMNS
        .iter()
        .map(|(t, c, d, n, def)| {
            (
                t.to_string(),
                c.to_string(),
                d.to_string(),
                n.to_string(),
                def.to_string(),
            )
        })
        .collect();
    assert_eq!(columns, expected);

    let indexes: Vec<String> = sqlx::query_scalar(
        "select indexname::text from pg_indexes where schemaname = current_schema() \
         and tablename not like 'tessera\\_%' order by indexname",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(indexes, BETTER_AUTH_INDEXES);

    let cascades: Vec<(String, String)> = sqlx::query(
        "select conname::text, confdeltype::text from pg_constraint \
         where contype = 'f' and connamespace = current_schema()::regnamespace order by conname",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    assert_eq!(
        cascades,
        [
            ("account_userId_fkey".to_owned(), "c".to_owned()),
            ("session_userId_fkey".to_owned(), "c".to_owned())
        ]
    );
}

#[tokio::test]
async fn sqlite_stores_dates_and_booleans_as_better_auth_does() {
    let fixture = sqlite().await;
    let db = fixture.sql.as_ref().unwrap();
    use tessera::store::Database;
    db.create_user(&tessera::User {
        email_verified: true,
        ..user("u1", "alice@example.com")
    })
    .await
    .unwrap();
    let pool = db.sqlite_pool().unwrap();
    let (verified, created, kind): (i64, String, String) =
        sqlx::query_as(r#"select "emailVerified", "createdAt", typeof("createdAt") from "user""#)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(verified, 1);
    assert_eq!(created, "2026-11-28T00:00:00.000Z");
    assert_eq!(kind, "text");
    let types: Vec<(String, String)> =
        sqlx::query_as(r#"select "name", "type" from pragma_table_info('session') order by "cid""#)
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(
        types,
        [
            ("id", "TEXT"),
            ("expiresAt", "date"),
            ("token", "TEXT"),
            ("createdAt", "date"),
            ("updatedAt", "date"),
            ("ipAddress", "TEXT"),
            ("userAgent", "TEXT"),
            ("userId", "TEXT"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
}
