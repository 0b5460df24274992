//! One end-to-end suite, every server: the same scenarios, sent with a real
//! HTTP client over loopback, to a Tessera adapter or to better-auth itself.
//!
//! Every framework adapter runs [`run_suite`] unchanged (see
//! `tests/conformance.rs`), and so does the reference better-auth 1.7.25,
//! which proves the scenarios describe better-auth's behaviour rather than
//! Tessera's.
//!
//! ```no_run
//! use tessera_testkit::conformance::{run_suite, SuiteTarget};
//!
//! # async fn example(clock: tessera::TestClock) {
//! let target = SuiteTarget::new("http://127.0.0.1:3000")
//!     .protected_path("/me")
//!     .clock(clock);
//! let report = run_suite(&target).await; // panics, naming every failed scenario
//! assert!(report.skipped().is_empty());
//! # }
//! ```
//!
//! # What the server under test must be
//!
//! - The auth API at [`SuiteTarget::auth_path`] (`/api/auth`), with
//!   email-and-password sign-up, better-auth's default session lifetimes
//!   (`expiresIn` 7 days, `updateAge` 1 day), cookies without the
//!   `__Secure-` prefix (plain `http://`), rate limiting off, and
//!   [`SuiteTarget::origin`] trusted.
//! - A store that keeps sessions (a database): signing out must end the
//!   session even for a cookie kept by the client.
//! - **The protected route contract**, when
//!   [`SuiteTarget::protected_path`] is set: `GET protected_path`
//!   - without a session answers `401` with better-auth's body
//!     `{"message":"Unauthorized","code":"UNAUTHORIZED"}`;
//!   - with a session answers `200` with a JSON object whose `email` is the
//!     signed-in user's email, e.g. `{"email":"ada@example.com"}`;
//!   - either way carries the `Set-Cookie` headers of the session outcome
//!     (a refresh by `updateAge`, or the deletion of a dead session's
//!     cookies), one header per cookie.
//! - **The application beside the auth API**, when
//!   [`SuiteTarget::app_fallback`] is set: the server's session layer (or
//!   middleware) wraps every route, the auth API's included, and every path
//!   the server routes neither to the auth API nor elsewhere answers as the
//!   protected route does. Paths that share the base path's prefix without
//!   being under it, such as `/api/authx`, are such paths: the auth API
//!   owns only the base path followed by `/` (`tessera::Auth::owns_path`).
//! - When [`SuiteTarget::clock`] is set, the server's only notion of "now"
//!   is that clock, so the suite can move time past `updateAge`.
//! - When [`SuiteTarget::request_limits`] is set, the server (its HTTP
//!   stack and its kernel) accepts every head within those limits, so the
//!   largest set of cookies Tessera sets under them
//!   ([`largest_tessera_cookie_header`]) comes back; every server refuses a
//!   380 KB cookie bomb with 431.
//!
//! Scenarios without what they need (no protected route, no clock, no
//! application fallback) are
//! reported as skipped, never as passed.

use std::fmt;
use std::time::Duration;

use serde_json::{json, Value};
use tessera::cookie::{SetCookie, MAX_COOKIE_CHUNKS, MAX_COOKIE_SIZE};
use tessera::options::RequestLimits;
use tessera::TestClock;

use crate::exchange::{
    http_client, send_http, send_http_status, send_raw_status, ClientCookies, TestRequest,
    TestResponse,
};
use crate::uri::{decode_uri_component, encode_uri_component};

/// better-auth's session cookie name on plain `http://`.
pub const SESSION_TOKEN: &str = "better-auth.session_token";
/// better-auth's multiSession default `maximumSessions`: the device cookies
/// one browser may hold. Stated here as better-auth defines it, so this kit
/// links no plugin (a test binary's plugin registry holds only what it
/// links); `tests/limits.rs` checks it against `tessera-multi-session`.
pub const DEVICE_COOKIES: usize = 5;
/// The cookie that marks a "don't remember me" session.
pub const DONT_REMEMBER: &str = "better-auth.dont_remember";
/// better-auth's default `session.updateAge`: the clock moves this far to
/// make a session due for refresh.
pub const UPDATE_AGE: Duration = Duration::from_secs(86_400);
/// better-auth's body for a request that needs a session and has none.
pub const UNAUTHORIZED_BODY: &str = r#"{"message":"Unauthorized","code":"UNAUTHORIZED"}"#;

/// An origin no server under test trusts.
const FOREIGN_ORIGIN: &str = "http://evil.example";
const PASSWORD: &str = "password1234";

