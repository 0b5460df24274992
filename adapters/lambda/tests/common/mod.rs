//! Shared by the integration tests: the kernel under test, the fixtures and
//! `lambda_http`'s own event-to-envelope path.

#![allow(dead_code)] // each test binary uses a part

use lambda_http::lambda_runtime::{Context, LambdaEvent};
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, IntoResponse, Request, Service};
use serde_json::Value;
use tessera::{Auth, Options};

/// The origin the fixtures send, trusted by [`auth`].
pub const ORIGIN: &str = "https://app.example.com";

/// A stateless kernel, as a Lambda function runs it.
pub fn auth() -> Auth {
    tessera_stateless_refresh::link();
    Auth::builder(
        Options::new()
            .secret("a-long-random-secret-of-at-least-32-characters!")
            .trusted_origin(ORIGIN)
            .rate_limit(false),
    )
    .build()
    .expect("valid configuration")
}

/// The fixtures' user name: long enough to chunk the session cookie cache.
pub fn long_name() -> String {
    "Ada Lovelace ".repeat(462)[..6000].to_owned()
}

/// A fixture from `tests/fixtures/`.
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Invokes `service` with `event` the way `lambda_http::run` does: the
/// event deserialized into `lambda_http`'s `LambdaRequest`, converted into
/// a `Request`, and the response converted into the serialized envelope
/// for the event's source. `Adapter` and `LambdaRequest` are
/// `#[doc(hidden)]` but public: they are `lambda_http::run`'s own path.
pub async fn invoke<S, R, E>(service: S, event: &Value) -> Value
where
    S: Service<Request, Response = R, Error = E> + 'static,
    S::Future: Send + 'static,
    R: IntoResponse + 'static,
    E: std::fmt::Debug + 'static,
{
    let payload: LambdaRequest =
        serde_json::from_value(event.clone()).expect("lambda_http accepts the event");
    let mut adapter: Adapter<'static, R, S> = Adapter::from(service);
    let envelope = adapter
        .call(LambdaEvent::new(payload, Context::default()))
        .await
        .expect("handler succeeds");
    serde_json::to_value(envelope).expect("envelope serializes")
}

/// `name=value` of a `Set-Cookie` line.
pub fn pair(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap_or_default().trim()
}

/// The cookie name of a `Set-Cookie` line.
pub fn cookie_name(set_cookie: &str) -> &str {
    pair(set_cookie).split('=').next().unwrap_or_default()
}

/// The `Cookie` header a browser sends back after `set_cookies`.
pub fn cookie_header(set_cookies: &[String]) -> String {
    set_cookies
        .iter()
        .map(|c| pair(c))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Strings of a JSON array.
pub fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

/// Asserts the sign-up cookies are all there: the session token, the
/// chunked cookie cache and, when asked, `dont_remember`.
pub fn assert_sign_up_cookies(set_cookies: &[String], dont_remember: bool) {
    let names: Vec<&str> = set_cookies.iter().map(|c| cookie_name(c)).collect();
    assert!(
        names.contains(&"better-auth.session_token"),
        "session_token missing: {names:?}"
    );
    assert!(
        !names.contains(&"better-auth.session_data"),
        "the cache should be chunked: {names:?}"
    );
    let chunks = names
        .iter()
        .filter(|n| n.starts_with("better-auth.session_data."))
        .count();
    assert!(chunks >= 2, "session_data chunks missing: {names:?}");
    for i in 0..chunks {
        let chunk = format!("better-auth.session_data.{i}");
        assert!(
            names.contains(&chunk.as_str()),
            "{chunk} missing: {names:?}"
        );
    }
    assert_eq!(
        names.contains(&"better-auth.dont_remember"),
        dont_remember,
        "dont_remember: {names:?}"
    );
    for c in set_cookies {
        assert!(!pair(c).ends_with('='), "empty cookie value: {c}");
    }
}

/// The user name in a sign-up or get-session body.
pub fn user_name(body: &str) -> String {
    let json: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    json["user"]["name"]
        .as_str()
        .unwrap_or_else(|| panic!("no user in {body}"))
        .to_owned()
}
