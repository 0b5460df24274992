//! better-auth's HTTP errors: [`ApiError`] with its `{"message", "code"}`
//! body (spec §7.1), the table of better-auth's codes ([`codes`]), and how
//! the engine's and the stores' errors map onto them.

use std::borrow::Cow;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use serde::Serialize;

use crate::rate_limit::Limited;
use crate::session::ResolveError;
use crate::store::StoreError;

/// An error answered to the client, with better-auth's status, code and
/// message. 5xx errors never carry internal detail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{status} {code:?}: {message}")]
pub struct ApiError {
    /// HTTP status.
    #[serde(skip)]
    pub status: StatusCode,
    /// Human-readable message.
    pub message: Cow<'static, str>,
    /// Machine-readable code; a few better-auth errors have none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<Cow<'static, str>>,
    /// Seconds a refused client should wait, sent as `X-Retry-After` (a
    /// 429's, spec §11.1).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a code.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        ApiError {
            status,
            message: message.into(),
            code: Some(code.into()),
            retry_after: None,
        }
    }

    /// An error with a message and no code.
    pub fn message_only(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        ApiError {
            status,
            message: message.into(),
            code: None,
            retry_after: None,
        }
    }

    /// 401 `UNAUTHORIZED`.
    pub fn unauthorized() -> Self {
        codes::unauthorized()
    }

    /// 400 `VALIDATION_ERROR` with zod-style issues.
    pub fn validation(message: impl Into<Cow<'static, str>>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
    }

    /// 500 with a generic body; the cause is logged, never sent.
    pub fn internal(
        code: &'static str,
        message: &'static str,
        cause: &dyn std::error::Error,
    ) -> Self {
        tracing::error!(error = %cause, source = ?cause.source(), code, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, code, message)
    }

    /// The JSON body.
    pub fn body(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }

    /// A complete response.
    pub fn into_response(self) -> Response<Bytes> {
        let mut res = Response::new(self.body());
        *res.status_mut() = self.status;
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert("x-retry-after", HeaderValue::from(secs));
        }
        res
    }
}

impl From<Limited> for ApiError {
    /// better-auth's 429: `{"message":"Too many requests. Please try again later."}`
    /// with `X-Retry-After`.
    fn from(limited: Limited) -> Self {
        let mut e = ApiError::message_only(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests. Please try again later.",
        );
        e.retry_after = Some(limited.retry_after);
        e
    }
}

impl From<ResolveError> for ApiError {
    /// A failed resolution as better-auth answers it: 401
    /// `FAILED_TO_GET_SESSION` when the session ended during the request,
    /// 503 `STORAGE_UNAVAILABLE` when the store cannot be reached (so
    /// clients retry rather than treat it as signed out), and better-auth's
    /// 500 `FAILED_TO_GET_SESSION` for any other store failure.
    fn from(e: ResolveError) -> Self {
        match e {
            ResolveError::Unauthorized => codes::failed_to_get_session(),
            ResolveError::Storage(e @ StoreError::Unavailable(_)) => e.into(),
            ResolveError::Storage(other) => {
                ApiError::internal("FAILED_TO_GET_SESSION", "Failed to get session", &other)
            }
        }
    }
}

/// An error code with its status and message, as a table row: the kernel's
/// own ([`codes::ALL`]) and plugins' (better-auth's `$ERROR_CODES`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorCode {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code, e.g. `INVALID_SESSION_TOKEN`.
    pub code: &'static str,
    /// Human-readable message.
    pub message: &'static str,
}

impl ErrorCode {
    /// The error, to answer with.
    pub fn error(&self) -> ApiError {
        ApiError::new(self.status, self.code, self.message)
    }
}

impl From<StoreError> for ApiError {
    /// A storage failure as a response: 503 `STORAGE_UNAVAILABLE` when the
    /// store cannot be reached (a revocation is never reported as done when
    /// it was not), a generic 500 otherwise. Details are logged, never sent.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => {
                tracing::error!(error = %e, source = ?std::error::Error::source(&e), "storage unavailable");
                codes::storage_unavailable()
            }
            other => ApiError::internal("INTERNAL_SERVER_ERROR", "Internal Server Error", &other),
        }
    }
}

