//! Mail the account lifecycle sends: email verification, password reset,
//! change-of-email confirmation and account deletion.
//!
//! The kernel writes each [`Message`] (plain text and HTML, from
//! replaceable [`MailTemplates`]) and hands it to a [`Mailer`] once the
//! answer is decided. Delivery is the mailer's: `tessera-smtp` sends over
//! SMTP from a bounded queue, off the request path; [`LogMailer`] writes
//! each link to the log (development). Without a mailer, the flows that
//! need one answer as better-auth answers without its mail callbacks.
//!
//! ```
//! use std::sync::Arc;
//! use tessera::mail::{DefaultTemplates, MailKind, Mail, MailTemplates};
//!
//! let mail = Mail {
//!     kind: MailKind::ResetPassword,
//!     app_name: "Example",
//!     to: "ada@example.com",
//!     name: "Ada",
//!     url: "https://example.com/api/auth/reset-password/abc?callbackURL=%2Freset",
//!     new_email: None,
//! };
//! let message = DefaultTemplates.render(&mail);
//! assert_eq!(message.to, "ada@example.com");
//! assert!(message.text.contains(mail.url));
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

/// Which flow a message belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MailKind {
    /// A link that verifies the address it is sent to
    /// (`/verify-email?token=…`).
    VerifyEmail,
    /// A one-time link to set a new password (`/reset-password/<token>`).
    ResetPassword,
    /// Sent to the current, verified address before an address change: its
    /// link sends the verification to the new address.
    ChangeEmailConfirmation,
    /// A one-time link that deletes the account (`/delete-user/callback`).
    DeleteAccount,
}

impl MailKind {
    /// better-auth's name for the flow (`verify-email`, `reset-password`,
    /// `change-email-confirmation`, `delete-account`).
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::VerifyEmail => "verify-email",
            MailKind::ResetPassword => "reset-password",
            MailKind::ChangeEmailConfirmation => "change-email-confirmation",
            MailKind::DeleteAccount => "delete-account",
        }
    }
}

/// What a template needs to write one message.
#[derive(Clone, Copy, Debug)]
pub struct Mail<'a> {
    /// The flow.
    pub kind: MailKind,
    /// The application's name, for the subject and greeting.
    pub app_name: &'a str,
    /// The recipient's address.
    pub to: &'a str,
    /// The recipient's name (may be empty).
    pub name: &'a str,
    /// The link to follow.
    pub url: &'a str,
    /// The address asked for, in a change-of-email confirmation.
    pub new_email: Option<&'a str>,
}

/// One message, ready to deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The flow it belongs to.
    pub kind: MailKind,
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
    /// The link the message carries (for logs and tests; the bodies hold it).
    pub link: String,
}

/// Why a message could not be handed over. Delivery failures after the
/// hand-over are the mailer's to log; they never reach the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// The mailer's queue is full: the message was dropped.
    #[error("the mail queue is full")]
    QueueFull,
    /// The mailer has stopped.
    #[error("the mailer has stopped")]
    Closed,
    /// Any other failure.
    #[error("{0}")]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

/// Delivers messages. The kernel awaits [`Mailer::send`] before it
/// answers, so it must return quickly: queue the message and deliver it
/// elsewhere (`tessera-smtp`'s queue does). A failure is logged by the
/// kernel and never changes the answer, so an answer never tells whether
/// an address exists.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Hands `message` over for delivery.
    async fn send(&self, message: Message) -> Result<(), MailError>;
}

/// Writes each message's recipient, flow and link to the log at `info`:
/// the development mailer of `tessera serve` without SMTP.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, message: Message) -> Result<(), MailError> {
        tracing::info!(
            to = %message.to,
            kind = message.kind.as_str(),
            link = %message.link,
            "mail (not sent: no mailer configured): {}",
            message.subject
        );
        Ok(())
    }
}

/// Writes the messages. Replace it (`AuthBuilder::mail_templates`) to send
/// your own words and markup; the kernel supplies the links.
pub trait MailTemplates: Send + Sync + 'static {
    /// The message for `mail`.
    fn render(&self, mail: &Mail<'_>) -> Message;
}

/// Tessera's plain messages, in English.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultTemplates;

