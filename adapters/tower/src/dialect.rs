//! [`Dialect`]: what a [`SessionService`](crate::SessionService) reads
//! from requests and writes into responses.

use bytes::Bytes;
use http::{Request, Response};
use tessera::Auth;

/// How the requests and responses around a
/// [`SessionService`](crate::SessionService) speak to the kernel: the path
/// the kernel decides on, and the kernel's own error answer as a response
/// of the service. [`PlainHttp`] fits `http` services that see the path
/// the kernel sees (axum, hyper, tower); an adapter whose platform changes
/// either brings its own (Lambda: API Gateway puts its stage in the path,
/// and responses carry `lambda_http`'s body).
pub trait Dialect<ReqBody, ResBody>: Clone + Send + 'static {
    /// The path of `req` as the kernel would see it, handed to
    /// [`Auth::app_session`]. The default is the URI's path.
    fn kernel_path<'r>(&self, auth: &Auth, req: &'r Request<ReqBody>) -> &'r str {
        let _ = auth;
        req.uri().path()
    }

    /// The kernel's error response (431, 503, with better-auth's JSON
    /// body) as a response of the service.
    fn error_response(&self, res: Response<Bytes>) -> Response<ResBody>;
}

/// The [`Dialect`] of plain `http` services: the URI's path, and a
/// response body built from the kernel's bytes (`axum::body::Body`,
/// `http_body_util::Full<Bytes>`, `Bytes`, ...).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlainHttp;

impl<ReqBody, ResBody: From<Bytes>> Dialect<ReqBody, ResBody> for PlainHttp {
    fn error_response(&self, res: Response<Bytes>) -> Response<ResBody> {
        res.map(ResBody::from)
    }
}