/// Error codes better-auth answers with, and their messages.
pub mod codes {
    use super::{ApiError, ErrorCode};
    use http::StatusCode;

    macro_rules! errors {
        ($($(#[$doc:meta])* $fn:ident => $status:ident, $code:literal, $msg:literal;)*) => {
            $( $(#[$doc])* pub fn $fn() -> ApiError { ApiError::new(StatusCode::$status, $code, $msg) } )*

            /// Every coded error the kernel answers with, in table order
            /// (some codes, such as `BAD_REQUEST`, have several messages).
            pub const ALL: &[ErrorCode] = &[
                $( ErrorCode { status: StatusCode::$status, code: $code, message: $msg }, )*
            ];
        };
    }

    errors! {
        /// 401: no session where one is required (`sessionMiddleware`).
        unauthorized => UNAUTHORIZED, "UNAUTHORIZED", "Unauthorized";
        /// 503: the session store cannot be reached.
        storage_unavailable => SERVICE_UNAVAILABLE, "STORAGE_UNAVAILABLE", "Session storage is unavailable. Please try again.";
        /// 401: sign-in with an unknown email or a wrong password.
        invalid_email_or_password => UNAUTHORIZED, "INVALID_EMAIL_OR_PASSWORD", "Invalid email or password";
        /// 400: sign-in with a malformed email.
        invalid_email => BAD_REQUEST, "INVALID_EMAIL", "Invalid email";
        /// 400: email/password sign-in is disabled.
        email_password_disabled => BAD_REQUEST, "EMAIL_PASSWORD_DISABLED", "Email and password is not enabled";
        /// 400: email/password sign-up is disabled.
        email_password_sign_up_disabled => BAD_REQUEST, "EMAIL_PASSWORD_SIGN_UP_DISABLED", "Email and password sign up is not enabled";
        /// 400: password shorter than the minimum.
        password_too_short => BAD_REQUEST, "PASSWORD_TOO_SHORT", "Password too short";
        /// 400: password longer than the maximum.
        password_too_long => BAD_REQUEST, "PASSWORD_TOO_LONG", "Password too long";
        /// 422: email already registered.
        user_already_exists => UNPROCESSABLE_ENTITY, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", "User already exists. Use another email.";
        /// 422: the user could not be created.
        failed_to_create_user => UNPROCESSABLE_ENTITY, "FAILED_TO_CREATE_USER", "Failed to create user";
        /// 403: sign-in before email verification.
        email_not_verified => FORBIDDEN, "EMAIL_NOT_VERIFIED", "Email not verified";
        /// 401: the session vanished during refresh.
        failed_to_get_session => UNAUTHORIZED, "FAILED_TO_GET_SESSION", "Failed to get session";
        /// 403: the session is older than `freshAge`.
        session_not_fresh => FORBIDDEN, "SESSION_NOT_FRESH", "Session is not fresh";
        /// 403: cookie-bearing request without an origin.
        missing_or_null_origin => FORBIDDEN, "MISSING_OR_NULL_ORIGIN", "Missing or null Origin";
        /// 403: origin not trusted.
        invalid_origin => FORBIDDEN, "INVALID_ORIGIN", "Invalid origin";
        /// 403: `callbackURL` not trusted.
        invalid_callback_url => FORBIDDEN, "INVALID_CALLBACK_URL", "Invalid callbackURL";
        /// 403: `redirectTo` not trusted.
        invalid_redirect_url => FORBIDDEN, "INVALID_REDIRECT_URL", "Invalid redirectURL";
        /// 403: `errorCallbackURL` not trusted.
        invalid_error_callback_url => FORBIDDEN, "INVALID_ERROR_CALLBACK_URL", "Invalid errorCallbackURL";
        /// 403: `newUserCallbackURL` not trusted.
        invalid_new_user_callback_url => FORBIDDEN, "INVALID_NEW_USER_CALLBACK_URL", "Invalid newUserCallbackURL";
        /// 403: a cross-site navigation posting a login form.
        cross_site_navigation_login_blocked => FORBIDDEN, "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED", "Cross-site navigation login blocked. This request appears to be a CSRF attack.";
        /// 400: malformed JSON body.
        invalid_json => BAD_REQUEST, "BAD_REQUEST", "Invalid JSON in request body";
        /// 405: `POST /get-session` without `deferSessionRefresh`.
        defer_session_required => METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED", "POST method requires deferSessionRefresh to be enabled in session config";
        /// 413: a request body over the adapter's limit.
        payload_too_large => PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", "Request body too large";
        /// 400: a request body that could not be read.
        body_unreadable => BAD_REQUEST, "BAD_REQUEST", "Failed to read request body";
        /// 400: `/update-session` with a field that may not be set.
        field_not_allowed => BAD_REQUEST, "FIELD_NOT_ALLOWED", "Field not allowed to be set";
        /// 431: a request head or its cookies over the configured
        /// [`RequestLimits`](crate::options::RequestLimits) (Node answers
        /// better-auth's clients 431 past its 16 KiB head limit).
        request_header_fields_too_large => REQUEST_HEADER_FIELDS_TOO_LARGE, "REQUEST_HEADER_FIELDS_TOO_LARGE", "Request header fields too large";
        /// 400: `/send-verification-email` without a mailer.
        verification_email_not_enabled => BAD_REQUEST, "VERIFICATION_EMAIL_NOT_ENABLED", "Verification email isn't enabled";
        /// 400: `/send-verification-email` for another address than the session's.
        email_mismatch => BAD_REQUEST, "EMAIL_MISMATCH", "Email mismatch";
        /// 400: `/send-verification-email` for a verified address.
        email_already_verified => BAD_REQUEST, "EMAIL_ALREADY_VERIFIED", "Email is already verified";
        /// 400: `/request-password-reset` without a mailer.
        reset_password_disabled => BAD_REQUEST, "RESET_PASSWORD_DISABLED", "Reset password isn't enabled";
        /// 400: an unknown, spent or expired one-time token.
        invalid_token => BAD_REQUEST, "INVALID_TOKEN", "Invalid token";
        /// 400: the user of a reset token no longer exists.
        user_not_found => BAD_REQUEST, "USER_NOT_FOUND", "User not found";
        /// 400: a wrong current password.
        invalid_password => BAD_REQUEST, "INVALID_PASSWORD", "Invalid password";
        /// 400: a password check for a user without a password.
        credential_account_not_found => BAD_REQUEST, "CREDENTIAL_ACCOUNT_NOT_FOUND", "Credential account not found";
        /// 400: `/update-user` with an `email`.
        email_can_not_be_updated => BAD_REQUEST, "EMAIL_CAN_NOT_BE_UPDATED", "Email can not be updated";
        /// 400: `/change-email` while `user.changeEmail` is off.
        change_email_disabled => BAD_REQUEST, "CHANGE_EMAIL_DISABLED", "Change email is disabled";
        /// 400: `/delete-user` without a password, a token or a mailed link,
        /// from a session older than `freshAge`.
        session_expired => BAD_REQUEST, "SESSION_EXPIRED", "Session expired. Re-authenticate to perform this action.";
        /// 404: a delete-account token that is unknown, spent, expired or
        /// another user's.
        delete_token_invalid => NOT_FOUND, "INVALID_TOKEN", "Invalid token";
        /// 404: `/delete-user/callback` without a session.
        failed_to_get_user_info => NOT_FOUND, "FAILED_TO_GET_USER_INFO", "Failed to get user info";
        /// 404: `/delete-user/callback` while `user.deleteUser` is off.
        not_found => NOT_FOUND, "NOT_FOUND", "Not found";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_message_then_code() {
        assert_eq!(
            codes::invalid_origin().body(),
            Bytes::from_static(br#"{"message":"Invalid origin","code":"INVALID_ORIGIN"}"#)
        );
        let no_code = ApiError::message_only(StatusCode::BAD_REQUEST, "No fields to update");
        assert_eq!(
            no_code.body(),
            Bytes::from_static(br#"{"message":"No fields to update"}"#)
        );
    }
}
