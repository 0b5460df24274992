//! The app's mail, configured from its environment, delivered to a real
//! SMTP server: the test kit's sink (skipped loudly without aiosmtpd,
//! failed under `CI=true`).

use std::time::Duration;

use axum_app::{build, serve, Config};
use serde_json::{json, Value};
use tessera_testkit::smtp::{link, SmtpSink};
use tessera_testkit::{ClientCookies, Target, TestRequest, TestResponse};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const SECRET: &str = "a-long-random-secret-of-at-least-32-characters!";
/// How long a message may take to reach the sink.
const ARRIVAL: Duration = Duration::from_secs(10);

/// The app served by [`serve`] on an ephemeral port, mailing through
/// `sink`, configured as `TESSERA_SMTP_URL=… TESSERA_MAIL_FROM=… cargo run
/// -p axum-app` would be, plus `vars`.
struct Running {
    base_url: String,
    target: Target,
    stop: oneshot::Sender<()>,
    served: JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn start(sink: &SmtpSink, vars: &[(&str, &str)]) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let smtp_url = sink.url();
        let config = Config::from_vars(|name| match name {
            "BETTER_AUTH_SECRET" => Some(SECRET.to_owned()),
            "BETTER_AUTH_URL" => Some(base_url.clone()),
            "TESSERA_SMTP_URL" => Some(smtp_url.clone()),
            "TESSERA_MAIL_FROM" => Some("Axum App <auth@example.com>".to_owned()),
            _ => vars
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned()),
        })
        .unwrap();
        let state = build(config).unwrap();
        assert!(state.smtp.is_some(), "SMTP from the environment");
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(serve(listener, state, async {
            let _ = stopped.await;
        }));
        Running {
            target: Target::http(base_url.clone()),
            base_url,
            stop,
            served,
        }
    }

    async fn send(&self, req: TestRequest) -> TestResponse {
        self.target.send(&req).await
    }

    async fn post(&self, path: &str, body: Value, cookies: &mut ClientCookies) -> TestResponse {
        let res = self
            .send(
                TestRequest::post(path)
                    .origin(self.base_url.as_str())
                    .cookies(cookies)
                    .json(&body),
            )
            .await;
        assert_eq!(res.status, 200, "{path}: {}", res.text);
        cookies.update(&res);
        res
    }

    async fn sign_up(&self, email: &str, cookies: &mut ClientCookies) {
        let body = json!({"email": email, "password": "password1234", "name": "Ada"});
        self.post("/api/auth/sign-up/email", body, cookies).await;
    }

    /// The signed-in user as the store has it (no cookie cache).
    async fn user(&self, cookies: &ClientCookies) -> Value {
        let res = self
            .send(
                TestRequest::get("/api/auth/get-session?disableCookieCache=true").cookies(cookies),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        res.json.unwrap()["user"].clone()
    }

    /// Stops accepting, and waits for [`serve`] to return.
    async fn stop(self) {
        let _ = self.stop.send(());
        self.served.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn sign_up_mails_a_link_that_verifies_the_address() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = Running::start(&sink, &[("TESSERA_SEND_ON_SIGN_UP", "true")]).await;
    let mut cookies = ClientCookies::new();
    app.sign_up("ada@example.com", &mut cookies).await;
    assert_eq!(app.user(&cookies).await["emailVerified"], false);

    let mail = sink.wait_for("ada@example.com", ARRIVAL).await;
    assert_eq!(mail.from, "auth@example.com");
    assert_eq!(mail.from_name.as_deref(), Some("Axum App"));
    let url = link(&mail).expect("a link in the text");
    let path = url
        .strip_prefix(app.base_url.as_str())
        .unwrap_or_else(|| panic!("{url} is not on {}", app.base_url));
    assert!(path.starts_with("/api/auth/verify-email?token="), "{url}");
    assert!(
        mail.html
            .as_deref()
            .unwrap_or_default()
            .contains("verify-email?token="),
        "{:?}",
        mail.html
    );

    // Followed, the link verifies the address and sends the user on.
    let res = app.send(TestRequest::get(path)).await;
    assert_eq!(res.status, 302, "{}", res.text);
    assert_eq!(app.user(&cookies).await["emailVerified"], true);
    app.stop().await;
}

#[tokio::test]
async fn mail_queued_before_shutdown_is_delivered_before_serve_returns() {
    // The first attempt is refused (451): the message is still queued,
    // waiting to be retried, when the server stops.
    let Some(sink) = SmtpSink::builder().fail_first(1).start() else {
        return;
    };
    // No mail on sign-up: only the request below queues one.
    let app = Running::start(&sink, &[]).await;
    let mut signed_out = ClientCookies::new();
    app.sign_up("ada@example.com", &mut ClientCookies::new())
        .await;
    assert!(sink.messages().is_empty());

    let body = json!({"email": "ada@example.com"});
    let res = app
        .post("/api/auth/send-verification-email", body, &mut signed_out)
        .await;
    assert_eq!(res.json.unwrap(), json!({"status": true}));
    app.stop().await;
    // Not waited for: `serve` returned only once the retry had delivered it.
    let delivered: Vec<String> = sink.messages().into_iter().map(|m| m.to).collect();
    assert_eq!(delivered, ["ada@example.com"]);
}
