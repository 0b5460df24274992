//! `tessera inspect` against cookies the kernel makes, and against the
//! cookies better-auth 1.7.25 itself made (the shared vectors).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use tessera::cache::{CachePayload, CacheStrategy, SessionCache};
use tessera::cookie::{sign_value, AuthCookies, CookieJar, CookieOptions, RequestCookies};
use tessera::oauth::{AccountCookie, Purpose, StateCipher, StateCookieError, StateData};
use tessera::store::{Account, Session, User};
use tessera::{Auth, Options, Secrets, Timestamp};
use tessera_testkit::{encode_uri_component, send_auth, ClientCookies, TestRequest};

use super::render::{render_json, render_text, OAuthSecrets};
use super::*;

const SECRET: &str = "inspect-test-secret-0123456789-abcdefghijklmnop";
const OTHER_SECRET: &str = "another-secret-entirely-9876543210-zyxwvutsrqpo";
const TOKEN: &str = "Dq126CZaWZeVbN8dleAGBHLINk38aYUc";
/// 2026-11-28T08:00:00Z.
const NOW: Timestamp = Timestamp::from_millis(1_795_852_800_000);
const ALL: [CacheStrategy; 3] = [
    CacheStrategy::Compact,
    CacheStrategy::Jwt,
    CacheStrategy::Jwe,
];

fn secrets() -> Secrets {
    Secrets::single(SECRET)
}

fn session_and_user(token: &str) -> (Session, User) {
    let session = Session {
        expires_at: NOW.plus_secs(604_800),
        token: token.to_owned(),
        created_at: NOW,
        updated_at: NOW,
        ip_address: Some("127.0.0.1".to_owned()),
        user_agent: Some(String::new()),
        user_id: "U1".to_owned(),
        id: "S1".to_owned(),
        extra: Map::new(),
    };
    let user = User {
        name: "Alice".to_owned(),
        email: "alice@example.com".to_owned(),
        email_verified: false,
        image: None,
        created_at: NOW,
        updated_at: NOW,
        id: "U1".to_owned(),
        extra: Map::new(),
    };
    (session, user)
}

/// A `session_data` value for `user`'s session with `token`, written at `at`.
fn cache_value(
    strategy: CacheStrategy,
    secrets: &Secrets,
    token: &str,
    at: Timestamp,
    max_age: u64,
) -> String {
    let (session, user) = session_and_user(token);
    encode(strategy, secrets, &session, &user, at, max_age)
}

fn encode(
    strategy: CacheStrategy,
    secrets: &Secrets,
    session: &Session,
    user: &User,
    at: Timestamp,
    max_age: u64,
) -> String {
    let payload = CachePayload {
        session,
        user,
        updated_at: at.as_millis(),
        version: "1",
    };
    SessionCache::codec_for(strategy, secrets)
        .unwrap()
        .encode(&payload, at, Some(max_age))
}

/// A signed `session_token` value as a `Set-Cookie` carries it (encoded).
fn signed(secrets: &Secrets, value: &str) -> String {
    encode_uri_component(&sign_value(secrets, value))
}

fn header(secrets: &Secrets, strategy: CacheStrategy) -> String {
    format!(
        "theme=dark; better-auth.session_token={}; better-auth.session_data={}",
        signed(secrets, TOKEN),
        cache_value(strategy, secrets, TOKEN, NOW, 300)
    )
}

fn only<'r>(report: &'r Report, name: &str) -> &'r CookieReport {
    let found: Vec<_> = report.cookies.iter().filter(|c| c.name == name).collect();
    assert_eq!(found.len(), 1, "{name} in {report:#?}");
    found[0]
}

fn signed_check<'r>(report: &'r Report, name: &str) -> &'r SignedCheck {
    match &only(report, name).check {
        Check::Signed(check) => check,
        other => panic!("{name} is not a signed check: {other:#?}"),
    }
}

fn cache_check<'r>(report: &'r Report, name: &str) -> &'r CacheCheck {
    match &only(report, name).check {
        Check::Cache(check) => check,
        other => panic!("{name} is not a cache check: {other:#?}"),
    }
}

fn decoded<'r>(report: &'r Report, name: &str) -> &'r DecodedCache {
    match &cache_check(report, name).result {
        Ok(decoded) => decoded,
        Err(err) => panic!("{name} did not decode: {err}"),
    }
}

const CURRENT: SecretLabel = SecretLabel {
    version: None,
    current: true,
};

#[test]
fn valid_token_and_cache_decode_with_each_strategy() {
    let s = secrets();
    for strategy in ALL {
        let report = inspect(&header(&s, strategy), &s, NOW);
        assert!(report.any_verified());
        assert_eq!(report.secrets, [CURRENT]);
        let token = signed_check(&report, "better-auth.session_token");
        assert_eq!(token.result, Ok(CURRENT));
        assert_eq!(token.payload.as_deref(), Some(TOKEN));
        assert!(token.notes.is_empty(), "{:?}", token.notes);
        let check = cache_check(&report, "better-auth.session_data");
        assert_eq!(check.chunks, 0);
        assert_eq!(
            check.token,
            Some(TokenCheck::Matches {
                cookie: "better-auth.session_token".to_owned()
            })
        );
        let d = decoded(&report, "better-auth.session_data");
        assert_eq!(d.strategy, strategy);
        assert_eq!(d.secret, Some(CURRENT));
        assert!(!d.expired && !d.session_expired, "{strategy}");
        assert_eq!(d.cached.version, "1");
        assert_eq!(d.cached.updated_at, NOW.as_millis());
        assert_eq!(d.cached.data.user.email, "alice@example.com");
        assert_eq!(only(&report, "theme").kind, Kind::Ignored);
    }
}

