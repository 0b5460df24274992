//! [`Shaped`]: the request's session as the custom-session plugin's
//! function shapes it, as an extractor (feature `custom-session`).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use tessera::{ApiError, Auth};
use tessera_custom_session::{CustomSession, SessionShaper};

use crate::{convert, RequiredSession};

/// The request's session shaped by the custom-session plugin's function,
/// the typed analogue of better-auth's `customSessionClient`, matching
/// `tessera_axum::Shaped`. The function runs on the session
/// [`SessionMiddleware`](crate::SessionMiddleware) already resolved.
///
/// Signed out, the answer is better-auth's 401 `UNAUTHORIZED`; an error
/// from the function is its own status and `{message, code}`. The app
/// provides the plugin and the kernel as app data:
///
/// ```
/// use std::sync::Arc;
/// use actix_web::{web, App};
/// use tessera::{Auth, ApiError, Options, SessionWithUser};
/// use tessera_actix::{SessionMiddleware, Shaped};
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
/// async fn me(Shaped(name): Shaped<Name>) -> String {
///     name
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let custom = Arc::new(CustomSession::with_shaper(Name));
/// let auth = Auth::builder(Options::new().secret("a-long-random-secret-of-at-least-32-characters!"))
///     .plugin(custom.clone())
///     .build()?;
/// let app = App::new()
///     .app_data(web::Data::new(auth.clone()))
///     .app_data(web::Data::from(custom))
///     .wrap(SessionMiddleware::new(auth))
///     .route("/me", web::get().to(me));
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

/// An answer other than the shaped session, as the API would give it.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.message)]
struct Refused(ApiError);

impl ResponseError for Refused {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        convert::response(self.0.clone().into_response())
    }
}

impl<Sh: SessionShaper> FromRequest for Shaped<Sh> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = RequiredSession::from_request(req, payload).into_inner();
        let plugin = req.app_data::<web::Data<CustomSession<Sh>>>().cloned();
        let auth = req.app_data::<web::Data<Auth>>().cloned();
        let headers = convert::headers_of(req.headers());
        let path = req.path().to_owned();
        Box::pin(async move {
            let RequiredSession(session) = session?;
            let (Some(plugin), Some(auth)) = (plugin, auth) else {
                let err = "tessera_actix::Shaped needs web::Data<Auth> and \
                           web::Data<CustomSession<_>> in the app data";
                tracing::error!(path, "{err}");
                return Err(Refused(ApiError::internal(
                    "INTERNAL_SERVER_ERROR",
                    "Internal Server Error",
                    &std::io::Error::other(err),
                ))
                .into());
            };
            match plugin.shape(&auth, session, &headers, &path).await {
                Ok(shaped) => Ok(Shaped(shaped)),
                Err(err) => Err(Refused(err).into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use actix_web::test::TestRequest;
    use actix_web::{body, HttpMessage as _};
    use tessera::store::SessionWithUser;
    use tessera::Options;
    use tessera_custom_session::RequestInfo;
    use tessera_testkit::records::session_with_user;

    use super::*;

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
                return Err(ApiError::new(http::StatusCode::FORBIDDEN, "NO", "No"));
            }
            Ok(format!("{} at {}", s.user.name, req.path().unwrap_or("?")))
        }
    }

    /// A request as the middleware leaves it, with or without app data.
    fn request(resolved: Option<SessionWithUser>, app_data: bool) -> HttpRequest {
        let custom = Arc::new(CustomSession::with_shaper(Name));
        let auth =
            Auth::builder(Options::new().secret("a-long-random-secret-of-at-least-32-characters!"))
                .plugin(custom.clone())
                .build()
                .unwrap();
        let mut req = TestRequest::get().uri("/me");
        if app_data {
            req = req
                .app_data(web::Data::new(auth))
                .app_data(web::Data::from(custom));
        }
        let req = req.to_http_request();
        req.extensions_mut()
            .insert(tessera::CurrentSession(resolved));
        req
    }

    async fn answer(req: HttpRequest) -> Result<String, (u16, String)> {
        match Shaped::<Name>::extract(&req).await {
            Ok(Shaped(s)) => Ok(s),
            Err(err) => {
                let res = err.error_response();
                let status = res.status().as_u16();
                let bytes = body::to_bytes(res.into_body()).await.unwrap();
                Err((status, String::from_utf8(bytes.to_vec()).unwrap()))
            }
        }
    }

    #[actix_web::test]
    async fn shapes_the_middlewares_session_and_rejects_like_better_auth() {
        assert_eq!(
            answer(request(Some(session_with_user("Ada")), true)).await,
            Ok("Ada at /me".to_owned())
        );
        assert_eq!(
            answer(request(None, true)).await,
            Err((
                401,
                r#"{"message":"Unauthorized","code":"UNAUTHORIZED"}"#.to_owned()
            ))
        );
        assert_eq!(
            answer(request(Some(session_with_user("Mallory")), true)).await,
            Err((403, r#"{"message":"No","code":"NO"}"#.to_owned()))
        );
        let (status, _) = answer(request(Some(session_with_user("Ada")), false))
            .await
            .unwrap_err();
        assert_eq!(status, 500);
    }
}
