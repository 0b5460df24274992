//! The built-in page (`TESSERA_UI`): a sign-in page at `/` and its assets
//! under `/ui/`, embedded in the binary, beside the auth API on one
//! listener.
//!
//! The page is ours, plain HTML, CSS and JavaScript with no build step. It
//! gets what it cannot know from `/ui/config.json` (the API's base path, the
//! OAuth providers, whether multi-session is on) and talks to the API with
//! `fetch`, like any front end on the server's origin: the API's origin
//! checks apply to it unchanged.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{
    HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Body;
use tessera::Auth;
use tessera_hyper::AuthService;

/// Every response of the page's: its own files only, no inline code, no
/// framing, forms and fetches to this origin only.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("ui/index.html");
const APP_CSS: &str = include_str!("ui/app.css");
const APP_JS: &str = include_str!("ui/app.js");

/// One file the page serves.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    cache_control: &'static str,
    body: Bytes,
}

/// The page's files, the configuration built from `auth`.
#[derive(Clone)]
pub struct Page {
    assets: Arc<[Asset]>,
}

impl Page {
    /// The page for `auth`: its configuration is fixed at start-up, as the
    /// providers and plugins are.
    pub fn new(auth: &Auth) -> Page {
        // The files change with the binary, not their names: revalidate.
        let file = |path, content_type, body: &'static str| Asset {
            path,
            content_type,
            cache_control: "no-cache",
            body: Bytes::from_static(body.as_bytes()),
        };
        Page {
            assets: Arc::new([
                file("/", "text/html; charset=utf-8", INDEX_HTML),
                file("/ui/app.css", "text/css; charset=utf-8", APP_CSS),
                file("/ui/app.js", "text/javascript; charset=utf-8", APP_JS),
                Asset {
                    path: "/ui/config.json",
                    content_type: "application/json",
                    cache_control: "no-store",
                    body: Bytes::from(config_json(auth).to_string()),
                },
            ]),
        }
    }

    /// The answer for `method` `path` if the page has that path.
    fn respond(&self, method: &Method, path: &str) -> Option<Response<Full<Bytes>>> {
        let asset = self.assets.iter().find(|a| a.path == path)?;
        let builder = Response::builder()
            .header(CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY_VALUE)
            .header(X_CONTENT_TYPE_OPTIONS, "nosniff")
            .header(REFERRER_POLICY, "no-referrer")
            .header(X_FRAME_OPTIONS, "DENY");
        let res = if method == Method::GET || method == Method::HEAD {
            builder
                .header(CONTENT_TYPE, asset.content_type)
                .header(CACHE_CONTROL, asset.cache_control)
                .body(Full::new(asset.body.clone()))
        } else {
            builder
                .status(StatusCode::METHOD_NOT_ALLOWED)
                .header(ALLOW, HeaderValue::from_static("GET, HEAD"))
                .body(Full::new(Bytes::new()))
        };
        Some(res.expect("static headers are valid"))
    }
}

/// `/ui/config.json`: what the page needs to know of this server. All of
/// it is public: the sign-in API tells the same to anyone who asks.
fn config_json(auth: &Auth) -> serde_json::Value {
    let providers: Vec<serde_json::Value> = auth
        .oauth_providers()
        .map(|p| serde_json::json!({ "id": p.id(), "name": p.name() }))
        .collect();
    serde_json::json!({
        "basePath": auth.base_path(),
        "providers": providers,
        "multiSession": auth.plugin_ids().contains(&"multi-session"),
    })
}

/// The auth API, and the page when there is one, on one service: the API
/// keeps every path it owns; the page answers its own paths among the
/// rest; everything else gets the API's 404.
#[derive(Clone)]
pub struct Site {
    api: AuthService,
    page: Option<Page>,
}

impl Site {
    /// The API of `auth`, with the page when `ui`.
    pub fn new(auth: Auth, ui: bool) -> Site {
        let page = ui.then(|| Page::new(&auth));
        Site {
            api: AuthService::new(auth),
            page,
        }
    }
}

type SiteFuture = Pin<Box<dyn Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send>>;

impl<B> hyper::service::Service<Request<B>> for Site
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = SiteFuture;

    fn call(&self, req: Request<B>) -> Self::Future {
        let path = req.uri().path();
        if let Some(page) = &self.page {
            if !self.api.auth().owns_path(path) {
                if let Some(res) = page.respond(req.method(), path) {
                    return Box::pin(std::future::ready(Ok(res)));
                }
            }
        }
        hyper::service::Service::call(&self.api, req)
    }
}
