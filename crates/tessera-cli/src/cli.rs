//! The command line. Every flag stands for an environment variable and
//! falls back to it (clap's `env`); the commands then read their settings
//! through one getter, [`Settings::get`], in which a flag given on the
//! command line beats its variable. Validation stays where it was, in
//! `config.rs` and the kernel, so a bad value is reported the same way
//! whichever of the two gave it.

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Parser, Subcommand};

/// The variables without a flag, for the help of `tessera` and `tessera serve`.
const ENVIRONMENT: &str = "\
Each flag falls back to the environment variable shown beside it. These are
read from the environment only:
  BETTER_AUTH_SECRET            signing secret (also AUTH_SECRET); never a flag, so it stays
                                out of `ps`. Unset: generated once into DATA_DIR/tessera.secret
  BETTER_AUTH_SECRETS           versioned secrets, current first: \"2:new,1:old\"
  TESSERA_SESSION_EXPIRES_IN    session lifetime, seconds (default 604800)
  TESSERA_SESSION_UPDATE_AGE    refresh a session older than this, seconds (default 86400)
  TESSERA_SESSION_FRESH_AGE     freshness window, seconds (default 86400)
  TESSERA_REVOCATION_LAG        seconds (default 1) within which a revocation reaches every
                                process sharing the store, cache hits included; none: as better-auth
  TESSERA_REDIS_WAIT_REPLICAS   confirm a Redis write once this many replicas have it (default 0),
                                so a failover loses nothing confirmed
  TESSERA_RATE_LIMIT            true | false (default: on in production)
  TESSERA_SIGN_IN_THROTTLE      off | failures/seconds (default 5/900): failed sign-ins per account
  TESSERA_TRUSTED_PROXIES       comma-separated IPs/CIDRs whose forwarded headers are believed
  TESSERA_IP_HEADERS            headers naming the client behind them (default x-forwarded-for)
  TESSERA_TRUST_HEADERS_WITHOUT_PEER  true: believe them when no socket peer is known
  TESSERA_COOKIE_CACHE_MAX_AGE  seconds (default 300; the session lifetime in stateless mode)
  TESSERA_COOKIE_CACHE_VERSION  cache version string (default \"1\")
  TESSERA_COOKIE_CACHE_MEMO_BYTES  decode memo budget, bytes (0: off)
  TESSERA_REFRESH_CACHE         false | true | <seconds>: re-issue a stateless cache this long
                                before it expires (default: true in stateless mode)
  TESSERA_MAX_HEAD_BYTES        largest request head, bytes; 431 past it (default 65536)
  TESSERA_MAX_COOKIE_BYTES      largest Cookie header, bytes; 431 past it (default 49152)
  TESSERA_MAX_COOKIES           most cookies in a request; 431 past it (default 300)
  TESSERA_HASH_THREADS          passwords hashed at once, 32 MiB each (default: one per core)
  RUST_LOG                      log filter (default info); logs go to stderr";

/// `tessera inspect`'s notes.
const INSPECT_NOTES: &str = "\
Secrets come from the environment as `tessera serve` reads them: BETTER_AUTH_SECRET,
BETTER_AUTH_SECRETS, or DATA_DIR/tessera.secret when neither is set (never created here).
Secrets are never printed. The OAuth cookies' own secrets (the code verifier and nonce in
oauth_state, the tokens in account_data) are redacted unless --show-secrets.

Exit status:
  0  at least one cookie verified or decrypted
  1  nothing did
  2  bad usage, or no secret";

/// `tessera`: a better-auth-compatible auth server.
#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "A better-auth-compatible auth server; without a command, it serves",
    args_conflicts_with_subcommands = true,
    after_help = ENVIRONMENT
)]
pub struct Cli {
    /// What to do; `serve` when none is given.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `tessera serve`'s flags, for `tessera` without a command.
    #[command(flatten, next_help_heading = "Serve options")]
    pub serve: ServeArgs,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the auth API (the default)
    #[command(after_help = ENVIRONMENT)]
    Serve(Box<ServeArgs>),
    /// Create or update the database schema, then exit
    Migrate(MigrateArgs),
    /// Check better-auth session and OAuth cookies with this deployment's secrets
    #[command(after_help = INSPECT_NOTES)]
    Inspect(InspectArgs),
}

