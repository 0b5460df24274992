//! # tessera-hyper
//!
//! [hyper] 1.x glue for the Tessera auth kernel: no auth logic lives here,
//! only the two kernel calls wrapped as hyper services.
//!
//! - [`AuthService`] serves the auth API ([`Auth::handle`]): it collects the
//!   request body up to a limit and answers with the kernel's response.
//!   It is a [`hyper::service::Service`] and a [`tower_service::Service`],
//!   so it also mounts in tower-based stacks (axum's `route_service`, tower
//!   layers); [`WithSession`] is both as well, around an inner service of
//!   the same kind.
//! - [`WithSession`] wraps an application service: it resolves the session
//!   ([`Auth::app_session`]), hands it to the inner service in the request
//!   extensions as a [`CurrentSession`](tessera::CurrentSession) (read it
//!   with [`session`]) and adds the session's `Set-Cookie` headers to the
//!   inner response. Requests under [`Auth::base_path`] pass through
//!   untouched ([`Auth::owns_path`] has the rule), so it may wrap a service
//!   that routes to the auth API too. It is `tessera_tower`'s session
//!   service, shared with the axum and Lambda adapters.
//! - [`serve`] runs [`AuthService`] on a TCP listener until a shutdown
//!   future completes; [`serve_service`] does the same for any service,
//!   e.g. one that routes between the auth API and an application.
//!
//! ```no_run
//! use tessera::{Auth, Options};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = Auth::builder(
//!     Options::new().secret("a-long-random-secret-of-at-least-32-characters!"),
//! )
//! .build()?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! // Serves /api/auth/*, answers 404 elsewhere, stops on Ctrl-C.
//! tessera_hyper::serve(listener, auth, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await;
//! # Ok(())
//! # }
//! ```
//!
//! An application route behind [`WithSession`]:
//!
//! ```
//! use std::convert::Infallible;
//!
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper::{service::service_fn, Request, Response};
//! use tessera::{Auth, Options};
//! use tessera_hyper::WithSession;
//!
//! # fn main() -> Result<(), tessera::BuildError> {
//! let auth = Auth::builder(
//!     Options::new().secret("a-long-random-secret-of-at-least-32-characters!"),
//! )
//! .build()?;
//! let app = service_fn(|req: Request<hyper::body::Incoming>| async move {
//!     let body = match tessera_hyper::session(&req) {
//!         Some(s) => format!("hello {}", s.user.name),
//!         None => "hello stranger".to_owned(),
//!     };
//!     Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
//! });
//! let service = WithSession::new(auth, app);
//! # let _ = service;
//! # Ok(())
//! # }
//! ```
//!
//! # Request limits
//!
//! The kernel answers 431 `REQUEST_HEADER_FIELDS_TOO_LARGE` (better-auth's
//! JSON) to a head over its [`RequestLimits`](tessera::options::RequestLimits),
//! from [`AuthService`] and from [`WithSession`] alike. [`serve`] has hyper
//! read heads up to those limits plus 64 KiB for the request line, so that
//! answer is what clients see; a larger head gets hyper's own 431 (empty
//! body, connection closed) without being buffered, as does a head of more
//! than 100 header fields. [`serve_service`] reads heads for the default
//! limits; [`serve_service_with_limits`] for others.
//!
//! [hyper]: https://docs.rs/hyper

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod serve;
mod service;
mod session;

pub use serve::{serve, serve_service, serve_service_with_limits, DRAIN_TIMEOUT};
pub use service::{AuthService, DEFAULT_BODY_LIMIT};
pub use session::{session, WithSession};

#[cfg(doc)]
use tessera::Auth;
