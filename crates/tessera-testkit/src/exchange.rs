//! One request, sent the same way to the reference server over HTTP or to a
//! Tessera [`Auth`] in process, and the response in one comparable shape.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use http::header::{COOKIE, HOST, SET_COOKIE};
use http::{HeaderMap, Method};
use serde_json::Value;
use tessera::Auth;

use crate::uri::decode_uri_component;

/// A request to replay against either server. `path` includes the base path
/// (and any query), e.g. `/api/auth/get-session`.
#[derive(Clone, Debug)]
pub struct TestRequest {
    /// The method.
    pub method: Method,
    /// Path and query, sent verbatim (`//` and trailing slashes kept).
    pub path: String,
    /// Headers in order; `Host` is added when absent.
    pub headers: Vec<(String, String)>,
    /// The body; `None` sends none.
    pub body: Option<Vec<u8>>,
}

impl TestRequest {
    /// A request with no headers and no body.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        TestRequest {
            method,
            path: path.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// One line for a failure message: method, path, headers and body.
    pub fn describe(&self) -> String {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let body = self
            .body
            .as_ref()
            .map(|b| format!(" body={:?}", String::from_utf8_lossy(b)))
            .unwrap_or_default();
        format!(
            "{} {} [{}]{body}",
            self.method,
            self.path,
            headers.join(", ")
        )
    }

    /// `GET path`.
    pub fn get(path: impl Into<String>) -> Self {
        TestRequest::new(Method::GET, path)
    }

    /// `POST path`.
    pub fn post(path: impl Into<String>) -> Self {
        TestRequest::new(Method::POST, path)
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Adds `Origin: origin`.
    pub fn origin(self, origin: impl Into<String>) -> Self {
        self.header("origin", origin)
    }

    /// A JSON body with `Content-Type: application/json`.
    pub fn json(self, value: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(value.to_string())
    }

    /// A raw body; no `Content-Type` is added.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Adds a `Cookie` header with everything in `cookies`, if any.
    pub fn cookies(self, cookies: &ClientCookies) -> Self {
        match cookies.header() {
            Some(h) => self.header(COOKIE.as_str(), h),
            None => self,
        }
    }

    /// Whether a header named `name` (any case) is set.
    pub fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
    }
}

/// A response, reduced to what differential tests compare.
#[derive(Clone, Debug)]
pub struct TestResponse {
    /// The status code.
    pub status: u16,
    /// All response headers.
    pub headers: HeaderMap,
    /// Every `Set-Cookie` value, in order.
    pub set_cookies: Vec<String>,
    /// The body as text (lossy UTF-8).
    pub text: String,
    /// The body parsed as JSON; `None` when empty or not JSON.
    pub json: Option<Value>,
}

impl TestResponse {
    fn from_parts(status: u16, headers: HeaderMap, body: &[u8]) -> Self {
        let set_cookies = headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        TestResponse {
            status,
            headers,
            set_cookies,
            text: String::from_utf8_lossy(body).into_owned(),
            json: serde_json::from_slice(body).ok(),
        }
    }

    /// The body as JSON, or `null` when it is empty or not JSON.
    pub fn body(&self) -> &Value {
        static NULL: Value = Value::Null;
        self.json.as_ref().unwrap_or(&NULL)
    }

    /// The body's `code` field, if it is a JSON object with a string `code`.
    pub fn code(&self) -> Option<&str> {
        self.json.as_ref()?.get("code")?.as_str()
    }

    /// The body's `message` field, if it is a JSON object with a string `message`.
    pub fn message(&self) -> Option<&str> {
        self.json.as_ref()?.get("message")?.as_str()
    }

    /// Every cookie set, as [`SetCookieLine::shape`], in order.
    pub fn cookie_shapes(&self) -> Vec<String> {
        self.cookies().iter().map(SetCookieLine::shape).collect()
    }

    /// One line for a failure message: status, body, `Set-Cookie` lines and
    /// `Location`.
    pub fn describe(&self) -> String {
        format!(
            "{} {} set-cookie={:?}{}",
            self.status,
            self.text,
            self.set_cookies,
            self.header("location")
                .map(|l| format!(" location={l}"))
                .unwrap_or_default()
        )
    }

