//! [`AuthService`]: the auth API as a hyper service.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Body;
use tessera::api::codes;
use tessera::Auth;

/// The default request body limit of [`AuthService`]: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Serves the auth API: collects the request body (at most
/// [`AuthService::body_limit`] bytes, else 413) and answers with
/// [`Auth::handle`]. Paths outside the base path answer 404.
#[derive(Clone, Debug)]
pub struct AuthService {
    auth: Auth,
    body_limit: usize,
}

impl AuthService {
    /// Serves `auth` with the [`DEFAULT_BODY_LIMIT`].
    pub fn new(auth: Auth) -> Self {
        AuthService {
            auth,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// Sets the largest accepted request body, in bytes.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The kernel served.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }
}

/// The future of [`AuthService`]: the kernel's response, never an error.
type AuthFuture = Pin<Box<dyn Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send>>;

impl AuthService {
    fn respond<B>(&self, req: Request<B>) -> AuthFuture
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let auth = self.auth.clone();
        let limit = self.body_limit;
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let res = match collect(body, limit).await {
                Ok(bytes) => auth.handle(Request::from_parts(parts, bytes)).await,
                Err(res) => res,
            };
            Ok(res.map(Full::new))
        })
    }
}

impl<B> hyper::service::Service<Request<B>> for AuthService
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = AuthFuture;

    fn call(&self, req: Request<B>) -> Self::Future {
        self.respond(req)
    }
}

/// The same service for tower: mount the auth API in anything that takes a
/// `tower::Service` (e.g. axum's `Router::route_service` on
/// `/api/auth/{*rest}`: the kernel needs the full path), or wrap it in
/// tower layers. Always ready; the kernel applies no backpressure.
impl<B> tower_service::Service<Request<B>> for AuthService
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = AuthFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.respond(req)
    }
}

/// The whole body, or the response refusing it.
async fn collect<B>(body: B, limit: usize) -> Result<Bytes, Response<Bytes>>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // A declared Content-Length over the limit is refused without reading.
    if body.size_hint().lower() > limit as u64 {
        return Err(too_large());
    }
    // Most auth traffic is GET /get-session, whose body hyper knows is empty.
    if body.is_end_stream() {
        return Ok(Bytes::new());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<LengthLimitError>() => Err(too_large()),
        Err(err) => {
            // The client went away or sent a malformed body; the answer
            // probably never arrives, but it must not be a 500.
            tracing::debug!(error = %err, "failed to read request body");
            Err(codes::body_unreadable().into_response())
        }
    }
}

fn too_large() -> Response<Bytes> {
    codes::payload_too_large().into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;
    use hyper::service::Service;

    fn auth() -> Auth {
        Auth::builder(
            tessera::Options::new()
                .secret("a-long-random-secret-of-at-least-32-characters!")
                .rate_limit(false),
        )
        .build()
        .unwrap()
    }

    #[tokio::test]
    async fn body_over_limit_answers_413_json() {
        let service = AuthService::new(auth()).body_limit(8);
        let req = Request::post("/api/auth/sign-up/email")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(b"{\"email\":\"too long\"}")))
            .unwrap();
        let res = service.call(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            body.as_ref(),
            br#"{"message":"Request body too large","code":"PAYLOAD_TOO_LARGE"}"#
        );
    }

    #[tokio::test]
    async fn body_without_length_over_limit_answers_413() {
        let service = AuthService::new(auth()).body_limit(8);
        // `map_frame` hides the length, as a chunked upload would.
        let body = Full::new(Bytes::from_static(b"{\"email\":\"too long\"}")).map_frame(|f| f);
        assert_eq!(body.size_hint().upper(), None);
        let req = Request::post("/api/auth/sign-up/email")
            .header("content-type", "application/json")
            .body(body)
            .unwrap();
        let res = service.call(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn streamed_bodies_are_read_and_known_empty_ones_skipped() {
        let service = AuthService::new(auth());
        let json = Bytes::from_static(br#"{"email":"a@example.com","password":"short"}"#);
        let answer = |body: Bytes| async {
            let res = service.clone().respond(
                Request::post("/api/auth/sign-up/email")
                    .header("content-type", "application/json")
                    .body(Full::new(body))
                    .unwrap(),
            );
            let res = res.await.unwrap();
            let status = res.status();
            (status, res.into_body().collect().await.unwrap().to_bytes())
        };
        let whole = answer(json.clone()).await;
        assert_eq!(whole.0, StatusCode::BAD_REQUEST, "{:?}", whole.1);
        // Without a length hyper cannot know the end: the body is read.
        let streamed = service
            .clone()
            .respond(
                Request::post("/api/auth/sign-up/email")
                    .header("content-type", "application/json")
                    .body(Full::new(json).map_frame(|f| f))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(streamed.status(), whole.0);
        let streamed = streamed.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(streamed, whole.1);
        // A body known to be empty answers as an empty one.
        let empty = answer(Bytes::new()).await;
        assert_ne!(empty.1, whole.1);
    }

    /// Drives a tower service as tower's `ServiceExt::oneshot` would.
    async fn tower_oneshot<S, R>(mut service: S, req: R) -> Result<S::Response, S::Error>
    where
        S: tower_service::Service<R>,
    {
        std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
        service.call(req).await
    }

    #[tokio::test]
    async fn tower_service_serves_the_auth_api() {
        let res = tower_oneshot(
            AuthService::new(auth()),
            Request::get("/api/auth/ok")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body.as_ref(), br#"{"ok":true}"#);
    }

    #[tokio::test]
    async fn tower_service_applies_the_body_limit() {
        let req = Request::post("/api/auth/sign-up/email")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(b"{\"email\":\"too long\"}")))
            .unwrap();
        let res = tower_oneshot(AuthService::new(auth()).body_limit(8), req)
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn body_within_limit_reaches_the_kernel() {
        let service = AuthService::new(auth());
        let req = Request::get("/api/auth/ok")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let res = service.call(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body.as_ref(), br#"{"ok":true}"#);
    }
}
