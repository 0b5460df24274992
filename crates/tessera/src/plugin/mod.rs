//! Plugins: the trait a plugin crate implements, and the link-time registry
//! (`inventory`) that lets `tessera serve` enable plugins by id (spec §10).
//!
//! Two ways to register: explicitly on the builder
//! ([`crate::AuthBuilder::plugin`]), or by submitting a
//! [`PluginRegistration`] from the plugin crate and naming its id in the
//! options. A binary must reference the plugin crate (for instance by calling
//! its `link()` function), or the linker may drop it and its registration
//! with it.

mod ctx;
mod reply;
mod route;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http::{Method, Request, Response};

pub use ctx::Ctx;
pub(crate) use ctx::{MailService, Services};
pub use reply::Reply;
pub use route::{BodyKind, BoxFuture, Endpoint, EndpointResult, Route};

pub use crate::error::{ApiError, ErrorCode};
use crate::options::{AdditionalField, Options, RateLimitRule};
pub use crate::session::{CacheHit, CacheHitHook};

/// A plugin: everything but [`Plugin::id`] has a default that adds nothing.
///
/// Order is deterministic: plugins added on the builder, in the order
/// added, then plugins enabled by id, in the order of `Options::plugins`.
/// Hooks run in that plugin order.
pub trait Plugin: Send + Sync + 'static {
    /// A unique id, e.g. `multi-session`.
    fn id(&self) -> &'static str;

    /// Runs once when the `Auth` is built, before defaults are applied. A
    /// plugin may fill options the user left unset (user options win: set
    /// only `None` fields, add to lists).
    fn init(&self, options: &mut Options) {
        let _ = options;
    }

    /// Endpoints to add; one with the method and path of a core endpoint
    /// replaces it.
    fn endpoints(&self) -> Vec<Route> {
        Vec::new()
    }

    /// Before and after hooks (see [`Hook`]).
    fn hooks(&self) -> Vec<Hook> {
        Vec::new()
    }

    /// Request/response interceptors (better-auth's `onRequest`/`onResponse`).
    fn interceptor(&self) -> Option<Arc<dyn Interceptor>> {
        None
    }

    /// The error codes this plugin answers with (better-auth's
    /// `$ERROR_CODES`). They join the kernel's error table when the `Auth`
    /// is built ([`crate::Auth::error_codes`]); a code declared twice with
    /// different statuses or messages is a build error.
    fn error_codes(&self) -> Vec<ErrorCode> {
        Vec::new()
    }

    /// Rate-limit rules by path (`/path` or `/prefix/*`; `None` disables
    /// limiting there); they take precedence over the built-in rules.
    fn rate_limit_rules(&self) -> Vec<(String, Option<RateLimitRule>)> {
        Vec::new()
    }

    /// Extra fields on user and session records.
    fn schema(&self) -> Schema {
        Schema::default()
    }

    /// What to do on a valid cookie-cache hit (spec §6.4 step 7), before
    /// the cached session is returned: it may re-issue the cookies. Asked
    /// once, when the `Auth` is built.
    fn cache_hit_hook(&self) -> Option<Arc<dyn CacheHitHook>> {
        None
    }
}

/// Extra record fields a plugin declares.
#[derive(Clone, Debug, Default)]
pub struct Schema {
    /// Fields on the user record.
    pub user: Vec<AdditionalField>,
    /// Fields on the session record.
    pub session: Vec<AdditionalField>,
}

/// A route predicate over method and path.
pub type RoutePredicate = dyn Fn(&Method, &str) -> bool + Send + Sync;

