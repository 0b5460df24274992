//! The account lifecycle in process, with a mailer that records what it is
//! handed: email verification, password reset and change of password, as
//! better-auth 1.7.25 answers them (`docs/account-lifecycle.md`).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tessera::mail::MailKind;
use tessera::store::MemoryDatabase;
use tessera::{Auth, Options, TestClock, Timestamp};
use tessera_testkit::mail::Outbox;
use tessera_testkit::{ClientCookies, Target, TestRequest, TestResponse};

const ORIGIN: &str = "http://127.0.0.1:3000";
const PASSWORD: &str = "password1234";

struct App {
    target: Target,
    outbox: Arc<Outbox>,
    clock: Arc<TestClock>,
}

fn app(configure: impl FnOnce(&mut Options), with_mailer: bool) -> App {
    let mut options = Options::new()
        .secret("lifecycle-test-secret-0123456789-abcdefghijklmnop")
        .base_url(ORIGIN)
        .rate_limit(false);
    configure(&mut options);
    let outbox = Arc::new(Outbox::default());
    let clock = Arc::new(TestClock::at(Timestamp::from_millis(1_800_000_000_000)));
    let mut builder = Auth::builder(options)
        .database(Arc::new(MemoryDatabase::new()))
        .clock(clock.clone());
    if with_mailer {
        builder = builder.mailer(outbox.clone());
    }
    App {
        target: Target::auth(builder.build().unwrap(), ORIGIN),
        outbox,
        clock,
    }
}

impl App {
    async fn post(&self, path: &str, cookies: &ClientCookies, body: Value) -> TestResponse {
        self.target
            .send(
                &TestRequest::post(format!("/api/auth{path}"))
                    .origin(ORIGIN)
                    .cookies(cookies)
                    .json(&body),
            )
            .await
    }

    async fn get(&self, path_and_query: &str, cookies: &ClientCookies) -> TestResponse {
        self.target
            .send(&TestRequest::get(path_and_query.to_owned()).cookies(cookies))
            .await
    }

    async fn sign_up(&self, email: &str) -> ClientCookies {
        let mut cookies = ClientCookies::new();
        let res = self
            .post(
                "/sign-up/email",
                &cookies,
                json!({"email": email, "password": PASSWORD, "name": "Ada"}),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        cookies.update(&res);
        cookies
    }

    async fn sign_in(&self, email: &str, password: &str) -> TestResponse {
        self.post(
            "/sign-in/email",
            &ClientCookies::new(),
            json!({"email": email, "password": password}),
        )
        .await
    }

    async fn session(&self, cookies: &ClientCookies) -> Value {
        self.get("/api/auth/get-session", cookies)
            .await
            .body()
            .clone()
    }
}

/// The path and query of a link in a mail (the links are absolute).
fn path_of(link: &str) -> String {
    link.strip_prefix(ORIGIN)
        .expect("a link to the app")
        .to_owned()
}

#[tokio::test]
async fn sign_up_sends_a_link_that_verifies_the_address() {
    let app = app(|o| o.email_verification.send_on_sign_up = Some(true), true);
    let cookies = app.sign_up("ada@example.com").await;
    let mail = app.outbox.take();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].kind, MailKind::VerifyEmail);
    assert_eq!(mail[0].to, "ada@example.com");
    assert!(mail[0].link.contains("/api/auth/verify-email?token="));
    assert!(mail[0].link.ends_with("&callbackURL=%2F"));
    let res = app
        .get(&path_of(&mail[0].link), &ClientCookies::new())
        .await;
    assert_eq!(res.status, 302, "{}", res.text);
    assert_eq!(res.header("location"), Some("/"));
    // A cached session still says false until its cache ends; the store says true.
    let res = app
        .get("/api/auth/get-session?disableCookieCache=true", &cookies)
        .await;
    assert_eq!(res.body()["user"]["emailVerified"], true);
    // Following it again changes nothing and still redirects.
    let res = app
        .get(&path_of(&mail[0].link), &ClientCookies::new())
        .await;
    assert_eq!(res.status, 302);
}

