//! The session lifecycle: create, find, refresh, revoke, list (spec §5.3,
//! §6), over the database and, when configured, secondary storage with
//! better-auth's key layout (spec §5.2).

mod engine;
mod resolve;
mod revocation;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::id::{generate_id, ID_LENGTH};
use crate::options::SessionOptions;
use crate::store::{
    Database, SecondaryStorage, Session, SessionUpdate, SessionWithUser, StoreError, User,
    Watermark,
};
use crate::Timestamp;

pub use engine::{CacheHit, CacheHitHook, ResolveError, SessionEngine};
pub(crate) use resolve::Resolved;
pub use resolve::{ResolveOptions, SessionOutcome};
pub(crate) use revocation::{LogStore, RevocationFollower, Verdict};

/// Lifetime of a session created with `rememberMe: false` (spec §6.3).
pub const DONT_REMEMBER_EXPIRES_IN: u64 = 86_400;

/// Request facts recorded on a new session (spec §6.2).
#[derive(Clone, Debug, Default)]
pub struct SessionMeta {
    /// Client IP, normalised (`""` when unknown).
    pub ip_address: String,
    /// `User-Agent` (`""` when absent).
    pub user_agent: String,
}

/// Session records over the configured stores, with better-auth's
/// semantics for secondary storage (`storeSessionInDatabase`,
/// `preserveSessionInDatabase`, the per-user index and the revocation
/// watermark).
#[derive(Clone)]
pub struct Sessions {
    db: Arc<dyn Database>,
    secondary: Option<Arc<dyn SecondaryStorage>>,
    options: SessionOptions,
    /// The revocation log every revocation is published to first, when
    /// `session.revocation_lag` is on and there is a store.
    revocations: Option<Arc<RevocationFollower>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("secondary", &self.secondary.is_some())
            .field("options", &self.options)
            .field("revocations", &self.revocations.is_some())
            .finish_non_exhaustive()
    }
}

/// The `active-sessions-<userId>` list entries.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
struct IndexEntry {
    token: String,
    expires_at: i64,
}

/// Key of a user's session index.
pub fn active_sessions_key(user_id: &str) -> String {
    format!("active-sessions-{user_id}")
}

/// Whether a user's revocation watermark (ms) postdates the session.
fn revoked_by(watermark: Option<&str>, session: &Session) -> bool {
    watermark
        .and_then(|w| w.trim().parse::<i64>().ok())
        .is_some_and(|w| session.created_at.as_millis() < w)
}

/// Key of a user's revocation watermark.
pub fn revoked_before_key(user_id: &str) -> String {
    format!("revoked-sessions-before-{user_id}")
}

/// Whole seconds from `now` until `t` (at least 1, so a key is never written
/// already expired).
fn ttl_until(t: Timestamp, now: Timestamp) -> Duration {
    let ms = (t.as_millis() - now.as_millis()).max(1000);
    Duration::from_secs(u64::try_from(ms / 1000).unwrap_or(1))
}

impl Sessions {
    /// Sessions over a database and optional secondary storage.
    pub fn new(
        db: Arc<dyn Database>,
        secondary: Option<Arc<dyn SecondaryStorage>>,
        options: SessionOptions,
    ) -> Self {
        Sessions {
            db,
            secondary,
            options,
            revocations: None,
        }
    }

    /// These sessions, publishing every revocation to `follower`'s log.
    pub(crate) fn with_revocations(mut self, follower: Arc<RevocationFollower>) -> Self {
        self.revocations = Some(follower);
        self
    }

    /// The revocation log this process follows, if any.
    pub(crate) fn revocations(&self) -> Option<&Arc<RevocationFollower>> {
        self.revocations.as_ref()
    }

    /// Store calls this process has spent reading the revocation log (0
    /// without one): the background traffic that following costs.
    pub fn revocation_log_reads(&self) -> u64 {
        self.revocations.as_ref().map_or(0, |r| r.reads())
    }

    /// The session record for `token` as stored, revoked or not.
    async fn stored(&self, token: &str) -> Result<Option<Session>, StoreError> {
        if let Some(storage) = &self.secondary {
            if let Some(raw) = storage.get(token).await? {
                return Ok(serde_json::from_str::<SessionWithUser>(&raw)
                    .ok()
                    .map(|s| s.session));
            }
            if !self.db_fallback() {
                return Ok(None);
            }
        }
        Ok(self.db.find_session(token).await?.map(|s| s.session))
    }

