//! What the `tessera` binary's integration tests share.

use tessera_testkit::service::{postgres_url, skip_or_fail, Service};

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
