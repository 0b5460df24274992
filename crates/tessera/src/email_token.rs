//! better-auth's email verification token: a compact JWS, header
//! `{"alg":"HS256"}`, keyed with the secret's raw bytes, payload
//! `{email, updateTo?, userId?, requestType?, iat, exp}` (better-auth's
//! `createEmailVerificationToken`). Verified as its `/verify-email` does
//! (`jose.jwtVerify` with `algorithms: ["HS256"]`, no clock tolerance);
//! any configured secret verifies, so a rotation does not break links
//! already sent.
//!
//! The HMAC is RustCrypto's, as in the `jwt` cookie cache: better-auth
//! accepts secrets shorter than JOSE libraries' minimum key size.
//!
//! ```
//! use tessera::email_token::{self, EmailToken};
//! use tessera::{Secrets, Timestamp};
//!
//! let secrets = Secrets::single("a-long-random-secret-of-at-least-32-characters!");
//! let now = Timestamp::from_millis(1_800_000_000_000);
//! let claims = EmailToken::verify_address("ada@example.com", "user-1");
//! let token = email_token::sign(&secrets, &claims, now, 3600);
//! assert_eq!(email_token::verify(&secrets, &token, now), Ok(claims));
//! ```

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::Mac;
use serde::{Deserialize, Serialize};

use crate::secret::Secrets;
use crate::Timestamp;

/// `base64url({"alg":"HS256"})`: jose's header, byte for byte.
const HEADER_B64: &str = "eyJhbGciOiJIUzI1NiJ9";

/// The longest token verified: better-auth's tokens are a few hundred
/// bytes; anything longer is refused before decoding.
pub const MAX_TOKEN_LEN: usize = 4096;

/// What a token says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailToken {
    /// The address the link was sent for (lowercase).
    pub email: String,
    /// For a change of address: the new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_to: Option<String>,
    /// The user the token was made for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// `change-email-confirmation` or `change-email-verification` in the
    /// two-step change of address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_type: Option<String>,
}

impl EmailToken {
    /// The token that verifies `email` for `user_id`.
    pub fn verify_address(email: &str, user_id: &str) -> Self {
        EmailToken {
            email: email.to_lowercase(),
            update_to: None,
            user_id: Some(user_id.to_owned()),
            request_type: None,
        }
    }
}

/// Why a token does not verify: better-auth's `TOKEN_EXPIRED` and
/// `INVALID_TOKEN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Signed by us, but past its `exp`.
    #[error("token expired")]
    Expired,
    /// Malformed, badly signed, or not an email token.
    #[error("invalid token")]
    Invalid,
}

/// The payload as written: the claims, then `iat` and `exp` (jose's order).
#[derive(Serialize)]
struct Signed<'a> {
    #[serde(flatten)]
    claims: &'a EmailToken,
    iat: i64,
    exp: i64,
}

/// Signs `claims` with the current secret, valid for `expires_in` seconds.
pub fn sign(secrets: &Secrets, claims: &EmailToken, now: Timestamp, expires_in: u64) -> String {
    let iat = now.as_secs();
    let signed = Signed {
        claims,
        iat,
        exp: iat.saturating_add(i64::try_from(expires_in).unwrap_or(i64::MAX)),
    };
    let bytes = serde_json::to_vec(&signed).expect("claims always serialise");
    let mut token = String::with_capacity(HEADER_B64.len() + bytes.len() * 4 / 3 + 48);
    token.push_str(HEADER_B64);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&bytes, &mut token);
    let mut mac = secrets.current().hmac();
    mac.update(token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(mac.finalize().into_bytes(), &mut token);
    token
}

