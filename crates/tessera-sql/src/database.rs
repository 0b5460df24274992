//! [`SqlDatabase`]: the kernel's [`Database`] over a SQLite or PostgreSQL
//! pool.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::ConnectOptions;
use tessera::store::{
    Account, Database, RevocationPage, Session, SessionUpdate, SessionWithUser, StoreError, User,
    Verification, CREDENTIAL_PROVIDER,
};
use tessera::Timestamp;

use crate::error::{no_extra, store_error, ConnectError, MigrateError};
use crate::query::*;
use crate::revocation;
use crate::schema::{self, Migration, MIGRATIONS};
use crate::value::{self, date, Date};

/// How long a request may wait for a pooled connection before the store
/// reports [`StoreError::Unavailable`] (the API answers 503) instead of
/// hanging while the server is away.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`SqlDatabase::connect`] waits for PostgreSQL to answer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The SQL dialect a [`SqlDatabase`] speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Dialect {
    /// SQLite (a file, or `sqlite::memory:`).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// better-auth's tables in SQLite or PostgreSQL, as a [`Database`] for
/// [`tessera::Auth`]. Cheap to clone (it is a connection pool).
#[derive(Clone, Debug)]
pub struct SqlDatabase {
    pool: Pool,
}

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to whichever pool this is. The body is
/// compiled once per dialect, so the same statements and binds serve both.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match &$db.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

/// Runs the `sqlx` work in `$body` (which may use `?`) on whichever pool
/// this is, and turns its error into a [`StoreError`].
macro_rules! run {
    ($db:expr, $pool:ident => $body:expr) => {
        on_pool!($db, $pool => {
            let done: Result<_, sqlx::Error> = async { $body }.await;
            done
        })
        .map_err(store_error)
    };
}

/// Binds a user's columns in table order.
macro_rules! bind_user {
    ($query:expr, $u:expr) => {
        $query
            .bind(&$u.id)
            .bind(&$u.name)
            .bind(&$u.email)
            .bind($u.email_verified)
            .bind(&$u.image)
            .bind(Date($u.created_at))
            .bind(Date($u.updated_at))
    };
}

/// Binds an account's columns in table order.
macro_rules! bind_account {
    ($query:expr, $a:expr) => {
        $query
            .bind(&$a.id)
            .bind(&$a.account_id)
            .bind(&$a.provider_id)
            .bind(&$a.user_id)
            .bind(&$a.access_token)
            .bind(&$a.refresh_token)
            .bind(&$a.id_token)
            .bind(date($a.access_token_expires_at))
            .bind(date($a.refresh_token_expires_at))
            .bind(&$a.scope)
            .bind(&$a.password)
            .bind(Date($a.created_at))
            .bind(Date($a.updated_at))
    };
}

/// Everything a migration run did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Migrated {
    /// The migrations applied by this run, oldest first (empty when the
    /// schema was up to date).
    pub applied: Vec<&'static Migration>,
    /// The schema version now in force.
    pub version: i64,
}

