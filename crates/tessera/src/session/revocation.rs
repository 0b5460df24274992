//! Revocation that reaches every process sharing a store within
//! `session.revocation_lag`, cookie-cache hits included
//! (`docs/revocation.md`).
//!
//! Every revocation appends an entry to a log in the shared store *before*
//! it deletes anything: one session ended (`{"session": id, "at": ms}`), or
//! every session of a user created up to a time (`{"user": id, "at": ms}`).
//! Each process follows the log. A cache hit asks
//! [`RevocationFollower::check`], which answers from memory; when the
//! process last read the log more than half a lag ago, the request that
//! notices reads it (at most one at a time; the others go on). A hit the
//! process cannot vouch for, because the log has not been read for longer
//! than the lag (the store is away), is [`Verdict::Unknown`], and the
//! caller reads the store instead: fail closed.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::store::{Database, RevocationPage, SecondaryStorage, Session, StoreError};
use crate::Timestamp;

/// Entries read per store call.
const PAGE: usize = 1_000;
/// Pages one read may take before it gives up for now (a process far
/// behind catches up over several reads, failing closed meanwhile).
const PAGES_PER_READ: usize = 16;
/// How long a number the log reported missing is asked for again: a writer
/// takes a number, then writes its entry a round trip later; a number
/// still missing after this was never written (a failed write).
const MISSING_GRACE_MS: i64 = 30_000;
/// The most missing numbers remembered at once.
const MAX_MISSING: usize = 4_096;
/// `synced_at` before the first complete read.
const NEVER: i64 = i64::MIN;

/// Where the log lives: the secondary storage when there is one (the
/// sessions live there), the database otherwise.
#[derive(Clone)]
pub(crate) enum LogStore {
    /// Secondary storage (Redis).
    Secondary(Arc<dyn SecondaryStorage>),
    /// The database.
    Database(Arc<dyn Database>),
}

/// One entry of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    /// A session id: that session ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session: Option<String>,
    /// A user id: every session of theirs created up to `at` ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    /// When it was written (ms).
    at: i64,
}

/// What the follower knows of a session on a cache hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not revoked as of a read no older than the lag.
    Live,
    /// Revoked (or perhaps revoked: the store decides).
    Revoked,
    /// The log has not been read within the lag: read the store.
    Unknown,
}

/// Revocations read from the log, forgotten once no cookie cache written
/// before them can still be presented.
#[derive(Debug, Default)]
struct Known {
    /// The last number read.
    position: u64,
    /// Numbers the log reported taken but unwritten, with when first seen.
    missing: BTreeMap<u64, i64>,
    /// Ended sessions: id → when to forget (ms).
    sessions: HashMap<String, i64>,
    /// Users: id → (sessions created up to this time ended, when to forget).
    users: HashMap<String, (i64, i64)>,
}

impl Known {
    fn apply(&mut self, entry: Entry, retain_ms: i64) {
        let forget_at = entry.at.saturating_add(retain_ms);
        if let Some(id) = entry.session {
            let at = self.sessions.entry(id).or_insert(forget_at);
            *at = (*at).max(forget_at);
        }
        if let Some(id) = entry.user {
            let known = self.users.entry(id).or_insert((entry.at, forget_at));
            known.0 = known.0.max(entry.at);
            known.1 = known.1.max(forget_at);
        }
    }

    /// Takes in one page read from `after`; `false` when the log started
    /// again and the reader must read from the start.
    fn absorb(&mut self, page: RevocationPage, after: u64, now_ms: i64, retain_ms: i64) -> bool {
        if page.read_to < after {
            tracing::warn!(
                position = after,
                log = page.read_to,
                "the revocation log started again: reading it from the start"
            );
            self.position = 0;
            self.missing.clear();
            return false;
        }
        for (n, raw) in page.entries {
            self.missing.remove(&n);
            match serde_json::from_str::<Entry>(&raw) {
                Ok(entry) => self.apply(entry, retain_ms),
                Err(e) => tracing::warn!(number = n, error = %e, "unreadable revocation entry"),
            }
        }
        for n in page.missing {
            self.missing.entry(n).or_insert(now_ms);
        }
        self.missing
            .retain(|_, first_seen| now_ms - *first_seen < MISSING_GRACE_MS);
        while self.missing.len() > MAX_MISSING {
            self.missing.pop_first();
        }
        self.position = self.position.max(page.read_to);
        true
    }

    fn forget_old(&mut self, now_ms: i64) {
        self.sessions.retain(|_, forget_at| *forget_at > now_ms);
        self.users.retain(|_, (_, forget_at)| *forget_at > now_ms);
    }
}

