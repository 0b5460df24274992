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
//!
//! With `--cluster` the Redis is a private Redis Cluster instead
//! (`fault/cluster.rs`: three masters with a replica each) and A and B
//! confirm a write only once a replica has it
//! (`TESSERA_REDIS_WAIT_REPLICAS=1`). The two Redis faults become a
//! master frozen and a master killed: each lasts until its replica has
//! taken over, then until the old master is back as a caught-up replica
//! of the new one, while writes to its slots answer 503. Same checks: a
//! failover loses nothing confirmed.

mod cluster;
mod http;
mod processes;
mod record;
mod report;
mod timeline;
mod workload;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cluster::PrivateCluster;
use processes::{PrivateRedis, Schema, TesseraProcess};
use record::{Endpoint, Fault, FaultWindow, Target};
use report::{Method, Records, RedisSetup};
use timeline::{Step, Timeline};
use workload::{ClientLog, Load, Session};

use crate::cargo;

const USAGE: &str = "usage: cargo xtask fault [--seconds 40] [--clients 8] [--cluster]";
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
/// `TESSERA_REDIS_PREFIX`: the probes find their keys' slots with it.
const REDIS_PREFIX: &str = "tessera-fault:";
/// `TESSERA_REDIS_WAIT_REPLICAS` with `--cluster`.
const WAIT_REPLICAS: u32 = 1;
/// How long a master that is back (`SIGCONT`, or started again) gets to
/// rejoin as a caught-up replica.
const REJOIN_TIMEOUT: Duration = Duration::from_secs(15);
/// Probe users signed up, at most, to find one of each kind per master.
const PROBE_USERS: usize = 60;

/// What to run, from the command line.
#[derive(Debug, PartialEq)]
struct FaultConfig {
    seconds: u64,
    clients: usize,
    /// A Redis Cluster instead of one Redis.
    cluster: bool,
}

