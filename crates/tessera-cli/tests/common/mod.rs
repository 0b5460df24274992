//! What the `tessera` binary's integration tests share.

// Each test binary includes this module and uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tessera_testkit::service::{postgres_url, skip_or_fail, Service};

const BIN: &str = env!("CARGO_BIN_EXE_tessera");

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `tessera serve` on `127.0.0.1:port` with only `vars` (and `RUST_LOG=warn`)
/// in its environment, once it listens; killed and reaped on drop.
pub struct Serve(Child);

impl Serve {
    /// Starts it and waits for its `listening on` line.
    pub fn start(port: u16, vars: &[(&str, &str)]) -> Serve {
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .env("RUST_LOG", "warn")
            .env("PORT", port.to_string())
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut serve = Serve(cmd.spawn().expect("the tessera binary starts"));
        let stdout = serve.0.stdout.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut printed = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if line.starts_with("listening on ") {
                return serve;
            }
            printed.push(line);
            assert!(
                Instant::now() < deadline,
                "tessera did not listen: {printed:?}"
            );
        }
        panic!("tessera exited before listening; it printed {printed:?}");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `DATABASE_URL` (default: the project's local PostgreSQL) with a fresh
/// schema as its only `search_path` entry, and a guard that drops it; `None`
/// after a loud banner when PostgreSQL is unreachable (a failure under
/// `CI=true`).
pub async fn postgres_schema() -> Option<(String, PostgresSchema)> {
    use tessera_sql::sqlx::{Connection, Executor, PgConnection};
    let url = postgres_url();
    let mut conn = match PgConnection::connect(&url).await {
        Ok(conn) => conn,
        Err(e) => return skip_or_fail(Service::Postgres, &format!("{url}: {e}")),
    };
    let schema = format!("cli_{}", tessera::generate_id(12).to_ascii_lowercase());
    conn.execute(format!(r#"create schema "{schema}""#).as_str())
        .await
        .unwrap();
    let _ = conn.close().await;
    let sep = if url.contains('?') { '&' } else { '?' };
    let with_schema = format!("{url}{sep}options=-c%20search_path%3D{schema}");
    Some((with_schema, PostgresSchema { url, schema }))
}

/// Drops its schema on drop, also when the test fails.
pub struct PostgresSchema {
    url: String,
    schema: String,
}

impl Drop for PostgresSchema {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        let _ = std::thread::spawn(move || {
            use tessera_sql::sqlx::{Connection, Executor, PgConnection};
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&url).await {
                    let _ = conn
                        .execute(format!(r#"drop schema if exists "{schema}" cascade"#).as_str())
                        .await;
                }
            });
        })
        .join();
    }
}
