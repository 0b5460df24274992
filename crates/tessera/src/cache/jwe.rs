//! Strategy `jwe` (spec §2.5): `dir` + `A256CBC-HS512`, the 64-byte key
//! from HKDF-SHA256 over the secret, `kid` its RFC 7638 thumbprint; claims
//! `iat`, `exp`, `jti`; 15 s clock tolerance on read.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, InnerIvInit, KeyInit};
use aes::Aes256;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use josekit::jwe::{self, JweEncrypter, JweHeader};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

use super::jwt::{claims_from, Claims};
use super::payload::{CachePayload, Miss, Opened};
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
/// jose's `clockTolerance` on read, seconds (`session_data` and `account_data`).
pub(crate) const TOLERANCE_SECS: i64 = 15;
const DONT_REMEMBER_SECS: u64 = 300;

/// The 64-byte content key for `secret` and `salt`.
pub(crate) fn derive_key(secret: &[u8], salt: &str) -> [u8; 64] {
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

/// One secret's decryption key, ready: the HMAC-SHA512 state keyed with
/// the MAC half and the AES-256 key schedule of the encryption half.
struct Key {
    kid: String,
    mac: Hmac<Sha512>,
    aes: Aes256,
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
                Key {
                    kid: thumbprint(&key),
                    mac: <Hmac<Sha512> as Mac>::new_from_slice(&key[..32])
                        .expect("HMAC accepts 32-byte keys"),
                    aes: Aes256::new_from_slice(&key[32..]).expect("AES-256 takes 32-byte keys"),
                }
            })
            .collect();
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

    /// Encrypts `plaintext` as a compact JWE with the current secret's
    /// key, header `{"alg":"dir","enc":"A256CBC-HS512","kid":…}`: what
    /// [`Jwe::decrypt`] opens.
    pub fn encrypt(&self, plaintext: &[u8]) -> String {
        let mut header = JweHeader::new();
        header.set_content_encryption(ENC);
        header.set_key_id(&self.kid);
        jwe::serialize_compact(plaintext, &header, &*self.encrypter)
            .expect("encryption with a valid 64-byte key cannot fail")
    }

    /// better-auth's `symmetricEncodeJWT`: `payload`'s fields, then `iat`,
    /// `exp = iat + lifetime_secs` and a fresh `jti`, encrypted.
    pub(crate) fn encode_claims<P: Serialize>(
        &self,
        payload: &P,
        now: Timestamp,
        lifetime_secs: u64,
    ) -> String {
        let iat = now.as_secs();
        let jti = random_uuid();
        let claims = Claims {
            payload,
            iat,
            exp: iat.saturating_add(i64::try_from(lifetime_secs).unwrap_or(i64::MAX)),
            jti: Some(&jti),
        };
        self.encrypt(&serde_json::to_vec(&claims).expect("claims always serialise"))
    }

    /// Decrypts a compact JWE to its plaintext (RFC 7516 with RFC 7518
    /// §5.2.5's A256CBC-HS512), choosing the key by `kid`, or trying every
    /// key when there is none. The tag is checked, in constant time, before
    /// anything is decrypted.
    ///
    /// Encryption goes through josekit; decryption is composed here from
    /// RustCrypto's AES-256-CBC and HMAC-SHA512, because josekit's OpenSSL
    /// path spends most of its time on per-call cipher lookups and this is
    /// the stateless get-session hot path. The two are checked against each
    /// other and against better-auth's cookies in the tests.
    pub fn decrypt(&self, value: &str) -> Result<Vec<u8>, Miss> {
        #[derive(Deserialize)]
        struct Header<'a> {
            alg: &'a str,
            enc: &'a str,
            kid: Option<&'a str>,
            zip: Option<&'a str>,
        }
        let mut parts = value.split('.');
        let (Some(protected), Some(encrypted_key), Some(iv), Some(ciphertext), Some(tag), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(Miss::Malformed);
        };
        let header_json = URL_SAFE_NO_PAD
            .decode(protected)
            .map_err(|_| Miss::Malformed)?;
        let header: Header<'_> =
            serde_json::from_slice(&header_json).map_err(|_| Miss::Malformed)?;
        // `dir`: no encrypted key; better-auth never compresses.
        if header.alg != "dir"
            || header.enc != ENC
            || header.zip.is_some()
            || !encrypted_key.is_empty()
        {
            return Err(Miss::Malformed);
        }
        let iv = URL_SAFE_NO_PAD.decode(iv).map_err(|_| Miss::Malformed)?;
        let mut ciphertext = URL_SAFE_NO_PAD
            .decode(ciphertext)
            .map_err(|_| Miss::Malformed)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| Miss::Malformed)?;
        if iv.len() != 16 || tag.len() != 32 || ciphertext.is_empty() || ciphertext.len() % 16 != 0
        {
            return Err(Miss::Malformed);
        }
        let aad_bits = (protected.len() as u64).saturating_mul(8).to_be_bytes();
        let matches = |key: &&Key| {
            let mut mac = key.mac.clone();
            mac.update(protected.as_bytes());
            mac.update(&iv);
            mac.update(&ciphertext);
            mac.update(&aad_bits);
            bool::from(mac.finalize().into_bytes()[..32].ct_eq(&tag))
        };
        let key = match header.kid {
            Some(kid) => {
                let key = self
                    .keys
                    .iter()
                    .find(|k| k.kid == kid)
                    .ok_or(Miss::UnknownKey)?;
                Some(key).filter(matches)
            }
            None => self.keys.iter().find(matches),
        }
        .ok_or(Miss::BadSignature)?;
        let plain_len = cbc::Decryptor::<Aes256>::inner_iv_slice_init(key.aes.clone(), &iv)
            .map_err(|_| Miss::Malformed)?
            .decrypt_padded_mut::<Pkcs7>(&mut ciphertext)
            .map_err(|_| Miss::BadSignature)?
            .len();
        ciphertext.truncate(plain_len);
        Ok(ciphertext)
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
        let lifetime = max_age.filter(|m| *m > 0).unwrap_or(DONT_REMEMBER_SECS);
        self.encode_claims(payload, now, lifetime)
    }

    fn open(&self, value: &str, now: Timestamp) -> Result<Opened, Miss> {
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
