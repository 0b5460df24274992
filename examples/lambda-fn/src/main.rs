//! `bootstrap`: the Tessera auth API as an AWS Lambda function, in
//! stateless mode, configured from the same environment variables as
//! `tessera serve` (see the README).

use std::process::ExitCode;

use tessera::{Auth, Options};

#[tokio::main]
async fn main() -> ExitCode {
    // Lambda sends stderr to CloudWatch Logs; timestamps come from there.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_ansi(false)
        .without_time()
        .with_writer(std::io::stderr)
        .init();
    // Keeps the stateless cookie-cache refresh in the binary.
    tessera_stateless_refresh::link();

    // Cold start: the environment is the only input; no store to connect to.
    let auth = match build() {
        Ok(auth) => auth,
        Err(err) => {
            // Lambda reports the exit as an init error; the reason is in the logs.
            tracing::error!("invalid configuration: {err}");
            return ExitCode::FAILURE;
        }
    };
    match tessera_lambda::run(auth).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("runtime stopped: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The kernel from the environment, without a database: stateless mode.
fn build() -> Result<Auth, Box<dyn std::error::Error>> {
    Ok(Auth::builder(Options::from_env()?).build()?)
}
