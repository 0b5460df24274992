//! `/callback/<id>` against hostile and broken input, through
//! `Auth::handle` and a fake provider (`oauth_fake`): better-auth 1.7.25's
//! recorded negative callbacks replayed as they were sent, then each row of
//! `docs/oauth.md`'s table — the state (both strategies), the provider's
//! answers (token endpoint, userinfo, ID token), and the rules that sign
//! in, link or create. Every failure is better-auth's 302 to
//! `<errorURL>?error=<code>`, with the cookies it sets or expires; none is
//! a 5xx.

mod oauth_fake;

use http::Method;
use oauth_fake::*;
use serde_json::{json, Value};
use tessera::cookie::sign_value;
use tessera::oauth::{
    AccountCookie, Endpoints, ProfileMapping, Provider, ProviderConfig, Purpose, StateCipher,
};
use tessera::options::StateStrategy;
use tessera::store::{Database as _, MemorySecondaryStorage};
use tessera::{Options, Secrets, Timestamp};
use tessera_testkit::{encode_uri_component, SetCookieLine};

const ISSUER: &str = "http://127.0.0.1:4010";
const AUTHORIZE: &str = "http://127.0.0.1:4010/auth";
const TOKEN: &str = "http://127.0.0.1:4010/token";
const USERINFO: &str = "http://127.0.0.1:4010/me";
const JWKS: &str = "http://127.0.0.1:4010/jwks";
const CLIENT_ID: &str = "tessera-test";
const CLIENT_SECRET: &str = "tessera-test-secret";
const SUB: &str = "alice-sub";

/// The recorded harness's provider: oidc-provider behind `genericOAuth`.
fn oidc_config() -> ProviderConfig {
    ProviderConfig::oauth2(
        "oidc",
        Endpoints::new(AUTHORIZE, TOKEN)
            .with_userinfo(USERINFO)
            .with_id_tokens(ISSUER, JWKS, &["RS256"]),
        CLIENT_ID,
        Some(CLIENT_SECRET.into()),
        ProfileMapping::oidc(),
    )
    .with_scopes(["openid", "email", "profile", "offline_access"])
    .with_prompt("consent")
}

fn oidc() -> Provider {
    Provider::new(oidc_config()).unwrap()
}

/// oidc-provider's recorded key set, plus this run's key.
fn served_keys() -> Value {
    let recorded = vectors()["provider"]["jwks"]["keys"]
        .as_array()
        .unwrap()
        .clone();
    key_set(&recorded)
}

/// A stateless instance (cookie strategy) at [`T0`], its JWKS served.
fn stateless() -> Harness {
    with(options(), false)
}

/// An instance with a memory database (database strategy by default).
fn stateful() -> Harness {
    with(options(), true)
}

fn with(options: Options, database: bool) -> Harness {
    let h = Harness::new(options, vec![oidc()], database, T0);
    h.provider
        .answer(Method::GET, JWKS, Answer::json(200, served_keys()));
    h
}

/// A sign-in with every URL of the flow set.
async fn start(h: &Harness) -> Flow {
    h.sign_in(json!({
        "provider": "oidc",
        "callbackURL": "/after",
        "errorCallbackURL": "/oops",
        "newUserCallbackURL": "/welcome",
    }))
    .await
}

/// Claims the provider would sign for `flow`: right issuer, audience,
/// nonce and times.
fn claims(h: &Harness, flow: &Flow) -> Value {
    let now = h.now_secs();
    json!({
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "sub": SUB,
        "email": "alice@example.com",
        "email_verified": true,
        "name": "Alice",
        "picture": "https://img.example/alice.png",
        "nonce": flow.nonce.as_deref().expect("a nonce"),
        "iat": now,
        "exp": now + 3600,
    })
}

/// A token response carrying `id_token`.
fn tokens(access_token: &str, id_token: Option<&str>) -> Value {
    let mut t = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": "rt-1",
        "scope": "openid email profile offline_access",
    });
    if let Some(id) = id_token {
        t["id_token"] = json!(id);
    }
    t
}

fn serve_tokens(h: &Harness, body: Value) {
    h.provider
        .answer(Method::POST, TOKEN, Answer::json(200, body));
}

/// The token endpoint answers an ID token with `claims`.
fn serve_id_token(h: &Harness, claims: &Value) {
    serve_tokens(h, tokens("at-1", Some(&id_token(claims))));
}

#[track_caller]
fn assert_location(r: &TestResponse, location: &str) {
    assert_eq!(r.status, 302, "{}: {}", location, r.text);
    assert_eq!(r.header("location"), Some(location), "{}", r.text);
}

/// A failed callback: `location`, no cookie set, `expired` expired.
#[track_caller]
fn assert_failed(r: &TestResponse, location: &str, expired: &[&str]) {
    assert_location(r, location);
    assert_eq!(
        set_names(r),
        Vec::<String>::new(),
        "{location}: no cookie set"
    );
    assert_eq!(expired_names(r), expired, "{location}: cookies expired");
}

/// A signed-in callback: `location`, the session's cookies, the state
/// cookie `state_cookie` expired.
#[track_caller]
fn assert_signed_in(r: &TestResponse, location: &str, state_cookie: &str) {
    assert_location(r, location);
    let names = set_names(r);
    assert!(
        names.contains(&SESSION_TOKEN.to_owned()),
        "{location}: {names:?}"
    );
    assert_eq!(expired_names(r), [state_cookie], "{location}");
}

fn flip_middle(value: &str) -> String {
    let mut bytes = value.as_bytes().to_vec();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
    String::from_utf8(bytes).unwrap()
}

// --- 1. better-auth's recorded callbacks, replayed ---

/// A harness configured as the recorded better-auth was: its secret, base
/// URL, provider and clock at `at_ms`; the token endpoint refuses every code
/// (as oidc-provider does once a code is used).
fn recorded_harness(at_ms: i64) -> Harness {
    assert_eq!(recorded("/meta/secret"), SECRET);
    assert_eq!(recorded("/meta/otherSecret"), OTHER_SECRET);
    assert_eq!(recorded("/meta/baseURL"), BASE_URL);
    assert_eq!(recorded("/meta/issuer"), ISSUER);
    let h = Harness::new(options(), vec![oidc()], false, at_ms);
    h.provider.answer(
        Method::GET,
        JWKS,
        Answer::json(200, vectors()["provider"]["jwks"].clone()),
    );
    h.provider.answer(
        Method::POST,
        TOKEN,
        Answer::json(
            400,
            json!({"error": "invalid_grant", "error_description": "grant request is invalid"}),
        ),
    );
    h
}

