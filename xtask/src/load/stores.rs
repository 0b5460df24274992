//! `cargo xtask bench load stores`: `tessera serve` (the release binary,
//! hyper) on each real store under wrk, next to the stateless figure.
//!
//! For each store: one sign-up, then `GET /get-session` with its session
//! cookie (with a database or Redis the cookie cache is off, so every
//! request is a cache miss that reads the store), then
//! `POST /sign-in/email` with that user's password (scrypt dominates).
//! PostgreSQL runs in a schema of its own, created and dropped with
//! `psql`; Redis under a key prefix of its own, deleted with `redis-cli`
//! afterwards. A store that cannot be reached is skipped with a message.

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{
    check_get_session, check_placement, check_wrk, conditions, cores, millis, sign_up, target_dir,
    thousands, wrk, wrk_with, LoadConfig, Server, GET_SESSION,
};
use crate::cargo;

const SECRET: &str = "tessera-load-secret-0123456789-abcdefghijklmnop";
const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
pub(super) const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
/// Sign-in spends ~80 ms of scrypt per request on the server's one core:
/// a few connections keep it busy.
const SIGN_IN_CONNECTIONS: u32 = 4;

/// One store's row.
struct Row {
    store: String,
    get_session: super::WrkResult,
    sign_in: super::WrkResult,
}

/// A store to run `tessera serve` on: its environment, and how to clean up.
struct Store {
    label: String,
    env: Vec<(String, String)>,
    cleanup: Option<Box<dyn FnOnce()>>,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let config = LoadConfig::parse(args)?;
    check_wrk()?;
    check_placement(&config)?;
    cargo(&["build", "--release", "-p", "tessera-cli"])?;
    let bin = target_dir()?.join("release/tessera");
    let work = std::env::temp_dir().join(format!("tessera-load-{}", std::process::id()));
    fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let cores = cores();
    let conditions = conditions(cores);

    let result = measure_all(&config, &bin, &work);
    let _ = fs::remove_dir_all(&work);
    print_table(&config, &result?, cores, &conditions);
    Ok(())
}

/// Each store in turn, set up only when its turn comes and cleaned up
/// whatever the measurement gave.
fn measure_all(config: &LoadConfig, bin: &Path, work: &Path) -> Result<Vec<Row>, String> {
    let stores: [fn(&Path) -> Option<Store>; 4] = [stateless, sqlite, postgres, redis];
    let mut rows = Vec::new();
    for store in stores {
        // `None` (with a message) when the store cannot be reached.
        let Some(mut store) = store(work) else {
            continue;
        };
        eprintln!("== {}", store.label);
        let result = measure(config, bin, work, &store);
        if let Some(cleanup) = store.cleanup.take() {
            cleanup();
        }
        rows.push(result?);
    }
    Ok(rows)
}

fn stateless(_: &Path) -> Option<Store> {
    Some(Store {
        label: "stateless (`jwe` cookie cache, no store)".to_owned(),
        env: vec![("TESSERA_DATABASE_URL".to_owned(), "none".to_owned())],
        cleanup: None,
    })
}

fn sqlite(work: &Path) -> Option<Store> {
    let file = work.join("load.db");
    Some(Store {
        label: "SQLite file (cache miss)".to_owned(),
        env: vec![(
            "TESSERA_DATABASE_URL".to_owned(),
            format!("sqlite://{}", file.display()),
        )],
        cleanup: None,
    })
}

fn postgres(_: &Path) -> Option<Store> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned());
    let schema = format!("tessera_load_{}", std::process::id());
    if let Err(e) = psql(&url, &format!("create schema {schema}")) {
        eprintln!("skipping PostgreSQL ({url}): {e}");
        return None;
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    Some(Store {
        label: "PostgreSQL (cache miss)".to_owned(),
        env: vec![("TESSERA_DATABASE_URL".to_owned(), scoped)],
        cleanup: Some(Box::new(move || {
            if let Err(e) = psql(&url, &format!("drop schema {schema} cascade")) {
                eprintln!("could not drop schema {schema}: {e}");
            }
        })),
    })
}

fn psql(url: &str, sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qc", sql])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

fn redis(_: &Path) -> Option<Store> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned());
    let prefix = format!("tessera-load-{}:", std::process::id());
    let ping = Command::new("redis-cli")
        .args(["-u", &url, "ping"])
        .stdin(Stdio::null())
        .output();
    match ping {
        Ok(out) if String::from_utf8_lossy(&out.stdout).trim() == "PONG" => {}
        Ok(out) => {
            eprintln!(
                "skipping Redis ({url}): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Err(e) => {
            eprintln!("skipping Redis ({url}): cannot run redis-cli: {e}");
            return None;
        }
    }
    Some(Store {
        label: "Redis secondary storage, memory database (cache miss)".to_owned(),
        env: vec![
            ("TESSERA_DATABASE_URL".to_owned(), "memory".to_owned()),
            ("TESSERA_SECONDARY_STORAGE".to_owned(), url.clone()),
            ("TESSERA_REDIS_PREFIX".to_owned(), prefix.clone()),
        ],
        cleanup: Some(Box::new(move || delete_keys(&url, &prefix))),
    })
}

