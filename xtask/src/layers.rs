//! The kernel's layers: no import cycle between the top-level modules of
//! `crates/tessera/src`. A module's imports are the `crate::<module>` paths
//! in its files (code and doc links alike: a doc link names the module
//! too), minus unit-test modules, which may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Top-level module name to the modules it names.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// Fails, naming each cycle, when the kernel's top-level modules import
/// one another in a cycle.
pub(crate) fn check(src: &Path) -> Result<(), String> {
    let graph = graph(src)?;
    let cycles = cycles(&graph);
    if cycles.is_empty() {
        eprintln!(
            "kernel layers: ok ({} top-level modules, no import cycle)",
            graph.len()
        );
        return Ok(());
    }
    let listed: Vec<String> = cycles.iter().map(|c| c.join(" <-> ")).collect();
    Err(format!(
        "import cycles between the kernel's top-level modules (a layer may only name layers below it, see the README's layout): {}",
        listed.join("; ")
    ))
}

fn graph(src: &Path) -> Result<Graph, String> {
    let mut files = Vec::new();
    collect(src, &mut files)?;
    let mut texts: Vec<(String, String)> = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src).map_err(|e| e.to_string())?;
        let first = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .unwrap_or_default();
        let module = first.strip_suffix(".rs").unwrap_or(first).to_owned();
        let text = fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        texts.push((module, text));
    }
    let modules: BTreeSet<String> = texts
        .iter()
        .map(|(m, _)| m.clone())
        .filter(|m| m != "lib" && m != "main")
        .collect();
    let mut graph: Graph = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    for (module, text) in &texts {
        let Some(edges) = graph.get_mut(module) else {
            continue; // the crate root may name every layer
        };
        for target in crate_paths(without_unit_tests(text)) {
            if modules.contains(target) && target != module {
                edges.insert(target.to_owned());
            }
        }
    }
    Ok(graph)
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The text before a file's `#[cfg(test)] mod tests`.
fn without_unit_tests(text: &str) -> &str {
    let mut from = 0;
    while let Some(at) = text[from..].find("#[cfg(test)]") {
        let start = from + at;
        let rest = text[start + "#[cfg(test)]".len()..].trim_start();
        if rest.starts_with("mod tests") {
            return &text[..start];
        }
        from = start + 1;
    }
    text
}

/// The `<module>` of every `crate::<module>` path.
fn crate_paths(text: &str) -> impl Iterator<Item = &str> {
    text.match_indices("crate::").filter_map(move |(at, _)| {
        // `crate::` itself, not the end of `my_crate::`.
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            return None;
        }
        let rest = &text[at + "crate::".len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(rest.len());
        (end > 0).then(|| &rest[..end])
    })
}

/// The strongly connected components of more than one module (Tarjan).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in &s.graph[v] {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph_of(edges: &[(&str, &[&str])]) -> Graph {
        edges
            .iter()
            .map(|(m, to)| (m.to_string(), to.iter().map(|t| t.to_string()).collect()))
            .collect()
    }

    #[test]
    fn finds_a_cycle_through_three_modules_and_none_in_layers() {
        let knot = graph_of(&[
            ("api", &["plugin"]),
            ("plugin", &["session"]),
            ("session", &["api", "store"]),
            ("store", &[]),
        ]);
        assert_eq!(cycles(&knot), vec![vec!["api", "plugin", "session"]]);
        let layered = graph_of(&[
            ("api", &["plugin", "session"]),
            ("plugin", &["session"]),
            ("session", &["store"]),
            ("store", &[]),
        ]);
        assert!(cycles(&layered).is_empty());
    }

    #[test]
    fn reads_crate_paths_outside_unit_tests() {
        let text = "use crate::store::X;\n/// [`crate::cache::Y`]\nuse other_crate::api;\n#[cfg(test)]\nmod tests { use crate::api::Z; }";
        let found: Vec<&str> = crate_paths(without_unit_tests(text)).collect();
        assert_eq!(found, ["store", "cache"]);
    }

    #[test]
    fn the_kernel_has_no_cycle() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/tessera/src");
        check(&src).unwrap();
    }
}
