//! Differential tests: the same requests to better-auth 1.7.25 (the
//! reference server, `MODE=memory`) and to Tessera, compared on status,
//! `code`, `message`, body shape and cookies.
//!
//! Every test needs better-auth: without node/npm they print a SKIPPED
//! banner and pass, unless `CI=true` (then they fail).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use tessera::cookie::{sign_value, verify_value};
use tessera::password::{hash_password, verify_password};
use tessera::store::MemoryDatabase;
use tessera::{Auth, Options, Secrets};
use tessera_testkit::json::normalized;
use tessera_testkit::{
    decode_uri_component, encode_uri_component, node_eval, require_node, require_refserver,
    ClientCookies, RefServer, Target, TestRequest, TestResponse,
};

/// The reference server's default `SECRET`.
const SECRET: &str = "refharness-fixed-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
const PASSWORD: &str = "password1234";
const SESSION_TOKEN: &str = "better-auth.session_token";

/// better-auth in memory mode and a Tessera configured the same way.
struct Pair {
    server: RefServer,
    ba: Target,
    ts: Target,
}

impl Pair {
    fn new(server: RefServer) -> Pair {
        Pair::configured(server, |o| o)
    }

    /// With Tessera's options adjusted as the refserver's environment
    /// adjusts better-auth's.
    fn configured(server: RefServer, adjust: impl FnOnce(Options) -> Options) -> Pair {
        let origin = server.base_url().to_owned();
        // The refserver also trusts http://localhost:PORT (its README).
        let auth = Auth::builder(adjust(
            Options::new()
                .secret(SECRET)
                .base_url(origin.clone())
                .trusted_origin(format!("http://localhost:{}", server.port()))
                .rate_limit(false),
        ))
        .database(Arc::new(MemoryDatabase::new()))
        .build()
        .expect("tessera builds");
        Pair {
            ba: Target::http(origin.clone()),
            ts: Target::auth(auth, origin),
            server,
        }
    }

    fn origin(&self) -> &str {
        self.server.base_url()
    }

    fn targets(&self) -> [&Target; 2] {
        [&self.ba, &self.ts]
    }
}

/// Starts the reference server in memory mode, or skips the test.
macro_rules! require_pair {
    () => {
        Pair::new(require_refserver!(&[("MODE", "memory")]))
    };
}

fn api(path: &str) -> String {
    format!("/api/auth{path}")
}

fn post(path: &str) -> TestRequest {
    TestRequest::post(api(path))
}

fn get(path: &str) -> TestRequest {
    TestRequest::get(api(path))
}

fn unique_email(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{tag}-{}@example.com", N.fetch_add(1, Ordering::Relaxed))
}

fn credentials(email: &str) -> Value {
    json!({ "email": email, "password": PASSWORD })
}

fn sign_up_body(email: &str) -> Value {
    json!({ "email": email, "password": PASSWORD, "name": "Ada Lovelace" })
}

async fn sign_up(target: &Target, origin: &str, email: &str) -> (TestResponse, ClientCookies) {
    let res = target
        .send(
            &post("/sign-up/email")
                .origin(origin)
                .json(&sign_up_body(email)),
        )
        .await;
    assert_eq!(res.status, 200, "{} sign-up: {}", target.label(), res.text);
    let mut cookies = ClientCookies::new();
    cookies.update(&res);
    (res, cookies)
}

async fn sign_in(target: &Target, origin: &str, email: &str) -> (TestResponse, ClientCookies) {
    let res = target
        .send(
            &post("/sign-in/email")
                .origin(origin)
                .json(&credentials(email)),
        )
        .await;
    assert_eq!(res.status, 200, "{} sign-in: {}", target.label(), res.text);
    let mut cookies = ClientCookies::new();
    cookies.update(&res);
    (res, cookies)
}

// ---------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------

/// The body as compared: normalized JSON, or the raw text.
fn comparable_body(res: &TestResponse) -> String {
    match &res.json {
        Some(v) => normalized(v).to_string(),
        None => format!("(text) {:?}", res.text),
    }
}

