//! The multi-session device cookies: `list-device-sessions` and
//! `set-active` with any `Cookie` header. The first input byte picks the
//! endpoint and, for `set-active`, which of the fixture's tokens to ask
//! for; the rest is the `Cookie` header.
//!
//! The fixture ([`Server::devices`]) has five users with one session each
//! (the last expired) and `maximumSessions` = [`MAXIMUM_SESSIONS`].
//!
//! Invariants: no panic, never a 5xx; a listing answers 200, or 431 only
//! past the kernel's cookie cap; it holds at most
//! `maximumSessions` live sessions, each of one of the fixture's tokens
//! whose exact device cookie the header carries; `set-active` succeeds
//! only for a token whose exact device cookie the header carries.

#![no_main]

use std::sync::OnceLock;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, COOKIE, ORIGIN};
use http::{HeaderValue, Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use tessera::options::RequestLimits;
use tessera_fuzz::{Server, DEVICE_TOKENS, MAXIMUM_SESSIONS};
use tessera_multi_session::device_cookie_name;

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(Server::devices)
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, header)) = data.split_first() else {
        return;
    };
    let Ok(cookie) = HeaderValue::from_bytes(header) else {
        return;
    };
    let text = String::from_utf8_lossy(header);
    // Whether the header carries the device cookie of `token` by its name.
    let carried = |token: &str| {
        text.contains(&device_cookie_name(
            tessera_fuzz::SESSION_TOKEN_COOKIE,
            token,
        ))
    };
    let server = server();
    if pick % 2 == 0 {
        let req = Request::get("/api/auth/multi-session/list-device-sessions")
            .header(COOKIE, cookie)
            .body(Bytes::new())
            .expect("a valid request");
        let res = server.handle(req);
        if res.status() == StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE {
            // Only past the cookie cap: more pairs than `max_cookies` need
            // at least that many separators (inputs stay under the byte limits).
            let separators = header.iter().filter(|&&b| b == b';').count();
            assert!(
                separators >= RequestLimits::default().max_cookies,
                "431 with {separators} separators"
            );
            return;
        }
        assert_eq!(res.status(), StatusCode::OK, "{:?}", res.body());
        let listed: Vec<Value> = serde_json::from_slice(res.body()).expect("a JSON array");
        assert!(listed.len() <= MAXIMUM_SESSIONS, "{} listed", listed.len());
        for entry in &listed {
            let token = entry["session"]["token"].as_str().expect("a token");
            assert!(DEVICE_TOKENS[..4].contains(&token), "listed {token}");
            assert!(carried(token), "listed {token} without its device cookie");
        }
    } else {
        let token = DEVICE_TOKENS[usize::from(pick / 2) % DEVICE_TOKENS.len()];
        let req = Request::post("/api/auth/multi-session/set-active")
            .header(COOKIE, cookie)
            .header(ORIGIN, tessera_fuzz::ORIGIN)
            .header(CONTENT_TYPE, "application/json")
            .body(Bytes::from(json!({ "sessionToken": token }).to_string()))
            .expect("a valid request");
        let res = server.handle(req);
        assert!(!res.status().is_server_error(), "{:?}", res.body());
        if res.status() == StatusCode::OK {
            assert!(
                carried(token),
                "switched to {token} without its device cookie"
            );
        }
    }
});
