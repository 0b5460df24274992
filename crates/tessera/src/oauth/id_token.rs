//! OpenID Connect ID token verification (OpenID Connect Core 1.0
//! §3.1.3.7): the signature against the provider's published keys, then
//! the issuer, audience, times and nonce.
//!
//! Signatures are checked by josekit (OpenSSL); this module only chooses
//! which key and which algorithm, and reads the claims.
//!
//! # What better-auth 1.7.25 does
//!
//! The generic OAuth plugin builds an ID token check from the provider's
//! discovery document when it names a `jwks_uri` and an `issuer`
//! (`plugins/generic-oauth`); after the code exchange, `getUserInfo` runs
//! core's `verifyIdToken` (`oauth2/verify-id-token`) and fails the sign-in
//! when it throws. That is jose's `jwtVerify` with:
//!
//! - keys from `createRemoteJWKSet(jwks_uri)`: cached for 10 minutes,
//!   refetched when no key matches the token but not within 30 seconds of
//!   the last fetch, concurrent fetches shared;
//! - `algorithms`: the discovery document's
//!   `id_token_signing_alg_values_supported` when it lists any, else any
//!   algorithm the chosen key fits. A key set never serves `none` or
//!   `HS*` (jose refuses secret algorithms with a key set);
//! - key choice: the key type the algorithm needs, the token's `kid` when
//!   it names one, the key's own `alg` when it names one, `use` absent or
//!   `sig`, `key_ops` containing `verify`; when several keys fit, each is
//!   tried. RSA keys under 2048 bits are refused;
//! - `issuer`: the discovery `issuer`, compared exactly; `audience`: the
//!   client id, equal to `aud` or contained in it when `aud` is an array
//!   (`azp` is not checked); `iss`, `sub`, `aud`, `exp` and `iat` required;
//! - a 30 second clock tolerance: expired when `exp <= now - 30`, not yet
//!   valid when `nbf > now + 30`, with `now` in whole seconds;
//! - the nonce, unless the provider disables nonce binding: the `nonce`
//!   claim must be a string equal (`===`) to the one stored in the state
//!   cookie.
//!
//! # What Tessera does
//!
//! The same checks with the same numbers ([`IdTokenExpectations`] and
//! [`JwksCache`] defaults), and deliberately more:
//!
//! - Without a discovery list the allowed algorithms are `RS256` only
//!   ([`SigningAlgorithm::DEFAULT`], the one OpenID Connect requires), not
//!   whatever fits the key; `none` and `HS*` cannot even be listed.
//! - `iat` later than `now` plus the tolerance is refused (jose checks it
//!   only when a maximum token age is set).
//! - The nonce is compared in constant time.
//! - Tokens longer than [`MAX_ID_TOKEN_BYTES`] are refused before parsing;
//!   a token that is malformed, carries a `crit` header, or names an
//!   algorithm not allowed is refused before any key lookup, so it never
//!   causes a fetch.
//! - Key sets are capped ([`MAX_JWKS_BYTES`], [`MAX_JWKS_KEYS`], RSA
//!   moduli up to 8192 bits); keys that cannot verify (another `use`,
//!   unknown `kty`, private members, bad material) are skipped when the
//!   set is read rather than failing later.
//! - The refetch interval is counted from the last fetch whether it
//!   succeeded or not, so a failing provider is not asked again for every
//!   token with an unknown `kid`.
//! - Time is the caller's `now`, for the claims and for the cache.

mod cache;
mod jwks;

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use josekit::jws;
use josekit::JoseError;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

pub use cache::{JwksCache, JwksFetchError};
pub use jwks::{Jwks, JwksError, SigningAlgorithm, MAX_JWKS_BYTES, MAX_JWKS_KEYS};

use crate::oauth::HttpClient;
use crate::Timestamp;
use cache::Refetch;

/// The longest ID token accepted, in bytes; longer ones are refused
/// before they are parsed.
pub const MAX_ID_TOKEN_BYTES: usize = 16 * 1024;

