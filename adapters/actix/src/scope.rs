//! [`scope`] and [`configure`]: the auth API as an actix scope.

use actix_web::dev::{fn_service, Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::{web, FromRequest as _, HttpRequest, HttpResponse};
use bytes::Bytes;
use tessera::api::codes;
use tessera::{ApiError, Auth};

use crate::convert;

/// The auth API ([`Auth::handle`]) as an actix [`Scope`](actix_web::Scope)
/// mounted at [`Auth::base_path`]: every method and every path under it.
///
/// The request body is read with actix's
/// [`PayloadConfig`](web::PayloadConfig) (256 KiB unless configured, on the
/// app or on this scope); a larger body answers 413
/// `{"message":"Request body too large","code":"PAYLOAD_TOO_LARGE"}`.
///
/// ```
/// use actix_web::{web, App};
/// # let auth = tessera::Auth::builder(
/// #     tessera::Options::new().secret("a-long-random-secret-of-at-least-32-characters!"),
/// # ).build().unwrap();
/// let app = App::new().service(
///     tessera_actix::scope(auth).app_data(web::PayloadConfig::new(64 * 1024)),
/// );
/// # let _ = app;
/// ```
pub fn scope(auth: Auth) -> actix_web::Scope {
    let base_path = auth.base_path().to_owned();
    // A service over the raw `ServiceRequest` rather than a handler with
    // extractors: the kernel wants the head and the payload, nothing else.
    web::scope(&base_path).default_service(fn_service(move |req: ServiceRequest| {
        let auth = auth.clone();
        async move {
            let (req, payload) = req.into_parts();
            let res = handle(&auth, &req, payload).await;
            Ok(ServiceResponse::new(req, res))
        }
    }))
}

/// Registers [`scope`] on an app (mount it at the root: the kernel routes
/// by the full path):
/// `App::new().configure(tessera_actix::configure(auth))`.
pub fn configure(auth: Auth) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(scope(auth));
    }
}

async fn handle(auth: &Auth, req: &HttpRequest, payload: Payload) -> HttpResponse {
    // Read the body with actix's `Bytes` extractor, and so its
    // `PayloadConfig`, only when actix has one to read: most auth traffic
    // is GET /get-session.
    let body = match payload {
        Payload::None => Ok(Bytes::new()),
        mut payload => Bytes::from_request(req, &mut payload).await,
    };
    let body = match body {
        Ok(body) => body,
        Err(err) => return convert::response(refused(&err).into_response()),
    };
    let res = match convert::request(req, body) {
        Ok(request) => auth.handle_from(request, convert::peer(req)).await,
        // actix already parsed method and URI; both re-parse the same way.
        Err(err) => ApiError::internal("INTERNAL_SERVER_ERROR", "Internal Server Error", &err)
            .into_response(),
    };
    convert::response(res)
}

/// Why a body could not be read, as better-auth-shaped JSON.
fn refused(err: &actix_web::Error) -> ApiError {
    match err.as_error::<PayloadError>() {
        Some(PayloadError::Overflow) => codes::payload_too_large(),
        _ => {
            // The client went away, sent a malformed body, or a configured
            // PayloadConfig mime type did not match; never a 500.
            tracing::debug!(error = %err, "failed to read request body");
            codes::body_unreadable()
        }
    }
}
