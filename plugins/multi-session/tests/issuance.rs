//! A device cookie is a full credential: it is issued only when the final
//! response really signs the new session in, whatever other plugins' hooks
//! did to the response, and in whichever order the plugins were added
//! (GHSA-xg6x-h9c9-2m83: a second factor must not be bypassable through
//! the device cookie of the session it withheld).

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use common::*;
use http::StatusCode;
use serde_json::json;
use tessera::plugin::{AfterHook, Hook, Matcher, Plugin};
use tessera::{ApiError, Ctx, Reply};
use tessera_multi_session::MultiSession;

const A: &str = "alice@example.com";

/// A plugin whose after hook refuses every sign-in and sign-up after the
/// endpoint ran (a ban list, a captcha checked late), leaving the session
/// cookie the endpoint set in the jar, as a careless plugin would.
struct LateRefusal;

struct Refuse;

#[async_trait]
impl AfterHook for Refuse {
    async fn after(&self, _ctx: &mut Ctx<'_>, result: &mut Result<Reply, ApiError>) {
        *result = Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "REFUSED",
            "Refused by policy",
        ));
    }
}

impl Plugin for LateRefusal {
    fn id(&self) -> &'static str {
        "late-refusal"
    }

    fn hooks(&self) -> Vec<Hook> {
        vec![Hook::after(
            Matcher::Custom(Arc::new(|_, path| {
                path == "/sign-in/email" || path == "/sign-up/email"
            })),
            Refuse,
        )]
    }
}

/// A second-factor plugin: a sign-in that needs a second factor keeps its
/// session pending, expires the session cookies and answers
/// `{"twoFactorRedirect": true}` instead (better-auth's twoFactor hook).
struct SecondFactor;

struct Challenge;

#[async_trait]
impl AfterHook for Challenge {
    async fn after(&self, ctx: &mut Ctx<'_>, result: &mut Result<Reply, ApiError>) {
        if ctx.new_session().is_none() {
            return;
        }
        ctx.delete_session_cookies();
        *result = Ok(Reply::json(&json!({ "twoFactorRedirect": true })));
    }
}

impl Plugin for SecondFactor {
    fn id(&self) -> &'static str {
        "second-factor"
    }

    fn hooks(&self) -> Vec<Hook> {
        vec![Hook::after(
            Matcher::Path("/sign-in/email".to_owned()),
            Challenge,
        )]
    }
}

/// The token of `email`'s newest session, which the second factor withheld.
async fn pending_session(h: &Harness, email: &str) -> String {
    let sessions = h.auth.sessions();
    let user = sessions
        .database()
        .find_user_by_email(email)
        .await
        .unwrap()
        .expect("the user exists");
    let mut all = sessions.list(&user.id, h.auth.clock().now()).await.unwrap();
    all.sort_by_key(|s| s.created_at);
    all.pop().expect("the pending session exists").token
}

/// The other plugin added before, then after, multi-session.
fn both_orders(other: fn() -> Arc<dyn Plugin>) -> [Harness; 2] {
    let multi = || Arc::new(MultiSession::new()) as Arc<dyn Plugin>;
    [
        Harness::with(options(), ORIGIN, |b| b.plugin(other()).plugin(multi())),
        Harness::with(options(), ORIGIN, |b| b.plugin(multi()).plugin(other())),
    ]
}

#[tokio::test]
async fn a_sign_in_a_later_hook_refuses_gets_no_device_cookie() {
    for (order, h) in both_orders(|| Arc::new(LateRefusal)).iter().enumerate() {
        // Sign-up is refused too, after the user was created.
        let mut device = h.browser();
        let r = device
            .post(
                "/sign-up/email",
                json!({"email": A, "password": PASSWORD, "name": "A"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "order {order}");
        assert_eq!(
            r.device_cookies_set(),
            Vec::<String>::new(),
            "order {order}"
        );

        let r = device
            .post("/sign-in/email", json!({"email": A, "password": PASSWORD}))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "order {order}");
        assert_eq!(
            r.device_cookies_set(),
            Vec::<String>::new(),
            "order {order}: {:?}",
            r.set_cookies
        );
    }
}

#[tokio::test]
async fn a_sign_in_held_for_a_second_factor_gets_no_device_cookie() {
    for (order, h) in both_orders(|| Arc::new(SecondFactor)).iter().enumerate() {
        h.sign_up(A).await;
        let mut attacker = h.browser();
        let r = attacker
            .post("/sign-in/email", json!({"email": A, "password": PASSWORD}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "order {order}");
        assert_eq!(*r.body(), json!({"twoFactorRedirect": true}));
        assert_eq!(
            r.device_cookies_set(),
            Vec::<String>::new(),
            "order {order}: {:?}",
            r.set_cookies
        );
        assert_eq!(attacker.whoami().await, None, "order {order}");

        // Nothing the attacker holds switches to the pending session.
        let pending = pending_session(h, A).await;
        let r = attacker.set_active(&pending).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "order {order}");
        assert_eq!(attacker.whoami().await, None, "order {order}");
        assert_eq!(attacker.list().await, Vec::<String>::new(), "order {order}");
    }
}

#[tokio::test]
async fn a_successful_sign_in_still_gets_its_device_cookie_next_to_other_plugins() {
    for (order, h) in both_orders(|| Arc::new(SecondFactor)).iter().enumerate() {
        h.sign_up(A).await;
        // Sign-up is not challenged: its session is signed in and remembered.
        let mut device = h.browser();
        let r = device
            .post(
                "/sign-up/email",
                json!({"email": "bob@example.com", "password": PASSWORD, "name": "B"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "order {order}");
        assert_eq!(
            r.device_cookies_set(),
            [common::device(&r.token())],
            "order {order}"
        );
    }
}

/// A plugin whose sign-in ends in a redirect with the session cookie set,
/// as the OAuth callback's does (`302 Location: <callbackURL>`).
struct RedirectingSignIn;

struct RedirectAfterSignIn;

#[async_trait]
impl AfterHook for RedirectAfterSignIn {
    async fn after(&self, ctx: &mut Ctx<'_>, result: &mut Result<Reply, ApiError>) {
        if result.is_ok() && ctx.new_session().is_some() {
            *result = Ok(Reply::redirect("/after"));
        }
    }
}

impl Plugin for RedirectingSignIn {
    fn id(&self) -> &'static str {
        "redirecting-sign-in"
    }

    fn hooks(&self) -> Vec<Hook> {
        vec![Hook::after(
            Matcher::Path("/sign-in/email".to_owned()),
            RedirectAfterSignIn,
        )]
    }
}

#[tokio::test]
async fn a_sign_in_answered_with_a_redirect_gets_its_device_cookie() {
    for (order, h) in both_orders(|| Arc::new(RedirectingSignIn))
        .iter()
        .enumerate()
    {
        h.sign_up(A).await;
        let mut device = h.browser();
        let r = device
            .post("/sign-in/email", json!({"email": A, "password": PASSWORD}))
            .await;
        assert_eq!(r.status, StatusCode::FOUND, "order {order}");
        let signed = device
            .get_cookie(common::SESSION_TOKEN)
            .expect("the redirect sets the session cookie");
        let token = signed.split('.').next().unwrap().to_owned();
        assert_eq!(
            r.device_cookies_set(),
            [common::device(&token)],
            "order {order}: {:?}",
            r.set_cookies
        );
        assert_eq!(device.list().await, [A.to_owned()], "order {order}");
    }
}