/// Sends a recorded request (URL and `Cookie` header) as it was sent.
async fn replay(h: &Harness, request: &Value) -> TestResponse {
    let url = request["url"].as_str().unwrap();
    let path = url.strip_prefix(BASE_URL).expect("a URL of the base");
    let cookie = request["headers"]["cookie"].as_str();
    assert_eq!(request["method"], "GET");
    h.send(Method::GET, path, cookie, None).await
}

/// Our `Set-Cookie` lines against better-auth's: the same names, values
/// for expired cookies, and attributes (dates masked).
#[track_caller]
fn assert_same_cookies(name: &str, ours: &TestResponse, theirs: &Value) {
    let theirs: Vec<SetCookieLine> = theirs
        .as_array()
        .unwrap()
        .iter()
        .map(|l| SetCookieLine::parse(l.as_str().unwrap()))
        .collect();
    let ours = ours.cookies();
    let names = |c: &[SetCookieLine]| {
        let mut n: Vec<String> = c.iter().map(|c| c.name.clone()).collect();
        n.sort();
        n
    };
    assert_eq!(names(&ours), names(&theirs), "{name}: cookie names");
    for t in &theirs {
        let o = ours.iter().find(|o| o.name == t.name).unwrap();
        assert_eq!(o.is_expired(), t.is_expired(), "{name}: {}", t.name);
        if t.is_expired() {
            assert_eq!(o.value, t.value, "{name}: {}", t.name);
        }
        assert_eq!(
            o.comparable_attributes(),
            t.comparable_attributes(),
            "{name}: {} attributes",
            t.name
        );
    }
}

#[test]
fn the_providers_are_listed_with_their_names_in_the_order_added() {
    let second = Provider::new(
        ProviderConfig::oauth2(
            "second",
            Endpoints::new(AUTHORIZE, TOKEN).with_userinfo(USERINFO),
            CLIENT_ID,
            None,
            ProfileMapping::oidc(),
        )
        .with_name("Second One"),
    )
    .unwrap();
    let h = Harness::new(options(), vec![second, oidc()], false, T0);
    let listed: Vec<(&str, &str)> = h
        .auth
        .oauth_providers()
        .map(|p| (p.id(), p.name()))
        .collect();
    assert_eq!(listed, [("second", "Second One"), ("oidc", "oidc")]);
}

#[tokio::test]
async fn recorded_negative_callbacks_answer_as_better_auth_did() {
    let v = vectors();
    let mut cases: Vec<&Value> = v["negativeCallbacks"].as_array().unwrap().iter().collect();
    cases.push(&v["replay"]);
    assert!(cases.len() >= 8, "the vectors hold the negative callbacks");
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let h = recorded_harness(case["atMs"].as_i64().unwrap());
        let r = replay(&h, &case["request"]).await;
        assert_eq!(
            i64::from(r.status),
            case["status"].as_i64().unwrap(),
            "{name}"
        );
        assert_eq!(
            r.header("location"),
            case["location"].as_str(),
            "{name}: {}",
            r.text
        );
        let location = url::Url::parse(r.header("location").unwrap()).unwrap();
        let error = location
            .query_pairs()
            .find(|(k, _)| k == "error")
            .map(|(_, v)| v.into_owned());
        assert_eq!(error.as_deref(), case["errorParam"].as_str(), "{name}");
        assert_same_cookies(name, &r, &case["setCookie"]);
        // Only the replay reaches the provider, whose code is used up.
        let exchanged = !h.provider.seen_at(TOKEN).is_empty();
        assert_eq!(exchanged, name == "callback-replay", "{name}");
    }
}

/// The control: the recorded callback itself, answered with the tokens the
/// provider gave, signs in as better-auth did.
#[tokio::test]
async fn the_recorded_callback_signs_in_as_better_auth_did() {
    let v = vectors();
    let callback = &v["callback"];
    let account = &v["accountData"]["payload"];
    let h = recorded_harness(callback["atMs"].as_i64().unwrap());
    serve_tokens(
        &h,
        json!({
            "access_token": account["accessToken"],
            "expires_in": 3600,
            "refresh_token": account["refreshToken"],
            "id_token": account["idToken"],
            "scope": "openid email profile offline_access",
            "token_type": "Bearer",
        }),
    );
    // The recorded ID token names no email: the userinfo answer does.
    let user = &v["sessionCookies"]["session_data"]["payload"]["user"];
    h.provider.answer(
        Method::GET,
        USERINFO,
        Answer::json(
            200,
            json!({"sub": "alice", "email": user["email"], "email_verified": true, "name": user["name"]}),
        ),
    );

    let r = replay(&h, &callback["request"]).await;
    assert_eq!(r.status, 302, "{}", r.text);
    assert_eq!(r.header("location"), callback["location"].as_str());
    assert_same_cookies("callback", &r, &callback["setCookie"]);

    // What was sent to the token endpoint: better-auth's form.
    let state = StateCipher::new(&Secrets::single(SECRET), Purpose::OAuthStateCookie)
        .open(recorded("/oauthState/rawValue"))
        .unwrap();
    let sent = h.provider.seen_at(TOKEN);
    assert_eq!(sent.len(), 1);
    let code = url::Url::parse(callback["request"]["url"].as_str().unwrap())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let expected: Vec<(String, String)> = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", state.code_verifier.as_str()),
        (
            "redirect_uri",
            "http://127.0.0.1:3005/api/auth/callback/oidc",
        ),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(sent[0].form(), expected);
    assert_eq!(sent[0].headers["accept"], "application/json");

    // The account cookie holds what better-auth's held.
    let sealed = r.cookie(ACCOUNT_DATA).unwrap().unwrap();
    let opened = AccountCookie::new(&Secrets::single(SECRET))
        .unwrap()
        .open(&sealed, h.now())
        .unwrap();
    assert_eq!(opened.account_id, "alice");
    assert_eq!(opened.provider_id, "oidc");
    assert_eq!(
        opened.access_token.as_deref(),
        account["accessToken"].as_str()
    );
    assert_eq!(opened.scope.as_deref(), account["scope"].as_str());
    let mut cookies = ClientCookies::new();
    cookies.update(&r);
    let s = h
        .send(
            Method::GET,
            "/api/auth/get-session",
            cookies.header().as_deref(),
            None,
        )
        .await;
    assert_eq!(s.body()["user"]["email"], user["email"]);
    assert_eq!(s.body()["user"]["emailVerified"], true);
    assert_eq!(s.body()["user"]["id"], opened.user_id.as_str());
}

