//! OpenID Connect ID token verification (`tessera::oauth`), with the
//! recorded provider's key set in memory: the input is the token (invalid
//! UTF-8 replaced, as a JSON token response would never carry it).
//!
//! Invariants: no panic; `verify_id_token` through a cache holding the set
//! and `Jwks::verify` on the set agree; and what is accepted was signed by
//! the provider, so it carries the recorded subject, audience and nonce.
//! The same bytes are also read as a key set document (no panic).

#![no_main]

use std::mem::discriminant;
use std::sync::OnceLock;

use bytes::Bytes;
use http::{Request, Response};
use libfuzzer_sys::fuzz_target;
use tessera::oauth::{
    verify_id_token, HttpClient, HttpClientError, IdTokenExpectations, Jwks, JwksCache,
};
use tessera_fuzz::{OIDC_CLIENT_ID, OIDC_ISSUER, OIDC_JWKS, OIDC_JWKS_URI, OIDC_NONCE, OIDC_NOW};

/// The provider's `jwks_uri`, answering with the recorded set. The cache
/// holds that set from `OIDC_NOW`, so within the refetch interval it is
/// never asked; it is here for the verifier's signature.
struct RecordedProvider;

#[async_trait::async_trait]
impl HttpClient for RecordedProvider {
    async fn send(&self, _: Request<Bytes>) -> Result<Response<Bytes>, HttpClientError> {
        Ok(Response::new(Bytes::from_static(OIDC_JWKS.as_bytes())))
    }
}

struct Fixture {
    jwks: Jwks,
    cache: JwksCache,
    runtime: tokio::runtime::Runtime,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let jwks = Jwks::from_json(OIDC_JWKS.as_bytes()).expect("the recorded key set");
        let cache = JwksCache::new();
        cache.insert(OIDC_JWKS_URI, jwks.clone(), OIDC_NOW);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        Fixture {
            jwks,
            cache,
            runtime,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = Jwks::from_json(data);

    let token = String::from_utf8_lossy(data);
    let f = fixture();
    let expected = IdTokenExpectations::new(OIDC_ISSUER, OIDC_CLIENT_ID).nonce(OIDC_NONCE);

    let direct = f.jwks.verify(&token, &expected, OIDC_NOW);
    let cached = f.runtime.block_on(verify_id_token(
        &f.cache,
        &RecordedProvider,
        OIDC_JWKS_URI,
        &token,
        &expected,
        OIDC_NOW,
    ));
    match (&direct, &cached) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => assert_eq!(discriminant(a), discriminant(b), "{a:?} / {b:?}"),
        _ => panic!("the cache and the key set disagree: {direct:?} / {cached:?}"),
    }

    if let Ok(claims) = direct {
        assert_eq!(claims.sub, "alice");
        assert_eq!(claims.claims["aud"], OIDC_CLIENT_ID);
        assert_eq!(claims.claims["nonce"], OIDC_NONCE);
    }
});
