//! `ReqwestClient` against a real HTTP/1.1 server on 127.0.0.1: what a
//! provider sends comes back as sent, and a provider that misbehaves costs
//! a bounded amount of time and memory.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use tessera::oauth::{HttpClient, HttpClientError};
use tessera_reqwest::{HttpClientOptions, ReqwestClient, DEFAULT_USER_AGENT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The body cap of the tests that overflow it.
const CAP: usize = 1024;

/// What the test server does once it has read a request.
enum Answer {
    /// Writes these bytes, then closes.
    Bytes(Vec<u8>),
    /// Writes a chunked 200 (no `Content-Length`) of `total` bytes in 1 KiB
    /// chunks; with `end`, the last chunk follows, without it the
    /// connection stalls, so only a client that stops at the cap returns.
    Chunked { total: usize, end: bool },
    /// Announces a `Content-Length` of `length`, writes a few bytes and
    /// stalls, so only a client that refuses on the header returns.
    AnnouncedThenStall { length: usize },
    /// Reads the request and never answers.
    Silence,
}

/// The request the server read.
struct Received {
    /// The request line and headers, header names in lower case.
    head: String,
    body: Vec<u8>,
}

/// Serves one connection on 127.0.0.1; the handle yields the request read.
async fn serve(answer: Answer) -> (SocketAddr, JoinHandle<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let received = read_request(&mut stream).await;
        match answer {
            Answer::Bytes(bytes) => {
                stream.write_all(&bytes).await.expect("write the answer");
                stream.shutdown().await.ok();
            }
            Answer::Chunked { total, end } => {
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                // The client hangs up as soon as it has seen enough.
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return received;
                }
                let chunk = format!("400\r\n{}\r\n", "a".repeat(1024));
                for _ in 0..total / 1024 {
                    if stream.write_all(chunk.as_bytes()).await.is_err() {
                        return received;
                    }
                }
                if end {
                    stream.write_all(b"0\r\n\r\n").await.ok();
                } else {
                    stall(stream).await;
                }
            }
            Answer::AnnouncedThenStall { length } => {
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {length}\r\n\r\n{{\"a\":");
                stream
                    .write_all(head.as_bytes())
                    .await
                    .expect("write the head");
                stall(stream).await;
            }
            Answer::Silence => stall(stream).await,
        }
        received
    });
    (addr, server)
}

/// Keeps `stream` open until the client hangs up.
async fn stall(mut stream: TcpStream) {
    let mut sink = [0; 64];
    while let Ok(n) = stream.read(&mut sink).await {
        if n == 0 {
            break;
        }
    }
}

/// Reads one request: its head, then as many body bytes as it announces.
async fn read_request(stream: &mut TcpStream) -> Received {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let mut part = [0; 4096];
        let n = stream.read(&mut part).await.expect("read the request");
        assert!(n > 0, "the client hung up before the end of the head");
        buf.extend_from_slice(&part[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec())
        .expect("an ASCII head")
        .to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |value| value.trim().parse().expect("a numeric length"));
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let mut part = [0; 4096];
        let n = stream.read(&mut part).await.expect("read the body");
        assert!(n > 0, "the client hung up before the end of the body");
        body.extend_from_slice(&part[..n]);
    }
    Received { head, body }
}

fn client(options: HttpClientOptions) -> ReqwestClient {
    ReqwestClient::new(options).expect("the client builds")
}

fn get(addr: SocketAddr, path: &str) -> Request<Bytes> {
    Request::get(format!("http://{addr}{path}"))
        .body(Bytes::new())
        .expect("a valid request")
}

/// Sends `request`, failing the test rather than hanging when the client
/// has no working bound of its own.
async fn send(
    client: &ReqwestClient,
    request: Request<Bytes>,
) -> Result<http::Response<Bytes>, HttpClientError> {
    tokio::time::timeout(Duration::from_secs(30), client.send(request))
        .await
        .expect("the client returns on its own")
}

