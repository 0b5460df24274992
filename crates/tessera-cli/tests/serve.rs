//! `tessera serve` as a user runs it: the built binary, configured by its
//! environment, talked to over HTTP.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
mod common;

use common::postgres_schema;
use tessera_testkit::service::{redis_url, skip_or_fail, Service};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const BIN: &str = env!("CARGO_BIN_EXE_tessera");
const STARTUP: Duration = Duration::from_secs(30);

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("tessera-cli-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `tessera` with only the given variables set. Without a
/// `TESSERA_DATA_DIR` it also gets `TESSERA_DATABASE_URL=memory` (unless
/// `vars` say otherwise), so the embedded default never writes a
/// `tessera.db` into the crate directory.
fn tessera(vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear().env("RUST_LOG", "warn");
    if !vars.iter().any(|(name, _)| *name == "TESSERA_DATA_DIR") {
        cmd.env("TESSERA_DATABASE_URL", "memory");
    }
    cmd.envs(vars.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// A started server: the process, the startup lines it printed before
/// listening, and the base URL from its listening line.
struct Server {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    startup: Vec<String>,
    base_url: String,
}

impl Server {
    async fn start(vars: &[(&str, &str)]) -> Server {
        Server::start_with_args(vars, &[]).await
    }

    /// Started with command-line arguments too.
    async fn start_with_args(vars: &[(&str, &str)], args: &[&str]) -> Server {
        let mut child = tessera(vars)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the tessera binary starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut startup = Vec::new();
        let base_url = tokio::time::timeout(STARTUP, async {
            while let Some(line) = stdout.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("listening on ") {
                    return url.to_owned();
                }
                startup.push(line);
            }
            panic!("tessera exited before listening; it printed {startup:?}");
        })
        .await
        .expect("tessera listens in time");
        Server {
            child,
            stdout,
            startup,
            base_url,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Sends SIGTERM, without waiting.
    fn send_sigterm(&self) {
        let pid = self.child.id().expect("still running").to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(killed.success());
    }

    /// SIGTERM, then the exit status and what was printed after listening.
    async fn terminate(self) -> (ExitStatus, Vec<String>) {
        self.send_sigterm();
        self.exit().await
    }

    /// The exit status and what was printed after listening.
    async fn exit(mut self) -> (ExitStatus, Vec<String>) {
        let status = tokio::time::timeout(STARTUP, self.child.wait())
            .await
            .expect("tessera stops in time")
            .unwrap();
        let mut rest = Vec::new();
        while let Some(line) = self.stdout.next_line().await.unwrap() {
            rest.push(line);
        }
        (status, rest)
    }
}

/// Runs `tessera` to completion; (status, stdout, stderr).
async fn run_to_exit(vars: &[(&str, &str)]) -> (ExitStatus, String, String) {
    run_to_exit_with_args(vars, &[]).await
}

/// Runs `tessera <args>` to completion; (status, stdout, stderr).
async fn run_to_exit_with_args(
    vars: &[(&str, &str)],
    args: &[&str],
) -> (ExitStatus, String, String) {
    let out = tokio::time::timeout(STARTUP, tessera(vars).args(args).output())
        .await
        .expect("tessera exits in time")
        .unwrap();
    (
        out.status,
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Signs up and returns the `name=value` of the session cookie.
async fn sign_up(client: &reqwest::Client, server: &Server) -> String {
    let res = client
        .post(server.url("/sign-up/email"))
        .json(&json!({ "email": "a@example.com", "password": "password1234", "name": "A" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("better-auth.session_token="))
        .expect("a session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// SIGTERM while a sign-up is half sent: the server stops accepting, the
/// request in flight still finishes (its user written to the SQLite file
/// before the pool closes), and the process exits 0.
#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_and_exits_0() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let data = TempDir::new("drain");
    let data_dir = data.path().to_str().unwrap();
    let port = free_port().to_string();
    let server = Server::start(&[("PORT", &port), ("TESSERA_DATA_DIR", data_dir)]).await;
    let addr = format!("127.0.0.1:{port}");
    let body =
        json!({ "email": "late@example.com", "password": "password1234", "name": "L" }).to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/auth/sign-up/email HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(first.as_bytes()).await.unwrap();
    // The head is read and the endpoint waits for the rest of the body.
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.send_sigterm();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // No longer accepting.
    assert!(
        tokio::net::TcpStream::connect(&addr).await.is_err(),
        "the listener closes at the signal"
    );
    conn.write_all(rest.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(STARTUP, conn.read_to_end(&mut reply))
        .await
        .expect("the reply comes")
        .unwrap();
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("late@example.com"), "{reply}");
    let (status, after) = server.exit().await;
    assert!(status.success(), "exit 0 after draining: {status:?}");
    assert_eq!(after, ["shutting down", "stopped"]);

    // The user was written: a new process on the same file signs them in.
    let port = free_port().to_string();
    let server = Server::start(&[("PORT", &port), ("TESSERA_DATA_DIR", data_dir)]).await;
    let res = reqwest::Client::new()
        .post(server.url("/sign-in/email"))
        .json(&json!({ "email": "late@example.com", "password": "password1234" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    server.terminate().await;
}

#[tokio::test]
async fn serves_sessions_and_keeps_its_generated_secret() {
    let data = TempDir::new("secret");
    let data_dir = data.path().to_str().unwrap();
    let secret_file = data.path().join("tessera.secret");

    // First start: no secret configured, so one is generated.
    let port = free_port().to_string();
    let server = Server::start(&[("PORT", &port), ("TESSERA_DATA_DIR", data_dir)]).await;
    assert_eq!(
        server.base_url,
        format!("http://127.0.0.1:{port}/api/auth"),
        "{:?}",
        server.startup
    );
    assert!(
        server
            .startup
            .iter()
            .any(|l| l.starts_with("generated a new secret in ") && l.ends_with("tessera.secret")),
        "{:?}",
        server.startup
    );
    let database = format!(
        "database: SQLite at {}",
        data.path().join("tessera.db").display()
    );
    for fact in [
        database.as_str(),
        "schema: version 2 (just applied: 1, 2)",
        "secondary storage: none",
        "cookie cache: off",
        "environment: production",
    ] {
        assert!(
            server.startup.iter().any(|l| l == fact),
            "{fact:?} not in {:?}",
            server.startup
        );
    }

    let client = reqwest::Client::new();
    let ok: Value = reqwest::get(server.url("/ok"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ok, json!({ "ok": true }));
    let cookie = sign_up(&client, &server).await;
    let res = client
        .get(server.url("/get-session"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let session: Value = res.json().await.unwrap();
    assert_eq!(session["user"]["email"], "a@example.com");

    let secret = std::fs::read_to_string(&secret_file).expect("the secret file exists");
    assert_eq!(secret.trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(
        !server.startup.iter().any(|l| l.contains(secret.trim())),
        "the secret is never printed"
    );

    let (status, after) = server.terminate().await;
    assert!(status.success(), "graceful exit on SIGTERM: {status:?}");
    assert_eq!(after, ["shutting down", "stopped"]);

    // Second start: the same secret is reused, untouched.
    let port = free_port().to_string();
    let server = Server::start(&[
        ("PORT", &port),
        ("TESSERA_DATA_DIR", data_dir),
        ("TESSERA_DATABASE_URL", "none"),
    ])
    .await;
    assert!(
        server
            .startup
            .iter()
            .any(|l| l.starts_with("using the secret in ") && l.ends_with("tessera.secret")),
        "{:?}",
        server.startup
    );
    assert!(
        server
            .startup
            .iter()
            .any(|l| l.starts_with("database: none")),
        "{:?}",
        server.startup
    );
    assert_eq!(std::fs::read_to_string(&secret_file).unwrap(), secret);
    let (status, _) = server.terminate().await;
    assert!(status.success());
}

#[tokio::test]
async fn configured_secret_needs_no_data_dir() {
    let port = free_port().to_string();
    let data = TempDir::new("configured");
    let server = Server::start(&[
        ("PORT", &port),
        ("TESSERA_DATA_DIR", data.path().to_str().unwrap()),
        (
            "BETTER_AUTH_SECRET",
            "kY3vQ8pZr2LmX7wN4tB9sD1fH6jG0cVeA5uR8iOq",
        ),
        ("TESSERA_SECONDARY_STORAGE", "memory"),
    ])
    .await;
    assert!(!server.startup.iter().any(|l| l.contains("secret")));
    assert!(server
        .startup
        .iter()
        .any(|l| l == "secondary storage: in-memory (data is lost on restart)"));
    assert!(!data.path().join("tessera.secret").exists());
    let (status, _) = server.terminate().await;
    assert!(status.success());
}

#[tokio::test]
async fn bad_values_exit_with_a_message_naming_the_variable() {
    let data = TempDir::new("bad");
    let data_dir = data.path().to_str().unwrap();
    for (name, value) in [
        ("TESSERA_SESSION_UPDATE_AGE", "soon"),
        ("TESSERA_DATABASE_URL", "mysql://root:hunter2@db/x"),
        (
            "TESSERA_DATABASE_URL",
            "postgres://root:hunter2@127.0.0.1:1/x",
        ),
        ("TESSERA_MIGRATE", "later"),
        ("TESSERA_HASH_THREADS", "0"),
        ("TESSERA_SECONDARY_STORAGE", "redis://:hunter2@cache"),
        ("TESSERA_COOKIE_CACHE", "yes"),
        ("TESSERA_COOKIE_CACHE", "jws"),
        ("TESSERA_COOKIE_CACHE_MAX_AGE", "5m"),
        ("TESSERA_COOKIE_CACHE_MAX_AGE", "99999999"),
        ("TESSERA_REFRESH_CACHE", "sometimes"),
        ("TESSERA_MAX_COOKIES", "many"),
        ("TESSERA_MAX_COOKIE_BYTES", "100"),
        ("TESSERA_MAX_HEAD_BYTES", "1024"),
        ("PORT", "http"),
    ] {
        let (status, _, stderr) =
            run_to_exit(&[("TESSERA_DATA_DIR", data_dir), (name, value)]).await;
        assert_eq!(status.code(), Some(1), "{name}={value} must fail: {stderr}");
        assert!(stderr.contains(name), "{name}={value}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!stderr.contains("hunter2"), "credentials leaked: {stderr}");
    }
}

#[tokio::test]
async fn kernel_refusal_is_a_one_line_error() {
    let (status, _, stderr) = run_to_exit(&[(
        "BETTER_AUTH_SECRET",
        "better-auth-secret-12345678901234567890",
    )])
    .await;
    assert!(!status.success());
    assert!(
        stderr.starts_with("tessera: invalid configuration:"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

#[tokio::test]
async fn a_misconfigured_oauth_provider_is_a_one_line_error_naming_its_variable() {
    // An issuer nobody answers at: discovery fails at start-up.
    let closed = free_port().to_string();
    let issuer = format!("http://127.0.0.1:{closed}");
    let (status, _, stderr) = run_to_exit(&[
        (
            "BETTER_AUTH_SECRET",
            "a-long-random-secret-of-at-least-32-characters!",
        ),
        ("TESSERA_OAUTH_CORP_ISSUER", &issuer),
        ("TESSERA_OAUTH_CORP_CLIENT_ID", "c"),
    ])
    .await;
    assert!(!status.success());
    assert!(
        stderr.starts_with("tessera: TESSERA_OAUTH_CORP_ISSUER: provider corp: cannot fetch"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");

    // A preset without its client secret.
    let (status, _, stderr) = run_to_exit(&[
        (
            "BETTER_AUTH_SECRET",
            "a-long-random-secret-of-at-least-32-characters!",
        ),
        ("TESSERA_OAUTH_GOOGLE_PRESET", "google"),
        ("TESSERA_OAUTH_GOOGLE_CLIENT_ID", "c"),
    ])
    .await;
    assert!(!status.success());
    assert!(
        stderr.contains("TESSERA_OAUTH_GOOGLE_CLIENT_SECRET: not set"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

#[tokio::test]
async fn port_in_use_is_a_one_line_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let data = TempDir::new("in-use");
    let (status, _, stderr) = run_to_exit(&[
        ("PORT", &port),
        ("TESSERA_DATA_DIR", data.path().to_str().unwrap()),
    ])
    .await;
    assert!(!status.success());
    assert!(
        stderr.starts_with(&format!("tessera: cannot listen on 127.0.0.1:{port}:")),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    // The port is bound before anything is written: a second instance
    // started by mistake leaves no secret or database behind.
    let left: Vec<_> = std::fs::read_dir(data.path()).unwrap().collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[tokio::test]
async fn empty_secret_file_is_refused() {
    let data = TempDir::new("empty");
    write_secret_file(data.path(), "", 0o600);
    let (status, _, stderr) =
        run_to_exit(&[("TESSERA_DATA_DIR", data.path().to_str().unwrap())]).await;
    assert!(!status.success());
    assert!(stderr.contains("tessera.secret"), "{stderr}");
    assert!(stderr.contains("is empty"), "{stderr}");
}

/// `dir/tessera.secret` holding `secret`, with `mode` (unix).
fn write_secret_file(dir: &Path, secret: &str, mode: u32) -> PathBuf {
    let path = dir.join("tessera.secret");
    std::fs::write(&path, secret).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = mode;
    path
}

/// Starts `tessera` on `data` and expects it to refuse, with one line on
/// stderr; returns that line.
async fn refused_start(data: &TempDir) -> String {
    let port = free_port().to_string();
    let (status, stdout, stderr) = run_to_exit(&[
        ("PORT", &port),
        ("TESSERA_DATA_DIR", data.path().to_str().unwrap()),
    ])
    .await;
    assert_eq!(status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(!stdout.contains("listening"), "{stdout}");
    stderr
}

/// Issue 11: a secret file someone else could have chosen is not used.
#[cfg(unix)]
#[tokio::test]
async fn secret_file_through_a_symbolic_link_is_refused() {
    let data = TempDir::new("secret-link");
    let elsewhere = TempDir::new("secret-link-target");
    let target = write_secret_file(elsewhere.path(), SECRET, 0o600);
    std::os::unix::fs::symlink(&target, data.path().join("tessera.secret")).unwrap();
    let stderr = refused_start(&data).await;
    assert!(stderr.contains("tessera.secret"), "{stderr}");
    assert!(stderr.contains("not a regular file"), "{stderr}");
}

#[cfg(unix)]
#[tokio::test]
async fn secret_file_others_may_read_is_refused_naming_chmod() {
    for mode in [0o644, 0o640, 0o666] {
        let data = TempDir::new("secret-mode");
        let path = write_secret_file(data.path(), SECRET, mode);
        let stderr = refused_start(&data).await;
        assert!(
            stderr.contains(&format!("run `chmod 600 {}`", path.display())),
            "{mode:o}: {stderr}"
        );
        assert!(
            !stderr.contains(SECRET),
            "the secret is never printed: {stderr}"
        );
    }
}

/// Runs only as root, which can give the file to another user.
#[cfg(unix)]
#[tokio::test]
async fn secret_file_of_another_user_is_refused_naming_chown() {
    let data = TempDir::new("secret-owner");
    let path = write_secret_file(data.path(), SECRET, 0o600);
    if std::os::unix::fs::chown(&path, Some(65534), Some(65534)).is_err() {
        return; // not root
    }
    let stderr = refused_start(&data).await;
    assert!(stderr.contains("owned by uid 65534"), "{stderr}");
    assert!(stderr.contains("run `chown "), "{stderr}");
}

/// Issue 11: the embedded SQLite database holds password hashes and
/// session tokens; it and SQLite's side files are created 0600.
#[cfg(unix)]
#[tokio::test]
async fn the_default_sqlite_database_is_created_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let data = TempDir::new("sqlite-mode");
    let data_dir = data.path().to_str().unwrap();
    let port = free_port().to_string();
    let server = Server::start(&[("PORT", &port), ("TESSERA_DATA_DIR", data_dir)]).await;
    let client = reqwest::Client::new();
    // A write, so the WAL and its index exist.
    sign_up(&client, &server).await;
    let mut seen = Vec::new();
    for name in [
        "tessera.db",
        "tessera.db-wal",
        "tessera.db-shm",
        "tessera.db-journal",
    ] {
        let Ok(meta) = std::fs::metadata(data.path().join(name)) else {
            continue;
        };
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
        seen.push(name);
    }
    assert!(
        seen.contains(&"tessera.db") && seen.contains(&"tessera.db-wal"),
        "{seen:?}"
    );
    let (status, _) = server.terminate().await;
    assert!(status.success());
}

/// Issue 11: in production, a server reached from other machines (behind a
/// TLS proxy) would default to an `http://` base URL and set cookies
/// without `Secure`; it asks for `BETTER_AUTH_URL` instead.
#[tokio::test]
async fn production_beyond_loopback_without_a_base_url_refuses_to_start() {
    let data = TempDir::new("no-base-url");
    let listen = format!("0.0.0.0:{}", free_port());
    let (status, stdout, stderr) = run_to_exit(&[
        ("TESSERA_LISTEN", &listen),
        ("TESSERA_DATA_DIR", data.path().to_str().unwrap()),
    ])
    .await;
    assert_eq!(status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.starts_with("tessera: BETTER_AUTH_URL is not set:"),
        "{stderr}"
    );
    assert!(stderr.contains(&listen), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

/// Behind a TLS proxy with its public URL: `__Secure-` cookies, `Secure`.
#[tokio::test]
async fn behind_a_tls_proxy_cookies_are_secure() {
    let data = TempDir::new("tls-proxy");
    let port = free_port();
    let server = Server::start(&[
        ("TESSERA_LISTEN", &format!("0.0.0.0:{port}")),
        ("BETTER_AUTH_URL", "https://auth.example.com"),
        ("TESSERA_DATA_DIR", data.path().to_str().unwrap()),
        ("TESSERA_DATABASE_URL", "memory"),
    ])
    .await;
    let res = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/auth/sign-up/email"))
        .header("x-forwarded-proto", "https")
        .json(&json!({ "email": "tls@example.com", "password": "password1234", "name": "T" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let token = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Secure-better-auth.session_token="))
        .expect("a __Secure- session cookie")
        .to_owned();
    assert!(token.contains("; Secure"), "{token}");
    let (status, _) = server.terminate().await;
    assert!(status.success());
}

/// Outside production the listen address still gives the base URL.
#[tokio::test]
async fn development_beyond_loopback_defaults_to_localhost() {
    let data = TempDir::new("dev-any");
    let port = free_port();
    let server = Server::start(&[
        ("TESSERA_LISTEN", &format!("0.0.0.0:{port}")),
        ("NODE_ENV", "development"),
        ("TESSERA_DATA_DIR", data.path().to_str().unwrap()),
        ("TESSERA_DATABASE_URL", "memory"),
    ])
    .await;
    let res = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/auth/sign-up/email"))
        .json(&json!({ "email": "dev@example.com", "password": "password1234", "name": "D" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (status, _) = server.terminate().await;
    assert!(status.success());
}

#[tokio::test]
async fn help_lists_the_variables() {
    let out = Command::new(BIN).arg("--help").output().await.unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for name in [
        "PORT",
        "TESSERA_DATABASE_URL",
        "BETTER_AUTH_SECRET",
        "TESSERA_DATA_DIR",
    ] {
        assert!(help.contains(name), "{name} missing from help");
    }
    let out = Command::new(BIN).arg("bogus").output().await.unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn every_command_has_help_naming_its_flags() {
    for (args, flags) in [
        (
            &["--help"][..],
            &["--port", "--database-url", "serve", "migrate", "inspect"][..],
        ),
        (&["-h"], &["--port", "serve"]),
        (&["help"], &["serve", "migrate", "inspect"]),
        (
            &["serve", "--help"],
            &[
                "--port",
                "--listen",
                "--database-url",
                "--data-dir",
                "--base-url",
                "BETTER_AUTH_SECRET",
            ],
        ),
        (&["help", "serve"], &["--port", "PORT"]),
        (
            &["migrate", "--help"],
            &["--database-url", "--data-dir", "TESSERA_DATABASE_URL"],
        ),
        (
            &["inspect", "--help"],
            &["--json", "--data-dir", "COOKIE", "Exit status"],
        ),
        (&["inspect", "-h"], &["--json", "--show-secrets"]),
    ] {
        // A database URL in the environment is never shown by the help.
        let out = tokio::time::timeout(
            STARTUP,
            tessera(&[("TESSERA_DATABASE_URL", "postgres://u:hunter2@db/x")])
                .args(args)
                .output(),
        )
        .await
        .expect("help exits in time")
        .unwrap();
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(out.status.success(), "{args:?}: {:?}", out.status);
        for flag in flags {
            assert!(help.contains(flag), "{args:?}: {flag} missing from\n{help}");
        }
        assert!(!help.contains("hunter2"), "{args:?}: {help}");
    }
    let out = Command::new(BIN).arg("--version").output().await.unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .starts_with("tessera "));
}

#[tokio::test]
async fn a_flag_beats_its_variable() {
    let data = TempDir::new("flags");
    let port = free_port().to_string();
    // Every variable here is unusable; the flags given instead are not.
    let server = Server::start_with_args(
        &[
            ("PORT", "http"),
            ("TESSERA_LISTEN", "nowhere"),
            ("TESSERA_DATABASE_URL", "mysql://db/x"),
            ("TESSERA_DATA_DIR", "/nonexistent/tessera"),
            ("TESSERA_COOKIE_CACHE", "jws"),
        ],
        &[
            "serve",
            "--port",
            &port,
            "--database-url",
            "none",
            "--data-dir",
            data.path().to_str().unwrap(),
            "--cookie-cache",
            "jwt",
        ],
    )
    .await;
    assert_eq!(
        server.base_url,
        format!("http://127.0.0.1:{port}/api/auth"),
        "{:?}",
        server.startup
    );
    for fact in ["database: none", "cookie cache: jwt"] {
        assert!(
            server.startup.iter().any(|l| l.starts_with(fact)),
            "{fact:?} not in {:?}",
            server.startup
        );
    }
    assert!(data.path().join("tessera.secret").is_file());
    let (status, _) = server.terminate().await;
    assert!(status.success());

    // Without `serve`, the same flags; and a bad flag value is named by
    // its variable, as a bad variable is.
    let (status, _, stderr) = run_to_exit_with_args(&[], &["--port", "http"]).await;
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("tessera: PORT=\"http\""), "{stderr}");
}

const SECRET: &str = "kY3vQ8pZr2LmX7wN4tB9sD1fH6jG0cVeA5uR8iOq";

/// The `Cookie` header a browser would send after `res`: every cookie it
/// set and did not expire.
fn cookie_header(res: &reqwest::Response) -> String {
    let pairs: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|line| !line.to_ascii_lowercase().contains("max-age=0"))
        .filter_map(|line| line.split(';').next())
        .map(str::to_owned)
        .collect();
    pairs.join("; ")
}

/// `POST path` with `body` from the server's own origin; the response
/// must be 200. Returns the cookies it set.
async fn post_for_cookies(
    client: &reqwest::Client,
    server: &Server,
    path: &str,
    body: Value,
) -> String {
    let origin = server.base_url.split("/api/").next().unwrap().to_owned();
    let res = client
        .post(server.url(path))
        .header("origin", origin)
        .json(&body)
        .send()
        .await
        .unwrap();
    let cookies = cookie_header(&res);
    let status = res.status();
    assert_eq!(
        status,
        200,
        "{path}: {}",
        res.text().await.unwrap_or_default()
    );
    cookies
}

/// `GET /get-session` with `cookies`; the user's email, if any.
async fn session_email(client: &reqwest::Client, server: &Server, cookies: &str) -> Option<String> {
    let res = client
        .get(server.url("/get-session"))
        .header("cookie", cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["user"]["email"].as_str().map(str::to_owned)
}

fn credentials(email: &str) -> Value {
    json!({ "email": email, "password": "password1234", "name": "A" })
}

#[tokio::test]
async fn stateless_sessions_survive_a_restart() {
    let data = TempDir::new("stateless");
    let data_dir = data.path().to_str().unwrap();
    let port = free_port().to_string();
    let vars = [
        ("TESSERA_DATA_DIR", data_dir),
        ("TESSERA_DATABASE_URL", "none"),
    ];
    let server = Server::start(&[vars[0], vars[1], ("PORT", &port)]).await;
    for fact in [
        "cookie cache: jwe, max age 604800 s, version \"1\", refresh when < 120960 s remain",
        "plugins: stateless-refresh",
    ] {
        assert!(
            server.startup.iter().any(|l| l == fact),
            "{fact:?} not in {:?}",
            server.startup
        );
    }
    let client = reqwest::Client::new();
    let cookies = post_for_cookies(
        &client,
        &server,
        "/sign-up/email",
        credentials("stateless@example.com"),
    )
    .await;
    assert!(cookies.contains("better-auth.session_data="), "{cookies}");
    let (status, _) = server.terminate().await;
    assert!(status.success());

    // A new process: its memory is empty, only the cookie cache and the
    // secret file carry the session over.
    let port = free_port().to_string();
    let server = Server::start(&[vars[0], vars[1], ("PORT", &port)]).await;
    assert_eq!(
        session_email(&client, &server, &cookies).await.as_deref(),
        Some("stateless@example.com")
    );
    let (status, _) = server.terminate().await;
    assert!(status.success());
}

#[tokio::test]
async fn stateless_processes_sharing_a_secret_share_sessions() {
    fn stateless_with_secret(port: &str) -> [(&str, &str); 3] {
        [
            ("PORT", port),
            ("BETTER_AUTH_SECRET", SECRET),
            ("TESSERA_DATABASE_URL", "none"),
        ]
    }
    let (port_a, port_b) = (free_port().to_string(), free_port().to_string());
    let (vars_a, vars_b) = (
        stateless_with_secret(&port_a),
        stateless_with_secret(&port_b),
    );
    let (a, b) = tokio::join!(Server::start(&vars_a), Server::start(&vars_b));
    let client = reqwest::Client::new();
    let user = credentials("shared@example.com");
    post_for_cookies(&client, &a, "/sign-up/email", user.clone()).await;
    let user = json!({ "email": user["email"], "password": user["password"] });
    let cookies = post_for_cookies(&client, &a, "/sign-in/email", user).await;
    assert_eq!(
        session_email(&client, &b, &cookies).await.as_deref(),
        Some("shared@example.com"),
        "a session from one process is valid on the other"
    );
    for server in [a, b] {
        let (status, _) = server.terminate().await;
        assert!(status.success());
    }
}

/// Runs `tessera inspect <args>` with the given variables and stdin;
/// (exit code, stdout, stderr).
async fn inspect(vars: &[(&str, &str)], args: &[&str], stdin: &str) -> (i32, String, String) {
    use tokio::io::AsyncWriteExt;
    let mut child = tessera(vars)
        .arg("inspect")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let out = tokio::time::timeout(STARTUP, child.wait_with_output())
        .await
        .expect("inspect exits in time")
        .unwrap();
    (
        out.status.code().expect("an exit code"),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test]
async fn compact_cache_with_a_database_is_decoded_by_inspect() {
    let port = free_port().to_string();
    let server = Server::start(&[
        ("PORT", &port),
        ("BETTER_AUTH_SECRET", SECRET),
        ("TESSERA_COOKIE_CACHE", "compact"),
    ])
    .await;
    for fact in [
        "cookie cache: compact, max age 300 s, version \"1\", no refresh",
        "plugins: none",
    ] {
        assert!(
            server.startup.iter().any(|l| l == fact),
            "{fact:?} not in {:?}",
            server.startup
        );
    }
    let client = reqwest::Client::new();
    let cookies = post_for_cookies(
        &client,
        &server,
        "/sign-up/email",
        credentials("compact@example.com"),
    )
    .await;
    assert!(cookies.contains("better-auth.session_data="), "{cookies}");
    let (status, _) = server.terminate().await;
    assert!(status.success());

    let secret = [("BETTER_AUTH_SECRET", SECRET)];
    let (code, stdout, stderr) = inspect(&secret, &[&cookies], "").await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("strategy:  compact"), "{stdout}");
    assert!(
        stdout.contains("token matches better-auth.session_token"),
        "{stdout}"
    );
    assert!(stdout.contains("compact@example.com"), "{stdout}");
    assert!(!stdout.contains(SECRET), "the secret is never printed");

    // The same from stdin, as JSON.
    let (code, stdout, _) = inspect(&secret, &["--json"], &cookies).await;
    assert_eq!(code, 0);
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let data = report
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "session_data")
        .expect("a session_data entry");
    assert_eq!(data["strategy"], "compact");
    assert_eq!(data["valid"], true);
    assert_eq!(data["session"]["user"]["email"], "compact@example.com");

    // Another deployment's secret: nothing verifies.
    let other = [(
        "BETTER_AUTH_SECRET",
        "a-different-secret-0123456789-abcdefghij",
    )];
    let (code, stdout, _) = inspect(&other, &[&cookies], "").await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("signature: invalid"), "{stdout}");
}

#[tokio::test]
async fn inspect_exits_1_on_garbage_and_2_without_a_secret() {
    let secret = [("BETTER_AUTH_SECRET", SECRET)];
    let (code, stdout, _) = inspect(&secret, &["garbage"], "").await;
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("not a compact, jwt or jwe cookie cache"),
        "{stdout}"
    );
    let (code, _, _) = inspect(&secret, &["-"], "a=1; b=not-a-cookie-cache\n").await;
    assert_eq!(code, 1);

    let data = TempDir::new("inspect-no-secret");
    let (code, _, stderr) = inspect(
        &[("TESSERA_DATA_DIR", data.path().to_str().unwrap())],
        &["garbage"],
        "",
    )
    .await;
    assert_eq!(code, 2);
    assert!(stderr.contains("no secret"), "{stderr}");
    assert!(
        !data.path().join("tessera.secret").exists(),
        "inspect never generates a secret"
    );
}

#[tokio::test]
async fn unknown_plugin_is_a_one_line_error_naming_it() {
    let (status, _, stderr) = run_to_exit(&[
        ("BETTER_AUTH_SECRET", SECRET),
        ("TESSERA_PLUGINS", "stateless-refresh, nope"),
    ])
    .await;
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("\"nope\""), "{stderr}");
    assert!(
        stderr.contains("stateless-refresh"),
        "lists what exists: {stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    let (status, _, stderr) = run_to_exit(&[
        ("BETTER_AUTH_SECRET", SECRET),
        ("TESSERA_COOKIE_CACHE", "jws"),
    ])
    .await;
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("TESSERA_COOKIE_CACHE"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

#[tokio::test]
async fn multi_session_is_enabled_by_id() {
    let port = free_port().to_string();
    let server = Server::start(&[
        ("BETTER_AUTH_SECRET", SECRET),
        ("TESSERA_PLUGINS", "multi-session"),
        ("PORT", &port),
    ])
    .await;
    assert!(
        server.startup.iter().any(|l| l == "plugins: multi-session"),
        "{:?}",
        server.startup
    );
    let res = reqwest::get(server.url("/multi-session/list-device-sessions"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "[]");
    server.terminate().await;
}

/// Storage on the test Redis, or `None` after a loud skip banner (a failure
/// under `CI=true`).
async fn test_redis(prefix: &str) -> Option<tessera_redis::RedisStorage> {
    match tessera_redis::RedisStorage::connect(&redis_url(), prefix).await {
        Ok(storage) => Some(storage),
        Err(e) => skip_or_fail(Service::Redis, &e.to_string()),
    }
}

/// A key prefix of the test's own; every key under it is deleted on drop,
/// also when the test fails.
struct RedisKeys {
    url: String,
    prefix: String,
}

impl Drop for RedisKeys {
    fn drop(&mut self) {
        let Ok(mut conn) = redis::Client::open(self.url.as_str()).and_then(|c| c.get_connection())
        else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _ = redis::cmd("DEL").arg(&keys).exec(&mut conn);
        }
    }
}

#[tokio::test]
async fn processes_sharing_redis_share_sessions() {
    use tessera::store::SecondaryStorage;
    let keys = RedisKeys {
        url: redis_url(),
        prefix: format!(
            "tessera-cli-test:{}:",
            tessera::generate_id(12).to_ascii_lowercase()
        ),
    };
    let (url, prefix) = (keys.url.clone(), keys.prefix.clone());
    let Some(storage) = test_redis(&prefix).await else {
        return;
    };
    let (port_a, port_b) = (free_port().to_string(), free_port().to_string());
    let shared = [
        ("BETTER_AUTH_SECRET", SECRET),
        ("TESSERA_SECONDARY_STORAGE", url.as_str()),
        ("TESSERA_REDIS_PREFIX", prefix.as_str()),
    ];
    let vars_a = [shared[0], shared[1], shared[2], ("PORT", port_a.as_str())];
    let vars_b = [shared[0], shared[1], shared[2], ("PORT", port_b.as_str())];
    let (a, b) = tokio::join!(Server::start(&vars_a), Server::start(&vars_b));
    let expected = format!(
        "secondary storage: Redis at {} (prefix {prefix:?})",
        storage.address()
    );
    assert!(
        a.startup.contains(&expected),
        "{expected:?} not in {:?}",
        a.startup
    );

    let client = reqwest::Client::new();
    let cookies = post_for_cookies(
        &client,
        &a,
        "/sign-up/email",
        credentials("redis@example.com"),
    )
    .await;
    assert_eq!(
        session_email(&client, &b, &cookies).await.as_deref(),
        Some("redis@example.com"),
        "a session from one process is found by the other, through Redis"
    );
    let token = cookies
        .split("better-auth.session_token=")
        .nth(1)
        .and_then(|v| v.split(['.', ';']).next())
        .expect("a session token cookie")
        .to_owned();
    let stored = storage
        .get(&token)
        .await
        .unwrap()
        .expect("the session is under the prefix");
    let stored: Value = serde_json::from_str(&stored).unwrap();
    assert!(stored["user"]["id"].is_string(), "{stored}");

    // Revoked on one process: signed out on the other.
    let origin = a.base_url.split("/api/").next().unwrap().to_owned();
    let res = client
        .post(a.url("/revoke-sessions"))
        .header("origin", origin)
        .header("cookie", &cookies)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(session_email(&client, &b, &cookies).await, None);

    assert_eq!(storage.get(&token).await.unwrap(), None);

    for server in [a, b] {
        let (status, _) = server.terminate().await;
        assert!(status.success());
    }
    drop(keys);
}

/// Two processes on a Redis Cluster (three masters with replicas, started
/// here), the cookie cache on: sessions are shared, a revocation on one
/// reaches the other's cache hits within the lag, and writes wait for a
/// replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_sharing_a_redis_cluster_share_sessions_and_revocations() {
    let Some(cluster) = tessera_testkit::redis_cluster::ThrowawayCluster::start_steady() else {
        return;
    };
    let url = cluster.url();
    let (port_a, port_b) = (free_port().to_string(), free_port().to_string());
    let shared = [
        ("BETTER_AUTH_SECRET", SECRET),
        ("TESSERA_SECONDARY_STORAGE", url.as_str()),
        ("TESSERA_REDIS_WAIT_REPLICAS", "1"),
        ("TESSERA_COOKIE_CACHE", "jwe"),
        ("TESSERA_REVOCATION_LAG", "0.5"),
    ];
    let mut vars_a = shared.to_vec();
    vars_a.push(("PORT", port_a.as_str()));
    let mut vars_b = shared.to_vec();
    vars_b.push(("PORT", port_b.as_str()));
    let (a, b) = tokio::join!(Server::start(&vars_a), Server::start(&vars_b));
    assert!(
        a.startup
            .iter()
            .any(|l| l.starts_with("secondary storage: Redis at redis+cluster://127.0.0.1:")),
        "{:?}",
        a.startup
    );
    assert!(
        a.startup.iter().any(|l| l.contains("within 0.5 s")),
        "{:?}",
        a.startup
    );
    let client = reqwest::Client::new();
    let cookies = post_for_cookies(
        &client,
        &a,
        "/sign-up/email",
        credentials("cluster@example.com"),
    )
    .await;
    assert_eq!(
        session_email(&client, &b, &cookies).await.as_deref(),
        Some("cluster@example.com")
    );
    let origin = a.base_url.split("/api/").next().unwrap().to_owned();
    let res = client
        .post(a.url("/sign-out"))
        .header("origin", origin)
        .header("cookie", &cookies)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Past the lag (real time here), B no longer takes the cached session.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(session_email(&client, &b, &cookies).await, None);
    for server in [a, b] {
        let (status, _) = server.terminate().await;
        assert!(status.success());
    }
}

#[tokio::test]
async fn unreachable_redis_is_a_one_line_error() {
    let port = free_port();
    let data = TempDir::new("redis-down");
    let (status, stdout, stderr) = run_to_exit(&[
        ("TESSERA_DATA_DIR", data.path().to_str().unwrap()),
        (
            "TESSERA_SECONDARY_STORAGE",
            &format!("redis://:hunter2@127.0.0.1:{port}"),
        ),
    ])
    .await;
    assert_eq!(status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "tessera: TESSERA_SECONDARY_STORAGE: cannot connect to Redis at redis://127.0.0.1:{port}:"
        )),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("hunter2") && !stdout.contains("hunter2"));
    assert!(!stdout.contains("listening"), "{stdout}");
}

#[tokio::test]
async fn the_default_sqlite_database_keeps_users_and_sessions_across_restarts() {
    let data = TempDir::new("sqlite-default");
    let data_dir = data.path().to_str().unwrap();
    let client = reqwest::Client::new();
    let port = free_port().to_string();
    let server = Server::start(&[("PORT", &port), ("TESSERA_DATA_DIR", data_dir)]).await;
    let cookies = post_for_cookies(
        &client,
        &server,
        "/sign-up/email",
        credentials("sqlite@example.com"),
    )
    .await;
    let (status, _) = server.terminate().await;
    assert!(status.success());
    assert!(data.path().join("tessera.db").is_file());

    // A new process on the same file: the schema is already there, the
    // session and the password still work.
    let port = free_port().to_string();
    let server = Server::start(&[("PORT", &port), ("TESSERA_DATA_DIR", data_dir)]).await;
    assert!(
        server
            .startup
            .iter()
            .any(|l| l == "schema: version 2, up to date"),
        "{:?}",
        server.startup
    );
    assert_eq!(
        session_email(&client, &server, &cookies).await.as_deref(),
        Some("sqlite@example.com")
    );
    let user = json!({ "email": "sqlite@example.com", "password": "password1234" });
    post_for_cookies(&client, &server, "/sign-in/email", user).await;
    let (status, _) = server.terminate().await;
    assert!(status.success());
}

#[tokio::test]
async fn unreachable_postgres_is_a_one_line_error() {
    let data = TempDir::new("pg-down");
    let (status, stdout, stderr) = run_to_exit(&[
        ("TESSERA_DATA_DIR", data.path().to_str().unwrap()),
        ("BETTER_AUTH_SECRET", SECRET),
        (
            "TESSERA_DATABASE_URL",
            "postgres://postgres:hunter2@127.0.0.1:1/test",
        ),
    ])
    .await;
    assert_eq!(status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.starts_with(
            "tessera: TESSERA_DATABASE_URL: cannot connect to PostgreSQL at 127.0.0.1:1/test: "
        ),
        "{stderr}"
    );
    // The cause once: sqlx's error both shows and returns its io::Error.
    assert_eq!(
        stderr.to_lowercase().matches("refused").count(),
        1,
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(!stderr.contains("hunter2") && !stdout.contains("hunter2"));
    assert!(!stdout.contains("listening"), "{stdout}");
}

#[tokio::test]
async fn migrate_creates_the_schema_once() {
    let data = TempDir::new("migrate");
    let vars = [("TESSERA_DATA_DIR", data.path().to_str().unwrap())];
    let migrate = |vars: &[(&str, &str)]| {
        let mut cmd = tessera(vars);
        cmd.arg("migrate");
        async move {
            let out = tokio::time::timeout(STARTUP, cmd.output())
                .await
                .expect("migrate exits in time")
                .unwrap();
            (
                out.status,
                String::from_utf8(out.stdout).unwrap(),
                String::from_utf8(out.stderr).unwrap(),
            )
        }
    };
    let (status, stdout, stderr) = migrate(&vars).await;
    assert!(status.success(), "{stdout}{stderr}");
    let db = data.path().join("tessera.db");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            format!("database: SQLite at {}", db.display()).as_str(),
            "applied migration 1: better-auth 1.7.25 core schema: user, session, account, verification",
            "applied migration 2: tessera revocation log (revocation reaching every process within session.revocationLag)",
            "schema: version 2 (just applied: 1, 2)",
        ]
    );
    let (status, stdout, _) = migrate(&vars).await;
    assert!(status.success());
    assert!(
        stdout.ends_with("schema: version 2, up to date\n"),
        "{stdout}"
    );
    assert!(
        !data.path().join("tessera.secret").exists(),
        "migrate needs no secret"
    );

    // Nothing to migrate in memory; a bad URL is one line and exit 1.
    let (status, stdout, _) = migrate(&[("TESSERA_DATABASE_URL", "memory")]).await;
    assert!(status.success());
    assert!(stdout.contains("nothing to migrate"), "{stdout}");
    let (status, _, stderr) = migrate(&[(
        "TESSERA_DATABASE_URL",
        "postgres://postgres:hunter2@127.0.0.1:1/test",
    )])
    .await;
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.starts_with("tessera: TESSERA_DATABASE_URL: cannot connect"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[tokio::test]
async fn migrations_at_start_up_can_be_turned_off() {
    let data = TempDir::new("no-migrate");
    let port = free_port().to_string();
    let server = Server::start(&[
        ("PORT", &port),
        ("TESSERA_DATA_DIR", data.path().to_str().unwrap()),
        ("TESSERA_MIGRATE", "false"),
    ])
    .await;
    assert!(
        server
            .startup
            .iter()
            .any(|l| l == "schema: not migrated (TESSERA_MIGRATE=false)"),
        "{:?}",
        server.startup
    );
    let (status, _) = server.terminate().await;
    assert!(status.success());
}

#[tokio::test]
async fn postgres_keeps_sessions_across_restarts() {
    let Some((url, _schema)) = postgres_schema().await else {
        return;
    };
    let vars = |port: &str| {
        [
            ("PORT", port.to_owned()),
            ("BETTER_AUTH_SECRET", SECRET.to_owned()),
            ("TESSERA_DATABASE_URL", url.clone()),
        ]
    };
    let client = reqwest::Client::new();
    let port = free_port().to_string();
    let owned = vars(&port);
    let borrowed: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start(&borrowed).await;
    assert!(
        server
            .startup
            .iter()
            .any(|l| l.starts_with("database: PostgreSQL at ") && !l.contains("search_path")),
        "{:?}",
        server.startup
    );
    assert!(server
        .startup
        .iter()
        .any(|l| l == "schema: version 2 (just applied: 1, 2)"));
    let cookies = post_for_cookies(
        &client,
        &server,
        "/sign-up/email",
        credentials("pg@example.com"),
    )
    .await;
    server.terminate().await;

    let port = free_port().to_string();
    let owned = vars(&port);
    let borrowed: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start(&borrowed).await;
    assert!(server
        .startup
        .iter()
        .any(|l| l == "schema: version 2, up to date"));
    assert_eq!(
        session_email(&client, &server, &cookies).await.as_deref(),
        Some("pg@example.com")
    );
    server.terminate().await;
}

const TOO_LARGE: &str =
    r#"{"message":"Request header fields too large","code":"REQUEST_HEADER_FIELDS_TOO_LARGE"}"#;

/// `GET path` with `cookie`: the status, and the body when one arrives.
async fn get_with_cookie(
    client: &reqwest::Client,
    server: &Server,
    path: &str,
    cookie: &str,
) -> (u16, Option<String>) {
    let res = client
        .get(server.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.ok())
}

#[tokio::test]
async fn oversized_heads_are_431_and_the_server_serves_on() {
    let server = Server::start(&[("BETTER_AUTH_SECRET", SECRET)]).await;
    let client = reqwest::Client::new();
    let bomb = tessera_testkit::conformance::cookie_bomb();
    let big = format!("big={}", "x".repeat(64 * 1024));
    for path in ["/ok", "/get-session"] {
        // Refused by hyper unread, the connection closed on a client still
        // sending: read from a raw connection.
        let base = server.base_url.split("/api/auth").next().unwrap();
        let req = tessera_testkit::TestRequest::get(format!("/api/auth{path}"))
            .header("cookie", bomb.as_str());
        let status = tessera_testkit::send_raw_status(base, &req).await;
        assert_eq!(status, Ok(431), "{path} with a cookie bomb");
        let (status, body) = get_with_cookie(&client, &server, path, &big).await;
        assert_eq!((status, body.as_deref()), (431, Some(TOO_LARGE)), "{path}");
    }
    let res = client.get(server.url("/ok")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    server.terminate().await;
}

#[tokio::test]
async fn request_limits_are_read_from_the_environment() {
    let client = reqwest::Client::new();
    let server = Server::start(&[
        ("BETTER_AUTH_SECRET", SECRET),
        ("TESSERA_MAX_COOKIE_BYTES", "8192"),
    ])
    .await;
    let cookie = format!("pad={}", "x".repeat(9 * 1024));
    let (status, body) = get_with_cookie(&client, &server, "/ok", &cookie).await;
    assert_eq!((status, body.as_deref()), (431, Some(TOO_LARGE)));
    server.terminate().await;

    // Raised: hyper reads a head past its own default buffer (~400 KB).
    let server = Server::start(&[
        ("BETTER_AUTH_SECRET", SECRET),
        ("TESSERA_MAX_HEAD_BYTES", "1048576"),
        ("TESSERA_MAX_COOKIE_BYTES", "1048576"),
    ])
    .await;
    let cookie = format!("pad={}", "x".repeat(600 * 1024));
    let (status, _) = get_with_cookie(&client, &server, "/ok", &cookie).await;
    assert_eq!(status, 200);
    server.terminate().await;
}

#[tokio::test]
async fn hash_threads_size_the_password_hashing_pool() {
    let port = free_port().to_string();
    let server = Server::start(&[
        ("PORT", &port),
        (
            "BETTER_AUTH_SECRET",
            "kY3vQ8pZr2LmX7wN4tB9sD1fH6jG0cVeA5uR8iOq",
        ),
        ("TESSERA_DATABASE_URL", "memory"),
        ("TESSERA_HASH_THREADS", "3"),
    ])
    .await;
    assert!(
        server
            .startup
            .iter()
            .any(|l| l == "password hashing: at most 3 at a time"),
        "{:?}",
        server.startup
    );
    let (status, _) = server.terminate().await;
    assert!(status.success());
}

/// The first `http` link of a mail's text.
fn link_in(text: &str) -> String {
    let start = text.find("http").expect("a link in the mail");
    text[start..].split_whitespace().next().unwrap().to_owned()
}

/// `tessera serve` on SQLite in a data directory of its own, mailing
/// through a fresh SMTP sink from `Tessera <auth@example.com>`, with a
/// verification link on sign-up and `vars`; `None` (after the skip banner)
/// without the sink.
async fn serve_with_smtp(
    vars: &[(&str, &str)],
) -> Option<(tessera_testkit::smtp::SmtpSink, TempDir, Server)> {
    let sink = tessera_testkit::smtp::SmtpSink::start()?;
    let data = TempDir::new("mail");
    let port = free_port().to_string();
    let smtp_url = sink.url();
    let mut all = vec![
        ("TESSERA_DATA_DIR", data.path().to_str().unwrap()),
        ("BETTER_AUTH_SECRET", SECRET),
        ("TESSERA_SMTP_URL", smtp_url.as_str()),
        ("TESSERA_MAIL_FROM", "Tessera <auth@example.com>"),
        ("TESSERA_SEND_ON_SIGN_UP", "true"),
        ("PORT", port.as_str()),
    ];
    all.extend_from_slice(vars);
    let server = Server::start(&all).await;
    Some((sink, data, server))
}

/// Mail through a real SMTP server on loopback: sign-up sends a
/// verification link that verifies the address; a reset link changes the
/// password once and ends the other sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_goes_out_over_smtp_and_its_links_work() {
    let Some((sink, _data, server)) =
        serve_with_smtp(&[("TESSERA_REVOKE_SESSIONS_ON_PASSWORD_RESET", "true")]).await
    else {
        return;
    };
    assert!(
        server
            .startup
            .iter()
            .any(|l| l.starts_with("mail: SMTP at 127.0.0.1:")),
        "{:?}",
        server.startup
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookies = post_for_cookies(
        &client,
        &server,
        "/sign-up/email",
        credentials("mail@example.com"),
    )
    .await;
    let mail = sink
        .wait_for("mail@example.com", Duration::from_secs(10))
        .await;
    assert_eq!(mail.from, "auth@example.com");
    assert!(mail
        .html
        .as_deref()
        .unwrap_or_default()
        .contains("verify-email?token="));
    let link = link_in(mail.text.as_deref().unwrap());
    let res = client.get(&link).send().await.unwrap();
    assert_eq!(res.status(), 302);
    let res = client
        .get(server.url("/get-session?disableCookieCache=true"))
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["emailVerified"], true);

    let origin = server.base_url.split("/api/").next().unwrap().to_owned();
    let res = client
        .post(server.url("/request-password-reset"))
        .header("origin", &origin)
        .json(&json!({"email": "mail@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let reset = sink
        .wait_for_containing(
            "mail@example.com",
            "/reset-password/",
            Duration::from_secs(10),
        )
        .await;
    let link = link_in(reset.text.as_deref().unwrap());
    let token = link
        .split("/reset-password/")
        .nth(1)
        .and_then(|rest| rest.split('?').next())
        .unwrap()
        .to_owned();
    let reset_body = json!({"newPassword": "a-new-password", "token": token});
    for expected in [200, 400] {
        let res = client
            .post(server.url("/reset-password"))
            .header("origin", &origin)
            .json(&reset_body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), expected);
    }
    assert_eq!(session_email(&client, &server, &cookies).await, None);
    post_for_cookies(
        &client,
        &server,
        "/sign-in/email",
        json!({"email": "mail@example.com", "password": "a-new-password"}),
    )
    .await;
    let (status, _) = server.terminate().await;
    assert!(status.success());
}

/// A change of address and a deletion, each confirmed by a link that
/// arrives over a real SMTP server: the old address confirms, the new one
/// verifies, and the mailed delete link ends the account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_email_and_delete_user_are_confirmed_by_mail() {
    let Some((sink, _data, server)) = serve_with_smtp(&[
        ("TESSERA_CHANGE_EMAIL", "true"),
        ("TESSERA_DELETE_USER", "true"),
    ])
    .await
    else {
        return;
    };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let wait = Duration::from_secs(10);
    let cookies = post_for_cookies(
        &client,
        &server,
        "/sign-up/email",
        credentials("old@example.com"),
    )
    .await;
    // A mailed link, opened in the browser that is signed in.
    let follow = |mail: tessera_testkit::smtp::ReceivedMail| {
        client
            .get(link_in(mail.text.as_deref().unwrap()))
            .header("cookie", &cookies)
            .send()
    };
    let mail = sink
        .wait_for_containing("old@example.com", "/verify-email", wait)
        .await;
    let res = follow(mail).await.unwrap();
    assert_eq!(res.status(), 302);

    let origin = server.base_url.split("/api/").next().unwrap().to_owned();
    let post = |path: &str, body: Value| {
        client
            .post(server.url(path))
            .header("origin", &origin)
            .header("cookie", &cookies)
            .json(&body)
    };
    let res = post("/change-email", json!({"newEmail": "new@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The old address confirms: that sends the new one its link.
    let confirm = sink
        .wait_for_containing("old@example.com", "new@example.com", wait)
        .await;
    let res = follow(confirm).await.unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(
        session_email(&client, &server, &cookies).await.as_deref(),
        Some("old@example.com")
    );
    let verify = sink
        .wait_for_containing("new@example.com", "/verify-email", wait)
        .await;
    let res = follow(verify).await.unwrap();
    assert_eq!(res.status(), 302);
    let res = client
        .get(server.url("/get-session?disableCookieCache=true"))
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["email"], "new@example.com");
    assert_eq!(body["user"]["emailVerified"], true);

    let res = post("/delete-user", json!({"callbackURL": "/bye"}))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({"success": true, "message": "Verification email sent"})
    );
    let delete = sink
        .wait_for_containing("new@example.com", "/delete-user/callback", wait)
        .await;
    let res = follow(delete).await.unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["location"], "/bye");
    assert_eq!(session_email(&client, &server, &cookies).await, None);
    let res = client
        .post(server.url("/sign-in/email"))
        .header("origin", &origin)
        .json(&credentials("new@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let (status, _) = server.terminate().await;
    assert!(status.success());
}
