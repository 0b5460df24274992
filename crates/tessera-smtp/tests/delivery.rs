//! `SmtpMailer` against real SMTP servers on loopback: the test kit's
//! aiosmtpd sink (skipped without it, failed under `CI=true`), a server
//! that never answers, and a port nobody listens on.
//!
//! Every test runs on a current-thread runtime, so the delivery task logs
//! through the subscriber the test installs on its thread.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tessera::mail::{DefaultTemplates, Mail, MailError, MailKind, MailTemplates, Mailer, Message};
use tessera_smtp::{SmtpConfig, SmtpMailer, TlsMode};
use tessera_testkit::smtp::{link, SmtpSink};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Long, with `=`, `&` and `%`: quoted-printable escapes and soft-wraps it.
const LINK: &str = "https://app.example/api/auth/reset-password/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGFAZXhhbXBsZS5jb20iLCJleHAiOjE3MDAwMDAwMDB9.c2lnbmF0dXJlLXRoYXQtaXMtbG9uZw?callbackURL=%2Freset%3Fnext%3D%252Fhome&x=a=b";
/// The secret part of the link: never in a log line.
const TOKEN: &str = "c2lnbmF0dXJlLXRoYXQtaXMtbG9uZw";
const FROM: &str = "Example App <no-reply@app.example>";
/// How long a test waits for mail that should arrive.
const ARRIVAL: Duration = Duration::from_secs(20);

fn message(to: &str) -> Message {
    DefaultTemplates.render(&Mail {
        kind: MailKind::ResetPassword,
        app_name: "Example",
        to,
        name: "Ada",
        url: LINK,
        new_email: None,
    })
}

fn config(url: &str) -> SmtpConfig {
    SmtpConfig::from_url(url, FROM)
        .unwrap()
        .retry_backoff(Duration::from_millis(10))
}

/// Log lines written on this thread while the guard lives.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A server that accepts connections and never says a word; each accepted
/// connection is reported on the receiver.
async fn silent_server() -> (u16, mpsc::UnboundedReceiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
            let _ = tx.send(());
        }
    });
    (port, rx)
}

/// A loopback port nobody listens on: connections are refused.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A CA, and a certificate and key for 127.0.0.1 and localhost signed by
/// it (PEM): `(ca, cert, key)`.
fn certificates() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "tessera-smtp test CA");
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    (ca.pem(), leaf.pem(), key.serialize_pem())
}

#[tokio::test]
async fn a_message_arrives_as_text_and_html_with_its_link_intact() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let mailer = SmtpMailer::start(config(&sink.url()));

    mailer.send(message("ada@example.com")).await.unwrap();
    let mail = sink.wait_for("ada@example.com", ARRIVAL).await;

    assert_eq!(mail.to, "ada@example.com");
    assert_eq!(mail.from, "no-reply@app.example");
    assert_eq!(mail.from_name.as_deref(), Some("Example App"));
    assert_eq!(mail.subject, "Reset your Example password");
    assert_eq!(mail.content_type, "multipart/alternative");
    assert_eq!(mail.envelope_from, "no-reply@app.example");
    assert_eq!(mail.envelope_to, ["ada@example.com"]);
    assert_eq!(mail.authenticated_as, None);
    // Opportunistic, and the sink offers no STARTTLS.
    assert!(!mail.tls);
    let text = mail.text.as_deref().expect("a text/plain part");
    assert!(text.starts_with("Hello Ada,"), "{text}");
    assert_eq!(link(&mail), Some(LINK), "{text}");
    let html = mail.html.as_deref().expect("a text/html part");
    assert!(
        html.contains(&format!("href=\"{}\"", LINK.replace('&', "&amp;"))),
        "{html}"
    );
    // The link did not travel verbatim (quoted-printable escapes its `=`
    // and wraps its long line): the sink decoded it back whole.
    assert!(!mail.raw.contains(LINK), "{}", mail.raw);
    assert!(mail.raw.lines().all(|line| line.len() <= 998));
    let id = mail
        .raw
        .lines()
        .find(|l| l.starts_with("Message-ID: <"))
        .unwrap_or_else(|| panic!("no Message-ID: {}", mail.raw));
    assert!(id.ends_with("@app.example>"), "{id}");

    mailer.flush(ARRIVAL).await.unwrap();
    let stats = mailer.stats();
    assert_eq!((stats.sent, stats.failed, stats.pending), (1, 0, 0));
}

#[tokio::test]
async fn auth_logs_in_with_the_decoded_credentials() {
    let password = "p@ss:w/rd%";
    let Some(sink) = SmtpSink::builder().require_auth("mailer", password).start() else {
        return;
    };
    let url = format!("smtp://mailer:p%40ss%3Aw%2Frd%25@127.0.0.1:{}", sink.port());
    let mailer = SmtpMailer::start(config(&url));

    mailer.send(message("ada@example.com")).await.unwrap();
    let mail = sink.wait_for("ada@example.com", ARRIVAL).await;
    assert_eq!(mail.authenticated_as.as_deref(), Some("mailer"));
    assert!(!format!("{mailer:?}").contains(password));
}

