//! The request-head limits ([`RequestLimits`]): checked before anything
//! else reads a request's headers, so a hostile head costs one pass over
//! its bytes and a 431, whatever its shape.

use http::header::COOKIE;
use http::HeaderMap;

use super::{codes, ApiError};
use crate::options::RequestLimits;

/// `: ` and the line break HTTP/1.1 writes around every header value.
const FIELD_FRAMING: usize = 4;

/// 431 `REQUEST_HEADER_FIELDS_TOO_LARGE` when the headers exceed `limits`.
///
/// Sizes come first (one step per header field); cookies are counted only
/// in `Cookie` values already known to be within
/// [`RequestLimits::max_cookie_bytes`]. A `;`-separated segment counts as
/// a cookie whether or not it holds one: each parser yields at most one
/// cookie per segment, so this bounds what they produce.
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
        return Err(refused("head", head, limits.max_head_bytes));
    }
    if cookie_bytes > limits.max_cookie_bytes {
        return Err(refused(
            "Cookie header",
            cookie_bytes,
            limits.max_cookie_bytes,
        ));
    }
    let mut cookies = 0usize;
    for value in headers.get_all(COOKIE) {
        cookies += 1 + memchr::memchr_iter(b';', value.as_bytes()).count();
    }
    if cookies > limits.max_cookies {
        return Err(refused("cookie count", cookies, limits.max_cookies));
    }
    Ok(())
}

fn refused(what: &'static str, size: usize, limit: usize) -> ApiError {
    tracing::debug!(what, size, limit, "request refused: over a request limit");
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
        let five = headers(&[("cookie", "a=1; b=2; c=3"), ("cookie", "d=4; e=5")]);
        assert_eq!(status(&five), None);
        let six = headers(&[("cookie", "a=1; b=2; c=3"), ("cookie", "d=4; e=5; f=6")]);
        assert_eq!(status(&six), Some(431));
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
