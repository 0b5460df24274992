//! `cargo xtask test [-- <nextest or cargo test arguments>]`: the services
//! probed first, then the suites, then the tests that skipped counted.
//!
//! A test that finds its service missing returns early, and a runner counts
//! that as passed; so each one records its skip in `TESSERA_SKIP_DIR`
//! (`tessera_testkit::service::skip_or_fail`), and this command lists them
//! and takes them out of the passed count in its closing line,
//! `tests: N passed, N failed, N skipped`. Under `CI=true` a missing service
//! is an error before anything runs (and would fail its tests).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::services::{probe_all, Probe};

/// Environment variable the test kit's skip helper reads.
const SKIP_DIR_VAR: &str = "TESSERA_SKIP_DIR";
/// The nextest profile whose JUnit report gives the run's counts, and
/// nextest's store, relative to the workspace (`.config/nextest.toml`).
const NEXTEST_PROFILE: &str = "xtask";
const NEXTEST_STORE: &str = "target/nextest";

/// Tests run, failed and not run (ignored or skipped for a service).
#[derive(Default)]
struct Counts {
    run: usize,
    failed: usize,
    ignored: usize,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let extra = args.strip_prefix(&["--".to_owned()]).unwrap_or(args);
    let probes = probe_all();
    report_probes(&probes);
    if crate::is_ci() {
        let missing: Vec<String> = probes
            .iter()
            .filter(|p| p.needed)
            .filter_map(|p| Some(format!("{}: {}", p.name, p.missing.as_ref()?)))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "CI=true and a service the tests need is missing (.ci/run starts them):\n  {}",
                missing.join("\n  ")
            ));
        }
    }

    let profile_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(NEXTEST_STORE)
        .join(NEXTEST_PROFILE);
    let skip_dir = profile_dir.join("skips");
    let _ = fs::remove_dir_all(&skip_dir);
    fs::create_dir_all(&skip_dir)
        .map_err(|e| format!("cannot create {}: {e}", skip_dir.display()))?;

    let mut counts = Counts::default();
    let result = run_suites(extra, &profile_dir, &skip_dir, &mut counts);
    let skips = read_skips(&skip_dir)?;
    report_skips(&skips, &probes);
    let skipped_tests = skips.values().map(BTreeMap::len).sum::<usize>();
    // A test that skipped returned early: the runner counted it as passed.
    let passed = counts
        .run
        .saturating_sub(counts.failed)
        .saturating_sub(skipped_tests);
    eprintln!(
        "tests: {passed} passed, {} failed, {} skipped",
        counts.failed,
        skipped_tests + counts.ignored
    );
    result
}

fn run_suites(
    extra: &[String],
    profile_dir: &Path,
    skip_dir: &Path,
    counts: &mut Counts,
) -> Result<(), String> {
    let nextest = Command::new(crate::cargo_bin())
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !nextest {
        // libtest prints one `test result:` line per binary, doc tests too.
        let mut args = vec!["test", "--no-fail-fast"];
        if extra.is_empty() {
            args.push("--workspace");
        }
        args.extend(extra.iter().map(String::as_str));
        return cargo_counted(&args, skip_dir, counts);
    }
    let junit = profile_dir.join("junit.xml");
    let _ = fs::remove_file(&junit);
    let mut args = vec![
        "nextest",
        "run",
        "--profile",
        NEXTEST_PROFILE,
        "--no-fail-fast",
    ];
    if extra.is_empty() {
        args.push("--workspace");
    }
    args.extend(extra.iter().map(String::as_str));
    let ran = cargo_with_skips(&args, skip_dir);
    match junit_counts(&junit) {
        Ok((run, failed)) => {
            counts.run += run;
            counts.failed += failed;
        }
        Err(e) if ran.is_ok() => return Err(e),
        // The build failed, say: nextest said why.
        Err(_) => {}
    }
    ran?;
    if extra.is_empty() {
        cargo_counted(&["test", "--workspace", "--doc"], skip_dir, counts)
    } else {
        eprintln!("xtask: doc tests not run (arguments were given)");
        Ok(())
    }
}

/// `cargo args` with the skip directory in its environment.
fn cargo_with_skips(args: &[&str], skip_dir: &Path) -> Result<(), String> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(crate::cargo_bin())
        .args(args)
        .env(SKIP_DIR_VAR, skip_dir)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo {} failed ({status})", args.join(" ")))
    }
}

/// `cargo args` (a libtest run) with its stdout passed through and its
/// `test result:` lines added up.
fn cargo_counted(args: &[&str], skip_dir: &Path, counts: &mut Counts) -> Result<(), String> {
    eprintln!("$ cargo {}", args.join(" "));
    let mut child = Command::new(crate::cargo_bin())
        .args(args)
        .env(SKIP_DIR_VAR, skip_dir)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout from cargo")?;
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| format!("reading cargo's output: {e}"))?;
        println!("{line}");
        if let Some(result) = line.strip_prefix("test result: ") {
            let (passed, failed) = (
                libtest_count(result, "passed"),
                libtest_count(result, "failed"),
            );
            counts.run += passed + failed;
            counts.failed += failed;
            counts.ignored += libtest_count(result, "ignored");
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo {} failed ({status})", args.join(" ")))
    }
}

/// `N name` in libtest's `ok. 3 passed; 0 failed; 1 ignored; …`.
fn libtest_count(result: &str, name: &str) -> usize {
    result
        .split(';')
        .find_map(|part| {
            let words: Vec<&str> = part.split_whitespace().collect();
            let at = words.iter().position(|w| *w == name)?;
            words.get(at.checked_sub(1)?)?.parse().ok()
        })
        .unwrap_or(0)
}

