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
/// then the method among the few a path has. A route whose last segment
/// is a parameter (`/callback/:id`) is found by its prefix when no exact
/// path matches: a second probe, on misses only.
#[derive(Default)]
pub(crate) struct Router {
    routes: Table,
    /// `/callback/:id` under `/callback/`.
    with_param: Table,
}

/// The route at `key` for `method`.
fn entry<'t>(table: &'t Table, key: &str, method: &Method) -> Option<&'t RouteEntry> {
    table.get(key)?.iter().find(|e| e.route.method == *method)
}

/// `/callback/` for `/callback/:id`: the prefix of a path whose last
/// segment is a parameter.
fn param_prefix(path: &str) -> Option<&str> {
    let cut = path.rfind('/')?;
    path[cut + 1..].starts_with(':').then(|| &path[..=cut])
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
        let mut with_param = Table::default();
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
            let (map, key) = match param_prefix(&route.path) {
                Some(prefix) => (&mut with_param, prefix.to_owned()),
                None => (&mut table, route.path.clone()),
            };
            let entries = map.entry(key).or_default();
            entries.retain(|e| e.route.method != route.method);
            entries.push(RouteEntry {
                route,
                before,
                after,
                finally,
            });
        }
        Router {
            routes: table,
            with_param,
        }
    }

    pub(crate) fn get(&self, method: &Method, path: &str) -> Option<&RouteEntry> {
        if let Some(entry) = entry(&self.routes, path, method) {
            return Some(entry);
        }
        // One non-empty last segment stands for the parameter.
        let cut = path.rfind('/')?;
        if cut + 1 == path.len() {
            return None;
        }
        entry(&self.with_param, &path[..=cut], method)
    }

    /// Every route, for listings and tests.
    pub(crate) fn routes(&self) -> impl Iterator<Item = &Route> {
        self.routes
            .values()
            .chain(self.with_param.values())
            .flatten()
            .map(|e| &e.route)
    }
}
