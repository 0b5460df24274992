//! A minimal HTTP/1.1 client, one request per connection, that tells a
//! refused or broken connection from a server that does not answer.
//! (`load.rs` has its own, private to `bench load`, which only needs to
//! know that a request failed.)

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::record::Outcome;
use crate::load::parse_reply;

/// A request with no answer within this long is [`Outcome::TimedOut`]:
/// longer than any store timeout of Tessera's, so only a hung server
/// reaches it.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) use crate::load::Reply;

impl Reply {
    /// A get-session answer that is a session, not `null`.
    pub(super) fn is_session(&self) -> bool {
        self.status == 200 && self.body.trim_start().starts_with('{')
    }

    /// The `Cookie` header value of every cookie set with a value.
    pub(super) fn cookies(&self) -> String {
        let pairs: Vec<&str> = self
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, v)| v.split(';').next())
            .filter(|pair| pair.split_once('=').is_some_and(|(_, v)| !v.is_empty()))
            .collect();
        pairs.join("; ")
    }
}

/// Sends one request to `addr` and reads the whole response.
pub(super) fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<Reply, Outcome> {
    let mut stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(failure)?;
    stream
        .set_read_timeout(Some(ANSWER_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(ANSWER_TIMEOUT)))
        .map_err(failure)?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method == "POST" {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).map_err(failure)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(failure)?;
    if raw.is_empty() {
        return Err(Outcome::ConnectionFailed);
    }
    parse_reply(&raw).ok_or(Outcome::Malformed)
}

fn failure(e: std::io::Error) -> Outcome {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => Outcome::TimedOut,
        _ => Outcome::ConnectionFailed,
    }
}

/// The first string value of `"field"` in a JSON text: enough for the
/// top-level `token` of a sign-up or sign-in answer, which comes before
/// the user object.
pub(super) fn json_string(body: &str, field: &str) -> Option<String> {
    let key = format!("\"{field}\":\"");
    let start = body.find(&key)? + key.len();
    let len = body[start..].find('"')?;
    Some(body[start..start + len].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunked_sign_in_answer_yields_its_cookies_and_token() {
        let raw = b"HTTP/1.1 200 OK\r\nset-cookie: better-auth.session_token=abc.sig; Path=/; HttpOnly\r\nset-cookie: better-auth.session_data=xyz; Path=/\r\nset-cookie: better-auth.dont_remember=; Max-Age=0\r\nTransfer-Encoding: chunked\r\n\r\n1a\r\n{\"redirect\":false,\"token\":\r\n16\r\n\"abc\",\"user\":{\"id\":1}}\r\n0\r\n\r\n";
        let reply = parse_reply(raw).unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.cookies(),
            "better-auth.session_token=abc.sig; better-auth.session_data=xyz"
        );
        assert_eq!(json_string(&reply.body, "token").as_deref(), Some("abc"));
        assert!(reply.is_session());
    }

    #[test]
    fn null_is_not_a_session() {
        let reply = parse_reply(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nnull").unwrap();
        assert!(!reply.is_session());
        let unavailable = parse_reply(b"HTTP/1.1 503 Service Unavailable\r\n\r\n{}").unwrap();
        assert!(!unavailable.is_session());
    }

    #[test]
    fn a_closed_port_is_a_failed_connection() {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap();
        // The listener is dropped: nothing listens there any more.
        let outcome = request(addr, "GET", "/", &[], None).err();
        assert_eq!(outcome, Some(Outcome::ConnectionFailed));
    }
}
