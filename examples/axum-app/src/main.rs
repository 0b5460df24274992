//! `cargo run -p axum-app`: serves the app until Ctrl-C.

use std::net::SocketAddr;
use std::process::ExitCode;

use std::sync::Arc;

use axum_app::{app, build_with_oauth, Config, OAuthProviders, Storage};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
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
    let state = build_with_oauth(config.options, config.storage, oauth)?;
    println!("storage: {storage}");
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
