//! The OAuth state with `storeStateStrategy: "cookie"` (spec §4.3): what
//! rides the provider redirect in the `oauth_state` cookie, sealed as
//! better-auth's `symmetricEncrypt` seals it, and the random strings and
//! PKCE challenge a sign-in starts with.
//!
//! The cipher is XChaCha20-Poly1305. Its key is derived per secret and per
//! [`Purpose`] in two steps, both better-auth's (`crypto/purpose.ts`, then
//! `crypto/index.ts`):
//!
//! ```text
//! purpose key = hex(HKDF-SHA256(ikm = secret, salt = "better-auth:oauth-encryption:v1",
//!                               info = "better-auth:<purpose>:v1", 32 bytes))
//! cipher key  = SHA-256(the 64 hex characters of the purpose key)
//! value       = ["$ba$" version "$"] hex(nonce(24) || ciphertext || tag(16))
//! ```

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::cache::coerce_string;
use crate::secret::Secrets;
use crate::Timestamp;

/// The longest sealed value [`StateCipher::open_str`] reads, in bytes;
/// longer ones are refused before any decoding. A cookie holds at most
/// about 4 KB, and a sign-in's state seals to well under 1 KB.
pub const MAX_SEALED_LEN: usize = 8 * 1024;

/// HKDF salt of every purpose key (`crypto/purpose.ts`).
const PURPOSE_SALT: &[u8] = b"better-auth:oauth-encryption:v1";
/// `symmetricEncrypt`'s prefix for a value sealed with a versioned secret.
const ENVELOPE_PREFIX: &str = "$ba$";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// better-auth's `generateRandomString` alphabet: `a-z`, `0-9`, `A-Z`, `-_`.
const ALPHABET: &[u8; 64] = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_";

/// What a sealed value is for. Each purpose has its own key, so a value
/// sealed for one never opens as another (better-auth's `derivePurposeKey`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Purpose {
    /// `oauth-state-cookie`: the `oauth_state` cookie.
    OAuthStateCookie,
    /// `oauth-link-session-token`: the session token an account link
    /// carries through the provider in the state's
    /// [`LinkData::encrypted_session_token`].
    OAuthLinkSessionToken,
}

impl Purpose {
    /// better-auth's name for the purpose, as it enters the HKDF info
    /// `better-auth:<name>:v1`.
    pub const fn name(self) -> &'static str {
        match self {
            Purpose::OAuthStateCookie => "oauth-state-cookie",
            Purpose::OAuthLinkSessionToken => "oauth-link-session-token",
        }
    }
}

/// The purpose key of one secret: 64 lowercase hex characters, which
/// better-auth passes on as a string and hashes again into the cipher key.
pub(crate) fn purpose_key(secret: &[u8], purpose: Purpose) -> String {
    let info = format!("better-auth:{}:v1", purpose.name());
    let mut okm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(PURPOSE_SALT), secret)
        .expand(info.as_bytes(), &mut okm)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    hex::encode(okm)
}

fn cipher_for(secret: &[u8], purpose: Purpose) -> XChaCha20Poly1305 {
    let key = Sha256::digest(purpose_key(secret, purpose).as_bytes());
    XChaCha20Poly1305::new(&key)
}

