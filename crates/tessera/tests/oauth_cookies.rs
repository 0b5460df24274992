//! The `oauth_state` and `account_data` cookies against better-auth
//! 1.7.25: the values it wrote in `shared/vectors` (its OAuth flow
//! against a real OpenID provider) open here to exactly what it recorded,
//! values sealed here open here and, with node, in better-auth's own
//! `symmetricDecrypt` and `symmetricDecodeJWT`.

use std::path::PathBuf;

use serde_json::{json, Value};
use tessera::cache::{Jwe, Miss, ACCOUNT_SALT};
use tessera::cookie::{read_chunked, CookieOptions};
use tessera::oauth::{
    pkce_challenge, AccountCookie, LinkData, Purpose, StateCipher, StateCookieError, StateData,
};
use tessera::store::Account;
use tessera::{AuthCookies, CookieJar, RequestCookies, Secrets, Timestamp};
use tessera_testkit::{node_eval, require_node};

fn vectors() -> Value {
    let dir = std::env::var_os("TESSERA_VECTORS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
        });
    let path = dir.join("better-auth-1.7.25-oauth.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "OAuth vectors at {}: {e} (set TESSERA_VECTORS_DIR)",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("the vectors are JSON")
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in the vectors"))
}

fn secret(v: &Value) -> Secrets {
    Secrets::single(str_at(v, "/meta/secret"))
}

/// The top-level keys of a JSON object, in order.
fn keys(json: &[u8]) -> Vec<String> {
    let value: Value = serde_json::from_slice(json).unwrap();
    value.as_object().unwrap().keys().cloned().collect()
}

/// The account better-auth recorded, read by the store's own `Account`
/// reader (not the cookie's).
fn recorded_account(payload: &Value) -> Account {
    serde_json::from_value(payload.clone()).expect("the recorded payload is an account")
}

/// When better-auth wrote a recorded `account_data` value: its `iat`.
fn written_at(payload: &Value) -> Timestamp {
    Timestamp::from_millis(payload["iat"].as_i64().unwrap() * 1000)
}

#[test]
fn better_auths_oauth_state_opens_to_the_recorded_json() {
    let v = vectors();
    let raw = str_at(&v, "/oauthState/rawValue");
    let recorded = str_at(&v, "/oauthState/decryptedJSON");
    let cipher = StateCipher::new(&secret(&v), Purpose::OAuthStateCookie);

    assert_eq!(cipher.open_str(raw).unwrap(), recorded, "byte for byte");
    let state = cipher.open(raw).unwrap();
    assert_eq!(
        serde_json::to_value(&state).unwrap(),
        serde_json::from_str::<Value>(recorded).unwrap()
    );
    assert_eq!(state.to_json(), recorded, "re-serialised in the same order");

    // And it is the state of the recorded flow.
    assert!(state.matches_state(str_at(&v, "/flow/authorizationParams/state")));
    assert_eq!(
        pkce_challenge(&state.code_verifier),
        str_at(&v, "/flow/authorizationParams/code_challenge")
    );
    assert_eq!(
        state.id_token_nonce.as_deref(),
        Some(str_at(&v, "/flow/authorizationParams/nonce"))
    );
    let callback_at = Timestamp::from_millis(v["callback"]["atMs"].as_i64().unwrap());
    assert!(!state.is_expired(callback_at));
    assert!(state.is_expired(callback_at.plus_secs(600)));
}

