//! better-auth 1.7.25's account endpoints, in process: `/link-social` and
//! the callback that completes the link, `/unlink-account` and
//! `/account-info`, against a fake provider (`FakeIdp`) that answers the
//! token, userinfo and JWKS requests a real one would. The rules they
//! follow are in `docs/oauth.md`.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use common::{Browser, Harness, ORIGIN};
use http::{Request, Response, StatusCode};
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::KeyPair;
use josekit::jws::{self, JwsHeader};
use serde_json::{json, Value};
use tessera::oauth::{
    Endpoints, HttpClient, HttpClientError, ProfileMapping, Provider, ProviderConfig, Purpose,
    StateCipher,
};
use tessera::{Options, Secrets};

const TOKEN_URL: &str = "https://acme.test/token";
const USERINFO_URL: &str = "https://acme.test/userinfo";
const IDP_ISSUER: &str = "https://idp.test";
const IDP_JWKS: &str = "https://idp.test/jwks";
const IDP_CLIENT: &str = "idp-client";

/// A provider's server side: each authorization code stands for a
/// profile and the scope granted; its access token is `at-<code>`
/// (`at2-<code>` once refreshed) and its refresh token `rt-<code>`. Every
/// request is recorded. Its lock is never held across an `.await`.
#[derive(Default)]
struct FakeIdp {
    profiles: Mutex<HashMap<String, (Value, &'static str)>>,
    requests: Mutex<Vec<String>>,
}

impl FakeIdp {
    /// The profile behind `code`, granted `profile email`.
    fn profile(&self, code: &str, profile: Value) {
        self.profile_granting(code, profile, "profile email");
    }

    /// The profile behind `code`, granted `scope`.
    fn profile_granting(&self, code: &str, profile: Value, scope: &'static str) {
        self.profiles
            .lock()
            .unwrap()
            .insert(code.to_owned(), (profile, scope));
    }

    /// `METHOD url [Authorization]` of every request so far.
    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    fn answer(&self, request: &Request<Bytes>) -> (StatusCode, Value) {
        let url = request.uri().to_string();
        let auth = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        self.requests
            .lock()
            .unwrap()
            .push(format!("{} {url} {auth}", request.method()));
        let profiles = self.profiles.lock().unwrap();
        match url.as_str() {
            TOKEN_URL => {
                let form: HashMap<String, String> = form_urlencoded::parse(request.body())
                    .into_owned()
                    .collect();
                let (code, access) = match form.get("grant_type").map(String::as_str) {
                    Some("authorization_code") => {
                        let code = form.get("code").cloned().unwrap_or_default();
                        (code.clone(), format!("at-{code}"))
                    }
                    Some("refresh_token") => {
                        let code = form["refresh_token"].trim_start_matches("rt-").to_owned();
                        (code.clone(), format!("at2-{code}"))
                    }
                    _ => {
                        return (
                            StatusCode::BAD_REQUEST,
                            json!({"error": "unsupported_grant_type"}),
                        )
                    }
                };
                let Some((_, scope)) = profiles.get(&code) else {
                    return (StatusCode::BAD_REQUEST, json!({"error": "invalid_grant"}));
                };
                (
                    StatusCode::OK,
                    json!({
                        "access_token": access,
                        "refresh_token": format!("rt-{code}"),
                        "token_type": "Bearer",
                        "expires_in": 3600,
                        "scope": scope,
                    }),
                )
            }
            USERINFO_URL => {
                let code = auth
                    .strip_prefix("Bearer at-")
                    .or_else(|| auth.strip_prefix("Bearer at2-"));
                match code.and_then(|c| profiles.get(c)) {
                    Some((profile, _)) => (StatusCode::OK, profile.clone()),
                    None => (StatusCode::UNAUTHORIZED, json!({"error": "invalid_token"})),
                }
            }
            IDP_JWKS => {
                let mut jwk = idp_key().to_jwk_public_key();
                jwk.set_key_id("idp-key");
                (StatusCode::OK, json!({"keys": [jwk.as_ref()]}))
            }
            _ => (StatusCode::NOT_FOUND, json!({"error": "not_found"})),
        }
    }
}

#[async_trait::async_trait]
impl HttpClient for FakeIdp {
    async fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpClientError> {
        let (status, body) = self.answer(&request);
        let mut response = Response::new(Bytes::from(body.to_string()));
        *response.status_mut() = status;
        Ok(response)
    }
}

/// The ID-token provider's signing key, made once per run.
fn idp_key() -> &'static RsaKeyPair {
    static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| jws::RS256.generate_key_pair(2048).unwrap())
}

