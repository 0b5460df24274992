//! `should_mutate_list_device_sessions_endpoint`, against a stand-in for
//! the multi-session plugin that answers `[{session, user}]`.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use common::*;
use http::{Method, StatusCode};
use serde_json::{json, Value};
use tessera::plugin::Plugin;
use tessera::store::MemoryDatabase;
use tessera::{ApiError, Ctx, Endpoint, Reply, Route};
use tessera_custom_session::{CustomSession, LIST_DEVICE_SESSIONS_PATH};
use tessera_testkit::TestRequest;

/// Serves `GET /multi-session/list-device-sessions` with the sessions of
/// the tokens in `x-tokens` (comma-separated), or what `?mode=` asks for.
struct FakeMultiSession;

struct ListDeviceSessions;

#[async_trait]
impl Endpoint for ListDeviceSessions {
    async fn call(&self, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
        match ctx.query("mode") {
            Some("error") => {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "INVALID_SESSION_TOKEN",
                    "Invalid session token",
                ))
            }
            Some("null") => return Ok(Reply::json(&Value::Null)),
            Some("accepted") => {
                return Ok(Reply::json(&json!([{"x": 1}])).with_status(StatusCode::ACCEPTED))
            }
            Some("malformed") => return Ok(Reply::json(&json!([{"session": 1}]))),
            _ => {}
        }
        let tokens: Vec<String> = ctx
            .headers()
            .get("x-tokens")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        let mut found = Vec::new();
        for token in &tokens {
            if let Some(s) = ctx.sessions().find(token).await.unwrap() {
                found.push(s);
            }
        }
        Ok(Reply::json(&found))
    }
}

impl Plugin for FakeMultiSession {
    fn id(&self) -> &'static str {
        "fake-multi-session"
    }

    fn endpoints(&self) -> Vec<Route> {
        vec![Route::new(
            Method::GET,
            LIST_DEVICE_SESSIONS_PATH,
            Arc::new(ListDeviceSessions),
        )]
    }
}

fn harness(mutate: bool) -> Harness {
    Harness::with(
        options(),
        CustomSession::with_shaper(Roles::default())
            .should_mutate_list_device_sessions_endpoint(mutate),
        |b| {
            b.database(Arc::new(MemoryDatabase::new()))
                .plugin(Arc::new(FakeMultiSession))
        },
    )
}

async fn two_tokens(h: &Harness) -> String {
    let mut a = h.browser();
    a.sign_up("first@example.com").await;
    let mut b = h.browser();
    b.sign_up("second@example.com").await;
    format!("{},{}", a.token(), b.token())
}

fn list(tokens: &str) -> TestRequest {
    TestRequest::get(api(LIST_DEVICE_SESSIONS_PATH)).header("x-tokens", tokens)
}

#[tokio::test]
async fn each_element_is_shaped_in_order() {
    let h = harness(true);
    let tokens = two_tokens(&h).await;
    let res = h.browser().send(list(&tokens)).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let items = body(&res).as_array().unwrap();
    assert_eq!(items.len(), 2);
    for (item, email) in items
        .iter()
        .zip(["first@example.com", "second@example.com"])
    {
        assert_eq!(item["roles"], json!(["user"]));
        assert_eq!(item["user"]["email"], email);
        assert_eq!(item["user"]["newField"], "newField");
        assert!(item["session"]["token"].is_string());
    }
    assert_eq!(h.calls(), 2);

    let res = h.browser().send(list("")).await;
    assert_eq!(res.text, "[]");
}

#[tokio::test]
async fn off_by_default() {
    let h = harness(false);
    let tokens = two_tokens(&h).await;
    let res = h.browser().send(list(&tokens)).await;
    let items = body(&res).as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items[0].get("roles").is_none());
    assert_eq!(h.calls(), 0);
}

#[tokio::test]
async fn a_function_error_is_the_response() {
    let h = harness(true);
    let tokens = two_tokens(&h).await;
    let res = h
        .browser()
        .send(list(&tokens).header(FAIL_HEADER, "ROLES_UNAVAILABLE"))
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(res.code(), Some("ROLES_UNAVAILABLE"));
}

#[tokio::test]
async fn errors_non_200_and_null_pass_through() {
    let h = harness(true);
    let mut browser = h.browser();
    let res = browser
        .get(&format!("{LIST_DEVICE_SESSIONS_PATH}?mode=error"))
        .await;
    assert_eq!(
        (res.status, res.code()),
        (401, Some("INVALID_SESSION_TOKEN"))
    );
    let res = browser
        .get(&format!("{LIST_DEVICE_SESSIONS_PATH}?mode=null"))
        .await;
    assert_eq!((res.status, res.text.as_str()), (200, "null"));
    let res = browser
        .get(&format!("{LIST_DEVICE_SESSIONS_PATH}?mode=accepted"))
        .await;
    assert_eq!((res.status, res.text.as_str()), (202, r#"[{"x":1}]"#));
    assert_eq!(h.calls(), 0);
}

#[tokio::test]
async fn an_unexpected_shape_fails_closed() {
    let h = harness(true);
    let res = h
        .browser()
        .get(&format!("{LIST_DEVICE_SESSIONS_PATH}?mode=malformed"))
        .await;
    assert_eq!(res.status, 500);
    assert_eq!(res.code(), Some("INTERNAL_SERVER_ERROR"));
    assert!(
        !res.text.contains("session"),
        "no detail leaks: {}",
        res.text
    );
}
