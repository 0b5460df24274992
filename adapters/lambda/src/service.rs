//! [`AuthService`]: the auth API as a `lambda_http` service.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use lambda_http::{Body, Request, Service};
use tessera::Auth;

use crate::{kernel_request, lambda_response};

/// Serves the auth API: converts the request with [`kernel_request`],
/// answers with [`Auth::handle`] and converts the response with
/// [`lambda_response`]. Paths outside the base path answer 404.
///
/// No body limit is applied: Lambda refuses payloads over 6 MB before the
/// function runs.
#[derive(Clone, Debug)]
pub struct AuthService {
    auth: Auth,
}

impl AuthService {
    /// Serves `auth`.
    pub fn new(auth: Auth) -> Self {
        AuthService { auth }
    }

    /// The kernel served.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }
}

impl Service<Request> for AuthService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let auth = self.auth.clone();
        Box::pin(async move {
            let req = kernel_request(&auth, req);
            Ok(lambda_response(auth.handle(req).await))
        })
    }
}
