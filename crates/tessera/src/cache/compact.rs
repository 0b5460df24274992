//! Strategy `compact` (spec §2.3): base64url JSON
//! `{"session": payload, "expiresAt": ms, "signature": b64url(HMAC)}` where
//! the HMAC covers `JSON.stringify({...payload, expiresAt})`.
//!
//! better-auth verifies by re-serialising the *parsed* payload. A payload
//! produced by `JSON.stringify` (better-auth's, or ours) re-serialises to
//! its own bytes, so we verify over the bytes as they arrived — the raw
//! `session` member with `,"expiresAt":N` spliced before its closing brace —
//! and never re-serialise. That is exact for every cookie a JSON.stringify
//! wrote, and cheaper.

use std::sync::Arc;

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use hmac::Mac;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::payload::{read_payload, CachePayload, CachedSession, Miss, Opened, TimeWindow};
use super::CacheCodec;
use crate::secret::Secrets;
use crate::Timestamp;

/// Fallback lifetime when the cookie has no Max-Age (dont-remember).
const DONT_REMEMBER_SECS: u64 = 60;

/// The `compact` codec.
#[derive(Debug, Clone)]
pub struct Compact {
    secrets: Secrets,
}

impl Compact {
    /// A codec signing with the current secret and verifying with all.
    pub fn new(secrets: Secrets) -> Self {
        Compact { secrets }
    }

    fn mac(
        &self,
        secret: &crate::secret::SecretEntry,
        payload: &str,
        expires_at: &str,
    ) -> [u8; 32] {
        let mut mac = secret.hmac();
        // JSON.stringify({...payload, expiresAt}): the payload object with one
        // more member before its closing brace.
        let body = payload.trim_end();
        let open = body.strip_suffix('}').unwrap_or(body);
        mac.update(open.as_bytes());
        if open.trim_end().ends_with('{') {
            mac.update(b"\"expiresAt\":");
        } else {
            mac.update(b",\"expiresAt\":");
        }
        mac.update(expires_at.as_bytes());
        mac.update(b"}");
        mac.finalize().into_bytes().into()
    }
}

#[derive(Deserialize)]
struct Outer<'a> {
    #[serde(borrow)]
    session: &'a RawValue,
    #[serde(rename = "expiresAt", borrow)]
    expires_at: &'a RawValue,
    signature: &'a str,
}

impl CacheCodec for Compact {
    fn encode(&self, payload: &CachePayload<'_>, now: Timestamp, max_age: Option<u64>) -> String {
        let lifetime = max_age.filter(|m| *m > 0).unwrap_or(DONT_REMEMBER_SECS);
        let expires_at = now
            .plus_secs(i64::try_from(lifetime).unwrap_or(i64::MAX))
            .as_millis()
            .to_string();
        let json = serde_json::to_string(payload).expect("a payload always serialises");
        let sig = URL_SAFE_NO_PAD.encode(self.mac(self.secrets.current(), &json, &expires_at));
        let outer = format!(r#"{{"session":{json},"expiresAt":{expires_at},"signature":"{sig}"}}"#);
        URL_SAFE_NO_PAD.encode(outer)
    }

    fn open(&self, value: &str, now: Timestamp) -> Result<Opened, Miss> {
        // base64url; padding tolerated.
        let bytes = URL_SAFE_NO_PAD
            .decode(value.trim_end_matches('='))
            .or_else(|_| URL_SAFE.decode(value))
            .map_err(|_| Miss::Malformed)?;
        let outer: Outer<'_> = serde_json::from_slice(&bytes).map_err(|_| Miss::Malformed)?;
        let expires_at_ms: f64 =
            serde_json::from_str(outer.expires_at.get()).map_err(|_| Miss::Malformed)?;
        if !expires_at_ms.is_finite() {
            return Err(Miss::Malformed);
        }
        let sig = URL_SAFE_NO_PAD
            .decode(outer.signature.trim_end_matches('='))
            .map_err(|_| Miss::BadSignature)?;
        let payload = outer.session.get();
        let verified = self.secrets.all().iter().any(|secret| {
            let expected = self.mac(secret, payload, outer.expires_at.get());
            subtle::ConstantTimeEq::ct_eq(&expected[..], &sig[..]).into()
        });
        if !verified {
            return Err(Miss::BadSignature);
        }
        let wire = read_payload(payload.as_bytes(), now)?;
        Ok(Opened {
            session: CachedSession {
                data: Arc::new(wire.data),
                updated_at: wire.updated_at,
                version: wire.version,
                expires_at: Timestamp::from_millis(expires_at_ms as i64),
            },
            // The expiry is checked with the session's (spec §6.4 step 7).
            window: TimeWindow::default(),
            clock_defaults: wire.clock_defaults,
        })
    }
}