// --- 2. the state ---

#[tokio::test]
async fn a_whole_sign_in_succeeds_the_control() {
    let h = stateless();
    let flow = start(&h).await;
    serve_id_token(&h, &claims(&h, &flow));
    let r = flow.finish(&h, "code-1").await;
    assert_signed_in(&r, "/welcome", OAUTH_STATE);
    let mut cookies = flow.cookies.clone();
    cookies.update(&r);
    assert!(h.session_user(&cookies).await.is_some());
}

#[tokio::test]
async fn a_callback_without_state_is_state_not_found() {
    let h = stateless();
    let flow = start(&h).await;
    for query in [
        vec![("code", "c")],
        vec![("code", "c"), ("state", "")],
        vec![],
    ] {
        let r = h.callback("oidc", &query, &flow.cookies).await;
        assert_failed(&r, &error_page("state_not_found"), &[]);
    }
    assert!(h.provider.seen_at(TOKEN).is_empty());
}

#[tokio::test]
async fn a_callback_without_the_state_cookie_is_state_mismatch() {
    let h = stateless();
    let flow = start(&h).await;
    let r = h
        .callback(
            "oidc",
            &[("code", "c"), ("state", &flow.state)],
            &ClientCookies::new(),
        )
        .await;
    assert_failed(&r, &error_page("state_mismatch"), &[]);
    // An empty cookie is no cookie (better-auth: `if (!encryptedData)`).
    let mut empty = ClientCookies::new();
    empty.insert(OAUTH_STATE, "");
    let r = h
        .callback("oidc", &[("code", "c"), ("state", &flow.state)], &empty)
        .await;
    assert_failed(&r, &error_page("state_mismatch"), &[]);
}

#[tokio::test]
async fn a_tampered_state_cookie_is_state_invalid() {
    let h = stateless();
    let flow = start(&h).await;
    let sealed = flow.cookies.get(OAUTH_STATE).unwrap().to_owned();
    let mut truncated = sealed.clone();
    truncated.truncate(sealed.len() - 2);
    for hostile in [
        flip_middle(&sealed),
        truncated,
        format!("{sealed}00"),
        "not-hex-at-all".to_owned(),
        "00".repeat(24),
        "ab".repeat(2000),
        "%00%ff%22".to_owned(),
    ] {
        let mut cookies = ClientCookies::new();
        cookies.insert(OAUTH_STATE, hostile.clone());
        let r = h
            .callback("oidc", &[("code", "c"), ("state", &flow.state)], &cookies)
            .await;
        // Unreadable: its errorURL is unknown, the cookie is left alone.
        assert_failed(&r, &error_page("state_invalid"), &[]);
    }
    assert!(h.provider.seen().iter().all(|s| s.uri == JWKS));
}

#[tokio::test]
async fn a_state_sealed_under_another_secret_is_state_invalid() {
    let h = stateless();
    let flow = start(&h).await;
    let ours = StateCipher::new(&Secrets::single(SECRET), Purpose::OAuthStateCookie);
    let data = ours.open(flow.cookies.get(OAUTH_STATE).unwrap()).unwrap();
    assert!(data.matches_state(&flow.state));
    let foreign =
        StateCipher::new(&Secrets::single(OTHER_SECRET), Purpose::OAuthStateCookie).seal(&data);
    // Sealed for another purpose under the right secret: refused too.
    let other_purpose =
        StateCipher::new(&Secrets::single(SECRET), Purpose::OAuthLinkSessionToken).seal(&data);
    for sealed in [foreign, other_purpose] {
        let mut cookies = ClientCookies::new();
        cookies.insert(OAUTH_STATE, sealed);
        let r = h
            .callback("oidc", &[("code", "c"), ("state", &flow.state)], &cookies)
            .await;
        assert_failed(&r, &error_page("state_invalid"), &[]);
    }
}

#[tokio::test]
async fn a_state_query_other_than_the_cookies_is_state_mismatch_at_the_flows_error_url() {
    let h = stateless();
    let flow = start(&h).await;
    let mut altered = flow.state.clone().into_bytes();
    altered[4] = if altered[4] == b'a' { b'b' } else { b'a' };
    let altered = String::from_utf8(altered).unwrap();
    // The attacker's own sign-in: its state with the victim's cookie.
    let other = start(&h).await;
    for state in [
        altered.as_str(),
        other.state.as_str(),
        "x",
        &"s".repeat(5000),
    ] {
        let r = h
            .callback("oidc", &[("code", "c"), ("state", state)], &flow.cookies)
            .await;
        // Parsed: the flow's errorCallbackURL; the cookie is kept (better-auth
        // expires it only once the state matches).
        assert_failed(&r, "/oops?error=state_mismatch", &[]);
    }
    // Still usable by the right callback.
    serve_id_token(&h, &claims(&h, &flow));
    assert_signed_in(&flow.finish(&h, "c").await, "/welcome", OAUTH_STATE);
}

#[tokio::test]
async fn an_expired_state_is_state_mismatch_at_the_flows_error_url() {
    let h = stateless();
    let flow = start(&h).await;
    h.advance_secs(601);
    serve_id_token(&h, &claims(&h, &flow));
    let r = flow.finish(&h, "c").await;
    assert_failed(&r, "/oops?error=state_mismatch", &[OAUTH_STATE]);
    assert!(h.provider.seen_at(TOKEN).is_empty());
}

#[tokio::test]
async fn a_state_is_good_until_its_expiry_inclusive() {
    let h = stateless();
    let flow = start(&h).await;
    // `expiresAt < Date.now()`: at exactly expiresAt it still holds.
    h.advance_secs(600);
    serve_id_token(&h, &claims(&h, &flow));
    assert_signed_in(&flow.finish(&h, "c").await, "/welcome", OAUTH_STATE);
}

#[tokio::test]
async fn without_an_error_callback_url_errors_go_to_the_error_page() {
    let h = stateless();
    let flow = h
        .sign_in(json!({"provider": "oidc", "callbackURL": "/after"}))
        .await;
    let r = h
        .callback(
            "oidc",
            &[("state", &flow.state), ("error", "access_denied")],
            &flow.cookies,
        )
        .await;
    assert_failed(&r, &error_page("access_denied"), &[OAUTH_STATE]);
}