    /// The database.
    pub fn database(&self) -> &Arc<dyn Database> {
        &self.db
    }

    /// The secondary storage, if any.
    pub fn secondary_storage(&self) -> Option<&Arc<dyn SecondaryStorage>> {
        self.secondary.as_ref()
    }

    /// Whether the database is authoritative for session rows.
    fn db_has_sessions(&self) -> bool {
        self.secondary.is_none() || self.options.store_session_in_database
    }

    /// Whether a storage miss may fall back to the database.
    fn db_fallback(&self) -> bool {
        self.options.store_session_in_database && !self.options.preserve_session_in_database
    }

    /// Creates a session for `user` (spec §6.2): a new 32-character token,
    /// `expiresAt = now + expiresIn`, or one day with `dont_remember`.
    pub async fn create(
        &self,
        user: &User,
        meta: &SessionMeta,
        dont_remember: bool,
        now: Timestamp,
    ) -> Result<Session, StoreError> {
        let lifetime = if dont_remember {
            DONT_REMEMBER_EXPIRES_IN
        } else {
            self.options.expires_in
        };
        let session = Session {
            expires_at: now.plus_secs(i64::try_from(lifetime).unwrap_or(i64::MAX)),
            token: generate_id(ID_LENGTH),
            created_at: now,
            updated_at: now,
            ip_address: Some(meta.ip_address.clone()),
            user_agent: Some(meta.user_agent.clone()),
            user_id: user.id.clone(),
            id: generate_id(ID_LENGTH),
            extra: Default::default(),
        };
        if self.db_has_sessions() {
            self.db.create_session(&session).await?;
        }
        if let Some(storage) = &self.secondary {
            self.index_put(storage.as_ref(), &session, now).await?;
            let value = SessionWithUser {
                session: session.clone(),
                user: user.clone(),
            };
            storage
                .set(
                    &session.token,
                    &serde_json::to_string(&value).map_err(StoreError::backend)?,
                    Some(ttl_until(session.expires_at, now)),
                )
                .await?;
        }
        Ok(session)
    }

