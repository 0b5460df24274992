//! [`ResponseFuture`]: the inner service's response, with the session's
//! cookie work.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tessera::{CurrentSession, PendingSession, SessionOutcome};

use crate::Dialect;

/// The resolution, the inner call and the cookie work of one application
/// request, in one allocation.
type Resolving<T> = Pin<Box<dyn Future<Output = T> + Send>>;

pin_project! {
    /// The response future of [`SessionService`](crate::SessionService):
    /// the inner service's own future for a request the auth API owns;
    /// otherwise a boxed future that resolves the session, calls the inner
    /// service and appends the session's `Set-Cookie` headers.
    pub struct ResponseFuture<F>
    where
        F: Future,
    {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F>
    where
        F: Future,
    {
        Passed { #[pin] future: F },
        Resolving { future: Resolving<F::Output> },
    }
}

impl<F: Future> ResponseFuture<F> {
    /// The inner service's answer to a request passed through.
    pub(crate) fn passed(future: F) -> Self {
        ResponseFuture {
            kind: Kind::Passed { future },
        }
    }

    /// Resolves `req`'s session, then calls the inner service with `call`.
    pub(crate) fn resolving<ReqBody, ResBody, E, D, C>(
        pending: PendingSession,
        dialect: D,
        mut req: Request<ReqBody>,
        call: C,
    ) -> Self
    where
        F: Future<Output = Result<Response<ResBody>, E>> + Send + 'static,
        ReqBody: Send + 'static,
        D: Dialect<ReqBody, ResBody>,
        C: FnOnce(Request<ReqBody>) -> F + Send + 'static,
    {
        let future = Box::pin(async move {
            let SessionOutcome {
                session, cookies, ..
            } = match pending.resolve(req.headers()).await {
                Ok(outcome) => outcome,
                Err(err) => return Ok(dialect.error_response(err.into_response())),
            };
            req.extensions_mut().insert(CurrentSession(session));
            // Only the cookie work waits for the inner service.
            let mut res = call(req).await?;
            cookies.write_to(res.headers_mut());
            Ok(res)
        });
        ResponseFuture {
            kind: Kind::Resolving { future },
        }
    }
}

impl<F: Future> Future for ResponseFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match self.project().kind.project() {
            KindProj::Passed { future } => future.poll(cx),
            KindProj::Resolving { future } => future.as_mut().poll(cx),
        }
    }
}

impl<F: Future> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Passed { .. } => "passed",
            Kind::Resolving { .. } => "resolving",
        };
        f.debug_struct("ResponseFuture")
            .field("kind", &kind)
            .finish()
    }
}
