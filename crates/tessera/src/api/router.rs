//! The route table. Hooks are selected per route when the table
//! is built, so a request pays only for the hooks that apply to it.

use std::collections::HashMap;
use std::sync::Arc;

use http::Method;

use crate::plugin::{AfterHook, BeforeHook, Hook, HookKind, Route};

/// A route with the hooks that apply to it, in order.
pub(crate) struct RouteEntry {
    pub(crate) route: Route,
    pub(crate) before: Vec<Arc<dyn BeforeHook>>,
    pub(crate) after: Vec<Arc<dyn AfterHook>>,
    /// Run after `after`, on the final result.
    pub(crate) finally: Vec<Arc<dyn AfterHook>>,
}

/// Paths to their routes, under a fast hash (foldhash): the table is fixed
/// once built, so a client's path can only probe it, never grow it.
type Table = HashMap<String, Vec<RouteEntry>, foldhash::fast::RandomState>;

/// The route table, built once: one hash probe by path (no allocation),
/// then the method among the few a path has.
#[derive(Default)]
pub(crate) struct Router {
    routes: Table,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("paths", &self.routes.len())
            .finish()
    }
}

impl Router {
    /// The table for `routes` (later ones replace earlier ones with the same
    /// method and path, as plugin endpoints replace core ones), with each
    /// route's hooks selected from `hooks` in order.
    pub(crate) fn build(routes: Vec<Route>, hooks: &[Hook]) -> Self {
        let mut table = Table::default();
        for route in routes {
            let matching = || {
                hooks
                    .iter()
                    .filter(|h| h.matcher.matches(&route.method, &route.path))
            };
            let before = matching()
                .filter_map(|h| match &h.kind {
                    HookKind::Before(b) => Some(b.clone()),
                    _ => None,
                })
                .collect();
            let after = matching()
                .filter_map(|h| match &h.kind {
                    HookKind::After(a) => Some(a.clone()),
                    _ => None,
                })
                .collect();
            let finally = matching()
                .filter_map(|h| match &h.kind {
                    HookKind::Finally(f) => Some(f.clone()),
                    _ => None,
                })
                .collect();
            let entries = table.entry(route.path.clone()).or_default();
            entries.retain(|e| e.route.method != route.method);
            entries.push(RouteEntry {
                route,
                before,
                after,
                finally,
            });
        }
        Router { routes: table }
    }

    pub(crate) fn get(&self, method: &Method, path: &str) -> Option<&RouteEntry> {
        self.routes
            .get(path)?
            .iter()
            .find(|e| e.route.method == *method)
    }

    /// Every route, for listings and tests.
    pub(crate) fn routes(&self) -> impl Iterator<Item = &Route> {
        self.routes.values().flatten().map(|e| &e.route)
    }
}