#[tokio::test]
async fn bad_and_expired_verification_links() {
    let app = app(|o| o.email_verification.send_on_sign_up = Some(true), true);
    app.sign_up("ada@example.com").await;
    let link = app.outbox.take().remove(0).link;
    let res = app
        .get(
            "/api/auth/verify-email?token=not-a-token",
            &ClientCookies::new(),
        )
        .await;
    assert_eq!((res.status, res.code()), (401, Some("INVALID_TOKEN")));
    let res = app
        .get(
            "/api/auth/verify-email?token=x.y.z&callbackURL=%2Fdone%3Fa%3D1",
            &ClientCookies::new(),
        )
        .await;
    assert_eq!(res.status, 302);
    assert_eq!(
        res.header("location"),
        Some("/done?a=1&error=INVALID_TOKEN")
    );
    app.clock.advance(Duration::from_secs(3600));
    let res = app.get(&path_of(&link), &ClientCookies::new()).await;
    assert_eq!(res.status, 302);
    assert_eq!(res.header("location"), Some("/?error=TOKEN_EXPIRED"));
}

#[tokio::test]
async fn unverified_sign_in_is_refused_and_sends_a_new_link() {
    let app = app(
        |o| {
            o.email_and_password.require_email_verification = true;
            o.email_verification.send_on_sign_in = true;
        },
        true,
    );
    app.sign_up("ada@example.com").await;
    // requireEmailVerification sends on sign-up by default.
    assert_eq!(app.outbox.take().len(), 1);
    let res = app.sign_in("ada@example.com", PASSWORD).await;
    assert_eq!((res.status, res.code()), (403, Some("EMAIL_NOT_VERIFIED")));
    let mail = app.outbox.take();
    assert_eq!(mail.len(), 1);
    let res = app
        .get(&path_of(&mail[0].link), &ClientCookies::new())
        .await;
    assert_eq!(res.status, 302);
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status, 200);
}

#[tokio::test]
async fn auto_sign_in_after_verification_sets_a_session() {
    let app = app(
        |o| {
            o.email_and_password.require_email_verification = true;
            o.email_verification.auto_sign_in_after_verification = true;
        },
        true,
    );
    app.sign_up("ada@example.com").await;
    let link = app.outbox.take().remove(0).link;
    let res = app.get(&path_of(&link), &ClientCookies::new()).await;
    assert_eq!(res.status, 302);
    let mut cookies = ClientCookies::new();
    cookies.update(&res);
    assert_eq!(app.session(&cookies).await["user"]["emailVerified"], true);
}

#[tokio::test]
async fn send_verification_email_answers_alike_for_any_address() {
    let app = app(|_| {}, true);
    let cookies = app.sign_up("ada@example.com").await;
    for email in ["ada@example.com", "nobody@example.com"] {
        let res = app
            .post(
                "/send-verification-email",
                &ClientCookies::new(),
                json!({ "email": email }),
            )
            .await;
        assert_eq!((res.status, res.body()), (200, &json!({"status": true})));
    }
    assert_eq!(app.outbox.take().len(), 1);
    let res = app
        .post(
            "/send-verification-email",
            &cookies,
            json!({"email": "other@example.com"}),
        )
        .await;
    assert_eq!((res.status, res.code()), (400, Some("EMAIL_MISMATCH")));
}

#[tokio::test]
async fn without_a_mailer_the_mail_flows_are_off() {
    let app = app(|_| {}, false);
    let res = app
        .post(
            "/request-password-reset",
            &ClientCookies::new(),
            json!({"email": "ada@example.com"}),
        )
        .await;
    assert_eq!(
        (res.status, res.code()),
        (400, Some("RESET_PASSWORD_DISABLED"))
    );
    let res = app
        .post(
            "/send-verification-email",
            &ClientCookies::new(),
            json!({"email": "ada@example.com"}),
        )
        .await;
    assert_eq!(
        (res.status, res.code()),
        (400, Some("VERIFICATION_EMAIL_NOT_ENABLED"))
    );
}

