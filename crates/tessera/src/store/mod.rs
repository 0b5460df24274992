//! Storage: the records better-auth keeps, the [`Database`] and
//! [`SecondaryStorage`] traits backends implement, and in-memory
//! implementations (spec §5, §6.2).
//!
//! The traits are shaped so that a SQL backend answers each call with one
//! query (a session lookup is one join returning session and user) and a
//! Redis backend with one round trip.

mod memory;

use std::error::Error as StdError;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Timestamp;

pub use memory::{MemoryDatabase, MemorySecondaryStorage};

/// A user (table `user`). Field order is better-auth's JSON order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Display name.
    pub name: String,
    /// Email, stored lowercased.
    pub email: String,
    /// Whether the email was verified.
    #[serde(default)]
    pub email_verified: bool,
    /// Avatar URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last update time.
    pub updated_at: Timestamp,
    /// Id.
    pub id: String,
    /// Additional fields (plugins, `user.additionalFields`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A session (table `session`). Field order is better-auth's JSON order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// When the session ends.
    pub expires_at: Timestamp,
    /// The 32-character token carried by the `session_token` cookie.
    pub token: String,
    /// Creation time; freshness is measured from it and refresh never moves it.
    pub created_at: Timestamp,
    /// Last refresh.
    pub updated_at: Timestamp,
    /// Client IP at creation (`""` when unknown).
    #[serde(default)]
    pub ip_address: Option<String>,
    /// Client user agent at creation (`""` when absent).
    #[serde(default)]
    pub user_agent: Option<String>,
    /// Owner.
    pub user_id: String,
    /// Id.
    pub id: String,
    /// Additional fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A session with its user, as `/get-session` returns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionWithUser {
    /// The session.
    pub session: Session,
    /// Its user.
    pub user: User,
}

/// A linked account (table `account`); the credential account holds the
/// password hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// Id.
    pub id: String,
    /// Provider-side account id (`userId` for credentials).
    pub account_id: String,
    /// `credential`, or an OAuth provider id.
    pub provider_id: String,
    /// Owner.
    pub user_id: String,
    /// OAuth access token.
    #[serde(default)]
    pub access_token: Option<String>,
    /// OAuth refresh token.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// OpenID Connect id token.
    #[serde(default)]
    pub id_token: Option<String>,
    /// Access token expiry.
    #[serde(default)]
    pub access_token_expires_at: Option<Timestamp>,
    /// Refresh token expiry.
    #[serde(default)]
    pub refresh_token_expires_at: Option<Timestamp>,
    /// Granted scopes.
    #[serde(default)]
    pub scope: Option<String>,
    /// Password hash (`saltHex:keyHex`) for the credential provider.
    #[serde(default)]
    pub password: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last update.
    pub updated_at: Timestamp,
}

/// The provider id of email/password accounts.
pub const CREDENTIAL_PROVIDER: &str = "credential";

impl Account {
    /// A new email/password account of `user_id` with the password `hash`
    /// (better-auth's: provider `credential`, `accountId` the user's id).
    pub fn credential(id: String, user_id: &str, hash: String, now: Timestamp) -> Self {
        Account {
            id,
            account_id: user_id.to_owned(),
            provider_id: CREDENTIAL_PROVIDER.to_owned(),
            user_id: user_id.to_owned(),
            access_token: None,
            refresh_token: None,
            id_token: None,
            access_token_expires_at: None,
            refresh_token_expires_at: None,
            scope: None,
            password: Some(hash),
            created_at: now,
            updated_at: now,
        }
    }
}

/// A verification value (table `verification`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// Id.
    pub id: String,
    /// What it verifies, e.g. `auth-state:<state>`.
    pub identifier: String,
    /// The value.
    pub value: String,
    /// Expiry.
    pub expires_at: Timestamp,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last update.
    pub updated_at: Timestamp,
}

/// Changes to a session; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionUpdate {
    /// New expiry.
    pub expires_at: Option<Timestamp>,
    /// New update time.
    pub updated_at: Option<Timestamp>,
    /// Additional fields to set.
    pub extra: Map<String, Value>,
}

impl SessionUpdate {
    /// Ends a session at `now` (how `preserveSessionInDatabase` revokes).
    pub fn ended(now: Timestamp) -> Self {
        SessionUpdate {
            expires_at: Some(now),
            ..SessionUpdate::default()
        }
    }

