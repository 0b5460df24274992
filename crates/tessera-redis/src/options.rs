//! How a [`RedisStorage`](crate::RedisStorage) connects and behaves.

use std::time::Duration;

/// The key prefix `@better-auth/redis-storage` uses when its `keyPrefix`
/// option is omitted. better-auth's core writes bare keys (prefix `""`).
pub const BETTER_AUTH_REDIS_STORAGE_PREFIX: &str = "better-auth:";

/// Connection and behaviour settings. The defaults bound every storage call
/// to a few seconds, so a request never hangs on a Redis that is down or
/// frozen (better-auth's ioredis defaults wait up to ~42 s, or forever).
///
/// ```
/// use std::time::Duration;
/// use tessera_redis::RedisOptions;
///
/// let options = RedisOptions::new()
///     .prefix("better-auth:")
///     .operation_timeout(Duration::from_secs(3));
/// assert_eq!(options.key_prefix(), "better-auth:");
/// ```
#[derive(Clone, Debug)]
pub struct RedisOptions {
    pub(crate) prefix: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) operation_timeout: Duration,
    pub(crate) reconnect_attempts: usize,
    pub(crate) update_connections: usize,
    pub(crate) update_attempts: u32,
    pub(crate) wait_replicas: u32,
    pub(crate) wait_timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            prefix: String::new(),
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(2),
            operation_timeout: Duration::from_secs(5),
            reconnect_attempts: 3,
            update_connections: 16,
            update_attempts: 100,
            wait_replicas: 0,
            wait_timeout: Duration::from_millis(500),
        }
    }
}

impl RedisOptions {
    /// The defaults: no prefix, 2 s to connect, 2 s per reply, 5 s per
    /// storage call, 3 reconnect attempts, 16 update connections, 100
    /// attempts per atomic update.
    pub fn new() -> Self {
        RedisOptions::default()
    }

    /// Put `prefix` in front of every key (`@better-auth/redis-storage`'s
    /// `keyPrefix`). `""` (the default) gives better-auth's bare key names;
    /// [`BETTER_AUTH_REDIS_STORAGE_PREFIX`] matches that package's default.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// How long one connection attempt may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long Redis may take to answer one command.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How long one storage call may take in all, reconnects and update
    /// retries included; past it the call fails as unavailable.
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// How many times a lost connection is re-established (with back-off)
    /// before a call fails; the next call tries again.
    pub fn reconnect_attempts(mut self, attempts: usize) -> Self {
        self.reconnect_attempts = attempts;
        self
    }

    /// How many dedicated connections serve atomic updates (`WATCH` is
    /// per connection). Updates of one key in this process take turns on
    /// the same connection; at least 1.
    pub fn update_connections(mut self, connections: usize) -> Self {
        self.update_connections = connections.max(1);
        self
    }

    /// How many times an atomic update is tried when other writers keep
    /// changing the key in between (with a short random pause after each
    /// conflict, and within the operation timeout); at least 1. Conflicts
    /// only come from other processes: this process's updates of one key
    /// take turns.
    pub fn update_attempts(mut self, attempts: u32) -> Self {
        self.update_attempts = attempts.max(1);
        self
    }

    /// Confirm a write only once `replicas` replicas of its master have it
    /// (`WAIT replicas timeout` after the write, on the master's
    /// connection), so a failover cannot lose what a client was told. A
    /// write that `timeout` does not see replicated fails as unavailable
    /// (the API answers 503; the client retries). Rate-limit counters are
    /// not waited for. Default 0: Redis's own asynchronous replication,
    /// which a failover can lose the last writes of.
    pub fn wait_for_replicas(mut self, replicas: u32, timeout: Duration) -> Self {
        self.wait_replicas = replicas;
        self.wait_timeout = timeout;
        self
    }
}
