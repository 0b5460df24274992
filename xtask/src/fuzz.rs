//! `cargo xtask fuzz [--seconds N] [--runs N] [target…]`: builds the
//! cargo-fuzz targets in `fuzz/` and runs each for `N` seconds (or `N`
//! executions, whichever ends first), then reports the executions, their
//! rate and what each run found.
//!
//! Needs `cargo-fuzz` (`cargo install cargo-fuzz --locked`) and a nightly
//! toolchain (`cargo +nightly`); without one, the stable toolchain is used
//! with `RUSTC_BOOTSTRAP=1`. Targets are built without a sanitizer
//! (`-s none`): the code under test forbids `unsafe`, and libFuzzer runs
//! several times faster without AddressSanitizer.
//!
//! Each run reads the committed seeds (`fuzz/seeds/<target>`) and grows a
//! working corpus in `fuzz/corpus/<target>` (not committed); a crash is
//! written to `fuzz/artifacts/<target>/` and fails the command.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Inputs up to this size: a `Cookie` header near the head limit, a Lambda
/// event with a chunked cache.
const MAX_LEN: u32 = 16 * 1024;
/// An input taking longer than this is a finding (a hang), in seconds.
const TIMEOUT_SECS: u32 = 10;

/// What one target's run did, from libFuzzer's final statistics.
#[derive(Debug, Default, PartialEq)]
struct RunStats {
    runs: u64,
    seconds: u64,
    execs_per_sec: u64,
    new_units: u64,
    peak_rss_mb: u64,
    artifact: Option<String>,
}

impl RunStats {
    /// Reads libFuzzer's output: `Done N runs in S second(s)`, the
    /// `stat::…` lines of `-print_final_stats=1`, and where a crash went.
    fn parse(output: &str) -> RunStats {
        let mut stats = RunStats::default();
        for line in output.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("Done ") {
                let mut words = rest.split_whitespace();
                stats.runs = number(words.next());
                stats.seconds = number(words.nth(2));
            } else if let Some((key, value)) =
                line.strip_prefix("stat::").and_then(|s| s.split_once(':'))
            {
                let value = number(Some(value.trim()));
                match key {
                    "number_of_executed_units" => stats.runs = value,
                    "average_exec_per_sec" => stats.execs_per_sec = value,
                    "new_units_added" => stats.new_units = value,
                    "peak_rss_mb" => stats.peak_rss_mb = value,
                    _ => {}
                }
            } else if let Some((_, path)) = line.split_once("Test unit written to ") {
                stats.artifact = Some(path.to_owned());
            }
        }
        stats
    }
}

fn number(word: Option<&str>) -> u64 {
    word.and_then(|w| w.parse().ok()).unwrap_or(0)
}

/// The command's options.
#[derive(Debug, PartialEq)]
struct Args {
    seconds: Option<u64>,
    runs: Option<u64>,
    targets: Vec<String>,
}

impl Args {
    fn parse(args: &[String]) -> Result<Args, String> {
        let mut parsed = Args {
            seconds: None,
            runs: None,
            targets: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = |flag: &str| -> Result<u64, String> {
                it.next()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| format!("{flag} needs a number"))
            };
            match arg.as_str() {
                "--seconds" => parsed.seconds = Some(value("--seconds")?),
                "--runs" => parsed.runs = Some(value("--runs")?),
                flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
                target => parsed.targets.push(target.to_owned()),
            }
        }
        if parsed.seconds.is_none() && parsed.runs.is_none() {
            parsed.seconds = Some(20);
        }
        Ok(parsed)
    }
}

/// The cargo to run cargo-fuzz with: nightly's, or stable's allowed to use
/// nightly features.
struct Toolchain {
    nightly: bool,
}

impl Toolchain {
    fn find() -> Toolchain {
        let nightly = Command::new("cargo")
            .args(["+nightly", "--version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !nightly {
            eprintln!("xtask fuzz: no nightly toolchain; using stable with RUSTC_BOOTSTRAP=1");
        }
        Toolchain { nightly }
    }

    fn cargo_fuzz(&self, fuzz_dir: &Path) -> Command {
        // `cargo` itself, not `$CARGO`: rustup's proxy is what reads `+nightly`.
        let mut cmd = Command::new("cargo");
        if self.nightly {
            cmd.arg("+nightly");
        } else {
            cmd.env("RUSTC_BOOTSTRAP", "1");
        }
        cmd.arg("fuzz")
            .current_dir(fuzz_dir.parent().unwrap_or(fuzz_dir));
        cmd
    }
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let args = Args::parse(args)?;
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("xtask lives inside the repository")?
        .join("fuzz");
    let installed = Command::new("cargo")
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        return Err("cargo-fuzz is not installed: cargo install cargo-fuzz --locked".into());
    }
    let toolchain = Toolchain::find();
    let target_dir = target_dir(&fuzz_dir);
    let all = list_targets(&toolchain, &fuzz_dir)?;
    let targets = if args.targets.is_empty() {
        all
    } else {
        for t in &args.targets {
            if !all.contains(t) {
                return Err(format!("no fuzz target {t}; there are {}", all.join(", ")));
            }
        }
        args.targets.clone()
    };

    let mut build = toolchain.cargo_fuzz(&fuzz_dir);
    build
        .args(["build", "-s", "none", "--target-dir"])
        .arg(&target_dir);
    eprintln!(
        "$ cargo fuzz build -s none --target-dir {}",
        target_dir.display()
    );
    let status = build
        .status()
        .map_err(|e| format!("cannot run cargo fuzz: {e}"))?;
    if !status.success() {
        return Err(format!("cargo fuzz build failed ({status})"));
    }