#[tokio::test]
async fn a_wrong_password_is_logged_without_the_password_and_not_retried() {
    let Some(sink) = SmtpSink::builder()
        .require_auth("mailer", "right-password")
        .start()
    else {
        return;
    };
    let (logs, _guard) = Logs::capture();
    let url = format!("smtp://mailer:wrong-password@127.0.0.1:{}", sink.port());
    let mailer = SmtpMailer::start(config(&url));

    mailer.send(message("ada@example.com")).await.unwrap();
    mailer.flush(ARRIVAL).await.unwrap();

    assert_eq!(mailer.stats().failed, 1);
    assert!(sink.messages().is_empty());
    let log = logs.text();
    assert!(log.contains("mail not delivered"), "{log}");
    assert!(log.contains("attempts=1"), "535 is permanent: {log}");
    assert!(!log.contains("wrong-password"), "{log}");
    assert!(!log.contains(TOKEN), "{log}");
}

#[tokio::test]
async fn transient_failures_are_retried() {
    let Some(sink) = SmtpSink::builder().fail_first(2).start() else {
        return;
    };
    let (logs, _guard) = Logs::capture();
    let mailer = SmtpMailer::start(config(&sink.url()).max_attempts(3));

    mailer.send(message("ada@example.com")).await.unwrap();
    let mail = sink.wait_for("ada@example.com", ARRIVAL).await;
    assert_eq!(link(&mail), Some(LINK));

    mailer.flush(ARRIVAL).await.unwrap();
    assert_eq!((mailer.stats().sent, mailer.stats().failed), (1, 0));
    let log = logs.text();
    assert_eq!(log.matches("retrying").count(), 2, "{log}");
    assert!(!log.contains(TOKEN), "{log}");
}

