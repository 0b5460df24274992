//! The storage conformance suite (`tessera_testkit::storage`), unchanged,
//! against every backend Tessera ships: the kernel's memory database alone
//! and with memory secondary storage (also slowed down to interleave like a
//! network), SQLite (a migrated temp file), PostgreSQL (a migrated schema of
//! each test's own), Redis (a key prefix of each test's own) over the memory
//! database, and Redis over PostgreSQL.
//!
//! Skip/fail rule: when PostgreSQL (`DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`) or Redis (`REDIS_URL`, default
//! `redis://127.0.0.1:6379`) cannot be reached, its tests print a loud
//! `SKIPPED` banner and pass — unless `CI=true`, where they fail.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tessera::store::{
    Database, MemoryDatabase, MemorySecondaryStorage, SecondaryStorage, StoreError, UpdateFn,
};
use tessera_redis::RedisStorage;
use tessera_sql::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tessera_sql::sqlx::{Connection, Executor, PgConnection};
use tessera_sql::SqlDatabase;
use tessera_testkit::service::{postgres_url, redis_cluster_url, redis_url, skip_or_fail, Service};
use tessera_testkit::storage::{Cleanup, StoreUnderTest};
use tessera_testkit::storage_conformance;

/// A name no other test (or run) uses.
fn unique(label: &str) -> String {
    format!("{label}_{}", tessera::generate_id(12).to_ascii_lowercase())
}

async fn memory_store() -> Option<StoreUnderTest> {
    Some(StoreUnderTest::new(Arc::new(MemoryDatabase::new()), None))
}

async fn memory_secondary_store() -> Option<StoreUnderTest> {
    Some(StoreUnderTest::new(
        Arc::new(MemoryDatabase::new()),
        Some(Arc::new(MemorySecondaryStorage::new())),
    ))
}

/// Memory storage that yields before every operation, so concurrent tasks
/// interleave between a read and the write that follows it, as they do
/// over a network.
struct Yielding(MemorySecondaryStorage);

#[async_trait::async_trait]
impl SecondaryStorage for Yielding {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        tokio::task::yield_now().await;
        self.0.get(key).await
    }
    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        self.0.set(key, value, ttl).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        self.0.delete(key).await
    }
    async fn set_if_exists(
        &self,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        tokio::task::yield_now().await;
        self.0.set_if_exists(key, value, ttl).await
    }
    async fn get_and_delete(&self, key: &str) -> Result<Option<String>, StoreError> {
        tokio::task::yield_now().await;
        self.0.get_and_delete(key).await
    }
    async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, StoreError> {
        tokio::task::yield_now().await;
        self.0.increment(key, ttl).await
    }
    async fn update(&self, key: &str, f: &UpdateFn<'_>) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        self.0.update(key, f).await
    }
}

async fn interleaving_secondary_store() -> Option<StoreUnderTest> {
    Some(StoreUnderTest::new(
        Arc::new(MemoryDatabase::new()),
        Some(Arc::new(Yielding(MemorySecondaryStorage::new()))),
    ))
}

/// A migrated SQLite file in a temp directory of its own.
async fn sqlite_store() -> Option<StoreUnderTest> {
    let dir = std::env::temp_dir().join(unique(&format!(
        "tessera-storage-conformance-{}",
        std::process::id()
    )));
    std::fs::create_dir_all(&dir).unwrap();
    let cleanup = {
        let dir = dir.clone();
        Cleanup::new(move || {
            let _ = std::fs::remove_dir_all(dir);
        })
    };
    let db = SqlDatabase::open_sqlite(dir.join("tessera.db"))
        .await
        .expect("SQLite opens");
    db.migrate().await.expect("migrations apply");
    Some(StoreUnderTest::new(Arc::new(db), None).with_cleanup(cleanup))
}

