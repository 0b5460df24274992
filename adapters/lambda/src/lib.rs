//! # tessera-lambda
//!
//! AWS Lambda glue for the Tessera auth kernel, over [`lambda_http`]: no
//! auth logic lives here, only the kernel's two calls between the requests
//! `lambda_http` builds from every HTTP event shape and the responses it
//! serializes back.
//!
//! - [`run`] runs the auth API ([`Auth::handle`]) on Lambda.
//! - [`run_with_app`] runs it in front of an application handler that finds
//!   the resolved session in its request extensions ([`session`]) and whose
//!   response carries the session's `Set-Cookie` headers ([`WithSession`],
//!   [`AuthAndApp`]).
//! - [`AuthService`], [`WithSession`] and [`AuthAndApp`] are the services
//!   behind them, for use with `lambda_http`'s other entry points;
//!   [`kernel_request`] and [`lambda_response`] are the two conversions.
//!   [`WithSession`] is `tessera_tower`'s session service, shared with the
//!   axum and hyper adapters, speaking Lambda's paths and bodies.
//!
//! ```no_run
//! use tessera::{Auth, Options};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), lambda_http::Error> {
//!     // Stateless mode: the session lives in the cookies; keep the
//!     // cookie-cache refresh linked in.
//!     tessera_stateless_refresh::link();
//!     let auth = Auth::builder(Options::from_env()?).build()?;
//!     tessera_lambda::run(auth).await
//! }
//! ```
//!
//! The services are plain `tower` services over [`lambda_http::Request`]:
//!
//! ```
//! use lambda_http::tower::ServiceExt;
//! use lambda_http::{Body, Request};
//! use tessera::{Auth, Options};
//! use tessera_lambda::AuthService;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = Auth::builder(
//!     Options::new().secret("a-long-random-secret-of-at-least-32-characters!"),
//! )
//! .build()?;
//! let req: Request = http::Request::get("/api/auth/ok").body(Body::Empty)?;
//! let res = AuthService::new(auth).oneshot(req).await?;
//! assert_eq!(res.body(), &Body::Text(r#"{"ok":true}"#.to_owned()));
//! # Ok(())
//! # }
//! ```
//!
//! # Event shapes
//!
//! `lambda_http` is built with the `apigw_rest`, `apigw_http` and `alb`
//! event sources. Every `Set-Cookie` the kernel writes (`session_token`, the
//! chunks `session_data.0`, `session_data.1`, …, `dont_remember`) leaves
//! as its own header, and `lambda_http` places them per shape:
//!
//! | event source | response field with the cookies |
//! |---|---|
//! | API Gateway HTTP API (payload 2.0) | `cookies: [..]`, one entry per cookie |
//! | Lambda Function URL (same 2.0 shape) | `cookies: [..]` |
//! | API Gateway REST API (payload 1.0) | `multiValueHeaders["set-cookie"]: [..]` |
//! | ALB, multi-value headers on | `multiValueHeaders["set-cookie"]: [..]` |
//! | ALB, multi-value headers off | `headers["set-cookie"]`: **the first cookie only** |
//!
//! **ALB limitation.** An ALB target group without multi-value headers
//! reads only `headers`, a map of one string per name, which cannot carry
//! several `Set-Cookie` headers (folding them into one with commas is not
//! valid for cookies). A stateless session needs `session_token` and
//! `session_data` together, so turn on the target group attribute
//! `lambda.multi_value_headers.enabled` for Tessera behind an ALB.
//!
//! Bodies: the kernel's JSON leaves as text (`"isBase64Encoded": false`);
//! request bodies arrive decoded from base64 by `lambda_http`.
//!
//! # Paths and stages
//!
//! API Gateway puts the stage into paths unevenly: a REST API event's `path`
//! lacks it (`requestContext.path` has it) and `lambda_http` adds it back
//! into `uri()` (`/prod/api/auth/…`, while `raw_http_path()` stays
//! `/api/auth/…`); an HTTP API on a named stage carries it in `rawPath`
//! itself; the `$default` stage, ALB and Function URLs have none.
//!
//! The adapter routes on `uri().path()` and, when that is not under the
//! auth API's base path, on the same path without a leading `/{stage}`
//! segment (the stage from `request_context()`, `$default` excluded). So
//! `/api/auth/…` routes match whether or not the stage is in the path, also
//! with `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` set; a path already under
//! the base path is never stripped, so a stage named `api` does no harm.
//! The kernel then sees the stage-free path, and [`WithSession`] decides on
//! it too: a request the auth API owns passes through it without a session
//! (the API does its own cookie work), whatever else the function routes.
//! An application behind [`WithSession`] gets `lambda_http`'s request
//! unchanged. With a custom
//! domain, the base path mapping is part of the path: put it in
//! `BETTER_AUTH_URL`.
//!
//! # Client IP
//!
//! The source IP of API Gateway's request context (`identity.sourceIp` for
//! REST APIs, `http.sourceIp` for HTTP APIs and Function URLs) goes into
//! the request extensions as [`tessera::ClientAddr`]: it is the client, and
//! an `X-Forwarded-For` the client sent is ignored (unless that address is
//! in `TESSERA_TRUSTED_PROXIES`). ALB events have no such field, so there
//! is no peer to vouch for the `X-Forwarded-For` ALB writes: the kernel
//! records no IP (and rate-limits such requests in one shared bucket)
//! unless `TESSERA_TRUST_HEADERS_WITHOUT_PEER=true`, which believes the
//! address ALB appended (the rightmost hop not in
//! `TESSERA_TRUSTED_PROXIES`). Set it only for an ALB in its default
//! `append` mode for `X-Forwarded-For`.
//!
//! # Cold start
//!
//! Nothing here does I/O before the first invocation beyond reading the
//! environment: building an [`Auth`] from [`tessera::Options::from_env`]
//! derives keys in memory, and in stateless mode there is no store to
//! connect to. The first network call is the runtime's long poll on the
//! Runtime API.
//!
//! # Request limits
//!
//! The kernel answers 431 `REQUEST_HEADER_FIELDS_TOO_LARGE` (better-auth's
//! JSON) to a head over its [`RequestLimits`](tessera::options::RequestLimits),
//! from [`AuthService`] and from [`WithSession`], whatever the event shape
//! (an HTTP API's `cookies` list counts as the `Cookie` header
//! `lambda_http` joins it into). The front answers first for larger heads:
//! an API Gateway HTTP API refuses more than 10,240 bytes of request line
//! and headers, an ALB more than 64 KiB of headers. Behind API Gateway,
//! lower `TESSERA_MAX_COOKIE_BYTES` (e.g. to 8192) so that the session
//! cache, which gets two thirds of it, is never written larger than the
//! gateway lets back in: in stateless mode a session whose cache does not
//! fit is not written at all (a warning is logged), rather than locking the
//! browser out behind the gateway's errors.
//!
//! # Stateless mode
//!
//! Without `.database(..)` the kernel runs better-auth's stateless mode:
//! the session is a JWE cookie cache, so any instance of the function can
//! serve any request with no shared store. Link `tessera-stateless-refresh`
//! (call `tessera_stateless_refresh::link()`) so sessions near the end of
//! their cache lifetime are re-issued.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod app;
mod request;
mod response;
mod run;
mod service;
mod session;

pub use app::{AuthAndApp, AuthAndAppFuture};
pub use request::kernel_request;
pub use response::lambda_response;
pub use run::{run, run_with_app};
pub use service::AuthService;
pub use session::{session, AppFuture, WithSession};

/// The `lambda_http` this crate is built on, for matching versions.
pub use lambda_http;

#[cfg(doc)]
use tessera::Auth;
