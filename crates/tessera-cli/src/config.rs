//! `tessera serve` configuration, read from the environment by a pure
//! function over a variable getter so every variable and every error is
//! unit-tested without touching the process environment.

use std::fmt;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use tessera::options::{listen_address, EnvError};
use tessera::{Environment, Options};
use tessera_smtp::MailChoice;

/// Everything `tessera serve` needs, validated.
#[derive(Debug)]
pub struct ServeConfig {
    /// `host:port` to bind.
    pub listen: String,
    /// Kernel options (`Options::from_vars`).
    pub options: Options,
    /// Where the secret comes from.
    pub secret: SecretSource,
    /// `BETTER_AUTH_URL` is unset: the base URL is `http://` + the
    /// (loopback) listen address.
    pub base_url_from_listen: bool,
    /// `TESSERA_DATABASE_URL`.
    pub database: DatabaseChoice,
    /// `TESSERA_MIGRATE`: apply migrations at start-up (default true).
    pub migrate: bool,
    /// `TESSERA_UI`: serve the built-in page at `/` (default true).
    pub ui: bool,
    /// `TESSERA_SECONDARY_STORAGE`.
    pub secondary_storage: SecondaryStorageChoice,
    /// `TESSERA_OAUTH_<ID>_*`: OAuth providers, discovered at start.
    pub oauth: Vec<tessera::oauth::env::ProviderSpec>,
    /// `TESSERA_SMTP_URL` and `TESSERA_MAIL_FROM` ([`MailChoice::from_env`]).
    pub mail: MailChoice,
}

/// Where the signing secret comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// `BETTER_AUTH_SECRET`, `AUTH_SECRET` or `BETTER_AUTH_SECRETS`.
    Environment,
    /// Generated once and kept in this file (`$TESSERA_DATA_DIR/tessera.secret`).
    File(PathBuf),
}

/// The file a generated secret is kept in, inside the data directory.
pub const SECRET_FILE_NAME: &str = "tessera.secret";

/// The SQLite file of the embedded default, inside the data directory.
pub const DATABASE_FILE_NAME: &str = "tessera.db";

/// `TESSERA_DATABASE_URL`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseChoice {
    /// Unset: the embedded default, a SQLite file
    /// (`$TESSERA_DATA_DIR/tessera.db`).
    EmbeddedDefault(PathBuf),
    /// `sqlite://…`: that SQLite database.
    Sqlite(String),
    /// `postgres://…` or `postgresql://…`: that PostgreSQL database.
    Postgres(String),
    /// `memory`: an in-memory database.
    Memory,
    /// `none`: no database, better-auth's stateless mode.
    None,
}

impl fmt::Display for DatabaseChoice {
    /// What the choice is, never its URL (which may carry a password).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseChoice::EmbeddedDefault(path) => write!(f, "SQLite at {}", path.display()),
            DatabaseChoice::Sqlite(_) => f.write_str("SQLite"),
            DatabaseChoice::Postgres(_) => f.write_str("PostgreSQL"),
            DatabaseChoice::Memory => f.write_str("in-memory (data is lost on restart)"),
            DatabaseChoice::None => f.write_str(
                "none (stateless mode: sessions live only in this process and its cookies)",
            ),
        }
    }
}

/// `TESSERA_SECONDARY_STORAGE` (with `TESSERA_REDIS_PREFIX`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecondaryStorageChoice {
    /// Unset.
    None,
    /// `memory`.
    Memory,
    /// `redis://…`.
    Redis(RedisChoice),
}

/// A Redis URL and the key prefix. The URL may carry a password, so it is
/// shown only without its credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisChoice {
    /// `TESSERA_SECONDARY_STORAGE`, as given.
    pub url: String,
    /// `TESSERA_REDIS_PREFIX`: put in front of every key (`""`, the
    /// default, gives better-auth's bare key names; `better-auth:` matches
    /// `@better-auth/redis-storage`'s default).
    pub prefix: String,
    /// `TESSERA_REDIS_WAIT_REPLICAS`: confirm a write only once this many
    /// replicas have it (0, the default: Redis's asynchronous replication).
    pub wait_replicas: u32,
}

impl fmt::Debug for RedisChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisChoice")
            .field("url", &without_credentials(&self.url))
            .field("prefix", &self.prefix)
            .field("wait_replicas", &self.wait_replicas)
            .finish()
    }
}

