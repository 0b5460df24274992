//! [`Ctx`]: everything an endpoint or hook sees of one request, and the
//! kernel services it may use (the plugin API, spec §10 `ctx.context`).

use std::sync::Arc;

use http::{header, HeaderMap, Method};
use serde_json::Value;

use super::Reply;
use crate::cookie::{AuthCookies, CookieJar, RequestCookies};
use crate::error::{codes, ApiError};
use crate::ip::ClientAddr;
use crate::mail::{Mail, MailKind, MailTemplates, Mailer};
use crate::options::Options;
use crate::password::HashPool;
use crate::rate_limit::AccountThrottle;
use crate::session::{ResolveOptions, Resolved, SessionEngine, SessionMeta, Sessions};
use crate::store::{Session, SessionWithUser, User};
use crate::Timestamp;

/// What the kernel offers every endpoint and hook, core and plugin alike:
/// the session engine, the password-hashing pool and the sign-in throttle.
pub(crate) struct Services {
    pub(crate) engine: SessionEngine,
    pub(crate) hash_pool: HashPool,
    /// Per-account throttling of failed email sign-ins.
    pub(crate) account_throttle: AccountThrottle,
    /// OAuth providers and their cookies.
    pub(crate) oauth: crate::oauth::OAuth,
    /// `<origin><basePath>` from the configured base URL, if any.
    pub(crate) base_url: Option<String>,
    /// The account lifecycle's mail.
    pub(crate) mail: MailService,
}

/// The configured mailer, if any, and the templates that write its
/// messages.
pub(crate) struct MailService {
    pub(crate) mailer: Option<Arc<dyn Mailer>>,
    pub(crate) templates: Arc<dyn MailTemplates>,
    /// The answer time of `/request-password-reset`, alike for known and
    /// unknown addresses.
    pub(crate) reset_timing: crate::mail::EvenTiming,
}

/// A session this request resolved or set, and for which reads it stands.
#[derive(Clone, Debug)]
struct Known {
    session: Option<Arc<SessionWithUser>>,
    /// Read from the store (or set by this request): it stands for any
    /// read. A cookie-cache hit does not stand for a `disableCookieCache`
    /// read (`require_sensitive_session`). Refresh is not a property of
    /// the answer: a read made with `disableRefresh` stands for later ones.
    authoritative: bool,
}

impl Known {
    /// A session this request set (created, refreshed or switched to).
    fn set(session: Option<Arc<SessionWithUser>>) -> Self {
        Known {
            session,
            authoritative: true,
        }
    }

    /// Whether a read with `opts` may reuse this instead of resolving again.
    fn stands_for(&self, opts: ResolveOptions) -> bool {
        self.authoritative || !opts.disable_cookie_cache
    }
}

/// Everything an endpoint sees of one request.
pub struct Ctx<'a> {
    pub(crate) services: &'a Services,
    pub(crate) method: Method,
    /// The request target; [`Ctx::path`] is its path from `rel_start`.
    uri: http::Uri,
    rel_start: usize,
    pub(crate) headers: HeaderMap,
    pub(crate) peer: Option<ClientAddr>,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) body: Option<Value>,
    pub(crate) cookies: RequestCookies,
    /// The `Set-Cookie` headers of the response.
    pub jar: CookieJar,
    pub(crate) now: Timestamp,
    known: Option<Known>,
    new_session: Option<Arc<SessionWithUser>>,
    extensions: http::Extensions,
}

