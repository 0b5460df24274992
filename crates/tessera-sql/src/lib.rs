//! # tessera-sql
//!
//! SQLite and PostgreSQL storage for [Tessera](tessera): the kernel's
//! [`Database`](tessera::store::Database) trait over better-auth 1.7.25's own
//! tables, so a Tessera server and a better-auth app can share one database.
//!
//! ```
//! use std::sync::Arc;
//! use tessera::{Auth, Options};
//! use tessera_sql::SqlDatabase;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // "sqlite://tessera.db" or "postgres://user@localhost/app" alike.
//! let db = SqlDatabase::connect("sqlite::memory:").await?;
//! db.migrate().await?; // better-auth's tables, if they are not there yet
//!
//! let auth = Auth::builder(Options::new().secret("a-long-random-secret-of-at-least-32-characters!"))
//!     .database(Arc::new(db))
//!     .build()?;
//! # let _ = auth;
//! # Ok(())
//! # }
//! ```
//!
//! ## The schema
//!
//! Tables `user`, `session`, `account` and `verification` with better-auth's
//! camelCase column names and the types its own migrations
//! (`getMigrations`, Kysely adapter) give them:
//!
//! | | PostgreSQL | SQLite |
//! |---|---|---|
//! | ids, strings | `text` | `text` |
//! | `emailVerified` | `boolean` | `integer` (0/1) |
//! | dates | `timestamptz` | `date`, holding `toISOString()` text such as `2026-12-05T07:57:54.369Z` |
//!
//! with `user.email` and `session.token` unique, `session.userId` and
//! `account.userId` referencing `user.id` with `on delete cascade`, and
//! indexes `session_userId_idx`, `account_userId_idx` and
//! `verification_identifier_idx`. Dates keep millisecond precision, as in
//! better-auth. [`SqlDatabase::migrate`] creates what is missing and records
//! its runs in a `tessera_migrations` table; on tables better-auth created
//! it changes nothing.
//!
//! Beside them Tessera keeps one table of its own, `tessera_revocation`
//! (migration 2): the revocation log through which a sign-out or a revoked
//! session reaches every process sharing the database, cookie-cache hits
//! included, within `session.revocationLag`
//! ([`Database::append_revocation`](tessera::store::Database::append_revocation)).
//! Its `seq` numbers entries and is never reused; `expiresAt` is epoch
//! milliseconds, and entries past it are removed on the next append.
//!
//! Additional fields (`user.additionalFields`, `session.additionalFields`,
//! plugin fields) need columns this crate does not create yet: a record
//! carrying any is refused with [`StoreError::Backend`](tessera::store::StoreError)
//! ([`AdditionalFieldsUnsupported`]) rather than stored without them.
//!
//! ## Queries
//!
//! Each [`Database`](tessera::store::Database) call is one statement: a
//! session lookup (the cache-miss path of every authenticated request) is
//! one join returning the session and its user, and so is the sign-in
//! lookup of a user with their credential account. Creating a user with
//! their account is one transaction. On the revocation log, an append
//! first removes expired entries, and a read that asks again for numbers
//! it found missing (a PostgreSQL insert not yet committed) takes a second
//! statement.
//!
//! ## Failures
//!
//! A server that cannot be reached, or a pool that waited
//! [`ACQUIRE_TIMEOUT`] for a connection, is
//! [`StoreError::Unavailable`](tessera::store::StoreError) (the API answers
//! 503); a duplicate email or token is `Conflict`; anything else `Backend`.
//! None of it reaches an HTTP body.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod database;
mod error;
mod query;
mod revocation;
mod schema;
mod value;

pub use database::{Dialect, Migrated, SqlDatabase, ACQUIRE_TIMEOUT, CONNECT_TIMEOUT};
pub use error::{AdditionalFieldsUnsupported, ConnectError, MigrateError};
pub use schema::{Migration, MIGRATIONS};

/// Re-exported so callers can build connection options and pools
/// (`SqlDatabase::connect_postgres`, `SqlDatabase::from_sqlite_pool`) with
/// the same `sqlx` version.
pub use sqlx;
