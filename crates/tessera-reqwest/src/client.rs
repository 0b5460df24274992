//! [`ReqwestClient`]: the kernel's [`HttpClient`] over reqwest.

use bytes::{Bytes, BytesMut};
use http::{Request, Response};
use reqwest::redirect;
use tessera::oauth::{HttpClient, HttpClientError};

use crate::{BuildError, HttpClientOptions};

/// Sends the kernel's requests to OAuth providers with reqwest over rustls.
///
/// Every request is bounded by [`HttpClientOptions`]: a connect timeout, a
/// total timeout that covers reading the body, and a cap on the body. A
/// redirect is never followed: a 3xx comes back as the response it is.
/// Cloning is cheap and clones share one connection pool.
#[derive(Clone, Debug)]
pub struct ReqwestClient {
    client: reqwest::Client,
    max_body_bytes: usize,
}

impl ReqwestClient {
    /// A client bounded by `options`.
    pub fn new(options: HttpClientOptions) -> Result<Self, BuildError> {
        let client = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.total_timeout)
            .user_agent(options.user_agent)
            .redirect(redirect::Policy::none())
            .build()
            .map_err(BuildError::new)?;
        Ok(ReqwestClient {
            client,
            max_body_bytes: options.max_body_bytes,
        })
    }

    /// A client with [`HttpClientOptions::default`].
    pub fn with_defaults() -> Result<Self, BuildError> {
        ReqwestClient::new(HttpClientOptions::default())
    }

    /// Reads `response`'s body, stopping as soon as it passes the cap.
    async fn read_body(&self, mut response: reqwest::Response) -> Result<Bytes, HttpClientError> {
        let limit = self.max_body_bytes;
        let too_large = || HttpClientError::TooLarge { limit };
        // Refuse before reading when the provider announces too much.
        let announced = response.content_length().unwrap_or(0);
        if announced > limit as u64 {
            return Err(too_large());
        }
        let mut body = BytesMut::with_capacity(announced as usize);
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if chunk.len() > limit - body.len() {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }
}

#[async_trait::async_trait]
impl HttpClient for ReqwestClient {
    async fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpClientError> {
        let request = reqwest::Request::try_from(request).map_err(HttpClientError::other)?;
        let mut response = self.client.execute(request).await.map_err(classify)?;
        let status = response.status();
        let version = response.version();
        let headers = std::mem::take(response.headers_mut());
        let body = self.read_body(response).await?;

        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.version_mut() = version;
        *response.headers_mut() = headers;
        Ok(response)
    }
}

/// The kernel's reading of a reqwest failure. A connect timeout is a
/// timeout first: both mean the provider did not answer in time.
fn classify(e: reqwest::Error) -> HttpClientError {
    if e.is_timeout() {
        HttpClientError::Timeout
    } else if e.is_connect() {
        HttpClientError::connect(e)
    } else {
        HttpClientError::other(e)
    }
}
