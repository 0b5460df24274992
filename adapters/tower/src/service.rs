//! [`SessionService`]: the session of every application request.

use std::future::Future;
use std::task::{Context, Poll};

use http::{Request, Response};
use tessera::{Auth, PendingSession};
use tower_service::Service;

use crate::{Dialect, PlainHttp, ResponseFuture};

/// Wraps an application service: a request the auth API owns passes
/// through untouched; any other gets its session resolved, inserted into
/// its extensions as a [`CurrentSession`](tessera::CurrentSession), and
/// the session's `Set-Cookie` headers appended to the inner response (see
/// [the crate docs](crate)). A kernel error is answered as the kernel's
/// error response, without calling the inner service.
///
/// Readiness is the inner service's; the instance that was polled ready
/// handles the request and a clone takes its place, as tower asks of
/// services whose futures outlive the call.
#[derive(Clone, Debug)]
pub struct SessionService<S, D = PlainHttp> {
    auth: Auth,
    inner: S,
    dialect: D,
}

impl<S> SessionService<S> {
    /// Wraps `inner`, a plain `http` service.
    pub fn new(auth: Auth, inner: S) -> Self {
        SessionService::with_dialect(auth, inner, PlainHttp)
    }
}

impl<S, D> SessionService<S, D> {
    /// Wraps `inner`, a service speaking `dialect`.
    pub fn with_dialect(auth: Auth, inner: S, dialect: D) -> Self {
        SessionService {
            auth,
            inner,
            dialect,
        }
    }

    /// The kernel resolving the sessions.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The wrapped service.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The kernel's decision for `req`: `None` when the auth API owns it.
    fn app_session<ReqBody, ResBody>(&self, req: &Request<ReqBody>) -> Option<PendingSession>
    where
        D: Dialect<ReqBody, ResBody>,
    {
        let path = self.dialect.kernel_path(&self.auth, req);
        self.auth.app_session(path)
    }

    /// [`Service::call`] for an inner service called through a shared
    /// reference, such as hyper 1's `Service::call(&self, req)`, which
    /// tower's `&mut self` cannot express: `call` calls it. Such services
    /// are always ready.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use std::future::{ready, Ready};
    ///
    /// use bytes::Bytes;
    /// use http::{Request, Response};
    /// use tessera::{Auth, Options};
    /// use tessera_tower::SessionService;
    ///
    /// /// A service called through `&self`.
    /// #[derive(Clone)]
    /// struct Hello;
    ///
    /// impl Hello {
    ///     fn respond(&self, _req: Request<Bytes>) -> Ready<Result<Response<Bytes>, Infallible>> {
    ///         ready(Ok(Response::new(Bytes::from_static(b"hello"))))
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let auth = Auth::builder(
    ///     Options::new().secret("a-long-random-secret-of-at-least-32-characters!"),
    /// )
    /// .build()?;
    /// let service = SessionService::new(auth, Hello);
    /// let res = service
    ///     .call_shared(Request::get("/").body(Bytes::new())?, Hello::respond)
    ///     .await?;
    /// assert_eq!(res.body().as_ref(), b"hello");
    /// # Ok(())
    /// # }
    /// ```
    pub fn call_shared<ReqBody, ResBody, E, F>(
        &self,
        req: Request<ReqBody>,
        call: fn(&S, Request<ReqBody>) -> F,
    ) -> ResponseFuture<F>
    where
        S: Clone + Send + 'static,
        F: Future<Output = Result<Response<ResBody>, E>> + Send + 'static,
        ReqBody: Send + 'static,
        D: Dialect<ReqBody, ResBody>,
    {
        let Some(pending) = self.app_session(&req) else {
            return ResponseFuture::passed(call(&self.inner, req));
        };
        let inner = self.inner.clone();
        ResponseFuture::resolving(pending, self.dialect.clone(), req, move |req| {
            call(&inner, req)
        })
    }
}

impl<S, D, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S, D>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    D: Dialect<ReqBody, ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let Some(pending) = self.app_session(&req) else {
            return ResponseFuture::passed(self.inner.call(req));
        };
        // The instance polled ready is called once the session is resolved;
        // a clone waits for the next request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::resolving(pending, self.dialect.clone(), req, move |req| {
            inner.call(req)
        })
    }
}
