//! # axum-app
//!
//! A small axum application on Tessera, the program `cargo run -p axum-app`
//! starts (see `README.md` beside this crate):
//!
//! - the auth API under `/api/auth`, with better-auth's `multiSession` and
//!   the `customSession` function from better-auth's docs ([`WithRoles`]);
//! - `GET /`: public, `hello, anonymous` or `hello, <name>`;
//! - `GET /me`: protected, the custom session as JSON (401 without one);
//! - the account lifecycle's mail (email verification, password reset)
//!   over SMTP with `TESSERA_SMTP_URL` and `TESSERA_MAIL_FROM`, to the log
//!   in development without them ([`MailChoice`]); [`serve`] delivers what
//!   is queued before it returns;
//! - `axum-app --emit-client-types <file>`: the session's shape as
//!   TypeScript for better-auth's `customSessionClient` ([`client_types`]).
//!
//! Split into a library so its test can start the same router:
//!
//! ```
//! use axum_app::{app, build, Config};
//!
//! let config = Config::from_vars(|name| match name {
//!     "BETTER_AUTH_SECRET" => Some("a-long-random-secret-of-at-least-32-characters!".into()),
//!     _ => None,
//! })
//! .unwrap();
//! let state = build(config).unwrap();
//! let router: axum::Router = app(state);
//! # let _ = router;
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use axum::response::Json;
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use tessera::mail::LogMailer;
use tessera::store::MemoryDatabase;
use tessera::{ApiError, Auth, BuildError, Session, SessionWithUser};
use tessera_axum::{OptionalSession, SessionLayer, Shaped};
use tessera_custom_session::typescript::{BetterAuthSession, BetterAuthUser};
use tessera_custom_session::{CustomSession, RequestInfo, SessionShaper};
use tessera_multi_session::MultiSession;
use tessera_smtp::SmtpMailer;
use tokio::net::TcpListener;
use ts_rs::TS;

pub use config::{Config, ConfigError, MailChoice, Storage};

/// How long [`serve`] waits, once stopped, for queued mail to go out.
pub const MAIL_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// better-auth's `customSession` docs example: the user's roles next to
/// the session, and a new field on the user.
///
/// ```js
/// customSession(async ({ user, session }) => ({
///   roles: ["user"],
///   user: { ...user, newField: "newField" },
///   session,
/// }))
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct WithRoles;

/// What [`WithRoles`] makes of a session: `/get-session`'s body, and `/me`'s.
/// Its TypeScript ([`client_types`]) is derived from it.
#[derive(Clone, Debug, Serialize, TS)]
pub struct AppSession {
    /// Always `["user"]` here; a real app would look them up.
    pub roles: Vec<&'static str>,
    /// The user, with `newField`.
    pub user: AppUser,
    /// The session.
    #[ts(as = "BetterAuthSession")]
    pub session: Session,
}

/// The user as [`WithRoles`] shapes it: better-auth's user and `newField`.
#[derive(Clone, Debug, Serialize, TS)]
pub struct AppUser {
    /// The user's own fields.
    #[serde(flatten)]
    pub user: BetterAuthUser,
    /// Always `"newField"` here.
    #[serde(rename = "newField")]
    pub new_field: String,
}

impl SessionShaper for WithRoles {
    type Output = AppSession;

    async fn shape(
        &self,
        s: SessionWithUser,
        _req: &RequestInfo<'_>,
    ) -> Result<AppSession, ApiError> {
        let SessionWithUser { session, user } = s;
        Ok(AppSession {
            roles: vec!["user"],
            user: AppUser {
                user: user.into(),
                new_field: "newField".into(),
            },
            session,
        })
    }
}

/// The declaration file (`.d.ts`) a front end types better-auth's client
/// with, `customSessionClient<TesseraAuth>()`: [`AppSession`] as TypeScript
/// (what `--emit-client-types` writes).
pub fn client_types() -> String {
    CustomSession::<WithRoles>::client_types()
}

