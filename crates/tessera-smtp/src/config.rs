//! Where and how to deliver: [`SmtpConfig`], read from an `smtp://` or
//! `smtps://` URL.

use std::fmt;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::client::{Certificate, TlsParameters};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

/// The port of `smtp://` without one: submission (RFC 6409).
pub const SMTP_DEFAULT_PORT: u16 = 587;
/// The port of `smtps://` without one: submission over implicit TLS
/// (RFC 8314).
pub const SMTPS_DEFAULT_PORT: u16 = 465;

/// How long to wait for the server, by default: see
/// [`SmtpConfig::timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How many messages may wait for delivery, by default: see
/// [`SmtpConfig::queue_capacity`].
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;
/// How many times a message is tried, by default: see
/// [`SmtpConfig::max_attempts`].
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// The wait before the first retry, by default: see
/// [`SmtpConfig::retry_backoff`].
pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_millis(500);

/// When the connection is encrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsMode {
    /// Never: plain text only (`smtp://…?tls=none`). Loopback and tests.
    None,
    /// STARTTLS when the server offers it, plain text when it does not
    /// (`smtp://`, the default). Credentials go in the clear to a server
    /// that offers no STARTTLS: prefer [`Required`](TlsMode::Required) with
    /// credentials.
    Opportunistic,
    /// STARTTLS, or no delivery (`smtp://…?tls=required`).
    Required,
    /// TLS from the first byte (`smtps://`).
    Implicit,
}

