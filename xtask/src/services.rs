//! The services some test suites need, probed cheaply before `cargo xtask
//! test` runs them: a TCP connect for PostgreSQL and Redis, `--version` for
//! the programs.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long a TCP probe waits for each address.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A service and what the probe found. The ids are those of the test kit's
/// `tessera_testkit::service::Service::id`, which the skip records carry.
pub struct Probe {
    pub id: &'static str,
    pub name: &'static str,
    /// What was found: an address, versions.
    pub found: String,
    /// Why the suites below cannot run here; `None` when they can.
    pub missing: Option<String>,
    /// The suites that skip without it.
    pub suites: &'static str,
    /// Whether a test needs it today: `CI=true` fails early only then.
    pub needed: bool,
}

/// `DATABASE_URL`, `REDIS_URL`: the value, or the test kit's default.
fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

pub fn probe_all() -> Vec<Probe> {
    vec![postgres(), redis(), node(), browser(), smtp()]
}

fn postgres() -> Probe {
    let url = env_or("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test");
    let (found, missing) = match tcp(&url, 5432) {
        Ok(Some(addr)) => (format!("{addr} ({})", redact(&url)), None),
        Ok(None) => (format!("{} (not probed: no TCP host)", redact(&url)), None),
        Err(e) => (String::new(), Some(format!("{}: {e}", redact(&url)))),
    };
    Probe {
        id: "postgres",
        name: "PostgreSQL",
        found,
        missing,
        suites: "tessera-sql (its PostgreSQL tests), storage_conformance postgres and redis_with_postgres, tessera-cli serve on PostgreSQL",
        needed: true,
    }
}

fn redis() -> Probe {
    let url = env_or("REDIS_URL", "redis://127.0.0.1:6379");
    let server = version("redis-server", &["--version"]);
    let (found, missing) = match (tcp(&url, 6379), server) {
        (Ok(addr), Ok(_)) => {
            let at = addr.map_or_else(|| redact(&url), |a| format!("{a} ({})", redact(&url)));
            (format!("{at}; redis-server on PATH"), None)
        }
        (Ok(_), Err(e)) => (
            redact(&url),
            Some(format!(
                "{e} (the fault tests start a redis-server of their own)"
            )),
        ),
        (Err(e), _) => (String::new(), Some(format!("{}: {e}", redact(&url)))),
    };
    Probe {
        id: "redis",
        name: "Redis",
        found,
        missing,
        suites: "tessera-redis, storage_conformance redis_with_* and redis_cluster_with_memory (on the cluster .ci/redis-cluster starts), tessera-cli serve on Redis",
        needed: true,
    }
}

fn node() -> Probe {
    let sources = refserver_sources();
    let found = version("node", &["--version"]).and_then(|node| {
        let npm = version("npm", &["--version"])?;
        if !sources.join("server.mjs").is_file() {
            return Err(format!(
                "no reference server sources at {} (set TESSERA_REFSERVER_DIR)",
                sources.display()
            ));
        }
        Ok(format!(
            "node {node}, npm {npm}, refserver {}",
            sources.display()
        ))
    });
    let (found, missing) = match found {
        Ok(found) => (found, None),
        Err(e) => (String::new(), Some(e)),
    };
    Probe {
        id: "node",
        name: "Node",
        found,
        missing,
        suites: "the differential suites against better-auth (tessera-testkit: differential, cache_differential, conformance, custom_session_differential, multi_session_differential, url_differential; tessera-sql and tessera-redis differential), the OAuth flows against the loopback OpenID provider (tessera-cli: oauth_flow), better-auth's own code on Tessera's cookies (tessera: oauth_cookies), the custom session's TypeScript types (axum-app: client_types)",
        needed: true,
    }
}

fn browser() -> Probe {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find_map(|b| version(b, &["--version"]).ok());
    let (found, missing) = match found {
        Some(v) => (v, None),
        None => (
            String::new(),
            Some("no chromium, chromium-browser or google-chrome on PATH".to_owned()),
        ),
    };
    Probe {
        id: "browser",
        name: "Browser",
        found,
        missing,
        suites: "the built-in page in chromium (tessera-cli: ui_browser)",
        needed: true,
    }
}

