//! `cargo xtask bench load`: whole servers under `wrk`, on 127.0.0.1.
//!
//! For each framework, `tessera-bench-server` (crates/tessera-bench, release
//! build) serves the auth API in stateless `jwe` mode; one sign-up yields a
//! session cookie, and wrk hammers `GET /api/auth/get-session` with it.
//! Beside it the same framework serves a fixed JSON body of the same size
//! with no auth (the "ceiling"), measured the same way: wrk runs against
//! the two in turn, `--rounds` times each, and the median run of each
//! counts. Last, the reference
//! better-auth (`MODE=stateless STRATEGY=jwe NODE_ENV=production`) and a
//! bare `node:http` server get the same treatment. The result is a
//! markdown table for `docs/performance.md`.
//!
//! By default the server runs on CPU 1 with one worker and wrk on CPU 0
//! with one thread (`taskset`), so neither steals the other's core;
//! `--shared` runs both unpinned on every core instead.
//!
//! Std only: a tiny HTTP/1.1 client below does the sign-up, so xtask keeps
//! no dependencies.

use std::fs;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cargo;

mod against;
mod revocation;
mod stores;

const FRAMEWORKS: &[&str] = &["hyper", "axum", "actix"];
const GET_SESSION: &str = "/api/auth/get-session";
/// get-session over the ceiling, per framework.
const TARGET_SHARE_OF_CEILING: f64 = 0.70;
/// tessera-hyper over better-auth.
const TARGET_FACTOR_OVER_BETTER_AUTH: f64 = 50.0;
const USAGE: &str = "usage: cargo xtask bench load [--duration 3s] [--rounds 5] [--shared] [--threads N] [--connections 16] [--frameworks hyper,axum,actix] [--no-refserver] [--against <rev>]";

/// Where the server and wrk run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placement {
    /// The server on CPU 1 with one worker, wrk on CPU 0 with one thread
    /// (`taskset`): each side has a core of its own, so the figures measure
    /// the server's cost per request rather than the scheduler's
    /// arbitration between four busy threads on two cores.
    Pinned,
    /// Both unpinned: the server with a worker per core, wrk with
    /// `--threads` (2 by default), all sharing every core.
    Shared,
}

/// What to run, from the command line.
#[derive(Debug)]
struct LoadConfig {
    /// One wrk run.
    duration: String,
    /// wrk runs per server, alternating with its ceiling's.
    rounds: u32,
    placement: Placement,
    threads: u32,
    connections: u32,
    frameworks: Vec<String>,
    refserver: bool,
    /// Compare with the server built from this commit instead of with the
    /// ceilings.
    against: Option<String>,
}

impl LoadConfig {
    fn parse(args: &[String]) -> Result<LoadConfig, String> {
        let mut config = LoadConfig {
            duration: "3s".to_owned(),
            rounds: 5,
            placement: Placement::Pinned,
            threads: 0,
            connections: 16,
            frameworks: FRAMEWORKS.iter().map(|s| (*s).to_owned()).collect(),
            refserver: true,
            against: None,
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let mut value = || {
                args.next()
                    .cloned()
                    .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
            };
            let number = |v: String| {
                v.parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("{flag}: expected a positive number, got {v:?}"))
            };
            match flag.as_str() {
                "--duration" => config.duration = value()?,
                "--threads" => config.threads = number(value()?)?,
                "--rounds" => config.rounds = number(value()?)?,
                "--connections" => config.connections = number(value()?)?,
                "--frameworks" => {
                    config.frameworks = value()?
                        .split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect();
                    if let Some(bad) = config
                        .frameworks
                        .iter()
                        .find(|f| !FRAMEWORKS.contains(&f.as_str()))
                    {
                        return Err(format!("unknown framework {bad:?}; known: {FRAMEWORKS:?}"));
                    }
                }
                "--no-refserver" => config.refserver = false,
                "--against" => config.against = Some(value()?),
                "--shared" => config.placement = Placement::Shared,
                _ => return Err(format!("unknown option {flag:?}\n{USAGE}")),
            }
        }
        if config.threads == 0 {
            config.threads = match config.placement {
                Placement::Pinned => 1,
                Placement::Shared => 2,
            };
        }
        Ok(config)
    }

    /// `cmd` pinned to the server's core (or as is, when shared).
    fn server_command(&self, program: &Path) -> Command {
        self.pinned_to(program.as_os_str(), SERVER_CPU)
    }

    fn pinned_to(&self, program: &std::ffi::OsStr, cpu: &str) -> Command {
        match self.placement {
            Placement::Pinned => {
                let mut cmd = Command::new("taskset");
                cmd.args(["-c", cpu]).arg(program);
                cmd
            }
            Placement::Shared => Command::new(program),
        }
    }

    /// One line on where things ran, for the table's caption.
    fn describe(&self, cores: usize) -> String {
        match self.placement {
            Placement::Pinned => format!(
                "server pinned to CPU {SERVER_CPU} with one worker, wrk (`-t{}`) pinned to CPU {WRK_CPU} (`taskset`), on a {cores}-core machine",
                self.threads
            ),
            Placement::Shared => format!(
                "server (a worker per core) and wrk (`-t{}`) unpinned, sharing the machine's {cores} cores",
                self.threads
            ),
        }
    }
}

