//! Every event shape through `lambda_http`'s real conversions and the
//! adapter: sign-up with a chunked stateless session, the envelope's
//! cookies, and the cookies sent back resolving the session.
//!
//! The cookies go back to a second kernel with the same secret, as to
//! another warm instance of the function: only the cookies carry the
//! session between them.

mod common;

use common::{
    assert_sign_up_cookies, auth, cookie_header, fixture, invoke, long_name, strings, user_name,
};
use serde_json::{json, Value};
use tessera::Auth;
use tessera_lambda::AuthService;

async fn call(auth: &Auth, event: &Value) -> Value {
    invoke(AuthService::new(auth.clone()), event).await
}

/// A kernel that has not seen the sign-up: another instance of the function.
fn another_instance() -> Auth {
    auth()
}

fn body(envelope: &Value) -> &str {
    envelope["body"].as_str().expect("a text body")
}

/// The REST API fixture turned into a get-session carrying `cookie`.
fn rest_get_session(mut event: Value, cookie: &str) -> Value {
    event["httpMethod"] = json!("GET");
    event["path"] = json!("/api/auth/get-session");
    event["requestContext"]["httpMethod"] = json!("GET");
    event["requestContext"]["path"] = json!("/prod/api/auth/get-session");
    event["body"] = Value::Null;
    event["isBase64Encoded"] = json!(false);
    event["headers"]["Cookie"] = json!(cookie);
    event["multiValueHeaders"]["Cookie"] = json!([cookie]);
    event
}

/// An ALB fixture turned into a get-session carrying `cookie`.
fn alb_get_session(mut event: Value, cookie: &str) -> Value {
    event["httpMethod"] = json!("GET");
    event["path"] = json!("/api/auth/get-session");
    event["body"] = Value::Null;
    if event.get("multiValueHeaders").is_some() {
        event["multiValueHeaders"]["cookie"] = json!([cookie]);
    } else {
        event["headers"]["cookie"] = json!(cookie);
    }
    event
}

/// The HTTP API get-session fixture with `cookies`.
fn http_api_get_session(set_cookies: &[String]) -> Value {
    let mut event = fixture("apigw_http_v2_get_session.json");
    let pairs: Vec<&str> = set_cookies.iter().map(|c| common::pair(c)).collect();
    event["cookies"] = json!(pairs);
    event
}

#[tokio::test]
async fn rest_api_with_stage_and_base64_body_sets_every_cookie_in_multi_value_headers() {
    let auth = auth();
    let event = fixture("apigw_rest_v1_sign_up.json");
    let res = call(&auth, &event).await;

    assert_eq!(res["statusCode"], 200, "{res}");
    assert_eq!(res["isBase64Encoded"], false);
    assert_eq!(user_name(body(&res)), long_name());
    // lambda_http leaves `headers` empty for REST APIs: API Gateway would
    // merge it with multiValueHeaders and duplicate every header.
    assert_eq!(res["headers"], json!({}));
    let set_cookies = strings(&res["multiValueHeaders"]["set-cookie"]);
    assert_sign_up_cookies(&set_cookies, true);
    assert_eq!(
        res["multiValueHeaders"]["content-type"],
        json!(["application/json"])
    );

    let again = call(
        &another_instance(),
        &rest_get_session(event, &cookie_header(&set_cookies)),
    )
    .await;
    assert_eq!(again["statusCode"], 200, "{again}");
    assert_eq!(user_name(body(&again)), long_name());
}

#[tokio::test]
async fn http_api_on_a_named_stage_sets_every_cookie_in_the_cookies_array() {
    let auth = auth();
    let res = call(&auth, &fixture("apigw_http_v2_sign_up.json")).await;

    assert_eq!(res["statusCode"], 200, "{res}");
    assert_eq!(res["isBase64Encoded"], false);
    assert_eq!(user_name(body(&res)), long_name());
    let set_cookies = strings(&res["cookies"]);
    assert_sign_up_cookies(&set_cookies, true);
    // The 2.0 shape has no multi-value headers: a Set-Cookie left in
    // `headers` would be comma-joined, so none may be there.
    assert!(res["headers"].get("set-cookie").is_none(), "{res}");
    assert_eq!(res["headers"]["content-type"], "application/json");

    let again = call(&another_instance(), &http_api_get_session(&set_cookies)).await;
    assert_eq!(again["statusCode"], 200, "{again}");
    assert_eq!(user_name(body(&again)), long_name());
}

#[tokio::test]
async fn function_url_sets_every_cookie_in_the_cookies_array() {
    let auth = auth();
    let res = call(&auth, &fixture("function_url_sign_up.json")).await;

    assert_eq!(res["statusCode"], 200, "{res}");
    let set_cookies = strings(&res["cookies"]);
    // Remembered session: no dont_remember cookie.
    assert_sign_up_cookies(&set_cookies, false);
    assert!(res["headers"].get("set-cookie").is_none(), "{res}");

    let again = call(&another_instance(), &http_api_get_session(&set_cookies)).await;
    assert_eq!(user_name(body(&again)), long_name());
}

#[tokio::test]
async fn alb_with_multi_value_headers_sets_every_cookie() {
    let auth = auth();
    let event = fixture("alb_multi_value_sign_up.json");
    let res = call(&auth, &event).await;

    assert_eq!(res["statusCode"], 200, "{res}");
    assert_eq!(res["statusDescription"], "200 OK");
    assert_eq!(res["isBase64Encoded"], false);
    assert_eq!(user_name(body(&res)), long_name());
    let set_cookies = strings(&res["multiValueHeaders"]["set-cookie"]);
    assert_sign_up_cookies(&set_cookies, true);

    let again = call(
        &another_instance(),
        &alb_get_session(event, &cookie_header(&set_cookies)),
    )
    .await;
    assert_eq!(again["statusCode"], 200, "{again}");
    assert_eq!(user_name(body(&again)), long_name());
}

/// Pins the documented limitation: ALB without multi-value headers reads
/// `headers`, one string per name, which holds the first cookie only.
#[tokio::test]
async fn alb_with_single_value_headers_can_carry_only_the_first_cookie() {
    let auth = auth();
    let event = fixture("alb_single_value_sign_up.json");
    let res = call(&auth, &event).await;

    assert_eq!(res["statusCode"], 200, "{res}");
    assert_eq!(user_name(body(&res)), long_name());
    let all = strings(&res["multiValueHeaders"]["set-cookie"]);
    assert_sign_up_cookies(&all, true);
    let single = res["headers"]["set-cookie"]
        .as_str()
        .expect("one string per header name");
    assert_eq!(single, all[0]);

    // With only that cookie, a stateless session cannot be resolved...
    let first_only = call(
        &another_instance(),
        &alb_get_session(event.clone(), common::pair(single)),
    )
    .await;
    assert_eq!(body(&first_only), "null");
    // ...which is why the target group needs multi-value headers on.
    let every = call(
        &another_instance(),
        &alb_get_session(event, &cookie_header(&all)),
    )
    .await;
    assert_eq!(user_name(body(&every)), long_name());
}

#[tokio::test]
async fn paths_outside_the_base_path_answer_404_in_the_event_shape() {
    let auth = auth();
    let mut event = fixture("apigw_http_v2_get_session.json");
    event["rawPath"] = json!("/elsewhere");
    event["requestContext"]["http"]["path"] = json!("/elsewhere");
    let res = call(&auth, &event).await;
    assert_eq!(res["statusCode"], 404, "{res}");
    assert_eq!(res["cookies"], json!([]));
}
