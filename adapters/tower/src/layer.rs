//! [`SessionLayer`]: wraps services in [`SessionService`].

use tessera::Auth;
use tower_layer::Layer;

use crate::{PlainHttp, SessionService};

/// Wraps every service it is applied to in a [`SessionService`] resolving
/// sessions with one [`Auth`].
///
/// ```
/// use tessera::{Auth, Options};
/// use tessera_tower::SessionLayer;
/// use tower::ServiceBuilder;
///
/// # fn main() -> Result<(), tessera::BuildError> {
/// let auth = Auth::builder(
///     Options::new().secret("a-long-random-secret-of-at-least-32-characters!"),
/// )
/// .build()?;
/// let layer = SessionLayer::new(auth);
/// let app = ServiceBuilder::new()
///     .layer(layer)
///     .service_fn(|_req: http::Request<bytes::Bytes>| async {
///         Ok::<_, std::convert::Infallible>(http::Response::new(bytes::Bytes::new()))
///     });
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct SessionLayer<D = PlainHttp> {
    auth: Auth,
    dialect: D,
}

impl SessionLayer {
    /// A layer resolving sessions with `auth`, for plain `http` services.
    pub fn new(auth: Auth) -> Self {
        SessionLayer::with_dialect(auth, PlainHttp)
    }
}

impl<D> SessionLayer<D> {
    /// A layer resolving sessions with `auth` for services that speak
    /// `dialect`.
    pub fn with_dialect(auth: Auth, dialect: D) -> Self {
        SessionLayer { auth, dialect }
    }
}

impl<S, D: Clone> Layer<S> for SessionLayer<D> {
    type Service = SessionService<S, D>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService::with_dialect(self.auth.clone(), inner, self.dialect.clone())
    }
}
