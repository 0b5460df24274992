//! The `account_data` cookie (spec §4.2): the provider account, for
//! stateless mode, as better-auth's `setAccountCookie` writes it and
//! `getAccountCookie` reads it: the session cache's JWE construction
//! (spec §2.5) keyed with the salt `better-auth-account`.
//!
//! The cookie is chunked like `session_data`: write it with
//! [`crate::CookieJar::set_chunked`] and read it back with
//! [`crate::cookie::read_chunked`], under [`crate::AuthCookies::account_data`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::state::non_null;
use crate::cache::JWE_TOLERANCE_SECS;
use crate::cache::{coerce_string, Jwe, KeySetupError, Miss, TimeWindow, ACCOUNT_SALT};
use crate::secret::Secrets;
use crate::store::Account;
use crate::Timestamp;

/// Seals and opens `account_data` values; keys are derived once, per
/// secret, when it is built.
///
/// What is sealed is the account as better-auth writes it, keys in its
/// order (`accountId, providerId, userId, accessToken, refreshToken,
/// idToken, accessTokenExpiresAt, refreshTokenExpiresAt, scope, createdAt,
/// updatedAt, id`), absent values omitted, dates as ISO strings, then
/// `iat`, `exp` and `jti`. The password hash is never written.
#[derive(Debug)]
pub struct AccountCookie {
    jwe: Jwe,
}

/// The account as it is written: never the password.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Written<'a> {
    account_id: &'a str,
    provider_id: &'a str,
    user_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_token_expires_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token_expires_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    created_at: Timestamp,
    updated_at: Timestamp,
    id: &'a str,
}

/// The account and claims as they are read. `null` is read as absent for
/// the account's optional fields (a database writes them); the claims, as
/// jose checks them, must be numbers when present.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Read {
    #[serde(deserialize_with = "coerced")]
    id: String,
    #[serde(deserialize_with = "coerced")]
    account_id: String,
    provider_id: String,
    #[serde(deserialize_with = "coerced")]
    user_id: String,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    access_token_expires_at: Option<Timestamp>,
    #[serde(default)]
    refresh_token_expires_at: Option<Timestamp>,
    #[serde(default)]
    scope: Option<String>,
    created_at: Timestamp,
    updated_at: Timestamp,
    #[serde(default, deserialize_with = "non_null")]
    exp: Option<f64>,
    #[serde(default, deserialize_with = "non_null")]
    nbf: Option<f64>,
    #[serde(default, deserialize_with = "non_null")]
    #[allow(dead_code)] // checked for its type only, as jose does
    iat: Option<f64>,
}

fn coerced<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    coerce_string(Value::deserialize(d)?)
        .ok_or_else(|| serde::de::Error::custom("expected a string, number or boolean"))
}

impl AccountCookie {
    /// The codec under `secrets`: sealing with the current secret, opening
    /// with any configured one (by the JWE's `kid`).
    pub fn new(secrets: &Secrets) -> Result<Self, KeySetupError> {
        Ok(AccountCookie {
            jwe: Jwe::new(secrets, ACCOUNT_SALT)?,
        })
    }

    /// The cookie value for `account`, written at `now`, valid for
    /// `max_age_secs` (`exp = iat + max_age_secs`, as
    /// `symmetricEncodeJWT(account, …, maxAge)`; better-auth passes the
    /// cookie's Max-Age, 300 when it has none).
    pub fn seal(&self, account: &Account, now: Timestamp, max_age_secs: u64) -> String {
        let written = Written {
            account_id: &account.account_id,
            provider_id: &account.provider_id,
            user_id: &account.user_id,
            access_token: account.access_token.as_deref(),
            refresh_token: account.refresh_token.as_deref(),
            id_token: account.id_token.as_deref(),
            access_token_expires_at: account.access_token_expires_at,
            refresh_token_expires_at: account.refresh_token_expires_at,
            scope: account.scope.as_deref(),
            created_at: account.created_at,
            updated_at: account.updated_at,
            id: &account.id,
        };
        self.jwe.encode_claims(&written, now, max_age_secs)
    }

