//! The example as a user runs it: its configuration, started on an
//! ephemeral port, driven over HTTP.

use serde_json::json;
use tessera_testkit::{ClientCookies, Target, TestRequest};

fn start(extra: &[(&str, &str)]) -> actix_app::Running {
    let mut vars = vec![
        (
            "BETTER_AUTH_SECRET",
            "a-long-random-secret-of-at-least-32-characters!",
        ),
        ("TESSERA_LISTEN", "127.0.0.1:0"),
    ];
    vars.extend_from_slice(extra);
    let config = actix_app::Config::from_vars(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .expect("valid configuration");
    actix_app::start(config).expect("the app starts")
}

async fn sign_up_then_me(extra: &[(&str, &str)]) {
    let running = start(extra);
    let handle = running.server.handle();
    actix_web::rt::spawn(running.server);
    let app = Target::http(running.base_url.clone());

    let res = app.send(&TestRequest::get("/")).await;
    assert_eq!((res.status, res.text.as_str()), (200, "hello, anonymous"));
    let res = app.send(&TestRequest::get("/me")).await;
    assert_eq!(res.status, 401);
    assert_eq!(res.code(), Some("UNAUTHORIZED"));

    let res = app
        .send(
            &TestRequest::post("/api/auth/sign-up/email")
                .origin(running.base_url.as_str())
                .json(&json!({
                    "email": "ada@example.com",
                    "password": "password1234",
                    "name": "Ada",
                })),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let mut cookies = ClientCookies::new();
    cookies.update(&res);

    let res = app.send(&TestRequest::get("/me").cookies(&cookies)).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let body = res.json.expect("the session as JSON");
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body["user"]["name"], "Ada");
    assert!(body["session"]["token"].is_string());

    let res = app.send(&TestRequest::get("/").cookies(&cookies)).await;
    assert_eq!(res.text, "hello, Ada");
    handle.stop(true).await;
}

#[actix_web::test]
async fn sign_up_then_me_with_the_in_memory_database() {
    sign_up_then_me(&[]).await;
}

#[actix_web::test]
async fn sign_up_then_me_stateless() {
    sign_up_then_me(&[("TESSERA_DATABASE_URL", "none")]).await;
}
