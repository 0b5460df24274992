//! Replays every `/get-session` check better-auth 1.7.25 recorded in
//! `shared/vectors/better-auth-1.7.25.json` against Tessera, in process and
//! at the recorded instant (no node needed).
//!
//! Each check presented a cookie header to either a brand-new instance with
//! an empty store (`fresh`) or to the instance that issued the cookies and
//! still held their rows (`same`). Tessera gets the same cookies, the same
//! configuration (plugins included: multi-session, and custom-session with
//! the refserver's function) and a clock set to `checkedAtMs`, and must
//! reach the same outcome, return the same body, and set or expire the same
//! cookies — except where better-auth has a known defect (see the
//! refserver README), which this test pins Tessera's better answer for.
//! The plugin-endpoint checks (`list-device-sessions`) compare status and
//! body: there is no "not implemented yet" answer.
//!
//! All differences are collected and reported together at the end.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tessera::cache::{CacheStrategy, CacheVersion};
use tessera::store::MemoryDatabase;
use tessera::{Auth, Options, Session, SessionWithUser, TestClock, Timestamp, User};
use tessera_custom_session::CustomSession;
use tessera_testkit::SetCookieLine;

const VECTOR_FILE: &str = "better-auth-1.7.25.json";
const SESSION_DATA: &str = "better-auth.session_data";
const SESSION_TOKEN: &str = "better-auth.session_token";
/// The headers the vector generator sent with every request.
const USER_AGENT: &str = "refharness-vectors/1.0";
const CLIENT_IP: &str = "127.0.0.1";

fn vector_path() -> PathBuf {
    std::env::var_os("TESSERA_VECTORS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/vectors"
            ))
        })
        .join(VECTOR_FILE)
}

#[derive(Deserialize)]
struct VectorFile {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Vector {
    id: String,
    produced_by: ProducedBy,
    /// sign-up, sign-in, get-session, ... as better-auth answered them;
    /// absent for hand-assembled cookie combinations.
    #[serde(default)]
    steps: Value,
    checks: Vec<Check>,
}

#[derive(Deserialize)]
struct ProducedBy {
    harness: Harness,
}

/// The refserver configuration. Unknown keys fail the test: a new knob in
/// the vectors must be mapped here, not silently ignored.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Harness {
    /// `stateless`, `memory` or `memory+cache`.
    mode: String,
    /// `""` (better-auth's default for the mode), `compact`, `jwt`, `jwe`.
    #[serde(default)]
    strategy: String,
    #[serde(default)]
    plugins: Vec<String>,
    secret: String,
    #[serde(rename = "baseURL")]
    base_url: String,
    cache_max_age: Option<u64>,
    cache_version: Option<String>,
    expires_in: Option<u64>,
    // Part of the base URL or fixed by the harness (rate limiting is off).
    #[serde(rename = "port")]
    _port: Value,
    #[serde(rename = "host")]
    _host: Value,
    #[serde(rename = "rateLimit")]
    _rate_limit: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Check {
    name: String,
    /// `fresh` or `same`.
    presented_to: String,
    /// For `fresh`, `{harness, env}`; for `same`, a sentence.
    #[serde(default)]
    verifier_config: Value,
    request_cookie_header: String,
    #[serde(default)]
    request_query: Option<Map<String, Value>>,
    /// Absent on plugin-endpoint checks (`list-device-sessions`).
    checked_at_ms: Option<i64>,
    /// `accepted` or `rejected`; absent on plugin-endpoint checks.
    outcome: Option<String>,
    status: u16,
    #[serde(default)]
    body: Value,
    #[serde(default)]
    set_cookie: Vec<String>,
    session_data_reissued: Option<bool>,
    session_data_expired: Option<bool>,
    session_token_expired: Option<bool>,
    /// The re-issued cookies presented again after a stateless refresh.
    #[serde(rename = "checks_after_refresh")]
    checks_after_refresh: Option<Box<Check>>,
}

impl Check {
    fn recorded_flags(&self) -> Option<CookieFlags> {
        Some(CookieFlags {
            session_data_reissued: self.session_data_reissued?,
            session_data_expired: self.session_data_expired?,
            session_token_expired: self.session_token_expired?,
        })
    }

