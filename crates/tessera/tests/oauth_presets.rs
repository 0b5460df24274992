//! The provider presets against answers shaped as the providers document
//! them, read as better-auth 1.7.25's `social-providers/*.mjs` read them:
//! GitHub (`/user` and `/user/emails`), Discord (`/users/@me` and its
//! avatar URLs), and the authorization URLs and ID tokens of Google and
//! Microsoft Entra ID (its `oid` and its multi-tenant issuer). A fake
//! provider answers every request; nothing reaches the network.

mod oauth_fake;

use http::Method;
use oauth_fake::*;
use serde_json::{json, Value};
use tessera::oauth::{
    pkce_challenge, AccountCookie, Provider, ProviderConfig, ProviderUser, Purpose, StateCipher,
};
use tessera::store::Account;
use tessera::Secrets;

const GITHUB_USER: &str = "https://api.github.com/user";
const GITHUB_EMAILS: &str = "https://api.github.com/user/emails";
const GITHUB_TOKEN: &str = "https://github.com/login/oauth/access_token";
const DISCORD_ME: &str = "https://discord.com/api/users/@me";
const DISCORD_TOKEN: &str = "https://discord.com/api/oauth2/token";
const GOOGLE_TOKEN: &str = "https://oauth2.googleapis.com/token";
const GOOGLE_JWKS: &str = "https://www.googleapis.com/oauth2/v3/certs";
const MICROSOFT_TOKEN: &str = "https://login.microsoftonline.com/common/oauth2/v2.0/token";
const MICROSOFT_JWKS: &str = "https://login.microsoftonline.com/common/discovery/v2.0/keys";
/// A work tenant, and Microsoft's tenant of personal accounts.
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CONSUMERS: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
const OID: &str = "00000000-0000-0000-66f3-3332eca7ea81";

fn harness(config: ProviderConfig) -> Harness {
    Harness::new(options(), vec![Provider::new(config).unwrap()], false, T0)
}

fn redirect_uri(id: &str) -> String {
    encode(&format!("{API}/callback/{id}"))
}

/// `application/x-www-form-urlencoded`, as `URLSearchParams` writes it.
fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The PKCE challenge of the verifier the flow's state holds.
fn challenge(flow: &Flow) -> String {
    let state = StateCipher::new(&Secrets::single(SECRET), Purpose::OAuthStateCookie)
        .open(flow.cookies.get(OAUTH_STATE).unwrap())
        .unwrap();
    pkce_challenge(&state.code_verifier)
}

/// A finished sign-in: the session's user (as `get-session` shows it) and
/// the account (from the `account_data` cookie).
async fn signed_in(h: &Harness, flow: &Flow, r: &TestResponse) -> (Value, Account) {
    assert_eq!(r.status, 302, "{}", r.text);
    assert_eq!(r.header("location"), Some("/after"), "{:?}", r.headers);
    let mut cookies = flow.cookies.clone();
    cookies.update(r);
    let s = h
        .send(
            Method::GET,
            "/api/auth/get-session",
            cookies.header().as_deref(),
            None,
        )
        .await;
    let account = AccountCookie::new(&Secrets::single(SECRET))
        .unwrap()
        .open(cookies.get(ACCOUNT_DATA).unwrap(), h.now())
        .unwrap();
    (s.body()["user"].clone(), account)
}

#[track_caller]
fn assert_error(r: &TestResponse, code: &str) {
    assert_eq!(r.status, 302, "{}", r.text);
    assert_eq!(r.header("location"), Some(&*error_page(code)));
    assert!(r.cookie(SESSION_TOKEN).is_none(), "no session");
}

// --- GitHub ---

fn github() -> ProviderConfig {
    ProviderConfig::github("gh-client", Some("gh-secret".into()))
}