impl<'a> Ctx<'a> {
    /// `rel_start`: where the path relative to the base path starts in
    /// `parts.uri.path()` (checked by the caller to be a char boundary);
    /// `cookies`: those of `parts.headers`, parsed within the limits.
    pub(crate) fn new(
        services: &'a Services,
        parts: http::request::Parts,
        cookies: RequestCookies,
        rel_start: usize,
        now: Timestamp,
        peer: Option<ClientAddr>,
    ) -> Self {
        Ctx {
            services,
            cookies,
            method: parts.method,
            query: parts
                .uri
                .query()
                .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
            uri: parts.uri,
            rel_start,
            headers: parts.headers,
            peer,
            body: None,
            jar: CookieJar::new(),
            now,
            known: None,
            new_session: None,
            extensions: parts.extensions,
        }
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path relative to the base path (`/sign-in/email`).
    pub fn path(&self) -> &str {
        self.uri.path().get(self.rel_start..).unwrap_or_default()
    }

    /// Whether this instance runs without a database or secondary storage
    /// (spec §4.1).
    pub fn is_stateless(&self) -> bool {
        self.services.engine.stateless
    }

    /// The OAuth providers and what their flows share.
    pub fn oauth(&self) -> &crate::oauth::OAuth {
        &self.services.oauth
    }

    /// Whether a mailer is configured: the flows that send mail are on
    /// (better-auth's mail callbacks are set).
    pub fn has_mailer(&self) -> bool {
        self.services.mail.mailer.is_some()
    }

    /// Writes the message of `kind` for `to` with the configured templates
    /// and hands it to the mailer. A failure (or no mailer) is logged,
    /// never answered: the response must not tell whether mail went out.
    pub async fn send_mail(
        &self,
        kind: MailKind,
        to: &str,
        name: &str,
        url: &str,
        new_email: Option<&str>,
    ) {
        let Some(mailer) = &self.services.mail.mailer else {
            tracing::error!(
                kind = kind.as_str(),
                "no mailer is configured: mail not sent"
            );
            return;
        };
        let message = self.services.mail.templates.render(&Mail {
            kind,
            app_name: &self.options().app_name,
            to,
            name,
            url,
            new_email,
        });
        if let Err(e) = mailer.send(message).await {
            tracing::error!(error = %e, kind = kind.as_str(), "mail not handed over");
        }
    }

    /// better-auth's `baseURL`: the configured origin and base path, else
    /// the request's `Host` over `http` (development), e.g.
    /// `https://auth.example.com/api/auth`.
    pub fn base_url(&self) -> String {
        if let Some(url) = &self.services.base_url {
            return url.clone();
        }
        let base_path = self.uri.path().get(..self.rel_start).unwrap_or_default();
        let host = self
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| self.uri.authority().map(|a| a.as_str()))
            .unwrap_or("localhost");
        format!("http://{host}{base_path}")
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
        let options = self.options();
        let ip = crate::ip::client_ip(&self.headers, self.peer, &options.ip, options.environment);
        SessionMeta {
            ip_address: ip.unwrap_or_default(),
            user_agent: self
                .headers
                .get(header::USER_AGENT)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default(),
        }
    }

    /// Resolves the session; cookie work goes into the jar. Resolved once
    /// per request, unless a read asks for more than the one before gave:
    /// a `disableCookieCache` read after a cookie-cache hit reads the store.
    pub async fn session(
        &mut self,
        opts: ResolveOptions,
    ) -> Result<Option<&SessionWithUser>, ApiError> {
        if !self.known.as_ref().is_some_and(|k| k.stands_for(opts)) {
            self.resolve(opts).await?;
        }
        Ok(self.known.as_ref().and_then(|k| k.session.as_deref()))
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
        self.require_session(ResolveOptions::from_store()).await
    }

    /// Remembers a session created or switched to during this request.
    pub fn set_session(&mut self, session: Option<SessionWithUser>) {
        self.known = Some(Known::set(session.map(Arc::new)));
    }

    /// The request headers, to change them (before hooks).
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// The parsed body, to change it (before hooks).
    pub fn body_mut(&mut self) -> &mut Option<Value> {
        &mut self.body
    }

    /// The configuration in force.
    pub fn options(&self) -> &Options {
        &self.services.engine.options
    }

    /// Session records over the configured stores.
    pub fn sessions(&self) -> &Sessions {
        &self.services.engine.sessions
    }

    /// Cookie names and attributes.
    pub fn auth_cookies(&self) -> &AuthCookies {
        &self.services.engine.cookies
    }

    /// Where passwords are hashed and verified: a fixed pool of workers,
    /// so cancelled requests cannot pile hashes up
    /// (`ctx.hash_pool().run(move || password::hash_password(&pw))`).
    pub fn hash_pool(&self) -> &HashPool {
        &self.services.hash_pool
    }

    /// The per-account throttle of failed sign-ins: count an attempt
    /// before checking a credential, and report a success.
    pub fn account_throttle(&self) -> &AccountThrottle {
        &self.services.account_throttle
    }

    /// Signs a cookie value with the current secret (better-call's format).
    pub fn sign(&self, value: &str) -> String {
        self.services.engine.sign(value)
    }