#[tokio::test]
async fn post_round_trip_keeps_status_headers_and_bodies() {
    let json = r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600}"#;
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\ncache-control: no-store\r\nset-cookie: a=1\r\nset-cookie: b=2\r\n\r\n{json}",
        json.len()
    );
    let (addr, server) = serve(Answer::Bytes(answer.into_bytes())).await;
    let form = "grant_type=authorization_code&code=c-1&redirect_uri=http%3A%2F%2Flocalhost%2Fcb";
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("http://{addr}/token"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .header(header::AUTHORIZATION, "Basic Y2xpZW50OnNlY3JldA==")
        .body(Bytes::from(form))
        .expect("a valid request");

    let response = send(&client(HttpClientOptions::default()), request)
        .await
        .expect("a response");

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let cookies: Vec<_> = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(response.body(), json.as_bytes());

    let received = server.await.expect("the server read the request");
    assert!(
        received.head.starts_with("post /token http/1.1\r\n"),
        "{}",
        received.head
    );
    for expected in [
        "content-type: application/x-www-form-urlencoded",
        "accept: application/json",
        "authorization: Basic Y2xpZW50OnNlY3JldA==",
        &format!("user-agent: {DEFAULT_USER_AGENT}"),
    ] {
        let expected = expected.to_ascii_lowercase();
        assert!(
            received.head.contains(&expected),
            "{expected} in {}",
            received.head
        );
    }
    assert_eq!(received.body, form.as_bytes());
}

#[tokio::test]
async fn redirect_is_returned_not_followed() {
    // Following it would hit port 1 and fail to connect.
    let answer =
        "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:1/elsewhere\r\ncontent-length: 0\r\n\r\n";
    let (addr, _server) = serve(Answer::Bytes(answer.into())).await;

    let response = send(
        &client(HttpClientOptions::default()),
        get(addr, "/authorize"),
    )
    .await
    .expect("the redirect itself");

    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        response.headers()[header::LOCATION],
        "http://127.0.0.1:1/elsewhere"
    );
    assert!(response.body().is_empty());
}

#[tokio::test]
async fn announced_length_over_the_cap_is_refused_before_reading() {
    let (addr, _server) = serve(Answer::AnnouncedThenStall { length: CAP + 1 }).await;
    let options = HttpClientOptions::default().with_max_body_bytes(CAP);

    let error = send(&client(options), get(addr, "/jwks"))
        .await
        .unwrap_err();

    assert!(
        matches!(error, HttpClientError::TooLarge { limit: CAP }),
        "{error:?}"
    );
}

#[tokio::test]
async fn chunked_body_over_the_cap_stops_the_read() {
    let (addr, _server) = serve(Answer::Chunked {
        total: 16 * CAP,
        end: false,
    })
    .await;
    let options = HttpClientOptions::default().with_max_body_bytes(CAP);

    let error = send(&client(options), get(addr, "/userinfo"))
        .await
        .unwrap_err();

    assert!(
        matches!(error, HttpClientError::TooLarge { limit: CAP }),
        "{error:?}"
    );
}

#[tokio::test]
async fn chunked_body_at_the_cap_is_accepted() {
    let (addr, _server) = serve(Answer::Chunked {
        total: 4 * CAP,
        end: true,
    })
    .await;
    let options = HttpClientOptions::default().with_max_body_bytes(4 * CAP);

    let response = send(&client(options), get(addr, "/userinfo"))
        .await
        .expect("a response");

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body().len(), 4 * CAP);
    assert!(response.headers().get(header::CONTENT_LENGTH).is_none());
}

#[tokio::test]
async fn silent_provider_times_out() {
    let (addr, _server) = serve(Answer::Silence).await;
    let options = HttpClientOptions::default().with_total_timeout(Duration::from_millis(300));

    let error = send(&client(options), get(addr, "/token"))
        .await
        .unwrap_err();

    assert!(matches!(error, HttpClientError::Timeout), "{error:?}");
}

#[tokio::test]
async fn closed_port_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    drop(listener);

    let error = send(&client(HttpClientOptions::default()), get(addr, "/"))
        .await
        .unwrap_err();

    assert!(matches!(error, HttpClientError::Connect(_)), "{error:?}");
}

#[tokio::test]
async fn relative_uri_is_an_error_not_a_panic() {
    let request = Request::get("/no-host")
        .body(Bytes::new())
        .expect("a valid request");

    let error = send(&client(HttpClientOptions::default()), request)
        .await
        .unwrap_err();

    assert!(matches!(error, HttpClientError::Other(_)), "{error:?}");
}

#[test]
fn invalid_user_agent_fails_to_build() {
    let options = HttpClientOptions::default().with_user_agent("tessera\n1.0");

    assert!(ReqwestClient::new(options).is_err());
}
