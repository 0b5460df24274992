//! A real SMTP server for tests that send mail: [`SmtpSink`].
//!
//! The sink is [aiosmtpd] run by Python (`smtp/sink.py` in this crate,
//! written to a temporary directory) on a free loopback port. Each message
//! it accepts is stored byte for byte as it arrived, and read back here
//! with a MIME parser, quoted-printable and base64 decoded:
//! [`ReceivedMail`]. It can require AUTH, offer STARTTLS or speak implicit
//! TLS, and refuse the first messages with a transient `451` (a client's
//! retry). A recipient whose address starts with `reject` is refused with
//! a permanent `550`.
//!
//! Without `python3` or aiosmtpd, [`SmtpSinkBuilder::start`] applies the
//! skip/fail rule ([`skip_or_fail`] with [`Service::Smtp`]): a `SKIPPED`
//! banner and `None`, or a panic under `CI=true`. The sink is killed, and
//! its directory removed, on drop.
//!
//! ```no_run
//! use std::time::Duration;
//! use tessera_testkit::smtp::{link, SmtpSink};
//!
//! # async fn example() {
//! let Some(sink) = SmtpSink::start() else { return };
//! let url = sink.url(); // smtp://127.0.0.1:<port>
//! // ... send a message to ada@example.com through `url` ...
//! let mail = sink.wait_for("ada@example.com", Duration::from_secs(10)).await;
//! assert_eq!(mail.subject, "Reset your Example password");
//! let reset = link(&mail).expect("a link in the text");
//! assert!(reset.starts_with("https://"));
//! # }
//! ```
//!
//! [aiosmtpd]: https://aiosmtpd.aio-libs.org/

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mail_parser::{MessageParser, MimeHeaders as _, PartType};

use crate::service::{skip_or_fail, Service};

/// The sink's source, written next to the messages it stores.
const SINK_PY: &str = include_str!("../smtp/sink.py");
/// How long the sink may take to print `READY <port>`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How often [`SmtpSink::wait_for`] looks for a new message.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// The sink's exit status when aiosmtpd cannot be imported.
const EXIT_UNAVAILABLE: i32 = 3;

/// How to start an [`SmtpSink`]: which AUTH, TLS and failures it offers.
#[derive(Clone, Debug, Default)]
pub struct SmtpSinkBuilder {
    auth: Option<(String, String)>,
    starttls: Option<(String, String)>,
    require_starttls: bool,
    implicit_tls: Option<(String, String)>,
    fail_first: u32,
}

