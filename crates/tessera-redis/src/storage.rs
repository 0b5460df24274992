//! [`RedisStorage`]: the kernel's [`SecondaryStorage`] over Redis, one
//! command (or one script) per call.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{
    AsyncConnectionConfig, Client, Cmd, ConnectionAddr, FromRedisValue, RedisError, Script,
    ScriptInvocation, Value,
};
use tessera::store::{RevocationPage, SecondaryStorage, StoreError, UpdateFn, Watermark};

use crate::cluster::ClusterHandle;
use crate::error::{
    is_dropped, store_error, ConnectError, NotReplicated, OperationTimedOut, UpdateConflict,
};
use crate::options::RedisOptions;
use crate::watch::WatchConnections;

/// `INCR`, with the TTL set only when the counter is created (what
/// `@better-auth/redis-storage` runs for `increment`).
const INCREMENT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
";

/// A session record and its user's revocation watermark in one round trip
/// (a cache-miss lookup): `KEYS[1]` the record, `ARGV[1]` the key prefix.
/// The watermark key is derived from the record (`session.userId`, a
/// string), so it cannot be declared in `KEYS`: on one Redis only. On a
/// cluster, where the watermark lives in another slot, the lookup reads
/// the record, then the watermark.
const SESSION_RECORD: &str = r"
local value = redis.call('GET', KEYS[1])
if not value then return false end
local ok, record = pcall(cjson.decode, value)
local user = ok and type(record) == 'table' and type(record.session) == 'table'
  and record.session.userId
if type(user) ~= 'string' then return { value } end
return { value, redis.call('GET', ARGV[1] .. 'revoked-sessions-before-' .. user) }
";

/// Appends to the revocation log, a stream (`KEYS[1]`): the entry
/// (`ARGV[1]`) under an id Redis assigns from its own clock, entries older
/// than `ARGV[2]` ms trimmed (approximately, as `XADD … MINID ~` does), and
/// the whole log expiring `ARGV[2]` ms after its last entry. Returns the id.
const APPEND_REVOCATION: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local keep = tonumber(ARGV[2])
local id = redis.call('XADD', KEYS[1], 'MINID', '~', math.max(0, now - keep), '*', 'e', ARGV[1])
redis.call('PEXPIRE', KEYS[1], keep)
return id
";

/// One compare-and-set (a cluster's atomic update): `KEYS[1]` is written
/// only if it still holds what was read — `ARGV[1]` `absent`, or `present`
/// with the value `ARGV[2]`. Then `ARGV[3]` `set` writes `ARGV[4]` (with
/// `EX ARGV[5]` when not 0) or `del` deletes it. Returns 1 when written.
const COMPARE_AND_SET: &str = r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == 'absent' then
  if current then return 0 end
elseif current ~= ARGV[2] then
  return 0
end
if ARGV[3] == 'del' then
  redis.call('DEL', KEYS[1])
elseif tonumber(ARGV[5]) > 0 then
  redis.call('SET', KEYS[1], ARGV[4], 'EX', ARGV[5])
else
  redis.call('SET', KEYS[1], ARGV[4])
end
return 1
";

/// The revocation log's stream. The braces are a Redis Cluster hash tag
/// (one key, one slot either way).
const REVOCATION_STREAM: &str = "{tessera-revocations}";

/// Bits of a log number holding the sequence part of a stream id
/// (`<ms>-<seq>`): the number is `ms << 20 | seq`, which orders as the ids
/// do for a million entries per millisecond until the year 2527.
const SEQ_BITS: u32 = 20;

/// How often a cluster command that met a node that is gone is sent again,
/// [`FAILOVER_PAUSE`] apart, while the cluster promotes a replica and the
/// connection learns the new slot map (all within the operation timeout).
const FAILOVER_RETRIES: u32 = 20;
/// The pause between two tries of [`FAILOVER_RETRIES`].
const FAILOVER_PAUSE: Duration = Duration::from_millis(100);
/// How long one try of an idempotent cluster command may wait for its node:
/// longer than any command of this crate takes on a live node, short
/// enough that a hung master's slots come back soon after the cluster
/// promotes its replica (the watcher in `cluster.rs` swaps the connection).
const FAILOVER_ATTEMPT: Duration = Duration::from_millis(750);