#[tokio::test]
async fn the_error_url_keeps_its_query_and_fragment() {
    let h = stateless();
    for (error_url, expected) in [
        ("/oops?from=login", "/oops?from=login&error=no_code"),
        ("/oops?from=login&", "/oops?from=login&error=no_code"),
        ("/oops#top", "/oops?error=no_code#top"),
        ("/oops?a=1#top", "/oops?a=1&error=no_code#top"),
        (
            "http://127.0.0.1:3005/oops",
            "http://127.0.0.1:3005/oops?error=no_code",
        ),
        // better-auth serialises through `new URL(…)`.
        (
            "http://127.0.0.1:3005",
            "http://127.0.0.1:3005/?error=no_code",
        ),
    ] {
        let flow = h
            .sign_in(json!({"provider": "oidc", "errorCallbackURL": error_url}))
            .await;
        let r = h
            .callback("oidc", &[("state", &flow.state)], &flow.cookies)
            .await;
        assert_failed(&r, expected, &[OAUTH_STATE]);
    }
}

// --- 2b. the database strategy ---

#[tokio::test]
async fn the_database_strategy_keeps_the_state_in_a_record_and_a_signed_cookie() {
    let h = stateful();
    let flow = start(&h).await;
    assert!(flow.cookies.get(OAUTH_STATE).is_none());
    let signed = flow
        .cookies
        .get(SIGNED_STATE)
        .expect("the signed state cookie");
    assert!(signed.starts_with(&format!("{}.", flow.state)), "{signed}");
    let record = h
        .db()
        .find_verification(&format!("auth-state:{}", flow.state))
        .await
        .unwrap()
        .expect("the state's record");
    assert!(record.value.contains(&flow.state));

    serve_id_token(&h, &claims(&h, &flow));
    let r = flow.finish(&h, "c").await;
    assert_signed_in(&r, "/welcome", SIGNED_STATE);
    // Used up.
    assert!(h
        .db()
        .find_verification(&format!("auth-state:{}", flow.state))
        .await
        .unwrap()
        .is_none());
    // The same callback again: the state is gone.
    let again = flow.finish(&h, "c").await;
    assert_failed(&again, &error_page("state_mismatch"), &[]);
    assert_eq!(h.provider.seen_at(TOKEN).len(), 1, "one exchange");
}

#[tokio::test]
async fn the_database_strategy_needs_the_signed_state_cookie() {
    let h = stateful();
    let flow = start(&h).await;
    let other = start(&h).await;
    let encode = |v: &str| encode_uri_component(v);
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("unsigned", Some(flow.state.clone())),
        (
            "signed under another secret",
            Some(encode(&sign_value(
                &Secrets::single(OTHER_SECRET),
                &flow.state,
            ))),
        ),
        (
            "signed for another state",
            Some(other.cookies.get(SIGNED_STATE).unwrap().to_owned()),
        ),
        (
            "signature altered",
            Some(flip_middle(flow.cookies.get(SIGNED_STATE).unwrap())),
        ),
        ("empty", Some(String::new())),
    ];
    for (what, cookie) in cases {
        let mut cookies = ClientCookies::new();
        if let Some(c) = cookie {
            cookies.insert(SIGNED_STATE, c);
        }
        let r = h
            .callback("oidc", &[("code", "c"), ("state", &flow.state)], &cookies)
            .await;
        assert_eq!(r.status, 302, "{what}");
        assert_failed(&r, "/oops?error=state_mismatch", &[]);
    }
    assert!(h.provider.seen_at(TOKEN).is_empty());
    // A refused attempt does not use the state up.
    serve_id_token(&h, &claims(&h, &flow));
    assert_signed_in(&flow.finish(&h, "c").await, "/welcome", SIGNED_STATE);
}

#[tokio::test]
async fn an_unknown_database_state_is_state_mismatch() {
    let h = stateful();
    let _flow = start(&h).await;
    let forged = "A".repeat(32);
    let mut cookies = ClientCookies::new();
    cookies.insert(
        SIGNED_STATE,
        encode_uri_component(&sign_value(&Secrets::single(SECRET), &forged)),
    );
    let r = h
        .callback("oidc", &[("code", "c"), ("state", &forged)], &cookies)
        .await;
    assert_failed(&r, &error_page("state_mismatch"), &[]);
}

#[tokio::test]
async fn an_expired_database_state_is_state_mismatch_at_the_flows_error_url() {
    let h = stateful();
    let flow = start(&h).await;
    h.advance_secs(601);
    serve_id_token(&h, &claims(&h, &flow));
    // better-auth finds the record, checks the cookie, uses the state up,
    // then refuses it as expired, at the flow's error URL.
    let r = flow.finish(&h, "c").await;
    assert_failed(&r, "/oops?error=state_mismatch", &[SIGNED_STATE]);
    assert!(h
        .db()
        .find_verification(&format!("auth-state:{}", flow.state))
        .await
        .unwrap()
        .is_none());
    assert!(h.provider.seen_at(TOKEN).is_empty());
}

#[tokio::test]
async fn skip_state_cookie_check_accepts_a_database_state_without_its_cookie() {
    let mut o = options();
    o.account.skip_state_cookie_check = true;
    let h = with(o, true);
    let flow = start(&h).await;
    serve_id_token(&h, &claims(&h, &flow));
    let r = h
        .callback(
            "oidc",
            &[("code", "c"), ("state", &flow.state)],
            &ClientCookies::new(),
        )
        .await;
    assert_signed_in(&r, "/welcome", SIGNED_STATE);
}

/// With secondary storage and no database, better-auth keeps the state in
/// the secondary storage (`verification:auth-state:<state>`), so the
/// callback may land on another instance.
#[tokio::test]
async fn the_database_strategy_state_is_shared_through_secondary_storage() {
    let secondary = std::sync::Arc::new(MemorySecondaryStorage::new());
    let build = || {
        let clock = tessera::TestClock::at(Timestamp::from_millis(T0));
        let provider = std::sync::Arc::new(FakeProvider::default());
        provider.answer(Method::GET, JWKS, Answer::json(200, served_keys()));
        let auth = tessera::Auth::builder(options())
            .clock(std::sync::Arc::new(clock.clone()))
            .http_client(provider.clone())
            .oauth_provider(oidc())
            .secondary_storage(secondary.clone())
            .build()
            .unwrap();
        Harness {
            auth,
            clock,
            provider,
            db: None,
        }
    };
    let a = build();
    let b = build();
    let flow = start(&a).await;
    assert!(
        flow.cookies.get(SIGNED_STATE).is_some(),
        "database strategy"
    );
    serve_id_token(&b, &claims(&b, &flow));
    let r = flow.finish(&b, "c").await;
    assert_signed_in(&r, "/welcome", SIGNED_STATE);
    // And used up there.
    let again = flow.finish(&a, "c").await;
    assert_failed(&again, &error_page("state_mismatch"), &[]);
}