#[test]
fn better_auths_oauth_state_does_not_open_with_another_secret() {
    let v = vectors();
    let raw = str_at(&v, "/oauthState/rawValue");
    let other = Secrets::single(str_at(&v, "/meta/otherSecret"));
    assert!(matches!(
        StateCipher::new(&other, Purpose::OAuthStateCookie).open(raw),
        Err(StateCookieError::Undecryptable)
    ));
    assert!(matches!(
        StateCipher::new(&secret(&v), Purpose::OAuthLinkSessionToken).open(raw),
        Err(StateCookieError::Undecryptable)
    ));
    // Rotated to versions: the bare-hex value opens with the legacy secret
    // only.
    let rotated = |legacy: Option<&str>| {
        let versions = vec![(1, str_at(&v, "/meta/otherSecret").to_owned())];
        Secrets::versioned(versions, legacy.map(str::to_owned)).unwrap()
    };
    let with_legacy = rotated(Some(str_at(&v, "/meta/secret")));
    assert!(StateCipher::new(&with_legacy, Purpose::OAuthStateCookie)
        .open(raw)
        .is_ok());
    assert!(matches!(
        StateCipher::new(&rotated(None), Purpose::OAuthStateCookie).open(raw),
        Err(StateCookieError::NoLegacySecret)
    ));
}

#[test]
fn a_state_sealed_here_opens_with_the_same_code() {
    let v = vectors();
    let cipher = StateCipher::new(&secret(&v), Purpose::OAuthStateCookie);
    let recorded = cipher.open(str_at(&v, "/oauthState/rawValue")).unwrap();
    let sealed = cipher.seal(&recorded);
    assert_ne!(sealed, str_at(&v, "/oauthState/rawValue"), "a fresh nonce");
    assert_eq!(cipher.open(&sealed).unwrap(), recorded);
}

#[test]
fn better_auths_account_data_opens_to_the_recorded_account() {
    let v = vectors();
    let codec = AccountCookie::new(&secret(&v)).unwrap();
    for at in ["/accountData", "/accountData/afterRefresh"] {
        let recorded = &v.pointer(at).unwrap();
        let payload = &recorded["payload"];
        let raw = recorded["rawValue"].as_str().unwrap();
        let now = written_at(payload);
        assert_eq!(
            codec.open(raw, now).unwrap(),
            recorded_account(payload),
            "{at}"
        );
        // jose's 15 s tolerance past `exp`, then a miss.
        let exp = Timestamp::from_millis(payload["exp"].as_i64().unwrap() * 1000);
        assert!(codec.open(raw, exp.plus_secs(14)).is_ok(), "{at}");
        assert_eq!(
            codec.open(raw, exp.plus_secs(15)),
            Err(Miss::Expired),
            "{at}"
        );
    }
    let other = AccountCookie::new(&Secrets::single(str_at(&v, "/meta/otherSecret"))).unwrap();
    let raw = str_at(&v, "/accountData/rawValue");
    let now = written_at(&v["accountData"]["payload"]);
    assert_eq!(other.open(raw, now), Err(Miss::UnknownKey));
}

#[test]
fn an_account_sealed_here_has_better_auths_keys_and_opens_with_the_same_code() {
    let v = vectors();
    let secrets = secret(&v);
    let codec = AccountCookie::new(&secrets).unwrap();
    let raw = str_at(&v, "/accountData/rawValue");
    let now = written_at(&v["accountData"]["payload"]);
    let mut account = codec.open(raw, now).unwrap();
    account.password = Some("never-written".into());

    let sealed = codec.seal(&account, now, 604_800);
    let jwe = Jwe::new(&secrets, ACCOUNT_SALT).unwrap();
    let ours = jwe.decrypt(&sealed).unwrap();
    let theirs = jwe.decrypt(raw).unwrap();
    assert_eq!(
        keys(&ours),
        keys(&theirs),
        "the same keys in the same order"
    );
    let claims: Value = serde_json::from_slice(&ours).unwrap();
    assert_eq!(
        claims["exp"].as_i64(),
        claims["iat"].as_i64().map(|i| i + 604_800)
    );
    assert!(!String::from_utf8(ours).unwrap().contains("never-written"));

    account.password = None;
    assert_eq!(codec.open(&sealed, now).unwrap(), account);
}

