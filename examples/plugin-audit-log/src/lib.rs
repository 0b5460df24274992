//! # tessera-plugin-audit-log
//!
//! An example of a third-party Tessera plugin, written against the
//! kernel's public API only: it records sign-ups, sign-ins and sign-outs
//! (user, event, time from the `Auth`'s clock, client IP) in memory, and
//! serves the signed-in user's events at `GET /audit-log` (401 without a
//! session).
//!
//! - after hooks on `/sign-up/email` and `/sign-in/email` record the
//!   session the endpoint created (`ctx.new_session()`); a failed sign-in
//!   records nothing;
//! - a before hook on `/sign-out` resolves the session while it still
//!   exists, and an after hook records it once the sign-out succeeded.
//!
//! Registered on the builder (keep an `Arc` to read the log from Rust):
//!
//! ```
//! use std::sync::Arc;
//!
//! use bytes::Bytes;
//! use tessera::{store::MemoryDatabase, Auth, Options};
//! use tessera_plugin_audit_log::{AuditLog, EventKind};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let audit = Arc::new(AuditLog::new());
//! let auth = Auth::builder(
//!     Options::new()
//!         .secret("a-long-random-secret-of-at-least-32-characters!")
//!         .base_url("http://localhost:3000"),
//! )
//! .database(Arc::new(MemoryDatabase::new()))
//! .plugin(audit.clone())
//! .build()
//! .unwrap();
//!
//! let sign_up = http::Request::post("/api/auth/sign-up/email")
//!     .header("origin", "http://localhost:3000")
//!     .header("content-type", "application/json")
//!     .body(Bytes::from(r#"{"email":"ada@example.com","password":"password1234","name":"Ada"}"#))
//!     .unwrap();
//! let res = auth.handle(sign_up).await;
//! let body: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
//! let user_id = body["user"]["id"].as_str().unwrap();
//!
//! let events = audit.log().events_for(user_id);
//! assert_eq!(events[0].event, EventKind::SignUp);
//! # }
//! ```
//!
//! or enabled by id (`Options::plugins`, `TESSERA_PLUGINS=audit-log`) after
//! calling [`link`], which keeps this crate, and so its `inventory`
//! registration, in the binary:
//!
//! ```
//! tessera_plugin_audit_log::link();
//! let mut options =
//!     tessera::Options::new().secret("a-long-random-secret-of-at-least-32-characters!");
//! options.plugins = vec!["audit-log".into()];
//! let auth = tessera::Auth::builder(options).build().unwrap();
//! assert!(auth.routes().contains(&"GET /audit-log".to_owned()));
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod hooks;
mod log;

use std::sync::Arc;

use http::{header, HeaderValue};
use tessera::plugin::{Hook, Matcher, Plugin, PluginRegistration};
use tessera::{Reply, ResolveOptions, Route};

pub use log::{AuditEvent, EventKind, EventLog, DEFAULT_EVENTS_PER_USER};

use hooks::{record_sign_in, record_sign_out, resolve_before_sign_out};

/// The plugin's id.
pub const ID: &str = "audit-log";

/// The endpoint's path, relative to the base path.
pub const PATH: &str = "/audit-log";

/// The audit-log plugin over an [`EventLog`].
#[derive(Clone, Debug, Default)]
pub struct AuditLog {
    log: EventLog,
}

impl AuditLog {
    /// The plugin with a fresh, empty log.
    pub fn new() -> Self {
        AuditLog::with_log(EventLog::new())
    }

    /// The plugin recording into `log` (e.g. one shared with your app).
    pub fn with_log(log: EventLog) -> Self {
        AuditLog { log }
    }

    /// The log it records into.
    pub fn log(&self) -> &EventLog {
        &self.log
    }
}

/// Endpoint and hooks are closures: shorter than a struct and a trait impl
/// each, and as cheap (the kernel boxes an impl's future too).
impl Plugin for AuditLog {
    fn id(&self) -> &'static str {
        ID
    }

    /// `GET /audit-log`: the signed-in user's events, oldest first.
    fn endpoints(&self) -> Vec<Route> {
        let log = self.log.clone();
        vec![Route::get(PATH, move |ctx| {
            let log = log.clone();
            Box::pin(async move {
                // 401 `UNAUTHORIZED` without a session, as better-auth's
                // `sessionMiddleware`; a refresh lands in this response's cookies.
                let current = ctx.require_session(ResolveOptions::default()).await?;
                let events = log.events_for(&current.user.id);
                Ok(Reply::json(&events)
                    .with_header(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            })
        })]
    }

    /// Matchers are evaluated once, when the route table is built: other
    /// routes pay nothing for these hooks.
    fn hooks(&self) -> Vec<Hook> {
        let path = |p: &str| Matcher::Path(p.to_owned());
        vec![
            Hook::after_fn(
                path("/sign-up/email"),
                record_sign_in(self.log.clone(), EventKind::SignUp),
            ),
            Hook::after_fn(
                path("/sign-in/email"),
                record_sign_in(self.log.clone(), EventKind::SignIn),
            ),
            Hook::before_fn(path("/sign-out"), resolve_before_sign_out),
            Hook::after_fn(path("/sign-out"), record_sign_out(self.log.clone())),
        ]
    }
}

fn create() -> Arc<dyn Plugin> {
    Arc::new(AuditLog::new())
}

inventory::submit! {
    PluginRegistration {
        id: ID,
        crate_name: env!("CARGO_PKG_NAME"),
        create,
    }
}

/// Keeps this crate, and so its registration, in the final binary. Call it
/// once (anywhere) from a binary that enables the plugin by id: a crate
/// nothing refers to may be dropped by the linker, registration included.
#[inline(never)]
pub fn link() {
    std::hint::black_box(ID);
}