impl fmt::Display for SecondaryStorageChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecondaryStorageChoice::None => f.write_str("none"),
            SecondaryStorageChoice::Memory => f.write_str("in-memory (data is lost on restart)"),
            SecondaryStorageChoice::Redis(r) => write!(
                f,
                "Redis at {} (prefix {:?})",
                without_credentials(&r.url),
                r.prefix
            ),
        }
    }
}

/// `scheme://host…` without a `user:password@` part.
fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}{path}")
}

/// A bad or unsupported value. Values that may hold credentials (database
/// and Redis URLs) are never echoed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable the kernel reads.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// An OAuth provider's variables.
    #[error(transparent)]
    OAuth(#[from] tessera::oauth::env::OAuthConfigError),
    /// `TESSERA_SMTP_URL` and `TESSERA_MAIL_FROM` (never shows the URL's
    /// password).
    #[error(transparent)]
    Mail(#[from] tessera_smtp::MailEnvError),
    /// A variable that must be set in this configuration.
    #[error("{name} is not set: {reason}")]
    Missing {
        /// The variable.
        name: &'static str,
        /// Why it is needed.
        reason: String,
    },
    /// A variable with an unusable value.
    #[error("{name}={value:?}: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is accepted.
        reason: String,
    },
}

impl ServeConfig {
    /// Reads the configuration through `get` (a variable that is unset or
    /// blank counts as unset); the OAuth providers are those the process
    /// environment's variable names mention.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let names: Vec<String> = std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .filter(|k| k.starts_with("TESSERA_OAUTH_"))
            .collect();
        Self::from_vars_named(get, names.iter().map(String::as_str))
    }

    /// [`ServeConfig::from_vars`] with the variable names given.
    pub fn from_vars_named<'a>(
        get: impl Fn(&str) -> Option<String>,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let mut options = Options::from_vars(get)?;
        options.email_and_password.hash_threads = hash_threads(get("TESSERA_HASH_THREADS"))?;
        let listen = listen_address(get)?;
        let base_url_from_listen = options.base_url.is_none();
        if base_url_from_listen {
            options.base_url = Some(default_base_url(&listen, options.environment)?);
        }
        let secret = if options.secrets.is_some() {
            SecretSource::Environment
        } else {
            SecretSource::File(secret_file_path(&get))
        };
        Ok(ServeConfig {
            listen,
            secret,
            base_url_from_listen,
            database: database_choice(&get)?,
            migrate: boolean("TESSERA_MIGRATE", get("TESSERA_MIGRATE"), true)?,
            ui: boolean("TESSERA_UI", get("TESSERA_UI"), true)?,
            secondary_storage: secondary_storage(
                get("TESSERA_SECONDARY_STORAGE"),
                get("TESSERA_REDIS_PREFIX"),
                get("TESSERA_REDIS_WAIT_REPLICAS"),
            )?,
            oauth: tessera::oauth::env::providers(names, get)?,
            mail: MailChoice::from_env(get, options.environment)?,
            options,
        })
    }
}

/// `$TESSERA_DATA_DIR/tessera.secret` (the working directory when unset):
/// where the generated secret lives when none is configured.
pub fn secret_file_path(get: &impl Fn(&str) -> Option<String>) -> PathBuf {
    data_dir(get).join(SECRET_FILE_NAME)
}

/// `TESSERA_DATA_DIR`, the working directory when unset.
fn data_dir(get: &impl Fn(&str) -> Option<String>) -> PathBuf {
    get("TESSERA_DATA_DIR")
        .filter(|v| !v.trim().is_empty())
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
}

/// The base URL when `BETTER_AUTH_URL` is unset: `http://<listen address>`
/// (a wildcard host written as `localhost`), so requests from the server's
/// own origin pass the origin checks out of the box.
///
/// Only for a server this machine alone can reach, unless outside
/// production. better-auth without a base URL makes production cookies
/// `Secure` and infers its origin from each request's `Host`; a server
/// reached from elsewhere in production (behind a TLS proxy, typically)
/// must be told its public URL instead: an `http://` default would set
/// cookies without `Secure`, and a `Host` header is the client's to choose.
fn default_base_url(listen: &str, environment: Environment) -> Result<String, ConfigError> {
    let (host, port) = listen.rsplit_once(':').unwrap_or((listen, "3000"));
    if environment == Environment::Production && !is_loopback(host) {
        return Err(ConfigError::Missing {
            name: "BETTER_AUTH_URL",
            reason: format!(
                "tessera listens on {listen}, beyond this machine, in production: set it to the URL clients use \
                 (e.g. https://auth.example.com; https gives Secure cookies), or listen on 127.0.0.1"
            ),
        });
    }
    let host = match host {
        "0.0.0.0" | "[::]" | "" => "localhost",
        other => other,
    };
    Ok(format!("http://{host}:{port}"))
}