    /// Applies the update to a session in place.
    pub fn apply(&self, session: &mut Session) {
        if let Some(t) = self.expires_at {
            session.expires_at = t;
        }
        if let Some(t) = self.updated_at {
            session.updated_at = t;
        }
        for (k, v) in &self.extra {
            session.extra.insert(k.clone(), v.clone());
        }
    }
}

/// A storage failure. Details stay server-side: the HTTP layer answers 5xx
/// with a generic body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A unique constraint (email, token) already holds that value.
    #[error("a record with this {0} already exists")]
    Conflict(&'static str),
    /// The backend could not be reached.
    #[error("storage unavailable")]
    Unavailable(#[source] Box<dyn StdError + Send + Sync>),
    /// The backend answered with something unreadable or failed otherwise.
    #[error("storage backend error")]
    Backend(#[source] Box<dyn StdError + Send + Sync>),
    /// The backend does not offer this operation (a third-party
    /// [`Database`] without a revocation log, say).
    #[error("the storage backend does not support {0}")]
    Unsupported(&'static str),
}

impl StoreError {
    /// Wraps any backend error.
    pub fn backend(e: impl StdError + Send + Sync + 'static) -> Self {
        StoreError::Backend(Box::new(e))
    }
}

/// The rewrite function of [`SecondaryStorage::update`]: given the current
/// value, the new value and TTL, or `None` to delete the key.
pub type UpdateFn<'f> =
    dyn for<'v> Fn(Option<&'v str>) -> Option<(String, Option<Duration>)> + Send + Sync + 'f;

/// The primary database: users, accounts, sessions, verifications.
#[async_trait]
pub trait Database: Send + Sync + 'static {
    /// Inserts a user. [`StoreError::Conflict`] when the email is taken.
    async fn create_user(&self, user: &User) -> Result<(), StoreError>;
    /// Inserts a user and an account together (one transaction).
    async fn create_user_with_account(
        &self,
        user: &User,
        account: &Account,
    ) -> Result<(), StoreError>;
    /// A user by id.
    async fn find_user_by_id(&self, id: &str) -> Result<Option<User>, StoreError>;
    /// A user by (lowercased) email.
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;
    /// A user by email with their credential account, in one call.
    async fn find_user_with_credential(
        &self,
        email: &str,
    ) -> Result<Option<(User, Option<Account>)>, StoreError>;
    /// Replaces a user row; returns whether it existed.
    async fn update_user(&self, user: &User) -> Result<bool, StoreError>;
    /// Deletes a user with their accounts and sessions.
    async fn delete_user(&self, id: &str) -> Result<(), StoreError>;

    /// Inserts an account.
    async fn create_account(&self, account: &Account) -> Result<(), StoreError>;
    /// A user's accounts.
    async fn find_accounts(&self, user_id: &str) -> Result<Vec<Account>, StoreError>;
    /// The account a provider knows by `account_id` (better-auth's
    /// `findAccountByProviderId`), whoever owns it: how an OAuth sign-in
    /// finds its user.
    async fn find_account_by_provider(
        &self,
        provider_id: &str,
        account_id: &str,
    ) -> Result<Option<Account>, StoreError>;
    /// Replaces an account row; returns whether it existed.
    async fn update_account(&self, account: &Account) -> Result<bool, StoreError>;
    /// Deletes an account.
    async fn delete_account(&self, id: &str) -> Result<(), StoreError>;

    /// Inserts a session.
    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;
    /// A session by token with its user: one lookup.
    async fn find_session(&self, token: &str) -> Result<Option<SessionWithUser>, StoreError>;
    /// Sessions by tokens, with users (multi-session lists).
    async fn find_sessions(&self, tokens: &[String]) -> Result<Vec<SessionWithUser>, StoreError>;
    /// A user's sessions, expired ones included.
    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>, StoreError>;
    /// Updates a session by token; `None` when it does not exist.
    async fn update_session(
        &self,
        token: &str,
        update: &SessionUpdate,
    ) -> Result<Option<Session>, StoreError>;
    /// Deletes a session by token.
    async fn delete_session(&self, token: &str) -> Result<(), StoreError>;
    /// Deletes all of a user's sessions.
    async fn delete_user_sessions(&self, user_id: &str) -> Result<(), StoreError>;

    /// Inserts a verification value.
    async fn create_verification(&self, v: &Verification) -> Result<(), StoreError>;
    /// The newest verification value for an identifier.
    async fn find_verification(&self, identifier: &str)
        -> Result<Option<Verification>, StoreError>;
    /// Deletes verification values by identifier.
    async fn delete_verification(&self, identifier: &str) -> Result<(), StoreError>;
    /// Takes the newest verification value for an identifier and deletes
    /// every value of that identifier, atomically: of concurrent callers
    /// exactly one gets it (better-auth's `consumeVerificationValue`), so a
    /// one-time token (a password reset, a deletion) is spent once. An
    /// expired value is deleted too and returned; the caller checks
    /// `expires_at`.
    async fn consume_verification(
        &self,
        identifier: &str,
    ) -> Result<Option<Verification>, StoreError>;

    /// Whether this database keeps a revocation log
    /// ([`Database::append_revocation`]). Without one, and without
    /// secondary storage, a revocation reaches other processes only when
    /// their cookie caches expire, and [`crate::Auth`] refuses to build
    /// unless `session.revocation_lag` is `None`.
    fn has_revocation_log(&self) -> bool {
        false
    }

    /// Appends an entry to the revocation log, to be kept until `now +
    /// retain`; returns its number. Entries past their time may be removed
    /// here. See [`SecondaryStorage::append_revocation`].
    async fn append_revocation(
        &self,
        entry: &str,
        now: Timestamp,
        retain: Duration,
    ) -> Result<u64, StoreError> {
        let _ = (entry, now, retain);
        Err(StoreError::Unsupported("a revocation log"))
    }

    /// Reads the revocation log: the entries numbered `after + 1` on (at
    /// most `limit` of them) and those numbered in `missing`. See
    /// [`SecondaryStorage::read_revocations`].
    async fn read_revocations(
        &self,
        after: u64,
        missing: &[u64],
        limit: usize,
    ) -> Result<RevocationPage, StoreError> {
        let _ = (after, missing, limit);
        Err(StoreError::Unsupported("a revocation log"))
    }
}

/// What one read of the revocation log found (see
/// [`SecondaryStorage::read_revocations`]).
///
/// Entries carry increasing numbers, handed out by the log. A reader asks
/// for what follows the last number it covered, plus the numbers the log
/// reported missing before: a writer may have taken a number and not yet
/// written its entry, and the reader comes back for it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RevocationPage {
    /// Entries found, `(number, entry)`, ascending.
    pub entries: Vec<(u64, String)>,
    /// Numbers up to `read_to` that were taken but have no entry yet.
    pub missing: Vec<u64>,
    /// Everything up to this number was read. Lower than the reader's
    /// position when the log was lost and numbering started again (a
    /// Redis restarted without persistence): the reader starts over.
    pub read_to: u64,
    /// Whether there is more past `read_to`: read again.
    pub more: bool,
}

