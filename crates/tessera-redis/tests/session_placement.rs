//! Where sessions live with Redis as secondary storage (spec §5.3):
//! `storeSessionInDatabase` keeps a database row beside the Redis key, and
//! `preserveSessionInDatabase` ends that row on revocation instead of
//! deleting it. Exercised through the kernel's `Sessions` over a real
//! Redis and the memory database.

mod common;

use std::sync::Arc;

use common::KeySpace;
use tessera::session::{SessionMeta, Sessions};
use tessera::store::{Database, MemoryDatabase, SecondaryStorage, User};
use tessera::{Options, Timestamp};

/// The records' own time.
const NOW: Timestamp = Timestamp::from_millis(tessera_testkit::records::T0);

fn user() -> User {
    tessera_testkit::records::user("user-dana", "dana@example.com")
}

fn meta() -> SessionMeta {
    SessionMeta {
        ip_address: "127.0.0.1".to_owned(),
        user_agent: "test".to_owned(),
    }
}

/// `Sessions` over `storage` and a fresh memory database holding the user.
async fn sessions(
    storage: Arc<dyn SecondaryStorage>,
    store: bool,
    preserve: bool,
) -> (Sessions, Arc<MemoryDatabase>) {
    let db = Arc::new(MemoryDatabase::new());
    db.create_user(&user()).await.unwrap();
    let mut options = Options::new().session;
    options.store_session_in_database = store;
    options.preserve_session_in_database = preserve;
    (Sessions::new(db.clone(), Some(storage), options), db)
}

#[tokio::test]
async fn without_the_options_sessions_live_in_redis_only() {
    let space = KeySpace::new("placement-redis-only");
    let Some(storage) = space.storage().await else {
        return;
    };
    let (sessions, db) = sessions(Arc::new(storage.clone()), false, false).await;
    let s = sessions.create(&user(), &meta(), false, NOW).await.unwrap();
    assert!(storage.get(&s.token).await.unwrap().is_some());
    assert_eq!(db.find_session(&s.token).await.unwrap(), None);
    assert!(sessions.find(&s.token).await.unwrap().is_some());
}

#[tokio::test]
async fn store_session_in_database_keeps_a_row_and_falls_back_to_it() {
    let space = KeySpace::new("placement-store");
    let Some(storage) = space.storage().await else {
        return;
    };
    let (sessions, db) = sessions(Arc::new(storage.clone()), true, false).await;
    let s = sessions.create(&user(), &meta(), false, NOW).await.unwrap();
    assert!(storage.get(&s.token).await.unwrap().is_some());
    let row = db.find_session(&s.token).await.unwrap().expect("a row");
    assert_eq!(row.session, s);
    // Redis lost the key (eviction, flush): the database still answers.
    storage.delete(&s.token).await.unwrap();
    let found = sessions
        .find(&s.token)
        .await
        .unwrap()
        .expect("from the database");
    assert_eq!(found.session.token, s.token);
    // Revocation removes both.
    let t = sessions.create(&user(), &meta(), false, NOW).await.unwrap();
    sessions.delete(&t.token, NOW).await.unwrap();
    assert_eq!(storage.get(&t.token).await.unwrap(), None);
    assert_eq!(db.find_session(&t.token).await.unwrap(), None);
    assert_eq!(sessions.find(&t.token).await.unwrap(), None);
}

#[tokio::test]
async fn preserve_session_in_database_ends_rows_instead_of_deleting_them() {
    let space = KeySpace::new("placement-preserve");
    let Some(storage) = space.storage().await else {
        return;
    };
    let (sessions, db) = sessions(Arc::new(storage.clone()), true, true).await;
    let s = sessions.create(&user(), &meta(), false, NOW).await.unwrap();
    let later = NOW.plus_secs(60);
    sessions.delete(&s.token, later).await.unwrap();
    assert_eq!(storage.get(&s.token).await.unwrap(), None);
    let row = db.find_session(&s.token).await.unwrap().expect("kept");
    assert!(
        row.session.expires_at <= later,
        "the kept row is ended: {:?}",
        row.session.expires_at
    );
    // A preserved row is history, never a way back in.
    assert_eq!(sessions.find(&s.token).await.unwrap(), None);

    // Revoking every session of the user ends every row too.
    let a = sessions.create(&user(), &meta(), false, NOW).await.unwrap();
    let b = sessions.create(&user(), &meta(), false, NOW).await.unwrap();
    sessions
        .delete_user_sessions(&user().id, later)
        .await
        .unwrap();
    for token in [&a.token, &b.token] {
        assert_eq!(sessions.find(token).await.unwrap(), None);
        let row = db.find_session(token).await.unwrap().expect("kept");
        assert!(row.session.expires_at <= later);
    }
}
