//! `tessera`: serves the better-auth-compatible auth API, configured from
//! the environment, and inspects its cookies. Run `tessera --help` for the
//! variables.

#![forbid(unsafe_code)]

mod config;
mod database;
mod inspect;
mod migrate;
mod secret_file;
mod serve;

use std::process::ExitCode;

const HELP: &str = "\
tessera — a better-auth-compatible auth server

USAGE:
    tessera [serve]                      serve the auth API (the default)
    tessera migrate                      create or update the database schema, then exit
    tessera inspect [--json] ['<Cookie header>' | -]
                                         check session cookies with the configured secrets
                                         (see `tessera inspect --help`)
    tessera --help                       print this help
    tessera --version                    print the version

CONFIGURATION (environment variables):
    PORT                           listen on 127.0.0.1:PORT
    TESSERA_LISTEN                 listen on host:port (wins over PORT); default 127.0.0.1:3000
    BETTER_AUTH_SECRET             signing secret (also AUTH_SECRET)
    BETTER_AUTH_SECRETS            versioned secrets, current first: \"2:new,1:old\"
    TESSERA_DATA_DIR               where a generated secret (tessera.secret, mode 0600) and the
                                   default SQLite database (tessera.db) live; default the current
                                   directory
    BETTER_AUTH_URL                public URL of the API (its path becomes the base path); unset:
                                   http://<listen address>, allowed in production only on loopback
    BETTER_AUTH_TRUSTED_ORIGINS    comma-separated trusted origins
    NODE_ENV                       development | test | production (default)
    TESSERA_SESSION_EXPIRES_IN     session lifetime, seconds (default 604800)
    TESSERA_SESSION_UPDATE_AGE     refresh a session older than this, seconds (default 86400)
    TESSERA_SESSION_FRESH_AGE      freshness window, seconds (default 86400)
    TESSERA_RATE_LIMIT             true | false (default: on in production)
    TESSERA_DATABASE_URL           unset (embedded default: SQLite file tessera.db in TESSERA_DATA_DIR)
                                   | sqlite://path/to/file.db | postgres://user@host:port/db
                                   | memory | none (stateless)
    TESSERA_MIGRATE                true | false: create or update the schema at start-up (default true)
    TESSERA_SECONDARY_STORAGE      unset | memory | redis://[user:password@]host[:port][/db]
                                   (sessions in Redis, better-auth's key layout; Redis 6.2+, no TLS)
    TESSERA_REDIS_PREFIX           prefix for every Redis key (default none: better-auth's bare keys;
                                   better-auth: matches @better-auth/redis-storage's default)
    TESSERA_COOKIE_CACHE           off | compact | jwt | jwe (default: off; jwe in stateless mode,
                                   i.e. TESSERA_DATABASE_URL=none and no secondary storage)
    TESSERA_COOKIE_CACHE_MAX_AGE   seconds (default 300; the session lifetime in stateless mode)
    TESSERA_COOKIE_CACHE_VERSION   cache version string (default \"1\")
    TESSERA_REFRESH_CACHE          false | true | <seconds>: re-issue a stateless cache this long
                                   before it expires (default: true in stateless mode; ignored
                                   with a database or secondary storage)
    TESSERA_PLUGINS                comma-separated plugin ids (this build: multi-session, stateless-refresh)
    TESSERA_MAX_HEAD_BYTES         largest request head (header fields), bytes; 431 past it
                                   (default 65536)
    TESSERA_MAX_COOKIE_BYTES       largest Cookie header, bytes; 431 past it; the session cache
                                   gets two thirds of it (default 49152)
    TESSERA_MAX_COOKIES            most cookies in a request; 431 past it (default 300)
    TESSERA_HASH_THREADS           passwords hashed at once, each on its own thread with 32 MiB
                                   (default: one per available core)
    RUST_LOG                       log filter (default info); logs go to stderr
";

enum Command {
    Serve,
    Migrate,
    Inspect(Vec<String>),
    Help,
    Version,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let command = match args.next().as_deref() {
        None | Some("serve") => Command::Serve,
        Some("migrate") => Command::Migrate,
        Some("inspect") => return Ok(Command::Inspect(args.collect())),
        Some("-h" | "--help" | "help") => Command::Help,
        Some("-V" | "--version") => Command::Version,
        Some(other) => return Err(other.to_owned()),
    };
    match args.next() {
        Some(extra) => Err(extra),
        None => Ok(command),
    }
}

fn main() -> ExitCode {
    // Keeps the plugin crates, and their registrations for TESSERA_PLUGINS
    // and the stateless cookie-cache refresh, in the binary.
    tessera_stateless_refresh::link();
    tessera_multi_session::link();
    match parse_args(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            println!("tessera {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Command::Serve) => serve(),
        Ok(Command::Migrate) => migrate(),
        Ok(Command::Inspect(args)) => {
            init_logging("warn");
            inspect::command::run(args.into_iter(), |name| std::env::var(name).ok())
        }
        Err(arg) => {
            eprintln!("tessera: unexpected argument {arg:?}; see `tessera --help`");
            ExitCode::from(2)
        }
    }
}

fn serve() -> ExitCode {
    init_logging("info");
    run_async(serve::run(|name| std::env::var(name).ok()))
}

fn migrate() -> ExitCode {
    init_logging("warn");
    run_async(migrate::run(|name| std::env::var(name).ok()))
}

/// Runs a command on a multi-threaded runtime; an error is one line on
/// stderr and exit code 1.
fn run_async<E: std::fmt::Display>(
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
            eprintln!("tessera: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Logs (kernel warnings included) go to stderr; stdout carries the
/// startup facts, or the inspection report. `RUST_LOG` overrides `default`.
fn init_logging(default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
