//! The real `lambda_runtime` loop, started by [`tessera_lambda::run`],
//! against a mock Lambda Runtime API on 127.0.0.1: a sign-up invocation,
//! then two events `lambda_http` cannot convert, then a get-session
//! invocation carrying the cookies the first returned.
//!
//! In its own test binary: the runtime reads its configuration from the
//! process environment, which is set before any thread is started.

mod common;
mod support;

use std::time::Duration;

use common::{assert_sign_up_cookies, auth, fixture, long_name, pair, strings, user_name};
use serde_json::{json, Value};
use support::runtime_api::{lambda_environment, MockRuntimeApi};

#[test]
fn runtime_loop_serves_a_sign_up_then_the_session_its_cookies_carry() {
    let api = MockRuntimeApi::bind();
    // Before any thread exists that could read the environment: this is
    // the only test in this binary and the Tokio runtime is not built yet.
    for (name, value) in lambda_environment(api.address()) {
        std::env::set_var(name, value);
    }
    std::env::remove_var("AWS_LAMBDA_MAX_CONCURRENCY");
    std::env::remove_var("AWS_LAMBDA_INITIALIZATION_TYPE");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut lambda = api.start();
        let scenario = async {
            let signed_up = lambda
                .invoke("invocation-1", fixture("apigw_http_v2_sign_up.json"))
                .await
                .unwrap_or_else(|e| panic!("sign-up failed: {e}"));
            assert_eq!(signed_up["statusCode"], 200, "{signed_up}");
            let set_cookies = strings(&signed_up["cookies"]);
            assert_sign_up_cookies(&set_cookies, true);

            // Events `lambda_http` itself panics on while converting them
            // (found by the lambda_event fuzz target): the runtime reports an
            // invocation error and the function goes on serving.
            let mut bad_host = fixture("apigw_http_v2_get_session.json");
            bad_host["headers"]["host"] = json!("not a host.example");
            let mut bad_base64 = fixture("apigw_http_v2_sign_up.json");
            bad_base64["isBase64Encoded"] = json!(true);
            bad_base64["body"] = json!("not base64!");
            for (id, event) in [("bad-host", bad_host), ("bad-base64", bad_base64)] {
                let outcome = lambda.invoke(id, event).await;
                assert!(outcome.is_err(), "{id}: {outcome:?}");
            }

            let mut get_session = fixture("apigw_http_v2_get_session.json");
            get_session["cookies"] = json!(set_cookies.iter().map(|c| pair(c)).collect::<Vec<_>>());
            let session = lambda
                .invoke("invocation-2", get_session)
                .await
                .unwrap_or_else(|e| panic!("get-session failed: {e}"));
            assert_eq!(session["statusCode"], 200, "{session}");
            let body = session["body"].as_str().expect("a text body");
            assert_eq!(user_name(body), long_name());
            let body: Value = serde_json::from_str(body).unwrap();
            assert!(body["session"]["token"].is_string(), "{body}");
        };

        // The loop never ends on its own: after the scenario it long-polls
        // for an invocation that never comes, and is dropped.
        let bounded = tokio::time::timeout(Duration::from_secs(60), async {
            tokio::select! {
                stopped = tessera_lambda::run(auth()) => {
                    panic!("the runtime loop stopped: {stopped:?}")
                }
                () = scenario => {}
            }
        });
        bounded.await.expect("the scenario finishes in time");
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
}
