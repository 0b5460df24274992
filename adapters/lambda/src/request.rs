//! Requests in: what `lambda_http` built from an event, as the kernel's
//! `http::Request<Bytes>`.

use std::net::IpAddr;

use bytes::Bytes;
use http::Uri;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use tessera::{Auth, ClientAddr};

/// Converts a request `lambda_http` built from an API Gateway, ALB or
/// Function URL event into the kernel's request:
///
/// - the body as bytes (`lambda_http` has already decoded base64 bodies);
/// - the path with API Gateway's stage removed when that is what puts it
///   under the auth API's base path (see [the crate docs](crate#paths-and-stages));
/// - the source IP of the request context as [`ClientAddr`] in the
///   extensions (API Gateway REST `identity.sourceIp`, HTTP API and
///   Function URL `http.sourceIp`; ALB has none: see
///   [the crate docs](crate#client-ip)).
///
/// Headers (with the HTTP API `cookies` array already joined into `Cookie`
/// by `lambda_http`), method, query and `lambda_http`'s extensions are kept.
pub fn kernel_request(auth: &Auth, req: Request) -> http::Request<Bytes> {
    let stripped = auth_api_path(auth, &req)
        .filter(|path| path.len() < req.uri().path().len())
        .map(str::to_owned);
    let peer = client_addr(&req);
    let (mut parts, body) = req.into_parts();
    if let Some(path) = stripped {
        parts.uri = with_path(&parts.uri, &path);
    }
    if let Some(peer) = peer {
        parts.extensions.insert(peer);
    }
    http::Request::from_parts(parts, body_bytes(body))
}

/// The path under which `req` belongs to the auth API, if it does:
/// `uri().path()` itself, or that path without a leading `/{stage}`
/// segment. A path already under the base path is never stripped, so a
/// stage named like its first segment (`api`) cannot break routing.
pub(crate) fn auth_api_path<'r>(auth: &Auth, req: &'r Request) -> Option<&'r str> {
    let path = req.uri().path();
    if auth.owns_path(path) {
        return Some(path);
    }
    let stripped = without_stage(path, stage(req)?)?;
    auth.owns_path(stripped).then_some(stripped)
}

/// The path of `req` as the kernel sees it: without API Gateway's stage
/// when that is what puts it under the auth API's base path, else as
/// `lambda_http` built it.
pub(crate) fn kernel_path<'r>(auth: &Auth, req: &'r Request) -> &'r str {
    auth_api_path(auth, req).unwrap_or_else(|| req.uri().path())
}

/// API Gateway's stage, unless it is the `$default` stage, which never
/// appears in paths. ALB and Function URL events have none.
fn stage(req: &Request) -> Option<&str> {
    let stage = match req.request_context_ref()? {
        RequestContext::ApiGatewayV1(ctx) => ctx.stage.as_deref(),
        RequestContext::ApiGatewayV2(ctx) => ctx.stage.as_deref(),
        _ => None,
    }?;
    (!stage.is_empty() && stage != "$default").then_some(stage)
}

/// `path` without its first segment when that segment is `stage`.
fn without_stage<'p>(path: &'p str, stage: &str) -> Option<&'p str> {
    let rest = path.strip_prefix('/')?.strip_prefix(stage)?;
    rest.starts_with('/').then_some(rest)
}

/// The source IP API Gateway (REST, HTTP API) or a Function URL saw.
pub(crate) fn client_addr(req: &Request) -> Option<ClientAddr> {
    let ip = match req.request_context_ref()? {
        RequestContext::ApiGatewayV1(ctx) => ctx.identity.source_ip.as_deref(),
        RequestContext::ApiGatewayV2(ctx) => ctx.http.source_ip.as_deref(),
        _ => None,
    }?;
    ip.parse::<IpAddr>().ok().map(ClientAddr)
}

fn with_path(uri: &Uri, path: &str) -> Uri {
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    // `path` is a suffix of a valid path, so it parses.
    match path_and_query.parse() {
        Ok(pq) => parts.path_and_query = Some(pq),
        Err(_) => return uri.clone(),
    }
    Uri::from_parts(parts).unwrap_or_else(|_| uri.clone())
}

