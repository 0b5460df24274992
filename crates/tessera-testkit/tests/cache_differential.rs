//! Differential tests of the cookie cache (spec §2, §3, §4.1) between
//! better-auth 1.7.25 in stateless mode (the reference server, `MODE=stateless
//! STRATEGY=<s>`) and a stateless Tessera (no database, no secondary storage)
//! with the same secret, in both directions and for every strategy.
//!
//! A stateless server holds no rows for a session another process issued, so
//! when it accepts such a session it is the cookies alone that convinced it.
//! Each check presents cookies to a server that did not issue them.
//!
//! Every test needs better-auth: without node/npm they print a SKIPPED banner
//! and pass, unless `CI=true` (then they fail). Run with `--nocapture` to see
//! what better-auth answered where only Tessera's answer is pinned.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use tessera::cache::{CacheStrategy, CacheVersion, Jwe, Miss, SESSION_SALT};
use tessera::cookie::sign_value;
use tessera::{Auth, Clock, Options, Secrets, SystemClock, TestClock, Timestamp};
use tessera_testkit::{
    decode_uri_component, encode_uri_component, require_refserver, ClientCookies, RefServer,
    Target, TestRequest, TestResponse,
};

/// The reference server's default `SECRET`.
const REF_SECRET: &str = "refharness-fixed-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
/// The secret a rotation moves to.
const NEW_SECRET: &str = "rotated-secret-version-two-9876543210-ZYXWVUTSRQPONMLKJIHGFEDCBA";
const PASSWORD: &str = "password1234";
const NAME: &str = "Ada Lovelace";
const SESSION_TOKEN: &str = "better-auth.session_token";
const SESSION_DATA: &str = "better-auth.session_data";
/// better-auth's `MAX_COOKIE_SIZE`: the whole `Set-Cookie` string (spec §2.7).
const MAX_COOKIE_SIZE: usize = 4050;
const STRATEGIES: [CacheStrategy; 3] = [
    CacheStrategy::Compact,
    CacheStrategy::Jwt,
    CacheStrategy::Jwe,
];

/// Starts better-auth in stateless mode with a cookie-cache strategy and
/// extra environment, or returns from the test (skip rule).
macro_rules! stateless_refserver {
    ($strategy:expr $(, $k:literal => $v:expr)* $(,)?) => {{
        let strategy = $strategy.to_string();
        require_refserver!(&[("MODE", "stateless"), ("STRATEGY", strategy.as_str()) $(, ($k, $v))*])
    }};
}

// ---------------------------------------------------------------------------
// Tessera, configured like the reference server
// ---------------------------------------------------------------------------

/// Stateless Tessera options matching `server`: same secret, `base_url` its
/// origin, the strategy set explicitly, rate limiting off.
fn options(server: &RefServer, strategy: CacheStrategy) -> Options {
    let mut o = Options::new()
        .secret(REF_SECRET)
        .base_url(server.base_url())
        .trusted_origin(format!("http://localhost:{}", server.port()))
        .rate_limit(false);
    o.session.cookie_cache.strategy = Some(strategy);
    o
}

/// Builds a stateless Tessera (no `.database(..)`, no secondary storage),
/// on `clock` when given.
fn build(options: Options, clock: Option<&TestClock>) -> Auth {
    tessera_stateless_refresh::link();
    let builder = Auth::builder(options);
    let builder = match clock {
        Some(c) => builder.clock(Arc::new(c.clone())),
        None => builder,
    };
    let auth = builder.build().expect("tessera builds");
    assert!(auth.is_stateless());
    auth
}

fn target(auth: Auth, server: &RefServer) -> Target {
    Target::auth(auth, server.base_url())
}

/// A stateless Tessera with `strategy` and everything else at its defaults.
fn tessera(server: &RefServer, strategy: CacheStrategy) -> Target {
    target(build(options(server, strategy), None), server)
}

