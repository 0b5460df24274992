//! better-auth's `multiSession` plugin for Tessera (spec §9): several
//! accounts signed in on one device, each remembered in its own signed
//! device cookie `${session_token}_multi-${token.toLowerCase()}`.
//!
//! - Every sign-in (any endpoint that sets a session) adds a device cookie
//!   for the new session, replacing the device's earlier session of the same
//!   user, up to [`MultiSession::maximum_sessions`] accounts.
//! - `GET /multi-session/list-device-sessions` lists one live session per
//!   account; `POST /multi-session/set-active` switches the active session;
//!   `POST /multi-session/revoke` ends one of them.
//! - `POST /sign-out` signs every account on the device out.
//!
//! Only device cookies whose signature verifies and whose name is their own
//! token's are acted on, each token once and no more than
//! `maximum_sessions` of them (the rest are ignored): a forged or replayed
//! cookie is ignored everywhere, and no `Cookie` header makes a request
//! look up more than `maximum_sessions` device sessions.
//!
//! A device cookie is a credential, so it is issued only when the final
//! response, after every plugin's hooks, succeeds and sets that session's
//! `session_token` cookie (a second-factor plugin that withholds the
//! session withholds its device cookie too).
//!
//! ```
//! use std::sync::Arc;
//!
//! use bytes::Bytes;
//! use tessera::{store::MemoryDatabase, Auth, Options};
//! use tessera_multi_session::MultiSession;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let auth = Auth::builder(
//!     Options::new()
//!         .secret("a-long-random-secret-of-at-least-32-characters!")
//!         .base_url("http://localhost:3000"),
//! )
//! .database(Arc::new(MemoryDatabase::new()))
//! .plugin(Arc::new(MultiSession::with_maximum_sessions(3)))
//! .build()
//! .unwrap();
//! assert_eq!(auth.plugin_ids(), ["multi-session"]);
//!
//! // A device without device cookies has no device sessions.
//! let req = http::Request::get("/api/auth/multi-session/list-device-sessions")
//!     .body(Bytes::new())
//!     .unwrap();
//! assert_eq!(auth.handle(req).await.body().as_ref(), b"[]");
//! # }
//! ```
//!
//! The crate also registers the plugin with its defaults for enabling by id
//! (`Options::plugins`, `TESSERA_PLUGINS=multi-session`); a binary doing so
//! must reference the crate, e.g. by calling [`link`].

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod device;
mod endpoints;
mod hooks;

use std::sync::Arc;

use http::{Method, StatusCode};
use tessera::plugin::{ErrorCode, Hook, Matcher, Plugin, PluginRegistration};
use tessera::Route;

pub use device::{device_cookie_name, is_device_cookie};

/// The plugin's id.
pub const ID: &str = "multi-session";

/// The default [`MultiSession::maximum_sessions`] (better-auth's
/// `maximumSessions`).
pub const DEFAULT_MAXIMUM_SESSIONS: usize = 5;

/// 401: the device cookie for the requested token is missing, forged, or
/// its session is gone.
pub const INVALID_SESSION_TOKEN: ErrorCode = ErrorCode {
    status: StatusCode::UNAUTHORIZED,
    code: "INVALID_SESSION_TOKEN",
    message: "Invalid session token",
};

/// The multi-session plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MultiSession {
    maximum_sessions: usize,
}

impl MultiSession {
    /// The plugin with better-auth's defaults (5 accounts per device).
    pub fn new() -> Self {
        MultiSession::with_maximum_sessions(DEFAULT_MAXIMUM_SESSIONS)
    }

    /// The plugin with another `maximumSessions`.
    pub fn with_maximum_sessions(maximum_sessions: usize) -> Self {
        MultiSession { maximum_sessions }
    }

    /// How many accounts one device may hold. A sign-in that would make
    /// more still signs in, but gets no device cookie.
    pub fn maximum_sessions(&self) -> usize {
        self.maximum_sessions
    }
}

impl Default for MultiSession {
    fn default() -> Self {
        MultiSession::new()
    }
}

impl Plugin for MultiSession {
    fn id(&self) -> &'static str {
        ID
    }

    fn endpoints(&self) -> Vec<Route> {
        vec![
            Route::new(
                Method::GET,
                "/multi-session/list-device-sessions",
                Arc::new(endpoints::ListDeviceSessions {
                    maximum_sessions: self.maximum_sessions,
                }),
            ),
            Route::new(
                Method::POST,
                "/multi-session/set-active",
                Arc::new(endpoints::SetActive),
            ),
            Route::new(
                Method::POST,
                "/multi-session/revoke",
                Arc::new(endpoints::Revoke {
                    maximum_sessions: self.maximum_sessions,
                }),
            ),
        ]
    }

    fn hooks(&self) -> Vec<Hook> {
        vec![
            // Last, on the final response: a device cookie is a credential,
            // issued only if the response really signs the session in,
            // whatever other plugins' hooks made of it.
            Hook::finally(
                Matcher::All,
                hooks::RememberNewSession {
                    maximum_sessions: self.maximum_sessions,
                },
            ),
            Hook::after(
                Matcher::Path("/sign-out".to_owned()),
                hooks::SignOutDevice {
                    maximum_sessions: self.maximum_sessions,
                },
            ),
        ]
    }

    fn error_codes(&self) -> Vec<ErrorCode> {
        vec![INVALID_SESSION_TOKEN]
    }
}

inventory::submit! {
    PluginRegistration {
        id: ID,
        crate_name: env!("CARGO_PKG_NAME"),
        create: || Arc::new(MultiSession::new()),
    }
}

/// Keeps this crate, and so its registration, in the final binary. Call it
/// once (anywhere) from a binary that enables the plugin by id.
#[inline(never)]
pub fn link() {
    std::hint::black_box(ID);
}