#[test]
fn expired_cache_is_reported_with_its_content() {
    let s = secrets();
    let written = NOW.plus_secs(-3600);
    for strategy in ALL {
        let value = cache_value(strategy, &s, TOKEN, written, 300);
        let report = inspect(&format!("better-auth.session_data={value}"), &s, NOW);
        let d = decoded(&report, "better-auth.session_data");
        assert_eq!(d.strategy, strategy);
        assert!(d.expired, "{strategy}");
        assert!(!d.session_expired, "{strategy}");
        assert_eq!(d.cached.data.session.token, TOKEN);
        assert_eq!(d.cached.updated_at, written.as_millis());
        // Authentic, if stale: it still counts as decoded.
        assert!(report.any_verified());
        let text = render_text(&report, OAuthSecrets::Redacted);
        assert!(text.contains("expired:   YES"), "{text}");
        assert!(text.contains("alice@example.com"), "{text}");
        let json: Value =
            serde_json::from_str(&render_json(&report, OAuthSecrets::Redacted)).unwrap();
        assert_eq!(json[0]["expired"], true);
        assert_eq!(json[0]["valid"], true);
    }
}

#[test]
fn tampered_token_is_invalid_and_not_compared() {
    let s = secrets();
    let tampered = signed(&s, TOKEN).replacen('D', "E", 1);
    let h = format!(
        "better-auth.session_token={tampered}; better-auth.session_data={}",
        cache_value(CacheStrategy::Jwe, &s, TOKEN, NOW, 300)
    );
    let report = inspect(&h, &s, NOW);
    let token = signed_check(&report, "better-auth.session_token");
    assert_eq!(token.result, Err(SignedError::BadSignature));
    assert_eq!(
        token.payload.as_deref(),
        Some("Eq126CZaWZeVbN8dleAGBHLINk38aYUc")
    );
    // The cache still decodes, but there is no verified token to hold it to.
    assert_eq!(cache_check(&report, "better-auth.session_data").token, None);
    let text = render_text(&report, OAuthSecrets::Redacted);
    assert!(text.contains("signature: invalid"), "{text}");
    assert!(text.contains("(unverified)"), "{text}");
    assert!(text.contains("token not compared"), "{text}");
}

#[test]
fn tampered_cache_is_refused_by_its_strategy() {
    let s = secrets();
    for strategy in ALL {
        let value = cache_value(strategy, &s, TOKEN, NOW, 300);
        let tampered = match strategy {
            // Same shape, another user name: the HMAC no longer matches.
            CacheStrategy::Compact => {
                let json = String::from_utf8(URL_SAFE_NO_PAD.decode(&value).unwrap()).unwrap();
                URL_SAFE_NO_PAD.encode(json.replace("Alice", "Mallory"))
            }
            // One character of the payload (jwt) or ciphertext (jwe).
            _ => {
                let parts: Vec<&str> = value.split('.').collect();
                let target = parts.len() - 2;
                let mut parts: Vec<String> = parts.into_iter().map(str::to_owned).collect();
                let mid = parts[target].len() / 2;
                let c = parts[target].as_bytes()[mid];
                let flipped = if c == b'A' { "B" } else { "A" };
                parts[target].replace_range(mid..=mid, flipped);
                parts.join(".")
            }
        };
        let h = format!(
            "better-auth.session_token={}; better-auth.session_data={tampered}",
            signed(&s, TOKEN)
        );
        let report = inspect(&h, &s, NOW);
        let check = cache_check(&report, "better-auth.session_data");
        let err = check.result.as_ref().unwrap_err();
        assert!(err.recognised(), "{strategy}: {err}");
        assert!(
            err.to_string()
                .starts_with(&format!("{strategy}: cookie cache signature")),
            "{strategy}: {err}"
        );
        // The token still verifies, so the inspection succeeds overall.
        assert!(report.any_verified());
    }
}

#[test]
fn wrong_secret_verifies_nothing() {
    let theirs = Secrets::single(OTHER_SECRET);
    let ours = secrets();
    for strategy in ALL {
        let report = inspect(&header(&theirs, strategy), &ours, NOW);
        assert!(!report.any_verified(), "{strategy}");
        let token = signed_check(&report, "better-auth.session_token");
        assert_eq!(token.result, Err(SignedError::BadSignature));
        let err = cache_check(&report, "better-auth.session_data")
            .result
            .as_ref()
            .unwrap_err();
        let expected = match strategy {
            CacheStrategy::Jwe => "jwe: cookie cache key id matches no configured secret",
            _ => "cookie cache signature or tag does not verify",
        };
        assert!(err.to_string().contains(expected), "{strategy}: {err}");
    }
}

