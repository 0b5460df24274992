//! # tessera-testkit
//!
//! Shared test kit for Tessera's differential tests against better-auth
//! 1.7.25 itself:
//!
//! - [`RefServer`]: the reference server in `shared/refserver`, copied to a
//!   writable cache, installed with `npm ci` once, run on a loopback port
//!   and killed on drop. [`require_refserver!`] applies the skip/fail rule.
//! - [`mail`]: a mailer that records what it is handed ([`mail::Outbox`]).
//! - [`service`]: the services some tests need (PostgreSQL, Redis, Node, a
//!   browser), their URLs, and the one skip/fail rule for their absence
//!   ([`skip_or_fail`]).
//! - [`node_eval`]: runs a JavaScript module snippet where `better-auth`
//!   and `@better-auth/utils` resolve ([`require_node!`] first).
//! - [`TestRequest`] / [`TestResponse`] / [`Target`]: send the same request
//!   to better-auth over HTTP and to a Tessera [`tessera::Auth`] in process,
//!   and compare status, `code`, `message` and cookies.
//! - [`conformance`]: one end-to-end suite ([`conformance::run_suite`]) that
//!   every framework adapter, and better-auth itself, must pass over real
//!   HTTP.
//! - [`storage`]: one storage conformance suite ([`storage_conformance!`])
//!   that every backend (memory, SQLite, PostgreSQL, Redis) must pass
//!   through the kernel's [`Sessions`](tessera::Sessions).
//!
//! **Skip/fail rule.** When a service a test needs is missing (node or npm,
//! or `npm ci` fails, for a test that needs better-auth), the test prints a
//! `SKIPPED … unavailable: …` banner and returns early — unless `CI=true`,
//! where it fails. `cargo xtask test` counts the skips
//! ([`service::SKIP_DIR_VAR`]).
//!
//! ```
//! use tessera_testkit::{encode_uri_component, SetCookieLine, TestRequest};
//!
//! let req = TestRequest::post("/api/auth/sign-out").origin("http://127.0.0.1:3005");
//! assert!(req.has_header("Origin"));
//!
//! let line = SetCookieLine::parse("better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax");
//! assert!(line.is_expired());
//! assert_eq!(encode_uri_component("a.b+c/d="), "a.b%2Bc%2Fd%3D");
//! ```
//!
//! A differential test:
//!
//! ```no_run
//! use tessera_testkit::{require_refserver, Target, TestRequest};
//!
//! # async fn example(tessera: tessera::Auth) {
//! let server = require_refserver!(&[("MODE", "memory")]);
//! let (ba, ts) = (
//!     Target::http(server.base_url()),
//!     Target::auth(tessera, server.base_url()),
//! );
//! let req = TestRequest::get("/api/auth/list-sessions");
//! let (a, b) = (ba.send(&req).await, ts.send(&req).await);
//! assert_eq!((a.status, a.code()), (b.status, b.code()));
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod conformance;
pub mod exchange;
pub mod json;
pub mod mail;
pub mod oidc;
pub mod records;
pub mod redis_cluster;
pub mod refserver;
pub mod service;
pub mod smtp;
pub mod storage;
pub mod uri;

pub use exchange::{
    http_client, send_auth, send_http, send_http_status, send_raw_status, ClientCookies,
    SetCookieLine, Target, TestRequest, TestResponse,
};
pub use refserver::{node_eval, refserver_dir, RefServer};
pub use service::{is_ci, skip_or_fail, Service};
pub use uri::{decode_uri_component, encode_uri_component};

/// Starts a [`RefServer`] with the given environment (`&[(&str, &str)]`),
/// or returns from the calling test when node is unavailable and `CI` is
/// not `true` ([`skip_or_fail`]). Panics on any other failure.
#[macro_export]
macro_rules! require_refserver {
    ($env:expr) => {
        match $crate::RefServer::start($env) {
            ::std::result::Result::Ok(::std::option::Option::Some(server)) => server,
            ::std::result::Result::Ok(::std::option::Option::None) => return,
            ::std::result::Result::Err(e) => panic!("reference server: {e}"),
        }
    };
}

/// Makes sure the installed refserver directory exists for [`node_eval`]
/// and evaluates to its path, or returns from the calling test when node
/// is unavailable and `CI` is not `true`.
#[macro_export]
macro_rules! require_node {
    () => {
        match $crate::refserver_dir() {
            ::std::option::Option::Some(dir) => dir,
            ::std::option::Option::None => return,
        }
    };
}
