//! Strategy `jwt` (spec §2.4): a compact JWS, header exactly
//! `{"alg":"HS256"}`, payload `{session, user, updatedAt, version, iat, exp}`,
//! keyed with the secret's raw bytes. As `jose.jwtVerify` does, any HS*
//! algorithm verifies and `exp` has no clock tolerance.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Sha256, Sha384, Sha512};

use super::payload::{read_payload, CachePayload, CachedSession, Miss, Opened, TimeWindow};
use super::CacheCodec;
use crate::secret::Secrets;
use crate::Timestamp;

/// Fallback lifetime when the cookie has no Max-Age (dont-remember).
const DONT_REMEMBER_SECS: u64 = 300;
/// `base64url({"alg":"HS256"})`: better-auth's header, byte for byte.
const HEADER_B64: &str = "eyJhbGciOiJIUzI1NiJ9";

/// The `jwt` codec.
///
/// The JWS is HMAC over `header.payload`, written here with RustCrypto's
/// HMAC rather than a JOSE library because better-auth (jose) accepts
/// secrets of any length, while JOSE libraries that enforce RFC 7518's
/// minimum key sizes would refuse the short secrets better-auth only warns
/// about.
#[derive(Debug, Clone)]
pub struct Jwt {
    secrets: Secrets,
}

impl Jwt {
    /// A codec signing with the current secret and verifying with all.
    pub fn new(secrets: &Secrets) -> Self {
        Jwt {
            secrets: secrets.clone(),
        }
    }
}

fn verify_with<M: Mac + hmac::digest::KeyInit>(key: &[u8], input: &[u8], sig: &[u8]) -> bool {
    let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(key) else {
        return false;
    };
    mac.update(input);
    mac.verify_slice(sig).is_ok()
}

/// A payload with the token claims after its fields, as jose's
/// `SignJWT`/`EncryptJWT` add them.
#[derive(Serialize)]
pub(crate) struct Claims<'a, P> {
    #[serde(flatten)]
    pub payload: &'a P,
    pub iat: i64,
    pub exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<&'a str>,
}

/// Reads the claims every token strategy carries: `exp` must be present
/// and a number; its check against the clock, and `nbf`'s, is the
/// returned window's, with `tolerance_secs` (jose's `clockTolerance`).
pub(crate) fn claims_from(
    bytes: &[u8],
    now: Timestamp,
    tolerance_secs: i64,
) -> Result<Opened, Miss> {
    let wire = read_payload(bytes, now)?;
    let exp = wire.exp.ok_or(Miss::Invalid)?;
    Ok(Opened {
        session: CachedSession {
            data: Arc::new(wire.data),
            updated_at: wire.updated_at,
            version: wire.version,
            expires_at: Timestamp::from_millis((exp * 1000.0) as i64),
        },
        window: TimeWindow {
            exp: Some(exp),
            nbf: wire.nbf,
            tolerance_secs,
        },
        clock_defaults: wire.clock_defaults,
    })
}

impl CacheCodec for Jwt {
    fn encode(&self, payload: &CachePayload<'_>, now: Timestamp, max_age: Option<u64>) -> String {
        let iat = now.as_secs();
        let lifetime = max_age.filter(|m| *m > 0).unwrap_or(DONT_REMEMBER_SECS);
        let claims = Claims {
            payload,
            iat,
            exp: iat.saturating_add(i64::try_from(lifetime).unwrap_or(i64::MAX)),
            jti: None,
        };
        let bytes = serde_json::to_vec(&claims).expect("claims always serialise");
        let mut token = String::with_capacity(HEADER_B64.len() + bytes.len() * 4 / 3 + 48);
        token.push_str(HEADER_B64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&bytes, &mut token);
        let mut mac = self.secrets.current().hmac();
        mac.update(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(mac.finalize().into_bytes(), &mut token);
        token
    }

    fn open(&self, value: &str, now: Timestamp) -> Result<Opened, Miss> {
        #[derive(Deserialize)]
        struct Header<'a> {
            alg: &'a str,
        }
        let (signing_input, sig) = value.rsplit_once('.').ok_or(Miss::Malformed)?;
        let (header, payload) = signing_input.split_once('.').ok_or(Miss::Malformed)?;
        let header = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| Miss::Malformed)?;
        let header: Header<'_> = serde_json::from_slice(&header).map_err(|_| Miss::Malformed)?;
        let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| Miss::Malformed)?;
        let input = signing_input.as_bytes();
        // As jose.jwtVerify with a symmetric key: any HS* algorithm.
        let verify: fn(&[u8], &[u8], &[u8]) -> bool = match header.alg {
            "HS256" => verify_with::<Hmac<Sha256>>,
            "HS384" => verify_with::<Hmac<Sha384>>,
            "HS512" => verify_with::<Hmac<Sha512>>,
            _ => return Err(Miss::Malformed),
        };
        let verified = match header.alg {
            // The common case reuses the pre-keyed HMAC state.
            "HS256" => self.secrets.all().iter().any(|s| {
                let mut mac = s.hmac();
                mac.update(input);
                mac.verify_slice(&sig).is_ok()
            }),
            _ => self
                .secrets
                .all()
                .iter()
                .any(|s| verify(s.expose(), input, &sig)),
        };
        if !verified {
            return Err(Miss::BadSignature);
        }
        let claims = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| Miss::Malformed)?;
        claims_from(&claims, now, 0)
    }
}