/// The error of a try that outlived [`FAILOVER_ATTEMPT`].
fn attempt_timed_out() -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "no answer from the cluster node in time",
    ))
}

/// Whether a cluster command may be sent again after `e`. A node that
/// answered that it does not serve the slot now, or that the cluster is
/// reconfiguring (`MOVED`, `ASK`, `TRYAGAIN`, `CLUSTERDOWN`, `MASTERDOWN`,
/// `READONLY` from a demoted master), did not run it; nor did a node that
/// refused the connection. Other unreachable-node errors (a connection
/// lost mid-command) are retried only for idempotent commands.
fn retryable(e: &redis::RedisError, idempotent: bool) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    let not_run = e.is_connection_refusal()
        || matches!(
            e.kind(),
            ErrorKind::Server(
                ServerErrorKind::Moved
                    | ServerErrorKind::Ask
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ReadOnly
            )
        );
    not_run || (idempotent && crate::error::is_unavailable(e))
}

/// A stream id as a log number.
fn number_of(id: &str) -> Option<u64> {
    let (ms, seq) = id.split_once('-')?;
    let (ms, seq) = (ms.parse::<u64>().ok()?, seq.parse::<u64>().ok()?);
    (seq < 1 << SEQ_BITS && ms < 1 << (64 - SEQ_BITS)).then_some(ms << SEQ_BITS | seq)
}

/// A log number as a stream id.
fn id_of(number: u64) -> String {
    format!("{}-{}", number >> SEQ_BITS, number & ((1 << SEQ_BITS) - 1))
}

/// Redis as better-auth's secondary storage (spec §5). Cheap to clone.
///
/// Plain commands go through one auto-reconnecting multiplexed connection;
/// atomic updates run `WATCH`/`MULTI`/`EXEC` on dedicated connections.
/// Every call is bounded by [`RedisOptions::operation_timeout`], and a
/// Redis that cannot be reached is reported as
/// [`StoreError::Unavailable`] (the API answers 503).
#[derive(Clone)]
pub struct RedisStorage {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Conn,
    increment: Script,
    session_record: Script,
    append_revocation: Script,
    compare_and_set: Script,
    options: RedisOptions,
    address: String,
}

/// Where commands go.
enum Conn {
    /// One server: a reconnecting multiplexed connection; atomic updates
    /// `WATCH` on dedicated connections.
    Single {
        manager: ConnectionManager,
        watch: Box<WatchConnections>,
    },
    /// A Redis Cluster: each command goes to the node serving its key's
    /// slot (`MOVED`/`ASK` followed, the slot map refreshed after a
    /// failover); atomic updates are compare-and-set scripts on that node.
    Cluster(Arc<ClusterHandle>),
}

/// Runs `$call` on `$conn`, the cluster connection in place, and runs it
/// again while it fails with an error [`retryable`] (as `$idempotent`
/// says), [`FAILOVER_PAUSE`] apart, at most [`FAILOVER_RETRIES`] times.
macro_rules! through_failover {
    ($cluster:expr, $idempotent:expr, |$conn:ident| $call:expr) => {{
        let mut failures = 0;
        loop {
            // The connection in place now: after a failover, a new one.
            let mut $conn = $cluster.connection();
            let attempt = async { $call };
            // An idempotent command waits at most `FAILOVER_ATTEMPT` for a
            // node that may hang, then goes again on the connection then
            // in place; a command that must not be repeated waits it out.
            let outcome = if $idempotent {
                tokio::time::timeout(FAILOVER_ATTEMPT, attempt)
                    .await
                    .unwrap_or_else(|_| Err(attempt_timed_out()))
            } else {
                attempt.await
            };
            match outcome {
                Err(e) if failures < FAILOVER_RETRIES && retryable(&e, $idempotent) => {
                    failures += 1;
                    tokio::time::sleep(FAILOVER_PAUSE).await;
                }
                other => break other,
            }
        }
    }};
}

