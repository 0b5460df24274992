//! The Lambda adapter's request conversion: any JSON event (API Gateway
//! REST v1 and HTTP API v2, ALB, Function URL) through `lambda_http`'s own
//! event parsing, then `tessera_lambda::kernel_request`, the kernel
//! ([`Server::endpoints`], where no request costs a password hash) and
//! `lambda_response`.
//!
//! `lambda_http`'s own event parsing panics on some events (found here:
//! a base64-flagged body that is not base64, an API Gateway v2 `Host`
//! header that is no URL host). In a function, `lambda_runtime` turns such
//! a panic into an invocation error, so here it is caught the same way,
//! and the event left out: only what follows is held to "no panic".
//!
//! Invariants: no panic; the converted path is the event's path or the
//! end of it (only a stage is ever taken off); a request under the auth
//! API's base path never gets a 5xx.

#![no_main]

use std::panic::{catch_unwind, set_hook, take_hook};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tessera_fuzz::Server;
use tessera_lambda::{kernel_request, lambda_http, lambda_response};

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(Server::endpoints)
}

fuzz_target!(|data: &[u8]| {
    let Ok(event) = std::str::from_utf8(data) else {
        return;
    };
    let Some(Ok(req)) = parse_as_lambda_runtime_would(event) else {
        return;
    };
    let server = server();
    let path = req.uri().path().to_owned();
    let converted = kernel_request(&server.auth, req);
    let kernel_path = converted.uri().path();
    assert!(
        path.ends_with(kernel_path),
        "{path:?} became {kernel_path:?}"
    );
    let ours = server.auth.owns_path(kernel_path);
    let res = server.handle(converted);
    if ours {
        assert!(
            !res.status().is_server_error(),
            "{path}: {} {:?}",
            res.status(),
            res.body()
        );
    }
    let _ = lambda_response(res);
    server.reset_session();
});

/// `lambda_http`'s parsing of `event`; `None` if it panicked (the
/// fuzzer's panic hook, which aborts, is set aside meanwhile).
fn parse_as_lambda_runtime_would(event: &str) -> Option<Result<lambda_http::Request, impl Sized>> {
    let fuzzer_hook = take_hook();
    set_hook(Box::new(|_| {}));
    let parsed = catch_unwind(|| lambda_http::request::from_str(event)).ok();
    set_hook(fuzzer_hook);
    parsed
}