impl MailTemplates for DefaultTemplates {
    fn render(&self, mail: &Mail<'_>) -> Message {
        let app = mail.app_name;
        let (subject, lead, action, ignore) = match mail.kind {
            MailKind::VerifyEmail => (
                format!("Verify your email address for {app}"),
                format!("Please confirm that {} is your email address.", mail.to),
                "Verify email",
                "If you did not ask for this, you can ignore this message.",
            ),
            MailKind::ResetPassword => (
                format!("Reset your {app} password"),
                "Someone asked to reset the password of your account. The link works once."
                    .to_owned(),
                "Reset password",
                "If you did not ask for this, you can ignore this message: your password stays as it is.",
            ),
            MailKind::ChangeEmailConfirmation => (
                format!("Confirm the change of your {app} email address"),
                format!(
                    "Someone asked to change your account's email address to {}. Confirm to send a verification link to that address.",
                    mail.new_email.unwrap_or("a new address")
                ),
                "Confirm the change",
                "If you did not ask for this, ignore this message and consider changing your password.",
            ),
            MailKind::DeleteAccount => (
                format!("Confirm the deletion of your {app} account"),
                "Someone asked to delete your account. This cannot be undone. The link works once."
                    .to_owned(),
                "Delete my account",
                "If you did not ask for this, ignore this message and consider changing your password.",
            ),
        };
        let greeting = if mail.name.is_empty() {
            "Hello,".to_owned()
        } else {
            format!("Hello {},", mail.name)
        };
        let text = format!(
            "{greeting}\n\n{lead}\n\n{action}: {url}\n\n{ignore}\n\n{app}\n",
            url = mail.url
        );
        let html = format!(
            "<!doctype html>\n<html><body>\n<p>{greeting}</p>\n<p>{lead}</p>\n\
             <p><a href=\"{url}\">{action}</a></p>\n<p>{ignore}</p>\n<p>{app}</p>\n</body></html>\n",
            greeting = escape_html(&greeting),
            lead = escape_html(&lead),
            url = escape_html(mail.url),
            action = escape_html(action),
            ignore = escape_html(ignore),
            app = escape_html(app),
        );
        Message {
            kind: mail.kind,
            to: mail.to.to_owned(),
            subject,
            text,
            html,
            link: mail.url.to_owned(),
        }
    }
}

/// `s` with HTML's five special characters escaped (names and addresses
/// come from users).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_timing_waits_for_the_slowest_recent_work_and_decays() {
        let ms = Duration::from_millis;
        let timing = EvenTiming::new(ms(1), ms(2000));
        // Nothing recorded yet: the minimum.
        assert_eq!(timing.remaining(Duration::ZERO), ms(1));
        assert_eq!(timing.remaining(ms(5)), Duration::ZERO);
        timing.record(ms(160));
        assert_eq!(timing.remaining(ms(10)), ms(150));
        // Faster work afterwards lowers the floor a sixteenth at a time.
        timing.record(ms(1));
        assert_eq!(timing.remaining(Duration::ZERO), ms(150));
        for _ in 0..200 {
            timing.record(Duration::ZERO);
        }
        assert_eq!(timing.remaining(Duration::ZERO), ms(1));
        // Never above the maximum.
        timing.record(Duration::from_secs(3600));
        assert_eq!(timing.remaining(Duration::ZERO), ms(2000));
    }

    fn mail(kind: MailKind) -> Mail<'static> {
        Mail {
            kind,
            app_name: "Tessera",
            to: "ada@example.com",
            name: "<Ada>",
            url: "https://app.example/api/auth/verify-email?token=a.b.c&callbackURL=%2F",
            new_email: Some("new@example.com"),
        }
    }

    #[test]
    fn every_message_carries_its_link_in_both_bodies() {
        for kind in [
            MailKind::VerifyEmail,
            MailKind::ResetPassword,
            MailKind::ChangeEmailConfirmation,
            MailKind::DeleteAccount,
        ] {
            let m = DefaultTemplates.render(&mail(kind));
            assert_eq!(m.kind, kind);
            assert_eq!(m.to, "ada@example.com");
            assert!(m.text.contains(mail(kind).url), "{kind:?}");
            assert!(
                m.html.contains("token=a.b.c&amp;callbackURL=%2F"),
                "{kind:?}"
            );
            assert_eq!(m.link, mail(kind).url);
            assert!(m.subject.contains("Tessera"));
        }
    }

    #[test]
    fn user_text_is_escaped_in_html() {
        let m = DefaultTemplates.render(&mail(MailKind::VerifyEmail));
        assert!(m.html.contains("Hello &lt;Ada&gt;,"));
        assert!(!m.html.contains("<Ada>"));
        assert!(m.text.contains("Hello <Ada>,"));
    }

    #[test]
    fn a_change_of_email_names_the_new_address() {
        let m = DefaultTemplates.render(&mail(MailKind::ChangeEmailConfirmation));
        assert!(m.text.contains("new@example.com"));
    }
}

/// An answer time that does not tell which path a request took, such as
/// whether `/request-password-reset` found the address: every answer waits
/// until the slowest recent time of the path that does the work (storing a
/// record, handing over a message), and never less than a minimum. The
/// work's time is recorded as it happens and decays by a sixteenth with
/// each new record, so one slow store write raises the floor only for a
/// while. Lock-free; shared by every request of one [`crate::Auth`].
#[derive(Debug)]
pub(crate) struct EvenTiming {
    /// Microseconds.
    slowest_us: AtomicU64,
    min: Duration,
    max: Duration,
}

impl EvenTiming {
    /// A floor of at least `min` and at most `max`.
    pub(crate) const fn new(min: Duration, max: Duration) -> Self {
        EvenTiming {
            slowest_us: AtomicU64::new(0),
            min,
            max,
        }
    }

    /// Records how long the working path took.
    pub(crate) fn record(&self, took: Duration) {
        let took = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let _ = self
            .slowest_us
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |cur| {
                Some(took.max(cur - cur / 16))
            });
    }

    /// What is left to wait, `elapsed` into a request, for it to answer
    /// at the floor.
    pub(crate) fn remaining(&self, elapsed: Duration) -> Duration {
        let slowest = Duration::from_micros(self.slowest_us.load(Ordering::Relaxed));
        slowest.clamp(self.min, self.max).saturating_sub(elapsed)
    }
}