/// GitHub's `/user` for a user who keeps their address private.
fn octocat() -> Value {
    json!({
        "login": "octocat",
        "id": 583231,
        "node_id": "MDQ6VXNlcjU4MzIzMQ==",
        "avatar_url": "https://avatars.githubusercontent.com/u/583231?v=4",
        "type": "User",
        "name": null,
        "company": "@github",
        "email": null,
    })
}

fn email(address: &str, primary: bool, verified: bool) -> Value {
    json!({"email": address, "primary": primary, "verified": verified, "visibility": null})
}

/// What the GitHub preset makes of `/user` and `/user/emails`.
async fn github_user(user: Answer, emails: Answer) -> Option<ProviderUser> {
    let fake = FakeProvider::default();
    fake.answer(Method::GET, GITHUB_USER, user);
    fake.answer(Method::GET, GITHUB_EMAILS, emails);
    let user = Provider::new(github())
        .unwrap()
        .styled_user(&fake, "gho_token")
        .await
        .expect("GitHub has its own profile reader")
        .ok();
    for seen in fake.seen() {
        assert_eq!(seen.headers["authorization"], "Bearer gho_token");
    }
    user
}

#[tokio::test]
async fn github_signs_in_with_the_primary_verified_address_and_the_login_as_name() {
    let h = harness(github());
    let flow = h
        .sign_in(json!({"provider": "github", "callbackURL": "/after"}))
        .await;
    // better-auth's URL: its scopes, PKCE, no nonce (GitHub issues no ID
    // tokens).
    assert_eq!(
        flow.url.as_str(),
        format!(
            "https://github.com/login/oauth/authorize?response_type=code&client_id=gh-client\
             &state={}&scope=read%3Auser+user%3Aemail&redirect_uri={}\
             &code_challenge_method=S256&code_challenge={}",
            flow.state,
            redirect_uri("github"),
            challenge(&flow)
        )
    );
    // GitHub answers its token endpoint in JSON when asked, scopes with commas.
    h.provider.answer(
        Method::POST,
        GITHUB_TOKEN,
        Answer::json(
            200,
            json!({"access_token": "gho_token", "token_type": "bearer", "scope": "read:user,user:email"}),
        ),
    );
    h.provider
        .answer(Method::GET, GITHUB_USER, Answer::json(200, octocat()));
    h.provider.answer(
        Method::GET,
        GITHUB_EMAILS,
        Answer::json(
            200,
            json!([
                email("octo@other.example", false, true),
                email("octocat@github.com", true, true),
            ]),
        ),
    );
    let r = flow.finish(&h, "gh-code").await;
    let (user, account) = signed_in(&h, &flow, &r).await;
    assert_eq!(user["email"], "octocat@github.com");
    assert_eq!(user["emailVerified"], true);
    assert_eq!(user["name"], "octocat");
    assert_eq!(
        user["image"],
        "https://avatars.githubusercontent.com/u/583231?v=4"
    );
    assert_eq!(account.account_id, "583231");
    assert_eq!(account.provider_id, "github");
    assert_eq!(account.access_token.as_deref(), Some("gho_token"));
    let token = &h.provider.seen_at(GITHUB_TOKEN)[0];
    assert_eq!(token.headers["accept"], "application/json");
}