    fn is_same_instance(&self) -> bool {
        self.presented_to == "same"
    }
}

/// What a response did to the session cookies, judged from the last
/// `Set-Cookie` line for each name: a non-empty live value re-issues it, an
/// empty value or `Max-Age=0` expires it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CookieFlags {
    session_data_reissued: bool,
    session_data_expired: bool,
    session_token_expired: bool,
}

impl CookieFlags {
    fn of(set_cookie: &[String]) -> CookieFlags {
        let lines: Vec<SetCookieLine> =
            set_cookie.iter().map(|l| SetCookieLine::parse(l)).collect();
        let last = |names: &[&str]| {
            lines
                .iter()
                .rev()
                .find(|l| names.contains(&l.name.as_str()))
        };
        let expired = |l: &SetCookieLine| l.value.is_empty() || l.is_expired();
        // A chunked cache is written as `.0`, `.1`, ...; `.0` stands for it.
        let data = last(&[SESSION_DATA, "better-auth.session_data.0"]);
        let token = last(&[SESSION_TOKEN]);
        CookieFlags {
            session_data_reissued: data.is_some_and(|l| !expired(l)),
            session_data_expired: data.is_some_and(expired),
            session_token_expired: token.is_some_and(expired),
        }
    }
}

/// Tessera configured as the refserver was (its README, "Configuration").
fn build_tessera(harness: &Harness, now_ms: i64) -> Auth {
    let mut options = Options::new()
        .secret(harness.secret.clone())
        .base_url(harness.base_url.clone())
        .rate_limit(false);
    if let Some(secs) = harness.expires_in {
        options.session.expires_in = secs;
    }
    // Plugins found by id (multi-session) are turned on here; custom-session
    // needs its function and is added to the builder below.
    options.plugins = linked_plugins(harness);
    let cache = &mut options.session.cookie_cache;
    // STRATEGY is ignored in memory mode: better-auth gets no cookieCache.
    if harness.mode != "memory" {
        if harness.mode == "memory+cache" {
            cache.enabled = Some(true);
        }
        if !harness.strategy.is_empty() {
            cache.strategy = Some(
                CacheStrategy::parse(&harness.strategy)
                    .unwrap_or_else(|| panic!("unknown strategy {:?}", harness.strategy)),
            );
        }
        cache.max_age = harness.cache_max_age;
        cache.version = harness.cache_version.clone().map(CacheVersion::Static);
    }
    let builder =
        Auth::builder(options).clock(Arc::new(TestClock::at(Timestamp::from_millis(now_ms))));
    let mut builder = match harness.mode.as_str() {
        // No database: better-auth's stateless mode (cache on, jwe,
        // maxAge = expiresIn, refreshCache on; spec §4.1).
        "stateless" => builder,
        "memory" | "memory+cache" => builder.database(Arc::new(MemoryDatabase::new())),
        other => panic!("unknown harness mode {other:?}"),
    };
    if harness.plugins.iter().any(|p| p == "custom-session") {
        builder = builder.plugin(Arc::new(refserver_custom_session()));
    }
    builder.build().expect("the harness configuration builds")
}

/// The refserver's `customSession` (auth-config.mjs): `({user, session}) =>
/// ({roles: ["user"], user: {...user, newField: "newField"}, session})`.
fn refserver_custom_session() -> CustomSession<impl tessera_custom_session::SessionShaper> {
    CustomSession::new(|s: SessionWithUser, _| async move {
        let SessionWithUser { session, mut user } = s;
        user.extra.insert("newField".into(), json!("newField"));
        Ok(json!({ "roles": ["user"], "user": user, "session": session }))
    })
}

fn linked_plugins(harness: &Harness) -> Vec<String> {
    harness
        .plugins
        .iter()
        .filter(|id| tessera::plugin::find(id).is_some())
        .cloned()
        .collect()
}

