//! [`serve`]: an HTTP/1.1 server with graceful shutdown.

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tessera::options::RequestLimits;
use tessera::{Auth, ClientAddr};
use tokio::net::TcpListener;

use crate::AuthService;

/// How long [`serve`] waits for in-flight requests after shutdown begins.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Room for the request line on top of the kernel's header limit: the
/// `http` crate refuses URIs longer than 64 KiB anyway.
const REQUEST_LINE_ALLOWANCE: usize = 64 * 1024;

/// hyper's own default read buffer (`8192 + 4096 * 100` bytes).
const HYPER_DEFAULT_MAX_BUF_SIZE: usize = 8192 + 4096 * 100;

/// Serves the auth API of `auth` on `listener` until `shutdown` completes:
/// paths under the base path go to [`AuthService`], others answer 404.
///
/// Then it stops accepting, lets in-flight requests finish (at most
/// [`DRAIN_TIMEOUT`]) and returns.
///
/// Request heads are read up to the kernel's
/// [`RequestLimits`](tessera::options::RequestLimits) of `auth`, as
/// [`serve_service_with_limits`] reads them.
pub async fn serve(listener: TcpListener, auth: Auth, shutdown: impl Future<Output = ()>) {
    let limits = auth.options().limits;
    serve_service_with_limits(listener, AuthService::new(auth), &limits, shutdown).await;
}

/// Serves `service` over HTTP/1.1 on `listener` until `shutdown`
/// completes, then drains as [`serve`] does. Use it to serve the auth API
/// and an application (wrapped in [`WithSession`](crate::WithSession))
/// from one listener.
///
/// Heads are read as [`serve_service_with_limits`] reads them for the
/// default [`RequestLimits`]; if your [`Auth`] has other limits, call
/// that function with them.
pub async fn serve_service<S, B>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()>,
) where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    serve_service_with_limits(listener, service, &RequestLimits::default(), shutdown).await;
}

/// [`serve_service`] for a kernel with these [`RequestLimits`]. hyper
/// reads a request head (request line included) of up to
/// `limits.max_head_bytes` plus 64 KiB for the request line, so that every
/// head over the kernel's limit but within that reaches the kernel, which
/// answers 431 with better-auth's JSON body. Past it hyper answers 431
/// itself, with an empty body, and closes the connection, without
/// buffering the rest; so does a head of more than 100 header fields
/// (hyper's `max_headers`).
pub async fn serve_service_with_limits<S, B>(
    listener: TcpListener,
    service: S,
    limits: &RequestLimits,
    shutdown: impl Future<Output = ()>,
) where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    // A timer enables hyper's header read timeout (slow-loris protection).
    http.timer(TokioTimer::new());
    let max_head = limits.max_head_bytes.saturating_add(REQUEST_LINE_ALLOWANCE);
    http.max_header_size(max_head);
    if max_head > HYPER_DEFAULT_MAX_BUF_SIZE {
        http.max_buf_size(max_head);
    }
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(err) => {
                    accept_error(err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%peer, error = %err, "could not set TCP_NODELAY");
        }
        // The client, unless it is a trusted proxy naming the client in a
        // forwarded header.
        let svc = service.clone();
        let with_peer = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ClientAddr(peer.ip()));
            svc.call(req)
        });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), with_peer));
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!(%peer, error = %err, "connection error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "in-flight requests still running after {} s; stopping anyway",
            DRAIN_TIMEOUT.as_secs()
        );
    }
}

/// Per-connection failures are the peer's business; anything else (e.g. out
/// of file descriptors) is logged and retried after a pause rather than
/// spinning.
async fn accept_error(err: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %err, "accept failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
