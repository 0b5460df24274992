//! `cargo xtask bench load --against <rev>`: this checkout's
//! `tessera-bench-server` side by side with the same server built from
//! another commit, in one run.
//!
//! The other commit is checked out in a temporary git worktree and built
//! with the same target directory (its dependencies are shared); its
//! binary is copied aside before this checkout's build replaces it. Then,
//! per framework, both servers run at once (pinned to the same core, the
//! idle one asleep in its poll), each gets its own sign-up, and wrk takes
//! them in turns, `--rounds` times each: a slow spell of the machine falls
//! on both sides. The table gives each side's median run and their ratio.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{
    check_get_session, millis, sign_up, target_dir, thousands, wrk, LoadConfig, Server, WrkResult,
    GET_SESSION,
};
use crate::cargo;

/// One framework's comparison.
struct Row {
    framework: String,
    current: WrkResult,
    baseline: WrkResult,
}

/// Builds both servers and compares them per framework.
pub(super) fn run(config: &LoadConfig, rev: &str, conditions: &str) -> Result<(), String> {
    let sha = git(&["rev-parse", "--short=12", &format!("{rev}^{{commit}}")])
        .map_err(|e| format!("--against {rev}: not a commit ({e})"))?;
    let baseline_bin = build_baseline(&sha)?;
    cargo(&["build", "--release", "-p", "tessera-bench"])?;
    let current_bin = target_dir()?.join("release/tessera-bench-server");

    let mut rows = Vec::new();
    for framework in &config.frameworks {
        eprintln!("== tessera-{framework}: this checkout against {sha}");
        let current = Server::bench(config, &current_bin, &[framework, "auth"])?;
        let baseline = Server::bench(config, &baseline_bin, &[framework, "auth"])?;
        let current_cookie = sign_up(&current.addr)?;
        let baseline_cookie = sign_up(&baseline.addr)?;
        let current_len = check_get_session(&current.addr, &current_cookie)?;
        let baseline_len = check_get_session(&baseline.addr, &baseline_cookie)?;
        if current_len != baseline_len {
            eprintln!(
                "note: get-session bodies differ in length ({current_len} here, {baseline_len} at {sha})"
            );
        }
        let mut current_runs = Vec::new();
        let mut baseline_runs = Vec::new();
        for _ in 0..config.rounds {
            current_runs.push(wrk(
                config,
                &current.addr,
                GET_SESSION,
                Some(&current_cookie),
            )?);
            baseline_runs.push(wrk(
                config,
                &baseline.addr,
                GET_SESSION,
                Some(&baseline_cookie),
            )?);
        }
        rows.push(Row {
            framework: framework.clone(),
            current: super::median(current_runs),
            baseline: super::median(baseline_runs),
        });
    }
    print_table(config, &sha, &rows, conditions);
    Ok(())
}

/// `tessera-bench-server` built from `sha`, copied to
/// `<target>/xtask-against/tessera-bench-server-<sha>`.
fn build_baseline(sha: &str) -> Result<PathBuf, String> {
    let target = target_dir()?;
    let dir = target.join("xtask-against");
    let bin = dir.join(format!("tessera-bench-server-{sha}"));
    if bin.is_file() {
        eprintln!("using {} (built earlier)", bin.display());
        return Ok(bin);
    }
    let tree = dir.join(format!("tree-{sha}"));
    if tree.exists() {
        let _ = git(&["worktree", "remove", "--force", &tree.to_string_lossy()]);
        let _ = fs::remove_dir_all(&tree);
    }
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    git(&["worktree", "add", "--detach", &tree.to_string_lossy(), sha])?;
    let built = build_in(&tree, &target);
    let _ = git(&["worktree", "remove", "--force", &tree.to_string_lossy()]);
    built?;
    fs::copy(target.join("release/tessera-bench-server"), &bin)
        .map_err(|e| format!("cannot copy the baseline server: {e}"))?;
    Ok(bin)
}

fn build_in(tree: &Path, target: &Path) -> Result<(), String> {
    eprintln!(
        "$ cargo build --release -p tessera-bench (in {})",
        tree.display()
    );
    let status = Command::new(crate::cargo_bin())
        .args(["build", "--release", "-p", "tessera-bench"])
        .current_dir(tree)
        .env("CARGO_TARGET_DIR", target)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("building the baseline failed ({status})"))
    }
}

fn git(args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn print_table(config: &LoadConfig, sha: &str, rows: &[Row], conditions: &str) {
    let mut out = format!(
        "`wrk -t{} -c{} -d{} --latency`, `GET /api/auth/get-session` with a stateless `jwe` session cookie, \
         {} runs per server taking turns with the server built from {sha}, the median run shown; \
         (before the run: load average {conditions}).\n\n",
        config.threads, config.connections, config.duration, config.rounds,
    );
    out.push_str(&format!(
        "| server | this checkout req/s | p99 | {sha} req/s | p99 | ratio |\n"
    ));
    out.push_str("|---|---:|---:|---:|---:|---:|\n");
    for row in rows {
        out.push_str(&format!(
            "| tessera-{} | {} | {} | {} | {} | {:.1} % |\n",
            row.framework,
            thousands(row.current.requests_per_sec),
            millis(row.current.p99_ms),
            thousands(row.baseline.requests_per_sec),
            millis(row.baseline.p99_ms),
            100.0 * row.current.requests_per_sec / row.baseline.requests_per_sec,
        ));
    }
    println!("\n{out}");
}
