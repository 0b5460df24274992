//! One storage conformance suite that every backend passes unchanged (the
//! idea of tower-sessions' `tests/common`): each scenario is an async
//! function over a [`StoreUnderTest`], [`storage_conformance!`](crate::storage_conformance)
//! turns all of them into `#[tokio::test]`s for one backend.
//!
//! A backend is a [`Sessions`] (the kernel's session layer, what the API
//! calls) over a [`Database`] and, optionally, a [`SecondaryStorage`], with
//! better-auth's default options: with secondary storage, sessions live
//! there only (`storeSessionInDatabase: false`). The scenarios cover:
//!
//! - every record type through [`Sessions::database`]: users, accounts,
//!   database sessions, verifications, unique constraints, cascades,
//!   millisecond dates;
//! - sessions through [`Sessions`]: create, find, find several, refresh,
//!   revoke one, revoke a user's, expiry (`list` leaves expired sessions
//!   out; a database still lists them);
//! - with secondary storage, the revocation watermark
//!   (`revoked-sessions-before-<userId>`, read through the storage) hiding
//!   sessions created before it;
//! - 200 concurrent tasks refreshing and revoking one user's sessions: no
//!   revoked session comes back, no live one is lost, and `list` (and the
//!   user's `active-sessions` index, or the database) holds exactly the
//!   live ones.
//!
//! A factory is an async expression giving `Option<StoreUnderTest>`: a
//! fresh, empty (migrated) store, or `None` when its service is unreachable
//! (after [`skip_or_fail`](crate::service::skip_or_fail)'s banner; under
//! `CI=true` that fails the test instead). Whatever it must undo (a
//! schema, a key prefix, a temp file) goes in [`Cleanup`]s, which run when
//! the store is dropped — also when a scenario panics.
//!
//! The generated tests use `#[tokio::test(flavor = "multi_thread")]`: the
//! calling crate needs `tokio` with the `macros` and `rt-multi-thread`
//! features.
//!
//! ```no_run
//! use std::sync::Arc;
//! use tessera::store::{MemoryDatabase, MemorySecondaryStorage};
//! use tessera_testkit::storage::StoreUnderTest;
//! use tessera_testkit::storage_conformance;
//!
//! async fn memory_with_secondary_storage() -> Option<StoreUnderTest> {
//!     Some(StoreUnderTest::new(
//!         Arc::new(MemoryDatabase::new()),
//!         Some(Arc::new(MemorySecondaryStorage::new())),
//!     ))
//! }
//!
//! // `mod memory_secondary { #[tokio::test] async fn users_round_trip() … }`
//! storage_conformance!(memory_secondary, memory_with_secondary_storage());
//! # fn main() {}
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use tessera::options::SessionOptions;
use tessera::session::{active_sessions_key, revoked_before_key, SessionMeta, Sessions};
use tessera::store::{
    Account, Database, SecondaryStorage, Session, SessionUpdate, StoreError, User,
};
use tessera::{Clock, SystemClock, Timestamp};

/// A fresh, empty store for one scenario, and what to undo afterwards.
#[derive(Debug)]
pub struct StoreUnderTest {
    /// The kernel's session layer over the backend.
    pub sessions: Sessions,
    /// Run (in order) when the store is dropped, after `sessions`.
    pub cleanup: Vec<Cleanup>,
}

impl StoreUnderTest {
    /// A store over `db` and optional secondary storage, with better-auth's
    /// default session options.
    pub fn new(db: Arc<dyn Database>, secondary: Option<Arc<dyn SecondaryStorage>>) -> Self {
        StoreUnderTest {
            sessions: Sessions::new(db, secondary, SessionOptions::default()),
            cleanup: Vec::new(),
        }
    }

    /// Adds work to do when the store is dropped.
    pub fn with_cleanup(mut self, cleanup: Cleanup) -> Self {
        self.cleanup.push(cleanup);
        self
    }

    fn db(&self) -> &dyn Database {
        self.sessions.database().as_ref()
    }

    fn storage(&self) -> Option<&dyn SecondaryStorage> {
        self.sessions.secondary_storage().map(|s| s.as_ref())
    }

    /// Whether session rows live in the database: with better-auth's
    /// default options, only when there is no secondary storage.
    fn db_holds_sessions(&self) -> bool {
        self.sessions.secondary_storage().is_none()
    }
}

/// Work run once when dropped: a test's undo step (drop a schema, delete a
/// key prefix, remove a temp directory) that also runs when the test
/// panics. `Drop` cannot await: do async work on a thread of its own.
pub struct Cleanup(Option<Box<dyn FnOnce() + Send>>);

impl Cleanup {
    /// Runs `f` on drop.
    pub fn new(f: impl FnOnce() + Send + 'static) -> Self {
        Cleanup(Some(Box::new(f)))
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

impl fmt::Debug for Cleanup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Cleanup(pending)"
        } else {
            "Cleanup(done)"
        })
    }
}

