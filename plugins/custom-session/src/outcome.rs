//! What the typed getter ([`crate::CustomSession::session`]) returns.

use tessera::{ApiError, CookieJar};

/// The shaped session of an application request **and** the `Set-Cookie`
/// headers its response must carry (a refresh, a cache rewrite, or the
/// deletion of a dead session's cookies), like [`tessera::SessionOutcome`].
#[derive(Debug)]
#[non_exhaustive]
#[must_use = "the Set-Cookie headers must be applied to the response"]
pub struct CustomOutcome<T> {
    /// What the function returned, or `None` when signed out (the function
    /// was not called).
    pub session: Option<T>,
    /// `Set-Cookie` headers for the response.
    pub cookies: CookieJar,
    /// With `deferSessionRefresh`, whether the client should
    /// `POST /get-session`.
    pub needs_refresh: Option<bool>,
}

/// The typed getter failed: the resolution or the function answered with
/// `error`. `cookies` still holds the cookie work done before the failure
/// (a refresh that already extended the stored session): apply it to the
/// error response too, or the browser keeps the old expiry.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
#[must_use = "the Set-Cookie headers must be applied to the response"]
pub struct CustomSessionError {
    /// The error, with its status and `{message, code}`.
    pub error: ApiError,
    /// `Set-Cookie` headers for the (error) response.
    pub cookies: CookieJar,
}