/// Where the suite sends its requests, and what the server offers.
#[derive(Clone, Debug)]
pub struct SuiteTarget {
    /// E.g. `http://127.0.0.1:3000`, no trailing slash.
    pub base_url: String,
    /// Where the auth API is mounted: `/api/auth`.
    pub auth_path: String,
    /// The application's protected route (see the module docs for its
    /// contract), e.g. `/me`; `None` skips the scenarios that need it.
    pub protected_path: Option<String>,
    /// Whether the session layer wraps the whole server and the application
    /// answers every other path as the protected route (see the module
    /// docs); `false` skips the scenario that needs it.
    pub app_fallback: bool,
    /// The server's clock, moved to reach `updateAge`; `None` (e.g. the
    /// reference server) skips the refresh scenario.
    pub clock: Option<TestClock>,
    /// The `Origin` sent with requests that need a trusted one.
    pub origin: String,
    /// The request limits the server's kernel runs with; `None` (e.g. the
    /// reference server, behind Node's 16 KiB head limit) skips the
    /// scenario sending Tessera's largest cookie set.
    pub request_limits: Option<RequestLimits>,
}

impl SuiteTarget {
    /// The server at `base_url`: auth API at `/api/auth`, its own origin
    /// trusted, no protected route, no clock.
    pub fn new(base_url: impl Into<String>) -> Self {
        let base_url = base_url.into().trim_end_matches('/').to_owned();
        SuiteTarget {
            origin: base_url.clone(),
            base_url,
            auth_path: "/api/auth".to_owned(),
            protected_path: None,
            app_fallback: false,
            clock: None,
            request_limits: None,
        }
    }

    /// Sets where the auth API is mounted.
    pub fn auth_path(mut self, path: impl Into<String>) -> Self {
        self.auth_path = path.into();
        self
    }

    /// Sets the protected application route.
    pub fn protected_path(mut self, path: impl Into<String>) -> Self {
        self.protected_path = Some(path.into());
        self
    }

    /// Declares the application fallback behind a session layer wrapping
    /// the whole server.
    pub fn app_fallback(mut self) -> Self {
        self.app_fallback = true;
        self
    }

    /// Sets the server's clock.
    pub fn clock(mut self, clock: TestClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Sets the request limits the server's kernel runs with.
    pub fn request_limits(mut self, limits: RequestLimits) -> Self {
        self.request_limits = Some(limits);
        self
    }

    /// Sets the trusted `Origin` the suite sends.
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = origin.into();
        self
    }
}

/// How one scenario ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every check held.
    Passed,
    /// The target lacks what the scenario needs (the reason).
    Skipped(&'static str),
    /// A check failed (what was expected and what arrived).
    Failed(String),
}

/// One scenario's name and verdict.
#[derive(Clone, Debug)]
pub struct ScenarioResult {
    /// The scenario's function name, e.g. `sign_out_ends_the_session`.
    pub name: &'static str,
    /// How it ended.
    pub verdict: Verdict,
}

/// Every scenario's verdict, in the order they ran.
#[derive(Clone, Debug)]
pub struct SuiteReport {
    /// The target's base URL.
    pub base_url: String,
    /// One entry per scenario.
    pub results: Vec<ScenarioResult>,
}

impl SuiteReport {
    /// The names of the scenarios that passed.
    pub fn passed(&self) -> Vec<&'static str> {
        self.names(|v| matches!(v, Verdict::Passed))
    }

    /// The names of the scenarios that were skipped.
    pub fn skipped(&self) -> Vec<&'static str> {
        self.names(|v| matches!(v, Verdict::Skipped(_)))
    }

    /// The names of the scenarios that failed.
    pub fn failed(&self) -> Vec<&'static str> {
        self.names(|v| matches!(v, Verdict::Failed(_)))
    }

    fn names(&self, pick: impl Fn(&Verdict) -> bool) -> Vec<&'static str> {
        self.results
            .iter()
            .filter(|r| pick(&r.verdict))
            .map(|r| r.name)
            .collect()
    }
}

impl fmt::Display for SuiteReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "conformance suite against {}:", self.base_url)?;
        for r in &self.results {
            match &r.verdict {
                Verdict::Passed => writeln!(f, "  ok      {}", r.name)?,
                Verdict::Skipped(why) => writeln!(f, "  skipped {} ({why})", r.name)?,
                Verdict::Failed(why) => writeln!(f, "  FAILED  {}: {why}", r.name)?,
            }
        }
        Ok(())
    }
}