// --- 3. the provider's answers ---

#[tokio::test]
async fn the_providers_error_is_passed_on_with_its_description() {
    let h = stateless();
    let flow = start(&h).await;
    let r = h
        .callback(
            "oidc",
            &[
                ("state", &flow.state),
                ("error", "access_denied"),
                ("error_description", "End-User aborted interaction"),
            ],
            &flow.cookies,
        )
        .await;
    assert_failed(
        &r,
        "/oops?error=access_denied&error_description=End-User+aborted+interaction",
        &[OAUTH_STATE],
    );

    // Without a description, none is made up (better-auth: `if (description)`).
    let flow = start(&h).await;
    for query in [
        vec![("state", flow.state.as_str()), ("error", "access_denied")],
        vec![
            ("state", flow.state.as_str()),
            ("error", "access_denied"),
            ("error_description", ""),
        ],
    ] {
        let r = h.callback("oidc", &query, &flow.cookies).await;
        assert_failed(&r, "/oops?error=access_denied", &[OAUTH_STATE]);
    }
    assert!(h.provider.seen_at(TOKEN).is_empty());
}

#[tokio::test]
async fn an_unknown_provider_error_is_carried_as_a_description_only() {
    let h = stateless();
    let flow = start(&h).await;
    for (error, location) in [
        (
            "x&error=state_invalid",
            "/oops?error=oauth_error&error_description=x%26error%3Dstate_invalid",
        ),
        (
            "<script>alert(1)</script>",
            "/oops?error=oauth_error&error_description=%3Cscript%3Ealert%281%29%3C%2Fscript%3E",
        ),
    ] {
        let r = h
            .callback(
                "oidc",
                &[("state", &flow.state), ("code", "c"), ("error", error)],
                &flow.cookies,
            )
            .await;
        assert_failed(&r, location, &[OAUTH_STATE]);
    }
    assert!(h.provider.seen_at(TOKEN).is_empty());
}

#[tokio::test]
async fn a_callback_without_a_code_is_no_code() {
    let h = stateless();
    let flow = start(&h).await;
    for query in [
        vec![("state", flow.state.as_str())],
        vec![("state", flow.state.as_str()), ("code", "")],
        // An empty `error` is no error (better-auth: `if (error)`).
        vec![("state", flow.state.as_str()), ("error", "")],
    ] {
        let r = h.callback("oidc", &query, &flow.cookies).await;
        assert_failed(&r, "/oops?error=no_code", &[OAUTH_STATE]);
    }
}

#[tokio::test]
async fn an_iss_other_than_the_issuer_is_issuer_mismatch() {
    let h = stateless();
    let flow = start(&h).await;
    for iss in [
        "http://127.0.0.1:1",
        "http://127.0.0.1:4010/",
        "HTTP://127.0.0.1:4010",
    ] {
        let r = h
            .callback(
                "oidc",
                &[("code", "c"), ("state", &flow.state), ("iss", iss)],
                &flow.cookies,
            )
            .await;
        assert_failed(&r, "/oops?error=issuer_mismatch", &[OAUTH_STATE]);
    }
    assert!(h.provider.seen_at(TOKEN).is_empty());
    // The issuer itself passes.
    serve_id_token(&h, &claims(&h, &flow));
    let r = h
        .callback(
            "oidc",
            &[("code", "c"), ("state", &flow.state), ("iss", ISSUER)],
            &flow.cookies,
        )
        .await;
    assert_signed_in(&r, "/welcome", OAUTH_STATE);
}

#[tokio::test]
async fn every_failure_of_the_code_exchange_is_invalid_code() {
    let h = stateless();
    let huge = format!("{{\"access_token\":\"{}\"}}", "a".repeat(300 * 1024));
    let answers = [
        ("refused", Answer::Connect),
        ("timeout", Answer::Timeout),
        (
            "invalid_grant",
            Answer::json(400, json!({"error": "invalid_grant"})),
        ),
        (
            "401 invalid_client",
            Answer::json(401, json!({"error": "invalid_client"})),
        ),
        ("500 html", Answer::raw(500, "text/html", "<h1>down</h1>")),
        (
            "200 not json",
            Answer::raw(200, "text/html", "<h1>hello</h1>"),
        ),
        ("200 empty", Answer::raw(200, "application/json", "")),
        (
            "200 truncated",
            Answer::raw(200, "application/json", "{\"access_token\":"),
        ),
        ("200 array", Answer::json(200, json!(["access_token"]))),
        ("200 string", Answer::json(200, json!("access_token"))),
        (
            "200 error",
            Answer::json(200, json!({"error": "bad_verification_code"})),
        ),
        (
            "302 elsewhere",
            Answer::redirect(302, "http://127.0.0.1:9/token"),
        ),
        ("307 elsewhere", Answer::redirect(307, "/token2")),
        ("too large", Answer::raw(200, "application/json", huge)),
    ];
    for (what, answer) in answers {
        let flow = start(&h).await;
        h.provider.forget();
        h.provider.answer(Method::POST, TOKEN, answer);
        let r = flow.finish(&h, "c").await;
        assert_eq!(r.status, 302, "{what}: {}", r.text);
        assert_failed(&r, "/oops?error=invalid_code", &[OAUTH_STATE]);
        assert_eq!(h.provider.seen_at(TOKEN).len(), 1, "{what}: one request");
        assert!(
            h.provider.seen_at(USERINFO).is_empty(),
            "{what}: no userinfo"
        );
    }
}

#[tokio::test]
async fn a_token_answer_without_usable_tokens_is_unable_to_get_user_info() {
    let h = stateless();
    for body in [
        json!({}),
        json!({"access_token": 42, "id_token": ["x"]}),
        json!({"token_type": "Bearer", "expires_in": -5, "scope": 7}),
        json!({"access_token": "at", "expires_in": 1e300, "refresh_token_expires_in": "soon"}),
    ] {
        let flow = start(&h).await;
        serve_tokens(&h, body.clone());
        let r = flow.finish(&h, "c").await;
        assert_failed(&r, "/oops?error=unable_to_get_user_info", &[OAUTH_STATE]);
    }
}

