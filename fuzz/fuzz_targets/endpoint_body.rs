//! Every endpoint's body: each route of an in-memory `Auth` (all core
//! routes and the multi-session and custom-session plugins' routes) with
//! any body, through `Auth::handle`. The input is an
//! [`EndpointInput`]: a route index, flags (content type, session cookie,
//! device cookie, trusted `Origin`), then the body.
//!
//! The fixture ([`Server::endpoints`]) has a user with a session the
//! request may carry, so authenticated endpoints run past their session
//! check; it is put back after every request. Email and password sign-in
//! and sign-up are disabled there, so they answer right after validating
//! the body and no input costs an scrypt hash.
//!
//! Invariants: no panic, and never a 5xx, whatever the body.

#![no_main]

use std::sync::OnceLock;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, COOKIE, ORIGIN};
use http::Request;
use libfuzzer_sys::fuzz_target;
use tessera_fuzz::{
    device_cookie, signed_cookie, EndpointInput, Server, SESSION_TOKEN, SESSION_TOKEN_COOKIE,
};

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(Server::endpoints)
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = EndpointInput::parse(data) else {
        return;
    };
    let server = server();
    let routes = server.routes();
    let (method, path) = &routes[usize::from(input.route) % routes.len()];

    let mut req = Request::builder()
        .method(method.clone())
        .uri(format!("/api/auth{path}"));
    let content_type = match input.flags & 0b11 {
        0 => Some("application/json"),
        1 => Some("application/x-www-form-urlencoded"),
        2 => None,
        _ => Some("text/plain;charset=UTF-8"),
    };
    if let Some(content_type) = content_type {
        req = req.header(CONTENT_TYPE, content_type);
    }
    let mut cookies = Vec::new();
    if input.flags & EndpointInput::SESSION != 0 {
        cookies.push(signed_cookie(SESSION_TOKEN_COOKIE, SESSION_TOKEN));
    }
    if input.flags & EndpointInput::DEVICE != 0 {
        cookies.push(device_cookie(SESSION_TOKEN));
    }
    if !cookies.is_empty() {
        req = req.header(COOKIE, cookies.join("; "));
    }
    if input.flags & EndpointInput::ORIGIN != 0 {
        req = req.header(ORIGIN, tessera_fuzz::ORIGIN);
    }
    let req = req
        .body(Bytes::copy_from_slice(input.body))
        .expect("a valid request");

    let res = server.handle(req);
    assert!(
        !res.status().is_server_error(),
        "{method} {path}: {} {:?}",
        res.status(),
        res.body()
    );
    server.reset_session();
});
