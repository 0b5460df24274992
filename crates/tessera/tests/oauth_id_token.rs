//! ID token verification end to end, through `verify_id_token` and a fake
//! provider: the tokens oidc-provider issued in the recorded better-auth
//! flow (`shared/vectors/better-auth-1.7.25-oauth.json`) verify with its
//! recorded key set, and forged, altered, misdirected, expired or
//! algorithm-confused tokens are refused with their own error. The key set
//! is fetched once, refetched once for a rotated key, not for every
//! unknown `kid`, and once for many concurrent first uses.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::KeyPair;
use josekit::jws::{self, JwsHeader, JwsSigner};
use serde_json::{json, Value};
use tessera::oauth::{
    verify_id_token, HttpClient, HttpClientError, IdTokenClaims, IdTokenError, IdTokenExpectations,
    JwksCache, SigningAlgorithm,
};
use tessera::Timestamp;

const JWKS_URI: &str = "http://127.0.0.1:4010/jwks";

/// What the vector file recorded about the provider and the flow.
struct Recorded {
    issuer: String,
    client_id: String,
    nonce: String,
    jwks: String,
    discovery: Value,
    /// Every distinct ID token, with its `iat`.
    tokens: Vec<(String, i64)>,
}

fn recorded() -> &'static Recorded {
    static RECORDED: OnceLock<Recorded> = OnceLock::new();
    RECORDED.get_or_init(|| {
        let dir = std::env::var_os("TESSERA_VECTORS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
            });
        let path = dir.join("better-auth-1.7.25-oauth.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("the OAuth vectors at {}: {e}", path.display()));
        let v: Value = serde_json::from_str(&text).unwrap();
        let mut tokens = Vec::new();
        collect_id_tokens(&v, &mut tokens);
        tokens.sort();
        tokens.dedup();
        assert!(tokens.len() >= 2, "the vectors hold ID tokens");
        let tokens = tokens
            .into_iter()
            .map(|t| {
                let iat = payload(&t)["iat"].as_i64().unwrap();
                (t, iat)
            })
            .collect();
        Recorded {
            issuer: v["meta"]["issuer"].as_str().unwrap().to_owned(),
            client_id: v["meta"]["client"]["client_id"]
                .as_str()
                .unwrap()
                .to_owned(),
            nonce: v["flow"]["authorizationParams"]["nonce"]
                .as_str()
                .unwrap()
                .to_owned(),
            jwks: v["provider"]["jwks"].to_string(),
            discovery: v["provider"]["discovery"].clone(),
            tokens,
        }
    })
}

fn collect_id_tokens(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("idToken" | "id_token", Value::String(t)) if t.split('.').count() == 3 => {
                        out.push(t.clone())
                    }
                    _ => collect_id_tokens(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_id_tokens(v, out)),
        _ => {}
    }
}

/// A token's claims, read without verifying (to pick the test's clock).
fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_millis(secs * 1000)
}

/// The recorded token of the code exchange and its `iat`.
fn first_token() -> (&'static str, i64) {
    let (token, iat) = recorded()
        .tokens
        .iter()
        .min_by_key(|(_, iat)| *iat)
        .unwrap();
    (token, *iat)
}

fn expected() -> IdTokenExpectations<'static> {
    let r = recorded();
    IdTokenExpectations::new(&r.issuer, &r.client_id).nonce(r.nonce.as_str())
}

/// A provider's `jwks_uri`: canned answers in order, the last one for
/// every later request, and a count of requests. Its lock is never held
/// across an `.await`.
struct FakeProvider {
    responses: Mutex<Vec<(StatusCode, Bytes)>>,
    calls: AtomicUsize,
    delay: Duration,
}

impl FakeProvider {
    fn serving(key_sets: &[&str]) -> Self {
        FakeProvider {
            responses: Mutex::new(
                key_sets
                    .iter()
                    .map(|s| (StatusCode::OK, Bytes::from(s.to_string())))
                    .collect(),
            ),
            calls: AtomicUsize::new(0),
            delay: Duration::ZERO,
        }
    }

