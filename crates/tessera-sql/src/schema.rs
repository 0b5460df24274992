//! better-auth 1.7.25's default schema, as its own migrations create it
//! (`getMigrations(...).compileMigrations()` with the Kysely adapter), and
//! Tessera's migration list.
//!
//! Migration 1 is better-auth's DDL, statement for statement, with
//! `if not exists` added so that it is a no-op on tables better-auth (or an
//! earlier run) already created. `tests/schema.rs` checks it against the
//! output of better-auth itself. Later migrations create only Tessera's own
//! tables (named `tessera_*`, like `tessera_migrations`) and never touch
//! better-auth's.

use crate::Dialect;

/// One step of Tessera's schema history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Migration {
    /// Its number, recorded in `tessera_migrations.version`.
    pub version: i64,
    /// What it does.
    pub name: &'static str,
    pub(crate) sqlite: &'static [&'static str],
    pub(crate) postgres: &'static [&'static str],
}

impl Migration {
    /// Its statements in `dialect`, in order.
    pub fn statements(&self, dialect: Dialect) -> &'static [&'static str] {
        match dialect {
            Dialect::Sqlite => self.sqlite,
            Dialect::Postgres => self.postgres,
        }
    }
}

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "better-auth 1.7.25 core schema: user, session, account, verification",
        sqlite: &[
            r#"create table if not exists "user" ("id" text not null primary key, "name" text not null, "email" text not null unique, "emailVerified" integer not null, "image" text, "createdAt" date not null, "updatedAt" date not null)"#,
            r#"create table if not exists "session" ("id" text not null primary key, "expiresAt" date not null, "token" text not null unique, "createdAt" date not null, "updatedAt" date not null, "ipAddress" text, "userAgent" text, "userId" text not null references "user" ("id") on delete cascade)"#,
            r#"create table if not exists "account" ("id" text not null primary key, "accountId" text not null, "providerId" text not null, "userId" text not null references "user" ("id") on delete cascade, "accessToken" text, "refreshToken" text, "idToken" text, "accessTokenExpiresAt" date, "refreshTokenExpiresAt" date, "scope" text, "password" text, "createdAt" date not null, "updatedAt" date not null)"#,
            r#"create table if not exists "verification" ("id" text not null primary key, "identifier" text not null, "value" text not null, "expiresAt" date not null, "createdAt" date not null, "updatedAt" date not null)"#,
            r#"create index if not exists "session_userId_idx" on "session" ("userId")"#,
            r#"create index if not exists "account_userId_idx" on "account" ("userId")"#,
            r#"create index if not exists "verification_identifier_idx" on "verification" ("identifier")"#,
        ],
        postgres: &[
            r#"create table if not exists "user" ("id" text not null primary key, "name" text not null, "email" text not null unique, "emailVerified" boolean not null, "image" text, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz default CURRENT_TIMESTAMP not null)"#,
            r#"create table if not exists "session" ("id" text not null primary key, "expiresAt" timestamptz not null, "token" text not null unique, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz not null, "ipAddress" text, "userAgent" text, "userId" text not null references "user" ("id") on delete cascade)"#,
            r#"create table if not exists "account" ("id" text not null primary key, "accountId" text not null, "providerId" text not null, "userId" text not null references "user" ("id") on delete cascade, "accessToken" text, "refreshToken" text, "idToken" text, "accessTokenExpiresAt" timestamptz, "refreshTokenExpiresAt" timestamptz, "scope" text, "password" text, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz not null)"#,
            r#"create table if not exists "verification" ("id" text not null primary key, "identifier" text not null, "value" text not null, "expiresAt" timestamptz not null, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz default CURRENT_TIMESTAMP not null)"#,
            r#"create index if not exists "session_userId_idx" on "session" ("userId")"#,
            r#"create index if not exists "account_userId_idx" on "account" ("userId")"#,
            r#"create index if not exists "verification_identifier_idx" on "verification" ("identifier")"#,
        ],
    },
    // Tessera's own table, beside better-auth's (which it leaves alone):
    // `SqlDatabase`'s revocation log. `seq` numbers entries and is never
    // reused (SQLite's `autoincrement`, PostgreSQL's sequence), so a reader
    // that remembers a number never skips a later entry; `expiresAt` is
    // epoch milliseconds, indexed so that removing expired entries on each
    // append reads only those.
    Migration {
        version: 2,
        name: "tessera revocation log (revocation reaching every process within session.revocationLag)",
        sqlite: &[
            r#"create table if not exists "tessera_revocation" ("seq" integer primary key autoincrement, "entry" text not null, "expiresAt" bigint not null)"#,
            r#"create index if not exists "tessera_revocation_expiresAt_idx" on "tessera_revocation" ("expiresAt")"#,
        ],
        postgres: &[
            r#"create table if not exists "tessera_revocation" ("seq" bigserial primary key, "entry" text not null, "expiresAt" bigint not null)"#,
            r#"create index if not exists "tessera_revocation_expiresAt_idx" on "tessera_revocation" ("expiresAt")"#,
        ],
    },
];

/// Tessera's own bookkeeping: which migrations ran, and when.
pub(crate) const SQLITE_MIGRATIONS_TABLE: &str = r#"create table if not exists "tessera_migrations" ("version" integer not null primary key, "name" text not null, "appliedAt" date not null)"#;
pub(crate) const POSTGRES_MIGRATIONS_TABLE: &str = r#"create table if not exists "tessera_migrations" ("version" bigint not null primary key, "name" text not null, "appliedAt" timestamptz not null)"#;

/// Records a migration (`$1` version, `$2` name) with the database's clock,
/// written as better-auth writes dates on each dialect.
pub(crate) const SQLITE_RECORD_MIGRATION: &str = r#"insert into "tessera_migrations" ("version", "name", "appliedAt") values ($1, $2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"#;
pub(crate) const POSTGRES_RECORD_MIGRATION: &str =
    r#"insert into "tessera_migrations" ("version", "name", "appliedAt") values ($1, $2, now())"#;
pub(crate) const APPLIED_VERSIONS: &str = r#"select "version" from "tessera_migrations""#;
/// Serialises concurrent `migrate()` calls on one PostgreSQL database
/// (`pg_advisory_xact_lock`, released at commit). SQLite gets the same from
/// `begin immediate`.
pub(crate) const POSTGRES_MIGRATION_LOCK: &str =
    "select pg_advisory_xact_lock(7362155925357655341)";
