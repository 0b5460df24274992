//! [`EventLog`]: the recorded events, in memory.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use tessera::Timestamp;

/// How many events [`EventLog::new`] keeps per user (the oldest go first).
pub const DEFAULT_EVENTS_PER_USER: usize = 100;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum EventKind {
    /// `POST /sign-up/email` created the user and signed them in.
    SignUp,
    /// `POST /sign-in/email` signed the user in.
    SignIn,
    /// `POST /sign-out` ended the user's session.
    SignOut,
}

/// One recorded event; serialised as
/// `{"event":"sign-in","userId":"…","at":"2026-…Z","ipAddress":"…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// What happened.
    pub event: EventKind,
    /// Whose account.
    pub user_id: String,
    /// When, from the `Auth`'s clock.
    pub at: Timestamp,
    /// The client's IP as the kernel resolved it; `None` when unknown.
    pub ip_address: Option<String>,
}

/// Events per user, oldest first, bounded per user. Clones share the same
/// log. The lock is only held to copy in or out, never across an `.await`.
///
/// In memory, so it is lost on restart: a real audit log would write to a
/// store of its own.
#[derive(Clone, Debug)]
pub struct EventLog {
    by_user: Arc<Mutex<HashMap<String, VecDeque<AuditEvent>>>>,
    per_user: usize,
}

impl Default for EventLog {
    fn default() -> Self {
        EventLog::new()
    }
}

impl EventLog {
    /// An empty log keeping [`DEFAULT_EVENTS_PER_USER`] events per user.
    pub fn new() -> Self {
        EventLog::with_events_per_user(DEFAULT_EVENTS_PER_USER)
    }

    /// An empty log keeping the latest `n` events per user (at least one).
    pub fn with_events_per_user(n: usize) -> Self {
        EventLog {
            by_user: Arc::default(),
            per_user: n.max(1),
        }
    }

    /// Appends an event, dropping the user's oldest beyond the bound.
    pub fn record(&self, event: AuditEvent) {
        // A panic elsewhere while holding the lock leaves the map intact
        // (every update is a single push/pop), so poisoning is ignored.
        let mut by_user = self.by_user.lock().unwrap_or_else(PoisonError::into_inner);
        let events = by_user.entry(event.user_id.clone()).or_default();
        if events.len() == self.per_user {
            events.pop_front();
        }
        events.push_back(event);
    }

    /// The events of `user_id`, oldest first.
    pub fn events_for(&self, user_id: &str) -> Vec<AuditEvent> {
        let by_user = self.by_user.lock().unwrap_or_else(PoisonError::into_inner);
        by_user
            .get(user_id)
            .map(|events| events.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(user: &str, ms: i64) -> AuditEvent {
        AuditEvent {
            event: EventKind::SignIn,
            user_id: user.to_owned(),
            at: Timestamp::from_millis(ms),
            ip_address: None,
        }
    }

    #[test]
    fn keeps_the_latest_events_per_user() {
        let log = EventLog::with_events_per_user(2);
        for ms in 1..=3 {
            log.record(event("ada", ms));
        }
        log.record(event("bob", 9));
        let at: Vec<i64> = log
            .events_for("ada")
            .iter()
            .map(|e| e.at.as_millis())
            .collect();
        assert_eq!(at, [2, 3]);
        assert_eq!(log.events_for("bob").len(), 1);
        assert!(log.events_for("eve").is_empty());
    }

    #[test]
    fn event_serialises_in_camel_case() {
        let json = serde_json::to_string(&AuditEvent {
            event: EventKind::SignOut,
            user_id: "u1".to_owned(),
            at: Timestamp::from_millis(0),
            ip_address: Some("127.0.0.1".to_owned()),
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"event":"sign-out","userId":"u1","at":"1970-01-01T00:00:00.000Z","ipAddress":"127.0.0.1"}"#
        );
    }
}
