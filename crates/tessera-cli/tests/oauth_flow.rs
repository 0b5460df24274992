//! A whole OAuth / OpenID Connect sign-in through `tessera serve` and a
//! real OpenID Provider on loopback (panva's certified `oidc-provider`),
//! played by the refserver's scripted browser: sign-in/social → provider
//! login and consent → callback → get-session → list-accounts →
//! get-access-token → refresh-token → sign-out.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tessera_testkit::oidc::{run_oauth_flow, OidcProvider, CLIENT_ID, CLIENT_SECRET};

const BIN: &str = env!("CARGO_BIN_EXE_tessera");
const SECRET: &str = "tessera-oauth-flow-secret-0123456789-abcdefghijklmnop";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `tessera serve` on `port`, listening; killed on drop.
struct Serve(Child);

impl Serve {
    fn start(port: u16, issuer: &str, database_url: &str) -> Serve {
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .env("RUST_LOG", "warn")
            .env("PORT", port.to_string())
            .env("BETTER_AUTH_SECRET", SECRET)
            .env("TESSERA_DATABASE_URL", database_url)
            .env("TESSERA_RATE_LIMIT", "false")
            .env("TESSERA_OAUTH_OIDC_ISSUER", issuer)
            .env("TESSERA_OAUTH_OIDC_CLIENT_ID", CLIENT_ID)
            .env("TESSERA_OAUTH_OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env(
                "TESSERA_OAUTH_OIDC_SCOPES",
                "openid email profile offline_access",
            )
            .env("TESSERA_OAUTH_OIDC_PROMPT", "consent")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // Killed and reaped on drop, whatever happens below.
        let mut serve = Serve(cmd.spawn().expect("the tessera binary starts"));
        let stdout = serve.0.stdout.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut printed = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if line.starts_with("listening on ") {
                return serve;
            }
            printed.push(line);
            assert!(
                Instant::now() < deadline,
                "tessera did not listen: {printed:?}"
            );
        }
        panic!("tessera exited before listening; it printed {printed:?}");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The flow against `database_url`, restarting Tessera between the
/// callback and get-session when `restart`.
fn flow(database_url: &str, restart: bool) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let Some(provider) =
        OidcProvider::start(&[format!("{base}/api/auth/callback/oidc")], 3600).unwrap()
    else {
        return;
    };
    let mut serve = Some(Serve::start(port, provider.issuer(), database_url));
    let report = run_oauth_flow(&base, "oidc", || {
        if restart {
            drop(serve.take());
            serve = Some(Serve::start(port, provider.issuer(), database_url));
        }
    })
    .unwrap()
    .expect("node is available");
    assert!(
        report.ok,
        "the OAuth flow failed: {:?}\n{}\nprovider log:\n{}",
        report.failures,
        report.transcript,
        provider.log()
    );
}

#[test]
fn stateless_sign_in_survives_a_restart() {
    flow("none", true);
}

#[test]
fn sign_in_with_an_in_memory_database() {
    flow("memory", false);
}
