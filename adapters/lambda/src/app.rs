//! [`AuthAndApp`]: the auth API and an application behind one function.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use lambda_http::{Body, Request, Service};
use tessera::Auth;

use crate::request::auth_api_path;
use crate::{AuthService, WithSession};

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
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.app.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if auth_api_path(self.auth.auth(), &req).is_none() {
            return self.app.call(req);
        }
        let auth = self.auth.call(req);
        Box::pin(async move {
            match auth.await {
                Ok(res) => Ok(res),
                Err(never) => match never {},
            }
        })
    }
}