/// Compares one exchange on status, `code`, `message`, normalized body,
/// cookies and `Location`; describes every difference.
fn differences(
    label: &str,
    req: &TestRequest,
    ba: &TestResponse,
    ts: &TestResponse,
) -> Option<String> {
    let mut found = Vec::new();
    if ba.status != ts.status {
        found.push("status");
    }
    if ba.code() != ts.code() {
        found.push("code");
    }
    if ba.message() != ts.message() {
        found.push("message");
    }
    if comparable_body(ba) != comparable_body(ts) {
        found.push("body");
    }
    if ba.cookie_shapes() != ts.cookie_shapes() {
        found.push("set-cookie");
    }
    if ba.header("location") != ts.header("location") {
        found.push("location");
    }
    if found.is_empty() {
        return None;
    }
    Some(format!(
        "{label}: differs in {}\n    request:     {}\n    better-auth: {}\n    tessera:     {}",
        found.join(", "),
        req.describe(),
        ba.describe(),
        ts.describe(),
    ))
}

/// `TESSERA_DIFF_VERBOSE=1` prints every exchange, equal or not.
fn verbose() -> bool {
    std::env::var_os("TESSERA_DIFF_VERBOSE").is_some_and(|v| v != "0")
}

fn assert_no_differences(diffs: &[String]) {
    assert!(
        diffs.is_empty(),
        "{} difference(s) between better-auth and tessera:\n\n{}\n",
        diffs.len(),
        diffs.join("\n\n")
    );
}

// ---------------------------------------------------------------------------
// a. Signed session tokens
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn session_token_signatures_interoperate() {
    let pair = require_pair!();
    let secrets = Secrets::single(SECRET);
    let email = unique_email("sig");
    sign_up(&pair.ba, pair.origin(), &email).await;
    let (signed_in, _) = sign_in(&pair.ba, pair.origin(), &email).await;
    let token = signed_in.json.as_ref().unwrap()["token"]
        .as_str()
        .expect("sign-in returns a token")
        .to_owned();

    // better-auth signed -> Tessera verifies.
    let cookie = signed_in
        .set_cookie(SESSION_TOKEN)
        .expect("better-auth sets the session token");
    let decoded = cookie.decoded_value();
    assert_eq!(verify_value(&secrets, &decoded), Some(token.as_str()));

    // Tessera signed -> better-auth's get-session accepts it.
    let ours = sign_value(&secrets, &token);
    assert_eq!(ours, decoded, "HMAC signing is deterministic");
    let res = pair
        .ba
        .send(&get("/get-session").header(
            "cookie",
            format!("{SESSION_TOKEN}={}", encode_uri_component(&ours)),
        ))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let body = res.json.expect("get-session returns JSON");
    assert_eq!(body["session"]["token"], token.as_str(), "{body}");

    // A tampered signature (still 44 characters ending in '=') is rejected
    // by both.
    let (payload, sig) = ours.rsplit_once('.').unwrap();
    let flipped = if sig.starts_with('A') { 'B' } else { 'A' };
    let tampered = format!("{payload}.{flipped}{}", &sig[1..]);
    assert_eq!(verify_value(&secrets, &tampered), None);
    let tampered_cookie = format!("{SESSION_TOKEN}={}", encode_uri_component(&tampered));
    for target in pair.targets() {
        let res = target
            .send(&get("/get-session").header("cookie", tampered_cookie.clone()))
            .await;
        assert_eq!(
            (res.status, res.text.as_str()),
            (200, "null"),
            "{} with a tampered signature",
            target.label()
        );
    }
    // A token signed with another secret is rejected by both too.
    let foreign = sign_value(
        &Secrets::single("another-secret-0123456789-abcdefghijklmn"),
        &token,
    );
    assert_eq!(verify_value(&secrets, &foreign), None);
    let res = pair
        .ba
        .send(&get("/get-session").header(
            "cookie",
            format!("{SESSION_TOKEN}={}", encode_uri_component(&foreign)),
        ))
        .await;
    assert_eq!((res.status, res.text.as_str()), (200, "null"));
}

