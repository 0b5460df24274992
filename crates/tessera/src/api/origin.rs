//! Origin and CSRF checks (spec §7.2).

use http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::body::is_truthy;
use super::trusted::TrustedOrigins;
use crate::error::{codes, ApiError};

/// The request's `Origin`, else its `Referer`.
fn request_origin(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(http::header::ORIGIN)
        .or_else(|| headers.get(http::header::REFERER))
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

/// better-auth's `validateOrigin`: the request's origin must be trusted.
pub fn validate_origin(headers: &HeaderMap, trusted: &TrustedOrigins) -> Result<(), ApiError> {
    match request_origin(headers) {
        Some("null") => {
            let same_origin = headers
                .get("sec-fetch-site")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"same-origin"));
            if same_origin {
                Ok(())
            } else {
                Err(codes::missing_or_null_origin())
            }
        }
        None => Err(codes::missing_or_null_origin()),
        Some(origin) if trusted.is_trusted(origin) => Ok(()),
        Some(_) => Err(codes::invalid_origin()),
    }
}

/// `formCsrfMiddleware` for `/sign-in/email` and `/sign-up/email`, which
/// usually arrive without cookies.
pub fn form_csrf(
    headers: &HeaderMap,
    has_cookies: bool,
    trusted: &TrustedOrigins,
) -> Result<(), ApiError> {
    if has_cookies {
        return validate_origin(headers, trusted);
    }
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let mode = headers.get("sec-fetch-mode").and_then(|v| v.to_str().ok());
    let dest = headers.get("sec-fetch-dest");
    if site.is_some() || mode.is_some() || dest.is_some() {
        if site == Some("cross-site") && mode == Some("navigate") {
            return Err(codes::cross_site_navigation_login_blocked());
        }
        return validate_origin(headers, trusted);
    }
    if request_origin(headers).is_some() {
        return validate_origin(headers, trusted);
    }
    Ok(())
}

/// better-auth's `originCheckMiddleware` on the URL fields of a body (and
/// `callbackURL` of the query when the body has none): each must be a
/// trusted URL or a safe relative path. A value JavaScript finds falsy
/// (`null`, `false`, `0`, `""`) is not checked; one that is not a string is
/// 400, as in better-auth.
pub fn validate_callback_urls(
    body: Option<&Value>,
    query_callback_url: Option<&str>,
    trusted: &TrustedOrigins,
) -> Result<(), ApiError> {
    type ErrorFor = fn() -> ApiError;
    // (body field, better-auth's label for it, the refusal)
    let fields: [(&str, &str, ErrorFor); 4] = [
        ("callbackURL", "callbackURL", codes::invalid_callback_url),
        ("redirectTo", "redirectURL", codes::invalid_redirect_url),
        (
            "errorCallbackURL",
            "errorCallbackURL",
            codes::invalid_error_callback_url,
        ),
        (
            "newUserCallbackURL",
            "newUserCallbackURL",
            codes::invalid_new_user_callback_url,
        ),
    ];
    let map = match body {
        Some(Value::Object(map)) => Some(map),
        _ => None,
    };
    for (field, label, refusal) in fields {
        let value = map.and_then(|m| m.get(field)).filter(|v| is_truthy(v));
        let url = match value {
            Some(Value::String(url)) => Some(url.as_str()),
            Some(_) => {
                return Err(ApiError::message_only(
                    StatusCode::BAD_REQUEST,
                    format!("Invalid {label}: expected a string"),
                ))
            }
            None if field == "callbackURL" => query_callback_url.filter(|q| !q.is_empty()),
            None => None,
        };
        if url.is_some_and(|url| !trusted.is_trusted_callback(url)) {
            return Err(refusal());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted() -> TrustedOrigins {
        TrustedOrigins::new([
            "http://127.0.0.1:3005",
            "https://*.example.org",
            "*.example.net",
            "myapp://",
        ])
    }

    #[test]
    fn missing_origin_with_cookies_is_refused() {
        let h = HeaderMap::new();
        assert_eq!(
            validate_origin(&h, &trusted()).unwrap_err().code.as_deref(),
            Some("MISSING_OR_NULL_ORIGIN")
        );
        assert!(form_csrf(&h, false, &trusted()).is_ok());
    }
}
