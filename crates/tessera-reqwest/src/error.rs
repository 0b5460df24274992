//! Why a [`ReqwestClient`](crate::ReqwestClient) could not be built.

/// The client could not be built: the user agent is not a valid header
/// value, or the TLS backend failed to start.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client")]
pub struct BuildError {
    #[source]
    source: reqwest::Error,
}

impl BuildError {
    pub(crate) fn new(source: reqwest::Error) -> Self {
        BuildError { source }
    }
}
