//! The HTTP pipeline (spec §7): request limits, routing, rate limits,
//! bodies, origin checks, hooks around the endpoint, and better-auth's core
//! endpoints. Endpoints and hooks see the request through the plugin API
//! ([`Ctx`]); sessions come from the session engine through it.

pub(crate) mod accounts;
mod body;
pub(crate) mod lifecycle;
pub(crate) mod limits;
pub(crate) mod oauth;
mod origin;
mod router;
pub(crate) mod routes;
mod trusted;
pub(crate) mod user;
mod verification;

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};

pub use body::{is_valid_email, Validator};
pub use trusted::{origin_of, TrustedOrigins, MAX_URL_LENGTH};

pub use crate::error::{codes, ApiError, ErrorCode};
pub use crate::plugin::{BodyKind, Ctx, Endpoint, Reply, Route};

pub(crate) use router::Router;

use crate::ip::ClientAddr;
use crate::plugin::{Interceptor, Services};
use crate::rate_limit::RateLimiter;
use crate::Timestamp;

/// The request pipeline, built once with [`crate::Auth`]: what every
/// request goes through, and the services endpoints use.
pub(crate) struct Pipeline {
    pub(crate) services: Services,
    pub(crate) trusted: TrustedOrigins,
    pub(crate) rate_limiter: RateLimiter,
    pub(crate) router: Router,
    /// Where the API is mounted, e.g. `/api/auth`.
    pub(crate) base_path: String,
    pub(crate) interceptors: Vec<Arc<dyn Interceptor>>,
    /// Every error code answered, the kernel's and the plugins'.
    pub(crate) error_codes: Vec<ErrorCode>,
    /// The active plugins, in order.
    pub(crate) plugin_ids: Vec<&'static str>,
}