impl TlsMode {
    /// The URL's spelling: `none`, `opportunistic`, `required`, `implicit`.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::None => "none",
            TlsMode::Opportunistic => "opportunistic",
            TlsMode::Required => "required",
            TlsMode::Implicit => "implicit",
        }
    }
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an SMTP URL, a sender or a certificate was refused. The messages
/// name what is wrong and never carry the password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SmtpConfigError {
    /// Not a URL at all.
    #[error("the SMTP URL is malformed: {0}")]
    Malformed(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A scheme other than `smtp` or `smtps`.
    #[error("the SMTP URL's scheme is {0:?}: expected smtp or smtps")]
    UnsupportedScheme(String),
    /// No host, or a host that is not a DNS name or an IP address.
    #[error("the SMTP URL's host is {0}")]
    InvalidHost(&'static str),
    /// Port 0.
    #[error("the SMTP URL's port is 0")]
    InvalidPort,
    /// A user name or password that is not UTF-8 once percent-decoded, or
    /// one given without the other.
    #[error("the SMTP URL's credentials are invalid: {0}")]
    InvalidCredentials(&'static str),
    /// A path or a fragment: an SMTP URL has neither.
    #[error("the SMTP URL has a {0}: an SMTP URL is scheme://[user:password@]host[:port][?tls=…]")]
    UnexpectedPart(&'static str),
    /// A query parameter other than `tls`, or `tls` twice.
    #[error("the SMTP URL's query parameter {0:?} is unknown or repeated (only tls=none|opportunistic|required is read)")]
    UnknownParameter(String),
    /// `tls=` with another value than `none`, `opportunistic` or
    /// `required`, or any `tls=` on `smtps://` (always implicit TLS).
    #[error("the SMTP URL's tls={value:?} is invalid for {scheme}:// (smtp takes none, opportunistic or required; smtps is always TLS)")]
    InvalidTlsMode {
        /// The URL's scheme.
        scheme: &'static str,
        /// The value given.
        value: String,
    },
    /// The sender is not a mailbox (`Name <addr@example.com>` or
    /// `addr@example.com`).
    #[error("the sender {from:?} is not a mailbox (Name <address> or address)")]
    InvalidFrom {
        /// The sender given.
        from: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The TLS settings cannot be built: a certificate that is not PEM,
    /// or a host TLS cannot verify.
    #[error("the SMTP TLS settings are invalid: {0}")]
    Tls(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// How a PEM certificate begins.
const CERTIFICATE_PEM: &[u8] = b"-----BEGIN CERTIFICATE-----";

/// The password, never printed.
#[derive(Clone)]
pub(crate) struct Password(pub(crate) String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where and how [`SmtpMailer`](crate::SmtpMailer) delivers: the server,
/// its TLS mode, the credentials, the sender, and the queue's limits.
///
/// Its `Debug` and `Display` never show the password (`Display` is the
/// URL with `***` in its place, for a startup log line).
///
/// ```
/// use std::time::Duration;
/// use tessera_smtp::{SmtpConfig, TlsMode};
///
/// let config = SmtpConfig::from_url(
///     "smtp://mailer:s%40cret@mail.example.com?tls=required",
///     "Example <no-reply@example.com>",
/// )?
/// .timeout(Duration::from_secs(5))
/// .queue_capacity(256);
/// assert_eq!(config.host(), "mail.example.com");
/// assert_eq!(config.port(), 587);
/// assert_eq!(config.tls_mode(), TlsMode::Required);
/// assert_eq!(config.user(), Some("mailer"));
/// assert_eq!(
///     config.to_string(),
///     "smtp://mailer:***@mail.example.com:587?tls=required from Example <no-reply@example.com>"
/// );
/// assert!(!format!("{config:?}").contains("cret"));
/// # Ok::<(), tessera_smtp::SmtpConfigError>(())
/// ```
#[derive(Clone)]
pub struct SmtpConfig {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) tls: TlsMode,
    pub(crate) credentials: Option<(String, Password)>,
    pub(crate) from: Mailbox,
    pub(crate) timeout: Duration,
    pub(crate) queue_capacity: usize,
    pub(crate) max_attempts: u32,
    pub(crate) retry_backoff: Duration,
    /// Extra trusted roots (PEM), beside webpki's.
    extra_roots: Vec<Vec<u8>>,
    /// Built from `host` and `extra_roots`; `None` with [`TlsMode::None`].
    pub(crate) tls_parameters: Option<TlsParameters>,
}

impl SmtpConfig {
    /// Reads the server from `url` and the sender from `from`.
    ///
    /// - `smtp://[user:password@]host[:port]` — port 587 by default;
    ///   STARTTLS when the server offers it ([`TlsMode::Opportunistic`]).
    ///   `?tls=required` refuses to deliver without STARTTLS
    ///   ([`TlsMode::Required`]); `?tls=none` never encrypts
    ///   ([`TlsMode::None`]).
    /// - `smtps://[user:password@]host[:port]` — port 465 by default; TLS
    ///   from the first byte ([`TlsMode::Implicit`]).
    ///
    /// The user name and password are percent-decoded (`%40` for `@`);
    /// when given, the mailer logs in with AUTH PLAIN or LOGIN. The server
    /// certificate is checked against the webpki (Mozilla) roots, and any
    /// added with [`add_root_certificate`](Self::add_root_certificate).
    /// `from` is a mailbox: `Name <address>` or `address`.
    ///
    /// # Errors
    ///
    /// [`SmtpConfigError`], naming the part that is wrong, without the
    /// password.
    pub fn from_url(url: &str, from: &str) -> Result<SmtpConfig, SmtpConfigError> {
        let parsed = url::Url::parse(url).map_err(|e| SmtpConfigError::Malformed(Box::new(e)))?;
        let (scheme, default_port, mut tls) = match parsed.scheme() {
            "smtp" => ("smtp", SMTP_DEFAULT_PORT, TlsMode::Opportunistic),
            "smtps" => ("smtps", SMTPS_DEFAULT_PORT, TlsMode::Implicit),
            other => return Err(SmtpConfigError::UnsupportedScheme(other.to_owned())),
        };
        let host = match parsed.host() {
            None => return Err(SmtpConfigError::InvalidHost("missing")),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(url::Host::Domain(name)) => domain(name)?,
        };
        let port = parsed.port().unwrap_or(default_port);
        if port == 0 {
            return Err(SmtpConfigError::InvalidPort);
        }
        if !matches!(parsed.path(), "" | "/") {
            return Err(SmtpConfigError::UnexpectedPart("path"));
        }
        if parsed.fragment().is_some() {
            return Err(SmtpConfigError::UnexpectedPart("fragment"));
        }
        let mut seen_tls = false;
        for (name, value) in parsed.query_pairs() {
            if name != "tls" || seen_tls {
                return Err(SmtpConfigError::UnknownParameter(name.into_owned()));
            }
            seen_tls = true;
            tls = match (scheme, value.as_ref()) {
                ("smtp", "none") => TlsMode::None,
                ("smtp", "opportunistic") => TlsMode::Opportunistic,
                ("smtp", "required") => TlsMode::Required,
                _ => {
                    return Err(SmtpConfigError::InvalidTlsMode {
                        scheme,
                        value: value.into_owned(),
                    })
                }
            };
        }
        let credentials = credentials(parsed.username(), parsed.password())?;
        let from = from
            .trim()
            .parse::<Mailbox>()
            .map_err(|e| SmtpConfigError::InvalidFrom {
                from: from.to_owned(),
                source: Box::new(e),
            })?;
        let mut config = SmtpConfig {
            host,
            port,
            tls,
            credentials,
            from,
            timeout: DEFAULT_TIMEOUT,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            retry_backoff: DEFAULT_RETRY_BACKOFF,
            extra_roots: Vec::new(),
            tls_parameters: None,
        };
        config.tls_parameters = config.build_tls_parameters()?;
        Ok(config)
    }

    /// How long to wait for the server: to connect, and for one attempt's
    /// whole conversation (greeting, EHLO, STARTTLS, AUTH, MAIL, RCPT,
    /// DATA). Default 10 s ([`DEFAULT_TIMEOUT`]). A server that takes
    /// longer fails the attempt, which is retried.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many messages may wait for delivery (at least 1; default 1024,
    /// [`DEFAULT_QUEUE_CAPACITY`]). When they are all waiting,
    /// [`send`](tessera::mail::Mailer::send) answers
    /// [`QueueFull`](tessera::mail::MailError::QueueFull).
    #[must_use]
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.max(1);
        self
    }

    /// How many times a message is tried when the failures are transient
    /// (a refused or lost connection, a timeout, a `4xx` reply): at least
    /// 1, default 3 ([`DEFAULT_MAX_ATTEMPTS`]). A permanent failure (a
    /// `5xx` reply, a TLS failure) is never retried.
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The wait before the first retry, doubled before each next one
    /// (default 500 ms, [`DEFAULT_RETRY_BACKOFF`]).
    #[must_use]
    pub fn retry_backoff(mut self, backoff: Duration) -> Self {
        self.retry_backoff = backoff;
        self
    }

    /// Trusts the certificate authorities in `pem` as well as the webpki
    /// (Mozilla) roots: a relay with a private CA.
    ///
    /// # Errors
    ///
    /// [`SmtpConfigError::Tls`] when `pem` holds no certificate.
    pub fn add_root_certificate(mut self, pem: &[u8]) -> Result<Self, SmtpConfigError> {
        // lettre reads a PEM without a certificate as no certificate.
        if !pem
            .windows(CERTIFICATE_PEM.len())
            .any(|w| w == CERTIFICATE_PEM)
        {
            return Err(SmtpConfigError::Tls("no PEM certificate".into()));
        }
        self.extra_roots.push(pem.to_vec());
        self.tls_parameters = self.build_tls_parameters()?;
        Ok(self)
    }

    /// The server's host name or IP address.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// When the connection is encrypted.
    pub fn tls_mode(&self) -> TlsMode {
        self.tls
    }

    /// The user name the mailer logs in with, if any.
    pub fn user(&self) -> Option<&str> {
        self.credentials.as_ref().map(|(user, _)| user.as_str())
    }

    /// The sender, as written in `From`.
    pub fn from(&self) -> String {
        self.from.to_string()
    }

    fn build_tls_parameters(&self) -> Result<Option<TlsParameters>, SmtpConfigError> {
        if self.tls == TlsMode::None {
            return Ok(None);
        }
        let mut builder = TlsParameters::builder(self.host.clone());
        for pem in &self.extra_roots {
            let certificate =
                Certificate::from_pem(pem).map_err(|e| SmtpConfigError::Tls(Box::new(e)))?;
            builder = builder.add_root_certificate(certificate);
        }
        builder
            .build()
            .map(Some)
            .map_err(|e| SmtpConfigError::Tls(Box::new(e)))
    }
}

/// A DNS name from a URL's (opaque, percent-encoded) host: letters, digits,
/// `-`, `_` and `.` (an internationalized name in its `xn--` form).
fn domain(encoded: &str) -> Result<String, SmtpConfigError> {
    let name = percent_decode_str(encoded)
        .decode_utf8()
        .map_err(|_| SmtpConfigError::InvalidHost("not UTF-8"))?;
    if name.is_empty() {
        return Err(SmtpConfigError::InvalidHost("missing"));
    }
    // One trailing dot (`mail.example.com.`) is a fully qualified name.
    let bare = name.strip_suffix('.').unwrap_or(&name);
    let valid = !bare.is_empty()
        && bare.len() <= 253
        && bare.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if !valid {
        return Err(SmtpConfigError::InvalidHost(
            "not a DNS name or an IP address",
        ));
    }
    Ok(name.into_owned())
}

/// The percent-decoded user name and password, both or neither.
fn credentials(
    user: &str,
    password: Option<&str>,
) -> Result<Option<(String, Password)>, SmtpConfigError> {
    let decode = |s: &str, what| {
        percent_decode_str(s)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| SmtpConfigError::InvalidCredentials(what))
    };
    match (user.is_empty(), password) {
        (true, None) => Ok(None),
        (true, Some(_)) => Err(SmtpConfigError::InvalidCredentials(
            "a password without a user name",
        )),
        (false, None) => Err(SmtpConfigError::InvalidCredentials(
            "a user name without a password",
        )),
        (false, Some(password)) => Ok(Some((
            decode(user, "the user name is not UTF-8 once percent-decoded")?,
            Password(decode(
                password,
                "the password is not UTF-8 once percent-decoded",
            )?),
        ))),
    }
}

/// What the user name must escape to stand in a URL's userinfo again.
const USERINFO: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b':')
    .add(b';')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'@')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

impl fmt::Display for SmtpConfig {
    /// The URL with `***` for the password, then the sender.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls == TlsMode::Implicit {
            "smtps"
        } else {
            "smtp"
        };
        write!(f, "{scheme}://")?;
        if let Some((user, _)) = &self.credentials {
            write!(f, "{}:***@", utf8_percent_encode(user, USERINFO))?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        write!(f, ":{}", self.port)?;
        match self.tls {
            TlsMode::None | TlsMode::Required => write!(f, "?tls={}", self.tls)?,
            TlsMode::Opportunistic | TlsMode::Implicit => {}
        }
        write!(f, " from {}", self.from)
    }
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.user())
            .field("password", &self.credentials.as_ref().map(|(_, p)| p))
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .field("queue_capacity", &self.queue_capacity)
            .field("max_attempts", &self.max_attempts)
            .field("retry_backoff", &self.retry_backoff)
            .field("extra_roots", &self.extra_roots.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(url: &str) -> Result<SmtpConfig, SmtpConfigError> {
        SmtpConfig::from_url(url, "no-reply@example.com")
    }

    fn password_in(config: &SmtpConfig) -> Option<&str> {
        config.credentials.as_ref().map(|(_, p)| p.0.as_str())
    }

    #[test]
    fn smtp_defaults_to_submission_with_opportunistic_starttls() {
        let c = parse("smtp://mail.example.com").unwrap();
        assert_eq!(
            (c.host(), c.port(), c.tls_mode()),
            ("mail.example.com", 587, TlsMode::Opportunistic)
        );
        assert_eq!(c.user(), None);
        assert!(c.tls_parameters.is_some());
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        assert_eq!(c.queue_capacity, DEFAULT_QUEUE_CAPACITY);
    }

    #[test]
    fn smtps_defaults_to_465_with_implicit_tls() {
        let c = parse("smtps://mail.example.com").unwrap();
        assert_eq!((c.port(), c.tls_mode()), (465, TlsMode::Implicit));
        let c = parse("SMTPS://mail.example.com:2465/").unwrap();
        assert_eq!((c.port(), c.tls_mode()), (2465, TlsMode::Implicit));
    }

    #[test]
    fn the_tls_parameter_picks_the_mode() {
        for (query, mode) in [
            ("none", TlsMode::None),
            ("opportunistic", TlsMode::Opportunistic),
            ("required", TlsMode::Required),
        ] {
            let c = parse(&format!("smtp://127.0.0.1:2525?tls={query}")).unwrap();
            assert_eq!(c.tls_mode(), mode);
            assert_eq!(c.tls_parameters.is_some(), mode != TlsMode::None);
        }
        assert!(matches!(
            parse("smtp://h?tls=yes"),
            Err(SmtpConfigError::InvalidTlsMode { value, .. }) if value == "yes"
        ));
        assert!(matches!(
            parse("smtps://h?tls=none"),
            Err(SmtpConfigError::InvalidTlsMode {
                scheme: "smtps",
                ..
            })
        ));
        assert!(matches!(
            parse("smtp://h?tls=none&tls=required"),
            Err(SmtpConfigError::UnknownParameter(p)) if p == "tls"
        ));
        assert!(matches!(
            parse("smtp://h?starttls=1"),
            Err(SmtpConfigError::UnknownParameter(p)) if p == "starttls"
        ));
    }

    #[test]
    fn credentials_are_percent_decoded() {
        let c = parse("smtp://us%40er:p%3Ass%2Fw%40rd%25@mail.example.com:25").unwrap();
        assert_eq!(c.user(), Some("us@er"));
        assert_eq!(password_in(&c), Some("p:ss/w@rd%"));
        assert_eq!(c.port(), 25);
        // An unescaped `@` in the password: the last `@` ends the userinfo.
        let c = parse("smtp://user:p@ss@mail.example.com").unwrap();
        assert_eq!(password_in(&c), Some("p@ss"));
        assert_eq!(c.host(), "mail.example.com");
    }

    #[test]
    fn credentials_come_in_pairs_and_decode_to_utf8() {
        for (url, why) in [
            ("smtp://user@h", "a user name without a password"),
            ("smtp://:secret@h", "a password without a user name"),
            (
                "smtp://user:%ff@h",
                "the password is not UTF-8 once percent-decoded",
            ),
            (
                "smtp://%C3%28:x@h",
                "the user name is not UTF-8 once percent-decoded",
            ),
        ] {
            match parse(url) {
                Err(SmtpConfigError::InvalidCredentials(w)) => assert_eq!(w, why, "{url}"),
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn hosts_are_names_or_addresses() {
        assert_eq!(parse("smtp://[::1]:2525").unwrap().host(), "::1");
        assert_eq!(parse("smtp://10.0.0.1").unwrap().host(), "10.0.0.1");
        assert_eq!(
            parse("smtp://Mail.Example.com.").unwrap().host(),
            "Mail.Example.com."
        );
        for url in [
            "smtp://",
            "smtp:///",
            "smtp://user:pw@:25",
            "smtp://ex ample.com",
            "smtp://a..b",
            "smtp://%00",
            "smtp://ex%61mple!.com",
        ] {
            assert!(
                matches!(
                    parse(url),
                    Err(SmtpConfigError::InvalidHost(_) | SmtpConfigError::Malformed(_))
                ),
                "{url}: {:?}",
                parse(url)
            );
        }
    }

    #[test]
    fn other_schemes_paths_fragments_and_port_zero_are_refused() {
        assert!(matches!(
            parse("https://mail.example.com"),
            Err(SmtpConfigError::UnsupportedScheme(s)) if s == "https"
        ));
        assert!(matches!(
            parse("mail.example.com:25"),
            Err(SmtpConfigError::UnsupportedScheme(_) | SmtpConfigError::Malformed(_))
        ));
        assert!(matches!(
            parse("smtp://h/inbox"),
            Err(SmtpConfigError::UnexpectedPart("path"))
        ));
        assert!(matches!(
            parse("smtp://h#ehlo"),
            Err(SmtpConfigError::UnexpectedPart("fragment"))
        ));
        assert!(matches!(
            parse("smtp://h:0"),
            Err(SmtpConfigError::InvalidPort)
        ));
        assert!(matches!(
            parse("smtp://h:65536"),
            Err(SmtpConfigError::Malformed(_))
        ));
    }

    #[test]
    fn the_sender_is_a_mailbox() {
        let c = SmtpConfig::from_url("smtp://h", "Example App <no-reply@example.com>").unwrap();
        assert_eq!(c.from(), "Example App <no-reply@example.com>");
        let c = SmtpConfig::from_url("smtp://h", " no-reply@example.com ").unwrap();
        assert_eq!(c.from(), "no-reply@example.com");
        for from in [
            "",
            "no-reply",
            "Example <>",
            "a@b@c",
            "<no-reply@example.com",
        ] {
            let e = SmtpConfig::from_url("smtp://h", from).unwrap_err();
            assert!(
                matches!(e, SmtpConfigError::InvalidFrom { .. }),
                "{from}: {e:?}"
            );
            assert!(std::error::Error::source(&e).is_some());
        }
    }

    #[test]
    fn a_root_certificate_must_be_pem() {
        let c = parse("smtp://h").unwrap();
        assert!(matches!(
            c.add_root_certificate(b"not a certificate"),
            Err(SmtpConfigError::Tls(_))
        ));
    }

    #[test]
    fn display_and_debug_redact_the_password() {
        let c = parse("smtp://us%3Aer:hunter2@[::1]:2525?tls=none").unwrap();
        assert_eq!(
            c.to_string(),
            "smtp://us%3Aer:***@[::1]:2525?tls=none from no-reply@example.com"
        );
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
        assert!(debug.contains("us:er"), "{debug}");
        let c = parse("smtps://h").unwrap();
        assert_eq!(c.to_string(), "smtps://h:465 from no-reply@example.com");
    }

    #[test]
    fn tuning_has_floors() {
        let c = parse("smtp://h")
            .unwrap()
            .queue_capacity(0)
            .max_attempts(0)
            .timeout(Duration::from_secs(3))
            .retry_backoff(Duration::ZERO);
        assert_eq!(c.queue_capacity, 1);
        assert_eq!(c.max_attempts, 1);
        assert_eq!(c.timeout, Duration::from_secs(3));
        assert_eq!(c.retry_backoff, Duration::ZERO);
    }

    /// The password as the user wrote it in the URL, and decoded.
    fn secret() -> impl Strategy<Value = String> {
        // Long enough not to occur by chance in the rest of the output.
        "[A-Za-z0-9!$&'()*+,;=~._-]{12,24}"
    }

    proptest! {
        #[test]
        fn from_url_never_panics(url in any::<String>(), from in any::<String>()) {
            let _ = SmtpConfig::from_url(&url, &from);
        }

        #[test]
        fn from_url_never_panics_on_smtp_shaped_input(
            scheme in "smtps?|SMTP|http",
            userinfo in "([^@/?#]{0,12}@)?",
            host in "[^/?#]{0,20}",
            port in "(:[0-9]{0,6})?",
            rest in "[/?#]?[^ ]{0,20}",
        ) {
            let _ = parse(&format!("{scheme}://{userinfo}{host}{port}{rest}"));
        }

        #[test]
        fn the_password_never_shows(
            user in "[a-z]{1,8}",
            password in secret(),
            host in "[a-z]{1,10}(\\.[a-z]{1,10}){0,2}",
            query in "(\\?tls=(none|opportunistic|required|bogus))?",
        ) {
            let url = format!("smtp://{user}:{password}@{host}:2525{query}");
            match parse(&url) {
                Ok(config) => {
                    prop_assert_eq!(password_in(&config), Some(password.as_str()));
                    prop_assert!(!config.to_string().contains(&password));
                    let debug = format!("{config:?}");
                    prop_assert!(!debug.contains(&password));
                }
                Err(e) => {
                    prop_assert!(!e.to_string().contains(&password));
                    let debug = format!("{e:?}");
                    prop_assert!(!debug.contains(&password));
                }
            }
        }

        #[test]
        fn a_bad_url_error_never_shows_the_password(
            password in secret(),
            tail in "(:0|/x|#f|\\?x=1|:99999| x)",
        ) {
            let url = format!("smtp://user:{password}@host{tail}");
            let e = parse(&url).expect_err("a bad URL");
            prop_assert!(!e.to_string().contains(&password));
            let debug = format!("{e:?}");
            prop_assert!(!debug.contains(&password));
        }
    }
}