fn smtp() -> Probe {
    let found = version("python3", &["--version"]).and_then(|python| {
        let module = Command::new("python3")
            .args(["-c", "import aiosmtpd; print(aiosmtpd.__version__)"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run python3: {e}"))?;
        if !module.status.success() {
            return Err("python3 cannot import aiosmtpd (pip install aiosmtpd)".to_owned());
        }
        let aiosmtpd = String::from_utf8_lossy(&module.stdout).trim().to_owned();
        Ok(format!("{python}, aiosmtpd {aiosmtpd}"))
    });
    let (found, missing) = match found {
        Ok(found) => (found, None),
        Err(e) => (String::new(), Some(e)),
    };
    Probe {
        id: "smtp",
        name: "SMTP sink",
        found,
        missing,
        suites: "mail over a real SMTP server (tessera-smtp: delivery; tessera-cli: serve mail tests, ui_browser lifecycle; axum-app: mail)",
        needed: true,
    }
}

/// `shared/refserver` beside the workspace, or `$TESSERA_REFSERVER_DIR`,
/// as the test kit finds it.
fn refserver_sources() -> PathBuf {
    match std::env::var_os("TESSERA_REFSERVER_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/refserver"),
    }
}

/// `program args` printed its version: the first line of its output.
fn version(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{program} not on PATH ({e})"))?;
    if !out.status.success() {
        return Err(format!(
            "`{program} {}` failed ({})",
            args.join(" "),
            out.status
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.lines().next().unwrap_or_default().trim().to_owned())
}

/// Connects to the host and port of `url` (`default_port` when it names
/// none): `Ok(Some(address))` when one answered, `Ok(None)` when the URL
/// names no TCP host (a Unix socket), `Err` otherwise.
fn tcp(url: &str, default_port: u16) -> Result<Option<String>, String> {
    let Some((host, port)) = host_port(url, default_port)? else {
        return Ok(None);
    };
    let addrs = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    let mut last = format!("{host} resolves to no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(Some(addr.to_string())),
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    Err(last)
}

/// The host and port of `scheme://[user[:password]@]host[:port][/…][?…]`;
/// `None` when the host is empty (a Unix socket given another way).
fn host_port(url: &str, default_port: u16) -> Result<Option<(String, u16)>, String> {
    let rest = url
        .split_once("://")
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("not a URL: {}", redact(url)))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    if host_port.is_empty() {
        return Ok(None);
    }
    // `[::1]:6379`, `[::1]`, `host:6379`, `host`.
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("bad IPv6 host in {}", redact(url)))?;
        (host, after.strip_prefix(':'))
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    let port = match port {
        Some(p) => p
            .parse()
            .map_err(|_| format!("bad port {p:?} in {}", redact(url)))?,
        None => default_port,
    };
    Ok(Some((host.to_owned(), port)))
}

/// `url` with any password replaced by `***`, for printing.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_come_from_the_url() {
        let hp = |u| host_port(u, 1).unwrap();
        assert_eq!(
            hp("postgres://postgres@127.0.0.1:5432/test"),
            Some(("127.0.0.1".into(), 5432))
        );
        assert_eq!(hp("redis://localhost"), Some(("localhost".into(), 1)));
        assert_eq!(hp("redis://:pw@[::1]:6380/0"), Some(("::1".into(), 6380)));
        assert_eq!(hp("redis://[::1]"), Some(("::1".into(), 1)));
        assert_eq!(hp("postgres:///test?host=/run/postgresql"), None);
        assert!(host_port("127.0.0.1:5432", 1).is_err());
        assert!(host_port("redis://h:port", 1).is_err());
    }

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/x?sslmode=require"),
            "postgres://app:***@db:5432/x?sslmode=require"
        );
        assert_eq!(redact("redis://:pw@h:1"), "redis://:***@h:1");
        assert_eq!(
            redact("postgres://postgres@127.0.0.1:5432/test"),
            "postgres://postgres@127.0.0.1:5432/test"
        );
    }

    #[test]
    fn a_closed_port_is_missing() {
        // Port 1 on loopback: nothing listens there on a test machine.
        assert!(tcp("redis://127.0.0.1:1", 6379).is_err());
    }
}
