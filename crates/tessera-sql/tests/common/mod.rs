//! Fixtures shared by the integration tests: a database per backend
//! (memory, a SQLite temp file, a PostgreSQL schema of its own), records to
//! store, and a `Database` wrapper that counts calls.

#![allow(dead_code)]

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rand::distributions::Alphanumeric;
use rand::Rng;
use tessera::store::{
    Account, Database, MemoryDatabase, RevocationPage, Session, SessionUpdate, SessionWithUser,
    StoreError, User, Verification,
};
use tessera::Timestamp;
use tessera_sql::sqlx::postgres::PgConnectOptions;
use tessera_sql::sqlx::{Connection, Executor, PgConnection};
use tessera_sql::SqlDatabase;

// Each test binary uses its own subset.
#[allow(unused_imports)]
pub use tessera_testkit::records::{at, credential, session, user, verification, T0};

pub use tessera_testkit::service::postgres_url;
use tessera_testkit::service::{skip_or_fail, Service};

pub fn random_suffix(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(|c| char::from(c).to_ascii_lowercase())
        .collect()
}

/// A database under test, and what must be cleaned up after it.
pub struct Fixture {
    pub db: Arc<dyn Database>,
    /// The same database as a `SqlDatabase` (not for memory).
    pub sql: Option<SqlDatabase>,
    /// Where it lives, for messages: `memory`, a path, or a schema.
    pub label: String,
    _cleanup: Cleanup,
}

enum Cleanup {
    None,
    File(PathBuf),
    Schema(String),
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        match self {
            Cleanup::None => {}
            Cleanup::File(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Schema(schema) => drop_schema(schema),
        }
    }
}

/// Drops a test schema from a thread of its own (Drop cannot await, and a
/// panicking test must clean up too).
fn drop_schema(schema: &str) {
    let schema = schema.to_owned();
    let done = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(async {
            if let Ok(mut conn) = PgConnection::connect(&postgres_url()).await {
                let _ = conn
                    .execute(format!(r#"drop schema if exists "{schema}" cascade"#).as_str())
                    .await;
                let _ = conn.close().await;
            }
        });
    });
    let _ = done.join();
}

pub fn memory() -> Fixture {
    Fixture {
        db: Arc::new(MemoryDatabase::new()),
        sql: None,
        label: "memory".to_owned(),
        _cleanup: Cleanup::None,
    }
}

