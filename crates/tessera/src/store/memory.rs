//! In-memory stores on `dashmap`: for tests, single-process deployments and
//! better-auth's stateless mode, which still keeps an in-memory database.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;

use super::{
    Account, Database, RevocationPage, SecondaryStorage, Session, SessionUpdate, SessionWithUser,
    StoreError, UpdateFn, User, Verification, CREDENTIAL_PROVIDER,
};
use crate::{Clock, SystemClock, Timestamp};

/// A [`Database`] held in process memory. Lost on restart.
#[derive(Debug, Default)]
pub struct MemoryDatabase {
    users: DashMap<String, User>,
    user_ids_by_email: DashMap<String, String>,
    accounts: DashMap<String, Account>,
    /// Account ids by owner: a user's accounts without a scan.
    account_ids_by_user: DashMap<String, Vec<String>>,
    /// Account id by `(providerId, accountId)`: an OAuth sign-in's lookup.
    account_ids_by_key: DashMap<(String, String), String>,
    /// Boxed: the map's table keeps about twice as many slots as entries,
    /// so a pointer per slot instead of a whole record halves its size.
    sessions: DashMap<String, Box<Session>>,
    /// Verification values by identifier (lookups are by identifier).
    verifications: DashMap<String, Vec<Verification>>,
    /// Each verification value's expiry and identifier, soonest first:
    /// what [`Database::create_verification`] sweeps, a few at a time.
    verification_expiries: Mutex<BinaryHeap<Reverse<(Timestamp, String)>>>,
    /// The revocation log: entries by number with their expiry (ms).
    revocations: Mutex<RevocationLog>,
}

/// How many expired verification values one `create_verification` drops
/// at most. More than one: each create adds one value, so an expired
/// backlog shrinks while values keep being created.
const VERIFICATION_SWEEP_PER_CREATE: usize = 4;

#[derive(Debug, Default)]
struct RevocationLog {
    last: u64,
    entries: VecDeque<(u64, String, i64)>,
}

impl MemoryDatabase {
    /// An empty database.
    pub fn new() -> Self {
        MemoryDatabase::default()
    }

    /// Number of stored sessions (expired ones included).
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Number of stored verification values (expired ones not yet swept
    /// included).
    pub fn verification_count(&self) -> usize {
        self.verifications.iter().map(|values| values.len()).sum()
    }

    /// Drops up to [`VERIFICATION_SWEEP_PER_CREATE`] identifiers' values
    /// that expired before `now`. A value that was already consumed or
    /// deleted leaves a stale heap entry, which costs one pop.
    fn sweep_expired_verifications(&self, now: Timestamp) {
        let mut due = Vec::with_capacity(VERIFICATION_SWEEP_PER_CREATE);
        {
            let mut expiries = self
                .verification_expiries
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            while due.len() < VERIFICATION_SWEEP_PER_CREATE {
                match expiries.peek() {
                    Some(Reverse((expires_at, _))) if *expires_at < now => {}
                    _ => break,
                }
                if let Some(Reverse((_, identifier))) = expiries.pop() {
                    due.push(identifier);
                }
            }
        }
        // The heap's lock is released: the map's shard locks are never
        // taken under it.
        for identifier in due {
            if let Some(mut values) = self.verifications.get_mut(&identifier) {
                values.retain(|v| v.expires_at >= now);
            }
            self.verifications
                .remove_if(&identifier, |_, values| values.is_empty());
        }
    }

    /// Stores `account` and indexes it (replacing a row with its id).
    fn put_account(&self, account: &Account) {
        if let Some(old) = self.accounts.insert(account.id.clone(), account.clone()) {
            self.unindex_account(&old);
        }
        self.account_ids_by_user
            .entry(account.user_id.clone())
            .or_default()
            .push(account.id.clone());
        self.account_ids_by_key.insert(
            (account.provider_id.clone(), account.account_id.clone()),
            account.id.clone(),
        );
    }

    fn unindex_account(&self, account: &Account) {
        if let Some(mut ids) = self.account_ids_by_user.get_mut(&account.user_id) {
            ids.retain(|id| id != &account.id);
        }
        self.account_ids_by_user
            .remove_if(&account.user_id, |_, ids| ids.is_empty());
        let key = (account.provider_id.clone(), account.account_id.clone());
        self.account_ids_by_key
            .remove_if(&key, |_, id| id == &account.id);
    }

    fn accounts_of(&self, user_id: &str) -> Vec<Account> {
        let ids = self
            .account_ids_by_user
            .get(user_id)
            .map(|ids| ids.clone())
            .unwrap_or_default();
        ids.iter()
            .filter_map(|id| self.accounts.get(id).map(|a| a.clone()))
            .collect()
    }

    fn with_user(&self, session: &Session) -> Option<SessionWithUser> {
        let user = self.users.get(&session.user_id)?.clone();
        Some(SessionWithUser {
            session: session.clone(),
            user,
        })
    }
}

#[async_trait]
impl Database for MemoryDatabase {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        match self.user_ids_by_email.entry(user.email.clone()) {
            Entry::Occupied(_) => return Err(StoreError::Conflict("email")),
            Entry::Vacant(slot) => {
                slot.insert(user.id.clone());
            }
        }
        self.users.insert(user.id.clone(), user.clone());
        Ok(())
    }