/// Every `{session, user}` pair in `v` whose session has a token.
fn session_rows(v: &Value, out: &mut Vec<(Session, User)>) {
    match v {
        Value::Object(map) => {
            if let (Some(s), Some(u)) = (map.get("session"), map.get("user")) {
                if s.get("token").is_some() && u.get("id").is_some() {
                    let session = serde_json::from_value(s.clone()).expect("a session row");
                    let user = serde_json::from_value(u.clone()).expect("a user row");
                    out.push((session, user));
                }
            }
            map.values().for_each(|v| session_rows(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| session_rows(v, out)),
        _ => {}
    }
}

/// The rows the issuing instance held: every session better-auth returned
/// in the vector's steps, and every session its `same` checks were
/// answered with from the store (the only record of them in vectors
/// without steps, such as `stateless-jwe-token-mismatch`).
fn issuing_instance_rows(vector: &Vector) -> Vec<(Session, User)> {
    let mut rows = Vec::new();
    session_rows(&vector.steps, &mut rows);
    for check in all_checks(&vector.checks) {
        if check.is_same_instance() {
            session_rows(&check.body, &mut rows);
        }
    }
    let mut seen = HashSet::new();
    rows.retain(|(s, _)| seen.insert(s.token.clone()));
    rows
}

async fn seed(auth: &Auth, rows: &[(Session, User)]) {
    let db = auth.sessions().database();
    let mut users = HashSet::new();
    for (session, user) in rows {
        if users.insert(user.id.clone()) {
            db.create_user(user).await.expect("seed user");
        }
        db.create_session(session).await.expect("seed session");
    }
}

/// A check and the checks nested in it, in file order.
fn all_checks(checks: &[Check]) -> Vec<&Check> {
    let mut out = Vec::new();
    for check in checks {
        let mut next = Some(check);
        while let Some(c) = next {
            out.push(c);
            next = c.checks_after_refresh.as_deref();
        }
    }
    out
}

/// Counted straight from the JSON, independently of the typed replay.
fn count_checks_in_file(v: &Value) -> usize {
    match v {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| match (k.as_str(), v) {
                ("checks", Value::Array(items)) => {
                    items.len() + items.iter().map(count_checks_in_file).sum::<usize>()
                }
                ("checks_after_refresh", Value::Object(_)) => 1 + count_checks_in_file(v),
                _ => count_checks_in_file(v),
            })
            .sum(),
        Value::Array(items) => items.iter().map(count_checks_in_file).sum(),
        _ => 0,
    }
}

struct Answer {
    status: StatusCode,
    body: Value,
    set_cookie: Vec<String>,
}

impl Answer {
    /// accepted = 200 with a non-null `body.session` (the vectors' meaning).
    fn accepted(&self) -> bool {
        self.status == StatusCode::OK && self.body.get("session").is_some_and(|s| !s.is_null())
    }

    fn flags(&self) -> CookieFlags {
        CookieFlags::of(&self.set_cookie)
    }
}

async fn send(auth: &Auth, path_and_query: &str, cookie_header: &str) -> Answer {
    let req = Request::get(path_and_query)
        .header("cookie", cookie_header)
        .header("user-agent", USER_AGENT)
        .header("x-forwarded-for", CLIENT_IP)
        .body(Bytes::new())
        .expect("a valid request");
    let res = auth.handle(req).await;
    let (parts, body) = res.into_parts();
    Answer {
        status: parts.status,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        set_cookie: parts
            .headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().expect("ASCII Set-Cookie").to_owned())
            .collect(),
    }
}

fn get_session_uri(query: Option<&Map<String, Value>>) -> String {
    let mut uri = "/api/auth/get-session".to_owned();
    let pairs: Vec<String> = query
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            format!(
                "{}={}",
                utf8_percent_encode(k, NON_ALPHANUMERIC),
                utf8_percent_encode(&v, NON_ALPHANUMERIC)
            )
        })
        .collect();
    if !pairs.is_empty() {
        uri.push('?');
        uri.push_str(&pairs.join("&"));
    }
    uri
}

/// How a check is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Expectation {
    /// Tessera must do what better-auth did.
    SameAsBetterAuth,
    /// better-auth answered 500 (defect (a)); Tessera answers a clean miss.
    CleanMissInsteadOf500,
    /// better-auth rejected a valid cache because the user's name looks
    /// like a date (defect (b)); Tessera keeps the user signed in.
    AcceptedDespiteIsoLikeName,
    /// A plugin endpoint, not `/get-session`: status and body.
    PluginEndpoint,
}

fn expectation(vector: &Vector, check: &Check) -> Expectation {
    if check.outcome.is_none() {
        Expectation::PluginEndpoint
    } else if check.status == 500 {
        Expectation::CleanMissInsteadOf500
    } else if vector.id.contains("-iso-like-name-") {
        Expectation::AcceptedDespiteIsoLikeName
    } else {
        Expectation::SameAsBetterAuth
    }
}

