//! The built-in page of `tessera serve` (`TESSERA_UI`), fetched from the
//! built binary: its headers, its markup read with an HTML parser, its
//! configuration, and its absence when turned off.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tessera_testkit::oidc::{OidcProvider, CLIENT_ID, CLIENT_SECRET};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_tessera");
const SECRET: &str = "tessera-ui-test-secret-0123456789-abcdefghijklmnopq";

/// The policy the issue asks for; the page may be stricter, never looser.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `tessera serve` on `port` with these variables (and `args`), listening;
/// killed on drop.
struct Serve {
    _child: Child,
    origin: String,
    /// What it printed before listening.
    startup: Vec<String>,
}

impl Serve {
    async fn start(port: u16, vars: &[(&str, &str)], args: &[&str]) -> Serve {
        let mut child = Command::new(BIN)
            .env_clear()
            .env("RUST_LOG", "warn")
            .env("PORT", port.to_string())
            .env("BETTER_AUTH_SECRET", SECRET)
            .env("TESSERA_DATABASE_URL", "memory")
            .env("BETTER_AUTH_URL", format!("http://127.0.0.1:{port}"))
            .envs(vars.iter().copied())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the tessera binary starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut printed = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.starts_with("listening on ") {
                    return;
                }
                printed.push(line);
            }
            panic!("tessera exited before listening; it printed {printed:?}");
        })
        .await
        .expect("tessera listens in time");
        // The rest of stdout is drained so the server never blocks on it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Serve {
            _child: child,
            origin: format!("http://127.0.0.1:{port}"),
            startup: printed,
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        reqwest::get(format!("{}{path}", self.origin))
            .await
            .unwrap()
    }
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .unwrap_or_else(|| panic!("{} has no {name} header", res.url()))
        .to_str()
        .unwrap()
}

/// The directives of a Content-Security-Policy, each as `name sources…`.
fn directives(policy: &str) -> Vec<String> {
    let mut all: Vec<String> = policy
        .split(';')
        .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|d| !d.is_empty())
        .collect();
    all.sort();
    all
}

/// The page's own headers on every file it serves.
fn assert_hardened(res: &reqwest::Response) {
    assert_eq!(
        directives(header(res, "content-security-policy")),
        directives(CSP),
        "{}",
        res.url()
    );
    assert_eq!(header(res, "x-content-type-options"), "nosniff");
    assert!(
        res.headers().contains_key("cache-control"),
        "{} has a Cache-Control",
        res.url()
    );
}

/// Every attribute `name` of every element of the parsed page.
fn attributes<'a>(dom: &'a tl::VDom<'a>, name: &str) -> Vec<String> {
    dom.nodes()
        .iter()
        .filter_map(|n| n.as_tag())
        .filter_map(|t| t.attributes().get(name).flatten())
        .map(|v| v.as_utf8_str().into_owned())
        .collect()
}

/// The tags named `tag` of the parsed page.
fn tags<'a>(dom: &'a tl::VDom<'a>, tag: &str) -> Vec<&'a tl::HTMLTag<'a>> {
    dom.nodes()
        .iter()
        .filter_map(|n| n.as_tag())
        .filter(|t| t.name().as_utf8_str().eq_ignore_ascii_case(tag))
        .collect()
}