    fn slow(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl HttpClient for FakeProvider {
    async fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpClientError> {
        assert_eq!(request.method(), http::Method::GET);
        assert_eq!(request.uri(), JWKS_URI);
        self.calls.fetch_add(1, Ordering::SeqCst);
        let (status, body) = {
            let mut responses = self.responses.lock().unwrap();
            if responses.len() > 1 {
                responses.remove(0)
            } else {
                responses[0].clone()
            }
        };
        if self.delay.is_zero() {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(self.delay).await;
        }
        let mut response = Response::new(body);
        *response.status_mut() = status;
        Ok(response)
    }
}

async fn verify_with(
    cache: &JwksCache,
    provider: &FakeProvider,
    token: &str,
    expected: &IdTokenExpectations<'_>,
    now: Timestamp,
) -> Result<IdTokenClaims, IdTokenError> {
    verify_id_token(cache, provider, JWKS_URI, token, expected, now).await
}

async fn verify(
    cache: &JwksCache,
    provider: &FakeProvider,
    token: &str,
    now: Timestamp,
) -> Result<IdTokenClaims, IdTokenError> {
    verify_with(cache, provider, token, &expected(), now).await
}

// --- keys of this test run ---

/// Two RSA keys, generated once per run.
fn rsa_key(which: usize) -> &'static RsaKeyPair {
    static KEYS: OnceLock<[RsaKeyPair; 2]> = OnceLock::new();
    &KEYS.get_or_init(|| {
        [
            jws::RS256.generate_key_pair(2048).unwrap(),
            jws::RS256.generate_key_pair(2048).unwrap(),
        ]
    })[which]
}

/// A key set of `(key, kid)`s, as a provider serves it.
fn key_set(keys: &[(&RsaKeyPair, &str)]) -> String {
    let keys: Vec<Value> = keys
        .iter()
        .map(|(pair, kid)| {
            let mut jwk = pair.to_jwk_public_key();
            jwk.set_key_id(*kid);
            jwk.set_key_use("sig");
            Value::Object(jwk.as_ref().clone())
        })
        .collect();
    json!({ "keys": keys }).to_string()
}

fn signer(pair: &RsaKeyPair) -> impl JwsSigner {
    jws::RS256
        .signer_from_jwk(&pair.to_jwk_private_key())
        .unwrap()
}

/// `claims` signed by `signer` under a header naming `kid`.
fn sign(signer: &dyn JwsSigner, kid: &str, claims: &Value) -> String {
    let mut header = JwsHeader::new();
    header.set_key_id(kid);
    jws::serialize_compact(claims.to_string().as_bytes(), &header, signer).unwrap()
}

/// The recorded token's claims: everything but the signer is right.
fn good_claims() -> Value {
    payload(first_token().0)
}

// --- the recorded tokens ---

#[tokio::test]
async fn every_recorded_id_token_verifies_at_its_iat() {
    let r = recorded();
    let provider = FakeProvider::serving(&[&r.jwks]);
    let cache = JwksCache::new();
    for (token, iat) in &r.tokens {
        let claims = verify(&cache, &provider, token, at(*iat)).await.unwrap();
        assert_eq!(claims.sub, "alice");
        assert_eq!(claims.claims["nonce"], r.nonce.as_str());
        assert_eq!(claims.claims["aud"], "tessera-test");
    }
    assert_eq!(provider.calls(), 1, "one fetch serves every token");
}

#[test]
fn the_recorded_discovery_allows_rs256_only() {
    assert_eq!(
        SigningAlgorithm::from_discovery(&recorded().discovery),
        [SigningAlgorithm::Rs256]
    );
    assert_eq!(recorded().issuer, "http://127.0.0.1:4010");
    assert_eq!(recorded().client_id, "tessera-test");
}

#[tokio::test]
async fn the_recorded_token_is_refused_for_another_issuer_client_or_nonce() {
    let r = recorded();
    let (token, iat) = first_token();
    let provider = FakeProvider::serving(&[&r.jwks]);
    let cache = JwksCache::new();
    let nonce = r.nonce.as_str();

    let other_issuer = IdTokenExpectations::new("http://127.0.0.1:4011", &r.client_id).nonce(nonce);
    let result = verify_with(&cache, &provider, token, &other_issuer, at(iat)).await;
    assert!(
        matches!(result, Err(IdTokenError::WrongIssuer)),
        "{result:?}"
    );

    let slash = IdTokenExpectations::new("http://127.0.0.1:4010/", &r.client_id).nonce(nonce);
    let result = verify_with(&cache, &provider, token, &slash, at(iat)).await;
    assert!(
        matches!(result, Err(IdTokenError::WrongIssuer)),
        "{result:?}"
    );

    let other_client = IdTokenExpectations::new(&r.issuer, "another-client").nonce(nonce);
    let result = verify_with(&cache, &provider, token, &other_client, at(iat)).await;
    assert!(
        matches!(result, Err(IdTokenError::WrongAudience)),
        "{result:?}"
    );

    let mut wrong = r.nonce.clone().into_bytes();
    wrong[0] ^= 1;
    let wrong = String::from_utf8(wrong).unwrap();
    let other_nonce = IdTokenExpectations::new(&r.issuer, &r.client_id).nonce(wrong.as_str());
    let result = verify_with(&cache, &provider, token, &other_nonce, at(iat)).await;
    assert!(
        matches!(result, Err(IdTokenError::NonceMismatch)),
        "{result:?}"
    );

    // And the control: the right expectations accept it.
    assert!(verify(&cache, &provider, token, at(iat)).await.is_ok());
}

#[tokio::test]
async fn the_recorded_token_expires_at_exp_plus_the_tolerance() {
    let r = recorded();
    let (token, _) = first_token();
    let exp = payload(token)["exp"].as_i64().unwrap();
    let provider = FakeProvider::serving(&[&r.jwks]);
    let cache = JwksCache::new();
    assert!(verify(&cache, &provider, token, at(exp + 29)).await.is_ok());
    let result = verify(&cache, &provider, token, at(exp + 30)).await;
    assert!(matches!(result, Err(IdTokenError::Expired)), "{result:?}");
    // Today: long past.
    let now = Timestamp::from_millis(1_800_000_000_000);
    let result = verify(&cache, &provider, token, now).await;
    assert!(matches!(result, Err(IdTokenError::Expired)), "{result:?}");
}

#[tokio::test]
async fn a_tampered_recorded_token_does_not_verify() {
    let r = recorded();
    let (token, iat) = first_token();
    let provider = FakeProvider::serving(&[&r.jwks]);
    let cache = JwksCache::new();
    let parts: Vec<&str> = token.split('.').collect();

    let mut claims = payload(token);
    claims["sub"] = json!("mallory");
    let forged_payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    let result = verify(&cache, &provider, &tampered, at(iat)).await;
    assert!(
        matches!(result, Err(IdTokenError::BadSignature)),
        "{result:?}"
    );

    // The other recorded token's signature on this one's payload.
    let (other, _) = r.tokens.iter().find(|(t, _)| t != token).unwrap();
    let swapped = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        other.split('.').nth(2).unwrap()
    );
    let result = verify(&cache, &provider, &swapped, at(iat)).await;
    assert!(
        matches!(result, Err(IdTokenError::BadSignature)),
        "{result:?}"
    );