/// The session better-auth's issuing instance returned right after sign-in.
fn issued_session(vector: &Vector) -> &Value {
    &vector.steps["getSession"]["body"]
}

struct Replay {
    replayed: usize,
    /// How many checks were judged each way.
    judged: BTreeMap<Expectation, usize>,
    mismatches: Vec<String>,
}

impl Replay {
    async fn check(&mut self, vector: &Vector, check: &Check) {
        self.replayed += 1;
        let label = format!(
            "{} / {} [{} @ {}]",
            vector.id,
            check.name,
            check.presented_to,
            check
                .checked_at_ms
                .map_or_else(|| "-".to_owned(), |t| t.to_string())
        );
        let mut differ = |what: String| self.mismatches.push(format!("{label}: {what}"));

        // The flag interpretation must reproduce better-auth's own verdict
        // from its recorded Set-Cookie lines before it judges Tessera's.
        let recorded_flags = check.recorded_flags();
        if let Some(recorded) = recorded_flags {
            let derived = CookieFlags::of(&check.set_cookie);
            if derived != recorded {
                differ(format!(
                    "flag interpretation: recorded {recorded:?}, derived from better-auth's Set-Cookie {derived:?}"
                ));
            }
        }

        // A fresh check names its verifier's config; one that does not
        // (the plugin-endpoint checks) ran under the issuing config.
        let harness = match check.verifier_config.get("harness") {
            Some(h) if !check.is_same_instance() => {
                serde_json::from_value(h.clone()).expect("a verifier harness")
            }
            _ => vector.produced_by.harness.clone(),
        };

        let expect = expectation(vector, check);
        *self.judged.entry(expect).or_default() += 1;
        let Some(recorded_outcome) = check.outcome.as_deref() else {
            self.plugin_endpoint_check(vector, check, &harness, &label)
                .await;
            return;
        };
        let now_ms = check
            .checked_at_ms
            .expect("a get-session check has checkedAtMs");
        let auth = build_tessera(&harness, now_ms);
        if check.is_same_instance() {
            seed(&auth, &issuing_instance_rows(vector)).await;
        }
        let answer = send(
            &auth,
            &get_session_uri(check.request_query.as_ref()),
            &check.request_cookie_header,
        )
        .await;
        let mut differ = |what: String| self.mismatches.push(format!("{label}: {what}"));

        // Tessera answers /get-session with 200 every time here.
        if answer.status != StatusCode::OK {
            differ(format!(
                "status {} (better-auth {}), body {}",
                answer.status, check.status, answer.body
            ));
            return;
        }
        let tessera_outcome = if answer.accepted() {
            "accepted"
        } else {
            "rejected"
        };
        match expect {
            Expectation::PluginEndpoint => unreachable!("handled above"),
            Expectation::SameAsBetterAuth => {
                if check.status != 200 {
                    differ(format!("better-auth status {} unexpected", check.status));
                }
                if tessera_outcome != recorded_outcome {
                    differ(format!(
                        "outcome {tessera_outcome} (better-auth {recorded_outcome}); Tessera body {}, Set-Cookie {:?}",
                        answer.body, answer.set_cookie
                    ));
                    return;
                }
                if answer.body != check.body {
                    differ(format!(
                        "body\n      Tessera:     {}\n      better-auth: {}",
                        answer.body, check.body
                    ));
                }
                if let Some(recorded) = recorded_flags {
                    let tessera = answer.flags();
                    if tessera != recorded {
                        differ(format!(
                            "cookies {tessera:?} (better-auth {recorded:?})\n      Tessera Set-Cookie:     {:?}\n      better-auth Set-Cookie: {:?}",
                            abbreviate(&answer.set_cookie),
                            abbreviate(&check.set_cookie)
                        ));
                    }
                }
            }
            // Known better-auth defect (a), refserver README: a compact
            // cookie with a non-base64 character, or a jwt/jwe cookie sent
            // to a compact server, makes better-auth answer 500. Tessera
            // treats an undecodable cache as a miss (spec §6.4 step 6): a
            // fresh instance then has no session and answers 200 null; the
            // issuing instance falls back to its store and answers with the
            // session, as better-auth does for every other undecodable
            // cache cookie it is shown (e.g. `tampered-compact-raw-flip`).
            Expectation::CleanMissInsteadOf500 => {
                let expected = if check.is_same_instance() {
                    issued_session(vector).clone()
                } else {
                    Value::Null
                };
                if answer.body != expected {
                    differ(format!(
                        "better-auth's 500 should be a clean miss: Tessera body {}, expected {expected}",
                        answer.body
                    ));
                }
            }
            // Known better-auth defect (b), refserver README: safeJSONParse
            // revives every ISO-looking string, so a user named like a
            // timestamp fails the cache's schema and better-auth rejects a
            // valid cache. Tessera must keep that user signed in from the
            // cache, with their name intact, and expire nothing.
            Expectation::AcceptedDespiteIsoLikeName => {
                let name = &vector.steps["signUp"]["request"]["body"]["name"];
                if !answer.accepted() || answer.body["user"]["name"] != *name {
                    differ(format!(
                        "a user named {name} must stay signed in: Tessera body {}",
                        answer.body
                    ));
                } else if answer.body != *issued_session(vector) {
                    differ(format!(
                        "body\n      Tessera:   {}\n      as issued: {}",
                        answer.body,
                        issued_session(vector)
                    ));
                }
                let flags = answer.flags();
                if flags.session_data_expired || flags.session_token_expired {
                    differ(format!("a valid cache must not be expired: {flags:?}"));
                }
            }
        }
    }

