//! From the records to the verdict: requests counted per phase and class,
//! each service's recovery, the five checks, and the Markdown report.
//! Pure: everything here works on records, so tests feed it synthetic
//! ones.

use std::time::Duration;

use super::record::{
    Class, Endpoint, Exchange, Fault, FaultWindow, LiveCheck, Outcome, RevokedCheck, Target,
};

/// How long after its return a service must answer again.
pub(super) const RECOVERY_LIMIT: Duration = Duration::from_secs(2);

/// Everything a run recorded.
#[derive(Default)]
pub(super) struct Records {
    /// Every request of the clients and probes during the load.
    pub(super) exchanges: Vec<Exchange>,
    pub(super) faults: Vec<FaultWindow>,
    /// When the load stopped.
    pub(super) end: Duration,
    /// Confirmed sessions never revoked.
    pub(super) live: usize,
    /// Confirmed sessions whose revocation was confirmed.
    pub(super) revoked: usize,
    /// Confirmed sessions whose revocation failed: in neither check.
    pub(super) in_doubt: usize,
    /// Revoked sessions read again, during the load and at its end.
    pub(super) revoked_checks: Vec<RevokedCheck>,
    /// Live sessions read from the store on both processes at the end.
    pub(super) live_checks: Vec<LiveCheck>,
    /// A live session answered `null` during the load.
    pub(super) live_nulls: Vec<(Target, Duration)>,
    /// `panicked at` lines in the processes' output.
    pub(super) panics: Vec<String>,
    /// Each process and how it exited on `SIGTERM`: its code, `None`
    /// when a signal ended it, or why it could not be stopped.
    pub(super) exits: Vec<(&'static str, Result<Option<i32>, String>)>,
}

/// A stretch of the run: steady, or one fault's outage.
#[derive(Debug, PartialEq)]
pub(super) struct Phase {
    pub(super) label: &'static str,
    pub(super) from: Duration,
    /// `None` for the last phase, which also takes requests sent after the
    /// load was told to stop.
    pub(super) to: Option<Duration>,
}

/// The phases: steady stretches between the faults' outages, in order
/// (none between two outages that abut, as a failover and the rejoin
/// after it do).
pub(super) fn phases(faults: &[FaultWindow]) -> Vec<Phase> {
    let mut out = Vec::new();
    let mut from = Duration::ZERO;
    for fault in faults {
        if fault.began > from || out.is_empty() {
            out.push(Phase {
                label: "steady",
                from,
                to: Some(fault.began),
            });
        }
        out.push(Phase {
            label: fault.fault.label(),
            from: fault.began,
            to: Some(fault.returned),
        });
        from = fault.returned;
    }
    out.push(Phase {
        label: "steady",
        from,
        to: None,
    });
    out
}

/// Requests by class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Counts {
    pub(super) requests: usize,
    pub(super) success: usize,
    pub(super) client_error: usize,
    pub(super) unavailable: usize,
    pub(super) other: usize,
    pub(super) connection: usize,
    /// Of `connection`: to B while it was down.
    pub(super) expected_connection: usize,
}

impl Counts {
    fn add(&mut self, exchange: &Exchange, faults: &[FaultWindow]) {
        self.requests += 1;
        match exchange.outcome.class() {
            Class::Success => self.success += 1,
            Class::ClientError => self.client_error += 1,
            Class::Unavailable => self.unavailable += 1,
            Class::Other => self.other += 1,
            Class::Connection => {
                self.connection += 1;
                if expected_failure(exchange, faults) {
                    self.expected_connection += 1;
                }
            }
        }
    }
}

/// A connection to B that failed while B was down: it failed after the
/// kill and was sent before B listened again.
fn expected_failure(exchange: &Exchange, faults: &[FaultWindow]) -> bool {
    exchange.target == Target::B
        && exchange.outcome.class() == Class::Connection
        && faults.iter().any(|f| {
            f.fault == Fault::ProcessKilled
                && exchange.received >= f.began
                && exchange.sent <= f.returned
        })
}

/// Counts per phase, by when each answer (or failure) came, and the total.
pub(super) fn count(
    exchanges: &[Exchange],
    phases: &[Phase],
    faults: &[FaultWindow],
) -> (Vec<Counts>, Counts) {
    let mut per_phase = vec![Counts::default(); phases.len()];
    let mut total = Counts::default();
    for exchange in exchanges {
        if let Some(i) = phase_of(phases, exchange.received) {
            per_phase[i].add(exchange, faults);
        }
        total.add(exchange, faults);
    }
    (per_phase, total)
}