#[test]
fn rotated_secrets_tell_which_version_verified() {
    let old = Secrets::single(OTHER_SECRET);
    let rotated = Secrets::versioned(
        vec![(2, SECRET.to_owned()), (1, OTHER_SECRET.to_owned())],
        None,
    )
    .unwrap();
    let v1 = SecretLabel {
        version: Some(1),
        current: false,
    };
    let v2 = SecretLabel {
        version: Some(2),
        current: true,
    };
    for strategy in [CacheStrategy::Jwe, CacheStrategy::Compact] {
        let report = inspect(&header(&old, strategy), &rotated, NOW);
        assert_eq!(report.secrets, [v2, v1]);
        let token = signed_check(&report, "better-auth.session_token");
        assert_eq!(token.result, Ok(v1));
        // better-auth signs and verifies HMACs with the current secret only.
        assert_eq!(token.notes, [ONLY_CURRENT_SECRET]);
        let check = cache_check(&report, "better-auth.session_data");
        let d = decoded(&report, "better-auth.session_data");
        assert_eq!((d.strategy, d.secret), (strategy, Some(v1)));
        match strategy {
            // A JWE decrypts with any version, in better-auth too.
            CacheStrategy::Jwe => assert!(check.notes.is_empty(), "{:?}", check.notes),
            _ => assert_eq!(check.notes, [ONLY_CURRENT_SECRET]),
        }
        let text = render_text(&report, OAuthSecrets::Redacted);
        assert!(
            text.contains("secrets: secret version 2, current; secret version 1, not current"),
            "{text}"
        );
        assert!(
            text.contains("signature: valid (secret version 1, not current)"),
            "{text}"
        );
    }
    // The legacy single secret, kept beside versioned ones.
    let with_legacy =
        Secrets::versioned(vec![(2, SECRET.to_owned())], Some(OTHER_SECRET.to_owned())).unwrap();
    let report = inspect(&header(&old, CacheStrategy::Jwe), &with_legacy, NOW);
    let legacy = SecretLabel {
        version: None,
        current: false,
    };
    assert_eq!(
        signed_check(&report, "better-auth.session_token").result,
        Ok(legacy)
    );
    assert!(render_text(&report, OAuthSecrets::Redacted).contains("(legacy secret)"));
}

#[test]
fn chunked_session_data_is_reassembled() {
    let s = secrets();
    let (session, mut user) = session_and_user(TOKEN);
    user.extra.insert("bio".to_owned(), json!("x".repeat(9000)));
    for strategy in ALL {
        let value = encode(strategy, &s, &session, &user, NOW, 300);
        let def = AuthCookies::new(&CookieOptions::default(), false, 604_800, 300).session_data;
        let mut jar = CookieJar::new();
        jar.set_chunked(&def, &value, &RequestCookies::default());
        let mut pairs: Vec<String> = jar
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        assert!(pairs.len() >= 3, "{strategy}: {} chunks", pairs.len());
        // Any order: chunks are sorted by their number.
        pairs.reverse();
        pairs.push(format!("better-auth.session_token={}", signed(&s, TOKEN)));
        let report = inspect(&pairs.join("; "), &s, NOW);
        let check = cache_check(&report, "better-auth.session_data");
        assert_eq!(check.chunks, jar.iter().count(), "{strategy}");
        let d = decoded(&report, "better-auth.session_data");
        assert_eq!(d.strategy, strategy);
        assert_eq!(
            d.cached.data.user.extra["bio"].as_str().unwrap().len(),
            9000
        );
        assert!(matches!(check.token, Some(TokenCheck::Matches { .. })));
        // One section for all the chunks.
        assert_eq!(report.cookies.len(), 2);
        assert!(
            render_text(&report, OAuthSecrets::Redacted).contains(&format!(
                "better-auth.session_data ({} chunks)",
                check.chunks
            ))
        );
    }
}

#[test]
fn secure_prefixed_names_are_recognised_and_paired() {
    let s = secrets();
    let h = format!(
        "__Secure-better-auth.session_data={}; __Secure-better-auth.session_token={}",
        cache_value(CacheStrategy::Jwt, &s, TOKEN, NOW, 300),
        signed(&s, TOKEN)
    );
    let report = inspect(&h, &s, NOW);
    assert_eq!(
        only(&report, "__Secure-better-auth.session_token").kind,
        Kind::SessionToken
    );
    assert_eq!(
        cache_check(&report, "__Secure-better-auth.session_data").token,
        Some(TokenCheck::Matches {
            cookie: "__Secure-better-auth.session_token".to_owned()
        })
    );
    // A cache is held to the token of its own prefix only.
    let h = format!(
        "__Secure-better-auth.session_data={}; better-auth.session_token={}",
        cache_value(CacheStrategy::Jwt, &s, TOKEN, NOW, 300),
        signed(&s, TOKEN)
    );
    let report = inspect(&h, &s, NOW);
    assert_eq!(
        cache_check(&report, "__Secure-better-auth.session_data").token,
        None
    );
}

#[test]
fn token_mismatch_is_flagged() {
    let s = secrets();
    let h = format!(
        "better-auth.session_token={}; better-auth.session_data={}",
        signed(&s, TOKEN),
        cache_value(
            CacheStrategy::Compact,
            &s,
            "SomeOtherToken000000000000000000",
            NOW,
            300
        )
    );
    let report = inspect(&h, &s, NOW);
    assert_eq!(
        cache_check(&report, "better-auth.session_data").token,
        Some(TokenCheck::Mismatch {
            cookie: "better-auth.session_token".to_owned()
        })
    );
    let text = render_text(&report, OAuthSecrets::Redacted);
    assert!(text.contains("token MISMATCH"), "{text}");
    let json: Value = serde_json::from_str(&render_json(&report, OAuthSecrets::Redacted)).unwrap();
    assert_eq!(json[1]["tokenMatches"], false);
}

