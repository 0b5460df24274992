//! The app's router on an ephemeral port, driven over HTTP.

use std::net::SocketAddr;

use axum_app::{app, build, Config};
use serde_json::{json, Value};
use tessera_testkit::{ClientCookies, Target, TestRequest, TestResponse};
use tokio::net::TcpListener;

const SECRET: &str = "a-long-random-secret-of-at-least-32-characters!";

struct Running {
    base_url: String,
    target: Target,
}

impl Running {
    /// Configured as `BETTER_AUTH_SECRET=… cargo run -p axum-app` would be,
    /// with the base URL of the port actually bound.
    async fn start(database_url: Option<&str>) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let config = Config::from_vars(|name| match name {
            "BETTER_AUTH_SECRET" => Some(SECRET.to_owned()),
            "BETTER_AUTH_URL" => Some(base_url.clone()),
            "TESSERA_DATABASE_URL" => database_url.map(str::to_owned),
            _ => None,
        })
        .unwrap();
        let router = app(build(config).unwrap());
        tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        Running {
            target: Target::http(base_url.clone()),
            base_url,
        }
    }

    async fn send(&self, req: TestRequest) -> TestResponse {
        self.target.send(&req).await
    }

    async fn sign_up(&self, name: &str, cookies: &mut ClientCookies) -> TestResponse {
        let res = self
            .send(
                TestRequest::post("/api/auth/sign-up/email")
                    .origin(self.base_url.as_str())
                    .cookies(cookies)
                    .json(&json!({
                        "email": format!("{}@example.com", name.to_lowercase()),
                        "password": "password1234",
                        "name": name,
                    })),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        cookies.update(&res);
        res
    }
}

#[tokio::test]
async fn sign_up_then_me_then_device_sessions() {
    let app = Running::start(None).await;
    let mut cookies = ClientCookies::new();

    let res = app.send(TestRequest::get("/")).await;
    assert_eq!(res.text, "hello, anonymous");
    let res = app.send(TestRequest::get("/me")).await;
    assert_eq!(res.status, 401);
    assert_eq!(
        res.text,
        r#"{"message":"Unauthorized","code":"UNAUTHORIZED"}"#
    );

    app.sign_up("Ada", &mut cookies).await;

    let res = app.send(TestRequest::get("/").cookies(&cookies)).await;
    assert_eq!(res.text, "hello, Ada");

    let me = app.send(TestRequest::get("/me").cookies(&cookies)).await;
    assert_eq!(me.status, 200, "{}", me.text);
    let me: Value = me.json.unwrap();
    assert_eq!(me["roles"], json!(["user"]));
    assert_eq!(me["user"]["email"], "ada@example.com");
    assert_eq!(me["user"]["newField"], "newField");
    assert_eq!(me["session"]["userId"], me["user"]["id"]);

    // The auth API answers the same shape (customSession's /get-session).
    let got = app
        .send(TestRequest::get("/api/auth/get-session").cookies(&cookies))
        .await;
    assert_eq!(got.json.unwrap(), me);

    // A second account on the same device (multiSession).
    app.sign_up("Bob", &mut cookies).await;
    let res = app
        .send(TestRequest::get("/api/auth/multi-session/list-device-sessions").cookies(&cookies))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let mut emails: Vec<String> = res
        .json
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["user"]["email"].as_str().unwrap().to_owned())
        .collect();
    emails.sort();
    assert_eq!(emails, ["ada@example.com", "bob@example.com"]);

    // The active account is now Bob.
    let res = app.send(TestRequest::get("/").cookies(&cookies)).await;
    assert_eq!(res.text, "hello, Bob");
}

#[tokio::test]
async fn stateless_mode_serves_me_from_the_cookie() {
    let app = Running::start(Some("none")).await;
    let mut cookies = ClientCookies::new();
    app.sign_up("Ada", &mut cookies).await;

    let me = app.send(TestRequest::get("/me").cookies(&cookies)).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json.unwrap()["user"]["newField"], "newField");
}
