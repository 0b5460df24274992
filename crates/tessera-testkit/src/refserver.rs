//! The reference better-auth server (`shared/refserver`), installed once
//! into a writable cache directory and run on a loopback port.

use std::fs;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use crate::service::{skip_or_fail, Service};

/// Environment variable naming the refserver source directory, overriding
/// `shared/refserver` next to the workspace.
pub const SOURCE_DIR_VAR: &str = "TESSERA_REFSERVER_DIR";
/// Environment variable naming the writable cache directory the refserver
/// is copied to and installed in (default `$HOME/.cache/tessera/refserver`).
pub const CACHE_DIR_VAR: &str = "TESSERA_REFSERVER_CACHE";

/// How long `/healthz` may take to answer after the process is spawned.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long to wait for another process's `npm ci` in the same cache.
const INSTALL_LOCK_TIMEOUT: Duration = Duration::from_secs(300);
/// A lock directory older than this is left over from a killed process.
const STALE_LOCK_AGE: Duration = Duration::from_secs(600);

/// The refserver sources: `$TESSERA_REFSERVER_DIR`, else `shared/refserver`
/// beside the workspace.
pub fn source_dir() -> PathBuf {
    match std::env::var_os(SOURCE_DIR_VAR) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/refserver"),
    }
}

/// The writable copy: `$TESSERA_REFSERVER_CACHE`, else
/// `$HOME/.cache/tessera/refserver`, else a directory under the system
/// temporary directory. Stable across runs so `npm ci` runs once.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(CACHE_DIR_VAR) {
        return PathBuf::from(dir);
    }
    match std::env::var_os("HOME") {
        Some(home) => Path::new(&home).join(".cache/tessera/refserver"),
        None => std::env::temp_dir().join("tessera-refserver"),
    }
}

/// The installed refserver directory (sources copied, `npm ci` done), or
/// `None` after the skip banner when it cannot be prepared (the skip/fail
/// rule, [`skip_or_fail`]: under `CI=true` this panics). Prepared once per
/// process.
pub fn refserver_dir() -> Option<PathBuf> {
    match prepared() {
        Ok(dir) => Some(dir),
        Err(reason) => skip_or_fail(Service::Node, &reason),
    }
}

/// Runs `node --input-type=module -e <script>` in the installed refserver
/// directory, so `import "better-auth"` and `import "@better-auth/utils/password"`
/// resolve, and returns its stdout, trimmed.
///
/// Unlike [`RefServer::start`] this does not skip: call
/// [`require_node!`](crate::require_node) first in a test to apply the
/// skip/fail rule, then `node_eval(..).unwrap()`.
pub fn node_eval(script: &str) -> Result<String, String> {
    let dir = prepared()?;
    let out = Command::new("node")
        .args(["--input-type=module", "-e", script])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run node: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "node exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    String::from_utf8(out.stdout)
        .map(|s| s.trim().to_owned())
        .map_err(|e| format!("node printed non-UTF-8 output: {e}"))
}

/// A running reference better-auth server on `127.0.0.1`. The process is
/// killed when this value is dropped.
#[derive(Debug)]
pub struct RefServer {
    node: NodeProcess,
    port: u16,
    base_url: String,
}

impl RefServer {
    /// Starts `node server.mjs` on a free loopback port with `PORT`,
    /// `HOST=127.0.0.1` and `env` (e.g. `[("MODE", "memory")]`), and waits
    /// for `GET /healthz`.
    ///
    /// The child gets a clean environment (only `PATH`, `HOME` and `env`), so
    /// a stray `NODE_ENV=test`, `BETTER_AUTH_URL` or `MODE` in the caller's
    /// environment cannot change better-auth's behaviour.
    ///
    /// `Ok(None)`: node/npm are missing or `npm ci` failed, and `CI` is not
    /// `true` (the skip banner was printed; skip the test). `Err`: the
    /// server did not come up.
    ///
    /// # Panics
    ///
    /// When node/npm are missing or `npm ci` failed under `CI=true` (the
    /// skip/fail rule, [`skip_or_fail`]).
    pub fn start(env: &[(&str, &str)]) -> Result<Option<RefServer>, String> {
        let Some(dir) = refserver_dir() else {
            return Ok(None);
        };
        let mut last_error = String::new();
        // A free port can be taken between probing and binding; retry then.
        for _ in 0..3 {
            match RefServer::spawn(&dir, env) {
                Ok(server) => return Ok(Some(server)),
                Err(e) if e.contains("EADDRINUSE") => last_error = e,
                Err(e) => return Err(e),
            }
        }
        Err(last_error)
    }

