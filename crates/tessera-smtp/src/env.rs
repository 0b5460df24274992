//! [`MailChoice`]: where the account lifecycle's mail goes, read from
//! `TESSERA_SMTP_URL` and `TESSERA_MAIL_FROM` as every Tessera program
//! reads them (`tessera serve`, the examples).

use std::fmt;

use tessera::Environment;

use crate::{SmtpConfig, SmtpConfigError};

/// The variables that turn on a flow that sends mail, as
/// [`Options::from_vars`](tessera::Options::from_vars) reads them.
///
/// Two of these flows are on by default and send nothing without a mailer;
/// only a variable that asks for one counts.
pub const MAIL_FLOW_VARIABLES: [&str; 4] = [
    "TESSERA_REQUIRE_EMAIL_VERIFICATION",
    "TESSERA_EMAIL_VERIFICATION",
    "TESSERA_PASSWORD_RESET",
    "TESSERA_SEND_ON_SIGN_UP",
];

const SMTP_URL: &str = "TESSERA_SMTP_URL";
const MAIL_FROM: &str = "TESSERA_MAIL_FROM";

/// How the account lifecycle's mail leaves: `TESSERA_SMTP_URL` and
/// `TESSERA_MAIL_FROM`, both or neither.
///
/// | `TESSERA_SMTP_URL` + `TESSERA_MAIL_FROM` | environment | choice |
/// | --- | --- | --- |
/// | both | any | [`Smtp`](MailChoice::Smtp) |
/// | one of them | any | refused ([`MailEnvError::MissingFrom`], [`MailEnvError::MissingServer`]) |
/// | neither | development, test | [`Log`](MailChoice::Log) |
/// | neither | production | [`None`](MailChoice::None), or refused when a [`MAIL_FLOW_VARIABLES`] variable is true ([`MailEnvError::FlowWithoutServer`]) |
///
/// Its `Debug` and `Display` never show the URL's password; `Display` is
/// the line a program prints at start-up.
///
/// ```
/// use tessera::Environment;
/// use tessera_smtp::{MailChoice, MailEnvError};
///
/// let vars = [
///     ("TESSERA_SMTP_URL", "smtps://mailer:hunter2@smtp.example.com"),
///     ("TESSERA_MAIL_FROM", "Example <no-reply@example.com>"),
/// ];
/// let get = |name: &str| {
///     vars.iter()
///         .find(|(k, _)| *k == name)
///         .map(|(_, v)| (*v).to_owned())
/// };
/// let mail = MailChoice::from_env(get, Environment::Production)?;
/// assert_eq!(
///     mail.to_string(),
///     "SMTP at smtp.example.com:465 (implicit), from Example <no-reply@example.com>"
/// );
/// assert!(!format!("{mail:?}").contains("hunter2"));
///
/// // Neither variable: the log in development, nothing in production ...
/// let none = |_: &str| None;
/// assert!(matches!(MailChoice::from_env(none, Environment::Development)?, MailChoice::Log));
/// assert!(matches!(MailChoice::from_env(none, Environment::Production)?, MailChoice::None));
///
/// // ... unless a variable asks for a flow that sends mail.
/// let reset = |name: &str| (name == "TESSERA_PASSWORD_RESET").then(|| "true".to_owned());
/// let err = MailChoice::from_env(reset, Environment::Production).unwrap_err();
/// assert_eq!(err.variable(), "TESSERA_SMTP_URL");
/// assert!(err.to_string().starts_with("TESSERA_SMTP_URL is not set: TESSERA_PASSWORD_RESET"));
/// # Ok::<(), MailEnvError>(())
/// ```
#[derive(Debug)]
pub enum MailChoice {
    /// Both variables: delivered over SMTP by [`SmtpMailer`](crate::SmtpMailer),
    /// off the request path. Boxed: it is large beside the other choices.
    Smtp(Box<SmtpConfig>),
    /// Neither, outside production: each message's link goes to the log at
    /// `info` ([`tessera::mail::LogMailer`]).
    Log,
    /// Neither, in production: no mailer, so email verification and
    /// password reset are off.
    None,
}