/// Generates, in `mod $backend`, one `#[tokio::test]` per scenario of
/// [`storage`](crate::storage), each on a store from `$factory`: an async
/// expression giving `Option<StoreUnderTest>` (`None`: skipped), evaluated
/// once per test. Items of the calling module are in scope.
#[macro_export]
macro_rules! storage_conformance {
    (@tests $factory:expr; $($scenario:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $scenario() {
                let ::std::option::Option::Some(store) = $factory.await else {
                    return;
                };
                $crate::storage::$scenario(&store).await;
            }
        )*
    };
    ($backend:ident, $factory:expr $(,)?) => {
        mod $backend {
            #[allow(unused_imports)]
            use super::*;

            $crate::storage_conformance!(@tests $factory;
                users_round_trip,
                duplicate_email_is_a_conflict,
                credential_lookup_joins_the_account,
                accounts_round_trip,
                database_sessions_round_trip,
                empty_ip_address_stays_empty,
                duplicate_token_is_a_conflict,
                database_lists_a_users_sessions_oldest_first_and_deletes_them_together,
                database_finds_sessions_in_the_requested_order,
                deleting_a_user_deletes_their_sessions_and_accounts,
                verifications_newest_first_and_deleted_by_identifier,
                a_verification_is_consumed_once,
                dates_keep_millisecond_precision,
                session_create_find_refresh_revoke,
                find_many_keeps_the_requested_order,
                expired_sessions_are_not_listed,
                sessions_are_listed_per_user_oldest_first,
                revoking_one_session_keeps_the_others,
                revoking_a_users_sessions_spares_other_users,
                revocation_watermark_hides_older_sessions,
                refresh_racing_revocation_keeps_exactly_the_live_sessions,
            );
        }
    };
}

// ---------------------------------------------------------------------------
// Records

use crate::records::{at, credential, session, user, verification};

fn meta() -> SessionMeta {
    SessionMeta {
        ip_address: "203.0.113.7".to_owned(),
        user_agent: "tessera-tests/1.0".to_owned(),
    }
}

/// Session scenarios run on the wall clock: secondary storage expires keys
/// in real time, so their TTLs must be measured from the real "now".
fn now() -> Timestamp {
    SystemClock.now()
}

fn tokens(sessions: &[Session]) -> Vec<&str> {
    sessions.iter().map(|s| s.token.as_str()).collect()
}

const WEEK_SECS: i64 = 604_800;
const DAY_SECS: i64 = 86_400;

// ---------------------------------------------------------------------------
// Records through `Sessions::database`

