//! The cached payload `{session, user, updatedAt, version}` (spec §2.2) and
//! its validation on read (spec §2.8).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
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
    /// The session and user it carries, shared: a cache hit hands out this
    /// record without copying it.
    pub data: Arc<SessionWithUser>,
    /// When the cache was written (`updatedAt`, ms).
    pub updated_at: i64,
    /// The cache version (`"1"` when absent).
    pub version: String,
    /// When the cache itself expires (compact `expiresAt`; jwt/jwe `exp`), ms.
    pub expires_at: Timestamp,
}

/// A cookie cache whose signature or tag verified and whose payload
/// parsed, with its strategy's time checks still to run
/// ([`TimeWindow::check`]). Everything in it is a function of the value's
/// bytes and the configured keys alone, unless `clock_defaults` says the
/// parse took the clock for a missing date.
#[derive(Clone, Debug, PartialEq)]
pub struct Opened {
    /// The session, user, version and cache expiry it carries.
    pub session: CachedSession,
    /// The token claims the strategy checks against the clock.
    pub window: TimeWindow,
    /// A `createdAt`/`updatedAt` was absent and took `now` (zod's
    /// defaults), so the result belongs to the instant it was opened at.
    pub clock_defaults: bool,
}

/// The clock checks of a token strategy (spec §2.4, §2.5), as `jose`
/// makes them: `exp` is required and must not be past, `nbf` must not be
/// in the future, both with a tolerance. `compact` has none: its expiry
/// is checked with the session's (spec §6.4 step 7).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TimeWindow {
    /// `exp`, seconds.
    pub exp: Option<f64>,
    /// `nbf`, seconds.
    pub nbf: Option<f64>,
    /// Clock tolerance, seconds.
    pub tolerance_secs: i64,
}

impl TimeWindow {
    /// Whether the claims hold at `now` ([`Miss::Expired`] if not).
    pub fn check(&self, now: Timestamp) -> Result<(), Miss> {
        let now = now.as_secs();
        if self
            .nbf
            .is_some_and(|nbf| nbf > (now + self.tolerance_secs) as f64)
        {
            return Err(Miss::Expired);
        }
        if self
            .exp
            .is_some_and(|exp| exp <= (now - self.tolerance_secs) as f64)
        {
            return Err(Miss::Expired);
        }
        Ok(())
    }
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

/// A payload read in one pass (spec §2.8): `{session, user, updatedAt,
/// version}` plus the token claims `exp`/`nbf` when present.
pub(crate) struct Wire {
    pub data: SessionWithUser,
    pub updated_at: i64,
    pub version: String,
    pub exp: Option<f64>,
    pub nbf: Option<f64>,
    /// A record date was absent and took `now`.
    pub clock_defaults: bool,
}

/// Parses and validates a payload straight into records, in one pass with
/// no intermediate JSON tree: required strings and dates, `email`
/// lowercased, `emailVerified` defaulting to false, `userId` coerced to a
/// string, unknown record keys kept, `createdAt`/`updatedAt` defaulting to
/// `now` (zod defaults). A syntax error is [`Miss::Malformed`], a schema
/// violation [`Miss::Invalid`].
pub(crate) fn read_payload(json: &[u8], now: Timestamp) -> Result<Wire, Miss> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let wire = PayloadSeed { now }.deserialize(&mut de).map_err(classify)?;
    de.end().map_err(classify)?;
    Ok(wire)
}

fn classify(e: serde_json::Error) -> Miss {
    match e.classify() {
        serde_json::error::Category::Data => Miss::Invalid,
        _ => Miss::Malformed,
    }
}

/// An object key, borrowed from the input unless it has escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

struct PayloadSeed {
    now: Timestamp,
}