fn phase_of(phases: &[Phase], at: Duration) -> Option<usize> {
    phases
        .iter()
        .position(|p| at >= p.from && p.to.is_none_or(|to| at < to))
}

/// Counts per endpoint, in [`Endpoint::ALL`]'s order; endpoints never
/// asked are left out.
pub(super) fn count_by_endpoint(
    exchanges: &[Exchange],
    faults: &[FaultWindow],
) -> Vec<(Endpoint, Counts)> {
    Endpoint::ALL
        .into_iter()
        .map(|endpoint| {
            let mut counts = Counts::default();
            for exchange in exchanges.iter().filter(|e| e.endpoint == endpoint) {
                counts.add(exchange, faults);
            }
            (endpoint, counts)
        })
        .filter(|(_, counts)| counts.requests > 0)
        .collect()
}

/// Answers other than 2xx and 4xx that came outside every outage: for
/// whoever reads a run, not a check (a request sent just before a fault
/// may still end in it).
pub(super) fn failures_outside_outages<'a>(
    exchanges: &'a [Exchange],
    faults: &[FaultWindow],
) -> Vec<&'a Exchange> {
    exchanges
        .iter()
        .filter(|e| {
            !matches!(e.outcome.class(), Class::Success | Class::ClientError)
                && !faults
                    .iter()
                    .any(|f| e.received >= f.began && e.received < f.returned)
        })
        .collect()
}

/// Responses other than 2xx, 4xx and 503, and failed connections other
/// than to B while it was down.
pub(super) fn unexpected<'a>(
    exchanges: &'a [Exchange],
    faults: &[FaultWindow],
) -> Vec<&'a Exchange> {
    exchanges
        .iter()
        .filter(|e| match e.outcome.class() {
            Class::Other => true,
            Class::Connection => !expected_failure(e, faults),
            Class::Success | Class::ClientError | Class::Unavailable => false,
        })
        .collect()
}

/// Revoked sessions answered as sessions by a request sent more than
/// `allowed` after the revocation was confirmed.
pub(super) fn late_acceptances(checks: &[RevokedCheck], allowed: Duration) -> Vec<&RevokedCheck> {
    checks
        .iter()
        .filter(|c| c.accepted && c.sent > c.revoked_at + allowed)
        .collect()
}

/// How long after a fault's return one process answered its recovery
/// read with a 2xx.
#[derive(Debug, PartialEq)]
pub(super) struct Recovery {
    pub(super) fault: Fault,
    pub(super) target: Target,
    /// `None`: no 2xx came after the return.
    pub(super) after: Option<Duration>,
}

impl Recovery {
    fn in_time(&self) -> bool {
        self.after.is_some_and(|a| a <= RECOVERY_LIMIT)
    }
}

/// For each fault and process: from the service's return to the first
/// 2xx answer (received then or later) to the fault's recovery read.
pub(super) fn recoveries(exchanges: &[Exchange], faults: &[FaultWindow]) -> Vec<Recovery> {
    let mut out = Vec::new();
    for fault in faults {
        for target in Target::BOTH {
            let first = exchanges
                .iter()
                .filter(|e| {
                    e.target == target
                        && e.endpoint == fault.fault.recovery_endpoint()
                        && e.outcome.class() == Class::Success
                        && e.received >= fault.returned
                })
                .map(|e| e.received)
                .min();
            out.push(Recovery {
                fault: fault.fault,
                target,
                after: first.map(|at| at - fault.returned),
            });
        }
    }
    out
}

/// For each recovery over the limit: the fault, the process, and that
/// process's recovery reads answered from the fault's start until the
/// first 2xx after its return, in order of answer. Not a check: for
/// whoever reads a failed run.
pub(super) fn slow_recovery_reads<'a>(
    exchanges: &'a [Exchange],
    faults: &'a [FaultWindow],
) -> Vec<(&'a FaultWindow, Target, Vec<&'a Exchange>)> {
    let slow = recoveries(exchanges, faults)
        .into_iter()
        .filter(|r| !r.in_time());
    let mut out = Vec::new();
    for recovery in slow {
        let Some(fault) = faults.iter().find(|f| f.fault == recovery.fault) else {
            continue;
        };
        let until = recovery.after.map(|a| fault.returned + a);
        let mut reads: Vec<&Exchange> = exchanges
            .iter()
            .filter(|e| {
                e.target == recovery.target
                    && e.endpoint == fault.fault.recovery_endpoint()
                    && e.received >= fault.began
                    && until.is_none_or(|u| e.received <= u)
            })
            .collect();
        reads.sort_by_key(|e| e.received);
        out.push((fault, recovery.target, reads));
    }
    out
}