impl MailChoice {
    /// Reads `TESSERA_SMTP_URL` (an [`SmtpConfig::from_url`] URL) and
    /// `TESSERA_MAIL_FROM` (`Name <address>` or `address`) through `get`;
    /// a blank value counts as unset, and values are trimmed.
    ///
    /// Without either, in production, a [`MAIL_FLOW_VARIABLES`] variable
    /// set to true (`true`, `1`, `yes`, `on`, any case, as the kernel
    /// reads it) is refused: the mail of the flow it turns on would go
    /// nowhere. A value the kernel cannot read counts as off here;
    /// [`Options::from_vars`](tessera::Options::from_vars) refuses it.
    ///
    /// # Errors
    ///
    /// [`MailEnvError`], naming the variable at fault; never the URL's
    /// password.
    pub fn from_env(
        get: impl Fn(&str) -> Option<String>,
        environment: Environment,
    ) -> Result<Self, MailEnvError> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        match (get(SMTP_URL), get(MAIL_FROM)) {
            (Some(url), Some(from)) => SmtpConfig::from_url(url.trim(), from.trim())
                .map(|smtp| MailChoice::Smtp(Box::new(smtp)))
                .map_err(|source| MailEnvError::Invalid {
                    variable: match source {
                        SmtpConfigError::InvalidFrom { .. } => MAIL_FROM,
                        _ => SMTP_URL,
                    },
                    source,
                }),
            (Some(_), None) => Err(MailEnvError::MissingFrom),
            (None, Some(_)) => Err(MailEnvError::MissingServer),
            (None, None) if environment == Environment::Production => {
                match MAIL_FLOW_VARIABLES
                    .into_iter()
                    .find(|&name| get(name).is_some_and(|v| turns_on(&v)))
                {
                    Some(flow) => Err(MailEnvError::FlowWithoutServer { flow }),
                    None => Ok(MailChoice::None),
                }
            }
            (None, None) => Ok(MailChoice::Log),
        }
    }
}

/// True as the kernel reads a boolean variable.
fn turns_on(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "on"
    )
}

impl fmt::Display for MailChoice {
    /// The start-up line: the server without its credentials, or why there
    /// is none.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MailChoice::Smtp(smtp) => write!(
                f,
                "SMTP at {}:{} ({}), from {}",
                smtp.host(),
                smtp.port(),
                smtp.tls_mode(),
                smtp.from()
            ),
            MailChoice::Log => {
                f.write_str("none configured: each message's link goes to the log (development)")
            }
            MailChoice::None => {
                f.write_str("none configured: email verification and password reset are off")
            }
        }
    }
}

/// Why `TESSERA_SMTP_URL` and `TESSERA_MAIL_FROM` cannot be used. Each
/// renders as one line that starts with the variable at fault
/// ([`variable`](MailEnvError::variable)) and never shows the URL's
/// password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailEnvError {
    /// `TESSERA_SMTP_URL` without `TESSERA_MAIL_FROM`.
    #[error("TESSERA_MAIL_FROM is not set: TESSERA_SMTP_URL needs a sender address")]
    MissingFrom,
    /// `TESSERA_MAIL_FROM` without `TESSERA_SMTP_URL`.
    #[error(
        "TESSERA_SMTP_URL is not set: TESSERA_MAIL_FROM is set, but there is no server to send \
         through"
    )]
    MissingServer,
    /// Neither, in production, while a variable turns on a flow that sends
    /// mail.
    #[error(
        "TESSERA_SMTP_URL is not set: {flow} turns on a flow that sends mail, and in production \
         there is no mailer without an SMTP server"
    )]
    FlowWithoutServer {
        /// The variable that turns the flow on (one of
        /// [`MAIL_FLOW_VARIABLES`]).
        flow: &'static str,
    },
    /// A URL or a sender [`SmtpConfig::from_url`] refuses.
    #[error("{variable}: {source}")]
    Invalid {
        /// `TESSERA_SMTP_URL` or `TESSERA_MAIL_FROM`.
        variable: &'static str,
        /// Why.
        source: SmtpConfigError,
    },
}

impl MailEnvError {
    /// The variable at fault: the one to set or to fix.
    pub fn variable(&self) -> &'static str {
        match self {
            MailEnvError::MissingFrom => MAIL_FROM,
            MailEnvError::MissingServer | MailEnvError::FlowWithoutServer { .. } => SMTP_URL,
            MailEnvError::Invalid { variable, .. } => variable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: (&str, &str) = (
        "TESSERA_SMTP_URL",
        "smtps://mailer:hunter2@smtp.example.com",
    );
    const FROM: (&str, &str) = ("TESSERA_MAIL_FROM", "Auth <auth@example.com>");

    fn choice(vars: &[(&str, &str)], environment: Environment) -> Result<MailChoice, MailEnvError> {
        MailChoice::from_env(
            |name| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            },
            environment,
        )
    }

    fn error(vars: &[(&str, &str)], environment: Environment) -> MailEnvError {
        choice(vars, environment).expect_err("refused")
    }

    #[test]
    fn mail_goes_to_the_log_outside_production_and_nowhere_in_production() {
        for environment in [Environment::Development, Environment::Test] {
            let mail = choice(&[], environment).unwrap();
            assert!(matches!(mail, MailChoice::Log), "{environment}: {mail:?}");
            assert_eq!(
                mail.to_string(),
                "none configured: each message's link goes to the log (development)"
            );
        }
        let mail = choice(&[], Environment::Production).unwrap();
        assert!(matches!(mail, MailChoice::None), "{mail:?}");
        assert_eq!(
            mail.to_string(),
            "none configured: email verification and password reset are off"
        );
    }