/// Runs every scenario against `target` and returns the report; panics
/// after the last scenario if any failed, naming each failed scenario and
/// why.
pub async fn run_suite(target: &SuiteTarget) -> SuiteReport {
    let report = run_scenarios(target).await;
    eprint!("{report}");
    let failed = report.failed();
    assert!(
        failed.is_empty(),
        "{} of {} conformance scenarios failed ({}):\n{report}",
        failed.len(),
        report.results.len(),
        failed.join(", ")
    );
    report
}

/// Runs every scenario against `target` without panicking.
pub async fn run_scenarios(target: &SuiteTarget) -> SuiteReport {
    let suite = Suite {
        target,
        client: http_client(),
    };
    let mut results = Vec::new();
    macro_rules! run {
        ($($scenario:ident),* $(,)?) => {$(
            results.push(ScenarioResult {
                name: stringify!($scenario),
                verdict: match $scenario(&suite).await {
                    Ok(()) => Verdict::Passed,
                    Err(Stop::Skipped(why)) => Verdict::Skipped(why),
                    Err(Stop::Failed(why)) => Verdict::Failed(why),
                },
            });
        )*};
    }
    run!(
        sign_up_sets_a_session_cookie,
        sign_in_returns_a_working_session,
        protected_route_without_session_is_401,
        protected_route_with_session_returns_the_user,
        session_refreshes_after_update_age,
        sign_out_ends_the_session,
        malformed_json_is_400_bad_request,
        foreign_origin_with_cookie_is_403,
        tampered_cookie_reads_as_signed_out,
        set_cookie_headers_arrive_separately,
        session_layer_follows_the_owns_path_rule,
        oversized_cookie_headers_are_431,
        tesseras_largest_cookie_set_is_accepted,
    );
    SuiteReport {
        base_url: target.base_url.clone(),
        results,
    }
}

// ---------------------------------------------------------------------------
// Scenarios. Each signs up its own user, so they do not depend on each other.

/// `POST /sign-up/email` answers 200 with the user and a token, sets an
/// `HttpOnly` session cookie, and that cookie reads back the user.
async fn sign_up_sets_a_session_cookie(s: &Suite<'_>) -> Check {
    let email = fresh_email();
    let res = s
        .send(s.post_json(
            "/sign-up/email",
            &json!({ "email": email, "password": PASSWORD, "name": "Ada" }),
        ))
        .await?;
    expect_status(&res, 200, "sign-up")?;
    expect_eq(
        user_email(&res),
        Some(email.as_str()),
        "sign-up body user.email",
    )?;
    expect(
        res.json
            .as_ref()
            .and_then(|b| b["token"].as_str())
            .is_some_and(|t| !t.is_empty()),
        || format!("sign-up body has no token: {}", res.text),
    )?;
    let cookie = reissued(&res, SESSION_TOKEN, "sign-up")?;
    expect(cookie.attribute("httponly").is_some(), || {
        format!("the session cookie is not HttpOnly: {cookie:?}")
    })?;
    let mut cookies = ClientCookies::new();
    cookies.update(&res);
    let session = s.get_session(&cookies).await?;
    expect_status(&session, 200, "get-session after sign-up")?;
    expect_eq(
        user_email(&session),
        Some(email.as_str()),
        "get-session user.email",
    )
}

/// `POST /sign-in/email` answers 200 with `redirect: false`, the token and
/// the user; its cookie reads back that very session.
async fn sign_in_returns_a_working_session(s: &Suite<'_>) -> Check {
    let account = s.sign_up().await?;
    let res = s
        .send(s.post_json(
            "/sign-in/email",
            &json!({ "email": account.email, "password": PASSWORD }),
        ))
        .await?;
    expect_status(&res, 200, "sign-in")?;
    let body = res.json.clone().unwrap_or(Value::Null);
    expect_eq(
        body.get("redirect"),
        Some(&json!(false)),
        "sign-in redirect",
    )?;
    expect_eq(
        user_email(&res),
        Some(account.email.as_str()),
        "sign-in user.email",
    )?;
    let token = body["token"]
        .as_str()
        .ok_or_else(|| format!("sign-in body has no token: {}", res.text))?;
    reissued(&res, SESSION_TOKEN, "sign-in")?;
    let mut cookies = ClientCookies::new();
    cookies.update(&res);
    let session = s.get_session(&cookies).await?;
    expect_status(&session, 200, "get-session after sign-in")?;
    let session_token = session
        .json
        .as_ref()
        .and_then(|b| b["session"]["token"].as_str());
    expect_eq(session_token, Some(token), "get-session session.token")?;
    expect_eq(
        user_email(&session),
        Some(account.email.as_str()),
        "get-session user.email",
    )
}

