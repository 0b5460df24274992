//! # tessera-actix
//!
//! [actix-web] 4 glue for the Tessera auth kernel: no auth logic lives
//! here, only the kernel's two calls wrapped the actix way.
//!
//! - [`configure`] (or [`scope`]) serves the auth API ([`Auth::handle`])
//!   under [`Auth::base_path`], e.g. `/api/auth/*`.
//! - [`SessionMiddleware`] resolves the session of every application
//!   request once ([`Auth::app_session`]), stores it in the request
//!   extensions as a [`CurrentSession`](tessera::CurrentSession) and
//!   appends its `Set-Cookie` headers (a refresh, or the deletion of a dead
//!   session's cookies) to your response. Requests under
//!   [`Auth::base_path`] pass through untouched, by the rule every
//!   adapter's session layer follows ([`Auth::owns_path`]).
//! - [`OptionalSession`] and [`RequiredSession`] hand that session to
//!   handlers; [`RequiredSession`] answers better-auth's 401
//!   `{"message":"Unauthorized","code":"UNAUTHORIZED"}` without one.
//!
//! **The middleware is required** for the extractors: on a route without
//! it they answer 500 with a generic body and log what is missing.
//!
//! ```
//! use actix_web::{test, web, App};
//! use tessera::{Auth, Options};
//! use tessera_actix::{OptionalSession, RequiredSession, SessionMiddleware};
//!
//! async fn hello(OptionalSession(session): OptionalSession) -> String {
//!     match session {
//!         Some(s) => format!("hello, {}", s.user.name),
//!         None => "hello, anonymous".to_owned(),
//!     }
//! }
//!
//! async fn me(RequiredSession(s): RequiredSession) -> String {
//!     s.user.email
//! }
//!
//! # #[actix_web::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = Auth::builder(
//!     Options::new().secret("a-long-random-secret-of-at-least-32-characters!"),
//! )
//! .build()?;
//! let app = test::init_service(
//!     App::new()
//!         .wrap(SessionMiddleware::new(auth.clone()))
//!         .configure(tessera_actix::configure(auth))
//!         .route("/", web::get().to(hello))
//!         .route("/me", web::get().to(me)),
//! )
//! .await;
//!
//! // The auth API, at /api/auth/*.
//! let res = test::call_service(&app, test::TestRequest::get().uri("/api/auth/ok").to_request()).await;
//! assert_eq!(res.status(), 200);
//!
//! // A protected route without a session.
//! let res = test::call_service(&app, test::TestRequest::get().uri("/me").to_request()).await;
//! assert_eq!(res.status(), 401);
//! # Ok(())
//! # }
//! ```
//!
//! Served by [`HttpServer`](actix_web::HttpServer), actix hands each
//! request its socket peer, which the kernel sees as
//! [`ClientAddr`](tessera::ClientAddr): the client, unless it is a trusted
//! proxy naming the client in a forwarded header:
//!
//! ```no_run
//! use actix_web::{App, HttpServer};
//! use tessera_actix::SessionMiddleware;
//!
//! # #[actix_web::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let auth = tessera::Auth::builder(
//! #     tessera::Options::new().secret("a-long-random-secret-of-at-least-32-characters!"),
//! # ).build()?;
//! HttpServer::new(move || {
//!     App::new()
//!         .wrap(SessionMiddleware::new(auth.clone()))
//!         .configure(tessera_actix::configure(auth.clone()))
//! })
//! .bind(("127.0.0.1", 3000))?
//! .run()
//! .await?;
//! # Ok(())
//! # }
//! ```
//!
//! The request body limit of the auth API is actix's own
//! [`PayloadConfig`](actix_web::web::PayloadConfig) (256 KiB by default);
//! a larger body answers 413
//! `{"message":"Request body too large","code":"PAYLOAD_TOO_LARGE"}`.
//!
//! # Request limits
//!
//! The kernel answers 431 `REQUEST_HEADER_FIELDS_TOO_LARGE` (better-auth's
//! JSON) to a head over its [`RequestLimits`](tessera::options::RequestLimits),
//! on the auth API and on every route behind [`SessionMiddleware`].
//! actix-http reads a request head into a fixed 128 KiB buffer, of at most
//! 96 header fields (neither can be configured): a head over the kernel's
//! default limits (64 KiB) but within those reaches the kernel; a larger
//! one, or one with more fields, gets actix-http's own 431, with an empty
//! body, and the connection is closed (a client still sending may see the
//! connection reset rather than the answer). Kernel limits above 128 KiB
//! have no effect behind actix.
//!
//! [actix-web]: https://docs.rs/actix-web

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod convert;
#[cfg(feature = "custom-session")]
mod custom;
mod extract;
mod middleware;
mod scope;

#[cfg(feature = "custom-session")]
pub use custom::Shaped;
pub use extract::{OptionalSession, RequiredSession, SessionRejection};
pub use middleware::{SessionMiddleware, SessionService};
pub use scope::{configure, scope};

#[cfg(doc)]
use tessera::Auth;
