//! `cargo run -p axum-app`: serves the app until Ctrl-C, then delivers
//! the mail still queued.
//!
//! `cargo run -p axum-app -- --emit-client-types <file>`: writes the custom
//! session's TypeScript declarations to `<file>` and exits.

use std::path::PathBuf;
use std::process::ExitCode;

use std::sync::Arc;

use axum_app::{build_with_oauth, Config, OAuthProviders, Storage};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

const USAGE: &str = "usage: axum-app [--emit-client-types <file>]";

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    match (args.next(), args.next(), args.next()) {
        (None, _, _) => serve(),
        (Some(flag), Some(file), None) if flag == "--emit-client-types" => {
            emit_client_types(file.into())
        }
        _ => {
            eprintln!("axum-app: {USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Writes [`axum_app::client_types`] to `file`.
fn emit_client_types(file: PathBuf) -> ExitCode {
    match std::fs::write(&file, axum_app::client_types()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("axum-app: cannot write {}: {err}", file.display());
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn serve() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("axum-app: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let listener = TcpListener::bind(&config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let storage = match config.storage {
        Storage::Memory => "in-memory database (lost on restart)",
        Storage::Stateless => "none (stateless: sessions live in their cookies)",
    };
    // `TESSERA_OAUTH_<ID>_*`, as `tessera serve` reads them.
    let mut oauth = OAuthProviders::default();
    let specs = tessera::oauth::env::providers_from_env()?;
    if !specs.is_empty() {
        let client = tessera_reqwest::ReqwestClient::with_defaults()?;
        for spec in specs {
            let provider = tessera::oauth::Provider::discover(spec.config, &client)
                .await
                .map_err(|e| format!("{}: {e}", spec.variable))?;
            oauth.providers.push(provider);
        }
        oauth.client = Some(Arc::new(client));
    }
    let mail = config.mail.to_string();
    let state = build_with_oauth(config, oauth)?;
    println!("storage: {storage}");
    println!("mail: {mail}");
    // The last line: tests read up to it.
    println!("listening on http://{}", listener.local_addr()?);
    axum_app::serve(listener, state, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
