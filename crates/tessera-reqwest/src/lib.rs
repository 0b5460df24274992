//! # tessera-reqwest
//!
//! The kernel's [`HttpClient`](tessera::oauth::HttpClient), the one it
//! uses to reach OAuth providers (discovery, JWKS, token, userinfo), built
//! on reqwest with rustls (ring, Mozilla's roots from `webpki-roots`).
//!
//! Whatever a provider does, one request costs a bounded amount:
//!
//! | the provider | [`ReqwestClient`] |
//! |---|---|
//! | cannot be reached (DNS, refused, TLS) | [`HttpClientError::Connect`](tessera::oauth::HttpClientError::Connect) |
//! | is slow to connect, answer or finish the body | [`HttpClientError::Timeout`](tessera::oauth::HttpClientError::Timeout) after [`HttpClientOptions::connect_timeout`] or [`HttpClientOptions::total_timeout`] |
//! | sends a body over [`HttpClientOptions::max_body_bytes`] | [`HttpClientError::TooLarge`](tessera::oauth::HttpClientError::TooLarge), refused on its `Content-Length` or as soon as the read passes the cap |
//! | redirects | the 3xx response itself, never followed |
//! | answers 4xx or 5xx | the response, status, headers and body as sent |
//!
//! Bodies are returned as sent (no decompression). Proxies named by
//! `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` are honoured,
//! as reqwest does.
//!
//! ```
//! use std::time::Duration;
//!
//! use bytes::Bytes;
//! use http::{header, Request};
//! use tessera::oauth::{HttpClient, HttpClientError};
//! use tessera_reqwest::{HttpClientOptions, ReqwestClient};
//!
//! let client = ReqwestClient::new(
//!     HttpClientOptions::default()
//!         .with_total_timeout(Duration::from_secs(5))
//!         .with_max_body_bytes(256 * 1024),
//! )
//! .expect("rustls starts with the built-in roots");
//!
//! /// Fetches a provider's discovery document.
//! async fn discover(client: &dyn HttpClient, issuer: &str) -> Result<Bytes, HttpClientError> {
//!     let request = Request::get(format!("{issuer}/.well-known/openid-configuration"))
//!         .header(header::ACCEPT, "application/json")
//!         .body(Bytes::new())
//!         .expect("a valid request");
//!     let response = client.send(request).await?;
//!     Ok(response.into_body())
//! }
//! # drop(discover(&client, "https://accounts.example"));
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod error;
mod options;

pub use client::ReqwestClient;
pub use error::BuildError;
pub use options::{HttpClientOptions, DEFAULT_USER_AGENT};
