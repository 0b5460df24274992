//! One behavioural suite over the `Database` trait, run unchanged against
//! every backend: the kernel's `MemoryDatabase` (the reference behaviour),
//! SQLite (a temp file) and PostgreSQL (a schema of its own per test).

mod common;

use common::*;
use tessera::store::{Database, SessionUpdate, StoreError};
use tessera_sql::AdditionalFieldsUnsupported;

/// The suite: each function takes a fresh, empty (migrated) database.
mod suite {
    use super::*;

    pub async fn users_round_trip(db: &dyn Database) {
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

        let changed = tessera::User {
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

    pub async fn duplicate_email_is_a_conflict(db: &dyn Database) {
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

    pub async fn credential_lookup_joins_the_account(db: &dyn Database) {
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

        // A user without a password (say, OAuth only) is found, without one.
        let bob = user("u2", "bob@example.com");
        db.create_user(&bob).await.unwrap();
        let github = tessera::store::Account {
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

    pub async fn accounts_round_trip(db: &dyn Database) {
        db.create_user(&user("u1", "alice@example.com"))
            .await
            .unwrap();
        let oauth = tessera::store::Account {
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
        let password = tessera::store::Account {
            created_at: at(20),
            ..credential("a2", "u1")
        };
        db.create_account(&oauth).await.unwrap();
        db.create_account(&password).await.unwrap();
        let mut found = db.find_accounts("u1").await.unwrap();
        found.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(found, vec![oauth.clone(), password.clone()]);
        assert!(db.find_accounts("u2").await.unwrap().is_empty());

        let refreshed = tessera::store::Account {
            access_token: Some("at2".into()),
            access_token_expires_at: Some(at(7_200_456)),
            refresh_token_expires_at: None,
            updated_at: at(7_000),
            ..oauth.clone()
        };
        assert!(db.update_account(&refreshed).await.unwrap());
        let ghost = credential("nope", "u1");
        assert!(!db.update_account(&ghost).await.unwrap());
        let mut found = db.find_accounts("u1").await.unwrap();
        found.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(found, vec![refreshed, password.clone()]);

        db.delete_account("a1").await.unwrap();
        assert_eq!(db.find_accounts("u1").await.unwrap(), vec![password]);
    }

    pub async fn sessions_round_trip(db: &dyn Database) {
        let alice = user("u1", "alice@example.com");
        db.create_user(&alice).await.unwrap();
        let s = tessera::Session {
            ip_address: Some("203.0.113.7".into()),
            user_agent: None,
            ..session("tok1", "u1", 123)
        };
        db.create_session(&s).await.unwrap();

        // One call: the session and its user.
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
        // `None` leaves a field as it is.
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

    pub async fn empty_ip_address_stays_empty(db: &dyn Database) {
        // better-auth stores `""`, not NULL, when it knows no IP.
        db.create_user(&user("u1", "alice@example.com"))
            .await
            .unwrap();
        let s = tessera::Session {
            ip_address: Some(String::new()),
            user_agent: Some(String::new()),
            ..session("tok1", "u1", 0)
        };
        db.create_session(&s).await.unwrap();
        let found = db.find_session("tok1").await.unwrap().unwrap().session;
        assert_eq!(found.ip_address.as_deref(), Some(""));
        assert_eq!(found.user_agent.as_deref(), Some(""));
    }

    pub async fn duplicate_token_is_a_conflict(db: &dyn Database) {
        db.create_user(&user("u1", "alice@example.com"))
            .await
            .unwrap();
        db.create_session(&session("tok1", "u1", 0)).await.unwrap();
        let again = tessera::Session {
            id: "another-id".into(),
            ..session("tok1", "u1", 5)
        };
        let err = db.create_session(&again).await;
        assert!(matches!(err, Err(StoreError::Conflict("token"))), "{err:?}");
    }

    pub async fn user_sessions_are_listed_oldest_first_and_deleted_together(db: &dyn Database) {
        db.create_user(&user("u1", "alice@example.com"))
            .await
            .unwrap();
        db.create_user(&user("u2", "bob@example.com"))
            .await
            .unwrap();
        // Inserted out of order; one already expired (filtering is the
        // kernel's job: the store lists it).
        let expired = tessera::Session {
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
        let tokens: Vec<String> = db
            .list_sessions("u1")
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.token)
            .collect();
        assert_eq!(tokens, ["old", "a", "b"]);
        assert_eq!(db.list_sessions("u1").await.unwrap()[0], expired);
        assert!(db.list_sessions("nobody").await.unwrap().is_empty());

        db.delete_user_sessions("u1").await.unwrap();
        assert!(db.list_sessions("u1").await.unwrap().is_empty());
        assert_eq!(db.find_session("a").await.unwrap(), None);
        assert_eq!(db.list_sessions("u2").await.unwrap().len(), 1);
        assert!(db.find_session("bob").await.unwrap().is_some());
    }

    pub async fn find_sessions_keeps_the_requested_order(db: &dyn Database) {
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

    pub async fn deleting_a_user_deletes_their_sessions_and_accounts(db: &dyn Database) {
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
        // The email is free again.
        db.create_user(&user("u3", "alice@example.com"))
            .await
            .unwrap();
    }

    pub async fn verifications_newest_first_and_deleted_by_identifier(db: &dyn Database) {
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

    pub async fn dates_keep_millisecond_precision(db: &dyn Database) {
        // Milliseconds at both ends of a second, and a date before 1970.
        for (i, ms) in [
            1_795_852_689_612_i64,
            1_795_852_689_001,
            1_795_852_689_999,
            -86_400_123,
        ]
        .into_iter()
        .enumerate()
        {
            let t = tessera::Timestamp::from_millis(ms);
            let u = tessera::User {
                created_at: t,
                updated_at: t,
                ..user(&format!("u{i}"), &format!("u{i}@example.com"))
            };
            db.create_user(&u).await.unwrap();
            assert_eq!(
                db.find_user_by_id(&u.id).await.unwrap().unwrap().created_at,
                t
            );
            let s = tessera::Session {
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
}

/// Runs every suite function against a backend; `$fixture` is an async
/// expression giving `Option<Fixture>` (`None`: skipped).
macro_rules! database_suite {
    ($backend:ident, $fixture:expr) => {
        mod $backend {
            use super::*;
            database_suite!(@tests $fixture;
                users_round_trip,
                duplicate_email_is_a_conflict,
                credential_lookup_joins_the_account,
                accounts_round_trip,
                sessions_round_trip,
                empty_ip_address_stays_empty,
                duplicate_token_is_a_conflict,
                user_sessions_are_listed_oldest_first_and_deleted_together,
                find_sessions_keeps_the_requested_order,
                deleting_a_user_deletes_their_sessions_and_accounts,
                verifications_newest_first_and_deleted_by_identifier,
                dates_keep_millisecond_precision,
            );
        }
    };
    (@tests $fixture:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some(fixture) = $fixture else { return };
                suite::$name(fixture.db.as_ref()).await;
            }
        )*
    };
}

database_suite!(memory, Some(common::memory()));
database_suite!(sqlite, Some(common::sqlite().await));
database_suite!(postgres, common::postgres().await);

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
