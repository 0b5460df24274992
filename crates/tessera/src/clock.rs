//! Time, injected: every part of the kernel asks a [`Clock`] for "now".

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Timestamp;

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The operating system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp::from_millis(ms)
    }
}

/// A clock that only moves when told to; clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use tessera::{Clock, TestClock, Timestamp};
///
/// let clock = TestClock::at(Timestamp::from_millis(1_000));
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(clock.now().as_millis(), 61_000);
/// ```
#[derive(Clone, Debug)]
pub struct TestClock {
    ms: Arc<AtomicI64>,
}

impl TestClock {
    /// A clock stopped at `t`.
    pub fn at(t: Timestamp) -> Self {
        TestClock {
            ms: Arc::new(AtomicI64::new(t.as_millis())),
        }
    }

    /// Sets the time.
    pub fn set(&self, t: Timestamp) {
        self.ms.store(t.as_millis(), Ordering::SeqCst);
    }

    /// Moves the time forward.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.ms.load(Ordering::SeqCst))
    }
}