impl fmt::Debug for RedisStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStorage")
            .field("address", &self.inner.address)
            .field("prefix", &self.inner.options.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStorage {
    /// Connects to `url` (`redis://[user:password@]host[:port][/db]`) with
    /// the default [`RedisOptions`] and `prefix` in front of every key
    /// (`""` for better-auth's bare key names, `"better-auth:"` for
    /// `@better-auth/redis-storage`'s default).
    pub async fn connect(url: &str, prefix: impl Into<String>) -> Result<Self, ConnectError> {
        RedisStorage::connect_with(url, RedisOptions::new().prefix(prefix)).await
    }

    /// Connects to `url` with `options`. Fails when the server cannot be
    /// reached now, refuses the credentials, or is older than Redis 6.2.
    ///
    /// `redis+cluster://host:port,host:port,…` connects to a Redis Cluster
    /// through any of the nodes named (the others are found from them).
    pub async fn connect_with(url: &str, options: RedisOptions) -> Result<Self, ConnectError> {
        let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        if matches!(
            scheme.as_deref(),
            Some("rediss" | "valkeys" | "rediss+cluster")
        ) {
            return Err(ConnectError::TlsNotSupported);
        }
        if scheme.as_deref() == Some("redis+cluster") {
            return RedisStorage::connect_cluster(url, options).await;
        }
        let client = Client::open(url).map_err(ConnectError::InvalidUrl)?;
        let address = address_of(&client);
        let connect_error = |source| ConnectError::Connect {
            address: address.clone(),
            source,
        };
        let connection_config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.response_timeout));
        // One attempt, so a wrong address fails start-up at once; the
        // connection then serves atomic updates.
        let mut probe = client
            .get_multiplexed_async_connection_with_config(&connection_config)
            .await
            .map_err(connect_error)?;
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut probe)
            .await
            .map_err(connect_error)?;
        if let Some(version) = too_old(&info) {
            return Err(ConnectError::Unsupported { address, version });
        }
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.response_timeout))
            .set_number_of_retries(options.reconnect_attempts)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1));
        let manager = ConnectionManager::new_with_config(client.clone(), manager_config)
            .await
            .map_err(connect_error)?;
        let watch = WatchConnections::new(
            client,
            connection_config,
            options.update_connections,
            options.update_attempts,
            probe,
        );
        Ok(RedisStorage::with(
            Conn::Single {
                manager,
                watch: Box::new(watch),
            },
            options,
            address,
        ))
    }

    /// Connects to a Redis Cluster (`redis+cluster://…`).
    async fn connect_cluster(url: &str, options: RedisOptions) -> Result<Self, ConnectError> {
        let nodes = cluster_nodes(url)?;
        let address = format!(
            "redis+cluster://{}",
            nodes
                .iter()
                .map(|n| n.split_once('@').map_or(n.as_str(), |(_, h)| h))
                .collect::<Vec<_>>()
                .join(",")
        );
        let connect_error = |source| ConnectError::Connect {
            address: address.clone(),
            source,
        };
        let handle = ClusterHandle::connect(&nodes, &options)
            .await
            .map_err(connect_error)?;
        let mut cluster = handle.connection();
        let mut info = redis::cmd("INFO");
        info.arg("server");
        let reply = cluster
            .route_command(info, RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random))
            .await
            .map_err(connect_error)?;
        let info = String::from_redis_value(reply).map_err(|e| connect_error(e.into()))?;
        if let Some(version) = too_old(&info) {
            return Err(ConnectError::Unsupported { address, version });
        }
        Ok(RedisStorage::with(Conn::Cluster(handle), options, address))
    }

    fn with(conn: Conn, options: RedisOptions, address: String) -> Self {
        RedisStorage {
            inner: Arc::new(Inner {
                conn,
                increment: Script::new(INCREMENT),
                session_record: Script::new(SESSION_RECORD),
                append_revocation: Script::new(APPEND_REVOCATION),
                compare_and_set: Script::new(COMPARE_AND_SET),
                options,
                address,
            }),
        }
    }

    /// Whether this storage talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.inner.conn, Conn::Cluster(_))
    }

    /// `redis://host:port` (with `/db` when not 0): where this storage
    /// connects, without credentials.
    pub fn address(&self) -> &str {
        &self.inner.address
    }

    /// The prefix put in front of every key.
    pub fn prefix(&self) -> &str {
        &self.inner.options.prefix
    }

    /// The options in force.
    pub fn options(&self) -> &RedisOptions {
        &self.inner.options
    }

    /// A dedicated connection to the same server, for tools and tests
    /// that need raw commands (`TTL`, `SCAN`); keys are not prefixed.
    /// [`StoreError::Unsupported`] on a cluster, which has no one server.
    pub async fn raw_connection(&self) -> Result<MultiplexedConnection, StoreError> {
        match &self.inner.conn {
            Conn::Single { watch, .. } => watch.open().await.map_err(store_error),
            Conn::Cluster(_) => Err(StoreError::Unsupported("a raw connection to a cluster")),
        }
    }

    fn key<'k>(&self, key: &'k str) -> Cow<'k, str> {
        let prefix = &self.inner.options.prefix;
        if prefix.is_empty() {
            Cow::Borrowed(key)
        } else {
            Cow::Owned(format!("{prefix}{key}"))
        }
    }

    /// With [`RedisOptions::wait_for_replicas`], waits until the write to
    /// `key` (already prefixed) just made reached that many replicas of its
    /// master; a no-op otherwise.
    async fn replicated(&self, key: &str) -> Result<(), StoreError> {
        let options = &self.inner.options;
        if options.wait_replicas == 0 {
            return Ok(());
        }
        let timeout_ms = u64::try_from(options.wait_timeout.as_millis()).unwrap_or(u64::MAX);
        let mut wait = redis::cmd("WAIT");
        wait.arg(options.wait_replicas).arg(timeout_ms.max(1));
        // Whatever stops the `WAIT` (a master demoted meanwhile answers
        // `ERR WAIT cannot be used with replica instances`) leaves the write
        // unconfirmed: unavailable (503), never a backend error (500).
        let unconfirmed = |e: RedisError| StoreError::Unavailable(Box::new(e));
        let reply: Value = self
            .bounded(async {
                match &self.inner.conn {
                    Conn::Single { manager, .. } => wait.query_async(&mut manager.clone()).await,
                    Conn::Cluster(cluster) => {
                        // The master serving the key's slot: the connection
                        // the write went over.
                        let route = Route::with_key(key.as_bytes(), SlotAddr::Master);
                        let routing =
                            RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route));
                        cluster.connection().route_command(wait, routing).await
                    }
                }
                .map_err(unconfirmed)
            })
            .await?;
        let acknowledged = i64::from_redis_value(reply).map_err(|e| unconfirmed(e.into()))?;
        if acknowledged < i64::from(options.wait_replicas) {
            return Err(StoreError::Unavailable(Box::new(NotReplicated {
                wanted: options.wait_replicas,
                acknowledged,
            })));
        }
        Ok(())
    }

    /// `update` on a cluster: read the key, compute, then write only if the
    /// key still holds what was read ([`COMPARE_AND_SET`], one script on
    /// the key's node), retried with a short random pause when another
    /// writer got in between.
    async fn compare_and_set(&self, key: &str, f: &UpdateFn<'_>) -> Result<(), StoreError> {
        let attempts = self.inner.options.update_attempts.max(1);
        for attempt in 1..=attempts {
            let mut get = redis::cmd("GET");
            get.arg(key);
            let current: Option<String> = self.query(&get, true).await?;
            let next = f(current.as_deref());
            if current.is_none() && next.is_none() {
                return Ok(());
            }
            let mut invocation = self.inner.compare_and_set.prepare_invoke();
            invocation
                .key(key)
                .arg(if current.is_none() {
                    "absent"
                } else {
                    "present"
                })
                .arg(current.as_deref().unwrap_or(""));
            match &next {
                Some((value, ttl)) => invocation
                    .arg("set")
                    .arg(value)
                    .arg(ttl.map_or(0, ttl_secs)),
                None => invocation.arg("del").arg("").arg(0),
            };
            let written: i64 = self.invoke(&invocation).await?;
            if written == 1 {
                return Ok(());
            }
            tokio::time::sleep(crate::watch::backoff(attempt)).await;
        }
        Err(StoreError::Backend(Box::new(UpdateConflict { attempts })))
    }

    /// Runs `call` within the operation timeout.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let limit = self.inner.options.operation_timeout;
        tokio::time::timeout(limit, call)
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable(Box::new(OperationTimedOut(limit)))))
    }

    /// One command on the shared connection. An idempotent command that
    /// met a connection lost since its last use (a restarted server) is
    /// sent once more: the manager reconnects for it. On a cluster, a
    /// command that met a node that is gone is sent again while a replica
    /// takes over ([`FAILOVER_RETRIES`]).
    async fn query<T: FromRedisValue>(&self, cmd: &Cmd, idempotent: bool) -> Result<T, StoreError> {
        self.bounded(async {
            match &self.inner.conn {
                Conn::Single { manager, .. } => {
                    let mut conn = manager.clone();
                    match cmd.query_async(&mut conn).await {
                        Err(e) if idempotent && is_dropped(&e) => cmd.query_async(&mut conn).await,
                        other => other,
                    }
                }
                Conn::Cluster(cluster) => {
                    through_failover!(cluster, idempotent, |conn| cmd.query_async(&mut conn).await)
                }
            }
            .map_err(store_error)
        })
        .await
    }

    /// One script on the shared connection (`EVALSHA`, falling back to
    /// `EVAL` once per server), within the operation timeout. On a cluster
    /// a script is sent again only when refused before reaching a node.
    async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        self.bounded(async {
            match &self.inner.conn {
                Conn::Single { manager, .. } => invocation.invoke_async(&mut manager.clone()).await,
                Conn::Cluster(cluster) => {
                    through_failover!(cluster, false, |conn| invocation
                        .invoke_async(&mut conn)
                        .await)
                }
            }
            .map_err(store_error)
        })
        .await
    }
}

