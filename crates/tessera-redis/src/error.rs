//! Connection errors, and how Redis failures become [`StoreError`]s.

use redis::{ErrorKind, RedisError, ServerErrorKind};
use tessera::StoreError;

/// Why [`RedisStorage::connect`](crate::RedisStorage::connect) failed. The
/// messages never carry the URL's credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL is not a Redis URL.
    #[error("invalid Redis URL: {0}")]
    InvalidUrl(#[source] RedisError),
    /// `rediss://`: this build has no TLS support.
    #[error("rediss:// (Redis over TLS) is not supported by this build; use redis://, e.g. through a TLS tunnel")]
    TlsNotSupported,
    /// The server could not be reached, or refused the connection (e.g.
    /// wrong password).
    #[error("cannot connect to Redis at {address}: {source}")]
    Connect {
        /// `redis://host:port`, without credentials.
        address: String,
        /// Why.
        #[source]
        source: RedisError,
    },
    /// The server is older than Redis 6.2 (no `GETDEL`).
    #[error("Redis at {address} is version {version}; tessera-redis needs Redis 6.2 or later")]
    Unsupported {
        /// `redis://host:port`, without credentials.
        address: String,
        /// What `INFO server` reported.
        version: String,
    },
}

/// An atomic update that kept losing to other writers.
#[derive(Debug, thiserror::Error)]
#[error("the key kept changing during {attempts} attempts to update it atomically")]
pub struct UpdateConflict {
    /// How many attempts were made.
    pub attempts: u32,
}

/// A write that did not reach the replicas asked for
/// ([`RedisOptions::wait_for_replicas`](crate::RedisOptions::wait_for_replicas))
/// in time.
#[derive(Debug, thiserror::Error)]
#[error("the write reached {acknowledged} of the {wanted} replicas asked for in time")]
pub struct NotReplicated {
    /// Replicas asked for.
    pub wanted: u32,
    /// Replicas that acknowledged it.
    pub acknowledged: i64,
}

/// A storage call that took longer than the operation timeout.
#[derive(Debug, thiserror::Error)]
#[error("Redis did not complete the operation within {0:?}")]
pub struct OperationTimedOut(pub std::time::Duration);

/// Whether a Redis failure means "cannot be reached right now" rather than
/// a bad command or value.
pub(crate) fn is_unavailable(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || e.is_timeout()
        || matches!(
            e.kind(),
            ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ReadOnly
            ) | ErrorKind::ClusterConnectionNotFound
        )
}

/// A lost connection (not a refused one): the command may be sent again on
/// a fresh connection.
pub(crate) fn is_dropped(e: &RedisError) -> bool {
    e.is_connection_dropped() && !e.is_connection_refusal()
}

/// [`StoreError::Unavailable`] when Redis cannot be reached, otherwise
/// [`StoreError::Backend`].
pub(crate) fn store_error(e: RedisError) -> StoreError {
    if is_unavailable(&e) {
        StoreError::Unavailable(Box::new(e))
    } else {
        StoreError::Backend(Box::new(e))
    }
}
