//! The multi-session plugin through `Auth::handle` (spec §9): device
//! cookies, listing, switching, revoking, the account cap, sign-out, and
//! forged cookies.

mod common;

use common::*;
use http::StatusCode;
use serde_json::json;
use tessera::cookie::sign_value;
use tessera::{Options, Secrets};
use tessera_multi_session::MultiSession;

const A: &str = "alice@example.com";
const B: &str = "bob@example.com";
const C: &str = "carol@example.com";

async fn harness_with_users(plugin: MultiSession, emails: &[&str]) -> Harness {
    let h = Harness::with_plugin(plugin);
    for email in emails {
        h.sign_up(email).await;
    }
    h
}

/// A signed value with a wrong MAC (still 44 characters ending in `=`).
fn forged(token: &str) -> String {
    format!("{token}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D")
}

#[tokio::test]
async fn each_sign_in_adds_a_signed_device_cookie() {
    let h = harness_with_users(MultiSession::new(), &[A, B]).await;
    let mut device = h.browser();
    let a = device.sign_in(A).await;
    let b = device.sign_in(B).await;
    let (ta, tb) = (a.token(), b.token());

    assert_eq!(a.device_cookies_set(), [common::device(&ta)]);
    assert_eq!(b.device_cookies_set(), [common::device(&tb)]);
    assert_eq!(
        device.device_cookies(),
        [common::device(&ta), common::device(&tb)]
    );
    // The value is the original-case token, signed like session_token,
    // with the session_token attributes.
    let line = b.set_cookie_line(&common::device(&tb)).unwrap();
    let signed = sign_value(&Secrets::single(SECRET), &tb)
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    assert_eq!(
        line,
        format!(
            "{}={signed}; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax",
            common::device(&tb)
        )
    );
    assert_eq!(device.get_cookie(SESSION_TOKEN), Some(signed.as_str()));
}

#[tokio::test]
async fn list_shows_one_entry_per_account_in_cookie_order() {
    let h = harness_with_users(MultiSession::new(), &[A, B]).await;
    let mut device = h.browser();
    assert_eq!(device.list().await, Vec::<String>::new(), "no cookies");
    device.sign_in(A).await;
    device.sign_in(B).await;
    assert_eq!(device.list().await, [A, B]);

    let r = device.get("/multi-session/list-device-sessions").await;
    let first = &r.body()[0];
    assert!(first["session"]["token"].is_string());
    assert_eq!(first["session"]["userId"], first["user"]["id"]);
    assert!(r.set_cookies.is_empty(), "listing sets no cookie");
}

#[tokio::test]
async fn list_leaves_out_expired_sessions() {
    let h = Harness::with(options().expires_in(3600).update_age(3600), ORIGIN, |b| {
        b.plugin(std::sync::Arc::new(MultiSession::new()))
    });
    h.sign_up(A).await;
    h.sign_up(B).await;
    let mut device = h.browser();
    device.sign_in(A).await;
    h.advance(1800);
    device.sign_in(B).await;
    h.advance(1800);
    assert_eq!(device.list().await, [B], "A's session just expired");
}

#[tokio::test]
async fn set_active_switches_the_session_token() {
    let h = harness_with_users(MultiSession::new(), &[A, B]).await;
    let mut device = h.browser();
    let ta = device.sign_in(A).await.token();
    device.sign_in(B).await;
    assert_eq!(device.whoami().await.as_deref(), Some(B));

    let r = device.set_active(&ta).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body());
    assert_eq!(r.body()["session"]["token"], ta.as_str());
    assert_eq!(r.body()["user"]["email"], A);
    assert!(r.cookie(SESSION_TOKEN).unwrap().is_some());
    assert!(
        r.device_cookies_set().is_empty(),
        "the device cookie already exists"
    );
    assert_eq!(device.whoami().await.as_deref(), Some(A));
    assert_eq!(device.device_cookies().len(), 2);
}

#[tokio::test]
async fn set_active_accepts_the_token_in_any_case() {
    let h = harness_with_users(MultiSession::new(), &[A, B]).await;
    let mut device = h.browser();
    let ta = device.sign_in(A).await.token();
    device.sign_in(B).await;
    let r = device.set_active(&ta.to_uppercase()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body());
    assert_eq!(r.body()["session"]["token"], ta.as_str());
}

#[tokio::test]
async fn set_active_on_an_ended_session_expires_its_cookie() {
    let h = harness_with_users(MultiSession::new(), &[A, B]).await;
    let mut device = h.browser();
    let ta = device.sign_in(A).await.token();
    device.sign_in(B).await;
    h.auth
        .sessions()
        .delete(&ta, h.auth.clock().now())
        .await
        .unwrap();

    let r = device.set_active(&ta).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        *r.body(),
        json!({"message": "Invalid session token", "code": "INVALID_SESSION_TOKEN"})
    );
    assert_eq!(r.device_cookies_expired(), [common::device(&ta)]);
    assert_eq!(device.whoami().await.as_deref(), Some(B));
}