    async fn create_user_with_account(
        &self,
        user: &User,
        account: &Account,
    ) -> Result<(), StoreError> {
        self.create_user(user).await?;
        self.put_account(account);
        Ok(())
    }

    async fn find_user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        Ok(self.users.get(id).map(|u| u.clone()))
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let Some(id) = self.user_ids_by_email.get(email).map(|id| id.clone()) else {
            return Ok(None);
        };
        self.find_user_by_id(&id).await
    }

    async fn find_user_with_credential(
        &self,
        email: &str,
    ) -> Result<Option<(User, Option<Account>)>, StoreError> {
        let Some(user) = self.find_user_by_email(email).await? else {
            return Ok(None);
        };
        let account = self
            .accounts_of(&user.id)
            .into_iter()
            .find(|a| a.provider_id == CREDENTIAL_PROVIDER);
        Ok(Some((user, account)))
    }

    async fn update_user(&self, user: &User) -> Result<bool, StoreError> {
        let Some(mut slot) = self.users.get_mut(&user.id) else {
            return Ok(false);
        };
        if slot.email != user.email {
            match self.user_ids_by_email.entry(user.email.clone()) {
                Entry::Occupied(_) => return Err(StoreError::Conflict("email")),
                Entry::Vacant(e) => {
                    e.insert(user.id.clone());
                }
            }
            self.user_ids_by_email.remove(&slot.email);
        }
        *slot = user.clone();
        Ok(true)
    }

    async fn delete_user(&self, id: &str) -> Result<(), StoreError> {
        if let Some((_, user)) = self.users.remove(id) {
            self.user_ids_by_email.remove(&user.email);
        }
        for account in self.accounts_of(id) {
            if let Some((_, account)) = self.accounts.remove(&account.id) {
                self.unindex_account(&account);
            }
        }
        self.sessions.retain(|_, s| s.user_id != id);
        Ok(())
    }

    async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        self.put_account(account);
        Ok(())
    }

    async fn find_accounts(&self, user_id: &str) -> Result<Vec<Account>, StoreError> {
        Ok(self.accounts_of(user_id))
    }

    async fn find_account_by_provider(
        &self,
        provider_id: &str,
        account_id: &str,
    ) -> Result<Option<Account>, StoreError> {
        let key = (provider_id.to_owned(), account_id.to_owned());
        let Some(id) = self.account_ids_by_key.get(&key).map(|id| id.clone()) else {
            return Ok(None);
        };
        Ok(self
            .accounts
            .get(&id)
            .map(|a| a.clone())
            .filter(|a| a.provider_id == provider_id && a.account_id == account_id))
    }

    async fn update_account(&self, account: &Account) -> Result<bool, StoreError> {
        if !self.accounts.contains_key(&account.id) {
            return Ok(false);
        }
        self.put_account(account);
        Ok(true)
    }

    async fn delete_account(&self, id: &str) -> Result<(), StoreError> {
        if let Some((_, account)) = self.accounts.remove(id) {
            self.unindex_account(&account);
        }
        Ok(())
    }

    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        match self.sessions.entry(session.token.clone()) {
            Entry::Occupied(_) => Err(StoreError::Conflict("token")),
            Entry::Vacant(slot) => {
                slot.insert(Box::new(session.clone()));
                Ok(())
            }
        }
    }

    async fn find_session(&self, token: &str) -> Result<Option<SessionWithUser>, StoreError> {
        let Some(session) = self.sessions.get(token).map(|s| Session::clone(&s)) else {
            return Ok(None);
        };
        Ok(self.with_user(&session))
    }

    async fn find_sessions(&self, tokens: &[String]) -> Result<Vec<SessionWithUser>, StoreError> {
        Ok(tokens
            .iter()
            .filter_map(|t| self.sessions.get(t).map(|s| Session::clone(&s)))
            .filter_map(|s| self.with_user(&s))
            .collect())
    }

    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        let mut out: Vec<Session> = self
            .sessions
            .iter()
            .filter(|s| s.user_id == user_id)
            .map(|s| Session::clone(&s))
            .collect();
        out.sort_by_key(|s| s.created_at);
        Ok(out)
    }

    async fn update_session(
        &self,
        token: &str,
        update: &SessionUpdate,
    ) -> Result<Option<Session>, StoreError> {
        Ok(self.sessions.get_mut(token).map(|mut s| {
            update.apply(&mut s);
            Session::clone(&s)
        }))
    }

    async fn delete_session(&self, token: &str) -> Result<(), StoreError> {
        self.sessions.remove(token);
        Ok(())
    }

    async fn delete_user_sessions(&self, user_id: &str) -> Result<(), StoreError> {
        self.sessions.retain(|_, s| s.user_id != user_id);
        Ok(())
    }

    async fn create_verification(&self, v: &Verification) -> Result<(), StoreError> {
        // Values nobody comes back for (a reset link never followed, a
        // sign-in never finished) would otherwise stay forever. The store
        // has no clock: the new value's creation time, from the kernel's
        // clock, is now. Bounded work per create; better-auth drops every
        // expired value on each lookup instead.
        self.sweep_expired_verifications(v.created_at);
        self.verifications
            .entry(v.identifier.clone())
            .or_default()
            .push(v.clone());
        self.verification_expiries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Reverse((v.expires_at, v.identifier.clone())));
        Ok(())
    }

    async fn find_verification(
        &self,
        identifier: &str,
    ) -> Result<Option<Verification>, StoreError> {
        Ok(self
            .verifications
            .get(identifier)
            .and_then(|values| values.iter().max_by_key(|v| v.created_at).cloned()))
    }

    async fn delete_verification(&self, identifier: &str) -> Result<(), StoreError> {
        self.verifications.remove(identifier);
        Ok(())
    }

    async fn consume_verification(
        &self,
        identifier: &str,
    ) -> Result<Option<Verification>, StoreError> {
        // One `remove` takes the identifier's values: of concurrent
        // callers, only one gets them.
        Ok(self
            .verifications
            .remove(identifier)
            .and_then(|(_, values)| values.into_iter().max_by_key(|v| v.created_at)))
    }

    fn has_revocation_log(&self) -> bool {
        true
    }

    async fn append_revocation(
        &self,
        entry: &str,
        now: Timestamp,
        retain: Duration,
    ) -> Result<u64, StoreError> {
        let retain_ms = i64::try_from(retain.as_millis()).unwrap_or(i64::MAX);
        let mut log = self
            .revocations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while log
            .entries
            .front()
            .is_some_and(|(_, _, until)| *until < now.as_millis())
        {
            log.entries.pop_front();
        }
        log.last += 1;
        let n = log.last;
        let until = now.as_millis().saturating_add(retain_ms);
        log.entries.push_back((n, entry.to_owned(), until));
        Ok(n)
    }

    async fn read_revocations(
        &self,
        after: u64,
        missing: &[u64],
        limit: usize,
    ) -> Result<RevocationPage, StoreError> {
        let log = self
            .revocations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Nothing before the oldest entry kept is worth a page.
        let oldest = log.entries.front().map_or(log.last, |(n, _, _)| n - 1);
        let after = if after > log.last {
            after
        } else {
            after.max(oldest)
        };
        let read_to = log.last.min(after.saturating_add(limit as u64));
        // Numbers are handed out under the lock with their entry: nothing
        // is ever missing here, so `missing` finds only expired numbers.
        let _ = missing;
        let entries = log
            .entries
            .iter()
            .filter(|(n, _, _)| *n > after && *n <= read_to)
            .map(|(n, e, _)| (*n, e.clone()))
            .collect();
        Ok(RevocationPage::new(
            entries,
            Vec::new(),
            read_to,
            log.last > read_to,
        ))
    }
}

