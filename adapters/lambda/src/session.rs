//! [`WithSession`]: the session of an application request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Response;
use lambda_http::{Body, Request, Service};
use pin_project_lite::pin_project;
use tessera::{Auth, CurrentSession, SessionWithUser};
use tessera_tower::{Dialect, ResponseFuture, SessionService};

use crate::lambda_response;
use crate::request::{client_addr, kernel_path};

/// Wraps an application handler in `tessera_tower`'s [`SessionService`]:
/// a request the auth API owns (its path under the base path, API
/// Gateway's stage aside: see [the crate docs](crate#paths-and-stages))
/// passes through; any other gets its session resolved
/// ([`Auth::app_session`]) and inserted into the request extensions as a
/// [`CurrentSession`] (read it with [`session`]), and the session's
/// `Set-Cookie` headers (one header per cookie) appended to the inner
/// response.
///
/// Either way the source IP goes into the extensions as
/// [`tessera::ClientAddr`], and the response body becomes `lambda_http`'s
/// [`Body`]. The inner service sees `lambda_http`'s request unchanged
/// otherwise (its [`RequestExt`](lambda_http::RequestExt) data included;
/// for REST APIs its URI path starts with the stage, as `lambda_http`
/// builds it).
///
/// A kernel error is answered with its JSON response; the inner service is
/// not called then.
#[derive(Clone, Debug)]
pub struct WithSession<S> {
    service: SessionService<App<S>, Lambda>,
}

impl<S> WithSession<S> {
    /// Wraps `inner`.
    pub fn new(auth: Auth, inner: S) -> Self {
        WithSession {
            service: SessionService::with_dialect(auth, App { inner }, Lambda),
        }
    }

    /// The wrapped service.
    pub fn inner(&self) -> &S {
        &self.service.inner().inner
    }
}

/// The session [`WithSession`] resolved for `req`, if any.
pub fn session<B>(req: &http::Request<B>) -> Option<&SessionWithUser> {
    req.extensions()
        .get::<CurrentSession>()
        .and_then(CurrentSession::get)
}

impl<S, B> Service<Request> for WithSession<S>
where
    S: Service<Request, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Into<Body>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<AppFuture<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.service.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        self.service.call(req)
    }
}

/// Lambda as the session layer sees it: paths without API Gateway's stage,
/// the kernel's errors as `lambda_http` bodies.
#[derive(Clone, Copy, Debug)]
struct Lambda;

impl Dialect<Body, Body> for Lambda {
    fn kernel_path<'r>(&self, auth: &Auth, req: &'r Request) -> &'r str {
        kernel_path(auth, req)
    }

    fn error_response(&self, res: Response<Bytes>) -> Response<Body> {
        lambda_response(res)
    }
}

/// The application as the session layer calls it: with the source IP in
/// the extensions, answering with `lambda_http` bodies.
#[derive(Clone, Debug)]
struct App<S> {
    inner: S,
}

impl<S, B> Service<Request> for App<S>
where
    S: Service<Request, Response = Response<B>>,
    B: Into<Body>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = AppFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        if let Some(peer) = client_addr(&req) {
            req.extensions_mut().insert(peer);
        }
        AppFuture {
            future: self.inner.call(req),
        }
    }
}

pin_project! {
    /// The application's response future inside [`WithSession`]'s: its
    /// body made `lambda_http`'s [`Body`].
    pub struct AppFuture<F> {
        #[pin]
        future: F,
    }
}

impl<F, B, E> Future for AppFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Into<Body>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project()
            .future
            .poll(cx)
            .map(|res| res.map(|res| res.map(Into::into)))
    }
}

impl<F> std::fmt::Debug for AppFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppFuture").finish_non_exhaustive()
    }
}
