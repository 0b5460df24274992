//! [`WithSession`]: the session of an application request.

use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tessera::{Auth, CurrentSession, SessionWithUser};
use tessera_tower::{ResponseFuture, SessionService};

/// Wraps an application service in `tessera_tower`'s
/// [`SessionService`]: a request under the auth API's base path passes
/// through untouched; any other gets its session resolved
/// ([`Auth::app_session`]) and inserted into the request extensions as a
/// [`CurrentSession`] (read it with [`session`]), and the session's
/// `Set-Cookie` headers (one header per cookie) appended to the inner
/// response.
///
/// A kernel error is answered with its JSON response; the inner service is
/// not called then.
///
/// It is a [`hyper::service::Service`] around a hyper service, and a
/// [`tower_service::Service`] around a tower service (readiness is the
/// inner service's).
#[derive(Clone, Debug)]
pub struct WithSession<S> {
    service: SessionService<S>,
}

impl<S> WithSession<S> {
    /// Wraps `inner`.
    pub fn new(auth: Auth, inner: S) -> Self {
        WithSession {
            service: SessionService::new(auth, inner),
        }
    }

    /// The wrapped service.
    pub fn inner(&self) -> &S {
        self.service.inner()
    }
}

/// The session [`WithSession`] resolved for `req`, if any.
pub fn session<B>(req: &Request<B>) -> Option<&SessionWithUser> {
    req.extensions()
        .get::<CurrentSession>()
        .and_then(CurrentSession::get)
}

impl<S, ReqBody, ResBody> hyper::service::Service<Request<ReqBody>> for WithSession<S>
where
    S: hyper::service::Service<Request<ReqBody>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn call(&self, req: Request<ReqBody>) -> Self::Future {
        self.service.call_shared(req, |inner, req| inner.call(req))
    }
}

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for WithSession<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.service.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        self.service.call(req)
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::future::{ready, Ready};
    use std::sync::Arc;

    use http::header::{COOKIE, SET_COOKIE};
    use http::StatusCode;
    use http_body_util::{BodyExt, Full};
    use tessera::store::MemoryDatabase;
    use tessera::Options;

    use super::*;
    use crate::AuthService;

    const ORIGIN: &str = "http://127.0.0.1:3000";

    fn auth() -> Auth {
        Auth::builder(
            Options::new()
                .secret("a-long-random-secret-of-at-least-32-characters!")
                .base_url(ORIGIN)
                .rate_limit(false),
        )
        .database(Arc::new(MemoryDatabase::new()))
        .build()
        .unwrap()
    }

    /// A tower service answering with the email of the session it was
    /// handed, or `anonymous`.
    #[derive(Clone)]
    struct Whoami;

    impl tower_service::Service<Request<Full<Bytes>>> for Whoami {
        type Response = Response<Full<Bytes>>;
        type Error = Infallible;
        type Future = Ready<Result<Self::Response, Infallible>>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: Request<Full<Bytes>>) -> Self::Future {
            let who = session(&req).map_or("anonymous".to_owned(), |s| s.user.email.clone());
            ready(Ok(Response::new(Full::new(Bytes::from(who)))))
        }
    }

    async fn tower_oneshot<S, R>(mut service: S, req: R) -> Result<S::Response, S::Error>
    where
        S: tower_service::Service<R>,
    {
        std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
        service.call(req).await
    }

    async fn text(res: Response<Full<Bytes>>) -> String {
        let body = res.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    }

    fn post(path: &str, cookie: Option<&str>, body: &str) -> Request<Full<Bytes>> {
        let mut req = Request::post(path)
            .header("origin", ORIGIN)
            .header("content-type", "application/json");
        if let Some(cookie) = cookie {
            req = req.header(COOKIE, cookie);
        }
        req.body(Full::new(Bytes::from(body.to_owned()))).unwrap()
    }

    fn get(path: &str, cookie: &str) -> Request<Full<Bytes>> {
        Request::get(path)
            .header(COOKIE, cookie)
            .body(Full::new(Bytes::new()))
            .unwrap()
    }

    #[tokio::test]
    async fn tower_with_session_hands_the_session_and_appends_its_cookies() {
        let auth = auth();
        let api = AuthService::new(auth.clone());
        let app = WithSession::new(auth, Whoami);

        let res = tower_oneshot(
            app.clone(),
            Request::get("/").body(Full::new(Bytes::new())).unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(text(res).await, "anonymous");

        let body = r#"{"email":"ada@example.com","password":"password1234","name":"Ada"}"#;
        let res = tower_oneshot(api.clone(), post("/api/auth/sign-up/email", None, body))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let cookie = res.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();

        let res = tower_oneshot(app.clone(), get("/", &cookie)).await.unwrap();
        assert_eq!(text(res).await, "ada@example.com");

        // Signed out elsewhere: the app's response deletes the dead
        // session's cookies, one header per cookie.
        let res = tower_oneshot(api, post("/api/auth/sign-out", Some(&cookie), "{}"))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let res = tower_oneshot(app, get("/", &cookie)).await.unwrap();
        let deleted: Vec<&str> = res
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert!(
            deleted.len() > 1
                && deleted
                    .iter()
                    .any(|c| c.starts_with("better-auth.session_token=;")),
            "{deleted:?}"
        );
        assert_eq!(text(res).await, "anonymous");
    }
}
