//! The user's function: what it is given ([`RequestInfo`]) and the two ways
//! to write it (a closure through [`ShapeFn`], or a [`SessionShaper`] impl).

use std::future::Future;

use http::HeaderMap;
use serde::Serialize;
use tessera::{ApiError, SessionWithUser, Timestamp};

/// What the function sees of the request besides the session.
///
/// Borrowed from the request being served, so building it costs nothing.
#[derive(Clone, Copy, Debug)]
pub struct RequestInfo<'a> {
    headers: &'a HeaderMap,
    now: Timestamp,
    path: Option<&'a str>,
}

impl<'a> RequestInfo<'a> {
    /// Request facts for a call outside the auth API (also handy to test a
    /// shaper on its own).
    pub fn new(headers: &'a HeaderMap, now: Timestamp) -> Self {
        RequestInfo {
            headers,
            now,
            path: None,
        }
    }

    /// The same facts for a call made while serving `path` of the auth API.
    pub fn with_path(mut self, path: &'a str) -> Self {
        self.path = Some(path);
        self
    }

    /// The request headers.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// A header as text, if present and valid visible ASCII.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// "Now" for this request, from the `Auth`'s clock.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The auth API path being served, relative to the base path
    /// (`/get-session`, `/multi-session/list-device-sessions`); `None` for
    /// [`crate::CustomSession::session`] (an application route).
    pub fn path(&self) -> Option<&'a str> {
        self.path
    }
}

/// Turns a resolved session into the body `/get-session` answers with
/// (better-auth's `customSession` function).
///
/// Implement it on your own type when the function needs state or a
/// nameable type; for a closure use [`crate::CustomSession::new`].
///
/// ```
/// use serde::Serialize;
/// use tessera::{ApiError, Session, SessionWithUser, User};
/// use tessera_custom_session::{CustomSession, RequestInfo, SessionShaper};
///
/// /// better-auth's docs example: roles next to the user and session.
/// struct WithRoles;
///
/// #[derive(Serialize)]
/// struct Shaped {
///     roles: Vec<&'static str>,
///     user: User,
///     session: Session,
/// }
///
/// impl SessionShaper for WithRoles {
///     type Output = Shaped;
///
///     async fn shape(&self, s: SessionWithUser, _req: &RequestInfo<'_>) -> Result<Shaped, ApiError> {
///         let SessionWithUser { session, mut user } = s;
///         user.extra.insert("newField".into(), "newField".into());
///         Ok(Shaped { roles: vec!["user"], user, session })
///     }
/// }
///
/// let plugin = CustomSession::with_shaper(WithRoles);
/// # let _ = plugin;
/// ```
pub trait SessionShaper: Send + Sync + 'static {
    /// The body: serialized as JSON, it replaces `{session, user}`.
    type Output: Serialize + Send + 'static;

    /// Shapes one session. An error becomes the response (its status and
    /// `{message, code}`); it never reads as "signed out".
    fn shape(
        &self,
        session: SessionWithUser,
        req: &RequestInfo<'_>,
    ) -> impl Future<Output = Result<Self::Output, ApiError>> + Send;
}

/// A closure as a [`SessionShaper`]: `|session, req| async move { … }`.
///
/// The closure reads what it needs from `req` before its `async move`
/// block; the block itself owns the session.
#[derive(Clone, Copy)]
pub struct ShapeFn<F>(pub F);

impl<F> std::fmt::Debug for ShapeFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShapeFn(..)")
    }
}

impl<F, Fut, T> SessionShaper for ShapeFn<F>
where
    F: Fn(SessionWithUser, &RequestInfo<'_>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, ApiError>> + Send,
    T: Serialize + Send + 'static,
{
    type Output = T;

    fn shape(
        &self,
        session: SessionWithUser,
        req: &RequestInfo<'_>,
    ) -> impl Future<Output = Result<T, ApiError>> + Send {
        (self.0)(session, req)
    }
}
