//! A real OpenID Provider on loopback (`oidc-provider.mjs` of the
//! refserver: panva's certified `oidc-provider`), and the scripted browser
//! (`oauth-flow.mjs`) driving a whole sign-in against any server with
//! better-auth's API.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};

use crate::refserver::{free_port, refserver_dir, NodeProcess};

/// The provider's client, as `oidc-provider.mjs` registers it by default.
pub const CLIENT_ID: &str = "tessera-test";
/// Its secret.
pub const CLIENT_SECRET: &str = "tessera-test-secret";

/// A running `node oidc-provider.mjs`, killed on drop.
#[derive(Debug)]
pub struct OidcProvider {
    node: NodeProcess,
    issuer: String,
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
        let (port_text, ttl) = (port.to_string(), access_token_ttl.to_string());
        let uris = redirect_uris.join(",");
        let node = NodeProcess::start(
            &dir,
            "oidc-provider.mjs",
            port,
            &[
                ("OIDC_PORT", &port_text),
                ("OIDC_REDIRECT_URIS", &uris),
                ("OIDC_ACCESS_TOKEN_TTL", &ttl),
            ],
            "/.well-known/openid-configuration",
        )?;
        Ok(Some(OidcProvider {
            node,
            issuer: format!("http://127.0.0.1:{port}"),
        }))
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// What the provider printed so far.
    pub fn log(&self) -> String {
        self.node.log()
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
