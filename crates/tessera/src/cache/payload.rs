//! The cached payload `{session, user, updatedAt, version}` (spec §2.2) and
//! its validation on read (spec §2.8).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::store::{Session, SessionWithUser, User};
use crate::Timestamp;

/// What a cookie cache holds, as written (spec §2.2 key order).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CachePayload<'a> {
    /// The session row.
    pub session: &'a Session,
    /// The user row.
    pub user: &'a User,
    /// When the cache is written, ms.
    pub updated_at: i64,
    /// The cache version.
    pub version: &'a str,
}

/// A decoded, verified and validated cookie cache.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedSession {
    /// The session and user it carries.
    pub data: SessionWithUser,
    /// When the cache was written (`updatedAt`, ms).
    pub updated_at: i64,
    /// The cache version (`"1"` when absent).
    pub version: String,
    /// When the cache itself expires (compact `expiresAt`; jwt/jwe `exp`), ms.
    pub expires_at: Timestamp,
}

/// Why a cookie cache was not used. Every variant is a cache *miss*: the
/// request falls back to the store, never to an error response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Miss {
    /// Not decodable as this strategy (bad base64, not JSON, wrong shape,
    /// wrong strategy after a configuration change).
    #[error("malformed cookie cache")]
    Malformed,
    /// The signature or authentication tag does not verify with any
    /// configured secret.
    #[error("cookie cache signature or tag does not verify")]
    BadSignature,
    /// No configured secret has the JWE's key id.
    #[error("cookie cache key id matches no configured secret")]
    UnknownKey,
    /// The cache's own expiry has passed.
    #[error("cookie cache expired")]
    Expired,
    /// The payload fails better-auth's schema (spec §2.8).
    #[error("cookie cache payload fails validation")]
    Invalid,
}

/// Reads `{session, user, updatedAt, version}` from a parsed JSON object,
/// applying better-auth's schema (spec §2.8): required strings and dates,
/// `email` lowercased, `emailVerified` defaulting to false, unknown keys
/// kept. `now` fills absent `createdAt`/`updatedAt`, as zod defaults do.
pub(crate) fn from_object(
    mut obj: Map<String, Value>,
    now: Timestamp,
) -> Result<(SessionWithUser, i64, String), Miss> {
    let Some(Value::Object(session)) = obj.remove("session") else {
        return Err(Miss::Invalid);
    };
    let Some(Value::Object(user)) = obj.remove("user") else {
        return Err(Miss::Invalid);
    };
    let updated_at = match obj.remove("updatedAt") {
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .ok_or(Miss::Invalid)?,
        _ => return Err(Miss::Invalid),
    };
    let version = match obj.remove("version") {
        None | Some(Value::Null) => "1".to_owned(),
        Some(Value::String(v)) => v,
        Some(_) => return Err(Miss::Invalid),
    };
    Ok((
        SessionWithUser {
            session: session_from(session, now)?,
            user: user_from(user, now)?,
        },
        updated_at,
        version,
    ))
}

fn string(map: &mut Map<String, Value>, key: &str) -> Result<String, Miss> {
    match map.remove(key) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(Miss::Invalid),
    }
}

fn optional_string(map: &mut Map<String, Value>, key: &str) -> Result<Option<String>, Miss> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Miss::Invalid),
    }
}

fn date(map: &mut Map<String, Value>, key: &str) -> Result<Timestamp, Miss> {
    match map.remove(key) {
        Some(Value::String(s)) => Timestamp::parse_iso(&s).ok_or(Miss::Invalid),
        _ => Err(Miss::Invalid),
    }
}

fn date_or(map: &mut Map<String, Value>, key: &str, default: Timestamp) -> Result<Timestamp, Miss> {
    if map.contains_key(key) {
        date(map, key)
    } else {
        Ok(default)
    }
}

fn session_from(mut m: Map<String, Value>, now: Timestamp) -> Result<Session, Miss> {
    let user_id = match m.remove("userId") {
        Some(Value::String(s)) => s,
        // `z.coerce.string()`
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => return Err(Miss::Invalid),
    };
    Ok(Session {
        expires_at: date(&mut m, "expiresAt")?,
        token: string(&mut m, "token")?,
        created_at: date_or(&mut m, "createdAt", now)?,
        updated_at: date_or(&mut m, "updatedAt", now)?,
        ip_address: optional_string(&mut m, "ipAddress")?,
        user_agent: optional_string(&mut m, "userAgent")?,
        user_id,
        id: string(&mut m, "id")?,
        extra: m,
    })
}

fn user_from(mut m: Map<String, Value>, now: Timestamp) -> Result<User, Miss> {
    let email_verified = match m.remove("emailVerified") {
        None => false,
        Some(Value::Bool(b)) => b,
        Some(_) => return Err(Miss::Invalid),
    };
    Ok(User {
        name: string(&mut m, "name")?,
        email: string(&mut m, "email")?.to_lowercase(),
        email_verified,
        image: optional_string(&mut m, "image")?,
        created_at: date_or(&mut m, "createdAt", now)?,
        updated_at: date_or(&mut m, "updatedAt", now)?,
        id: string(&mut m, "id")?,
        extra: m,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "session": {"expiresAt": "2026-12-05T07:58:09.608Z", "token": "T", "createdAt": "2026-11-28T07:58:09.608Z",
                        "updatedAt": "2026-11-28T07:58:09.608Z", "ipAddress": "127.0.0.1", "userAgent": "", "userId": "U", "id": "S",
                        "theme": "dark"},
            "user": {"name": "Alice", "email": "Alice@Example.com", "createdAt": "2026-11-28T07:58:09.606Z",
                     "updatedAt": "2026-11-28T07:58:09.606Z", "id": "U"},
            "updatedAt": 1795852689612u64,
            "version": "1"
        })
    }

    #[test]
    fn validates_and_normalises_like_better_auth() {
        let Value::Object(obj) = sample() else {
            unreachable!()
        };
        let (data, updated_at, version) = from_object(obj, Timestamp::EPOCH).unwrap();
        assert_eq!(data.user.email, "alice@example.com");
        assert!(!data.user.email_verified);
        assert_eq!(data.session.extra["theme"], "dark");
        assert_eq!(updated_at, 1_795_852_689_612);
        assert_eq!(version, "1");
    }

    #[test]
    fn missing_required_fields_are_invalid() {
        for (path, key) in [
            ("session", "token"),
            ("session", "expiresAt"),
            ("user", "name"),
            ("user", "id"),
        ] {
            let mut v = sample();
            v[path].as_object_mut().unwrap().remove(key);
            let Value::Object(obj) = v else {
                unreachable!()
            };
            assert_eq!(
                from_object(obj, Timestamp::EPOCH).unwrap_err(),
                Miss::Invalid,
                "{path}.{key}"
            );
        }
    }

    #[test]
    fn a_name_that_looks_like_a_date_stays_a_name() {
        let mut v = sample();
        v["user"]["name"] = json!("2026-11-28T07:58:09Z");
        let Value::Object(obj) = v else {
            unreachable!()
        };
        let (data, _, _) = from_object(obj, Timestamp::EPOCH).unwrap();
        assert_eq!(data.user.name, "2026-11-28T07:58:09Z");
    }
}