/// Users: create, find by id and by email, replace (a changed email moves
/// the lookup), delete (twice is fine).
pub async fn users_round_trip(store: &StoreUnderTest) {
    let db = store.db();
    let alice = user("u1", "alice@example.com");
    db.create_user(&alice).await.unwrap();
    assert_eq!(db.find_user_by_id("u1").await.unwrap(), Some(alice.clone()));
    assert_eq!(
        db.find_user_by_email("alice@example.com").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(db.find_user_by_id("nobody").await.unwrap(), None);
    assert_eq!(
        db.find_user_by_email("bob@example.com").await.unwrap(),
        None
    );

    let changed = User {
        name: "Alice Liddell".into(),
        email: "alice@wonderland.example".into(),
        email_verified: true,
        image: Some("https://example.com/a.png".into()),
        updated_at: at(5_000),
        ..alice.clone()
    };
    assert!(db.update_user(&changed).await.unwrap());
    assert_eq!(
        db.find_user_by_id("u1").await.unwrap(),
        Some(changed.clone())
    );
    assert_eq!(
        db.find_user_by_email("alice@wonderland.example")
            .await
            .unwrap(),
        Some(changed.clone())
    );
    assert_eq!(
        db.find_user_by_email("alice@example.com").await.unwrap(),
        None
    );
    assert!(!db
        .update_user(&user("ghost", "ghost@example.com"))
        .await
        .unwrap());

    db.delete_user("u1").await.unwrap();
    assert_eq!(db.find_user_by_id("u1").await.unwrap(), None);
    db.delete_user("u1").await.unwrap();
}

/// A taken email is `Conflict("email")` on create, on create-with-account
/// (leaving nothing behind) and on update.
pub async fn duplicate_email_is_a_conflict(store: &StoreUnderTest) {
    let db = store.db();
    db.create_user(&user("u1", "alice@example.com"))
        .await
        .unwrap();
    let err = db.create_user(&user("u2", "alice@example.com")).await;
    assert!(matches!(err, Err(StoreError::Conflict("email"))), "{err:?}");
    let err = db
        .create_user_with_account(&user("u2", "alice@example.com"), &credential("a2", "u2"))
        .await;
    assert!(matches!(err, Err(StoreError::Conflict("email"))), "{err:?}");
    // Nothing of the failed sign-up stays behind.
    assert_eq!(db.find_user_by_id("u2").await.unwrap(), None);
    assert!(db.find_accounts("u2").await.unwrap().is_empty());

    db.create_user(&user("u3", "carol@example.com"))
        .await
        .unwrap();
    let err = db.update_user(&user("u3", "alice@example.com")).await;
    assert!(matches!(err, Err(StoreError::Conflict("email"))), "{err:?}");
    assert_eq!(
        db.find_user_by_id("u3").await.unwrap().unwrap().email,
        "carol@example.com"
    );
}

/// The sign-in lookup returns the user with their credential account, or
/// without one (OAuth only), in one call.
pub async fn credential_lookup_joins_the_account(store: &StoreUnderTest) {
    let db = store.db();
    let alice = user("u1", "alice@example.com");
    let password = credential("a1", "u1");
    db.create_user_with_account(&alice, &password)
        .await
        .unwrap();
    assert_eq!(
        db.find_user_with_credential("alice@example.com")
            .await
            .unwrap(),
        Some((alice, Some(password.clone())))
    );
    assert_eq!(db.find_accounts("u1").await.unwrap(), vec![password]);

    let bob = user("u2", "bob@example.com");
    db.create_user(&bob).await.unwrap();
    let github = Account {
        provider_id: "github".into(),
        account_id: "gh-42".into(),
        password: None,
        ..credential("a2", "u2")
    };
    db.create_account(&github).await.unwrap();
    assert_eq!(
        db.find_user_with_credential("bob@example.com")
            .await
            .unwrap(),
        Some((bob, None))
    );
    assert_eq!(
        db.find_user_with_credential("nobody@example.com")
            .await
            .unwrap(),
        None
    );
}

/// Accounts: create (every optional field), list per user, replace,
/// delete.
pub async fn accounts_round_trip(store: &StoreUnderTest) {
    let db = store.db();
    db.create_user(&user("u1", "alice@example.com"))
        .await
        .unwrap();
    let oauth = Account {
        provider_id: "oidc".into(),
        account_id: "sub-1".into(),
        access_token: Some("at".into()),
        refresh_token: Some("rt".into()),
        id_token: Some("it".into()),
        access_token_expires_at: Some(at(3_600_123)),
        refresh_token_expires_at: Some(at(86_400_999)),
        scope: Some("openid email".into()),
        password: None,
        created_at: at(10),
        ..credential("a1", "u1")
    };
    let password = Account {
        created_at: at(20),
        ..credential("a2", "u1")
    };
    db.create_account(&oauth).await.unwrap();
    db.create_account(&password).await.unwrap();
    let mut found = db.find_accounts("u1").await.unwrap();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(found, vec![oauth.clone(), password.clone()]);
    assert!(db.find_accounts("u2").await.unwrap().is_empty());
    // An OAuth sign-in finds the account by the provider's key alone.
    assert_eq!(
        db.find_account_by_provider("oidc", "sub-1").await.unwrap(),
        Some(oauth.clone())
    );
    assert_eq!(
        db.find_account_by_provider("oidc", "sub-2").await.unwrap(),
        None
    );
    assert_eq!(
        db.find_account_by_provider("other", "sub-1").await.unwrap(),
        None
    );

    let refreshed = Account {
        access_token: Some("at2".into()),
        access_token_expires_at: Some(at(7_200_456)),
        refresh_token_expires_at: None,
        updated_at: at(7_000),
        ..oauth.clone()
    };
    assert!(db.update_account(&refreshed).await.unwrap());
    assert!(!db.update_account(&credential("nope", "u1")).await.unwrap());
    let mut found = db.find_accounts("u1").await.unwrap();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(found, vec![refreshed, password.clone()]);

    db.delete_account("a1").await.unwrap();
    assert_eq!(db.find_accounts("u1").await.unwrap(), vec![password]);
}

/// Session rows in the database: one lookup gives session and user; an
/// update changes only the fields it names and never `createdAt`.
pub async fn database_sessions_round_trip(store: &StoreUnderTest) {
    let db = store.db();
    let alice = user("u1", "alice@example.com");
    db.create_user(&alice).await.unwrap();
    let s = Session {
        ip_address: Some("203.0.113.7".into()),
        user_agent: None,
        ..session("tok1", "u1", 123)
    };
    db.create_session(&s).await.unwrap();

    let found = db.find_session("tok1").await.unwrap().expect("found");
    assert_eq!(found.session, s);
    assert_eq!(found.user, alice);
    assert_eq!(db.find_session("missing").await.unwrap(), None);

    let update = SessionUpdate {
        expires_at: Some(at(604_800_000 + 86_400_456)),
        updated_at: Some(at(86_400_456)),
        ..SessionUpdate::default()
    };
    let updated = db.update_session("tok1", &update).await.unwrap().unwrap();
    let mut expected = s.clone();
    update.apply(&mut expected);
    assert_eq!(updated, expected);
    assert_eq!(
        db.find_session("tok1").await.unwrap().unwrap().session,
        expected
    );
    let only_updated_at = SessionUpdate {
        updated_at: Some(at(90_000_000)),
        ..SessionUpdate::default()
    };
    let updated = db
        .update_session("tok1", &only_updated_at)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.expires_at, expected.expires_at);
    assert_eq!(updated.updated_at, at(90_000_000));
    assert_eq!(
        updated.created_at, s.created_at,
        "refresh never moves createdAt"
    );
    assert_eq!(db.update_session("missing", &update).await.unwrap(), None);

    db.delete_session("tok1").await.unwrap();
    assert_eq!(db.find_session("tok1").await.unwrap(), None);
    db.delete_session("tok1").await.unwrap();
}