#[tokio::test]
async fn set_active_without_a_device_cookie_is_rejected() {
    let h = harness_with_users(MultiSession::new(), &[A]).await;
    let mut device = h.browser();
    let r = device.set_active("no-such-token").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), Some("INVALID_SESSION_TOKEN"));
    assert!(r.set_cookies.is_empty());
}

#[tokio::test]
async fn revoke_ends_another_device_session() {
    let h = harness_with_users(MultiSession::new(), &[A, B]).await;
    let mut device = h.browser();
    let ta = device.sign_in(A).await.token();
    let b = device.sign_in(B).await;
    let tb = b.token();
    let b_cookie = device.get_cookie(&common::device(&tb)).unwrap().to_owned();
    device.set_active(&ta).await;

    let r = device.revoke(&tb).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body());
    assert_eq!(*r.body(), json!({"status": true}));
    assert_eq!(r.device_cookies_expired(), [common::device(&tb)]);
    assert_eq!(r.cookie(SESSION_TOKEN), None, "the active session stays");
    assert_eq!(h.session_of(&b_cookie).await, None, "B's session is gone");
    assert_eq!(device.whoami().await.as_deref(), Some(A));
    assert_eq!(device.list().await, [A]);
}

#[tokio::test]
async fn revoking_the_active_session_activates_the_next_one() {
    let h = harness_with_users(MultiSession::new(), &[A, B]).await;
    let mut device = h.browser();
    let ta = device.sign_in(A).await.token();
    let tb = device.sign_in(B).await.token();

    let r = device.revoke(&tb).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body());
    assert!(r.cookie(SESSION_TOKEN).unwrap().is_some());
    assert_eq!(device.whoami().await.as_deref(), Some(A));

    // The last one: no device session is left, the session cookies go.
    let r = device.revoke(&ta).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body());
    assert_eq!(r.cookie(SESSION_TOKEN), Some(None));
    assert!(device.cookies.is_empty(), "{:?}", device.cookies);
}

#[tokio::test]
async fn revoke_requires_a_session_and_validates_the_body_first() {
    let h = harness_with_users(MultiSession::new(), &[A]).await;
    let mut stranger = h.browser();
    let r = stranger.revoke("whatever").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED.as_u16(), Some("UNAUTHORIZED"))
    );

    let r = stranger.post("/multi-session/revoke", json!({})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        *r.body(),
        json!({
            "message": "[body.sessionToken] Invalid input: expected string, received undefined",
            "code": "VALIDATION_ERROR"
        })
    );

    let mut device = h.browser();
    device.sign_in(A).await;
    let r = device.revoke("not-on-this-device").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), Some("INVALID_SESSION_TOKEN"));
}

