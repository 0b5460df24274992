//! Opening databases: URL schemes, SQLite files, and PostgreSQL servers
//! that are not there.

mod common;

use std::error::Error as _;
use std::time::Duration;

use tessera::store::{Database, StoreError};
use tessera_sql::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tessera_sql::{ConnectError, Dialect, SqlDatabase};

#[tokio::test]
async fn unreachable_postgres_is_a_clear_connect_error() {
    let url = "postgres://postgres:hunter2@127.0.0.1:1/test";
    let err = SqlDatabase::connect(url)
        .await
        .expect_err("nothing listens on port 1");
    assert!(matches!(err, ConnectError::Postgres { .. }), "{err:?}");
    let message = err.to_string();
    assert_eq!(message, "cannot connect to PostgreSQL at 127.0.0.1:1/test");
    let cause = err.source().expect("the cause is kept").to_string();
    assert!(cause.to_lowercase().contains("refused"), "{cause}");
    assert!(!format!("{message} {cause}").contains("hunter2"));
}

#[tokio::test]
async fn a_server_gone_after_start_up_is_unavailable() {
    // A pool whose server refuses connections: the store reports
    // Unavailable (the API answers 503) once the acquire timeout passes.
    let options = PgConnectOptions::new().host("127.0.0.1").port(1);
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(300))
        .connect_lazy_with(options);
    let db = SqlDatabase::from_postgres_pool(pool);
    let err = db.find_session("token").await.expect_err("no server");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn urls_pick_the_dialect() {
    let db = SqlDatabase::connect("sqlite::memory:").await.unwrap();
    assert_eq!(db.dialect(), Dialect::Sqlite);
    db.migrate().await.unwrap();
    // One in-memory database for the whole pool: what one call wrote, the
    // next reads.
    db.create_user(&common::user("u1", "a@example.com"))
        .await
        .unwrap();
    assert!(db.find_user_by_id("u1").await.unwrap().is_some());

    for bad in ["mysql://root@db/x", "memory", "tessera.db"] {
        let err = SqlDatabase::connect(bad).await.expect_err(bad);
        assert!(
            matches!(err, ConnectError::UnsupportedScheme { .. }),
            "{bad}: {err:?}"
        );
    }
}

#[tokio::test]
async fn sqlite_urls_create_the_file_in_wal_mode() {
    let dir = std::env::temp_dir().join(format!("tessera-sql-url-{}", common::random_suffix(10)));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("app.db");
    let db = SqlDatabase::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert!(path.exists(), "created if missing");
    let pool = db.sqlite_pool().unwrap();
    let mode: String = tessera_sql::sqlx::query_scalar("pragma journal_mode")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let fk: i64 = tessera_sql::sqlx::query_scalar("pragma foreign_keys")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(fk, 1);
    db.close().await;

    // A directory that does not exist: an error naming the file.
    let missing = dir.join("no/such/dir/app.db");
    let err = SqlDatabase::open_sqlite(&missing)
        .await
        .expect_err("no dir");
    assert!(err.to_string().contains("app.db"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