/// The protected route without a cookie: 401 with better-auth's body.
async fn protected_route_without_session_is_401(s: &Suite<'_>) -> Check {
    let res = s.protected(&ClientCookies::new()).await?;
    expect_unauthorized(&res, "protected route without a cookie")
}

/// The protected route with a session: 200 and the user's email.
async fn protected_route_with_session_returns_the_user(s: &Suite<'_>) -> Check {
    s.protected_path()?;
    let account = s.sign_up().await?;
    let res = s.protected(&account.cookies).await?;
    expect_status(&res, 200, "protected route with a session")?;
    let email = res.json.as_ref().and_then(|b| b["email"].as_str());
    expect_eq(email, Some(account.email.as_str()), "protected route email")
}

/// Before `updateAge` nothing is re-issued; past it, get-session and the
/// protected route each re-issue the session cookie.
async fn session_refreshes_after_update_age(s: &Suite<'_>) -> Check {
    let clock = s.clock()?;
    let account = s.sign_up().await?;
    let res = s.get_session(&account.cookies).await?;
    expect_status(&res, 200, "get-session of a new session")?;
    expect(res.set_cookie(SESSION_TOKEN).is_none(), || {
        format!(
            "get-session re-issued a session that is not due yet: {:?}",
            res.set_cookies
        )
    })?;

    clock.advance(UPDATE_AGE);
    let res = s.get_session(&account.cookies).await?;
    expect_status(&res, 200, "get-session after updateAge")?;
    expect_eq(
        user_email(&res),
        Some(account.email.as_str()),
        "get-session user.email after updateAge",
    )?;
    reissued(&res, SESSION_TOKEN, "get-session after updateAge")?;

    if s.target.protected_path.is_some() {
        clock.advance(UPDATE_AGE);
        let res = s.protected(&account.cookies).await?;
        expect_status(&res, 200, "protected route after updateAge")?;
        reissued(&res, SESSION_TOKEN, "protected route after updateAge")?;
    }
    Ok(())
}

/// `POST /sign-out` expires the session cookie and ends the session: the
/// old cookie reads as signed out (and the protected route refuses it).
async fn sign_out_ends_the_session(s: &Suite<'_>) -> Check {
    let account = s.sign_up().await?;
    let res = s
        .send(
            s.post_json("/sign-out", &json!({}))
                .cookies(&account.cookies),
        )
        .await?;
    expect_status(&res, 200, "sign-out")?;
    expect_eq(
        res.json.as_ref(),
        Some(&json!({ "success": true })),
        "sign-out body",
    )?;
    expect(res.expired_cookie_names().contains(SESSION_TOKEN), || {
        format!(
            "sign-out did not expire {SESSION_TOKEN}: {:?}",
            res.set_cookies
        )
    })?;
    // The client keeps the old cookie: the server must not accept it.
    let res = s.get_session(&account.cookies).await?;
    expect_status(&res, 200, "get-session after sign-out")?;
    expect_eq(
        res.json.as_ref(),
        Some(&Value::Null),
        "get-session after sign-out",
    )?;
    if s.target.protected_path.is_some() {
        let res = s.protected(&account.cookies).await?;
        expect_unauthorized(&res, "protected route after sign-out")?;
    }
    Ok(())
}

