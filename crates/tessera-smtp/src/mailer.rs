//! [`SmtpMailer`]: a bounded queue in front of one delivery task.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::Tls;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tessera::mail::{MailError, Mailer, Message};
use tokio::sync::{mpsc, watch, Notify};

use crate::config::{SmtpConfig, TlsMode};

/// Delivers [`Message`]s over SMTP, off the request path.
///
/// [`send`](Mailer::send) only queues: it never touches the network, and
/// answers [`MailError::QueueFull`] when
/// [`queue_capacity`](SmtpConfig::queue_capacity) messages are already
/// waiting, or [`MailError::Closed`] after [`shutdown`](Self::shutdown).
/// One task delivers them one after another, a connection per message,
/// retrying transient failures ([`SmtpConfig::max_attempts`]). A message
/// that cannot be delivered is logged with `tracing::error!` — recipient,
/// flow, attempts and the error; never its link, which is a credential —
/// and counted in [`stats`](Self::stats).
///
/// Clones share the queue. Give the kernel one
/// (`AuthBuilder::mailer(Arc::new(mailer.clone()))`) and keep one to
/// [`shutdown`](Self::shutdown) with, so a SIGTERM does not lose the queue.
#[derive(Clone)]
pub struct SmtpMailer {
    shared: Arc<Shared>,
}

/// What the handles share. The delivery task holds only [`Progress`], so
/// when the last handle goes the queue closes and the task ends once it
/// has delivered what was queued.
struct Shared {
    queue: mpsc::Sender<Message>,
    /// Set by [`SmtpMailer::shutdown`]: the task stops taking messages.
    close: watch::Sender<bool>,
    closed: AtomicBool,
    /// Changes (its sender drops) when the delivery task ends.
    finished: watch::Receiver<()>,
    progress: Arc<Progress>,
    /// The configuration's `Display` (no password), for `Debug`.
    server: String,
}

/// Counters the delivery task keeps.
#[derive(Default)]
struct Progress {
    /// Queued or being delivered.
    pending: AtomicUsize,
    sent: AtomicU64,
    failed: AtomicU64,
    /// Woken when `pending` drops to 0.
    idle: Notify,
}

/// What a mailer has done so far: [`SmtpMailer::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryStats {
    /// Messages the server accepted.
    pub sent: u64,
    /// Messages given up on (and logged).
    pub failed: u64,
    /// Messages queued or being delivered.
    pub pending: usize,
}

/// The queue still held messages when the wait ended: [`SmtpMailer::flush`]
/// and [`SmtpMailer::shutdown`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{pending} message(s) still undelivered after {waited:?}")]
#[non_exhaustive]
pub struct QueueNotDrained {
    /// Messages queued or being delivered when the wait ended.
    pub pending: usize,
    /// How long it waited.
    pub waited: Duration,
}

impl SmtpMailer {
    /// Starts the delivery task and returns the queue's handle.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (the task is spawned on the current one).
    pub fn start(config: SmtpConfig) -> SmtpMailer {
        let (queue, inbox) = mpsc::channel(config.queue_capacity);
        let (close, close_rx) = watch::channel(false);
        let (finished_tx, finished) = watch::channel(());
        let progress = Arc::new(Progress::default());
        let delivery = Delivery {
            transport: transport(&config),
            from: config.from.clone(),
            timeout: config.timeout,
            max_attempts: config.max_attempts,
            retry_backoff: config.retry_backoff,
            progress: Arc::clone(&progress),
        };
        tokio::spawn(delivery.run(inbox, close_rx, finished_tx));
        SmtpMailer {
            shared: Arc::new(Shared {
                queue,
                close,
                closed: AtomicBool::new(false),
                finished,
                progress,
                server: config.to_string(),
            }),
        }
    }

    /// Messages sent, given up on, and still pending.
    pub fn stats(&self) -> DeliveryStats {
        let p = &self.shared.progress;
        DeliveryStats {
            sent: p.sent.load(Ordering::Relaxed),
            failed: p.failed.load(Ordering::Relaxed),
            pending: p.pending.load(Ordering::Acquire),
        }
    }

    /// Waits until every message queued so far has been delivered or
    /// given up on, up to `timeout`. The queue stays open.
    ///
    /// # Errors
    ///
    /// [`QueueNotDrained`] when messages are still pending at `timeout`.
    pub async fn flush(&self, timeout: Duration) -> Result<(), QueueNotDrained> {
        let progress = &self.shared.progress;
        let drained = async {
            loop {
                let idle = progress.idle.notified();
                tokio::pin!(idle);
                // Registered before the check, so a wake-up between the two
                // is not lost.
                idle.as_mut().enable();
                if progress.pending.load(Ordering::Acquire) == 0 {
                    return;
                }
                idle.await;
            }
        };
        tokio::time::timeout(timeout, drained)
            .await
            .map_err(|_| self.not_drained(timeout))
    }