impl SqlDatabase {
    /// Opens the database at `url`, chosen by its scheme:
    ///
    /// - `sqlite://path/to/file.db` (relative to the working directory),
    ///   `sqlite:///absolute/path.db`, `sqlite::memory:`: the file is
    ///   created if missing; see [`SqlDatabase::open_sqlite`];
    /// - `postgres://user:password@host:port/database` (or `postgresql://`),
    ///   with libpq-style parameters such as
    ///   `?options=-c%20search_path%3Dmyschema`: see
    ///   [`SqlDatabase::connect_postgres`].
    ///
    /// Does not create tables: call [`SqlDatabase::migrate`].
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        let scheme = url
            .split_once(':')
            .map(|(s, _)| s.to_ascii_lowercase())
            .unwrap_or_default();
        match scheme.as_str() {
            "sqlite" => {
                let options =
                    SqliteConnectOptions::from_str(url).map_err(ConnectError::InvalidUrl)?;
                let in_memory = url.contains(":memory:") || url.contains("mode=memory");
                SqlDatabase::connect_sqlite(options, in_memory).await
            }
            "postgres" | "postgresql" => {
                let options = PgConnectOptions::from_str(url).map_err(ConnectError::InvalidUrl)?;
                SqlDatabase::connect_postgres(options).await
            }
            _ => Err(ConnectError::UnsupportedScheme { scheme }),
        }
    }

    /// Opens (creating it if missing) the SQLite database file at `path`,
    /// in WAL mode with foreign keys enforced. Its directory must exist.
    pub async fn open_sqlite(path: impl AsRef<Path>) -> Result<Self, ConnectError> {
        let options = SqliteConnectOptions::new().filename(path.as_ref());
        SqlDatabase::connect_sqlite(options, false).await
    }

    async fn connect_sqlite(
        options: SqliteConnectOptions,
        in_memory: bool,
    ) -> Result<Self, ConnectError> {
        let path = PathBuf::from(options.get_filename());
        // WAL: readers never wait for the writer. Foreign keys: deleting a
        // user deletes their sessions and accounts (`on delete cascade`).
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(ACQUIRE_TIMEOUT);
        let pool = SqlitePoolOptions::new().acquire_timeout(ACQUIRE_TIMEOUT);
        // An in-memory database lives as long as a connection to it: keep
        // exactly one, forever.
        let pool = if in_memory {
            pool.max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            pool
        };
        let pool = pool
            .connect_with(options)
            .await
            .map_err(|source| ConnectError::Sqlite { path, source })?;
        Ok(SqlDatabase::from_sqlite_pool(pool))
    }

    /// Connects to PostgreSQL with `options` (e.g. with
    /// `.options([("search_path", "myschema")])`). One connection is opened
    /// right away, so an unreachable server is an error here rather than on
    /// the first request.
    pub async fn connect_postgres(options: PgConnectOptions) -> Result<Self, ConnectError> {
        let server = format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default()
        );
        // One attempt, bounded: the pool itself would retry a refused
        // connection until its acquire timeout and then report only that.
        let probe = tokio::time::timeout(CONNECT_TIMEOUT, options.connect())
            .await
            .unwrap_or_else(|_| {
                Err(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                )))
            });
        let probe = probe.map_err(|source| ConnectError::Postgres {
            server: server.clone(),
            source,
        })?;
        let pool = PgPoolOptions::new()
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        drop(probe);
        Ok(SqlDatabase::from_postgres_pool(pool))
    }

    /// Uses an existing SQLite pool (its connections should enforce foreign
    /// keys, as `sqlx`'s defaults do).
    pub fn from_sqlite_pool(pool: SqlitePool) -> Self {
        SqlDatabase {
            pool: Pool::Sqlite(pool),
        }
    }

    /// Uses an existing PostgreSQL pool.
    pub fn from_postgres_pool(pool: PgPool) -> Self {
        SqlDatabase {
            pool: Pool::Postgres(pool),
        }
    }

    /// The dialect of this database.
    pub fn dialect(&self) -> Dialect {
        match self.pool {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The SQLite pool, for queries of your own on the same connections.
    pub fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.pool {
            Pool::Sqlite(pool) => Some(pool),
            Pool::Postgres(_) => None,
        }
    }

    /// The PostgreSQL pool, for queries of your own on the same connections.
    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.pool {
            Pool::Postgres(pool) => Some(pool),
            Pool::Sqlite(_) => None,
        }
    }

    /// Closes every connection; later calls fail with
    /// [`StoreError::Unavailable`].
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }

    /// Brings the schema up to date: creates better-auth's tables and
    /// indexes where missing (`if not exists`: tables better-auth created
    /// are left as they are) and records each migration in
    /// `tessera_migrations`. Safe to run on every start, and from several
    /// processes at once: runs are serialised by the database.
    pub async fn migrate(&self) -> Result<Migrated, MigrateError> {
        let dialect = self.dialect();
        let (begin, history_table, record) = match dialect {
            Dialect::Sqlite => (
                "begin immediate",
                schema::SQLITE_MIGRATIONS_TABLE,
                schema::SQLITE_RECORD_MIGRATION,
            ),
            Dialect::Postgres => (
                "begin",
                schema::POSTGRES_MIGRATIONS_TABLE,
                schema::POSTGRES_RECORD_MIGRATION,
            ),
        };
        let known = MIGRATIONS.last().map_or(0, |m| m.version);
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(begin).await.map_err(MigrateError::History)?;
            if dialect == Dialect::Postgres {
                sqlx::query(schema::POSTGRES_MIGRATION_LOCK)
                    .execute(&mut *tx)
                    .await
                    .map_err(MigrateError::History)?;
            }
            sqlx::query(history_table)
                .execute(&mut *tx)
                .await
                .map_err(MigrateError::History)?;
            let done: Vec<i64> = sqlx::query_scalar(schema::APPLIED_VERSIONS)
                .fetch_all(&mut *tx)
                .await
                .map_err(MigrateError::History)?;
            if let Some(&found) = done.iter().max().filter(|&&v| v > known) {
                return Err(MigrateError::Newer { found, known });
            }
            let mut applied = Vec::new();
            for migration in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
                let failed = |source| MigrateError::Failed {
                    version: migration.version,
                    name: migration.name,
                    source,
                };
                for statement in migration.statements(dialect) {
                    sqlx::query(statement)
                        .execute(&mut *tx)
                        .await
                        .map_err(failed)?;
                }
                sqlx::query(record)
                    .bind(migration.version)
                    .bind(migration.name)
                    .execute(&mut *tx)
                    .await
                    .map_err(failed)?;
                applied.push(migration);
            }
            tx.commit().await.map_err(MigrateError::History)?;
            Ok(Migrated { applied, version: known })
        })
    }
}

