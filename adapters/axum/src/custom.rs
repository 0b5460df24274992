//! [`Shaped`]: the request's session as the custom-session plugin's
//! function shapes it, as an extractor (feature `custom-session`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRef, FromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use tessera::Auth;
use tessera_custom_session::{CustomSession, SessionShaper};

use crate::RequiredSession;

/// The request's session shaped by the custom-session plugin's function:
/// the typed analogue of better-auth's `customSessionClient`. The function
/// runs on the session [`SessionLayer`](crate::SessionLayer) already
/// resolved (no second lookup, no second refresh).
///
/// Signed out, the answer is better-auth's 401 `UNAUTHORIZED`; an error
/// from the function is its own status and `{message, code}`. The router's
/// state gives the plugin and the kernel through [`FromRef`]:
///
/// ```
/// use std::sync::Arc;
/// use axum::extract::FromRef;
/// use axum::{routing::get, Router};
/// use tessera::{Auth, ApiError, Options, SessionWithUser};
/// use tessera_axum::{SessionLayer, Shaped};
/// use tessera_custom_session::{CustomSession, RequestInfo, SessionShaper};
///
/// struct Name;
/// impl SessionShaper for Name {
///     type Output = String;
///     async fn shape(&self, s: SessionWithUser, _: &RequestInfo<'_>) -> Result<String, ApiError> {
///         Ok(s.user.name)
///     }
/// }
///
/// #[derive(Clone)]
/// struct AppState {
///     auth: Auth,
///     custom: Arc<CustomSession<Name>>,
/// }
/// impl FromRef<AppState> for Auth {
///     fn from_ref(s: &AppState) -> Auth { s.auth.clone() }
/// }
/// impl FromRef<AppState> for Arc<CustomSession<Name>> {
///     fn from_ref(s: &AppState) -> Self { s.custom.clone() }
/// }
///
/// async fn me(Shaped(name): Shaped<Name>) -> String {
///     name
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let custom = Arc::new(CustomSession::with_shaper(Name));
/// let auth = Auth::builder(Options::new().secret("a-long-random-secret-of-at-least-32-characters!"))
///     .plugin(custom.clone())
///     .build()?;
/// let app: Router = Router::new()
///     .route("/me", get(me))
///     .layer(SessionLayer::new(auth.clone()))
///     .with_state(AppState { auth, custom });
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
pub struct Shaped<Sh: SessionShaper>(pub Sh::Output);

impl<Sh: SessionShaper> std::fmt::Debug for Shaped<Sh>
where
    Sh::Output: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Shaped").field(&self.0).finish()
    }
}

impl<St, Sh> FromRequestParts<St> for Shaped<Sh>
where
    St: Send + Sync,
    Sh: SessionShaper,
    Arc<CustomSession<Sh>>: FromRef<St>,
    Auth: FromRef<St>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Self::Rejection> {
        let RequiredSession(session) = RequiredSession::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let plugin = Arc::<CustomSession<Sh>>::from_ref(state);
        let auth = Auth::from_ref(state);
        match plugin
            .shape(&auth, session, &parts.headers, parts.uri.path())
            .await
        {
            Ok(shaped) => Ok(Shaped(shaped)),
            Err(err) => Err(err.into_response().map(Body::from)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;
    use tessera::store::SessionWithUser;
    use tessera::{ApiError, Options};
    use tessera_custom_session::RequestInfo;
    use tessera_testkit::records::session_with_user;

    /// Shapes to the user's name, or fails for Mallory.
    struct Name;

    impl SessionShaper for Name {
        type Output = String;
        async fn shape(
            &self,
            s: SessionWithUser,
            req: &RequestInfo<'_>,
        ) -> Result<String, ApiError> {
            if s.user.name == "Mallory" {
                return Err(ApiError::new(StatusCode::FORBIDDEN, "NO", "No"));
            }
            Ok(format!("{} at {}", s.user.name, req.path().unwrap_or("?")))
        }
    }

    #[derive(Clone)]
    struct State {
        auth: Auth,
        custom: Arc<CustomSession<Name>>,
    }

    impl FromRef<State> for Auth {
        fn from_ref(s: &State) -> Auth {
            s.auth.clone()
        }
    }

    impl FromRef<State> for Arc<CustomSession<Name>> {
        fn from_ref(s: &State) -> Self {
            s.custom.clone()
        }
    }

    fn state() -> State {
        let custom = Arc::new(CustomSession::with_shaper(Name));
        let auth =
            Auth::builder(Options::new().secret("a-long-random-secret-of-at-least-32-characters!"))
                .plugin(custom.clone())
                .build()
                .unwrap();
        State { auth, custom }
    }

    /// Request parts as `SessionLayer` leaves them (`None`: no layer).
    fn parts(layer: Option<Option<SessionWithUser>>) -> Parts {
        let (mut parts, ()) = http::Request::get("/me").body(()).unwrap().into_parts();
        if let Some(resolved) = layer {
            parts.extensions.insert(tessera::CurrentSession(resolved));
        }
        parts
    }

    async fn status_and_body(res: Response) -> (StatusCode, String) {
        let status = res.status();
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn shapes_the_layers_session_and_rejects_like_better_auth() {
        let state = state();
        let Shaped(name) = Shaped::<Name>::from_request_parts(
            &mut parts(Some(Some(session_with_user("Ada")))),
            &state,
        )
        .await
        .unwrap();
        assert_eq!(name, "Ada at /me");

        let signed_out = Shaped::<Name>::from_request_parts(&mut parts(Some(None)), &state)
            .await
            .unwrap_err();
        assert_eq!(
            status_and_body(signed_out).await,
            (
                StatusCode::UNAUTHORIZED,
                r#"{"message":"Unauthorized","code":"UNAUTHORIZED"}"#.to_owned()
            )
        );

        let refused = Shaped::<Name>::from_request_parts(
            &mut parts(Some(Some(session_with_user("Mallory")))),
            &state,
        )
        .await
        .unwrap_err();
        assert_eq!(
            status_and_body(refused).await,
            (
                StatusCode::FORBIDDEN,
                r#"{"message":"No","code":"NO"}"#.to_owned()
            )
        );

        let no_layer = Shaped::<Name>::from_request_parts(&mut parts(None), &state)
            .await
            .unwrap_err();
        assert_eq!(no_layer.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
