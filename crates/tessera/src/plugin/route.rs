//! Endpoints and routes: what a plugin (or the kernel's core) adds to the
//! route table, written as an async closure or as an [`Endpoint`] impl.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use http::Method;

use super::{Ctx, Reply};
use crate::error::ApiError;

/// A boxed, `Send` future borrowing for `'a`: what closure endpoints and
/// hooks return (`|ctx| Box::pin(async move { … })`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An endpoint's outcome (or a before hook's, with `T = Option<Reply>`): a
/// reply, or an error answered as better-auth's
/// `{message, code}`.
pub type EndpointResult<T = Reply> = Result<T, ApiError>;

/// An endpoint as a trait impl. Endpoints written as closures
/// ([`Route::get`], [`Route::post`]) need no impl.
#[async_trait]
pub trait Endpoint: Send + Sync + 'static {
    /// Handles one request.
    async fn call(&self, ctx: &mut Ctx<'_>) -> EndpointResult;
}

/// Which media types an endpoint accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyKind {
    /// `application/json` only.
    Json,
    /// `application/json` or `application/x-www-form-urlencoded`.
    JsonOrForm,
}

/// A routed endpoint with what the router must know before calling it.
#[derive(Clone)]
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Path relative to the base path, e.g. `/get-session`.
    pub path: String,
    /// Media types accepted for a body (`None`: the body is ignored).
    pub body: Option<BodyKind>,
    /// Apply the sign-in form CSRF rules (spec §7.2 `formCsrfMiddleware`).
    pub form_csrf: bool,
    /// Check the query's `callbackURL` against the trusted origins, on a
    /// `GET` too (better-auth's `originCheck((ctx) => ctx.query.callbackURL)`
    /// on the routes a mailed link opens).
    pub query_callback_url: bool,
    /// The handler.
    pub endpoint: Arc<dyn Endpoint>,
}

/// A closure endpoint.
struct FnEndpoint<F>(F);

#[async_trait]
impl<F> Endpoint for FnEndpoint<F>
where
    F: for<'a, 'c> Fn(&'a mut Ctx<'c>) -> BoxFuture<'a, EndpointResult> + Send + Sync + 'static,
{
    async fn call(&self, ctx: &mut Ctx<'_>) -> EndpointResult {
        (self.0)(ctx).await
    }
}

impl Route {
    /// A route taking a JSON body (or none, for `GET`), to an [`Endpoint`] impl.
    pub fn new(method: Method, path: impl Into<String>, endpoint: Arc<dyn Endpoint>) -> Self {
        let body = (method != Method::GET && method != Method::HEAD).then_some(BodyKind::Json);
        Route {
            method,
            path: path.into(),
            body,
            form_csrf: false,
            query_callback_url: false,
            endpoint,
        }
    }

    /// A route to a closure endpoint, for any method: a JSON body (none for
    /// `GET` and `HEAD`).
    pub fn with_fn<F>(method: Method, path: impl Into<String>, endpoint: F) -> Self
    where
        F: for<'a, 'c> Fn(&'a mut Ctx<'c>) -> BoxFuture<'a, EndpointResult> + Send + Sync + 'static,
    {
        Route::new(method, path, Arc::new(FnEndpoint(endpoint)))
    }

    /// A `GET` route to a closure endpoint.
    ///
    /// ```
    /// use tessera::{Reply, Route};
    ///
    /// let route = Route::get("/hello", |ctx| {
    ///     Box::pin(async move { Ok(Reply::json(&serde_json::json!({ "path": ctx.path() }))) })
    /// });
    /// assert_eq!(route.path, "/hello");
    /// ```
    pub fn get<F>(path: impl Into<String>, endpoint: F) -> Self
    where
        F: for<'a, 'c> Fn(&'a mut Ctx<'c>) -> BoxFuture<'a, EndpointResult> + Send + Sync + 'static,
    {
        Route::with_fn(Method::GET, path, endpoint)
    }

    /// A `POST` route to a closure endpoint, with a JSON body.
    ///
    /// ```
    /// use tessera::{ApiError, Reply, Route};
    ///
    /// let route = Route::post("/audit/export", |ctx| {
    ///     Box::pin(async move {
    ///         let user = ctx.require_session(Default::default()).await?.user;
    ///         Ok(Reply::json(&serde_json::json!({ "exportedFor": user.id })))
    ///     })
    /// });
    /// assert_eq!(route.method, http::Method::POST);
    /// ```
    pub fn post<F>(path: impl Into<String>, endpoint: F) -> Self
    where
        F: for<'a, 'c> Fn(&'a mut Ctx<'c>) -> BoxFuture<'a, EndpointResult> + Send + Sync + 'static,
    {
        Route::with_fn(Method::POST, path, endpoint)
    }

    /// This route with another body kind (`None`: the body is ignored).
    pub fn with_body(mut self, kind: Option<BodyKind>) -> Self {
        self.body = kind;
        self
    }

    /// This route under the sign-in form CSRF rules (spec §7.2
    /// `formCsrfMiddleware`), accepting JSON or a form.
    pub fn form_csrf(mut self) -> Self {
        self.form_csrf = true;
        self.body = Some(BodyKind::JsonOrForm);
        self
    }

    /// This route refuses an untrusted `callbackURL` in its query with 403
    /// `INVALID_CALLBACK_URL`, whatever its method: for a `GET` that
    /// redirects there, such as the target of a link sent by mail (an open
    /// redirect otherwise).
    ///
    /// ```
    /// use tessera::{Reply, Route};
    ///
    /// let route = Route::get("/magic/verify", |_ctx| {
    ///     Box::pin(async move { Ok(Reply::redirect("/")) })
    /// })
    /// .checks_query_callback_url();
    /// assert!(route.query_callback_url);
    /// ```
    pub fn checks_query_callback_url(mut self) -> Self {
        self.query_callback_url = true;
        self
    }
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("method", &self.method)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}