/// What an ID token must say to be accepted: who issued it, for which
/// client, with which nonce, signed how, and how much clock skew to allow.
///
/// ```
/// use std::time::Duration;
/// use tessera::oauth::{IdTokenExpectations, SigningAlgorithm};
///
/// let discovery = serde_json::json!({
///     "issuer": "https://accounts.example.com",
///     "id_token_signing_alg_values_supported": ["RS256", "ES256"],
/// });
/// let algorithms = SigningAlgorithm::from_discovery(&discovery);
/// let expected = IdTokenExpectations::new("https://accounts.example.com", "my-client-id")
///     .nonce("n-0S6_WzA2Mj")
///     .algorithms(&algorithms)
///     .clock_tolerance(Duration::from_secs(30));
/// # let _ = expected;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct IdTokenExpectations<'a> {
    issuer: &'a str,
    audience: &'a str,
    nonce: Option<&'a str>,
    algorithms: &'a [SigningAlgorithm],
    clock_tolerance: Duration,
}

impl<'a> IdTokenExpectations<'a> {
    /// better-auth's `ID_TOKEN_CLOCK_TOLERANCE_SECONDS`: 30 seconds.
    pub const DEFAULT_CLOCK_TOLERANCE: Duration = Duration::from_secs(30);

    /// Tokens from `issuer` (the discovery document's `issuer`, compared
    /// exactly) for `audience` (the client id). An empty issuer or
    /// audience accepts no token. No nonce is expected,
    /// [`SigningAlgorithm::DEFAULT`] is allowed, and the clock tolerance is
    /// [`Self::DEFAULT_CLOCK_TOLERANCE`].
    pub fn new(issuer: &'a str, audience: &'a str) -> Self {
        IdTokenExpectations {
            issuer,
            audience,
            nonce: None,
            algorithms: SigningAlgorithm::DEFAULT,
            clock_tolerance: Self::DEFAULT_CLOCK_TOLERANCE,
        }
    }

    /// The nonce sent in the authorization request: when given, the
    /// token's `nonce` claim must be exactly this; when `None`, the claim
    /// is not looked at.
    pub fn nonce(mut self, nonce: impl Into<Option<&'a str>>) -> Self {
        self.nonce = nonce.into();
        self
    }

    /// The algorithms a token may be signed with, usually
    /// [`SigningAlgorithm::from_discovery`].
    pub fn algorithms(mut self, algorithms: &'a [SigningAlgorithm]) -> Self {
        self.algorithms = algorithms;
        self
    }

    /// How far `exp`, `nbf` and `iat` may be off (whole seconds count).
    pub fn clock_tolerance(mut self, tolerance: Duration) -> Self {
        self.clock_tolerance = tolerance;
        self
    }
}

/// The claims of a verified ID token.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct IdTokenClaims {
    /// `sub`: the provider's identifier for the user.
    pub sub: String,
    /// `email`, when a string.
    pub email: Option<String>,
    /// `email_verified`: `true` for `true` or `"true"` (some providers send
    /// a string), else `false`, as better-auth's `parseStringBoolean(…) ??
    /// false`.
    pub email_verified: bool,
    /// `name`, when a string.
    pub name: Option<String>,
    /// `picture`, when a string.
    pub picture: Option<String>,
    /// Every claim, as the token carries them.
    pub claims: Map<String, Value>,
}

/// Why an ID token was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdTokenError {
    /// Not a compact JWS with a JSON header and claims, too long, a
    /// required claim (`sub`, `exp`, `iat`) missing, or a claim of the
    /// wrong type.
    #[error("the ID token is malformed: {reason}")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// The header's `alg` is not allowed: not in the expected list, or
    /// `none` or `HS*`, which are never accepted with a public key set.
    #[error("the ID token's signature algorithm is not allowed")]
    DisallowedAlgorithm {
        /// The `alg` the header names.
        alg: String,
    },
    /// No key of the provider's set fits the token, even after refetching
    /// the set (at most once per interval).
    #[error("no key of the provider's key set fits the ID token")]
    UnknownKey {
        /// The `kid` the header names.
        kid: Option<String>,
    },
    /// The signature does not verify with any key that fits.
    #[error("the ID token's signature does not verify")]
    BadSignature,
    /// `iss` is missing or not the expected issuer.
    #[error("the ID token was not issued by the expected issuer")]
    WrongIssuer,
    /// `aud` is missing or does not name the client.
    #[error("the ID token is not meant for this client")]
    WrongAudience,
    /// `exp` has passed, beyond the clock tolerance.
    #[error("the ID token has expired")]
    Expired,
    /// `nbf` or `iat` is in the future, beyond the clock tolerance.
    #[error("the ID token is not valid yet")]
    NotYetValid,
    /// A nonce was expected and the token's is missing or another.
    #[error("the ID token's nonce is missing or does not match")]
    NonceMismatch,
    /// The provider's key set could not be had.
    #[error("cannot get the provider's key set")]
    JwksFetch(#[from] JwksFetchError),
}

