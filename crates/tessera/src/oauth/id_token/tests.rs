//! Unit tests: header and claim checks, key set reading, the cache's
//! refresh policy. End-to-end behaviour (recorded tokens from the vector
//! file, forged tokens, rotation, concurrency) is in
//! `tests/oauth_id_token.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use josekit::jwk::alg::ed::EdCurve;
use josekit::jwk::{Jwk, KeyPair};
use josekit::jws::{self, JwsHeader, JwsSigner};
use serde_json::{json, Value};

use super::*;
use crate::oauth::HttpClientError;

/// oidc-provider's development key set, as the vector file records it.
const RECORDED_JWKS: &str = r#"{"keys":[{"kty":"RSA","use":"sig","kid":"keystore-CHANGE-ME","alg":"RS256","e":"AQAB","n":"xwQ72P9z9OYshiQ-ntDYaPnnfwG6u9JAdLMZ5o0dmjlcyrvwQRdoFIKPnO65Q8mh6F_LDSxjxa2Yzo_wdjhbPZLjfUJXgCzm54cClXzT5twzo7lzoAfaJlkTsoZc2HFWqmcri0BuzmTFLZx2Q7wYBm0pXHmQKF0V-C1O6NWfd4mfBhbM-I1tHYSpAMgarSm22WDMDx-WWI7TEzy2QhaBVaENW9BKaKkJklocAZCxk18WhR0fckIGiWiSM5FcU1PY2jfGsTmX505Ub7P5Dz75Ygqrutd5tFrcqyPAtPTFDk8X1InxkkUwpP3nFU5o50DGhwQolGYKPGtQ-ZtmbOfcWQ"}]}"#;
/// The ID token of the recorded flow's code exchange (`accountData.payload.idToken`).
const RECORDED_TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImtleXN0b3JlLUNIQU5HRS1NRSJ9.eyJzdWIiOiJhbGljZSIsIm5vbmNlIjoiUXRXTWpCS0hSTG1wdWMzdUJpOFV4cFJqTUYtT09ac3EiLCJhdWQiOiJ0ZXNzZXJhLXRlc3QiLCJleHAiOjE3OTU4NTg4MzAsImlhdCI6MTc5NTg1NTIzMCwiaXNzIjoiaHR0cDovLzEyNy4wLjAuMTo0MDEwIn0.blvdjpYA4zGnnSyQvsC_SgeAl7iVtpOi2N_tTALHf5zQLgmohgcBLy84TIEURuXMDC2wAIeISuiwyNqMfCKjnfXYiIfkdXSRcYuKHVewKKLXmeXBdmuD3T2pRFM00IZ6Uzw9vUua8t80kcWZ7SSZOz3oZEYkOXXnyNsN9O-QNuMx6QRgUsVKRgukMncZePf-nYRw17cLaqfPK2c5KcGRRjaUWpMxQ6u7C7IuTQWI5FsM8BBjDons0pXyZXASORSKqNBEj1J_WHw5uC5Jlzbex1gsS0X4yXbsIDRKY4oxHmf_2egwArVML5LT65Aav8S5XOJ9lO0FZJFCHhNr2IPqsA";
const ISSUER: &str = "http://127.0.0.1:4010";
const CLIENT_ID: &str = "tessera-test";
const NONCE: &str = "QtWMjBKHRLmpuc3uBi8UxpRjMF-OOZsq";
/// The recorded token's `iat` and `exp`.
const IAT: i64 = 1_795_855_230;
const EXP: i64 = 1_795_858_830;
const JWKS_URI: &str = "http://127.0.0.1:4010/jwks";

fn at(secs: i64) -> Timestamp {
    Timestamp::from_millis(secs * 1000)
}

fn recorded() -> Jwks {
    Jwks::from_json(RECORDED_JWKS.as_bytes()).unwrap()
}

fn expected() -> IdTokenExpectations<'static> {
    IdTokenExpectations::new(ISSUER, CLIENT_ID).nonce(NONCE)
}

/// A key pair of this test run: its public JWK and a signer.
struct TestKey {
    public: Jwk,
    signer: Box<dyn JwsSigner>,
}

impl TestKey {
    /// The run's RSA key (generated once) under `kid`, signing RS256.
    fn rsa(kid: &str) -> TestKey {
        let pair = Self::rsa_pair();
        let mut public = pair.to_jwk_public_key();
        public.set_key_id(kid);
        let signer = jws::RS256
            .signer_from_jwk(&pair.to_jwk_private_key())
            .unwrap();
        TestKey {
            public,
            signer: Box::new(signer),
        }
    }

