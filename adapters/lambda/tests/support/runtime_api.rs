//! A mock of the Lambda Runtime API on 127.0.0.1: the two calls a function
//! makes per invocation, `GET /2018-06-01/runtime/invocation/next` (long
//! poll) and `POST /2018-06-01/runtime/invocation/{id}/response` (or
//! `/error`). Shared by the adapter's runtime-loop test and the
//! `lambda-fn` example's test (which includes this file by path).

#![allow(dead_code)] // each test binary uses a part

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Mutex};

const PREFIX: &str = "/2018-06-01/runtime/invocation/";

/// A bound, not yet serving, Runtime API: bind before setting
/// `AWS_LAMBDA_RUNTIME_API` to [`address`](Self::address), start inside a
/// Tokio runtime.
pub struct MockRuntimeApi {
    listener: StdTcpListener,
}

impl MockRuntimeApi {
    /// Binds 127.0.0.1 on a free port.
    pub fn bind() -> Self {
        let listener = StdTcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener.set_nonblocking(true).expect("non-blocking");
        MockRuntimeApi { listener }
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound")
    }

    /// Serves until the Tokio runtime stops; invocations go through the
    /// returned [`Invoker`].
    pub fn start(self) -> Invoker {
        let (queue, events) = mpsc::channel(1);
        let (outcomes_tx, outcomes) = mpsc::channel(1);
        let state = Arc::new(State {
            events: Mutex::new(events),
            outcomes: outcomes_tx,
        });
        let listener = TcpListener::from_std(self.listener).expect("inside a Tokio runtime");
        tokio::spawn(serve(listener, state));
        Invoker { queue, outcomes }
    }
}

/// Queues invocations and waits for what the function posts back.
pub struct Invoker {
    queue: mpsc::Sender<(String, Value)>,
    outcomes: mpsc::Receiver<Outcome>,
}

impl Invoker {
    /// Serves `event` as invocation `id` to the next `/next` call and
    /// returns the function's response, or the error it reported.
    pub async fn invoke(&mut self, id: &str, event: Value) -> Result<Value, String> {
        self.queue
            .send((id.to_owned(), event))
            .await
            .expect("the mock is serving");
        match self.outcomes.recv().await.expect("the mock is serving") {
            Outcome::Response(got, envelope) if got == id => Ok(envelope),
            Outcome::Error(got, error) if got == id => Err(error),
            other => panic!("expected an outcome for {id}, got {other:?}"),
        }
    }
}

/// What the function posted back for an invocation.
#[derive(Debug)]
enum Outcome {
    Response(String, Value),
    Error(String, String),
}

struct State {
    /// Invocations queued by the test: request id and event.
    events: Mutex<mpsc::Receiver<(String, Value)>>,
    outcomes: mpsc::Sender<Outcome>,
}

impl State {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        if req.method() == Method::GET && path == format!("{PREFIX}next") {
            // A long poll, as the real API: the next queued invocation, or
            // no answer at all once the test stops queueing.
            let Some((id, event)) = self.events.lock().await.recv().await else {
                return std::future::pending().await;
            };
            let deadline =
                SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(60);
            return Response::builder()
                .header("content-type", "application/json")
                .header("Lambda-Runtime-Aws-Request-Id", id.as_str())
                .header(
                    "Lambda-Runtime-Deadline-Ms",
                    deadline.as_millis().to_string(),
                )
                .header(
                    "Lambda-Runtime-Invoked-Function-Arn",
                    "arn:aws:lambda:eu-west-1:123456789012:function:tessera-auth",
                )
                .header(
                    "Lambda-Runtime-Trace-Id",
                    "Root=1-67891233-abcdef012345678912345678;Sampled=0",
                )
                .body(Full::new(Bytes::from(event.to_string())))
                .unwrap();
        }
        let invocation = path
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once('/'))
            .map(|(id, kind)| (id.to_owned(), kind.to_owned()));
        match (req.method() == Method::POST, invocation) {
            (true, Some((id, kind))) if kind == "response" || kind == "error" => {
                let body = req.into_body().collect().await.unwrap().to_bytes();
                let body = String::from_utf8_lossy(&body).into_owned();
                let outcome = if kind == "response" {
                    Outcome::Response(id, serde_json::from_str(&body).expect("a JSON response"))
                } else {
                    Outcome::Error(id, body)
                };
                self.outcomes.send(outcome).await.ok();
                status(StatusCode::ACCEPTED)
            }
            _ => status(StatusCode::NOT_FOUND),
        }
    }
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    Response::builder()
        .status(code)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

async fn serve(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(state.handle(req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The environment Lambda gives a function, pointing at `api`.
pub fn lambda_environment(api: SocketAddr) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_LAMBDA_RUNTIME_API", api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", "tessera-auth".to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/04/09/[$LATEST]0123456789abcdef".to_owned(),
        ),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            "/aws/lambda/tessera-auth".to_owned(),
        ),
    ]
}
