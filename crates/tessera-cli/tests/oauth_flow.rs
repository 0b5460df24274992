//! A whole OAuth / OpenID Connect sign-in through `tessera serve` and a
//! real OpenID Provider on loopback (panva's certified `oidc-provider`),
//! played by the refserver's scripted browser: sign-in/social → provider
//! login and consent → callback → get-session → list-accounts →
//! get-access-token → refresh-token → sign-out.

mod common;

use tessera_testkit::oidc::{
    run_oauth_flow, run_oauth_flow_with, Handover, OidcProvider, CLIENT_ID, CLIENT_SECRET,
};
use tessera_testkit::refserver::RefServer;

const SECRET: &str = "tessera-oauth-flow-secret-0123456789-abcdefghijklmnop";

/// `tessera serve` on `port` with one OpenID provider, `oidc`, at `issuer`.
fn start_tessera(port: u16, issuer: &str, database_url: &str) -> common::Serve {
    common::Serve::start(
        port,
        &[
            ("BETTER_AUTH_SECRET", SECRET),
            ("TESSERA_DATABASE_URL", database_url),
            ("TESSERA_RATE_LIMIT", "false"),
            ("TESSERA_OAUTH_OIDC_ISSUER", issuer),
            ("TESSERA_OAUTH_OIDC_CLIENT_ID", CLIENT_ID),
            ("TESSERA_OAUTH_OIDC_CLIENT_SECRET", CLIENT_SECRET),
            (
                "TESSERA_OAUTH_OIDC_SCOPES",
                "openid email profile offline_access",
            ),
            ("TESSERA_OAUTH_OIDC_PROMPT", "consent"),
        ],
    )
}

/// A free port for the auth server's origin, that origin, and a provider
/// that redirects back to it; `None` when Node is unavailable outside CI.
fn origin_and_provider() -> Option<(u16, String, OidcProvider)> {
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let provider =
        OidcProvider::start(&[format!("{base}/api/auth/callback/oidc")], 3600).unwrap()?;
    Some((port, base, provider))
}

