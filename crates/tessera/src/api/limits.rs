//! The request-head limits ([`RequestLimits`]): sizes checked before
//! anything else reads a request's headers, the cookie count by the parser
//! as it reads them, so a hostile head costs one pass and a 431, whatever
//! its shape.

use http::header::COOKIE;
use http::HeaderMap;

use super::{codes, ApiError};
use crate::cookie::RequestCookies;
use crate::options::RequestLimits;

/// `: ` and the line break HTTP/1.1 writes around every header value.
const FIELD_FRAMING: usize = 4;

/// 431 `REQUEST_HEADER_FIELDS_TOO_LARGE` when the header fields, or the
/// `Cookie` values among them, exceed `limits`: one step per header field,
/// no byte read.
pub(crate) fn check(headers: &HeaderMap, limits: &RequestLimits) -> Result<(), ApiError> {
    let mut head = 0usize;
    let mut cookie_bytes = 0usize;
    for (name, value) in headers {
        head = head.saturating_add(name.as_str().len() + value.len() + FIELD_FRAMING);
        if name == COOKIE {
            cookie_bytes = cookie_bytes.saturating_add(value.len());
        }
    }
    if head > limits.max_head_bytes {
        return Err(refused("head bytes", limits.max_head_bytes));
    }
    if cookie_bytes > limits.max_cookie_bytes {
        return Err(refused("Cookie bytes", limits.max_cookie_bytes));
    }
    Ok(())
}

/// The request's cookies, parsed under [`RequestLimits::max_cookies`]:
/// 431 past it. The parser stops there, so its work is bounded by the
/// limit (and, through [`check`], by the header's size), and the count
/// costs nothing on top of the parse every request needs.
pub(crate) fn cookies(
    headers: &HeaderMap,
    limits: &RequestLimits,
) -> Result<RequestCookies, ApiError> {
    RequestCookies::from_headers_within(headers, limits.max_cookies)
        .map_err(|_| refused("cookies", limits.max_cookies))
}

fn refused(what: &'static str, limit: usize) -> ApiError {
    tracing::debug!(what, limit, "request refused: over a request limit");
    codes::request_header_fields_too_large()
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn limits() -> RequestLimits {
        RequestLimits {
            max_head_bytes: 200,
            max_cookie_bytes: 100,
            max_cookies: 5,
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    fn status(h: &HeaderMap) -> Option<u16> {
        check(h, &limits()).err().map(|e| e.status.as_u16())
    }

    #[test]
    fn a_head_exactly_at_the_limit_passes_one_byte_more_is_431() {
        // "x-pad: " + value + "\r\n": 5 + 4 framing bytes around the value.
        let at = headers(&[("x-pad", &"v".repeat(200 - 9))]);
        assert_eq!(status(&at), None);
        let over = headers(&[("x-pad", &"v".repeat(200 - 8))]);
        assert_eq!(status(&over), Some(431));
    }

    #[test]
    fn cookie_bytes_are_summed_over_every_cookie_header() {
        let half = format!("a={}", "v".repeat(48));
        assert_eq!(status(&headers(&[("cookie", &half)])), None);
        let twice = headers(&[("cookie", &half), ("cookie", &format!("{half}x"))]);
        assert_eq!(status(&twice), Some(431));
    }

    #[test]
    fn cookies_are_counted_over_every_cookie_header() {
        let count = |h: &HeaderMap| cookies(h, &limits()).err().map(|e| e.status.as_u16());
        let five = headers(&[("cookie", "a=1; b=2; c=3"), ("cookie", "d=4; e=5")]);
        assert_eq!(count(&five), None);
        let six = headers(&[("cookie", "a=1; b=2; c=3"), ("cookie", "d=4; e=5; f=6")]);
        assert_eq!(count(&six), Some(431));
        // Only the count: the sizes are `check`'s.
        assert_eq!(status(&six), None);
    }

    #[test]
    fn the_answer_is_better_auth_shaped_json() {
        let err = check(&headers(&[("cookie", &"a".repeat(101))]), &limits()).unwrap_err();
        assert_eq!(
            err.body().as_ref(),
            br#"{"message":"Request header fields too large","code":"REQUEST_HEADER_FIELDS_TOO_LARGE"}"#
        );
    }
}