/// What the routes share.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The kernel.
    pub auth: Auth,
    /// The custom-session plugin, for its function on application routes.
    pub custom: Arc<CustomSession<WithRoles>>,
    /// The SMTP mailer when mail goes over SMTP: the kernel holds a clone,
    /// and [`serve`] drains its queue at shutdown.
    pub smtp: Option<SmtpMailer>,
}

/// Builds the kernel with both plugins from `config` (its listen address
/// aside): the options, the storage and the mailer.
///
/// # Panics
///
/// Outside a tokio runtime when mail goes over SMTP (the delivery task is
/// spawned on the current runtime).
pub fn build(config: Config) -> Result<AppState, BuildError> {
    build_with_oauth(config, OAuthProviders::default())
}

/// OAuth providers, made ready ([`tessera::oauth::Provider::discover`]),
/// and the client that reaches them.
#[derive(Default)]
pub struct OAuthProviders {
    /// The providers.
    pub providers: Vec<tessera::oauth::Provider>,
    /// Their HTTP client (required when there is a provider).
    pub client: Option<Arc<dyn tessera::oauth::HttpClient>>,
}

/// [`build`] with OAuth providers (`/sign-in/social`, `/callback/<id>`).
///
/// # Panics
///
/// As [`build`].
pub fn build_with_oauth(config: Config, oauth: OAuthProviders) -> Result<AppState, BuildError> {
    let custom = Arc::new(CustomSession::with_shaper(WithRoles));
    let mut builder = Auth::builder(config.options)
        .plugin(Arc::new(MultiSession::new()))
        .plugin(custom.clone());
    if config.storage == Storage::Memory {
        builder = builder.database(Arc::new(MemoryDatabase::new()));
    }
    let smtp = match config.mail {
        MailChoice::Smtp(smtp) => {
            let mailer = SmtpMailer::start(*smtp);
            builder = builder.mailer(Arc::new(mailer.clone()));
            Some(mailer)
        }
        MailChoice::Log => {
            builder = builder.mailer(Arc::new(LogMailer));
            None
        }
        MailChoice::None => None,
    };
    for provider in oauth.providers {
        builder = builder.oauth_provider(provider);
    }
    if let Some(client) = oauth.client {
        builder = builder.http_client(client);
    }
    Ok(AppState {
        auth: builder.build()?,
        custom,
        smtp,
    })
}

/// Serves [`app`] on `listener` until `shutdown` completes, lets the
/// requests in flight finish, then delivers the mail they queued (at most
/// [`MAIL_DRAIN_TIMEOUT`]; what is left is logged).
///
/// # Errors
///
/// When the server fails.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let smtp = state.smtp.clone();
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    if let Some(smtp) = smtp {
        if let Err(e) = smtp.shutdown(MAIL_DRAIN_TIMEOUT).await {
            tracing::error!(error = %e, "mail left in the queue at shutdown");
        }
    }
    Ok(())
}

/// The application: `/` and `/me` behind the session layer, the auth API
/// beside them.
pub fn app(state: AppState) -> Router {
    let auth = state.auth.clone();
    Router::new()
        .route("/", get(home))
        .route("/me", get(me))
        .layer(SessionLayer::new(auth.clone()))
        .with_state(state)
        .merge(tessera_axum::router(auth))
}

async fn home(OptionalSession(session): OptionalSession) -> String {
    match session {
        Some(s) => format!("hello, {}", s.user.name),
        None => "hello, anonymous".to_owned(),
    }
}

/// The custom session: the plugin's function applied to the session the
/// layer already resolved (no second lookup, no second refresh); signed
/// out, better-auth's 401.
async fn me(Shaped(shaped): Shaped<WithRoles>) -> Json<<WithRoles as SessionShaper>::Output> {
    Json(shaped)
}

impl FromRef<AppState> for Auth {
    fn from_ref(app: &AppState) -> Auth {
        app.auth.clone()
    }
}

impl FromRef<AppState> for Arc<CustomSession<WithRoles>> {
    fn from_ref(app: &AppState) -> Self {
        app.custom.clone()
    }
}