/// Which routes a hook applies to. Matchers see the route's method and
/// path, and are evaluated once, when the route table is built: a hook
/// costs nothing on requests it does not match. A hook that must look at
/// headers or the body decides inside its handler.
#[derive(Clone)]
#[non_exhaustive]
pub enum Matcher {
    /// Every route.
    All,
    /// Routes with this exact path (any method), e.g. `/sign-out`.
    Path(String),
    /// Routes whose path starts with this prefix.
    PathPrefix(String),
    /// Any predicate over method and path.
    Custom(Arc<RoutePredicate>),
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Matcher::All => f.write_str("All"),
            Matcher::Path(p) => f.debug_tuple("Path").field(p).finish(),
            Matcher::PathPrefix(p) => f.debug_tuple("PathPrefix").field(p).finish(),
            Matcher::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl Matcher {
    /// Whether a route matches.
    pub fn matches(&self, method: &Method, path: &str) -> bool {
        match self {
            Matcher::All => true,
            Matcher::Path(p) => p == path,
            Matcher::PathPrefix(p) => path.starts_with(p.as_str()),
            Matcher::Custom(f) => f(method, path),
        }
    }
}

/// Runs before the endpoint.
#[async_trait]
pub trait BeforeHook: Send + Sync + 'static {
    /// May change the input (`ctx.body_mut()`, `ctx.headers_mut()`), add
    /// `Set-Cookie` (`ctx.jar`), short-circuit with `Ok(Some(reply))` (the
    /// endpoint and the after hooks are skipped), or fail with an error
    /// response.
    async fn before(&self, ctx: &mut Ctx<'_>) -> Result<Option<Reply>, ApiError>;
}

/// Runs after the endpoint.
#[async_trait]
pub trait AfterHook: Send + Sync + 'static {
    /// Sees the endpoint's result and may replace it (`*result = …`) or add
    /// `Set-Cookie` (`ctx.jar`, appended); `ctx.new_session()` tells whether
    /// the endpoint set a session.
    ///
    /// As a [`HookKind::Finally`] hook it sees the final result and the
    /// final jar: what every after hook of every plugin made of them.
    async fn after(&self, ctx: &mut Ctx<'_>, result: &mut Result<Reply, ApiError>);
}

/// A before or after hook.
#[derive(Clone)]
#[non_exhaustive]
pub enum HookKind {
    /// Before the endpoint.
    Before(Arc<dyn BeforeHook>),
    /// After the endpoint.
    After(Arc<dyn AfterHook>),
    /// After the endpoint and every `After` hook of every plugin, in plugin
    /// order: it sees the result and the `Set-Cookie` jar as the response
    /// will carry them. For work that is only right if the response really
    /// is what the endpoint made it, whatever hooks of plugins added later
    /// do: e.g. issuing a credential only when the response does sign the
    /// session in (a second-factor plugin's hook may withhold it).
    Finally(Arc<dyn AfterHook>),
}

/// A hook with its matcher.
#[derive(Clone)]
pub struct Hook {
    /// Which routes it applies to.
    pub matcher: Matcher,
    /// What it does.
    pub kind: HookKind,
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            HookKind::Before(_) => "before",
            HookKind::After(_) => "after",
            HookKind::Finally(_) => "finally",
        };
        f.debug_struct("Hook")
            .field("matcher", &self.matcher)
            .field("kind", &kind)
            .finish()
    }
}

impl Hook {
    /// A before hook.
    pub fn before(matcher: Matcher, hook: impl BeforeHook) -> Self {
        Hook {
            matcher,
            kind: HookKind::Before(Arc::new(hook)),
        }
    }

    /// An after hook.
    pub fn after(matcher: Matcher, hook: impl AfterHook) -> Self {
        Hook {
            matcher,
            kind: HookKind::After(Arc::new(hook)),
        }
    }

    /// A hook that runs after every after hook, on the final result (see
    /// [`HookKind::Finally`]).
    ///
    /// ```
    /// use async_trait::async_trait;
    /// use tessera::plugin::{AfterHook, Hook, Matcher};
    /// use tessera::{ApiError, Ctx, Reply};
    ///
    /// /// Counts the sign-ins that really signed in.
    /// struct SignedIn(std::sync::atomic::AtomicU64);
    ///
    /// #[async_trait]
    /// impl AfterHook for SignedIn {
    ///     async fn after(&self, ctx: &mut Ctx<'_>, result: &mut Result<Reply, ApiError>) {
    ///         let token_cookie = &ctx.auth_cookies().session_token.name;
    ///         let signed_in = ctx.jar.iter().any(|c| &c.name == token_cookie && !c.is_expiry());
    ///         if result.is_ok() && signed_in {
    ///             self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ///         }
    ///     }
    /// }
    ///
    /// let hook = Hook::finally(
    ///     Matcher::Path("/sign-in/email".into()),
    ///     SignedIn(Default::default()),
    /// );
    /// assert_eq!(format!("{hook:?}"), r#"Hook { matcher: Path("/sign-in/email"), kind: "finally" }"#);
    /// ```
    pub fn finally(matcher: Matcher, hook: impl AfterHook) -> Self {
        Hook {
            matcher,
            kind: HookKind::Finally(Arc::new(hook)),
        }
    }
}

/// A closure before hook.
struct FnBefore<F>(F);