impl RevocationPage {
    /// A page of `entries` covering everything up to `read_to`.
    pub fn new(entries: Vec<(u64, String)>, missing: Vec<u64>, read_to: u64, more: bool) -> Self {
        RevocationPage {
            entries,
            missing,
            read_to,
            more,
        }
    }
}

/// Key of the revocation log's counter in secondary storage. The braces
/// are a Redis Cluster hash tag: the counter and every entry share a slot.
pub const REVOCATION_HEAD_KEY: &str = "{tessera-revocations}-head";

/// Key of revocation log entry `n` in secondary storage.
pub fn revocation_entry_key(n: u64) -> String {
    format!("{{tessera-revocations}}-{n}")
}

/// The counter's TTL, renewed by no one: long enough never to matter (ten
/// years). Were it to expire, readers would see the log start again.
pub const REVOCATION_HEAD_TTL: Duration = Duration::from_secs(10 * 365 * 86_400);

/// The lowest entry number of the revocation log still kept in `storage`
/// (`head + 1` when none is): bisection over `1..=head`, since entries
/// expire in the order they were written.
async fn oldest_kept<S: SecondaryStorage + ?Sized>(
    storage: &S,
    head: u64,
) -> Result<u64, StoreError> {
    let (mut lo, mut hi) = (1, head.saturating_add(1));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if storage.get(&revocation_entry_key(mid)).await?.is_some() {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(lo)
}

/// A user's revocation watermark, as a session lookup found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Watermark {
    /// Read with the record: the value of
    /// `revoked-sessions-before-<userId>`, `None` when there is none.
    Read(Option<String>),
    /// Not read: the caller reads it, once it has parsed the record.
    Unread,
}