    /// Closes the queue — [`send`](Mailer::send) answers
    /// [`MailError::Closed`] from now on, on every clone — and waits up to
    /// `timeout` for the messages already queued to be delivered or given
    /// up on. Call it at process shutdown (after the server has stopped
    /// taking requests), so a SIGTERM does not lose queued mail.
    ///
    /// # Errors
    ///
    /// [`QueueNotDrained`] when messages are still pending at `timeout`;
    /// the task goes on delivering them for as long as the runtime runs.
    pub async fn shutdown(&self, timeout: Duration) -> Result<(), QueueNotDrained> {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.close.send_replace(true);
        let mut finished = self.shared.finished.clone();
        // The task's sender drops when it ends: `changed` then errs.
        let ended = async { while finished.changed().await.is_ok() {} };
        tokio::time::timeout(timeout, ended)
            .await
            .map_err(|_| self.not_drained(timeout))
    }

    fn not_drained(&self, waited: Duration) -> QueueNotDrained {
        QueueNotDrained {
            pending: self.shared.progress.pending.load(Ordering::Acquire),
            waited,
        }
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, message: Message) -> Result<(), MailError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(MailError::Closed);
        }
        let progress = &self.shared.progress;
        // Counted before it is queued, so the task never counts it down
        // first.
        progress.pending.fetch_add(1, Ordering::AcqRel);
        match self.shared.queue.try_send(message) {
            Ok(()) => Ok(()),
            Err(e) => {
                progress.finish_one();
                Err(match e {
                    mpsc::error::TrySendError::Full(_) => MailError::QueueFull,
                    mpsc::error::TrySendError::Closed(_) => MailError::Closed,
                })
            }
        }
    }
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No message: their links are credentials.
        f.debug_struct("SmtpMailer")
            .field("server", &self.shared.server)
            .field("stats", &self.stats())
            .field("closed", &self.shared.closed.load(Ordering::Relaxed))
            .finish()
    }
}

impl Progress {
    fn finish_one(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }
}

/// The transport for `config`: lettre's, without its pool (a connection
/// per message), its connect timeout ours.
fn transport(config: &SmtpConfig) -> AsyncSmtpTransport<Tokio1Executor> {
    let tls = match (config.tls, config.tls_parameters.clone()) {
        (TlsMode::Opportunistic, Some(p)) => Tls::Opportunistic(p),
        (TlsMode::Required, Some(p)) => Tls::Required(p),
        (TlsMode::Implicit, Some(p)) => Tls::Wrapper(p),
        // `from_url` builds parameters for every mode but `None`.
        _ => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.as_str())
        .port(config.port)
        .tls(tls)
        .timeout(Some(config.timeout));
    if let Some((user, password)) = &config.credentials {
        builder = builder
            .credentials(Credentials::new(user.clone(), password.0.clone()))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    builder.build()
}

/// The delivery task's state.
struct Delivery {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    timeout: Duration,
    max_attempts: u32,
    retry_backoff: Duration,
    progress: Arc<Progress>,
}

/// Why one attempt failed.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error(transparent)]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("the server did not finish within {0:?}")]
    TimedOut(Duration),
}

impl AttemptError {
    /// Worth another attempt: a connection refused or lost, a timeout, a
    /// `4xx` reply. Not a `5xx` reply, a TLS failure (a certificate it
    /// cannot verify), a reply that cannot be read, or a client error (no
    /// AUTH mechanism in common).
    fn is_transient(&self) -> bool {
        match self {
            AttemptError::TimedOut(_) => true,
            AttemptError::Smtp(e) => {
                e.is_transient()
                    || e.is_timeout()
                    || !(e.is_permanent()
                        || e.is_client()
                        || e.is_response()
                        || e.is_tls()
                        || is_invalid_data(e))
            }
        }
    }
}

/// Whether `error` was caused by data the peer sent that makes no sense:
/// lettre reports a failed TLS handshake (an unknown issuer, a wrong name)
/// as a connection error caused by an `InvalidData` I/O error.
fn is_invalid_data(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::InvalidData)
        {
            return true;
        }
        cause = e.source();
    }
    false
}

impl Delivery {
    async fn run(
        self,
        mut inbox: mpsc::Receiver<Message>,
        mut close: watch::Receiver<bool>,
        // Dropped when this task ends, which `shutdown` waits for.
        _finished: watch::Sender<()>,
    ) {
        let mut closing = false;
        loop {
            let next = tokio::select! {
                biased;
                // A shutdown, or every handle gone: take no more, deliver
                // what is queued.
                _ = close.wait_for(|close| *close), if !closing => {
                    closing = true;
                    inbox.close();
                    continue;
                }
                next = inbox.recv() => next,
            };
            let Some(message) = next else { break };
            self.deliver(message).await;
            self.progress.finish_one();
        }
    }

