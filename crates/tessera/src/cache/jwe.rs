//! Strategy `jwe` (spec §2.5): `dir` + `A256CBC-HS512`, the 64-byte key
//! from HKDF-SHA256 over the secret, `kid` its RFC 7638 thumbprint; claims
//! `iat`, `exp`, `jti`; 15 s clock tolerance on read.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hkdf::Hkdf;
use josekit::jwe::{self, JweDecrypter, JweEncrypter, JweHeader};
use sha2::{Digest, Sha256};

use super::jwt::{claims_from, Claims};
use super::payload::{CachePayload, CachedSession, Miss};
use super::CacheCodec;
use super::KeySetupError;
use crate::secret::Secrets;
use crate::Timestamp;

/// HKDF salt of the session cache (`"better-auth-account"` for `account_data`).
pub const SESSION_SALT: &str = "better-auth-session";
/// HKDF salt of the `account_data` cookie.
pub const ACCOUNT_SALT: &str = "better-auth-account";
const INFO: &[u8] = b"BetterAuth.js Generated Encryption Key";
const ENC: &str = "A256CBC-HS512";
const TOLERANCE_SECS: i64 = 15;
const DONT_REMEMBER_SECS: u64 = 300;

/// The 64-byte content key for `secret` and `salt`.
pub fn derive_key(secret: &[u8], salt: &str) -> [u8; 64] {
    let mut key = [0u8; 64];
    Hkdf::<Sha256>::new(Some(salt.as_bytes()), secret)
        .expand(INFO, &mut key)
        .expect("64 bytes is a valid HKDF-SHA256 output length");
    key
}

/// RFC 7638 thumbprint of the symmetric JWK `{"k":…,"kty":"oct"}`.
pub fn thumbprint(key: &[u8]) -> String {
    let jwk = format!(r#"{{"k":"{}","kty":"oct"}}"#, URL_SAFE_NO_PAD.encode(key));
    URL_SAFE_NO_PAD.encode(Sha256::digest(jwk.as_bytes()))
}

struct Key {
    kid: String,
    decrypter: Box<dyn JweDecrypter>,
}

/// The `jwe` codec; keys and their ids are derived once, per secret.
pub struct Jwe {
    kid: String,
    encrypter: Box<dyn JweEncrypter>,
    keys: Vec<Key>,
}

impl std::fmt::Debug for Jwe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwe")
            .field("kid", &self.kid)
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl Jwe {
    /// A codec for `salt`, encrypting with the current secret and
    /// decrypting with any configured one.
    pub fn new(secrets: &Secrets, salt: &str) -> Result<Self, KeySetupError> {
        let current = derive_key(secrets.current().expose(), salt);
        let keys = secrets
            .all()
            .iter()
            .map(|s| {
                let key = derive_key(s.expose(), salt);
                Ok(Key {
                    kid: thumbprint(&key),
                    decrypter: Box::new(
                        jwe::Dir
                            .decrypter_from_bytes(key)
                            .map_err(KeySetupError::new)?,
                    ),
                })
            })
            .collect::<Result<_, KeySetupError>>()?;
        Ok(Jwe {
            kid: thumbprint(&current),
            encrypter: Box::new(
                jwe::Dir
                    .encrypter_from_bytes(current)
                    .map_err(KeySetupError::new)?,
            ),
            keys,
        })
    }

    /// The key id new values carry.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Decrypts a compact JWE to its plaintext, choosing the key by `kid`
    /// (or trying every key when there is none). josekit parses the header
    /// once; the selector only looks the key up.
    pub fn decrypt(&self, value: &str) -> Result<Vec<u8>, Miss> {
        // Compact JWE: five parts (the encrypted key is empty for `dir`).
        if value.split('.').count() != 5 {
            return Err(Miss::Malformed);
        }
        let unknown_kid = std::cell::Cell::new(false);
        let first = jwe::deserialize_compact_with_selector(value, |header| {
            if header.algorithm() != Some("dir") || header.content_encryption() != Some(ENC) {
                return Ok(None);
            }
            Ok(match header.key_id() {
                Some(kid) => {
                    let key = self.keys.iter().find(|k| k.kid == kid);
                    unknown_kid.set(key.is_none());
                    key.map(|k| &*k.decrypter)
                }
                None => self.keys.first().map(|k| &*k.decrypter),
            })
        });
        match first {
            Ok((plain, _)) => return Ok(plain),
            Err(_) if unknown_kid.get() => return Err(Miss::UnknownKey),
            Err(_) => {}
        }
        // No `kid`: better-auth tries the current secret, then older ones.
        let has_kid = value
            .split('.')
            .next()
            .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
            .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
            .is_some_and(|h| h.get("kid").is_some());
        if !has_kid {
            for key in self.keys.iter().skip(1) {
                if let Ok((plain, _)) = jwe::deserialize_compact(value, &*key.decrypter) {
                    return Ok(plain);
                }
            }
        }
        Err(Miss::BadSignature)
    }
}

/// A random version-4 UUID, as `crypto.randomUUID()` makes for `jti`.
fn random_uuid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl CacheCodec for Jwe {
    fn encode(&self, payload: &CachePayload<'_>, now: Timestamp, max_age: Option<u64>) -> String {
        let iat = now.as_secs();
        let lifetime = max_age.filter(|m| *m > 0).unwrap_or(DONT_REMEMBER_SECS);
        let jti = random_uuid();
        let claims = Claims {
            payload,
            iat,
            exp: iat.saturating_add(i64::try_from(lifetime).unwrap_or(i64::MAX)),
            jti: Some(&jti),
        };
        let bytes = serde_json::to_vec(&claims).expect("claims always serialise");
        let mut header = JweHeader::new();
        header.set_content_encryption(ENC);
        header.set_key_id(&self.kid);
        jwe::serialize_compact(&bytes, &header, &*self.encrypter)
            .expect("encryption with a valid 64-byte key cannot fail")
    }

    fn decode(&self, value: &str, now: Timestamp) -> Result<CachedSession, Miss> {
        let plain = self.decrypt(value)?;
        claims_from(&plain, now, TOLERANCE_SECS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_and_kid_match_the_spec_worked_values() {
        let secret = b"better-auth-secret-12345678901234567890";
        let key = derive_key(secret, SESSION_SALT);
        assert_eq!(
            hex::encode(key),
            "0b2c3472634ca0078229e14e02b7a82d1f13ec9334c9a8de90b8af998a7cb4f0bc06f98835e0a3f664099b62b26bd26697fe07bd0445c544ebb05443d629a0ea"
        );
        assert_eq!(
            thumbprint(&key),
            "2gfuK-4nzYOKZS75JQilUpf8F-Z0f4p0ERdZSPpOIHs"
        );
        let account = derive_key(secret, ACCOUNT_SALT);
        assert_eq!(
            thumbprint(&account),
            "dLsxNbc0OemdEaO_gxzAVZ5MwGNhuio1CWJydRBq0YY"
        );
    }

    #[test]
    fn uuids_are_version_4() {
        let u = random_uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
    }
}