    /// The parsed `Set-Cookie` lines.
    pub fn cookies(&self) -> Vec<SetCookieLine> {
        self.set_cookies
            .iter()
            .map(|c| SetCookieLine::parse(c))
            .collect()
    }

    /// The names of every cookie set (or expired).
    pub fn cookie_names(&self) -> BTreeSet<String> {
        self.cookies().into_iter().map(|c| c.name).collect()
    }

    /// The names of the cookies this response expires.
    pub fn expired_cookie_names(&self) -> BTreeSet<String> {
        self.cookies()
            .into_iter()
            .filter(SetCookieLine::is_expired)
            .map(|c| c.name)
            .collect()
    }

    /// The last `Set-Cookie` for `name`.
    pub fn set_cookie(&self, name: &str) -> Option<SetCookieLine> {
        self.cookies().into_iter().rev().find(|c| c.name == name)
    }

    /// What the last `Set-Cookie` for `name` does: `Some(Some(value))` sets
    /// it (the raw value), `Some(None)` expires it, `None`: no such line.
    pub fn cookie(&self, name: &str) -> Option<Option<String>> {
        self.set_cookie(name)
            .map(|c| (!c.is_expired()).then_some(c.value))
    }

    /// The last `Set-Cookie` line for `name`, as sent.
    pub fn set_cookie_line(&self, name: &str) -> Option<&str> {
        self.set_cookies
            .iter()
            .rev()
            .find(|l| SetCookieLine::parse(l).name == name)
            .map(String::as_str)
    }

    /// The first value of header `name`, if it is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }
}

/// A response from [`Auth::handle`], as the other responses are read.
impl From<http::Response<Bytes>> for TestResponse {
    fn from(res: http::Response<Bytes>) -> Self {
        let (parts, body) = res.into_parts();
        TestResponse::from_parts(parts.status.as_u16(), parts.headers, &body)
    }
}

/// One `Set-Cookie` header split into name, raw value and attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetCookieLine {
    /// Cookie name.
    pub name: String,
    /// The value as sent (still percent-encoded).
    pub value: String,
    /// Everything after the value, split at `;` and trimmed, in order.
    pub attributes: Vec<String>,
}

impl SetCookieLine {
    /// Splits a `Set-Cookie` header value.
    pub fn parse(line: &str) -> Self {
        let mut parts = line.split(';');
        let pair = parts.next().unwrap_or_default();
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        SetCookieLine {
            name: name.trim().to_owned(),
            value: value.trim().to_owned(),
            attributes: parts
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty())
                .collect(),
        }
    }

    /// The value, percent-decoded like better-call's cookie parser does.
    pub fn decoded_value(&self) -> String {
        decode_uri_component(&self.value)
    }

    /// The value of attribute `name` (any case), e.g. `Max-Age`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find_map(|a| {
            let (k, v) = a.split_once('=').unwrap_or((a, ""));
            k.eq_ignore_ascii_case(name).then_some(v)
        })
    }

    /// The attributes with time-dependent values masked (`Expires=<date>`),
    /// so two servers' cookies compare equal when they agree on everything
    /// but the clock.
    pub fn comparable_attributes(&self) -> Vec<String> {
        self.attributes
            .iter()
            .map(|a| match a.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("expires") => format!("{k}=<date>"),
                _ => a.clone(),
            })
            .collect()
    }

    /// The line as two servers should agree on it: the name, `<value>` or
    /// nothing for an empty value, then [`SetCookieLine::comparable_attributes`].
    pub fn shape(&self) -> String {
        let value = if self.value.is_empty() { "" } else { "<value>" };
        format!(
            "{}={value}; {}",
            self.name,
            self.comparable_attributes().join("; ")
        )
    }

    /// Whether this line deletes the cookie (`Max-Age=0` or an empty value
    /// with an expiry in the past).
    pub fn is_expired(&self) -> bool {
        self.attribute("max-age")
            .is_some_and(|v| v.trim().parse::<i64>().is_ok_and(|n| n <= 0))
            || (self.value.is_empty() && self.attribute("expires").is_some())
    }
}

