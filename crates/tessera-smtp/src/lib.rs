//! # tessera-smtp
//!
//! Delivers the kernel's mail ([`tessera::mail::Message`]: email
//! verification, password reset, change of email, account deletion) over
//! SMTP, off the request path.
//!
//! - [`SmtpConfig`] reads the server from a URL — `smtp://user:password@host:port`
//!   (port 587 by default, STARTTLS when offered; `?tls=required` insists,
//!   `?tls=none` never encrypts) or `smtps://…` (port 465 by default,
//!   implicit TLS) — and the sender (`Name <address>`). Neither its errors
//!   nor its `Debug` and `Display` show the password.
//! - [`SmtpMailer`] is the kernel's [`Mailer`](tessera::mail::Mailer):
//!   `send` puts the message on a bounded queue and returns at once
//!   ([`MailError::QueueFull`](tessera::mail::MailError::QueueFull) when
//!   it is full); a task delivers each as `multipart/alternative` (text and
//!   HTML) with lettre over rustls (ring, webpki roots), retries transient
//!   failures, and logs the messages it gives up on (never their links).
//!   [`SmtpMailer::shutdown`] drains the queue at process exit.
//! - [`MailChoice::from_env`] reads `TESSERA_SMTP_URL` and
//!   `TESSERA_MAIL_FROM` as every Tessera program does: SMTP with both,
//!   the log in development with neither, no mailer in production (and a
//!   refusal to start when a variable asks for a flow that sends mail).
//!
//! | URL | TLS | default port |
//! | --- | --- | --- |
//! | `smtp://host` | STARTTLS when the server offers it ([`TlsMode::Opportunistic`]) | 587 |
//! | `smtp://host?tls=required` | STARTTLS or no delivery ([`TlsMode::Required`]) | 587 |
//! | `smtp://host?tls=none` | never ([`TlsMode::None`]) | 587 |
//! | `smtps://host` | from the first byte ([`TlsMode::Implicit`]) | 465 |
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use tessera::{Auth, Options};
//! use tessera_smtp::{SmtpConfig, SmtpMailer};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let config = SmtpConfig::from_url(
//!         "smtp://mailer:s%40cret@mail.example.com?tls=required",
//!         "Example <no-reply@example.com>",
//!     )?;
//!     tracing_log_line(&config.to_string()); // smtp://mailer:***@mail.example.com:587?tls=required from …
//!     let mailer = SmtpMailer::start(config);
//!     let auth = Auth::builder(
//!         Options::new().secret("a-long-random-secret-of-at-least-32-characters!"),
//!     )
//!     .mailer(Arc::new(mailer.clone()))
//!     .build()?;
//!
//!     // ... serve `auth` until SIGTERM, then deliver what is queued:
//!     # drop(auth);
//!     if let Err(e) = mailer.shutdown(Duration::from_secs(20)).await {
//!         eprintln!("mail lost at shutdown: {e}");
//!     }
//!     Ok(())
//! }
//! # fn tracing_log_line(_: &str) {}
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod env;
mod mailer;

pub use config::{
    SmtpConfig, SmtpConfigError, TlsMode, DEFAULT_MAX_ATTEMPTS, DEFAULT_QUEUE_CAPACITY,
    DEFAULT_RETRY_BACKOFF, DEFAULT_TIMEOUT, SMTPS_DEFAULT_PORT, SMTP_DEFAULT_PORT,
};
pub use env::{MailChoice, MailEnvError, MAIL_FLOW_VARIABLES};
pub use mailer::{DeliveryStats, QueueNotDrained, SmtpMailer};