#[test]
fn a_large_account_round_trips_through_chunks() {
    let v = vectors();
    let codec = AccountCookie::new(&secret(&v)).unwrap();
    let now = written_at(&v["accountData"]["payload"]);
    let mut account = recorded_account(&v["accountData"]["payload"]);
    // Long provider tokens: a 9 KB id token, a 2 KB access token.
    account.id_token = Some(format!("eyJ.{}.sig", "p".repeat(9_000)));
    account.access_token = Some("a".repeat(2_000));
    let value = codec.seal(&account, now, 604_800);

    let cookies = AuthCookies::new(&CookieOptions::default(), false, 604_800, 604_800);
    let mut jar = CookieJar::new();
    jar.set_chunked(&cookies.account_data, &value, &RequestCookies::default());
    let names: Vec<&str> = jar.iter().map(|c| c.name.as_str()).collect();
    assert!(names.len() >= 3, "chunked: {names:?}");
    assert!(names
        .iter()
        .enumerate()
        .all(|(i, n)| *n == format!("better-auth.account_data.{i}")));

    // The browser sends the chunks back, in any order.
    let mut pairs: Vec<String> = jar
        .iter()
        .map(|c| format!("{}={}", c.name, c.value))
        .collect();
    pairs.reverse();
    let header = pairs.join("; ");
    let request = RequestCookies::parse(&header);
    let reassembled = read_chunked(&cookies.account_data, &request).unwrap();
    assert_eq!(reassembled, value);
    assert_eq!(codec.open(&reassembled, now).unwrap(), account);
}

/// Values sealed here open in better-auth's own code: `symmetricDecrypt`
/// under `derivePurposeKey` (a single secret, and versioned secrets with a
/// legacy one), and `symmetricDecodeJWT` with the account salt; and a
/// versioned envelope better-auth seals opens here.
#[test]
fn better_auth_opens_what_tessera_seals() {
    let _dir = require_node!();
    let v = vectors();
    let secret = str_at(&v, "/meta/secret");
    let versioned = Secrets::versioned(
        vec![
            (5, "tessera-version-five-secret".into()),
            (2, secret.into()),
        ],
        Some("tessera-legacy-secret".into()),
    )
    .unwrap();

    let mut state = StateData::new("/after", "v".repeat(128), Timestamp::from_millis(1));
    state
        .extra
        .insert("additional".into(), json!({"a": [1, "b"]}));
    state.link = Some(LinkData {
        user_id: "U".into(),
        email: "u@example.com".into(),
        encrypted_session_token: Some(
            StateCipher::new(&Secrets::single(secret), Purpose::OAuthLinkSessionToken)
                .seal_str("session-token"),
        ),
    });
    state.oauth_state = Some("s".repeat(32));
    let single = StateCipher::new(&Secrets::single(secret), Purpose::OAuthStateCookie);
    let rotated = StateCipher::new(&versioned, Purpose::OAuthStateCookie);
    let sealed_single = single.seal(&state);
    let sealed_versioned = rotated.seal(&state);
    assert!(sealed_versioned.starts_with("$ba$5$"));

    let codec = AccountCookie::new(&Secrets::single(secret)).unwrap();
    // Sealed now: better-auth checks `exp` against its own clock.
    let now = Timestamp::from_millis(
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap(),
    );
    let account = recorded_account(&v["accountData"]["payload"]);
    let sealed_account = codec.seal(&account, now, 604_800);

    let script = format!(
        r#"import {{ symmetricDecrypt, symmetricEncrypt, symmetricDecodeJWT }} from "better-auth/crypto";
import {{ derivePurposeKey }} from "./node_modules/better-auth/dist/crypto/purpose.mjs";
const secret = {secret};
const config = {{ keys: new Map([[5, "tessera-version-five-secret"], [2, secret]]), currentVersion: 5, legacySecret: "tessera-legacy-secret" }};
const state = derivePurposeKey(secret, "oauth-state-cookie");
const link = JSON.parse(await symmetricDecrypt({{ key: state, data: {sealed_single} }})).link;
const payload = await symmetricDecodeJWT({sealed_account}, secret, "better-auth-account");
console.log(JSON.stringify({{
  single: await symmetricDecrypt({{ key: state, data: {sealed_single} }}),
  versioned: await symmetricDecrypt({{ key: derivePurposeKey(config, "oauth-state-cookie"), data: {sealed_versioned} }}),
  linkToken: await symmetricDecrypt({{ key: derivePurposeKey(secret, "oauth-link-session-token"), data: link.encryptedSessionToken }}),
  envelope: await symmetricEncrypt({{ key: derivePurposeKey(config, "oauth-state-cookie"), data: "from better-auth" }}),
  legacy: await symmetricEncrypt({{ key: derivePurposeKey("tessera-legacy-secret", "oauth-state-cookie"), data: "legacy" }}),
  account: payload,
}}));"#,
        secret = json!(secret),
        sealed_single = json!(sealed_single),
        sealed_versioned = json!(sealed_versioned),
        sealed_account = json!(sealed_account),
    );
    let out: Value = serde_json::from_str(&node_eval(&script).expect("node runs")).unwrap();

    assert_eq!(out["single"], state.to_json());
    assert_eq!(out["versioned"], state.to_json());
    assert_eq!(out["linkToken"], "session-token");
    let envelope = out["envelope"].as_str().unwrap();
    assert!(envelope.starts_with("$ba$5$"), "{envelope}");
    assert_eq!(rotated.open_str(envelope).unwrap(), "from better-auth");
    assert_eq!(
        rotated.open_str(out["legacy"].as_str().unwrap()).unwrap(),
        "legacy"
    );
    let payload = &out["account"];
    assert_eq!(payload["exp"].as_i64(), Some(now.as_secs() + 604_800));
    assert_eq!(recorded_account(payload), account);
}

