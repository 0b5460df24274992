//! The `bootstrap` binary as Lambda runs it: a child process with Lambda's
//! environment, talking to a mock Runtime API on 127.0.0.1.

// The adapter's mock Runtime API, one home for both crates' tests.
#[path = "../../../adapters/lambda/tests/support/runtime_api.rs"]
mod runtime_api;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use runtime_api::{lambda_environment, MockRuntimeApi};
use serde_json::{json, Value};

const SECRET: &str = "a-long-random-secret-of-at-least-32-characters!";
const ORIGIN: &str = "https://app.example.com";

/// The function's process, killed when the test ends.
struct Function(Child);

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bootstrap(vars: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
    cmd.env_clear().envs(vars.iter().map(|(k, v)| (*k, v)));
    cmd
}

/// A Lambda Function URL event (the HTTP API 2.0 shape).
fn function_url_event(method: &str, path: &str, body: Option<Value>, cookies: &[&str]) -> Value {
    let domain = "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6.lambda-url.eu-west-1.on.aws";
    let mut headers = json!({
        "host": domain,
        "origin": ORIGIN,
        "user-agent": "curl/8.5.0",
        "x-forwarded-proto": "https",
    });
    if body.is_some() {
        headers["content-type"] = json!("application/json");
    }
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "cookies": cookies,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6",
            "domainName": domain,
            "domainPrefix": "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "198.51.100.30",
                "userAgent": "curl/8.5.0"
            },
            "requestId": "5b0c6f0e-0f1b-4a4c-9d8e-0123456789ab",
            "routeKey": "$default",
            "stage": "$default",
            "time": "09/Apr/2026:12:34:56 +0000",
            "timeEpoch": 1775738096000_u64
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_serves_the_auth_api_statelessly_from_its_environment() {
    let api = MockRuntimeApi::bind();
    let mut vars = lambda_environment(api.address());
    vars.extend([
        ("BETTER_AUTH_SECRET", SECRET.to_owned()),
        ("BETTER_AUTH_TRUSTED_ORIGINS", ORIGIN.to_owned()),
        ("NODE_ENV", "production".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ]);
    let mut lambda = api.start();
    let _function = Function(
        bootstrap(&vars)
            .stdout(Stdio::null())
            .spawn()
            .expect("bootstrap starts"),
    );

    let scenario = async {
        let sign_up = function_url_event(
            "POST",
            "/api/auth/sign-up/email",
            Some(json!({
                "name": "Grace Hopper",
                "email": "grace@example.com",
                "password": "correct-horse-battery-staple"
            })),
            &[],
        );
        let signed_up = lambda.invoke("sign-up", sign_up).await.expect("no error");
        assert_eq!(signed_up["statusCode"], 200, "{signed_up}");
        let cookies: Vec<String> = signed_up["cookies"]
            .as_array()
            .expect("a cookies array")
            .iter()
            .map(|c| {
                let line = c.as_str().unwrap();
                line.split(';').next().unwrap().to_owned()
            })
            .collect();
        // Stateless mode: the session travels in the cookie cache.
        assert!(
            cookies
                .iter()
                .any(|c| c.starts_with("better-auth.session_data=")),
            "{cookies:?}"
        );

        let pairs: Vec<&str> = cookies.iter().map(String::as_str).collect();
        let get_session = function_url_event("GET", "/api/auth/get-session", None, &pairs);
        let session = lambda
            .invoke("get-session", get_session)
            .await
            .expect("no error");
        assert_eq!(session["statusCode"], 200, "{session}");
        let body: Value = serde_json::from_str(session["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["user"]["name"], "Grace Hopper", "{body}");
    };
    tokio::time::timeout(Duration::from_secs(60), scenario)
        .await
        .expect("the function answers in time");
}

#[test]
fn bootstrap_without_a_secret_in_production_fails_at_init() {
    // No Runtime API is contacted: the configuration is refused first.
    let vars = lambda_environment("127.0.0.1:9".parse().unwrap());
    let out = bootstrap(&vars).output().expect("bootstrap runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid configuration"), "{stderr}");
}
