//! Records with fixed, plausible contents, for tests that need a user, a
//! session or an account without signing anyone up.

use serde_json::Map;
use tessera::store::{Account, Session, SessionWithUser, User, Verification, CREDENTIAL_PROVIDER};
use tessera::Timestamp;

/// 2026-11-28T00:00:00.000Z: the fixed time the records are made at.
pub const T0: i64 = 1_795_824_000_000;

/// [`T0`] moved by `offset_ms`.
pub fn at(offset_ms: i64) -> Timestamp {
    Timestamp::from_millis(T0 + offset_ms)
}

/// A user `id` named `User <id>`, made at [`T0`].
pub fn user(id: &str, email: &str) -> User {
    User {
        name: format!("User {id}"),
        email: email.to_owned(),
        email_verified: false,
        image: None,
        created_at: at(0),
        updated_at: at(0),
        id: id.to_owned(),
        extra: Map::new(),
    }
}

/// The credential account of `user_id`, with a well-formed scrypt hash.
pub fn credential(id: &str, user_id: &str) -> Account {
    Account {
        id: id.to_owned(),
        account_id: user_id.to_owned(),
        provider_id: CREDENTIAL_PROVIDER.to_owned(),
        user_id: user_id.to_owned(),
        access_token: None,
        refresh_token: None,
        id_token: None,
        access_token_expires_at: None,
        refresh_token_expires_at: None,
        scope: None,
        password: Some(format!("{}:{}", "ab".repeat(16), "cd".repeat(64))),
        created_at: at(0),
        updated_at: at(0),
    }
}

/// A seven-day session of `user_id`, made `created` ms after [`T0`].
pub fn session(token: &str, user_id: &str, created: i64) -> Session {
    Session {
        expires_at: at(created + 604_800_000),
        token: token.to_owned(),
        created_at: at(created),
        updated_at: at(created),
        ip_address: Some(String::new()),
        user_agent: Some("tessera-tests/1.0".to_owned()),
        user_id: user_id.to_owned(),
        id: format!("id-{token}"),
        extra: Map::new(),
    }
}

/// A ten-minute verification, made `created` ms after [`T0`].
pub fn verification(id: &str, identifier: &str, created: i64) -> Verification {
    Verification {
        id: id.to_owned(),
        identifier: identifier.to_owned(),
        value: format!("value of {id}"),
        expires_at: at(created + 600_000),
        created_at: at(created),
        updated_at: at(created),
    }
}

/// A session of a user named `name`, as a resolved session looks.
pub fn session_with_user(name: &str) -> SessionWithUser {
    SessionWithUser {
        session: session("token-0123456789", "user-1", 0),
        user: User {
            name: name.to_owned(),
            ..user("user-1", "user-1@example.com")
        },
    }
}