/// Verifies `token` at `now`: HS256 only, signed by any configured secret,
/// `exp` present and after `now` (seconds, no tolerance), `nbf` (if any)
/// not after `now`, and an `email` claim (whose form the caller checks).
pub fn verify(secrets: &Secrets, token: &str, now: Timestamp) -> Result<EmailToken, TokenError> {
    #[derive(Deserialize)]
    struct Header<'a> {
        #[serde(borrow)]
        alg: &'a str,
        #[serde(default)]
        crit: Option<serde_json::Value>,
    }
    #[derive(Deserialize)]
    struct Payload {
        #[serde(flatten)]
        claims: EmailToken,
        exp: Option<f64>,
        nbf: Option<f64>,
        iat: Option<serde_json::Value>,
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Invalid);
    }
    let (signing_input, sig) = token.rsplit_once('.').ok_or(TokenError::Invalid)?;
    let (header, payload) = signing_input.split_once('.').ok_or(TokenError::Invalid)?;
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| TokenError::Invalid)?;
    let header: Header<'_> = serde_json::from_slice(&header).map_err(|_| TokenError::Invalid)?;
    if header.alg != "HS256" || header.crit.is_some() {
        return Err(TokenError::Invalid);
    }
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| TokenError::Invalid)?;
    let verified = secrets.all().iter().any(|s| {
        let mut mac = s.hmac();
        mac.update(signing_input.as_bytes());
        mac.verify_slice(&sig).is_ok()
    });
    if !verified {
        return Err(TokenError::Invalid);
    }
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Invalid)?;
    let payload: Payload = serde_json::from_slice(&payload).map_err(|_| TokenError::Invalid)?;
    // jose: `iat`, when present, must be a number.
    if payload.iat.as_ref().is_some_and(|v| !v.is_number()) {
        return Err(TokenError::Invalid);
    }
    let now_secs = now.as_secs() as f64;
    if payload.nbf.is_some_and(|nbf| nbf > now_secs) {
        return Err(TokenError::Invalid);
    }
    match payload.exp {
        Some(exp) if exp <= now_secs => return Err(TokenError::Expired),
        Some(_) => {}
        // better-auth always sets one; a token without is not its own.
        None => return Err(TokenError::Invalid),
    }
    Ok(payload.claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &str = "a-long-random-secret-of-at-least-32-characters!";
    const NOW: i64 = 1_800_000_000_000;

    fn secrets() -> Secrets {
        Secrets::single(SECRET)
    }

    fn claims() -> EmailToken {
        EmailToken::verify_address("Ada@Example.com", "u1")
    }

    #[test]
    fn a_token_verifies_until_it_expires() {
        let now = Timestamp::from_millis(NOW);
        let token = sign(&secrets(), &claims(), now, 60);
        assert_eq!(
            verify(&secrets(), &token, now).unwrap().email,
            "ada@example.com"
        );
        let later = Timestamp::from_millis(NOW + 59_999);
        assert!(verify(&secrets(), &token, later).is_ok());
        let expired = Timestamp::from_millis(NOW + 60_000);
        assert_eq!(
            verify(&secrets(), &token, expired),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn the_payload_is_better_auths() {
        let now = Timestamp::from_millis(NOW);
        let token = sign(&secrets(), &claims(), now, 3600);
        let payload = token.split('.').nth(1).unwrap();
        let json = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"email":"ada@example.com","userId":"u1","iat":1800000000,"exp":1800003600}"#
        );
        assert!(token.starts_with("eyJhbGciOiJIUzI1NiJ9."));
    }

    #[test]
    fn another_secret_or_algorithm_is_refused_and_older_secrets_verify() {
        let now = Timestamp::from_millis(NOW);
        let token = sign(&secrets(), &claims(), now, 60);
        let other = Secrets::single("another-secret-of-at-least-32-characters-long");
        assert_eq!(verify(&other, &token, now), Err(TokenError::Invalid));
        let rotated = Secrets::versioned(
            vec![
                (
                    2,
                    "the-new-secret-of-at-least-32-characters-long".to_owned(),
                ),
                (1, SECRET.to_owned()),
            ],
            None,
        )
        .unwrap();
        assert!(verify(&rotated, &token, now).is_ok());
        // `alg: none` and other algorithms never verify.
        let (_, rest) = token.split_once('.').unwrap();
        let none = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#));
        assert_eq!(verify(&secrets(), &none, now), Err(TokenError::Invalid));
    }

    #[test]
    fn a_cookie_cache_jwt_is_not_an_email_token() {
        // Signed with the same key, but no `email`: refused.
        let now = Timestamp::from_millis(NOW);
        let body = URL_SAFE_NO_PAD.encode(br#"{"session":{},"iat":1,"exp":9999999999}"#);
        let input = format!("{HEADER_B64}.{body}");
        let mut mac = secrets().current().hmac();
        mac.update(input.as_bytes());
        let token = format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        );
        assert_eq!(verify(&secrets(), &token, now), Err(TokenError::Invalid));
    }

    /// A token better-auth 1.7.25 mailed (`/send-verification-email`,
    /// the reference server's secret), and the same claims signed here at
    /// its `iat`: byte for byte the same token.
    #[test]
    fn better_auths_token_verifies_and_ours_is_the_same() {
        const REF_SECRET: &str = "refharness-fixed-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
        const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJlbWFpbCI6ImFAYi5jbyIsInVzZXJJZCI6IlVEdlN0UHpCY2Z2a3hRWUxIQ0E5TWdEM1FObGs0MkhnIiwiaWF0IjoxNzk2NDkxMDE3LCJleHAiOjE3OTY0OTQ2MTd9.M8LxYFPCb-y5gMKVBSq9M4eClxbIyCtn5jalPwA-yT4";
        let secrets = Secrets::single(REF_SECRET);
        let at = Timestamp::from_millis(1_796_491_017_000);
        let claims = verify(&secrets, TOKEN, at).unwrap();
        assert_eq!(
            claims,
            EmailToken::verify_address("a@b.co", "UDvStPzBcfvkxQYLHCA9MgD3QNlk42Hg")
        );
        assert_eq!(sign(&secrets, &claims, at, 3600), TOKEN);
        let after = Timestamp::from_millis(1_796_494_617_000);
        assert_eq!(verify(&secrets, TOKEN, after), Err(TokenError::Expired));
    }

    proptest! {
        #[test]
        fn verification_never_panics(token in ".{0,600}") {
            let _ = verify(&secrets(), &token, Timestamp::from_millis(NOW));
        }

        #[test]
        fn verification_never_panics_on_three_base64_parts(
            a in "[A-Za-z0-9_-]{0,80}", b in "[A-Za-z0-9_-]{0,200}", c in "[A-Za-z0-9_-]{0,60}"
        ) {
            let _ = verify(&secrets(), &format!("{a}.{b}.{c}"), Timestamp::from_millis(NOW));
        }

        #[test]
        fn every_signed_token_verifies(
            email in "[a-z]{1,10}@[a-z]{1,10}\\.[a-z]{2,4}",
            update in proptest::option::of("[a-z]{1,10}@[a-z]{1,10}\\.com"),
            secs in 1u64..1_000_000,
        ) {
            let claims = EmailToken {
                email,
                update_to: update,
                user_id: Some("u".into()),
                request_type: None,
            };
            let now = Timestamp::from_millis(NOW);
            let token = sign(&secrets(), &claims, now, secs);
            prop_assert_eq!(verify(&secrets(), &token, now), Ok(claims));
        }
    }
}
