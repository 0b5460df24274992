//! Atomic read-modify-write with a Rust closure: optimistic concurrency
//! with `WATCH` / `GET` / `MULTI` … `EXEC`, retried when another writer got
//! in between (EXEC answers nil).
//!
//! `WATCH` belongs to a connection, so updates never run on the shared
//! multiplexed connection: each runs on a dedicated one. Keys are spread
//! over a fixed set of slots, one connection each; updates of one key in
//! this process take turns on its slot, so `WATCH` conflicts only come from
//! other processes (other Tessera or better-auth servers).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use rand::Rng;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, RedisError, RedisResult};
use tessera::store::{StoreError, UpdateFn};
use tokio::sync::Mutex;

use crate::error::{is_dropped, store_error, UpdateConflict};
use crate::storage::ttl_secs;

pub(crate) struct WatchConnections {
    client: Client,
    config: AsyncConnectionConfig,
    slots: Box<[Mutex<Option<MultiplexedConnection>>]>,
    attempts: u32,
}

/// How one attempt ended.
enum Attempt {
    Written,
    /// Another writer changed the key after `WATCH`: try again.
    Conflict,
}

/// A failed attempt, and whether it failed before `EXEC` was sent (then it
/// changed nothing and may be repeated on a fresh connection).
struct Failed {
    error: RedisError,
    before_exec: bool,
}

impl WatchConnections {
    pub(crate) fn new(
        client: Client,
        config: AsyncConnectionConfig,
        slots: usize,
        attempts: u32,
        first: MultiplexedConnection,
    ) -> Self {
        let mut slots: Vec<_> = (0..slots.max(1)).map(|_| Mutex::new(None)).collect();
        slots[0] = Mutex::new(Some(first));
        WatchConnections {
            client,
            config,
            slots: slots.into_boxed_slice(),
            attempts: attempts.max(1),
        }
    }

    /// A new dedicated connection.
    pub(crate) async fn open(&self) -> RedisResult<MultiplexedConnection> {
        self.client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await
    }

    fn slot(&self, key: &str) -> &Mutex<Option<MultiplexedConnection>> {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        // The remainder is below `slots.len()`, so it fits in usize.
        let i = (h.finish() % self.slots.len() as u64) as usize;
        &self.slots[i]
    }

    /// Rewrites `key` (already prefixed) with `f`, atomically.
    pub(crate) async fn update(&self, key: &str, f: &UpdateFn<'_>) -> Result<(), StoreError> {
        let mut slot = self.slot(key).lock().await;
        let mut attempt = 0;
        let mut reopened = false;
        while attempt < self.attempts {
            // Taken out while in use: a call cancelled half-way drops the
            // connection (with its WATCH) instead of handing it on.
            let (mut conn, reused) = match slot.take() {
                Some(conn) => (conn, true),
                None => (self.open().await.map_err(store_error)?, false),
            };
            match attempt_once(&mut conn, key, f).await {
                Ok(Attempt::Written) => {
                    *slot = Some(conn);
                    return Ok(());
                }
                Ok(Attempt::Conflict) => {
                    *slot = Some(conn);
                    attempt += 1;
                    tokio::time::sleep(backoff(attempt)).await;
                }
                // A kept connection that died while idle (Redis restarted):
                // nothing was written, so try once more on a new one.
                Err(Failed {
                    error,
                    before_exec: true,
                }) if reused && !reopened && is_dropped(&error) => reopened = true,
                Err(Failed { error, .. }) => return Err(store_error(error)),
            }
        }
        Err(StoreError::Backend(Box::new(UpdateConflict {
            attempts: self.attempts,
        })))
    }
}

/// A random pause after the `n`th conflict, up to 1, 2, 4 then 8 ms: fewer
/// wasted round trips while another writer is busy with the key, and no
/// two retrying writers stay in step.
pub(crate) fn backoff(n: u32) -> Duration {
    let cap: u64 = 1 << n.min(3);
    Duration::from_micros(rand::thread_rng().gen_range(0..=cap * 1000))
}

async fn attempt_once(
    conn: &mut MultiplexedConnection,
    key: &str,
    f: &UpdateFn<'_>,
) -> Result<Attempt, Failed> {
    let before_exec = |error| Failed {
        error,
        before_exec: true,
    };
    let (current,): (Option<String>,) = redis::pipe()
        .cmd("WATCH")
        .arg(key)
        .ignore()
        .cmd("GET")
        .arg(key)
        .query_async(conn)
        .await
        .map_err(before_exec)?;
    let next = f(current.as_deref());
    if current.is_none() && next.is_none() {
        // Nothing to delete; a key created meanwhile was created after us.
        redis::cmd("UNWATCH")
            .exec_async(conn)
            .await
            .map_err(before_exec)?;
        return Ok(Attempt::Written);
    }
    let mut tx = redis::pipe();
    tx.atomic();
    match &next {
        Some((value, ttl)) => {
            let write = tx.cmd("SET").arg(key).arg(value);
            if let Some(ttl) = ttl {
                write.arg("EX").arg(ttl_secs(*ttl));
            }
            write.ignore();
        }
        None => {
            tx.cmd("DEL").arg(key).ignore();
        }
    }
    // EXEC answers nil when a watched key changed: nothing was written.
    let done: Option<()> = tx.query_async(conn).await.map_err(|error| Failed {
        error,
        before_exec: false,
    })?;
    Ok(match done {
        Some(()) => Attempt::Written,
        None => Attempt::Conflict,
    })
}
