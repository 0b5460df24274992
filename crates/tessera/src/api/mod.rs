//! The HTTP surface: routing, the request context handed to endpoints, and
//! better-auth's core endpoints (spec §7).

mod body;
mod error;
mod origin;
mod routes;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use serde::Serialize;
use serde_json::Value;

pub use body::{is_valid_email, BodyKind, Validator};
pub use error::{codes, ApiError};
pub use origin::{origin_of, TrustedOrigins};

use crate::cookie::{CookieJar, RequestCookies};
use crate::session::{ResolveOptions, SessionMeta};
use crate::store::SessionWithUser;
use crate::{AuthInner, Timestamp};

/// A successful endpoint result.
#[derive(Clone, Debug)]
pub struct Reply {
    /// Status (200 unless set).
    pub status: StatusCode,
    /// Extra headers (not `Set-Cookie`: cookies go in the [`Ctx`] jar).
    pub headers: HeaderMap,
    /// JSON body.
    pub body: Bytes,
}

impl Reply {
    /// A 200 JSON reply.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Self {
        Reply {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from(serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec())),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }
}

/// An endpoint: core ones and plugin ones implement this.
#[async_trait]
pub trait Endpoint: Send + Sync + 'static {
    /// Handles one request.
    async fn call(&self, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError>;
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
    /// The handler.
    pub endpoint: Arc<dyn Endpoint>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("method", &self.method)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The route table, built once; lookup is one hash probe.
#[derive(Debug, Default)]
pub(crate) struct Router {
    routes: HashMap<(Method, String), Route>,
}

impl Router {
    pub(crate) fn with_core_routes() -> Self {
        let mut r = Router::default();
        for route in routes::core_routes() {
            r.insert(route);
        }
        r
    }

    /// Adds or replaces a route.
    pub(crate) fn insert(&mut self, route: Route) {
        self.routes
            .insert((route.method.clone(), route.path.clone()), route);
    }

    fn get(&self, method: &Method, path: &str) -> Option<&Route> {
        // Allocation-free probe would need a borrowed key type; paths are
        // short and this is one small allocation.
        self.routes.get(&(method.clone(), path.to_owned()))
    }
}

/// Everything an endpoint sees of one request.
pub struct Ctx<'a> {
    pub(crate) auth: &'a AuthInner,
    method: Method,
    path: String,
    headers: HeaderMap,
    peer: Option<crate::ip::ClientAddr>,
    query: Vec<(String, String)>,
    body: Option<Value>,
    cookies: RequestCookies,
    /// The `Set-Cookie` headers of the response.
    pub jar: CookieJar,
    now: Timestamp,
    session: Option<Option<SessionWithUser>>,
}

impl<'a> Ctx<'a> {
    /// The request method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path relative to the base path (`/sign-in/email`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The parsed body (`None` when absent).
    pub fn body(&self) -> Option<&Value> {
        self.body.as_ref()
    }

    /// A query parameter, first occurrence.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A query flag with `z.coerce.boolean()` semantics: any non-empty value
    /// (even `"false"`) is true (spec §6.4).
    pub fn query_flag(&self, name: &str) -> bool {
        self.query(name).is_some_and(|v| !v.is_empty())
    }

    /// The request cookies.
    pub fn cookies(&self) -> &RequestCookies {
        &self.cookies
    }

    /// "Now" for this request, from the configured clock.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Client IP and user agent, for a new session.
    pub fn session_meta(&self) -> SessionMeta {
        let ip = crate::ip::client_ip(
            &self.headers,
            self.peer,
            &self.auth.options.ip,
            self.auth.options.environment,
        );
        SessionMeta {
            ip_address: ip.unwrap_or_default(),
            user_agent: self
                .headers
                .get(header::USER_AGENT)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default(),
        }
    }

    /// Resolves the session (once per request); cookie work goes into the jar.
    pub async fn session(
        &mut self,
        opts: ResolveOptions,
    ) -> Result<Option<&SessionWithUser>, ApiError> {
        if self.session.is_none() {
            let (found, _) = self
                .auth
                .resolve_session(&self.cookies, opts, &mut self.jar, self.now)
                .await?;
            self.session = Some(found);
        }
        Ok(self.session.as_ref().and_then(Option::as_ref))
    }

