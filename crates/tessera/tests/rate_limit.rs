//! Who a request counts as, and how much it may do: client IPs believed
//! from forwarded headers only through trusted proxies, and rate limits
//! keyed on the matched route.
//! Every request goes through `Auth::handle_from`, with the socket peer an
//! adapter would pass.

mod common;

use bytes::Bytes;
use common::*;
use http::{Request, Response, StatusCode};
use serde_json::{json, Value};
use tessera::{ClientAddr, Options};

const PASSWORD: &str = "password1234";

fn peer(ip: &str) -> Option<ClientAddr> {
    Some(ClientAddr(ip.parse().unwrap()))
}

fn post(path: &str, body: Value, forwarded_for: Option<&str>) -> Request<Bytes> {
    let mut req = Request::post(format!("/api/auth{path}"))
        .header("content-type", "application/json")
        .header("origin", ORIGIN);
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    req.body(Bytes::from(body.to_string())).unwrap()
}

fn sign_in(email: &str, password: &str, forwarded_for: Option<&str>) -> Request<Bytes> {
    post(
        "/sign-in/email",
        json!({"email": email, "password": password}),
        forwarded_for,
    )
}

async fn sign_up(h: &Harness, email: &str, from: Option<ClientAddr>, xff: Option<&str>) {
    let req = post(
        "/sign-up/email",
        json!({"email": email, "password": PASSWORD, "name": "Ada"}),
        xff,
    );
    let res = h.auth.handle_from(req, from).await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// The `ipAddress` of the session `res` signed in.
async fn session_ip(h: &Harness, res: Response<Bytes>) -> Value {
    let req = Request::get("/api/auth/get-session")
        .header("cookie", cookie_header_of(&res))
        .body(Bytes::new())
        .unwrap();
    let body: Value = serde_json::from_slice(h.auth.handle(req).await.body()).unwrap();
    body["session"]["ipAddress"].clone()
}

fn trusting(options: Options, proxies: &str) -> Options {
    let mut options = options;
    options.ip.trusted_proxies = tessera::options::IpNetwork::parse_list(proxies).unwrap();
    options
}

/// Rate limiting on.
fn ip_limited() -> Options {
    options().rate_limit(true)
}

// ---------------------------------------------------------------------------
// Client IPs
// ---------------------------------------------------------------------------

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_shares_the_peers_bucket() {
    let h = Harness::new(ip_limited());
    let mut statuses = Vec::new();
    for i in 0..8 {
        // A new forged address (and a new email) per attempt.
        let req = sign_in(
            &format!("guess{i}@example.com"),
            "wrong-password",
            Some(&format!("192.0.2.{i}")),
        );
        statuses.push(h.auth.handle_from(req, peer("198.51.100.4")).await.status());
    }
    assert_eq!(
        statuses,
        [
            [StatusCode::UNAUTHORIZED; 3].as_slice(),
            &[StatusCode::TOO_MANY_REQUESTS; 5]
        ]
        .concat(),
        "sign-in allows 3 per 10 s per client"
    );
}

#[tokio::test]
async fn a_trusted_proxys_forwarded_client_is_honoured() {
    let h = Harness::new(trusting(ip_limited(), "10.0.0.0/8"));
    // Clients behind two proxies each have their own bucket...
    for i in 0..8 {
        let req = sign_in(
            &format!("guess{i}@example.com"),
            "wrong-password",
            Some(&format!("192.0.2.{i}, 10.1.1.1")),
        );
        let res = h.auth.handle_from(req, peer("10.0.0.2")).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "client {i}");
    }
    // ...and one client's guesses share its own, whatever it prepends.
    let mut statuses = Vec::new();
    for i in 0..4 {
        let chain = format!("198.51.100.{i}, 203.0.113.7, 10.1.1.1");
        let req = sign_in(
            &format!("more{i}@example.com"),
            "wrong-password",
            Some(&chain),
        );
        statuses.push(h.auth.handle_from(req, peer("10.0.0.2")).await.status());
    }
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));

    // The session records the client the proxy forwarded.
    let h = Harness::new(trusting(options(), "10.0.0.0/8, ::1"));
    sign_up(&h, "ada@example.com", None, None).await;
    let res = h
        .auth
        .handle_from(
            sign_in("ada@example.com", PASSWORD, Some("203.0.113.7, 10.1.1.1")),
            peer("::1"),
        )
        .await;
    assert_eq!(session_ip(&h, res).await, "203.0.113.7");
}

#[tokio::test]
async fn session_ip_address_cannot_be_forged_from_an_untrusted_peer() {
    let h = Harness::new(options().environment(tessera::Environment::Production));
    let from = peer("198.51.100.4");
    sign_up(&h, "ada@example.com", from, Some("203.0.113.66")).await;
    let res = h
        .auth
        .handle_from(
            sign_in("ada@example.com", PASSWORD, Some("203.0.113.66")),
            from,
        )
        .await;
    assert_eq!(session_ip(&h, res).await, "198.51.100.4");

    // Nor without a peer: no address is recorded rather than the header's.
    let res = h
        .auth
        .handle(sign_in("ada@example.com", PASSWORD, Some("203.0.113.66")))
        .await;
    assert_eq!(session_ip(&h, res).await, "");
}

// ---------------------------------------------------------------------------
// Rate-limit keys
// ---------------------------------------------------------------------------

#[tokio::test]
async fn made_up_paths_share_one_bucket() {
    let h = Harness::new(ip_limited());
    let from = peer("198.51.100.4");
    let made_up = |i: u32| {
        Request::get(format!("/api/auth/made-up-{i}"))
            .body(Bytes::new())
            .unwrap()
    };
    // The default rule: 100 per 10 s, for all unknown paths together.
    for i in 0..100 {
        let res = h.auth.handle_from(made_up(i), from).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "request {i}");
    }
    let res = h.auth.handle_from(made_up(100), from).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // Known routes keep their own buckets.
    let ok = Request::get("/api/auth/ok").body(Bytes::new()).unwrap();
    assert_eq!(h.auth.handle_from(ok, from).await.status(), StatusCode::OK);
}
