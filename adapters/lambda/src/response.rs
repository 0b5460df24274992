//! Responses out: the kernel's `http::Response<Bytes>` as `lambda_http`'s.

use bytes::Bytes;
use http::Response;
use lambda_http::Body;

/// Converts a kernel response for `lambda_http`: a UTF-8 body (the kernel's
/// JSON) as text, anything else as binary. Headers, `Set-Cookie` one per
/// cookie, are kept: `lambda_http` moves them into the HTTP API `cookies`
/// array or the `multiValueHeaders` of REST API and ALB responses.
///
/// `lambda_http` then encodes the envelope's body by `Content-Type`: the
/// kernel's `application/json` leaves as text (`"isBase64Encoded": false`),
/// a body without a textual type as base64.
pub fn lambda_response(res: Response<Bytes>) -> Response<Body> {
    res.map(|bytes| {
        if bytes.is_empty() {
            return Body::Empty;
        }
        match String::from_utf8(Vec::from(bytes)) {
            Ok(text) => Body::Text(text),
            Err(err) => Body::Binary(err.into_bytes()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_text_and_bytes_are_binary() {
        let text = lambda_response(Response::new(Bytes::from_static(b"{\"ok\":true}")));
        assert_eq!(text.body(), &Body::Text("{\"ok\":true}".to_owned()));
        let binary = lambda_response(Response::new(Bytes::from_static(&[0xff, 0])));
        assert_eq!(binary.body(), &Body::Binary(vec![0xff, 0]));
        let empty = lambda_response(Response::new(Bytes::new()));
        assert_eq!(empty.body(), &Body::Empty);
    }
}