/// Cores for [`Placement::Pinned`].
const SERVER_CPU: &str = "1";
const WRK_CPU: &str = "0";

/// One wrk run, reduced.
#[derive(Clone, Debug)]
struct WrkResult {
    requests_per_sec: f64,
    p99_ms: f64,
}

/// One row of the table.
struct Row {
    server: String,
    get_session: WrkResult,
    ceiling_label: &'static str,
    ceiling: WrkResult,
}

/// Runs the load benchmark.
pub fn run(args: &[String]) -> Result<(), String> {
    if args.first().map(String::as_str) == Some("stores") {
        return stores::run(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("revocation") {
        return revocation::run(&args[1..]);
    }
    let config = LoadConfig::parse(args)?;
    check_wrk()?;
    check_placement(&config)?;
    if let Some(rev) = &config.against {
        let conditions = conditions(cores());
        return against::run(&config, rev, &conditions);
    }
    cargo(&["build", "--release", "-p", "tessera-bench"])?;
    let server_bin = target_dir()?.join("release/tessera-bench-server");

    let cores = cores();
    let conditions = conditions(cores);

    let mut rows = Vec::new();
    for framework in &config.frameworks {
        eprintln!("== tessera-{framework}");
        let auth = Server::bench(&config, &server_bin, &[framework, "auth"])?;
        let cookie = sign_up(&auth.addr)?;
        let body_len = check_get_session(&auth.addr, &cookie)?;
        let body_bytes = body_len.to_string();
        let ceiling = Server::bench(
            &config,
            &server_bin,
            &[framework, "ceiling", "--body-bytes", &body_bytes],
        )?;
        let reply = http_request(&ceiling.addr, "GET", GET_SESSION, &[], None)?;
        if reply.status != 200 || reply.body.len() != body_len {
            return Err(format!(
                "the ceiling server answered {} with {} bytes, expected 200 with {body_len}",
                reply.status,
                reply.body.len()
            ));
        }
        let (get_session, ceiling) = alternate(&config, &auth.addr, &ceiling.addr, &cookie)?;
        rows.push(Row {
            server: format!("tessera-{framework}"),
            get_session,
            ceiling_label: "same framework, fixed body",
            ceiling,
        });
    }

    if config.refserver {
        match refserver_dir() {
            Ok(dir) => rows.push(measure_better_auth(&config, &dir)?),
            Err(e) => eprintln!("skipping better-auth: {e}"),
        }
    }

    print_table(&config, &rows, cores, &conditions);
    Ok(())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(0, usize::from)
}

/// Pinning needs two cores and `taskset`.
fn check_placement(config: &LoadConfig) -> Result<(), String> {
    if config.placement == Placement::Pinned {
        if cores() < 2 {
            return Err("pinning needs two cores; run with --shared".to_owned());
        }
        if Command::new("taskset").arg("-V").output().is_err() {
            return Err("taskset (util-linux) is not installed; run with --shared".to_owned());
        }
    }
    Ok(())
}

/// The machine's state before a run, printed and returned for the caption.
fn conditions(cores: usize) -> String {
    let load = load_average();
    let idle = idle_share(Duration::from_secs(1));
    let idle_text = idle.map_or("unknown".to_owned(), |i| format!("{:.0} %", 100.0 * i));
    eprintln!("before the run: load average {load}, {idle_text} of the {cores} cores idle");
    if idle.is_some_and(|i| i < 0.9) {
        eprintln!("warning: the machine is busy; the figures will be low and noisy");
    }
    format!("{load}, {idle_text} idle")
}

fn measure_better_auth(config: &LoadConfig, dir: &Path) -> Result<Row, String> {
    eprintln!("== better-auth 1.7.25");
    let server = Server::node(
        config,
        dir,
        "server.mjs",
        &[
            ("MODE", "stateless"),
            ("STRATEGY", "jwe"),
            ("NODE_ENV", "production"),
        ],
        "/healthz",
    )?;
    let cookie = sign_up(&server.addr)?;
    check_get_session(&server.addr, &cookie)?;
    let baseline = Server::node(config, dir, "baseline-server.mjs", &[], "/")?;
    let (get_session, ceiling) = alternate(config, &server.addr, &baseline.addr, &cookie)?;
    Ok(Row {
        server: "better-auth 1.7.25 (node)".to_owned(),
        get_session,
        ceiling_label: "bare node:http, fixed body",
        ceiling,
    })
}

fn print_table(config: &LoadConfig, rows: &[Row], cores: usize, load: &str) {
    let mut out = String::new();
    out.push_str(&format!(
        "`wrk -t{} -c{} -d{} --latency`, `GET /api/auth/get-session` with a stateless `jwe` session cookie, \
         {} runs per server taking turns with its ceiling, the median run shown; \
         {} (before the run: load average {load}).\n\n",
        config.threads,
        config.connections,
        config.duration,
        config.rounds,
        config.describe(cores)
    ));
    out.push_str("| server | get-session req/s | p99 | ceiling req/s | p99 | ceiling | get-session / ceiling |\n");
    out.push_str("|---|---:|---:|---:|---:|---|---:|\n");
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {:.0} % |\n",
            row.server,
            thousands(row.get_session.requests_per_sec),
            millis(row.get_session.p99_ms),
            thousands(row.ceiling.requests_per_sec),
            millis(row.ceiling.p99_ms),
            row.ceiling_label,
            100.0 * row.get_session.requests_per_sec / row.ceiling.requests_per_sec,
        ));
    }
    let hyper = rows.iter().find(|r| r.server == "tessera-hyper");
    let node = rows.iter().find(|r| r.server.starts_with("better-auth"));
    if let (Some(hyper), Some(node)) = (hyper, node) {
        let factor = hyper.get_session.requests_per_sec / node.get_session.requests_per_sec;
        out.push_str(&format!(
            "\ntessera-hyper serves get-session at {factor:.0}× better-auth's rate (target ≥ {TARGET_FACTOR_OVER_BETTER_AUTH:.0}×).\n"
        ));
    }
    println!("\n{out}");

    for row in rows.iter().filter(|r| r.server.starts_with("tessera-")) {
        let share = row.get_session.requests_per_sec / row.ceiling.requests_per_sec;
        if share < TARGET_SHARE_OF_CEILING {
            eprintln!(
                "note: {} reaches {:.0} % of its ceiling (target ≥ {:.0} %)",
                row.server,
                100.0 * share,
                100.0 * TARGET_SHARE_OF_CEILING
            );
        }
    }
}