/// One check's verdict.
#[derive(Debug)]
pub(super) struct Check {
    pub(super) name: &'static str,
    pub(super) passed: bool,
    pub(super) detail: String,
}

/// The five checks; `allowed` is the revocation lag plus the slack.
pub(super) fn checks(records: &Records, allowed: Duration) -> Vec<Check> {
    let mut out = Vec::new();

    let lost: Vec<&LiveCheck> = records.live_checks.iter().filter(|c| !c.answered).collect();
    let mut detail = format!(
        "{} live sessions × 2 processes read from the store at the end: {} lost; {} answered `null` mid-run ({} sessions in doubt, their revocation unconfirmed, not counted)",
        records.live,
        lost.len(),
        records.live_nulls.len(),
        records.in_doubt
    );
    if let Some(first) = lost.first() {
        let answer = match first.outcome {
            Outcome::Status(200) => "200 without a session".to_owned(),
            other => other.describe(),
        };
        detail.push_str(&format!("; first: on {}, {answer}", first.target.label()));
    }
    out.push(Check {
        name: "no confirmed session lost",
        passed: lost.is_empty() && records.live_nulls.is_empty() && records.live > 0,
        detail,
    });

    let late = late_acceptances(&records.revoked_checks, allowed);
    let past = records
        .revoked_checks
        .iter()
        .filter(|c| c.sent > c.revoked_at + allowed)
        .count();
    let mut detail = format!(
        "{} revoked sessions, read {} times ({past} of them more than {} ms after the revocation's 200): {} accepted then",
        records.revoked,
        records.revoked_checks.len(),
        allowed.as_millis(),
        late.len(),
    );
    if let Some(first) = late.first() {
        detail.push_str(&format!(
            "; first: on {}, sent {} after",
            first.target.label(),
            seconds(first.sent - first.revoked_at)
        ));
    }
    out.push(Check {
        name: "no revoked session accepted after the lag",
        passed: late.is_empty() && records.revoked > 0,
        detail,
    });

    let bad = unexpected(&records.exchanges, &records.faults);
    let mut detail = format!("{} of {} requests", bad.len(), records.exchanges.len());
    if let Some(first) = bad.first() {
        detail.push_str(&format!(
            "; first: {:?} to {} sent at {}: {}",
            first.endpoint,
            first.target.label(),
            seconds(first.sent),
            first.outcome.describe()
        ));
    }
    out.push(Check {
        name: "only 2xx, 4xx or 503 (failed connections only to B while down)",
        passed: bad.is_empty(),
        detail,
    });

    let recoveries = recoveries(&records.exchanges, &records.faults);
    let slow: Vec<&Recovery> = recoveries.iter().filter(|r| !r.in_time()).collect();
    let worst = recoveries.iter().filter_map(|r| r.after).max();
    let mut detail = format!("worst {}", worst.map_or_else(|| "none".to_owned(), seconds));
    for r in &slow {
        detail.push_str(&format!(
            "; {} on {}: {}",
            r.fault.label(),
            r.target.label(),
            r.after.map_or_else(|| "never".to_owned(), seconds)
        ));
    }
    out.push(Check {
        name: "every service answers within 2 s of its return",
        passed: slow.is_empty() && recoveries.len() == 2 * records.faults.len(),
        detail,
    });

    let exits: Vec<String> = records
        .exits
        .iter()
        .map(|(label, exit)| match exit {
            Ok(Some(code)) => format!("{label} exited {code}"),
            Ok(None) => format!("{label} ended by a signal"),
            Err(e) => format!("{label}: {e}"),
        })
        .collect();
    let clean_exits = !records.exits.is_empty()
        && records
            .exits
            .iter()
            .all(|(_, exit)| matches!(exit, Ok(Some(0))));
    let mut detail = format!("{} panics; {}", records.panics.len(), exits.join(", "));
    if let Some(first) = records.panics.first() {
        detail.push_str(&format!("; first: {first}"));
    }
    out.push(Check {
        name: "no panic, and A and B exit 0 on SIGTERM",
        passed: records.panics.is_empty() && clean_exits,
        detail,
    });
    out
}

