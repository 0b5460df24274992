//! `cargo xtask bench load revocation`: what following the revocation log
//! costs (`docs/revocation.md`). Cache-hit `GET /get-session` on `tessera
//! serve` with `TESSERA_REVOCATION_LAG=1` (following on) next to the same
//! server with `none` (better-auth's behaviour, nothing followed), taking
//! turns in one run: over Redis with the `jwe` cookie cache, and stateless
//! (no store, so nothing to follow: the row checks that it costs nothing
//! there either). The Redis row also counts the log reads (`XRANGE` in
//! `INFO commandstats`) per second of load: the background traffic.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use super::stores::{delete_keys, start, DEFAULT_REDIS_URL};
use super::{
    check_get_session, check_placement, check_wrk, conditions, cores, median, sign_up, target_dir,
    thousands, wrk, LoadConfig, WrkResult, GET_SESSION,
};
use crate::cargo;

struct Row {
    setup: &'static str,
    following: WrkResult,
    not_following: WrkResult,
    /// Log reads per second of load (Redis only).
    reads_per_sec: Option<f64>,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let config = LoadConfig::parse(args)?;
    check_wrk()?;
    check_placement(&config)?;
    cargo(&["build", "--release", "-p", "tessera-cli"])?;
    let bin = target_dir()?.join("release/tessera");
    let work = std::env::temp_dir().join(format!("tessera-load-revocation-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let cores = cores();
    let conditions = conditions(cores);
    let rows = measure_all(&config, &bin, &work);
    let _ = std::fs::remove_dir_all(&work);
    print_table(&config, &rows?, cores, &conditions);
    Ok(())
}

fn measure_all(config: &LoadConfig, bin: &Path, work: &Path) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    eprintln!("== stateless");
    let stateless = [("TESSERA_DATABASE_URL", "none".to_owned())];
    rows.push(measure(
        config,
        bin,
        work,
        "stateless (`jwe`, no store)",
        &stateless,
        None,
    )?);

    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned());
    if redis_cli(&url, &["ping"]).is_none_or(|out| out.trim() != "PONG") {
        eprintln!("skipping Redis ({url}): no PONG from redis-cli");
        return Ok(rows);
    }
    eprintln!("== Redis");
    let prefix = format!("tessera-load-revocation-{}:", std::process::id());
    let redis = [
        ("TESSERA_DATABASE_URL", "memory".to_owned()),
        ("TESSERA_SECONDARY_STORAGE", url.clone()),
        ("TESSERA_REDIS_PREFIX", prefix.clone()),
        ("TESSERA_COOKIE_CACHE", "jwe".to_owned()),
    ];
    let result = measure(
        config,
        bin,
        work,
        "Redis secondary storage, `jwe` cookie cache (hits)",
        &redis,
        Some(&url),
    );
    delete_keys(&url, &prefix);
    rows.push(result?);
    Ok(rows)
}

/// Two servers on the same store, one following the log and one not;
/// wrk takes turns on them with one session cookie.
fn measure(
    config: &LoadConfig,
    bin: &Path,
    work: &Path,
    setup: &'static str,
    env: &[(&str, String)],
    redis: Option<&str>,
) -> Result<Row, String> {
    let with_lag = |lag: &str| -> Vec<(String, String)> {
        env.iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .chain([("TESSERA_REVOCATION_LAG".to_owned(), lag.to_owned())])
            .collect()
    };
    let following = start(config, bin, work, &with_lag("1"))?;
    let not_following = start(config, bin, work, &with_lag("none"))?;
    let cookie = sign_up(&following.addr)?;
    check_get_session(&following.addr, &cookie)?;
    check_get_session(&not_following.addr, &cookie)?;
    let mut on_runs = Vec::new();
    let mut off_runs = Vec::new();
    let mut reads = 0u64;
    let mut loaded = 0f64;
    for _ in 0..config.rounds {
        let before = redis.map(xrange_calls).transpose()?;
        let t = Instant::now();
        on_runs.push(wrk(config, &following.addr, GET_SESSION, Some(&cookie))?);
        loaded += t.elapsed().as_secs_f64();
        if let (Some(url), Some(before)) = (redis, before) {
            reads += xrange_calls(url)?.saturating_sub(before);
        }
        off_runs.push(wrk(
            config,
            &not_following.addr,
            GET_SESSION,
            Some(&cookie),
        )?);
    }
    Ok(Row {
        setup,
        following: median(on_runs),
        not_following: median(off_runs),
        reads_per_sec: redis.map(|_| reads as f64 / loaded.max(f64::EPSILON)),
    })
}

fn redis_cli(url: &str, args: &[&str]) -> Option<String> {
    let out = Command::new("redis-cli")
        .args(["-u", url])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `XRANGE` calls the Redis server has answered so far.
fn xrange_calls(url: &str) -> Result<u64, String> {
    let stats = redis_cli(url, &["info", "commandstats"])
        .ok_or_else(|| format!("redis-cli -u {url} info commandstats failed"))?;
    Ok(parse_calls(&stats, "xrange"))
}

/// The `calls=` of `cmdstat_<command>` in `INFO commandstats` (0 when the
/// command never ran).
fn parse_calls(stats: &str, command: &str) -> u64 {
    let prefix = format!("cmdstat_{command}:");
    stats
        .lines()
        .find_map(|l| l.trim().strip_prefix(prefix.as_str()))
        .and_then(|rest| rest.split(',').find_map(|kv| kv.strip_prefix("calls=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn print_table(config: &LoadConfig, rows: &[Row], cores: usize, conditions: &str) {
    let mut out = format!(
        "`tessera serve` (hyper), release build, rate limiting off; `GET /get-session` with a session cookie, \
         `wrk -c{} -d{}`, {} rounds taking turns, medians; {} (before the run: load average {conditions}).\n\n",
        config.connections,
        config.duration,
        config.rounds,
        config.describe(cores),
    );
    out.push_str("| setup | following (lag 1 s) req/s | not following (`none`) req/s | ratio | log reads per second of load |\n");
    out.push_str("|---|---:|---:|---:|---:|\n");
    for row in rows {
        let ratio = row.following.requests_per_sec / row.not_following.requests_per_sec * 100.0;
        out.push_str(&format!(
            "| {} | {} | {} | {ratio:.1} % | {} |\n",
            row.setup,
            thousands(row.following.requests_per_sec),
            thousands(row.not_following.requests_per_sec),
            row.reads_per_sec
                .map_or_else(|| "— (no store)".to_owned(), |r| format!("{r:.2}")),
        ));
    }
    println!("{out}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commandstats_calls_are_read() {
        let stats = "# Commandstats\r\ncmdstat_get:calls=12,usec=30,usec_per_call=2.50\r\n\
                     cmdstat_xrange:calls=7,usec=70,usec_per_call=10.00,rejected_calls=0\r\n";
        assert_eq!(parse_calls(stats, "xrange"), 7);
        assert_eq!(parse_calls(stats, "get"), 12);
        assert_eq!(parse_calls(stats, "xadd"), 0);
    }
}