    // One flipped bit of the signature.
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[100] ^= 0x10;
    let flipped = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(signature)
    );
    let result = verify(&cache, &provider, &flipped, at(iat)).await;
    assert!(
        matches!(result, Err(IdTokenError::BadSignature)),
        "{result:?}"
    );
    assert_eq!(provider.calls(), 1, "a bad signature causes no refetch");
}

// --- forged tokens ---

#[tokio::test]
async fn a_token_signed_by_another_key_under_the_providers_kid_has_a_bad_signature() {
    let r = recorded();
    let (_, iat) = first_token();
    let provider = FakeProvider::serving(&[&r.jwks]);
    let cache = JwksCache::new();
    let forged = sign(&signer(rsa_key(0)), "keystore-CHANGE-ME", &good_claims());
    let result = verify(&cache, &provider, &forged, at(iat)).await;
    assert!(
        matches!(result, Err(IdTokenError::BadSignature)),
        "{result:?}"
    );
    assert_eq!(provider.calls(), 1);
}

#[tokio::test]
async fn a_token_naming_an_unknown_kid_is_refused_after_exactly_one_refetch() {
    let r = recorded();
    let (token, iat) = first_token();
    let provider = FakeProvider::serving(&[&r.jwks]);
    let cache = JwksCache::new();
    verify(&cache, &provider, token, at(iat)).await.unwrap();
    assert_eq!(provider.calls(), 1);

    let forged = sign(&signer(rsa_key(0)), "attacker-key", &good_claims());
    let later = iat + 31;
    let result = verify(&cache, &provider, &forged, at(later)).await;
    assert!(
        matches!(&result, Err(IdTokenError::UnknownKey { kid: Some(kid) }) if kid == "attacker-key"),
        "{result:?}"
    );
    assert_eq!(provider.calls(), 2, "exactly one refetch");

    let result = verify(&cache, &provider, &forged, at(later + 1)).await;
    assert!(
        matches!(result, Err(IdTokenError::UnknownKey { .. })),
        "{result:?}"
    );
    assert_eq!(provider.calls(), 2, "not again within the interval");
}