#[tokio::test]
async fn userinfo_that_fails_or_names_another_subject_is_unable_to_get_user_info() {
    let h = stateless();
    let cases = [
        ("500", Answer::json(500, json!({"error": "server_error"}))),
        ("401", Answer::json(401, json!({"error": "invalid_token"}))),
        ("refused", Answer::Connect),
        ("timeout", Answer::Timeout),
        ("not json", Answer::raw(200, "text/html", "<html>")),
        ("array", Answer::json(200, json!([{"sub": SUB}]))),
        (
            "another sub",
            Answer::json(
                200,
                json!({"sub": "mallory", "email": "mallory@example.com"}),
            ),
        ),
        (
            "no sub",
            Answer::json(200, json!({"email": "alice@example.com"})),
        ),
        (
            "a sub of another type",
            Answer::json(
                200,
                json!({"sub": ["alice-sub"], "email": "alice@example.com"}),
            ),
        ),
        ("redirect", Answer::redirect(302, "http://127.0.0.1:9/me")),
    ];
    for (what, answer) in cases {
        let flow = start(&h).await;
        // An ID token without email: the profile comes from userinfo.
        let mut c = claims(&h, &flow);
        c.as_object_mut().unwrap().remove("email");
        serve_id_token(&h, &c);
        h.provider.answer(Method::GET, USERINFO, answer);
        let r = flow.finish(&h, "c").await;
        assert_eq!(r.status, 302, "{what}");
        assert_failed(&r, "/oops?error=unable_to_get_user_info", &[OAUTH_STATE]);
    }
    // The control: the same subject passes.
    let flow = start(&h).await;
    let mut c = claims(&h, &flow);
    c.as_object_mut().unwrap().remove("email");
    serve_id_token(&h, &c);
    h.provider.answer(
        Method::GET,
        USERINFO,
        Answer::json(200, json!({"sub": SUB, "email": "alice@example.com"})),
    );
    let r = flow.finish(&h, "c").await;
    assert_signed_in(&r, "/welcome", OAUTH_STATE);
    let sent = h.provider.seen_at(USERINFO);
    assert_eq!(sent.last().unwrap().headers["authorization"], "Bearer at-1");
}

#[tokio::test]
async fn an_id_token_that_does_not_verify_is_unable_to_get_user_info() {
    let h = stateless();
    type Forge = fn(&mut Value, &Harness) -> Option<String>;
    let cases: Vec<(&str, Forge)> = vec![
        ("another audience", |c, _| {
            c["aud"] = json!("another-client");
            None
        }),
        ("an audience list without us", |c, _| {
            c["aud"] = json!(["a", "b"]);
            None
        }),
        ("another issuer", |c, _| {
            c["iss"] = json!("http://127.0.0.1:4011");
            None
        }),
        ("the issuer with a slash", |c, _| {
            c["iss"] = json!("http://127.0.0.1:4010/");
            None
        }),
        ("another nonce", |c, _| {
            c["nonce"] = json!("another-nonce-another-nonce-1234");
            None
        }),
        ("no nonce", |c, _| {
            c.as_object_mut().unwrap().remove("nonce");
            None
        }),
        ("expired", |c, h| {
            c["iat"] = json!(h.now_secs() - 7200);
            c["exp"] = json!(h.now_secs() - 3600);
            None
        }),
        ("not yet valid", |c, h| {
            c["nbf"] = json!(h.now_secs() + 3600);
            None
        }),
        ("an unknown key", |c, _| Some(sign(1, "unknown-kid", c))),
        ("another key under the served kid", |c, _| {
            Some(sign(1, KID, c))
        }),
        ("the signature altered", |c, _| {
            let t = id_token(c);
            let (head, sig) = t.rsplit_once('.').unwrap();
            let mut sig = sig.as_bytes().to_vec();
            sig[10] = if sig[10] == b'A' { b'B' } else { b'A' };
            Some(format!("{head}.{}", String::from_utf8(sig).unwrap()))
        }),
        ("alg none", |c, _| {
            use base64::Engine as _;
            let b64 =
                |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
            Some(format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                b64(c)
            ))
        }),
        ("not a JWT", |_, _| Some("garbage".into())),
        ("empty", |_, _| Some(String::new())),
    ];
    for (what, forge) in cases {
        let flow = start(&h).await;
        let mut c = claims(&h, &flow);
        let token = forge(&mut c, &h).unwrap_or_else(|| id_token(&c));
        serve_tokens(&h, tokens("at-1", Some(&token)));
        // Userinfo would vouch for anyone: it must not be asked instead.
        h.provider.answer(
            Method::GET,
            USERINFO,
            Answer::json(200, json!({"sub": SUB, "email": "alice@example.com"})),
        );
        let r = flow.finish(&h, "c").await;
        assert_eq!(r.status, 302, "{what}: {}", r.text);
        assert_failed(&r, "/oops?error=unable_to_get_user_info", &[OAUTH_STATE]);
    }
}

#[tokio::test]
async fn a_provider_that_verifies_id_tokens_must_send_one() {
    let h = stateless();
    let flow = start(&h).await;
    serve_tokens(&h, tokens("at-1", None));
    h.provider.answer(
        Method::GET,
        USERINFO,
        Answer::json(200, json!({"sub": SUB, "email": "alice@example.com"})),
    );
    let r = flow.finish(&h, "c").await;
    assert_failed(&r, "/oops?error=unable_to_get_user_info", &[OAUTH_STATE]);
}

#[tokio::test]
async fn a_state_without_a_nonce_is_nonce_binding_missing() {
    let h = stateless();
    let flow = start(&h).await;
    let cipher = StateCipher::new(&Secrets::single(SECRET), Purpose::OAuthStateCookie);
    let mut data = cipher.open(flow.cookies.get(OAUTH_STATE).unwrap()).unwrap();
    data.id_token_nonce = None;
    let mut cookies = ClientCookies::new();
    cookies.insert(OAUTH_STATE, cipher.seal(&data));
    let r = h
        .callback("oidc", &[("code", "c"), ("state", &flow.state)], &cookies)
        .await;
    assert_failed(&r, "/oops?error=nonce_binding_missing", &[OAUTH_STATE]);
    assert!(h.provider.seen_at(TOKEN).is_empty());
}

#[tokio::test]
async fn a_profile_without_email_is_email_not_found() {
    let h = stateless();
    for email in [None, Some(json!("")), Some(json!(null)), Some(json!(7))] {
        let flow = start(&h).await;
        let mut c = claims(&h, &flow);
        c.as_object_mut().unwrap().remove("email");
        serve_id_token(&h, &c);
        let mut profile = json!({"sub": SUB, "name": "Alice"});
        if let Some(e) = &email {
            profile["email"] = e.clone();
        }
        h.provider
            .answer(Method::GET, USERINFO, Answer::json(200, profile));
        let r = flow.finish(&h, "c").await;
        assert_failed(&r, "/oops?error=email_not_found", &[OAUTH_STATE]);
    }
}

