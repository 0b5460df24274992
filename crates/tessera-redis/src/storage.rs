//! [`RedisStorage`]: the kernel's [`SecondaryStorage`] over Redis, one
//! command (or one script) per call.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, Cmd, ConnectionAddr, FromRedisValue, Script, Value};
use tessera::store::{RevocationPage, SecondaryStorage, StoreError, UpdateFn, Watermark};

use crate::error::{is_dropped, store_error, ConnectError, OperationTimedOut};
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
/// string), so it cannot be declared in `KEYS`: like the rest of this
/// crate, it assumes one Redis, not a cluster.
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

/// The revocation log's stream. The braces are a Redis Cluster hash tag
/// (one key, one slot either way).
const REVOCATION_STREAM: &str = "{tessera-revocations}";

/// Bits of a log number holding the sequence part of a stream id
/// (`<ms>-<seq>`): the number is `ms << 20 | seq`, which orders as the ids
/// do for a million entries per millisecond until the year 2527.
const SEQ_BITS: u32 = 20;

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
    manager: ConnectionManager,
    watch: WatchConnections,
    increment: Script,
    session_record: Script,
    append_revocation: Script,
    options: RedisOptions,
    address: String,
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
    pub async fn connect_with(url: &str, options: RedisOptions) -> Result<Self, ConnectError> {
        let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        if matches!(scheme.as_deref(), Some("rediss" | "valkeys")) {
            return Err(ConnectError::TlsNotSupported);
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
        Ok(RedisStorage {
            inner: Arc::new(Inner {
                manager,
                watch,
                increment: Script::new(INCREMENT),
                session_record: Script::new(SESSION_RECORD),
                append_revocation: Script::new(APPEND_REVOCATION),
                options,
                address,
            }),
        })
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
    pub async fn raw_connection(&self) -> Result<MultiplexedConnection, StoreError> {
        self.inner.watch.open().await.map_err(store_error)
    }

    fn key<'k>(&self, key: &'k str) -> Cow<'k, str> {
        let prefix = &self.inner.options.prefix;
        if prefix.is_empty() {
            Cow::Borrowed(key)
        } else {
            Cow::Owned(format!("{prefix}{key}"))
        }
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
    /// sent once more: the manager reconnects for it.
    async fn query<T: FromRedisValue>(&self, cmd: &Cmd, idempotent: bool) -> Result<T, StoreError> {
        self.bounded(async {
            let mut conn = self.inner.manager.clone();
            match cmd.query_async(&mut conn).await {
                Err(e) if idempotent && is_dropped(&e) => cmd.query_async(&mut conn).await,
                other => other,
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
        let cmd = set_command(&self.key(key), value, ttl, false);
        self.query::<Value>(&cmd, true).await.map(drop)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(&*self.key(key));
        self.query::<Value>(&cmd, true).await.map(drop)
    }

    async fn set_if_exists(
        &self,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let cmd = set_command(&self.key(key), value, ttl, true);
        // `OK` when written, nil when the key did not exist.
        let reply: Value = self.query(&cmd, true).await?;
        Ok(!matches!(reply, Value::Nil))
    }

    async fn get_session_record(
        &self,
        token: &str,
    ) -> Result<Option<(String, Watermark)>, StoreError> {
        let key = self.key(token);
        // `EVALSHA`, falling back to `EVAL` once per connection lifetime.
        let reply: Option<Vec<Option<String>>> = self
            .bounded(async {
                let mut conn = self.inner.manager.clone();
                self.inner
                    .session_record
                    .key(&*key)
                    .arg(&self.inner.options.prefix)
                    .invoke_async(&mut conn)
                    .await
                    .map_err(store_error)
            })
            .await?;
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
        let id: String = self
            .bounded(async {
                let mut conn = self.inner.manager.clone();
                self.inner
                    .append_revocation
                    .key(&*key)
                    .arg(entry)
                    .arg(keep_ms)
                    .invoke_async(&mut conn)
                    .await
                    .map_err(store_error)
            })
            .await?;
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
        let mut cmd = redis::cmd("GETDEL");
        cmd.arg(&*self.key(key));
        // Not re-sent: a lost reply may mean the value was already taken.
        self.query(&cmd, false).await
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, StoreError> {
        let key = self.key(key);
        self.bounded(async {
            let mut conn = self.inner.manager.clone();
            self.inner
                .increment
                .key(&*key)
                .arg(ttl_secs(ttl))
                .invoke_async(&mut conn)
                .await
                .map_err(store_error)
        })
        .await
    }

    async fn update(&self, key: &str, f: &UpdateFn<'_>) -> Result<(), StoreError> {
        let key = self.key(key);
        self.bounded(self.inner.watch.update(&key, f)).await
    }
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
