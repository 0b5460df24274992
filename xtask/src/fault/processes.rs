//! The processes a fault run starts, stops and signals: a private
//! `redis-server`, the two `tessera serve`, and this machine's PostgreSQL
//! (a schema of the run's own, and the cluster's restart). Each is
//! cleaned up on drop, so a failed run leaves nothing behind.

use std::fs;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "tessera-fault-secret-0123456789-abcdefghijklmnop";
const START_TIMEOUT: Duration = Duration::from_secs(60);
const POSTGRES_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A loopback port nothing listens on now.
pub(super) fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// `kill -<signal> <pid>`: std has no signals but `kill`.
pub(super) fn signal(pid: u32, signal: &str) -> Result<(), String> {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .map_err(|e| format!("cannot run kill: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("kill -{signal} {pid} failed ({status})"))
    }
}

// ---------------------------------------------------------------------------
// Redis

/// A `redis-server` of the run's own on a loopback port. Every write is in
/// its append-only file before it is acknowledged (`appendfsync always`),
/// so a kill loses nothing that was confirmed; RDB snapshots are off.
pub(super) struct PrivateRedis {
    pub(super) port: u16,
    dir: PathBuf,
    child: Option<Child>,
    starts: u32,
}

impl PrivateRedis {
    pub(super) fn start(dir: &Path) -> Result<PrivateRedis, String> {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut redis = PrivateRedis {
            port: free_port()?,
            dir: dir.to_owned(),
            child: None,
            starts: 0,
        };
        redis.spawn()?;
        Ok(redis)
    }

    pub(super) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `redis-server --version`'s version.
    pub(super) fn version() -> String {
        Command::new("redis-server")
            .arg("--version")
            .output()
            .ok()
            .and_then(|out| {
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.split_whitespace()
                    .find_map(|w| w.strip_prefix("v=").map(str::to_owned))
            })
            .unwrap_or_else(|| "unknown".to_owned())
    }

    /// Starts the server on its port and waits until it answers `PING`
    /// (after loading its append-only file).
    pub(super) fn spawn(&mut self) -> Result<(), String> {
        self.starts += 1;
        let log = self.dir.join(format!("redis-{}.log", self.starts));
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--daemonize", "no", "--logfile"])
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if self.pong() {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                return Err(format!(
                    "redis-server exited with {status}; see {}",
                    log.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(format!("redis-server did not answer PING on {}", self.port))
    }

    /// `PING` answered `+PONG` (not `-LOADING`).
    fn pong(&self) -> bool {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut answer = [0u8; 5];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut answer).is_ok()
            && &answer == b"+PONG"
    }

    pub(super) fn signal(&self, name: &str) -> Result<(), String> {
        let child = self.child.as_ref().ok_or("redis-server is not running")?;
        signal(child.id(), name)
    }

    /// `SIGKILL`: connections are refused from now on.
    pub(super) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        // A frozen server must be woken to die.
        let _ = self.signal("CONT");
        self.kill();
    }
}

// ---------------------------------------------------------------------------
// tessera serve

/// One `tessera serve` on a fixed loopback port, restartable there. Each
/// start writes its stdout and stderr to files of its own.
pub(super) struct TesseraProcess {
    pub(super) label: &'static str,
    pub(super) addr: SocketAddr,
    bin: PathBuf,
    dir: PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
    logs: Vec<PathBuf>,
}

impl TesseraProcess {
    /// Starts `tessera serve` with `env` on a free port; returns once it
    /// prints that it listens.
    pub(super) fn start(
        label: &'static str,
        bin: &Path,
        dir: &Path,
        env: &[(String, String)],
    ) -> Result<TesseraProcess, String> {
        let mut process = TesseraProcess {
            label,
            addr: SocketAddr::from(([127, 0, 0, 1], free_port()?)),
            bin: bin.to_owned(),
            dir: dir.join(label),
            env: env.to_vec(),
            child: None,
            logs: Vec::new(),
        };
        fs::create_dir_all(&process.dir)
            .map_err(|e| format!("cannot create {}: {e}", process.dir.display()))?;
        process.spawn()?;
        Ok(process)
    }

    /// The base URL's origin, for the `Origin` header.
    pub(super) fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Starts the process on its port and waits for its listening line.
    pub(super) fn spawn(&mut self) -> Result<(), String> {
        let n = self.logs.len() / 2 + 1;
        let out = self.dir.join(format!("{}-{n}.stdout", self.label));
        let err = self.dir.join(format!("{}-{n}.stderr", self.label));
        let file = |path: &Path| {
            fs::File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
        };
        let child = Command::new(&self.bin)
            .arg("serve")
            .current_dir(&self.dir)
            .env("BETTER_AUTH_SECRET", SECRET)
            .env("TESSERA_LISTEN", self.addr.to_string())
            .env("TESSERA_RATE_LIMIT", "false")
            .env("TESSERA_DATA_DIR", &self.dir)
            .env("RUST_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(file(&out)?)
            .stderr(file(&err)?)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.bin.display()))?;
        self.child = Some(child);
        self.logs.extend([out.clone(), err.clone()]);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let printed = fs::read_to_string(&out).unwrap_or_default();
            if printed
                .lines()
                .any(|l| l.starts_with("listening on http://"))
            {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                let stderr = fs::read_to_string(&err).unwrap_or_default();
                return Err(format!(
                    "tessera serve ({}) exited with {status}: {}",
                    self.label,
                    stderr.trim()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "tessera serve ({}) did not listen within {} s",
                    self.label,
                    START_TIMEOUT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// `SIGKILL`, no goodbye.
    pub(super) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `SIGTERM`, then waits for the exit (killing it after `timeout`).
    pub(super) fn terminate(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        let mut child = self
            .child
            .take()
            .ok_or_else(|| format!("{} is not running", self.label))?;
        signal(child.id(), "TERM")?;
        let deadline = Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "{} did not exit within {} s of SIGTERM",
                        self.label,
                        timeout.as_secs()
                    ));
                }
                Err(e) => return Err(format!("cannot wait for {}: {e}", self.label)),
            }
        }
    }

    /// Every line of every start's output that reports a panic, with the
    /// file it is in.
    pub(super) fn panics(&self) -> Vec<String> {
        let mut found = Vec::new();
        for log in &self.logs {
            let text = fs::read_to_string(log).unwrap_or_default();
            for line in text.lines().filter(|l| l.contains("panicked at")) {
                let name = log.file_name().unwrap_or_default().to_string_lossy();
                found.push(format!("{name}: {line}"));
            }
        }
        found
    }

    /// What each start logged on stderr (`RUST_LOG=warn`), by file.
    pub(super) fn logged(&self) -> Vec<(String, Vec<String>)> {
        self.logs
            .iter()
            .filter(|log| log.extension().is_some_and(|e| e == "stderr"))
            .map(|log| {
                let text = fs::read_to_string(log).unwrap_or_default();
                let name = log.file_name().unwrap_or_default().to_string_lossy();
                (name.into_owned(), text.lines().map(str::to_owned).collect())
            })
            .collect()
    }
}