/// better-auth stores `""`, not NULL, when it knows no IP or user agent.
pub async fn empty_ip_address_stays_empty(store: &StoreUnderTest) {
    let db = store.db();
    db.create_user(&user("u1", "alice@example.com"))
        .await
        .unwrap();
    let s = Session {
        ip_address: Some(String::new()),
        user_agent: Some(String::new()),
        ..session("tok1", "u1", 0)
    };
    db.create_session(&s).await.unwrap();
    let found = db.find_session("tok1").await.unwrap().unwrap().session;
    assert_eq!(found.ip_address.as_deref(), Some(""));
    assert_eq!(found.user_agent.as_deref(), Some(""));
}

/// A taken token is `Conflict("token")`.
pub async fn duplicate_token_is_a_conflict(store: &StoreUnderTest) {
    let db = store.db();
    db.create_user(&user("u1", "alice@example.com"))
        .await
        .unwrap();
    db.create_session(&session("tok1", "u1", 0)).await.unwrap();
    let again = Session {
        id: "another-id".into(),
        ..session("tok1", "u1", 5)
    };
    let err = db.create_session(&again).await;
    assert!(matches!(err, Err(StoreError::Conflict("token"))), "{err:?}");
}

/// The database lists a user's sessions oldest first, expired ones
/// included (filtering is the kernel's job), and deletes them together.
pub async fn database_lists_a_users_sessions_oldest_first_and_deletes_them_together(
    store: &StoreUnderTest,
) {
    let db = store.db();
    db.create_user(&user("u1", "alice@example.com"))
        .await
        .unwrap();
    db.create_user(&user("u2", "bob@example.com"))
        .await
        .unwrap();
    let expired = Session {
        expires_at: at(-1),
        ..session("old", "u1", -700_000_000)
    };
    for s in [
        session("b", "u1", 2_000),
        expired.clone(),
        session("a", "u1", 1_000),
        session("bob", "u2", 1_500),
    ] {
        db.create_session(&s).await.unwrap();
    }
    let listed = db.list_sessions("u1").await.unwrap();
    assert_eq!(tokens(&listed), ["old", "a", "b"]);
    assert_eq!(listed[0], expired);
    assert!(db.list_sessions("nobody").await.unwrap().is_empty());

    db.delete_user_sessions("u1").await.unwrap();
    assert!(db.list_sessions("u1").await.unwrap().is_empty());
    assert_eq!(db.find_session("a").await.unwrap(), None);
    assert_eq!(db.list_sessions("u2").await.unwrap().len(), 1);
    assert!(db.find_session("bob").await.unwrap().is_some());
}

/// Several sessions in one call, with their users, in the order asked;
/// unknown tokens are left out.
pub async fn database_finds_sessions_in_the_requested_order(store: &StoreUnderTest) {
    let db = store.db();
    let alice = user("u1", "alice@example.com");
    let bob = user("u2", "bob@example.com");
    db.create_user(&alice).await.unwrap();
    db.create_user(&bob).await.unwrap();
    for s in [
        session("a", "u1", 1),
        session("b", "u2", 2),
        session("c", "u1", 3),
    ] {
        db.create_session(&s).await.unwrap();
    }
    let asked: Vec<String> = ["c", "missing", "a", "b"].map(String::from).to_vec();
    let found = db.find_sessions(&asked).await.unwrap();
    let got: Vec<(&str, &str)> = found
        .iter()
        .map(|s| (s.session.token.as_str(), s.user.email.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("c", "alice@example.com"),
            ("a", "alice@example.com"),
            ("b", "bob@example.com")
        ]
    );
    assert_eq!(found[2].user, bob);
    assert!(db.find_sessions(&[]).await.unwrap().is_empty());
}

/// Deleting a user deletes their sessions and accounts, and frees the
/// email.
pub async fn deleting_a_user_deletes_their_sessions_and_accounts(store: &StoreUnderTest) {
    let db = store.db();
    db.create_user_with_account(&user("u1", "alice@example.com"), &credential("a1", "u1"))
        .await
        .unwrap();
    db.create_user(&user("u2", "bob@example.com"))
        .await
        .unwrap();
    db.create_session(&session("t1", "u1", 0)).await.unwrap();
    db.create_session(&session("t2", "u2", 0)).await.unwrap();
    db.delete_user("u1").await.unwrap();
    assert_eq!(db.find_session("t1").await.unwrap(), None);
    assert!(db.list_sessions("u1").await.unwrap().is_empty());
    assert!(db.find_accounts("u1").await.unwrap().is_empty());
    assert_eq!(
        db.find_user_with_credential("alice@example.com")
            .await
            .unwrap(),
        None
    );
    assert!(db.find_session("t2").await.unwrap().is_some());
    db.create_user(&user("u3", "alice@example.com"))
        .await
        .unwrap();
}

