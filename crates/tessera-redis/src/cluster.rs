//! The connection to a Redis Cluster, kept on the cluster's current
//! topology.
//!
//! `redis`'s cluster connection learns a new slot map only from a `MOVED`
//! or `READONLY` answer or a refused connection. A master that hangs (a
//! frozen process, a network black hole) gives none of these: its replica
//! is promoted, yet commands for its slots keep going to it and time out.
//! So a watcher asks the cluster which master serves which slots
//! (`CLUSTER SLOTS`) every [`WATCH_EVERY`], and when that changes, connects
//! afresh through the masters it names and puts the new connection in
//! place. Commands take the connection in place when they start; one in
//! flight on the old connection times out and is retried on the new one
//! when it is idempotent.

use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{RedisResult, Value};

use crate::options::RedisOptions;

/// How often the watcher reads the slot map.
pub(crate) const WATCH_EVERY: Duration = Duration::from_millis(250);
/// How long one read of the slot map may take (a hung node does not answer).
const READ_TIMEOUT: Duration = Duration::from_millis(300);
/// Random nodes tried per watch.
const READ_ATTEMPTS: usize = 3;

/// Which master serves which slots: `(first slot, last slot, "host:port")`,
/// sorted.
type SlotMap = Vec<(i64, i64, String)>;

/// The cluster connection in place, replaced when the topology changes.
pub(crate) struct ClusterHandle {
    current: RwLock<ClusterConnection>,
    /// `user:password@`, or empty: given to every node connected to.
    credentials: String,
    options: RedisOptions,
}

impl ClusterHandle {
    /// Connects through `nodes` (`[user:password@]host:port`).
    pub(crate) async fn connect(
        nodes: &[String],
        options: &RedisOptions,
    ) -> RedisResult<Arc<ClusterHandle>> {
        let credentials = nodes
            .first()
            .and_then(|n| n.rsplit_once('@'))
            .map(|(c, _)| format!("{c}@"))
            .unwrap_or_default();
        let seeds: Vec<&str> = nodes
            .iter()
            .map(|n| n.rsplit_once('@').map_or(n.as_str(), |(_, h)| h))
            .collect();
        let connection = open(&credentials, &seeds, options).await?;
        let handle = Arc::new(ClusterHandle {
            current: RwLock::new(connection),
            credentials,
            options: options.clone(),
        });
        let slots = read_slot_map(&handle.connection()).await;
        tokio::spawn(watch(Arc::downgrade(&handle), slots));
        Ok(handle)
    }

    /// The connection in place (a cheap handle).
    pub(crate) fn connection(&self) -> ClusterConnection {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A new cluster connection through `seeds` (`host:port`).
async fn open(
    credentials: &str,
    seeds: &[&str],
    options: &RedisOptions,
) -> RedisResult<ClusterConnection> {
    ClusterClient::builder(seeds.iter().map(|s| format!("redis://{credentials}{s}")))
        .connection_timeout(options.connect_timeout)
        .response_timeout(options.response_timeout)
        .retries(u32::try_from(options.reconnect_attempts).unwrap_or(u32::MAX))
        .build()?
        .get_async_connection()
        .await
}

/// Reads the slot map every [`WATCH_EVERY`] while the handle lives, and
/// reconnects when it changed.
async fn watch(handle: Weak<ClusterHandle>, mut known: Option<SlotMap>) {
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        let Some(handle) = handle.upgrade() else {
            return;
        };
        let Some(now) = read_slot_map(&handle.connection()).await else {
            continue;
        };
        if known.as_ref() == Some(&now) {
            continue;
        }
        let masters: Vec<&str> = {
            let mut m: Vec<&str> = now.iter().map(|(_, _, a)| a.as_str()).collect();
            m.sort_unstable();
            m.dedup();
            m
        };
        let opened = tokio::time::timeout(
            handle.options.connect_timeout * 2,
            open(&handle.credentials, &masters, &handle.options),
        )
        .await;
        match opened {
            Ok(Ok(connection)) => {
                tracing::info!(masters = ?masters, "the cluster's slot map changed: reconnected");
                *handle
                    .current
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = connection;
                known = Some(now);
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "could not reconnect to the cluster"),
            Err(_) => tracing::warn!("reconnecting to the cluster timed out"),
        }
    }
}

/// `CLUSTER SLOTS` from a random node (a few tried, each within
/// [`READ_TIMEOUT`]); `None` when none answered.
async fn read_slot_map(connection: &ClusterConnection) -> Option<SlotMap> {
    for _ in 0..READ_ATTEMPTS {
        let mut conn = connection.clone();
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("SLOTS");
        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random);
        if let Ok(Ok(reply)) =
            tokio::time::timeout(READ_TIMEOUT, conn.route_command(cmd, routing)).await
        {
            if let Some(map) = parse_slot_map(&reply) {
                return Some(map);
            }
        }
    }
    None
}

/// `[[first, last, [host, port, id, …], replicas…], …]` as a [`SlotMap`].
fn parse_slot_map(reply: &Value) -> Option<SlotMap> {
    let Value::Array(ranges) = reply else {
        return None;
    };
    let mut map = Vec::with_capacity(ranges.len());
    for range in ranges {
        let Value::Array(parts) = range else {
            return None;
        };
        let (Some(Value::Int(first)), Some(Value::Int(last)), Some(Value::Array(master))) =
            (parts.first(), parts.get(1), parts.get(2))
        else {
            return None;
        };
        let host = match master.first()? {
            Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            Value::SimpleString(s) => s.clone(),
            _ => return None,
        };
        let Value::Int(port) = master.get(1)? else {
            return None;
        };
        map.push((*first, *last, format!("{host}:{port}")));
    }
    map.sort_unstable();
    Some(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(host: &str, port: i64) -> Value {
        Value::Array(vec![
            Value::BulkString(host.as_bytes().to_vec()),
            Value::Int(port),
            Value::BulkString(b"id".to_vec()),
        ])
    }

    #[test]
    fn slot_maps_are_read_sorted_and_compared_by_master() {
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(5461),
                Value::Int(10922),
                node("127.0.0.1", 7001),
                node("127.0.0.1", 7004),
            ]),
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                node("127.0.0.1", 7000),
            ]),
        ]);
        let map = parse_slot_map(&reply).unwrap();
        assert_eq!(
            map,
            [
                (0, 5460, "127.0.0.1:7000".to_owned()),
                (5461, 10922, "127.0.0.1:7001".to_owned())
            ]
        );
        assert_eq!(parse_slot_map(&Value::Int(1)), None);
        assert_eq!(
            parse_slot_map(&Value::Array(vec![Value::Array(vec![Value::Int(0)])])),
            None
        );
    }
}
