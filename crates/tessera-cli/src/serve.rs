//! `tessera serve`: configuration in, a running server out.

use std::io;
use std::path::Path;
use std::sync::Arc;

use tessera::cache::{CacheVersion, SessionCache};
use tessera::store::MemorySecondaryStorage;
use tessera::{Auth, BuildError, Environment};
use tessera_redis::{RedisOptions, RedisStorage};
use tessera_smtp::MailChoice;

/// How long shutdown waits for queued mail to go out.
const MAIL_DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a write waits for `TESSERA_REDIS_WAIT_REPLICAS` replicas.
const REPLICA_WAIT: std::time::Duration = std::time::Duration::from_millis(500);
use tokio::net::TcpListener;

use crate::config::{ConfigError, SecondaryStorageChoice, SecretSource, ServeConfig};
use crate::database::{self, DatabaseError};
use crate::secret_file::{self, SecretFileError, SecretFileOutcome};

/// Why `tessera serve` could not start. Each renders as one line.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A bad environment variable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An OAuth provider that cannot be used (its issuer unreachable, its
    /// discovery document wrong).
    #[error("{variable}: {reason}")]
    OAuth {
        /// The variable that names it.
        variable: String,
        /// Why, in one line.
        reason: String,
    },
    /// The generated secret's file.
    #[error(transparent)]
    SecretFile(#[from] SecretFileError),
    /// `TESSERA_PLUGINS` names a plugin this binary does not have.
    #[error("TESSERA_PLUGINS: unknown plugin {id:?}; this build has: {known}")]
    UnknownPlugin {
        /// The id asked for.
        id: String,
        /// The ids this binary has, comma-separated.
        known: String,
    },
    /// The kernel refused the configuration.
    #[error("invalid configuration: {0}")]
    Build(#[from] BuildError),
    /// The kernel refused an option set by an environment variable.
    #[error("invalid configuration: {variable}: {reason}")]
    InvalidVariable {
        /// The variable behind the option.
        variable: &'static str,
        /// Why.
        reason: String,
    },
    /// `TESSERA_SECONDARY_STORAGE`: Redis cannot be used (unreachable,
    /// wrong credentials, too old). Never shows the URL's credentials.
    #[error("TESSERA_SECONDARY_STORAGE: {0}")]
    SecondaryStorage(#[source] tessera_redis::ConnectError),
    /// `TESSERA_DATABASE_URL`: the database cannot be opened or migrated.
    #[error(transparent)]
    Database(#[from] DatabaseError),
    /// The shutdown signal handlers cannot be installed.
    #[error("cannot install the shutdown signal handlers: {0}")]
    Signal(io::Error),
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// `host:port`.
        addr: String,
        /// Why.
        source: io::Error,
    },
}

/// Makes every configured provider ready: discovery for issuers, with
/// one client whose timeouts bound how long a dead issuer holds start-up.
async fn oauth_providers(
    specs: &[tessera::oauth::env::ProviderSpec],
    client: &tessera_reqwest::ReqwestClient,
) -> Result<Vec<tessera::oauth::Provider>, ServeError> {
    let mut providers = Vec::new();
    for spec in specs {
        let provider = tessera::oauth::Provider::discover(spec.config.clone(), client)
            .await
            .map_err(|e| ServeError::OAuth {
                variable: spec.variable.clone(),
                reason: crate::report::OneLine(&e).to_string(),
            })?;
        providers.push(provider);
    }
    Ok(providers)
}

/// Reads the configuration through `get`, starts, and serves until Ctrl-C
/// or SIGTERM.
pub async fn run(get: impl Fn(&str) -> Option<String>) -> Result<(), ServeError> {
    let config = ServeConfig::from_vars(get)?;
    // Bound first: a taken port must not leave a secret file or a
    // migrated database behind.
    let listen_error = |source| ServeError::Listen {
        addr: config.listen.clone(),
        source,
    };
    let listener = TcpListener::bind(&config.listen)
        .await
        .map_err(listen_error)?;
    let local = listener.local_addr().map_err(listen_error)?;
    let mut options = config.options;
    if let SecretSource::File(path) = &config.secret {
        let (secret, outcome) = secret_file::load_or_create(path)?;
        let shown = display_path(path);
        match outcome {
            SecretFileOutcome::Generated => println!("generated a new secret in {shown}"),
            SecretFileOutcome::Reused => println!("using the secret in {shown}"),
        }
        options = options.secret(secret);
    }
    let environment = options.environment;
    let asked_for_plugins = options.plugins.clone();

    let mut builder = Auth::builder(options);
    let mut oauth_described = "none".to_owned();
    if !config.oauth.is_empty() {
        let client =
            tessera_reqwest::ReqwestClient::with_defaults().map_err(|e| ServeError::OAuth {
                variable: "TESSERA_OAUTH_*".to_owned(),
                reason: format!("cannot build the HTTP client: {e}"),
            })?;
        let providers = oauth_providers(&config.oauth, &client).await?;
        oauth_described = list_or_none(&providers.iter().map(|p| p.id()).collect::<Vec<_>>());
        builder = builder.http_client(Arc::new(client));
        for provider in providers {
            builder = builder.oauth_provider(provider);
        }
    }
    let db = database::open(&config.database).await?;
    let schema = if config.migrate {
        db.migrate().await?.map(|m| database::describe_migrated(&m))
    } else {
        db.sql
            .as_ref()
            .map(|_| "not migrated (TESSERA_MIGRATE=false)".to_owned())
    };
    // None: better-auth's stateless mode, the kernel gets no database.
    if let Some(database) = db.database.clone() {
        builder = builder.database(database);
    }
    let secondary_storage = match &config.secondary_storage {
        SecondaryStorageChoice::None => config.secondary_storage.to_string(),
        SecondaryStorageChoice::Memory => {
            builder = builder.secondary_storage(Arc::new(MemorySecondaryStorage::new()));
            config.secondary_storage.to_string()
        }
        SecondaryStorageChoice::Redis(redis) => {
            // Connected now, so a wrong address fails start-up, not the
            // first request.
            let options = RedisOptions::new()
                .prefix(redis.prefix.clone())
                .wait_for_replicas(redis.wait_replicas, REPLICA_WAIT);
            let storage = RedisStorage::connect_with(&redis.url, options)
                .await
                .map_err(ServeError::SecondaryStorage)?;
            let described = format!(
                "Redis at {} (prefix {:?})",
                storage.address(),
                storage.prefix()
            );
            builder = builder.secondary_storage(Arc::new(storage));
            described
        }
    };
    let mail_described = config.mail.to_string();
    let smtp = match config.mail {
        MailChoice::Smtp(smtp_config) => {
            let smtp = Arc::new(tessera_smtp::SmtpMailer::start(*smtp_config));
            builder = builder.mailer(smtp.clone());
            Some(smtp)
        }
        MailChoice::Log => {
            builder = builder.mailer(Arc::new(tessera::mail::LogMailer));
            None
        }
        MailChoice::None => None,
    };
    let auth = builder
        .build()
        .map_err(|err| build_error(err, &asked_for_plugins))?;

    println!("database: {}", db.described);
    if let Some(schema) = schema {
        println!("schema: {schema}");
    }
    println!("secondary storage: {secondary_storage}");
    println!("oauth providers: {oauth_described}");
    println!("mail: {mail_described}");
    println!("cookie cache: {}", describe_cache(auth.cookie_cache()));
    println!("revocation: {}", describe_revocation(&auth));
    println!("plugins: {}", list_or_none(&auth.plugin_ids()));
    println!("environment: {environment}");
    println!("client IP: {}", describe_client_ip(&auth.options().ip));
    println!(
        "password hashing: at most {} at a time",
        auth.hash_pool().size()
    );

    let shutdown = shutdown_signal().map_err(ServeError::Signal)?;
    if config.base_url_from_listen && environment == Environment::Production {
        // Only a loopback address gets here in production (config.rs).
        tracing::warn!(
            "BETTER_AUTH_URL is not set: the base URL is http://{local}, so cookies are not Secure; behind a TLS proxy, set BETTER_AUTH_URL to the public https:// URL"
        );
    }
    if config.ui {
        println!("built-in page: http://{local}/");
    } else {
        println!("built-in page: off");
    }
    // The last line: scripts and tests read up to it, then may stop reading.
    println!("listening on http://{local}{}", auth.base_path());

    // The kernel's head limits, as tessera_hyper::serve reads heads.
    let limits = auth.options().limits;
    let site = crate::ui::Site::new(auth, config.ui);
    // Stops accepting at the signal, then lets in-flight requests finish
    // (at most `tessera_hyper::DRAIN_TIMEOUT`).
    tessera_hyper::serve_service_with_limits(listener, site, &limits, shutdown).await;
    // Every request has ended: close the pool, so SQLite checkpoints its
    // write-ahead log into the file and PostgreSQL sees clean goodbyes.
    if let Some(sql) = &db.sql {
        sql.close().await;
    }
    // Mail queued by the last requests still goes out.
    if let Some(smtp) = smtp {
        if let Err(e) = smtp.shutdown(MAIL_DRAIN_TIMEOUT).await {
            tracing::error!(error = %e, "mail left in the queue at shutdown");
        }
    }
    println!("stopped");
    Ok(())
}

/// How revocations reach the cookie caches of other processes.
fn describe_revocation(auth: &Auth) -> String {
    match auth.options().session.revocation_lag {
        _ if auth.is_stateless() => {
            "no store to publish to: a cookie is valid until it expires (stateless mode)".to_owned()
        }
        _ if !auth.cookie_cache().enabled => "every request reads the store (no cookie cache)".to_owned(),
        Some(lag) => format!(
            "every process sharing the store stops a revoked session within {} s (TESSERA_REVOCATION_LAG)",
            lag.as_secs_f64()
        ),
        None => "a cached session lives until its cache expires, as in better-auth (TESSERA_REVOCATION_LAG=none)".to_owned(),
    }
}

/// A kernel refusal in the words of the variables the user set.
fn build_error(err: BuildError, asked_for_plugins: &[String]) -> ServeError {
    match err {
        BuildError::UnknownPlugin { id } if asked_for_plugins.contains(&id) => {
            let linked: Vec<&str> = tessera::plugin::registered().iter().map(|r| r.id).collect();
            ServeError::UnknownPlugin {
                id,
                known: list_or_none(&linked),
            }
        }
        BuildError::Invalid { option, reason } => match variable_of(option) {
            Some(variable) => ServeError::InvalidVariable { variable, reason },
            None => ServeError::Build(BuildError::Invalid { option, reason }),
        },
        other => ServeError::Build(other),
    }
}

/// The environment variable that sets a kernel option, for the options
/// `tessera serve` sets from the environment.
fn variable_of(option: &str) -> Option<&'static str> {
    Some(match option {
        "session.expires_in" => "TESSERA_SESSION_EXPIRES_IN",
        "session.cookie_cache.max_age" => "TESSERA_COOKIE_CACHE_MAX_AGE",
        "base_url" => "BETTER_AUTH_URL",
        "limits.max_head_bytes" => "TESSERA_MAX_HEAD_BYTES",
        "limits.max_cookie_bytes" => "TESSERA_MAX_COOKIE_BYTES",
        "limits.max_cookies" => "TESSERA_MAX_COOKIES",
        _ => return None,
    })
}

/// `jwe, max age 604800 s, version "1", refresh when < 120960 s remain`, or `off`.
fn describe_cache(cache: &SessionCache) -> String {
    if !cache.enabled {
        return "off".to_owned();
    }
    let version = match &cache.version {
        CacheVersion::Static(v) => format!("version {v:?}"),
        CacheVersion::PerSession(_) => "version per session".to_owned(),
    };
    let refresh = match cache.refresh_update_age {
        Some(secs) => format!("refresh when < {secs} s remain"),
        None => "no refresh".to_owned(),
    };
    format!(
        "{}, max age {} s, {version}, {refresh}",
        cache.strategy, cache.max_age
    )
}

/// Whose word the client IP is taken on (`TESSERA_TRUSTED_PROXIES`,
/// `TESSERA_IP_HEADERS`).
fn describe_client_ip(ip: &tessera::options::IpOptions) -> String {
    if ip.disable_ip_tracking {
        return "not tracked".to_owned();
    }
    if ip.trusted_proxies.is_empty() {
        return "the socket peer (no trusted proxies: forwarded headers are ignored)".to_owned();
    }
    let headers: Vec<&str> = ip.headers.iter().map(|h| h.as_str()).collect();
    let proxies: Vec<String> = ip.trusted_proxies.iter().map(|p| p.to_string()).collect();
    format!(
        "the socket peer, or {} when it is one of {}",
        headers.join(" or "),
        proxies.join(", ")
    )
}

fn list_or_none(ids: &[&str]) -> String {
    if ids.is_empty() {
        "none".to_owned()
    } else {
        ids.join(", ")
    }
}

/// The path as the user will recognise it: absolute when it can be.
fn display_path(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}

/// Installs the Ctrl-C and SIGTERM handlers now (so a signal arriving
/// right after the listening line is not fatal) and returns a future that
/// completes on either.
#[cfg(unix)]
fn shutdown_signal() -> io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        println!("shutting down");
    })
}

/// Completes on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        println!("shutting down");
    })
}