    async fn deliver(&self, message: Message) {
        let (to, kind) = (message.to.as_str(), message.kind.as_str());
        let (envelope, raw) = match email(&self.from, &message) {
            Ok(email) => (email.envelope().clone(), email.formatted()),
            Err(e) => {
                self.progress.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(to, kind, error = %e, "mail not sent: the message cannot be written");
                return;
            }
        };
        let mut backoff = self.retry_backoff;
        for attempt in 1..=self.max_attempts {
            let outcome =
                tokio::time::timeout(self.timeout, self.transport.send_raw(&envelope, &raw)).await;
            let error = match outcome {
                Ok(Ok(_)) => {
                    self.progress.sent.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(to, kind, attempt, "mail sent");
                    return;
                }
                Ok(Err(e)) => AttemptError::Smtp(e),
                Err(_) => AttemptError::TimedOut(self.timeout),
            };
            // A server may quote the message back (a URL blocklist's
            // reply): the link is a credential, never logged.
            let shown = without_link(&error.to_string(), &message.link);
            if !error.is_transient() || attempt == self.max_attempts {
                self.progress.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    to,
                    kind,
                    attempts = attempt,
                    error = %shown,
                    "mail not delivered"
                );
                return;
            }
            tracing::warn!(to, kind, attempt, error = %shown, retry_in = ?backoff, "mail delivery failed, retrying");
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
        }
    }
}

/// `message` as multipart/alternative (text, then HTML) from `from`, its
/// Message-ID in the sender's domain (not this machine's name, which may
/// be a container's).
fn email(
    from: &Mailbox,
    message: &Message,
) -> Result<lettre::Message, Box<dyn std::error::Error + Send + Sync>> {
    let to: Address = message.to.trim().parse()?;
    let id = format!("<{}@{}>", tessera::generate_id(32), from.email.domain());
    Ok(lettre::Message::builder()
        .message_id(Some(id))
        .from(from.clone())
        .to(Mailbox::new(None, to))
        .subject(message.subject.as_str())
        .multipart(MultiPart::alternative_plain_html(
            message.text.clone(),
            message.html.clone(),
        ))?)
}

/// `text` with every copy of `link` replaced by `[link]`.
fn without_link(text: &str, link: &str) -> String {
    if link.is_empty() {
        text.to_owned()
    } else {
        text.replace(link, "[link]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera::mail::MailKind;

    fn message(to: &str) -> Message {
        Message {
            kind: MailKind::VerifyEmail,
            to: to.to_owned(),
            subject: "Verify your email address for Example".to_owned(),
            text: "Verify: https://app.example/verify?token=t0k3n\n".to_owned(),
            html: "<p><a href=\"https://app.example/verify?token=t0k3n\">Verify</a></p>\n"
                .to_owned(),
            link: "https://app.example/verify?token=t0k3n".to_owned(),
        }
    }

    fn sender() -> Mailbox {
        "Example <no-reply@app.example>".parse().unwrap()
    }

    #[test]
    fn the_email_is_text_then_html_with_an_id_in_the_senders_domain() {
        let email = email(&sender(), &message("ada@example.com")).unwrap();
        let raw = String::from_utf8(email.formatted()).unwrap();
        assert!(raw.contains("Content-Type: multipart/alternative"), "{raw}");
        let text = raw.find("Content-Type: text/plain").unwrap();
        let html = raw.find("Content-Type: text/html").unwrap();
        assert!(text < html, "{raw}");
        let id = raw
            .lines()
            .find(|l| l.starts_with("Message-ID: <"))
            .unwrap();
        assert!(id.ends_with("@app.example>"), "{id}");
        assert_eq!(
            email.envelope().to(),
            ["ada@example.com".parse::<Address>().unwrap()]
        );
        assert_eq!(
            email.envelope().from(),
            Some(&"no-reply@app.example".parse::<Address>().unwrap())
        );
    }

    #[test]
    fn a_recipient_that_is_not_an_address_is_an_error() {
        for to in [
            "",
            "ada",
            "ada@",
            "Ada <ada@example.com>",
            "a@b\r\nBcc: x@y",
        ] {
            assert!(email(&sender(), &message(to)).is_err(), "{to:?}");
        }
    }

    #[test]
    fn links_are_cut_out_of_errors() {
        let link = "https://app.example/verify?token=t0k3n";
        assert_eq!(
            without_link(&format!("554 5.7.1 {link} is listed"), link),
            "554 5.7.1 [link] is listed"
        );
        assert_eq!(without_link("421 busy", ""), "421 busy");
    }

    #[test]
    fn a_refused_connection_is_transient_a_bad_certificate_is_not() {
        let io = |kind| std::io::Error::new(kind, "x");
        assert!(!is_invalid_data(&io(std::io::ErrorKind::ConnectionRefused)));
        assert!(is_invalid_data(&io(std::io::ErrorKind::InvalidData)));
        #[derive(Debug, thiserror::Error)]
        #[error("wrapped")]
        struct Wrapped(#[source] std::io::Error);
        assert!(is_invalid_data(&Wrapped(io(
            std::io::ErrorKind::InvalidData
        ))));
        assert!(AttemptError::TimedOut(Duration::from_secs(1)).is_transient());
    }
}