impl Drop for TesseraProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------
// PostgreSQL

/// A schema of the run's own in the machine's PostgreSQL, dropped on drop.
pub(super) struct Schema {
    url: String,
    name: String,
}

impl Schema {
    pub(super) fn create(url: &str, name: &str) -> Result<Schema, String> {
        psql(url, &format!("create schema {name}"))?;
        Ok(Schema {
            url: url.to_owned(),
            name: name.to_owned(),
        })
    }

    /// The database URL with the schema as its search path.
    pub(super) fn scoped_url(&self) -> String {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!(
            "{}{separator}options=-c%20search_path%3D{}",
            self.url, self.name
        )
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        // The server may still be coming back from a restart.
        let _ = wait_for_postgres(&self.url);
        if let Err(e) = psql(&self.url, &format!("drop schema {} cascade", self.name)) {
            eprintln!("could not drop schema {}: {e}", self.name);
        }
    }
}

fn psql(url: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qtAc", sql])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// The server's version, as `show server_version` gives it.
pub(super) fn postgres_version(url: &str) -> String {
    psql(url, "show server_version").unwrap_or_else(|_| "unknown".to_owned())
}

/// The one cluster under `/etc/postgresql`: its version directory.
fn cluster_version() -> Result<String, String> {
    let versions: Vec<String> = fs::read_dir("/etc/postgresql")
        .map_err(|e| format!("cannot list /etc/postgresql: {e}"))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    match versions.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(format!(
            "expected one PostgreSQL version in /etc/postgresql, found {versions:?}"
        )),
    }
}

/// Checks that the machine's cluster can be restarted here, before the
/// run starts anything.
pub(super) fn check_postgres_restartable() -> Result<(), String> {
    cluster_version()?;
    Command::new("pg_ctlcluster")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run pg_ctlcluster: {e}"))?;
    Ok(())
}

/// `pg_ctlcluster <version> main restart` (fast shutdown: open
/// connections are cut), then waits until the server accepts connections.
/// Returns how long the command itself took.
pub(super) fn restart_postgres(url: &str) -> Result<Duration, String> {
    let version = cluster_version()?;
    let began = Instant::now();
    let out = Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", "restart"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run pg_ctlcluster: {e}"))?;
    let took = began.elapsed();
    if !out.status.success() {
        return Err(format!(
            "pg_ctlcluster {version} main restart failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    wait_for_postgres(url)?;
    Ok(took)
}

/// Polls `pg_isready` until the server accepts connections.
fn wait_for_postgres(url: &str) -> Result<(), String> {
    let deadline = Instant::now() + POSTGRES_READY_TIMEOUT;
    loop {
        let ready = Command::new("pg_isready")
            .args(["-q", "-d", url])
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "PostgreSQL was not ready within {} s",
                POSTGRES_READY_TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