impl fmt::Display for SqlDatabase {
    /// `SQLite at /absolute/path.db` or `PostgreSQL at host:port/database`:
    /// where the data is, never credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pool {
            Pool::Sqlite(pool) => {
                let options = pool.connect_options();
                let file = options.get_filename();
                if file.to_string_lossy().starts_with("file:sqlx-in-memory") {
                    return f.write_str("SQLite in memory");
                }
                let file = std::path::absolute(file).unwrap_or_else(|_| file.to_owned());
                write!(f, "SQLite at {}", file.display())
            }
            Pool::Postgres(pool) => {
                let options = pool.connect_options();
                write!(
                    f,
                    "PostgreSQL at {}:{}/{}",
                    options.get_host(),
                    options.get_port(),
                    options.get_database().unwrap_or_default()
                )
            }
        }
    }
}

#[async_trait]
impl Database for SqlDatabase {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        no_extra("user", &user.extra)?;
        run!(self, pool => {
            bind_user!(sqlx::query(INSERT_USER), user).execute(pool).await.map(drop)
        })
    }

    async fn create_user_with_account(
        &self,
        user: &User,
        account: &Account,
    ) -> Result<(), StoreError> {
        no_extra("user", &user.extra)?;
        run!(self, pool => {
            let mut tx = pool.begin().await?;
            bind_user!(sqlx::query(INSERT_USER), user).execute(&mut *tx).await?;
            bind_account!(sqlx::query(INSERT_ACCOUNT), account).execute(&mut *tx).await?;
            tx.commit().await
        })
    }

    async fn find_user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        run!(self, pool => {
            let row = sqlx::query(USER_BY_ID).bind(id).fetch_optional(pool).await?;
            row.map(|r| value::user(&r, 0)).transpose()
        })
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        run!(self, pool => {
            let row = sqlx::query(USER_BY_EMAIL).bind(email).fetch_optional(pool).await?;
            row.map(|r| value::user(&r, 0)).transpose()
        })
    }

    async fn find_user_with_credential(
        &self,
        email: &str,
    ) -> Result<Option<(User, Option<Account>)>, StoreError> {
        run!(self, pool => {
            let row = sqlx::query(USER_WITH_CREDENTIAL)
                .bind(email)
                .bind(CREDENTIAL_PROVIDER)
                .fetch_optional(pool)
                .await?;
            row.map(|r| Ok((value::user(&r, 0)?, value::joined_account(&r, USER_WIDTH)?)))
                .transpose()
        })
    }

    async fn update_user(&self, user: &User) -> Result<bool, StoreError> {
        no_extra("user", &user.extra)?;
        let done = run!(self, pool => {
            bind_user!(sqlx::query(UPDATE_USER), user)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(done > 0)
    }

    async fn delete_user(&self, id: &str) -> Result<(), StoreError> {
        run!(self, pool => sqlx::query(DELETE_USER).bind(id).execute(pool).await.map(drop))
    }

    async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        run!(self, pool => {
            bind_account!(sqlx::query(INSERT_ACCOUNT), account).execute(pool).await.map(drop)
        })
    }

    async fn find_accounts(&self, user_id: &str) -> Result<Vec<Account>, StoreError> {
        run!(self, pool => {
            let rows = sqlx::query(ACCOUNTS_OF_USER).bind(user_id).fetch_all(pool).await?;
            rows.iter().map(|r| value::account(r, 0)).collect()
        })
    }

    async fn find_account_by_provider(
        &self,
        provider_id: &str,
        account_id: &str,
    ) -> Result<Option<Account>, StoreError> {
        run!(self, pool => {
            let row = sqlx::query(ACCOUNT_BY_PROVIDER)
                .bind(provider_id)
                .bind(account_id)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(|r| value::account(r, 0)).transpose()
        })
    }

    async fn update_account(&self, account: &Account) -> Result<bool, StoreError> {
        let done = run!(self, pool => {
            bind_account!(sqlx::query(UPDATE_ACCOUNT), account)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(done > 0)
    }

    async fn delete_account(&self, id: &str) -> Result<(), StoreError> {
        run!(self, pool => sqlx::query(DELETE_ACCOUNT).bind(id).execute(pool).await.map(drop))
    }

    async fn create_session(&self, s: &Session) -> Result<(), StoreError> {
        no_extra("session", &s.extra)?;
        run!(self, pool => {
            sqlx::query(INSERT_SESSION)
                .bind(&s.id)
                .bind(Date(s.expires_at))
                .bind(&s.token)
                .bind(Date(s.created_at))
                .bind(Date(s.updated_at))
                .bind(&s.ip_address)
                .bind(&s.user_agent)
                .bind(&s.user_id)
                .execute(pool)
                .await
                .map(drop)
        })
    }

    async fn find_session(&self, token: &str) -> Result<Option<SessionWithUser>, StoreError> {
        run!(self, pool => {
            let row = sqlx::query(SESSION_WITH_USER).bind(token).fetch_optional(pool).await?;
            row.map(|r| session_with_user(&r)).transpose()
        })
    }

    async fn find_sessions(&self, tokens: &[String]) -> Result<Vec<SessionWithUser>, StoreError> {
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        match &self.pool {
            Pool::Sqlite(pool) => {
                let list = serde_json::to_string(tokens).map_err(StoreError::backend)?;
                let rows = sqlx::query(SESSIONS_WITH_USERS_SQLITE)
                    .bind(list)
                    .fetch_all(pool)
                    .await
                    .map_err(store_error)?;
                rows.iter().map(session_with_user).collect::<Result<_, _>>()
            }
            Pool::Postgres(pool) => {
                let rows = sqlx::query(SESSIONS_WITH_USERS_POSTGRES)
                    .bind(tokens)
                    .fetch_all(pool)
                    .await
                    .map_err(store_error)?;
                rows.iter().map(session_with_user).collect::<Result<_, _>>()
            }
        }
        .map_err(store_error)
    }

    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        run!(self, pool => {
            let rows = sqlx::query(SESSIONS_OF_USER).bind(user_id).fetch_all(pool).await?;
            rows.iter().map(|r| value::session(r, 0)).collect()
        })
    }

    async fn update_session(
        &self,
        token: &str,
        update: &SessionUpdate,
    ) -> Result<Option<Session>, StoreError> {
        no_extra("session", &update.extra)?;
        run!(self, pool => {
            let row = sqlx::query(UPDATE_SESSION)
                .bind(token)
                .bind(date(update.expires_at))
                .bind(date(update.updated_at))
                .fetch_optional(pool)
                .await?;
            row.map(|r| value::session(&r, 0)).transpose()
        })
    }

    async fn delete_session(&self, token: &str) -> Result<(), StoreError> {
        run!(self, pool => {
            sqlx::query(DELETE_SESSION).bind(token).execute(pool).await.map(drop)
        })
    }

    async fn delete_user_sessions(&self, user_id: &str) -> Result<(), StoreError> {
        run!(self, pool => {
            sqlx::query(DELETE_USER_SESSIONS).bind(user_id).execute(pool).await.map(drop)
        })
    }

    async fn create_verification(&self, v: &Verification) -> Result<(), StoreError> {
        run!(self, pool => {
            sqlx::query(INSERT_VERIFICATION)
                .bind(&v.id)
                .bind(&v.identifier)
                .bind(&v.value)
                .bind(Date(v.expires_at))
                .bind(Date(v.created_at))
                .bind(Date(v.updated_at))
                .execute(pool)
                .await
                .map(drop)
        })
    }

    async fn find_verification(
        &self,
        identifier: &str,
    ) -> Result<Option<Verification>, StoreError> {
        run!(self, pool => {
            let row = sqlx::query(NEWEST_VERIFICATION)
                .bind(identifier)
                .fetch_optional(pool)
                .await?;
            row.map(|r| value::verification(&r, 0)).transpose()
        })
    }

    async fn delete_verification(&self, identifier: &str) -> Result<(), StoreError> {
        run!(self, pool => {
            sqlx::query(DELETE_VERIFICATION).bind(identifier).execute(pool).await.map(drop)
        })
    }

    async fn consume_verification(
        &self,
        identifier: &str,
    ) -> Result<Option<Verification>, StoreError> {
        run!(self, pool => {
            let rows = sqlx::query(CONSUME_VERIFICATION)
                .bind(identifier)
                .fetch_all(pool)
                .await?;
            let mut newest: Option<Verification> = None;
            for row in &rows {
                let v = value::verification(row, 0)?;
                if newest.as_ref().is_none_or(|n| v.created_at > n.created_at) {
                    newest = Some(v);
                }
            }
            Ok(newest)
        })
    }

    /// The log is the `tessera_revocation` table (migration 2).
    fn has_revocation_log(&self) -> bool {
        true
    }

    /// Removes the entries whose time has passed (an index range scan),
    /// then inserts this one; its number is `"seq"`, never reused.
    async fn append_revocation(
        &self,
        entry: &str,
        now: Timestamp,
        retain: Duration,
    ) -> Result<u64, StoreError> {
        let now_ms = now.as_millis();
        let retain_ms = i64::try_from(retain.as_millis()).unwrap_or(i64::MAX);
        let until = now_ms.saturating_add(retain_ms);
        let seq: i64 = run!(self, pool => {
            // Housekeeping, not the append: a removal that fails (two
            // PostgreSQL removals deadlocking, say) is retried by the next
            // append, and a database that is away fails the insert below.
            let _ = sqlx::query(DELETE_EXPIRED_REVOCATIONS).bind(now_ms).execute(pool).await;
            sqlx::query_scalar(INSERT_REVOCATION)
                .bind(entry)
                .bind(until)
                .fetch_one(pool)
                .await
        })?;
        u64::try_from(seq).map_err(StoreError::backend)
    }

    /// One statement for the entries past `after`, and a second one, only
    /// when `missing` has numbers up to `after`, for those.
    async fn read_revocations(
        &self,
        after: u64,
        missing: &[u64],
        limit: usize,
    ) -> Result<RevocationPage, StoreError> {
        let again = revocation::asked_again(after, missing);
        let found: Vec<revocation::Row> = if again.is_empty() {
            Vec::new()
        } else {
            match &self.pool {
                Pool::Sqlite(pool) => {
                    let list = serde_json::to_string(&again).map_err(StoreError::backend)?;
                    sqlx::query_as(REVOCATIONS_NUMBERED_SQLITE)
                        .bind(list)
                        .fetch_all(pool)
                        .await
                }
                Pool::Postgres(pool) => {
                    sqlx::query_as(REVOCATIONS_NUMBERED_POSTGRES)
                        .bind(&again)
                        .fetch_all(pool)
                        .await
                }
            }
            .map_err(store_error)?
        };
        let rows: Vec<revocation::Row> = run!(self, pool => {
            sqlx::query_as(REVOCATIONS_AFTER)
                .bind(revocation::seq_bound(after))
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(pool)
                .await
        })?;
        revocation::page(after, limit, found, rows)
    }
}

fn session_with_user(row: &impl value::ReadColumns) -> Result<SessionWithUser, sqlx::Error> {
    Ok(SessionWithUser {
        session: value::session(row, 0)?,
        user: value::user(row, SESSION_WIDTH)?,
    })
}