fn attr(tag: &tl::HTMLTag<'_>, name: &str) -> Option<String> {
    tag.attributes()
        .get(name)
        .flatten()
        .map(|v| v.as_utf8_str().into_owned())
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_policy_and_no_inline_code() {
    let serve = Serve::start(free_port(), &[], &[]).await;
    let announced = format!("built-in page: {}/", serve.origin);
    assert!(serve.startup.contains(&announced), "{:?}", serve.startup);
    let res = serve.get("/").await;
    assert_eq!(res.status(), 200);
    assert_hardened(&res);
    assert_eq!(header(&res, "content-type"), "text/html; charset=utf-8");
    let html = res.text().await.unwrap();
    let dom = tl::parse(&html, tl::ParserOptions::default()).unwrap();

    let viewport: Vec<_> = tags(&dom, "meta")
        .into_iter()
        .filter(|m| attr(m, "name").as_deref() == Some("viewport"))
        .collect();
    assert_eq!(viewport.len(), 1, "one viewport meta");
    assert_eq!(
        attr(viewport[0], "content").as_deref(),
        Some("width=device-width, initial-scale=1")
    );

    // No inline code: scripts are files of this origin, no style attribute,
    // no <style>, no on* handler, no javascript: URL.
    let scripts = tags(&dom, "script");
    assert!(!scripts.is_empty(), "the page has its script");
    for script in &scripts {
        let src = attr(script, "src").expect("every script has a src");
        assert!(src.starts_with('/') && !src.starts_with("//"), "{src}");
        assert!(
            script.inner_text(dom.parser()).trim().is_empty(),
            "inline script content: {:?}",
            script.inner_text(dom.parser())
        );
    }
    assert!(tags(&dom, "style").is_empty(), "no <style> element");
    assert!(attributes(&dom, "style").is_empty(), "no style= attribute");
    for tag in dom.nodes().iter().filter_map(|n| n.as_tag()) {
        for (name, value) in tag.attributes().iter() {
            assert!(
                !name.to_ascii_lowercase().starts_with("on"),
                "inline handler {name}"
            );
            let value = value.unwrap_or_default().to_ascii_lowercase();
            assert!(!value.trim_start().starts_with("javascript:"), "{value}");
        }
    }

    // Every input has a <label for> naming its id.
    let label_targets = tags(&dom, "label")
        .into_iter()
        .filter_map(|l| attr(l, "for"))
        .collect::<Vec<_>>();
    let inputs = tags(&dom, "input");
    assert!(inputs.len() >= 4, "name, email, password, remember me");
    for input in &inputs {
        let id = attr(input, "id").expect("every input has an id");
        assert!(label_targets.contains(&id), "input #{id} has no label");
    }
    // The fields and buttons the issue names.
    let label_text = |id: &str| {
        tags(&dom, "label")
            .into_iter()
            .find(|l| attr(l, "for").as_deref() == Some(id))
            .map(|l| l.inner_text(dom.parser()).trim().to_owned())
    };
    let labels: Vec<String> = inputs
        .iter()
        .filter_map(|i| label_text(&attr(i, "id").unwrap()))
        .collect();
    for name in ["Name", "Email", "Password", "Remember me"] {
        assert!(labels.iter().any(|l| l == name), "{name} in {labels:?}");
    }
    let buttons: Vec<String> = tags(&dom, "button")
        .into_iter()
        .map(|b| b.inner_text(dom.parser()).trim().to_owned())
        .collect();
    for name in ["Sign up", "Sign in", "Sign out", "Add account"] {
        assert!(buttons.iter().any(|b| b == name), "{name} in {buttons:?}");
    }
    assert_eq!(
        tags(&dom, "div")
            .into_iter()
            .filter(|d| attr(d, "role").as_deref() == Some("alert"))
            .count(),
        1,
        "one alert for the API's errors"
    );

    // The page's files: their types, the same policy, nothing else.
    for (link, tag, attribute, content_type) in [
        ("stylesheet", "link", "href", "text/css; charset=utf-8"),
        ("script", "script", "src", "text/javascript; charset=utf-8"),
    ] {
        let paths: Vec<String> = tags(&dom, tag)
            .into_iter()
            .filter(|t| tag != "link" || attr(t, "rel").as_deref() == Some("stylesheet"))
            .filter_map(|t| attr(t, attribute))
            .collect();
        assert_eq!(paths.len(), 1, "one {link}");
        let res = serve.get(&paths[0]).await;
        assert_eq!(res.status(), 200, "{}", paths[0]);
        assert_hardened(&res);
        assert_eq!(header(&res, "content-type"), content_type);
        assert!(!res.text().await.unwrap().is_empty());
    }

    // The API is where it was, beside the page.
    let ok: Value = serve.get("/api/auth/ok").await.json().await.unwrap();
    assert_eq!(ok["ok"], true);
    assert_eq!(serve.get("/ui/missing.js").await.status(), 404);
    let post = reqwest::Client::new()
        .post(format!("{}/", serve.origin))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
}

#[tokio::test]
async fn the_script_talks_to_the_api_with_the_browsers_cookies() {
    let serve = Serve::start(free_port(), &[], &[]).await;
    let js = serve.get("/ui/app.js").await.text().await.unwrap();
    assert!(js.contains(r#"credentials: "include""#));
    for path in [
        "/sign-up/email",
        "/sign-in/email",
        "/sign-in/social",
        "/get-session",
        "/sign-out",
        "/list-sessions",
        "/revoke-session",
        "/multi-session/list-device-sessions",
        "/multi-session/set-active",
        "/request-password-reset",
        "/reset-password",
        "/send-verification-email",
        "/change-password",
    ] {
        assert!(js.contains(&format!("\"{path}\"")), "{path}");
    }
    // The lifecycle bodies carry better-auth's field names.
    for field in [
        "redirectTo:",
        "callbackURL:",
        "newPassword:",
        "currentPassword:",
        "revokeOtherSessions:",
    ] {
        assert!(js.contains(field), "{field}");
    }
    // Nothing from elsewhere.
    assert!(!js.contains("http://") && !js.contains("https://"));
    // Text from the API, the user or the address bar goes in as text only.
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
    ] {
        assert!(!js.contains(sink), "{sink}");
    }
}

#[tokio::test]
async fn the_page_offers_the_account_lifecycle_flows() {
    let serve = Serve::start(free_port(), &[], &[]).await;
    let html = serve.get("/").await.text().await.unwrap();
    let dom = tl::parse(&html, tl::ParserOptions::default()).unwrap();
    let by_id = |id: &str| {
        dom.nodes()
            .iter()
            .filter_map(|n| n.as_tag())
            .find(|t| attr(t, "id").as_deref() == Some(id))
            .unwrap_or_else(|| panic!("no #{id}"))
    };
    let text_of = |tag: &tl::HTMLTag<'_>| tag.inner_text(dom.parser()).trim().to_owned();

    // Each form: its fields by label, its button, its region's heading.
    for (form, heading, fields, button) in [
        (
            "forgot-form",
            "Forgot password",
            &["Account email"][..],
            "Send reset link",
        ),
        (
            "reset-form",
            "Set a new password",
            &["New password"][..],
            "Set new password",
        ),
        (
            "change-password-form",
            "Change password",
            &[
                "Current password",
                "New password",
                "Sign out other sessions",
            ][..],
            "Change password",
        ),
    ] {
        let inside = |tag: &str| -> Vec<String> {
            by_id(form)
                .children()
                .all(dom.parser())
                .iter()
                .filter_map(|n| n.as_tag())
                .filter(|t| t.name().as_utf8_str() == tag)
                .map(text_of)
                .collect()
        };
        assert_eq!(inside("label"), fields, "#{form}");
        assert_eq!(inside("button"), [button], "#{form}");
        let mut headings = tags(&dom, "h2").into_iter().chain(tags(&dom, "h3"));
        assert!(
            headings.any(|h| text_of(h) == heading),
            "a heading {heading:?}"
        );
    }
    let autocomplete = |id: &str| attr(by_id(id), "autocomplete");
    assert_eq!(
        autocomplete("current-password").as_deref(),
        Some("current-password")
    );
    for id in ["new-password", "reset-password"] {
        assert_eq!(autocomplete(id).as_deref(), Some("new-password"), "#{id}");
    }
    assert_eq!(
        text_of(by_id("send-verification")),
        "Send verification email"
    );
    // The verified state, beside the user's email and name.
    assert_eq!(by_id("user-verified").name().as_utf8_str(), "dd");
    let toggle = by_id("forgot-toggle");
    assert_eq!(text_of(toggle), "Forgot password?");
    assert_eq!(attr(toggle, "aria-controls").as_deref(), Some("forgot"));
    assert_eq!(attr(toggle, "aria-expanded").as_deref(), Some("false"));

    // Each outcome is announced politely, the errors in the one alert.
    for id in [
        "notice",
        "forgot-result",
        "reset-result",
        "verify-result",
        "change-password-result",
    ] {
        let region = by_id(id);
        assert_eq!(attr(region, "role").as_deref(), Some("status"), "#{id}");
        assert_eq!(
            attr(region, "aria-live").as_deref(),
            Some("polite"),
            "#{id}"
        );
        assert!(
            attr(region, "hidden").is_none(),
            "#{id} is rendered while empty"
        );
    }
}

/// The `view` a mailed link brings the reader back with, as `app.js`
/// names it in `const <name> = "<view>";`.
fn view_of(js: &str, name: &str) -> String {
    let marker = format!("const {name} = \"");
    let start = js
        .find(&marker)
        .unwrap_or_else(|| panic!("app.js has no {name}"));
    js[start + marker.len()..]
        .split('"')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_pages_return_addresses_pass_the_apis_callback_check() {
    let serve = Serve::start(free_port(), &[("NODE_ENV", "development")], &[]).await;
    let js = serve.get("/ui/app.js").await.text().await.unwrap();
    assert!(js.contains("window.location.pathname}?view="));
    let reset = format!("/?view={}", view_of(&js, "RESET_VIEW"));
    let verify = format!("/?view={}", view_of(&js, "VERIFY_EMAIL_VIEW"));
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        client
            .post(format!("{}/api/auth{path}", serve.origin))
            .json(&body)
            .send()
    };
    let res = post(
        "/request-password-reset",
        serde_json::json!({ "email": "nobody@example.com", "redirectTo": reset }),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["message"],
        "If this email exists in our system, check your email for the reset link"
    );
    let res = post(
        "/send-verification-email",
        serde_json::json!({ "email": "nobody@example.com", "callbackURL": verify }),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], true);
    // The same check refuses an address off this site.
    let res = post(
        "/request-password-reset",
        serde_json::json!({ "email": "nobody@example.com", "redirectTo": "https://evil.example/" }),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn without_a_mailer_the_lifecycle_answers_what_the_page_shows() {
    // Production without TESSERA_SMTP_URL: no mailer, the flows are off.
    let serve = Serve::start(free_port(), &[], &[]).await;
    let client = reqwest::Client::new();
    for (path, body, code, message) in [
        (
            "/request-password-reset",
            serde_json::json!({ "email": "nobody@example.com", "redirectTo": "/?view=reset-password" }),
            "RESET_PASSWORD_DISABLED",
            "Reset password isn't enabled",
        ),
        (
            "/send-verification-email",
            serde_json::json!({ "email": "nobody@example.com", "callbackURL": "/?view=verify-email" }),
            "VERIFICATION_EMAIL_NOT_ENABLED",
            "Verification email isn't enabled",
        ),
    ] {
        let res = client
            .post(format!("{}/api/auth{path}", serve.origin))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], code);
        assert_eq!(body["message"], message);
    }
}

#[tokio::test]
async fn turned_off_the_page_is_not_there() {
    for (vars, args) in [
        (&[("TESSERA_UI", "false")][..], &[][..]),
        (&[][..], &["--ui", "false"][..]),
    ] {
        let serve = Serve::start(free_port(), vars, args).await;
        assert!(serve.startup.iter().any(|l| l == "built-in page: off"));
        for path in ["/", "/ui/app.css", "/ui/app.js", "/ui/config.json"] {
            assert_eq!(
                serve.get(path).await.status(),
                404,
                "{path} ({vars:?} {args:?})"
            );
        }
        let ok = serve.get("/api/auth/ok").await;
        assert_eq!(ok.status(), 200);
    }
}

#[tokio::test]
async fn the_configuration_names_the_base_path_plugins_and_providers() {
    let serve = Serve::start(free_port(), &[("TESSERA_PLUGINS", "multi-session")], &[]).await;
    let res = serve.get("/ui/config.json").await;
    assert_eq!(res.status(), 200);
    assert_hardened(&res);
    assert_eq!(header(&res, "content-type"), "application/json");
    let config: Value = res.json().await.unwrap();
    assert_eq!(
        config,
        serde_json::json!({ "basePath": "/api/auth", "providers": [], "multiSession": true })
    );

    let serve = Serve::start(
        free_port(),
        &[("BETTER_AUTH_URL", "http://127.0.0.1/auth")],
        &[],
    )
    .await;
    let config: Value = serve.get("/ui/config.json").await.json().await.unwrap();
    assert_eq!(config["basePath"], "/auth");
    assert_eq!(config["multiSession"], false);
}

#[tokio::test]
async fn the_configuration_lists_a_configured_oauth_provider() {
    let port = free_port();
    let callback = format!("http://127.0.0.1:{port}/api/auth/callback/oidc");
    let Some(provider) = OidcProvider::start(&[callback], 3600).unwrap() else {
        return;
    };
    let serve = Serve::start(
        port,
        &[
            ("TESSERA_OAUTH_OIDC_ISSUER", provider.issuer()),
            ("TESSERA_OAUTH_OIDC_CLIENT_ID", CLIENT_ID),
            ("TESSERA_OAUTH_OIDC_CLIENT_SECRET", CLIENT_SECRET),
            ("TESSERA_OAUTH_OIDC_NAME", "Loopback OpenID"),
        ],
        &[],
    )
    .await;
    let config: Value = serve.get("/ui/config.json").await.json().await.unwrap();
    assert_eq!(
        config["providers"],
        serde_json::json!([{ "id": "oidc", "name": "Loopback OpenID" }])
    );
}
