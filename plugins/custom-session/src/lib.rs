//! better-auth's `customSession` for Tessera (spec §8): your function
//! shapes what `/get-session` answers.
//!
//! The plugin replaces `GET /get-session`. It runs the core resolution
//! (cookie cache, store, refresh by `updateAge`, the `disableCookieCache`
//! and `disableRefresh` query flags) and then:
//!
//! - no session: the body is `null` and the function is **not** called;
//! - a session: the body is exactly what the function returns, serialized
//!   as JSON. It replaces the whole body: put `session` and `user` back
//!   yourself if clients need them.
//!
//! The cookie work of the resolution (a refresh, a cache rewrite) is always
//! in the response, and `Cache-Control: no-store` / `Pragma: no-cache` are
//! kept. An error from the function is the response (its status and
//! `{"message", "code"}`), never `null` and never a sign-out.
//!
//! ```
//! use std::sync::Arc;
//!
//! use bytes::Bytes;
//! use http::Request;
//! use serde_json::{json, Value};
//! use tessera::{Auth, Options, SessionWithUser};
//! use tessera_custom_session::CustomSession;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // better-auth's docs example: roles, and a new field on the user.
//! let custom = Arc::new(CustomSession::new(|s, _req| async move {
//!     let SessionWithUser { session, mut user } = s;
//!     user.extra.insert("newField".into(), "newField".into());
//!     Ok(json!({ "roles": ["user"], "user": user, "session": session }))
//! }));
//! let auth = Auth::builder(
//!     Options::new()
//!         .secret("a-long-random-secret-of-at-least-32-characters!")
//!         .base_url("http://localhost:3000"),
//! )
//! .plugin(custom.clone())
//! .build()
//! .unwrap();
//!
//! // Sign up, keep the session cookie.
//! let sign_up = Request::post("/api/auth/sign-up/email")
//!     .header("origin", "http://localhost:3000")
//!     .header("content-type", "application/json")
//!     .body(Bytes::from(r#"{"email":"ada@example.com","password":"password1234","name":"Ada"}"#))
//!     .unwrap();
//! let res = auth.handle(sign_up).await;
//! let cookie: Vec<&str> = res
//!     .headers()
//!     .get_all("set-cookie")
//!     .iter()
//!     .map(|v| v.to_str().unwrap().split(';').next().unwrap())
//!     .collect();
//! let cookie = cookie.join("; ");
//!
//! // Over HTTP: the function's body.
//! let get = Request::get("/api/auth/get-session")
//!     .header("cookie", cookie.as_str())
//!     .body(Bytes::new())
//!     .unwrap();
//! let body: Value = serde_json::from_slice(auth.handle(get).await.body()).unwrap();
//! assert_eq!(body["roles"], json!(["user"]));
//! assert_eq!(body["user"]["newField"], "newField");
//!
//! // In an application route: the same value, typed, with its cookies.
//! let mut headers = http::HeaderMap::new();
//! headers.insert("cookie", cookie.parse().unwrap());
//! let outcome = custom.session(&auth, &headers).await.unwrap();
//! let shaped: Value = outcome.session.unwrap();
//! assert_eq!(shaped["user"]["email"], "ada@example.com");
//! # }
//! ```
//!
//! # Registration: on the builder only
//!
//! The plugin needs your function, so it cannot be made from an id: it is
//! **not** in the link-time registry, and `Options::plugins` /
//! `TESSERA_PLUGINS` cannot enable it. Add it with
//! [`tessera::AuthBuilder::plugin`]; keep an `Arc` of it for the typed
//! getter [`CustomSession::session`].
//!
//! # `deferSessionRefresh`
//!
//! With `session.defer_session_refresh` on, `GET /get-session` is a
//! read-only resolution and `"needsRefresh": bool` is appended to the body
//! **when the function returns a JSON object** that has no `needsRefresh`
//! key of its own (any other body is left as is), and `POST /get-session`
//! performs the refresh and answers the function's body. Without the
//! option, `POST` answers core's 405
//! `METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED`.
//!
//! # Differences from better-auth 1.7.25
//!
//! - better-auth's replacement routes `GET` only, so with `customSession`
//!   its `POST /get-session` answers **404** (and deferred refresh is
//!   unreachable). Here `POST` behaves as in core: a refresh with
//!   `deferSessionRefresh`, 405 without.
//! - better-auth hands the function `{session, user, needsRefresh}` and
//!   drops `needsRefresh` unless the function copies it; here it is added
//!   to an object body (see above).
//! - When the function fails after a refresh, better-auth drops the
//!   refreshed cookies; here they are still set on the error response.
//! - The device-list hook shapes elements one after another, not
//!   concurrently, and answers 500 if the list is not `[{session, user}]`.
//!
//! # What it does not change
//!
//! Cached data: the cookie cache and the stores hold only the base session
//! and user, so the function runs on every `/get-session`, cache hit or
//! not. Other endpoints (`/list-sessions`, sign-in responses) and the
//! session other endpoints see are unchanged.
//!
//! # TypeScript for the front end
//!
//! With the `typescript` feature, `typescript::client_types` writes a
//! declaration file that types better-auth's client from the Rust shape:
//! `customSessionClient<TesseraAuth>()` (see the `typescript` module).
//!
//! # With the multi-session plugin
//!
//! [`CustomSession::should_mutate_list_device_sessions_endpoint`] maps
//! every `{session, user}` of a successful
//! `/multi-session/list-device-sessions` answer through the function.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod device_sessions;
mod get_session;
mod outcome;
mod shaper;
#[cfg(feature = "typescript")]
pub mod typescript;

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use http::{HeaderMap, Method};
use serde::Serialize;
use tessera::plugin::{Hook, Matcher, Plugin};
use tessera::{ApiError, Auth, Route, SessionOutcome, SessionWithUser};

