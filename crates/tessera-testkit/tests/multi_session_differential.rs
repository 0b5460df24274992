//! Differential test of the multi-session plugin (spec §9): better-auth
//! 1.7.25 with `multiSession()` (the reference server, `MODE=memory
//! PLUGINS=multi-session`) and Tessera with a memory database and
//! `tessera-multi-session`, driven through the same device story.
//!
//! Every step is compared on status, the JSON body (ids, tokens and times
//! by form only), and the cookies set and expired. Device cookie names
//! carry a session token; they are compared with the token replaced by the
//! account it belongs to (`…_multi-<A>`).
//!
//! The tests need better-auth: without node/npm they print a SKIPPED
//! banner and pass, unless `CI=true` (then they fail).
//! `TESSERA_DIFF_VERBOSE=1` prints every exchange.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{json, Value};
use tessera::store::MemoryDatabase;
use tessera::{Auth, Options};
use tessera_multi_session::{device_cookie_name, is_device_cookie, MultiSession};
use tessera_testkit::json::normalized;
use tessera_testkit::{require_refserver, RefServer, Target, TestRequest, TestResponse};

/// The reference server's default `SECRET`.
const SECRET: &str = "refharness-fixed-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
const PASSWORD: &str = "password1234";
const SESSION_TOKEN: &str = "better-auth.session_token";
const USER_AGENT: &str = "tessera-differential/1.0";
const CLIENT_IP: &str = "203.0.113.7";

// ---------------------------------------------------------------------------
// A browser-like device
// ---------------------------------------------------------------------------

/// A cookie store that keeps the order cookies arrived in (a replaced
/// cookie keeps its place), like a browser's `Cookie` header: the order
/// decides which device session "comes first", so both servers must see the
/// same order.
#[derive(Clone, Debug, Default)]
struct Device {
    cookies: Vec<(String, String)>,
}

impl Device {
    fn absorb(&mut self, res: &TestResponse) {
        for c in res.cookies() {
            if c.is_expired() {
                self.cookies.retain(|(n, _)| *n != c.name);
            } else if let Some(slot) = self.cookies.iter_mut().find(|(n, _)| *n == c.name) {
                slot.1 = c.value;
            } else {
                self.cookies.push((c.name, c.value));
            }
        }
    }

