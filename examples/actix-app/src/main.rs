//! `cargo run -p actix-app`: the application of `lib.rs`, configured from
//! the environment. See the README for the variables and a walk-through.

#![forbid(unsafe_code)]

use std::error::Error;
use std::process::ExitCode;

use actix_app::{start, Config};

#[actix_web::main]
async fn main() -> ExitCode {
    init_logging();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("actix-app: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    let config = Config::from_env()?;
    let database = config.database;
    let running = start(config)?;
    println!("actix-app listening on http://{}", running.addr);
    println!("  public origin: {}", running.base_url);
    println!("  auth API:      {}/*", running.auth.base_path());
    println!("  routes:        GET /, GET /me");
    println!("  database:      {database:?}");
    // actix stops on SIGTERM gracefully, on Ctrl-C at once.
    running.server.await?;
    Ok(())
}

/// Kernel warnings (e.g. a weak secret) go to stderr; `RUST_LOG` overrides
/// the default `info`.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