    /// [`RefServer::start`] on a given port (to hand a browser's cookies
    /// between better-auth and Tessera on one origin). Not retried: the
    /// caller chose the port.
    pub fn start_on(port: u16, env: &[(&str, &str)]) -> Result<Option<RefServer>, String> {
        let Some(dir) = refserver_dir() else {
            return Ok(None);
        };
        RefServer::spawn_on(&dir, port, env).map(Some)
    }

    fn spawn(dir: &Path, env: &[(&str, &str)]) -> Result<RefServer, String> {
        RefServer::spawn_on(dir, free_port()?, env)
    }

    fn spawn_on(dir: &Path, port: u16, env: &[(&str, &str)]) -> Result<RefServer, String> {
        let port_text = port.to_string();
        let mut vars = vec![("PORT", port_text.as_str()), ("HOST", "127.0.0.1")];
        vars.extend_from_slice(env);
        let node = NodeProcess::start(dir, "server.mjs", port, &vars, "/healthz")?;
        Ok(RefServer {
            node,
            port,
            base_url: format!("http://127.0.0.1:{port}"),
        })
    }

    /// `http://127.0.0.1:<port>`: better-auth's `baseURL`, and a trusted origin.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `base_url() + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// What the server printed so far (stdout and stderr).
    pub fn log(&self) -> String {
        self.node.log()
    }
}

/// The file better-auth's mail callbacks append to when the refserver runs
/// with `MAIL_LOG=<file>` (its README, "Mail"): one JSON line per message,
/// `{kind, to, url, token, newEmail?, at}`. A test reads the links from it
/// as a person reads them from a mail. The file is removed on drop.
///
/// ```no_run
/// use tessera_testkit::refserver::MailLog;
/// use tessera_testkit::require_refserver;
///
/// # fn example() {
/// let log = MailLog::new();
/// let server = require_refserver!(&[("MODE", "memory"), ("MAIL_LOG", log.env_value())]);
/// // … POST /request-password-reset …
/// let mails = log.take();
/// assert_eq!(mails[0].kind, "reset-password");
/// # }
/// ```
#[derive(Debug)]
pub struct MailLog {
    path: PathBuf,
    /// How many lines [`MailLog::take`] has returned so far.
    taken: Mutex<usize>,
}

/// One line of a [`MailLog`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedMail {
    /// `verify-email`, `reset-password`, `change-email-confirmation` or
    /// `delete-account`.
    pub kind: String,
    /// The recipient (`user.email` as better-auth handed it over).
    pub to: String,
    /// The link in the mail, absolute.
    pub url: String,
    /// The token better-auth handed to the callback with the link.
    pub token: String,
    /// The address asked for, in a change-of-email confirmation.
    pub new_email: Option<String>,
}

impl MailLog {
    /// A log path of its own under the system temporary directory; the
    /// file itself is created by the refserver's first mail.
    pub fn new() -> MailLog {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "tessera-mail-{}-{}-{}.jsonl",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            tessera::generate_id(8)
        ));
        MailLog {
            path,
            taken: Mutex::new(0),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path as the value of `MAIL_LOG`.
    ///
    /// # Panics
    ///
    /// When the temporary directory's path is not UTF-8.
    pub fn env_value(&self) -> &str {
        self.path
            .to_str()
            .expect("the temporary directory's path is UTF-8")
    }

    /// Every mail logged so far, in order.
    ///
    /// # Panics
    ///
    /// On a line that is not a mail as the refserver writes it.
    pub fn all(&self) -> Vec<LoggedMail> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => panic!("cannot read {}: {e}", self.path.display()),
        };
        // The refserver writes each line with one appendFileSync: a line
        // without its newline is still being written.
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        complete
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| LoggedMail::parse(l).unwrap_or_else(|e| panic!("mail log line {l:?}: {e}")))
            .collect()
    }

    /// The mails logged since the last call, in order.
    pub fn take(&self) -> Vec<LoggedMail> {
        let mut taken = self.taken.lock().unwrap_or_else(|e| e.into_inner());
        let all = self.all();
        let new = all.get(*taken..).unwrap_or_default().to_vec();
        *taken = all.len();
        new
    }
}