/// A migrated SQLite database in a fresh temp directory.
pub async fn sqlite() -> Fixture {
    let dir = std::env::temp_dir().join(format!(
        "tessera-sql-{}-{}",
        std::process::id(),
        random_suffix(10)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tessera.db");
    let db = SqlDatabase::open_sqlite(&path).await.expect("SQLite opens");
    db.migrate().await.expect("migrations apply");
    Fixture {
        db: Arc::new(db.clone()),
        sql: Some(db),
        label: path.display().to_string(),
        _cleanup: Cleanup::File(dir),
    }
}

/// A fresh, empty schema `t_<random>` on the test PostgreSQL server, and
/// connect options whose `search_path` is that schema only. `None` (after a
/// loud banner) when the server is unreachable, unless `CI=true`, where it
/// panics.
pub async fn postgres_schema() -> Option<(String, PgConnectOptions)> {
    let url = postgres_url();
    let mut conn = match PgConnection::connect(&url).await {
        Ok(conn) => conn,
        Err(e) => return skip_or_fail(Service::Postgres, &format!("{url}: {e}")),
    };
    let schema = format!("t_{}", random_suffix(12));
    conn.execute(format!(r#"create schema "{schema}""#).as_str())
        .await
        .expect("create the test schema");
    let _ = conn.close().await;
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    Some((schema, options))
}

/// A migrated `SqlDatabase` in a schema of its own, dropped afterwards.
pub async fn postgres() -> Option<Fixture> {
    let (schema, options) = postgres_schema().await?;
    let cleanup = Cleanup::Schema(schema.clone());
    let db = SqlDatabase::connect_postgres(options)
        .await
        .expect("PostgreSQL connects");
    db.migrate().await.expect("migrations apply");
    Some(Fixture {
        db: Arc::new(db.clone()),
        sql: Some(db),
        label: format!("schema {schema}"),
        _cleanup: cleanup,
    })
}

/// Adopts a schema made by `postgres_schema` so that it is dropped with
/// the returned fixture.
pub fn postgres_fixture(schema: String, db: SqlDatabase) -> Fixture {
    Fixture {
        db: Arc::new(db.clone()),
        sql: Some(db),
        label: format!("schema {schema}"),
        _cleanup: Cleanup::Schema(schema),
    }
}

/// A `Database` that records the name of every call before passing it on:
/// with `SqlDatabase` underneath, each call is one statement.
pub struct CountingDatabase<D> {
    inner: D,
    calls: Mutex<Vec<&'static str>>,
}

impl<D: Database> CountingDatabase<D> {
    pub fn new(inner: D) -> Self {
        CountingDatabase {
            inner,
            calls: Mutex::new(Vec::new()),
        }
    }

    /// The calls since the last `take`, in order.
    pub fn take(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    fn record(&self, name: &'static str) {
        self.calls.lock().unwrap().push(name);
    }
}

#[async_trait]
impl<D: Database> Database for CountingDatabase<D> {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        self.record("create_user");
        self.inner.create_user(user).await
    }
    async fn create_user_with_account(
        &self,
        user: &User,
        account: &Account,
    ) -> Result<(), StoreError> {
        self.record("create_user_with_account");
        self.inner.create_user_with_account(user, account).await
    }
    async fn find_user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.record("find_user_by_id");
        self.inner.find_user_by_id(id).await
    }
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.record("find_user_by_email");
        self.inner.find_user_by_email(email).await
    }
    async fn find_user_with_credential(
        &self,
        email: &str,
    ) -> Result<Option<(User, Option<Account>)>, StoreError> {
        self.record("find_user_with_credential");
        self.inner.find_user_with_credential(email).await
    }
    async fn update_user(&self, user: &User) -> Result<bool, StoreError> {
        self.record("update_user");
        self.inner.update_user(user).await
    }
    async fn delete_user(&self, id: &str) -> Result<(), StoreError> {
        self.record("delete_user");
        self.inner.delete_user(id).await
    }
    async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        self.record("create_account");
        self.inner.create_account(account).await
    }
    async fn find_accounts(&self, user_id: &str) -> Result<Vec<Account>, StoreError> {
        self.record("find_accounts");
        self.inner.find_accounts(user_id).await
    }
    async fn find_account_by_provider(
        &self,
        provider_id: &str,
        account_id: &str,
    ) -> Result<Option<Account>, StoreError> {
        self.record("find_account_by_provider");
        self.inner
            .find_account_by_provider(provider_id, account_id)
            .await
    }
    async fn update_account(&self, account: &Account) -> Result<bool, StoreError> {
        self.record("update_account");
        self.inner.update_account(account).await
    }
    async fn delete_account(&self, id: &str) -> Result<(), StoreError> {
        self.record("delete_account");
        self.inner.delete_account(id).await
    }
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        self.record("create_session");
        self.inner.create_session(session).await
    }
    async fn find_session(&self, token: &str) -> Result<Option<SessionWithUser>, StoreError> {
        self.record("find_session");
        self.inner.find_session(token).await
    }
    async fn find_sessions(&self, tokens: &[String]) -> Result<Vec<SessionWithUser>, StoreError> {
        self.record("find_sessions");
        self.inner.find_sessions(tokens).await
    }
    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        self.record("list_sessions");
        self.inner.list_sessions(user_id).await
    }
    async fn update_session(
        &self,
        token: &str,
        update: &SessionUpdate,
    ) -> Result<Option<Session>, StoreError> {
        self.record("update_session");
        self.inner.update_session(token, update).await
    }
    async fn delete_session(&self, token: &str) -> Result<(), StoreError> {
        self.record("delete_session");
        self.inner.delete_session(token).await
    }
    async fn delete_user_sessions(&self, user_id: &str) -> Result<(), StoreError> {
        self.record("delete_user_sessions");
        self.inner.delete_user_sessions(user_id).await
    }
    async fn create_verification(&self, v: &Verification) -> Result<(), StoreError> {
        self.record("create_verification");
        self.inner.create_verification(v).await
    }
    async fn find_verification(
        &self,
        identifier: &str,
    ) -> Result<Option<Verification>, StoreError> {
        self.record("find_verification");
        self.inner.find_verification(identifier).await
    }
    async fn delete_verification(&self, identifier: &str) -> Result<(), StoreError> {
        self.record("delete_verification");
        self.inner.delete_verification(identifier).await
    }
    async fn consume_verification(
        &self,
        identifier: &str,
    ) -> Result<Option<Verification>, StoreError> {
        self.record("consume_verification");
        self.inner.consume_verification(identifier).await
    }
    // A flag read when `Auth` is built, not a database call.
    fn has_revocation_log(&self) -> bool {
        self.inner.has_revocation_log()
    }
    async fn append_revocation(
        &self,
        entry: &str,
        now: Timestamp,
        retain: Duration,
    ) -> Result<u64, StoreError> {
        self.record("append_revocation");
        self.inner.append_revocation(entry, now, retain).await
    }
    async fn read_revocations(
        &self,
        after: u64,
        missing: &[u64],
        limit: usize,
    ) -> Result<RevocationPage, StoreError> {
        self.record("read_revocations");
        self.inner.read_revocations(after, missing, limit).await
    }
}