impl<'de> DeserializeSeed<'de> for PayloadSeed {
    type Value = Wire;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Wire, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PayloadSeed {
    type Value = Wire;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a cookie cache payload")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Wire, A::Error> {
        let (mut session, mut user, mut updated_at) = (None, None, None);
        let (mut version, mut exp, mut nbf) = (None, None, None);
        while let Some(Key(key)) = map.next_key()? {
            match key.as_ref() {
                "session" => session = Some(map.next_value_seed(SessionSeed { now: self.now })?),
                "user" => user = Some(map.next_value_seed(UserSeed { now: self.now })?),
                "updatedAt" => updated_at = Some(map.next_value::<f64>()?),
                "version" => version = map.next_value::<Option<String>>()?,
                "exp" => exp = Some(map.next_value::<f64>()?),
                "nbf" => nbf = map.next_value::<Option<f64>>()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let updated_at = updated_at
            .filter(|u| u.is_finite())
            .ok_or_else(|| de::Error::missing_field("updatedAt"))?;
        let (session, session_defaults) =
            session.ok_or_else(|| de::Error::missing_field("session"))?;
        let (user, user_defaults) = user.ok_or_else(|| de::Error::missing_field("user"))?;
        Ok(Wire {
            data: SessionWithUser { session, user },
            clock_defaults: session_defaults || user_defaults,
            updated_at: updated_at as i64,
            version: version.unwrap_or_else(|| "1".to_owned()),
            exp,
            nbf,
        })
    }
}

/// zod's `z.coerce.string()` on the ids better-auth coerces (`userId`):
/// strings as they are, numbers and booleans as `String()` writes the
/// common ones (numeric ids). Anything else is refused, where zod would
/// write `"null"` or `"[object Object]"`.
pub(crate) fn coerce_string(value: Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn required<T, E: de::Error>(v: Option<T>, field: &'static str) -> Result<T, E> {
    v.ok_or_else(|| E::missing_field(field))
}

/// A date as better-auth revives it: an ISO-8601 string.
fn date<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Timestamp, A::Error> {
    let s: Cow<'de, str> = map.next_value::<Key<'de>>().map(|k| k.0)?;
    Timestamp::parse_iso(&s).ok_or_else(|| de::Error::custom("invalid date"))
}

struct SessionSeed {
    now: Timestamp,
}

/// A record, and whether one of its dates took `now`.
type Seeded<T> = (T, bool);

impl<'de> DeserializeSeed<'de> for SessionSeed {
    type Value = Seeded<Session>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Seeded<Session>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SessionSeed {
    type Value = Seeded<Session>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a session object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Seeded<Session>, A::Error> {
        let (mut expires_at, mut token, mut created_at, mut updated_at) = (None, None, None, None);
        let (mut ip_address, mut user_agent, mut user_id, mut id) = (None, None, None, None);
        let mut extra = Map::new();
        while let Some(Key(key)) = map.next_key()? {
            match key.as_ref() {
                "expiresAt" => expires_at = Some(date(&mut map)?),
                "token" => token = Some(map.next_value::<String>()?),
                "createdAt" => created_at = Some(date(&mut map)?),
                "updatedAt" => updated_at = Some(date(&mut map)?),
                "ipAddress" => ip_address = map.next_value::<Option<String>>()?,
                "userAgent" => user_agent = map.next_value::<Option<String>>()?,
                // `z.coerce.string()`
                "userId" => {
                    user_id = Some(
                        coerce_string(map.next_value::<Value>()?)
                            .ok_or_else(|| de::Error::custom("invalid userId"))?,
                    )
                }
                "id" => id = Some(map.next_value::<String>()?),
                _ => {
                    extra.insert(key.into_owned(), map.next_value::<Value>()?);
                }
            }
        }
        let defaulted = created_at.is_none() || updated_at.is_none();
        let session = Session {
            expires_at: required(expires_at, "expiresAt")?,
            token: required(token, "token")?,
            created_at: created_at.unwrap_or(self.now),
            updated_at: updated_at.unwrap_or(self.now),
            ip_address,
            user_agent,
            user_id: required(user_id, "userId")?,
            id: required(id, "id")?,
            extra,
        };
        Ok((session, defaulted))
    }
}

struct UserSeed {
    now: Timestamp,
}

impl<'de> DeserializeSeed<'de> for UserSeed {
    type Value = Seeded<User>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Seeded<User>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for UserSeed {
    type Value = Seeded<User>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a user object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Seeded<User>, A::Error> {
        let (mut name, mut email, mut email_verified, mut image) = (None, None, None, None);
        let (mut created_at, mut updated_at, mut id) = (None, None, None);
        let mut extra = Map::new();
        while let Some(Key(key)) = map.next_key()? {
            match key.as_ref() {
                "name" => name = Some(map.next_value::<String>()?),
                "email" => email = Some(map.next_value::<String>()?),
                "emailVerified" => email_verified = Some(map.next_value::<bool>()?),
                "image" => image = map.next_value::<Option<String>>()?,
                "createdAt" => created_at = Some(date(&mut map)?),
                "updatedAt" => updated_at = Some(date(&mut map)?),
                "id" => id = Some(map.next_value::<String>()?),
                _ => {
                    extra.insert(key.into_owned(), map.next_value::<Value>()?);
                }
            }
        }
        let defaulted = created_at.is_none() || updated_at.is_none();
        let user = User {
            name: required(name, "name")?,
            email: required::<String, A::Error>(email, "email")?.to_lowercase(),
            email_verified: email_verified.unwrap_or(false),
            image,
            created_at: created_at.unwrap_or(self.now),
            updated_at: updated_at.unwrap_or(self.now),
            id: required(id, "id")?,
            extra,
        };
        Ok((user, defaulted))
    }
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
        let wire = read_payload(sample().to_string().as_bytes(), Timestamp::EPOCH).unwrap();
        assert!(!wire.clock_defaults);
        let (data, updated_at, version) = (wire.data, wire.updated_at, wire.version);
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
            let err = read_payload(v.to_string().as_bytes(), Timestamp::EPOCH).err();
            assert_eq!(err, Some(Miss::Invalid), "{path}.{key}");
        }
    }

    #[test]
    fn syntax_errors_are_malformed_and_defaults_apply() {
        assert_eq!(
            read_payload(b"{not json", Timestamp::EPOCH).err(),
            Some(Miss::Malformed)
        );
        let mut v = sample();
        v["session"].as_object_mut().unwrap().remove("createdAt");
        v["session"]["userId"] = json!(42);
        let now = Timestamp::from_millis(5);
        let wire = read_payload(v.to_string().as_bytes(), now).unwrap();
        assert!(wire.clock_defaults);
        let data = wire.data;
        assert_eq!(data.session.created_at, now);
        assert_eq!(data.session.user_id, "42");
    }

    #[test]
    fn a_name_that_looks_like_a_date_stays_a_name() {
        let mut v = sample();
        v["user"]["name"] = json!("2026-11-28T07:58:09Z");
        let data = read_payload(v.to_string().as_bytes(), Timestamp::EPOCH)
            .unwrap()
            .data;
        assert_eq!(data.user.name, "2026-11-28T07:58:09Z");
    }
}