#[test]
fn bare_values_are_tried_as_signed_then_as_a_cache() {
    let s = secrets();
    // Signed, raw or percent-encoded as copied from a browser.
    for value in [sign_value(&s, TOKEN), signed(&s, TOKEN)] {
        let report = inspect(&value, &s, NOW);
        let c = only(&report, BARE_VALUE_NAME);
        assert_eq!(c.kind, Kind::SignedValue);
        assert!(c.verified());
    }
    for strategy in ALL {
        let value = cache_value(strategy, &s, TOKEN, NOW, 300);
        let report = inspect(&format!("  {value}\n"), &s, NOW);
        assert_eq!(only(&report, BARE_VALUE_NAME).kind, Kind::SessionData);
        assert_eq!(decoded(&report, BARE_VALUE_NAME).strategy, strategy);
        assert_eq!(cache_check(&report, BARE_VALUE_NAME).token, None);
    }
    // A well-formed signature by another secret.
    let report = inspect(&sign_value(&Secrets::single(OTHER_SECRET), TOKEN), &s, NOW);
    let c = only(&report, BARE_VALUE_NAME);
    assert_eq!(c.kind, Kind::SignedValue, "{c:#?}");
    assert!(!report.any_verified());
    // Neither.
    let report = inspect("garbage", &s, NOW);
    let c = only(&report, BARE_VALUE_NAME);
    assert_eq!(c.kind, Kind::Unknown);
    assert!(!report.any_verified());
    let text = render_text(&report, OAuthSecrets::Redacted);
    assert!(
        text.contains("signed value: no, not a signed value"),
        "{text}"
    );
    assert!(
        text.contains("cookie cache: no, not a compact, jwt or jwe cookie cache"),
        "{text}"
    );
}

#[test]
fn other_signed_cookies_are_checked_and_the_rest_ignored() {
    let s = secrets();
    let h = format!(
        "a=1; better-auth.dont_remember={}; better-auth.session_token_multi-{}={}; \
         better-auth.session_token_multi-nottheone={}; better-auth.account_data=xyz",
        signed(&s, "true"),
        TOKEN.to_lowercase(),
        signed(&s, TOKEN),
        signed(&s, TOKEN),
    );
    let report = inspect(&h, &s, NOW);
    let kinds: Vec<(&str, Kind)> = report
        .cookies
        .iter()
        .map(|c| (c.name.as_str(), c.kind))
        .collect();
    let multi = format!("better-auth.session_token_multi-{}", TOKEN.to_lowercase());
    assert_eq!(
        kinds,
        [
            ("a", Kind::Ignored),
            ("better-auth.dont_remember", Kind::DontRemember),
            (multi.as_str(), Kind::MultiSession),
            (
                "better-auth.session_token_multi-nottheone",
                Kind::MultiSession
            ),
            ("better-auth.account_data", Kind::AccountData),
        ]
    );
    // Recognised, and refused: it is not a JWE.
    let account = match &only(&report, "better-auth.account_data").check {
        Check::Account(check) => check,
        other => panic!("not an account check: {other:#?}"),
    };
    assert!(matches!(
        account.result,
        Err(AccountError::Miss(Miss::Malformed))
    ));
    let dont = signed_check(&report, "better-auth.dont_remember");
    assert_eq!((dont.result, dont.notes.len()), (Ok(CURRENT), 0));
    assert!(signed_check(&report, &multi).notes.is_empty());
    let wrong = signed_check(&report, "better-auth.session_token_multi-nottheone");
    assert_eq!(wrong.result, Ok(CURRENT));
    assert_eq!(wrong.notes.len(), 1, "{:?}", wrong.notes);
    // Nothing that is checked here means "no session": exit 1.
    let report = inspect("a=1; b=2", &s, NOW);
    assert!(!report.any_verified());
    assert!(render_text(&report, OAuthSecrets::Redacted).contains("  ignored"));
}

#[test]
fn pasted_header_lines_are_accepted() {
    let s = secrets();
    let token = signed(&s, TOKEN);
    for input in [
        format!("Cookie: better-auth.session_token={token}"),
        format!("set-cookie: better-auth.session_token={token}; Max-Age=604800; Path=/; HttpOnly"),
        format!("Set-Cookie: a=1; Path=/\nSet-Cookie: better-auth.session_token={token}; Path=/"),
    ] {
        let report = inspect(&input, &s, NOW);
        assert_eq!(
            signed_check(&report, "better-auth.session_token").result,
            Ok(CURRENT),
            "{input}"
        );
        assert!(!report.cookies.iter().any(|c| c.name == "Path"), "{input}");
    }
    let report = inspect(" \n", &s, NOW);
    assert!(report.cookies.is_empty());
    assert!(render_text(&report, OAuthSecrets::Redacted).contains("no cookies in the input"));
}

