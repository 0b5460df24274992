//! `tessera inspect` on the OAuth cookies better-auth 1.7.25 set in its
//! recorded flow (`shared/vectors/better-auth-1.7.25-oauth.json`): the
//! built binary opens `oauth_state` and `account_data` with the
//! deployment's secret, redacts the code verifier, the nonce and the
//! tokens, and prints them with `--show-secrets`.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tessera");

/// The recorded flow: `$TESSERA_VECTORS_DIR`, else `shared/vectors`
/// beside the clone.
fn recorded() -> &'static Value {
    static FILE: OnceLock<Value> = OnceLock::new();
    FILE.get_or_init(|| {
        let path = std::env::var_os("TESSERA_VECTORS_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
            })
            .join("better-auth-1.7.25-oauth.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("the OAuth vectors at {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap()
    })
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap()
}

/// `tessera inspect <args>` with `secret`, `stdin` piped in: (exit code,
/// stdout, stderr).
fn inspect(secret: &str, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .env_clear()
        .env("RUST_LOG", "warn")
        .env("BETTER_AUTH_SECRET", secret)
        .arg("inspect")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().expect("an exit code"),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// What a developer pastes after a sign-in: the callback's `Cookie`
/// header, then the `Set-Cookie` lines of its answer.
fn pasted_callback() -> String {
    let v = recorded();
    let mut lines = vec![format!(
        "Cookie: {}",
        text(&v["callback"]["request"]["headers"]["cookie"])
    )];
    for l in v["callback"]["setCookie"].as_array().unwrap() {
        lines.push(format!("Set-Cookie: {}", text(l)));
    }
    lines.join("\n")
}

/// The values that are secrets: the state's code verifier and nonce, the
/// account's tokens.
fn oauth_secrets() -> Vec<&'static str> {
    let v = recorded();
    let state = &v["oauthState"]["decrypted"];
    let account = &v["accountData"]["payload"];
    vec![
        text(&state["codeVerifier"]),
        text(&state["idTokenNonce"]),
        text(&account["accessToken"]),
        text(&account["refreshToken"]),
        text(&account["idToken"]),
    ]
}

fn secret() -> &'static str {
    text(&recorded()["meta"]["secret"])
}

#[test]
fn oauth_cookies_open_with_their_secrets_redacted() {
    let (code, stdout, stderr) = inspect(secret(), &[], &pasted_callback());
    assert_eq!(code, 0, "{stdout}{stderr}");
    let v = recorded();
    for expected in [
        "better-auth.oauth_state\n  decrypted: yes (current secret)",
        "better-auth.account_data\n  decrypted: yes (current secret)",
        "redacted:  codeVerifier, idTokenNonce (--show-secrets shows them)",
        "redacted:  accessToken, refreshToken, idToken (--show-secrets shows them)",
        text(&v["oauthState"]["decrypted"]["oauthState"]),
        text(&v["accountData"]["payload"]["userId"]),
        "\"accountId\": \"alice\"",
        "\"idToken\": \"[redacted: 591 characters]\"",
    ] {
        assert!(stdout.contains(expected), "{expected:?} not in {stdout}");
    }
    for value in oauth_secrets() {
        assert!(!stdout.contains(value), "{value} printed: {stdout}");
    }
    assert!(!stdout.contains(secret()));
    // Recorded a week ago: the state has long expired.
    assert!(stdout.contains("expired:   YES, at 2026-11-28T08:50:30.329Z"));

    // The same as JSON.
    let (code, stdout, _) = inspect(secret(), &["--json"], &pasted_callback());
    assert_eq!(code, 0);
    for value in oauth_secrets() {
        assert!(!stdout.contains(value), "{value} printed: {stdout}");
    }
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let entry = |kind: &str| {
        report
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == kind && c["valid"] == true)
            .unwrap_or_else(|| panic!("no valid {kind} in {report:#}"))
            .clone()
    };
    let state = entry("oauth_state");
    assert_eq!(state["state"]["codeVerifier"], "[redacted: 128 characters]");
    assert_eq!(state["state"]["callbackURL"], "/after");
    let account = entry("account_data");
    assert_eq!(
        account["account"]["refreshToken"],
        "[redacted: 43 characters]"
    );
    assert_eq!(account["account"]["providerId"], "oidc");
}

#[test]
fn show_secrets_prints_the_verifier_nonce_and_tokens() {
    let (code, stdout, stderr) = inspect(secret(), &["--show-secrets"], &pasted_callback());
    assert_eq!(code, 0, "{stdout}{stderr}");
    for value in oauth_secrets() {
        assert!(stdout.contains(value), "{value} not in {stdout}");
    }
    assert!(!stdout.contains("redacted"), "{stdout}");
    // Never the deployment's own secret.
    assert!(!stdout.contains(secret()));

    let (_, stdout, _) = inspect(secret(), &["--json", "--show-secrets"], &pasted_callback());
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let state = report
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "oauth_state" && c["valid"] == true)
        .unwrap();
    assert_eq!(state["state"], recorded()["oauthState"]["decrypted"]);
}

#[test]
fn chunked_account_data_is_reassembled() {
    let raw = text(&recorded()["accountData"]["rawValue"]);
    let (a, b) = raw.split_at(raw.len() / 2);
    let header = format!("better-auth.account_data.1={b}; better-auth.account_data.0={a}");
    let (code, stdout, _) = inspect(secret(), &[&header], "");
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("better-auth.account_data (2 chunks)\n  decrypted: yes"),
        "{stdout}"
    );
    assert!(stdout.contains("\"accountId\": \"alice\""), "{stdout}");
    assert!(!stdout.contains(text(&recorded()["accountData"]["payload"]["accessToken"])));
}

#[test]
fn another_deployments_secret_opens_neither() {
    let other = text(&recorded()["meta"]["otherSecret"]);
    let (code, stdout, _) = inspect(other, &["--show-secrets"], &pasted_callback());
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("better-auth.oauth_state\n  not decrypted: sealed value does not decrypt"),
        "{stdout}"
    );
    assert!(
        stdout.contains("better-auth.account_data\n  not decrypted: account cookie:"),
        "{stdout}"
    );
    for value in oauth_secrets() {
        assert!(!stdout.contains(value), "{value} printed: {stdout}");
    }
}
