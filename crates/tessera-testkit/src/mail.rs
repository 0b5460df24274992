//! [`Outbox`]: a [`Mailer`] that keeps every message it is handed, for
//! tests that follow the links an app mails without an SMTP server.

use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use tessera::mail::{MailError, Mailer, Message};

/// Keeps every message handed over, in order, until [`Outbox::take`].
///
/// ```
/// use std::sync::Arc;
/// use tessera::store::MemoryDatabase;
/// use tessera::{Auth, Options};
/// use tessera_testkit::mail::Outbox;
///
/// let outbox = Arc::new(Outbox::default());
/// let auth = Auth::builder(Options::new().secret("a-test-secret-of-at-least-32-chars!"))
///     .database(Arc::new(MemoryDatabase::new()))
///     .mailer(outbox.clone())
///     .build()
///     .unwrap();
/// # let _ = auth;
/// assert!(outbox.take().is_empty());
/// ```
#[derive(Debug, Default)]
pub struct Outbox(Mutex<Vec<Message>>);

#[async_trait]
impl Mailer for Outbox {
    async fn send(&self, message: Message) -> Result<(), MailError> {
        self.messages().push(message);
        Ok(())
    }
}

impl Outbox {
    /// The messages handed over since the last call, oldest first.
    pub fn take(&self) -> Vec<Message> {
        std::mem::take(&mut *self.messages())
    }

    fn messages(&self) -> std::sync::MutexGuard<'_, Vec<Message>> {
        // A test that panicked while holding it left whole messages only.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