    /// The session, or 401 `UNAUTHORIZED` (`sessionMiddleware`).
    pub async fn require_session(
        &mut self,
        opts: ResolveOptions,
    ) -> Result<SessionWithUser, ApiError> {
        self.session(opts)
            .await?
            .cloned()
            .ok_or_else(ApiError::unauthorized)
    }

    /// The session for a sensitive endpoint: an authoritative store read
    /// (`sensitiveSessionMiddleware`).
    pub async fn require_sensitive_session(&mut self) -> Result<SessionWithUser, ApiError> {
        self.require_session(ResolveOptions {
            disable_cookie_cache: true,
            ..ResolveOptions::default()
        })
        .await
    }

    /// Remembers a session created or switched to during this request.
    pub fn set_session(&mut self, session: Option<SessionWithUser>) {
        self.session = Some(session);
    }
}

impl AuthInner {
    /// The request pipeline (spec §7.1): base path, rate limit, route, body,
    /// origin checks, endpoint, cookies.
    pub(crate) async fn dispatch(&self, req: Request<Bytes>) -> Response<Bytes> {
        let (parts, body) = req.into_parts();
        let Some(rel) = self.relative_path(parts.uri.path()) else {
            return empty(StatusCode::NOT_FOUND);
        };
        let now = self.clock.now();
        let peer = parts.extensions.get::<crate::ip::ClientAddr>().copied();
        if self.rate_limiter.enabled() {
            let ip = crate::ip::client_ip(
                &parts.headers,
                peer,
                &self.options.ip,
                self.options.environment,
            );
            if let Err(limited) = self.rate_limiter.check(ip.as_deref(), rel, now).await {
                return limited.into_response();
            }
        }
        let Some(route) = self.router.get(&parts.method, rel) else {
            return empty(StatusCode::NOT_FOUND);
        };
        let cookies = RequestCookies::from_headers(&parts.headers);
        let parsed = match route.body {
            Some(kind) => body::parse(&parts.headers, &body, kind),
            None => Ok(None),
        };
        let mut ctx = Ctx {
            auth: self,
            method: parts.method,
            path: rel.to_owned(),
            query: parts
                .uri
                .query()
                .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
            headers: parts.headers,
            peer,
            body: None,
            cookies,
            jar: CookieJar::new(),
            now,
            session: None,
        };
        let result = match parsed {
            Ok(body) => {
                ctx.body = body;
                match self.check_origin(&ctx, route) {
                    Ok(()) => route.endpoint.call(&mut ctx).await,
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        let mut res = match result {
            Ok(reply) => {
                let mut res = Response::new(reply.body);
                *res.status_mut() = reply.status;
                res.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                res.headers_mut().extend(reply.headers);
                res
            }
            Err(e) => e.into_response(),
        };
        ctx.jar.write_to(res.headers_mut());
        res
    }

    pub(crate) fn relative_path<'p>(&self, path: &'p str) -> Option<&'p str> {
        let rel = path.strip_prefix(self.base_path.as_str())?;
        (rel.starts_with('/') && !rel.contains("//")).then_some(rel)
    }

    /// `originCheckMiddleware` and, for sign-in/up, `formCsrfMiddleware`.
    fn check_origin(&self, ctx: &Ctx<'_>, route: &Route) -> Result<(), ApiError> {
        if matches!(*ctx.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
            return Ok(());
        }
        let has_cookies = ctx.cookies.header_present();
        if !self.options.disable_csrf_check {
            if route.form_csrf {
                origin::form_csrf(&ctx.headers, has_cookies, &self.trusted)?;
            } else if has_cookies {
                origin::validate_origin(&ctx.headers, &self.trusted)?;
            }
        }
        if !self.options.disable_origin_check {
            origin::validate_callback_urls(ctx.body(), &self.trusted)?;
        }
        Ok(())
    }
}

fn empty(status: StatusCode) -> Response<Bytes> {
    let mut res = Response::new(Bytes::new());
    *res.status_mut() = status;
    res
}