/// `localhost`, `127.0.0.0/8` or `[::1]`: reachable from this machine only.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `TESSERA_DATABASE_URL` (with `TESSERA_DATA_DIR` for the embedded
/// default), read through `get`; blank counts as unset. `serve` and
/// `migrate` share it.
pub fn database_choice(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<DatabaseChoice, ConfigError> {
    const NAME: &str = "TESSERA_DATABASE_URL";
    let Some(value) = get(NAME).filter(|v| !v.trim().is_empty()) else {
        return Ok(DatabaseChoice::EmbeddedDefault(
            data_dir(get).join(DATABASE_FILE_NAME),
        ));
    };
    let v = value.trim();
    match v.to_ascii_lowercase().as_str() {
        "memory" => return Ok(DatabaseChoice::Memory),
        "none" => return Ok(DatabaseChoice::None),
        _ => {}
    }
    let scheme = scheme_of(v);
    match scheme.as_deref() {
        Some("sqlite") => Ok(DatabaseChoice::Sqlite(v.to_owned())),
        Some("postgres" | "postgresql") => Ok(DatabaseChoice::Postgres(v.to_owned())),
        _ => Err(ConfigError::Invalid {
            name: NAME,
            // A URL may carry a password: show its scheme only.
            value: redacted(v, scheme.as_deref()),
            reason: "expected memory, none, sqlite://… or postgres://…".to_owned(),
        }),
    }
}

/// A `true` | `false` variable (`1` | `0` too, any case); `default` when unset.
fn boolean(name: &'static str, value: Option<String>, default: bool) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::trim) {
        None => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(false),
        Some(v) => Err(ConfigError::Invalid {
            name,
            value: v.to_owned(),
            reason: "expected true or false".to_owned(),
        }),
    }
}

fn secondary_storage(
    value: Option<String>,
    prefix: Option<String>,
    wait_replicas: Option<String>,
) -> Result<SecondaryStorageChoice, ConfigError> {
    const NAME: &str = "TESSERA_SECONDARY_STORAGE";
    let choice = match value {
        None => SecondaryStorageChoice::None,
        Some(value) => {
            let v = value.trim();
            let scheme = scheme_of(v);
            match scheme.as_deref() {
                _ if v.eq_ignore_ascii_case("memory") => SecondaryStorageChoice::Memory,
                Some("redis" | "redis+unix" | "redis+cluster") => {
                    SecondaryStorageChoice::Redis(RedisChoice {
                        url: v.to_owned(),
                        prefix: String::new(),
                        wait_replicas: 0,
                    })
                }
                Some("rediss" | "rediss+cluster") => {
                    return Err(ConfigError::Invalid {
                        name: NAME,
                        value: redacted(v, scheme.as_deref()),
                        reason: "Redis over TLS is not supported by this build; use redis://, \
                                 e.g. through a TLS tunnel"
                            .to_owned(),
                    })
                }
                _ => {
                    return Err(ConfigError::Invalid {
                        name: NAME,
                        value: redacted(v, scheme.as_deref()),
                        reason: "expected memory, redis://… or redis+cluster://host:port,…"
                            .to_owned(),
                    })
                }
            }
        }
    };
    let SecondaryStorageChoice::Redis(mut redis) = choice else {
        for (name, given) in [
            ("TESSERA_REDIS_PREFIX", prefix),
            ("TESSERA_REDIS_WAIT_REPLICAS", wait_replicas),
        ] {
            if let Some(value) = given {
                return Err(ConfigError::Invalid {
                    name,
                    value,
                    reason: "only used with TESSERA_SECONDARY_STORAGE=redis://…".to_owned(),
                });
            }
        }
        return Ok(choice);
    };
    if let Some(prefix) = prefix {
        redis.prefix = prefix;
    }
    if let Some(n) = wait_replicas {
        redis.wait_replicas = n.trim().parse().map_err(|_| ConfigError::Invalid {
            name: "TESSERA_REDIS_WAIT_REPLICAS",
            value: n.clone(),
            reason: "expected a whole number of replicas (0: do not wait)".to_owned(),
        })?;
    }
    Ok(SecondaryStorageChoice::Redis(redis))
}