/// A body that is not JSON: 400 `BAD_REQUEST`, on sign-up and sign-in.
async fn malformed_json_is_400_bad_request(s: &Suite<'_>) -> Check {
    for endpoint in ["/sign-up/email", "/sign-in/email"] {
        let req = TestRequest::post(s.api(endpoint))
            .origin(s.target.origin.as_str())
            .header("content-type", "application/json")
            .body(r#"{"email":"#);
        let res = s.send(req).await?;
        expect_body(
            &res,
            400,
            r#"{"message":"Invalid JSON in request body","code":"BAD_REQUEST"}"#,
            &format!("malformed JSON to {endpoint}"),
        )?;
    }
    Ok(())
}

/// A cookie-bearing `POST` from an untrusted origin: 403 `INVALID_ORIGIN`,
/// and the request had no effect (the session still works).
async fn foreign_origin_with_cookie_is_403(s: &Suite<'_>) -> Check {
    let account = s.sign_up().await?;
    let req = TestRequest::post(s.api("/sign-out"))
        .origin(FOREIGN_ORIGIN)
        .json(&json!({}))
        .cookies(&account.cookies);
    let res = s.send(req).await?;
    expect_body(
        &res,
        403,
        r#"{"message":"Invalid origin","code":"INVALID_ORIGIN"}"#,
        "sign-out from a foreign origin",
    )?;
    let res = s.get_session(&account.cookies).await?;
    expect_status(&res, 200, "get-session after the refused sign-out")?;
    expect_eq(
        user_email(&res),
        Some(account.email.as_str()),
        "the session after the refused sign-out",
    )
}

/// A session cookie whose signature was altered reads as no session:
/// get-session answers `null` (and the protected route 401), never an error.
async fn tampered_cookie_reads_as_signed_out(s: &Suite<'_>) -> Check {
    let account = s.sign_up().await?;
    let raw = account
        .cookies
        .get(SESSION_TOKEN)
        .ok_or("sign-up left no session cookie")?;
    let mut tampered = ClientCookies::new();
    tampered.insert(SESSION_TOKEN, tamper_signature(raw)?);
    let res = s.get_session(&tampered).await?;
    expect_status(&res, 200, "get-session with a tampered cookie")?;
    expect_eq(
        res.json.as_ref(),
        Some(&Value::Null),
        "get-session with a tampered cookie",
    )?;
    if s.target.protected_path.is_some() {
        let res = s.protected(&tampered).await?;
        expect_unauthorized(&res, "protected route with a tampered cookie")?;
    }
    Ok(())
}

/// Responses setting several cookies send one `Set-Cookie` header per
/// cookie, never one comma-joined header: sign-in without "remember me",
/// sign-out, and a dead session's cookie on get-session and on the
/// protected route.
async fn set_cookie_headers_arrive_separately(s: &Suite<'_>) -> Check {
    let account = s.sign_up().await?;
    let res = s
        .send(s.post_json(
            "/sign-in/email",
            &json!({ "email": account.email, "password": PASSWORD, "rememberMe": false }),
        ))
        .await?;
    expect_status(&res, 200, "sign-in without remember-me")?;
    one_cookie_per_header(&res, "sign-in without remember-me")?;
    expect(res.cookie_names().contains(DONT_REMEMBER), || {
        format!(
            "sign-in without remember-me set no {DONT_REMEMBER}: {:?}",
            res.set_cookies
        )
    })?;
    let mut cookies = ClientCookies::new();
    cookies.update(&res);

    let res = s
        .send(s.post_json("/sign-out", &json!({})).cookies(&cookies))
        .await?;
    expect_status(&res, 200, "sign-out")?;
    one_cookie_per_header(&res, "sign-out")?;

    // The client kept its cookies; the session behind them is gone.
    let res = s.get_session(&cookies).await?;
    expect_status(&res, 200, "get-session with a dead session")?;
    one_cookie_per_header(&res, "get-session with a dead session")?;
    if s.target.protected_path.is_some() {
        let res = s.protected(&cookies).await?;
        expect_unauthorized(&res, "protected route with a dead session")?;
        one_cookie_per_header(&res, "protected route with a dead session")?;
    }
    Ok(())
}

/// The session layer and the auth API split paths by the kernel's rule:
/// paths sharing the base path's prefix without being under it
/// (`/api/authx`, `/api/authx/get-session`) are the application's and get
/// the session; the auth API's own paths pass through the layer, so a dead
/// session's cookies are deleted once, by the API, not a second time by
/// the layer around it.
async fn session_layer_follows_the_owns_path_rule(s: &Suite<'_>) -> Check {
    if !s.target.app_fallback {
        return Err(Stop::Skipped("the target has no application fallback"));
    }
    let beside = [
        format!("{}x", s.target.auth_path),
        format!("{}x/get-session", s.target.auth_path),
    ];
    let account = s.sign_up().await?;
    for path in &beside {
        let res = s
            .send(TestRequest::get(path.as_str()).cookies(&account.cookies))
            .await?;
        let what = format!("{path} (the application's) with a session");
        expect_status(&res, 200, &what)?;
        let email = res.json.as_ref().and_then(|b| b["email"].as_str());
        expect_eq(email, Some(account.email.as_str()), &what)?;
        let res = s.send(TestRequest::get(path.as_str())).await?;
        expect_unauthorized(&res, &format!("{path} without a session"))?;
    }

    // A dead session with several cookies: signed in without remember-me,
    // signed out, the cookies kept.
    let res = s
        .send(s.post_json(
            "/sign-in/email",
            &json!({ "email": account.email, "password": PASSWORD, "rememberMe": false }),
        ))
        .await?;
    expect_status(&res, 200, "sign-in without remember-me")?;
    let mut cookies = ClientCookies::new();
    cookies.update(&res);
    let res = s
        .send(s.post_json("/sign-out", &json!({})).cookies(&cookies))
        .await?;
    expect_status(&res, 200, "sign-out")?;

    let res = s.get_session(&cookies).await?;
    expect_status(&res, 200, "get-session with a dead session")?;
    one_cookie_per_header(&res, "get-session with a dead session, behind the layer")?;
    let res = s
        .send(TestRequest::get(beside[0].as_str()).cookies(&cookies))
        .await?;
    let what = format!("{} with a dead session", beside[0]);
    expect_unauthorized(&res, &what)?;
    one_cookie_per_header(&res, &what)?;
    Ok(())
}

/// Oversized `Cookie` headers answer 431 on `/ok`, `/get-session` and the
/// protected route, and the server goes on serving: one 64 KiB cookie,
/// over Tessera's default limits but within what its HTTP stacks read (so
/// the kernel answers), and a cookie bomb of 54,000 cookies with
/// three-letter names, about 380 KB (issue 11's quadratic-parsing hole),
/// which an HTTP stack may refuse unread (read from a raw connection: the
/// stack closes it on a client still sending). Node refuses any head over
/// 16 KiB.
async fn oversized_cookie_headers_are_431(s: &Suite<'_>) -> Check {
    let big = format!("big={}", "x".repeat(64 * 1024));
    let bomb = cookie_bomb();
    let mut paths = vec![s.api("/ok"), s.api("/get-session")];
    paths.extend(s.target.protected_path.clone());
    for path in &paths {
        let req = TestRequest::get(path.as_str()).header("cookie", big.as_str());
        let status = s.status_of(req).await?;
        expect_eq(status, 431, &format!("{path} with a 64 KiB cookie: status"))?;
        let req = TestRequest::get(path.as_str()).header("cookie", bomb.as_str());
        let status = send_raw_status(&s.target.base_url, &req).await?;
        expect_eq(
            status,
            431,
            &format!("{path} with a 380 KB cookie bomb: status"),
        )?;
    }
    let res = s.send(TestRequest::get(s.api("/ok"))).await?;
    expect_status(&res, 200, "/ok after the cookie bombs")?;
    Ok(())
}

/// The largest set of cookies Tessera itself sets under the target's
/// request limits ([`largest_tessera_cookie_header`], more than Node's
/// 16 KiB) is accepted: get-session and the protected route answer with
/// the session.
async fn tesseras_largest_cookie_set_is_accepted(s: &Suite<'_>) -> Check {
    let limits = s.target.request_limits.ok_or(Stop::Skipped(
        "the target promises no head larger than Node's 16 KiB",
    ))?;
    let account = s.sign_up().await?;
    let token = account
        .cookies
        .get(SESSION_TOKEN)
        .ok_or("sign-up left no session cookie")?;
    let header = largest_tessera_cookie_header(&limits, token);
    let mut paths = vec![s.api("/get-session")];
    paths.extend(s.target.protected_path.clone());
    for path in paths {
        let res = s
            .send(TestRequest::get(path.as_str()).header("cookie", header.as_str()))
            .await?;
        let what = format!(
            "{path} with Tessera's largest cookie set ({} bytes)",
            header.len()
        );
        expect_status(&res, 200, &what)?;
        let email = res
            .json
            .as_ref()
            .and_then(|b| b["user"]["email"].as_str().or(b["email"].as_str()));
        expect_eq(email, Some(account.email.as_str()), &what)?;
    }
    Ok(())
}

/// `aaa=1; aab=1; …`: 54,000 cookies with three-letter names (repeating
/// past 17,576), about 380 KB.
pub fn cookie_bomb() -> String {
    let name = |i: usize| -> String {
        [676, 26, 1]
            .iter()
            .map(|k| char::from(b'a' + (i / k % 26) as u8))
            .collect()
    };
    (0..54_000)
        .map(|i| format!("{}=1", name(i)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The largest `Cookie` header Tessera itself sets under `limits` (on
/// plain `http://`, default prefix), with `session_token` (its raw value)
/// as the live session: the session cache chunked up to
/// [`RequestLimits::session_cache_bytes`] (at most
/// [`MAX_COOKIE_CHUNKS`] chunks of a full cookie each), `dont_remember`,
/// and the device cookies of the multi-session plugin's default
/// `maximumSessions` accounts ([`DEVICE_COOKIES`]), named as better-auth
/// names them (`${session_token}_multi-${token.toLowerCase()}`),
/// signatures at their longest once percent-encoded. Only the session
/// token is real; the rest reads as junk (a cache miss, unknown devices).
pub fn largest_tessera_cookie_header(limits: &RequestLimits, session_token: &str) -> String {
    // A signature whose every base64 character is `+`: 132 bytes encoded.
    let signature = format!("{}%3D", "%2B".repeat(43));
    let token = "t".repeat(32);
    let mut cookies = vec![
        format!("{SESSION_TOKEN}={session_token}"),
        format!("{DONT_REMEMBER}=true.{signature}"),
    ];
    for i in 0..DEVICE_COOKIES {
        let name = format!("{SESSION_TOKEN}_multi-{i:0>32}");
        cookies.push(format!("{name}={token}.{signature}"));
    }
    // Full chunks as the kernel cuts them: a `Set-Cookie` line of at most
    // MAX_COOKIE_SIZE bytes with better-auth's default attributes.
    let attributes = "; Max-Age=300; Path=/; HttpOnly; SameSite=Lax";
    let mut budget = limits.session_cache_bytes();
    for i in 0..MAX_COOKIE_CHUNKS {
        let name = format!("better-auth.session_data.{i}");
        let line = format!("better-auth.session_data.99={attributes}");
        let empty = SetCookie::new(name.clone(), "", Default::default()).request_len();
        if budget <= empty {
            break;
        }
        let len = (MAX_COOKIE_SIZE - line.len()).min(budget - empty);
        cookies.push(format!("{name}={}", "A".repeat(len)));
        budget -= empty + len;
    }
    cookies.join("; ")
}

// ---------------------------------------------------------------------------
// The machinery the scenarios share.

/// Why a scenario stopped early.
enum Stop {
    Skipped(&'static str),
    Failed(String),
}

impl From<String> for Stop {
    fn from(why: String) -> Self {
        Stop::Failed(why)
    }
}

impl From<&str> for Stop {
    fn from(why: &str) -> Self {
        Stop::Failed(why.to_owned())
    }
}

type Check = Result<(), Stop>;

struct Suite<'a> {
    target: &'a SuiteTarget,
    client: reqwest::Client,
}

/// A signed-up user and the cookies sign-up set.
struct Account {
    email: String,
    cookies: ClientCookies,
}

impl Suite<'_> {
    /// The path of an auth endpoint, e.g. `/api/auth/sign-out`.
    fn api(&self, endpoint: &str) -> String {
        format!("{}{endpoint}", self.target.auth_path)
    }

    fn post_json(&self, endpoint: &str, body: &Value) -> TestRequest {
        TestRequest::post(self.api(endpoint))
            .origin(self.target.origin.as_str())
            .json(body)
    }

    async fn send(&self, req: TestRequest) -> Result<TestResponse, String> {
        send_http(&self.client, &self.target.base_url, &req).await
    }

    /// Only the status: a server refusing a head may close the connection
    /// before its body is read (Node does).
    async fn status_of(&self, req: TestRequest) -> Result<u16, String> {
        send_http_status(&self.client, &self.target.base_url, &req).await
    }

    async fn get_session(&self, cookies: &ClientCookies) -> Result<TestResponse, String> {
        self.send(TestRequest::get(self.api("/get-session")).cookies(cookies))
            .await
    }

    fn protected_path(&self) -> Result<&str, Stop> {
        self.target
            .protected_path
            .as_deref()
            .ok_or(Stop::Skipped("the target has no protected route"))
    }

    async fn protected(&self, cookies: &ClientCookies) -> Result<TestResponse, Stop> {
        let path = self.protected_path()?;
        Ok(self.send(TestRequest::get(path).cookies(cookies)).await?)
    }

    fn clock(&self) -> Result<&TestClock, Stop> {
        self.target
            .clock
            .as_ref()
            .ok_or(Stop::Skipped("the target's clock cannot be moved"))
    }

    /// Signs up a new user.
    async fn sign_up(&self) -> Result<Account, String> {
        let email = fresh_email();
        let res = self
            .send(self.post_json(
                "/sign-up/email",
                &json!({ "email": email, "password": PASSWORD, "name": "Ada" }),
            ))
            .await?;
        expect_status(&res, 200, "sign-up")?;
        let mut cookies = ClientCookies::new();
        cookies.update(&res);
        if cookies.get(SESSION_TOKEN).is_none() {
            return Err(format!(
                "sign-up set no {SESSION_TOKEN}: {:?}",
                res.set_cookies
            ));
        }
        Ok(Account { email, cookies })
    }
}

/// An email no earlier run used (better-auth stores emails lowercased).
fn fresh_email() -> String {
    format!(
        "conformance-{}@example.com",
        tessera::generate_id(16).to_ascii_lowercase()
    )
}

/// The body's `user.email`.
fn user_email(res: &TestResponse) -> Option<&str> {
    res.json.as_ref()?.get("user")?.get("email")?.as_str()
}

fn expect(ok: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(why())
    }
}

fn expect_eq<T: PartialEq + fmt::Debug>(actual: T, expected: T, what: &str) -> Check {
    expect(actual == expected, || {
        format!("{what}: expected {expected:?}, got {actual:?}")
    })?;
    Ok(())
}

fn expect_status(res: &TestResponse, status: u16, what: &str) -> Result<(), String> {
    expect(res.status == status, || {
        format!(
            "{what}: expected status {status}, got {} with body {:?}",
            res.status, res.text
        )
    })
}

/// Status and body, the body compared as JSON.
fn expect_body(res: &TestResponse, status: u16, body: &str, what: &str) -> Check {
    expect_status(res, status, what)?;
    let expected: Value = serde_json::from_str(body).expect("the suite's own JSON");
    expect(res.json.as_ref() == Some(&expected), || {
        format!("{what}: expected body {body}, got {:?}", res.text)
    })?;
    Ok(())
}

fn expect_unauthorized(res: &TestResponse, what: &str) -> Check {
    expect_body(res, 401, UNAUTHORIZED_BODY, what)
}

/// The response sets `name` to a live value.
fn reissued(
    res: &TestResponse,
    name: &str,
    what: &str,
) -> Result<crate::exchange::SetCookieLine, String> {
    match res.set_cookie(name) {
        Some(c) if !c.is_expired() && !c.value.is_empty() => Ok(c),
        _ => Err(format!(
            "{what}: expected a fresh {name} cookie, got Set-Cookie {:?}",
            res.set_cookies
        )),
    }
}

/// At least two `Set-Cookie` headers, each holding one cookie, no cookie
/// named twice.
fn one_cookie_per_header(res: &TestResponse, what: &str) -> Result<(), String> {
    for line in &res.set_cookies {
        expect(!holds_several_cookies(line), || {
            format!("{what}: one Set-Cookie header holds several cookies: {line:?}")
        })?;
    }
    expect(res.set_cookies.len() >= 2, || {
        format!(
            "{what}: expected several Set-Cookie headers, got {:?}",
            res.set_cookies
        )
    })?;
    let names: Vec<String> = res.cookies().into_iter().map(|c| c.name).collect();
    expect(res.cookie_names().len() == names.len(), || {
        format!("{what}: a cookie is set twice: {names:?}")
    })
}

/// Whether a `Set-Cookie` value is several cookies joined with commas. A
/// comma may appear inside `Expires=Thu, 01 Jan 1970 …`, but what follows
/// it up to the next `;` never holds a `=`; in a joined header it does
/// (`…; Path=/, b=2; …`).
fn holds_several_cookies(line: &str) -> bool {
    line.split(',')
        .skip(1)
        .any(|rest| rest.split(';').next().is_some_and(|s| s.contains('=')))
}

/// The raw (percent-encoded) `token.signature` cookie value with its
/// signature's first character changed.
fn tamper_signature(raw: &str) -> Result<String, String> {
    let decoded = decode_uri_component(raw);
    let (token, signature) = decoded
        .rsplit_once('.')
        .ok_or_else(|| format!("the session cookie is not token.signature: {raw:?}"))?;
    let mut chars = signature.chars();
    let first = chars
        .next()
        .ok_or("the session cookie has an empty signature")?;
    let swapped = if first == 'A' { 'B' } else { 'A' };
    Ok(encode_uri_component(&format!(
        "{token}.{swapped}{}",
        chars.as_str()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_joined_set_cookie_header_is_recognised() {
        assert!(holds_several_cookies("a=1; Path=/, b=2; Path=/"));
        assert!(holds_several_cookies("a=1, b=2"));
    }

    #[test]
    fn an_expires_date_is_not_a_second_cookie() {
        assert!(!holds_several_cookies(
            "better-auth.session_token=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/"
        ));
        assert!(!holds_several_cookies(
            "better-auth.session_token=abc.def%3D; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax"
        ));
    }

    #[test]
    fn tampering_changes_only_the_signature() {
        let raw = "tok.AbcD%2Bx%3D";
        let tampered = tamper_signature(raw).unwrap();
        assert_eq!(tampered, "tok.BbcD%2Bx%3D");
        assert_eq!(
            tamper_signature("tok.xyz").unwrap(),
            "tok.Ayz",
            "any first character is swapped"
        );
    }

    #[test]
    fn a_target_trusts_its_own_origin_by_default() {
        let target = SuiteTarget::new("http://127.0.0.1:3000/");
        assert_eq!(target.base_url, "http://127.0.0.1:3000");
        assert_eq!(target.origin, "http://127.0.0.1:3000");
        assert_eq!(target.auth_path, "/api/auth");
        assert!(target.protected_path.is_none() && target.clock.is_none());
        assert!(!target.app_fallback);
    }
}
