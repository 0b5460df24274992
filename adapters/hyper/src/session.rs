//! [`WithSession`]: the session of an application request.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http::{Request, Response};
use tessera::{Auth, SessionWithUser};

/// Wraps an application service: resolves the request's session with
/// [`Auth::session`], inserts it into the request extensions as
/// `Option<SessionWithUser>` (read it with [`session`]), calls the inner
/// service and appends the outcome's `Set-Cookie` headers (one header per
/// cookie) to its response.
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
pub fn session<B>(req: &Request<B>) -> Option<&SessionWithUser> {
    req.extensions()
        .get::<Option<SessionWithUser>>()
        .and_then(Option::as_ref)
}

impl<S, ReqBody, ResBody> hyper::service::Service<Request<ReqBody>> for WithSession<S>
where
    S: hyper::service::Service<Request<ReqBody>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    ReqBody: Send + 'static,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn call(&self, mut req: Request<ReqBody>) -> Self::Future {
        let auth = self.auth.clone();
        let inner = self.inner.clone();
        Box::pin(async move {
            let outcome = match auth.session(req.headers()).await {
                Ok(outcome) => outcome,
                Err(err) => return Ok(err.into_response().map(ResBody::from)),
            };
            req.extensions_mut().insert(outcome.session);
            let mut res = inner.call(req).await?;
            outcome.cookies.write_to(res.headers_mut());
            Ok(res)
        })
    }
}