#[tokio::test(flavor = "multi_thread")]
async fn tessera_session_token_passes_better_calls_signature_check() {
    let pair = require_pair!();
    let email = unique_email("tsig");
    let (res, _) = sign_up(&pair.ts, pair.origin(), &email).await;
    let token = res.json.as_ref().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let cookie = res
        .set_cookie(SESSION_TOKEN)
        .expect("tessera sets the token");

    // better-call's own getSignedCookie, fed Tessera's Set-Cookie value.
    let check = |raw_value: &str| {
        let script = format!(
            r#"import {{ createInternalContext }} from "better-call";
const ctx = await createInternalContext({{ headers: {{ cookie: {cookie} }} }}, {{ options: {{}}, path: "/x" }});
console.log(JSON.stringify(await ctx.getSignedCookie({name}, {secret})));"#,
            cookie = json!(format!("{SESSION_TOKEN}={raw_value}")),
            name = json!(SESSION_TOKEN),
            secret = json!(SECRET),
        );
        node_eval(&script).expect("node runs")
    };
    assert_eq!(check(&cookie.value), json!(token).to_string());
    let decoded = decode_uri_component(&cookie.value);
    let (payload, sig) = decoded.rsplit_once('.').unwrap();
    let flipped = if sig.starts_with('A') { 'B' } else { 'A' };
    let tampered = encode_uri_component(&format!("{payload}.{flipped}{}", &sig[1..]));
    assert_eq!(check(&tampered), "false", "better-call rejects a bad MAC");
}

// ---------------------------------------------------------------------------
// b. Password hashes
// ---------------------------------------------------------------------------

const PASSWORDS: &[&str] = &[
    "password1234",
    // U+FB01 LATIN SMALL LIGATURE FI: NFKC maps it to "fi".
    "\u{FB01}nepassword-\u{FC}",
    "pässwörd-日本語-🔐",
];

async fn ba_hash(password: &str) -> String {
    node_eval(&format!(
        r#"import {{ hashPassword }} from "@better-auth/utils/password";
console.log(await hashPassword({}));"#,
        json!(password)
    ))
    .expect("better-auth hashes")
}

