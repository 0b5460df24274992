//! # tessera-tower
//!
//! The session layer of the Tessera auth kernel, written once for every
//! tower-based adapter (axum, hyper, AWS Lambda). Around an application
//! service, [`SessionLayer`] / [`SessionService`]:
//!
//! 1. asks the kernel whether the request is the application's
//!    ([`Auth::app_session`]); a request under the auth API's base path
//!    ([`Auth::owns_path`]) passes through untouched, because the API does
//!    its own cookie work;
//! 2. resolves the session once and inserts it into the request extensions
//!    as a [`CurrentSession`] (`CurrentSession(None)` when signed out);
//! 3. calls the inner service and appends the session's cookie work (a
//!    refresh, a cookie-cache rewrite, or the deletion of a dead session's
//!    cookies) to its response, one `Set-Cookie` header per cookie.
//!
//! A kernel error is answered with the kernel's JSON response and the inner
//! service is not called: 431 `REQUEST_HEADER_FIELDS_TOO_LARGE` for a head
//! over the [`RequestLimits`](tessera::options::RequestLimits), 503 when
//! the store is down.
//!
//! ```
//! use std::convert::Infallible;
//!
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use tessera::{Auth, CurrentSession, Options};
//! use tessera_tower::SessionLayer;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! async fn hello(req: Request<Bytes>) -> Result<Response<Bytes>, Infallible> {
//!     let name = req
//!         .extensions()
//!         .get::<CurrentSession>()
//!         .and_then(CurrentSession::get)
//!         .map_or("stranger".to_owned(), |s| s.user.name.clone());
//!     Ok(Response::new(Bytes::from(format!("hello {name}"))))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = Auth::builder(
//!     Options::new().secret("a-long-random-secret-of-at-least-32-characters!"),
//! )
//! .build()?;
//! let app = ServiceBuilder::new()
//!     .layer(SessionLayer::new(auth))
//!     .service(service_fn(hello));
//!
//! let res = app.oneshot(Request::get("/").body(Bytes::new())?).await?;
//! assert_eq!(res.body().as_ref(), b"hello stranger");
//! # Ok(())
//! # }
//! ```
//!
//! Adapters re-export these types under the names their users know
//! (`tessera_axum::SessionLayer`, `tessera_hyper::WithSession`,
//! `tessera_lambda::WithSession`). One whose requests or bodies are not
//! plain `http` ones brings a [`Dialect`]: Lambda's takes API Gateway's
//! stage out of the path and turns the kernel's bytes into its own body.
//!
//! # Cost per request
//!
//! A pass-through adds a branch to the inner service's future, nothing
//! else. An application request takes one allocation, the boxed future
//! that resolves the session and then awaits the inner service, plus what
//! the resolution itself costs; only the cookie work is held across the
//! inner call.
//!
//! [`Auth::app_session`]: tessera::Auth::app_session
//! [`Auth::owns_path`]: tessera::Auth::owns_path
//! [`CurrentSession`]: tessera::CurrentSession

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod dialect;
mod future;
mod layer;
mod service;

pub use dialect::{Dialect, PlainHttp};
pub use future::ResponseFuture;
pub use layer::SessionLayer;
pub use service::SessionService;