/// Tests run and failed (failures and errors) from the JUnit report's root
/// element: `<testsuites name="nextest-run" tests="N" failures="N" errors="N" …>`.
fn junit_counts(path: &Path) -> Result<(usize, usize), String> {
    let xml = fs::read_to_string(path)
        .map_err(|e| format!("no test counts: cannot read {}: {e}", path.display()))?;
    let root = xml
        .find("<testsuites")
        .and_then(|start| Some(&xml[start..start + xml[start..].find('>')?]))
        .ok_or_else(|| format!("no <testsuites> element in {}", path.display()))?;
    let attribute = |name: &str| -> Result<usize, String> {
        let key = format!(" {name}=\"");
        let start = root
            .find(&key)
            .ok_or_else(|| format!("no {name} in {}", path.display()))?
            + key.len();
        let end = root[start..].find('"').unwrap_or(0);
        root[start..start + end]
            .parse()
            .map_err(|_| format!("bad {name} in {}", path.display()))
    };
    Ok((
        attribute("tests")?,
        attribute("failures")? + attribute("errors")?,
    ))
}

/// Skipped tests and the reason each gave, by service id.
type Skips = BTreeMap<String, BTreeMap<String, String>>;

/// The skip records (`service\ttest\treason`, one file per skip), each
/// test once: a test may record a skip more than once.
fn read_skips(dir: &Path) -> Result<Skips, String> {
    let mut skips = Skips::new();
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries {
        let path: PathBuf = entry
            .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
            .path();
        let text = fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for line in text.lines() {
            let mut fields = line.splitn(3, '\t');
            let (Some(service), Some(test), Some(reason)) =
                (fields.next(), fields.next(), fields.next())
            else {
                return Err(format!(
                    "malformed skip record in {}: {line:?}",
                    path.display()
                ));
            };
            skips
                .entry(service.to_owned())
                .or_default()
                .insert(test.to_owned(), reason.to_owned());
        }
    }
    Ok(skips)
}

fn report_probes(probes: &[Probe]) {
    eprintln!("xtask: services the suites need");
    for p in probes {
        match &p.missing {
            None => eprintln!("  {:<10} available  {}", p.name, p.found),
            Some(why) => eprintln!("  {:<10} MISSING    {why}", p.name),
        }
    }
    for p in probes.iter().filter(|p| p.missing.is_some()) {
        let consequence = if !p.needed {
            ""
        } else if crate::is_ci() {
            ", and CI=true makes that a failure"
        } else {
            "; their tests will skip"
        };
        eprintln!(
            "xtask: without {} these suites cannot run{consequence}: {}",
            p.name, p.suites
        );
    }
}

fn report_skips(skips: &Skips, probes: &[Probe]) {
    for (service, tests) in skips {
        let name = probes
            .iter()
            .find(|p| p.id == service)
            .map_or(service.as_str(), |p| p.name);
        let reasons: BTreeSet<&str> = tests.values().map(String::as_str).collect();
        let why = match reasons.iter().next() {
            Some(only) if reasons.len() == 1 => (*only).to_owned(),
            _ => format!("{} different reasons", reasons.len()),
        };
        eprintln!("xtask: {} tests skipped, no {name} ({why}):", tests.len());
        for (test, reason) in tests {
            if reasons.len() == 1 {
                eprintln!("  SKIP {test}");
            } else {
                eprintln!("  SKIP {test} ({reason})");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(label: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-{label}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn skips_are_grouped_by_service_and_counted_once_per_test() {
        let dir = temp_dir("skips");
        fs::write(dir.join("1-0.skip"), "redis\tcrate::bin a\trefused\n").unwrap();
        fs::write(dir.join("1-1.skip"), "redis\tcrate::bin a\trefused\n").unwrap();
        fs::write(dir.join("2-0.skip"), "redis\tcrate::bin b\trefused\n").unwrap();
        fs::write(dir.join("2-1.skip"), "node\tcrate::diff c\tno npm\n").unwrap();
        let skips = read_skips(&dir).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(skips["redis"].len(), 2);
        assert_eq!(skips["node"].len(), 1);
    }

    #[test]
    fn a_malformed_record_is_an_error() {
        let dir = temp_dir("malformed");
        fs::write(dir.join("1-0.skip"), "redis only\n").unwrap();
        let result = read_skips(&dir);
        fs::remove_dir_all(&dir).unwrap();
        assert!(result.is_err());
    }

    #[test]
    fn libtest_result_lines_are_read() {
        let line =
            "FAILED. 3 passed; 1 failed; 2 ignored; 0 measured; 5 filtered out; finished in 0.00s";
        assert_eq!(libtest_count(line, "passed"), 3);
        assert_eq!(libtest_count(line, "failed"), 1);
        assert_eq!(libtest_count(line, "ignored"), 2);
        assert_eq!(libtest_count(line, "measured"), 0);
    }

    #[test]
    fn junit_root_counts_are_read() {
        let dir = temp_dir("junit");
        let path = dir.join("junit.xml");
        fs::write(
            &path,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"nextest-run\" tests=\"148\" failures=\"2\" errors=\"1\" uuid=\"x\" timestamp=\"t\" time=\"3.9\">\n<testsuite name=\"a\" tests=\"1\">",
        )
        .unwrap();
        let counts = junit_counts(&path);
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(counts, Ok((148, 3)));
    }
}