/// A minimal browser cookie store: keeps the latest value per name and
/// drops expired cookies. Ignores domain and path (one origin per test).
#[derive(Clone, Debug, Default)]
pub struct ClientCookies {
    cookies: BTreeMap<String, String>,
}

impl ClientCookies {
    /// An empty store.
    pub fn new() -> Self {
        ClientCookies::default()
    }

    /// Applies a response's `Set-Cookie` headers.
    pub fn update(&mut self, response: &TestResponse) {
        for c in response.cookies() {
            if c.is_expired() {
                self.cookies.remove(&c.name);
            } else {
                self.cookies.insert(c.name, c.value);
            }
        }
    }

    /// Sets a cookie to a raw (already encoded) value.
    pub fn insert(&mut self, name: impl Into<String>, raw_value: impl Into<String>) {
        self.cookies.insert(name.into(), raw_value.into());
    }

    /// The raw value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    /// The `Cookie` header value, or `None` when empty.
    pub fn header(&self) -> Option<String> {
        if self.cookies.is_empty() {
            return None;
        }
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        Some(pairs.join("; "))
    }
}

/// An HTTP client for tests: no redirects followed, no cookie store.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a reqwest client without TLS always builds")
}

/// Sends `req` to `base_url + req.path` over HTTP.
pub async fn send_http(
    client: &reqwest::Client,
    base_url: &str,
    req: &TestRequest,
) -> Result<TestResponse, String> {
    let (url, builder) = http_request(client, base_url, req);
    let res = builder
        .send()
        .await
        .map_err(|e| format!("{} {url}: {e}", req.method))?;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res
        .bytes()
        .await
        .map_err(|e| format!("{} {url}: reading body: {e}", req.method))?;
    Ok(TestResponse::from_parts(status, headers, &body))
}

/// Sends `req` over HTTP and reads only the status: a server refusing a
/// request head may close the connection before a body could be read, as
/// Node does after its 431.
pub async fn send_http_status(
    client: &reqwest::Client,
    base_url: &str,
    req: &TestRequest,
) -> Result<u16, String> {
    let (url, builder) = http_request(client, base_url, req);
    let res = builder
        .send()
        .await
        .map_err(|e| format!("{} {url}: {e}", req.method))?;
    Ok(res.status().as_u16())
}

/// Sends `req` (without its body) as raw HTTP/1.1 on a new connection to
/// an `http://` `base_url` and returns the status of the answer, read even
/// when the server closed the connection while the request was still being
/// written. That is what servers refusing an oversized head do — hyper,
/// actix-http and Node answer 431, then close without reading the rest —
/// and an HTTP client still writing then reports an error instead of the
/// answer already received (ten seconds at most).
pub async fn send_raw_status(base_url: &str, req: &TestRequest) -> Result<u16, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let authority = base_url
        .strip_prefix("http://")
        .ok_or_else(|| format!("not an http:// URL: {base_url}"))?
        .trim_end_matches('/');
    let mut head = format!(
        "{} {} HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\n",
        req.method, req.path
    );
    for (name, value) in &req.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(authority)
            .await
            .map_err(|e| format!("connect to {authority}: {e}"))?;
        let (mut reader, mut writer) = stream.split();
        // A server refusing the head stops reading: the write then fails
        // when it closes, which is expected here.
        let write = async {
            let _ = writer.write_all(head.as_bytes()).await;
        };
        let read = async {
            let mut answer = Vec::new();
            let mut chunk = [0u8; 1024];
            while !answer.windows(2).any(|w| w == b"\r\n") {
                match reader.read(&mut chunk).await {
                    Ok(0) => break,
                    Ok(n) => answer.extend_from_slice(&chunk[..n]),
                    Err(e) if answer.is_empty() => return Err(format!("no answer: {e}")),
                    Err(_) => break,
                }
            }
            Ok(answer)
        };
        let ((), answer) = tokio::join!(write, read);
        answer
    };
    let answer = tokio::time::timeout(std::time::Duration::from_secs(10), exchange)
        .await
        .map_err(|_| format!("{} {}: no answer within 10 s", req.method, req.path))??;
    let line = String::from_utf8_lossy(&answer);
    line.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("{} {}: not an HTTP answer: {line:?}", req.method, req.path))
}

