//! The kernel's request limits behind every Lambda entry point: a cookie
//! bomb in an event answers 431 with better-auth's JSON, on the auth API
//! and for the application, which is not called.

mod common;

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{auth, fixture, invoke};
use http::Response;
use lambda_http::{service_fn, Request};
use serde_json::json;
use tessera_lambda::{AuthAndApp, AuthService};
use tessera_testkit::conformance::cookie_bomb;

const TOO_LARGE: &str =
    r#"{"message":"Request header fields too large","code":"REQUEST_HEADER_FIELDS_TOO_LARGE"}"#;

#[tokio::test]
async fn a_cookie_bomb_is_431_json_on_the_auth_api_and_for_the_app() {
    let bomb = cookie_bomb();
    let mut event = fixture("apigw_http_v2_get_session.json");
    // An HTTP API event carries its cookies as a list.
    event["cookies"] = json!(bomb.split("; ").collect::<Vec<_>>());

    let res = invoke(AuthService::new(auth()), &event).await;
    assert_eq!(res["statusCode"], 431, "{}", res["body"]);
    assert_eq!(res["body"], TOO_LARGE);

    let called = Arc::new(AtomicBool::new(false));
    let app = {
        let called = called.clone();
        service_fn(move |_req: Request| {
            called.store(true, Ordering::SeqCst);
            async { Ok::<_, Infallible>(Response::new(String::new())) }
        })
    };
    event["rawPath"] = json!("/hello");
    event["requestContext"]["http"]["path"] = json!("/hello");
    let res = invoke(AuthAndApp::new(auth(), app), &event).await;
    assert_eq!(res["statusCode"], 431, "{}", res["body"]);
    assert_eq!(res["body"], TOO_LARGE);
    assert!(!called.load(Ordering::SeqCst), "the app ran");
}

#[tokio::test]
async fn a_cookie_bomb_in_a_rest_api_header_is_431_too() {
    let mut event = fixture("apigw_rest_v1_sign_up.json");
    event["httpMethod"] = json!("GET");
    event["path"] = json!("/api/auth/get-session");
    event["body"] = json!(null);
    event["headers"]["cookie"] = json!(cookie_bomb());
    event["multiValueHeaders"]["cookie"] = json!([cookie_bomb()]);
    let res = invoke(AuthService::new(auth()), &event).await;
    assert_eq!(res["statusCode"], 431, "{}", res["body"]);
    assert_eq!(res["body"], TOO_LARGE);
}
