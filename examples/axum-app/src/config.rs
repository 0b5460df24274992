//! [`Config`]: the environment `tessera serve` reads, read the same way.

use tessera::options::{listen_address, EnvError};
use tessera::Options;
pub use tessera_smtp::MailChoice;

/// What the app is configured with.
#[derive(Debug)]
pub struct Config {
    /// `host:port` to listen on.
    pub listen: String,
    /// The kernel's options ([`Options::from_vars`]), with the base URL
    /// defaulting to the listen address.
    pub options: Options,
    /// Where sessions live.
    pub storage: Storage,
    /// Where the account lifecycle's mail goes, chosen as `tessera serve`
    /// chooses ([`MailChoice::from_env`]).
    pub mail: MailChoice,
}

/// `TESSERA_DATABASE_URL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// Unset or `memory`: an in-memory database (lost on restart).
    Memory,
    /// `none`: no database, better-auth's stateless mode (the session lives
    /// in its cookies).
    Stateless,
}

/// Why the configuration is unusable. Each renders as one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A variable the kernel reads is invalid.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// No secret: this example never generates one.
    #[error(
        "BETTER_AUTH_SECRET is not set: set it to 32 or more random characters, \
         e.g. BETTER_AUTH_SECRET=$(openssl rand -base64 32)"
    )]
    MissingSecret,
    /// `TESSERA_SMTP_URL` or `TESSERA_MAIL_FROM` cannot be used, or is
    /// needed (the URL's password is never shown).
    #[error(transparent)]
    Mail(#[from] tessera_smtp::MailEnvError),
    /// Any other invalid variable.
    #[error("{name}={value:?}: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value (a database URL is shown by scheme only).
        value: String,
        /// What was expected.
        reason: &'static str,
    },
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Config::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `get` (blank counts as unset):
    /// everything [`Options::from_vars`] reads, plus `TESSERA_LISTEN`
    /// (`host:port`, wins) or `PORT` (`127.0.0.1:PORT`) as
    /// [`listen_address`] reads them,
    /// `TESSERA_DATABASE_URL` (`memory` or `none`), and
    /// `TESSERA_SMTP_URL` with `TESSERA_MAIL_FROM` ([`MailChoice`]).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let mut options = Options::from_vars(get)?;
        if options.secrets.is_none() {
            return Err(ConfigError::MissingSecret);
        }
        let listen = listen_address(get)?;
        if options.base_url.is_none() {
            // Requests from the app's own origin then pass the origin checks.
            options.base_url = Some(base_url_for(&listen));
        }
        let storage = match get("TESSERA_DATABASE_URL") {
            None => Storage::Memory,
            Some(v) if v.trim().eq_ignore_ascii_case("memory") => Storage::Memory,
            Some(v) if v.trim().eq_ignore_ascii_case("none") => Storage::Stateless,
            Some(v) => {
                return Err(ConfigError::Invalid {
                    name: "TESSERA_DATABASE_URL",
                    // A URL may carry a password.
                    value: v.split(':').next().unwrap_or_default().to_owned() + ":…",
                    reason: "this example supports memory or none; use `tessera serve` for SQL",
                });
            }
        };
        let mail = MailChoice::from_env(get, options.environment)?;
        Ok(Config {
            listen,
            options,
            storage,
            mail,
        })
    }
}