#[test]
fn json_output_has_the_documented_fields_and_never_a_secret() {
    let s = Secrets::versioned(
        vec![(2, SECRET.to_owned()), (1, OTHER_SECRET.to_owned())],
        None,
    )
    .unwrap();
    let report = inspect(&header(&s, CacheStrategy::Jwe), &s, NOW);
    let out = render_json(&report, OAuthSecrets::Redacted);
    let text = render_text(&report, OAuthSecrets::Redacted);
    for secret in [SECRET, OTHER_SECRET] {
        assert!(!out.contains(secret) && !text.contains(secret));
    }
    let json: Value = serde_json::from_str(&out).unwrap();
    let cookies = json.as_array().unwrap();
    assert_eq!(cookies.len(), 3);
    for c in cookies {
        for field in [
            "name", "kind", "valid", "strategy", "expired", "error", "session",
        ] {
            assert!(c.get(field).is_some(), "{field} missing in {c}");
        }
    }
    assert_eq!(cookies[0]["kind"], "ignored");
    assert_eq!(cookies[0]["valid"], Value::Null);
    assert_eq!(cookies[1]["kind"], "session_token");
    assert_eq!(cookies[1]["valid"], true);
    assert_eq!(cookies[1]["token"], TOKEN);
    assert_eq!(cookies[1]["secret"], "secret version 2, current");
    let data = &cookies[2];
    assert_eq!(data["kind"], "session_data");
    assert_eq!(data["strategy"], "jwe");
    assert_eq!(data["expired"], false);
    assert_eq!(data["error"], Value::Null);
    assert_eq!(data["tokenMatches"], true);
    assert_eq!(data["version"], "1");
    assert_eq!(data["updatedAt"], "2026-11-28T08:00:00.000Z");
    assert_eq!(data["session"]["session"]["token"], TOKEN);
    assert_eq!(data["session"]["user"]["email"], "alice@example.com");
}

#[tokio::test]
async fn cookies_from_a_stateless_sign_up_inspect_clean() {
    tessera_stateless_refresh::link();
    let auth = Auth::builder(
        Options::new()
            .secret(SECRET)
            .base_url("http://localhost:3000"),
    )
    .build()
    .unwrap();
    assert!(auth.is_stateless());
    let res = send_auth(
        &auth,
        "http://localhost:3000",
        &TestRequest::post("/api/auth/sign-up/email")
            .origin("http://localhost:3000")
            .json(&json!({ "email": "a@example.com", "password": "password1234", "name": "A" })),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let mut jar = ClientCookies::new();
    jar.update(&res);
    let h = jar.header().expect("cookies were set");
    let report = inspect(&h, &secrets(), auth.clock().now());
    assert_eq!(
        signed_check(&report, "better-auth.session_token").result,
        Ok(CURRENT)
    );
    let d = decoded(&report, "better-auth.session_data");
    assert_eq!(d.strategy, CacheStrategy::Jwe);
    assert!(!d.expired);
    assert_eq!(d.cached.data.user.email, "a@example.com");
    assert!(matches!(
        cache_check(&report, "better-auth.session_data").token,
        Some(TokenCheck::Matches { .. })
    ));
}

/// Every better-auth 1.7.25 vector that carries a token and a cache:
/// the token verifies and the cache decodes with the strategy that wrote it.
#[test]
fn better_auth_vectors_inspect_as_produced() {
    let file = vectors("better-auth-1.7.25.json");
    let s = Secrets::single(file["meta"]["secret"].as_str().unwrap());
    let mut checked = 0;
    for v in file["vectors"].as_array().unwrap() {
        let id = v["id"].as_str().unwrap();
        let Some(h) = v["cookieHeaderUsed"].as_str() else {
            continue;
        };
        if !(h.contains("session_token=") && h.contains("session_data")) {
            continue;
        }
        let env = &v["producedByEnv"];
        let expected = match (env["MODE"].as_str(), env["STRATEGY"].as_str()) {
            (_, Some(s)) if !s.is_empty() => CacheStrategy::parse(s).unwrap(),
            (Some("stateless"), _) => CacheStrategy::Jwe,
            (Some("memory+cache"), _) => CacheStrategy::Compact,
            other => panic!("{id}: unexpected producer {other:?}"),
        };
        let checked_at = v["checks"]
            .as_array()
            .and_then(|c| c.iter().find_map(|c| c["checkedAtMs"].as_i64()))
            .unwrap_or_else(|| panic!("{id}: no checkedAtMs"));
        let report = inspect(h, &s, Timestamp::from_millis(checked_at));
        assert_eq!(
            signed_check(&report, "better-auth.session_token").result,
            Ok(CURRENT),
            "{id}"
        );
        let d = decoded(&report, "better-auth.session_data");
        assert_eq!(d.strategy, expected, "{id}");
        let token = &cache_check(&report, "better-auth.session_data").token;
        if id.contains("token-mismatch") {
            assert!(matches!(token, Some(TokenCheck::Mismatch { .. })), "{id}");
        } else {
            assert!(matches!(token, Some(TokenCheck::Matches { .. })), "{id}");
        }
        // Every other better-auth cookie in the header verifies too.
        for c in &report.cookies {
            assert!(c.kind == Kind::Ignored || c.verified(), "{id}: {c:#?}");
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} vectors checked");
}

/// A vector file: `$TESSERA_VECTORS_DIR`, else `shared/vectors` beside the
/// clone, as the kernel's vector tests find them.
fn vectors(name: &str) -> Value {
    let path = std::env::var_os("TESSERA_VECTORS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
        })
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("vectors at {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

// --- oauth_state and account_data ---

/// better-auth 1.7.25's recorded OAuth flow (stateless, cookie state).
fn oauth_vectors() -> &'static Value {
    static FILE: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    FILE.get_or_init(|| vectors("better-auth-1.7.25-oauth.json"))
}

fn oauth_secrets() -> Secrets {
    Secrets::single(oauth_vectors()["meta"]["secret"].as_str().unwrap())
}

/// When the callback ran: the state was fresh and the account new.
fn callback_at() -> Timestamp {
    Timestamp::from_millis(oauth_vectors()["callback"]["atMs"].as_i64().unwrap())
}

/// The callback's `Set-Cookie` lines, pasted as they are.
fn callback_set_cookies() -> String {
    oauth_vectors()["callback"]["setCookie"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| format!("Set-Cookie: {}", l.as_str().unwrap()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn state_check<'r>(report: &'r Report, name: &str) -> &'r StateCheck {
    match &only(report, name).check {
        Check::State(check) => check,
        other => panic!("{name} is not a state check: {other:#?}"),
    }
}

fn account_check<'r>(report: &'r Report, name: &str) -> &'r AccountCheck {
    match &only(report, name).check {
        Check::Account(check) => check,
        other => panic!("{name} is not an account check: {other:#?}"),
    }
}

fn opened_account<'r>(report: &'r Report, name: &str) -> &'r OpenedAccount {
    match &account_check(report, name).result {
        Ok(opened) => opened,
        Err(err) => panic!("{name} did not open: {err}"),
    }
}

