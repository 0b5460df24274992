//! OAuth sign-in without the network: what the callback itself costs
//! (state decrypt, code exchange answered at once, ID token verify with
//! the JWKS cached, user and account upsert in memory, session and account
//! cookies), and `/get-access-token` from the `account_data` cookie. Run
//! with `cargo xtask bench` (or `cargo bench -p tessera --bench oauth`).
//!
//! The provider is an in-memory `HttpClient`: its token endpoint answers
//! each code with a token response prepared for it (an RS256 ID token
//! carrying that sign-in's nonce, signed before the timed part), and it
//! serves its JWKS and userinfo. The stateless instance's in-memory store
//! holds 1,000 other users and their accounts.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http::{Request, Response, StatusCode};
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jws::{self, JwsHeader, JwsSigner};
use serde_json::{json, Value};
use tessera::oauth::{
    Endpoints, HttpClient, HttpClientError, ProfileMapping, Provider, ProviderConfig,
};
use tessera::{Auth, Options};

const SECRET: &str = "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
const BASE: &str = "http://localhost:3000";
const ISSUER: &str = "https://idp.example";
const CLIENT_ID: &str = "bench-client";
const KID: &str = "bench-key";
/// Users (each with an OAuth account) in the store besides the one who
/// signs in.
const OTHER_USERS: u64 = 1_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The provider: token responses by code (prepared outside the timed
/// part, each used once, as a real provider does), its key set, userinfo.
struct FakeIdp {
    responses: Mutex<HashMap<String, Bytes>>,
    jwks: Bytes,
    userinfo: Bytes,
    token_calls: AtomicU64,
    jwks_calls: AtomicU64,
}

fn json_response(status: StatusCode, body: Bytes) -> Response<Bytes> {
    let mut res = Response::new(body);
    *res.status_mut() = status;
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    res
}

#[async_trait::async_trait]
impl HttpClient for FakeIdp {
    async fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpClientError> {
        let path = request.uri().path();
        Ok(match path {
            "/token" => {
                self.token_calls.fetch_add(1, Ordering::Relaxed);
                let code = form_urlencoded::parse(request.body())
                    .find(|(k, _)| k == "code")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                // The lock is released before the answer goes back.
                let found = self.responses.lock().unwrap().remove(&code);
                match found {
                    Some(body) => json_response(StatusCode::OK, body),
                    None => json_response(
                        StatusCode::BAD_REQUEST,
                        Bytes::from_static(br#"{"error":"invalid_grant"}"#),
                    ),
                }
            }
            "/jwks" => {
                self.jwks_calls.fetch_add(1, Ordering::Relaxed);
                json_response(StatusCode::OK, self.jwks.clone())
            }
            "/userinfo" => json_response(StatusCode::OK, self.userinfo.clone()),
            _ => json_response(StatusCode::NOT_FOUND, Bytes::from_static(b"{}")),
        })
    }
}

/// One Tessera, stateless (no database: the account cookie is on, the
/// state travels in `oauth_state`), with one OpenID provider.
struct Bench {
    rt: tokio::runtime::Runtime,
    auth: Auth,
    idp: Arc<FakeIdp>,
    signer: Box<dyn JwsSigner>,
    codes: AtomicU64,
}

/// A callback ready to send, its sign-in started and its code's answer
/// waiting at the provider.
struct Callback(Request<Bytes>);

impl Bench {
    fn new() -> Self {
        let key: RsaKeyPair = jws::RS256.generate_key_pair(2048).unwrap();
        let mut public = key.to_jwk_public_key();
        public.set_key_id(KID);
        public.set_key_use("sig");
        public.set_algorithm("RS256");
        let jwks = json!({ "keys": [Value::Object(public.as_ref().clone())] });
        let signer = jws::RS256
            .signer_from_jwk(&key.to_jwk_private_key())
            .unwrap();
        let idp = Arc::new(FakeIdp {
            responses: Mutex::new(HashMap::new()),
            jwks: Bytes::from(jwks.to_string()),
            userinfo: Bytes::from(
                json!({ "sub": "bench-user", "email": "bench@example.com",
                        "email_verified": true, "name": "Bench" })
                .to_string(),
            ),
            token_calls: AtomicU64::new(0),
            jwks_calls: AtomicU64::new(0),
        });
        let provider = Provider::new(
            ProviderConfig::oauth2(
                "idp",
                Endpoints::new(format!("{ISSUER}/authorize"), format!("{ISSUER}/token"))
                    .with_userinfo(format!("{ISSUER}/userinfo"))
                    .with_id_tokens(ISSUER, format!("{ISSUER}/jwks"), &["RS256"]),
                CLIENT_ID,
                Some("bench-client-secret".into()),
                ProfileMapping::oidc(),
            )
            .with_scopes(["openid", "email", "profile"]),
        )
        .unwrap();
        let auth = Auth::builder(
            Options::new()
                .secret(SECRET)
                .base_url(BASE)
                .rate_limit(false),
        )
        .oauth_provider(provider)
        .http_client(idp.clone())
        .build()
        .unwrap();
        assert!(auth.is_stateless());
        Bench {
            rt: runtime(),
            auth,
            idp,
            signer: Box::new(signer),
            codes: AtomicU64::new(0),
        }
    }

    /// `POST /sign-in/social`, then the provider's answer for a fresh code
    /// (an ID token for `sub`/`email` with this sign-in's nonce), then the
    /// callback request the browser would send.
    fn prepare(&self, sub: &str, email: &str) -> Callback {
        let res = self.rt.block_on(
            self.auth.handle(
                Request::post("/api/auth/sign-in/social")
                    .header("content-type", "application/json")
                    .header("origin", BASE)
                    .body(Bytes::from_static(
                        br#"{"provider":"idp","callbackURL":"/after"}"#,
                    ))
                    .unwrap(),
            ),
        );
        assert_eq!(res.status(), 200);
        let body: Value = serde_json::from_slice(res.body()).unwrap();
        let url = url::Url::parse(body["url"].as_str().unwrap()).unwrap();
        let param = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .unwrap()
        };
        let (state, nonce) = (param("state"), param("nonce"));
        let state_cookie = set_cookies(&res);

        let now = self.auth.clock().now().as_millis() / 1000;
        let claims = json!({
            "iss": ISSUER, "sub": sub, "aud": CLIENT_ID,
            "iat": now, "exp": now + 3600, "nonce": nonce,
            "email": email, "email_verified": true, "name": "Bench",
        });
        let mut header = JwsHeader::new();
        header.set_key_id(KID);
        let id_token =
            jws::serialize_compact(claims.to_string().as_bytes(), &header, &*self.signer).unwrap();
        let code = format!("code-{}", self.codes.fetch_add(1, Ordering::Relaxed));
        let answer = json!({
            "access_token": format!("at-{code}"), "token_type": "Bearer",
            "expires_in": 3600, "refresh_token": format!("rt-{code}"),
            "scope": "openid email profile", "id_token": id_token,
        });
        self.idp
            .responses
            .lock()
            .unwrap()
            .insert(code.clone(), Bytes::from(answer.to_string()));
        Callback(
            Request::get(format!("/api/auth/callback/idp?code={code}&state={state}"))
                .header("cookie", state_cookie)
                .body(Bytes::new())
                .unwrap(),
        )
    }

    /// Sends a callback; it must sign in (a redirect to the callback URL,
    /// not to an error).
    fn callback(&self, callback: Callback) -> Response<Bytes> {
        let res = self.rt.block_on(self.auth.handle(callback.0));
        assert_eq!(res.status(), 302);
        assert_eq!(res.headers()["location"], "/after");
        res
    }
}

/// The `Cookie` header of what a response set (expired cookies left out).
fn set_cookies(res: &Response<Bytes>) -> String {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .filter(|c| !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap())
        .collect::<Vec<_>>()
        .join("; ")
}

fn callback(c: &mut Criterion) {
    let bench = Bench::new();
    // Warm-up: the JWKS is fetched and cached; the user and the account
    // exist from here on.
    let first = bench.callback(bench.prepare("bench-user", "bench@example.com"));
    assert!(set_cookies(&first).contains("better-auth.account_data"));
    // A store of realistic size, as in the kernel bench: 1,000 other
    // users with their accounts.
    for i in 0..OTHER_USERS {
        bench.callback(bench.prepare(&format!("other-{i}"), &format!("other-{i}@example.com")));
    }

    let mut group = c.benchmark_group("oauth/callback");
    group.sample_size(50);
    // The common path: the account is found by (provider, sub).
    group.bench_function("returning_user", |b| {
        b.iter_batched(
            || bench.prepare("bench-user", "bench@example.com"),
            |cb| black_box(bench.callback(cb)),
            BatchSize::SmallInput,
        )
    });
    // First sign-in: a user and an account are created.
    let users = AtomicU64::new(0);
    group.bench_function("new_user", |b| {
        b.iter_batched(
            || {
                let n = users.fetch_add(1, Ordering::Relaxed);
                bench.prepare(&format!("new-{n}"), &format!("new-{n}@example.com"))
            },
            |cb| black_box(bench.callback(cb)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
    // Each new user stays: the store grew during `new_user`.
    eprintln!(
        "oauth/callback: {} accounts in the store at the end",
        OTHER_USERS + 1 + users.load(Ordering::Relaxed)
    );
    // The key set was fetched once, by the warm-up.
    assert_eq!(bench.idp.jwks_calls.load(Ordering::Relaxed), 1);
}

fn get_access_token(c: &mut Criterion) {
    let bench = Bench::new();
    let res = bench.callback(bench.prepare("bench-user", "bench@example.com"));
    let cookie = set_cookies(&res);
    for name in ["session_token", "session_data", "account_data"] {
        assert!(cookie.contains(&format!("better-auth.{name}")), "{cookie}");
    }
    c.bench_function("oauth/get_access_token/account_cookie", |b| {
        b.iter(|| {
            let req = Request::post("/api/auth/get-access-token")
                .header("content-type", "application/json")
                .header("origin", BASE)
                .header("cookie", &cookie)
                .body(Bytes::from_static(br#"{"useAccountCookie":true}"#))
                .unwrap();
            let res = bench.rt.block_on(bench.auth.handle(req));
            assert_eq!(res.status(), 200);
            black_box(res)
        })
    });
    // No refresh: the token endpoint saw the callback's code exchange only.
    assert_eq!(bench.idp.token_calls.load(Ordering::Relaxed), 1);
}

criterion_group!(benches, callback, get_access_token);
criterion_main!(benches);