impl Default for MailLog {
    fn default() -> Self {
        MailLog::new()
    }
}

impl Drop for MailLog {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

impl LoggedMail {
    /// Reads one line of the log.
    pub fn parse(line: &str) -> Result<LoggedMail, String> {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
        let field = |name: &str| {
            v.get(name)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("no string `{name}`"))
        };
        Ok(LoggedMail {
            kind: field("kind")?,
            to: field("to")?,
            url: field("url")?,
            token: field("token")?,
            new_email: field("newEmail").ok(),
        })
    }
}

/// `node <script>` in the installed refserver directory, with a clean
/// environment (only `PATH`, `HOME` and the given variables), its output in
/// a log file; killed, and its log removed, on drop.
#[derive(Debug)]
pub(crate) struct NodeProcess {
    child: Child,
    log_path: PathBuf,
}

impl NodeProcess {
    /// Starts `script` and waits until `GET health` on `port` answers 200.
    pub(crate) fn start(
        dir: &Path,
        script: &str,
        port: u16,
        env: &[(&str, &str)],
        health: &str,
    ) -> Result<NodeProcess, String> {
        let stem = script.trim_end_matches(".mjs");
        let log_path =
            std::env::temp_dir().join(format!("tessera-{stem}-{}-{port}.log", std::process::id()));
        let log = fs::File::create(&log_path)
            .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("cannot clone log handle: {e}"))?;
        let mut cmd = Command::new("node");
        cmd.arg(script)
            .current_dir(dir)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        for var in ["PATH", "HOME"] {
            if let Some(v) = std::env::var_os(var) {
                cmd.env(var, v);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot spawn node {script}: {e}"))?;
        let mut node = NodeProcess { child, log_path };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = node.child.try_wait() {
                return Err(format!(
                    "node {script} exited with {status} before it answered {health}:\n{}",
                    node.log()
                ));
            }
            if http_get_ok(addr, health) {
                return Ok(node);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "node {script} did not answer {health} within {STARTUP_TIMEOUT:?}:\n{}",
                    node.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the process printed so far (stdout and stderr).
    pub(crate) fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_file(&self.log_path);
    }
}

/// One `GET path` over a plain socket; true on a 200.
pub(crate) fn http_get_ok(addr: SocketAddr, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200")
}

/// A free loopback port (free when probed).
pub(crate) fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind(("127.0.0.1", 0)).map_err(|e| format!("cannot bind loopback: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot read bound port: {e}"))
}

/// The installed directory, prepared at most once per process; concurrent
/// callers wait for the first.
fn prepared() -> Result<PathBuf, String> {
    static PREPARED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PREPARED.get_or_init(prepare).clone()
}

fn prepare() -> Result<PathBuf, String> {
    let source = source_dir();
    if !source.join("server.mjs").is_file() || !source.join("package-lock.json").is_file() {
        return Err(format!(
            "no refserver sources at {} (set {SOURCE_DIR_VAR})",
            source.display()
        ));
    }
    tool_version("node")?;
    let cache = cache_dir();
    let parent = cache
        .parent()
        .ok_or_else(|| format!("cache dir {} has no parent", cache.display()))?;
    fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    // Another test process may be installing into the same cache.
    let _lock = DirLock::acquire(&cache.with_extension("lock"))?;

    let source_lock = fs::read(source.join("package-lock.json"))
        .map_err(|e| format!("cannot read package-lock.json: {e}"))?;
    let lock_changed = fs::read(cache.join("package-lock.json")).ok() != Some(source_lock);
    copy_sources(&source, &cache)?;
    // npm writes node_modules/.package-lock.json last: its absence means
    // no install, or an interrupted one.
    let installed = cache.join("node_modules/.package-lock.json").is_file();
    if lock_changed || !installed {
        tool_version("npm")?;
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&cache)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run npm: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "`npm ci` in {} failed with {}:\n{}{}",
                cache.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(cache)
}

fn tool_version(tool: &str) -> Result<String, String> {
    let out = Command::new(tool)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("`{tool}` not found on PATH: {e}"))?;
    if !out.status.success() {
        return Err(format!("`{tool} --version` failed with {}", out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Copies every file of `from` into `to` except `node_modules` and `.git`,
/// writing only files whose content differs (the copy may be in use).
fn copy_sources(from: &Path, to: &Path) -> Result<(), String> {
    fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let entries = fs::read_dir(from).map_err(|e| format!("cannot list {}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", from.display()))?;
        let name = entry.file_name();
        if name == "node_modules" || name == ".git" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        let kind = entry
            .file_type()
            .map_err(|e| format!("cannot stat {}: {e}", src.display()))?;
        if kind.is_dir() {
            copy_sources(&src, &dst)?;
        } else if kind.is_file() {
            let content =
                fs::read(&src).map_err(|e| format!("cannot read {}: {e}", src.display()))?;
            if fs::read(&dst).ok().as_deref() != Some(content.as_slice()) {
                // fs::write, not fs::copy: the shared sources may be
                // read-only and the copy must stay writable.
                fs::write(&dst, content)
                    .map_err(|e| format!("cannot write {}: {e}", dst.display()))?;
            }
        }
    }
    Ok(())
}

/// A cross-process lock: a directory created atomically, removed on drop.
struct DirLock {
    path: PathBuf,
}

impl DirLock {
    fn acquire(path: &Path) -> Result<DirLock, String> {
        let deadline = Instant::now() + INSTALL_LOCK_TIMEOUT;
        loop {
            match fs::create_dir(path) {
                Ok(()) => {
                    return Ok(DirLock {
                        path: path.to_owned(),
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = fs::metadata(path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| SystemTime::now().duration_since(t).ok())
                        .is_some_and(|age| age > STALE_LOCK_AGE);
                    if stale {
                        let _ = fs::remove_dir(path);
                        continue;
                    }
                    if Instant::now() > deadline {
                        return Err(format!(
                            "timed out waiting for the install lock {}",
                            path.display()
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(format!("cannot create lock {}: {e}", path.display())),
            }
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mail_log_hands_out_each_complete_line_once() {
        let log = MailLog::new();
        assert!(log.take().is_empty(), "no file yet: no mail");
        let line = |n: u32| {
            format!(
                r#"{{"kind":"reset-password","to":"a@example.com","url":"http://x/api/auth/reset-password/t{n}?callbackURL=","token":"t{n}","at":"2026-01-01T00:00:00.000Z"}}"#
            )
        };
        fs::write(log.path(), format!("{}\n{}\n", line(1), line(2))).unwrap();
        let first = log.take();
        assert_eq!(
            first.iter().map(|m| m.token.as_str()).collect::<Vec<_>>(),
            ["t1", "t2"]
        );
        assert_eq!(first[0].new_email, None);
        // A line still being written is not handed out yet.
        let change = r#"{"kind":"change-email-confirmation","to":"a@example.com","url":"u","token":"t3","newEmail":"b@example.com","at":"x"}"#;
        fs::write(log.path(), format!("{}\n{}\n{change}", line(1), line(2))).unwrap();
        assert!(log.take().is_empty());
        fs::write(log.path(), format!("{}\n{}\n{change}\n", line(1), line(2))).unwrap();
        let next = log.take();
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].new_email.as_deref(), Some("b@example.com"));
        assert_eq!(log.all().len(), 3);
        let path = log.path().to_owned();
        drop(log);
        assert!(!path.exists(), "removed on drop");
    }

    #[test]
    fn a_line_without_a_field_is_refused() {
        assert!(LoggedMail::parse(r#"{"kind":"verify-email","to":"a"}"#).is_err());
        assert!(LoggedMail::parse("not json").is_err());
    }
}
