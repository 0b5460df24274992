//! Signed cookie values in better-call's format (spec §1.4):
//! `value + "." + base64(HMAC-SHA256(secret, value))`, standard base64 with
//! padding, so the signature is always 44 characters ending in `=`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::Mac;

use crate::secret::Secrets;

/// Length of a base64-encoded HMAC-SHA256 with padding.
pub(crate) const SIGNATURE_LEN: usize = 44;

/// Signs `value` with the current secret: `"<value>.<sig>"`, not yet
/// percent-encoded (the `Set-Cookie` serialiser does that).
pub fn sign_value(secrets: &Secrets, value: &str) -> String {
    let mut mac = secrets.current().hmac();
    mac.update(value.as_bytes());
    let sig = STANDARD.encode(mac.finalize().into_bytes());
    let mut out = String::with_capacity(value.len() + 1 + SIGNATURE_LEN);
    out.push_str(value);
    out.push('.');
    out.push_str(&sig);
    out
}

/// The signature part alone, as the bearer `set-auth-token` header needs it.
pub fn signature_of(secrets: &Secrets, value: &str) -> String {
    let mut mac = secrets.current().hmac();
    mac.update(value.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Verifies a signed value (already percent-decoded) and returns the payload.
///
/// Follows better-call's `getSignedCookie`: split at the last `.`, the
/// signature must be 44 characters ending in `=`, and the MAC check is
/// constant-time. Every configured secret is tried, current first, so a
/// rotated secret does not sign everyone out (better-auth only tries the
/// current one; see spec §11.2 and the rotation notes in the README).
pub fn verify_value<'a>(secrets: &Secrets, signed: &'a str) -> Option<&'a str> {
    let dot = signed.rfind('.')?;
    if dot < 1 {
        return None;
    }
    let (payload, sig) = (&signed[..dot], &signed[dot + 1..]);
    if sig.len() != SIGNATURE_LEN || !sig.ends_with('=') {
        return None;
    }
    // 44 base64 characters ending in one `=` are 32 bytes (base64 sizes
    // its check by the 33 bytes 44 characters could hold).
    let mut decoded = [0u8; 33];
    if STANDARD.decode_slice(sig, &mut decoded).ok()? != 32 {
        return None;
    }
    let sig = &decoded[..32];
    secrets
        .all()
        .iter()
        .any(|secret| {
            let mut mac = secret.hmac();
            mac.update(payload.as_bytes());
            mac.verify_slice(sig).is_ok()
        })
        .then_some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "better-auth-secret-12345678901234567890";

    #[test]
    fn signs_the_spec_worked_example() {
        let s = Secrets::single(SECRET);
        assert_eq!(
            sign_value(&s, "Dq126CZaWZeVbN8dleAGBHLINk38aYUc"),
            "Dq126CZaWZeVbN8dleAGBHLINk38aYUc.nvrE7V+Tb5cHzjmWBewb8/+SERjzDP0ONo1shdTqwDU="
        );
    }

    #[test]
    fn verifies_its_own_signature_and_rejects_changes() {
        let s = Secrets::single(SECRET);
        let signed = sign_value(&s, "tok.en");
        assert_eq!(verify_value(&s, &signed), Some("tok.en"));
        let mut tampered = signed.clone().into_bytes();
        tampered[0] ^= 1;
        assert_eq!(
            verify_value(&s, std::str::from_utf8(&tampered).unwrap()),
            None
        );
        assert_eq!(
            verify_value(&Secrets::single("other-secret"), &signed),
            None
        );
    }

    #[test]
    fn rejects_malformed_shapes() {
        let s = Secrets::single(SECRET);
        for bad in [
            "",
            ".",
            "nodot",
            ".AAAA",
            "tok.short=",
            "tok.!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!==",
        ] {
            assert_eq!(verify_value(&s, bad), None, "{bad:?}");
        }
    }

    #[test]
    fn older_secret_versions_still_verify() {
        let old = Secrets::single("old-secret-value");
        let signed = sign_value(&old, "abc");
        let rotated = Secrets::versioned(
            vec![
                (2, "new-secret-value".into()),
                (1, "old-secret-value".into()),
            ],
            None,
        )
        .unwrap();
        assert_eq!(verify_value(&rotated, &signed), Some("abc"));
    }
}