    fn jwks(keys: &[&TestKey]) -> Jwks {
        let keys: Vec<Value> = keys.iter().map(|k| json_of(&k.public)).collect();
        Jwks::from_json(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
    }
}

/// `jwk` without its `alg`, so that any algorithm of its family fits it.
fn without_alg(jwk: &Jwk) -> Jwk {
    let mut map = jwk.as_ref().clone();
    map.remove("alg");
    Jwk::from_map(map).unwrap()
}

fn json_of(jwk: &Jwk) -> Value {
    Value::Object(jwk.as_ref().clone())
}

/// Signs `claims` with `signer` under a header naming `kid`.
fn sign(signer: &dyn JwsSigner, kid: Option<&str>, claims: &Value) -> String {
    let mut header = JwsHeader::new();
    if let Some(kid) = kid {
        header.set_key_id(kid);
    }
    jws::serialize_compact(claims.to_string().as_bytes(), &header, signer).unwrap()
}

/// Claims that pass [`expected`] at `at(IAT)`, with `changes` merged in
/// (`null` removes a claim).
fn claims(changes: Value) -> Value {
    let mut claims = json!({
        "iss": ISSUER, "aud": CLIENT_ID, "sub": "alice", "nonce": NONCE,
        "iat": IAT, "exp": EXP,
    });
    for (name, value) in changes.as_object().unwrap() {
        match value {
            Value::Null => claims.as_object_mut().unwrap().remove(name),
            v => claims
                .as_object_mut()
                .unwrap()
                .insert(name.clone(), v.clone()),
        };
    }
    claims
}

/// A header and payload as given, and a signature of junk.
fn unsigned(header: &Value, claims: &Value) -> String {
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.c2ln", b64(header), b64(claims))
}

// --- the recorded token ---

#[test]
fn the_recorded_token_verifies_at_its_iat() {
    let claims = recorded()
        .verify(RECORDED_TOKEN, &expected(), at(IAT))
        .unwrap();
    assert_eq!(claims.sub, "alice");
    assert_eq!(claims.email, None);
    assert!(!claims.email_verified);
    assert_eq!(claims.claims["nonce"], NONCE);
    assert_eq!(claims.claims["exp"], EXP);
}

#[test]
fn the_recorded_token_has_expired_thirty_seconds_after_exp() {
    let jwks = recorded();
    assert!(jwks
        .verify(RECORDED_TOKEN, &expected(), at(EXP + 29))
        .is_ok());
    // jose: expired when exp <= now - tolerance.
    assert!(matches!(
        jwks.verify(RECORDED_TOKEN, &expected(), at(EXP + 30)),
        Err(IdTokenError::Expired)
    ));
    let strict = expected().clock_tolerance(Duration::ZERO);
    assert!(matches!(
        jwks.verify(RECORDED_TOKEN, &strict, at(EXP)),
        Err(IdTokenError::Expired)
    ));
}

#[test]
fn the_recorded_token_is_not_valid_before_its_iat_minus_tolerance() {
    let jwks = recorded();
    assert!(jwks
        .verify(RECORDED_TOKEN, &expected(), at(IAT - 30))
        .is_ok());
    assert!(matches!(
        jwks.verify(RECORDED_TOKEN, &expected(), at(IAT - 31)),
        Err(IdTokenError::NotYetValid)
    ));
}

#[test]
fn a_token_signed_with_rs256_is_refused_when_only_es256_is_allowed() {
    let es256 = [SigningAlgorithm::Es256];
    let result = recorded().verify(RECORDED_TOKEN, &expected().algorithms(&es256), at(IAT));
    assert!(matches!(result, Err(IdTokenError::DisallowedAlgorithm { alg }) if alg == "RS256"));
}

// --- the header ---

#[test]
fn malformed_tokens_are_refused_before_any_key_is_looked_at() {
    let jwks = Jwks::default();
    let too_long = format!("{}.e30.e30", "e".repeat(MAX_ID_TOKEN_BYTES));
    for token in [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "!!!.e30.sig",
        "e30.e30.sig",               // {}: no alg
        "bnVsbA.e30.sig",            // null
        "eyJhbGciOiJSUzI1NiI.e30.x", // truncated JSON
        &too_long,
    ] {
        let result = jwks.verify(token, &expected(), at(IAT));
        assert!(
            matches!(result, Err(IdTokenError::Malformed { .. })),
            "{token:.40}: {result:?}"
        );
    }
    let crit = unsigned(
        &json!({"alg": "RS256", "crit": ["b64"], "b64": false}),
        &claims(json!({})),
    );
    let kid_number = unsigned(&json!({"alg": "RS256", "kid": 7}), &claims(json!({})));
    for token in [crit, kid_number] {
        assert!(matches!(
            recorded().verify(&token, &expected(), at(IAT)),
            Err(IdTokenError::Malformed { .. })
        ));
    }
}

#[test]
fn none_and_symmetric_algorithms_are_refused_whatever_is_allowed() {
    for alg in [
        "none", "None", "HS256", "HS384", "HS512", "ES256K", "RSA-OAEP", "",
    ] {
        let token = unsigned(
            &json!({"alg": alg, "kid": "keystore-CHANGE-ME"}),
            &claims(json!({})),
        );
        let result = recorded().verify(&token, &expected(), at(IAT));
        assert!(
            matches!(&result, Err(IdTokenError::DisallowedAlgorithm { alg: named }) if named == alg),
            "{alg}: {result:?}"
        );
    }
    assert_eq!(SigningAlgorithm::from_name("none"), None);
    assert_eq!(SigningAlgorithm::from_name("HS256"), None);
}

#[test]
fn discovery_lists_are_filtered_and_default_to_rs256() {
    let from = |v: Value| {
        SigningAlgorithm::from_discovery(&json!({ "id_token_signing_alg_values_supported": v }))
    };
    assert_eq!(from(json!(["HS256", "none"])), []);
    assert_eq!(from(json!([])), SigningAlgorithm::DEFAULT);
    assert_eq!(from(json!("RS256")), SigningAlgorithm::DEFAULT);
    assert_eq!(
        from(json!(["PS256", 5, "EdDSA"])),
        [SigningAlgorithm::Ps256, SigningAlgorithm::EdDsa]
    );
    for alg in [
        SigningAlgorithm::Rs256,
        SigningAlgorithm::Rs384,
        SigningAlgorithm::Rs512,
        SigningAlgorithm::Ps256,
        SigningAlgorithm::Ps384,
        SigningAlgorithm::Ps512,
        SigningAlgorithm::Es256,
        SigningAlgorithm::Es384,
        SigningAlgorithm::EdDsa,
    ] {
        assert_eq!(SigningAlgorithm::from_name(alg.name()), Some(alg));
    }
}

// --- the claims ---

#[test]
fn claims_are_checked_one_by_one() {
    let key = TestKey::rsa("k1");
    let jwks = TestKey::jwks(&[&key]);
    let check = |changes: Value| {
        jwks.verify(
            &sign(&*key.signer, Some("k1"), &claims(changes)),
            &expected(),
            at(IAT),
        )
    };

    assert!(check(json!({})).is_ok());
    assert!(check(json!({"aud": ["other", CLIENT_ID]})).is_ok());
    assert!(check(json!({"iat": IAT as f64 + 0.5, "exp": EXP as f64 + 0.5})).is_ok());
    assert!(check(json!({"nbf": IAT + 30})).is_ok());

    let cases = [
        (json!({"iss": "http://127.0.0.1:4011"}), "WrongIssuer"),
        (json!({"iss": null}), "WrongIssuer"),
        (json!({"iss": [ISSUER]}), "WrongIssuer"),
        (json!({"aud": "other"}), "WrongAudience"),
        (json!({"aud": ["other"]}), "WrongAudience"),
        (json!({"aud": null}), "WrongAudience"),
        (json!({"aud": {"0": CLIENT_ID}}), "WrongAudience"),
        (json!({"sub": null}), "Malformed"),
        (json!({"sub": 42}), "Malformed"),
        (json!({"exp": null}), "Malformed"),
        (json!({"exp": "1795858830"}), "Malformed"),
        (json!({"iat": null}), "Malformed"),
        (json!({"nbf": true}), "Malformed"),
        (json!({"exp": IAT - 30}), "Expired"),
        (json!({"iat": IAT + 31}), "NotYetValid"),
        (json!({"nbf": IAT + 31}), "NotYetValid"),
        (json!({"nonce": null}), "NonceMismatch"),
        (json!({"nonce": format!("{NONCE}x")}), "NonceMismatch"),
        (json!({"nonce": &NONCE[1..]}), "NonceMismatch"),
        (json!({"nonce": [NONCE]}), "NonceMismatch"),
    ];
    for (changes, want) in cases {
        let got = check(changes.clone());
        let name = match &got {
            Err(IdTokenError::WrongIssuer) => "WrongIssuer",
            Err(IdTokenError::WrongAudience) => "WrongAudience",
            Err(IdTokenError::Malformed { .. }) => "Malformed",
            Err(IdTokenError::Expired) => "Expired",
            Err(IdTokenError::NotYetValid) => "NotYetValid",
            Err(IdTokenError::NonceMismatch) => "NonceMismatch",
            _ => "other",
        };
        assert_eq!(name, want, "{changes}: {got:?}");
    }
}

#[test]
fn no_nonce_expected_means_the_claim_is_not_looked_at() {
    let key = TestKey::rsa("k1");
    let jwks = TestKey::jwks(&[&key]);
    let token = sign(&*key.signer, Some("k1"), &claims(json!({"nonce": null})));
    let lenient = IdTokenExpectations::new(ISSUER, CLIENT_ID);
    assert!(jwks.verify(&token, &lenient, at(IAT)).is_ok());
    assert!(
        jwks.verify(RECORDED_TOKEN, &lenient, at(IAT)).is_err(),
        "another key set"
    );
}

#[test]
fn an_empty_issuer_or_audience_accepts_nothing() {
    let key = TestKey::rsa("k1");
    let jwks = TestKey::jwks(&[&key]);
    let token = sign(
        &*key.signer,
        Some("k1"),
        &claims(json!({"iss": "", "aud": ""})),
    );
    assert!(matches!(
        jwks.verify(&token, &IdTokenExpectations::new("", CLIENT_ID), at(IAT)),
        Err(IdTokenError::WrongIssuer)
    ));
    assert!(matches!(
        jwks.verify(&token, &IdTokenExpectations::new("", ""), at(IAT)),
        Err(IdTokenError::WrongIssuer)
    ));
    let token = sign(&*key.signer, Some("k1"), &claims(json!({"aud": ""})));
    assert!(matches!(
        jwks.verify(&token, &IdTokenExpectations::new(ISSUER, ""), at(IAT)),
        Err(IdTokenError::WrongAudience)
    ));
}

#[test]
fn profile_claims_are_read_and_email_verified_accepts_strings() {
    let key = TestKey::rsa("k1");
    let jwks = TestKey::jwks(&[&key]);
    let read = |changes: Value| {
        jwks.verify(
            &sign(&*key.signer, Some("k1"), &claims(changes)),
            &expected(),
            at(IAT),
        )
        .unwrap()
    };
    let full = read(json!({
        "email": "alice@example.com", "email_verified": true,
        "name": "Alice", "picture": "https://example.com/a.png", "locale": "fr",
    }));
    assert_eq!(full.email.as_deref(), Some("alice@example.com"));
    assert!(full.email_verified);
    assert_eq!(full.name.as_deref(), Some("Alice"));
    assert_eq!(full.picture.as_deref(), Some("https://example.com/a.png"));
    assert_eq!(full.claims["locale"], "fr");

    for (value, verified) in [
        (json!(true), true),
        (json!("true"), true),
        (json!(false), false),
        (json!("false"), false),
        (json!("TRUE"), false),
        (json!(1), false),
        (Value::Null, false),
    ] {
        assert_eq!(
            read(json!({ "email_verified": value })).email_verified,
            verified,
            "{value}"
        );
    }
    assert_eq!(read(json!({"email": 5, "name": ["A"]})).email, None);
}

// --- key choice and algorithms ---

#[test]
fn a_token_without_kid_tries_every_key_that_fits() {
    let signing = TestKey::rsa("k1");
    let mut other = Jwk::from_map(recorded_key().as_object().unwrap().clone()).unwrap();
    other.set_key_id("other");
    let keys = json!({"keys": [json_of(&other), json_of(&signing.public)]});
    let jwks = Jwks::from_json(keys.to_string().as_bytes()).unwrap();
    assert_eq!(jwks.len(), 2);
    let token = sign(&*signing.signer, None, &claims(json!({})));
    assert!(jwks.verify(&token, &expected(), at(IAT)).is_ok());
}

fn recorded_key() -> Value {
    serde_json::from_str::<Value>(RECORDED_JWKS).unwrap()["keys"][0].clone()
}

#[test]
fn a_key_that_names_another_alg_does_not_fit() {
    let key = TestKey::rsa("k1");
    let mut public = key.public.clone();
    public.set_algorithm("RS512");
    let jwks = Jwks::from_json(json!({"keys": [json_of(&public)]}).to_string().as_bytes()).unwrap();
    let token = sign(&*key.signer, Some("k1"), &claims(json!({})));
    assert!(matches!(
        jwks.verify(&token, &expected(), at(IAT)),
        Err(IdTokenError::UnknownKey { kid: Some(kid) }) if kid == "k1"
    ));
}

#[test]
fn ec_okp_and_pss_signatures_verify() {
    let p256 = jws::ES256.generate_key_pair().unwrap();
    let p384 = jws::ES384.generate_key_pair().unwrap();
    let ed = jws::EdDSA.generate_key_pair(EdCurve::Ed25519).unwrap();
    let rsa = TestKey::rsa("rsa");
    let public = |mut jwk: Jwk, kid: &str| {
        jwk.set_key_id(kid);
        json_of(&jwk)
    };
    let jwks = Jwks::from_json(
        json!({"keys": [
            public(p256.to_jwk_public_key(), "p256"),
            public(p384.to_jwk_public_key(), "p384"),
            public(ed.to_jwk_public_key(), "ed"),
            json_of(&without_alg(&rsa.public)),
        ]})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(jwks.len(), 4);
    let all = [
        SigningAlgorithm::Es256,
        SigningAlgorithm::Es384,
        SigningAlgorithm::EdDsa,
        SigningAlgorithm::Ps256,
    ];
    let signers: Vec<(Box<dyn JwsSigner>, &str)> = vec![
        (
            Box::new(
                jws::ES256
                    .signer_from_jwk(&p256.to_jwk_private_key())
                    .unwrap(),
            ),
            "p256",
        ),
        (
            Box::new(
                jws::ES384
                    .signer_from_jwk(&p384.to_jwk_private_key())
                    .unwrap(),
            ),
            "p384",
        ),
        (
            Box::new(
                jws::EdDSA
                    .signer_from_jwk(&ed.to_jwk_private_key())
                    .unwrap(),
            ),
            "ed",
        ),
        (
            Box::new(
                jws::PS256
                    .signer_from_jwk(&without_alg(&TestKey::rsa_pair().to_jwk_private_key()))
                    .unwrap(),
            ),
            "rsa",
        ),
    ];
    for (signer, kid) in &signers {
        let token = sign(&**signer, Some(kid), &claims(json!({})));
        let result = jwks.verify(&token, &expected().algorithms(&all), at(IAT));
        assert!(result.is_ok(), "{kid}: {result:?}");
        // The same token is refused when its algorithm is not allowed.
        assert!(matches!(
            jwks.verify(&token, &expected(), at(IAT)),
            Err(IdTokenError::DisallowedAlgorithm { .. })
        ));
    }
}

#[test]
fn a_key_keeps_one_verifier_per_algorithm() {
    // An RSA key without `alg` serves RS256 and PS256: the verifier built
    // for one algorithm is kept for it and never used for the other.
    let pair = TestKey::rsa_pair();
    let mut public = without_alg(&pair.to_jwk_public_key());
    public.set_key_id("rsa");
    let jwks = Jwks::from_json(json!({"keys": [json_of(&public)]}).to_string().as_bytes()).unwrap();
    let private = without_alg(&pair.to_jwk_private_key());
    let rs256 = jws::RS256.signer_from_jwk(&private).unwrap();
    let ps256 = jws::PS256.signer_from_jwk(&private).unwrap();
    let allowed = [SigningAlgorithm::Rs256, SigningAlgorithm::Ps256];
    let tokens = [
        sign(&rs256, Some("rsa"), &claims(json!({}))),
        sign(&ps256, Some("rsa"), &claims(json!({}))),
    ];
    for round in 0..2 {
        for token in &tokens {
            let result = jwks.verify(token, &expected().algorithms(&allowed), at(IAT));
            assert!(result.is_ok(), "round {round}: {result:?}");
        }
    }
    // A PS256 signature under an RS256 header is still refused.
    let parts: Vec<&str> = tokens[0].split('.').collect();
    let pss_signature = tokens[1].rsplit('.').next().unwrap();
    let swapped = format!("{}.{}.{pss_signature}", parts[0], parts[1]);
    assert!(matches!(
        jwks.verify(&swapped, &expected().algorithms(&allowed), at(IAT)),
        Err(IdTokenError::BadSignature)
    ));
}

impl TestKey {
    fn rsa_pair() -> &'static josekit::jwk::alg::rsa::RsaKeyPair {
        static PAIR: OnceLock<josekit::jwk::alg::rsa::RsaKeyPair> = OnceLock::new();
        PAIR.get_or_init(|| jws::RS256.generate_key_pair(2048).unwrap())
    }
}

// --- reading key sets ---

#[test]
fn keys_that_cannot_verify_are_skipped_not_fatal() {
    let good = recorded_key();
    let with = |changes: Value| {
        let mut key = good.clone();
        for (name, value) in changes.as_object().unwrap() {
            match value {
                Value::Null => key.as_object_mut().unwrap().remove(name),
                v => key.as_object_mut().unwrap().insert(name.clone(), v.clone()),
            };
        }
        key
    };
    let skipped = [
        with(json!({"use": "enc"})),
        with(json!({"use": 1})),
        with(json!({"key_ops": ["encrypt"]})),
        with(json!({"kty": "oct", "k": "c2VjcmV0"})),
        with(json!({"kty": "RSA-PSS"})),
        with(json!({"kty": null})),
        with(json!({"alg": "HS256"})),
        with(json!({"alg": "ES256"})),
        with(json!({"alg": "RSA-OAEP-256"})),
        with(json!({"d": "AQAB"})),
        with(json!({"n": "AQAB"})),           // 17 bits
        with(json!({"n": "A".repeat(1400)})), // beyond 8192 bits
        with(json!({"n": null})),
        with(json!({"kid": 7})),
        json!({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"}),
        json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}),
        json!({"kty": "OKP", "crv": "X25519", "x": "AA"}),
        json!({"kty": "OKP", "crv": "Ed448", "x": "AA"}),
        json!("a string"),
        json!(null),
    ];
    let mut keys = skipped.to_vec();
    keys.push(with(json!({"key_ops": ["verify"]})));
    keys.push(with(json!({"use": null, "alg": null, "kid": "second"})));
    let jwks = Jwks::from_json(json!({ "keys": keys }).to_string().as_bytes()).unwrap();
    assert_eq!(jwks.len(), 2);
    assert_eq!(
        jwks.key_ids().collect::<Vec<_>>(),
        ["keystore-CHANGE-ME", "second"]
    );
    assert!(jwks.verify(RECORDED_TOKEN, &expected(), at(IAT)).is_ok());
}

#[test]
fn key_set_documents_are_capped_and_must_be_sets() {
    assert!(matches!(
        Jwks::from_json(b"not json"),
        Err(JwksError::Json(_))
    ));
    assert!(matches!(Jwks::from_json(b"[]"), Err(JwksError::NotAKeySet)));
    assert!(matches!(
        Jwks::from_json(br#"{"keys": {}}"#),
        Err(JwksError::NotAKeySet)
    ));
    assert!(Jwks::from_json(br#"{"keys": []}"#).unwrap().is_empty());

    let many = json!({ "keys": vec![json!({}); MAX_JWKS_KEYS + 1] }).to_string();
    assert!(matches!(
        Jwks::from_json(many.as_bytes()),
        Err(JwksError::TooManyKeys {
            limit: MAX_JWKS_KEYS
        })
    ));
    let at_cap = json!({ "keys": vec![recorded_key(); MAX_JWKS_KEYS] }).to_string();
    assert_eq!(
        Jwks::from_json(at_cap.as_bytes()).unwrap().len(),
        MAX_JWKS_KEYS
    );

    let padded = format!(r#"{{"keys": [], "pad": "{}"}}"#, "x".repeat(MAX_JWKS_BYTES));
    assert!(matches!(
        Jwks::from_json(padded.as_bytes()),
        Err(JwksError::TooLarge {
            limit: MAX_JWKS_BYTES
        })
    ));
}

// --- the cache ---

/// Serves canned responses in order, the last one forever, and counts
/// requests.
struct Canned {
    responses: Mutex<Vec<(StatusCode, String)>>,
    calls: AtomicUsize,
}

impl Canned {
    fn new(responses: &[(StatusCode, &str)]) -> Self {
        Canned {
            responses: Mutex::new(
                responses
                    .iter()
                    .map(|(s, b)| (*s, (*b).to_owned()))
                    .collect(),
            ),
            calls: AtomicUsize::new(0),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl HttpClient for Canned {
    async fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpClientError> {
        assert_eq!(request.uri(), JWKS_URI);
        assert_eq!(request.headers()[http::header::ACCEPT], "application/json");
        self.calls.fetch_add(1, Ordering::SeqCst);
        let (status, body) = {
            let mut responses = self.responses.lock().unwrap();
            match responses.len() {
                1 => responses[0].clone(),
                _ => responses.remove(0),
            }
        };
        tokio::task::yield_now().await;
        let mut response = Response::new(Bytes::from(body));
        *response.status_mut() = status;
        Ok(response)
    }
}

async fn verify(
    cache: &JwksCache,
    client: &Canned,
    token: &str,
    now: Timestamp,
) -> Result<IdTokenClaims, IdTokenError> {
    verify_id_token(cache, client, JWKS_URI, token, &expected(), now).await
}

#[tokio::test]
async fn the_set_is_fetched_once_then_again_when_older_than_the_max_age() {
    let client = Canned::new(&[(StatusCode::OK, RECORDED_JWKS)]);
    let cache = JwksCache::new().with_max_age(Duration::from_secs(60));
    let now = at(IAT);
    verify(&cache, &client, RECORDED_TOKEN, now).await.unwrap();
    verify(&cache, &client, RECORDED_TOKEN, now.plus_secs(59))
        .await
        .unwrap();
    assert_eq!(client.calls(), 1);
    verify(&cache, &client, RECORDED_TOKEN, now.plus_secs(60))
        .await
        .unwrap();
    assert_eq!(client.calls(), 2);
    // Instants a little out of order (concurrent requests) use the set;
    verify(&cache, &client, RECORDED_TOKEN, now.plus_secs(1))
        .await
        .unwrap();
    assert_eq!(client.calls(), 2);
    // a clock set back by the max age or more refreshes it.
    verify(&cache, &client, RECORDED_TOKEN, now.plus_secs(-1))
        .await
        .unwrap();
    assert_eq!(client.calls(), 3);
}

#[tokio::test]
async fn tokens_refused_on_their_own_never_cause_a_fetch() {
    let client = Canned::new(&[(StatusCode::OK, RECORDED_JWKS)]);
    let cache = JwksCache::new();
    let none = unsigned(&json!({"alg": "none"}), &claims(json!({})));
    for token in ["garbage", none.as_str()] {
        assert!(verify(&cache, &client, token, at(IAT)).await.is_err());
    }
    assert_eq!(client.calls(), 0);
}

#[tokio::test]
async fn fetch_failures_are_reported_with_their_cause() {
    let cache = JwksCache::new();
    let cases: [(StatusCode, &str); 3] = [
        (StatusCode::SERVICE_UNAVAILABLE, "{}"),
        (StatusCode::OK, "<html>"),
        (StatusCode::OK, r#"{"keys": 5}"#),
    ];
    for (status, body) in cases {
        let client = Canned::new(&[(status, body)]);
        let result = verify(&cache, &client, RECORDED_TOKEN, at(IAT)).await;
        let Err(IdTokenError::JwksFetch(cause)) = result else {
            panic!("{status} {body}: {result:?}");
        };
        match (status.as_u16(), cause) {
            (503, JwksFetchError::Status { status: 503 }) => {}
            (200, JwksFetchError::Invalid(_)) => {}
            (_, cause) => panic!("{status} {body}: {cause:?}"),
        }
    }
    let bad_uri = verify_id_token(
        &cache,
        &Canned::new(&[]),
        "not a uri",
        RECORDED_TOKEN,
        &expected(),
        at(IAT),
    )
    .await;
    assert!(matches!(
        bad_uri,
        Err(IdTokenError::JwksFetch(JwksFetchError::InvalidUri(_)))
    ));
}

#[tokio::test]
async fn a_failed_refetch_also_starts_the_interval() {
    let client = Canned::new(&[
        (StatusCode::OK, RECORDED_JWKS),
        (StatusCode::BAD_GATEWAY, ""),
    ]);
    let cache = JwksCache::new();
    verify(&cache, &client, RECORDED_TOKEN, at(IAT))
        .await
        .unwrap();
    let unknown = unsigned(
        &json!({"alg": "RS256", "kid": "rotated"}),
        &claims(json!({})),
    );
    let result = verify(&cache, &client, &unknown, at(IAT + 31)).await;
    assert!(matches!(
        result,
        Err(IdTokenError::JwksFetch(JwksFetchError::Status {
            status: 502
        }))
    ));
    assert_eq!(client.calls(), 2);
    let result = verify(&cache, &client, &unknown, at(IAT + 32)).await;
    assert!(
        matches!(result, Err(IdTokenError::UnknownKey { .. })),
        "{result:?}"
    );
    assert_eq!(client.calls(), 2, "no second refetch within the interval");
    // The set held is still used for the keys it has.
    verify(&cache, &client, RECORDED_TOKEN, at(IAT + 32))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_instant_slightly_before_the_last_refetch_is_within_the_interval() {
    // Concurrent verifications may pass their `now`s out of order.
    let client = Canned::new(&[(StatusCode::OK, RECORDED_JWKS)]);
    let cache = JwksCache::new();
    verify(&cache, &client, RECORDED_TOKEN, at(IAT))
        .await
        .unwrap();
    let unknown = unsigned(
        &json!({"alg": "RS256", "kid": "rotated"}),
        &claims(json!({})),
    );
    assert!(verify(&cache, &client, &unknown, at(IAT + 40))
        .await
        .is_err());
    assert_eq!(client.calls(), 2);
    assert!(verify(&cache, &client, &unknown, at(IAT + 35))
        .await
        .is_err());
    assert_eq!(client.calls(), 2);
}

#[tokio::test]
async fn an_inserted_set_is_used_without_fetching() {
    let client = Canned::new(&[(StatusCode::NOT_FOUND, "")]);
    let cache = JwksCache::new();
    cache.insert(JWKS_URI, recorded(), at(IAT));
    verify(&cache, &client, RECORDED_TOKEN, at(IAT))
        .await
        .unwrap();
    assert_eq!(
        cache
            .key_set(&client, JWKS_URI, at(IAT))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(client.calls(), 0);
}

// --- no panics ---

proptest::proptest! {
    #[test]
    fn verification_never_panics_on_any_string(token in ".{0,300}") {
        let _ = recorded().verify(&token, &expected(), at(IAT));
    }

    #[test]
    fn verification_never_panics_on_three_base64_parts(
        header in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
        payload in proptest::collection::vec(proptest::num::u8::ANY, 0..128),
        signature in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
        alg in proptest::sample::select(vec!["RS256", "ES256", "EdDSA", "PS512", "none", "HS256"]),
        use_header in proptest::bool::ANY,
    ) {
        let header = match use_header {
            true => json!({"alg": alg, "kid": "keystore-CHANGE-ME"}).to_string().into_bytes(),
            false => header,
        };
        let token = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(signature),
        );
        let every = [
            SigningAlgorithm::Rs256, SigningAlgorithm::Es256, SigningAlgorithm::EdDsa, SigningAlgorithm::Ps512,
        ];
        let result = recorded().verify(&token, &expected().algorithms(&every), at(IAT));
        proptest::prop_assert!(result.is_err());
    }

    #[test]
    fn the_async_verifier_never_panics_and_agrees_with_the_key_set(token in ".{0,200}") {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let client = Canned::new(&[(StatusCode::OK, RECORDED_JWKS)]);
        let cache = JwksCache::new();
        let fetched = runtime.block_on(verify(&cache, &client, &token, at(IAT)));
        let direct = recorded().verify(&token, &expected(), at(IAT));
        proptest::prop_assert_eq!(
            std::mem::discriminant(&fetched.unwrap_err()),
            std::mem::discriminant(&direct.unwrap_err())
        );
    }
}

/// Guards against a test helper that signs nothing: the forged-token tests
/// above rely on `sign` producing tokens that verify.
#[test]
fn the_test_signer_signs() {
    let key = TestKey::rsa("k1");
    let token = sign(&*key.signer, Some("k1"), &claims(json!({})));
    assert!(TestKey::jwks(&[&key])
        .verify(&token, &expected(), at(IAT))
        .is_ok());
}
