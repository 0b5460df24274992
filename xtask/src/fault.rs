//! `cargo xtask fault`: faults under load lose nothing, measured.
//!
//! Two `tessera serve` processes, A and B (the release build), share one
//! PostgreSQL schema and one private `redis-server`, with the `jwe` cookie
//! cache and a revocation lag of 1 s (`docs/revocation.md`). Clients and
//! probes load both while the timeline (`fault/timeline.rs`) freezes Redis,
//! restarts PostgreSQL, kills and restarts B, and kills and restarts Redis.
//! Then five checks (`fault/report.rs`): no confirmed session lost, no
//! revoked session accepted after the lag, nothing but 2xx, 4xx and 503,
//! each service answering within 2 s of its return, and no panic with a
//! clean exit on `SIGTERM`. The report is Markdown for the README.
//!
//! PostgreSQL is this machine's own server (`DATABASE_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test`), restarted with
//! `pg_ctlcluster`: the command is run by hand, never in CI.

mod http;
mod processes;
mod record;
mod report;
mod timeline;
mod workload;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use processes::{PrivateRedis, Schema, TesseraProcess};
use record::{Endpoint, Fault, FaultWindow, Target};
use report::{Method, Records};
use timeline::{Step, Timeline};
use workload::{ClientLog, Load};

use crate::cargo;

const USAGE: &str = "usage: cargo xtask fault [--seconds 40] [--clients 8]";
const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// `TESSERA_REVOCATION_LAG`, and the bound of the revocation check.
const REVOCATION_LAG: Duration = Duration::from_secs(1);
/// Between a client's clock and the servers': the 200 of a revocation is
/// read after the server published it, a check is sent before the server
/// reads it; this covers scheduling on a loaded machine.
const MEASUREMENT_SLACK: Duration = Duration::from_millis(200);
/// How long A and B get to exit on `SIGTERM` (the drain takes at most
/// `tessera_hyper::DRAIN_TIMEOUT`).
const TERMINATE_TIMEOUT: Duration = Duration::from_secs(20);

/// What to run, from the command line.
#[derive(Debug, PartialEq)]
struct FaultConfig {
    seconds: u64,
    clients: usize,
}

impl FaultConfig {
    fn parse(args: &[String]) -> Result<FaultConfig, String> {
        let mut config = FaultConfig {
            seconds: timeline::DEFAULT_SECONDS,
            clients: 8,
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
            let number = value
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{flag}: expected a positive number, got {value:?}"))?;
            match flag.as_str() {
                "--seconds" => config.seconds = number,
                "--clients" => config.clients = number as usize,
                _ => return Err(format!("unknown option {flag:?}\n{USAGE}")),
            }
        }
        Ok(config)
    }
}

pub fn run(args: &[String]) -> Result<(), String> {
    let config = FaultConfig::parse(args)?;
    let timeline = Timeline::for_run(config.seconds)?;
    processes::check_postgres_restartable()?;
    cargo(&["build", "--release", "-p", "tessera-cli"])?;
    let bin = target_dir().join("release/tessera");
    let work = WorkDir::create()?;
    let (report, failed) = run_in(&config, &timeline, &bin, &work.0)?;
    println!("{report}");
    if failed == 0 {
        Ok(())
    } else {
        Err(format!("{failed} of the checks failed"))
    }
}

/// The run's temporary directory (Redis's append-only file, the logs),
/// removed on drop.
struct WorkDir(PathBuf);