/// Why a sealed value did not open. Every variant reads as better-auth's
/// `state_invalid` on the callback; none says which secret was tried.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateCookieError {
    /// Longer than [`MAX_SEALED_LEN`]; not decoded at all.
    #[error("sealed value is {len} bytes, over the {max}-byte limit", max = MAX_SEALED_LEN)]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// Not an even number of hex digits.
    #[error("sealed value is not hex")]
    NotHex,
    /// Shorter than a nonce and a tag.
    #[error("sealed value is too short")]
    TooShort,
    /// A `$ba$<version>$` envelope whose version no configured secret has
    /// (retired, or never configured).
    #[error("sealed value's secret version is not configured")]
    UnknownVersion,
    /// A bare-hex value, with versioned secrets and no legacy secret to
    /// open it with.
    #[error("bare-hex sealed value and no legacy secret to open it")]
    NoLegacySecret,
    /// The tag does not verify: tampered, or sealed with another secret or
    /// for another purpose.
    #[error("sealed value does not decrypt")]
    Undecryptable,
    /// The plaintext is not UTF-8.
    #[error("sealed plaintext is not UTF-8")]
    NotUtf8,
    /// The plaintext is not JSON.
    #[error("state is not JSON")]
    Json(#[source] serde_json::Error),
    /// The JSON is not better-auth's state shape (a required field missing,
    /// a field of the wrong type).
    #[error("state does not have better-auth's shape")]
    Shape(#[source] serde_json::Error),
}

/// The keys of one purpose, derived once.
#[derive(Clone)]
enum Keys {
    /// A single secret: better-auth passes a string key, so values are
    /// bare hex, always.
    Single(XChaCha20Poly1305),
    /// Versioned secrets: values carry the envelope; a bare-hex value is
    /// opened with the legacy secret, if any.
    Versioned {
        current: u32,
        by_version: Vec<(u32, XChaCha20Poly1305)>,
        legacy: Option<XChaCha20Poly1305>,
    },
}

/// Seals and opens values as better-auth's `symmetricEncrypt` and
/// `symmetricDecrypt` do, under the key of one [`Purpose`]; keys are
/// derived once, per secret, when it is built.
///
/// A single secret seals and opens bare hex. With versioned secrets
/// (spec §11.2) it seals `$ba$<current version>$<hex>`, opens an envelope
/// with the key of its version only, and a bare-hex value with the legacy
/// secret only ([`Secrets::legacy`]).
///
/// ```
/// use tessera::oauth::{pkce_challenge, random_string, Purpose, StateCipher, StateData};
/// use tessera::{Secrets, Timestamp};
///
/// let secrets = Secrets::single("a-long-random-secret-of-at-least-32-characters!");
/// let cipher = StateCipher::new(&secrets, Purpose::OAuthStateCookie);
///
/// // Sign-in: a fresh state and PKCE verifier, valid for ten minutes.
/// let now = Timestamp::from_millis(1_795_855_230_000);
/// let state = random_string(32);
/// let mut data = StateData::new("/dashboard", random_string(128), now.plus_secs(600));
/// data.oauth_state = Some(state.clone());
/// let cookie = cipher.seal(&data);
/// let _challenge = pkce_challenge(&data.code_verifier); // for the provider URL
///
/// // Callback: the cookie opens, and its state is the one sent back.
/// let opened = cipher.open(&cookie).expect("sealed with this secret");
/// assert!(opened.matches_state(&state));
/// assert!(!opened.is_expired(now));
/// assert_eq!(opened, data);
///
/// // Any change to the value, or another secret, and it does not open.
/// let other = StateCipher::new(&Secrets::single("another-secret-of-at-least-32-characters"), Purpose::OAuthStateCookie);
/// assert!(other.open(&cookie).is_err());
/// ```
#[derive(Clone)]
pub struct StateCipher {
    purpose: Purpose,
    keys: Keys,
}

impl fmt::Debug for StateCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("StateCipher");
        d.field("purpose", &self.purpose);
        match &self.keys {
            Keys::Single(_) => d.field("keys", &"single"),
            Keys::Versioned {
                current,
                by_version,
                legacy,
            } => d
                .field("current", current)
                .field(
                    "versions",
                    &by_version.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
                )
                .field("legacy", &legacy.is_some()),
        };
        d.finish()
    }
}

impl StateCipher {
    /// The cipher of `purpose` under `secrets`.
    pub fn new(secrets: &Secrets, purpose: Purpose) -> Self {
        let current = secrets.current();
        let keys = match current.version() {
            None => Keys::Single(cipher_for(current.expose(), purpose)),
            Some(version) => Keys::Versioned {
                current: version,
                by_version: secrets
                    .all()
                    .iter()
                    .filter_map(|s| Some((s.version()?, cipher_for(s.expose(), purpose))))
                    .collect(),
                legacy: secrets.legacy().map(|s| cipher_for(s.expose(), purpose)),
            },
        };
        StateCipher { purpose, keys }
    }

    /// The purpose this cipher's keys are for.
    pub fn purpose(&self) -> Purpose {
        self.purpose
    }

    /// Seals a state as JSON (see [`StateData`] for its key order).
    pub fn seal(&self, data: &StateData) -> String {
        self.seal_str(&data.to_json())
    }