fn real_now() -> Timestamp {
    SystemClock.now()
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

fn unique_email(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "cache-{tag}-{}-{}@example.com",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

async fn sign_up(
    target: &Target,
    origin: &str,
    email: &str,
    name: &str,
) -> (TestResponse, ClientCookies) {
    let res = target
        .send(
            &TestRequest::post("/api/auth/sign-up/email")
                .origin(origin)
                .json(&json!({ "email": email, "password": PASSWORD, "name": name })),
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
            &TestRequest::post("/api/auth/sign-in/email")
                .origin(origin)
                .json(&json!({ "email": email, "password": PASSWORD })),
        )
        .await;
    assert_eq!(res.status, 200, "{} sign-in: {}", target.label(), res.text);
    let mut cookies = ClientCookies::new();
    cookies.update(&res);
    (res, cookies)
}

async fn get_session(target: &Target, cookies: &ClientCookies) -> TestResponse {
    target
        .send(&TestRequest::get("/api/auth/get-session").cookies(cookies))
        .await
}

// ---------------------------------------------------------------------------
// Reading answers
// ---------------------------------------------------------------------------

/// A long value shortened for messages.
fn short(v: &str) -> String {
    if v.len() <= 48 {
        v.to_owned()
    } else {
        format!("{}…{} ({} chars)", &v[..24], &v[v.len() - 12..], v.len())
    }
}

fn describe_cookies(cookies: &ClientCookies) -> String {
    cookies
        .header()
        .unwrap_or_default()
        .split("; ")
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => format!("{k}={}", short(v)),
            None => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn describe_response(res: &TestResponse) -> String {
    let set_cookies: Vec<String> = res
        .cookies()
        .iter()
        .map(|c| {
            format!(
                "{}={}; {}",
                c.name,
                short(&c.value),
                c.attributes.join("; ")
            )
        })
        .collect();
    format!(
        "{} {} set-cookie={set_cookies:?}",
        res.status,
        short(&res.text)
    )
}

/// One exchange, for assertion messages: who answered, the cookies sent,
/// the answer.
fn exchange(who: &str, cookies: &ClientCookies, res: &TestResponse) -> String {
    format!(
        "{who}: GET /api/auth/get-session\n    cookie: {}\n    answer: {}",
        describe_cookies(cookies),
        describe_response(res)
    )
}

/// `{session, user}` of an accepted answer, or `None` (`null`, an error).
fn session_of(res: &TestResponse) -> Option<&Value> {
    let body = res.json.as_ref().filter(|_| res.status == 200)?;
    (body.get("session")?.is_object() && body.get("user")?.is_object()).then_some(body)
}

/// Asserts an accepted answer whose `{session, user}` equals `expected`'s
/// (serde_json's maps compare without regard to key order).
fn assert_same_session(expected: &TestResponse, res: &TestResponse, context: &str) {
    let want = session_of(expected)
        .unwrap_or_else(|| panic!("{context}: the reference answer is not a session"));
    let got = session_of(res).unwrap_or_else(|| panic!("{context}: not accepted"));
    assert_eq!(
        got, want,
        "{context}: a different session\n    expected: {want}\n    got:      {got}"
    );
}

/// Asserts a `200 null` that expires `session_data`: the cache was rejected
/// and the (empty) store had nothing.
fn assert_rejected_cache(res: &TestResponse, context: &str) {
    assert_eq!(
        (res.status, res.text.as_str()),
        (200, "null"),
        "{context}: expected 200 null"
    );
    assert!(
        res.expired_cookie_names().contains(SESSION_DATA),
        "{context}: session_data is not expired"
    );
}

/// The live (not expired) `Set-Cookie` for `name`, if any.
fn live_cookie(res: &TestResponse, name: &str) -> Option<tessera_testkit::SetCookieLine> {
    res.set_cookie(name).filter(|c| !c.is_expired())
}

/// Names of the `session_data` cookies a response sets, sorted.
fn session_data_names(res: &TestResponse) -> Vec<String> {
    let mut names: Vec<String> = res
        .cookies()
        .into_iter()
        .filter(|c| c.name == SESSION_DATA || c.name.starts_with(&format!("{SESSION_DATA}.")))
        .map(|c| c.name)
        .collect();
    names.sort_by_key(|n| chunk_index(n));
    names
}

fn chunk_index(name: &str) -> Option<usize> {
    name.strip_prefix(SESSION_DATA)?
        .strip_prefix('.')?
        .parse()
        .ok()
}

/// `name`, the attributes with `Expires` masked, for every cookie set —
/// what two servers agree on when they agree on everything but the clock.
fn cookie_shapes(res: &TestResponse) -> BTreeSet<String> {
    res.cookie_shapes().into_iter().collect()
}

// ---------------------------------------------------------------------------
// 1. better-auth -> Tessera
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn better_auth_cache_is_accepted_by_tessera() {
    for strategy in STRATEGIES {
        let server = stateless_refserver!(strategy);
        let origin = server.base_url();
        let ba = Target::http(origin);
        let email = unique_email("ba2ts");
        sign_up(&ba, origin, &email, NAME).await;
        let (_, cookies) = sign_in(&ba, origin, &email).await;
        assert!(cookies.get(SESSION_DATA).is_some(), "{strategy}: no cache");

        let theirs = get_session(&ba, &cookies).await;
        let ctx = exchange(&format!("{strategy}: better-auth"), &cookies, &theirs);
        assert!(session_of(&theirs).is_some(), "{ctx}");
        assert!(theirs.set_cookies.is_empty(), "a fresh cache hit: {ctx}");

        // Two instances that share nothing with better-auth or each other.
        for instance in ["a tessera", "a second, fresh tessera"] {
            let ts = tessera(&server, strategy);
            let ours = get_session(&ts, &cookies).await;
            let ctx = format!(
                "{strategy}: {instance}\n{}\n{}",
                exchange("better-auth", &cookies, &theirs),
                exchange("tessera", &cookies, &ours)
            );
            assert_same_session(&theirs, &ours, &ctx);
            assert!(ours.set_cookies.is_empty(), "no Set-Cookie: {ctx}");
        }
    }
}

// ---------------------------------------------------------------------------
// 2. Tessera -> better-auth
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn tessera_cache_is_accepted_by_better_auth() {
    for strategy in STRATEGIES {
        let server = stateless_refserver!(strategy);
        let origin = server.base_url();
        let ba = Target::http(origin);
        let ts = tessera(&server, strategy);
        let email = unique_email("ts2ba");
        let (up, cookies) = sign_up(&ts, origin, &email, NAME).await;
        let token = up.json.as_ref().unwrap()["token"].as_str().unwrap();

        let ours = get_session(&ts, &cookies).await;
        let theirs = get_session(&ba, &cookies).await;
        let ctx = format!(
            "{strategy}\n{}\n{}",
            exchange("tessera", &cookies, &ours),
            exchange("better-auth", &cookies, &theirs)
        );
        assert_same_session(&ours, &theirs, &ctx);
        assert_eq!(theirs.json.as_ref().unwrap()["session"]["token"], token);
        assert_eq!(theirs.json.as_ref().unwrap()["user"]["email"], email);
        assert!(theirs.set_cookies.is_empty(), "{ctx}");
    }
}

// ---------------------------------------------------------------------------
// 3. Version mismatch
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn cache_versions_must_match_in_both_directions() {
    for strategy in STRATEGIES {
        let ba_v2_server = stateless_refserver!(strategy, "CACHE_VERSION" => "2");
        let ba_v1_server = stateless_refserver!(strategy);
        let origin = ba_v2_server.base_url();
        let ba_v1 = Target::http(ba_v1_server.base_url());
        let ba_v2 = Target::http(origin);
        let versioned = |v: &str| {
            let mut o = options(&ba_v2_server, strategy);
            o.session.cookie_cache.version = Some(CacheVersion::Static(v.to_owned()));
            target(build(o, None), &ba_v2_server)
        };
        let (ts_v1, ts_v2) = (versioned("1"), versioned("2"));

        let (_, from_ba_v1) =
            sign_up(&ba_v1, ba_v1_server.base_url(), &unique_email("v"), NAME).await;
        let (_, from_ba_v2) = sign_up(&ba_v2, origin, &unique_email("v"), NAME).await;
        let (_, from_ts_v1) = sign_up(&ts_v1, origin, &unique_email("v"), NAME).await;
        let (_, from_ts_v2) = sign_up(&ts_v2, origin, &unique_email("v"), NAME).await;

        // (issuer, its cookies, its own reading, the reader with the same
        // version, the reader with the other version), each reader being
        // the other implementation.
        let cases: [(&str, &ClientCookies, &Target, &Target, &Target); 4] = [
            ("better-auth v1", &from_ba_v1, &ba_v1, &ts_v1, &ts_v2),
            ("better-auth v2", &from_ba_v2, &ba_v2, &ts_v2, &ts_v1),
            ("tessera v1", &from_ts_v1, &ts_v1, &ba_v1, &ba_v2),
            ("tessera v2", &from_ts_v2, &ts_v2, &ba_v2, &ba_v1),
        ];
        let mut rejections = Vec::new();
        for (issuer, cookies, own, same, other) in cases {
            let reference = get_session(own, cookies).await;
            let accepted = get_session(same, cookies).await;
            let rejected = get_session(other, cookies).await;
            let ctx = format!(
                "{strategy}, cookies of {issuer}\n{}\n{}\n{}",
                exchange(&format!("{} (issuer)", own.label()), cookies, &reference),
                exchange(
                    &format!("{} same version", same.label()),
                    cookies,
                    &accepted
                ),
                exchange(
                    &format!("{} other version", other.label()),
                    cookies,
                    &rejected
                ),
            );
            assert_same_session(&reference, &accepted, &ctx);
            assert!(accepted.set_cookies.is_empty(), "{ctx}");
            assert_rejected_cache(&rejected, &ctx);
            rejections.push((other.label(), cookie_shapes(&rejected), ctx));
        }
        // Both implementations clear the same cookies, with the same
        // attributes, on a version mismatch.
        let ba_rejection = rejections.iter().find(|e| e.0 == "better-auth").unwrap();
        let ts_rejection = rejections.iter().find(|e| e.0 == "tessera").unwrap();
        assert_eq!(
            ba_rejection.1, ts_rejection.1,
            "{strategy}: the cookies expired differ\n{}\n{}",
            ba_rejection.2, ts_rejection.2
        );
    }
}

// ---------------------------------------------------------------------------
// 4. refreshCache window, with an injected clock instead of sleeping
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn refresh_window_matches_without_sleeping() {
    for strategy in STRATEGIES {
        let server = stateless_refserver!(strategy, "CACHE_MAX_AGE" => "20");
        let origin = server.base_url();
        let ba = Target::http(origin);
        let short_cache = |clock: &TestClock| {
            let mut o = options(&server, strategy);
            o.session.cookie_cache.max_age = Some(20);
            let auth = build(o, Some(clock));
            assert!(
                auth.plugin_ids().contains(&"stateless-refresh"),
                "the refresh plugin is linked"
            );
            // refreshCache: true → updateAge = floor(20 * 0.2) = 4 s.
            assert_eq!(auth.cookie_cache().refresh_update_age, Some(4));
            target(auth, &server)
        };

        // better-auth issues now (real time); its cache expires in 20 s.
        let (_, issued) = sign_up(&ba, origin, &unique_email("refresh"), NAME).await;
        let after_issue = real_now();
        let baseline = get_session(&ba, &issued).await;
        let ctx = exchange("better-auth", &issued, &baseline);
        assert!(session_of(&baseline).is_some(), "{strategy}: {ctx}");
        assert!(baseline.set_cookies.is_empty(), "{strategy}: {ctx}");

        // 3 s later: 17 s left, more than updateAge → served as is.
        let clock = TestClock::at(after_issue.plus_secs(3));
        let ts = short_cache(&clock);
        let early = get_session(&ts, &issued).await;
        let ctx = format!(
            "{strategy}, tessera at issue + 3 s\n{}",
            exchange("tessera", &issued, &early)
        );
        assert_same_session(&baseline, &early, &ctx);
        assert!(early.set_cookies.is_empty(), "no refresh yet: {ctx}");

        // At the session's creation + 17.5 s: 2.5 s left (1.5–2.5 s for
        // jwt/jwe, whose exp is whole seconds) → re-issued.
        let created = Timestamp::parse_iso(
            baseline.json.as_ref().unwrap()["session"]["createdAt"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        clock.set(created.plus_millis(17_500));
        let late = get_session(&ts, &issued).await;
        let ctx = format!(
            "{strategy}, tessera at issue + 17.5 s\n{}",
            exchange("tessera", &issued, &late)
        );
        assert_same_session(&baseline, &late, &ctx);
        let data = live_cookie(&late, SESSION_DATA)
            .unwrap_or_else(|| panic!("session_data not re-issued: {ctx}"));
        assert_eq!(data.attribute("Max-Age"), Some("20"), "{ctx}");
        assert_ne!(Some(data.value.as_str()), issued.get(SESSION_DATA), "{ctx}");
        let token = live_cookie(&late, SESSION_TOKEN)
            .unwrap_or_else(|| panic!("session_token not re-issued: {ctx}"));
        assert_eq!(token.attribute("Max-Age"), Some("604800"), "{ctx}");
        let ts_refresh_shapes = cookie_shapes(&late);

        // better-auth, in real time, accepts Tessera's re-issued cookies, and
        // the session still ends when it was created to end.
        let mut reissued = issued.clone();
        reissued.update(&late);
        let back = get_session(&ba, &reissued).await;
        let ctx = format!("{strategy}\n{}", exchange("better-auth", &reissued, &back));
        assert_same_session(&baseline, &back, &ctx);
        assert_eq!(
            back.json.as_ref().unwrap()["session"]["expiresAt"],
            baseline.json.as_ref().unwrap()["session"]["expiresAt"],
            "the refresh never extends the session: {ctx}"
        );
        assert!(back.set_cookies.is_empty(), "{ctx}");

        // Reverse: Tessera issues 17 s in the past, so in real time its cache
        // has 3 s left (2–3 s for jwt/jwe) → better-auth re-issues it.
        let clock = TestClock::at(real_now().plus_millis(-17_000));
        let ts = short_cache(&clock);
        let (_, ours) = sign_up(&ts, origin, &unique_email("refresh"), NAME).await;
        let own = get_session(&ts, &ours).await;
        assert!(session_of(&own).is_some());
        let theirs = get_session(&ba, &ours).await;
        let ctx = format!(
            "{strategy}, tessera's cache in its last 4 s\n{}",
            exchange("better-auth", &ours, &theirs)
        );
        assert_same_session(&own, &theirs, &ctx);
        let data = live_cookie(&theirs, SESSION_DATA)
            .unwrap_or_else(|| panic!("better-auth did not re-issue session_data: {ctx}"));
        assert_eq!(data.attribute("Max-Age"), Some("20"), "{ctx}");
        assert!(live_cookie(&theirs, SESSION_TOKEN).is_some(), "{ctx}");
        // The same cookies, attribute for attribute, as Tessera's refresh.
        assert_eq!(
            cookie_shapes(&theirs),
            ts_refresh_shapes,
            "{strategy}: better-auth's refresh cookies differ from tessera's\n{ctx}\n{}",
            describe_response(&late)
        );

        // And Tessera, back in real time, takes better-auth's re-issue.
        clock.set(real_now());
        let mut refreshed = ours.clone();
        refreshed.update(&theirs);
        let again = get_session(&ts, &refreshed).await;
        let ctx = format!("{strategy}\n{}", exchange("tessera", &refreshed, &again));
        assert_same_session(&own, &again, &ctx);
        assert!(again.set_cookies.is_empty(), "{ctx}");
    }
}

// ---------------------------------------------------------------------------
// 5. Chunking
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn chunked_caches_interoperate() {
    // 6000 characters: every strategy's session_data exceeds one cookie.
    let long_name: String = "Ada Lovelace ".repeat(500).chars().take(6000).collect();
    for strategy in STRATEGIES {
        let server = stateless_refserver!(strategy);
        let origin = server.base_url();
        let ba = Target::http(origin);
        let ts = tessera(&server, strategy);
        let (ba_up, ba_cookies) = sign_up(&ba, origin, &unique_email("chunk"), &long_name).await;
        let (ts_up, ts_cookies) = sign_up(&ts, origin, &unique_email("chunk"), &long_name).await;

        for (who, res) in [("better-auth", &ba_up), ("tessera", &ts_up)] {
            for line in &res.set_cookies {
                assert!(
                    line.len() <= MAX_COOKIE_SIZE,
                    "{strategy}: {who} wrote a {}-byte Set-Cookie: {}",
                    line.len(),
                    short(line)
                );
            }
        }
        let names = session_data_names(&ba_up);
        assert!(
            names.len() > 1 && names.iter().all(|n| chunk_index(n).is_some()),
            "{strategy}: better-auth did not chunk: {names:?}"
        );
        assert_eq!(
            session_data_names(&ts_up),
            names,
            "{strategy}: chunk names differ\n    better-auth: {}\n    tessera:     {}",
            describe_response(&ba_up),
            describe_response(&ts_up)
        );
        // Every chunk but the last is exactly one chunk size long, the same
        // on both sides (spec §2.7: 4050 − the `.99` overhead).
        let full_chunks = |res: &TestResponse| -> Vec<usize> {
            let mut lens: Vec<usize> = names
                .iter()
                .map(|n| res.set_cookie(n).unwrap().value.len())
                .collect();
            lens.pop();
            lens
        };
        assert_eq!(full_chunks(&ba_up), full_chunks(&ts_up), "{strategy}");
        eprintln!(
            "chunking, {strategy}: {names:?}, full chunks {:?} chars, longest Set-Cookie {} / {} bytes (better-auth / tessera)",
            full_chunks(&ba_up),
            ba_up.set_cookies.iter().map(String::len).max().unwrap_or(0),
            ts_up.set_cookies.iter().map(String::len).max().unwrap_or(0),
        );

        let theirs = get_session(&ba, &ba_cookies).await;
        let ours = get_session(&ts, &ba_cookies).await;
        let ctx = format!(
            "{strategy}: better-auth's chunks\n{}\n{}",
            exchange("better-auth", &ba_cookies, &theirs),
            exchange("tessera", &ba_cookies, &ours)
        );
        assert_same_session(&theirs, &ours, &ctx);
        assert_eq!(ours.json.as_ref().unwrap()["user"]["name"], long_name);
        assert!(ours.set_cookies.is_empty(), "{ctx}");

        let ours = get_session(&ts, &ts_cookies).await;
        let theirs = get_session(&ba, &ts_cookies).await;
        let ctx = format!(
            "{strategy}: tessera's chunks\n{}\n{}",
            exchange("tessera", &ts_cookies, &ours),
            exchange("better-auth", &ts_cookies, &theirs)
        );
        assert_same_session(&ours, &theirs, &ctx);
        assert!(theirs.set_cookies.is_empty(), "{ctx}");
    }
}

// ---------------------------------------------------------------------------
// 6. Rotated secrets
// ---------------------------------------------------------------------------

/// Tessera goes beyond better-auth here: better-auth, rotated to
/// `secrets: [{2, NEW}, {1, OLD}]`, still decrypts an OLD JWE (by its `kid`)
/// but verifies the signed `session_token` with the current secret only
/// (spec §11.2), so a rotation signs everyone out. Tessera verifies the
/// token with every configured secret and keeps those sessions.
#[tokio::test(flavor = "multi_thread")]
async fn rotated_secrets_read_old_caches_and_write_new_ones() {
    let strategy = CacheStrategy::Jwe;
    let ref_old = stateless_refserver!(strategy);
    let ref_new = stateless_refserver!(strategy, "SECRET" => NEW_SECRET);
    // better-auth itself rotated: BETTER_AUTH_SECRETS wins over `secret`,
    // which stays as the legacy secret.
    let rotated_env = format!("2:{NEW_SECRET},1:{REF_SECRET}");
    let ba_rotated = stateless_refserver!(strategy, "BETTER_AUTH_SECRETS" => rotated_env.as_str());
    let origin = ref_old.base_url();
    let (old, new, ba_rot) = (
        Target::http(origin),
        Target::http(ref_new.base_url()),
        Target::http(ba_rotated.base_url()),
    );
    let secrets = Secrets::versioned(
        vec![(2, NEW_SECRET.to_owned()), (1, REF_SECRET.to_owned())],
        None,
    )
    .unwrap();
    let ts = target(
        build(options(&ref_old, strategy).secrets(secrets), None),
        &ref_old,
    );

    // Cookies better-auth issued with the old secret.
    let (up, from_old) = sign_up(&old, origin, &unique_email("rot"), NAME).await;
    let token = up.json.as_ref().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let reference = get_session(&old, &from_old).await;
    let ours = get_session(&ts, &from_old).await;
    let ctx = format!(
        "old cookies\n{}\n{}",
        exchange("better-auth (old secret)", &from_old, &reference),
        exchange("tessera (rotated)", &from_old, &ours)
    );
    assert_same_session(&reference, &ours, &ctx);
    assert!(ours.set_cookies.is_empty(), "{ctx}");

    // better-auth rotated: the old token's signature no longer verifies, so
    // no session at all (step 3 of spec §6.4) — where Tessera keeps it.
    let theirs = get_session(&ba_rot, &from_old).await;
    let ctx = exchange("better-auth (rotated)", &from_old, &theirs);
    eprintln!("rotation, old cookies, better-auth rotated: {ctx}");
    assert_eq!(
        (theirs.status, theirs.text.as_str()),
        (200, "null"),
        "{ctx}"
    );
    // ...while its JWE still decrypts by kid: with the token re-signed with
    // the new secret, the old cache is accepted by both.
    let mut mixed = from_old.clone();
    mixed.insert(
        SESSION_TOKEN,
        encode_uri_component(&sign_value(&Secrets::single(NEW_SECRET), &token)),
    );
    for target in [&ba_rot, &ts] {
        let res = get_session(target, &mixed).await;
        let ctx = exchange(&format!("{} (rotated)", target.label()), &mixed, &res);
        assert_same_session(&reference, &res, &ctx);
        assert!(res.set_cookies.is_empty(), "{ctx}");
    }

    // Cookies Tessera issues are sealed and signed with the new secret.
    let (up, from_ts) = sign_up(&ts, origin, &unique_email("rot"), NAME).await;
    let token = up.json.as_ref().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let signed = decode_uri_component(from_ts.get(SESSION_TOKEN).unwrap());
    assert_eq!(signed, sign_value(&Secrets::single(NEW_SECRET), &token));
    let data = from_ts.get(SESSION_DATA).unwrap();
    let jwe_with = |secret: &str| Jwe::new(&Secrets::single(secret), SESSION_SALT).unwrap();
    assert!(jwe_with(NEW_SECRET).decrypt(data).is_ok());
    assert_eq!(jwe_with(REF_SECRET).decrypt(data), Err(Miss::UnknownKey));

    let ours = get_session(&ts, &from_ts).await;
    for (who, target, accepts) in [
        ("better-auth with SECRET=NEW", &new, true),
        ("better-auth rotated", &ba_rot, true),
        ("better-auth with the old secret", &old, false),
    ] {
        let res = get_session(target, &from_ts).await;
        let ctx = format!(
            "tessera's new cookies\n{}\n{}",
            exchange("tessera (rotated)", &from_ts, &ours),
            exchange(who, &from_ts, &res)
        );
        if accepts {
            assert_same_session(&ours, &res, &ctx);
        } else {
            assert_eq!((res.status, res.text.as_str()), (200, "null"), "{ctx}");
        }
    }
}

// ---------------------------------------------------------------------------
// 7. Tampering
// ---------------------------------------------------------------------------

/// `value` with the character at `at` replaced by `with(original)`.
fn replace_char(value: &str, at: usize, with: impl Fn(char) -> char) -> String {
    value
        .char_indices()
        .map(|(i, c)| if i == at { with(c) } else { c })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_caches_are_rejected_without_errors() {
    for strategy in STRATEGIES {
        let issuer = stateless_refserver!(strategy);
        // A second better-auth with an empty store: like Tessera, it has only
        // the cookies to go on.
        let verifier = stateless_refserver!(strategy);
        let origin = issuer.base_url();
        let ba_issuer = Target::http(origin);
        let ba = Target::http(verifier.base_url());
        let ts = tessera(&issuer, strategy);
        let (_, cookies) = sign_up(&ba_issuer, origin, &unique_email("tamper"), NAME).await;

        // Untouched, both accept: the rejections below are the tampering's.
        let reference = get_session(&ba_issuer, &cookies).await;
        for target in [&ba, &ts] {
            let res = get_session(target, &cookies).await;
            assert_same_session(&reference, &res, &exchange(target.label(), &cookies, &res));
        }

        let value = cookies.get(SESSION_DATA).unwrap().to_owned();
        let mut at = value.len() / 2;
        while value.as_bytes()[at] == b'.' {
            at += 1;
        }
        let tamperings = [
            (
                "one base64url character flipped",
                replace_char(&value, at, |c| if c == 'A' { 'B' } else { 'A' }),
            ),
            ("a non-base64 character", replace_char(&value, at, |_| '~')),
        ];
        for (how, tampered) in tamperings {
            let mut bad = cookies.clone();
            bad.insert(SESSION_DATA, tampered);
            let ours = get_session(&ts, &bad).await;
            let theirs = get_session(&ba, &bad).await;
            let ctx = format!(
                "{strategy}, {how}\n{}\n{}",
                exchange("tessera", &bad, &ours),
                exchange("better-auth (fresh)", &bad, &theirs)
            );
            eprintln!("tampering: {ctx}");
            assert_rejected_cache(&ours, &ctx);
            // better-auth must not accept it either; it may answer 500 (a
            // known defect for compact), which is only recorded.
            assert!(session_of(&theirs).is_none(), "{ctx}");
            if theirs.status == 200 {
                assert_rejected_cache(&theirs, &ctx);
                assert_eq!(cookie_shapes(&theirs), cookie_shapes(&ours), "{ctx}");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// 8. Cross-strategy
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_cache_of_another_strategy_is_a_clean_miss() {
    struct Side {
        strategy: CacheStrategy,
        _server: RefServer,
        ba: Target,
        ts: Target,
        from_ba: ClientCookies,
        from_ts: ClientCookies,
    }
    let mut sides = Vec::new();
    for strategy in STRATEGIES {
        let server = stateless_refserver!(strategy);
        let origin = server.base_url().to_owned();
        let ba = Target::http(&origin);
        let ts = tessera(&server, strategy);
        let (_, from_ba) = sign_up(&ba, &origin, &unique_email("cross"), NAME).await;
        let (_, from_ts) = sign_up(&ts, &origin, &unique_email("cross"), NAME).await;
        sides.push(Side {
            strategy,
            _server: server,
            ba,
            ts,
            from_ba,
            from_ts,
        });
    }
    for from in &sides {
        for to in &sides {
            if from.strategy == to.strategy {
                // The control: the same strategy is a hit.
                let res = get_session(&to.ts, &from.from_ba).await;
                assert!(session_of(&res).is_some(), "{}", describe_response(&res));
                continue;
            }
            let mut ours = Vec::new();
            for (issuer, cookies) in [("better-auth", &from.from_ba), ("tessera", &from.from_ts)] {
                let res = get_session(&to.ts, cookies).await;
                let ctx = format!(
                    "{issuer}'s {} cache sent to a {} tessera\n{}",
                    from.strategy,
                    to.strategy,
                    exchange("tessera", cookies, &res)
                );
                assert_rejected_cache(&res, &ctx);
                ours.push(res);
            }
            // better-auth's own answer, for the record (spec: a jwt/jwe cache
            // sent to a compact better-auth is a 500).
            let theirs = get_session(&to.ba, &from.from_ba).await;
            let ctx = format!(
                "better-auth's {} cache sent to a {} better-auth (fresh)\n{}",
                from.strategy,
                to.strategy,
                exchange("better-auth", &from.from_ba, &theirs)
            );
            eprintln!("cross-strategy: {ctx}");
            assert!(session_of(&theirs).is_none(), "{ctx}");
            if theirs.status == 200 {
                assert_rejected_cache(&theirs, &ctx);
                assert_eq!(
                    cookie_shapes(&theirs),
                    cookie_shapes(&ours[0]),
                    "{ctx}\n{}",
                    exchange("tessera", &from.from_ba, &ours[0])
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Revocation lag (docs/revocation.md)
// ---------------------------------------------------------------------------

/// A signed-out session's cookies, replayed: better-auth with a database and
/// the cookie cache (`MODE=memory+cache`) still answers the session from the
/// cache until it expires. Tessera with `revocation_lag: None` answers the
/// same; with its default lag it answers `null` (a deliberate difference,
/// SECURITY.md).
#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_cache_after_sign_out_matches_better_auth_only_without_a_lag() {
    for strategy in STRATEGIES {
        let name = strategy.to_string();
        let server = require_refserver!(&[("MODE", "memory+cache"), ("STRATEGY", name.as_str())]);
        let origin = server.base_url();
        let email = unique_email("replay");
        let email = email.as_str();
        let replay = |target: Target, label: &'static str| async move {
            let (_, cookies) = sign_up(&target, origin, email, NAME).await;
            assert!(
                cookies.get(SESSION_DATA).is_some(),
                "{strategy} {label}: no cache"
            );
            let out = target
                .send(
                    &TestRequest::post("/api/auth/sign-out")
                        .origin(origin)
                        .cookies(&cookies)
                        .json(&json!({})),
                )
                .await;
            assert_eq!(out.status, 200, "{strategy} {label}: {}", out.text);
            // The cookies as they were before the sign-out, replayed.
            get_session(&target, &cookies).await
        };
        let theirs = replay(Target::http(origin), "better-auth").await;
        assert!(
            session_of(&theirs).is_some(),
            "{strategy}: better-auth answers from its cache: {}",
            theirs.text
        );
        let tessera_with = |lag: Option<std::time::Duration>| {
            let mut o = options(&server, strategy);
            o.session.cookie_cache.enabled = Some(true);
            o.session.revocation_lag = lag;
            let auth = Auth::builder(o)
                .database(Arc::new(tessera::store::MemoryDatabase::new()))
                .build()
                .expect("tessera builds");
            Target::auth(auth, origin)
        };
        let ours = replay(tessera_with(None), "tessera, no lag").await;
        // Same fields and values but for ids and times (better-auth's
        // memory adapter orders a session's keys its own way).
        let shape = |r: &TestResponse| sorted(&tessera_testkit::json::normalized(r.body()));
        assert_eq!(
            shape(&ours),
            shape(&theirs),
            "{strategy}: revocation_lag None answers as better-auth"
        );
        let lagged = replay(
            tessera_with(Some(std::time::Duration::from_secs(1))),
            "tessera",
        )
        .await;
        assert_eq!(
            lagged.json,
            Some(Value::Null),
            "{strategy}: with a lag the revocation is known: {}",
            lagged.text
        );
    }
}

/// `v` with every object's keys in sorted order.
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by_key(|(k, _)| *k);
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}