/// The flow against `database_url`, restarting Tessera between the
/// callback and get-session when `restart`.
fn flow(database_url: &str, restart: bool) {
    let Some((port, base, provider)) = origin_and_provider() else {
        return;
    };
    let mut serve = Some(start_tessera(port, provider.issuer(), database_url));
    let mut restarts = 0;
    let report = run_oauth_flow(&base, "oidc", || {
        restarts += 1;
        if restart {
            drop(serve.take());
            serve = Some(start_tessera(port, provider.issuer(), database_url));
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
    assert_eq!(
        restarts, 1,
        "the flow paused once between callback and get-session"
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

/// With a database the state waits in a verification record (better-auth's
/// `database` strategy) and the account in its table; a restart keeps both.
#[test]
fn sign_in_with_sqlite_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!(
        "tessera-oauth-sqlite-{}-{}",
        std::process::id(),
        common::free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("tessera.db").display());
    flow(&url, true);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sign_in_with_postgres_survives_a_restart() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some((url, schema)) = rt.block_on(common::postgres_schema()) else {
        return;
    };
    flow(&url, true);
    drop(schema);
}

/// One of the two servers holding the origin.
enum Holder {
    Tessera(common::Serve),
    BetterAuth(RefServer),
}

fn better_auth(port: u16, issuer: &str) -> Option<RefServer> {
    RefServer::start_on(
        port,
        &[
            ("MODE", "stateless"),
            ("SECRET", SECRET),
            ("OIDC_ISSUER", issuer),
            ("OIDC_CLIENT_ID", CLIENT_ID),
            ("OIDC_CLIENT_SECRET", CLIENT_SECRET),
        ],
    )
    .unwrap()
}

/// The flow on one origin (same secret, same base URL, one provider),
/// begun by `first` and handed to the other server at `handover`.
fn across(first_is_tessera: bool, handover: Handover) {
    let Some((port, base, provider)) = origin_and_provider() else {
        return;
    };
    let issuer = provider.issuer().to_owned();
    let mut holder = Some(if first_is_tessera {
        Holder::Tessera(start_tessera(port, &issuer, "none"))
    } else {
        let Some(server) = better_auth(port, &issuer) else {
            return;
        };
        Holder::BetterAuth(server)
    });
    let mut handovers = 0;
    let report = run_oauth_flow_with(&base, "oidc", handover, || {
        handovers += 1;
        let next = match holder.take() {
            Some(Holder::Tessera(serve)) => {
                drop(serve);
                Holder::BetterAuth(better_auth(port, &issuer).expect("node is available"))
            }
            Some(Holder::BetterAuth(server)) => {
                drop(server);
                Holder::Tessera(start_tessera(port, &issuer, "none"))
            }
            None => unreachable!("one server holds the origin"),
        };
        holder = Some(next);
    })
    .unwrap()
    .expect("node is available");
    assert!(
        report.ok,
        "the OAuth flow across servers failed: {:?}\n{}",
        report.failures, report.transcript,
    );
    assert_eq!(handovers, 1, "the origin changed hands once");
    let later_is_tessera = matches!(holder, Some(Holder::Tessera(_)));
    assert_eq!(later_is_tessera, !first_is_tessera);
}

#[test]
fn better_auth_starts_the_sign_in_and_tessera_takes_the_callback() {
    across(false, Handover::BeforeCallback);
}

#[test]
fn tessera_starts_the_sign_in_and_better_auth_takes_the_callback() {
    across(true, Handover::BeforeCallback);
}

#[test]
fn tessera_serves_a_session_and_account_better_auth_signed_in() {
    across(false, Handover::AfterCallback);
}

#[test]
fn better_auth_serves_a_session_and_account_tessera_signed_in() {
    across(true, Handover::AfterCallback);
}

/// A `Set-Cookie` line without its value: name, and its attributes as
/// written (values differ by nature; names and attributes must not).
fn shape(line: &str) -> String {
    let mut parts = line.split(';').map(str::trim);
    let name = parts
        .next()
        .and_then(|nv| nv.split('=').next())
        .unwrap_or_default();
    let deleted = line.contains("Max-Age=0");
    let mut attrs: Vec<String> = parts
        .filter(|a| !a.to_ascii_lowercase().starts_with("expires="))
        .map(str::to_owned)
        .collect();
    attrs.sort();
    format!(
        "{name}{} [{}]",
        if deleted { " (deleted)" } else { "" },
        attrs.join("; ")
    )
}

/// The distinct shapes: better-auth writes some deletions twice at
/// sign-out (`session_data` and `account_data`, once by
/// `deleteSessionCookie` and once by the chunk store); a browser applies
/// the same deletion once either way.
fn shapes(lines: &[String]) -> Vec<String> {
    let mut out: Vec<String> = lines.iter().map(|l| shape(l)).collect();
    out.sort();
    out.dedup();
    out
}

/// The cookies each server sets and expires at the callback and at
/// sign-out, compared line by line (names and attributes; values differ).
#[test]
fn both_servers_set_and_expire_the_same_cookies() {
    let Some((port, base, provider)) = origin_and_provider() else {
        return;
    };
    let issuer = provider.issuer().to_owned();
    let Some(reference) = better_auth(port, &issuer) else {
        return;
    };
    let theirs = run_oauth_flow(&base, "oidc", || {}).unwrap().unwrap();
    drop(reference);
    assert!(theirs.ok, "{:?}\n{}", theirs.failures, theirs.transcript);
    let serve = start_tessera(port, &issuer, "none");
    let ours = run_oauth_flow(&base, "oidc", || {}).unwrap().unwrap();
    drop(serve);
    assert!(ours.ok, "{:?}\n{}", ours.failures, ours.transcript);
    assert!(!theirs.callback_set_cookies.is_empty());
    assert_eq!(
        shapes(&ours.callback_set_cookies),
        shapes(&theirs.callback_set_cookies),
        "the callback's cookies"
    );
    assert_eq!(
        shapes(&ours.sign_out_set_cookies),
        shapes(&theirs.sign_out_set_cookies),
        "the sign-out's cookies"
    );
}