/// Verifications: the newest for an identifier is found; deleting by
/// identifier spares the others.
pub async fn verifications_newest_first_and_deleted_by_identifier(store: &StoreUnderTest) {
    let db = store.db();
    let older = verification("v1", "auth-state:xyz", 1_000);
    let newer = verification("v2", "auth-state:xyz", 2_000);
    let other = verification("v3", "email:alice", 1_500);
    for v in [&newer, &older, &other] {
        db.create_verification(v).await.unwrap();
    }
    assert_eq!(
        db.find_verification("auth-state:xyz").await.unwrap(),
        Some(newer)
    );
    assert_eq!(db.find_verification("nothing").await.unwrap(), None);
    db.delete_verification("auth-state:xyz").await.unwrap();
    assert_eq!(db.find_verification("auth-state:xyz").await.unwrap(), None);
    assert_eq!(
        db.find_verification("email:alice").await.unwrap(),
        Some(other)
    );
}

/// Consuming takes the newest value of an identifier and removes them
/// all; of concurrent consumers exactly one gets it (a one-time token is
/// spent once), and the other identifiers stay.
pub async fn a_verification_is_consumed_once(store: &StoreUnderTest) {
    let db = store.sessions.database();
    let older = verification("c1", "reset-password:tok", 1_000);
    let newer = verification("c2", "reset-password:tok", 2_000);
    let other = verification("c3", "reset-password:other", 1_500);
    for v in [&older, &newer, &other] {
        db.create_verification(v).await.unwrap();
    }
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move { db.consume_verification("reset-password:tok").await })
        })
        .collect();
    let mut won = Vec::new();
    for racer in racers {
        if let Some(v) = racer.await.unwrap().unwrap() {
            won.push(v);
        }
    }
    assert_eq!(won, vec![newer]);
    assert_eq!(
        db.find_verification("reset-password:tok").await.unwrap(),
        None
    );
    assert_eq!(
        db.consume_verification("reset-password:tok").await.unwrap(),
        None
    );
    assert_eq!(
        db.consume_verification("reset-password:other")
            .await
            .unwrap(),
        Some(other)
    );
}

/// Dates keep their milliseconds, at both ends of a second and before
/// 1970.
pub async fn dates_keep_millisecond_precision(store: &StoreUnderTest) {
    let db = store.db();
    for (i, ms) in [
        1_795_852_689_612_i64,
        1_795_852_689_001,
        1_795_852_689_999,
        -86_400_123,
    ]
    .into_iter()
    .enumerate()
    {
        let t = Timestamp::from_millis(ms);
        let u = User {
            created_at: t,
            updated_at: t,
            ..user(&format!("u{i}"), &format!("u{i}@example.com"))
        };
        db.create_user(&u).await.unwrap();
        assert_eq!(
            db.find_user_by_id(&u.id).await.unwrap().unwrap().created_at,
            t
        );
        let s = Session {
            expires_at: t,
            created_at: t,
            ..session(&format!("t{i}"), &u.id, 0)
        };
        db.create_session(&s).await.unwrap();
        let found = db.find_session(&s.token).await.unwrap().unwrap();
        assert_eq!(found.session.expires_at, t);
        assert_eq!(found.user.created_at, t);
    }
}

// ---------------------------------------------------------------------------
// Sessions through `Sessions`

/// A session's whole life through `Sessions`: created (a week, the request
/// facts recorded), found with its user, refreshed (`createdAt` kept),
/// revoked — after which neither a find nor a refresh brings it back. With
/// secondary storage it never touches the database.
pub async fn session_create_find_refresh_revoke(store: &StoreUnderTest) {
    let sessions = &store.sessions;
    let db = store.db();
    let now = now();
    let alice = user("u1", "alice@example.com");
    db.create_user(&alice).await.unwrap();

    let s = sessions.create(&alice, &meta(), false, now).await.unwrap();
    assert_eq!(s.token.len(), 32, "{}", s.token);
    assert_eq!(s.user_id, "u1");
    assert_eq!(s.expires_at, now.plus_secs(WEEK_SECS));
    assert_eq!((s.created_at, s.updated_at), (now, now));
    assert_eq!(s.ip_address.as_deref(), Some("203.0.113.7"));
    assert_eq!(s.user_agent.as_deref(), Some("tessera-tests/1.0"));

    let found = sessions.find(&s.token).await.unwrap().expect("found");
    assert_eq!(found.session, s);
    assert_eq!(found.user, alice);
    let row = db.find_session(&s.token).await.unwrap();
    if store.db_holds_sessions() {
        assert_eq!(row, Some(found));
    } else {
        assert_eq!(
            row, None,
            "with secondary storage, sessions live there only"
        );
    }
    assert_eq!(sessions.find("no-such-token").await.unwrap(), None);

    let later = now.plus_secs(3_600);
    let refresh = SessionUpdate {
        expires_at: Some(later.plus_secs(WEEK_SECS)),
        updated_at: Some(later),
        ..SessionUpdate::default()
    };
    let refreshed = sessions
        .update(&s.token, &refresh, later)
        .await
        .unwrap()
        .expect("still there");
    let mut expected = s.clone();
    refresh.apply(&mut expected);
    assert_eq!(refreshed, expected);
    assert_eq!(refreshed.created_at, now, "refresh never moves createdAt");
    let found = sessions.find(&s.token).await.unwrap().expect("found");
    assert_eq!((found.session, found.user), (expected.clone(), alice));
    if store.db_holds_sessions() {
        let row = db.find_session(&s.token).await.unwrap().expect("the row");
        assert_eq!(row.session, expected);
    }
    assert_eq!(
        sessions
            .update("no-such-token", &refresh, later)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        tokens(&sessions.list("u1", later).await.unwrap()),
        [&s.token]
    );

    sessions.delete(&s.token, later).await.unwrap();
    assert_eq!(sessions.find(&s.token).await.unwrap(), None);
    assert_eq!(db.find_session(&s.token).await.unwrap(), None);
    assert_eq!(
        sessions.update(&s.token, &refresh, later).await.unwrap(),
        None,
        "a refresh does not bring a revoked session back"
    );
    assert_eq!(sessions.find(&s.token).await.unwrap(), None);
    assert!(sessions.list("u1", later).await.unwrap().is_empty());
    sessions.delete(&s.token, later).await.unwrap();
    sessions.delete("no-such-token", later).await.unwrap();
}