fn http_request(
    client: &reqwest::Client,
    base_url: &str,
    req: &TestRequest,
) -> (String, reqwest::RequestBuilder) {
    let url = format!("{base_url}{}", req.path);
    let mut builder = client.request(req.method.clone(), &url);
    for (k, v) in &req.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    if let Some(body) = &req.body {
        builder = builder.body(body.clone());
    }
    (url, builder)
}

/// Hands `req` to a Tessera [`Auth`] in process, as an adapter would: the
/// URI is `base_url + req.path`, `Host` is taken from `base_url` when
/// the request has none, and no socket peer is given: better-auth never
/// sees one, so a session's `ipAddress` comes only from the headers a
/// test sends (set `ip.trust_headers_without_peer` for them to count).
pub async fn send_auth(auth: &Auth, base_url: &str, req: &TestRequest) -> TestResponse {
    let mut builder = http::Request::builder()
        .method(req.method.clone())
        .uri(format!("{base_url}{}", req.path));
    if !req.has_header("host") {
        let host = base_url.split_once("://").map_or(base_url, |(_, h)| h);
        builder = builder.header(HOST, host.trim_end_matches('/'));
    }
    for (k, v) in &req.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let body = Bytes::from(req.body.clone().unwrap_or_default());
    let request = builder
        .body(body)
        .unwrap_or_else(|e| panic!("invalid test request {req:?}: {e}"));
    TestResponse::from(auth.handle(request).await)
}

/// Where a [`TestRequest`] goes: the reference server, or Tessera in process.
#[derive(Clone, Debug)]
pub enum Target {
    /// A server reached over HTTP (the reference better-auth).
    Http {
        /// The client (no redirects).
        client: reqwest::Client,
        /// E.g. `http://127.0.0.1:3005`.
        base_url: String,
    },
    /// A Tessera instance called in process.
    Auth {
        /// The kernel.
        auth: Auth,
        /// The origin requests pretend to be sent to.
        base_url: String,
    },
}

impl Target {
    /// The reference server at `base_url`.
    pub fn http(base_url: impl Into<String>) -> Self {
        Target::Http {
            client: http_client(),
            base_url: base_url.into(),
        }
    }

    /// Tessera, answering as if it were served at `base_url`.
    pub fn auth(auth: Auth, base_url: impl Into<String>) -> Self {
        Target::Auth {
            auth,
            base_url: base_url.into(),
        }
    }

    /// A short label for reports: `better-auth` or `tessera`.
    pub fn label(&self) -> &'static str {
        match self {
            Target::Http { .. } => "better-auth",
            Target::Auth { .. } => "tessera",
        }
    }

    /// Sends `req`.
    ///
    /// # Panics
    ///
    /// On a transport error talking to the HTTP server.
    pub async fn send(&self, req: &TestRequest) -> TestResponse {
        match self {
            Target::Http { client, base_url } => send_http(client, base_url, req)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            Target::Auth { auth, base_url } => send_auth(auth, base_url, req).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(set_cookies: &[&str], body: &str) -> TestResponse {
        let mut res = http::Response::new(Bytes::from(body.to_owned()));
        for line in set_cookies {
            res.headers_mut()
                .append(SET_COOKIE, line.parse().expect("a header value"));
        }
        TestResponse::from(res)
    }

    #[test]
    fn the_last_line_for_a_cookie_says_what_happens_to_it() {
        let res = response(
            &[
                "a=1; Path=/",
                "b=; Max-Age=0; Path=/",
                "a=2; Path=/; HttpOnly",
                "ab=3",
            ],
            "",
        );
        assert_eq!(res.cookie("a"), Some(Some("2".to_owned())));
        assert_eq!(res.cookie("b"), Some(None));
        assert_eq!(res.cookie("c"), None);
        assert_eq!(res.set_cookie_line("a"), Some("a=2; Path=/; HttpOnly"));
        assert_eq!(res.set_cookie_line("ab"), Some("ab=3"));
    }

    #[test]
    fn a_body_that_is_not_json_reads_as_null() {
        assert_eq!(*response(&[], "").body(), Value::Null);
        assert_eq!(*response(&[], "<html>").body(), Value::Null);
        assert_eq!(response(&[], r#"{"code":"X"}"#).body()["code"], "X");
    }
}