#[tokio::test]
async fn set_active_validates_the_body() {
    let h = harness_with_users(MultiSession::new(), &[A]).await;
    let mut device = h.browser();
    let r = device
        .post("/multi-session/set-active", json!({"sessionToken": 5}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body()["message"],
        "[body.sessionToken] Invalid input: expected string, received number"
    );
}

#[tokio::test]
async fn signing_in_again_replaces_the_accounts_earlier_device_session() {
    let h = harness_with_users(MultiSession::new(), &[A, B]).await;
    let mut device = h.browser();
    let old_a = device.sign_in(A).await.token();
    let old_a_cookie = device
        .get_cookie(&common::device(&old_a))
        .unwrap()
        .to_owned();
    device.sign_in(B).await;

    let r = device.sign_in(A).await;
    let new_a = r.token();
    assert_eq!(r.device_cookies_expired(), [common::device(&old_a)]);
    assert_eq!(r.device_cookies_set(), [common::device(&new_a)]);
    assert_eq!(
        h.session_of(&old_a_cookie).await,
        None,
        "old session deleted"
    );
    assert_eq!(device.list().await, [B, A]);
}

#[tokio::test]
async fn a_full_device_gets_no_further_device_cookie() {
    let h = harness_with_users(MultiSession::with_maximum_sessions(2), &[A, B, C]).await;
    let mut device = h.browser();
    device.sign_in(A).await;
    device.sign_in(B).await;
    let r = device.sign_in(C).await;
    assert!(r.device_cookies_set().is_empty(), "{:?}", r.set_cookies);
    assert_eq!(device.device_cookies().len(), 2);
    // The sign-in itself still happened.
    assert_eq!(device.whoami().await.as_deref(), Some(C));
    assert_eq!(device.list().await, [A, B]);

    // Re-signing an account already on the device replaces, so it fits.
    let r = device.sign_in(A).await;
    assert_eq!(r.device_cookies_set().len(), 1);
    assert_eq!(r.device_cookies_expired().len(), 1);
}

#[tokio::test]
async fn sign_out_ends_every_account_on_the_device() {
    let h = harness_with_users(MultiSession::new(), &[A, B, C]).await;
    let mut device = h.browser();
    let mut signed = Vec::new();
    for email in [A, B, C] {
        let token = device.sign_in(email).await.token();
        signed.push((
            common::device(&token),
            device
                .get_cookie(&common::device(&token))
                .unwrap()
                .to_owned(),
        ));
    }
    let r = device.post("/sign-out", json!({})).await;
    assert_eq!(r.status, StatusCode::OK);
    let mut expired = r.device_cookies_expired();
    expired.sort();
    let mut names: Vec<String> = signed.iter().map(|(n, _)| n.clone()).collect();
    names.sort();
    assert_eq!(expired, names);
    assert!(device.cookies.is_empty(), "{:?}", device.cookies);
    for (_, value) in &signed {
        assert_eq!(h.session_of(value).await, None);
    }
}

#[tokio::test]
async fn forged_device_cookies_are_never_acted_on() {
    let h = harness_with_users(MultiSession::new(), &[A, B]).await;
    let mut victim = h.browser();
    let ta = victim.sign_in(A).await.token();
    let forged_name = common::device(&ta);

    let mut attacker = h.browser();
    attacker.set_raw(&forged_name, &forged(&ta));
    assert_eq!(attacker.list().await, Vec::<String>::new());
    let r = attacker.set_active(&ta).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), Some("INVALID_SESSION_TOKEN"));
    assert!(r.set_cookies.is_empty());

    attacker.sign_in(B).await;
    let r = attacker.revoke(&ta).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), Some("INVALID_SESSION_TOKEN"));
    assert_eq!(victim.whoami().await.as_deref(), Some(A));

    let r = attacker.post("/sign-out", json!({})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        !r.device_cookies_expired().contains(&forged_name),
        "{:?}",
        r.set_cookies
    );
    assert_eq!(
        victim.whoami().await.as_deref(),
        Some(A),
        "the victim's session survives"
    );
}

#[tokio::test]
async fn forged_device_cookies_do_not_count_towards_the_cap() {
    let h = harness_with_users(MultiSession::with_maximum_sessions(2), &[A]).await;
    let mut device = h.browser();
    for fake in ["aaaa", "bbbb", "cccc"] {
        device.set_raw(&common::device(fake), &forged(fake));
    }
    let r = device.sign_in(A).await;
    assert_eq!(r.device_cookies_set(), [common::device(&r.token())]);
}

#[tokio::test]
async fn a_refreshed_session_is_remembered_too() {
    let h = harness_with_users(MultiSession::new(), &[A]).await;
    let mut device = h.browser();
    let ta = device.sign_in(A).await.token();
    // A device that lost its device cookie (e.g. signed in before the
    // plugin was enabled): the updateAge refresh goes through
    // setSessionCookie, and better-auth then adds the device cookie.
    device.remove(&common::device(&ta));
    h.advance(2 * 86_400);
    let r = device.get("/get-session").await;
    assert!(r.cookie(SESSION_TOKEN).unwrap().is_some(), "refreshed");
    assert_eq!(r.device_cookies_set(), [common::device(&ta)]);
    // Without a refresh nothing is added.
    let r = device.get("/get-session").await;
    assert!(r.set_cookies.is_empty(), "{:?}", r.set_cookies);
}

#[tokio::test]
async fn secure_names_follow_the_session_token_cookie() {
    let origin = "https://auth.example.com";
    let h = Harness::with(
        Options::new()
            .secret(SECRET)
            .base_url(origin)
            .rate_limit(false),
        origin,
        |b| b.plugin(std::sync::Arc::new(MultiSession::new())),
    );
    h.sign_up(A).await;
    let mut device = h.browser();
    let ta = device.sign_in(A).await.token();
    let name = format!("__Secure-{SESSION_TOKEN}_multi-{}", ta.to_lowercase());
    assert_eq!(device.device_cookies(), vec![name.clone()]);
    assert_eq!(device.list().await, [A]);

    let r = device.post("/sign-out", json!({})).await;
    assert_eq!(r.device_cookies_expired(), vec![name.clone()]);
    assert!(r.set_cookie_line(&name).unwrap().contains("; Secure"));
}

#[tokio::test]
async fn error_codes_are_declared() {
    use tessera::plugin::Plugin;
    let codes = MultiSession::new().error_codes();
    assert_eq!(codes.len(), 1);
    assert_eq!(codes[0].status, StatusCode::UNAUTHORIZED);
    assert_eq!(codes[0].code, "INVALID_SESSION_TOKEN");
    assert_eq!(codes[0].message, "Invalid session token");
    assert_eq!(MultiSession::default().maximum_sessions(), 5);
}
