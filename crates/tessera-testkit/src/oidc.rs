//! A real OpenID Provider on loopback (`oidc-provider.mjs` of the
//! refserver: panva's certified `oidc-provider`), and the scripted browser
//! (`oauth-flow.mjs`) driving a whole sign-in against any server with
//! better-auth's API.

use std::fs;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::refserver::{free_port, http_get_ok, refserver_dir};

/// The provider's client, as `oidc-provider.mjs` registers it by default.
pub const CLIENT_ID: &str = "tessera-test";
/// Its secret.
pub const CLIENT_SECRET: &str = "tessera-test-secret";

/// A running `node oidc-provider.mjs`, killed on drop.
#[derive(Debug)]
pub struct OidcProvider {
    child: Child,
    issuer: String,
    log_path: PathBuf,
}

impl OidcProvider {
    /// Starts the provider on a free port, accepting `redirect_uris`
    /// exactly, with access tokens living `access_token_ttl` seconds.
    /// `Ok(None)`: Node is unavailable outside CI (skip banner printed).
    pub fn start(
        redirect_uris: &[String],
        access_token_ttl: u32,
    ) -> Result<Option<OidcProvider>, String> {
        let Some(dir) = refserver_dir() else {
            return Ok(None);
        };
        let port = free_port()?;
        let log_path =
            std::env::temp_dir().join(format!("tessera-oidc-{}-{port}.log", std::process::id()));
        let log = fs::File::create(&log_path)
            .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("cannot clone the log handle: {e}"))?;
        let mut cmd = Command::new("node");
        cmd.arg("oidc-provider.mjs")
            .current_dir(&dir)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        for var in ["PATH", "HOME"] {
            if let Some(v) = std::env::var_os(var) {
                cmd.env(var, v);
            }
        }
        cmd.env("OIDC_PORT", port.to_string())
            .env("OIDC_REDIRECT_URIS", redirect_uris.join(","))
            .env("OIDC_ACCESS_TOKEN_TTL", access_token_ttl.to_string());
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot spawn node oidc-provider.mjs: {e}"))?;
        let mut provider = OidcProvider {
            child,
            issuer: format!("http://127.0.0.1:{port}"),
            log_path,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = provider.child.try_wait() {
                return Err(format!(
                    "oidc-provider exited with {status}:\n{}",
                    provider.log()
                ));
            }
            if http_get_ok(addr, "/.well-known/openid-configuration") {
                return Ok(Some(provider));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "oidc-provider did not answer within 30 s:\n{}",
                    provider.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// What the provider printed so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_file(&self.log_path);
    }
}

/// What one scripted sign-in reported.
#[derive(Debug, Clone)]
pub struct FlowReport {
    /// Every check passed.
    pub ok: bool,
    /// The failed checks.
    pub failures: Vec<String>,
    /// Everything the script printed (its steps, one per request).
    pub transcript: String,
    /// The `Set-Cookie` lines of the callback's answer.
    pub callback_set_cookies: Vec<String>,
    /// The `Set-Cookie` lines of the sign-out's answer.
    pub sign_out_set_cookies: Vec<String>,
}

/// When [`run_oauth_flow`] calls its hook, so that another server can take
/// over the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handover {
    /// After the provider redirected back, before the callback request.
    BeforeCallback,
    /// After the callback, before get-session.
    AfterCallback,
}

/// Runs `oauth-flow.mjs`'s whole sign-in against `base` (sign-in/social →
/// provider login and consent → callback → get-session → list-accounts →
/// get-access-token → refresh-token → sign-out), calling `restart` between
/// the callback and get-session. `None`: Node is unavailable outside CI.
pub fn run_oauth_flow(
    base: &str,
    provider_id: &str,
    restart: impl FnMut(),
) -> Result<Option<FlowReport>, String> {
    run_oauth_flow_with(base, provider_id, Handover::AfterCallback, restart)
}

/// [`run_oauth_flow`] with the hook called at `handover`.
pub fn run_oauth_flow_with(
    base: &str,
    provider_id: &str,
    handover: Handover,
    mut restart: impl FnMut(),
) -> Result<Option<FlowReport>, String> {
    let Some(dir) = refserver_dir() else {
        return Ok(None);
    };
    // The hook is a line on stdout answered by a line on stdin.
    let hook = match handover {
        Handover::AfterCallback => "restart: pause,",
        Handover::BeforeCallback => "hooks: { beforeCallback: pause },",
    };
    let script = format!(
        r#"
import readline from "node:readline";
import {{ runOAuthFlow }} from "./oauth-flow.mjs";
const lines = readline.createInterface({{ input: process.stdin }})[Symbol.asyncIterator]();
const pause = async () => {{ console.log("TESSERA-RESTART"); await lines.next(); }};
const out = await runOAuthFlow({{
  base: {base:?},
  provider: {provider_id:?},
  {hook}
}});
const cookiesOf = (name) => (out.steps.find((s) => s.name === name) || {{}}).setCookie || [];
console.log("TESSERA-RESULT " + JSON.stringify({{
  ok: out.ok,
  failures: out.failures,
  setCookies: {{ callback: cookiesOf("callback"), signOut: cookiesOf("sign-out") }},
}}));
process.exit(0);
"#
    );
    let mut child = Command::new("node")
        .args(["--input-type=module", "-e", &script])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run node: {e}"))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut transcript = String::new();
    let mut result = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| format!("cannot read the flow's output: {e}"))?;
        if line == "TESSERA-RESTART" {
            restart();
            writeln!(stdin, "go").map_err(|e| format!("cannot resume the flow: {e}"))?;
            continue;
        }
        if let Some(json) = line.strip_prefix("TESSERA-RESULT ") {
            result = Some(json.to_owned());
        }
        transcript.push_str(&line);
        transcript.push('\n');
    }
    let _ = child.wait();
    let json = result.ok_or_else(|| format!("the flow ended without a result:\n{transcript}"))?;
    let value: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| format!("bad result {json:?}: {e}"))?;
    let lines = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|l| l.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(Some(FlowReport {
        callback_set_cookies: lines(&value["setCookies"]["callback"]),
        sign_out_set_cookies: lines(&value["setCookies"]["signOut"]),
        ok: value["ok"].as_bool().unwrap_or(false),
        failures: value["failures"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        transcript,
    }))
}