/// `tessera serve`'s flags. Values stay strings here: `config.rs` checks
/// them and names the variable in its errors.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Listen on 127.0.0.1:PORT
    #[arg(short, long, env = "PORT", value_name = "PORT")]
    pub port: Option<String>,
    /// Listen on HOST:PORT (IPv6 in brackets); wins over --port
    /// [default: 127.0.0.1:3000]
    #[arg(long, env = "TESSERA_LISTEN", value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Public URL of the API, its path the base path [default: http://<listen address>,
    /// allowed in production only on loopback]
    #[arg(long, env = "BETTER_AUTH_URL", value_name = "URL")]
    pub base_url: Option<String>,
    /// Comma-separated origins trusted besides the base URL's
    #[arg(long, env = "BETTER_AUTH_TRUSTED_ORIGINS", value_name = "ORIGINS")]
    pub trusted_origins: Option<String>,
    /// development | test | production [default: production]
    #[arg(long, env = "NODE_ENV", value_name = "ENVIRONMENT")]
    pub environment: Option<String>,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Create or update the schema at start-up: true | false [default: true]
    #[arg(long, env = "TESSERA_MIGRATE", value_name = "BOOL")]
    pub migrate: Option<String>,
    /// unset | memory | redis://[user:password@]host[:port][/db] | redis+cluster://host:port,…: sessions in Redis
    /// (better-auth's key layout; Redis 6.2+, no TLS)
    #[arg(
        long,
        env = "TESSERA_SECONDARY_STORAGE",
        value_name = "URL",
        hide_env_values = true
    )]
    pub secondary_storage: Option<String>,
    /// Put in front of every Redis key [default: none, better-auth's bare keys;
    /// `better-auth:` matches @better-auth/redis-storage]
    #[arg(long, env = "TESSERA_REDIS_PREFIX", value_name = "PREFIX")]
    pub redis_prefix: Option<String>,
    /// off | compact | jwt | jwe [default: off; jwe in stateless mode]
    #[arg(long, env = "TESSERA_COOKIE_CACHE", value_name = "STRATEGY")]
    pub cookie_cache: Option<String>,
    /// Comma-separated plugin ids (this build: multi-session, stateless-refresh)
    #[arg(long, env = "TESSERA_PLUGINS", value_name = "IDS")]
    pub plugins: Option<String>,
    /// Serve the built-in sign-in page at /: true | false [default: true]
    #[arg(long, env = "TESSERA_UI", value_name = "BOOL")]
    pub ui: Option<String>,
}

/// Where the data lives: `serve` and `migrate` share these.
#[derive(Debug, Args)]
pub struct StorageArgs {
    /// Where the default SQLite database (tessera.db) and a generated secret
    /// (tessera.secret, mode 0600) live [default: the current directory]
    #[arg(long, env = "TESSERA_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<String>,
    /// sqlite://path/to/file.db | postgres://user@host:port/db | memory | none (stateless)
    /// [default: SQLite file tessera.db in DATA_DIR]
    #[arg(
        long,
        env = "TESSERA_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
}

/// `tessera migrate`'s flags.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// `tessera inspect`'s flags.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
    /// Print the code verifier, nonce and tokens that oauth_state and
    /// account_data hold (redacted by default)
    #[arg(long)]
    pub show_secrets: bool,
    /// Where tessera.secret is looked for when no secret variable is set
    /// [default: the current directory]
    #[arg(long, env = "TESSERA_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<String>,
    /// A Cookie header ('better-auth.session_token=…; better-auth.session_data=…'),
    /// a single cookie value, or - (the default) to read it from stdin
    #[arg(value_name = "COOKIE")]
    pub input: Option<String>,
}

/// The settings of a command: the variables its flags stand for, as the
/// command line (else the environment) gives them; every other variable
/// from the environment.
#[derive(Debug, Default)]
pub struct Settings {
    given: Vec<(&'static str, Option<String>)>,
}

impl Settings {
    /// The value of variable `name`: a flag's if it has one, else the
    /// process environment's.
    pub fn get(&self, name: &str) -> Option<String> {
        match self.given.iter().find(|(n, _)| *n == name) {
            Some((_, value)) => value.clone(),
            None => std::env::var(name).ok(),
        }
    }