    fn header(&self) -> Option<String> {
        (!self.cookies.is_empty()).then(|| {
            self.cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn device_cookie_count(&self) -> usize {
        self.cookies
            .iter()
            .filter(|(n, _)| is_device_cookie(n))
            .count()
    }
}

// ---------------------------------------------------------------------------
// One server's side of the story
// ---------------------------------------------------------------------------

struct Side {
    target: Target,
    origin: String,
    device: Device,
    /// Session tokens seen, with the account label they belong to.
    accounts: Vec<(String, String)>,
}

impl Side {
    fn request(&self, req: TestRequest) -> TestRequest {
        req.origin(&self.origin)
            .header("user-agent", USER_AGENT)
            .header("x-forwarded-for", CLIENT_IP)
    }

    /// `req` from this device: its cookies attached.
    fn device_request(&self, req: TestRequest) -> TestRequest {
        let req = self.request(req);
        match self.device.header() {
            Some(h) => req.header("cookie", h),
            None => req,
        }
    }

    /// `req` from this device with one more cookie after the device's own.
    fn device_request_with(&self, req: TestRequest, name: &str, raw: &str) -> TestRequest {
        let extra = format!("{name}={raw}");
        let header = match self.device.header() {
            Some(h) => format!("{h}; {extra}"),
            None => extra,
        };
        self.request(req).header("cookie", header)
    }

    fn learn(&mut self, label: &str, token: &str) {
        self.accounts.push((token.to_owned(), label.to_owned()));
    }

    /// The latest session token of account `label`.
    fn token(&self, label: &str) -> String {
        self.tokens(label)
            .pop()
            .unwrap_or_else(|| panic!("no token for {label}"))
    }

    /// Every session token of account `label`, oldest first.
    fn tokens(&self, label: &str) -> Vec<String> {
        self.accounts
            .iter()
            .filter(|(_, l)| l == label)
            .map(|(t, _)| t.clone())
            .collect()
    }

    fn label_of(&self, lowercase_token: &str) -> String {
        let labels: Vec<&str> = self
            .accounts
            .iter()
            .filter(|(t, _)| t.to_lowercase() == lowercase_token)
            .map(|(_, l)| l.as_str())
            .collect();
        match labels.as_slice() {
            [label] => {
                // Tell an account's sessions apart: A, A#2, …
                let nth = self
                    .tokens(label)
                    .iter()
                    .position(|t| t.to_lowercase() == lowercase_token)
                    .unwrap_or(0);
                if nth == 0 {
                    (*label).to_owned()
                } else {
                    format!("{label}#{}", nth + 1)
                }
            }
            _ => "?".to_owned(),
        }
    }

    /// A cookie name with a device cookie's token replaced by its account.
    fn normalized_name(&self, name: &str) -> String {
        match name.split_once("_multi-") {
            Some((prefix, token)) => format!("{prefix}_multi-<{}>", self.label_of(token)),
            None => name.to_owned(),
        }
    }

    /// What is compared of a response.
    fn comparable(&self, res: &TestResponse) -> Comparable {
        let mut set = BTreeSet::new();
        let mut expired = BTreeSet::new();
        let mut device_lines = BTreeSet::new();
        let mut order = Vec::new();
        for c in res.cookies() {
            let name = self.normalized_name(&c.name);
            order.push(format!(
                "{name}{}",
                if c.is_expired() { "=<gone>" } else { "=" }
            ));
            if is_device_cookie(&c.name) {
                let value = if c.value.is_empty() { "" } else { "<value>" };
                device_lines.insert(format!(
                    "{name}={value}; {}",
                    c.comparable_attributes().join("; ")
                ));
            }
            if c.is_expired() {
                expired.insert(name);
            } else {
                set.insert(name);
            }
        }
        // better-auth expires device cookies from parallel signature checks
        // (`Promise.all` over WebCrypto), so their relative order varies from
        // run to run; compare them in a canonical order, in place.
        let slots: Vec<usize> = (0..order.len())
            .filter(|&i| order[i].contains("_multi-") && order[i].ends_with("=<gone>"))
            .collect();
        let mut expiries: Vec<String> = slots.iter().map(|&i| order[i].clone()).collect();
        expiries.sort();
        for (slot, entry) in slots.into_iter().zip(expiries) {
            order[slot] = entry;
        }
        Comparable {
            status: res.status,
            body: match &res.json {
                Some(v) => normalized(v).to_string(),
                None => format!("(text) {:?}", res.text),
            },
            set,
            expired,
            device_lines,
            order,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Comparable {
    status: u16,
    body: String,
    set: BTreeSet<String>,
    expired: BTreeSet<String>,
    device_lines: BTreeSet<String>,
    /// Every `Set-Cookie`, in order: normalized name and `=` or `=<gone>`.
    order: Vec<String>,
}

// ---------------------------------------------------------------------------
// The story, told to both servers
// ---------------------------------------------------------------------------

/// better-auth (index 0) and Tessera (index 1), each with its device.
struct Story {
    _server: RefServer,
    sides: [Side; 2],
    differences: Vec<String>,
}

impl Story {
    /// Tessera gets `options` with the server's secret, origin and trusted
    /// origins, a memory database and the plugin with its defaults.
    fn new(server: RefServer, options: Options) -> Story {
        let origin = server.base_url().to_owned();
        let auth = Auth::builder(
            options
                .secret(SECRET)
                .base_url(origin.clone())
                .trusted_origin(format!("http://localhost:{}", server.port()))
                // better-auth believes X-Forwarded-For from anyone; Tessera,
                // handed the request in process with no socket peer, only
                // when told to.
                .trust_headers_without_peer(true)
                .rate_limit(false),
        )
        .database(Arc::new(MemoryDatabase::new()))
        .plugin(Arc::new(MultiSession::new()))
        .build()
        .expect("tessera builds");
        let side = |target| Side {
            target,
            origin: origin.clone(),
            device: Device::default(),
            accounts: Vec::new(),
        };
        Story {
            sides: [
                side(Target::http(origin.clone())),
                side(Target::auth(auth, origin.clone())),
            ],
            _server: server,
            differences: Vec::new(),
        }
    }

    /// Sends the request `make(index, side)` builds to each side; the
    /// device keeps the cookies when `on_device`. Compares, and returns
    /// both responses (better-auth's first).
    async fn step(
        &mut self,
        step: &str,
        on_device: bool,
        make: impl Fn(usize, &Side) -> TestRequest,
    ) -> [TestResponse; 2] {
        self.step_learning(step, on_device, None, make).await
    }

    /// [`Story::step`] for a sign-up or sign-in of account `learn`: the
    /// token in the body is learnt first, so its cookies compare by account.
    async fn step_learning(
        &mut self,
        step: &str,
        on_device: bool,
        learn: Option<&str>,
        make: impl Fn(usize, &Side) -> TestRequest,
    ) -> [TestResponse; 2] {
        let mut out = Vec::with_capacity(2);
        for (i, side) in self.sides.iter_mut().enumerate() {
            let req = make(i, side);
            let res = side.target.send(&req).await;
            if on_device {
                side.device.absorb(&res);
            }
            if let Some(label) = learn {
                assert_eq!(
                    res.status,
                    200,
                    "{} {step}: {}",
                    side.target.label(),
                    res.text
                );
                let token = res
                    .json
                    .as_ref()
                    .and_then(|v| v["token"].as_str())
                    .unwrap_or_else(|| panic!("a token in {}", res.text));
                side.learn(label, token);
            }
            out.push(res);
        }
        let [ba, ts]: [TestResponse; 2] = out.try_into().expect("two sides");
        self.compare(step, &ba, &ts);
        [ba, ts]
    }

    fn compare(&mut self, step: &str, ba: &TestResponse, ts: &TestResponse) {
        let (a, b) = (self.sides[0].comparable(ba), self.sides[1].comparable(ts));
        let verbose = std::env::var_os("TESSERA_DIFF_VERBOSE").is_some_and(|v| v != "0");
        if verbose || a != b {
            eprintln!(
                "--- {step}\n  better-auth: {a:?}\n    {:?}\n  tessera:     {b:?}\n    {:?}",
                ba.set_cookies, ts.set_cookies
            );
        }
        if a == b {
            return;
        }
        let mut what = Vec::new();
        if a.status != b.status {
            what.push(format!("status {} vs {}", a.status, b.status));
        }
        if a.body != b.body {
            what.push(format!(
                "body\n    better-auth: {}\n    tessera:     {}",
                a.body, b.body
            ));
        }
        if a.set != b.set {
            what.push(format!("cookies set {:?} vs {:?}", a.set, b.set));
        }
        if a.expired != b.expired {
            what.push(format!(
                "cookies expired {:?} vs {:?}",
                a.expired, b.expired
            ));
        }
        if a.device_lines != b.device_lines {
            what.push(format!(
                "device cookie lines {:?} vs {:?}",
                a.device_lines, b.device_lines
            ));
        }
        if a.order != b.order {
            what.push(format!("Set-Cookie order {:?} vs {:?}", a.order, b.order));
        }
        self.differences
            .push(format!("{step}: {}", what.join("; ")));
    }

    /// Signs `label` up on a device of its own.
    async fn sign_up(&mut self, label: &str) {
        let body = json!({"email": email(label), "password": PASSWORD, "name": label});
        self.step_learning(&format!("sign up {label}"), false, Some(label), |_, s| {
            s.request(TestRequest::post("/api/auth/sign-up/email"))
                .json(&body)
        })
        .await;
    }

    /// Signs `label` in on the device.
    async fn sign_in(&mut self, label: &str) -> [TestResponse; 2] {
        let body = json!({"email": email(label), "password": PASSWORD});
        let step = format!("sign in {label} on the device");
        self.step_learning(&step, true, Some(label), |_, s| {
            s.device_request(TestRequest::post("/api/auth/sign-in/email"))
                .json(&body)
        })
        .await
    }

    async fn device_get(&mut self, step: &str, path: &str) -> [TestResponse; 2] {
        let path = format!("/api/auth{path}");
        self.step(step, true, |_, s| {
            s.device_request(TestRequest::get(path.as_str()))
        })
        .await
    }

    async fn device_post(&mut self, step: &str, path: &str, body: Value) -> [TestResponse; 2] {
        let path = format!("/api/auth{path}");
        self.step(step, true, |_, s| {
            s.device_request(TestRequest::post(path.as_str()))
                .json(&body)
        })
        .await
    }

    /// `POST path {"sessionToken": <label's latest token>}` from the device.
    async fn with_token(&mut self, step: &str, path: &str, label: &str) -> [TestResponse; 2] {
        let path = format!("/api/auth{path}");
        self.step(step, true, |_, s| {
            s.device_request(TestRequest::post(path.as_str()))
                .json(&json!({ "sessionToken": s.token(label) }))
        })
        .await
    }

    /// `GET /get-session` with only `session_token=<raw[side]>`.
    async fn session_with_cookie(&mut self, step: &str, raw: &[String; 2]) -> [TestResponse; 2] {
        self.step(step, false, |i, s| {
            s.request(TestRequest::get("/api/auth/get-session"))
                .header("cookie", format!("{SESSION_TOKEN}={}", raw[i]))
        })
        .await
    }

    /// The raw value of the device cookie of `label`'s latest session.
    fn device_cookie_value(&self, label: &str) -> [String; 2] {
        self.sides.each_ref().map(|s| {
            let name = device_cookie_name(SESSION_TOKEN, &s.token(label));
            s.device
                .get(&name)
                .unwrap_or_else(|| panic!("{}: no device cookie for {label}", s.target.label()))
                .to_owned()
        })
    }

    fn device_counts(&self) -> [usize; 2] {
        self.sides
            .each_ref()
            .map(|s| s.device.device_cookie_count())
    }

    fn finish(self) {
        assert!(
            self.differences.is_empty(),
            "{} difference(s) between better-auth and tessera:\n\n{}\n",
            self.differences.len(),
            self.differences.join("\n\n")
        );
    }
}

fn email(label: &str) -> String {
    format!("{}@example.com", label.to_lowercase())
}

/// The user emails of a list-device-sessions body, in order.
fn listed(res: &TestResponse) -> Vec<String> {
    res.json
        .as_ref()
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("an array: {}", res.text))
        .iter()
        .map(|e| e["user"]["email"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn user_of(res: &TestResponse) -> Option<String> {
    res.json.as_ref()?["user"]["email"]
        .as_str()
        .map(str::to_owned)
}

/// Both sides answered `expected`, before comparing them with each other.
fn assert_both<T: PartialEq + std::fmt::Debug>(
    what: &str,
    res: &[TestResponse; 2],
    get: impl Fn(&TestResponse) -> T,
    expected: T,
) {
    for (label, r) in ["better-auth", "tessera"].iter().zip(res) {
        assert_eq!(get(r), expected, "{label}: {what}: {}", r.text);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn device_story_matches_better_auth() {
    let server = require_refserver!(&[("MODE", "memory"), ("PLUGINS", "multi-session")]);
    let mut st = Story::new(server, Options::new());
    let all = ["A", "B", "C", "D", "E", "F", "G"];
    for label in all {
        st.sign_up(label).await;
    }

    // Two accounts on one device.
    st.sign_in("A").await;
    st.sign_in("B").await;
    assert_eq!(st.device_counts(), [2, 2]);
    let res = st
        .device_get(
            "list device sessions",
            "/multi-session/list-device-sessions",
        )
        .await;
    assert_both("listed", &res, listed, vec![email("A"), email("B")]);

    let res = st
        .with_token("set active A", "/multi-session/set-active", "A")
        .await;
    assert_both("set-active status", &res, |r| r.status, 200);
    let res = st
        .device_get("get-session after set-active A", "/get-session")
        .await;
    assert_both("active user", &res, user_of, Some(email("A")));

    let b_cookie = st.device_cookie_value("B");
    let res = st
        .with_token("revoke B (not active)", "/multi-session/revoke", "B")
        .await;
    assert_both("revoke status", &res, |r| r.status, 200);
    let res = st
        .session_with_cookie("B's session after revoke", &b_cookie)
        .await;
    assert_both("B revoked", &res, user_of, None);
    st.device_get(
        "list after revoking B",
        "/multi-session/list-device-sessions",
    )
    .await;

    // A signs in again: the device's earlier session of A is replaced.
    let old_a = st.device_cookie_value("A");
    let old_a_names = st
        .sides
        .each_ref()
        .map(|s| device_cookie_name(SESSION_TOKEN, &s.token("A")));
    st.sign_in("A").await;
    assert_eq!(st.device_counts(), [1, 1]);
    let res = st.session_with_cookie("A's replaced session", &old_a).await;
    assert_both("old A session deleted", &res, user_of, None);
    let res = st
        .step("set active the replaced session of A", true, |i, s| {
            s.device_request_with(
                TestRequest::post("/api/auth/multi-session/set-active"),
                &old_a_names[i],
                &old_a[i],
            )
            .json(&json!({ "sessionToken": s.tokens("A")[1] }))
        })
        .await;
    assert_both("stale set-active", &res, |r| r.status, 401);

    // Fill the device: A, C, D, E, F make five; G makes six and gets none.
    for label in ["C", "D", "E", "F"] {
        st.sign_in(label).await;
    }
    assert_eq!(st.device_counts(), [5, 5]);
    let res = st.sign_in("G").await;
    assert_both(
        "G's device cookies",
        &res,
        |r| {
            r.cookies()
                .iter()
                .filter(|c| is_device_cookie(&c.name))
                .count()
        },
        0,
    );
    assert_eq!(st.device_counts(), [5, 5]);
    let g_session = st
        .sides
        .each_ref()
        .map(|s| s.device.get(SESSION_TOKEN).expect("G is active").to_owned());
    let res = st
        .device_get("list a full device", "/multi-session/list-device-sessions")
        .await;
    assert_both(
        "listed",
        &res,
        listed,
        ["A", "C", "D", "E", "F"].map(email).to_vec(),
    );

    // Revoking the active session activates the first remaining one.
    st.with_token("set active C", "/multi-session/set-active", "C")
        .await;
    let res = st
        .with_token("revoke the active C", "/multi-session/revoke", "C")
        .await;
    assert_both("revoke status", &res, |r| r.status, 200);
    let res = st
        .device_get("get-session after revoking the active C", "/get-session")
        .await;
    assert_both("next active user", &res, user_of, Some(email("A")));

    // Errors.
    st.device_post(
        "set-active without sessionToken",
        "/multi-session/set-active",
        json!({}),
    )
    .await;
    st.device_post(
        "revoke without sessionToken",
        "/multi-session/revoke",
        json!({}),
    )
    .await;
    st.device_post(
        "set-active with an unknown token",
        "/multi-session/set-active",
        json!({"sessionToken": "unknown-token"}),
    )
    .await;

    // Sign-out ends every account on the device.
    let remaining = ["A", "D", "E", "F"].map(|l| (l, st.device_cookie_value(l)));
    let res = st.device_post("sign out", "/sign-out", json!({})).await;
    assert_both("sign-out status", &res, |r| r.status, 200);
    assert_eq!(st.device_counts(), [0, 0]);
    for (label, value) in &remaining {
        let res = st
            .session_with_cookie(&format!("{label}'s session after sign-out"), value)
            .await;
        assert_both("signed out", &res, user_of, None);
    }
    // G never had a device cookie: sign-out did not reach it.
    let res = st
        .session_with_cookie("G's session after sign-out", &g_session)
        .await;
    assert_both("G survives", &res, user_of, Some(email("G")));
    let res = st
        .device_get("list after sign-out", "/multi-session/list-device-sessions")
        .await;
    assert_both("listed", &res, listed, Vec::<String>::new());
    st.device_post(
        "revoke without a session",
        "/multi-session/revoke",
        json!({"sessionToken": "x"}),
    )
    .await;

    st.finish();
}

/// An `updateAge` refresh goes through `setSessionCookie` in better-auth,
/// so it adds the device cookie a device lacks.
#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_remembers_the_session_on_the_device() {
    let server = require_refserver!(&[
        ("MODE", "memory"),
        ("PLUGINS", "multi-session"),
        ("UPDATE_AGE", "0"),
    ]);
    let mut st = Story::new(server, Options::new().update_age(0));
    st.sign_up("A").await;
    st.sign_in("A").await;
    for side in &mut st.sides {
        side.device.cookies.retain(|(n, _)| !is_device_cookie(n));
    }
    let res = st.device_get("get-session refreshes", "/get-session").await;
    assert_both(
        "device cookie added",
        &res,
        |r| {
            r.cookies()
                .iter()
                .filter(|c| is_device_cookie(&c.name) && !c.is_expired())
                .count()
        },
        1,
    );
    st.finish();
}

/// A deliberate difference: better-auth counts every `_multi-` cookie
/// towards `maximumSessions`, forged ones too, so five forged cookies keep
/// a device from remembering a real sign-in; Tessera counts only cookies
/// whose signature verifies under their own token's name. (The others,
/// pinned in the plugin's own tests: at most `maximumSessions` device
/// cookies are read anywhere, and a device cookie is issued only by a
/// final response that signs its session in.)
#[tokio::test(flavor = "multi_thread")]
async fn forged_device_cookies_count_towards_the_cap_only_in_better_auth() {
    let server = require_refserver!(&[("MODE", "memory"), ("PLUGINS", "multi-session")]);
    let mut st = Story::new(server, Options::new());
    st.sign_up("A").await;
    let forged = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D";
    for side in &mut st.sides {
        for fake in ["f1", "f2", "f3", "f4", "f5"] {
            side.device.cookies.push((
                device_cookie_name(SESSION_TOKEN, fake),
                format!("{fake}.{forged}"),
            ));
        }
    }
    let body = json!({"email": email("A"), "password": PASSWORD});
    let [ba, ts] = st.sides.each_ref().map(|s| {
        s.device_request(TestRequest::post("/api/auth/sign-in/email"))
            .json(&body)
    });
    let (ba, ts) = (
        st.sides[0].target.send(&ba).await,
        st.sides[1].target.send(&ts).await,
    );
    let remembered = |r: &TestResponse| {
        r.cookies()
            .iter()
            .filter(|c| is_device_cookie(&c.name) && !c.is_expired())
            .count()
    };
    assert_eq!((ba.status, ts.status), (200, 200));
    assert_eq!(remembered(&ba), 0, "better-auth: {:?}", ba.set_cookies);
    assert_eq!(remembered(&ts), 1, "tessera: {:?}", ts.set_cookies);
}
