//! The services some tests need — PostgreSQL, Redis, Node (for the
//! reference better-auth), a browser and an SMTP sink — and the one rule for their
//! absence: [`skip_or_fail`].
//!
//! **Skip/fail rule.** A test whose service cannot be reached returns early
//! after a loud `SKIPPED` banner on stderr, unless `CI=true`, where it fails.
//! A skip is also recorded, one file per skip, in the directory named by
//! `TESSERA_SKIP_DIR` when that is set: `cargo xtask test` sets it and
//! counts the records at the end of the run, because a test runner counts a
//! test that returned early as passed (and nextest does not show a passing
//! test's stderr).
//!
//! ```
//! use tessera_testkit::service::{redis_url, skip_or_fail, Service};
//!
//! # struct Storage;
//! # impl Storage { fn connect(_: &str) -> Result<Storage, String> { Ok(Storage) } }
//! /// Storage on the test Redis, or `None` after the skip banner.
//! fn storage() -> Option<Storage> {
//!     match Storage::connect(&redis_url()) {
//!         Ok(storage) => Some(storage),
//!         Err(e) => skip_or_fail(Service::Redis, &format!("{}: {e}", redis_url())),
//!     }
//! }
//!
//! // In a test:
//! let Some(_storage) = storage() else { return };
//! ```

use std::fmt;
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Environment variable naming a directory where each skip is recorded as
/// a file `<pid>-<n>.skip` holding one line: `service id`, test name and
/// reason, separated by tabs.
pub const SKIP_DIR_VAR: &str = "TESSERA_SKIP_DIR";

/// A service that some tests need and a machine may lack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Service {
    /// PostgreSQL at `DATABASE_URL` ([`postgres_url`]).
    Postgres,
    /// Redis at `REDIS_URL` ([`redis_url`]), and `redis-server` for the
    /// tests that start one of their own.
    Redis,
    /// Node and npm, which install and run the reference better-auth.
    Node,
    /// A headless browser (Chromium).
    Browser,
    /// Python 3 with aiosmtpd, which runs the SMTP sink
    /// ([`SmtpSink`](crate::smtp::SmtpSink)).
    Smtp,
}

impl Service {
    /// Every service, in the order `cargo xtask test` probes them.
    pub const ALL: [Service; 5] = [
        Service::Postgres,
        Service::Redis,
        Service::Node,
        Service::Browser,
        Service::Smtp,
    ];