/// Several sessions by token, with their users, in the order asked;
/// unknown and revoked tokens are left out (multi-session lists).
pub async fn find_many_keeps_the_requested_order(store: &StoreUnderTest) {
    let sessions = &store.sessions;
    let now = now();
    let alice = user("u1", "alice@example.com");
    let bob = user("u2", "bob@example.com");
    store.db().create_user(&alice).await.unwrap();
    store.db().create_user(&bob).await.unwrap();
    let a = sessions.create(&alice, &meta(), false, now).await.unwrap();
    let b = sessions.create(&bob, &meta(), false, now).await.unwrap();
    let c = sessions.create(&alice, &meta(), false, now).await.unwrap();
    let gone = sessions.create(&bob, &meta(), false, now).await.unwrap();
    sessions.delete(&gone.token, now).await.unwrap();

    let asked: Vec<String> = [&c.token, "missing", &a.token, &gone.token, &b.token]
        .map(String::from)
        .to_vec();
    let found = sessions.find_many(&asked).await.unwrap();
    let got: Vec<(&str, &str)> = found
        .iter()
        .map(|s| (s.session.token.as_str(), s.user.email.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (c.token.as_str(), "alice@example.com"),
            (a.token.as_str(), "alice@example.com"),
            (b.token.as_str(), "bob@example.com")
        ]
    );
    assert_eq!((&found[2].session, &found[2].user), (&b, &bob));
    assert!(sessions.find_many(&[]).await.unwrap().is_empty());
}

/// `list` gives only sessions with `expiresAt > now`; a session created
/// without "remember me" lasts one day. Where the database holds the
/// session rows, it still lists the expired ones.
pub async fn expired_sessions_are_not_listed(store: &StoreUnderTest) {
    let sessions = &store.sessions;
    let now = now();
    let alice = user("u1", "alice@example.com");
    store.db().create_user(&alice).await.unwrap();

    // Created eight days ago: expired yesterday.
    let expired = sessions
        .create(&alice, &meta(), false, now.plus_secs(-8 * DAY_SECS))
        .await
        .unwrap();
    assert_eq!(expired.expires_at, now.plus_secs(-DAY_SECS));
    let week = sessions.create(&alice, &meta(), false, now).await.unwrap();
    let day = sessions
        .create(&alice, &meta(), true, now.plus_secs(1))
        .await
        .unwrap();
    assert_eq!(day.expires_at, now.plus_secs(1 + DAY_SECS));

    let at = |secs| now.plus_secs(secs);
    assert_eq!(
        sessions.list("u1", at(1)).await.unwrap(),
        [week.clone(), day.clone()]
    );
    assert_eq!(
        tokens(&sessions.list("u1", at(2 * DAY_SECS)).await.unwrap()),
        [&week.token],
        "the one-day session has expired"
    );
    assert!(
        sessions
            .list("u1", at(8 * DAY_SECS))
            .await
            .unwrap()
            .is_empty(),
        "both have expired"
    );

    if store.db_holds_sessions() {
        let rows: BTreeSet<String> = store
            .db()
            .list_sessions("u1")
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.token)
            .collect();
        let all: BTreeSet<String> = [&expired, &week, &day].map(|s| s.token.clone()).into();
        assert_eq!(rows, all, "the database keeps expired rows");
    }
}

