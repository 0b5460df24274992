//! Cookie-cache codecs: encode and decode per strategy with a realistic
//! (~1 KB) payload, next to the bare primitive work on the same bytes —
//! josekit's decryption for `jwe`, HMAC-SHA256 plus a JSON parse for
//! `compact` and `jwt` — so the kernel's overhead shows as a ratio.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use tessera::cache::{CacheStrategy, SessionCache, DEFAULT_MEMO_BYTES, SESSION_SALT};
use tessera::store::{Session, User};
use tessera::{Secrets, Timestamp};

const SECRET: &str = "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
const NOW: i64 = 1_795_852_689_612;

/// A ready HMAC-SHA256 keyed with the secret: the bare work of a signature.
fn bare_hmac() -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length")
}

/// better-auth's JWE content key (HKDF-SHA256, spec §2.5), derived here so
/// the bare decryption needs nothing of the kernel's.
fn bare_jwe_key() -> [u8; 64] {
    let mut key = [0u8; 64];
    Hkdf::<Sha256>::new(Some(SESSION_SALT.as_bytes()), SECRET.as_bytes())
        .expand(b"BetterAuth.js Generated Encryption Key", &mut key)
        .expect("64 bytes is a valid HKDF-SHA256 output length");
    key
}

fn extra(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// A session and user whose cache payload is about 1 KB of JSON.
fn sample() -> (Session, User) {
    let t = Timestamp::from_millis(NOW);
    let user = User {
        name: "Alice Example-Longname".into(),
        email: "alice.example@example-company.com".into(),
        email_verified: true,
        image: Some(
            "https://avatars.example-cdn.com/u/NfNBOHsrnVnTLzMZ5Kasx7pKvWKBrh5K.png?s=256".into(),
        ),
        created_at: t,
        updated_at: t,
        id: "NfNBOHsrnVnTLzMZ5Kasx7pKvWKBrh5K".into(),
        extra: extra(&[
            ("role", json!("admin")),
            ("locale", json!("en-GB")),
            ("timezone", json!("Europe/London")),
            ("plan", json!("enterprise")),
            ("orgId", json!("org_2fG7hJk9LmN3pQr5StUv")),
        ]),
    };
    let session = Session {
        expires_at: t.plus_secs(604_800),
        token: "RlEyFs9WLbxFF2i7ZuN50aoLtIlMSlgA".into(),
        created_at: t,
        updated_at: t,
        ip_address: Some("2001:0db8:85a3:0000:0000:0000:0000:0000".into()),
        user_agent: Some(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
                .into(),
        ),
        user_id: user.id.clone(),
        id: "nRG3mAglDa4n076nGog6xIlXSAqtyash".into(),
        extra: extra(&[("activeOrganizationId", json!("org_2fG7hJk9LmN3pQr5StUv"))]),
    };
    (session, user)
}

fn codecs(c: &mut Criterion) {
    let secrets = Secrets::single(SECRET);
    let hmac = bare_hmac();
    let (session, user) = sample();
    let now = Timestamp::from_millis(NOW);
    for strategy in [
        CacheStrategy::Compact,
        CacheStrategy::Jwt,
        CacheStrategy::Jwe,
    ] {
        // Memo off: `decode` opens the value every time, as on a first
        // sight; `decode_remembered` is the memo's hit.
        let cache = SessionCache::new(strategy, &secrets, 300, Default::default(), None).unwrap();
        let remembered = cache.clone().with_memo_bytes(DEFAULT_MEMO_BYTES);
        let value = cache.encode(&session, &user, "1", now, Some(300));
        let payload_len = serde_json::to_vec(&json!({"session": &session, "user": &user}))
            .unwrap()
            .len();
        eprintln!(
            "{strategy}: payload {payload_len} B, cookie value {} B",
            value.len()
        );
        let mut group = c.benchmark_group(format!("cache/{strategy}"));
        group.bench_function("encode", |b| {
            b.iter(|| black_box(cache.encode(&session, &user, "1", now, Some(300))))
        });
        group.bench_function("decode", |b| {
            b.iter(|| black_box(cache.decode(black_box(&value), now).unwrap()))
        });
        group.bench_function("decode_remembered", |b| {
            b.iter(|| black_box(remembered.decode(black_box(&value), now).unwrap()))
        });
        match strategy {
            CacheStrategy::Compact => {
                // The same bytes: the decoded JSON, parsed; the signing input, MACed.
                let outer = URL_SAFE_NO_PAD.decode(&value).unwrap();
                let parsed: Value = serde_json::from_slice(&outer).unwrap();
                let mut signed = parsed["session"].as_object().unwrap().clone();
                signed.insert("expiresAt".into(), parsed["expiresAt"].clone());
                let input = serde_json::to_vec(&signed).unwrap();
                group.bench_function("bare_hmac_sha256_plus_json_parse", |b| {
                    b.iter(|| {
                        let v: Value = serde_json::from_slice(black_box(&outer)).unwrap();
                        let mut mac = hmac.clone();
                        mac.update(black_box(&input));
                        black_box((v, mac.finalize()))
                    })
                });
            }
            CacheStrategy::Jwt => {
                let (input, _) = value.rsplit_once('.').unwrap();
                let claims = URL_SAFE_NO_PAD
                    .decode(input.split_once('.').unwrap().1)
                    .unwrap();
                group.bench_function("bare_hmac_sha256_plus_json_parse", |b| {
                    b.iter(|| {
                        let v: Value = serde_json::from_slice(black_box(&claims)).unwrap();
                        let mut mac = hmac.clone();
                        mac.update(black_box(input.as_bytes()));
                        black_box((v, mac.finalize()))
                    })
                });
            }
            CacheStrategy::Jwe => {
                let key = bare_jwe_key();
                let decrypter = josekit::jwe::Dir.decrypter_from_bytes(key).unwrap();
                group.bench_function("bare_josekit_decrypt", |b| {
                    b.iter(|| {
                        black_box(
                            josekit::jwe::deserialize_compact(black_box(&value), &decrypter)
                                .unwrap(),
                        )
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, codecs);
criterion_main!(benches);
