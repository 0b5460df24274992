//! An application behind the auth API on one function: the session in its
//! request extensions, the session's cookies on its response, in the event
//! shape's own cookie field.

mod common;

use std::convert::Infallible;

use common::{auth, fixture, invoke, long_name, pair, strings};
use http::Response;
use lambda_http::{service_fn, Body, Request};
use serde_json::json;
use tessera::ClientAddr;
use tessera_lambda::AuthAndApp;

/// Greets the signed-in user and reports the source IP it was given.
async fn hello(req: Request) -> Result<Response<String>, Infallible> {
    let who = match tessera_lambda::session(&req) {
        Some(s) => s.user.name.clone(),
        None => "stranger".to_owned(),
    };
    let ip = req
        .extensions()
        .get::<ClientAddr>()
        .map(|ClientAddr(ip)| ip.to_string())
        .unwrap_or_default();
    Ok(Response::builder()
        .header("content-type", "text/plain")
        .body(format!("hello {who} from {ip}"))
        .unwrap())
}

#[tokio::test]
async fn auth_api_and_app_share_one_function() {
    let app = AuthAndApp::new(auth(), service_fn(hello));

    // The REST API sign-up (stage in the URI) reaches the auth API.
    let signed_up = invoke(app.clone(), &fixture("apigw_rest_v1_sign_up.json")).await;
    assert_eq!(signed_up["statusCode"], 200, "{signed_up}");
    let set_cookies = strings(&signed_up["multiValueHeaders"]["set-cookie"]);

    // Another path goes to the app, with the session the cookies carry.
    let mut event = fixture("apigw_http_v2_get_session.json");
    event["rawPath"] = json!("/hello");
    event["requestContext"]["http"]["path"] = json!("/hello");
    event["cookies"] = json!(set_cookies.iter().map(|c| pair(c)).collect::<Vec<_>>());
    let res = invoke(app.clone(), &event).await;
    assert_eq!(res["statusCode"], 200, "{res}");
    assert_eq!(
        res["body"],
        format!("hello {} from 203.0.113.22", long_name())
    );

    // Without cookies the app still answers, to a stranger.
    event["cookies"] = json!([]);
    let res = invoke(app, &event).await;
    assert_eq!(res["body"], "hello stranger from 203.0.113.22");
}

#[tokio::test]
async fn app_response_carries_the_session_cookie_work() {
    // A real session token whose cookie cache is damaged, sent to an
    // instance that never saw the sign-up: the cache misses, no store knows
    // the session, and the kernel expires the cookies. The app's response
    // must carry that.
    let signed_up = invoke(
        tessera_lambda::AuthService::new(auth()),
        &fixture("function_url_sign_up.json"),
    )
    .await;
    let token = strings(&signed_up["cookies"])
        .into_iter()
        .find(|c| c.starts_with("better-auth.session_token="))
        .expect("a session token");

    let app = AuthAndApp::new(auth(), service_fn(hello));
    let mut event = fixture("apigw_http_v2_get_session.json");
    event["rawPath"] = json!("/hello");
    event["requestContext"]["http"]["path"] = json!("/hello");
    event["cookies"] = json!([pair(&token), "better-auth.session_data=damaged"]);
    let res = invoke(app, &event).await;
    assert_eq!(res["statusCode"], 200, "{res}");
    assert_eq!(res["body"], "hello stranger from 203.0.113.22");
    let cookies = strings(&res["cookies"]);
    assert!(!cookies.is_empty(), "{res}");
    assert!(
        cookies.iter().all(|c| c.contains("Max-Age=0")),
        "{cookies:?}"
    );
    assert!(res["headers"].get("set-cookie").is_none(), "{res}");
}

#[tokio::test]
async fn app_body_types_become_lambda_bodies() {
    let app = AuthAndApp::new(
        auth(),
        service_fn(|_req: Request| async {
            // lambda_http base64-encodes what its Content-Type calls binary.
            let res = Response::builder()
                .header("content-type", "application/octet-stream")
                .body(Body::Binary(vec![0xff, 0x00]))
                .unwrap();
            Ok::<_, Infallible>(res)
        }),
    );
    let mut event = fixture("apigw_http_v2_get_session.json");
    event["rawPath"] = json!("/bytes");
    let res = invoke(app, &event).await;
    assert_eq!(res["isBase64Encoded"], true, "{res}");
    assert_eq!(res["body"], "/wA=");
}

#[tokio::test]
async fn with_session_passes_the_auth_api_through_on_the_stage_free_path() {
    use std::sync::{Arc, Mutex};

    use tessera::CurrentSession;
    use tessera_lambda::WithSession;

    // An application that routes by itself, behind WithSession: it answers
    // every path and records whether it was handed a session.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = WithSession::new(
        auth(),
        service_fn({
            let seen = seen.clone();
            move |req: Request| {
                let resolved = req.extensions().get::<CurrentSession>().is_some();
                seen.lock()
                    .unwrap()
                    .push((req.uri().path().to_owned(), resolved));
                async { Ok::<_, Infallible>(Response::new(String::from("app"))) }
            }
        }),
    );

    // REST API: lambda_http puts the stage into the URI; without it the
    // path is the auth API's, so the request passes through.
    let sign_up = fixture("apigw_rest_v1_sign_up.json");
    let res = invoke(app.clone(), &sign_up).await;
    assert_eq!(res["statusCode"], 200, "{res}");
    let mut hello = sign_up.clone();
    hello["path"] = json!("/hello");
    hello["requestContext"]["path"] = json!("/prod/hello");
    let res = invoke(app.clone(), &hello).await;
    assert_eq!(res["statusCode"], 200, "{res}");
    // A path beside the base path is the application's.
    let mut lookalike = sign_up;
    lookalike["path"] = json!("/api/authx/sign-up/email");
    lookalike["requestContext"]["path"] = json!("/prod/api/authx/sign-up/email");
    invoke(app, &lookalike).await;

    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("/prod/api/auth/sign-up/email".to_owned(), false),
            ("/prod/hello".to_owned(), true),
            ("/prod/api/authx/sign-up/email".to_owned(), true),
        ]
    );
}
