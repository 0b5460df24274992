//! [`SessionMiddleware`]: the session of every application request.

use std::fmt;
use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::HeaderValue;
use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use tessera::{Auth, CurrentSession};

use crate::convert;

/// Resolves the session of every request outside the auth API once
/// ([`Auth::app_session`]), stores it in the request extensions as a
/// [`CurrentSession`] (read it with
/// [`OptionalSession`](crate::OptionalSession) or
/// [`RequiredSession`](crate::RequiredSession)) and appends the outcome's
/// `Set-Cookie` headers — a refresh, or the deletion of a dead session's
/// cookies — to the response, error responses included.
///
/// Requests under [`Auth::base_path`] pass through untouched: the auth API
/// does its own cookie work. The rule is the kernel's ([`Auth::owns_path`]),
/// the one every adapter's session layer follows. A kernel error (e.g.
/// storage unavailable) is answered with its JSON response; the
/// application is not called then.
///
/// ```
/// use actix_web::App;
/// # let auth = tessera::Auth::builder(
/// #     tessera::Options::new().secret("a-long-random-secret-of-at-least-32-characters!"),
/// # ).build().unwrap();
/// let app = App::new()
///     .wrap(tessera_actix::SessionMiddleware::new(auth.clone()))
///     .configure(tessera_actix::configure(auth));
/// # let _ = app;
/// ```
#[derive(Clone, Debug)]
pub struct SessionMiddleware {
    auth: Auth,
}

impl SessionMiddleware {
    /// Resolves sessions with `auth`.
    pub fn new(auth: Auth) -> Self {
        SessionMiddleware { auth }
    }
}

impl<S, B> Transform<S, ServiceRequest> for SessionMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = SessionService<S>;
    type InitError = ();
    type Future = Ready<Result<SessionService<S>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(SessionService {
            auth: self.auth.clone(),
            service: Rc::new(service),
        }))
    }
}

/// The service [`SessionMiddleware`] wraps an application in.
#[derive(Debug)]
pub struct SessionService<S> {
    auth: Auth,
    service: Rc<S>,
}

impl<S, B> Service<ServiceRequest> for SessionService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let pending = self.auth.app_session(req.path());
        let service = Rc::clone(&self.service);
        Box::pin(async move {
            let Some(pending) = pending else {
                return service
                    .call(req)
                    .await
                    .map(ServiceResponse::map_into_left_body);
            };
            let outcome = match pending.resolve(&convert::headers_of(req.headers())).await {
                Ok(outcome) => outcome,
                Err(err) => {
                    let res = convert::response(err.into_response());
                    return Ok(req.into_response(res).map_into_right_body());
                }
            };
            req.extensions_mut().insert(CurrentSession(outcome.session));
            let cookies = convert::set_cookies(&outcome.cookies);
            match service.call(req).await {
                Ok(mut res) => {
                    convert::append_set_cookies(res.headers_mut(), &cookies);
                    Ok(res.map_into_left_body())
                }
                Err(error) if cookies.is_empty() => Err(error),
                // The request is gone (an `HttpRequest` must not be cloned
                // across routing), so the cookies ride on the error and are
                // added when actix renders it.
                Err(error) => Err(CookiesOnError { error, cookies }.into()),
            }
        })
    }
}

/// An application error whose response must still carry the session's
/// `Set-Cookie` headers.
struct CookiesOnError {
    error: actix_web::Error,
    cookies: Vec<HeaderValue>,
}

impl fmt::Debug for CookiesOnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.error, f)
    }
}

impl fmt::Display for CookiesOnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl ResponseError for CookiesOnError {
    fn status_code(&self) -> StatusCode {
        self.error.as_response_error().status_code()
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        let mut res = self.error.error_response();
        convert::append_set_cookies(res.headers_mut(), &self.cookies);
        res
    }
}