#[tokio::test]
async fn a_permanent_failure_is_logged_once_and_the_queue_goes_on() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let (logs, _guard) = Logs::capture();
    let mailer = SmtpMailer::start(config(&sink.url()));

    mailer.send(message("rejected@example.com")).await.unwrap();
    mailer.send(message("ada@example.com")).await.unwrap();
    sink.wait_for("ada@example.com", ARRIVAL).await;
    mailer.flush(ARRIVAL).await.unwrap();

    assert_eq!((mailer.stats().sent, mailer.stats().failed), (1, 1));
    let log = logs.text();
    let failure = log
        .lines()
        .find(|l| l.contains("mail not delivered"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(failure.contains("ERROR"), "{failure}");
    assert!(failure.contains("to=\"rejected@example.com\""), "{failure}");
    assert!(failure.contains("kind=\"reset-password\""), "{failure}");
    assert!(failure.contains("attempts=1"), "{failure}");
    assert!(failure.contains("550"), "{failure}");
    assert!(!log.contains("retrying"), "{log}");
    assert!(!log.contains(TOKEN), "{log}");
}

#[tokio::test]
async fn an_unreachable_server_is_logged_and_does_not_block_send() {
    let (logs, _guard) = Logs::capture();
    let url = format!("smtp://127.0.0.1:{}", closed_port());
    let mailer = SmtpMailer::start(config(&url).max_attempts(2));

    tokio::time::timeout(ARRIVAL, mailer.send(message("ada@example.com")))
        .await
        .expect("send returns without the server")
        .unwrap();
    mailer.flush(ARRIVAL).await.unwrap();

    assert_eq!((mailer.stats().sent, mailer.stats().failed), (0, 1));
    let log = logs.text();
    let failure = log
        .lines()
        .find(|l| l.contains("mail not delivered"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(failure.contains("ERROR"), "{failure}");
    assert!(failure.contains("to=\"ada@example.com\""), "{failure}");
    assert!(failure.contains("attempts=2"), "{failure}");
    assert_eq!(log.matches("retrying").count(), 1, "{log}");
    assert!(!log.contains(TOKEN), "{log}");
    assert!(!log.contains("reset-password/"), "{log}");
}

#[tokio::test]
async fn a_server_that_never_answers_does_not_slow_send() {
    let (port, mut connections) = silent_server().await;
    let url = format!("smtp://127.0.0.1:{port}");
    // Far longer than the test: only the queue can answer in time.
    let mailer = SmtpMailer::start(config(&url).timeout(Duration::from_secs(3600)));

    for i in 0..50 {
        tokio::time::timeout(
            ARRIVAL,
            mailer.send(message(&format!("user{i}@example.com"))),
        )
        .await
        .expect("send returns while the server says nothing")
        .unwrap();
    }
    connections.recv().await.expect("the task connected");
    let stats = mailer.stats();
    assert_eq!((stats.sent, stats.failed, stats.pending), (0, 0, 50));

    // A bounded shutdown: it gives up, and says how much is left.
    let left = mailer
        .shutdown(Duration::from_millis(100))
        .await
        .unwrap_err();
    assert_eq!(left.pending, 50);
    assert!(matches!(
        mailer.send(message("late@example.com")).await,
        Err(MailError::Closed)
    ));
}

#[tokio::test]
async fn a_full_queue_answers_queue_full() {
    let (port, mut connections) = silent_server().await;
    let url = format!("smtp://127.0.0.1:{port}");
    let mailer = SmtpMailer::start(
        config(&url)
            .timeout(Duration::from_secs(3600))
            .queue_capacity(1),
    );

    // The first is taken off the queue and stuck with the silent server.
    mailer.send(message("first@example.com")).await.unwrap();
    connections.recv().await.expect("the task connected");
    // The second waits in the queue, which then holds its one message.
    mailer.send(message("second@example.com")).await.unwrap();
    assert!(matches!(
        mailer.send(message("third@example.com")).await,
        Err(MailError::QueueFull)
    ));
    assert_eq!(mailer.stats().pending, 2);
}

#[tokio::test]
async fn shutdown_delivers_what_is_queued_then_refuses_more() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let mailer = SmtpMailer::start(config(&sink.url()));
    let kernel_handle: Arc<dyn Mailer> = Arc::new(mailer.clone());

    for i in 0..5 {
        kernel_handle
            .send(message(&format!("user{i}@example.com")))
            .await
            .unwrap();
    }
    mailer.shutdown(ARRIVAL).await.unwrap();

    assert_eq!(sink.messages().len(), 5);
    assert_eq!(mailer.stats().sent, 5);
    assert!(matches!(
        kernel_handle.send(message("late@example.com")).await,
        Err(MailError::Closed)
    ));
}

#[tokio::test]
async fn starttls_is_used_when_the_server_offers_it() {
    let (ca, cert, key) = certificates();
    let Some(sink) = SmtpSink::builder().starttls(&cert, &key).start() else {
        return;
    };
    let config = config(&sink.url())
        .add_root_certificate(ca.as_bytes())
        .unwrap();
    assert_eq!(config.tls_mode(), TlsMode::Opportunistic);
    let mailer = SmtpMailer::start(config);

    mailer.send(message("ada@example.com")).await.unwrap();
    let mail = sink.wait_for("ada@example.com", ARRIVAL).await;
    assert!(mail.tls);
    assert_eq!(link(&mail), Some(LINK));
}

#[tokio::test]
async fn required_starttls_with_auth_delivers_over_tls() {
    let (ca, cert, key) = certificates();
    let Some(sink) = SmtpSink::builder()
        .starttls(&cert, &key)
        .require_starttls()
        .require_auth("mailer", "secret")
        .start()
    else {
        return;
    };
    let url = format!(
        "smtp://mailer:secret@127.0.0.1:{}?tls=required",
        sink.port()
    );
    let mailer = SmtpMailer::start(config(&url).add_root_certificate(ca.as_bytes()).unwrap());

    mailer.send(message("ada@example.com")).await.unwrap();
    let mail = sink.wait_for("ada@example.com", ARRIVAL).await;
    assert!(mail.tls);
    assert_eq!(mail.authenticated_as.as_deref(), Some("mailer"));
}

#[tokio::test]
async fn implicit_tls_delivers_over_smtps() {
    let (ca, cert, key) = certificates();
    let Some(sink) = SmtpSink::builder().implicit_tls(&cert, &key).start() else {
        return;
    };
    let url = format!("smtps://127.0.0.1:{}", sink.port());
    let mailer = SmtpMailer::start(config(&url).add_root_certificate(ca.as_bytes()).unwrap());

    mailer.send(message("ada@example.com")).await.unwrap();
    let mail = sink.wait_for("ada@example.com", ARRIVAL).await;
    assert!(mail.tls);
}

#[tokio::test]
async fn required_tls_is_not_given_up_for_plain_text() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let (logs, _guard) = Logs::capture();
    let url = format!("{}?tls=required", sink.url());
    let mailer = SmtpMailer::start(config(&url));

    mailer.send(message("ada@example.com")).await.unwrap();
    mailer.flush(ARRIVAL).await.unwrap();

    assert_eq!(mailer.stats().failed, 1);
    assert!(sink.messages().is_empty());
    assert!(
        logs.text().contains("mail not delivered"),
        "{}",
        logs.text()
    );
}

#[tokio::test]
async fn an_untrusted_certificate_is_not_downgraded_to_plain_text() {
    let (_ca, cert, key) = certificates();
    let Some(sink) = SmtpSink::builder().starttls(&cert, &key).start() else {
        return;
    };
    let (logs, _guard) = Logs::capture();
    // Opportunistic, and the CA is not trusted: no delivery, not a
    // fallback to plain text.
    let mailer = SmtpMailer::start(config(&sink.url()));

    mailer.send(message("ada@example.com")).await.unwrap();
    mailer.flush(ARRIVAL).await.unwrap();

    assert_eq!(mailer.stats().failed, 1);
    assert!(sink.messages().is_empty());
    let log = logs.text();
    assert!(log.contains("invalid peer certificate"), "{log}");
    assert!(log.contains("attempts=1"), "not retried: {log}");
}