impl FaultConfig {
    fn parse(args: &[String]) -> Result<FaultConfig, String> {
        let mut config = FaultConfig {
            seconds: timeline::DEFAULT_SECONDS,
            clients: 8,
            cluster: false,
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            if flag == "--cluster" {
                config.cluster = true;
                continue;
            }
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

/// The run's temporary directory (Redis's append-only file or the
/// cluster's files, the logs), removed on drop.
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

/// The Redis the run faults.
enum Redis {
    Single(PrivateRedis),
    Cluster(Box<PrivateCluster>),
}

impl Redis {
    fn url(&self) -> String {
        match self {
            Redis::Single(redis) => redis.url(),
            Redis::Cluster(cluster) => cluster.url(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Redis::Single(redis) => format!("Redis on {}", redis.port),
            Redis::Cluster(cluster) => cluster.describe(),
        }
    }
}

/// The sessions and users the probes use: one of each per master with
/// `--cluster`, the one probe session otherwise.
struct Probes {
    /// Read by the get-session and list-accounts probes.
    sessions: Vec<Session>,
    /// Signed in and out by the write probe (`--cluster` only).
    emails: Vec<String>,
    /// The other sessions signed up on the way: live, and checked.
    spare: Vec<Session>,
}

impl Probes {
    fn sign_up(load: &Load, redis: &Redis) -> Result<Probes, String> {
        let Redis::Cluster(cluster) = redis else {
            return Ok(Probes {
                sessions: vec![workload::probe_session(load, Target::A)?],
                emails: Vec::new(),
                spare: Vec::new(),
            });
        };
        let shards = cluster.shards();
        let mut sessions: Vec<Option<Session>> = vec![None; shards];
        let mut emails: Vec<Option<String>> = vec![None; shards];
        let mut spare = Vec::new();
        for n in 0..PROBE_USERS {
            let user = workload::probe_user(load, Target::A, &format!("probe-{n}"))?;
            let index = format!("{REDIS_PREFIX}{}", session_index_key(&user.id));
            emails[cluster.shard_of_key(&index)].get_or_insert(user.email);
            let read = &mut sessions
                [cluster.shard_of_key(&format!("{REDIS_PREFIX}{}", user.session.token))];
            if read.is_none() {
                *read = Some(user.session);
            } else {
                spare.push(user.session);
            }
            if let (Some(sessions), Some(emails)) = (
                sessions.iter().cloned().collect::<Option<Vec<_>>>(),
                emails.iter().cloned().collect::<Option<Vec<_>>>(),
            ) {
                eprintln!(
                    "{} probe users signed up for a probe session and a probe user's index on each of the {shards} masters",
                    n + 1
                );
                return Ok(Probes {
                    sessions,
                    emails,
                    spare,
                });
            }
        }
        Err(format!(
            "{PROBE_USERS} probe users did not cover the cluster's {shards} masters"
        ))
    }
}

/// The key of a user's session index, as the kernel names it
/// (`active-sessions-<userId>`, better-auth's).
fn session_index_key(user_id: &str) -> String {
    format!("active-sessions-{user_id}")
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
    let mut redis = if config.cluster {
        Redis::Cluster(Box::new(PrivateCluster::start(
            &work.join("redis-cluster"),
        )?))
    } else {
        Redis::Single(PrivateRedis::start(&work.join("redis"))?)
    };
    let mut env: Vec<(String, String)> = [
        ("TESSERA_DATABASE_URL", schema.scoped_url()),
        ("TESSERA_SECONDARY_STORAGE", redis.url()),
        ("TESSERA_REDIS_PREFIX", REDIS_PREFIX.to_owned()),
        ("TESSERA_COOKIE_CACHE", "jwe".to_owned()),
        (
            "TESSERA_REVOCATION_LAG",
            REVOCATION_LAG.as_secs().to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if config.cluster {
        env.push((
            "TESSERA_REDIS_WAIT_REPLICAS".to_owned(),
            WAIT_REPLICAS.to_string(),
        ));
    }
    let mut a = TesseraProcess::start("A", bin, work, &env)?;
    let mut b = TesseraProcess::start("B", bin, work, &env)?;
    eprintln!(
        "A on {}, B on {}, {}, PostgreSQL schema in {}",
        a.origin(),
        b.origin(),
        redis.describe(),
        url
    );

    let mut load = Load::new([a.addr, b.addr], format!("fault-{}", std::process::id()));
    let probes = Probes::sign_up(&load, &redis)?;
    load.start = Instant::now();

    let (logs, injected) = std::thread::scope(|scope| {
        let load = &load;
        let mut threads = Vec::new();
        for id in 0..config.clients {
            threads.push(scope.spawn(move || workload::client(load, id)));
        }
        for target in Target::BOTH {
            for endpoint in [Endpoint::GetSessionFromStore, Endpoint::ListAccounts] {
                let sessions = &probes.sessions;
                threads
                    .push(scope.spawn(move || workload::probe(load, target, endpoint, sessions)));
            }
            if !probes.emails.is_empty() {
                let emails = &probes.emails;
                threads.push(scope.spawn(move || workload::write_probe(load, target, emails)));
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
    let mut live = probes.sessions;
    live.extend(probes.spare);
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
            eprintln!("  {}", describe(e));
        }
    }
    for (fault, target, reads) in report::slow_recovery_reads(&records.exchanges, &records.faults) {
        eprintln!(
            "{} on {}: slow recovery (back at {:.3} s); its recovery reads since the fault began:",
            fault.fault.label(),
            target.label(),
            fault.returned.as_secs_f64()
        );
        for e in reads.iter().take(40) {
            eprintln!("  {}", describe(e));
        }
    }

    let allowed = REVOCATION_LAG + MEASUREMENT_SLACK;
    let checks = report::checks(&records, allowed);
    let failed = checks.iter().filter(|c| !c.passed).count();
    let method = Method {
        command: format!(
            "cargo xtask fault --seconds {} --clients {}{}",
            config.seconds,
            config.clients,
            if config.cluster { " --cluster" } else { "" }
        ),
        date: today(),
        cores: std::thread::available_parallelism().map_or(0, usize::from),
        clients: config.clients,
        postgres: processes::postgres_version(&url),
        redis: PrivateRedis::version(),
        setup: if config.cluster {
            RedisSetup::Cluster {
                wait_replicas: WAIT_REPLICAS,
            }
        } else {
            RedisSetup::Single
        },
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
    redis: &mut Redis,
    b: &mut TesseraProcess,
    url: &str,
) -> Result<Vec<FaultWindow>, String> {
    let now = || load.start.elapsed();
    let mut faults = Vec::new();
    let mut began = Duration::ZERO;
    let mut master_down = None;
    // The cluster's shards a fault took a master of.
    let mut spent = Vec::new();
    for (i, (at, step)) in timeline.steps.iter().enumerate() {
        sleep_until(load.start + *at);
        eprintln!("{:>6.2} s  {step:?}", now().as_secs_f64());
        let (fault, detail) = match step {
            Step::KillProcess => {
                began = now();
                b.kill();
                continue;
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
            Step::FreezeRedis | Step::ThawRedis | Step::KillRedis | Step::StartRedis => {
                let redis = match &mut *redis {
                    Redis::Single(redis) => redis,
                    // A master's fault is two windows, each pushed here.
                    Redis::Cluster(cluster) => {
                        if matches!(step, Step::FreezeRedis | Step::KillRedis) {
                            let next = timeline.steps.get(i + 1).map_or(timeline.end, |s| s.0);
                            let (down, window) =
                                take_master_down(load, cluster, *step, &spent, load.start + next)?;
                            spent.push(down.shard);
                            master_down = Some(down);
                            faults.push(window);
                        } else {
                            let down = master_down
                                .take()
                                .ok_or("no master is down to bring back")?;
                            faults.push(bring_master_back(load, cluster, down)?);
                        }
                        continue;
                    }
                };
                match step {
                    Step::FreezeRedis => {
                        began = now();
                        redis.signal("STOP")?;
                        continue;
                    }
                    Step::KillRedis => {
                        began = now();
                        redis.kill();
                        continue;
                    }
                    Step::ThawRedis => {
                        redis.signal("CONT")?;
                        (Fault::RedisFrozen, "SIGCONT".to_owned())
                    }
                    _ => {
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
                }
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

/// A master the run took down, until it is back as a replica.
struct MasterDown {
    /// [`Fault::MasterFrozen`] or [`Fault::MasterKilled`].
    fault: Fault,
    shard: usize,
    port: u16,
    /// Its replica, promoted in its place.
    promoted: u16,
    failed_over: Duration,
}

/// Freezes (`SIGSTOP`) or kills (`SIGKILL`) a master and waits, until
/// `deadline` at most, for its replica to take over; the probes turn to
/// its slots first. The master is the one serving the session a client
/// saw confirmed last, unless an earlier fault took that master's slots
/// down (`spent`): then the first master whose slots it spared.
fn take_master_down(
    load: &Load,
    cluster: &mut PrivateCluster,
    step: Step,
    spent: &[usize],
    deadline: Instant,
) -> Result<(MasterDown, FaultWindow), String> {
    let now = || load.start.elapsed();
    let latest = load
        .last_token()
        .map(|token| cluster.shard_of_key(&format!("{REDIS_PREFIX}{token}")));
    let (shard, why) = match latest {
        Some(shard) if !spent.contains(&shard) => (shard, "serving the session confirmed last"),
        _ => (
            (0..cluster.shards())
                .find(|s| !spent.contains(s))
                .ok_or("every master has been faulted already")?,
            if latest.is_some() {
                "the session confirmed last is on slots faulted before"
            } else {
                "no session confirmed yet"
            },
        ),
    };
    load.focus.store(shard, Ordering::Relaxed);
    let port = cluster.master_of(shard)?;
    let began = now();
    let (fault, signal) = if step == Step::FreezeRedis {
        cluster.freeze(port)?;
        (Fault::MasterFrozen, "SIGSTOP")
    } else {
        cluster.kill(port)?;
        (Fault::MasterKilled, "SIGKILL")
    };
    let promoted = cluster.wait_for_failover(port, deadline)?;
    let failed_over = now();
    let detail = format!(
        "{signal} to master {port} ({why}); its replica {promoted} promoted, with `cluster_state:ok` \
         on every running node, {:.2} s later",
        (failed_over - began).as_secs_f64()
    );
    eprintln!(
        "{:>6.2} s  failed over: {detail}",
        failed_over.as_secs_f64()
    );
    let window = FaultWindow {
        fault,
        began,
        returned: failed_over,
        detail,
    };
    let down = MasterDown {
        fault,
        shard,
        port,
        promoted,
        failed_over,
    };
    Ok((down, window))
}

/// Wakes (`SIGCONT`) or starts again the master taken down and waits
/// until it is a caught-up replica of the one promoted in its place; the
/// window runs from the failover to then.
fn bring_master_back(
    load: &Load,
    cluster: &mut PrivateCluster,
    down: MasterDown,
) -> Result<FaultWindow, String> {
    let now = || load.start.elapsed();
    let back = now();
    let how = if down.fault == Fault::MasterFrozen {
        cluster.thaw(down.port)?;
        "SIGCONT"
    } else {
        cluster.restart(down.port)?;
        "started again with its `nodes-<port>.conf`"
    };
    cluster.wait_for_rejoin(down.port, down.promoted, Instant::now() + REJOIN_TIMEOUT)?;
    let rejoined = now();
    let fault = down.fault.master_away().ok_or("not a master's fault")?;
    let detail = format!(
        "{} {how} at {:.2} s, a caught-up replica of {} {} ms later; until then writes to these slots \
         could not reach a replica",
        down.port,
        back.as_secs_f64(),
        down.promoted,
        (rejoined - back).as_millis()
    );
    eprintln!("{:>6.2} s  rejoined: {detail}", rejoined.as_secs_f64());
    Ok(FaultWindow {
        fault,
        began: down.failed_over,
        returned: rejoined,
        detail,
    })
}

/// One exchange on one line, for stderr.
fn describe(e: &record::Exchange) -> String {
    format!(
        "{} to {}: sent {:.3} s, {} at {:.3} s",
        e.endpoint.label(),
        e.target.label(),
        e.sent.as_secs_f64(),
        e.outcome.describe(),
        e.received.as_secs_f64()
    )
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
                clients: 8,
                cluster: false
            }
        );
        let config = FaultConfig::parse(&args(&["--clients", "3", "--seconds", "60"])).unwrap();
        assert_eq!(
            (config.seconds, config.clients, config.cluster),
            (60, 3, false)
        );
        let config = FaultConfig::parse(&args(&["--cluster", "--seconds", "50"])).unwrap();
        assert_eq!((config.seconds, config.cluster), (50, true));
        assert!(FaultConfig::parse(&args(&["--seconds", "--cluster"])).is_err());
        assert!(FaultConfig::parse(&args(&["--clients", "0"])).is_err());
        assert!(FaultConfig::parse(&args(&["--seconds"])).is_err());
        assert!(FaultConfig::parse(&args(&["--rounds", "2"])).is_err());
    }
}