/// `config.rounds` wrk runs against each of `subject` and `ceiling`, taking
/// turns, and the median run of each (by req/s).
///
/// Both servers stay up (pinned, they share the server's core, the idle
/// one asleep in its poll), so a slow spell of the machine, a VM neighbour
/// say, falls on both sides rather than on one: measured here, one 5 s run
/// per side moved the same server between 48k and 87k req/s.
fn alternate(
    config: &LoadConfig,
    subject: &str,
    ceiling: &str,
    cookie: &str,
) -> Result<(WrkResult, WrkResult), String> {
    let mut subject_runs = Vec::new();
    let mut ceiling_runs = Vec::new();
    for _ in 0..config.rounds {
        subject_runs.push(wrk(config, subject, GET_SESSION, Some(cookie))?);
        ceiling_runs.push(wrk(config, ceiling, GET_SESSION, Some(cookie))?);
    }
    Ok((median(subject_runs), median(ceiling_runs)))
}

/// The run with the median req/s (the upper middle one of an even count).
fn median(mut runs: Vec<WrkResult>) -> WrkResult {
    runs.sort_by(|a, b| a.requests_per_sec.total_cmp(&b.requests_per_sec));
    runs.swap_remove(runs.len() / 2)
}

// ---------------------------------------------------------------------------
// wrk

fn check_wrk() -> Result<(), String> {
    match Command::new("wrk")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        // `wrk --version` prints its version and exits 1; running at all is enough.
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(
            "wrk is not installed; install it (Debian: `apt-get install -y wrk`) and run again"
                .to_owned(),
        ),
        Err(e) => Err(format!("cannot run wrk: {e}")),
    }
}