#[tokio::test]
async fn a_form_post_callback_is_redirected_to_the_get_form() {
    let h = stateless();
    let r = h
        .send(
            Method::POST,
            "/api/auth/callback/oidc",
            None,
            Some(&json!({"code": "c&d", "state": "s", "evil": "x", "error": 7})),
        )
        .await;
    assert_location(&r, &format!("{API}/callback/oidc?code=c%26d&state=s"));
}

// --- 4. sign in, link or create ---

/// A harness with a database and the cookie strategy (the strategy does
/// not matter to these rules).
fn linking(configure: impl FnOnce(&mut Options)) -> Harness {
    let mut o = options();
    o.account.store_state_strategy = Some(StateStrategy::Cookie);
    configure(&mut o);
    with(o, true)
}

/// Signs in with `claims` tweaked by `f`.
async fn sign_in_with(h: &Harness, f: impl FnOnce(&mut Value)) -> (TestResponse, ClientCookies) {
    let flow = start(h).await;
    let mut c = claims(h, &flow);
    f(&mut c);
    serve_id_token(h, &c);
    let r = flow.finish(h, "c").await;
    let mut cookies = flow.cookies.clone();
    cookies.update(&r);
    (r, cookies)
}

async fn oidc_accounts(h: &Harness, user_id: &str) -> Vec<tessera::store::Account> {
    h.db()
        .find_accounts(user_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.provider_id == "oidc")
        .collect()
}

#[tokio::test]
async fn a_verified_email_links_to_the_verified_local_user() {
    let h = linking(|_| {});
    let local = h.create_user("alice@example.com", true).await;
    let (r, cookies) = sign_in_with(&h, |c| c["email"] = json!("Alice@Example.COM")).await;
    assert_signed_in(&r, "/after", OAUTH_STATE);
    assert_eq!(h.session_user(&cookies).await.as_deref(), Some(&*local.id));
    let accounts = oidc_accounts(&h, &local.id).await;
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].account_id, SUB);
    assert_eq!(accounts[0].access_token.as_deref(), Some("at-1"));
    assert_eq!(
        accounts[0].scope.as_deref(),
        Some("openid,email,profile,offline_access")
    );
}

#[tokio::test]
async fn an_unverified_provider_email_is_not_linked() {
    let h = linking(|_| {});
    let local = h.create_user("alice@example.com", true).await;
    for verified in [json!(false), json!("false"), json!(null), json!("yes")] {
        let (r, _) = sign_in_with(&h, |c| c["email_verified"] = verified.clone()).await;
        assert_failed(&r, "/oops?error=account_not_linked", &[OAUTH_STATE]);
    }
    let (r, _) = sign_in_with(&h, |c| {
        c.as_object_mut().unwrap().remove("email_verified");
    })
    .await;
    assert_failed(&r, "/oops?error=account_not_linked", &[OAUTH_STATE]);
    assert!(oidc_accounts(&h, &local.id).await.is_empty());
}

#[tokio::test]
async fn a_trusted_provider_links_an_unverified_email() {
    let h = linking(|o| o.account.trusted_providers = vec!["oidc".into()]);
    let local = h.create_user("alice@example.com", true).await;
    let (r, cookies) = sign_in_with(&h, |c| c["email_verified"] = json!(false)).await;
    assert_signed_in(&r, "/after", OAUTH_STATE);
    assert_eq!(h.session_user(&cookies).await.as_deref(), Some(&*local.id));
    assert_eq!(oidc_accounts(&h, &local.id).await.len(), 1);
}

#[tokio::test]
async fn an_unverified_local_user_is_not_linked_while_local_verification_is_required() {
    let h = linking(|_| {});
    let local = h.create_user("alice@example.com", false).await;
    let (r, _) = sign_in_with(&h, |_| {}).await;
    assert_failed(&r, "/oops?error=account_not_linked", &[OAUTH_STATE]);
    assert!(oidc_accounts(&h, &local.id).await.is_empty());

    // Without the requirement it links, and the provider's verification of
    // the same address verifies the user.
    let h = linking(|o| o.account.require_local_email_verified = false);
    let local = h.create_user("alice@example.com", false).await;
    let (r, cookies) = sign_in_with(&h, |_| {}).await;
    assert_signed_in(&r, "/after", OAUTH_STATE);
    assert_eq!(h.session_user(&cookies).await.as_deref(), Some(&*local.id));
    let user = h.db().find_user_by_id(&local.id).await.unwrap().unwrap();
    assert!(user.email_verified);
}

#[tokio::test]
async fn account_linking_off_is_account_not_linked() {
    let h = linking(|o| o.account.account_linking = false);
    h.create_user("alice@example.com", true).await;
    let (r, _) = sign_in_with(&h, |_| {}).await;
    assert_failed(&r, "/oops?error=account_not_linked", &[OAUTH_STATE]);
}

#[tokio::test]
async fn sign_up_disabled_is_signup_disabled_for_new_users_only() {
    let config = oidc_config();
    let mut config = config;
    config.disable_sign_up = true;
    let mut o = options();
    o.account.store_state_strategy = Some(StateStrategy::Cookie);
    let h = Harness::new(o, vec![Provider::new(config).unwrap()], true, T0);
    h.provider
        .answer(Method::GET, JWKS, Answer::json(200, served_keys()));
    let (r, _) = sign_in_with(&h, |_| {}).await;
    assert_failed(&r, "/oops?error=signup_disabled", &[OAUTH_STATE]);
    assert!(h
        .db()
        .find_user_by_email("alice@example.com")
        .await
        .unwrap()
        .is_none());
    // An existing user still links and signs in.
    let local = h.create_user("alice@example.com", true).await;
    let (r, cookies) = sign_in_with(&h, |_| {}).await;
    assert_signed_in(&r, "/after", OAUTH_STATE);
    assert_eq!(h.session_user(&cookies).await.as_deref(), Some(&*local.id));
}

#[tokio::test]
async fn implicit_sign_up_disabled_needs_request_sign_up() {
    let mut config = oidc_config();
    config.disable_implicit_sign_up = true;
    let mut o = options();
    o.account.store_state_strategy = Some(StateStrategy::Cookie);
    let h = Harness::new(o, vec![Provider::new(config).unwrap()], true, T0);
    h.provider
        .answer(Method::GET, JWKS, Answer::json(200, served_keys()));
    let (r, _) = sign_in_with(&h, |_| {}).await;
    assert_failed(&r, "/oops?error=signup_disabled", &[OAUTH_STATE]);

    let flow = h
        .sign_in(json!({
            "provider": "oidc",
            "callbackURL": "/after",
            "errorCallbackURL": "/oops",
            "newUserCallbackURL": "/welcome",
            "requestSignUp": true,
        }))
        .await;
    serve_id_token(&h, &claims(&h, &flow));
    assert_signed_in(&flow.finish(&h, "c").await, "/welcome", OAUTH_STATE);
}