/// `claims` signed by `key` as the ID-token provider's `idp-key`.
fn id_token(key: &RsaKeyPair, claims: &Value) -> String {
    let signer = jws::RS256
        .signer_from_jwk(&key.to_jwk_private_key())
        .unwrap();
    let mut header = JwsHeader::new();
    header.set_key_id("idp-key");
    jws::serialize_compact(claims.to_string().as_bytes(), &header, &signer).unwrap()
}

/// `acme`: OAuth 2.0 with a userinfo endpoint. `idp`: it issues ID
/// tokens signed with [`idp_key`].
fn providers() -> Vec<Provider> {
    let acme = ProviderConfig::oauth2(
        "acme",
        Endpoints::new("https://acme.test/authorize", TOKEN_URL).with_userinfo(USERINFO_URL),
        "acme-client",
        Some("acme-secret".into()),
        ProfileMapping::oauth2(),
    );
    let idp = ProviderConfig::oauth2(
        "idp",
        Endpoints::new("https://idp.test/authorize", "https://idp.test/token").with_id_tokens(
            IDP_ISSUER,
            IDP_JWKS,
            &["RS256"],
        ),
        IDP_CLIENT,
        Some("idp-secret".into()),
        ProfileMapping::oidc(),
    );
    vec![Provider::new(acme).unwrap(), Provider::new(idp).unwrap()]
}

fn harness_with(options: Options, database: bool) -> (Harness, Arc<FakeIdp>) {
    let idp = Arc::new(FakeIdp::default());
    let client: Arc<dyn HttpClient> = idp.clone();
    let harness = Harness::with(options, move |mut b| {
        if database {
            b = b.database(Arc::new(tessera::store::MemoryDatabase::new()));
        }
        for p in providers() {
            b = b.oauth_provider(p);
        }
        b.http_client(client)
    });
    (harness, idp)
}

/// With a database: the state in a verification record.
fn harness(options: Options) -> (Harness, Arc<FakeIdp>) {
    harness_with(options, true)
}

fn acme_profile(id: &str, email: &str, verified: bool) -> Value {
    json!({"id": id, "email": email, "email_verified": verified, "name": "Acme User", "picture": "https://acme.test/a.png"})
}

/// The `state` of an authorization URL.
fn state_of(url: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("the authorization URL has a state")
}

/// Starts a flow at `path` (`/sign-in/social` or `/link-social`) and
/// returns its state.
async fn start(b: &mut Browser<'_>, path: &str, body: Value) -> String {
    let r = b.post(path, body).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    state_of(r.body()["url"].as_str().unwrap())
}

/// The provider sends the browser back with `code`; the redirect's target.
async fn come_back(b: &mut Browser<'_>, provider: &str, code: &str, state: &str) -> String {
    let r = b
        .get(&format!("/callback/{provider}?code={code}&state={state}"))
        .await;
    assert_eq!(r.status, 302, "{}", r.text);
    r.headers["location"].to_str().unwrap().to_owned()
}

/// A whole sign-in with `provider` as the account behind `code`.
async fn sign_in_with(b: &mut Browser<'_>, provider: &str, code: &str) -> String {
    let state = start(
        b,
        "/sign-in/social",
        json!({"provider": provider, "callbackURL": "/home", "disableRedirect": true}),
    )
    .await;
    come_back(b, provider, code, &state).await
}

/// A whole `/link-social` with `acme` as the account behind `code`.
async fn link_acme(b: &mut Browser<'_>, code: &str) -> String {
    let state = start(
        b,
        "/link-social",
        json!({"provider": "acme", "callbackURL": "/settings", "errorCallbackURL": "/link-error", "disableRedirect": true}),
    )
    .await;
    come_back(b, "acme", code, &state).await
}

async fn accounts(b: &mut Browser<'_>) -> Vec<Value> {
    let r = b.get("/list-accounts").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body().as_array().unwrap().clone()
}