#[tokio::test]
async fn an_unknown_kid_on_a_cold_cache_costs_one_fetch_not_two() {
    let r = recorded();
    let (_, iat) = first_token();
    let provider = FakeProvider::serving(&[&r.jwks]);
    let cache = JwksCache::new();
    let forged = sign(&signer(rsa_key(0)), "attacker-key", &good_claims());
    let result = verify(&cache, &provider, &forged, at(iat)).await;
    assert!(
        matches!(result, Err(IdTokenError::UnknownKey { .. })),
        "{result:?}"
    );
    assert_eq!(provider.calls(), 1, "the set was just fetched");
}

#[tokio::test]
async fn alg_none_is_refused_without_a_fetch() {
    let r = recorded();
    let (_, iat) = first_token();
    let provider = FakeProvider::serving(&[&r.jwks]);
    let cache = JwksCache::new();
    let claims = URL_SAFE_NO_PAD.encode(good_claims().to_string());
    for header in [
        json!({"alg": "none"}),
        json!({"alg": "none", "kid": "keystore-CHANGE-ME"}),
        json!({"alg": "none", "typ": "JWT"}),
    ] {
        let header = URL_SAFE_NO_PAD.encode(header.to_string());
        for token in [
            format!("{header}.{claims}."),
            format!("{header}.{claims}.c2ln"),
        ] {
            let result = verify(&cache, &provider, &token, at(iat)).await;
            assert!(
                matches!(&result, Err(IdTokenError::DisallowedAlgorithm { alg }) if alg == "none"),
                "{result:?}"
            );
        }
    }
    assert_eq!(provider.calls(), 0);
}

#[tokio::test]
async fn hs256_keyed_with_the_providers_public_key_is_refused() {
    // The classic confusion: a verifier that lets the header pick the
    // algorithm would check this HMAC with the RSA public key as secret.
    let (_, iat) = first_token();
    let pair = rsa_key(0);
    let provider = FakeProvider::serving(&[&key_set(&[(pair, "rsa-0")])]);
    let cache = JwksCache::new();
    for public_bytes in [pair.to_pem_public_key(), pair.to_der_public_key()] {
        let hmac = jws::HS256.signer_from_bytes(&public_bytes).unwrap();
        let token = sign(&hmac, "rsa-0", &good_claims());
        // The control: this is a genuine HMAC over the public key bytes.
        let hmac_verifier = jws::HS256.verifier_from_bytes(&public_bytes).unwrap();
        assert!(jws::deserialize_compact(&token, &hmac_verifier).is_ok());

        let result = verify(&cache, &provider, &token, at(iat)).await;
        assert!(
            matches!(&result, Err(IdTokenError::DisallowedAlgorithm { alg }) if alg == "HS256"),
            "{result:?}"
        );
    }
    assert_eq!(provider.calls(), 0);
    // The same claims signed with the key itself verify.
    let genuine = sign(&signer(pair), "rsa-0", &good_claims());
    assert!(verify(&cache, &provider, &genuine, at(iat)).await.is_ok());
}