    /// Opens a sealed state and reads it with better-auth's schema.
    pub fn open(&self, value: &str) -> Result<StateData, StateCookieError> {
        StateData::from_json(&self.open_str(value)?)
    }

    /// Seals any string with a fresh random nonce: `symmetricEncrypt`.
    /// A plaintext longer than about 4 KB seals to more than
    /// [`MAX_SEALED_LEN`], which [`StateCipher::open_str`] refuses.
    pub fn seal_str(&self, plaintext: &str) -> String {
        let (version, cipher) = match &self.keys {
            Keys::Single(cipher) => (None, cipher),
            Keys::Versioned {
                current,
                by_version,
                ..
            } => {
                let (_, cipher) = by_version
                    .iter()
                    .find(|(v, _)| v == current)
                    .expect("the current secret is one of the versions");
                (Some(*current), cipher)
            }
        };
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), plaintext.as_bytes())
            .expect("XChaCha20-Poly1305 seals any string that fits in memory");
        let hex_len = 2 * (NONCE_LEN + sealed.len());
        let mut out = String::with_capacity(ENVELOPE_PREFIX.len() + 12 + hex_len);
        if let Some(version) = version {
            out.push_str(ENVELOPE_PREFIX);
            out.push_str(&version.to_string());
            out.push('$');
        }
        out.push_str(&hex::encode(nonce));
        out.push_str(&hex::encode(sealed));
        out
    }

    /// Opens a sealed string: `symmetricDecrypt`, step for step. Which key
    /// is tried depends only on the value's form (see [`StateCipher`]),
    /// never on trying several. As `TextDecoder` does, a leading byte
    /// order mark is dropped from the plaintext.
    pub fn open_str(&self, value: &str) -> Result<String, StateCookieError> {
        if value.len() > MAX_SEALED_LEN {
            return Err(StateCookieError::TooLong { len: value.len() });
        }
        let (cipher, hex) = match &self.keys {
            Keys::Single(cipher) => (cipher, value),
            Keys::Versioned {
                by_version, legacy, ..
            } => match parse_envelope(value) {
                Some((version, ciphertext)) => {
                    let (_, cipher) = version
                        .and_then(|version| by_version.iter().find(|(v, _)| *v == version))
                        .ok_or(StateCookieError::UnknownVersion)?;
                    (cipher, ciphertext)
                }
                None => (
                    legacy.as_ref().ok_or(StateCookieError::NoLegacySecret)?,
                    value,
                ),
            },
        };
        let bytes = hex::decode(hex).map_err(|_| StateCookieError::NotHex)?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(StateCookieError::TooShort);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let plain = cipher
            .decrypt(XNonce::from_slice(nonce), sealed)
            .map_err(|_| StateCookieError::Undecryptable)?;
        let mut text = String::from_utf8(plain).map_err(|_| StateCookieError::NotUtf8)?;
        if text.starts_with('\u{feff}') {
            text.drain(..'\u{feff}'.len_utf8());
        }
        Ok(text)
    }
}

/// better-auth's `parseEnvelope`: `$ba$`, then up to the next `$` a
/// version as `parseInt(…, 10)` reads it (leading white space, a sign,
/// the leading digits; the rest ignored), which must be a non-negative
/// integer. `None`: not an envelope, so a bare-hex value. `Some((None, _))`:
/// an envelope whose version no `u32` holds, so no configured one.
fn parse_envelope(data: &str) -> Option<(Option<u32>, &str)> {
    let rest = data.strip_prefix(ENVELOPE_PREFIX)?;
    let (version, ciphertext) = rest.split_once('$')?;
    let version = version.trim_start_matches(is_js_white_space);
    let (negative, unsigned) = match version.as_bytes().first() {
        Some(b'-') => (true, &version[1..]),
        Some(b'+') => (false, &version[1..]),
        _ => (false, version),
    };
    let digits = &unsigned[..unsigned
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(unsigned.len())];
    if digits.is_empty() {
        return None; // NaN
    }
    let significant = digits.trim_start_matches('0');
    if negative && !significant.is_empty() {
        return None; // `version < 0`; `-0` is 0
    }
    let version = if significant.is_empty() {
        Some(0)
    } else {
        significant.parse::<u32>().ok()
    };
    Some((version, ciphertext))
}