fn provider_ids(accounts: &[Value]) -> Vec<&str> {
    let mut ids: Vec<&str> = accounts
        .iter()
        .map(|a| a["providerId"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

fn account_of<'a>(accounts: &'a [Value], provider: &str) -> &'a Value {
    accounts
        .iter()
        .find(|a| a["providerId"] == provider)
        .unwrap_or_else(|| panic!("no {provider} account in {accounts:?}"))
}

// --- /link-social and its callback ---

#[tokio::test]
async fn link_social_links_a_second_account_to_the_signed_in_user() {
    let (h, idp) = harness(common::options());
    idp.profile(
        "alice-acme",
        acme_profile("acme-1", "Alice@Example.com", true),
    );
    let mut b = h.browser();
    b.sign_up("alice@example.com").await;
    let session = b
        .cookie_value("better-auth.session_token")
        .unwrap()
        .to_owned();

    let r = b
        .post(
            "/link-social",
            json!({"provider": "acme", "callbackURL": "/settings", "scopes": ["repo"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let url = r.body()["url"].as_str().unwrap();
    assert_eq!(r.body()["redirect"], true);
    assert_eq!(r.headers["location"], url, "redirected to the provider");
    assert!(url.starts_with("https://acme.test/authorize?"), "{url}");
    assert!(url.contains("scope=repo"), "the requested scopes: {url}");

    let location = come_back(&mut b, "acme", "alice-acme", &state_of(url)).await;
    assert_eq!(location, "/settings");
    assert_eq!(
        b.cookie_value("better-auth.session_token"),
        Some(session.as_str()),
        "a link is not a sign-in: the session stays"
    );
    let listed = accounts(&mut b).await;
    assert_eq!(provider_ids(&listed), ["acme", "credential"]);
    let acme = account_of(&listed, "acme");
    assert_eq!(acme["accountId"], "acme-1");
    assert_eq!(acme["scopes"], json!(["profile", "email"]));
    assert!(
        idp.requests()
            .iter()
            .any(|r| r.starts_with("GET https://acme.test/userinfo Bearer at-alice-acme")),
        "{:?}",
        idp.requests()
    );
}

#[tokio::test]
async fn linking_an_account_already_linked_merges_its_scopes_and_takes_fresh_tokens() {
    let (h, idp) = harness(common::options());
    idp.profile("first", acme_profile("acme-1", "alice@example.com", true));
    idp.profile_granting(
        "second",
        acme_profile("acme-1", "alice@example.com", true),
        "email repo",
    );
    let mut b = h.browser();
    b.sign_up("alice@example.com").await;
    assert_eq!(link_acme(&mut b, "first").await, "/settings");
    assert_eq!(link_acme(&mut b, "second").await, "/settings");
    let listed = accounts(&mut b).await;
    assert_eq!(
        provider_ids(&listed),
        ["acme", "credential"],
        "one acme account"
    );
    let id = account_of(&listed, "acme")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = b.post("/get-access-token", json!({"accountId": id})).await;
    assert_eq!(r.body()["accessToken"], "at-second", "{}", r.text);
    assert_eq!(
        r.body()["scopes"],
        json!(["profile", "email", "repo"]),
        "merged, once each"
    );
}

#[tokio::test]
async fn a_link_whose_email_differs_is_refused_unless_allowed() {
    let (h, idp) = harness(common::options());
    idp.profile("other", acme_profile("acme-2", "someone@example.com", true));
    let mut b = h.browser();
    b.sign_up("alice@example.com").await;
    assert_eq!(
        link_acme(&mut b, "other").await,
        "/link-error?error=email_does_not_match"
    );
    assert_eq!(provider_ids(&accounts(&mut b).await), ["credential"]);

    let mut options = common::options();
    options.account.allow_different_emails = true;
    let (h, idp) = harness(options);
    idp.profile("other", acme_profile("acme-2", "someone@example.com", true));
    let mut b = h.browser();
    b.sign_up("alice@example.com").await;
    assert_eq!(link_acme(&mut b, "other").await, "/settings");
    assert_eq!(
        provider_ids(&accounts(&mut b).await),
        ["acme", "credential"]
    );
}

#[tokio::test]
async fn a_link_from_a_provider_that_did_not_verify_the_email_is_refused_unless_trusted() {
    let (h, idp) = harness(common::options());
    idp.profile(
        "unverified",
        acme_profile("acme-3", "alice@example.com", false),
    );
    let mut b = h.browser();
    b.sign_up("alice@example.com").await;
    assert_eq!(
        link_acme(&mut b, "unverified").await,
        "/link-error?error=unable_to_link_account"
    );
    assert_eq!(provider_ids(&accounts(&mut b).await), ["credential"]);

    let mut options = common::options();
    options.account.trusted_providers = vec!["acme".into()];
    let (h, idp) = harness(options);
    idp.profile(
        "unverified",
        acme_profile("acme-3", "alice@example.com", false),
    );
    let mut b = h.browser();
    b.sign_up("alice@example.com").await;
    assert_eq!(link_acme(&mut b, "unverified").await, "/settings");
}

#[tokio::test]
async fn an_account_of_another_user_is_not_linked() {
    let (h, idp) = harness(common::options());
    // Bob signed up with the acme account `acme-shared`.
    idp.profile("bob", acme_profile("acme-shared", "bob@example.com", true));
    let mut bob = h.browser();
    assert_eq!(sign_in_with(&mut bob, "acme", "bob").await, "/home");
    // Alice links the same acme account (the provider now says her email).
    idp.profile(
        "alice",
        acme_profile("acme-shared", "alice@example.com", true),
    );
    let mut alice = h.browser();
    alice.sign_up("alice@example.com").await;
    assert_eq!(
        link_acme(&mut alice, "alice").await,
        "/link-error?error=account_already_linked_to_different_user"
    );
    assert_eq!(provider_ids(&accounts(&mut alice).await), ["credential"]);
    assert_eq!(provider_ids(&accounts(&mut bob).await), ["acme"]);
}

#[tokio::test]
async fn a_link_whose_session_was_revoked_or_expired_meanwhile_is_refused() {
    let (h, idp) = harness(common::options().expires_in(300));
    idp.profile(
        "alice-acme",
        acme_profile("acme-1", "alice@example.com", true),
    );

    // Revoked: signed out while at the provider.
    let mut b = h.browser();
    b.sign_up("alice@example.com").await;
    let state = start(
        &mut b,
        "/link-social",
        json!({"provider": "acme", "errorCallbackURL": "/link-error", "disableRedirect": true}),
    )
    .await;
    assert_eq!(b.post("/sign-out", json!({})).await.status, 200);
    assert_eq!(
        come_back(&mut b, "acme", "alice-acme", &state).await,
        "/link-error?error=unable_to_link_account"
    );

    // Expired: the session ends before the state does.
    let mut b = h.browser();
    b.post(
        "/sign-in/email",
        json!({"email": "alice@example.com", "password": "password1234"}),
    )
    .await;
    let state = start(
        &mut b,
        "/link-social",
        json!({"provider": "acme", "errorCallbackURL": "/link-error", "disableRedirect": true}),
    )
    .await;
    h.advance(301);
    assert_eq!(
        come_back(&mut b, "acme", "alice-acme", &state).await,
        "/link-error?error=unable_to_link_account"
    );

    // Nothing was linked; a live session links.
    let mut b = h.browser();
    b.post(
        "/sign-in/email",
        json!({"email": "alice@example.com", "password": "password1234"}),
    )
    .await;
    assert_eq!(provider_ids(&accounts(&mut b).await), ["credential"]);
    assert_eq!(link_acme(&mut b, "alice-acme").await, "/settings");
}

#[tokio::test]
async fn link_social_needs_a_session_and_a_known_provider() {
    let (h, _) = harness(common::options());
    let mut b = h.browser();
    let r = b.post("/link-social", json!({"provider": "acme"})).await;
    assert_eq!((r.status, r.code()), (401, Some("UNAUTHORIZED")));
    b.sign_up("alice@example.com").await;
    let r = b.post("/link-social", json!({"provider": "nope"})).await;
    assert_eq!(
        (r.status, r.body().clone()),
        (
            404,
            json!({"message": "Provider not found", "code": "PROVIDER_NOT_FOUND"})
        )
    );
    let r = b
        .post(
            "/link-social",
            json!({"provider": 1, "idToken": {"nonce": 2}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.message(),
        Some(
            "[body.provider] Invalid input; \
             [body.idToken.token] Invalid input: expected string, received undefined; \
             [body.idToken.nonce] Invalid input: expected string, received number"
        )
    );
}

#[tokio::test]
async fn link_social_carries_the_link_and_the_sealed_session_token_in_the_state() {
    // The cookie strategy, to read the state back.
    let mut options = common::options();
    options.account.store_state_strategy = Some(tessera::options::StateStrategy::Cookie);
    let (h, _) = harness(options);
    let mut b = h.browser();
    b.sign_up("alice@example.com").await;
    start(
        &mut b,
        "/link-social",
        json!({"provider": "acme", "disableRedirect": true, "additionalData": {"plan": "pro"}}),
    )
    .await;
    let secrets = Secrets::single(common::SECRET);
    let state_cipher = StateCipher::new(&secrets, Purpose::OAuthStateCookie);
    let link_cipher = StateCipher::new(&secrets, Purpose::OAuthLinkSessionToken);
    let sealed = b.cookie_value("better-auth.oauth_state").unwrap();
    let data = state_cipher.open(sealed).unwrap();
    let link = data.link.expect("a link");
    assert_eq!(link.email, "alice@example.com");
    assert_eq!(
        data.callback_url, ORIGIN,
        "the base URL's origin by default"
    );
    assert_eq!(data.extra["plan"], "pro");
    let sealed_token = link.encrypted_session_token.as_deref().unwrap();
    let token = link_cipher.open_str(sealed_token).unwrap();
    let signed = b.cookie_value("better-auth.session_token").unwrap();
    assert!(
        signed.starts_with(&format!("{token}.")),
        "the session's token"
    );
    // Sealed for its own purpose: the state's key does not open it.
    assert!(state_cipher.open_str(sealed_token).is_err());
}

// --- /link-social with an ID token ---

fn idp_claims(sub: &str, email: &str) -> Value {
    let now = common::T0 / 1000;
    json!({
        "iss": IDP_ISSUER, "aud": IDP_CLIENT, "sub": sub, "email": email,
        "email_verified": true, "name": "Idp User", "iat": now, "exp": now + 600,
    })
}

#[tokio::test]
async fn link_social_with_an_id_token_links_at_once_when_it_verifies() {
    let (h, _) = harness(common::options());
    let mut b = h.browser();
    b.sign_up("alice@example.com").await;
    let forged = id_token(
        &jws::RS256.generate_key_pair(2048).unwrap(),
        &idp_claims("idp-1", "alice@example.com"),
    );
    let r = b
        .post(
            "/link-social",
            json!({"provider": "idp", "idToken": {"token": forged}}),
        )
        .await;
    assert_eq!(
        (r.status, r.body().clone()),
        (
            401,
            json!({"message": "Invalid token", "code": "INVALID_TOKEN"})
        )
    );
    let r = b
        .post(
            "/link-social",
            json!({"provider": "acme", "idToken": {"token": "x"}}),
        )
        .await;
    assert_eq!((r.status, r.code()), (404, Some("ID_TOKEN_NOT_SUPPORTED")));
    assert_eq!(provider_ids(&accounts(&mut b).await), ["credential"]);

    let token = id_token(idp_key(), &idp_claims("idp-1", "alice@example.com"));
    let r = b
        .post(
            "/link-social",
            json!({"provider": "idp", "idToken": {"token": token, "accessToken": "idp-at"}}),
        )
        .await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (200, r#"{"url":"","status":true,"redirect":false}"#)
    );
    let listed = accounts(&mut b).await;
    assert_eq!(account_of(&listed, "idp")["accountId"], "idp-1");

    let other = id_token(idp_key(), &idp_claims("idp-2", "someone@example.com"));
    let r = b
        .post(
            "/link-social",
            json!({"provider": "idp", "idToken": {"token": other}}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (401, Some("LINKING_DIFFERENT_EMAILS_NOT_ALLOWED"))
    );
}

// --- /unlink-account ---

#[tokio::test]
async fn the_last_account_is_not_unlinked_unless_allowed() {
    for allow in [false, true] {
        let mut options = common::options();
        options.account.allow_unlinking_all = allow;
        let (h, idp) = harness(options);
        idp.profile("bob", acme_profile("acme-1", "bob@example.com", true));
        let mut b = h.browser();
        sign_in_with(&mut b, "acme", "bob").await;
        let listed = accounts(&mut b).await;
        let id = account_of(&listed, "acme")["id"].clone();
        let r = b.post("/unlink-account", json!({"accountId": id})).await;
        if allow {
            assert_eq!((r.status, r.text.as_str()), (200, r#"{"status":true}"#));
            assert!(accounts(&mut b).await.is_empty());
        } else {
            assert_eq!(
                (r.status, r.body().clone()),
                (
                    400,
                    json!({"message": "You can't unlink your last account", "code": "FAILED_TO_UNLINK_LAST_ACCOUNT"})
                )
            );
            assert_eq!(accounts(&mut b).await.len(), 1);
        }
    }
}

#[tokio::test]
async fn one_of_two_accounts_is_unlinked_by_its_id() {
    let (h, idp) = harness(common::options());
    idp.profile(
        "alice-acme",
        acme_profile("acme-1", "alice@example.com", true),
    );
    let mut b = h.browser();
    b.sign_up("alice@example.com").await;
    link_acme(&mut b, "alice-acme").await;
    let listed = accounts(&mut b).await;
    let acme_id = account_of(&listed, "acme")["id"].clone();

    // Someone else's account, or one that does not exist, is not found.
    let mut bob = h.browser();
    bob.sign_up("bob@example.com").await;
    idp.profile("bob-acme", acme_profile("acme-2", "bob@example.com", true));
    link_acme(&mut bob, "bob-acme").await;
    let r = bob
        .post("/unlink-account", json!({"accountId": acme_id}))
        .await;
    assert_eq!(
        (r.status, r.body().clone()),
        (
            400,
            json!({"message": "Account not found", "code": "ACCOUNT_NOT_FOUND"})
        )
    );
    let r = b
        .post("/unlink-account", json!({"accountId": "nope"}))
        .await;
    assert_eq!((r.status, r.code()), (400, Some("ACCOUNT_NOT_FOUND")));
    let r = b
        .post("/unlink-account", json!({"providerId": "acme"}))
        .await;
    assert_eq!(
        (r.status, r.message()),
        (
            400,
            Some("[body.accountId] Invalid input: expected string, received undefined")
        )
    );

    let r = b
        .post("/unlink-account", json!({"accountId": acme_id}))
        .await;
    assert_eq!((r.status, r.text.as_str()), (200, r#"{"status":true}"#));
    assert_eq!(provider_ids(&accounts(&mut b).await), ["credential"]);
    assert_eq!(
        provider_ids(&accounts(&mut bob).await),
        ["acme", "credential"]
    );
}

#[tokio::test]
async fn unlinking_needs_a_fresh_session() {
    let (h, idp) = harness(common::options().fresh_age(60));
    idp.profile(
        "alice-acme",
        acme_profile("acme-1", "alice@example.com", true),
    );
    let mut b = h.browser();
    b.sign_up("alice@example.com").await;
    link_acme(&mut b, "alice-acme").await;
    let listed = accounts(&mut b).await;
    let acme_id = account_of(&listed, "acme")["id"].clone();
    h.advance(60);
    let r = b
        .post("/unlink-account", json!({"accountId": acme_id}))
        .await;
    assert_eq!(
        (r.status, r.body().clone()),
        (
            403,
            json!({"message": "Session is not fresh", "code": "SESSION_NOT_FRESH"})
        )
    );
    assert_eq!(accounts(&mut b).await.len(), 2);
}

#[tokio::test]
async fn without_a_database_unlinking_the_cookies_account_expires_the_cookie() {
    let mut options = common::options();
    options.account.allow_unlinking_all = true;
    let (h, idp) = harness_with(options, false);
    idp.profile("bob", acme_profile("acme-1", "bob@example.com", true));
    let mut b = h.browser();
    sign_in_with(&mut b, "acme", "bob").await;
    assert!(b.has_cookie("better-auth.account_data"));
    let listed = accounts(&mut b).await;
    let id = account_of(&listed, "acme")["id"].clone();
    let r = b.post("/unlink-account", json!({"accountId": id})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r
        .expired_cookie_names()
        .contains("better-auth.account_data"));
    assert!(accounts(&mut b).await.is_empty());
}

// --- /account-info ---

#[tokio::test]
async fn account_info_asks_the_provider_with_the_accounts_access_token() {
    let (h, idp) = harness(common::options());
    idp.profile(
        "alice-acme",
        acme_profile("acme-1", "alice@example.com", true),
    );
    let mut b = h.browser();
    b.sign_up("alice@example.com").await;
    link_acme(&mut b, "alice-acme").await;
    let listed = accounts(&mut b).await;
    let id = account_of(&listed, "acme")["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let r = b.get(&format!("/account-info?accountId={id}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body(),
        &json!({
            "user": {
                "id": "acme-1", "name": "Acme User", "email": "alice@example.com",
                "image": "https://acme.test/a.png", "emailVerified": true,
            },
            "data": acme_profile("acme-1", "alice@example.com", true),
            "account": {"id": id, "providerId": "acme", "accountId": "acme-1"},
        })
    );
    assert_eq!(
        idp.requests().last().map(String::as_str),
        Some("GET https://acme.test/userinfo Bearer at-alice-acme")
    );

    // An access token about to expire is refreshed first.
    h.advance(3600);
    let r = b.get(&format!("/account-info?accountId={id}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        idp.requests().last().map(String::as_str),
        Some("GET https://acme.test/userinfo Bearer at2-alice-acme")
    );
}

#[tokio::test]
async fn account_info_refuses_unknown_accounts_bad_queries_and_no_session() {
    let (h, idp) = harness(common::options());
    idp.profile("bob", acme_profile("acme-1", "bob@example.com", true));
    let mut bob = h.browser();
    sign_in_with(&mut bob, "acme", "bob").await;
    let bobs = account_of(&accounts(&mut bob).await, "acme")["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut alice = h.browser();
    let r = alice.get(&format!("/account-info?accountId={bobs}")).await;
    assert_eq!((r.status, r.code()), (401, Some("UNAUTHORIZED")));
    alice.sign_up("alice@example.com").await;
    for query in [format!("accountId={bobs}"), "accountId=nope".into()] {
        let r = alice.get(&format!("/account-info?{query}")).await;
        assert_eq!(
            (r.status, r.body().clone()),
            (
                400,
                json!({"message": "Account not found", "code": "ACCOUNT_NOT_FOUND"})
            ),
            "{query}"
        );
    }
    // zod's messages for the union of `{accountId, userId?}` and
    // `{useAccountCookie: true, userId?}`, both strict.
    for (query, message) in [
        ("", "[query] Invalid input"),
        ("?useAccountCookie=true", "[query] Invalid input"),
        ("?accountId=a&accountId=b", "[query] Invalid input"),
        ("?accountId=a&userId=u&userId=v", "[query] Invalid input"),
        ("?accountId=a&x=1&x=2", r#"[query] Unrecognized key: "x""#),
        (
            "?y=2&accountId=a&useAccountCookie=true",
            r#"[query] Unrecognized keys: "y", "useAccountCookie""#,
        ),
    ] {
        let r = alice.get(&format!("/account-info{query}")).await;
        assert_eq!(
            (r.status, r.body().clone()),
            (400, json!({"message": message, "code": "VALIDATION_ERROR"})),
            "{query:?}"
        );
    }
    // The credential account has no provider.
    let own = account_of(&accounts(&mut alice).await, "credential")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = alice.get(&format!("/account-info?accountId={own}")).await;
    assert_eq!((r.status, r.code()), (400, Some("PROVIDER_NOT_CONFIGURED")));
}

#[tokio::test]
async fn the_token_routes_name_unknown_keys_as_zod_does() {
    let (h, _) = harness(common::options());
    let mut b = h.browser();
    b.sign_up("alice@example.com").await;
    for (body, message) in [
        (
            json!({"accountId": "a", "foo": 1}),
            r#"[body] Unrecognized key: "foo""#,
        ),
        (
            json!({"useAccountCookie": true, "accountId": 5}),
            r#"[body] Unrecognized key: "accountId""#,
        ),
        (
            json!({"accountId": "a", "useAccountCookie": true}),
            "[body] Invalid input",
        ),
        (
            json!({"accountId": "a", "userId": 5}),
            "[body] Invalid input",
        ),
        (json!("a"), "[body] Invalid input"),
    ] {
        for path in ["/get-access-token", "/refresh-token"] {
            let r = b.post(path, body.clone()).await;
            assert_eq!(
                (r.status, r.body().clone()),
                (400, json!({"message": message, "code": "VALIDATION_ERROR"})),
                "{path} {body}"
            );
        }
    }
}