#[tokio::test]
async fn a_password_reset_works_once_and_ends_the_sessions() {
    let app = app(
        |o| o.email_and_password.revoke_sessions_on_password_reset = true,
        true,
    );
    let cookies = app.sign_up("ada@example.com").await;
    let known = app
        .post(
            "/request-password-reset",
            &ClientCookies::new(),
            json!({"email": "ada@example.com", "redirectTo": "/reset"}),
        )
        .await;
    let unknown = app
        .post(
            "/request-password-reset",
            &ClientCookies::new(),
            json!({"email": "nobody@example.com", "redirectTo": "/reset"}),
        )
        .await;
    assert_eq!(known.status, 200);
    assert_eq!((known.status, &known.text), (unknown.status, &unknown.text));
    assert_eq!(
        known.body()["message"],
        "If this email exists in our system, check your email for the reset link"
    );
    let mail = app.outbox.take();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].kind, MailKind::ResetPassword);
    let link = path_of(&mail[0].link);
    assert!(link.ends_with("?callbackURL=%2Freset"), "{link}");
    let token = link
        .strip_prefix("/api/auth/reset-password/")
        .and_then(|rest| rest.split('?').next())
        .unwrap()
        .to_owned();
    let res = app.get(&link, &ClientCookies::new()).await;
    assert_eq!(res.status, 302);
    assert_eq!(
        res.header("location").map(str::to_owned),
        Some(format!("{ORIGIN}/reset?token={token}"))
    );
    let res = app
        .post(
            "/reset-password",
            &ClientCookies::new(),
            json!({"newPassword": "short", "token": token}),
        )
        .await;
    assert_eq!((res.status, res.code()), (400, Some("PASSWORD_TOO_SHORT")));
    let res = app
        .post(
            "/reset-password",
            &ClientCookies::new(),
            json!({"newPassword": "a-new-password", "token": token}),
        )
        .await;
    assert_eq!((res.status, res.body()), (200, &json!({"status": true})));
    let res = app
        .post(
            "/reset-password",
            &ClientCookies::new(),
            json!({"newPassword": "another-password", "token": token}),
        )
        .await;
    assert_eq!((res.status, res.code()), (400, Some("INVALID_TOKEN")));
    let res = app.get(&link, &ClientCookies::new()).await;
    assert_eq!(
        res.header("location"),
        Some(format!("{ORIGIN}/reset?error=INVALID_TOKEN").as_str())
    );
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status, 401);
    assert_eq!(
        app.sign_in("ada@example.com", "a-new-password")
            .await
            .status,
        200
    );
    assert_eq!(
        app.get("/api/auth/get-session?disableCookieCache=true", &cookies)
            .await
            .body(),
        &Value::Null
    );
}

#[tokio::test]
async fn an_expired_reset_token_is_refused() {
    let app = app(|_| {}, true);
    app.sign_up("ada@example.com").await;
    app.post(
        "/request-password-reset",
        &ClientCookies::new(),
        json!({"email": "ada@example.com"}),
    )
    .await;
    let link = path_of(&app.outbox.take().remove(0).link);
    let token = link
        .strip_prefix("/api/auth/reset-password/")
        .and_then(|rest| rest.split('?').next())
        .unwrap()
        .to_owned();
    app.clock.advance(Duration::from_secs(3601));
    let res = app
        .post(
            "/reset-password",
            &ClientCookies::new(),
            json!({"newPassword": "a-new-password", "token": token}),
        )
        .await;
    assert_eq!((res.status, res.code()), (400, Some("INVALID_TOKEN")));
}