/// JavaScript's white space and line terminators (what `parseInt` skips):
/// Unicode's `White_Space` without U+0085, plus U+FEFF.
fn is_js_white_space(c: char) -> bool {
    (c.is_whitespace() && c != '\u{85}') || c == '\u{feff}'
}

/// The state of one sign-in (better-auth's `stateDataSchema`, a loose
/// object): what the callback needs back from before the redirect.
///
/// Fields are public: the kernel builds this, and the shape is
/// better-auth's, fixed by its wire format ([`StateData::new`] fills the
/// required ones). Serialised in better-auth's key order:
/// [`extra`](StateData::extra) first (better-auth spreads `additionalData`
/// first), then `callbackURL, codeVerifier, errorURL, newUserURL, link,
/// serverContext, expiresAt, requestSignUp, idTokenNonce, oauthState`,
/// absent ones omitted.
///
/// Read as zod reads it: the optional fields may be absent but not `null`,
/// `link` keeps only its three keys, `link.userId` is coerced to a string,
/// unknown top-level keys go to `extra`, and a repeated key keeps its last
/// value (`JSON.parse`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateData {
    /// Keys that are not better-auth's own (`additionalData` and any a
    /// newer better-auth adds), kept as they are. A key here that is also
    /// one of the fields is shadowed by the field when read back.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// Where to go after sign-in (`callbackURL`).
    #[serde(rename = "callbackURL")]
    pub callback_url: String,
    /// The PKCE code verifier (`codeVerifier`), 128 characters of
    /// [`random_string`].
    #[serde(rename = "codeVerifier")]
    pub code_verifier: String,
    /// Where to send errors (`errorURL`).
    #[serde(
        rename = "errorURL",
        default,
        deserialize_with = "non_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub error_url: Option<String>,
    /// Where to send a newly created user (`newUserURL`).
    #[serde(
        rename = "newUserURL",
        default,
        deserialize_with = "non_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub new_user_url: Option<String>,
    /// The account link this sign-in is for, if any (`link`).
    #[serde(
        default,
        deserialize_with = "non_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub link: Option<LinkData>,
    /// Values the server put in the state (`serverContext`).
    #[serde(
        rename = "serverContext",
        default,
        deserialize_with = "non_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub server_context: Option<Map<String, Value>>,
    /// When the state expires, ms since the epoch (`expiresAt`). Any JSON
    /// number is read (zod's `z.number()`), a fraction floored, which
    /// decides [`StateData::is_expired`] as the unfloored value would.
    #[serde(rename = "expiresAt", deserialize_with = "js_millis")]
    pub expires_at: i64,
    /// Whether the sign-in may create a user when sign-up is otherwise
    /// implicit-only (`requestSignUp`).
    #[serde(
        rename = "requestSignUp",
        default,
        deserialize_with = "non_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_sign_up: Option<bool>,
    /// The OpenID Connect `nonce` sent with the authorization request
    /// (`idTokenNonce`).
    #[serde(
        rename = "idTokenNonce",
        default,
        deserialize_with = "non_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub id_token_nonce: Option<String>,
    /// The `state` parameter sent to the provider (`oauthState`), which
    /// the callback's must equal ([`StateData::matches_state`]).
    #[serde(
        rename = "oauthState",
        default,
        deserialize_with = "non_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub oauth_state: Option<String>,
}

/// The account link a state carries (`link`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkData {
    /// The signed-in user the account is linked to (`userId`).
    #[serde(rename = "userId", deserialize_with = "coerced_string")]
    pub user_id: String,
    /// That user's email (`email`).
    pub email: String,
    /// The linking session's token, sealed for
    /// [`Purpose::OAuthLinkSessionToken`] (`encryptedSessionToken`).
    #[serde(
        rename = "encryptedSessionToken",
        default,
        deserialize_with = "non_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub encrypted_session_token: Option<String>,
}