    /// The name people know it by: `PostgreSQL`, `Redis`, `Node`, `Browser`,
    /// `SMTP sink`.
    pub fn name(self) -> &'static str {
        match self {
            Service::Postgres => "PostgreSQL",
            Service::Redis => "Redis",
            Service::Node => "Node",
            Service::Browser => "Browser",
            Service::Smtp => "SMTP sink",
        }
    }

    /// The identifier used in skip records: `postgres`, `redis`, `node`,
    /// `browser`, `smtp`.
    pub fn id(self) -> &'static str {
        match self {
            Service::Postgres => "postgres",
            Service::Redis => "redis",
            Service::Node => "node",
            Service::Browser => "browser",
            Service::Smtp => "smtp",
        }
    }

    /// The service with this [`id`](Service::id).
    pub fn from_id(id: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.id() == id)
    }

    /// How to provide it.
    fn remedy(self) -> &'static str {
        match self {
            Service::Postgres => "start PostgreSQL or set DATABASE_URL",
            Service::Redis => "start Redis or set REDIS_URL",
            Service::Node => {
                "install Node 20 and npm (the registry must be reachable for `npm ci`)"
            }
            Service::Browser => "install Chromium",
            Service::Smtp => "install Python 3 and aiosmtpd (`pip install aiosmtpd`)",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether an absent service must fail the run (`CI=true` or `CI=1`)
/// instead of skipping the test.
pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// `DATABASE_URL`, or the project's local PostgreSQL default
/// `postgres://postgres@127.0.0.1:5432/test`.
pub fn postgres_url() -> String {
    env_or("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
}

/// `REDIS_URL`, or the project's local Redis default
/// `redis://127.0.0.1:6379`.
pub fn redis_url() -> String {
    env_or("REDIS_URL", "redis://127.0.0.1:6379")
}

/// `REDIS_CLUSTER_URL`, or the cluster `.ci/redis-cluster` starts:
/// `redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002`.
pub fn redis_cluster_url() -> String {
    env_or(
        "REDIS_CLUSTER_URL",
        "redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002",
    )
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// The skip/fail rule for a test whose `service` is unavailable for
/// `reason`: under `CI=true` it panics (the test fails); otherwise it prints
/// a `SKIPPED` banner straight to stderr, records the skip (see
/// [`SKIP_DIR_VAR`]) and returns `None`, for the test to return early.
///
/// # Panics
///
/// Under `CI=true`, always: that is the failure.
pub fn skip_or_fail<T>(service: Service, reason: &str) -> Option<T> {
    if is_ci() {
        panic!("{service} is required under CI=true and is unavailable: {reason}");
    }
    let test = test_name();
    let line = "=".repeat(78);
    // Straight to the stderr handle, not eprintln!: libtest captures
    // eprintln! of passing tests, and a skip must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "\n{line}\nSKIPPED {test}: {service} unavailable: {reason}\n({}; CI=true makes this a failure)\n{line}",
        service.remedy()
    );
    if let Some(dir) = std::env::var_os(SKIP_DIR_VAR) {
        if let Err(e) = record(Path::new(&dir), service, &test, reason) {
            // A lost record would make the run look greener than it is.
            panic!("cannot record the skip in {SKIP_DIR_VAR}: {e}");
        }
    }
    None
}

/// The running test as runners name it: nextest's `crate::binary test`,
/// else the package, the test binary and libtest's thread name.
fn test_name() -> String {
    let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let (Some(binary), Some(test)) = (var("NEXTEST_BINARY_ID"), var("NEXTEST_TEST_NAME")) {
        return format!("{binary} {test}");
    }
    // libtest runs each test on a thread named after it.
    let thread = std::thread::current()
        .name()
        .unwrap_or("<unnamed thread>")
        .to_owned();
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        // `fault-0123abcd…`: the test binary and cargo's hash.
        .map(|stem| match stem.rsplit_once('-') {
            Some((name, _)) => name.to_owned(),
            None => stem,
        });
    match (var("CARGO_PKG_NAME"), binary) {
        (Some(pkg), Some(bin)) => format!("{pkg}::{bin} {thread}"),
        (_, Some(bin)) => format!("{bin} {thread}"),
        _ => thread,
    }
}

fn record(dir: &Path, service: Service, test: &str, reason: &str) -> std::io::Result<()> {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    std::fs::create_dir_all(dir)?;
    let flat = |s: &str| s.replace(['\t', '\n', '\r'], " ");
    let name = format!(
        "{}-{}.skip",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    std::fs::write(
        dir.join(name),
        format!("{}\t{}\t{}\n", service.id(), flat(test), flat(reason)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_ids_round_trip() {
        for s in Service::ALL {
            assert_eq!(Service::from_id(s.id()), Some(s));
        }
        assert_eq!(Service::from_id("mysql"), None);
    }

    #[test]
    fn a_skip_is_recorded_as_one_line() {
        let dir = std::env::temp_dir().join(format!(
            "tessera-skip-record-{}-{}",
            std::process::id(),
            tessera::generate_id(8)
        ));
        record(
            &dir,
            Service::Redis,
            "tessera-redis::fault x",
            "refused\nat\t6379",
        )
        .unwrap();
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(text, "redis\ttessera-redis::fault x\trefused at 6379\n");
    }

    #[test]
    fn the_test_name_names_this_test() {
        let name = test_name();
        assert!(
            name.ends_with("service::tests::the_test_name_names_this_test"),
            "{name}"
        );
    }
}
