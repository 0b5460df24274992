//! Project chores, in Rust: `cargo xtask ci`, `cargo xtask test`,
//! `cargo xtask bench` (criterion), `cargo xtask bench load` (wrk),
//! `cargo xtask kernel-deps`, `cargo xtask fuzz` (cargo-fuzz).

mod fault;
mod fuzz;
mod layers;
mod load;
mod services;
mod test;

use std::process::{Command, ExitCode};

/// Crates that must never appear in the kernel's dependency tree: the
/// kernel knows no web framework and no store client.
const FORBIDDEN_IN_KERNEL: &[&str] = &[
    "axum",
    "axum-core",
    "actix",
    "actix-web",
    "actix-http",
    "hyper",
    "hyper-util",
    "lambda_http",
    "lambda_runtime",
    "aws_lambda_events",
    "sqlx",
    "redis",
    "fred",
    "tokio-postgres",
    "rusqlite",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("test") => test::run(&args[1..]),
        Some("kernel-deps") => kernel_deps(),
        Some("bench") => bench(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("fault") => fault::run(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n  ci           fmt check, clippy -D warnings, kernel boundary, tests\n  test         probe PostgreSQL, Redis, Node, a browser and the SMTP sink, run the whole test suite, count\n               the tests that skipped for a missing service [-- <nextest arguments>]\n  kernel-deps  check the kernel's dependency tree and its layers (no import cycle)\n  bench        run the criterion benchmarks (extra args after `--` go to criterion)\n  bench load   whole servers under wrk: get-session per adapter, its ceiling, better-auth\n               [--duration 3s] [--rounds 5] [--shared] [--threads N] [--connections 16] [--frameworks hyper,axum,actix] [--no-refserver]\n  bench load stores   `tessera serve` on each store (stateless, SQLite, PostgreSQL, Redis): get-session misses and sign-in\n  bench load revocation   cache-hit get-session following the revocation log vs not, and its log reads\n  fuzz         build the cargo-fuzz targets in fuzz/ and run each, reporting executions per target\n               [--seconds N (default 20)] [--runs N] [target...]\n  fault        two `tessera serve` on PostgreSQL and a private Redis under load while Redis freezes,\n               PostgreSQL restarts, one process and Redis are killed: checks nothing is lost\n               [--seconds 40] [--clients 8] [--cluster (a private Redis Cluster, WAIT 1: a master frozen, one killed)]"
            );
            Err("unknown command".into())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The cargo that runs this xtask.
fn cargo_bin() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// `CI=true` (or `1`): a missing service fails instead of skipping, as in
/// the test kit.
fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

fn cargo(args: &[&str]) -> Result<(), String> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(cargo_bin())
        .args(args)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo {} failed ({status})", args.join(" ")))
    }
}

fn ci() -> Result<(), String> {
    cargo(&["fmt", "--all", "--check"])?;
    kernel_deps()?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    test::run(&[])
}

fn kernel_deps() -> Result<(), String> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "tree",
            "-p",
            "tessera",
            "-e",
            "normal,build",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .output()
        .map_err(|e| format!("cannot run cargo tree: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let tree = String::from_utf8_lossy(&out.stdout);
    let offenders: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| FORBIDDEN_IN_KERNEL.contains(name) || name.starts_with("actix"))
        .collect();
    if offenders.is_empty() {
        eprintln!(
            "kernel boundary: ok ({} crates, no framework or store client)",
            tree.lines().count()
        );
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        layers::check(&root.join("crates/tessera/src"))
    } else {
        Err(format!(
            "the kernel depends on {offenders:?}: it must stay framework- and store-free"
        ))
    }
}

fn bench(extra: &[String]) -> Result<(), String> {
    if extra.first().map(String::as_str) == Some("load") {
        return load::run(&extra[1..]);
    }
    // The kernel's benches, and the storage backends' (which need
    // PostgreSQL and Redis, or print that they skip).
    let mut args = vec![
        "bench",
        "-p",
        "tessera",
        "-p",
        "tessera-sql",
        "-p",
        "tessera-redis",
    ];
    let extra = extra.strip_prefix(&["--".to_owned()]).unwrap_or(extra);
    if !extra.is_empty() {
        args.push("--");
        args.extend(extra.iter().map(String::as_str));
    }
    cargo(&args)
}