/// `http://<listen address>`, a wildcard host written as `localhost`.
fn base_url_for(listen: &str) -> String {
    let (host, port) = listen.rsplit_once(':').unwrap_or((listen, "3000"));
    let host = match host {
        "0.0.0.0" | "[::]" | "" => "localhost",
        other => other,
    };
    format!("http://{host}:{port}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a-long-random-secret-of-at-least-32-characters!";

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn missing_secret_is_a_clear_error() {
        let err = config(&[]).unwrap_err();
        assert!(matches!(err, ConfigError::MissingSecret));
        assert!(err.to_string().starts_with("BETTER_AUTH_SECRET is not set"));
    }

    #[test]
    fn defaults_listen_on_3000_with_memory_and_a_matching_base_url() {
        let c = config(&[("BETTER_AUTH_SECRET", SECRET)]).unwrap();
        assert_eq!(c.listen, tessera::options::DEFAULT_LISTEN);
        assert_eq!(c.storage, Storage::Memory);
        assert_eq!(c.options.base_url.as_deref(), Some("http://127.0.0.1:3000"));
    }

    #[test]
    fn listen_wins_over_port() {
        let secret = ("BETTER_AUTH_SECRET", SECRET);
        let c = config(&[secret, ("PORT", "8080")]).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080");
        let c = config(&[secret, ("PORT", "8080"), ("TESSERA_LISTEN", "0.0.0.0:4000")]).unwrap();
        assert_eq!(c.listen, "0.0.0.0:4000");
        assert_eq!(c.options.base_url.as_deref(), Some("http://localhost:4000"));
        assert!(config(&[secret, ("PORT", "http")]).is_err());
    }

    #[test]
    fn database_url_selects_memory_or_stateless() {
        let secret = ("BETTER_AUTH_SECRET", SECRET);
        let storage = |v| config(&[secret, ("TESSERA_DATABASE_URL", v)]).map(|c| c.storage);
        assert_eq!(storage("memory").unwrap(), Storage::Memory);
        assert_eq!(storage("none").unwrap(), Storage::Stateless);
        let err = storage("postgres://user:hunter2@db/app")
            .unwrap_err()
            .to_string();
        assert!(err.contains("TESSERA_DATABASE_URL"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    /// The choice itself is `tessera_smtp::MailChoice::from_env`'s (tested
    /// there, every flow variable and error included): here, that it reads
    /// `NODE_ENV` as the kernel does, and what the app shows of it.
    #[test]
    fn mail_goes_to_the_log_in_development_and_nowhere_in_production() {
        let secret = ("BETTER_AUTH_SECRET", SECRET);
        let mail = |vars: &[(&str, &str)]| config(vars).map(|c| c.mail);
        let development = mail(&[secret, ("NODE_ENV", "development")]).unwrap();
        assert!(matches!(development, MailChoice::Log), "{development:?}");
        // Unset NODE_ENV is production, as in better-auth.
        assert!(matches!(mail(&[secret]).unwrap(), MailChoice::None));
        let asked = "TESSERA_SEND_ON_SIGN_UP";
        let err = mail(&[secret, (asked, "true")]).unwrap_err().to_string();
        let expected = format!("TESSERA_SMTP_URL is not set: {asked} turns on");
        assert!(err.starts_with(&expected), "{err}");
        assert!(matches!(
            mail(&[secret, (asked, "false")]).unwrap(),
            MailChoice::None
        ));
    }

    #[test]
    fn an_smtp_server_needs_a_sender_and_never_shows_its_password() {
        let secret = ("BETTER_AUTH_SECRET", SECRET);
        let url = (
            "TESSERA_SMTP_URL",
            "smtps://mailer:hunter2@smtp.example.com",
        );
        let from = ("TESSERA_MAIL_FROM", "Auth <auth@example.com>");
        let c = config(&[secret, url, from]).unwrap();
        assert!(matches!(c.mail, MailChoice::Smtp(_)), "{:?}", c.mail);
        let described = c.mail.to_string();
        assert!(
            described.starts_with("SMTP at smtp.example.com:465 (implicit), from "),
            "{described}"
        );
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");

        let error = |vars: &[(&str, &str)]| config(vars).unwrap_err().to_string();
        let err = error(&[secret, url]);
        assert!(err.starts_with("TESSERA_MAIL_FROM is not set"), "{err}");
        let err = error(&[secret, url, ("TESSERA_MAIL_FROM", "not a mailbox")]);
        assert!(err.starts_with("TESSERA_MAIL_FROM: "), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