/// A user's sessions are listed oldest first, whatever the order they were
/// created in, and only theirs.
pub async fn sessions_are_listed_per_user_oldest_first(store: &StoreUnderTest) {
    let sessions = &store.sessions;
    let now = now();
    let alice = user("u1", "alice@example.com");
    let bob = user("u2", "bob@example.com");
    store.db().create_user(&alice).await.unwrap();
    store.db().create_user(&bob).await.unwrap();
    let a2 = sessions
        .create(&alice, &meta(), false, now.plus_secs(2))
        .await
        .unwrap();
    let a1 = sessions.create(&alice, &meta(), false, now).await.unwrap();
    let b = sessions
        .create(&bob, &meta(), false, now.plus_secs(1))
        .await
        .unwrap();
    // Remember me off: expires first, still listed by creation time.
    let a3 = sessions
        .create(&alice, &meta(), true, now.plus_secs(3))
        .await
        .unwrap();

    let later = now.plus_secs(4);
    assert_eq!(sessions.list("u1", later).await.unwrap(), [a1, a2, a3]);
    assert_eq!(sessions.list("u2", later).await.unwrap(), [b]);
    assert!(sessions.list("nobody", later).await.unwrap().is_empty());
}

/// Revoking one session leaves the user's others found and listed.
pub async fn revoking_one_session_keeps_the_others(store: &StoreUnderTest) {
    let sessions = &store.sessions;
    let now = now();
    let alice = user("u1", "alice@example.com");
    store.db().create_user(&alice).await.unwrap();
    let mut created = Vec::new();
    for i in 0..3 {
        created.push(
            sessions
                .create(&alice, &meta(), false, now.plus_secs(i))
                .await
                .unwrap(),
        );
    }
    let later = now.plus_secs(10);
    sessions.delete(&created[1].token, later).await.unwrap();
    assert_eq!(sessions.find(&created[1].token).await.unwrap(), None);
    for kept in [&created[0], &created[2]] {
        let found = sessions.find(&kept.token).await.unwrap().expect("kept");
        assert_eq!(&found.session, kept);
    }
    assert_eq!(
        sessions.list("u1", later).await.unwrap(),
        [created[0].clone(), created[2].clone()]
    );
}

/// Revoking every session of a user leaves other users' sessions alone;
/// the user's next sign-in works.
pub async fn revoking_a_users_sessions_spares_other_users(store: &StoreUnderTest) {
    let sessions = &store.sessions;
    let now = now();
    let alice = user("u1", "alice@example.com");
    let bob = user("u2", "bob@example.com");
    store.db().create_user(&alice).await.unwrap();
    store.db().create_user(&bob).await.unwrap();
    let a1 = sessions.create(&alice, &meta(), false, now).await.unwrap();
    let a2 = sessions.create(&alice, &meta(), true, now).await.unwrap();
    let b1 = sessions.create(&bob, &meta(), false, now).await.unwrap();

    let revoked_at = now.plus_secs(1);
    sessions
        .delete_user_sessions("u1", revoked_at)
        .await
        .unwrap();
    for gone in [&a1, &a2] {
        assert_eq!(sessions.find(&gone.token).await.unwrap(), None);
        assert_eq!(store.db().find_session(&gone.token).await.unwrap(), None);
    }
    assert!(sessions.list("u1", revoked_at).await.unwrap().is_empty());
    assert_eq!(
        sessions.find(&b1.token).await.unwrap().map(|s| s.session),
        Some(b1.clone())
    );
    assert_eq!(sessions.list("u2", revoked_at).await.unwrap(), [b1]);

    let next = now.plus_secs(2);
    let again = sessions.create(&alice, &meta(), false, next).await.unwrap();
    assert!(sessions.find(&again.token).await.unwrap().is_some());
    assert_eq!(sessions.list("u1", next).await.unwrap(), [again]);
    sessions.delete_user_sessions("nobody", next).await.unwrap();
}