    /// A request to a plugin endpoint (`/multi-session/list-device-sessions`)
    /// on a fresh instance: Tessera must answer with better-auth's status
    /// and body (a 404 for an endpoint it lacks is a mismatch like any
    /// other).
    async fn plugin_endpoint_check(
        &mut self,
        vector: &Vector,
        check: &Check,
        harness: &Harness,
        label: &str,
    ) {
        let step = vector
            .steps
            .as_object()
            .into_iter()
            .flatten()
            .find_map(|(_, step)| {
                let url = step["request"]["url"].as_str()?;
                url.ends_with(&format!("/{}", check.name)).then_some(step)
            })
            .unwrap_or_else(|| panic!("{label}: no step for this endpoint"));
        let url = step["request"]["url"].as_str().expect("url");
        let at_ms = step["atMs"].as_i64().expect("atMs");
        let auth = build_tessera(harness, at_ms);
        let answer = send(&auth, url, &check.request_cookie_header).await;
        if answer.status.as_u16() != check.status || answer.body != check.body {
            self.mismatches.push(format!(
                "{label}: GET {url}: Tessera {} {} (plugins linked: {:?} of {:?}), better-auth {} {}",
                answer.status,
                answer.body,
                linked_plugins(harness),
                harness.plugins,
                check.status,
                check.body
            ));
        }
    }
}

/// Set-Cookie lines with long values shortened, for readable reports.
fn abbreviate(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            let line = SetCookieLine::parse(l);
            if line.value.len() > 24 {
                let cut = line.value.char_indices().nth(16).map_or(0, |(i, _)| i);
                format!(
                    "{}={}…({} chars); {}",
                    line.name,
                    &line.value[..cut],
                    line.value.len(),
                    line.attributes.join("; ")
                )
            } else {
                l.clone()
            }
        })
        .collect()
}

#[tokio::test]
async fn every_recorded_get_session_check_replays_against_tessera() {
    tessera_stateless_refresh::link();
    tessera_multi_session::link();
    let path = vector_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("vectors at {}: {e}", path.display()));
    let raw: Value = serde_json::from_str(&text).expect("vector JSON");
    let file: VectorFile = serde_json::from_value(raw.clone()).expect("vector file shape");

    let mut replay = Replay {
        replayed: 0,
        judged: BTreeMap::new(),
        mismatches: Vec::new(),
    };
    for vector in &file.vectors {
        for check in all_checks(&vector.checks) {
            replay.check(vector, check).await;
        }
    }

    println!(
        "replayed {} checks from {} vectors ({} mismatches)",
        replay.replayed,
        file.vectors.len(),
        replay.mismatches.len()
    );
    for (expect, n) in &replay.judged {
        println!("  {n:>4} judged as {expect:?}");
    }
    assert_eq!(
        replay.replayed,
        count_checks_in_file(&raw["vectors"]),
        "every check in {} is replayed",
        path.display()
    );
    assert!(
        replay.mismatches.is_empty(),
        "{} differences from better-auth 1.7.25 in {} replayed checks:\n  - {}",
        replay.mismatches.len(),
        replay.replayed,
        replay.mismatches.join("\n  - ")
    );
}
