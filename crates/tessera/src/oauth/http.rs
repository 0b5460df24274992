//! The one thing the kernel needs from an HTTP client: send a request to
//! an OAuth provider and hand back the whole response. The kernel names no
//! client crate; `tessera-reqwest` implements [`HttpClient`] with reqwest
//! and rustls, and tests implement it with recorded responses.
//!
//! An implementation must bound what one call costs, whatever the provider
//! does: a connect timeout and a total timeout, a cap on the response body,
//! and no redirects followed (a token endpoint that redirects is answered
//! as it stands, and the flow fails with better-auth's error redirect).

use std::error::Error as StdError;

use bytes::Bytes;
use http::{Request, Response};

/// Sends requests to OAuth providers: discovery, JWKS, token, userinfo.
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response};
/// use tessera::oauth::{HttpClient, HttpClientError};
///
/// /// Answers every request with an empty JSON object.
/// struct Canned;
///
/// #[async_trait::async_trait]
/// impl HttpClient for Canned {
///     async fn send(&self, _request: Request<Bytes>) -> Result<Response<Bytes>, HttpClientError> {
///         Ok(Response::new(Bytes::from_static(b"{}")))
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait HttpClient: Send + Sync + 'static {
    /// Sends `request` and returns the response with its whole body, or
    /// why there is none. A non-2xx status is a response, not an error.
    async fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpClientError>;
}

/// Why a request to a provider got no response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpClientError {
    /// The connection or the whole exchange took longer than allowed.
    #[error("the provider did not answer in time")]
    Timeout,
    /// The response body is longer than the client accepts.
    #[error("the provider's response is larger than {limit} bytes")]
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The provider could not be reached (DNS, refused, TLS).
    #[error("cannot reach the provider")]
    Connect(#[source] Box<dyn StdError + Send + Sync>),
    /// Anything else that ended the exchange.
    #[error("the request to the provider failed")]
    Other(#[source] Box<dyn StdError + Send + Sync>),
}

impl HttpClientError {
    /// A connection failure with its cause.
    pub fn connect(e: impl StdError + Send + Sync + 'static) -> Self {
        HttpClientError::Connect(Box::new(e))
    }

    /// Any other failure with its cause.
    pub fn other(e: impl StdError + Send + Sync + 'static) -> Self {
        HttpClientError::Other(Box::new(e))
    }
}