fn malformed(reason: &'static str) -> IdTokenError {
    IdTokenError::Malformed { reason }
}

/// Verifies `token` against the key set at `jwks_uri` (held in `cache`,
/// fetched through `client` when missing or old, refetched once when no
/// key fits) and `expected`, at `now`; returns its claims.
///
/// In order, each failure its own [`IdTokenError`]: the length and the
/// compact form; the header's `alg` against the allowed algorithms (so a
/// malformed or `none`/`HS*` token never causes a fetch); a key that fits
/// the `alg` and `kid`; the signature, by josekit; `iss`; `aud`; `sub`,
/// `exp`, `iat` present; `exp`, `iat` and `nbf` against `now` with the
/// clock tolerance; the nonce when one is expected. This is what
/// better-auth 1.7.25 checks after a code exchange, and a little more: see
/// the `oauth/id_token.rs` module docs for the comparison.
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response};
/// use tessera::oauth::{
///     verify_id_token, HttpClient, HttpClientError, IdTokenExpectations, JwksCache,
/// };
/// use tessera::Timestamp;
///
/// /// Serves the provider's key set (oidc-provider's development key).
/// struct Provider;
///
/// #[async_trait::async_trait]
/// impl HttpClient for Provider {
///     async fn send(&self, _: Request<Bytes>) -> Result<Response<Bytes>, HttpClientError> {
///         Ok(Response::new(Bytes::from_static(JWKS.as_bytes())))
///     }
/// }
/// # const JWKS: &str = r#"{"keys":[{"kty":"RSA","use":"sig","kid":"keystore-CHANGE-ME","alg":"RS256","e":"AQAB","n":"xwQ72P9z9OYshiQ-ntDYaPnnfwG6u9JAdLMZ5o0dmjlcyrvwQRdoFIKPnO65Q8mh6F_LDSxjxa2Yzo_wdjhbPZLjfUJXgCzm54cClXzT5twzo7lzoAfaJlkTsoZc2HFWqmcri0BuzmTFLZx2Q7wYBm0pXHmQKF0V-C1O6NWfd4mfBhbM-I1tHYSpAMgarSm22WDMDx-WWI7TEzy2QhaBVaENW9BKaKkJklocAZCxk18WhR0fckIGiWiSM5FcU1PY2jfGsTmX505Ub7P5Dz75Ygqrutd5tFrcqyPAtPTFDk8X1InxkkUwpP3nFU5o50DGhwQolGYKPGtQ-ZtmbOfcWQ"}]}"#;
/// # const ID_TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImtleXN0b3JlLUNIQU5HRS1NRSJ9.eyJzdWIiOiJhbGljZSIsIm5vbmNlIjoiUXRXTWpCS0hSTG1wdWMzdUJpOFV4cFJqTUYtT09ac3EiLCJhdWQiOiJ0ZXNzZXJhLXRlc3QiLCJleHAiOjE3OTU4NTg4MzAsImlhdCI6MTc5NTg1NTIzMCwiaXNzIjoiaHR0cDovLzEyNy4wLjAuMTo0MDEwIn0.blvdjpYA4zGnnSyQvsC_SgeAl7iVtpOi2N_tTALHf5zQLgmohgcBLy84TIEURuXMDC2wAIeISuiwyNqMfCKjnfXYiIfkdXSRcYuKHVewKKLXmeXBdmuD3T2pRFM00IZ6Uzw9vUua8t80kcWZ7SSZOz3oZEYkOXXnyNsN9O-QNuMx6QRgUsVKRgukMncZePf-nYRw17cLaqfPK2c5KcGRRjaUWpMxQ6u7C7IuTQWI5FsM8BBjDons0pXyZXASORSKqNBEj1J_WHw5uC5Jlzbex1gsS0X4yXbsIDRKY4oxHmf_2egwArVML5LT65Aav8S5XOJ9lO0FZJFCHhNr2IPqsA";
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let cache = JwksCache::new();
/// let expected = IdTokenExpectations::new("http://127.0.0.1:4010", "tessera-test")
///     .nonce("QtWMjBKHRLmpuc3uBi8UxpRjMF-OOZsq");
/// let now = Timestamp::from_millis(1_795_855_230_000);
///
/// let jwks_uri = "http://127.0.0.1:4010/jwks";
/// let claims = verify_id_token(&cache, &Provider, jwks_uri, ID_TOKEN, &expected, now)
///     .await
///     .expect("signed by the provider, for this client, with this nonce");
/// assert_eq!(claims.sub, "alice");
/// # }
/// ```
pub async fn verify_id_token(
    cache: &JwksCache,
    client: &dyn HttpClient,
    jwks_uri: &str,
    token: &str,
    expected: &IdTokenExpectations<'_>,
    now: Timestamp,
) -> Result<IdTokenClaims, IdTokenError> {
    // What the token alone fails on fails before any fetch.
    let header = Header::read(token)?;
    let alg = header.allowed(expected)?;
    let seen = cache.look(jwks_uri, now);
    let mut keys = match &seen.keys {
        Some(keys) => keys.clone(),
        None => cache
            .refetch(client, jwks_uri, &seen, now, Refetch::Stale)
            .await?
            .ok_or(JwksFetchError::ConcurrentFailure)?,
    };
    if keys.candidates(alg, header.kid.as_deref()).next().is_none() {
        // The provider may have rotated its keys since the set was read.
        if let Some(newer) = cache
            .refetch(client, jwks_uri, &seen, now, Refetch::UnknownKey)
            .await?
        {
            keys = newer;
        }
    }
    keys.verify_read(token, &header, alg, expected, now)
}

