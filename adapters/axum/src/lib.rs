//! # tessera-axum
//!
//! [axum] 0.8 glue for the Tessera auth kernel: no auth logic lives here,
//! only the kernel's two calls wrapped the axum way.
//!
//! - [`router`] serves the auth API ([`Auth::handle`]) under
//!   [`Auth::base_path`]; merge it into your application's router.
//! - [`SessionLayer`] resolves the session of every application request
//!   once ([`Auth::app_session`]), stores it in the request extensions as a
//!   [`CurrentSession`](tessera::CurrentSession) and appends its
//!   `Set-Cookie` headers (a refresh, or the deletion of a dead session's
//!   cookies) to your response. Requests under [`Auth::base_path`] pass
//!   through untouched ([`Auth::owns_path`] has the rule), so the layer
//!   may wrap the auth API's routes too. It is `tessera_tower`'s layer,
//!   shared with the hyper and Lambda adapters.
//! - [`OptionalSession`] and [`RequiredSession`] hand that session to
//!   handlers; [`RequiredSession`] answers better-auth's 401
//!   `{"message":"Unauthorized","code":"UNAUTHORIZED"}` without one.
//!
//! **The layer is required** for the extractors: on a route without it
//! they answer 500 with a generic body and log what is missing.
//!
//! ```
//! use axum::body::Body;
//! use axum::{routing::get, Router};
//! use http::{Request, StatusCode};
//! use tessera::{Auth, Options};
//! use tessera_axum::{OptionalSession, RequiredSession, SessionLayer};
//! use tower_service::Service;
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
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = Auth::builder(
//!     Options::new().secret("a-long-random-secret-of-at-least-32-characters!"),
//! )
//! .build()?;
//! let mut app: Router = Router::new()
//!     .route("/", get(hello))
//!     .route("/me", get(me))
//!     .layer(SessionLayer::new(auth.clone()))
//!     .merge(tessera_axum::router(auth));
//!
//! // The auth API, at /api/auth/*.
//! let res = app.call(Request::get("/api/auth/ok").body(Body::empty())?).await?;
//! assert_eq!(res.status(), StatusCode::OK);
//!
//! // A protected route without a session.
//! let res = app.call(Request::get("/me").body(Body::empty())?).await?;
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! # Ok(())
//! # }
//! ```
//!
//! To serve it, hand axum the peer address too, so the kernel sees the
//! client's IP (forwarded headers count only from trusted proxies):
//!
//! ```no_run
//! # async fn serve(app: axum::Router) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(
//!     listener,
//!     app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
//! )
//! .await
//! # }
//! ```
//!
//! The request body limit of the auth API is axum's own
//! ([`DefaultBodyLimit`](axum::extract::DefaultBodyLimit)).
//!
//! # Request limits
//!
//! The kernel answers 431 `REQUEST_HEADER_FIELDS_TOO_LARGE` (better-auth's
//! JSON) to a head over its [`RequestLimits`](tessera::options::RequestLimits),
//! on the auth API ([`router`]) and on every route behind [`SessionLayer`].
//! `axum::serve` reads heads up to hyper's default buffer (about 400 KB)
//! and 100 header fields, so every head over the kernel's default limits
//! (64 KiB) but within those reaches the kernel; past them hyper answers
//! 431 itself, with an empty body, and closes the connection. Limits raised
//! past 400 KB need a server of your own (hyper-util's builder with a
//! larger `max_buf_size`).
//!
//! [axum]: https://docs.rs/axum

#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "custom-session")]
mod custom;
mod extract;
mod router;

#[cfg(feature = "custom-session")]
pub use custom::Shaped;
pub use extract::{OptionalSession, RequiredSession, SessionRejection};
pub use router::router;
pub use tessera_tower::{SessionLayer, SessionService};

#[cfg(doc)]
use tessera::Auth;