/// A key-value store with TTLs, such as Redis (spec §5.1). Values are
/// strings (JSON); TTLs are whole seconds.
#[async_trait]
pub trait SecondaryStorage: Send + Sync + 'static {
    /// The value at `key`.
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Sets `key`, expiring after `ttl` when given.
    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), StoreError>;
    /// Removes `key`.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Replaces the value at `key` only if the key exists (Redis
    /// `SET … XX`); returns whether it did. A refresh writes this way, so a
    /// refresh racing a revocation can never bring the session back. The
    /// default is a read then a write; backends override it atomically.
    async fn set_if_exists(
        &self,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        if self.get(key).await?.is_none() {
            return Ok(false);
        }
        self.set(key, value, ttl).await?;
        Ok(true)
    }

    /// A session record (the value at `token`) with, where the backend
    /// can read it in the same round trip, its user's revocation watermark
    /// (`revoked-sessions-before-<session.userId>`): what a cache-miss
    /// lookup reads. The default reads the record alone
    /// ([`Watermark::Unread`]), and the lookup reads the watermark after
    /// parsing it; Redis reads both with one script.
    async fn get_session_record(
        &self,
        token: &str,
    ) -> Result<Option<(String, Watermark)>, StoreError> {
        Ok(self
            .get(token)
            .await?
            .map(|value| (value, Watermark::Unread)))
    }

    /// The values at several keys, in order (Redis `MGET`). The default
    /// reads them one by one.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, StoreError> {
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(self.get(key).await?);
        }
        Ok(values)
    }

    /// Appends an entry to the revocation log every process sharing this
    /// storage follows, kept for `retain`; returns its number.
    ///
    /// The default takes a number from the counter at
    /// [`REVOCATION_HEAD_KEY`], then writes the entry at
    /// [`revocation_entry_key`]: between the two a reader may see the
    /// number without its entry, and comes back for it. Backends that can
    /// do both at once override this.
    async fn append_revocation(&self, entry: &str, retain: Duration) -> Result<u64, StoreError> {
        let n = self
            .increment(REVOCATION_HEAD_KEY, REVOCATION_HEAD_TTL)
            .await?;
        self.set(&revocation_entry_key(n), entry, Some(retain))
            .await?;
        Ok(n)
    }

    /// Reads the revocation log: the entries numbered past `after` (at
    /// most `limit` of them; `after = 0` starts at the oldest entry still
    /// kept) and those numbered in `missing`, with how far the read reached
    /// ([`RevocationPage`]).
    ///
    /// The default reads the counter, then the entries with
    /// [`SecondaryStorage::get_many`]; a reader starting at 0 first finds
    /// the oldest entry kept by bisection (entries expire in order).
    async fn read_revocations(
        &self,
        after: u64,
        missing: &[u64],
        limit: usize,
    ) -> Result<RevocationPage, StoreError> {
        let head = self
            .get(REVOCATION_HEAD_KEY)
            .await?
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let after = if after == 0 && missing.is_empty() {
            oldest_kept(self, head).await?.saturating_sub(1)
        } else {
            after
        };
        let read_to = head.min(after.saturating_add(limit as u64));
        let numbers: Vec<u64> = missing
            .iter()
            .copied()
            .filter(|n| *n <= after)
            .chain(after.saturating_add(1)..=read_to)
            .collect();
        let keys: Vec<String> = numbers.iter().map(|n| revocation_entry_key(*n)).collect();
        let values = if keys.is_empty() {
            Vec::new()
        } else {
            self.get_many(&keys).await?
        };
        let mut entries = Vec::new();
        let mut absent = Vec::new();
        for (n, value) in numbers.into_iter().zip(values) {
            match value {
                Some(v) => entries.push((n, v)),
                None => absent.push(n),
            }
        }
        entries.sort_unstable_by_key(|(n, _)| *n);
        Ok(RevocationPage::new(
            entries,
            absent,
            read_to,
            head > read_to,
        ))
    }

    /// Atomically reads and removes `key`.
    async fn get_and_delete(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Atomically increments the counter at `key`; the TTL applies only
    /// when the counter is created.
    async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, StoreError>;

    /// Atomically rewrites the value at `key` with `f` (given the current
    /// value; returning `None` deletes the key). Backends override this with
    /// a real atomic primitive (a Lua script, MULTI/WATCH); the default is a
    /// plain read-modify-write and is only as safe as its callers are serial.
    async fn update(&self, key: &str, f: &UpdateFn<'_>) -> Result<(), StoreError> {
        let current = self.get(key).await?;
        match f(current.as_deref()) {
            Some((value, ttl)) => self.set(key, &value, ttl).await,
            None => self.delete(key).await,
        }
    }
}