impl Pipeline {
    /// The request pipeline (spec §7.1): base path, rate limit, route, body,
    /// origin checks, endpoint, cookies.
    ///
    /// `peer`: the socket peer, when the adapter passes it rather than as a
    /// [`ClientAddr`] extension (one in the extensions wins, as an
    /// interceptor may have set it).
    ///
    /// Written as steps, the synchronous ones outside the future, and
    /// without an `async fn`'s copy of its arguments: the future is moved
    /// whole several times per request by every server, so its size is
    /// paid for on every request.
    #[allow(clippy::manual_async_fn)] // an `async fn` would hold `req` twice
    pub(crate) fn dispatch(
        &self,
        mut req: Request<Bytes>,
        peer: Option<ClientAddr>,
    ) -> impl Future<Output = Response<Bytes>> + Send + '_ {
        async move {
            let now = self.services.engine.clock.now();
            // Each step's temporaries end with its statement, so that only
            // `ctx` and the endpoint's future are held across its `.await`.
            let res = 'answer: {
                match self.admit(&mut req, peer, now).await {
                    Admitted::Yes => {}
                    Admitted::Refused(res) => return res,
                    Admitted::Intercepted(res) => break 'answer res,
                }
                let (entry, mut ctx) = match self.route(req, peer, now) {
                    Routed::Endpoint(entry, ctx) => (entry, ctx),
                    Routed::Answered(res) => break 'answer res,
                };
                let result = run_endpoint(entry, &mut ctx).await;
                slide_account_cookie(&mut ctx);
                reply_to_response(result, &ctx)
            };
            if self.interceptors.is_empty() {
                res
            } else {
                Box::pin(self.finish(res)).await
            }
        }
    }

    /// Request limits, base path, rate limit, and the plugins' request
    /// interceptors (which may answer, or change the request).
    async fn admit(
        &self,
        req: &mut Request<Bytes>,
        peer: Option<ClientAddr>,
        now: Timestamp,
    ) -> Admitted {
        // Before anything reads the headers: sizes cost one step per field.
        let options = &self.services.engine.options;
        if let Err(e) = limits::check(req.headers(), &options.limits) {
            return Admitted::Refused(e.into_response());
        }
        if self.relative_path(req.uri().path()).is_none() {
            return Admitted::Refused(empty(StatusCode::NOT_FOUND));
        }
        let peer = req.extensions().get::<ClientAddr>().copied().or(peer);
        if self.rate_limiter.enabled() {
            let rel = self.relative_path(req.uri().path()).unwrap_or_default();
            // Keyed on the route, not the raw path: made-up paths share one key.
            let route = self
                .router
                .get(req.method(), rel)
                .map(|entry| entry.route.path.as_str());
            let ip = crate::ip::client_ip(req.headers(), peer, &options.ip, options.environment);
            if let Err(limited) = self.rate_limiter.check(ip.as_deref(), route, now).await {
                return Admitted::Refused(ApiError::from(limited).into_response());
            }
        }
        if self.interceptors.is_empty() {
            return Admitted::Yes;
        }
        // They see the peer where adapters used to put it.
        if let Some(peer) = peer {
            req.extensions_mut().insert(peer);
        }
        for interceptor in &self.interceptors {
            if let Some(res) = interceptor.on_request(req).await {
                return Admitted::Intercepted(res);
            }
        }
        Admitted::Yes
    }

    /// The route, the body, the context and the origin checks: the
    /// endpoint to run, or the answer already.
    fn route(&self, req: Request<Bytes>, peer: Option<ClientAddr>, now: Timestamp) -> Routed<'_> {
        let (parts, body) = req.into_parts();
        // An interceptor may have rewritten the target.
        let path = parts.uri.path();
        let Some(rel) = self.relative_path(path) else {
            return Routed::Answered(empty(StatusCode::NOT_FOUND));
        };
        let rel_start = path.len() - rel.len();
        let Some(entry) = self.router.get(&parts.method, rel) else {
            return Routed::Answered(empty(StatusCode::NOT_FOUND));
        };
        // An interceptor may have changed the cookies: counted as parsed.
        let cookies = match limits::cookies(&parts.headers, &self.services.engine.options.limits) {
            Ok(cookies) => cookies,
            Err(e) => return Routed::Answered(e.into_response()),
        };
        let route = &entry.route;
        let parsed = match route.body {
            Some(kind) => body::parse(&parts.headers, &body, kind),
            None => Ok(None),
        };
        let peer = parts.extensions.get::<ClientAddr>().copied().or(peer);
        let mut ctx = Ctx::new(&self.services, parts, cookies, rel_start, now, peer);
        let checked = parsed.and_then(|body| {
            ctx.body = body;
            self.check_origin(&ctx, route)
        });
        match checked {
            Ok(()) => Routed::Endpoint(entry, ctx),
            Err(e) => {
                let mut res = e.into_response();
                ctx.jar.write_to(res.headers_mut());
                Routed::Answered(res)
            }
        }
    }

    /// Plugin response interceptors, in order.
    async fn finish(&self, mut res: Response<Bytes>) -> Response<Bytes> {
        for interceptor in &self.interceptors {
            interceptor.on_response(&mut res).await;
        }
        res
    }

    /// `path` below the base path, if it is there (and has no `//`).
    pub(crate) fn relative_path<'p>(&self, path: &'p str) -> Option<&'p str> {
        let rel = path.strip_prefix(self.base_path.as_str())?;
        let doubled = rel.as_bytes().windows(2).any(|pair| pair == b"//");
        (rel.starts_with('/') && !doubled).then_some(rel)
    }

    /// `originCheckMiddleware` and, for sign-in/up, `formCsrfMiddleware`.
    /// On a `GET`, only a route's own check of its query's `callbackURL`.
    fn check_origin(&self, ctx: &Ctx<'_>, route: &Route) -> Result<(), ApiError> {
        let options = &self.services.engine.options;
        if matches!(*ctx.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
            if route.query_callback_url && !options.disable_origin_check {
                origin::validate_callback_urls(None, ctx.query("callbackURL"), &self.trusted)?;
            }
            return Ok(());
        }
        let has_cookies = ctx.cookies.header_present();
        if !options.disable_csrf_check {
            if route.form_csrf {
                origin::form_csrf(&ctx.headers, has_cookies, &self.trusted)?;
            } else if has_cookies {
                origin::validate_origin(&ctx.headers, &self.trusted)?;
            }
        }
        if !options.disable_origin_check {
            origin::validate_callback_urls(ctx.body(), ctx.query("callbackURL"), &self.trusted)?;
        }
        Ok(())
    }
}