    /// Opens a value valid at `now`: decrypted with the configured secret
    /// its `kid` names (every one, when it has none), `exp` required and
    /// checked with the session cache's 15 s tolerance, dates revived.
    ///
    /// better-auth reads the payload without a schema; here the account's
    /// required fields (`id`, `accountId`, `providerId`, `userId`,
    /// `createdAt`, `updatedAt`) must be there ([`Miss::Invalid`] if not),
    /// ids may be numbers, additional fields are dropped and a `password`
    /// is never read.
    pub fn open(&self, value: &str, now: Timestamp) -> Result<Account, Miss> {
        let plain = self.jwe.decrypt(value)?;
        // Through a JSON tree: a repeated key keeps its last value, as in
        // `JSON.parse`.
        let tree: Value = serde_json::from_slice(&plain).map_err(|_| Miss::Malformed)?;
        let read = Read::deserialize(tree).map_err(|_| Miss::Invalid)?;
        let window = TimeWindow {
            exp: Some(read.exp.ok_or(Miss::Invalid)?),
            nbf: read.nbf,
            tolerance_secs: JWE_TOLERANCE_SECS,
        };
        window.check(now)?;
        Ok(Account {
            id: read.id,
            account_id: read.account_id,
            provider_id: read.provider_id,
            user_id: read.user_id,
            access_token: read.access_token,
            refresh_token: read.refresh_token,
            id_token: read.id_token,
            access_token_expires_at: read.access_token_expires_at,
            refresh_token_expires_at: read.refresh_token_expires_at,
            scope: read.scope,
            password: None,
            created_at: read.created_at,
            updated_at: read.updated_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_795_855_230_000);

    fn account() -> Account {
        Account {
            id: "acc1".into(),
            account_id: "alice".into(),
            provider_id: "oidc".into(),
            user_id: "U1".into(),
            access_token: Some("at".into()),
            refresh_token: None,
            id_token: Some("header.payload.sig".into()),
            access_token_expires_at: Some(NOW.plus_secs(3600)),
            refresh_token_expires_at: None,
            scope: Some("openid,email".into()),
            password: Some("salt:hash".into()),
            created_at: NOW,
            updated_at: NOW,
        }
    }

    fn cookie(secret: &str) -> AccountCookie {
        AccountCookie::new(&Secrets::single(secret)).unwrap()
    }

    #[test]
    fn a_sealed_account_opens_without_its_password() {
        let codec = cookie("account-secret");
        let value = codec.seal(&account(), NOW, 300);
        let opened = codec.open(&value, NOW).unwrap();
        assert_eq!(
            opened,
            Account {
                password: None,
                ..account()
            }
        );
        let plain = String::from_utf8(codec.jwe.decrypt(&value).unwrap()).unwrap();
        assert!(!plain.contains("password") && !plain.contains("salt:hash"));
        assert!(
            !plain.contains("null"),
            "absent values are omitted: {plain}"
        );
    }

    #[test]
    fn an_expired_account_cookie_is_a_miss_after_the_tolerance() {
        let codec = cookie("account-secret");
        let value = codec.seal(&account(), NOW, 300);
        // jose: expired once `exp <= now - tolerance`.
        assert!(codec.open(&value, NOW.plus_secs(300 + 14)).is_ok());
        assert_eq!(
            codec.open(&value, NOW.plus_secs(300 + 15)),
            Err(Miss::Expired)
        );
    }

    #[test]
    fn another_secret_or_a_tampered_value_is_a_miss() {
        let value = cookie("account-secret").seal(&account(), NOW, 300);
        assert_eq!(
            cookie("other-secret").open(&value, NOW),
            Err(Miss::UnknownKey)
        );
        let mut bytes = value.into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(cookie("account-secret").open(&tampered, NOW).is_err());
    }

    #[test]
    fn an_older_secret_still_opens() {
        let old = cookie("old-secret").seal(&account(), NOW, 300);
        let rotated = Secrets::versioned(
            vec![(2, "new-secret".into()), (1, "old-secret".into())],
            None,
        )
        .unwrap();
        let codec = AccountCookie::new(&rotated).unwrap();
        assert_eq!(codec.open(&old, NOW).unwrap().id, "acc1");
    }

    #[test]
    fn payload_shape_is_checked() {
        let codec = cookie("account-secret");
        let seal = |json: &str| codec.jwe.encrypt(json.as_bytes());
        let base = r#""id":1,"accountId":"a","providerId":"p","userId":7,"createdAt":"2026-11-28T08:40:30.627Z","updatedAt":1795855230627"#;
        let ok = codec
            .open(
                &seal(&format!(
                    r#"{{{base},"accessToken":null,"password":"x","exp":1795855530}}"#
                )),
                NOW,
            )
            .unwrap();
        assert_eq!((ok.id.as_str(), ok.user_id.as_str()), ("1", "7"));
        assert_eq!(ok.updated_at, Timestamp::from_millis(1_795_855_230_627));
        assert_eq!(ok.password, None);
        assert_eq!(
            codec.open(&seal(&format!("{{{base}}}")), NOW),
            Err(Miss::Invalid),
            "exp is required"
        );
        assert_eq!(
            codec.open(&seal(&format!(r#"{{{base},"exp":null}}"#)), NOW),
            Err(Miss::Invalid)
        );
        assert_eq!(
            codec.open(&seal(r#"{"id":"x","exp":1795855530}"#), NOW),
            Err(Miss::Invalid)
        );
        assert_eq!(codec.open(&seal("not json"), NOW), Err(Miss::Malformed));
        assert_eq!(
            codec.open(
                &seal(&format!(r#"{{{base},"exp":1795855530,"nbf":1795859999}}"#)),
                NOW
            ),
            Err(Miss::Expired),
            "not yet valid"
        );
    }
}