impl Jwks {
    /// Verifies `token` against this set and `expected` at `now`, without
    /// fetching anything: a token whose key is not here is
    /// [`IdTokenError::UnknownKey`].
    pub fn verify(
        &self,
        token: &str,
        expected: &IdTokenExpectations<'_>,
        now: Timestamp,
    ) -> Result<IdTokenClaims, IdTokenError> {
        let header = Header::read(token)?;
        let alg = header.allowed(expected)?;
        self.verify_read(token, &header, alg, expected, now)
    }

    fn verify_read(
        &self,
        token: &str,
        header: &Header,
        alg: SigningAlgorithm,
        expected: &IdTokenExpectations<'_>,
        now: Timestamp,
    ) -> Result<IdTokenClaims, IdTokenError> {
        let payload = self.signed_payload(token, header, alg)?;
        check_claims(&payload, expected, now)
    }

    /// The payload, once a key that fits has verified the signature.
    fn signed_payload(
        &self,
        token: &str,
        header: &Header,
        alg: SigningAlgorithm,
    ) -> Result<Vec<u8>, IdTokenError> {
        let mut fitting = 0usize;
        for key in self.candidates(alg, header.kid.as_deref()) {
            fitting += 1;
            // The key loaded when the set was read; with another algorithm
            // of its family it loads the same way.
            let Ok(verifier) = key.verifier(alg) else {
                continue;
            };
            match jws::deserialize_compact(token, verifier) {
                Ok((payload, _)) => return Ok(payload),
                Err(JoseError::InvalidSignature(_)) => continue,
                Err(_) => return Err(malformed("not a compact JWS")),
            }
        }
        Err(match fitting {
            0 => IdTokenError::UnknownKey {
                kid: header.kid.clone(),
            },
            _ => IdTokenError::BadSignature,
        })
    }
}

/// The JOSE header members verification needs, read before any key is.
struct Header {
    alg: String,
    kid: Option<String>,
}