impl SmtpSinkBuilder {
    /// Advertise AUTH PLAIN and LOGIN (without TLS: this is loopback) and
    /// refuse `MAIL` until the client logs in as `user` with `password`.
    pub fn require_auth(mut self, user: &str, password: &str) -> Self {
        self.auth = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// Offer STARTTLS with this certificate chain and private key (PEM).
    pub fn starttls(mut self, cert_pem: &str, key_pem: &str) -> Self {
        self.starttls = Some((cert_pem.to_owned(), key_pem.to_owned()));
        self
    }

    /// Refuse `MAIL` before STARTTLS (with [`starttls`](Self::starttls)).
    pub fn require_starttls(mut self) -> Self {
        self.require_starttls = true;
        self
    }

    /// Speak TLS from the first byte (`smtps://`) with this certificate
    /// chain and private key (PEM).
    pub fn implicit_tls(mut self, cert_pem: &str, key_pem: &str) -> Self {
        self.implicit_tls = Some((cert_pem.to_owned(), key_pem.to_owned()));
        self
    }

    /// Answer the first `n` messages' `DATA` with a transient
    /// `451 4.3.0 try again later`, storing nothing.
    pub fn fail_first(mut self, n: u32) -> Self {
        self.fail_first = n;
        self
    }

    /// Starts the sink, or returns `None` after the skip banner when
    /// `python3` or aiosmtpd is missing ([`skip_or_fail`]).
    ///
    /// # Panics
    ///
    /// Under `CI=true` when the sink is unavailable; on any other failure
    /// to start (with the sink's log).
    pub fn start(self) -> Option<SmtpSink> {
        let dir = std::env::temp_dir().join(format!(
            "tessera-smtp-sink-{}-{}",
            std::process::id(),
            tessera::generate_id(12)
        ));
        let mail_dir = dir.join("mail");
        fs::create_dir_all(&mail_dir)
            .unwrap_or_else(|e| panic!("smtp sink: cannot create {}: {e}", mail_dir.display()));
        let write = |name: &str, contents: &str| {
            let path = dir.join(name);
            fs::write(&path, contents)
                .unwrap_or_else(|e| panic!("smtp sink: cannot write {}: {e}", path.display()));
            path
        };
        let script = write("sink.py", SINK_PY);
        let mut args = vec![script.into_os_string(), mail_dir.clone().into_os_string()];
        if let Some((user, password)) = &self.auth {
            args.push("--auth".into());
            args.push(format!("{user}:{password}").into());
        }
        for (flag, pair) in [
            ("--starttls", &self.starttls),
            ("--implicit-tls", &self.implicit_tls),
        ] {
            if let Some((cert, key)) = pair {
                let name = flag.trim_start_matches('-');
                args.push(flag.into());
                args.push(write(&format!("{name}-cert.pem"), cert).into_os_string());
                args.push(write(&format!("{name}-key.pem"), key).into_os_string());
            }
        }
        if self.require_starttls {
            args.push("--require-starttls".into());
        }
        if self.fail_first > 0 {
            args.push("--fail-first".into());
            args.push(self.fail_first.to_string().into());
        }

        let log_path = dir.join("sink.log");
        let log = fs::File::create(&log_path)
            .unwrap_or_else(|e| panic!("smtp sink: cannot create {}: {e}", log_path.display()));
        let spawned = Command::new("python3")
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                return skip_or_fail(Service::Smtp, &format!("cannot run python3: {e}"));
            }
        };
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");

        // The first line, read on a thread so a sink that hangs cannot.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(STARTUP_TIMEOUT).unwrap_or_default();
        let line = line.trim();
        if let Some(port) = line.strip_prefix("READY ") {
            let port = port
                .parse()
                .unwrap_or_else(|_| panic!("smtp sink: bad READY line {line:?}"));
            return Some(SmtpSink {
                child,
                _stdin: stdin,
                port,
                dir,
                mail_dir,
            });
        }

        let _ = child.kill();
        let status = child.wait().ok().and_then(|s| s.code());
        let log = fs::read_to_string(&log_path).unwrap_or_default();
        let _ = fs::remove_dir_all(&dir);
        if status == Some(EXIT_UNAVAILABLE) || line.starts_with("UNAVAILABLE") {
            let reason = line.strip_prefix("UNAVAILABLE ").unwrap_or(line);
            return skip_or_fail(Service::Smtp, &format!("{reason} (pip install aiosmtpd)"));
        }
        panic!(
            "smtp sink did not start (exit {status:?}, first line {line:?}):\n{}",
            log.trim()
        );
    }
}

/// A real SMTP server on a free loopback port that keeps every message it
/// accepts; killed, and its messages deleted, on drop. See the
/// [module docs](self).
#[derive(Debug)]
pub struct SmtpSink {
    child: Child,
    /// The sink exits when this closes, should this process die without
    /// dropping it.
    _stdin: Option<ChildStdin>,
    port: u16,
    dir: PathBuf,
    mail_dir: PathBuf,
}

impl SmtpSink {
    /// A plain sink: no AUTH, no TLS, accepts everything but `reject*`
    /// recipients. `None` after the skip banner when it is unavailable.
    pub fn start() -> Option<SmtpSink> {
        SmtpSinkBuilder::default().start()
    }

    /// A sink with AUTH, TLS or failures: see [`SmtpSinkBuilder`].
    pub fn builder() -> SmtpSinkBuilder {
        SmtpSinkBuilder::default()
    }