#[tokio::test]
async fn a_second_sign_in_finds_the_account_by_subject_and_stores_fresh_tokens() {
    let h = linking(|_| {});
    let (r, cookies) = sign_in_with(&h, |_| {}).await;
    assert_signed_in(&r, "/welcome", OAUTH_STATE);
    let user_id = h.session_user(&cookies).await.unwrap();
    let first = oidc_accounts(&h, &user_id).await.remove(0);
    assert_eq!(first.refresh_token.as_deref(), Some("rt-1"));

    // The provider's email changed; the subject did not. Fresh tokens, no
    // refresh token and no expiry in this answer.
    h.advance_secs(60);
    let flow = start(&h).await;
    let mut c = claims(&h, &flow);
    c["email"] = json!("alice@new.example");
    serve_tokens(
        &h,
        json!({"access_token": "at-2", "token_type": "Bearer", "id_token": id_token(&c), "scope": "openid"}),
    );
    let r = flow.finish(&h, "c").await;
    assert_signed_in(&r, "/after", OAUTH_STATE);
    let mut cookies = flow.cookies.clone();
    cookies.update(&r);
    assert_eq!(h.session_user(&cookies).await.as_deref(), Some(&*user_id));
    let accounts = oidc_accounts(&h, &user_id).await;
    assert_eq!(accounts.len(), 1, "no second account");
    let second = &accounts[0];
    assert_eq!(second.id, first.id);
    assert_eq!(second.access_token.as_deref(), Some("at-2"));
    assert_eq!(second.id_token.as_deref(), Some(&*id_token(&c)));
    // What the answer did not carry is kept (better-auth drops undefined
    // fields from the update), and the scope is only changed by linking.
    assert_eq!(second.refresh_token.as_deref(), Some("rt-1"));
    assert_eq!(
        second.access_token_expires_at,
        first.access_token_expires_at
    );
    assert_eq!(second.scope, first.scope);
    assert!(second.updated_at.as_millis() > first.updated_at.as_millis());
    // No user for the new address.
    assert!(h
        .db()
        .find_user_by_email("alice@new.example")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn the_new_user_url_is_for_new_users_only() {
    let h = linking(|_| {});
    let (r, _) = sign_in_with(&h, |_| {}).await;
    assert_signed_in(&r, "/welcome", OAUTH_STATE);
    let (r, _) = sign_in_with(&h, |_| {}).await;
    assert_signed_in(&r, "/after", OAUTH_STATE);
    // Linked, not created: the callback URL too.
    h.create_user("bob@example.com", true).await;
    let (r, _) = sign_in_with(&h, |c| {
        c["sub"] = json!("bob-sub");
        c["email"] = json!("bob@example.com");
    })
    .await;
    assert_signed_in(&r, "/after", OAUTH_STATE);
    // Without a newUserCallbackURL, a new user goes to the callback URL.
    let flow = h
        .sign_in(json!({"provider": "oidc", "callbackURL": "/after"}))
        .await;
    let mut c = claims(&h, &flow);
    c["sub"] = json!("carol-sub");
    c["email"] = json!("carol@example.com");
    serve_id_token(&h, &c);
    assert_signed_in(&flow.finish(&h, "c").await, "/after", OAUTH_STATE);
    // Without any, the base URL's origin.
    let flow = h.sign_in(json!({"provider": "oidc"})).await;
    let mut c = claims(&h, &flow);
    c["sub"] = json!("dave-sub");
    c["email"] = json!("dave@example.com");
    serve_id_token(&h, &c);
    assert_signed_in(&flow.finish(&h, "c").await, BASE_URL, OAUTH_STATE);
}

#[tokio::test]
async fn a_new_user_takes_the_providers_profile() {
    let h = linking(|_| {});
    let (r, cookies) = sign_in_with(&h, |c| {
        c["email"] = json!("New.User@Example.com");
        c["email_verified"] = json!("true");
    })
    .await;
    assert_signed_in(&r, "/welcome", OAUTH_STATE);
    let id = h.session_user(&cookies).await.unwrap();
    let user = h.db().find_user_by_id(&id).await.unwrap().unwrap();
    assert_eq!(user.email, "new.user@example.com");
    assert!(user.email_verified);
    assert_eq!(user.name, "Alice");
    assert_eq!(user.image.as_deref(), Some("https://img.example/alice.png"));
}

/// `/callback/:id` takes any id, as better-auth's does: the state is
/// checked first, then an unknown provider is `oauth_provider_not_found`
/// at the flow's error URL; a path with more segments is the router's 404.
#[tokio::test]
async fn a_callback_for_an_unknown_provider_is_oauth_provider_not_found() {
    let h = stateless();
    for id in ["unknown", "..%2Foidc", "OIDC"] {
        let flow = start(&h).await;
        let r = h
            .callback(id, &[("code", "c"), ("state", &flow.state)], &flow.cookies)
            .await;
        assert_eq!(r.status, 302, "{id}: {}", r.text);
        // The flow's own errorCallbackURL, known once the state parsed.
        assert_location(&r, "/oops?error=oauth_provider_not_found");
    }
    let flow = start(&h).await;
    let r = h
        .callback(
            "oidc/extra",
            &[("code", "c"), ("state", &flow.state)],
            &flow.cookies,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(r.set_cookies.is_empty());
    // A state that does not check out is that error first, as in better-auth.
    let r = h
        .callback(
            "unknown",
            &[("code", "c"), ("state", "forged")],
            &flow.cookies,
        )
        .await;
    assert_location(&r, "/oops?error=state_mismatch");
    assert!(h.provider.seen_at(TOKEN).is_empty());
}

/// `provider` is a zod union in better-auth's schema: a wrong type says
/// only "Invalid input".
#[tokio::test]
async fn a_provider_that_is_not_a_string_is_invalid_input() {
    let h = stateless();
    let r = h
        .send(
            Method::POST,
            "/api/auth/sign-in/social",
            None,
            Some(&json!({"provider": 7})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body(),
        &json!({"message": "[body.provider] Invalid input", "code": "VALIDATION_ERROR"})
    );
}