/// Deletes every key under `prefix`.
pub(super) fn delete_keys(url: &str, prefix: &str) {
    let scan = Command::new("redis-cli")
        .args(["-u", url, "--scan", "--pattern", &format!("{prefix}*")])
        .stdin(Stdio::null())
        .output();
    let Ok(scan) = scan else { return };
    let keys: Vec<String> = String::from_utf8_lossy(&scan.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    for batch in keys.chunks(500) {
        let _ = Command::new("redis-cli")
            .args(["-u", url, "del"])
            .args(batch)
            .stdout(Stdio::null())
            .status();
    }
}

fn measure(config: &LoadConfig, bin: &Path, work: &Path, store: &Store) -> Result<Row, String> {
    let server = start(config, bin, work, &store.env)?;
    let cookie = sign_up(&server.addr)?;
    check_get_session(&server.addr, &cookie)?;
    let get_session = wrk(config, &server.addr, GET_SESSION, Some(&cookie))?;
    let script = sign_in_script(work, &server.addr)?;
    let sign_in = wrk_with(
        config,
        &server.addr,
        "/api/auth/sign-in/email",
        SIGN_IN_CONNECTIONS,
        &["-s".to_owned(), script.display().to_string()],
    )?;
    Ok(Row {
        store: store.label.clone(),
        get_session,
        sign_in,
    })
}

/// `tessera serve` on a free loopback port, once it prints where. The port
/// is chosen here, so the base URL (and the trusted origin) carries it.
pub(super) fn start(
    config: &LoadConfig,
    bin: &Path,
    work: &Path,
    env: &[(String, String)],
) -> Result<Server, String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("cannot find a free port: {e}"))?
        .port();
    let mut cmd = config.server_command(bin);
    cmd.arg("serve")
        .current_dir(work)
        .env("BETTER_AUTH_SECRET", SECRET)
        .env("TESSERA_LISTEN", format!("127.0.0.1:{port}"))
        .env("TESSERA_RATE_LIMIT", "false")
        .env("TESSERA_DATA_DIR", work)
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    if config.placement == super::Placement::Pinned {
        // tokio reads it for the runtime `tessera serve` builds.
        cmd.env("TOKIO_WORKER_THREADS", "1");
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let addr = lines.by_ref().map_while(Result::ok).find_map(|line| {
        let rest = line.strip_prefix("listening on http://")?;
        Some(rest.split('/').next().unwrap_or(rest).to_owned())
    });
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    match addr {
        Some(addr) => Ok(Server { child, addr }),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!("{} serve did not start", bin.display()))
        }
    }
}

/// A wrk script posting the signed-up user's credentials.
fn sign_in_script(work: &Path, addr: &str) -> Result<PathBuf, String> {
    let path = work.join("sign-in.lua");
    let script = format!(
        "wrk.method = \"POST\"\n\
         wrk.body = '{{\"email\":\"bench@example.com\",\"password\":\"password1234\"}}'\n\
         wrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.headers[\"Origin\"] = \"http://{addr}\"\n"
    );
    fs::write(&path, script).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

fn print_table(config: &LoadConfig, rows: &[Row], cores: usize, conditions: &str) {
    let mut out = format!(
        "`tessera serve` (hyper), release build, rate limiting off; get-session: `wrk -c{} -d{}` with a session cookie, \
         sign-in: `wrk -c{SIGN_IN_CONNECTIONS} -d{}` posting the user's password; {} (before the run: load average {conditions}). \
         The store servers themselves run unpinned.\n\n",
        config.connections,
        config.duration,
        config.duration,
        config.describe(cores),
    );
    out.push_str("| store | get-session req/s | p99 | sign-in req/s | p99 |\n");
    out.push_str("|---|---:|---:|---:|---:|\n");
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            row.store,
            thousands(row.get_session.requests_per_sec),
            millis(row.get_session.p99_ms),
            thousands(row.sign_in.requests_per_sec),
            millis(row.sign_in.p99_ms),
        ));
    }
    println!("{out}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sign_in_script_posts_json_from_the_servers_origin() {
        let dir = std::env::temp_dir().join(format!("tessera-xtask-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = sign_in_script(&dir, "127.0.0.1:4000").unwrap();
        let script = fs::read_to_string(&path).unwrap();
        let _ = fs::remove_dir_all(&dir);
        assert!(script.contains(r#"wrk.method = "POST""#), "{script}");
        assert!(script.contains(r#"wrk.headers["Origin"] = "http://127.0.0.1:4000""#));
        let body = script
            .lines()
            .find_map(|l| l.strip_prefix("wrk.body = '"))
            .and_then(|l| l.strip_suffix('\''))
            .unwrap();
        assert_eq!(
            body,
            r#"{"email":"bench@example.com","password":"password1234"}"#
        );
    }
}