#[async_trait]
impl<F> BeforeHook for FnBefore<F>
where
    F: for<'a, 'c> Fn(&'a mut Ctx<'c>) -> BoxFuture<'a, Result<Option<Reply>, ApiError>>
        + Send
        + Sync
        + 'static,
{
    async fn before(&self, ctx: &mut Ctx<'_>) -> Result<Option<Reply>, ApiError> {
        (self.0)(ctx).await
    }
}

/// A closure after (or finally) hook.
struct FnAfter<F>(F);

#[async_trait]
impl<F> AfterHook for FnAfter<F>
where
    F: for<'a, 'c> Fn(&'a mut Ctx<'c>, &'a mut EndpointResult) -> BoxFuture<'a, ()>
        + Send
        + Sync
        + 'static,
{
    async fn after(&self, ctx: &mut Ctx<'_>, result: &mut EndpointResult) {
        (self.0)(ctx, result).await
    }
}

impl Hook {
    /// A before hook written as a closure.
    ///
    /// ```
    /// use tessera::plugin::{Hook, Matcher};
    /// use tessera::ApiError;
    ///
    /// // Sign-ups only from the company's domain.
    /// let hook = Hook::before_fn(Matcher::Path("/sign-up/email".into()), |ctx| {
    ///     Box::pin(async move {
    ///         let email = ctx.body().and_then(|b| b["email"].as_str()).unwrap_or_default();
    ///         if !email.ends_with("@example.com") {
    ///             return Err(ApiError::new(http::StatusCode::FORBIDDEN, "DOMAIN_NOT_ALLOWED", "Sign-ups are closed"));
    ///         }
    ///         Ok(None)
    ///     })
    /// });
    /// # let _ = hook;
    /// ```
    pub fn before_fn<F>(matcher: Matcher, hook: F) -> Self
    where
        F: for<'a, 'c> Fn(&'a mut Ctx<'c>) -> BoxFuture<'a, Result<Option<Reply>, ApiError>>
            + Send
            + Sync
            + 'static,
    {
        Hook::before(matcher, FnBefore(hook))
    }

    /// An after hook written as a closure: it sees the endpoint's result
    /// and may replace it.
    pub fn after_fn<F>(matcher: Matcher, hook: F) -> Self
    where
        F: for<'a, 'c> Fn(&'a mut Ctx<'c>, &'a mut EndpointResult) -> BoxFuture<'a, ()>
            + Send
            + Sync
            + 'static,
    {
        Hook::after(matcher, FnAfter(hook))
    }

    /// A [`HookKind::Finally`] hook written as a closure.
    pub fn finally_fn<F>(matcher: Matcher, hook: F) -> Self
    where
        F: for<'a, 'c> Fn(&'a mut Ctx<'c>, &'a mut EndpointResult) -> BoxFuture<'a, ()>
            + Send
            + Sync
            + 'static,
    {
        Hook::finally(matcher, FnAfter(hook))
    }
}

/// Sees every request under the base path before routing, and every
/// response last (better-auth's `onRequest` / `onResponse`).
#[async_trait]
pub trait Interceptor: Send + Sync + 'static {
    /// May change the request, or answer it (`Some`) without routing.
    async fn on_request(&self, req: &mut Request<Bytes>) -> Option<Response<Bytes>> {
        let _ = req;
        None
    }

    /// May change the response.
    async fn on_response(&self, res: &mut Response<Bytes>) {
        let _ = res;
    }
}

/// A plugin submitted for link-time discovery:
/// `inventory::submit!(PluginRegistration { … })` in the plugin crate.
#[derive(Debug)]
pub struct PluginRegistration {
    /// The plugin's id.
    pub id: &'static str,
    /// The crate to add when the id is asked for but not linked.
    pub crate_name: &'static str,
    /// Makes the plugin with its defaults.
    pub create: fn() -> Arc<dyn Plugin>,
}

inventory::collect!(PluginRegistration);

/// Every plugin linked into this binary, sorted by id (a deterministic order).
pub fn registered() -> Vec<&'static PluginRegistration> {
    let mut all: Vec<&'static PluginRegistration> =
        inventory::iter::<PluginRegistration>.into_iter().collect();
    all.sort_by_key(|r| r.id);
    all
}

/// A linked plugin by id.
pub fn find(id: &str) -> Option<&'static PluginRegistration> {
    inventory::iter::<PluginRegistration>
        .into_iter()
        .find(|r| r.id == id)
}
