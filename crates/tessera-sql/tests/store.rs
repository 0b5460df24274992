//! SQL-specific storage behaviour: additional fields are refused until the
//! backends can give them columns.

mod common;

use common::*;
use tessera::store::{Database, SessionUpdate, StoreError};
use tessera_sql::AdditionalFieldsUnsupported;

// The behaviour every store shares (records, sessions, revocation,
// concurrency) is the storage conformance suite in
// `crates/tessera-testkit/tests/storage_conformance.rs`, which runs against
// memory, SQLite, PostgreSQL and Redis alike. What is specific to the SQL
// backends stays here.

/// Additional fields need columns the SQL backends do not have yet: a
/// record carrying them is refused, never stored without them.
async fn additional_fields_are_refused(db: &dyn Database) {
    let mut u = user("u1", "alice@example.com");
    u.extra.insert("plan".into(), serde_json::json!("pro"));
    let err = db.create_user(&u).await.expect_err("refused");
    let StoreError::Backend(source) = &err else {
        panic!("{err:?}")
    };
    let unsupported = source
        .downcast_ref::<AdditionalFieldsUnsupported>()
        .expect("names the problem");
    assert_eq!(unsupported.table, "user");
    assert_eq!(unsupported.fields, ["plan"]);
    assert!(unsupported.to_string().contains("plan"), "{unsupported}");
    assert_eq!(db.find_user_by_id("u1").await.unwrap(), None);

    let err = db
        .create_user_with_account(&u, &credential("a1", "u1"))
        .await;
    assert!(matches!(err, Err(StoreError::Backend(_))), "{err:?}");
    assert!(db.find_accounts("u1").await.unwrap().is_empty());

    db.create_user(&user("u1", "alice@example.com"))
        .await
        .unwrap();
    let mut s = session("t1", "u1", 0);
    s.extra.insert("theme".into(), serde_json::json!("dark"));
    assert!(matches!(
        db.create_session(&s).await,
        Err(StoreError::Backend(_))
    ));
    s.extra.clear();
    db.create_session(&s).await.unwrap();
    let mut update = SessionUpdate::default();
    update
        .extra
        .insert("theme".into(), serde_json::json!("dark"));
    assert!(matches!(
        db.update_session("t1", &update).await,
        Err(StoreError::Backend(_))
    ));
}

#[tokio::test]
async fn sqlite_refuses_additional_fields() {
    additional_fields_are_refused(common::sqlite().await.db.as_ref()).await;
}

#[tokio::test]
async fn postgres_refuses_additional_fields() {
    let Some(fixture) = common::postgres().await else {
        return;
    };
    additional_fields_are_refused(fixture.db.as_ref()).await;
}