const STATE: &str = "better-auth.oauth_state";
const ACCOUNT: &str = "better-auth.account_data";

#[test]
fn recorded_oauth_state_opens_with_its_verifier_and_nonce_redacted() {
    let v = oauth_vectors();
    let header = v["callback"]["request"]["headers"]["cookie"]
        .as_str()
        .unwrap();
    let report = inspect(header, &oauth_secrets(), callback_at());
    assert_eq!(only(&report, STATE).kind, Kind::OAuthState);
    let opened = state_check(&report, STATE).result.as_ref().unwrap();
    assert_eq!(opened.secret, CURRENT);
    assert!(!opened.expired);
    let recorded = &v["oauthState"]["decrypted"];
    assert_eq!(
        opened.data,
        StateData::from_json(v["oauthState"]["decryptedJSON"].as_str().unwrap()).unwrap()
    );
    assert!(report.any_verified());

    let verifier = recorded["codeVerifier"].as_str().unwrap();
    let nonce = recorded["idTokenNonce"].as_str().unwrap();
    let state = recorded["oauthState"].as_str().unwrap();
    let text = render_text(&report, OAuthSecrets::Redacted);
    assert!(!text.contains(verifier) && !text.contains(nonce), "{text}");
    assert!(text.contains(state), "{text}");
    assert!(
        text.contains("redacted:  codeVerifier, idTokenNonce (--show-secrets shows them)"),
        "{text}"
    );
    assert!(
        text.contains("\"codeVerifier\": \"[redacted: 128 characters]\""),
        "{text}"
    );
    assert!(text.contains("expired:   no (the state expires 2026-11-28T08:50:30.329Z)"));
    let json: Value = serde_json::from_str(&render_json(&report, OAuthSecrets::Redacted)).unwrap();
    let entry = &json[0];
    assert_eq!(
        (&entry["kind"], &entry["valid"], &entry["expired"]),
        (&json!("oauth_state"), &json!(true), &json!(false))
    );
    assert_eq!(entry["secret"], "current secret");
    assert_eq!(entry["state"]["codeVerifier"], "[redacted: 128 characters]");
    assert_eq!(entry["state"]["idTokenNonce"], "[redacted: 32 characters]");
    assert_eq!(entry["state"]["oauthState"], state);
    assert_eq!(entry["redacted"], json!(["codeVerifier", "idTokenNonce"]));

    // --show-secrets: the state as better-auth wrote it.
    let text = render_text(&report, OAuthSecrets::Shown);
    assert!(text.contains(verifier) && text.contains(nonce), "{text}");
    assert!(!text.contains("redacted"), "{text}");
    let json: Value = serde_json::from_str(&render_json(&report, OAuthSecrets::Shown)).unwrap();
    assert_eq!(&json[0]["state"], recorded);
    assert_eq!(json[0]["redacted"], json!([]));

    // Ten minutes on, a callback refuses it; its content is still shown.
    let later = Timestamp::from_millis(recorded["expiresAt"].as_i64().unwrap() + 1);
    let report = inspect(header, &oauth_secrets(), later);
    assert!(state_check(&report, STATE).result.as_ref().unwrap().expired);
    let text = render_text(&report, OAuthSecrets::Redacted);
    assert!(
        text.contains("expired:   YES, at 2026-11-28T08:50:30.329Z"),
        "{text}"
    );
    assert!(text.contains(state), "{text}");
}

