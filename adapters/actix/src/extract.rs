//! [`OptionalSession`] and [`RequiredSession`]: the session
//! [`SessionMiddleware`](crate::SessionMiddleware) resolved, as extractors.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use tessera::{ApiError, CurrentSession, SessionWithUser};

use crate::convert;

/// The request's session, or `None` when signed out. Needs
/// [`SessionMiddleware`](crate::SessionMiddleware) around the route.
#[derive(Clone, Debug)]
pub struct OptionalSession(pub Option<SessionWithUser>);

/// The request's session; without one the handler is not called and the
/// answer is better-auth's 401 `{"message":"Unauthorized","code":"UNAUTHORIZED"}`.
/// Needs [`SessionMiddleware`](crate::SessionMiddleware) around the route.
#[derive(Clone, Debug)]
pub struct RequiredSession(pub SessionWithUser);

/// Why a session extractor refused a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionRejection {
    /// [`RequiredSession`] on a signed-out request: 401 `UNAUTHORIZED`.
    #[error("the request has no session")]
    Unauthorized,
    /// The route is not behind [`SessionMiddleware`](crate::SessionMiddleware):
    /// a programming error, answered 500 with a generic body and logged.
    #[error(
        "a session extractor ran on a route without tessera_actix::SessionMiddleware; \
         add `.wrap(SessionMiddleware::new(auth))` to the app or scope"
    )]
    MissingMiddleware,
}

impl SessionRejection {
    fn api_error(&self) -> ApiError {
        match self {
            SessionRejection::Unauthorized => ApiError::unauthorized(),
            SessionRejection::MissingMiddleware => {
                ApiError::internal("INTERNAL_SERVER_ERROR", "Internal Server Error", self)
            }
        }
    }
}

impl ResponseError for SessionRejection {
    fn status_code(&self) -> StatusCode {
        match self {
            SessionRejection::Unauthorized => StatusCode::UNAUTHORIZED,
            SessionRejection::MissingMiddleware => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        convert::response(self.api_error().into_response())
    }
}

/// What the middleware stored, or the missing-middleware rejection (logged
/// here, once, with the fix; the client sees a generic 500).
fn stored(req: &HttpRequest) -> Result<Option<SessionWithUser>, SessionRejection> {
    match req.extensions().get::<CurrentSession>() {
        Some(current) => Ok(current.0.clone()),
        None => {
            let err = SessionRejection::MissingMiddleware;
            tracing::error!(path = req.path(), "{err}");
            Err(err)
        }
    }
}

impl FromRequest for OptionalSession {
    type Error = SessionRejection;
    type Future = Ready<Result<Self, SessionRejection>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(stored(req).map(OptionalSession))
    }
}

impl FromRequest for RequiredSession {
    type Error = SessionRejection;
    type Future = Ready<Result<Self, SessionRejection>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            stored(req).and_then(|s| s.map(RequiredSession).ok_or(SessionRejection::Unauthorized)),
        )
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;
    use actix_web::test::TestRequest;

    use super::*;

    async fn body_of(err: SessionRejection) -> (StatusCode, Vec<u8>) {
        let res = err.error_response();
        let status = res.status();
        (status, to_bytes(res.into_body()).await.unwrap().to_vec())
    }

    #[actix_web::test]
    async fn missing_middleware_is_a_500_with_a_generic_body() {
        let req = TestRequest::default().to_http_request();
        let err = RequiredSession::extract(&req).await.unwrap_err();
        assert!(matches!(err, SessionRejection::MissingMiddleware));
        assert!(OptionalSession::extract(&req).await.is_err());
        assert_eq!(
            body_of(err).await,
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                br#"{"message":"Internal Server Error","code":"INTERNAL_SERVER_ERROR"}"#.to_vec()
            )
        );
    }

    #[actix_web::test]
    async fn signed_out_request_is_better_auths_401() {
        let req = TestRequest::default().to_http_request();
        req.extensions_mut().insert(CurrentSession(None));
        assert!(OptionalSession::extract(&req).await.unwrap().0.is_none());
        let err = RequiredSession::extract(&req).await.unwrap_err();
        assert_eq!(
            body_of(err).await,
            (
                StatusCode::UNAUTHORIZED,
                br#"{"message":"Unauthorized","code":"UNAUTHORIZED"}"#.to_vec()
            )
        );
    }
}