pub use device_sessions::LIST_DEVICE_SESSIONS_PATH;
pub use outcome::{CustomOutcome, CustomSessionError};
pub use shaper::{RequestInfo, SessionShaper, ShapeFn};

use device_sessions::ShapeDeviceSessions;
use get_session::GetSession;

/// The plugin's id.
pub const ID: &str = "custom-session";

/// The `customSession` plugin around a [`SessionShaper`].
pub struct CustomSession<S> {
    shaper: Arc<S>,
    mutate_list_device_sessions: bool,
}

impl<S> std::fmt::Debug for CustomSession<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomSession")
            .field(
                "mutate_list_device_sessions",
                &self.mutate_list_device_sessions,
            )
            .finish_non_exhaustive()
    }
}

impl<F, Fut, T> CustomSession<ShapeFn<F>>
where
    F: Fn(SessionWithUser, &RequestInfo<'_>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, ApiError>> + Send,
    T: Serialize + Send + 'static,
{
    /// The plugin with a closure: `|session, req| async move { … }`,
    /// returning `Result<T, ApiError>` with any `T: Serialize`.
    pub fn new(f: F) -> Self {
        CustomSession::with_shaper(ShapeFn(f))
    }
}

impl<S: SessionShaper> CustomSession<S> {
    /// The plugin with a [`SessionShaper`] of your own.
    pub fn with_shaper(shaper: S) -> Self {
        CustomSession {
            shaper: Arc::new(shaper),
            mutate_list_device_sessions: false,
        }
    }

    /// better-auth's `shouldMutateListDeviceSessionsEndpoint` (default
    /// false): shape each element of `/multi-session/list-device-sessions`.
    pub fn should_mutate_list_device_sessions_endpoint(mut self, on: bool) -> Self {
        self.mutate_list_device_sessions = on;
        self
    }

    /// The function.
    pub fn shaper(&self) -> &S {
        &self.shaper
    }

    /// The function on a session already resolved (by a session layer or
    /// extractor) for an application request to `path`: what the adapters'
    /// `Shaped` extractors run.
    pub async fn shape(
        &self,
        auth: &Auth,
        session: SessionWithUser,
        headers: &HeaderMap,
        path: &str,
    ) -> Result<S::Output, ApiError> {
        let req = RequestInfo::new(headers, auth.clock().now()).with_path(path);
        self.shaper.shape(session, &req).await
    }

    /// The shaped session of an application request, typed (the analogue
    /// of `customSessionClient<typeof auth>`): [`Auth::session`], then the
    /// function on the session, with no JSON in between.
    ///
    /// Apply `cookies` to the response in every case, including the error
    /// case ([`CustomSessionError::cookies`]): a refresh may already have
    /// happened. `auth` need not have this plugin registered.
    pub async fn session(
        &self,
        auth: &Auth,
        headers: &HeaderMap,
    ) -> Result<CustomOutcome<S::Output>, CustomSessionError> {
        let SessionOutcome {
            session,
            cookies,
            needs_refresh,
        } = auth
            .session(headers)
            .await
            .map_err(|error| CustomSessionError {
                error,
                cookies: Default::default(),
            })?;
        let session = match session {
            None => None,
            Some(session) => {
                let req = RequestInfo::new(headers, auth.clock().now());
                match self.shaper.shape(session, &req).await {
                    Ok(shaped) => Some(shaped),
                    Err(error) => return Err(CustomSessionError { error, cookies }),
                }
            }
        };
        Ok(CustomOutcome {
            session,
            cookies,
            needs_refresh,
        })
    }
}

#[async_trait]
impl<S: SessionShaper> Plugin for CustomSession<S> {
    fn id(&self) -> &'static str {
        ID
    }

    /// `GET` and `POST /get-session`, replacing core's.
    fn endpoints(&self) -> Vec<Route> {
        let endpoint = Arc::new(GetSession {
            shaper: self.shaper.clone(),
        });
        vec![
            Route::new(Method::GET, get_session::PATH, endpoint.clone()),
            Route::new(Method::POST, get_session::PATH, endpoint),
        ]
    }

    fn hooks(&self) -> Vec<Hook> {
        if !self.mutate_list_device_sessions {
            return Vec::new();
        }
        vec![Hook::after(
            Matcher::Path(LIST_DEVICE_SESSIONS_PATH.to_owned()),
            ShapeDeviceSessions {
                shaper: self.shaper.clone(),
            },
        )]
    }
}
