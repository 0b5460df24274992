//! [`AuthAndApp`]: the auth API and an application behind one function.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use lambda_http::{Body, Request, Service};
use pin_project_lite::pin_project;
use tessera::Auth;
use tessera_tower::ResponseFuture;

use crate::request::auth_api_path;
use crate::{AppFuture, AuthService, WithSession};

/// Sends requests under the auth API's base path (stage-aware, as
/// [`kernel_request`](crate::kernel_request) reads it) to [`AuthService`],
/// and every other request to the application, wrapped in [`WithSession`].
#[derive(Clone, Debug)]
pub struct AuthAndApp<S> {
    auth: AuthService,
    app: WithSession<S>,
}

impl<S> AuthAndApp<S> {
    /// Serves `auth` and `app`.
    pub fn new(auth: Auth, app: S) -> Self {
        AuthAndApp {
            app: WithSession::new(auth.clone(), app),
            auth: AuthService::new(auth),
        }
    }
}

impl<S, B> Service<Request> for AuthAndApp<S>
where
    S: Service<Request, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Into<Body>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = AuthAndAppFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.app.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let route = if auth_api_path(self.auth.auth(), &req).is_none() {
            Route::App {
                future: self.app.call(req),
            }
        } else {
            Route::Api {
                future: self.auth.call(req),
            }
        };
        AuthAndAppFuture { route }
    }
}

/// The auth API's answer, never an error.
type ApiFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

pin_project! {
    /// The response future of [`AuthAndApp`]: the auth API's or the
    /// application's, whichever the request went to.
    pub struct AuthAndAppFuture<F>
    where
        AppFuture<F>: Future,
    {
        #[pin]
        route: Route<F>,
    }
}

pin_project! {
    #[project = RouteProj]
    enum Route<F>
    where
        AppFuture<F>: Future,
    {
        Api { future: ApiFuture },
        App { #[pin] future: ResponseFuture<AppFuture<F>> },
    }
}

impl<F, B, E> Future for AuthAndAppFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Into<Body>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().route.project() {
            RouteProj::Api { future } => future
                .as_mut()
                .poll(cx)
                .map(|res| res.map_err(|never| match never {})),
            RouteProj::App { future } => future.poll(cx),
        }
    }
}

impl<F> std::fmt::Debug for AuthAndAppFuture<F>
where
    AppFuture<F>: Future,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthAndAppFuture").finish_non_exhaustive()
    }
}