    /// Verifies a signed cookie value (already percent-decoded) against
    /// every secret in force.
    pub fn verify_signed<'v>(&self, signed: &'v str) -> Option<&'v str> {
        self.services.engine.verify(signed)
    }

    /// The request's verified session token, if it carries one (whether or
    /// not the session still exists).
    pub fn session_token(&self) -> Option<&str> {
        self.services.engine.session_token(&self.cookies)
    }

    /// better-auth's `getSession` resolution (spec §6.4): the session and,
    /// in a deferred read, whether it needs a refresh. Its cookie work goes
    /// into this response's jar.
    pub async fn get_session(
        &mut self,
        opts: ResolveOptions,
    ) -> Result<(Option<Arc<SessionWithUser>>, Option<bool>), ApiError> {
        let resolved = self.resolve(opts).await?;
        Ok((resolved.session, resolved.needs_refresh))
    }

    /// [`Ctx::get_session`] with what the kernel's own endpoint uses.
    pub(crate) async fn resolve(&mut self, opts: ResolveOptions) -> Result<Resolved, ApiError> {
        let engine = &self.services.engine;
        let resolved = engine
            .resolve(&self.cookies, opts, &mut self.jar, self.now)
            .await?;
        self.record_resolved(&resolved);
        Ok(resolved)
    }

    /// The resolution options of a `/get-session` request (spec §6.4 step 1
    /// and its query): `Err` with the 405 reply for a `POST` without
    /// `deferSessionRefresh`, else the flags from `disableCookieCache` and
    /// `disableRefresh`, read-only for a deferred `GET`. Endpoints that
    /// replace `/get-session` start here.
    pub fn get_session_options(&self) -> Result<ResolveOptions, Box<Reply>> {
        let defer = self.options().session.defer_session_refresh;
        let is_post = self.method == Method::POST;
        if is_post && !defer {
            let err = codes::defer_session_required();
            return Err(Box::new(
                Reply {
                    status: err.status,
                    headers: HeaderMap::new(),
                    body: err.body(),
                }
                .no_store(),
            ));
        }
        Ok(ResolveOptions {
            disable_cookie_cache: self.query_flag("disableCookieCache"),
            disable_refresh: self.query_flag("disableRefresh"),
            read_only: defer && !is_post,
        })
    }

    /// Creates a session for `user` (recording this request's IP and user
    /// agent) and sets its cookies, as sign-in does.
    pub async fn create_session(
        &mut self,
        user: &User,
        dont_remember: bool,
    ) -> Result<Session, ApiError> {
        let meta = self.session_meta();
        let session = self
            .sessions()
            .create(user, &meta, dont_remember, self.now)
            .await?;
        let pair = SessionWithUser {
            session: session.clone(),
            user: user.clone(),
        };
        self.set_session_cookie(&pair, Some(dont_remember)).await;
        Ok(session)
    }

    /// better-auth's `setSessionCookie`: the signed token, the
    /// `dont_remember` marker and the cookie cache for `session`, which
    /// becomes this request's new session (`ctx.context.newSession`).
    /// `dont_remember: None` inherits it from the request.
    pub async fn set_session_cookie(
        &mut self,
        session: &SessionWithUser,
        dont_remember: Option<bool>,
    ) {
        let engine = &self.services.engine;
        engine
            .set_session_cookie(
                &mut self.jar,
                &self.cookies,
                session,
                dont_remember,
                self.now,
            )
            .await;
        let session = Arc::new(session.clone());
        self.new_session = Some(Arc::clone(&session));
        self.known = Some(Known::set(Some(session)));
    }

    /// better-auth's `deleteSessionCookie`: expires every session cookie.
    pub fn delete_session_cookies(&mut self) {
        let engine = &self.services.engine;
        engine.delete_session_cookies(&mut self.jar, &self.cookies, false);
    }

    /// Remembers a resolved session; a refresh (which re-sets the session
    /// cookie, better-auth's `setSessionCookie`) makes it the new session.
    fn record_resolved(&mut self, resolved: &Resolved) {
        let token_name = &self.services.engine.cookies.session_token.name;
        let refreshed = self
            .jar
            .iter()
            .any(|c| &c.name == token_name && !c.is_expiry());
        if let (Some(s), true) = (&resolved.session, refreshed) {
            self.new_session = Some(Arc::clone(s));
        }
        self.known = Some(Known {
            session: resolved.session.clone(),
            authoritative: resolved.cache_entry.is_none(),
        });
    }

    /// Per-request storage, starting with the request's own extensions: a
    /// before hook can leave data here for an after hook.
    pub fn extensions(&self) -> &http::Extensions {
        &self.extensions
    }

    /// Per-request storage, mutable.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.extensions
    }

    /// The session created or switched to during this request, if any.
    pub fn new_session(&self) -> Option<&SessionWithUser> {
        self.new_session.as_deref()
    }
}