/// `SET key value [EX seconds] [XX]`.
fn set_command(key: &str, value: &str, ttl: Option<Duration>, only_if_exists: bool) -> Cmd {
    let mut cmd = redis::cmd("SET");
    cmd.arg(key).arg(value);
    if let Some(ttl) = ttl {
        cmd.arg("EX").arg(ttl_secs(ttl));
    }
    if only_if_exists {
        cmd.arg("XX");
    }
    cmd
}

/// Whole seconds (spec §5.1), at least 1: a key given a TTL always expires.
pub(crate) fn ttl_secs(ttl: Duration) -> u64 {
    ttl.as_secs().max(1)
}

#[async_trait]
impl SecondaryStorage for RedisStorage {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(&*self.key(key));
        self.query(&cmd, true).await
    }

    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), StoreError> {
        let key = self.key(key);
        let cmd = set_command(&key, value, ttl, false);
        self.query::<Value>(&cmd, true).await?;
        self.replicated(&key).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let key = self.key(key);
        let mut cmd = redis::cmd("DEL");
        cmd.arg(&*key);
        self.query::<Value>(&cmd, true).await?;
        self.replicated(&key).await
    }

    async fn set_if_exists(
        &self,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let key = self.key(key);
        let cmd = set_command(&key, value, ttl, true);
        // `OK` when written, nil when the key did not exist.
        let reply: Value = self.query(&cmd, true).await?;
        let written = !matches!(reply, Value::Nil);
        if written {
            self.replicated(&key).await?;
        }
        Ok(written)
    }

    async fn get_session_record(
        &self,
        token: &str,
    ) -> Result<Option<(String, Watermark)>, StoreError> {
        if self.is_cluster() {
            // The watermark's key is in another slot: the lookup reads it
            // after the record, a second round trip.
            return Ok(self.get(token).await?.map(|v| (v, Watermark::Unread)));
        }
        let key = self.key(token);
        let mut invocation = self.inner.session_record.prepare_invoke();
        invocation.key(&*key).arg(&self.inner.options.prefix);
        let reply: Option<Vec<Option<String>>> = self.invoke(&invocation).await?;
        let Some(parts) = reply else {
            return Ok(None);
        };
        // `{value, watermark}`, or `{value}` when the record names no user
        // the script could read: then the lookup reads the watermark.
        let mut parts = parts.into_iter();
        let (Some(Some(value)), watermark) = (parts.next(), parts.next()) else {
            return Err(StoreError::backend(std::io::Error::other(
                "session record script answered without the record",
            )));
        };
        Ok(Some((
            value,
            watermark.map_or(Watermark::Unread, Watermark::Read),
        )))
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("MGET");
        for key in keys {
            cmd.arg(&*self.key(key));
        }
        self.query(&cmd, true).await
    }

    /// One script: `XADD` to a stream, so a number is never visible
    /// without its entry, and trimming keeps only what may still matter.
    async fn append_revocation(&self, entry: &str, retain: Duration) -> Result<u64, StoreError> {
        let key = self.key(REVOCATION_STREAM);
        let keep_ms = u64::try_from(retain.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut invocation = self.inner.append_revocation.prepare_invoke();
        invocation.key(&*key).arg(entry).arg(keep_ms);
        let id: String = self.invoke(&invocation).await?;
        self.replicated(&key).await?;
        number_of(&id).ok_or_else(|| unreadable_id(&id))
    }

    /// One `XRANGE` past `after` (from the oldest entry kept when 0);
    /// nothing is ever missing in a stream.
    async fn read_revocations(
        &self,
        after: u64,
        _missing: &[u64],
        limit: usize,
    ) -> Result<RevocationPage, StoreError> {
        let mut cmd = redis::cmd("XRANGE");
        cmd.arg(&*self.key(REVOCATION_STREAM));
        if after == 0 {
            cmd.arg("-");
        } else {
            cmd.arg(format!("({}", id_of(after)));
        }
        cmd.arg("+").arg("COUNT").arg(limit.max(1));
        let reply: Vec<(String, Vec<String>)> = self.query(&cmd, true).await?;
        let more = reply.len() >= limit.max(1);
        let mut entries = Vec::with_capacity(reply.len());
        for (id, fields) in reply {
            let n = number_of(&id).ok_or_else(|| unreadable_id(&id))?;
            // Fields come as `[name, value, …]`; the entry is under `e`.
            if let Some(entry) = fields
                .chunks_exact(2)
                .find(|pair| pair[0] == "e")
                .map(|pair| pair[1].clone())
            {
                entries.push((n, entry));
            }
        }
        let read_to = entries.last().map_or(after, |(n, _)| *n).max(after);
        Ok(RevocationPage::new(entries, Vec::new(), read_to, more))
    }

    async fn get_and_delete(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = self.key(key);
        let mut cmd = redis::cmd("GETDEL");
        cmd.arg(&*key);
        // Not re-sent: a lost reply may mean the value was already taken.
        let taken: Option<String> = self.query(&cmd, false).await?;
        if taken.is_some() {
            self.replicated(&key).await?;
        }
        Ok(taken)
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, StoreError> {
        let key = self.key(key);
        let mut invocation = self.inner.increment.prepare_invoke();
        invocation.key(&*key).arg(ttl_secs(ttl));
        self.invoke(&invocation).await
    }

    async fn update(&self, key: &str, f: &UpdateFn<'_>) -> Result<(), StoreError> {
        let key = self.key(key);
        match &self.inner.conn {
            Conn::Single { watch, .. } => self.bounded(watch.update(&key, f)).await?,
            Conn::Cluster(_) => self.bounded(self.compare_and_set(&key, f)).await?,
        }
        self.replicated(&key).await
    }
}

/// The nodes of `redis+cluster://[user:password@]host:port,host:port,…`
/// as `[user:password@]host:port`, the credentials given to each.
fn cluster_nodes(url: &str) -> Result<Vec<String>, ConnectError> {
    let invalid = |what: &str| {
        ConnectError::InvalidUrl(redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "invalid Redis Cluster URL",
            what.to_owned(),
        )))
    };
    let rest = url
        .split_once("://")
        .map(|(_, rest)| rest)
        .ok_or_else(|| invalid("expected redis+cluster://host:port,host:port"))?;
    let rest = rest.trim_end_matches('/');
    let (credentials, hosts) = match rest.rsplit_once('@') {
        Some((c, h)) => (Some(c), h),
        None => (None, rest),
    };
    let nodes: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| match credentials {
            Some(c) => format!("{c}@{h}"),
            None => h.to_owned(),
        })
        .collect();
    if nodes.is_empty() || hosts.contains('/') {
        return Err(invalid(
            "expected redis+cluster://host:port,host:port (no database number: a cluster has one)",
        ));
    }
    Ok(nodes)
}

