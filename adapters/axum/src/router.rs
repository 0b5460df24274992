//! [`router`]: the auth API as axum routes.

use std::error::Error as StdError;
use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use axum::routing::any;
use axum::{RequestExt, Router};
use http_body_util::LengthLimitError;
use tessera::api::codes;
use tessera::{Auth, ClientAddr};

/// The auth API of `auth` as routes to [`merge`](Router::merge) into an
/// application: every method of every path under [`Auth::base_path`]
/// (`/api/auth/{*rest}` by default) goes to [`Auth::handle`] with its full
/// path.
///
/// - The request body is buffered under axum's own limit
///   ([`DefaultBodyLimit`](axum::extract::DefaultBodyLimit), 2 MB unless
///   changed); a larger body answers 413 `PAYLOAD_TOO_LARGE` in
///   better-auth's JSON shape.
/// - When the server was started with
///   [`into_make_service_with_connect_info::<SocketAddr>`](Router::into_make_service_with_connect_info),
///   the peer address is handed to the kernel as [`ClientAddr`]: the client
///   for rate limiting and the session's `ipAddress`, unless it is a
///   trusted proxy naming the client in a forwarded header.
///
/// With an empty base path the routes catch every path the application
/// does not route itself.
pub fn router<S>(auth: Auth) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let path = format!("{}/{{*rest}}", auth.base_path());
    Router::new().route(&path, any(serve_api).with_state(auth))
}

async fn serve_api(State(auth): State<Auth>, req: Request) -> Response {
    // A `ClientAddr` extension already there (a layer's) wins in the kernel.
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| ClientAddr(peer.ip()));
    // `with_limited_body` applies `DefaultBodyLimit`, as axum's `Bytes`
    // extractor does, while keeping the request parts for the kernel.
    let (parts, body) = req.with_limited_body().into_parts();
    let res = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => {
            auth.handle_from(http::Request::from_parts(parts, bytes), peer)
                .await
        }
        Err(err) if is_length_limit(&err) => codes::payload_too_large().into_response(),
        Err(err) => {
            // The client went away or sent a malformed body; the answer
            // probably never arrives, but it must not be a 500.
            tracing::debug!(error = %err, "failed to read request body");
            codes::body_unreadable().into_response()
        }
    };
    res.map(Body::from)
}

/// Whether a body error is the limit being hit (it arrives wrapped in
/// `axum::Error`s, so the source chain is searched).
fn is_length_limit(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}