/// A [`SecondaryStorage`] held in process memory, honouring TTLs against
/// its [`Clock`].
#[derive(Debug)]
pub struct MemorySecondaryStorage {
    entries: DashMap<String, (String, Option<Timestamp>)>,
    clock: Arc<dyn Clock>,
    writes: AtomicU64,
}

impl Default for MemorySecondaryStorage {
    fn default() -> Self {
        MemorySecondaryStorage::with_clock(Arc::new(SystemClock))
    }
}

impl MemorySecondaryStorage {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        MemorySecondaryStorage::default()
    }

    /// An empty store whose TTLs follow `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        MemorySecondaryStorage {
            entries: DashMap::new(),
            clock,
            writes: AtomicU64::new(0),
        }
    }

    /// Number of live keys.
    pub fn len(&self) -> usize {
        let now = self.clock.now();
        self.entries.iter().filter(|e| live(e.value(), now)).count()
    }

    /// Whether no live key exists.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn deadline(&self, ttl: Option<Duration>) -> Option<Timestamp> {
        ttl.map(|ttl| {
            self.clock
                .now()
                .plus_millis(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
        })
    }

    /// Drops expired entries now and then, so keys nobody reads again do not
    /// accumulate.
    fn after_write(&self) {
        if self.writes.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            let now = self.clock.now();
            self.entries.retain(|_, v| live(v, now));
        }
    }
}

