//! better-auth's official client, unchanged (`better-auth/client` with
//! `multiSessionClient()` and `customSessionClient()`, the version pinned in
//! `shared/refserver`), makes the same calls against the real better-auth
//! and against this app, and must get the same answers: every call's
//! `{data, error}` and the session cookies the client holds afterwards,
//! with ids, tokens and times replaced by placeholders
//! (`tests/js-client/client-calls.mjs`).
//!
//! Both servers sign in with the same loopback OpenID Provider; the script
//! follows its login and consent pages as a browser would.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tessera_testkit::oidc::{OidcProvider, CLIENT_ID, CLIENT_SECRET};
use tessera_testkit::refserver::{refserver_dir, RefServer};

const BIN: &str = env!("CARGO_BIN_EXE_axum-app");
const SECRET: &str = "js-client-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
/// As `shared/refserver` configures its `oidc` provider.
const SCOPES: &str = "openid email profile offline_access";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js-client/client-calls.mjs")
}

/// `node client-calls.mjs <base>` in the refserver install (where
/// `better-auth/client` resolves); its JSON output.
fn client_calls(node_dir: &Path, base: &str, server_log: impl Fn() -> String) -> Value {
    let out = Command::new("node")
        .arg(script())
        .arg(base)
        .current_dir(node_dir)
        .stdin(Stdio::null())
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "client-calls.mjs against {base} exited with {}:\n{stderr}\nserver log:\n{}",
        out.status,
        server_log()
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("client-calls.mjs printed no JSON ({e}):\n{stdout}\n{stderr}"))
}

/// The axum-app binary on `port`, configured through the environment as a
/// user would (`TESSERA_OAUTH_OIDC_*` as for `tessera serve`); killed on
/// drop.
struct App(Child);

impl App {
    fn start(port: u16, issuer: &str) -> App {
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .env("PORT", port.to_string())
            .env("BETTER_AUTH_SECRET", SECRET)
            // As the refserver runs (its `RATE_LIMIT` is off by default):
            // the calls sign in more often than the sign-in rule allows.
            .env("TESSERA_RATE_LIMIT", "false")
            .env("TESSERA_OAUTH_OIDC_ISSUER", issuer)
            .env("TESSERA_OAUTH_OIDC_CLIENT_ID", CLIENT_ID)
            .env("TESSERA_OAUTH_OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env("TESSERA_OAUTH_OIDC_SCOPES", SCOPES)
            .env("TESSERA_OAUTH_OIDC_PROMPT", "consent")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut app = App(cmd.spawn().expect("the axum-app binary starts"));
        let stdout = app.0.stdout.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut printed = Vec::new();
        let mut lines = BufReader::new(stdout).lines();
        while let Some(line) = lines.next() {
            let line = line.unwrap();
            if line.starts_with("listening on ") {
                // Keep draining its stdout (its logs), so a write never
                // meets a closed pipe.
                std::thread::spawn(move || lines.for_each(drop));
                return app;
            }
            printed.push(line);
            assert!(
                Instant::now() < deadline,
                "axum-app did not listen: {printed:?}"
            );
        }
        panic!("axum-app exited before listening; it printed {printed:?}");
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The calls whose answers differ, each with both answers, pretty-printed.
fn differences(better_auth: &Value, tessera: &Value) -> Vec<String> {
    let calls = |v: &Value| v["calls"].as_array().cloned().unwrap_or_default();
    let (ba, ts) = (calls(better_auth), calls(tessera));
    let mut out = Vec::new();
    for i in 0..ba.len().max(ts.len()) {
        let (b, t) = (ba.get(i), ts.get(i));
        if b != t {
            let pretty = |v: Option<&Value>| {
                v.map_or("(no such call)".to_owned(), |v| {
                    serde_json::to_string_pretty(v).unwrap()
                })
            };
            out.push(format!(
                "call #{i}:\n--- better-auth\n{}\n+++ axum-app (Tessera)\n{}",
                pretty(b),
                pretty(t)
            ));
        }
    }
    out
}

#[test]
fn the_official_client_gets_the_same_answers_from_better_auth_and_axum_app() {
    let Some(node_dir) = refserver_dir() else {
        return;
    };
    let (ref_port, app_port) = (free_port(), free_port());
    let ref_base = format!("http://127.0.0.1:{ref_port}");
    let app_base = format!("http://127.0.0.1:{app_port}");
    let provider = OidcProvider::start(
        &[
            format!("{ref_base}/api/auth/callback/oidc"),
            format!("{app_base}/api/auth/callback/oidc"),
        ],
        3600,
    )
    .unwrap()
    .expect("node is available");

    let better_auth = {
        let server = RefServer::start_on(
            ref_port,
            &[
                ("MODE", "memory"),
                ("PLUGINS", "multi-session,custom-session"),
                ("SECRET", SECRET),
                ("OIDC_ISSUER", provider.issuer()),
                ("OIDC_CLIENT_ID", CLIENT_ID),
                ("OIDC_CLIENT_SECRET", CLIENT_SECRET),
            ],
        )
        .unwrap()
        .expect("node is available");
        client_calls(&node_dir, server.base_url(), || {
            format!("{}\nprovider:\n{}", server.log(), provider.log())
        })
    };
    let tessera = {
        let _app = App::start(app_port, provider.issuer());
        client_calls(&node_dir, &app_base, || {
            format!(
                "(axum-app's stderr is above)\nprovider:\n{}",
                provider.log()
            )
        })
    };

    let diffs = differences(&better_auth, &tessera);
    assert!(
        diffs.is_empty(),
        "the official client got different answers ({} of {} calls):\n\n{}",
        diffs.len(),
        better_auth["calls"].as_array().map_or(0, Vec::len),
        diffs.join("\n\n")
    );
    // The script made every call, the social sign-in included.
    let labels: Vec<&str> = better_auth["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["call"].as_str())
        .collect();
    for expected in [
        "signUp.email",
        "signUp.email (taken)",
        "signIn.email (wrong password)",
        "signIn.email (rememberMe false)",
        "signIn.email (rememberMe true)",
        "getSession",
        "listSessions",
        "revokeSession",
        "revokeOtherSessions",
        "multiSession.listDeviceSessions",
        "multiSession.setActive",
        "multiSession.revoke",
        "signIn.social",
        "callback (browser navigation)",
        "getSession (social)",
        "signOut",
    ] {
        assert!(labels.contains(&expected), "no {expected:?} in {labels:?}");
    }
}
