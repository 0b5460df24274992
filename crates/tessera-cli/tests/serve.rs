//! `tessera serve` as a user runs it: the built binary, configured by its
//! environment, talked to over HTTP.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
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

/// `tessera` with only the given variables set.
fn tessera(vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("RUST_LOG", "warn")
        .envs(vars.iter().copied())
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
        let mut child = tessera(vars)
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

    /// SIGTERM, then the exit status and what was printed after listening.
    async fn terminate(mut self) -> (ExitStatus, Vec<String>) {
        let pid = self.child.id().expect("still running").to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(killed.success());
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
    let out = tokio::time::timeout(STARTUP, tessera(vars).output())
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
    for fact in [
        "database: in-memory (embedded default; data is lost on restart)",
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
        ("TESSERA_DATABASE_URL", "postgres://root:hunter2@db/x"),
        ("TESSERA_SECONDARY_STORAGE", "redis://:hunter2@cache"),
        ("TESSERA_COOKIE_CACHE", "yes"),
        ("TESSERA_REFRESH_CACHE", "sometimes"),
        ("TESSERA_PLUGINS", "multi-session"),
        ("PORT", "http"),
    ] {
        let (status, _, stderr) =
            run_to_exit(&[("TESSERA_DATA_DIR", data_dir), (name, value)]).await;
        assert!(!status.success(), "{name}={value} must fail");
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
}

#[tokio::test]
async fn empty_secret_file_is_refused() {
    let data = TempDir::new("empty");
    std::fs::write(data.path().join("tessera.secret"), "").unwrap();
    let (status, _, stderr) =
        run_to_exit(&[("TESSERA_DATA_DIR", data.path().to_str().unwrap())]).await;
    assert!(!status.success());
    assert!(stderr.contains("tessera.secret"), "{stderr}");
    assert!(stderr.contains("is empty"), "{stderr}");
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