fn unreadable_id(id: &str) -> StoreError {
    StoreError::backend(std::io::Error::other(format!(
        "the revocation log answered an unreadable stream id {id:?}"
    )))
}

/// `redis://host:port[/db]` or `unix:path`, never the credentials.
fn address_of(client: &Client) -> String {
    let info = client.get_connection_info();
    let db = info.redis_settings().db();
    let db = if db == 0 {
        String::new()
    } else {
        format!("/{db}")
    };
    match info.addr() {
        ConnectionAddr::Tcp(host, port) if host.contains(':') => {
            format!("redis://[{host}]:{port}{db}")
        }
        ConnectionAddr::Tcp(host, port) => format!("redis://{host}:{port}{db}"),
        other => format!("{other}{db}"),
    }
}

/// The server's version when it is older than 6.2 (`INFO server`).
fn too_old(info: &str) -> Option<String> {
    let version = info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))?
        .trim();
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    ((major, minor) < (6, 2)).then(|| version.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_are_whole_seconds_and_never_zero() {
        assert_eq!(ttl_secs(Duration::from_millis(604_799_999)), 604_799);
        assert_eq!(ttl_secs(Duration::from_millis(300)), 1);
        assert_eq!(ttl_secs(Duration::ZERO), 1);
    }

    #[test]
    fn set_command_has_ex_and_xx_where_asked() {
        let packed = |c: Cmd| String::from_utf8_lossy(&c.get_packed_command()).into_owned();
        let plain = packed(set_command("k", "v", None, false));
        assert!(!plain.contains("EX") && !plain.contains("XX"), "{plain}");
        let both = packed(set_command("k", "v", Some(Duration::from_secs(60)), true));
        assert!(
            both.contains("$2\r\nEX\r\n$2\r\n60\r\n$2\r\nXX\r\n"),
            "{both}"
        );
    }

    #[test]
    fn stream_ids_and_log_numbers_convert_both_ways_in_order() {
        let ids = [
            "0-1",
            "1-0",
            "1-1",
            "1795824000000-0",
            "1795824000000-1048575",
            "1795824000001-0",
        ];
        let numbers: Vec<u64> = ids.iter().map(|id| number_of(id).unwrap()).collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
        for (id, n) in ids.iter().zip(numbers) {
            assert_eq!(id_of(n), *id);
        }
        assert_eq!(number_of("1-1048576"), None, "a sequence past 20 bits");
        assert_eq!(number_of("x-1"), None);
        assert_eq!(number_of("17"), None);
    }

    #[test]
    fn cluster_urls_name_every_node_with_the_credentials() {
        assert_eq!(
            cluster_nodes("redis+cluster://127.0.0.1:7000,127.0.0.1:7001/").unwrap(),
            ["127.0.0.1:7000", "127.0.0.1:7001"]
        );
        assert_eq!(
            cluster_nodes("redis+cluster://u:p@a:1, b:2").unwrap(),
            ["u:p@a:1", "u:p@b:2"]
        );
        assert!(cluster_nodes("redis+cluster://").is_err());
        assert!(cluster_nodes("redis+cluster://a:1/2").is_err());
    }

    #[test]
    fn old_servers_are_recognised() {
        assert_eq!(
            too_old("# Server\r\nredis_version:6.0.16\r\n"),
            Some("6.0.16".to_owned())
        );
        assert_eq!(too_old("# Server\r\nredis_version:6.2.0\r\n"), None);
        assert_eq!(too_old("# Server\r\nredis_version:7.0.15\r\n"), None);
        assert_eq!(too_old("no version here"), None);
    }

    #[test]
    fn addresses_carry_no_credentials() {
        let client = Client::open("redis://user:hunter2@cache.internal:6380/2").unwrap();
        assert_eq!(address_of(&client), "redis://cache.internal:6380/2");
        let client = Client::open("redis://:hunter2@127.0.0.1").unwrap();
        assert_eq!(address_of(&client), "redis://127.0.0.1:6379");
    }
}
