//! The built-in page, end to end in a real browser: Debian's chromium,
//! headless, driven by playwright-core (`tests/browser/e2e.mjs`), against
//! `tessera serve` with the multi-session plugin and a real OpenID
//! Provider on loopback, and against one that mails through a real SMTP
//! server (the test kit's sink) for the account lifecycle. Screenshots of
//! every step are written to `$CARGO_TARGET_TMPDIR/ui-screenshots/<scenario>/`.

mod common;

use std::fs;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tessera_testkit::oidc::{OidcProvider, CLIENT_ID, CLIENT_SECRET};
use tessera_testkit::service::{skip_or_fail, Service};
use tessera_testkit::smtp::{link, SmtpSink};

const SECRET: &str = "tessera-ui-browser-secret-0123456789-abcdefghijklmnop";
const CHROMIUM: &str = "/usr/bin/chromium";

/// `tests/browser` installed (`npm ci`) in a cache directory, once per
/// lock file; `None` after the skip banner when Node or the browser is
/// missing (a failure under `CI=true`).
fn installed() -> Option<PathBuf> {
    if !Path::new(CHROMIUM).is_file() {
        return skip_or_fail(
            Service::Browser,
            &format!("{CHROMIUM} is not installed (apt-get install -y chromium)"),
        );
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let cache = match std::env::var_os("HOME") {
        Some(home) => Path::new(&home).join(".cache/tessera/browser-tests"),
        None => std::env::temp_dir().join("tessera-browser-tests"),
    };
    fs::create_dir_all(&cache).unwrap();
    for file in ["package.json", "package-lock.json", "e2e.mjs"] {
        let content = fs::read(source.join(file)).unwrap();
        if fs::read(cache.join(file)).ok().as_deref() != Some(content.as_slice()) {
            fs::write(cache.join(file), content).unwrap();
        }
    }
    if !cache
        .join("node_modules/playwright-core/package.json")
        .is_file()
    {
        let out = match Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&cache)
            .output()
        {
            Ok(out) => out,
            Err(e) => return skip_or_fail(Service::Node, &format!("cannot run npm: {e}")),
        };
        assert!(
            out.status.success(),
            "npm ci in {} failed: {}",
            cache.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Some(cache)
}

/// What a scenario asks of this side, one line on its stdout.
enum Ask<'a> {
    /// `TESSERA-RESTART`: restart the server.
    Restart,
    /// `TESSERA-MAIL <to> <part>`: the link, containing `part`, of the mail
    /// the server sent to `to`.
    MailLink { to: &'a str, part: &'a str },
}

/// Runs one scenario of `e2e.mjs`; `answer` answers each of its asks with
/// the line it is sent back.
fn run(
    dir: &Path,
    scenario: &str,
    base: &str,
    issuer: &str,
    mut answer: impl FnMut(Ask<'_>) -> String,
) {
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("ui-screenshots")
        .join(scenario);
    let _ = fs::remove_dir_all(&shots);
    fs::create_dir_all(&shots).unwrap();
    let mut child = Command::new("node")
        .arg("e2e.mjs")
        .current_dir(dir)
        .env("SCENARIO", scenario)
        .env("BASE", base)
        .env("ISSUER", issuer)
        .env("SHOTS", &shots)
        .env("CHROMIUM", CHROMIUM)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut result = None;
    let mut printed = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let ask = if line == "TESSERA-RESTART" {
            Some(Ask::Restart)
        } else if let Some(rest) = line.strip_prefix("TESSERA-MAIL ") {
            let (to, part) = rest.split_once(' ').expect("TESSERA-MAIL <to> <part>");
            Some(Ask::MailLink { to, part })
        } else {
            None
        };
        if let Some(ask) = ask {
            let reply = answer(ask);
            writeln!(stdin, "{reply}").unwrap();
        } else if let Some(json) = line.strip_prefix("TESSERA-RESULT ") {
            result = Some(serde_json::from_str::<serde_json::Value>(json).unwrap());
        } else {
            printed.push(line);
        }
    }
    let _ = child.wait();
    let result = result.unwrap_or_else(|| panic!("e2e.mjs printed no result: {printed:?}"));
    assert_eq!(
        result["ok"],
        true,
        "{scenario}: {}\nscreenshots in {}\n{printed:?}",
        result["failure"],
        shots.display()
    );
    let taken = fs::read_dir(&shots).unwrap().count();
    assert!(taken > 0, "no screenshot was saved");
}

#[test]
fn the_page_signs_people_in_switches_revokes_and_signs_out() {
    let Some(dir) = installed() else {
        return;
    };
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let Some(provider) =
        OidcProvider::start(&[format!("{base}/api/auth/callback/oidc")], 3600).unwrap()
    else {
        return;
    };
    let data = std::env::temp_dir().join(format!("tessera-ui-{}-{port}", std::process::id()));
    fs::create_dir_all(&data).unwrap();
    let data_dir = data.display().to_string();
    let issuer = provider.issuer().to_owned();
    let vars = [
        ("BETTER_AUTH_SECRET", SECRET),
        ("TESSERA_DATA_DIR", data_dir.as_str()),
        ("TESSERA_PLUGINS", "multi-session"),
        ("TESSERA_RATE_LIMIT", "false"),
        ("TESSERA_OAUTH_OIDC_ISSUER", issuer.as_str()),
        ("TESSERA_OAUTH_OIDC_CLIENT_ID", CLIENT_ID),
        ("TESSERA_OAUTH_OIDC_CLIENT_SECRET", CLIENT_SECRET),
        ("TESSERA_OAUTH_OIDC_NAME", "Test OP"),
    ];
    let mut serve = Some(common::Serve::start(port, &vars));
    run(&dir, "full", &base, &issuer, |ask| {
        assert!(matches!(ask, Ask::Restart), "full asks for no mail");
        drop(serve.take());
        serve = Some(common::Serve::start(port, &vars));
        "go".to_owned()
    });
    drop(serve);
    let _ = fs::remove_dir_all(&data);
}

#[test]
fn in_stateless_mode_the_browser_stays_signed_in_across_restarts() {
    let Some(dir) = installed() else {
        return;
    };
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let vars = [
        ("BETTER_AUTH_SECRET", SECRET),
        ("TESSERA_DATABASE_URL", "none"),
        ("TESSERA_RATE_LIMIT", "false"),
    ];
    let mut serve = Some(common::Serve::start(port, &vars));
    let mut restarts = 0;
    run(&dir, "stateless", &base, "http://unused.invalid", |ask| {
        assert!(matches!(ask, Ask::Restart), "stateless asks for no mail");
        restarts += 1;
        drop(serve.take());
        serve = Some(common::Serve::start(port, &vars));
        "go".to_owned()
    });
    assert_eq!(restarts, 2);
}

/// The link containing `part` in the newest mail the sink received for
/// `to`, waiting up to ten seconds for one.
fn mailed_link(sink: &SmtpSink, to: &str, part: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let messages = sink.messages();
        let found = messages
            .iter()
            .rev()
            .filter(|m| m.to.eq_ignore_ascii_case(to))
            .filter_map(link)
            .find(|l| l.contains(part));
        if let Some(found) = found {
            return found.to_owned();
        }
        let seen: Vec<(&str, &str)> = messages
            .iter()
            .map(|m| (m.to.as_str(), m.subject.as_str()))
            .collect();
        assert!(
            Instant::now() < deadline,
            "no mail to {to} with a link containing {part}; received {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_page_changes_resets_and_verifies_through_real_mail() {
    let Some(dir) = installed() else {
        return;
    };
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let smtp_url = sink.url();
    let _serve = common::Serve::start(
        port,
        &[
            ("BETTER_AUTH_SECRET", SECRET),
            ("TESSERA_DATABASE_URL", "memory"),
            ("TESSERA_RATE_LIMIT", "false"),
            ("TESSERA_SMTP_URL", smtp_url.as_str()),
            ("TESSERA_MAIL_FROM", "Tessera <auth@example.com>"),
        ],
    );
    run(
        &dir,
        "lifecycle",
        &base,
        "http://unused.invalid",
        |ask| match ask {
            Ask::MailLink { to, part } => mailed_link(&sink, to, part),
            Ask::Restart => panic!("lifecycle asks for no restart"),
        },
    );
    // The page's two mails, and nothing else: sign-up alone sends none here.
    let mut subjects: Vec<String> = sink.messages().into_iter().map(|m| m.subject).collect();
    subjects.sort();
    assert_eq!(
        subjects,
        [
            "Reset your Tessera password",
            "Verify your email address for Tessera"
        ]
    );
}