    /// `smtp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The port it listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every message received so far, in the order they arrived.
    ///
    /// # Panics
    ///
    /// When a stored message cannot be read or parsed.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        stored_files(&self.mail_dir)
            .iter()
            .map(|path| {
                let raw = fs::read(path)
                    .unwrap_or_else(|e| panic!("smtp sink: cannot read {}: {e}", path.display()));
                ReceivedMail::parse(&raw).unwrap_or_else(|| {
                    panic!(
                        "smtp sink: not a message: {}",
                        String::from_utf8_lossy(&raw)
                    )
                })
            })
            .collect()
    }

    /// The first message whose `To` is `to` (case-insensitive), waiting
    /// for it up to `timeout`. Async, so the sender it waits for can run
    /// on the same runtime.
    ///
    /// # Panics
    ///
    /// When no such message arrives in time (naming what did arrive).
    pub async fn wait_for(&self, to: &str, timeout: Duration) -> ReceivedMail {
        self.wait_for_containing(to, "", timeout).await
    }

    /// The first mail to `to` whose plain-text body contains `needle` (a
    /// path such as `/delete-user/callback`, to tell one flow's mail from
    /// another's), waiting up to `timeout`; panics when none arrives.
    pub async fn wait_for_containing(
        &self,
        to: &str,
        needle: &str,
        timeout: Duration,
    ) -> ReceivedMail {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if let Some(mail) = messages
                .iter()
                .find(|m| {
                    m.to.eq_ignore_ascii_case(to)
                        && m.text.as_deref().unwrap_or_default().contains(needle)
                })
                .cloned()
            {
                return mail;
            }
            if Instant::now() >= deadline {
                let seen: Vec<&str> = messages.iter().map(|m| m.to.as_str()).collect();
                panic!(
                    "smtp sink: no mail to {to} containing {needle:?} within {timeout:?} \
                     (received: {seen:?})"
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The complete messages in `dir`, oldest first (`<seq>.eml`; a message
/// being written is a `.tmp` file until it is whole).
fn stored_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// One message as the sink received it, its bodies decoded
/// (quoted-printable, base64) by a MIME parser.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceivedMail {
    /// The first address of the `To` header.
    pub to: String,
    /// The address of the `From` header.
    pub from: String,
    /// The display name of the `From` header, if any.
    pub from_name: Option<String>,
    /// The `Subject` header, decoded.
    pub subject: String,
    /// The first `text/plain` part, decoded.
    pub text: Option<String>,
    /// The first `text/html` part, decoded.
    pub html: Option<String>,
    /// The top-level content type, e.g. `multipart/alternative`.
    pub content_type: String,
    /// The SMTP envelope's sender (`MAIL FROM`).
    pub envelope_from: String,
    /// The SMTP envelope's recipients (`RCPT TO`).
    pub envelope_to: Vec<String>,
    /// The login the client authenticated as (`AUTH`), if it did.
    pub authenticated_as: Option<String>,
    /// Whether the message travelled over TLS (STARTTLS or implicit).
    pub tls: bool,
    /// The message as it arrived (lossy UTF-8), after the sink's
    /// `X-Sink-*` lines.
    pub raw: String,
}

impl ReceivedMail {
    /// Parses a message as the sink stores it (`X-Sink-*` header lines,
    /// then the message as received). `None` when it is not a message.
    pub fn parse(stored: &[u8]) -> Option<ReceivedMail> {
        let message = MessageParser::default().parse(stored)?;
        let sink_header = |name: &str| message.header_raw(name).map(|v| v.trim().to_owned());
        let from = message.from().and_then(|a| a.first());
        let mut text = None;
        let mut html = None;
        for part in &message.parts {
            match &part.body {
                PartType::Html(body) if html.is_none() => html = Some(body.to_string()),
                PartType::Text(body) if text.is_none() => {
                    let plain = part.content_type().is_none_or(|ct| {
                        ct.c_type.eq_ignore_ascii_case("text")
                            && ct
                                .c_subtype
                                .as_deref()
                                .is_none_or(|s| s.eq_ignore_ascii_case("plain"))
                    });
                    if plain {
                        text = Some(body.to_string());
                    }
                }
                _ => {}
            }
        }
        let content_type = message
            .content_type()
            .map(|ct| match &ct.c_subtype {
                Some(sub) => format!("{}/{}", ct.c_type, sub),
                None => ct.c_type.to_string(),
            })
            .unwrap_or_else(|| "text/plain".to_owned())
            .to_ascii_lowercase();
        // Everything after the sink's own lines, as the client sent it.
        let raw = String::from_utf8_lossy(stored);
        let raw = raw
            .split_inclusive("\r\n")
            .skip_while(|line| line.starts_with("X-Sink-"))
            .collect::<String>();
        Some(ReceivedMail {
            to: message
                .to()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .unwrap_or_default()
                .to_owned(),
            from: from
                .and_then(|a| a.address())
                .unwrap_or_default()
                .to_owned(),
            from_name: from.and_then(|a| a.name()).map(str::to_owned),
            subject: message.subject().unwrap_or_default().to_owned(),
            text,
            html,
            content_type,
            envelope_from: sink_header("X-Sink-Mail-From").unwrap_or_default(),
            envelope_to: sink_header("X-Sink-Rcpt-To")
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            authenticated_as: sink_header("X-Sink-Auth"),
            tls: sink_header("X-Sink-Tls").as_deref() == Some("yes"),
            raw,
        })
    }
}

/// The first `http://` or `https://` URL in the message's plain text: up
/// to the first whitespace, `<`, `>` or `"`. `None` without one.
pub fn link(mail: &ReceivedMail) -> Option<&str> {
    let text = mail.text.as_deref()?;
    let start = [text.find("https://"), text.find("http://")]
        .into_iter()
        .flatten()
        .min()?;
    let rest = &text[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"'))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    const STORED: &str = "X-Sink-Mail-From: no-reply@app.example\r\n\
        X-Sink-Rcpt-To: ada@example.com\r\n\
        X-Sink-Tls: no\r\n\
        X-Sink-Auth: mailer\r\n\
        From: Example <no-reply@app.example>\r\n\
        To: ada@example.com\r\n\
        Subject: =?utf-8?q?Reset_your_Example_password?=\r\n\
        MIME-Version: 1.0\r\n\
        Content-Type: multipart/alternative; boundary=\"b\"\r\n\
        \r\n\
        --b\r\n\
        Content-Type: text/plain; charset=utf-8\r\n\
        Content-Transfer-Encoding: quoted-printable\r\n\
        \r\n\
        Reset: https://app.example/api/auth/reset-password/abcdefghijklmnopqrstuvwxyz0123=\r\n\
        456789?callbackURL=3D%2Freset\r\n\
        \r\n\
        --b\r\n\
        Content-Type: text/html; charset=utf-8\r\n\
        Content-Transfer-Encoding: base64\r\n\
        \r\n\
        PHA+PGEgaHJlZj0iaHR0cHM6Ly9hcHAuZXhhbXBsZSI+UmVzZXQ8L2E+PC9wPg==\r\n\
        --b--\r\n";

    #[test]
    fn a_stored_message_is_read_back_decoded() {
        let mail = ReceivedMail::parse(STORED.as_bytes()).unwrap();
        assert_eq!(mail.to, "ada@example.com");
        assert_eq!(mail.from, "no-reply@app.example");
        assert_eq!(mail.from_name.as_deref(), Some("Example"));
        assert_eq!(mail.subject, "Reset your Example password");
        assert_eq!(mail.content_type, "multipart/alternative");
        assert_eq!(mail.envelope_from, "no-reply@app.example");
        assert_eq!(mail.envelope_to, ["ada@example.com"]);
        assert_eq!(mail.authenticated_as.as_deref(), Some("mailer"));
        assert!(!mail.tls);
        assert_eq!(
            mail.html.as_deref(),
            Some("<p><a href=\"https://app.example\">Reset</a></p>")
        );
        assert!(mail.raw.starts_with("From: Example"));
    }

    #[test]
    fn the_link_survives_a_soft_line_break() {
        let mail = ReceivedMail::parse(STORED.as_bytes()).unwrap();
        assert_eq!(
            link(&mail),
            Some(
                "https://app.example/api/auth/reset-password/abcdefghijklmnopqrstuvwxyz0123456789?callbackURL=%2Freset"
            )
        );
    }

    #[test]
    fn no_link_without_a_url() {
        let mut mail = ReceivedMail::parse(STORED.as_bytes()).unwrap();
        mail.text = Some("nothing here, not even ftp://x".to_owned());
        assert_eq!(link(&mail), None);
        mail.text = None;
        assert_eq!(link(&mail), None);
    }
}