// ---------------------------------------------------------------------------
// Properties: opening never panics, and what is sealed opens to itself.
// ---------------------------------------------------------------------------

mod props {
    use proptest::prelude::*;
    use serde_json::{Map, Value};
    use tessera::oauth::{AccountCookie, LinkData, Purpose, StateCipher, StateData};
    use tessera::store::Account;
    use tessera::{Secrets, Timestamp};

    const SECRET: &str = "property-test-secret-0123456789-abcdefghijkl";

    fn single() -> StateCipher {
        StateCipher::new(&Secrets::single(SECRET), Purpose::OAuthStateCookie)
    }

    fn rotated() -> StateCipher {
        let secrets = Secrets::versioned(
            vec![(7, "property-version-seven".into()), (3, SECRET.into())],
            Some("property-legacy-secret".into()),
        )
        .unwrap();
        StateCipher::new(&secrets, Purpose::OAuthStateCookie)
    }

    fn text() -> impl Strategy<Value = String> {
        "\\PC{0,24}"
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            text().prop_map(Value::String),
        ];
        leaf.prop_recursive(2, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map(text(), inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Keys that are not better-auth's own (prefixed, so none collides).
    fn extra() -> impl Strategy<Value = Map<String, Value>> {
        prop::collection::btree_map("x-[a-zA-Z]{0,8}", json_value(), 0..3)
            .prop_map(|m| m.into_iter().collect())
    }

    fn state_data() -> impl Strategy<Value = StateData> {
        let link = (text(), text(), prop::option::of("[0-9a-f]{0,80}")).prop_map(
            |(user_id, email, encrypted_session_token)| LinkData {
                user_id,
                email,
                encrypted_session_token,
            },
        );
        let server_context = prop::collection::btree_map(text(), json_value(), 0..3)
            .prop_map(|m| m.into_iter().collect::<Map<_, _>>());
        (
            (extra(), text(), "[a-zA-Z0-9_-]{0,128}"),
            (prop::option::of(text()), prop::option::of(text())),
            (prop::option::of(link), prop::option::of(server_context)),
            // Integers JavaScript holds exactly.
            0i64..(1 << 53),
            (
                prop::option::of(any::<bool>()),
                prop::option::of(text()),
                prop::option::of("[a-zA-Z0-9_-]{32}"),
            ),
        )
            .prop_map(
                |(
                    (extra, callback_url, code_verifier),
                    (error_url, new_user_url),
                    (link, server_context),
                    expires_at,
                    (request_sign_up, id_token_nonce, oauth_state),
                )| {
                    let mut data = StateData::new(
                        callback_url,
                        code_verifier,
                        Timestamp::from_millis(expires_at),
                    );
                    data.extra = extra;
                    data.error_url = error_url;
                    data.new_user_url = new_user_url;
                    data.link = link;
                    data.server_context = server_context;
                    data.request_sign_up = request_sign_up;
                    data.id_token_nonce = id_token_nonce;
                    data.oauth_state = oauth_state;
                    data
                },
            )
    }

    /// An instant `toISOString` writes with a four-digit year.
    fn instant() -> impl Strategy<Value = Timestamp> {
        (-62_167_219_200_000i64..253_402_300_799_999i64).prop_map(Timestamp::from_millis)
    }

    fn account() -> impl Strategy<Value = Account> {
        let token = || prop::option::of("\\PC{0,200}");
        (
            (text(), text(), text(), text()),
            (token(), token(), token(), prop::option::of(text())),
            (prop::option::of(instant()), prop::option::of(instant())),
            (instant(), instant(), prop::option::of(text())),
        )
            .prop_map(
                |(
                    (id, account_id, provider_id, user_id),
                    (access_token, refresh_token, id_token, scope),
                    (access_token_expires_at, refresh_token_expires_at),
                    (created_at, updated_at, password),
                )| Account {
                    id,
                    account_id,
                    provider_id,
                    user_id,
                    access_token,
                    refresh_token,
                    id_token,
                    access_token_expires_at,
                    refresh_token_expires_at,
                    scope,
                    password,
                    created_at,
                    updated_at,
                },
            )
    }

    /// Strings shaped like the values, so the fuzzing reaches past the
    /// first checks: bare hex, envelopes, compact JWEs.
    fn lookalike() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[0-9a-fA-F]{0,200}",
            "\\$ba\\$[ +0-9a-z-]{0,6}\\$[0-9a-f]{0,120}",
            "[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,4}\\.[A-Za-z0-9_-]{0,24}\\.[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,44}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn opening_a_state_never_panics(value in lookalike()) {
            let _ = single().open(&value);
            let _ = rotated().open(&value);
            let _ = rotated().open_str(&value);
        }

        #[test]
        fn opening_an_account_never_panics(value in lookalike(), at in instant()) {
            let codec = AccountCookie::new(&Secrets::single(SECRET)).unwrap();
            let _ = codec.open(&value, at);
        }

        #[test]
        fn sealed_states_open_to_themselves(data in state_data()) {
            for cipher in [single(), rotated()] {
                let sealed = cipher.seal(&data);
                prop_assert_eq!(cipher.open(&sealed).unwrap(), data.clone());
            }
        }

        #[test]
        fn sealed_strings_open_to_themselves_less_a_leading_bom(s in any::<String>()) {
            let expected = s.strip_prefix('\u{feff}').unwrap_or(&s);
            let cipher = rotated();
            prop_assert_eq!(cipher.open_str(&cipher.seal_str(&s)).unwrap(), expected);
        }

        #[test]
        fn any_changed_character_of_a_sealed_state_is_refused(
            data in state_data(),
            at in any::<prop::sample::Index>(),
            to in "[0-9a-f$]",
        ) {
            let cipher = single();
            let sealed = cipher.seal(&data);
            let at = at.index(sealed.len());
            prop_assume!(sealed[at..at + 1] != to);
            let changed = format!("{}{to}{}", &sealed[..at], &sealed[at + 1..]);
            prop_assert!(cipher.open(&changed).is_err());
        }

        #[test]
        fn sealed_accounts_open_to_themselves_without_the_password(
            account in account(),
            now in instant(),
        ) {
            let codec = AccountCookie::new(&Secrets::single(SECRET)).unwrap();
            let sealed = codec.seal(&account, now, 300);
            let opened = codec.open(&sealed, now).unwrap();
            prop_assert_eq!(opened, Account { password: None, ..account });
        }
    }
}