fn wrk(
    config: &LoadConfig,
    addr: &str,
    path: &str,
    cookie: Option<&str>,
) -> Result<WrkResult, String> {
    let extra = cookie.map(|c| vec!["-H".to_owned(), format!("Cookie: {c}")]);
    wrk_with(
        config,
        addr,
        path,
        config.connections,
        &extra.unwrap_or_default(),
    )
}

/// wrk with `connections` and extra arguments (headers, a script).
fn wrk_with(
    config: &LoadConfig,
    addr: &str,
    path: &str,
    connections: u32,
    extra: &[String],
) -> Result<WrkResult, String> {
    let url = format!("http://{addr}{path}");
    let mut cmd = config.pinned_to("wrk".as_ref(), WRK_CPU);
    cmd.arg(format!("-t{}", config.threads.min(connections)))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}", config.duration))
        .args(["--timeout", "5s", "--latency"])
        .args(extra);
    cmd.arg(&url);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "wrk failed ({}): {text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let result = parse_wrk(&text).map_err(|e| format!("{e} in wrk's output:\n{text}"))?;
    eprintln!(
        "  {url}: {} req/s, p99 {}",
        thousands(result.requests_per_sec),
        millis(result.p99_ms)
    );
    Ok(result)
}

fn parse_wrk(text: &str) -> Result<WrkResult, String> {
    if let Some(line) = text
        .lines()
        .find(|l| l.contains("Non-2xx or 3xx responses"))
    {
        return Err(format!("failed requests: {}", line.trim()));
    }
    let requests_per_sec = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .ok_or("no Requests/sec")?;
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .ok_or("no 99% latency (was --latency passed?)")?;
    let p99_ms = duration_ms(p99.trim()).ok_or_else(|| format!("bad latency {p99:?}"))?;
    Ok(WrkResult {
        requests_per_sec,
        p99_ms,
    })
}

/// wrk's `123.45us`, `1.20ms`, `2.00s`, `1.00m` in milliseconds.
fn duration_ms(v: &str) -> Option<f64> {
    let split = v.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse().ok()?;
    let factor = match unit {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1_000.0,
        "m" => 60_000.0,
        _ => return None,
    };
    Some(n * factor)
}

fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn millis(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// The share of CPU time spent idle over `window`, from `/proc/stat`.
fn idle_share(window: Duration) -> Option<f64> {
    fn sample() -> Option<(u64, u64)> {
        let stat = fs::read_to_string("/proc/stat").ok()?;
        let fields: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect();
        // idle + iowait, total
        let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
        Some((idle, fields.iter().sum()))
    }
    let (idle0, total0) = sample()?;
    std::thread::sleep(window);
    let (idle1, total1) = sample()?;
    let total = total1.checked_sub(total0).filter(|t| *t > 0)?;
    Some(idle1.saturating_sub(idle0) as f64 / total as f64)
}

fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

// ---------------------------------------------------------------------------
// Servers

/// A server process on 127.0.0.1, killed on drop.
struct Server {
    child: Child,
    /// `127.0.0.1:<port>`.
    addr: String,
}

impl Server {
    /// `tessera-bench-server <args>`: it prints its address once bound.
    fn bench(config: &LoadConfig, bin: &Path, args: &[&str]) -> Result<Server, String> {
        let mut cmd = config.server_command(bin);
        cmd.args(args);
        if config.placement == Placement::Pinned {
            cmd.args(["--threads", "1"]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout is piped");
        let read = BufReader::new(stdout).read_line(&mut line);
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .map(str::to_owned);
        match (read, addr) {
            (Ok(_), Some(addr)) => Ok(Server { child, addr }),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!(
                    "{} {args:?} did not start (printed {line:?})",
                    bin.display()
                ))
            }
        }
    }

    /// `node <script>` in the refserver directory on a free port, with a
    /// clean environment plus `env`, once `GET health` answers 200.
    fn node(
        config: &LoadConfig,
        dir: &Path,
        script: &str,
        env: &[(&str, &str)],
        health: &str,
    ) -> Result<Server, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("cannot find a free port: {e}"))?
            .port();
        let mut cmd = config.server_command(Path::new("node"));
        cmd.arg(script)
            .current_dir(dir)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for var in ["PATH", "HOME"] {
            if let Some(v) = std::env::var_os(var) {
                cmd.env(var, v);
            }
        }
        cmd.env("PORT", port.to_string()).env("HOST", "127.0.0.1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot run node {script}: {e}"))?;
        let mut server = Server {
            child,
            addr: format!("127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("node {script} exited with {status}"));
            }
            if http_request(&server.addr, "GET", health, &[], None).is_ok_and(|r| r.status == 200) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(format!("node {script} did not answer {health} within 20 s"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Signs up one user and returns the `Cookie` header value of every cookie
/// set (session token, jwe session data, …).
fn sign_up(addr: &str) -> Result<String, String> {
    let origin = format!("http://{addr}");
    let body = r#"{"email":"bench@example.com","password":"password1234","name":"Bench"}"#;
    let reply = http_request(
        addr,
        "POST",
        "/api/auth/sign-up/email",
        &[("Origin", &origin), ("Content-Type", "application/json")],
        Some(body),
    )?;
    if reply.status != 200 {
        return Err(format!(
            "sign-up at {addr} answered {}: {}",
            reply.status, reply.body
        ));
    }
    let pairs: Vec<&str> = reply
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .filter_map(|(_, v)| v.split(';').next())
        .filter(|pair| pair.split_once('=').is_some_and(|(_, v)| !v.is_empty()))
        .collect();
    if !pairs.iter().any(|p| p.contains("session_token=")) {
        return Err(format!("sign-up at {addr} set no session cookie"));
    }
    Ok(pairs.join("; "))
}

/// get-session with `cookie` answers a session; returns the body's length.
fn check_get_session(addr: &str, cookie: &str) -> Result<usize, String> {
    let reply = http_request(addr, "GET", GET_SESSION, &[("Cookie", cookie)], None)?;
    if reply.status != 200 || !reply.body.starts_with("{\"session\"") {
        return Err(format!(
            "get-session at {addr} answered {} {:?}, expected a session",
            reply.status, reply.body
        ));
    }
    Ok(reply.body.len())
}

// ---------------------------------------------------------------------------
// A minimal HTTP/1.1 client: one request per connection.

/// An HTTP/1.1 response, read whole (also `cargo xtask fault`'s).
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<Reply, String> {
    let fail = |e: std::io::Error| format!("{method} http://{addr}{path}: {e}");
    let mut stream = TcpStream::connect(addr).map_err(fail)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(fail)?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method == "POST" {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).map_err(fail)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(fail)?;
    parse_reply(&raw).ok_or_else(|| format!("{method} http://{addr}{path}: malformed response"))
}

/// A raw HTTP/1.1 response (plain or chunked body) as a [`Reply`].
pub(crate) fn parse_reply(raw: &[u8]) -> Option<Reply> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let rest = &raw[split + 4..];
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Some(Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_field = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_field.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

// ---------------------------------------------------------------------------
// Where things are

/// The build's target directory, as cargo reports it.
fn target_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let key = "\"target_directory\":\"";
    let start = text
        .find(key)
        .ok_or("cargo metadata named no target directory")?
        + key.len();
    let end = text[start..]
        .find('"')
        .ok_or("cargo metadata: unterminated target directory")?;
    Ok(PathBuf::from(&text[start..start + end]))
}

/// The installed reference server: the test kit's cache
/// (`$TESSERA_REFSERVER_CACHE`, else `$HOME/.cache/tessera/refserver`),
/// installed here with `npm ci` when the tests have not done it yet.
fn refserver_dir() -> Result<PathBuf, String> {
    let cache = match std::env::var_os("TESSERA_REFSERVER_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(&std::env::var_os("HOME").ok_or("HOME is not set")?)
            .join(".cache/tessera/refserver"),
    };
    if cache.join("node_modules/.package-lock.json").is_file() {
        return Ok(cache);
    }
    let source = match std::env::var_os("TESSERA_REFSERVER_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/refserver"),
    };
    if !source.join("server.mjs").is_file() {
        return Err(format!("no refserver sources at {}", source.display()));
    }
    // The test kit takes the same lock while it installs.
    let lock = cache.with_extension("lock");
    if let Some(parent) = lock.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    while fs::create_dir(&lock).is_err() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {}", lock.display()));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let installed = copy_dir(&source, &cache).and_then(|()| {
        eprintln!("$ npm ci   (in {})", cache.display());
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&cache)
            .stdin(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run npm: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("npm ci failed ({status})"))
        }
    });
    let _ = fs::remove_dir(&lock);
    installed.map(|()| cache)
}

