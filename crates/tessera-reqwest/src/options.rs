//! How a [`ReqwestClient`](crate::ReqwestClient) bounds each request.

use std::time::Duration;

/// The user agent sent when a request carries none: `tessera/<version>`.
pub const DEFAULT_USER_AGENT: &str = concat!("tessera/", env!("CARGO_PKG_VERSION"));

/// What one request to a provider may cost. The defaults answer or fail
/// within 10 s and hold at most 1 MiB of body, whatever the provider does.
///
/// ```
/// use std::time::Duration;
/// use tessera_reqwest::HttpClientOptions;
///
/// let options = HttpClientOptions::default()
///     .with_total_timeout(Duration::from_secs(3))
///     .with_max_body_bytes(64 * 1024);
/// assert_eq!(options.connect_timeout, Duration::from_secs(5));
/// assert_eq!(options.max_body_bytes, 65_536);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HttpClientOptions {
    /// How long connecting may take: DNS, TCP and the TLS handshake
    /// (default 5 s).
    pub connect_timeout: Duration,
    /// How long one request may take in all, from connecting to the last
    /// byte of the body (default 10 s).
    pub total_timeout: Duration,
    /// The largest response body accepted, in bytes (default 1 MiB).
    pub max_body_bytes: usize,
    /// The `User-Agent` of requests that carry none (default
    /// [`DEFAULT_USER_AGENT`]).
    pub user_agent: String,
}

impl Default for HttpClientOptions {
    fn default() -> Self {
        HttpClientOptions {
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(10),
            max_body_bytes: 1024 * 1024,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
        }
    }
}

impl HttpClientOptions {
    /// The same options with `timeout` for connecting.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The same options with `timeout` for a whole request.
    #[must_use]
    pub fn with_total_timeout(mut self, timeout: Duration) -> Self {
        self.total_timeout = timeout;
        self
    }

    /// The same options accepting response bodies of at most `bytes`.
    #[must_use]
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// The same options with `user_agent` for requests that carry none.
    #[must_use]
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }
}
