//! actix-web 4 speaks `http` 0.2, the kernel `http` 1: the same grammar, so
//! every conversion here is a byte copy.

use actix_web::http::header as actix_header;
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;
use tessera::{ClientAddr, CookieJar};

/// An actix request head and its collected body, as the kernel's request.
pub(crate) fn request(req: &HttpRequest, body: Bytes) -> Result<http::Request<Bytes>, http::Error> {
    let uri = req.uri();
    // The usual origin-form target is its path and query; only an
    // absolute-form one needs the whole URI written out.
    let uri = match (uri.authority(), uri.path_and_query()) {
        (None, Some(target)) => http::Uri::try_from(target.as_str())?,
        _ => http::Uri::try_from(uri.to_string())?,
    };
    // Filled in place: a `Builder` moves its whole head at every step.
    let mut out = http::Request::new(body);
    *out.method_mut() = http::Method::from_bytes(req.method().as_str().as_bytes())?;
    *out.uri_mut() = uri;
    *out.version_mut() = version(req.version());
    *out.headers_mut() = headers_of(req.headers());
    Ok(out)
}

/// The socket peer, for [`tessera::Auth::handle_from`].
pub(crate) fn peer(req: &HttpRequest) -> Option<ClientAddr> {
    req.peer_addr().map(|peer| ClientAddr(peer.ip()))
}

fn version(v: actix_web::http::Version) -> http::Version {
    use actix_web::http::Version;
    match v {
        Version::HTTP_09 => http::Version::HTTP_09,
        Version::HTTP_10 => http::Version::HTTP_10,
        Version::HTTP_2 => http::Version::HTTP_2,
        Version::HTTP_3 => http::Version::HTTP_3,
        _ => http::Version::HTTP_11,
    }
}

/// Every header of an actix request, repeated ones kept in order.
pub(crate) fn headers_of(from: &actix_header::HeaderMap) -> http::HeaderMap {
    let mut to = http::HeaderMap::with_capacity(from.len());
    for (name, value) in from.iter() {
        // Both crates validate names and values by the same rules, so a
        // failure here cannot happen; skip rather than panic.
        let (Some(name), Ok(value)) = (
            to_http1(name),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) else {
            continue;
        };
        to.append(name, value);
    }
    to
}

/// The kernel's response as an actix response; every header is appended on
/// its own (a `Set-Cookie` per cookie, never comma-joined).
pub(crate) fn response(res: http::Response<Bytes>) -> HttpResponse {
    let (parts, body) = res.into_parts();
    let status = actix_web::http::StatusCode::from_u16(parts.status.as_u16())
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut out = HttpResponse::build(status).body(body);
    let headers = out.headers_mut();
    for (name, value) in &parts.headers {
        if let (Some(name), Ok(value)) = (
            to_actix(name),
            actix_header::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    out
}

/// The jar's `Set-Cookie` values, one per cookie.
pub(crate) fn set_cookies(jar: &CookieJar) -> Vec<actix_header::HeaderValue> {
    jar.iter()
        .filter_map(|c| actix_header::HeaderValue::from_bytes(c.to_header_value().as_bytes()).ok())
        .collect()
}

/// Appends `Set-Cookie` values to an actix header map.
pub(crate) fn append_set_cookies(
    headers: &mut actix_header::HeaderMap,
    cookies: &[actix_header::HeaderValue],
) {
    for value in cookies {
        headers.append(actix_header::SET_COOKIE, value.clone());
    }
}

/// Header names both `http` versions define, taken across by identity:
/// comparing a standard name is a tag comparison, parsing one is a
/// table lookup after a lowercase copy. The rest are parsed.
macro_rules! standard_names {
    ($($name:ident),* $(,)?) => {
        fn to_http1(name: &actix_header::HeaderName) -> Option<http::HeaderName> {
            $(if *name == actix_header::$name {
                return Some(http::header::$name);
            })*
            http::HeaderName::from_bytes(name.as_str().as_bytes()).ok()
        }

        fn to_actix(name: &http::HeaderName) -> Option<actix_header::HeaderName> {
            $(if *name == http::header::$name {
                return Some(actix_header::$name);
            })*
            actix_header::HeaderName::from_bytes(name.as_str().as_bytes()).ok()
        }
    };
}

// What auth requests carry and the kernel answers with, most common first.
standard_names!(
    HOST,
    COOKIE,
    USER_AGENT,
    ACCEPT,
    ACCEPT_ENCODING,
    ACCEPT_LANGUAGE,
    CONNECTION,
    CONTENT_TYPE,
    CONTENT_LENGTH,
    ORIGIN,
    REFERER,
    AUTHORIZATION,
    SET_COOKIE,
    CACHE_CONTROL,
    PRAGMA,
    LOCATION,
    VARY,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cross_unchanged_in_both_directions() {
        let names = [
            "host",
            "cookie",
            "user-agent",
            "accept",
            "accept-encoding",
            "accept-language",
            "connection",
            "content-type",
            "content-length",
            "origin",
            "referer",
            "authorization",
            "set-cookie",
            "cache-control",
            "pragma",
            "location",
            "vary",
            // Standard in both crates but not in the table, and custom ones.
            "etag",
            "x-forwarded-for",
            "x-custom-header",
        ];
        for name in names {
            let actix = actix_header::HeaderName::from_static(name);
            let http1 = to_http1(&actix).unwrap();
            assert_eq!(http1.as_str(), name);
            assert_eq!(http1, http::HeaderName::from_static(name));
            assert_eq!(to_actix(&http1).unwrap(), actix);
        }
    }

    #[test]
    fn repeated_headers_keep_their_order() {
        let mut from = actix_header::HeaderMap::new();
        for (name, value) in [("cookie", "a=1"), ("x-tag", "one"), ("cookie", "b=2")] {
            from.append(
                actix_header::HeaderName::from_static(name),
                actix_header::HeaderValue::from_static(value),
            );
        }
        let to = headers_of(&from);
        let cookies: Vec<_> = to.get_all(http::header::COOKIE).iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(to.get("x-tag").unwrap(), "one");
    }
}