/// Copies `from` into `to`, without `node_modules` and `.git`.
fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let entries = fs::read_dir(from).map_err(|e| format!("cannot list {}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", from.display()))?;
        let name = entry.file_name();
        if name == "node_modules" || name == ".git" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if src.is_dir() {
            copy_dir(&src, &dst)?;
        } else {
            // read + write, not fs::copy: the sources may be read-only.
            let content =
                fs::read(&src).map_err(|e| format!("cannot read {}: {e}", src.display()))?;
            fs::write(&dst, content).map_err(|e| format!("cannot write {}: {e}", dst.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK_OUTPUT: &str = "Running 5s test @ http://127.0.0.1:40000/api/auth/get-session
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   310.21us  120.05us   4.10ms   90.00%
    Req/Sec    25.10k     1.20k   28.00k    70.00%
  Latency Distribution
     50%  290.00us
     75%  340.00us
     90%  420.00us
     99%    1.02ms
  249800 requests in 5.00s, 160.00MB read
Requests/sec:  49960.00
Transfer/sec:     32.00MB
";

    #[test]
    fn wrk_output_parses() {
        let r = parse_wrk(WRK_OUTPUT).unwrap();
        assert_eq!(r.requests_per_sec, 49960.0);
        assert!((r.p99_ms - 1.02).abs() < 1e-9);
    }

    #[test]
    fn failed_requests_are_an_error() {
        let text = WRK_OUTPUT.replace(
            "Requests/sec",
            "  Non-2xx or 3xx responses: 12\nRequests/sec",
        );
        assert!(parse_wrk(&text).unwrap_err().contains("Non-2xx"));
    }

    #[test]
    fn the_median_run_is_the_middle_one_by_throughput() {
        let run = |rps: f64| WrkResult {
            requests_per_sec: rps,
            p99_ms: rps / 1000.0,
        };
        let mid = median(vec![run(48.0), run(87.0), run(61.0), run(69.0), run(67.0)]);
        assert_eq!((mid.requests_per_sec, mid.p99_ms), (67.0, 0.067));
        assert_eq!(median(vec![run(2.0), run(1.0)]).requests_per_sec, 2.0);
        assert_eq!(median(vec![run(5.0)]).requests_per_sec, 5.0);
        let zero = LoadConfig::parse(&["--rounds".to_owned(), "0".to_owned()]);
        assert!(zero.is_err());
    }

    #[test]
    fn durations_convert_to_milliseconds() {
        assert_eq!(duration_ms("250.00us"), Some(0.25));
        assert_eq!(duration_ms("3.50ms"), Some(3.5));
        assert_eq!(duration_ms("1.20s"), Some(1200.0));
        assert_eq!(duration_ms("fast"), None);
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(49960.4), "49,960");
        assert_eq!(thousands(812.0), "812");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
        assert_eq!(millis(0.456), "0.46 ms");
        assert_eq!(millis(42.4), "42 ms");
    }

    #[test]
    fn chunked_and_plain_replies_parse() {
        let raw = b"HTTP/1.1 200 OK\r\nset-cookie: a=1; Path=/\r\nset-cookie: b=2\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nnull\r\n0\r\n\r\n";
        let reply = parse_reply(raw).unwrap();
        assert_eq!((reply.status, reply.body.as_str()), (200, "null"));
        assert_eq!(reply.headers.len(), 3);
        let raw = b"HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\n\r\n{}";
        let reply = parse_reply(raw).unwrap();
        assert_eq!((reply.status, reply.body.as_str()), (403, "{}"));
    }

    #[test]
    fn options_parse() {
        let args: Vec<String> = [
            "--duration",
            "2s",
            "--rounds",
            "3",
            "--frameworks",
            "hyper,axum",
            "--no-refserver",
            "--against",
            "HEAD~1",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let config = LoadConfig::parse(&args).unwrap();
        assert_eq!((config.duration.as_str(), config.rounds), ("2s", 3));
        assert_eq!(config.frameworks, ["hyper", "axum"]);
        assert!(!config.refserver);
        assert_eq!(config.against.as_deref(), Some("HEAD~1"));
        assert_eq!(config.placement, Placement::Pinned);
        assert_eq!((config.threads, config.connections), (1, 16));
        let shared = LoadConfig::parse(&["--shared".to_owned()]).unwrap();
        assert_eq!((shared.placement, shared.threads), (Placement::Shared, 2));
        let bad: Vec<String> = vec!["--frameworks".into(), "rocket".into()];
        assert!(LoadConfig::parse(&bad).is_err());
    }
}