#[test]
fn recorded_account_data_opens_with_its_tokens_redacted() {
    let v = oauth_vectors();
    let payload = &v["accountData"]["payload"];
    let report = inspect(&callback_set_cookies(), &oauth_secrets(), callback_at());
    let check = account_check(&report, ACCOUNT);
    assert_eq!(check.chunks, 0);
    // The session_data beside it is the same user's: nothing to say.
    assert!(check.notes.is_empty(), "{:?}", check.notes);
    let opened = opened_account(&report, ACCOUNT);
    assert_eq!(opened.secret, Some(CURRENT));
    assert!(!opened.expired);
    let account = &opened.account;
    let text_of = |k: &str| payload[k].as_str().map(str::to_owned);
    assert_eq!(Some(account.id.clone()), text_of("id"));
    assert_eq!(Some(account.account_id.clone()), text_of("accountId"));
    assert_eq!(Some(account.user_id.clone()), text_of("userId"));
    assert_eq!(account.access_token, text_of("accessToken"));
    assert_eq!(account.refresh_token, text_of("refreshToken"));
    assert_eq!(account.id_token, text_of("idToken"));
    assert_eq!(account.scope, text_of("scope"));
    // The deleted oauth_state in the same response is recognised as such.
    assert!(matches!(
        state_check(&report, STATE).result,
        Err(StateError::Empty)
    ));

    let tokens: Vec<&str> = ACCOUNT_SECRETS
        .iter()
        .map(|k| payload[*k].as_str().unwrap())
        .collect();
    let text = render_text(&report, OAuthSecrets::Redacted);
    for token in &tokens {
        assert!(!text.contains(token), "{token} in {text}");
    }
    assert!(
        text.contains("redacted:  accessToken, refreshToken, idToken (--show-secrets shows them)"),
        "{text}"
    );
    assert!(
        text.contains("\"accessToken\": \"[redacted: 43 characters]\""),
        "{text}"
    );
    assert!(text.contains("\"accountId\": \"alice\""), "{text}");
    let json: Value = serde_json::from_str(&render_json(&report, OAuthSecrets::Redacted)).unwrap();
    let entry = json
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "account_data")
        .unwrap();
    assert_eq!(
        (&entry["valid"], &entry["chunks"]),
        (&json!(true), &json!(0))
    );
    assert_eq!(entry["account"]["accessToken"], "[redacted: 43 characters]");
    assert_eq!(entry["account"]["userId"], payload["userId"]);
    assert_eq!(
        entry["redacted"],
        json!(["accessToken", "refreshToken", "idToken"])
    );
    let json_text = render_json(&report, OAuthSecrets::Redacted);
    for token in &tokens {
        assert!(!json_text.contains(token), "{token} in {json_text}");
    }

    // --show-secrets: the account as better-auth wrote it, without the
    // claims it added (`iat`, `exp`, `jti`).
    let text = render_text(&report, OAuthSecrets::Shown);
    for token in &tokens {
        assert!(text.contains(token), "{token} not in {text}");
    }
    let json: Value = serde_json::from_str(&render_json(&report, OAuthSecrets::Shown)).unwrap();
    let entry = json
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "account_data")
        .unwrap();
    let mut written = payload.as_object().unwrap().clone();
    for claim in ["iat", "exp", "jti"] {
        written.remove(claim);
    }
    assert_eq!(entry["account"], Value::Object(written));
    assert_eq!(entry["redacted"], json!([]));

    // Past its `exp` (and jose's 15 s): a server ignores it, the content shows.
    let exp = payload["exp"].as_i64().unwrap();
    let report = inspect(
        &callback_set_cookies(),
        &oauth_secrets(),
        Timestamp::from_millis((exp + 15) * 1000),
    );
    let opened = opened_account(&report, ACCOUNT);
    assert!(opened.expired);
    assert_eq!(opened.account.account_id, "alice");
    assert!(render_text(&report, OAuthSecrets::Redacted).contains("expired:   YES"));
}

#[test]
fn chunked_recorded_account_data_is_reassembled() {
    let raw = oauth_vectors()["accountData"]["rawValue"].as_str().unwrap();
    let (a, rest) = raw.split_at(600);
    let (b, c) = rest.split_at(600);
    // Any order: chunks are sorted by their number.
    let header = format!("{ACCOUNT}.2={c}; {ACCOUNT}.0={a}; theme=dark; {ACCOUNT}.1={b}");
    let report = inspect(&header, &oauth_secrets(), callback_at());
    assert_eq!(report.cookies.len(), 2, "one entry for the chunks");
    assert_eq!(account_check(&report, ACCOUNT).chunks, 3);
    assert_eq!(opened_account(&report, ACCOUNT).account.account_id, "alice");
    let text = render_text(&report, OAuthSecrets::Redacted);
    assert!(text.contains(&format!("{ACCOUNT} (3 chunks)")), "{text}");

    // A whole cookie beside chunks wins; the chunks are not read.
    let header = format!("{ACCOUNT}={raw}; {ACCOUNT}.0=garbage");
    let report = inspect(&header, &oauth_secrets(), callback_at());
    let check = account_check(&report, ACCOUNT);
    assert_eq!(check.chunks, 0);
    assert!(check.result.is_ok());
    assert_eq!(check.notes.len(), 1, "{:?}", check.notes);
    // A chunk missing: the reassembled value does not open.
    let header = format!("{ACCOUNT}.0={a}; {ACCOUNT}.2={c}");
    let report = inspect(&header, &oauth_secrets(), callback_at());
    assert!(account_check(&report, ACCOUNT).result.is_err());
}

#[test]
fn oauth_cookies_do_not_open_with_another_secret() {
    let v = oauth_vectors();
    let other = Secrets::single(v["meta"]["otherSecret"].as_str().unwrap());
    let header = format!(
        "{}; {ACCOUNT}={}",
        v["callback"]["request"]["headers"]["cookie"]
            .as_str()
            .unwrap(),
        v["accountData"]["rawValue"].as_str().unwrap()
    );
    let report = inspect(&header, &other, callback_at());
    assert!(!report.any_verified());
    assert!(matches!(
        state_check(&report, STATE).result,
        Err(StateError::Sealed(StateCookieError::Undecryptable))
    ));
    assert!(matches!(
        account_check(&report, ACCOUNT).result,
        Err(AccountError::Miss(Miss::UnknownKey))
    ));
    let text = render_text(&report, OAuthSecrets::Shown);
    assert!(
        text.contains("not decrypted: sealed value does not decrypt"),
        "{text}"
    );
    assert!(text.contains("not decrypted: account cookie:"), "{text}");
    // Nothing decrypted, so nothing to show, even when asked.
    let state = v["oauthState"]["decrypted"]["oauthState"].as_str().unwrap();
    assert!(!text.contains(state), "{text}");
}