// --- rotation and concurrency ---

#[tokio::test]
async fn a_rotated_in_key_verifies_after_one_refetch_and_floods_do_not_refetch() {
    let (_, iat) = first_token();
    let set_a = key_set(&[(rsa_key(0), "a")]);
    let set_b = key_set(&[(rsa_key(0), "a"), (rsa_key(1), "b")]);
    let provider = FakeProvider::serving(&[&set_a, &set_b]);
    let cache = JwksCache::new();
    let token_a = sign(&signer(rsa_key(0)), "a", &good_claims());
    let token_b = sign(&signer(rsa_key(1)), "b", &good_claims());

    verify(&cache, &provider, &token_a, at(iat)).await.unwrap();
    assert_eq!(provider.calls(), 1);

    // Within the interval of the first fetch, the new key is not looked for.
    let result = verify(&cache, &provider, &token_b, at(iat + 10)).await;
    assert!(
        matches!(result, Err(IdTokenError::UnknownKey { .. })),
        "{result:?}"
    );
    assert_eq!(provider.calls(), 1);

    let claims = verify(&cache, &provider, &token_b, at(iat + 31))
        .await
        .unwrap();
    assert_eq!(claims.sub, "alice");
    assert_eq!(provider.calls(), 2, "one refetch found the new key");

    let random_kid = sign(&signer(rsa_key(1)), "c-9f2e", &good_claims());
    let result = verify(&cache, &provider, &random_kid, at(iat + 40)).await;
    assert!(
        matches!(result, Err(IdTokenError::UnknownKey { .. })),
        "{result:?}"
    );
    assert_eq!(
        provider.calls(),
        2,
        "a second unknown kid within the interval"
    );

    // Both keys keep verifying from the cache.
    verify(&cache, &provider, &token_a, at(iat + 40))
        .await
        .unwrap();
    verify(&cache, &provider, &token_b, at(iat + 40))
        .await
        .unwrap();
    assert_eq!(provider.calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_first_uses_share_one_fetch() {
    let r = recorded();
    let provider = Arc::new(FakeProvider::serving(&[&r.jwks]).slow(Duration::from_millis(20)));
    let cache = Arc::new(JwksCache::new());
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let (provider, cache) = (provider.clone(), cache.clone());
            tokio::spawn(async move {
                let (token, iat) = &recorded().tokens[i % recorded().tokens.len()];
                verify(&cache, &provider, token, at(*iat)).await
            })
        })
        .collect();
    let all = tokio::time::timeout(Duration::from_secs(30), async {
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        results
    })
    .await
    .expect("no task is stuck");
    assert_eq!(all.len(), 64);
    for result in all {
        assert_eq!(result.unwrap().sub, "alice");
    }
    assert_eq!(provider.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_concurrent_flood_of_random_kids_refetches_at_most_once() {
    let r = recorded();
    let (token, iat) = first_token();
    let provider = Arc::new(FakeProvider::serving(&[&r.jwks]).slow(Duration::from_millis(5)));
    let cache = Arc::new(JwksCache::new());
    verify(&cache, &provider, token, at(iat)).await.unwrap();
    let forger = Arc::new(signer(rsa_key(0)));
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let (provider, cache, forger) = (provider.clone(), cache.clone(), forger.clone());
            tokio::spawn(async move {
                let forged = sign(&*forger, &format!("random-{i}"), &good_claims());
                verify(&cache, &provider, &forged, at(iat + 31 + i as i64 / 8)).await
            })
        })
        .collect();
    let all = tokio::time::timeout(Duration::from_secs(30), async {
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        results
    })
    .await
    .expect("no task is stuck");
    for result in all {
        assert!(
            matches!(result, Err(IdTokenError::UnknownKey { .. })),
            "{result:?}"
        );
    }
    assert_eq!(provider.calls(), 2, "the first fetch and one refetch");
}
