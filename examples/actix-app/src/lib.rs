//! # actix-app
//!
//! An actix-web application behind Tessera, configured from the same
//! environment variables as `tessera serve`:
//!
//! - the auth API under `/api/auth` ([`tessera_actix::configure`]);
//! - `GET /`: public, `hello, anonymous` or `hello, <name>`;
//! - `GET /me`: protected, the session as JSON, or better-auth's 401.
//!
//! `main.rs` is [`Config::from_env`], then [`start`]; the test drives the
//! same two calls on an ephemeral port.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{web, App, HttpServer};
use tessera::options::{listen_address, EnvError};
use tessera::store::MemoryDatabase;
use tessera::{Auth, BuildError, Options, SessionWithUser};
use tessera_actix::{OptionalSession, RequiredSession, SessionMiddleware};

/// The application's configuration, validated.
#[derive(Debug)]
pub struct Config {
    /// `host:port` to bind: `TESSERA_LISTEN`, else `127.0.0.1:$PORT`,
    /// else `127.0.0.1:3000` ([`listen_address`]).
    pub listen: String,
    /// Kernel options ([`Options::from_vars`]); the secret is set.
    pub options: Options,
    /// `TESSERA_DATABASE_URL`.
    pub database: DatabaseChoice,
}

/// `TESSERA_DATABASE_URL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseChoice {
    /// Unset or `memory`: an in-memory database (lost on restart).
    Memory,
    /// `none`: no database, better-auth's stateless mode.
    None,
}

/// A missing or unusable environment variable. Each renders as one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No signing secret.
    #[error(
        "BETTER_AUTH_SECRET is not set; set it to a random string of at least 32 characters, \
         e.g. BETTER_AUTH_SECRET=$(openssl rand -base64 32)"
    )]
    MissingSecret,
    /// A variable the kernel reads.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// A variable with an unusable value.
    #[error("{name}={value:?}: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is accepted.
        reason: &'static str,
    },
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// `host:port`.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The kernel refused the configuration.
    #[error("invalid configuration: {0}")]
    Build(#[from] BuildError),
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `get` (blank counts as unset).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let options = Options::from_vars(get)?;
        if options.secrets.is_none() {
            return Err(ConfigError::MissingSecret);
        }
        Ok(Config {
            listen: listen_address(get)?,
            options,
            database: database(get("TESSERA_DATABASE_URL"))?,
        })
    }
}

fn database(value: Option<String>) -> Result<DatabaseChoice, ConfigError> {
    let Some(value) = value else {
        return Ok(DatabaseChoice::Memory);
    };
    match value.trim().to_ascii_lowercase().as_str() {
        "memory" => Ok(DatabaseChoice::Memory),
        "none" => Ok(DatabaseChoice::None),
        _ => Err(ConfigError::Invalid {
            name: "TESSERA_DATABASE_URL",
            // A URL may carry a password: never echo it.
            value: "…".to_owned(),
            reason: "this example supports memory or none",
        }),
    }
}

/// A server bound and ready to be awaited (or spawned).
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// The auth API's public origin (`BETTER_AUTH_URL`, else the bound
    /// address).
    pub base_url: String,
    /// The kernel served.
    pub auth: Auth,
    /// The server; stop it with [`Server::handle`].
    pub server: Server,
}

/// Binds `config.listen`, builds the kernel and starts serving [`app`].
/// Without `BETTER_AUTH_URL`, the base URL is the bound address, so
/// requests from the app's own origin pass the origin checks.
pub fn start(config: Config) -> Result<Running, StartError> {
    let listen_error = |source| StartError::Listen {
        addr: config.listen.clone(),
        source,
    };
    let listener = TcpListener::bind(&config.listen).map_err(listen_error)?;
    let addr = listener.local_addr().map_err(listen_error)?;
    let mut options = config.options;
    let base_url = options
        .base_url
        .get_or_insert_with(|| match addr {
            a if a.ip().is_unspecified() => format!("http://localhost:{}", a.port()),
            a => format!("http://{a}"),
        })
        .clone();
    let mut builder = Auth::builder(options);
    if config.database == DatabaseChoice::Memory {
        builder = builder.database(Arc::new(MemoryDatabase::new()));
    }
    let auth = builder.build()?;
    let factory_auth = auth.clone();
    let server = HttpServer::new(move || app(factory_auth.clone()))
        .listen(listener)
        .map_err(listen_error)?
        .run();
    Ok(Running {
        addr,
        base_url,
        auth,
        server,
    })
}

/// The application: the auth API under its base path, `GET /` and
/// `GET /me` behind [`SessionMiddleware`].
pub fn app(
    auth: Auth,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .wrap(SessionMiddleware::new(auth.clone()))
        .configure(tessera_actix::configure(auth))
        .route("/", web::get().to(hello))
        .route("/me", web::get().to(me))
}

async fn hello(OptionalSession(session): OptionalSession) -> String {
    match session {
        Some(s) => format!("hello, {}", s.user.name),
        None => "hello, anonymous".to_owned(),
    }
}

async fn me(RequiredSession(session): RequiredSession) -> web::Json<SessionWithUser> {
    web::Json(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_vars(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    const SECRET: (&str, &str) = (
        "BETTER_AUTH_SECRET",
        "a-long-random-secret-of-at-least-32-characters!",
    );

    #[test]
    fn no_secret_is_a_clear_error() {
        let err = config(&[]).unwrap_err();
        assert!(matches!(err, ConfigError::MissingSecret));
        assert!(err.to_string().starts_with("BETTER_AUTH_SECRET is not set"));
    }

    #[test]
    fn listen_defaults_and_overrides() {
        assert_eq!(config(&[SECRET]).unwrap().listen, "127.0.0.1:3000");
        assert_eq!(
            config(&[SECRET, ("PORT", "8080")]).unwrap().listen,
            "127.0.0.1:8080"
        );
        assert_eq!(
            config(&[SECRET, ("PORT", "8080"), ("TESSERA_LISTEN", "0.0.0.0:4000")])
                .unwrap()
                .listen,
            "0.0.0.0:4000"
        );
        assert!(config(&[SECRET, ("PORT", "http")])
            .unwrap_err()
            .to_string()
            .starts_with("PORT="));
    }

    #[test]
    fn database_choice() {
        let db = |v: &str| config(&[SECRET, ("TESSERA_DATABASE_URL", v)]).map(|c| c.database);
        assert_eq!(db("").unwrap(), DatabaseChoice::Memory);
        assert_eq!(db("memory").unwrap(), DatabaseChoice::Memory);
        assert_eq!(db("none").unwrap(), DatabaseChoice::None);
        let err = db("postgres://user:hunter2@db/app")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