impl WorkDir {
    fn create() -> Result<WorkDir, String> {
        let dir = std::env::temp_dir().join(format!("tessera-fault-{}", std::process::id()));
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(WorkDir(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The services, the load and the faults, then the checks; returns the
/// report and how many checks failed. Every process started here is
/// stopped, and the schema dropped, when this returns, whatever happened.
fn run_in(
    config: &FaultConfig,
    timeline: &Timeline,
    bin: &Path,
    work: &Path,
) -> Result<(String, usize), String> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned());
    let schema = Schema::create(&url, &format!("tessera_fault_{}", std::process::id()))?;
    let mut redis = PrivateRedis::start(&work.join("redis"))?;
    let env: Vec<(String, String)> = [
        ("TESSERA_DATABASE_URL", schema.scoped_url()),
        ("TESSERA_SECONDARY_STORAGE", redis.url()),
        ("TESSERA_REDIS_PREFIX", "tessera-fault:".to_owned()),
        ("TESSERA_COOKIE_CACHE", "jwe".to_owned()),
        (
            "TESSERA_REVOCATION_LAG",
            REVOCATION_LAG.as_secs().to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut a = TesseraProcess::start("A", bin, work, &env)?;
    let mut b = TesseraProcess::start("B", bin, work, &env)?;
    eprintln!(
        "A on {}, B on {}, Redis on {}, PostgreSQL schema in {}",
        a.origin(),
        b.origin(),
        redis.port,
        url
    );

    let mut load = Load {
        start: Instant::now(),
        stop: AtomicBool::new(false),
        addrs: [a.addr, b.addr],
        run: format!("fault-{}", std::process::id()),
    };
    let probe_session = workload::probe_session(&load, Target::A)?;
    load.start = Instant::now();

    let (logs, injected) = std::thread::scope(|scope| {
        let load = &load;
        let mut threads = Vec::new();
        for id in 0..config.clients {
            threads.push(scope.spawn(move || workload::client(load, id)));
        }
        for target in Target::BOTH {
            for endpoint in [Endpoint::GetSessionFromStore, Endpoint::ListAccounts] {
                let session = &probe_session;
                threads.push(scope.spawn(move || workload::probe(load, target, endpoint, session)));
            }
        }
        let injected = inject(load, timeline, &mut redis, &mut b, &url);
        load.stop.store(true, Ordering::Relaxed);
        let logs: Result<Vec<ClientLog>, String> = threads
            .into_iter()
            .map(|t| t.join().map_err(|_| "a client thread panicked".to_owned()))
            .collect();
        (logs, injected)
    });
    let faults = injected?;
    let end = timeline.end;

    let mut records = Records {
        faults,
        end,
        ..Records::default()
    };
    let mut live = vec![probe_session];
    let mut revoked = Vec::new();
    for log in logs? {
        records.exchanges.extend(log.exchanges);
        records.revoked_checks.extend(log.revoked_checks);
        records.live_nulls.extend(log.live_nulls);
        records.in_doubt += log.in_doubt;
        live.extend(log.live);
        revoked.extend(log.revoked);
    }
    eprintln!(
        "load stopped: {} requests; checking {} live and {} revoked sessions on A and B",
        records.exchanges.len(),
        live.len(),
        revoked.len()
    );
    records.live = live.len();
    records.revoked = revoked.len();
    records.live_checks = workload::verify_live(&load, &live);
    records
        .revoked_checks
        .extend(workload::verify_revoked(&load, &revoked));

    for process in [&mut a, &mut b] {
        let exit = process
            .terminate(TERMINATE_TIMEOUT)
            .map(|status| status.code());
        records.exits.push((process.label, exit));
    }
    for process in [&a, &b] {
        records.panics.extend(process.panics());
        summarize_log(process);
    }

    let outside = report::failures_outside_outages(&records.exchanges, &records.faults);
    if !outside.is_empty() {
        eprintln!(
            "{} failed requests ended outside the outages:",
            outside.len()
        );
        for e in outside.iter().take(20) {
            eprintln!(
                "  {} to {}: sent {:.3} s, {} at {:.3} s",
                e.endpoint.label(),
                e.target.label(),
                e.sent.as_secs_f64(),
                e.outcome.describe(),
                e.received.as_secs_f64()
            );
        }
    }

    let allowed = REVOCATION_LAG + MEASUREMENT_SLACK;
    let checks = report::checks(&records, allowed);
    let failed = checks.iter().filter(|c| !c.passed).count();
    let method = Method {
        command: format!(
            "cargo xtask fault --seconds {} --clients {}",
            config.seconds, config.clients
        ),
        date: today(),
        cores: std::thread::available_parallelism().map_or(0, usize::from),
        clients: config.clients,
        postgres: processes::postgres_version(&url),
        redis: PrivateRedis::version(),
        allowed,
    };
    Ok((report::render(&records, &checks, &method), failed))
}

/// Runs the timeline's steps at their times; returns each fault's
/// instants. A fault begins just before its signal or command, and ends
/// once the service is back.
fn inject(
    load: &Load,
    timeline: &Timeline,
    redis: &mut PrivateRedis,
    b: &mut TesseraProcess,
    url: &str,
) -> Result<Vec<FaultWindow>, String> {
    let now = || load.start.elapsed();
    let mut faults = Vec::new();
    let mut began = Duration::ZERO;
    for (at, step) in &timeline.steps {
        sleep_until(load.start + *at);
        eprintln!("{:>6.2} s  {step:?}", now().as_secs_f64());
        let (fault, detail) = match step {
            Step::FreezeRedis | Step::KillProcess | Step::KillRedis => {
                began = now();
                match step {
                    Step::FreezeRedis => redis.signal("STOP")?,
                    Step::KillProcess => b.kill(),
                    _ => redis.kill(),
                }
                continue;
            }
            Step::ThawRedis => {
                redis.signal("CONT")?;
                (Fault::RedisFrozen, "SIGCONT".to_owned())
            }
            Step::RestartPostgres => {
                began = now();
                let took = processes::restart_postgres(url)?;
                let ready = now() - began;
                (
                    Fault::PostgresRestarted,
                    format!(
                        "`pg_ctlcluster … restart` took {:.2} s, `pg_isready` answered after {:.2} s",
                        took.as_secs_f64(),
                        ready.as_secs_f64()
                    ),
                )
            }
            Step::StartProcess => {
                let restarted = now();
                b.spawn()?;
                (
                    Fault::ProcessKilled,
                    format!(
                        "started again at {:.2} s, listening {} ms later",
                        restarted.as_secs_f64(),
                        (now() - restarted).as_millis()
                    ),
                )
            }
            Step::StartRedis => {
                let restarted = now();
                redis.spawn()?;
                (
                    Fault::RedisKilled,
                    format!(
                        "started again at {:.2} s, answered PING (append-only file loaded) {} ms later",
                        restarted.as_secs_f64(),
                        (now() - restarted).as_millis()
                    ),
                )
            }
        };
        let returned = now();
        eprintln!(
            "{:>6.2} s  {} is back ({detail})",
            returned.as_secs_f64(),
            fault.label()
        );
        faults.push(FaultWindow {
            fault,
            began,
            returned,
            detail,
        });
    }
    sleep_until(load.start + timeline.end);
    Ok(faults)
}

fn sleep_until(at: Instant) {
    let now = Instant::now();
    if at > now {
        std::thread::sleep(at - now);
    }
}

/// What a process logged (`RUST_LOG=warn`), on stderr: a count and the
/// first distinct lines, for whoever reads a failed run.
fn summarize_log(process: &TesseraProcess) {
    for (file, lines) in process.logged() {
        if lines.is_empty() {
            continue;
        }
        eprintln!("{file}: {} lines logged", lines.len());
        let mut shown: Vec<&str> = Vec::new();
        for line in &lines {
            // The line without its timestamp, to tell repeats apart.
            let message = line.split_once(' ').map_or(line.as_str(), |(_, m)| m);
            if shown.len() < 5 && !shown.contains(&message) {
                shown.push(message);
                let cut: String = line.chars().take(400).collect();
                eprintln!("  {cut}");
            }
        }
    }
}

/// `date -u +%F`.
fn today() -> String {
    Command::new("date")
        .args(["-u", "+%F"])
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "unknown date".to_owned())
}

/// `$CARGO_TARGET_DIR`, else the workspace's `target`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn options_parse_with_their_defaults() {
        assert_eq!(
            FaultConfig::parse(&[]).unwrap(),
            FaultConfig {
                seconds: 40,
                clients: 8
            }
        );
        let config = FaultConfig::parse(&args(&["--clients", "3", "--seconds", "60"])).unwrap();
        assert_eq!((config.seconds, config.clients), (60, 3));
        assert!(FaultConfig::parse(&args(&["--clients", "0"])).is_err());
        assert!(FaultConfig::parse(&args(&["--seconds"])).is_err());
        assert!(FaultConfig::parse(&args(&["--rounds", "2"])).is_err());
    }
}