/// How the run was made, for the caption.
pub(super) struct Method {
    pub(super) command: String,
    pub(super) date: String,
    pub(super) cores: usize,
    pub(super) clients: usize,
    pub(super) postgres: String,
    pub(super) redis: String,
    pub(super) setup: RedisSetup,
    pub(super) allowed: Duration,
}

/// The Redis the run faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RedisSetup {
    /// One server with an append-only file.
    Single,
    /// Three masters with a replica each (`--cluster`); a write is
    /// confirmed once this many replicas have it
    /// (`TESSERA_REDIS_WAIT_REPLICAS`).
    Cluster { wait_replicas: u32 },
}

/// The report: caption, requests per phase, faults and recoveries, checks.
pub(super) fn render(records: &Records, checks: &[Check], method: &Method) -> String {
    let (redis, probes) = match method.setup {
        RedisSetup::Single => (
            format!(
                "one private Redis {} (append-only file, `appendfsync always`), with",
                method.redis
            ),
            "Probes read a session from Redis (`get-session?disableCookieCache=true`) and the user's accounts from \
             PostgreSQL (`list-accounts`) on each process every 50 ms; a service's recovery is the time from its return \
             to the first 2xx of its probe on that process."
                .to_owned(),
        ),
        RedisSetup::Cluster { wait_replicas } => (
            format!(
                "a private Redis Cluster {}: three masters with a replica each (six `redis-server` on loopback, \
                 `--cluster-node-timeout 1000`, `--repl-diskless-sync-delay 0`, no persistence: replication is \
                 the durability), with \
                 `TESSERA_REDIS_WAIT_REPLICAS={wait_replicas}` ({}), with",
                method.redis,
                if wait_replicas == 0 {
                    "a write is confirmed without waiting for any replica".to_owned()
                } else {
                    format!(
                        "a write is confirmed only once {wait_replicas} replica of its master has it, \
                         `WAIT {wait_replicas} 500`, else it answers 503"
                    )
                },
            ),
            format!(
                "Probes on each process every 50 ms read a session from Redis (`get-session?disableCookieCache=true`) \
             and the user's accounts from PostgreSQL (`list-accounts`), and a write probe signs a user in (which writes \
             the user's session index to Redis) and the new session out. Before the load, probe users are signed up \
             until each master's slots hold a probe session and a probe user's index; when a master is faulted the \
             Redis probes switch to those on it. The master frozen is the one serving the session a client saw \
             confirmed last; the master killed is chosen the same way among the other two masters' slots. Each \
             master fault counts as two phases: until the failover (its replica promoted, and seen as a master with \
             `cluster_state:ok` by every running node), then until the old master is a caught-up replica of the new \
             one (after `SIGCONT`, or started again with its `nodes-<port>.conf`); meanwhile its slots have no \
             replica{}. Recovery is the time from the failover to the first 2xx of the \
             read probe, from the rejoin to the first 2xx sign-in of the write probe, and, for PostgreSQL and B, \
             from the service's return to the first 2xx of its probe, on each process.",
                if wait_replicas == 0 {
                    ""
                } else {
                    ", so writes there answer 503"
                }
            ),
        ),
    };
    let mut out = format!(
        "`{}` on {}, a {}-core machine. Two `tessera serve` (release build, hyper), A and B, share one PostgreSQL {} \
         (a schema of the run's own) and {redis} the `jwe` cookie cache, revocation lag 1 s and rate limiting off. \
         {} clients, one thread each, loop: sign up a new user on one process, sign in a second session on the other, \
         read both, then revoke the second session three rounds in four (`revoke-session`, `sign-out`, \
         `revoke-other-sessions`, on either process) and read older live and revoked sessions on the other process. \
         {probes} A revoked session counts as accepted late when a request sent \
         more than {} ms (the lag plus 200 ms of measurement slack) after the revocation's 200 answered a session. \
         Requests are counted in the phase in which their answer (or failure) came; times are from the load's start.\n\n",
        method.command,
        method.date,
        method.cores,
        method.postgres,
        method.clients,
        method.allowed.as_millis(),
    );

    let phases = phases(&records.faults);
    let (per_phase, total) = count(&records.exchanges, &phases, &records.faults);
    out.push_str(
        "| phase | from – to | requests | 2xx | 4xx | 503 | other | failed connections |\n",
    );
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|\n");
    for (phase, counts) in phases.iter().zip(&per_phase) {
        let window = format!(
            "{} – {}",
            seconds(phase.from),
            phase
                .to
                .map_or_else(|| format!("{} (end)", seconds(records.end)), seconds)
        );
        out.push_str(&row(phase.label, &window, counts));
    }
    out.push_str(&row("**all**", "", &total));

    out.push_str("\n| request | | requests | 2xx | 4xx | 503 | other | failed connections |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|\n");
    for (endpoint, counts) in count_by_endpoint(&records.exchanges, &records.faults) {
        out.push_str(&row(endpoint.label(), "", &counts));
    }

    out.push_str("\n| fault | began | back | what happened | recovery read | A answered after | B answered after |\n");
    out.push_str("|---|---:|---:|---|---|---:|---:|\n");
    let recoveries = recoveries(&records.exchanges, &records.faults);
    for fault in &records.faults {
        let after = |target| {
            recoveries
                .iter()
                .find(|r| r.fault == fault.fault && r.target == target)
                .and_then(|r| r.after)
                .map_or_else(|| "never".to_owned(), seconds)
        };
        let read = match fault.fault.recovery_endpoint() {
            Endpoint::ListAccounts => "list-accounts (PostgreSQL)",
            Endpoint::SignInProbe => "sign-in of the write probe (Redis)",
            _ => "get-session from Redis",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {read} | {} | {} |\n",
            fault.fault.label(),
            seconds(fault.began),
            seconds(fault.returned),
            fault.detail,
            after(Target::A),
            after(Target::B),
        ));
    }

    out.push_str("\n| check | result | detail |\n|---|---|---|\n");
    for check in checks {
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            check.name,
            if check.passed { "PASS" } else { "**FAIL**" },
            check.detail
        ));
    }
    out
}