#[test]
fn rotated_secrets_tell_which_one_opened_the_oauth_cookies() {
    let v1 = SecretLabel {
        version: Some(1),
        current: false,
    };
    let mut data = StateData::new("/after", "v".repeat(128), NOW.plus_secs(600));
    data.oauth_state = Some("s".repeat(32));
    let sealed_by = |secrets: &Secrets| {
        format!(
            "{STATE}={}",
            StateCipher::new(secrets, Purpose::OAuthStateCookie).seal(&data)
        )
    };
    let rotated = Secrets::versioned(
        vec![(2, SECRET.to_owned()), (1, OTHER_SECRET.to_owned())],
        None,
    )
    .unwrap();
    let old_version = Secrets::versioned(vec![(1, OTHER_SECRET.to_owned())], None).unwrap();
    let report = inspect(&sealed_by(&old_version), &rotated, NOW);
    let opened = state_check(&report, STATE).result.as_ref().unwrap();
    assert_eq!(opened.secret, v1);
    assert_eq!(opened.data, data);
    assert!(render_text(&report, OAuthSecrets::Redacted)
        .contains("decrypted: yes (secret version 1, not current)"));

    // A bare-hex value (sealed with a single secret) opens beside versions
    // with the legacy secret only.
    let single = sealed_by(&Secrets::single(OTHER_SECRET));
    let report = inspect(&single, &rotated, NOW);
    assert!(matches!(
        state_check(&report, STATE).result,
        Err(StateError::Sealed(StateCookieError::NoLegacySecret))
    ));
    let with_legacy =
        Secrets::versioned(vec![(2, SECRET.to_owned())], Some(OTHER_SECRET.to_owned())).unwrap();
    let report = inspect(&single, &with_legacy, NOW);
    assert_eq!(
        state_check(&report, STATE).result.as_ref().unwrap().secret,
        SecretLabel {
            version: None,
            current: false
        }
    );

    // account_data: any version decrypts it, by its key id.
    let (_, user) = session_and_user(TOKEN);
    let account = oauth_account(&user.id);
    let sealed = AccountCookie::new(&Secrets::single(OTHER_SECRET))
        .unwrap()
        .seal(&account, NOW, 300);
    let report = inspect(&format!("{ACCOUNT}={sealed}"), &rotated, NOW);
    assert_eq!(opened_account(&report, ACCOUNT).secret, Some(v1));
}

fn oauth_account(user_id: &str) -> Account {
    Account {
        id: "A1".to_owned(),
        account_id: "alice".to_owned(),
        provider_id: "oidc".to_owned(),
        user_id: user_id.to_owned(),
        access_token: Some("access-token-value".to_owned()),
        refresh_token: None,
        id_token: None,
        access_token_expires_at: Some(NOW.plus_secs(3600)),
        refresh_token_expires_at: None,
        scope: Some("openid,email".to_owned()),
        password: None,
        created_at: NOW,
        updated_at: NOW,
    }
}

#[test]
fn an_account_of_another_user_than_the_session_is_flagged() {
    let s = secrets();
    let sealed = |user_id: &str| {
        AccountCookie::new(&s)
            .unwrap()
            .seal(&oauth_account(user_id), NOW, 300)
    };
    // The session_data is user U1's.
    let header = |user_id: &str| {
        format!(
            "{}; {ACCOUNT}={}",
            header(&s, CacheStrategy::Jwe),
            sealed(user_id)
        )
    };
    let report = inspect(&header("U1"), &s, NOW);
    assert!(account_check(&report, ACCOUNT).notes.is_empty());
    let report = inspect(&header("U2"), &s, NOW);
    let notes = &account_check(&report, ACCOUNT).notes;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("user U2") && notes[0].contains("user U1"));
    assert!(notes[0].contains("ACCOUNT_NOT_FOUND"));
    // Only one token here, and absent ones are not listed as redacted.
    let text = render_text(&report, OAuthSecrets::Redacted);
    assert!(
        text.contains("redacted:  accessToken (--show-secrets"),
        "{text}"
    );
    assert!(!text.contains("access-token-value"), "{text}");
}

#[test]
fn bare_oauth_values_are_recognised() {
    let v = oauth_vectors();
    let s = oauth_secrets();
    let report = inspect(
        v["oauthState"]["rawValue"].as_str().unwrap(),
        &s,
        callback_at(),
    );
    assert_eq!(only(&report, BARE_VALUE_NAME).kind, Kind::OAuthState);
    assert!(report.any_verified());
    let report = inspect(
        v["accountData"]["rawValue"].as_str().unwrap(),
        &s,
        callback_at(),
    );
    assert_eq!(only(&report, BARE_VALUE_NAME).kind, Kind::AccountData);
    assert_eq!(
        opened_account(&report, BARE_VALUE_NAME).account.account_id,
        "alice"
    );
}