async fn ba_verify(hash: &str, password: &str) -> bool {
    let out = node_eval(&format!(
        r#"import {{ verifyPassword }} from "@better-auth/utils/password";
console.log(await verifyPassword({}, {}));"#,
        json!(hash),
        json!(password)
    ))
    .expect("better-auth verifies");
    match out.as_str() {
        "true" => true,
        "false" => false,
        other => panic!("unexpected verifyPassword output {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn password_hashes_interoperate() {
    require_node!();
    for &password in PASSWORDS {
        let theirs = ba_hash(password).await;
        assert!(
            verify_password(&theirs, password).unwrap(),
            "tessera rejects better-auth's hash of {password:?}: {theirs}"
        );
        assert!(!verify_password(&theirs, "wrong-password").unwrap());

        let ours = hash_password(password).unwrap();
        assert!(
            ba_verify(&ours, password).await,
            "better-auth rejects tessera's hash of {password:?}: {ours}"
        );
        assert!(!ba_verify(&ours, "wrong-password").await);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nfkc_equivalent_passwords_verify_in_both() {
    require_node!();
    // "ﬁnepassword-ü" with the ü precomposed, versus plain "fi" and a
    // combining diaeresis: one NFKC form, so both implementations accept.
    let typed = "\u{FB01}nepassword-\u{FC}";
    let equivalent = "finepassword-u\u{308}";
    let theirs = ba_hash(typed).await;
    assert!(verify_password(&theirs, equivalent).unwrap());
    let ours = hash_password(typed).unwrap();
    assert!(ba_verify(&ours, equivalent).await);
    // Case is not folded: a different password.
    assert!(!verify_password(&theirs, "FInepassword-\u{FC}").unwrap());
    assert!(!ba_verify(&ours, "FInepassword-\u{FC}").await);
}

// ---------------------------------------------------------------------------
// c. Same request, same answer
// ---------------------------------------------------------------------------

/// State set up on each server before a case's request.
#[derive(Clone, Copy)]
enum Pre {
    /// Nothing.
    Anonymous,
    /// A user with `f.email` / [`PASSWORD`] exists; no cookies.
    ExistingUser,
    /// A user signed up; `f.cookies` holds their session.
    SignedIn,
}

/// What a case's request builder sees.
struct Fixture {
    origin: String,
    email: String,
    cookies: ClientCookies,
}

struct Case {
    name: &'static str,
    pre: Pre,
    /// better-auth's status, pinned so a case that stops testing what its
    /// name says is noticed.
    status: u16,
    request: fn(&Fixture) -> TestRequest,
}

const fn case(
    name: &'static str,
    pre: Pre,
    status: u16,
    request: fn(&Fixture) -> TestRequest,
) -> Case {
    Case {
        name,
        pre,
        status,
        request,
    }
}

fn json_post(path: &str, f: &Fixture, body: Value) -> TestRequest {
    post(path).origin(&f.origin).json(&body)
}

fn raw_post(path: &str, f: &Fixture, content_type: Option<&str>, body: &str) -> TestRequest {
    let req = post(path).origin(&f.origin);
    let req = match content_type {
        Some(ct) => req.header("content-type", ct),
        None => req,
    };
    req.body(body.to_owned())
}

/// The table: one line per case.
#[rustfmt::skip]
fn cases() -> Vec<Case> {
    use Pre::*;
    vec![
        // Body parsing (spec §7.1).
        case("malformed JSON", Anonymous, 400, |f| raw_post("/sign-in/email", f, Some("application/json"), r#"{"email":"#)),
        case("text/plain on sign-in", Anonymous, 415, |f| raw_post("/sign-in/email", f, Some("text/plain"), r#"{"email":"a@example.com","password":"password1234"}"#)),
        case("text/plain on a JSON-only endpoint", Anonymous, 415, |f| raw_post("/revoke-session", f, Some("text/plain"), r#"{"token":"x"}"#)),
        case("missing content type with a body", Anonymous, 400, |f| raw_post("/sign-in/email", f, None, r#"{"email":"a@example.com","password":"password1234"}"#)),
        case("JSON content type with parameters", ExistingUser, 200, |f| raw_post("/sign-in/email", f, Some("application/json; charset=utf-8"), &credentials(&f.email).to_string())),
        case("form-urlencoded sign-in", ExistingUser, 200, |f| raw_post("/sign-in/email", f, Some("application/x-www-form-urlencoded"), &format!("email={}&password={PASSWORD}", encode_uri_component(&f.email)))),
        case("missing fields on sign-in", Anonymous, 400, |f| json_post("/sign-in/email", f, json!({}))),
        case("missing name on sign-up", Anonymous, 400, |f| json_post("/sign-up/email", f, credentials(&f.email))),
        case("wrong field type", Anonymous, 400, |f| json_post("/sign-in/email", f, json!({"email": 1, "password": "x"}))),
        case("array body", Anonymous, 400, |f| json_post("/sign-in/email", f, json!([]))),
        case("string body", Anonymous, 400, |f| json_post("/sign-in/email", f, json!("x"))),
        case("null body", Anonymous, 400, |f| json_post("/sign-in/email", f, Value::Null)),
        case("array body on sign-up", Anonymous, 400, |f| json_post("/sign-up/email", f, json!([]))),
        case("null body on sign-up", Anonymous, 400, |f| json_post("/sign-up/email", f, Value::Null)),
        case("array body on revoke-session", Anonymous, 400, |f| json_post("/revoke-session", f, json!([]))),
        // Sign-up and sign-in outcomes (spec §7.3).
        case("sign-up succeeds", Anonymous, 200, |f| json_post("/sign-up/email", f, sign_up_body(&f.email))),
        case("sign-up with image and rememberMe false", Anonymous, 200, |f| json_post("/sign-up/email", f, json!({"email": f.email, "password": PASSWORD, "name": "N", "image": "https://example.com/a.png", "rememberMe": false}))),
        case("invalid email on sign-up", Anonymous, 400, |f| json_post("/sign-up/email", f, json!({"email": "not-an-email", "password": PASSWORD, "name": "N"}))),
        case("invalid email on sign-in", Anonymous, 400, |f| json_post("/sign-in/email", f, json!({"email": "not-an-email", "password": PASSWORD}))),
        case("password too short", Anonymous, 400, |f| json_post("/sign-up/email", f, json!({"email": f.email, "password": "short", "name": "N"}))),
        case("password too long", Anonymous, 400, |f| json_post("/sign-up/email", f, json!({"email": f.email, "password": "x".repeat(129), "name": "N"}))),
        case("duplicate sign-up", ExistingUser, 422, |f| json_post("/sign-up/email", f, sign_up_body(&f.email))),
        case("duplicate sign-up, email in upper case", ExistingUser, 422, |f| json_post("/sign-up/email", f, sign_up_body(&f.email.to_uppercase()))),
        case("sign-in succeeds", ExistingUser, 200, |f| json_post("/sign-in/email", f, credentials(&f.email))),
        case("sign-in with upper-case email", ExistingUser, 200, |f| json_post("/sign-in/email", f, json!({"email": f.email.to_uppercase(), "password": PASSWORD}))),
        case("sign-in with rememberMe false", ExistingUser, 200, |f| json_post("/sign-in/email", f, json!({"email": f.email, "password": PASSWORD, "rememberMe": false}))),
        case("sign-in with a relative callbackURL", ExistingUser, 200, |f| json_post("/sign-in/email", f, json!({"email": f.email, "password": PASSWORD, "callbackURL": "/dashboard"}))),
        case("wrong password", ExistingUser, 401, |f| json_post("/sign-in/email", f, json!({"email": f.email, "password": "wrong-password"}))),
        case("password too long on sign-in", ExistingUser, 400, |f| json_post("/sign-in/email", f, json!({"email": f.email, "password": "x".repeat(129)}))),
        case("password too long on sign-in, unknown email", Anonymous, 400, |f| json_post("/sign-in/email", f, json!({"email": f.email, "password": "x".repeat(129)}))),
        case("65 emoji are too long on sign-in (130 UTF-16 units)", Anonymous, 400, |f| json_post("/sign-in/email", f, json!({"email": f.email, "password": "\u{1F600}".repeat(65)}))),
        case("65 emoji are too long on sign-up", Anonymous, 400, |f| json_post("/sign-up/email", f, json!({"email": f.email, "password": "\u{1F600}".repeat(65), "name": "N"}))),
        case("4 emoji are long enough on sign-up (8 UTF-16 units)", Anonymous, 200, |f| json_post("/sign-up/email", f, json!({"email": f.email, "password": "\u{1F600}".repeat(4), "name": "N"}))),
        case("unknown email", Anonymous, 401, |f| json_post("/sign-in/email", f, credentials(&f.email))),
        // Origin and CSRF checks (spec §7.2).
        case("bad Origin on sign-in", ExistingUser, 403, |f| post("/sign-in/email").origin("https://evil.example").json(&credentials(&f.email))),
        case("cookie without Origin on sign-out", Anonymous, 403, |_| post("/sign-out").header("cookie", format!("{SESSION_TOKEN}=abc"))),
        case("cookie with Origin: null", Anonymous, 403, |_| post("/sign-out").origin("null").header("cookie", format!("{SESSION_TOKEN}=abc"))),
        case("cookie with a trusted Referer instead of Origin", Anonymous, 200, |f| post("/sign-out").header("referer", format!("{}/page", f.origin)).header("cookie", format!("{SESSION_TOKEN}=abc"))),
        case("cookie with an untrusted Origin", Anonymous, 403, |_| post("/sign-out").origin("https://evil.example").header("cookie", format!("{SESSION_TOKEN}=abc"))),
        case("Sec-Fetch cross-site navigate on sign-in", ExistingUser, 403, |f| post("/sign-in/email").header("sec-fetch-site", "cross-site").header("sec-fetch-mode", "navigate").json(&credentials(&f.email))),
        case("Sec-Fetch same-site without Origin on sign-in", ExistingUser, 403, |f| post("/sign-in/email").header("sec-fetch-site", "same-site").json(&credentials(&f.email))),
        case("no Origin, no cookie, no Sec-Fetch on sign-in", ExistingUser, 200, |f| post("/sign-in/email").json(&credentials(&f.email))),
        case("untrusted callbackURL on sign-in", ExistingUser, 403, |f| json_post("/sign-in/email", f, json!({"email": f.email, "password": PASSWORD, "callbackURL": "https://evil.example/cb"}))),
        // Routing (spec §7.1).
        case("GET /ok", Anonymous, 200, |_| get("/ok")),
        case("POST /get-session", Anonymous, 405, |f| post("/get-session").origin(&f.origin)),
        case("unknown path", Anonymous, 404, |_| get("/no-such-endpoint")),
        case("double slash in path", Anonymous, 404, |_| get("//ok")),
        case("trailing slash", Anonymous, 404, |_| get("/ok/")),
        case("trailing slash on get-session", Anonymous, 404, |_| get("/get-session/")),
        case("GET on a POST endpoint", Anonymous, 404, |_| get("/sign-in/email")),
        // Session endpoints (spec §7.3).
        case("get-session without a session", Anonymous, 200, |_| get("/get-session")),
        case("get-session signed in", SignedIn, 200, |f| get("/get-session").cookies(&f.cookies)),
        case("list-sessions without a session", Anonymous, 401, |_| get("/list-sessions")),
        case("list-sessions signed in", SignedIn, 200, |f| get("/list-sessions").cookies(&f.cookies)),
        case("revoke-session with {}", Anonymous, 400, |f| json_post("/revoke-session", f, json!({}))),
        case("revoke-session with {} signed in", SignedIn, 400, |f| json_post("/revoke-session", f, json!({})).cookies(&f.cookies)),
        case("revoke-session without a session", Anonymous, 401, |f| json_post("/revoke-session", f, json!({"token": "x"}))),
        case("update-session with {} signed in", SignedIn, 400, |f| json_post("/update-session", f, json!({})).cookies(&f.cookies)),
        case("update-session without a session", Anonymous, 401, |f| json_post("/update-session", f, json!({"x": 1}))),
        case("revoke-other-sessions without a session", Anonymous, 401, |f| post("/revoke-other-sessions").origin(&f.origin)),
        case("sign-out without a session", Anonymous, 200, |f| post("/sign-out").origin(&f.origin)),
        case("sign-out with a garbage cookie", Anonymous, 200, |f| post("/sign-out").origin(&f.origin).header("cookie", format!("{SESSION_TOKEN}=abc"))),
        case("sign-out signed in", SignedIn, 200, |f| post("/sign-out").origin(&f.origin).cookies(&f.cookies)),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn same_requests_get_the_same_answers() {
    let pair = require_pair!();
    let mut diffs = Vec::new();
    let mut wrong_expectations = Vec::new();
    for case in cases() {
        let email = unique_email("case");
        let mut responses = Vec::new();
        let mut request = None;
        for target in pair.targets() {
            let mut fixture = Fixture {
                origin: pair.origin().to_owned(),
                email: email.clone(),
                cookies: ClientCookies::new(),
            };
            match case.pre {
                Pre::Anonymous => {}
                Pre::ExistingUser => {
                    sign_up(target, pair.origin(), &email).await;
                }
                Pre::SignedIn => fixture.cookies = sign_up(target, pair.origin(), &email).await.1,
            }
            let req = (case.request)(&fixture);
            responses.push(target.send(&req).await);
            request.get_or_insert(req);
        }
        let (ba, ts) = (&responses[0], &responses[1]);
        let req = request.unwrap();
        if verbose() {
            eprintln!(
                "{}\n  request:     {}\n  better-auth: {}\n  tessera:     {}",
                case.name,
                req.describe(),
                ba.describe(),
                ts.describe()
            );
        }
        if ba.status != case.status {
            wrong_expectations.push(format!(
                "{}: better-auth answered {} (case expects {}): {}",
                case.name, ba.status, case.status, ba.text
            ));
        }
        diffs.extend(differences(case.name, &req, ba, ts));
    }
    assert!(
        wrong_expectations.is_empty(),
        "cases that no longer test what they say:\n{}",
        wrong_expectations.join("\n")
    );
    assert_no_differences(&diffs);
}

// ---------------------------------------------------------------------------
// Full flow
// ---------------------------------------------------------------------------

/// One step of a flow on one server: label, request, response.
type Step = (&'static str, TestRequest, TestResponse);

async fn full_flow(target: &Target, origin: &str, email: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let send = |label: &'static str, req: TestRequest| async move {
        let res = target.send(&req).await;
        (label, req, res)
    };

    let step = send(
        "sign-up",
        post("/sign-up/email")
            .origin(origin)
            .json(&sign_up_body(email)),
    )
    .await;
    let mut first = ClientCookies::new();
    first.update(&step.2);
    steps.push(step);

    let step = send("get-session", get("/get-session").cookies(&first)).await;
    first.update(&step.2);
    steps.push(step);

    let step = send(
        "second sign-in",
        post("/sign-in/email")
            .origin(origin)
            .json(&credentials(email)),
    )
    .await;
    let mut second = ClientCookies::new();
    second.update(&step.2);
    steps.push(step);

    let step = send("list-sessions (two)", get("/list-sessions").cookies(&first)).await;
    steps.push(step);

    let step = send(
        "revoke-other-sessions",
        post("/revoke-other-sessions")
            .origin(origin)
            .cookies(&first),
    )
    .await;
    first.update(&step.2);
    steps.push(step);

    let step = send("list-sessions (one)", get("/list-sessions").cookies(&first)).await;
    steps.push(step);

    let step = send(
        "get-session of the revoked session",
        get("/get-session").cookies(&second),
    )
    .await;
    steps.push(step);

    let step = send("sign-out", post("/sign-out").origin(origin).cookies(&first)).await;
    let stale = first.clone();
    first.update(&step.2);
    steps.push(step);

    let step = send(
        "get-session after sign-out (cleared jar)",
        get("/get-session").cookies(&first),
    )
    .await;
    steps.push(step);

    let step = send(
        "get-session with the signed-out cookie",
        get("/get-session").cookies(&stale),
    )
    .await;
    steps.push(step);
    steps
}

#[tokio::test(flavor = "multi_thread")]
async fn full_session_flow_matches() {
    let pair = require_pair!();
    let email = unique_email("flow");
    let ba = full_flow(&pair.ba, pair.origin(), &email).await;
    let ts = full_flow(&pair.ts, pair.origin(), &email).await;

    // Pin better-auth's own answers, so the flow tests what it says.
    let statuses: Vec<u16> = ba.iter().map(|s| s.2.status).collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 200, 200, 200, 200]);
    assert_eq!(
        ba[3]
            .2
            .json
            .as_ref()
            .and_then(Value::as_array)
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        ba[5]
            .2
            .json
            .as_ref()
            .and_then(Value::as_array)
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(ba[6].2.text, "null");
    assert_eq!(ba[8].2.text, "null");
    assert_eq!(ba[9].2.text, "null");

    if verbose() {
        for ((label, req, a), (_, _, b)) in ba.iter().zip(&ts) {
            eprintln!(
                "{label}\n  request:     {}\n  better-auth: {}\n  tessera:     {}",
                req.describe(),
                a.describe(),
                b.describe()
            );
        }
    }
    let diffs: Vec<String> = ba
        .iter()
        .zip(&ts)
        .filter_map(|((label, req, a), (_, _, b))| differences(label, req, a, b))
        .collect();
    assert_no_differences(&diffs);
}

// ---------------------------------------------------------------------------
// Sign-up where a taken email is not revealed
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn taken_emails_are_hidden_when_verification_is_required() {
    // The refserver takes `requireEmailVerification` only with a mail log.
    let mail_log = std::env::temp_dir().join(format!(
        "tessera-differential-mail-{}.jsonl",
        std::process::id()
    ));
    let server = require_refserver!(&[
        ("MODE", "memory"),
        ("MAIL_LOG", mail_log.to_str().unwrap()),
        ("REQUIRE_EMAIL_VERIFICATION", "true"),
    ]);
    let pair = Pair::configured(server, |mut o| {
        o.email_and_password.require_email_verification = true;
        o
    });
    let email = unique_email("hidden");
    let with_image = |email: &str, name: &str| json!({"email": email, "password": PASSWORD, "name": name, "image": "https://example.com/a.png"});
    let steps: [(&str, TestRequest); 4] = [
        (
            "new account",
            post("/sign-up/email")
                .origin(pair.origin())
                .json(&sign_up_body(&email)),
        ),
        (
            "taken email",
            post("/sign-up/email")
                .origin(pair.origin())
                .json(&with_image(&email, "Someone Else")),
        ),
        (
            "taken email in upper case",
            post("/sign-up/email")
                .origin(pair.origin())
                .json(&with_image(&email.to_uppercase(), "Ada")),
        ),
        (
            "sign-in before verification",
            post("/sign-in/email")
                .origin(pair.origin())
                .json(&credentials(&email)),
        ),
    ];
    let mut diffs = Vec::new();
    for (label, req) in &steps {
        let ba = pair.ba.send(req).await;
        let ts = pair.ts.send(req).await;
        if verbose() {
            eprintln!(
                "{label}\n  request:     {}\n  better-auth: {}\n  tessera:     {}",
                req.describe(),
                ba.describe(),
                ts.describe()
            );
        }
        // Pin better-auth's answers, so the test tests what it says.
        let expected = if label.starts_with("sign-in") {
            403
        } else {
            200
        };
        assert_eq!(ba.status, expected, "{label}: better-auth: {}", ba.text);
        if expected == 200 {
            assert_eq!(ba.json.as_ref().unwrap()["token"], Value::Null, "{label}");
        }
        diffs.extend(differences(label, req, &ba, &ts));
    }

    // A deliberate difference: without an image, better-auth's made-up
    // user says `"image": null` where its real new user (memory adapter)
    // and Tessera's have no `image` key at all; Tessera answers with the
    // shape of its own new user, which is the point of the made-up one.
    let req = post("/sign-up/email")
        .origin(pair.origin())
        .json(&sign_up_body(&email));
    let ba = pair.ba.send(&req).await.json.unwrap();
    let ts = pair.ts.send(&req).await.json.unwrap();
    assert_eq!(ba["user"]["image"], Value::Null);
    assert!(
        ba["user"].as_object().unwrap().contains_key("image"),
        "{ba}"
    );
    assert!(
        !ts["user"].as_object().unwrap().contains_key("image"),
        "{ts}"
    );

    // better-auth mails the new account only, never the taken one
    // (Tessera has no mailer: it sends nothing).
    let mails = std::fs::read_to_string(&mail_log).unwrap_or_default();
    let _ = std::fs::remove_file(&mail_log);
    assert_eq!(mails.lines().count(), 1, "{mails}");
    assert_no_differences(&diffs);
}