fn body_bytes(body: Body) -> Bytes {
    match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        // `Body` is non-exhaustive; any future variant still derefs to bytes.
        other => Bytes::copy_from_slice(&other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth::builder(
            tessera::Options::new().secret("a-long-random-secret-of-at-least-32-characters!"),
        )
        .build()
        .unwrap()
    }

    fn rest_event(path: &str, stage: &str) -> Request {
        let event = serde_json::json!({
            "resource": "/{proxy+}",
            "path": path,
            "httpMethod": "GET",
            "headers": {"Host": "abc.execute-api.eu-west-1.amazonaws.com"},
            "multiValueHeaders": {},
            "queryStringParameters": {"x": "1"},
            "multiValueQueryStringParameters": {"x": ["1"]},
            "requestContext": {
                "stage": stage,
                "httpMethod": "GET",
                "path": format!("/{stage}{path}"),
                "identity": {"sourceIp": "198.51.100.7"}
            },
            "body": null,
            "isBase64Encoded": false
        });
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    fn http_api_event(raw_path: &str, stage: &str) -> Request {
        let event = serde_json::json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": raw_path,
            "rawQueryString": "",
            "headers": {"host": "abc.execute-api.eu-west-1.amazonaws.com"},
            "requestContext": {
                "stage": stage,
                "http": {
                    "method": "GET",
                    "path": raw_path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "2001:db8::1",
                    "userAgent": "test"
                }
            },
            "isBase64Encoded": false
        });
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    #[test]
    fn rest_stage_added_by_lambda_http_is_removed() {
        let auth = auth();
        let req = rest_event("/api/auth/ok", "prod");
        // lambda_http puts the stage into the URI of REST API requests.
        assert_eq!(req.uri().path(), "/prod/api/auth/ok");
        let req = kernel_request(&auth, req);
        assert_eq!(req.uri().path(), "/api/auth/ok");
        assert_eq!(req.uri().query(), Some("x=1"));
        assert_eq!(
            req.extensions().get::<ClientAddr>(),
            Some(&ClientAddr("198.51.100.7".parse().unwrap()))
        );
    }

    #[test]
    fn rest_path_that_already_carries_the_stage_matches() {
        let req = kernel_request(&auth(), rest_event("/prod/api/auth/ok", "prod"));
        assert_eq!(req.uri().path(), "/api/auth/ok");
    }

    #[test]
    fn stage_named_like_the_base_path_is_not_stripped_twice() {
        let auth = auth();
        // The event's path is /api/auth/ok; lambda_http leaves it alone
        // because it already starts with /api/.
        let req = kernel_request(&auth, rest_event("/api/auth/ok", "api"));
        assert_eq!(req.uri().path(), "/api/auth/ok");
        // An HTTP API on a stage named `api` puts it in rawPath.
        let req = kernel_request(&auth, http_api_event("/api/api/auth/ok", "api"));
        assert_eq!(req.uri().path(), "/api/auth/ok");
    }

    #[test]
    fn http_api_named_stage_in_raw_path_is_removed() {
        let req = kernel_request(&auth(), http_api_event("/beta/api/auth/ok", "beta"));
        assert_eq!(req.uri().path(), "/api/auth/ok");
        assert_eq!(
            req.extensions().get::<ClientAddr>(),
            Some(&ClientAddr("2001:db8::1".parse().unwrap()))
        );
    }

    #[test]
    fn default_stage_and_foreign_paths_are_left_alone() {
        let auth = auth();
        let req = kernel_request(&auth, http_api_event("/api/auth/ok", "$default"));
        assert_eq!(req.uri().path(), "/api/auth/ok");
        let req = kernel_request(&auth, http_api_event("/beta/hello", "beta"));
        assert_eq!(req.uri().path(), "/beta/hello");
    }

    #[test]
    fn bodies_become_bytes() {
        assert_eq!(body_bytes(Body::Empty), Bytes::new());
        assert_eq!(body_bytes(Body::from("{}")), Bytes::from_static(b"{}"));
        assert_eq!(
            body_bytes(Body::from(vec![0u8, 159])),
            Bytes::from_static(&[0, 159])
        );
    }
}
