//! `tessera`: serves the better-auth-compatible auth API, configured by
//! flags and the environment, migrates its database and inspects its
//! cookies. Run `tessera --help` for the flags and variables.

#![forbid(unsafe_code)]

mod cli;
mod config;
mod database;
mod inspect;
mod migrate;
mod report;
mod secret_file;
mod serve;
mod ui;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command, Settings};
use crate::report::OneLine;

fn main() -> ExitCode {
    // Keeps the plugin crates, and their registrations for TESSERA_PLUGINS
    // and the stateless cookie-cache refresh, in the binary.
    tessera_stateless_refresh::link();
    tessera_multi_session::link();
    // --help, --version and usage errors exit here (0, 0 and 2).
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    match cli.command {
        None => serve(Settings::serve(cli.serve, &matches)),
        Some(Command::Serve(args)) => {
            let matches = matches
                .subcommand_matches("serve")
                .expect("the serve command was parsed from these matches");
            serve(Settings::serve(*args, matches))
        }
        Some(Command::Migrate(args)) => {
            init_logging("warn");
            let settings = Settings::migrate(args);
            run_async(migrate::run(|name| settings.get(name)))
        }
        Some(Command::Inspect(args)) => {
            init_logging("warn");
            let settings = Settings::inspect(&args);
            let input = args.input.filter(|input| input != "-");
            let secrets = if args.show_secrets {
                inspect::render::OAuthSecrets::Shown
            } else {
                inspect::render::OAuthSecrets::Redacted
            };
            inspect::command::run(args.json, secrets, input, |name| settings.get(name))
        }
    }
}

fn serve(settings: Settings) -> ExitCode {
    init_logging("info");
    run_async(serve::run(|name| settings.get(name)))
}

/// Runs a command on a multi-threaded runtime; an error is one line on
/// stderr, its causes each once, and exit code 1.
fn run_async<E: std::error::Error + 'static>(
    command: impl std::future::Future<Output = Result<(), E>>,
) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("tessera: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tessera: {}", OneLine(&err));
            ExitCode::FAILURE
        }
    }
}

/// Logs (kernel warnings included) go to stderr, coloured only when it is
/// a terminal (no escape codes in files and journals); stdout carries the
/// startup facts, or the inspection report. `RUST_LOG` overrides `default`.
fn init_logging(default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
