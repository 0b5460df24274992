//! [`OptionalSession`] and [`RequiredSession`]: the session
//! [`SessionLayer`](crate::SessionLayer) resolved, as extractors.

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;
use tessera::{ApiError, CurrentSession, SessionWithUser};

/// The request's session, or `None` when signed out. Needs
/// [`SessionLayer`](crate::SessionLayer) on the route.
#[derive(Clone, Debug)]
pub struct OptionalSession(pub Option<SessionWithUser>);

/// The request's session; without one the handler is not called and the
/// answer is better-auth's 401 `{"message":"Unauthorized","code":"UNAUTHORIZED"}`.
/// Needs [`SessionLayer`](crate::SessionLayer) on the route.
#[derive(Clone, Debug)]
pub struct RequiredSession(pub SessionWithUser);

/// Why a session extractor refused a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionRejection {
    /// [`RequiredSession`] on a signed-out request: 401 `UNAUTHORIZED`.
    #[error("the request has no session")]
    Unauthorized,
    /// The route is not behind [`SessionLayer`](crate::SessionLayer): a
    /// programming error, answered 500 with a generic body and logged.
    #[error(
        "a session extractor ran on a route without tessera_axum::SessionLayer; \
         add `.layer(SessionLayer::new(auth))` to the router"
    )]
    MissingLayer,
}

impl SessionRejection {
    /// The status it answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            SessionRejection::Unauthorized => StatusCode::UNAUTHORIZED,
            SessionRejection::MissingLayer => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        let err = match self {
            SessionRejection::Unauthorized => ApiError::unauthorized(),
            SessionRejection::MissingLayer => {
                ApiError::internal("INTERNAL_SERVER_ERROR", "Internal Server Error", &self)
            }
        };
        err.into_response().map(Body::from)
    }
}

/// What the layer stored, or the missing-layer rejection.
fn stored(parts: &Parts) -> Result<&CurrentSession, SessionRejection> {
    parts
        .extensions
        .get::<CurrentSession>()
        .ok_or(SessionRejection::MissingLayer)
}

impl<S: Send + Sync> FromRequestParts<S> for OptionalSession {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        stored(parts).map(|s| OptionalSession(s.0.clone()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequiredSession {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        stored(parts)?
            .get()
            .cloned()
            .map(RequiredSession)
            .ok_or(SessionRejection::Unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(res: Response) -> Vec<u8> {
        axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec()
    }

    #[tokio::test]
    async fn missing_layer_is_a_500_with_a_generic_body() {
        let (mut parts, ()) = http::Request::new(()).into_parts();
        let err = RequiredSession::from_request_parts(&mut parts, &())
            .await
            .unwrap_err();
        assert!(matches!(err, SessionRejection::MissingLayer));
        let res = err.into_response();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body_of(res).await,
            br#"{"message":"Internal Server Error","code":"INTERNAL_SERVER_ERROR"}"#
        );
    }

    #[tokio::test]
    async fn signed_out_request_is_better_auths_401() {
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.extensions.insert(CurrentSession(None));
        let optional = OptionalSession::from_request_parts(&mut parts, &())
            .await
            .unwrap();
        assert!(optional.0.is_none());
        let res = RequiredSession::from_request_parts(&mut parts, &())
            .await
            .unwrap_err()
            .into_response();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            body_of(res).await,
            br#"{"message":"Unauthorized","code":"UNAUTHORIZED"}"#
        );
    }
}