/// What [`Pipeline::admit`] decided.
enum Admitted {
    /// On to routing.
    Yes,
    /// Answered before the plugins saw the request (431, 404, 429).
    Refused(Response<Bytes>),
    /// Answered by a request interceptor.
    Intercepted(Response<Bytes>),
}

/// What [`Pipeline::route`] found.
#[allow(clippy::large_enum_variant)] // taken apart at once; a box would allocate per request
enum Routed<'a> {
    /// The endpoint to run, with its context.
    Endpoint(&'a router::RouteEntry, Ctx<'a>),
    /// The answer already (no route, a bad body, a refused origin).
    Answered(Response<Bytes>),
}

/// An endpoint's result as the response, with the context's cookies.
fn reply_to_response(result: Result<Reply, ApiError>, ctx: &Ctx<'_>) -> Response<Bytes> {
    let mut res = match result {
        Ok(reply) => {
            // The reply's own headers become the response's: one map.
            let mut headers = reply.headers;
            headers.reserve(1 + ctx.jar.len());
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            let mut res = Response::new(reply.body);
            *res.status_mut() = reply.status;
            *res.headers_mut() = headers;
            res
        }
        Err(e) => e.into_response(),
    };
    ctx.jar.write_to(res.headers_mut());
    res
}

/// Before hooks (a reply short-circuits the endpoint and the after
/// hooks), the endpoint, then after hooks, which may replace the result
/// (spec §10), then the `Finally` hooks, which see the final result.
async fn run_endpoint(entry: &router::RouteEntry, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    for hook in &entry.before {
        if let Some(reply) = hook.before(ctx).await? {
            return Ok(reply);
        }
    }
    let mut result = entry.route.endpoint.call(ctx).await;
    for hook in entry.after.iter().chain(&entry.finally) {
        hook.after(ctx, &mut result).await;
    }
    result
}

/// better-auth's `setCookieCache` with `storeAccountCookie` (spec §4.2
/// "When written", 3): a response that writes the cookie cache also
/// writes the request's `account_data` again, so it slides with the
/// session, unless the endpoint wrote it already. With a database it is
/// kept only for the session's own user.
fn slide_account_cookie(ctx: &mut Ctx<'_>) {
    let services = ctx.services;
    if !services.oauth.stores_account_cookie() {
        return;
    }
    let c = &services.engine.cookies;
    let writes_cache = ctx
        .jar
        .iter()
        .any(|k| k.name.starts_with(&c.session_data.name) && !k.is_expiry());
    let written = ctx
        .jar
        .iter()
        .any(|k| k.name.starts_with(&c.account_data.name));
    if !writes_cache || written {
        return;
    }
    let Some(value) = crate::cookie::read_chunked(&c.account_data, &ctx.cookies) else {
        return;
    };
    let Some(account) = services.oauth.open_account(&value, ctx.now) else {
        return;
    };
    let owner = ctx.new_session().map(|s| s.user.id.as_str());
    if !services.engine.stateless && owner != Some(account.user_id.as_str()) {
        let request = ctx.cookies.clone();
        ctx.jar.expire(&c.account_data);
        ctx.jar
            .expire_request_chunks_only(&c.account_data, &request);
        return;
    }
    oauth::set_account_cookie(ctx, &account);
}

fn empty(status: StatusCode) -> Response<Bytes> {
    let mut res = Response::new(Bytes::new());
    *res.status_mut() = status;
    res
}