impl StateData {
    /// A state with the required fields and nothing else.
    pub fn new(
        callback_url: impl Into<String>,
        code_verifier: impl Into<String>,
        expires_at: Timestamp,
    ) -> Self {
        StateData {
            extra: Map::new(),
            callback_url: callback_url.into(),
            code_verifier: code_verifier.into(),
            error_url: None,
            new_user_url: None,
            link: None,
            server_context: None,
            expires_at: expires_at.as_millis(),
            request_sign_up: None,
            id_token_nonce: None,
            oauth_state: None,
        }
    }

    /// The JSON better-auth writes for this state.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a state always serialises")
    }

    /// Reads a state's JSON as better-auth's callback does
    /// (`stateDataSchema.parse(JSON.parse(…))`).
    pub fn from_json(json: &str) -> Result<StateData, StateCookieError> {
        // Through a JSON tree: a repeated key keeps its last value, as in
        // `JSON.parse`, where a derived reader would refuse it.
        let value: Value = serde_json::from_str(json).map_err(StateCookieError::Json)?;
        StateData::deserialize(value).map_err(StateCookieError::Shape)
    }

    /// Whether the callback's `state` parameter is this state's
    /// `oauthState`, compared in constant time. A state without one
    /// matches nothing (better-auth's `state_security_mismatch`).
    pub fn matches_state(&self, state: &str) -> bool {
        self.oauth_state
            .as_deref()
            .is_some_and(|own| bool::from(own.as_bytes().ct_eq(state.as_bytes())))
    }

    /// Whether the state has expired at `now` (`expiresAt < Date.now()`).
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at < now.as_millis()
    }
}

/// `z.….optional()`: absent is `None` (through `default`), `null` is
/// refused like any other wrong type.
pub(super) fn non_null<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// `z.coerce.string()`.
fn coerced_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    coerce_string(Value::deserialize(d)?)
        .ok_or_else(|| serde::de::Error::custom("expected a string, number or boolean"))
}

/// `z.number()` for a millisecond instant, floored to an integer.
fn js_millis<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let ms = f64::deserialize(d)?;
    // Within ±2^63 ms; beyond that no comparison with a clock differs.
    if ms.is_finite() && ms.abs() < 9.2e18 {
        Ok(ms.floor() as i64)
    } else {
        Err(serde::de::Error::custom("expiresAt out of range"))
    }
}

/// A random string of `len` characters over better-auth's alphabet
/// `a-z0-9A-Z-_` (`generateRandomString`), each uniformly from the
/// thread's OS-seeded generator: the `state` (32) and the PKCE
/// `codeVerifier` (128).
pub fn random_string(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut bytes);
    // 64 characters: the low six bits of a uniform byte are uniform.
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 63)]))
        .collect()
}