    /// The session for `token` with its user, or `None`. With secondary
    /// storage a session created before the user's revocation watermark is
    /// treated as revoked.
    pub async fn find(&self, token: &str) -> Result<Option<SessionWithUser>, StoreError> {
        let Some(storage) = &self.secondary else {
            return self.db.find_session(token).await;
        };
        match storage.get_session_record(token).await? {
            Some((raw, watermark)) => {
                let found: SessionWithUser = match serde_json::from_str(&raw) {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::warn!(error = %e, "unreadable session value in secondary storage");
                        return Ok(None);
                    }
                };
                let watermark = match watermark {
                    Watermark::Read(watermark) => watermark,
                    Watermark::Unread => {
                        storage
                            .get(&revoked_before_key(&found.session.user_id))
                            .await?
                    }
                };
                if revoked_by(watermark.as_deref(), &found.session) {
                    return Ok(None);
                }
                Ok(Some(found))
            }
            None if self.db_fallback() => self.db.find_session(token).await,
            None => Ok(None),
        }
    }

    /// Sessions for several tokens, with their users, in the order given;
    /// unknown or revoked tokens are left out (multi-session lists).
    pub async fn find_many(&self, tokens: &[String]) -> Result<Vec<SessionWithUser>, StoreError> {
        if self.secondary.is_none() {
            let mut found = self.db.find_sessions(tokens).await?;
            found.sort_by_key(|s| tokens.iter().position(|t| *t == s.session.token));
            return Ok(found);
        }
        let mut out = Vec::with_capacity(tokens.len());
        for token in tokens {
            if let Some(s) = self.find(token).await? {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// Updates a session; `None` when it no longer exists.
    pub async fn update(
        &self,
        token: &str,
        update: &SessionUpdate,
        now: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        let Some(storage) = &self.secondary else {
            return self.db.update_session(token, update).await;
        };
        let Some(mut current) = self.find(token).await? else {
            return Ok(None);
        };
        update.apply(&mut current.session);
        let written = storage
            .set_if_exists(
                token,
                &serde_json::to_string(&current).map_err(StoreError::backend)?,
                Some(ttl_until(current.session.expires_at, now)),
            )
            .await?;
        if !written {
            // Revoked since it was read: stay revoked.
            return Ok(None);
        }
        self.index_put(storage.as_ref(), &current.session, now)
            .await?;
        // A revocation that ran between the write and the index update has
        // already removed the entry this just put back: take it out again.
        if storage.get(token).await?.is_none() {
            self.index_remove(storage.as_ref(), &current.session.user_id, &[token], now)
                .await?;
            return Ok(None);
        }
        if self.options.store_session_in_database {
            self.db.update_session(token, update).await?;
        }
        Ok(Some(current.session))
    }

    /// Deletes one session. With a revocation log, the revocation is
    /// published first: once this returns, every process stops accepting
    /// the session within the lag, cookie caches included; should the
    /// deletion then fail, the session stays revoked there.
    pub async fn delete(&self, token: &str, now: Timestamp) -> Result<(), StoreError> {
        if let Some(log) = &self.revocations {
            if let Some(session) = self.stored(token).await? {
                // An expired session needs no entry: cache hits check expiry.
                if session.expires_at > now {
                    log.publish_session(&session, now).await?;
                }
            }
        }
        self.remove(token, now).await
    }

    /// Deletes a session already seen expired: nothing to publish, since
    /// cache hits check expiry themselves, so no record to read first.
    pub(crate) async fn delete_expired(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.remove(token, now).await
    }

    /// Removes a session from the stores, unpublished.
    async fn remove(&self, token: &str, now: Timestamp) -> Result<(), StoreError> {
        if let Some(storage) = &self.secondary {
            // The key goes first, atomically: from here on no refresh can
            // write it back (`set_if_exists`), then the index forgets it.
            if let Some(raw) = storage.get_and_delete(token).await? {
                if let Ok(found) = serde_json::from_str::<SessionWithUser>(&raw) {
                    self.index_remove(storage.as_ref(), &found.session.user_id, &[token], now)
                        .await?;
                }
            }
            if !self.options.store_session_in_database {
                return Ok(());
            }
            if self.options.preserve_session_in_database {
                self.db
                    .update_session(token, &SessionUpdate::ended(now))
                    .await?;
                return Ok(());
            }
        }
        self.db.delete_session(token).await
    }

    /// Deletes every session of a user; with secondary storage also raises
    /// the revocation watermark so copies anywhere else die too. With a
    /// revocation log, published there first (see [`Sessions::delete`]).
    pub async fn delete_user_sessions(
        &self,
        user_id: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if let Some(log) = &self.revocations {
            log.publish_user(user_id, now).await?;
        }
        if let Some(storage) = &self.secondary {
            let watermark_ttl = Duration::from_secs(self.options.expires_in.max(86_400));
            let now_ms = now.as_millis();
            storage
                .update(&revoked_before_key(user_id), &move |cur: Option<&str>| {
                    let prev = cur.and_then(|c| c.trim().parse::<i64>().ok()).unwrap_or(0);
                    Some((prev.max(now_ms).to_string(), Some(watermark_ttl)))
                })
                .await?;
            let tokens: Vec<String> = self
                .read_index(storage.as_ref(), user_id)
                .await?
                .into_iter()
                .map(|e| e.token)
                .collect();
            for token in &tokens {
                storage.delete(token).await?;
            }
            let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
            self.index_remove(storage.as_ref(), user_id, &refs, now)
                .await?;
            if !self.options.store_session_in_database {
                return Ok(());
            }
            if self.options.preserve_session_in_database {
                let end = SessionUpdate::ended(now);
                for s in self.db.list_sessions(user_id).await? {
                    self.db.update_session(&s.token, &end).await?;
                }
                return Ok(());
            }
        }
        self.db.delete_user_sessions(user_id).await
    }

    /// Replaces a user row and the copy of it each of the user's session
    /// records in secondary storage carries (better-auth's
    /// `refreshUserSessions`), so the next read of any of those sessions
    /// sees the change; returns whether the user existed. Cookie caches
    /// keep their copy until they expire, as in better-auth.
    pub async fn update_user(&self, user: &User, now: Timestamp) -> Result<bool, StoreError> {
        if !self.db.update_user(user).await? {
            return Ok(false);
        }
        let Some(storage) = &self.secondary else {
            return Ok(true);
        };
        for entry in self.read_index(storage.as_ref(), &user.id).await? {
            if entry.expires_at <= now.as_millis() {
                continue;
            }
            let Some(raw) = storage.get(&entry.token).await? else {
                continue;
            };
            let Ok(mut found) = serde_json::from_str::<SessionWithUser>(&raw) else {
                continue;
            };
            found.user = user.clone();
            // Only over a record still there: a revocation in between wins.
            storage
                .set_if_exists(
                    &entry.token,
                    &serde_json::to_string(&found).map_err(StoreError::backend)?,
                    Some(ttl_until(found.session.expires_at, now)),
                )
                .await?;
        }
        Ok(true)
    }

    /// Deletes a user with their accounts and sessions. The sessions end
    /// first, through [`Sessions::delete_user_sessions`] (published to the
    /// revocation log when there is one), so that should the deletion
    /// fail, no session of the user outlives the request.
    pub async fn delete_user(&self, user_id: &str, now: Timestamp) -> Result<(), StoreError> {
        self.delete_user_sessions(user_id, now).await?;
        self.db.delete_user(user_id).await
    }

    /// A user's live sessions (`expiresAt > now`), oldest first.
    pub async fn list(&self, user_id: &str, now: Timestamp) -> Result<Vec<Session>, StoreError> {
        let mut sessions = match &self.secondary {
            Some(storage) if !self.db_fallback() => {
                let mut out: Vec<Session> = Vec::new();
                for entry in self.read_index(storage.as_ref(), user_id).await? {
                    if entry.expires_at <= now.as_millis()
                        || out.iter().any(|s| s.token == entry.token)
                    {
                        continue;
                    }
                    if let Some(found) = self.find(&entry.token).await? {
                        out.push(found.session);
                    }
                }
                out
            }
            _ => self.db.list_sessions(user_id).await?,
        };
        sessions.retain(|s| s.expires_at > now);
        sessions.sort_by_key(|s| s.created_at);
        Ok(sessions)
    }

    async fn read_index(
        &self,
        storage: &dyn SecondaryStorage,
        user_id: &str,
    ) -> Result<Vec<IndexEntry>, StoreError> {
        Ok(storage
            .get(&active_sessions_key(user_id))
            .await?
            .and_then(|raw| serde_json::from_str(&raw).ok())
            .unwrap_or_default())
    }

    /// Adds or moves `session` in its user's index, atomically.
    async fn index_put(
        &self,
        storage: &dyn SecondaryStorage,
        session: &Session,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let entry = IndexEntry {
            token: session.token.clone(),
            expires_at: session.expires_at.as_millis(),
        };
        storage
            .update(
                &active_sessions_key(&session.user_id),
                &move |cur: Option<&str>| {
                    let mut list = parse_index(cur);
                    list.retain(|e| e.token != entry.token);
                    list.push(entry.clone());
                    rewrite_index(list, now)
                },
            )
            .await
    }

    /// Removes tokens from a user's index, atomically.
    async fn index_remove(
        &self,
        storage: &dyn SecondaryStorage,
        user_id: &str,
        tokens: &[&str],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let tokens: Vec<String> = tokens.iter().map(|t| (*t).to_owned()).collect();
        storage
            .update(&active_sessions_key(user_id), &move |cur: Option<&str>| {
                let mut list = parse_index(cur);
                list.retain(|e| !tokens.contains(&e.token));
                rewrite_index(list, now)
            })
            .await
    }
}

fn parse_index(raw: Option<&str>) -> Vec<IndexEntry> {
    raw.and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_default()
}

/// Sorted by expiry, deduplicated, expired entries pruned; `None` (delete
/// the key) when nothing is left. TTL: until the latest expiry.
fn rewrite_index(mut list: Vec<IndexEntry>, now: Timestamp) -> Option<(String, Option<Duration>)> {
    list.retain(|e| e.expires_at > now.as_millis());
    list.sort_by_key(|e| e.expires_at);
    let mut seen = std::collections::HashSet::new();
    list.retain(|e| seen.insert(e.token.clone()));
    let last = list.last()?.expires_at;
    let json = serde_json::to_string(&list).ok()?;
    Some((json, Some(ttl_until(Timestamp::from_millis(last), now))))
}