impl Header {
    fn read(token: &str) -> Result<Header, IdTokenError> {
        if token.len() > MAX_ID_TOKEN_BYTES {
            return Err(malformed("longer than 16 KiB"));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("not three dot-separated parts"));
        };
        let header = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| malformed("the header is not base64url"))?;
        let header: Map<String, Value> = serde_json::from_slice(&header)
            .map_err(|_| malformed("the header is not a JSON object"))?;
        // ID tokens have no use for critical extensions; `b64: false`
        // (RFC 7797) would change what the signature covers.
        if header.contains_key("crit") {
            return Err(malformed("the header has crit"));
        }
        let Some(Value::String(alg)) = header.get("alg") else {
            return Err(malformed("the header has no alg"));
        };
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(malformed("the header's kid is not a string")),
        };
        Ok(Header {
            alg: alg.clone(),
            kid,
        })
    }

    /// The header's algorithm, when `expected` allows it.
    fn allowed(
        &self,
        expected: &IdTokenExpectations<'_>,
    ) -> Result<SigningAlgorithm, IdTokenError> {
        SigningAlgorithm::from_name(&self.alg)
            .filter(|alg| expected.algorithms.contains(alg))
            .ok_or_else(|| IdTokenError::DisallowedAlgorithm {
                alg: self.alg.clone(),
            })
    }
}

/// OpenID Connect Core §3.1.3.7 steps 2, 3, 9, 10 and 11 on a payload
/// whose signature verified.
fn check_claims(
    payload: &[u8],
    expected: &IdTokenExpectations<'_>,
    now: Timestamp,
) -> Result<IdTokenClaims, IdTokenError> {
    let claims: Map<String, Value> = serde_json::from_slice(payload)
        .map_err(|_| malformed("the claims are not a JSON object"))?;
    let string = |name: &str| claims.get(name).and_then(Value::as_str);

    if expected.issuer.is_empty() || string("iss") != Some(expected.issuer) {
        return Err(IdTokenError::WrongIssuer);
    }
    let for_us = match claims.get("aud") {
        Some(Value::String(aud)) => aud == expected.audience,
        Some(Value::Array(auds)) => auds
            .iter()
            .any(|aud| aud.as_str() == Some(expected.audience)),
        _ => false,
    };
    if expected.audience.is_empty() || !for_us {
        return Err(IdTokenError::WrongAudience);
    }
    let Some(sub) = string("sub") else {
        return Err(malformed("no sub claim"));
    };

    // jose's arithmetic: whole seconds, tolerance on both sides.
    let now = now.as_secs() as f64;
    let tolerance = expected.clock_tolerance.as_secs() as f64;
    let exp = numeric_date(&claims, "exp")?.ok_or(malformed("no exp claim"))?;
    let iat = numeric_date(&claims, "iat")?.ok_or(malformed("no iat claim"))?;
    let nbf = numeric_date(&claims, "nbf")?;
    if exp <= now - tolerance {
        return Err(IdTokenError::Expired);
    }
    if iat > now + tolerance || nbf.is_some_and(|nbf| nbf > now + tolerance) {
        return Err(IdTokenError::NotYetValid);
    }

    if let Some(nonce) = expected.nonce {
        let same =
            string("nonce").is_some_and(|n| bool::from(n.as_bytes().ct_eq(nonce.as_bytes())));
        if !same {
            return Err(IdTokenError::NonceMismatch);
        }
    }

    let owned = |name: &str| string(name).map(str::to_owned);
    let (sub, email, name, picture) = (
        sub.to_owned(),
        owned("email"),
        owned("name"),
        owned("picture"),
    );
    let email_verified = match claims.get("email_verified") {
        Some(Value::Bool(verified)) => *verified,
        Some(Value::String(verified)) => verified == "true",
        _ => false,
    };
    Ok(IdTokenClaims {
        sub,
        email,
        email_verified,
        name,
        picture,
        claims,
    })
}

/// A NumericDate claim (RFC 7519 §2): absent, or a JSON number.
fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<f64>, IdTokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(Some)
            .ok_or(malformed("a date claim is not a number")),
        Some(_) => Err(malformed("a date claim is not a number")),
    }
}

#[cfg(test)]
mod tests;