/// The PKCE `S256` challenge of a verifier:
/// base64url-no-pad(SHA-256(verifier)).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SPEC_SECRET: &str = "better-auth-secret-12345678901234567890";

    fn sample() -> StateData {
        let mut data = StateData::new(
            "/dashboard",
            random_string(128),
            Timestamp::from_millis(1_795_853_290_016),
        );
        data.oauth_state = Some(random_string(32));
        data
    }

    fn versioned(legacy: Option<&str>) -> Secrets {
        Secrets::versioned(
            vec![
                (3, "version-three-secret".into()),
                (1, "version-one-secret".into()),
            ],
            legacy.map(str::to_owned),
        )
        .unwrap()
    }

    #[test]
    fn purpose_key_matches_the_spec_worked_value() {
        assert_eq!(
            purpose_key(SPEC_SECRET.as_bytes(), Purpose::OAuthStateCookie),
            "a68c221bb4704a16b53ffdbf205fb86fc910cd5fdc4f59b572d157764a93a765"
        );
        // And the one better-auth derived for the vectors' secret.
        assert_eq!(
            purpose_key(
                b"refharness-fixed-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
                Purpose::OAuthStateCookie
            ),
            "754a39e75dc3baa3239a9c76968c43c495b9969b1853964056ee030547d95193"
        );
        assert_ne!(
            purpose_key(SPEC_SECRET.as_bytes(), Purpose::OAuthLinkSessionToken),
            purpose_key(SPEC_SECRET.as_bytes(), Purpose::OAuthStateCookie)
        );
    }

    #[test]
    fn cipher_key_is_sha256_of_the_hex_purpose_key() {
        let key = Sha256::digest(purpose_key(
            SPEC_SECRET.as_bytes(),
            Purpose::OAuthStateCookie,
        ));
        let hex = hex::encode(key);
        assert!(
            hex.starts_with("9ed81244") && hex.ends_with("5daa"),
            "{hex}"
        );
    }

    #[test]
    fn a_sealed_state_opens_to_itself() {
        let cipher = StateCipher::new(&Secrets::single(SPEC_SECRET), Purpose::OAuthStateCookie);
        let data = sample();
        let sealed = cipher.seal(&data);
        assert!(sealed
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(
            sealed.len(),
            2 * (NONCE_LEN + data.to_json().len() + TAG_LEN)
        );
        assert_eq!(cipher.open(&sealed).unwrap(), data);
        assert_ne!(cipher.seal(&data), sealed, "a fresh nonce each time");
    }

    #[test]
    fn uppercase_hex_opens_as_noble_reads_it() {
        let cipher = StateCipher::new(&Secrets::single(SPEC_SECRET), Purpose::OAuthStateCookie);
        let sealed = cipher.seal_str("token");
        assert_eq!(cipher.open_str(&sealed.to_uppercase()).unwrap(), "token");
    }

    #[test]
    fn versioned_secrets_seal_an_envelope_of_the_current_version() {
        let secrets = versioned(None);
        let cipher = StateCipher::new(&secrets, Purpose::OAuthStateCookie);
        let sealed = cipher.seal(&sample());
        assert!(sealed.starts_with("$ba$3$"), "{sealed}");
        assert_eq!(cipher.open(&sealed).unwrap().callback_url, "/dashboard");
        // An older version still opens its own envelopes.
        let older = Secrets::versioned(vec![(1, "version-one-secret".into())], None).unwrap();
        let old = StateCipher::new(&older, Purpose::OAuthStateCookie).seal_str("old");
        assert!(old.starts_with("$ba$1$"));
        assert_eq!(cipher.open_str(&old).unwrap(), "old");
    }

    #[test]
    fn an_envelope_opens_only_with_the_key_of_its_version() {
        let cipher = StateCipher::new(&versioned(None), Purpose::OAuthStateCookie);
        let sealed = cipher.seal_str("x");
        let hex = sealed.strip_prefix("$ba$3$").unwrap();
        assert!(matches!(
            cipher.open_str(&format!("$ba$1${hex}")),
            Err(StateCookieError::Undecryptable)
        ));
        assert!(matches!(
            cipher.open_str(&format!("$ba$7${hex}")),
            Err(StateCookieError::UnknownVersion)
        ));
        assert!(matches!(
            cipher.open_str(&format!("$ba$99999999999${hex}")),
            Err(StateCookieError::UnknownVersion)
        ));
        // parseInt's leniency: white space, a sign, trailing junk, `-0`.
        for lenient in [" 3", "+3", "3abc", "003", "\u{feff}3"] {
            assert_eq!(
                cipher.open_str(&format!("$ba${lenient}${hex}")).unwrap(),
                "x",
                "{lenient:?}"
            );
        }
        let zero = Secrets::versioned(vec![(0, "zero".into())], None).unwrap();
        let zero = StateCipher::new(&zero, Purpose::OAuthStateCookie);
        let hex0 = zero.seal_str("z").split_off("$ba$0$".len());
        assert_eq!(zero.open_str(&format!("$ba$-0${hex0}")).unwrap(), "z");
    }

    #[test]
    fn bare_hex_opens_with_the_legacy_secret_only() {
        let legacy_sealed = StateCipher::new(
            &Secrets::single("the-legacy-secret"),
            Purpose::OAuthStateCookie,
        )
        .seal(&sample());
        let with_legacy = StateCipher::new(
            &versioned(Some("the-legacy-secret")),
            Purpose::OAuthStateCookie,
        );
        assert!(with_legacy.open(&legacy_sealed).is_ok());
        let without = StateCipher::new(&versioned(None), Purpose::OAuthStateCookie);
        assert!(matches!(
            without.open(&legacy_sealed),
            Err(StateCookieError::NoLegacySecret)
        ));
        // A legacy secret equal to a version still opens bare hex.
        let v1_bare = StateCipher::new(
            &Secrets::single("version-one-secret"),
            Purpose::OAuthStateCookie,
        )
        .seal_str("v1");
        let same = StateCipher::new(
            &versioned(Some("version-one-secret")),
            Purpose::OAuthStateCookie,
        );
        assert_eq!(same.open_str(&v1_bare).unwrap(), "v1");
        // Not a valid envelope: read as bare hex, which it is not.
        assert!(matches!(
            with_legacy.open_str("$ba$x$00"),
            Err(StateCookieError::NotHex)
        ));
    }

    #[test]
    fn a_single_secret_reads_no_envelope() {
        let versioned = StateCipher::new(&versioned(None), Purpose::OAuthStateCookie);
        let single = StateCipher::new(
            &Secrets::single("version-three-secret"),
            Purpose::OAuthStateCookie,
        );
        let sealed = versioned.seal_str("s");
        assert!(matches!(
            single.open_str(&sealed),
            Err(StateCookieError::NotHex)
        ));
        let hex = sealed.strip_prefix("$ba$3$").unwrap();
        assert_eq!(single.open_str(hex).unwrap(), "s");
    }

    #[test]
    fn every_tampered_byte_is_refused() {
        let cipher = StateCipher::new(&Secrets::single(SPEC_SECRET), Purpose::OAuthStateCookie);
        let sealed = cipher.seal_str("{\"a\":1}");
        for at in 0..sealed.len() {
            let mut bytes = sealed.clone().into_bytes();
            bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
            let tampered = String::from_utf8(bytes).unwrap();
            assert!(
                matches!(
                    cipher.open_str(&tampered),
                    Err(StateCookieError::Undecryptable)
                ),
                "byte {at}"
            );
        }
    }

    #[test]
    fn another_secret_or_purpose_is_refused() {
        let cipher = StateCipher::new(&Secrets::single(SPEC_SECRET), Purpose::OAuthStateCookie);
        let sealed = cipher.seal(&sample());
        let other = StateCipher::new(
            &Secrets::single("another-secret"),
            Purpose::OAuthStateCookie,
        );
        assert!(matches!(
            other.open(&sealed),
            Err(StateCookieError::Undecryptable)
        ));
        let link = StateCipher::new(
            &Secrets::single(SPEC_SECRET),
            Purpose::OAuthLinkSessionToken,
        );
        assert!(matches!(
            link.open(&sealed),
            Err(StateCookieError::Undecryptable)
        ));
    }

    #[test]
    fn malformed_values_are_errors() {
        let cipher = StateCipher::new(&Secrets::single(SPEC_SECRET), Purpose::OAuthStateCookie);
        let short = "00".repeat(NONCE_LEN + TAG_LEN - 1);
        assert!(matches!(
            cipher.open_str("abc"),
            Err(StateCookieError::NotHex)
        ));
        assert!(matches!(
            cipher.open_str("zz"),
            Err(StateCookieError::NotHex)
        ));
        assert!(matches!(
            cipher.open_str(""),
            Err(StateCookieError::TooShort)
        ));
        assert!(matches!(
            cipher.open_str(&short),
            Err(StateCookieError::TooShort)
        ));
        let long = "0".repeat(MAX_SEALED_LEN + 2);
        assert!(matches!(
            cipher.open_str(&long),
            Err(StateCookieError::TooLong { len }) if len == MAX_SEALED_LEN + 2
        ));
        let not_json = cipher.seal_str("not json");
        assert!(matches!(
            cipher.open(&not_json),
            Err(StateCookieError::Json(_))
        ));
        let missing = cipher.seal_str(r#"{"callbackURL":"/","expiresAt":1}"#);
        assert!(matches!(
            cipher.open(&missing),
            Err(StateCookieError::Shape(_))
        ));
    }

    #[test]
    fn a_leading_byte_order_mark_is_dropped_as_text_decoder_does() {
        let cipher = StateCipher::new(
            &Secrets::single(SPEC_SECRET),
            Purpose::OAuthLinkSessionToken,
        );
        assert_eq!(
            cipher.open_str(&cipher.seal_str("\u{feff}tok")).unwrap(),
            "tok"
        );
        assert_eq!(
            cipher.open_str(&cipher.seal_str("t\u{feff}")).unwrap(),
            "t\u{feff}"
        );
    }

    #[test]
    fn state_json_has_better_auths_key_order_and_schema() {
        let mut data = StateData::new("/cb", "v", Timestamp::from_millis(5));
        data.extra.insert("plugin".into(), json!({"k": 1}));
        data.error_url = Some("/err".into());
        data.new_user_url = Some("/new".into());
        data.link = Some(LinkData {
            user_id: "U".into(),
            email: "a@example.com".into(),
            encrypted_session_token: Some("ab".into()),
        });
        data.server_context = Some(json!({"s": true}).as_object().cloned().unwrap());
        data.request_sign_up = Some(true);
        data.id_token_nonce = Some("n".into());
        data.oauth_state = Some("st".into());
        assert_eq!(
            data.to_json(),
            r#"{"plugin":{"k":1},"callbackURL":"/cb","codeVerifier":"v","errorURL":"/err","newUserURL":"/new","link":{"userId":"U","email":"a@example.com","encryptedSessionToken":"ab"},"serverContext":{"s":true},"expiresAt":5,"requestSignUp":true,"idTokenNonce":"n","oauthState":"st"}"#
        );
        assert_eq!(StateData::from_json(&data.to_json()).unwrap(), data);

        // zod: numbers are coerced into `link.userId`, `link` drops
        // unknown keys, fractions of `expiresAt` floor, the last of a
        // repeated key wins, optional fields may not be null.
        let read = StateData::from_json(
            r#"{"callbackURL":"/a","callbackURL":"/b","codeVerifier":"v","expiresAt":10.9,"link":{"userId":42,"email":"e","x":1}}"#,
        )
        .unwrap();
        assert_eq!(read.callback_url, "/b");
        assert_eq!(read.expires_at, 10);
        assert_eq!(read.link.as_ref().unwrap().user_id, "42");
        assert!(read.extra.is_empty());
        for bad in [
            r#"{"callbackURL":"/","codeVerifier":"v","expiresAt":1,"errorURL":null}"#,
            r#"{"callbackURL":"/","codeVerifier":"v","expiresAt":"1"}"#,
            r#"{"callbackURL":"/","codeVerifier":"v","expiresAt":1,"requestSignUp":"yes"}"#,
            r#"{"callbackURL":"/","codeVerifier":"v","expiresAt":1,"link":{"email":"e"}}"#,
            r#"{"callbackURL":"/","codeVerifier":"v","expiresAt":1,"serverContext":[]}"#,
            r#"[1]"#,
        ] {
            assert!(
                matches!(StateData::from_json(bad), Err(StateCookieError::Shape(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn expiry_and_state_checks() {
        let mut data = StateData::new("/", "v", Timestamp::from_millis(1_000));
        assert!(!data.matches_state(""), "no oauthState matches nothing");
        data.oauth_state = Some("abc".into());
        assert!(data.matches_state("abc"));
        assert!(!data.matches_state("abd"));
        assert!(!data.matches_state("ab"));
        assert!(!data.is_expired(Timestamp::from_millis(1_000)));
        assert!(data.is_expired(Timestamp::from_millis(1_001)));
    }

    #[test]
    fn random_strings_use_better_auths_alphabet() {
        let s = random_string(4096);
        assert_eq!(s.len(), 4096);
        assert!(s.bytes().all(|b| ALPHABET.contains(&b)));
        // Every one of the 64 characters turns up in 4096 draws (the
        // chance one does not is 64·(63/64)^4096, about 1e-26).
        for c in ALPHABET {
            assert!(s.as_bytes().contains(c), "{}", char::from(*c));
        }
        assert_ne!(random_string(32), random_string(32));
    }

    #[test]
    fn pkce_challenge_is_the_one_better_auth_sent() {
        // The verifier in the vectors' state and the `code_challenge` of
        // better-auth's authorization URL for it.
        assert_eq!(
            pkce_challenge("lc1_ZHB7Klui4h0bcx0C00m--7ebW9ov_dCiFVqh6DIULzkSmg55NOWSENp1grTS_sKyvtg9XmoYb9JSYTz2I7WXVzL5I0AeLUqRTrA9VOugzr7kwS_Sk7jwuiH-x2-j"),
            "xMaalJTW5xE6j1H50gf__0_FW9CkQeQRPF8iLXIPvdY"
        );
    }
}