#[tokio::test]
async fn change_password_checks_the_current_one_and_can_end_other_sessions() {
    let app = app(|_| {}, true);
    let first = app.sign_up("ada@example.com").await;
    let mut second = ClientCookies::new();
    second.update(&app.sign_in("ada@example.com", PASSWORD).await);
    let res = app
        .post(
            "/change-password",
            &first,
            json!({"currentPassword": "wrong-password", "newPassword": "a-new-password"}),
        )
        .await;
    assert_eq!((res.status, res.code()), (400, Some("INVALID_PASSWORD")));
    let res = app
        .post(
            "/change-password",
            &first,
            json!({"currentPassword": PASSWORD, "newPassword": "x".repeat(129)}),
        )
        .await;
    assert_eq!((res.status, res.code()), (400, Some("PASSWORD_TOO_LONG")));
    let res = app
        .post(
            "/change-password",
            &first,
            json!({
                "currentPassword": PASSWORD,
                "newPassword": "a-new-password",
                "revokeOtherSessions": true,
            }),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert!(res.body()["token"].is_string());
    assert_eq!(res.body()["user"]["email"], "ada@example.com");
    let mut first = first;
    first.update(&res);
    assert_eq!(
        app.session(&first).await["user"]["email"],
        "ada@example.com"
    );
    assert_eq!(
        app.get("/api/auth/get-session?disableCookieCache=true", &second)
            .await
            .body(),
        &Value::Null
    );
    assert_eq!(
        app.sign_in("ada@example.com", "a-new-password")
            .await
            .status,
        200
    );
    let res = app
        .post(
            "/change-password",
            &ClientCookies::new(),
            json!({"currentPassword": PASSWORD, "newPassword": "a-new-password"}),
        )
        .await;
    assert_eq!(res.status, 401);
}

/// Marks a user's address verified by following the link sign-up mailed.
async fn verify_by_link(app: &App) {
    let mail = app.outbox.take();
    let link = mail
        .iter()
        .find(|m| m.kind == MailKind::VerifyEmail)
        .expect("a verification mail");
    let res = app.get(&path_of(&link.link), &ClientCookies::new()).await;
    assert_eq!(res.status, 302, "{}", res.text);
}

#[tokio::test]
async fn update_user_changes_name_image_and_additional_fields_but_never_the_email() {
    let app = app(
        |o| {
            o.user_additional_fields = vec![
                tessera::options::AdditionalField::new("nickname"),
                tessera::options::AdditionalField::server_only("role"),
            ]
        },
        true,
    );
    let mut cookies = app.sign_up("ada@example.com").await;
    let res = app
        .post(
            "/update-user",
            &cookies,
            json!({"name": "Ada L.", "image": "https://img.example/a.png", "nickname": "al"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body(), &json!({"status": true}));
    cookies.update(&res);
    let session = app.session(&cookies).await;
    assert_eq!(session["user"]["name"], "Ada L.");
    assert_eq!(session["user"]["image"], "https://img.example/a.png");
    assert_eq!(session["user"]["nickname"], "al");
    let stored = app
        .get("/api/auth/get-session?disableCookieCache=true", &cookies)
        .await;
    assert_eq!(stored.body()["user"]["name"], "Ada L.");
    // `image: null` clears it; other keys are ignored.
    let res = app
        .post(
            "/update-user",
            &cookies,
            json!({"image": null, "unknown": 1}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    cookies.update(&res);
    assert_eq!(app.session(&cookies).await["user"]["image"], Value::Null);

    let refused = [
        (
            json!({"email": "eve@example.com"}),
            "EMAIL_CAN_NOT_BE_UPDATED",
        ),
        (json!({"role": "admin"}), "FIELD_NOT_ALLOWED"),
        (json!({"name": 7}), "VALIDATION_ERROR"),
        (json!([1, 2]), "VALIDATION_ERROR"),
    ];
    for (body, code) in refused {
        let res = app.post("/update-user", &cookies, body.clone()).await;
        assert_eq!(
            (res.status, res.code()),
            (400, Some(code)),
            "{body}: {}",
            res.text
        );
    }
    let res = app
        .post("/update-user", &cookies, json!({"unknown": 1}))
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(res.body(), &json!({"message": "No fields to update"}));
    let res = app
        .post(
            "/update-user",
            &ClientCookies::new(),
            json!({"name": "Eve"}),
        )
        .await;
    assert_eq!((res.status, res.code()), (401, Some("UNAUTHORIZED")));
}

#[tokio::test]
async fn update_user_reaches_every_session_in_secondary_storage() {
    let storage = Arc::new(tessera::store::MemorySecondaryStorage::new());
    let options = Options::new()
        .secret("lifecycle-test-secret-0123456789-abcdefghijklmnop")
        .base_url(ORIGIN)
        .rate_limit(false);
    let auth = Auth::builder(options)
        .database(Arc::new(MemoryDatabase::new()))
        .secondary_storage(storage)
        .build()
        .unwrap();
    let app = App {
        target: Target::auth(auth, ORIGIN),
        outbox: Arc::new(Outbox::default()),
        clock: Arc::new(TestClock::at(Timestamp::from_millis(0))),
    };
    let first = app.sign_up("ada@example.com").await;
    let mut second = ClientCookies::new();
    second.update(&app.sign_in("ada@example.com", PASSWORD).await);
    let res = app
        .post("/update-user", &first, json!({"name": "Ada L."}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let other = app
        .get("/api/auth/get-session?disableCookieCache=true", &second)
        .await;
    assert_eq!(other.body()["user"]["name"], "Ada L.");
}

#[tokio::test]
async fn change_email_of_a_verified_user_is_confirmed_from_the_old_address_first() {
    let app = app(
        |o| {
            o.email_verification.send_on_sign_up = Some(true);
            o.user.change_email.enabled = true;
        },
        true,
    );
    let mut cookies = app.sign_up("ada@example.com").await;
    verify_by_link(&app).await;
    let res = app
        .post(
            "/change-email",
            &cookies,
            json!({"newEmail": "Ada@New.example", "callbackURL": "/settings"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body(), &json!({"status": true}));
    let mail = app.outbox.take();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].kind, MailKind::ChangeEmailConfirmation);
    assert_eq!(mail[0].to, "ada@example.com");
    assert!(mail[0].text.contains("ada@new.example"), "{}", mail[0].text);
    assert!(mail[0].link.ends_with("&callbackURL=%2Fsettings"));
    // The confirmation sends the new address its link; nothing changed yet.
    let res = app.get(&path_of(&mail[0].link), &cookies).await;
    assert_eq!(res.status, 302, "{}", res.text);
    assert_eq!(res.header("location"), Some("/settings"));
    let mail = app.outbox.take();
    assert_eq!(mail.len(), 1);
    assert_eq!(
        (mail[0].kind, mail[0].to.as_str()),
        (MailKind::VerifyEmail, "ada@new.example")
    );
    let res = app
        .get("/api/auth/get-session?disableCookieCache=true", &cookies)
        .await;
    assert_eq!(res.body()["user"]["email"], "ada@example.com");
    // The new address's link makes the change, still verified.
    let res = app.get(&path_of(&mail[0].link), &cookies).await;
    assert_eq!(res.status, 302, "{}", res.text);
    cookies.update(&res);
    let session = app.session(&cookies).await;
    assert_eq!(session["user"]["email"], "ada@new.example");
    assert_eq!(session["user"]["emailVerified"], true);
    assert_eq!(app.sign_in("ada@new.example", PASSWORD).await.status, 200);
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status, 401);
}

#[tokio::test]
async fn change_email_answers_alike_for_a_taken_address_and_refuses_the_same_one() {
    let app = app(|o| o.user.change_email.enabled = true, true);
    app.sign_up("eve@example.com").await;
    let cookies = app.sign_up("ada@example.com").await;
    app.outbox.take();
    let res = app
        .post(
            "/change-email",
            &cookies,
            json!({"newEmail": "EVE@example.com"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body(), &json!({"status": true}));
    assert!(app.outbox.take().is_empty(), "no mail for a taken address");
    // An unverified user gets the link at the new address.
    let res = app
        .post(
            "/change-email",
            &cookies,
            json!({"newEmail": "ada@new.example"}),
        )
        .await;
    assert_eq!(res.body(), &json!({"status": true}));
    let mail = app.outbox.take();
    assert_eq!(
        (mail[0].kind, mail[0].to.as_str()),
        (MailKind::VerifyEmail, "ada@new.example")
    );
    let res = app
        .post(
            "/change-email",
            &cookies,
            json!({"newEmail": "ADA@example.com"}),
        )
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(res.body(), &json!({"message": "Email is the same"}));
    let res = app
        .post(
            "/change-email",
            &cookies,
            json!({"newEmail": "not-an-email"}),
        )
        .await;
    assert_eq!((res.status, res.code()), (400, Some("VALIDATION_ERROR")));

    let off = self::app(|_| {}, true);
    let cookies = off.sign_up("ada@example.com").await;
    let res = off
        .post(
            "/change-email",
            &cookies,
            json!({"newEmail": "ada@new.example"}),
        )
        .await;
    assert_eq!(
        (res.status, res.code()),
        (400, Some("CHANGE_EMAIL_DISABLED"))
    );
    let no_mail = self::app(|o| o.user.change_email.enabled = true, false);
    let cookies = no_mail.sign_up("ada@example.com").await;
    let res = no_mail
        .post(
            "/change-email",
            &cookies,
            json!({"newEmail": "ada@new.example"}),
        )
        .await;
    assert_eq!(
        res.body(),
        &json!({"message": "Verification email isn't enabled"})
    );
}

#[tokio::test]
async fn change_email_without_verification_updates_an_unverified_address_at_once() {
    let app = app(
        |o| {
            o.user.change_email.enabled = true;
            o.user.change_email.update_email_without_verification = true;
        },
        true,
    );
    let mut cookies = app.sign_up("ada@example.com").await;
    let res = app
        .post(
            "/change-email",
            &cookies,
            json!({"newEmail": "ada@new.example"}),
        )
        .await;
    assert_eq!(res.body(), &json!({"status": true}));
    cookies.update(&res);
    assert_eq!(
        app.session(&cookies).await["user"]["email"],
        "ada@new.example"
    );
    let mail = app.outbox.take();
    assert_eq!(
        (mail[0].kind, mail[0].to.as_str()),
        (MailKind::VerifyEmail, "ada@new.example")
    );
    let res = app
        .get(&path_of(&mail[0].link), &ClientCookies::new())
        .await;
    assert_eq!(res.status, 302, "{}", res.text);
    assert_eq!(app.sign_in("ada@new.example", PASSWORD).await.status, 200);
}

#[tokio::test]
async fn delete_user_by_mailed_link_ends_every_session() {
    let app = app(|o| o.user.delete_user.enabled = true, true);
    let cookies = app.sign_up("ada@example.com").await;
    let mut other = ClientCookies::new();
    other.update(&app.sign_in("ada@example.com", PASSWORD).await);
    let res = app
        .post("/delete-user", &cookies, json!({"callbackURL": "/goodbye"}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(
        res.body(),
        &json!({"success": true, "message": "Verification email sent"})
    );
    let mail = app.outbox.take();
    assert_eq!(
        (mail[0].kind, mail[0].to.as_str()),
        (MailKind::DeleteAccount, "ada@example.com")
    );
    let link = path_of(&mail[0].link);
    assert!(
        link.starts_with("/api/auth/delete-user/callback?token="),
        "{link}"
    );
    assert!(link.ends_with("&callbackURL=%2Fgoodbye"), "{link}");
    // Not without the session, nor with a wrong token.
    let res = app.get(&link, &ClientCookies::new()).await;
    assert_eq!(
        (res.status, res.code()),
        (404, Some("FAILED_TO_GET_USER_INFO"))
    );
    let res = app
        .get("/api/auth/delete-user/callback?token=unknown", &cookies)
        .await;
    assert_eq!((res.status, res.code()), (404, Some("INVALID_TOKEN")));
    let res = app.get(&link, &cookies).await;
    assert_eq!(res.status, 302, "{}", res.text);
    assert_eq!(res.header("location"), Some("/goodbye"));
    assert!(res
        .expired_cookie_names()
        .iter()
        .any(|c| c.ends_with("session_token")));
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status, 401);
    let res = app
        .get("/api/auth/get-session?disableCookieCache=true", &other)
        .await;
    assert_eq!(res.body(), &Value::Null);
    // The link works once.
    let again = app.sign_up("ada@example.com").await;
    let res = app.get(&link, &again).await;
    assert_eq!((res.status, res.code()), (404, Some("INVALID_TOKEN")));
}

#[tokio::test]
async fn delete_user_without_mail_needs_a_password_or_a_fresh_session() {
    let app = app(|o| o.user.delete_user.enabled = true, false);
    let cookies = app.sign_up("ada@example.com").await;
    let res = app
        .post(
            "/delete-user",
            &cookies,
            json!({"password": "wrong-password"}),
        )
        .await;
    assert_eq!((res.status, res.code()), (400, Some("INVALID_PASSWORD")));
    // A day later the session is no longer fresh: a password is needed.
    app.clock.advance(Duration::from_secs(86_400));
    let res = app.post("/delete-user", &cookies, json!({})).await;
    assert_eq!((res.status, res.code()), (400, Some("SESSION_EXPIRED")));
    let res = app
        .post("/delete-user", &cookies, json!({"password": PASSWORD}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(
        res.body(),
        &json!({"success": true, "message": "User deleted"})
    );
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status, 401);

    let fresh = app.sign_up("bob@example.com").await;
    let res = app.post("/delete-user", &fresh, json!({})).await;
    assert_eq!(
        res.body(),
        &json!({"success": true, "message": "User deleted"})
    );

    let off = self::app(|_| {}, true);
    let cookies = off.sign_up("ada@example.com").await;
    let res = off.post("/delete-user", &cookies, json!({})).await;
    assert_eq!((res.status, res.text.as_str()), (404, ""));
    let res = off
        .get("/api/auth/delete-user/callback?token=x", &cookies)
        .await;
    assert_eq!((res.status, res.code()), (404, Some("NOT_FOUND")));
}

#[tokio::test]
async fn links_refuse_an_untrusted_callback_url_before_anything_else() {
    let app = app(|o| o.user.delete_user.enabled = true, true);
    let cookies = app.sign_up("ada@example.com").await;
    let evil = "callbackURL=https%3A%2F%2Fevil.example%2F";
    for link in [
        format!("/api/auth/verify-email?token=garbage&{evil}"),
        format!("/api/auth/reset-password/unknown-token?{evil}"),
        format!("/api/auth/delete-user/callback?token=unknown&{evil}"),
    ] {
        let res = app.get(&link, &cookies).await;
        assert_eq!(
            (res.status, res.code()),
            (403, Some("INVALID_CALLBACK_URL")),
            "{link}: {}",
            res.text
        );
    }
    // A valid delete link with an untrusted target deletes nothing.
    let res = app.post("/delete-user", &cookies, json!({})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let link = path_of(&app.outbox.take()[0].link);
    let token = link
        .split("token=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let res = app
        .get(
            &format!("/api/auth/delete-user/callback?token={token}&{evil}"),
            &cookies,
        )
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status, 200);
    // A relative path is trusted.
    let res = app.get(&link, &cookies).await;
    assert_eq!(res.status, 302, "{}", res.text);
}