/// Clears the "a read is under way" flag when the read ends, however it
/// ends (a cancelled request included).
struct Reading<'a>(&'a AtomicBool);

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// One process's view of the revocation log: what it publishes, what it
/// has read, and how recently.
pub(crate) struct RevocationFollower {
    store: LogStore,
    lag_ms: i64,
    read_every_ms: i64,
    retain: Duration,
    retain_ms: i64,
    known: RwLock<Known>,
    /// When the last complete read started (ms): every revocation
    /// published before then is known.
    synced_at: AtomicI64,
    reading: AtomicBool,
    /// Store calls spent reading the log (for the background-traffic figure).
    reads: AtomicU64,
    /// When entries were last forgotten (ms).
    forgot_at: AtomicI64,
}

impl std::fmt::Debug for RevocationFollower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationFollower")
            .field("lag_ms", &self.lag_ms)
            .field("retain", &self.retain)
            .field("synced_at", &self.synced_at.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl RevocationFollower {
    /// A follower of the log in `store`. Entries are kept for the longest a
    /// cookie cache written before them can live: `cache_max_age`, plus
    /// the lag, plus a minute of clock skew between processes.
    pub(crate) fn new(store: LogStore, lag: Duration, cache_max_age: Duration) -> Self {
        let lag_ms = i64::try_from(lag.as_millis()).unwrap_or(i64::MAX).max(1);
        let retain = cache_max_age + lag + Duration::from_secs(60);
        RevocationFollower {
            store,
            lag_ms,
            read_every_ms: (lag_ms / 2).max(1),
            retain,
            retain_ms: i64::try_from(retain.as_millis()).unwrap_or(i64::MAX),
            known: RwLock::new(Known::default()),
            synced_at: AtomicI64::new(NEVER),
            reading: AtomicBool::new(false),
            reads: AtomicU64::new(0),
            forgot_at: AtomicI64::new(NEVER),
        }
    }

    /// Store calls this process has spent reading the log.
    pub(crate) fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Publishes that one session ended, before the caller deletes it.
    pub(crate) async fn publish_session(
        &self,
        session: &Session,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.publish(
            Entry {
                session: Some(session.id.clone()),
                user: None,
                at: now.as_millis(),
            },
            now,
        )
        .await
    }

    /// Publishes that every session of `user_id` created up to `now` ended,
    /// before the caller deletes them.
    pub(crate) async fn publish_user(
        &self,
        user_id: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.publish(
            Entry {
                session: None,
                user: Some(user_id.to_owned()),
                at: now.as_millis(),
            },
            now,
        )
        .await
    }

    async fn publish(&self, entry: Entry, now: Timestamp) -> Result<(), StoreError> {
        let json = serde_json::to_string(&entry).map_err(StoreError::backend)?;
        match &self.store {
            LogStore::Secondary(s) => s.append_revocation(&json, self.retain).await?,
            LogStore::Database(d) => d.append_revocation(&json, now, self.retain).await?,
        };
        // This process knows at once.
        self.known
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .apply(entry, self.retain_ms);
        Ok(())
    }

    /// Whether a session from a cookie cache may be used at `now`.
    pub(crate) async fn check(&self, session: &Session, now: Timestamp) -> Verdict {
        let now_ms = now.as_millis();
        // A clock that went back (age below 0) reads too: the age of the
        // last read is not known then.
        let age = |synced: i64| (synced != NEVER).then(|| now_ms.saturating_sub(synced));
        let synced = self.synced_at.load(Ordering::Acquire);
        if age(synced).is_none_or(|a| !(0..self.read_every_ms).contains(&a)) {
            self.read(now).await;
        }
        let synced = self.synced_at.load(Ordering::Acquire);
        if age(synced).is_none_or(|a| !(0..=self.lag_ms).contains(&a)) {
            return Verdict::Unknown;
        }
        let known = self.known.read().unwrap_or_else(PoisonError::into_inner);
        if known.sessions.contains_key(&session.id) {
            return Verdict::Revoked;
        }
        // Up to and including `at`: a session created in the same
        // millisecond as the revocation is sent to the store, which knows.
        match known.users.get(&session.user_id) {
            Some((before, _)) if session.created_at.as_millis() <= *before => Verdict::Revoked,
            _ => Verdict::Live,
        }
    }

    /// Reads the log up to its end, unless another request is reading it.
    /// On success every revocation published before `now` is known.
    pub(crate) async fn read(&self, now: Timestamp) {
        if self.reading.swap(true, Ordering::AcqRel) {
            return;
        }
        let _reading = Reading(&self.reading);
        let now_ms = now.as_millis();
        match self.read_pages(now_ms).await {
            Ok(true) => {
                // One read at a time: this one is the newest.
                self.synced_at.store(now_ms, Ordering::Release);
            }
            Ok(false) => {
                tracing::warn!("the revocation log is longer than one read: continuing next time");
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read the revocation log");
            }
        }
        if now_ms.saturating_sub(self.forgot_at.load(Ordering::Relaxed)) >= 1_000 {
            self.forgot_at.store(now_ms, Ordering::Relaxed);
            self.known
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .forget_old(now_ms);
        }
    }

    /// Pages through the log; `Ok(true)` once at its end.
    async fn read_pages(&self, now_ms: i64) -> Result<bool, StoreError> {
        for _ in 0..PAGES_PER_READ {
            let (after, missing) = {
                let known = self.known.read().unwrap_or_else(PoisonError::into_inner);
                let missing: Vec<u64> = known.missing.keys().copied().collect();
                (known.position, missing)
            };
            self.reads.fetch_add(1, Ordering::Relaxed);
            let page = match &self.store {
                LogStore::Secondary(s) => s.read_revocations(after, &missing, PAGE).await?,
                LogStore::Database(d) => d.read_revocations(after, &missing, PAGE).await?,
            };
            let more = page.more;
            let in_order = self
                .known
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .absorb(page, after, now_ms, self.retain_ms);
            if in_order && !more {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MemoryDatabase, MemorySecondaryStorage};
    use crate::TestClock;

    fn session(id: &str, user: &str, created_ms: i64) -> Session {
        Session {
            expires_at: Timestamp::from_millis(created_ms + 86_400_000),
            token: format!("token-{id}"),
            created_at: Timestamp::from_millis(created_ms),
            updated_at: Timestamp::from_millis(created_ms),
            ip_address: None,
            user_agent: None,
            user_id: user.to_owned(),
            id: id.to_owned(),
            extra: Default::default(),
        }
    }

    fn followers(store: LogStore) -> (RevocationFollower, RevocationFollower) {
        let lag = Duration::from_secs(1);
        let max_age = Duration::from_secs(300);
        (
            RevocationFollower::new(store.clone(), lag, max_age),
            RevocationFollower::new(store, lag, max_age),
        )
    }

    fn stores() -> Vec<(&'static str, LogStore)> {
        let clock = TestClock::at(Timestamp::from_millis(1_000_000));
        vec![
            (
                "secondary storage",
                LogStore::Secondary(Arc::new(MemorySecondaryStorage::with_clock(Arc::new(
                    clock,
                )))),
            ),
            (
                "database",
                LogStore::Database(Arc::new(MemoryDatabase::new())),
            ),
        ]
    }

    #[tokio::test]
    async fn another_process_learns_of_a_revocation_within_the_lag() {
        for (name, store) in stores() {
            let (a, b) = followers(store);
            let t0 = 1_000_000;
            let s1 = session("s1", "u1", t0 - 10_000);
            let s2 = session("s2", "u1", t0 - 5_000);
            let now = Timestamp::from_millis(t0);
            assert_eq!(b.check(&s1, now).await, Verdict::Live, "{name}");
            a.publish_session(&s1, now).await.unwrap();
            assert_eq!(
                a.check(&s1, now).await,
                Verdict::Revoked,
                "{name}: publisher"
            );
            // Within half a lag, b has not read again: the hit stands.
            let soon = Timestamp::from_millis(t0 + 400);
            assert_eq!(b.check(&s1, soon).await, Verdict::Live, "{name}");
            // Past half a lag, the hit that notices reads the log.
            let later = Timestamp::from_millis(t0 + 600);
            assert_eq!(b.check(&s1, later).await, Verdict::Revoked, "{name}");
            assert_eq!(b.check(&s2, later).await, Verdict::Live, "{name}");
            a.publish_user("u1", later).await.unwrap();
            let after = Timestamp::from_millis(t0 + 1_200);
            assert_eq!(b.check(&s2, after).await, Verdict::Revoked, "{name}");
            let newer = session("s3", "u1", t0 + 1_100);
            assert_eq!(b.check(&newer, after).await, Verdict::Live, "{name}");
        }
    }

    /// A store that can be switched off.
    #[derive(Default)]
    struct Flaky {
        inner: MemorySecondaryStorage,
        down: AtomicBool,
    }

    #[async_trait::async_trait]
    impl SecondaryStorage for Flaky {
        async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
            self.up()?;
            self.inner.get(key).await
        }
        async fn set(
            &self,
            key: &str,
            value: &str,
            ttl: Option<Duration>,
        ) -> Result<(), StoreError> {
            self.up()?;
            self.inner.set(key, value, ttl).await
        }
        async fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.up()?;
            self.inner.delete(key).await
        }
        async fn get_and_delete(&self, key: &str) -> Result<Option<String>, StoreError> {
            self.up()?;
            self.inner.get_and_delete(key).await
        }
        async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, StoreError> {
            self.up()?;
            self.inner.increment(key, ttl).await
        }
    }

    impl Flaky {
        fn up(&self) -> Result<(), StoreError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable("down".into()));
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn an_unreadable_log_fails_closed_after_the_lag_and_recovers() {
        let flaky = Arc::new(Flaky::default());
        let follower = RevocationFollower::new(
            LogStore::Secondary(flaky.clone()),
            Duration::from_secs(1),
            Duration::from_secs(300),
        );
        let t0 = 1_000_000;
        let s = session("s", "u", t0 - 1);
        assert_eq!(
            follower.check(&s, Timestamp::from_millis(t0)).await,
            Verdict::Live
        );
        flaky.down.store(true, Ordering::SeqCst);
        // Within the lag the last read still vouches.
        let within = Timestamp::from_millis(t0 + 900);
        assert_eq!(follower.check(&s, within).await, Verdict::Live);
        let past = Timestamp::from_millis(t0 + 1_001);
        assert_eq!(follower.check(&s, past).await, Verdict::Unknown);
        flaky.down.store(false, Ordering::SeqCst);
        let back = Timestamp::from_millis(t0 + 1_500);
        assert_eq!(follower.check(&s, back).await, Verdict::Live);
    }

    #[tokio::test]
    async fn a_clock_that_goes_back_reads_the_log_again() {
        let storage: Arc<dyn SecondaryStorage> = Arc::new(MemorySecondaryStorage::default());
        let (a, b) = followers(LogStore::Secondary(storage));
        let t0 = 1_000_000;
        let s = session("s", "u", t0 - 10_000);
        assert_eq!(b.check(&s, Timestamp::from_millis(t0)).await, Verdict::Live);
        // B's clock jumps an hour back; the revocation comes after.
        let back = Timestamp::from_millis(t0 - 3_600_000);
        a.publish_session(&s, Timestamp::from_millis(t0 + 10))
            .await
            .unwrap();
        assert_eq!(b.check(&s, back).await, Verdict::Revoked);
    }

    #[tokio::test]
    async fn a_never_read_log_is_unknown_and_a_new_process_reads_what_is_kept() {
        let storage: Arc<dyn SecondaryStorage> = Arc::new(MemorySecondaryStorage::default());
        let writer = RevocationFollower::new(
            LogStore::Secondary(storage.clone()),
            Duration::from_secs(1),
            Duration::from_secs(300),
        );
        let t0 = 1_000_000;
        let now = Timestamp::from_millis(t0);
        for i in 0..2_500 {
            writer
                .publish_session(&session(&format!("s{i}"), "u", t0 - 1), now)
                .await
                .unwrap();
        }
        let late = RevocationFollower::new(
            LogStore::Secondary(storage),
            Duration::from_secs(1),
            Duration::from_secs(300),
        );
        assert_eq!(
            late.check(&session("s0", "u", t0 - 1), now).await,
            Verdict::Revoked
        );
        assert_eq!(
            late.check(&session("s2499", "u", t0 - 1), now).await,
            Verdict::Revoked
        );
        assert_eq!(
            late.check(&session("x", "u", t0 - 1), now).await,
            Verdict::Live
        );
    }

    #[test]
    fn missing_numbers_are_asked_for_again_then_given_up() {
        let mut known = Known::default();
        let page = RevocationPage::new(
            vec![(2, r#"{"session":"b","at":5}"#.to_owned())],
            vec![1],
            2,
            false,
        );
        assert!(known.absorb(page, 0, 0, 1_000));
        assert_eq!(known.missing.keys().copied().collect::<Vec<_>>(), vec![1]);
        let late = RevocationPage::new(
            vec![(1, r#"{"session":"a","at":4}"#.to_owned())],
            Vec::new(),
            2,
            false,
        );
        assert!(known.absorb(late, 2, 10, 1_000));
        assert!(known.missing.is_empty());
        assert!(known.sessions.contains_key("a") && known.sessions.contains_key("b"));
        let gap = RevocationPage::new(Vec::new(), vec![3], 3, false);
        assert!(known.absorb(gap, 2, 20, 1_000));
        let nothing = RevocationPage::new(Vec::new(), Vec::new(), 3, false);
        assert!(known.absorb(nothing, 3, 20 + MISSING_GRACE_MS, 1_000));
        assert!(known.missing.is_empty(), "given up after the grace");
        // The log starting again sends the reader back to the start.
        let restarted = RevocationPage::new(Vec::new(), Vec::new(), 1, false);
        assert!(!known.absorb(restarted, 3, 30, 1_000));
        assert_eq!(known.position, 0);
        known.forget_old(2_000);
        assert!(known.sessions.is_empty());
    }
}