/// `TESSERA_HASH_THREADS`: how many passwords may be hashed at once
/// (unset: one per available core).
fn hash_threads(value: Option<String>) -> Result<Option<NonZeroUsize>, ConfigError> {
    let Some(value) = value else {
        return Ok(None);
    };
    match value.trim().parse::<NonZeroUsize>() {
        Ok(threads) => Ok(Some(threads)),
        Err(_) => Err(ConfigError::Invalid {
            name: "TESSERA_HASH_THREADS",
            value,
            reason: "expected a whole number of threads, at least 1 (each password hash \
                     takes 32 MiB while it runs)"
                .to_owned(),
        }),
    }
}

/// The lowercased scheme of something URL-shaped (`scheme://` or `scheme:`).
fn scheme_of(v: &str) -> Option<String> {
    let (scheme, _) = v.split_once(':')?;
    let valid = !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then(|| scheme.to_ascii_lowercase())
}

fn redacted(v: &str, scheme: Option<&str>) -> String {
    match scheme {
        Some(scheme) => format!("{scheme}:…"),
        None => v.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use tessera::options::DEFAULT_LISTEN;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn config(pairs: &[(&str, &str)]) -> ServeConfig {
        ServeConfig::from_vars(vars(pairs)).expect("valid configuration")
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        ServeConfig::from_vars(vars(pairs))
            .expect_err("invalid configuration")
            .to_string()
    }

    #[test]
    fn reads_trusted_proxies_and_ip_headers() {
        let c = config(&[
            ("TESSERA_TRUSTED_PROXIES", "10.0.0.0/8, ::1"),
            ("TESSERA_IP_HEADERS", "X-Real-IP"),
        ]);
        let ip = &c.options.ip;
        assert_eq!(ip.trusted_proxies.len(), 2);
        assert!(ip.trusted_proxies[0].contains("10.9.8.7".parse().unwrap()));
        assert!(ip.trusted_proxies[1].contains("::1".parse().unwrap()));
        assert_eq!(ip.headers, ["x-real-ip"]);
        // Unset: no proxy is trusted, the socket peer is the client.
        assert!(config(&[]).options.ip.trusted_proxies.is_empty());
    }

    #[test]
    fn bad_trusted_proxies_or_ip_headers_stop_start_up() {
        let e = error(&[("TESSERA_TRUSTED_PROXIES", "10.0.0.0/8, my-proxy")]);
        assert!(e.starts_with("TESSERA_TRUSTED_PROXIES="), "{e}");
        assert!(
            e.contains("\"my-proxy\" is not an IP address or CIDR network"),
            "{e}"
        );
        let e = error(&[("TESSERA_IP_HEADERS", "x-forwarded-for, bad header")]);
        assert!(e.starts_with("TESSERA_IP_HEADERS="), "{e}");
    }

    #[test]
    fn empty_environment_gives_the_defaults() {
        let c = config(&[]);
        assert_eq!(c.listen, "127.0.0.1:3000");
        assert_eq!(
            c.secret,
            SecretSource::File(PathBuf::from(".").join("tessera.secret"))
        );
        assert_eq!(
            c.database,
            DatabaseChoice::EmbeddedDefault(PathBuf::from(".").join("tessera.db"))
        );
        assert!(c.migrate);
        assert_eq!(c.secondary_storage, SecondaryStorageChoice::None);
        assert_eq!(c.options.environment, tessera::Environment::Production);
        assert!(c.options.plugins.is_empty());
    }

    #[test]
    fn blank_values_count_as_unset() {
        let c = config(&[("PORT", " "), ("TESSERA_DATABASE_URL", "")]);
        assert_eq!(c.listen, DEFAULT_LISTEN);
        assert!(matches!(c.database, DatabaseChoice::EmbeddedDefault(_)));
    }

    #[test]
    fn port_listens_on_loopback() {
        assert_eq!(config(&[("PORT", "8080")]).listen, "127.0.0.1:8080");
    }

    #[test]
    fn bad_port_is_named() {
        let err = error(&[("PORT", "http")]);
        assert!(err.starts_with("PORT=\"http\""), "{err}");
        assert!(error(&[("PORT", "70000")]).contains("PORT"));
    }

    #[test]
    fn tessera_listen_wins_over_port() {
        let c = config(&[
            ("TESSERA_LISTEN", "0.0.0.0:4000"),
            ("PORT", "8080"),
            ("BETTER_AUTH_URL", "https://auth.example.com"),
        ]);
        assert_eq!(c.listen, "0.0.0.0:4000");
        assert_eq!(
            config(&[("TESSERA_LISTEN", "[::1]:4000")]).listen,
            "[::1]:4000"
        );
        assert_eq!(
            config(&[("TESSERA_LISTEN", "localhost:4000")]).listen,
            "localhost:4000"
        );
    }

    #[test]
    fn bad_listen_values_are_named() {
        for bad in ["4000", ":4000", "host:port", "::1:4000", "host:99999"] {
            let err = error(&[("TESSERA_LISTEN", bad)]);
            assert!(err.starts_with("TESSERA_LISTEN="), "{bad}: {err}");
        }
    }

    #[test]
    fn configured_secret_is_used_from_the_environment() {
        let c = config(&[("BETTER_AUTH_SECRET", "a-long-random-secret-of-at-least-32")]);
        assert_eq!(c.secret, SecretSource::Environment);
        let c = config(&[("AUTH_SECRET", "a-long-random-secret-of-at-least-32")]);
        assert_eq!(c.secret, SecretSource::Environment);
        let c = config(&[(
            "BETTER_AUTH_SECRETS",
            "1:a-long-random-secret-of-at-least-32",
        )]);
        assert_eq!(c.secret, SecretSource::Environment);
    }

    #[test]
    fn missing_secret_lives_in_the_data_dir() {
        let c = config(&[("TESSERA_DATA_DIR", "/var/lib/tessera")]);
        assert_eq!(
            c.secret,
            SecretSource::File(PathBuf::from("/var/lib/tessera/tessera.secret"))
        );
    }

    #[test]
    fn bad_secret_list_is_an_error() {
        let err = error(&[("BETTER_AUTH_SECRETS", "no-version")]);
        assert!(err.contains("BETTER_AUTH_SECRETS"), "{err}");
    }

    #[test]
    fn kernel_variables_reach_the_options() {
        let c = config(&[
            ("BETTER_AUTH_URL", "https://auth.example.com"),
            ("BETTER_AUTH_TRUSTED_ORIGINS", "https://app.example.com"),
            ("NODE_ENV", "development"),
            ("TESSERA_SESSION_EXPIRES_IN", "3600"),
            ("TESSERA_SESSION_UPDATE_AGE", "60"),
            ("TESSERA_SESSION_FRESH_AGE", "30"),
            ("TESSERA_RATE_LIMIT", "false"),
        ]);
        let o = &c.options;
        assert_eq!(o.base_url.as_deref(), Some("https://auth.example.com"));
        assert_eq!(o.trusted_origins, ["https://app.example.com"]);
        assert_eq!(o.environment, tessera::Environment::Development);
        assert_eq!(o.environment.to_string(), "development");
        assert_eq!(o.session.expires_in, 3600);
        assert_eq!(o.session.update_age, 60);
        assert_eq!(o.session.fresh_age, 30);
        assert_eq!(o.rate_limit.enabled, Some(false));
    }

    #[test]
    fn bad_kernel_variables_are_named() {
        for name in [
            "TESSERA_SESSION_EXPIRES_IN",
            "TESSERA_SESSION_UPDATE_AGE",
            "TESSERA_SESSION_FRESH_AGE",
            "TESSERA_RATE_LIMIT",
        ] {
            let err = error(&[(name, "soon")]);
            assert!(err.contains(name), "{name}: {err}");
        }
    }

    #[test]
    fn database_choices() {
        let db = |v: &str| config(&[("TESSERA_DATABASE_URL", v)]).database;
        assert_eq!(db("memory"), DatabaseChoice::Memory);
        assert_eq!(db("MEMORY"), DatabaseChoice::Memory);
        assert_eq!(db("none"), DatabaseChoice::None);
        assert_eq!(
            db(" sqlite://data/app.db "),
            DatabaseChoice::Sqlite("sqlite://data/app.db".to_owned())
        );
        for url in ["postgres://u:hunter2@db/tessera", "postgresql://db/tessera"] {
            assert_eq!(db(url), DatabaseChoice::Postgres(url.to_owned()));
        }
    }

    #[test]
    fn the_embedded_default_is_sqlite_in_the_data_dir() {
        let c = config(&[("TESSERA_DATA_DIR", "/var/lib/tessera")]);
        assert_eq!(
            c.database,
            DatabaseChoice::EmbeddedDefault(PathBuf::from("/var/lib/tessera/tessera.db"))
        );
        assert_eq!(
            c.database.to_string(),
            "SQLite at /var/lib/tessera/tessera.db"
        );
    }

    #[test]
    fn database_urls_are_never_shown() {
        let c = config(&[("TESSERA_DATABASE_URL", "postgres://u:hunter2@db/tessera")]);
        assert_eq!(c.database.to_string(), "PostgreSQL");
    }

    #[test]
    fn migrations_at_start_up_can_be_turned_off() {
        assert!(!config(&[("TESSERA_MIGRATE", "false")]).migrate);
        assert!(config(&[("TESSERA_MIGRATE", "TRUE")]).migrate);
        let err = error(&[("TESSERA_MIGRATE", "later")]);
        assert!(err.starts_with("TESSERA_MIGRATE=\"later\""), "{err}");
    }

    #[test]
    fn the_built_in_page_is_on_unless_turned_off() {
        assert!(config(&[]).ui);
        assert!(!config(&[("TESSERA_UI", "false")]).ui);
        assert!(config(&[("TESSERA_UI", "1")]).ui);
        let err = error(&[("TESSERA_UI", "off")]);
        assert!(err.starts_with("TESSERA_UI=\"off\""), "{err}");
    }

    #[test]
    fn unknown_database_is_named_without_its_credentials() {
        let err = error(&[("TESSERA_DATABASE_URL", "mysql://root:hunter2@db/x")]);
        assert!(err.starts_with("TESSERA_DATABASE_URL="), "{err}");
        assert!(err.contains("memory, none"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = error(&[("TESSERA_DATABASE_URL", "mongo")]);
        assert!(err.contains("\"mongo\""), "{err}");
    }

    #[test]
    fn secondary_storage_choices() {
        let c = config(&[("TESSERA_SECONDARY_STORAGE", "memory")]);
        assert_eq!(c.secondary_storage, SecondaryStorageChoice::Memory);
        let err = error(&[("TESSERA_SECONDARY_STORAGE", "memcached")]);
        assert!(err.starts_with("TESSERA_SECONDARY_STORAGE="), "{err}");
    }

    #[test]
    fn redis_secondary_storage_with_its_prefix() {
        let c = config(&[("TESSERA_SECONDARY_STORAGE", "redis://127.0.0.1:6379")]);
        assert_eq!(
            c.secondary_storage,
            SecondaryStorageChoice::Redis(RedisChoice {
                url: "redis://127.0.0.1:6379".to_owned(),
                prefix: String::new(),
                wait_replicas: 0,
            })
        );
        assert_eq!(
            c.secondary_storage.to_string(),
            "Redis at redis://127.0.0.1:6379 (prefix \"\")"
        );
        let c = config(&[
            ("TESSERA_SECONDARY_STORAGE", " redis://cache/2 "),
            ("TESSERA_REDIS_PREFIX", "better-auth:"),
        ]);
        let SecondaryStorageChoice::Redis(redis) = &c.secondary_storage else {
            panic!("{:?}", c.secondary_storage);
        };
        assert_eq!(redis.url, "redis://cache/2");
        assert_eq!(redis.prefix, "better-auth:");
    }

    #[test]
    fn a_redis_cluster_and_replica_waits_are_read() {
        let c = config(&[
            (
                "TESSERA_SECONDARY_STORAGE",
                "redis+cluster://u:hunter2@10.0.0.1:7000,10.0.0.2:7000",
            ),
            ("TESSERA_REDIS_WAIT_REPLICAS", "1"),
        ]);
        let SecondaryStorageChoice::Redis(redis) = &c.secondary_storage else {
            panic!("{:?}", c.secondary_storage);
        };
        assert_eq!(redis.wait_replicas, 1);
        let shown = format!("{} {:?}", c.secondary_storage, c);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("redis+cluster://10.0.0.1:7000,10.0.0.2:7000"),
            "{shown}"
        );
        let err = error(&[
            ("TESSERA_SECONDARY_STORAGE", "redis://cache"),
            ("TESSERA_REDIS_WAIT_REPLICAS", "some"),
        ]);
        assert!(err.starts_with("TESSERA_REDIS_WAIT_REPLICAS="), "{err}");
        let err = error(&[("TESSERA_REDIS_WAIT_REPLICAS", "1")]);
        assert!(err.contains("only used with"), "{err}");
    }

    #[test]
    fn redis_credentials_are_never_shown() {
        let c = config(&[(
            "TESSERA_SECONDARY_STORAGE",
            "redis://default:hunter2@cache:6379/1",
        )]);
        let shown = format!("{} {:?}", c.secondary_storage, c);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("Redis at redis://cache:6379/1"), "{shown}");
        assert_eq!(
            without_credentials("redis://:p@ss@host:1/0"),
            "redis://host:1/0"
        );
    }

    /// The choice itself is `tessera_smtp::MailChoice::from_env`'s (tested
    /// there): here, that it reads `NODE_ENV` as the kernel does and that
    /// its errors and the configuration's `Debug` stay as they were.
    #[test]
    fn mail_goes_to_the_log_in_development_and_nowhere_in_production() {
        let mail = config(&[("NODE_ENV", "development")]).mail;
        assert!(matches!(mail, MailChoice::Log), "{mail:?}");
        // Unset NODE_ENV is production, as in better-auth.
        let mail = config(&[]).mail;
        assert!(matches!(mail, MailChoice::None), "{mail:?}");
        let production = [
            ("NODE_ENV", "production"),
            ("BETTER_AUTH_URL", "https://auth.example.com"),
            ("BETTER_AUTH_SECRET", "a-long-random-secret-of-at-least-32"),
        ];
        let mail = config(&production).mail;
        assert!(matches!(mail, MailChoice::None), "{mail:?}");
        let mut asked = production.to_vec();
        asked.push(("TESSERA_REQUIRE_EMAIL_VERIFICATION", "true"));
        let err = error(&asked);
        assert!(
            err.starts_with("TESSERA_SMTP_URL is not set: TESSERA_REQUIRE_EMAIL_VERIFICATION"),
            "{err}"
        );
        let mut off = production.to_vec();
        off.push(("TESSERA_PASSWORD_RESET", "false"));
        let mail = config(&off).mail;
        assert!(matches!(mail, MailChoice::None), "{mail:?}");
    }

    #[test]
    fn an_smtp_server_needs_a_sender_and_never_shows_its_password() {
        let c = config(&[
            (
                "TESSERA_SMTP_URL",
                "smtps://mailer:hunter2@smtp.example.com",
            ),
            ("TESSERA_MAIL_FROM", "Auth <auth@example.com>"),
        ]);
        assert!(matches!(c.mail, MailChoice::Smtp(_)), "{:?}", c.mail);
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        let err = error(&[("TESSERA_SMTP_URL", "smtp://mailer:hunter2@smtp.example.com")]);
        assert!(err.starts_with("TESSERA_MAIL_FROM is not set"), "{err}");
        // Checked here, not when the server starts: the URL is parsed now.
        let err = error(&[
            ("TESSERA_SMTP_URL", "http://mailer:hunter2@smtp.example.com"),
            ("TESSERA_MAIL_FROM", "auth@example.com"),
        ]);
        assert!(err.starts_with("TESSERA_SMTP_URL: "), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = error(&[
            ("TESSERA_SMTP_URL", "smtp://mailer:hunter2@smtp.example.com"),
            ("TESSERA_MAIL_FROM", "not a mailbox"),
        ]);
        assert!(err.starts_with("TESSERA_MAIL_FROM: "), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn redis_over_tls_is_refused_clearly() {
        let err = error(&[("TESSERA_SECONDARY_STORAGE", "rediss://:hunter2@cache:6380")]);
        assert!(
            err.starts_with(
                "TESSERA_SECONDARY_STORAGE=\"rediss:…\": Redis over TLS is not supported"
            ),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn redis_prefix_needs_redis() {
        for storage in [None, Some("memory")] {
            let mut vars = vec![("TESSERA_REDIS_PREFIX", "better-auth:")];
            vars.extend(storage.map(|s| ("TESSERA_SECONDARY_STORAGE", s)));
            let err = error(&vars);
            assert!(err.starts_with("TESSERA_REDIS_PREFIX="), "{err}");
            assert!(err.contains("redis://"), "{err}");
        }
        // Blank counts as unset.
        let c = config(&[("TESSERA_REDIS_PREFIX", " ")]);
        assert_eq!(c.secondary_storage, SecondaryStorageChoice::None);
    }

    #[test]
    fn cookie_cache_and_plugins_reach_the_kernel_options() {
        use tessera::cache::{CacheStrategy, CacheVersion, RefreshCache};
        let c = config(&[
            ("TESSERA_COOKIE_CACHE", "JWE"),
            ("TESSERA_COOKIE_CACHE_MAX_AGE", "600"),
            ("TESSERA_COOKIE_CACHE_VERSION", "2"),
            ("TESSERA_REFRESH_CACHE", "120"),
            ("TESSERA_PLUGINS", "stateless-refresh, nope,"),
        ]);
        let cache = &c.options.session.cookie_cache;
        assert_eq!(cache.enabled, Some(true));
        assert_eq!(cache.strategy, Some(CacheStrategy::Jwe));
        assert_eq!(cache.max_age, Some(600));
        assert!(matches!(&cache.version, Some(CacheVersion::Static(v)) if v == "2"));
        assert_eq!(cache.refresh_cache, Some(RefreshCache::UpdateAge(120)));
        // Plugin ids are checked when the kernel is built, not here.
        assert_eq!(c.options.plugins, ["stateless-refresh", "nope"]);
    }

    #[test]
    fn bad_cookie_cache_values_are_named() {
        for (name, value) in [
            ("TESSERA_COOKIE_CACHE", "jws"),
            ("TESSERA_COOKIE_CACHE_MAX_AGE", "5m"),
            ("TESSERA_REFRESH_CACHE", "sometimes"),
        ] {
            let err = error(&[(name, value)]);
            assert!(err.starts_with(name), "{name}: {err}");
        }
    }

    #[test]
    fn secret_file_lives_in_the_data_dir() {
        assert_eq!(
            secret_file_path(&vars(&[("TESSERA_DATA_DIR", "/srv/tessera")])),
            PathBuf::from("/srv/tessera/tessera.secret")
        );
        assert_eq!(
            secret_file_path(&vars(&[("TESSERA_DATA_DIR", " ")])),
            PathBuf::from("./tessera.secret")
        );
    }

    #[test]
    fn base_url_defaults_to_a_loopback_listen_address() {
        for (listen, base) in [
            ("127.0.0.1:4000", "http://127.0.0.1:4000"),
            ("127.0.0.2:4000", "http://127.0.0.2:4000"),
            ("[::1]:4000", "http://[::1]:4000"),
            ("localhost:4000", "http://localhost:4000"),
        ] {
            let c = config(&[("TESSERA_LISTEN", listen)]);
            assert_eq!(c.options.base_url.as_deref(), Some(base), "{listen}");
            assert!(c.base_url_from_listen);
        }
        let c = config(&[("PORT", "4000")]);
        assert_eq!(c.options.base_url.as_deref(), Some("http://127.0.0.1:4000"));
        let c = config(&[("BETTER_AUTH_URL", "https://auth.example.com")]);
        assert_eq!(
            c.options.base_url.as_deref(),
            Some("https://auth.example.com")
        );
        assert!(!c.base_url_from_listen);
    }

    /// Issue 11: behind a TLS proxy an `http://` default would set cookies
    /// without `Secure`.
    #[test]
    fn production_beyond_loopback_needs_a_base_url() {
        for listen in ["0.0.0.0:80", "[::]:80", "10.0.0.5:3000", "auth-host:3000"] {
            let err = error(&[("TESSERA_LISTEN", listen)]);
            assert!(
                err.starts_with("BETTER_AUTH_URL is not set:"),
                "{listen}: {err}"
            );
            assert!(err.contains(listen) && err.contains("Secure"), "{err}");
        }
        let c = config(&[
            ("TESSERA_LISTEN", "0.0.0.0:80"),
            ("BETTER_AUTH_URL", "https://auth.example.com"),
        ]);
        assert_eq!(
            c.options.base_url.as_deref(),
            Some("https://auth.example.com")
        );
        for env in ["development", "test"] {
            let c = config(&[("TESSERA_LISTEN", "0.0.0.0:80"), ("NODE_ENV", env)]);
            assert_eq!(
                c.options.base_url.as_deref(),
                Some("http://localhost:80"),
                "{env}"
            );
        }
    }

    #[test]
    fn hash_threads_sets_the_hashing_pool_size() {
        assert_eq!(config(&[]).options.email_and_password.hash_threads, None);
        let c = config(&[("TESSERA_HASH_THREADS", " 4 ")]);
        assert_eq!(
            c.options.email_and_password.hash_threads,
            NonZeroUsize::new(4)
        );
        for bad in ["0", "-1", "two", "1.5"] {
            let err = error(&[("TESSERA_HASH_THREADS", bad)]);
            assert!(
                err.starts_with(&format!(
                    "TESSERA_HASH_THREADS={bad:?}: expected a whole number"
                )),
                "{bad}: {err}"
            );
        }
    }
}
