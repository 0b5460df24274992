//! # tessera-redis
//!
//! Redis as Tessera's [`SecondaryStorage`](tessera::SecondaryStorage), so
//! sessions live where a better-auth 1.7.25 deployment keeps them (spec
//! §5): the kernel writes better-auth's keys (`<token>`,
//! `active-sessions-<userId>`, `revoked-sessions-before-<userId>`), this
//! crate puts an optional prefix in front of each and stores them as Redis
//! strings with whole-second TTLs. A Tessera server and a better-auth server
//! sharing one Redis (and one secret) see each other's sessions.
//!
//! | call | Redis |
//! |---|---|
//! | `get` / `set` / `delete` | `GET` / `SET key value [EX n]` / `DEL` |
//! | `set_if_exists` | `SET key value [EX n] XX` |
//! | `get_and_delete` | `GETDEL` (Redis 6.2 or later) |
//! | `increment` | a Lua `INCR`, `EXPIRE` only on creation |
//! | `update` | `WATCH` / `GET` / `MULTI` `SET`-or-`DEL` `EXEC`, retried on conflict, on a dedicated connection |
//! | `get_session_record` | a Lua script reading the record and its user's watermark |
//! | `append_revocation` / `read_revocations` | a Lua `XADD … MINID ~` on the stream `{tessera-revocations}` / `XRANGE` |
//!
//! **Redis Cluster.** `redis+cluster://host:port,host:port,…` connects to a
//! cluster through any of its nodes. Keys keep better-auth's names and each
//! goes to the node serving its slot. What cannot span slots changes form:
//!
//! - `update` becomes a compare-and-set script on the key's node, retried
//!   on conflict;
//! - `get_session_record` reads the record, then the watermark (two round
//!   trips);
//! - the revocation log is one key, so it lives in one slot.
//!
//! While a replica takes over a failed master, commands are retried for up
//! to two seconds. Every 250 ms a watcher reads the cluster's slot map
//! (`CLUSTER SLOTS`, 4 calls a second per process). When the map changes,
//! it reconnects through the masters the map names. That way a master that
//! hangs instead of failing is left behind once its replica takes over. [`RedisOptions::wait_for_replicas`] makes a write count
//! as done only once a replica has it, so a failover cannot lose it.
//!
//! `update` is atomic even against other processes, unlike better-auth's
//! own get-then-set of the session lists. When Redis cannot be reached,
//! every call fails within [`RedisOptions::operation_timeout`] with
//! [`StoreError::Unavailable`](tessera::StoreError::Unavailable), and the
//! shared connection reconnects by itself once Redis is back.
//!
//! **Prefix.** `""` gives better-auth's bare key names (core better-auth
//! with a hand-written storage); `"better-auth:"`
//! ([`BETTER_AUTH_REDIS_STORAGE_PREFIX`]) matches `@better-auth/redis-storage`
//! used without options.
//!
//! ```
//! use std::sync::Arc;
//! use tessera::store::MemoryDatabase;
//! use tessera::{Auth, Options};
//! use tessera_redis::RedisStorage;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! match RedisStorage::connect("redis://127.0.0.1:6379", "better-auth:").await {
//!     Ok(redis) => {
//!         println!("sessions in Redis at {}", redis.address());
//!         let auth = Auth::builder(
//!             Options::new().secret("a-long-random-secret-of-at-least-32-characters!"),
//!         )
//!         .database(Arc::new(MemoryDatabase::new()))
//!         .secondary_storage(Arc::new(redis))
//!         .build()
//!         .expect("valid configuration");
//!         # drop(auth);
//!     }
//!     // e.g. "cannot connect to Redis at redis://127.0.0.1:6379: Connection refused"
//!     Err(e) => eprintln!("{e}"),
//! }
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cluster;
mod error;
mod options;
mod storage;
mod watch;

pub use error::{ConnectError, NotReplicated, OperationTimedOut, UpdateConflict};
pub use options::{RedisOptions, BETTER_AUTH_REDIS_STORAGE_PREFIX};
pub use storage::RedisStorage;
