//! [`WithSession`]: the session of an application request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use lambda_http::{Body, Request, Service};
use tessera::{Auth, SessionWithUser};

use crate::lambda_response;
use crate::request::client_addr;

/// Wraps an application handler: resolves the request's session with
/// [`Auth::session`], inserts it into the request extensions as
/// `Option<SessionWithUser>` (read it with [`session`]), together with the
/// source IP as [`tessera::ClientAddr`], calls the inner service and appends
/// the outcome's `Set-Cookie` headers (one header per cookie) to its
/// response.
///
/// The inner service sees `lambda_http`'s request unchanged otherwise (its
/// [`RequestExt`](lambda_http::RequestExt) data included; for REST APIs its
/// URI path starts with the stage, as `lambda_http` builds it).
///
/// A kernel error is answered with its JSON response; the inner service is
/// not called then.
#[derive(Clone, Debug)]
pub struct WithSession<S> {
    auth: Auth,
    inner: S,
}

impl<S> WithSession<S> {
    /// Wraps `inner`.
    pub fn new(auth: Auth, inner: S) -> Self {
        WithSession { auth, inner }
    }

    /// The wrapped service.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

/// The session [`WithSession`] resolved for `req`, if any.
pub fn session<B>(req: &http::Request<B>) -> Option<&SessionWithUser> {
    req.extensions()
        .get::<Option<SessionWithUser>>()
        .and_then(Option::as_ref)
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
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        // The service polled ready is the one called; a fresh clone waits
        // for the next request (tower's clone-and-swap).
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let auth = self.auth.clone();
        Box::pin(async move {
            let outcome = match auth.session(req.headers()).await {
                Ok(outcome) => outcome,
                Err(err) => return Ok(lambda_response(err.into_response())),
            };
            if let Some(peer) = client_addr(&req) {
                req.extensions_mut().insert(peer);
            }
            req.extensions_mut().insert(outcome.session);
            let mut res = inner.call(req).await?.map(Into::into);
            outcome.cookies.write_to(res.headers_mut());
            Ok(res)
        })
    }
}