    #[test]
    fn a_flow_asked_for_in_production_needs_a_server() {
        for asked in MAIL_FLOW_VARIABLES {
            let err = error(&[(asked, "true")], Environment::Production);
            let expected = format!("TESSERA_SMTP_URL is not set: {asked} turns on");
            assert!(err.to_string().starts_with(&expected), "{err}");
            assert!(
                matches!(err, MailEnvError::FlowWithoutServer { flow } if flow == asked),
                "{err:?}"
            );
            assert_eq!(err.variable(), "TESSERA_SMTP_URL");
            // Turned off, it needs no server.
            let mail = choice(&[(asked, "false")], Environment::Production).unwrap();
            assert!(matches!(mail, MailChoice::None), "{asked}: {mail:?}");
            // Outside production, the log receives its mail.
            let mail = choice(&[(asked, "true")], Environment::Development).unwrap();
            assert!(matches!(mail, MailChoice::Log), "{asked}: {mail:?}");
        }
    }

    #[test]
    fn a_flow_is_on_as_the_kernel_reads_a_boolean() {
        for on in ["true", "TRUE", " 1 ", "yes", "On"] {
            let err = error(&[("TESSERA_PASSWORD_RESET", on)], Environment::Production);
            assert!(
                matches!(err, MailEnvError::FlowWithoutServer { .. }),
                "{on}"
            );
        }
        for off in ["false", "0", "no", "off", "", " ", "later"] {
            let mail = choice(&[("TESSERA_PASSWORD_RESET", off)], Environment::Production);
            assert!(matches!(mail, Ok(MailChoice::None)), "{off:?}: {mail:?}");
        }
    }

    #[test]
    fn an_smtp_server_needs_a_sender_and_never_shows_its_password() {
        // In production too: a server is all the flows need.
        let asked = ("TESSERA_REQUIRE_EMAIL_VERIFICATION", "true");
        let mail = choice(&[URL, FROM, asked], Environment::Production).unwrap();
        assert!(matches!(mail, MailChoice::Smtp(_)), "{mail:?}");
        let described = mail.to_string();
        assert!(
            described.starts_with("SMTP at smtp.example.com:465 (implicit), from "),
            "{described}"
        );
        assert!(described.contains("auth@example.com"), "{described}");
        let shown = format!("{mail:?}");
        assert!(!shown.contains("hunter2"), "{shown}");

        let err = error(&[URL], Environment::Production);
        assert!(
            err.to_string().starts_with("TESSERA_MAIL_FROM is not set"),
            "{err}"
        );
        assert_eq!(err.variable(), "TESSERA_MAIL_FROM");
        assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");
        let err = error(&[FROM], Environment::Development);
        assert!(
            err.to_string().starts_with("TESSERA_SMTP_URL is not set"),
            "{err}"
        );
        assert_eq!(err.variable(), "TESSERA_SMTP_URL");
    }

    #[test]
    fn a_bad_url_or_sender_is_named_without_the_password() {
        let err = error(
            &[
                ("TESSERA_SMTP_URL", "http://mailer:hunter2@smtp.example.com"),
                FROM,
            ],
            Environment::Production,
        );
        assert!(err.to_string().starts_with("TESSERA_SMTP_URL: "), "{err}");
        assert_eq!(err.variable(), "TESSERA_SMTP_URL");
        assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");
        let err = error(
            &[URL, ("TESSERA_MAIL_FROM", "not a mailbox")],
            Environment::Production,
        );
        assert!(err.to_string().starts_with("TESSERA_MAIL_FROM: "), "{err}");
        assert_eq!(err.variable(), "TESSERA_MAIL_FROM");
        assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn blank_counts_as_unset_and_values_are_trimmed() {
        let err = error(&[URL, ("TESSERA_MAIL_FROM", "  ")], Environment::Production);
        assert!(matches!(err, MailEnvError::MissingFrom), "{err:?}");
        let mail = choice(
            &[("TESSERA_SMTP_URL", ""), ("TESSERA_MAIL_FROM", " ")],
            Environment::Development,
        )
        .unwrap();
        assert!(matches!(mail, MailChoice::Log), "{mail:?}");
        let mail = choice(
            &[
                ("TESSERA_SMTP_URL", " smtp://127.0.0.1:2525?tls=none "),
                ("TESSERA_MAIL_FROM", " auth@example.com "),
            ],
            Environment::Development,
        )
        .unwrap();
        assert_eq!(
            mail.to_string(),
            "SMTP at 127.0.0.1:2525 (none), from auth@example.com"
        );
    }
}
