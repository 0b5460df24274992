//! [`SessionLayer`]: resolves the session of application requests.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tessera::{Auth, SessionWithUser};
use tower_layer::Layer;
use tower_service::Service;

/// Resolves the session of every application request once, with
/// [`Auth::session`]:
///
/// - the session (or `None`) goes into the request extensions as
///   `Option<SessionWithUser>`, where [`OptionalSession`] and
///   [`RequiredSession`] read it;
/// - the outcome's `Set-Cookie` headers (a refresh by `updateAge`, a
///   cookie-cache rewrite, or the deletion of a dead session's cookies) are
///   appended to the application's response, one header per cookie.
///
/// Requests under [`Auth::base_path`] pass through untouched: the auth API
/// resolves its own session. A kernel error (e.g. the store is down) is
/// answered with its JSON response, and the inner service is not called.
///
/// ```
/// use axum::{routing::get, Router};
/// use tessera::{Auth, Options};
/// use tessera_axum::{RequiredSession, SessionLayer};
///
/// # fn main() -> Result<(), tessera::BuildError> {
/// let auth = Auth::builder(
///     Options::new().secret("a-long-random-secret-of-at-least-32-characters!"),
/// )
/// .build()?;
/// let app: Router = Router::new()
///     .route("/me", get(|RequiredSession(s): RequiredSession| async move { s.user.name }))
///     .layer(SessionLayer::new(auth));
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
///
/// [`OptionalSession`]: crate::OptionalSession
/// [`RequiredSession`]: crate::RequiredSession
#[derive(Clone, Debug)]
pub struct SessionLayer {
    auth: Auth,
}

impl SessionLayer {
    /// A layer resolving sessions with `auth`.
    pub fn new(auth: Auth) -> Self {
        SessionLayer { auth }
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            auth: self.auth.clone(),
            inner,
        }
    }
}

/// The service [`SessionLayer`] wraps around an application.
#[derive(Clone, Debug)]
pub struct SessionService<S> {
    auth: Auth,
    inner: S,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        if self.auth.owns_path(req.uri().path()) {
            return Box::pin(self.inner.call(req));
        }
        // The service that was polled ready handles this request; a clone
        // takes its place for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        Box::pin(async move {
            let outcome = match auth.session(req.headers()).await {
                Ok(outcome) => outcome,
                Err(err) => return Ok(err.into_response().map(ResBody::from)),
            };
            req.extensions_mut()
                .insert::<Option<SessionWithUser>>(outcome.session);
            let mut res = inner.call(req).await?;
            outcome.cookies.write_to(res.headers_mut());
            Ok(res)
        })
    }
}
