//! [`run`] and [`run_with_app`]: the Lambda runtime loop.

use std::fmt::Debug;

use http::Response;
use lambda_http::lambda_runtime::Diagnostic;
use lambda_http::{Body, Error, Request, Service};
use tessera::Auth;

use crate::{AuthAndApp, AuthService};

/// Runs the auth API of `auth` on Lambda: polls the Runtime API for
/// invocations and answers each with [`AuthService`], until the Runtime
/// API fails.
///
/// Reads the runtime's environment (`AWS_LAMBDA_RUNTIME_API`,
/// `AWS_LAMBDA_FUNCTION_NAME`, …); does no other I/O before the first
/// invocation.
///
/// # Panics
///
/// When the Lambda environment variables are missing, as
/// [`lambda_http::run`] does.
pub async fn run(auth: Auth) -> Result<(), Error> {
    lambda_http::run(AuthService::new(auth)).await
}

/// Runs the auth API and an application on Lambda: requests under the base
/// path go to the auth API, the others to `app`, which finds the session
/// in its request extensions (read it with [`session`](crate::session))
/// and whose response gets the session's `Set-Cookie` headers. See
/// [`AuthAndApp`].
///
/// # Panics
///
/// When the Lambda environment variables are missing, as
/// [`lambda_http::run`] does.
pub async fn run_with_app<S, B>(auth: Auth, app: S) -> Result<(), Error>
where
    S: Service<Request, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Debug + Into<Diagnostic> + Send + 'static,
    B: Into<Body>,
{
    lambda_http::run(AuthAndApp::new(auth, app)).await
}