#[tokio::test]
async fn github_reads_the_address_as_better_auth_does() {
    let listed = |emails: Vec<Value>| Answer::json(200, Value::Array(emails));
    let with = |f: &dyn Fn(&mut Value)| {
        let mut u = octocat();
        f(&mut u);
        Answer::json(200, u)
    };

    // The primary address, whether or not verified.
    let u = github_user(
        with(&|_| {}),
        listed(vec![
            email("a@x.example", false, true),
            email("p@x.example", true, false),
        ]),
    )
    .await
    .unwrap();
    assert_eq!(u.email.as_deref(), Some("p@x.example"));
    assert!(!u.email_verified);
    // No primary: the first.
    let u = github_user(
        with(&|_| {}),
        listed(vec![
            email("a@x.example", false, true),
            email("b@x.example", false, false),
        ]),
    )
    .await
    .unwrap();
    assert_eq!(u.email.as_deref(), Some("a@x.example"));
    assert!(u.email_verified);
    // A public address is kept, verified if listed as verified.
    let u = github_user(
        with(&|u| u["email"] = json!("public@x.example")),
        listed(vec![
            email("p@x.example", true, true),
            email("public@x.example", false, true),
        ]),
    )
    .await
    .unwrap();
    assert_eq!(u.email.as_deref(), Some("public@x.example"));
    assert!(u.email_verified);
    // An empty address is none (`!profile.email`).
    let u = github_user(
        with(&|u| u["email"] = json!("")),
        listed(vec![email("p@x.example", true, true)]),
    )
    .await
    .unwrap();
    assert_eq!(u.email.as_deref(), Some("p@x.example"));
    assert!(u.email_verified);
    // `/user/emails` refused (no `user:email`): the public address, unverified.
    let u = github_user(
        with(&|u| u["email"] = json!("public@x.example")),
        Answer::json(
            403,
            json!({"message": "Resource not accessible by integration"}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(u.email.as_deref(), Some("public@x.example"));
    assert!(!u.email_verified);
    // Nothing anywhere: no address.
    let u = github_user(with(&|_| {}), listed(vec![])).await.unwrap();
    assert_eq!(u.email, None);
    let u = github_user(with(&|_| {}), Answer::json(200, json!({"not": "a list"})))
        .await
        .unwrap();
    assert_eq!(u.email, None);
    // The name: `name || login`.
    let u = github_user(with(&|u| u["name"] = json!("")), listed(vec![]))
        .await
        .unwrap();
    assert_eq!(u.name.as_deref(), Some("octocat"));
    let u = github_user(with(&|u| u["name"] = json!("The Octocat")), listed(vec![]))
        .await
        .unwrap();
    assert_eq!(u.name.as_deref(), Some("The Octocat"));
    assert_eq!(u.id, "583231");
    assert_eq!(
        u.image.as_deref(),
        Some("https://avatars.githubusercontent.com/u/583231?v=4")
    );
    // `/user` failing is no user.
    assert!(github_user(
        Answer::json(401, json!({"message": "Bad credentials"})),
        listed(vec![])
    )
    .await
    .is_none());
    assert!(
        github_user(with(&|u| u["id"] = json!(null)), listed(vec![]))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn github_without_any_address_is_email_not_found_and_a_refused_code_invalid_code() {
    let h = harness(github());
    h.provider
        .answer(Method::GET, GITHUB_USER, Answer::json(200, octocat()));
    h.provider
        .answer(Method::GET, GITHUB_EMAILS, Answer::json(200, json!([])));
    h.provider.answer(
        Method::POST,
        GITHUB_TOKEN,
        Answer::json(
            200,
            json!({"access_token": "gho_token", "token_type": "bearer"}),
        ),
    );
    let flow = h.sign_in(json!({"provider": "github"})).await;
    assert_error(&flow.finish(&h, "c").await, "email_not_found");
    // GitHub refuses a used code with a 200 and an `error`.
    h.provider.answer(
        Method::POST,
        GITHUB_TOKEN,
        Answer::json(
            200,
            json!({"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."}),
        ),
    );
    let flow = h.sign_in(json!({"provider": "github"})).await;
    assert_error(&flow.finish(&h, "c").await, "invalid_code");
}

// --- Discord ---

fn discord() -> ProviderConfig {
    ProviderConfig::discord("dc-client", Some("dc-secret".into()))
}

/// Discord's `/users/@me` with the `email` scope.
fn nelly() -> Value {
    json!({
        "id": "80351110224678912",
        "username": "nelly",
        "discriminator": "0",
        "global_name": "Nelly",
        "avatar": "8342729096ea3675442027381ff50dfe",
        "verified": true,
        "email": "nelly@discord.com",
        "flags": 64,
        "mfa_enabled": true,
    })
}

async fn discord_user(profile: Value) -> ProviderUser {
    let fake = FakeProvider::default();
    fake.answer(Method::GET, DISCORD_ME, Answer::json(200, profile));
    Provider::new(discord())
        .unwrap()
        .styled_user(&fake, "dc-token")
        .await
        .expect("Discord has its own profile reader")
        .unwrap()
}

#[tokio::test]
async fn discord_builds_the_avatar_url_and_reads_verified_and_global_name() {
    let u = discord_user(nelly()).await;
    assert_eq!(u.id, "80351110224678912");
    assert_eq!(u.email.as_deref(), Some("nelly@discord.com"));
    assert!(u.email_verified);
    assert_eq!(u.name.as_deref(), Some("Nelly"));
    assert_eq!(
        u.image.as_deref(),
        Some(
            "https://cdn.discordapp.com/avatars/80351110224678912/8342729096ea3675442027381ff50dfe.png"
        )
    );

    let mut p = nelly();
    p["avatar"] = json!("a_1269e74af4df7417b13759eae50c83dc");
    assert_eq!(
        discord_user(p).await.image.as_deref(),
        Some(
            "https://cdn.discordapp.com/avatars/80351110224678912/a_1269e74af4df7417b13759eae50c83dc.gif"
        )
    );

    // No avatar: the default one, `(id >> 22) % 6` for the new usernames…
    let mut p = nelly();
    p["avatar"] = Value::Null;
    assert_eq!(
        discord_user(p.clone()).await.image.as_deref(),
        Some("https://cdn.discordapp.com/embed/avatars/5.png")
    );
    // … `discriminator % 5` for the legacy ones.
    p["discriminator"] = json!("1337");
    assert_eq!(
        discord_user(p).await.image.as_deref(),
        Some("https://cdn.discordapp.com/embed/avatars/2.png")
    );

    // `global_name || username`; `verified` false is unverified.
    let mut p = nelly();
    p["global_name"] = Value::Null;
    p["verified"] = json!(false);
    let u = discord_user(p).await;
    assert_eq!(u.name.as_deref(), Some("nelly"));
    assert!(!u.email_verified);
}

#[tokio::test]
async fn discord_signs_in_through_the_callback() {
    let h = harness(discord());
    let flow = h
        .sign_in(json!({"provider": "discord", "callbackURL": "/after"}))
        .await;
    assert_eq!(flow.param("prompt").as_deref(), Some("none"));
    assert_eq!(flow.param("scope").as_deref(), Some("identify email"));
    assert_eq!(flow.nonce, None);
    h.provider.answer(
        Method::POST,
        DISCORD_TOKEN,
        Answer::json(
            200,
            json!({"access_token": "dc-token", "token_type": "Bearer", "expires_in": 604800,
                "refresh_token": "dc-refresh", "scope": "identify email"}),
        ),
    );
    h.provider
        .answer(Method::GET, DISCORD_ME, Answer::json(200, nelly()));
    let r = flow.finish(&h, "dc-code").await;
    let (user, account) = signed_in(&h, &flow, &r).await;
    assert_eq!(user["name"], "Nelly");
    assert_eq!(user["emailVerified"], true);
    assert_eq!(
        user["image"],
        "https://cdn.discordapp.com/avatars/80351110224678912/8342729096ea3675442027381ff50dfe.png"
    );
    assert_eq!(account.account_id, "80351110224678912");
    assert_eq!(account.scope.as_deref(), Some("identify,email"));
}

// --- Google ---

const GOOGLE_CLIENT: &str = "g-client.apps.googleusercontent.com";

fn google() -> ProviderConfig {
    ProviderConfig::google(GOOGLE_CLIENT, Some("g-secret".into()))
}

#[tokio::test]
async fn googles_authorization_url_is_better_auths_with_a_nonce() {
    let h = harness(google());
    let flow = h.sign_in(json!({"provider": "google"})).await;
    // better-auth's Google URL, plus the `nonce` this kernel binds the ID
    // token to (better-auth's google provider sends none).
    let nonce = flow.nonce.clone().expect("a nonce");
    assert_eq!(
        flow.url.as_str(),
        format!(
            "https://accounts.google.com/o/oauth2/v2/auth?response_type=code\
             &client_id={GOOGLE_CLIENT}&state={}&scope=email+profile+openid\
             &redirect_uri={}&nonce={nonce}&code_challenge_method=S256&code_challenge={}\
             &include_granted_scopes=true",
            flow.state,
            redirect_uri("google"),
            challenge(&flow)
        )
    );
    // A login hint goes before the nonce (`createAuthorizationURL`'s order).
    let flow = h
        .sign_in(json!({"provider": "google", "loginHint": "alice@example.com"}))
        .await;
    let query = flow.url.query().unwrap();
    let hint = query.find("&login_hint=alice%40example.com&nonce=");
    assert!(hint.is_some(), "{query}");
    assert!(query.find("&redirect_uri=").unwrap() < hint.unwrap());
}

fn google_claims(h: &Harness, flow: &Flow) -> Value {
    json!({
        "iss": "https://accounts.google.com",
        "azp": GOOGLE_CLIENT,
        "aud": GOOGLE_CLIENT,
        "sub": "110169484474386276334",
        "email": "alice@gmail.com",
        "email_verified": true,
        "name": "Alice Example",
        "picture": "https://lh3.googleusercontent.com/a/alice",
        "nonce": flow.nonce.as_deref().unwrap(),
        "iat": h.now_secs(),
        "exp": h.now_secs() + 3600,
    })
}

#[tokio::test]
async fn google_accepts_both_forms_of_its_issuer_and_nothing_else() {
    let h = harness(google());
    h.provider
        .answer(Method::GET, GOOGLE_JWKS, Answer::json(200, key_set(&[])));
    for (iss, ok) in [
        ("https://accounts.google.com", true),
        ("accounts.google.com", true),
        ("https://accounts.google.com/", false),
        ("http://accounts.google.com", false),
        ("https://accounts.example.com", false),
    ] {
        let flow = h
            .sign_in(json!({"provider": "google", "callbackURL": "/after"}))
            .await;
        let mut claims = google_claims(&h, &flow);
        claims["iss"] = json!(iss);
        h.provider.answer(
            Method::POST,
            GOOGLE_TOKEN,
            Answer::json(
                200,
                json!({"access_token": "ya29.x", "expires_in": 3599, "token_type": "Bearer",
                    "scope": "openid https://www.googleapis.com/auth/userinfo.email",
                    "id_token": id_token(&claims)}),
            ),
        );
        let r = flow.finish(&h, "g-code").await;
        if ok {
            let (user, account) = signed_in(&h, &flow, &r).await;
            assert_eq!(user["email"], "alice@gmail.com", "{iss}");
            assert_eq!(account.account_id, "110169484474386276334", "{iss}");
        } else {
            assert_error(&r, "unable_to_get_user_info");
        }
    }
}

// --- Microsoft Entra ID ---

const MICROSOFT_CLIENT: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";

fn microsoft() -> ProviderConfig {
    ProviderConfig::microsoft("common", MICROSOFT_CLIENT, Some("ms-secret".into()))
}

#[tokio::test]
async fn microsofts_authorization_url_is_better_auths_with_a_nonce() {
    let h = harness(microsoft());
    let flow = h.sign_in(json!({"provider": "microsoft"})).await;
    let nonce = flow.nonce.clone().expect("a nonce");
    assert_eq!(
        flow.url.as_str(),
        format!(
            "https://login.microsoftonline.com/common/oauth2/v2.0/authorize?response_type=code\
             &client_id={MICROSOFT_CLIENT}&state={}\
             &scope=openid+profile+email+User.Read+offline_access\
             &redirect_uri={}&nonce={nonce}&code_challenge_method=S256&code_challenge={}",
            flow.state,
            redirect_uri("microsoft"),
            challenge(&flow)
        )
    );
}

/// An ID token of the v2.0 endpoint, for a user of tenant `tid`.
fn microsoft_claims(h: &Harness, flow: &Flow, tid: &str) -> Value {
    json!({
        "ver": "2.0",
        "iss": format!("https://login.microsoftonline.com/{tid}/v2.0"),
        "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
        "aud": MICROSOFT_CLIENT,
        "exp": h.now_secs() + 3600,
        "iat": h.now_secs(),
        "nbf": h.now_secs(),
        "name": "Megan Bowen",
        "preferred_username": "megan@contoso.example",
        "oid": OID,
        "email": "megan@contoso.example",
        "tid": tid,
        "nonce": flow.nonce.as_deref().unwrap(),
    })
}

async fn microsoft_sign_in(
    h: &Harness,
    forge: impl FnOnce(&mut Value),
    iss_param: Option<&str>,
) -> (Flow, TestResponse) {
    let flow = h
        .sign_in(json!({"provider": "microsoft", "callbackURL": "/after"}))
        .await;
    let mut claims = microsoft_claims(h, &flow, TENANT);
    forge(&mut claims);
    h.provider.answer(
        Method::POST,
        MICROSOFT_TOKEN,
        Answer::json(
            200,
            json!({"token_type": "Bearer", "scope": "openid profile email User.Read",
                "expires_in": 4408, "access_token": "eyJ0eXAi.ms", "refresh_token": "ms-refresh",
                "id_token": id_token(&claims)}),
        ),
    );
    let mut query = vec![("code", "ms-code"), ("state", flow.state.as_str())];
    if let Some(iss) = iss_param {
        query.push(("iss", iss));
    }
    let r = h.callback("microsoft", &query, &flow.cookies).await;
    (flow, r)
}

fn microsoft_harness() -> Harness {
    let h = harness(microsoft());
    h.provider
        .answer(Method::GET, MICROSOFT_JWKS, Answer::json(200, key_set(&[])));
    h
}

#[tokio::test]
async fn microsoft_takes_the_oid_as_account_id_under_the_tokens_own_tenant() {
    let h = microsoft_harness();
    for tid in [TENANT, CONSUMERS] {
        let (flow, r) = microsoft_sign_in(
            &h,
            |c| {
                c["iss"] = json!(format!("https://login.microsoftonline.com/{tid}/v2.0"));
                c["tid"] = json!(tid);
            },
            None,
        )
        .await;
        let (user, account) = signed_in(&h, &flow, &r).await;
        assert_eq!(account.account_id, OID, "{tid}");
        assert_eq!(account.provider_id, "microsoft");
        assert_eq!(user["email"], "megan@contoso.example");
        assert_eq!(user["name"], "Megan Bowen");
        // No `email_verified` claim, no verified address listed.
        assert_eq!(user["emailVerified"], false);
    }
    // The authorization response's `iss` names the user's tenant (RFC 9207).
    let (flow, r) = microsoft_sign_in(
        &h,
        |_| {},
        Some(&format!("https://login.microsoftonline.com/{TENANT}/v2.0")),
    )
    .await;
    let (_, account) = signed_in(&h, &flow, &r).await;
    assert_eq!(account.account_id, OID);
    // … and must be Microsoft's.
    for iss in [
        "https://login.microsoftonline.com/{tid}/v2.0",
        "https://login.microsoftonline.com//v2.0",
        "https://login.microsoftonline.com/a/b/v2.0",
        "https://evil.example/72f988bf/v2.0",
    ] {
        let (_, r) = microsoft_sign_in(&h, |_| {}, Some(iss)).await;
        assert_error(&r, "issuer_mismatch");
    }
}

#[tokio::test]
async fn microsoft_refuses_a_token_whose_issuer_is_not_its_tenants() {
    let h = microsoft_harness();
    type Forge = fn(&mut Value);
    let cases: Vec<(&str, Forge)> = vec![
        ("iss of another tenant", |c| {
            c["iss"] = json!(format!(
                "https://login.microsoftonline.com/{CONSUMERS}/v2.0"
            ))
        }),
        ("tid of another tenant", |c| c["tid"] = json!(CONSUMERS)),
        ("no tid", |c| {
            c.as_object_mut().unwrap().remove("tid");
        }),
        ("a tid that is a path", |c| {
            c["tid"] = json!("../common");
            c["iss"] = json!("https://login.microsoftonline.com/../common/v2.0");
        }),
        ("a tid that is not a string", |c| c["tid"] = json!(7)),
        ("the v1 issuer", |c| {
            c["iss"] = json!(format!("https://sts.windows.net/{TENANT}/"))
        }),
        ("no oid", |c| {
            c.as_object_mut().unwrap().remove("oid");
        }),
        ("an empty oid", |c| c["oid"] = json!("  ")),
        ("another audience", |c| c["aud"] = json!("another-app")),
    ];
    for (what, forge) in cases {
        let (_, r) = microsoft_sign_in(&h, forge, None).await;
        assert_eq!(r.status, 302, "{what}");
        assert_eq!(
            r.header("location"),
            Some(&*error_page("unable_to_get_user_info")),
            "{what}"
        );
    }
}

#[tokio::test]
async fn microsoft_reads_a_verified_address_from_its_optional_claims() {
    for (claims, verified) in [
        (
            json!({"verified_primary_email": ["megan@contoso.example"]}),
            true,
        ),
        (
            json!({"verified_secondary_email": ["old@contoso.example", "megan@contoso.example"]}),
            true,
        ),
        (
            json!({"verified_primary_email": ["other@contoso.example"]}),
            false,
        ),
        // `email_verified`, when present, decides.
        (
            json!({"email_verified": false, "verified_primary_email": ["megan@contoso.example"]}),
            false,
        ),
        (json!({"email_verified": "true"}), true),
    ] {
        // A new user each time: the user's email verification is set once.
        let h = microsoft_harness();
        let (flow, r) = microsoft_sign_in(
            &h,
            |c| {
                for (k, v) in claims.as_object().unwrap() {
                    c[k] = v.clone();
                }
            },
            None,
        )
        .await;
        let (user, _) = signed_in(&h, &flow, &r).await;
        assert_eq!(user["emailVerified"], verified, "{claims}");
    }
}

#[tokio::test]
async fn a_single_tenant_microsoft_accepts_only_its_own_issuer() {
    let config = ProviderConfig::microsoft(TENANT, MICROSOFT_CLIENT, None);
    let h = harness(config);
    h.provider.answer(
        Method::GET,
        &format!("https://login.microsoftonline.com/{TENANT}/discovery/v2.0/keys"),
        Answer::json(200, key_set(&[])),
    );
    let token_url = format!("https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token");
    for (tid, ok) in [(TENANT, true), (CONSUMERS, false)] {
        let flow = h
            .sign_in(json!({"provider": "microsoft", "callbackURL": "/after"}))
            .await;
        let claims = microsoft_claims(&h, &flow, tid);
        h.provider.answer(
            Method::POST,
            &token_url,
            Answer::json(
                200,
                json!({"access_token": "at", "token_type": "Bearer", "id_token": id_token(&claims)}),
            ),
        );
        let r = flow.finish(&h, "c").await;
        if ok {
            let (_, account) = signed_in(&h, &flow, &r).await;
            assert_eq!(account.account_id, OID);
        } else {
            assert_error(&r, "unable_to_get_user_info");
        }
    }
}