/// A migrated PostgreSQL schema of its own (`search_path` set to it),
/// dropped by the returned cleanup; `None` after the skip banner.
async fn postgres_schema() -> Option<(Arc<dyn Database>, Cleanup)> {
    let url = postgres_url();
    let mut conn = match PgConnection::connect(&url).await {
        Ok(conn) => conn,
        Err(e) => return skip_or_fail(Service::Postgres, &format!("{url}: {e}")),
    };
    let schema = unique("t_conformance");
    conn.execute(format!(r#"create schema "{schema}""#).as_str())
        .await
        .expect("create the test schema");
    let _ = conn.close().await;
    let cleanup = Cleanup::new({
        let schema = schema.clone();
        move || drop_schema(&url, &schema)
    });
    let options = PgConnectOptions::from_str(&postgres_url())
        .expect("a PostgreSQL URL")
        .options([("search_path", schema.as_str())]);
    // A small pool: tests run side by side on one server.
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(tessera_sql::ACQUIRE_TIMEOUT)
        .connect_lazy_with(options);
    let db = SqlDatabase::from_postgres_pool(pool);
    db.migrate().await.expect("migrations apply");
    Some((Arc::new(db), cleanup))
}

/// Drops a test schema from a thread of its own: `Drop` cannot await.
fn drop_schema(url: &str, schema: &str) {
    let (url, schema) = (url.to_owned(), schema.to_owned());
    let done = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(async {
            if let Ok(mut conn) = PgConnection::connect(&url).await {
                let _ = conn
                    .execute(format!(r#"drop schema if exists "{schema}" cascade"#).as_str())
                    .await;
                let _ = conn.close().await;
            }
        });
    });
    let _ = done.join();
}

async fn postgres_store() -> Option<StoreUnderTest> {
    let (db, cleanup) = postgres_schema().await?;
    Some(StoreUnderTest::new(db, None).with_cleanup(cleanup))
}

/// Redis under a key prefix of its own, whose keys the returned cleanup
/// deletes; `None` after the skip banner.
async fn redis_prefix() -> Option<(Arc<dyn SecondaryStorage>, Cleanup)> {
    let url = redis_url();
    let prefix = format!("{}:", unique("tessera-test:conformance"));
    let storage = match RedisStorage::connect(&url, prefix.clone()).await {
        Ok(storage) => storage,
        Err(e) => return skip_or_fail(Service::Redis, &e.to_string()),
    };
    let cleanup = Cleanup::new(move || delete_keys(&url, &prefix));
    Some((Arc::new(storage), cleanup))
}

/// Deletes every key under `prefix` (blocking: runs in `Drop`).
fn delete_keys(url: &str, prefix: &str) {
    let Ok(mut conn) = redis::Client::open(url).and_then(|c| c.get_connection()) else {
        return;
    };
    let pattern = format!("{prefix}*");
    let mut cursor = 0u64;
    loop {
        let Ok((next, keys)): Result<(u64, Vec<String>), _> = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query(&mut conn)
        else {
            return;
        };
        // One `DEL` for the batch; key by key where a cluster node refuses
        // keys of several slots at once.
        if !keys.is_empty() && redis::cmd("DEL").arg(&keys).exec(&mut conn).is_err() {
            for key in &keys {
                let _ = redis::cmd("DEL").arg(key).exec(&mut conn);
            }
        }
        if next == 0 {
            return;
        }
        cursor = next;
    }
}

/// The shared Redis Cluster (`.ci/redis-cluster`) under a key prefix of its
/// own, whose keys the returned cleanup deletes node by node; `None` after
/// the skip banner.
async fn redis_cluster_prefix() -> Option<(Arc<dyn SecondaryStorage>, Cleanup)> {
    let url = redis_cluster_url();
    let prefix = format!("{}:", unique("tessera-test:conformance"));
    let storage = match RedisStorage::connect(&url, prefix.clone()).await {
        Ok(storage) => storage,
        Err(e) => {
            return skip_or_fail(
                Service::Redis,
                &format!("no Redis Cluster ({e}); .ci/redis-cluster starts one"),
            )
        }
    };
    let nodes: Vec<String> = url
        .trim_start_matches("redis+cluster://")
        .split(',')
        .map(|node| format!("redis://{node}"))
        .collect();
    let cleanup = Cleanup::new(move || {
        // Every node: each master deletes its own keys (a replica refuses).
        for node in cluster_nodes(&nodes) {
            delete_keys(&node, &prefix);
        }
    });
    Some((Arc::new(storage), cleanup))
}

/// Every node of the cluster the seeds belong to, as `redis://host:port`.
fn cluster_nodes(seeds: &[String]) -> Vec<String> {
    for seed in seeds {
        let Ok(mut conn) = redis::Client::open(seed.as_str()).and_then(|c| c.get_connection())
        else {
            continue;
        };
        let Ok(nodes): Result<String, _> = redis::cmd("CLUSTER").arg("NODES").query(&mut conn)
        else {
            continue;
        };
        return nodes
            .lines()
            .filter_map(|l| l.split(' ').nth(1))
            .filter_map(|a| a.split('@').next())
            .map(|a| format!("redis://{a}"))
            .collect();
    }
    Vec::new()
}

async fn redis_cluster_store() -> Option<StoreUnderTest> {
    let (storage, cleanup) = redis_cluster_prefix().await?;
    Some(StoreUnderTest::new(Arc::new(MemoryDatabase::new()), Some(storage)).with_cleanup(cleanup))
}

async fn redis_memory_store() -> Option<StoreUnderTest> {
    let (storage, cleanup) = redis_prefix().await?;
    Some(StoreUnderTest::new(Arc::new(MemoryDatabase::new()), Some(storage)).with_cleanup(cleanup))
}

async fn redis_postgres_store() -> Option<StoreUnderTest> {
    let (storage, keys) = redis_prefix().await?;
    let (db, schema) = postgres_schema().await?;
    Some(
        StoreUnderTest::new(db, Some(storage))
            .with_cleanup(keys)
            .with_cleanup(schema),
    )
}

storage_conformance!(memory, memory_store());
storage_conformance!(memory_with_memory_secondary, memory_secondary_store());
storage_conformance!(
    memory_with_interleaving_secondary,
    interleaving_secondary_store()
);
storage_conformance!(sqlite, sqlite_store());
storage_conformance!(postgres, postgres_store());
storage_conformance!(redis_with_memory, redis_memory_store());
storage_conformance!(redis_with_postgres, redis_postgres_store());
storage_conformance!(redis_cluster_with_memory, redis_cluster_store());