    let mut results = Vec::new();
    for target in &targets {
        let stats = run_target(&toolchain, &fuzz_dir, &target_dir, target, &args)?;
        results.push((target.clone(), stats));
    }

    println!(
        "\n{:<16} {:>12} {:>8} {:>10} {:>9} {:>8}  result",
        "target", "executions", "seconds", "exec/s", "new units", "rss MB"
    );
    let mut failed = Vec::new();
    for (target, stats) in &results {
        let result = match &stats.artifact {
            Some(path) => {
                failed.push(target.as_str());
                format!("FAILED: {path}")
            }
            None => "ok".to_owned(),
        };
        println!(
            "{target:<16} {:>12} {:>8} {:>10} {:>9} {:>8}  {result}",
            stats.runs, stats.seconds, stats.execs_per_sec, stats.new_units, stats.peak_rss_mb
        );
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("fuzz targets failed: {}", failed.join(", ")))
    }
}

/// A build directory of its own: the fuzz build's flags differ from the
/// workspace's, and sharing one would rebuild both every time.
fn target_dir(fuzz_dir: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("TESSERA_FUZZ_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("fuzz"),
        None => fuzz_dir.join("target"),
    }
}

fn list_targets(toolchain: &Toolchain, fuzz_dir: &Path) -> Result<Vec<String>, String> {
    let out = toolchain
        .cargo_fuzz(fuzz_dir)
        .arg("list")
        .output()
        .map_err(|e| format!("cannot run cargo fuzz list: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo fuzz list failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

fn run_target(
    toolchain: &Toolchain,
    fuzz_dir: &Path,
    target_dir: &Path,
    target: &str,
    args: &Args,
) -> Result<RunStats, String> {
    let corpus = fuzz_dir.join("corpus").join(target);
    let seeds = fuzz_dir.join("seeds").join(target);
    fs::create_dir_all(&corpus).map_err(|e| format!("cannot create {}: {e}", corpus.display()))?;
    let mut cmd = toolchain.cargo_fuzz(fuzz_dir);
    cmd.args(["run", "-s", "none", "--target-dir"])
        .arg(target_dir)
        .arg(target)
        .arg(&corpus);
    if seeds.is_dir() {
        cmd.arg(&seeds);
    }
    cmd.arg("--")
        .arg("-print_final_stats=1")
        .arg(format!("-max_len={MAX_LEN}"))
        .arg(format!("-timeout={TIMEOUT_SECS}"));
    if let Some(seconds) = args.seconds {
        cmd.arg(format!("-max_total_time={seconds}"));
    }
    if let Some(runs) = args.runs {
        cmd.arg(format!("-runs={runs}"));
    }
    eprintln!("xtask fuzz: {target}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run cargo fuzz run {target}: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let log = fuzz_dir.join("artifacts").join(format!("{target}.log"));
    if let Some(dir) = log.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    fs::write(&log, &text).map_err(|e| format!("cannot write {}: {e}", log.display()))?;
    let mut stats = RunStats::parse(&text);
    if !out.status.success() {
        // The end of libFuzzer's output says what went wrong.
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        for line in tail.iter().rev() {
            eprintln!("  {line}");
        }
        stats
            .artifact
            .get_or_insert_with(|| format!("exit {}, see {}", out.status, log.display()));
    }
    eprintln!(
        "xtask fuzz: {target}: {} executions in {} s ({} exec/s), log {}",
        stats.runs,
        stats.seconds,
        stats.execs_per_sec,
        log.display()
    );
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libfuzzers_final_lines() {
        let output = "\
#1048576\tpulse  cov: 812 ft: 3000 corp: 900/40Kb exec/s: 52428 rss: 80Mb
Done 1130241 runs in 21 second(s)
stat::number_of_executed_units: 1130241
stat::average_exec_per_sec:     53820
stat::new_units_added:          312
stat::slowest_unit_time_sec:    0
stat::peak_rss_mb:              81
";
        assert_eq!(
            RunStats::parse(output),
            RunStats {
                runs: 1_130_241,
                seconds: 21,
                execs_per_sec: 53_820,
                new_units: 312,
                peak_rss_mb: 81,
                artifact: None,
            }
        );
    }

    #[test]
    fn a_crash_names_its_artifact() {
        let output = "\
==1234== ERROR: libFuzzer: deadly signal
artifact_prefix='fuzz/artifacts/x/'; Test unit written to fuzz/artifacts/x/crash-da39a3ee
stat::number_of_executed_units: 36
";
        let stats = RunStats::parse(output);
        assert_eq!(stats.runs, 36);
        assert_eq!(
            stats.artifact.as_deref(),
            Some("fuzz/artifacts/x/crash-da39a3ee")
        );
    }

    #[test]
    fn options_default_to_twenty_seconds() {
        let args = |a: &[&str]| Args::parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            args(&[]).unwrap(),
            Args {
                seconds: Some(20),
                runs: None,
                targets: vec![]
            }
        );
        assert_eq!(
            args(&["--runs", "10000000", "cookie_header"]).unwrap(),
            Args {
                seconds: None,
                runs: Some(10_000_000),
                targets: vec!["cookie_header".into()]
            }
        );
        assert!(args(&["--seconds"]).is_err());
        assert!(args(&["--fast"]).is_err());
    }
}