    /// `tessera serve`'s settings; `matches` are the matches its flags
    /// were parsed from.
    pub fn serve(args: ServeArgs, matches: &ArgMatches) -> Settings {
        let on_command_line = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
        // TESSERA_LISTEN wins over PORT, but not over --port: a flag beats
        // every variable.
        let listen = if on_command_line("port") && !on_command_line("listen") {
            None
        } else {
            args.listen
        };
        let mut given = vec![
            ("PORT", args.port),
            ("TESSERA_LISTEN", listen),
            ("BETTER_AUTH_URL", args.base_url),
            ("BETTER_AUTH_TRUSTED_ORIGINS", args.trusted_origins),
            ("NODE_ENV", args.environment),
            ("TESSERA_MIGRATE", args.migrate),
            ("TESSERA_SECONDARY_STORAGE", args.secondary_storage),
            ("TESSERA_REDIS_PREFIX", args.redis_prefix),
            ("TESSERA_COOKIE_CACHE", args.cookie_cache),
            ("TESSERA_PLUGINS", args.plugins),
            ("TESSERA_UI", args.ui),
        ];
        given.extend(args.storage.vars());
        Settings { given }
    }

    /// `tessera migrate`'s settings.
    pub fn migrate(args: MigrateArgs) -> Settings {
        Settings {
            given: args.storage.vars().into(),
        }
    }

    /// `tessera inspect`'s settings.
    pub fn inspect(args: &InspectArgs) -> Settings {
        Settings {
            given: vec![("TESSERA_DATA_DIR", args.data_dir.clone())],
        }
    }
}

impl StorageArgs {
    fn vars(self) -> [(&'static str, Option<String>); 2] {
        [
            ("TESSERA_DATA_DIR", self.data_dir),
            ("TESSERA_DATABASE_URL", self.database_url),
        ]
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches};

    use super::*;

    /// Parses `args` (after `tessera`) into `serve` settings. Only flags
    /// are given here; the variables are the binary tests' (the process
    /// environment is shared by parallel tests).
    fn serve_settings(args: &[&str]) -> Settings {
        let matches = Cli::command()
            .try_get_matches_from(std::iter::once("tessera").chain(args.iter().copied()))
            .unwrap();
        let cli = Cli::from_arg_matches(&matches).unwrap();
        match cli.command {
            None => Settings::serve(cli.serve, &matches),
            Some(Command::Serve(serve)) => {
                Settings::serve(*serve, matches.subcommand_matches("serve").unwrap())
            }
            Some(other) => panic!("not serve: {other:?}"),
        }
    }

    fn given<'a>(settings: &'a Settings, name: &str) -> Option<&'a str> {
        settings
            .given
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_set_their_variables_with_or_without_serve() {
        for prefix in [&[][..], &["serve"][..]] {
            let args: Vec<&str> = prefix
                .iter()
                .copied()
                .chain([
                    "--port",
                    "4000",
                    "--database-url",
                    "memory",
                    "--data-dir",
                    "/srv/tessera",
                    "--cookie-cache",
                    "jwe",
                    "--ui",
                    "false",
                ])
                .collect();
            let s = serve_settings(&args);
            assert_eq!(given(&s, "PORT"), Some("4000"));
            assert_eq!(given(&s, "TESSERA_DATABASE_URL"), Some("memory"));
            assert_eq!(given(&s, "TESSERA_DATA_DIR"), Some("/srv/tessera"));
            assert_eq!(given(&s, "TESSERA_COOKIE_CACHE"), Some("jwe"));
            assert_eq!(given(&s, "TESSERA_UI"), Some("false"));
        }
    }

    #[test]
    fn commands_and_their_arguments_parse() {
        let cli = Cli::try_parse_from(["tessera", "inspect", "--json", "a=1; b=2"]).unwrap();
        let Some(Command::Inspect(args)) = cli.command else {
            panic!("inspect");
        };
        assert!(args.json);
        assert!(!args.show_secrets);
        assert_eq!(args.input.as_deref(), Some("a=1; b=2"));
        let cli = Cli::try_parse_from(["tessera", "inspect", "--show-secrets", "a=1"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Inspect(a)) if a.show_secrets));
        let cli = Cli::try_parse_from(["tessera", "inspect", "-"]).unwrap();
        assert!(
            matches!(cli.command, Some(Command::Inspect(a)) if a.input.as_deref() == Some("-"))
        );
        let cli = Cli::try_parse_from(["tessera", "migrate", "--database-url", "memory"]).unwrap();
        let Some(Command::Migrate(args)) = cli.command else {
            panic!("migrate");
        };
        assert_eq!(args.storage.database_url.as_deref(), Some("memory"));
        // Two cookie headers, an unknown flag, serve's flags before a command.
        for bad in [
            &["tessera", "inspect", "a=1;", "b=2"][..],
            &["tessera", "inspect", "--yaml"],
            &["tessera", "--port", "4000", "migrate"],
            &["tessera", "bogus"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }
}