fn row(label: &str, window: &str, c: &Counts) -> String {
    let connection = if c.expected_connection > 0 {
        format!(
            "{} ({} to B while down)",
            c.connection, c.expected_connection
        )
    } else {
        c.connection.to_string()
    };
    format!(
        "| {label} | {window} | {} | {} | {} | {} | {} | {connection} |\n",
        c.requests, c.success, c.client_error, c.unavailable, c.other
    )
}

/// `12.34 s`, or `850 ms` under a second.
fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> Outcome {
        Outcome::Status(code)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn exchange(
        target: Target,
        endpoint: Endpoint,
        sent: u64,
        received: u64,
        outcome: Outcome,
    ) -> Exchange {
        Exchange {
            target,
            endpoint,
            sent: ms(sent),
            received: ms(received),
            outcome,
        }
    }

    fn window(fault: Fault, began: u64, returned: u64) -> FaultWindow {
        FaultWindow {
            fault,
            began: ms(began),
            returned: ms(returned),
            detail: String::new(),
        }
    }

    fn faults() -> Vec<FaultWindow> {
        vec![
            window(Fault::RedisFrozen, 5_000, 10_000),
            window(Fault::ProcessKilled, 22_000, 24_300),
        ]
    }

    #[test]
    fn phases_alternate_steady_stretches_and_outages() {
        let phases = phases(&faults());
        let labels: Vec<&str> = phases.iter().map(|p| p.label).collect();
        assert_eq!(
            labels,
            [
                "steady",
                "Redis frozen (SIGSTOP)",
                "steady",
                "B killed (SIGKILL)",
                "steady"
            ]
        );
        assert_eq!(
            (phases[1].from, phases[1].to),
            (ms(5_000), Some(ms(10_000)))
        );
        assert_eq!((phases[4].from, phases[4].to), (ms(24_300), None));
    }

    #[test]
    fn requests_count_in_the_phase_their_answer_came_in() {
        let faults = faults();
        let exchanges = [
            exchange(Target::A, Endpoint::GetSession, 100, 110, status(200)),
            exchange(Target::A, Endpoint::GetSession, 6_000, 7_900, status(503)),
            exchange(Target::B, Endpoint::SignIn, 9_900, 10_500, status(200)),
            exchange(
                Target::B,
                Endpoint::GetSession,
                22_500,
                22_501,
                Outcome::ConnectionFailed,
            ),
            exchange(Target::A, Endpoint::SignUp, 23_000, 23_100, status(422)),
            exchange(Target::A, Endpoint::GetSession, 41_000, 41_001, status(500)),
        ];
        let phases = phases(&faults);
        let (per_phase, total) = count(&exchanges, &phases, &faults);
        assert_eq!(per_phase[0].success, 1);
        assert_eq!((per_phase[1].unavailable, per_phase[1].success), (1, 0));
        assert_eq!(per_phase[2].success, 1, "answered after the thaw");
        let killed = per_phase[3];
        assert_eq!((killed.connection, killed.expected_connection), (1, 1));
        assert_eq!(killed.client_error, 1);
        assert_eq!(
            per_phase[4].other, 1,
            "a straggler counts in the last phase"
        );
        assert_eq!(total.requests, exchanges.len());
    }

    #[test]
    fn only_failures_to_b_while_it_was_down_are_expected() {
        let faults = faults();
        let exchanges = [
            // In flight when B was killed: failed after the kill.
            exchange(
                Target::B,
                Endpoint::SignUp,
                21_800,
                22_000,
                Outcome::ConnectionFailed,
            ),
            exchange(
                Target::B,
                Endpoint::GetSession,
                24_000,
                24_001,
                Outcome::ConnectionFailed,
            ),
            // B was back: a failure now is not expected.
            exchange(
                Target::B,
                Endpoint::GetSession,
                24_400,
                24_401,
                Outcome::ConnectionFailed,
            ),
            // A never went down.
            exchange(
                Target::A,
                Endpoint::GetSession,
                23_000,
                38_000,
                Outcome::TimedOut,
            ),
            exchange(Target::A, Endpoint::GetSession, 6_000, 6_001, status(500)),
            exchange(Target::A, Endpoint::GetSession, 6_000, 6_001, status(503)),
            exchange(
                Target::A,
                Endpoint::GetSession,
                6_000,
                6_001,
                Outcome::Malformed,
            ),
        ];
        let bad: Vec<u64> = unexpected(&exchanges, &faults)
            .iter()
            .map(|e| e.sent.as_millis() as u64)
            .collect();
        assert_eq!(bad, [24_400, 23_000, 6_000, 6_000]);
    }

    #[test]
    fn failures_outside_outages_are_listed_by_when_they_came() {
        let faults = faults();
        let exchanges = [
            // Sent before the freeze, timed out in it.
            exchange(Target::A, Endpoint::GetSession, 4_900, 6_900, status(503)),
            exchange(Target::A, Endpoint::GetSession, 10_100, 10_200, status(503)),
            exchange(Target::A, Endpoint::SignUp, 10_100, 10_200, status(422)),
            exchange(
                Target::B,
                Endpoint::GetSession,
                23_000,
                23_001,
                Outcome::ConnectionFailed,
            ),
        ];
        let listed = failures_outside_outages(&exchanges, &faults);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].sent, ms(10_100));
        let by_endpoint = count_by_endpoint(&exchanges, &faults);
        let endpoints: Vec<Endpoint> = by_endpoint.iter().map(|(e, _)| *e).collect();
        assert_eq!(endpoints, [Endpoint::SignUp, Endpoint::GetSession]);
        assert_eq!(by_endpoint[1].1.unavailable, 2);
    }

    #[test]
    fn a_revoked_session_may_be_accepted_only_within_the_allowance() {
        let check = |sent, accepted| RevokedCheck {
            target: Target::B,
            revoked_at: ms(10_000),
            sent: ms(sent),
            accepted,
        };
        let checks = [
            check(10_050, true),
            check(11_200, true),
            check(11_201, true),
            check(15_000, false),
        ];
        let late = late_acceptances(&checks, ms(1_200));
        assert_eq!(late.len(), 1);
        assert_eq!(late[0].sent, ms(11_201));
    }

    #[test]
    fn recovery_is_the_first_2xx_of_the_faults_own_read_after_its_return() {
        let faults = vec![
            window(Fault::RedisFrozen, 5_000, 10_000),
            window(Fault::PostgresRestarted, 15_000, 16_500),
        ];
        let exchanges = [
            // Answered before the return: not a recovery.
            exchange(
                Target::A,
                Endpoint::GetSessionFromStore,
                9_000,
                9_500,
                status(200),
            ),
            exchange(
                Target::A,
                Endpoint::GetSessionFromStore,
                9_900,
                10_200,
                status(503),
            ),
            // Sent while frozen, answered after the thaw: it counts.
            exchange(
                Target::A,
                Endpoint::GetSessionFromStore,
                9_950,
                10_300,
                status(200),
            ),
            exchange(
                Target::A,
                Endpoint::GetSessionFromStore,
                10_400,
                10_410,
                status(200),
            ),
            exchange(
                Target::B,
                Endpoint::GetSessionFromStore,
                12_000,
                12_010,
                status(200),
            ),
            // A cache hit is not a read of the store.
            exchange(Target::B, Endpoint::GetSession, 10_000, 10_001, status(200)),
            exchange(
                Target::A,
                Endpoint::ListAccounts,
                16_600,
                16_700,
                status(200),
            ),
        ];
        let found = recoveries(&exchanges, &faults);
        let after: Vec<Option<u64>> = found
            .iter()
            .map(|r| r.after.map(|a| a.as_millis() as u64))
            .collect();
        assert_eq!(after, [Some(300), Some(2_010), Some(200), None]);
        assert!(found[0].in_time());
        assert!(!found[1].in_time(), "2.01 s is over the limit");
        assert!(!found[3].in_time(), "no answer at all fails");
    }

    fn passing_records() -> Records {
        Records {
            exchanges: vec![
                exchange(
                    Target::A,
                    Endpoint::GetSessionFromStore,
                    10_100,
                    10_200,
                    status(200),
                ),
                exchange(
                    Target::B,
                    Endpoint::GetSessionFromStore,
                    10_100,
                    10_300,
                    status(200),
                ),
                exchange(Target::B, Endpoint::GetSession, 6_000, 7_000, status(503)),
            ],
            faults: vec![window(Fault::RedisFrozen, 5_000, 10_000)],
            end: ms(40_000),
            live: 1,
            revoked: 1,
            in_doubt: 0,
            revoked_checks: vec![RevokedCheck {
                target: Target::A,
                revoked_at: ms(2_000),
                sent: ms(2_100),
                accepted: true,
            }],
            live_checks: vec![
                LiveCheck {
                    target: Target::A,
                    outcome: status(200),
                    answered: true,
                },
                LiveCheck {
                    target: Target::B,
                    outcome: status(200),
                    answered: true,
                },
            ],
            live_nulls: Vec::new(),
            panics: Vec::new(),
            exits: vec![("A", Ok(Some(0))), ("B", Ok(Some(0)))],
        }
    }

    #[test]
    fn a_clean_run_passes_every_check() {
        let checks = checks(&passing_records(), ms(1_200));
        assert_eq!(checks.len(), 5);
        for check in &checks {
            assert!(check.passed, "{}: {}", check.name, check.detail);
        }
    }

    #[test]
    fn each_kind_of_damage_fails_its_own_check() {
        let failed = |records: &Records| -> Vec<usize> {
            checks(records, ms(1_200))
                .iter()
                .enumerate()
                .filter(|(_, c)| !c.passed)
                .map(|(i, _)| i)
                .collect()
        };
        let mut lost = passing_records();
        lost.live_checks[1].answered = false;
        assert_eq!(failed(&lost), [0]);
        let detail = &checks(&lost, ms(1_200))[0].detail;
        assert!(
            detail.ends_with("first: on B, 200 without a session"),
            "{detail}"
        );
        let mut late = passing_records();
        late.revoked_checks[0].sent = ms(3_500);
        assert_eq!(failed(&late), [1]);
        let mut error = passing_records();
        error.exchanges[2].outcome = status(500);
        assert_eq!(failed(&error), [2]);
        let mut slow = passing_records();
        slow.exchanges[1].received = ms(12_500);
        assert_eq!(failed(&slow), [3]);
        let mut panicked = passing_records();
        panicked
            .panics
            .push("B-1.stderr: thread 'x' panicked at src/lib.rs:1:1".into());
        assert_eq!(failed(&panicked), [4]);
        let mut killed = passing_records();
        killed.exits[1].1 = Ok(None);
        assert_eq!(failed(&killed), [4]);
        let mut idle = passing_records();
        idle.revoked = 0;
        assert_eq!(
            failed(&idle),
            [1],
            "a run that revoked nothing proves nothing"
        );
    }

    #[test]
    fn the_report_is_a_markdown_table_per_concern() {
        let records = passing_records();
        let method = Method {
            command: "cargo xtask fault --seconds 40".to_owned(),
            date: "2025-01-01".to_owned(),
            cores: 2,
            clients: 8,
            postgres: "15.8".to_owned(),
            redis: "7.0.15".to_owned(),
            setup: RedisSetup::Single,
            allowed: ms(1_200),
        };
        let checks = checks(&records, method.allowed);
        let text = render(&records, &checks, &method);
        assert!(
            text.starts_with("`cargo xtask fault --seconds 40` on 2025-01-01, a 2-core machine.")
        );
        assert!(text.contains(
            "| phase | from – to | requests | 2xx | 4xx | 503 | other | failed connections |"
        ));
        assert!(
            text.contains("| Redis frozen (SIGSTOP) | 5.00 s – 10.00 s | 1 | 0 | 0 | 1 | 0 | 0 |")
        );
        assert!(text.contains("| steady | 10.00 s – 40.00 s (end) | 2 | 2 | 0 | 0 | 0 | 0 |"));
        assert!(text.contains("| **all** |  | 3 | 2 | 0 | 1 | 0 | 0 |"));
        assert!(text.contains("| get-session from Redis | 200 ms | 300 ms |"));
        assert!(text.contains(
            "| get-session?disableCookieCache=true (probe) |  | 2 | 2 | 0 | 0 | 0 | 0 |"
        ));
        assert_eq!(text.matches("| PASS |").count(), 5);
        assert!(text.contains(
            "and one private Redis 7.0.15 (append-only file, `appendfsync always`), with the `jwe` cookie cache"
        ));
        assert!(!text.contains("Cluster"));
    }

    #[test]
    fn a_master_fault_is_two_phases_with_a_read_and_a_write_recovery() {
        let faults = vec![
            window(Fault::MasterFrozen, 5_000, 7_400),
            window(Fault::FrozenMasterAway, 7_400, 10_300),
        ];
        let labels: Vec<&str> = phases(&faults).iter().map(|p| p.label).collect();
        assert_eq!(
            labels,
            [
                "steady",
                Fault::MasterFrozen.label(),
                Fault::FrozenMasterAway.label(),
                "steady"
            ],
            "no empty steady phase between the failover and the rejoin"
        );
        let exchanges = [
            // Writes to the slots without a replica: 503, as they must.
            exchange(Target::A, Endpoint::SignInProbe, 8_000, 8_600, status(503)),
            exchange(
                Target::A,
                Endpoint::GetSessionFromStore,
                7_420,
                7_450,
                status(200),
            ),
            exchange(
                Target::B,
                Endpoint::GetSessionFromStore,
                7_400,
                7_600,
                status(200),
            ),
            exchange(
                Target::A,
                Endpoint::SignInProbe,
                10_200,
                10_400,
                status(200),
            ),
            exchange(
                Target::B,
                Endpoint::SignInProbe,
                10_300,
                10_500,
                status(200),
            ),
        ];
        let after: Vec<Option<u64>> = recoveries(&exchanges, &faults)
            .iter()
            .map(|r| r.after.map(|a| a.as_millis() as u64))
            .collect();
        assert_eq!(after, [Some(50), Some(200), Some(100), Some(200)]);
        assert!(unexpected(&exchanges, &faults).is_empty());
    }

    #[test]
    fn a_cluster_run_says_so_in_its_caption() {
        let mut records = passing_records();
        records.faults = vec![
            window(Fault::MasterKilled, 5_000, 7_400),
            window(Fault::KilledMasterAway, 7_400, 10_300),
        ];
        records.exchanges.push(exchange(
            Target::A,
            Endpoint::SignInProbe,
            10_300,
            10_400,
            status(200),
        ));
        let method = Method {
            command: "cargo xtask fault --seconds 40 --clients 8 --cluster".to_owned(),
            date: "2025-01-01".to_owned(),
            cores: 2,
            clients: 8,
            postgres: "15.8".to_owned(),
            redis: "7.0.15".to_owned(),
            setup: RedisSetup::Cluster { wait_replicas: 1 },
            allowed: ms(1_200),
        };
        let text = render(&records, &checks(&records, method.allowed), &method);
        assert!(text.contains("a private Redis Cluster 7.0.15: three masters with a replica each"));
        assert!(text
            .contains("`TESSERA_REDIS_WAIT_REPLICAS=1` (a write is confirmed only once 1 replica"));
        assert!(text.contains(
            "| its slots without a replica, until the killed master rejoins | 7.40 s | 10.30 s |  | sign-in of the write probe (Redis) | 100 ms | never |"
        ));
    }
}