fn live(entry: &(String, Option<Timestamp>), now: Timestamp) -> bool {
    entry.1.is_none_or(|deadline| deadline > now)
}

#[async_trait]
impl SecondaryStorage for MemorySecondaryStorage {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let now = self.clock.now();
        let found = self.entries.get(key).map(|e| (live(&e, now), e.0.clone()));
        match found {
            Some((true, v)) => Ok(Some(v)),
            Some((false, _)) => {
                self.entries.remove_if(key, |_, v| !live(v, now));
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), StoreError> {
        self.entries
            .insert(key.to_owned(), (value.to_owned(), self.deadline(ttl)));
        self.after_write();
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.entries.remove(key);
        Ok(())
    }

    async fn set_if_exists(
        &self,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let deadline = self.deadline(ttl);
        Ok(match self.entries.get_mut(key) {
            Some(mut slot) if live(&slot, now) => {
                *slot = (value.to_owned(), deadline);
                true
            }
            _ => false,
        })
    }

    async fn get_and_delete(&self, key: &str) -> Result<Option<String>, StoreError> {
        let now = self.clock.now();
        Ok(self
            .entries
            .remove(key)
            .filter(|(_, v)| live(v, now))
            .map(|(_, (v, _))| v))
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, StoreError> {
        let now = self.clock.now();
        let deadline = self.deadline(Some(ttl));
        let mut slot = self
            .entries
            .entry(key.to_owned())
            .or_insert_with(|| ("0".to_owned(), deadline));
        if !live(&slot, now) {
            *slot = ("0".to_owned(), deadline);
        }
        let n = slot.0.parse::<u64>().unwrap_or(0).saturating_add(1);
        slot.0 = n.to_string();
        drop(slot);
        self.after_write();
        Ok(n)
    }

    async fn update(&self, key: &str, f: &UpdateFn<'_>) -> Result<(), StoreError> {
        let now = self.clock.now();
        // The entry guard holds the shard lock: the read-modify-write is atomic.
        match self.entries.entry(key.to_owned()) {
            Entry::Occupied(mut e) => {
                let next = {
                    let current = live(e.get(), now).then(|| e.get().0.as_str());
                    f(current)
                };
                match next {
                    Some((value, ttl)) => {
                        e.insert((value, self.deadline(ttl)));
                    }
                    None => {
                        e.remove();
                    }
                }
            }
            Entry::Vacant(e) => {
                if let Some((value, ttl)) = f(None) {
                    e.insert((value, self.deadline(ttl)));
                }
            }
        }
        self.after_write();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TestClock;

    #[tokio::test]
    async fn secondary_storage_honours_ttl() {
        let clock = TestClock::at(Timestamp::from_millis(1_000_000));
        let s = MemorySecondaryStorage::with_clock(Arc::new(clock.clone()));
        s.set("k", "v", Some(Duration::from_secs(10)))
            .await
            .unwrap();
        assert_eq!(s.get("k").await.unwrap().as_deref(), Some("v"));
        clock.advance(Duration::from_secs(10));
        assert_eq!(s.get("k").await.unwrap(), None);
    }

    #[tokio::test]
    async fn increment_sets_ttl_only_on_creation() {
        let clock = TestClock::at(Timestamp::from_millis(0));
        let s = MemorySecondaryStorage::with_clock(Arc::new(clock.clone()));
        assert_eq!(s.increment("c", Duration::from_secs(10)).await.unwrap(), 1);
        clock.advance(Duration::from_secs(5));
        assert_eq!(s.increment("c", Duration::from_secs(10)).await.unwrap(), 2);
        clock.advance(Duration::from_secs(5));
        assert_eq!(s.increment("c", Duration::from_secs(10)).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn get_and_delete_is_one_shot() {
        let s = MemorySecondaryStorage::new();
        s.set("k", "v", None).await.unwrap();
        assert_eq!(s.get_and_delete("k").await.unwrap().as_deref(), Some("v"));
        assert_eq!(s.get_and_delete("k").await.unwrap(), None);
    }

    #[tokio::test]
    async fn concurrent_updates_lose_nothing() {
        let s = Arc::new(MemorySecondaryStorage::new());
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move {
                    s.update("list", &move |cur: Option<&str>| {
                        let mut v: Vec<u32> = cur
                            .map(|c| serde_json::from_str(c).unwrap())
                            .unwrap_or_default();
                        v.push(i);
                        Some((serde_json::to_string(&v).unwrap(), None))
                    })
                    .await
                    .unwrap();
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let v: Vec<u32> = serde_json::from_str(&s.get("list").await.unwrap().unwrap()).unwrap();
        assert_eq!(v.len(), 200);
    }

    /// A value for `identifier` created at `created` ms that works for
    /// `ttl` ms.
    fn verification(identifier: &str, created: i64, ttl: i64) -> Verification {
        Verification {
            id: format!("{identifier}@{created}"),
            identifier: identifier.to_owned(),
            value: "value".to_owned(),
            expires_at: Timestamp::from_millis(created + ttl),
            created_at: Timestamp::from_millis(created),
            updated_at: Timestamp::from_millis(created),
        }
    }

    /// Whether any value for `identifier` is stored.
    fn holds(db: &MemoryDatabase, identifier: &str) -> bool {
        db.verifications.contains_key(identifier)
    }

    #[tokio::test]
    async fn reset_requests_nobody_follows_do_not_accumulate() {
        let db = MemoryDatabase::new();
        // A known address spammed with reset requests: a new identifier a
        // second, each link valid for a minute, none followed.
        for i in 0..10_000 {
            let v = verification(&format!("reset-password:{i}"), i * 1_000, 60_000);
            db.create_verification(&v).await.unwrap();
        }
        // The 61 values still valid at the last request, nothing else.
        assert_eq!(db.verification_count(), 61);
        let found = |i: i64| holds(&db, &format!("reset-password:{i}"));
        assert!(found(9_999) && found(9_939));
        assert!(!found(9_938) && !found(0));
    }

    #[tokio::test]
    async fn one_create_sweeps_a_bounded_number_of_expired_values() {
        let db = MemoryDatabase::new();
        for i in 0..100 {
            let v = verification(&format!("auth-state:{i}"), 0, 1_000);
            db.create_verification(&v).await.unwrap();
        }
        // An hour later, each create drops at most a few of the 100.
        let later = 3_600_000;
        db.create_verification(&verification("auth-state:new", later, 1_000))
            .await
            .unwrap();
        assert_eq!(
            db.verification_count(),
            100 - VERIFICATION_SWEEP_PER_CREATE + 1
        );
        // Creates that go on drain the backlog.
        for i in 0..100 {
            let v = verification(&format!("auth-state:later-{i}"), later, 600_000);
            db.create_verification(&v).await.unwrap();
        }
        assert_eq!(db.verification_count(), 101);
        assert!(!holds(&db, "auth-state:0"));
    }

    #[tokio::test]
    async fn a_sweep_keeps_the_live_values_of_an_identifier() {
        let db = MemoryDatabase::new();
        db.create_verification(&verification("email:ada", 0, 1_000))
            .await
            .unwrap();
        db.create_verification(&verification("email:ada", 5_000, 60_000))
            .await
            .unwrap();
        // Created already expired: still found (the caller judges expiry)
        // until a later create sweeps it.
        db.create_verification(&verification("email:bob", 10_000, -1))
            .await
            .unwrap();
        let ada = db.find_verification("email:ada").await.unwrap().unwrap();
        assert_eq!(ada.created_at, Timestamp::from_millis(5_000));
        assert!(holds(&db, "email:bob"));
        assert_eq!(db.verification_count(), 2);
        db.create_verification(&verification("email:eve", 20_000, 60_000))
            .await
            .unwrap();
        assert!(!holds(&db, "email:bob"));
        assert_eq!(db.verification_count(), 2);
    }

    #[tokio::test]
    async fn duplicate_email_is_a_conflict() {
        let db = MemoryDatabase::new();
        let user = User {
            name: "A".into(),
            email: "a@example.com".into(),
            email_verified: false,
            image: None,
            created_at: Timestamp::EPOCH,
            updated_at: Timestamp::EPOCH,
            id: "u1".into(),
            extra: Default::default(),
        };
        db.create_user(&user).await.unwrap();
        let again = User {
            id: "u2".into(),
            ..user
        };
        assert!(matches!(
            db.create_user(&again).await,
            Err(StoreError::Conflict("email"))
        ));
    }
}