/// With secondary storage, revoking a user's sessions leaves
/// `revoked-sessions-before-<userId>` (ms, as text): any copy of a session
/// created before it — another server's, or a write that raced the
/// revocation — is treated as revoked, sessions created after it are not,
/// and it never moves back. Without secondary storage there is no
/// watermark: nothing to check.
pub async fn revocation_watermark_hides_older_sessions(store: &StoreUnderTest) {
    let Some(storage) = store.storage() else {
        return;
    };
    let sessions = &store.sessions;
    let now = now();
    let alice = user("u1", "alice@example.com");
    let bob = user("u2", "bob@example.com");
    store.db().create_user(&alice).await.unwrap();
    store.db().create_user(&bob).await.unwrap();
    let old = sessions.create(&alice, &meta(), false, now).await.unwrap();
    let bobs = sessions.create(&bob, &meta(), false, now).await.unwrap();

    let revoked_at = now.plus_secs(10);
    sessions
        .delete_user_sessions("u1", revoked_at)
        .await
        .unwrap();
    let watermark = || async move {
        storage
            .get(&revoked_before_key("u1"))
            .await
            .unwrap()
            .map(|w| w.trim().parse::<i64>().expect("a ms timestamp as text"))
    };
    assert_eq!(watermark().await, Some(revoked_at.as_millis()));
    assert_eq!(storage.get(&revoked_before_key("u2")).await.unwrap(), None);
    assert_eq!(sessions.find(&old.token).await.unwrap(), None);

    // Written after the revocation, created before it.
    let stale = sessions
        .create(&alice, &meta(), false, now.plus_secs(5))
        .await
        .unwrap();
    assert_eq!(sessions.find(&stale.token).await.unwrap(), None);
    assert!(sessions
        .find_many(std::slice::from_ref(&stale.token))
        .await
        .unwrap()
        .is_empty());
    let refresh = SessionUpdate {
        updated_at: Some(now.plus_secs(20)),
        ..SessionUpdate::default()
    };
    assert_eq!(
        sessions
            .update(&stale.token, &refresh, now.plus_secs(20))
            .await
            .unwrap(),
        None,
        "a refresh does not revive it"
    );
    assert!(sessions
        .list("u1", now.plus_secs(20))
        .await
        .unwrap()
        .is_empty());

    let fresh = sessions
        .create(&alice, &meta(), false, now.plus_secs(20))
        .await
        .unwrap();
    assert_eq!(
        sessions
            .find(&fresh.token)
            .await
            .unwrap()
            .map(|s| s.session),
        Some(fresh.clone())
    );
    assert_eq!(
        sessions.list("u1", now.plus_secs(20)).await.unwrap(),
        [fresh]
    );
    assert!(
        sessions.find(&bobs.token).await.unwrap().is_some(),
        "another user's watermark"
    );

    // A revocation stamped earlier (a server with a slow clock) keeps the
    // later watermark.
    sessions
        .delete_user_sessions("u1", now.plus_secs(1))
        .await
        .unwrap();
    assert_eq!(watermark().await, Some(revoked_at.as_millis()));
}

/// 200 tasks at once on one user's 20 sessions: a third of them are
/// revoked (each in several racing tasks) while being refreshed by others,
/// the rest are refreshed. Afterwards no revoked session is found, no live
/// one is lost, and `list` holds exactly the live ones — as does the user's
/// `active-sessions` index with secondary storage, or the database
/// without.
pub async fn refresh_racing_revocation_keeps_exactly_the_live_sessions(store: &StoreUnderTest) {
    const SESSIONS: usize = 20;
    const TASKS: usize = 200;
    let now = now();
    let u = user("race-user", "race@example.com");
    store.db().create_user(&u).await.unwrap();
    let mut tokens = Vec::new();
    for _ in 0..SESSIONS {
        let s = store
            .sessions
            .create(&u, &meta(), false, now)
            .await
            .unwrap();
        tokens.push(s.token);
    }
    let revoked: BTreeSet<String> = tokens.iter().step_by(3).cloned().collect();
    let live: BTreeSet<String> = tokens
        .iter()
        .filter(|t| !revoked.contains(*t))
        .cloned()
        .collect();

    let sessions = Arc::new(store.sessions.clone());
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let sessions = sessions.clone();
        let token = tokens[i % SESSIONS].clone();
        // Revoked sessions are revoked in even rounds and refreshed in odd
        // ones, all at once.
        let revoke = revoked.contains(&token) && (i / SESSIONS) % 2 == 0;
        tasks.push(tokio::spawn(async move {
            if revoke {
                sessions.delete(&token, now).await.unwrap();
            } else {
                let refresh = SessionUpdate {
                    expires_at: Some(now.plus_secs(WEEK_SECS + i as i64)),
                    updated_at: Some(now),
                    ..SessionUpdate::default()
                };
                sessions.update(&token, &refresh, now).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.expect("a task panicked");
    }

    for token in &tokens {
        let found = sessions.find(token).await.unwrap();
        if revoked.contains(token) {
            assert!(found.is_none(), "revoked session {token} came back");
        } else {
            assert!(found.is_some(), "live session {token} was lost");
        }
    }
    let listed: Vec<String> = sessions
        .list(&u.id, now)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.token)
        .collect();
    let listed_set: BTreeSet<String> = listed.iter().cloned().collect();
    assert_eq!(listed.len(), listed_set.len(), "duplicates: {listed:?}");
    assert_eq!(listed_set, live, "list() holds exactly the live sessions");

    match store.storage() {
        Some(storage) => {
            let raw = storage
                .get(&active_sessions_key(&u.id))
                .await
                .unwrap()
                .expect("the index exists");
            let entries: Vec<serde_json::Value> =
                serde_json::from_str(&raw).expect("the index is a JSON array");
            let indexed: Vec<String> = entries
                .iter()
                .map(|e| e["token"].as_str().expect("a token").to_owned())
                .collect();
            let indexed_set: BTreeSet<String> = indexed.iter().cloned().collect();
            assert_eq!(indexed.len(), indexed_set.len(), "duplicates: {indexed:?}");
            assert_eq!(
                indexed_set, live,
                "the active-sessions index holds exactly the live sessions"
            );
        }
        None => {
            let rows: BTreeSet<String> = store
                .db()
                .list_sessions(&u.id)
                .await
                .unwrap()
                .into_iter()
                .map(|s| s.token)
                .collect();
            assert_eq!(rows, live, "the database holds exactly the live sessions");
        }
    }
}
