//! Errors: opening a database, migrating it, and how `sqlx` failures become
//! the kernel's [`StoreError`].

use std::path::PathBuf;

use sqlx::error::{DatabaseError, ErrorKind};
use sqlx::sqlite::SqliteError;
use tessera::store::StoreError;

/// Why [`SqlDatabase::connect`](crate::SqlDatabase::connect) failed. The
/// message never contains the URL (it may carry a password): only the
/// server's `host:port/database` or the SQLite path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL's scheme is neither `sqlite:` nor `postgres:`/`postgresql:`.
    #[error("unsupported database URL scheme {scheme:?}: expected sqlite://… or postgres://…")]
    UnsupportedScheme {
        /// The scheme, lowercased (`""` when there is none).
        scheme: String,
    },
    /// The URL could not be parsed.
    #[error("invalid database URL")]
    InvalidUrl(#[source] sqlx::Error),
    /// The SQLite file could not be opened or created.
    #[error("cannot open the SQLite database {}", path.display())]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: sqlx::Error,
    },
    /// The PostgreSQL server refused or did not answer.
    #[error("cannot connect to PostgreSQL at {server}")]
    Postgres {
        /// `host:port/database`.
        server: String,
        /// Why.
        #[source]
        source: sqlx::Error,
    },
}

/// Why [`SqlDatabase::migrate`](crate::SqlDatabase::migrate) failed; nothing
/// of the failed migration is kept (each runs in a transaction).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// The migrations table could not be read or written.
    #[error("cannot read the migration history (table tessera_migrations)")]
    History(#[source] sqlx::Error),
    /// A migration failed.
    #[error("migration {version} ({name}) failed")]
    Failed {
        /// Its version.
        version: i64,
        /// Its name.
        name: &'static str,
        /// Why.
        #[source]
        source: sqlx::Error,
    },
    /// The database records a migration this build does not know: it was
    /// migrated by a newer Tessera.
    #[error("the database is at schema version {found}, newer than this build's {known}")]
    Newer {
        /// The newest version recorded in the database.
        found: i64,
        /// The newest version this build has.
        known: i64,
    },
}

/// A record carries additional fields (`user.additionalFields`,
/// `session.additionalFields`), which need columns this backend does not
/// create yet. Refused rather than dropped.
#[derive(Debug, thiserror::Error)]
#[error("table {table:?} has no columns for the additional fields {fields:?}; tessera-sql stores better-auth's core columns only")]
pub struct AdditionalFieldsUnsupported {
    /// The table.
    pub table: &'static str,
    /// The field names.
    pub fields: Vec<String>,
}

/// Refuses a write that would drop additional fields.
pub(crate) fn no_extra(
    table: &'static str,
    extra: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), StoreError> {
    if extra.is_empty() {
        return Ok(());
    }
    Err(StoreError::Backend(Box::new(AdditionalFieldsUnsupported {
        table,
        fields: extra.keys().cloned().collect(),
    })))
}

/// A `sqlx` error as the kernel sees it: a unique violation is a
/// [`StoreError::Conflict`] naming the column, a server that cannot be
/// reached (or a pool that waited too long) is [`StoreError::Unavailable`]
/// (the API answers 503), anything else is [`StoreError::Backend`].
pub(crate) fn store_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation => {
            // PostgreSQL names the constraint (`user_email_key`), SQLite the
            // column (`UNIQUE constraint failed: user.email`).
            let what = db.constraint().unwrap_or_else(|| db.message());
            StoreError::Conflict(if what.contains("email") {
                "email"
            } else if what.contains("token") {
                "token"
            } else {
                "id"
            })
        }
        sqlx::Error::Database(db) if is_transient(db.as_ref()) => {
            StoreError::Unavailable(Box::new(e))
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(Box::new(e)),
        _ => StoreError::Backend(Box::new(e)),
    }
}

/// Errors that mean "not now" rather than "never": PostgreSQL's
/// connection exceptions (class 08), a server shutting down (57P01-57P03)
/// and too many connections (53300); SQLite's `SQLITE_BUSY` and
/// `SQLITE_LOCKED` (after the busy timeout), extended codes included.
fn is_transient(db: &(dyn DatabaseError + 'static)) -> bool {
    let code = db.code();
    let Some(code) = code.as_deref() else {
        return false;
    };
    if db.try_downcast_ref::<SqliteError>().is_some() {
        return code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6));
    }
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}
