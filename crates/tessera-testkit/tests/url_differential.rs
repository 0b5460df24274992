//! Differential test of URL checks: tricky callback URLs and origins sent to
//! better-auth 1.7.25 and to Tessera with the same trusted origins, compared
//! on status, `code` and `message` (issue 11, hole #3).
//!
//! The kernel pins the same verdicts without Node
//! (`tessera::api::trusted` tests); this test keeps them honest against
//! better-auth's own code. Without node/npm it prints a SKIPPED banner and
//! passes, unless `CI=true`.

use std::sync::Arc;

use serde_json::{json, Value};
use tessera::store::MemoryDatabase;
use tessera::{Auth, Options};
use tessera_testkit::{
    encode_uri_component, require_refserver, RefServer, Target, TestRequest, TestResponse,
};

/// The reference server's default `SECRET`.
const SECRET: &str = "refharness-fixed-secret-0123456789-abcdefghijklmnopqrstuvwxyz";

/// Trusted besides the base URL: an exact origin, wildcards over an origin,
/// a host and address ranges, custom schemes, an IDN and an IPv6 literal.
/// better-auth reads them from `BETTER_AUTH_TRUSTED_ORIGINS`.
const PATTERNS: &[&str] = &[
    "https://app.example.com",
    "https://*.example.org",
    "*.example.net",
    "192.168.*.*",
    "http://10.*",
    "myapp://",
    "exp://host/cb",
    "exp://*.example.com/c?/**",
    "https://xn--bcher-kva.example",
    "http://[::1]:3000",
];

/// Inputs; `{host}` is the servers' `127.0.0.1:<port>`.
const INPUTS: &[&str] = &[
    // Backslashes.
    "http://evil.example\\@{host}/x",
    "https://evil.example\\@app.example.com",
    "http://{host}\\@evil.example/x",
    "https://app.example.com\\.evil.example",
    "http://{host}/\\evil",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "http:\\\\evil.example",
    "http:\\\\{host}",
    // Userinfo, fragments, queries.
    "http://{host}@evil.example/x",
    "https://user:pass@app.example.com/x",
    "https://app.example.com@evil.example",
    "https://evil.example#@app.example.com",
    "https://evil.example?@app.example.com",
    // Tabs, newlines, controls, spaces.
    "http://{host}/ok\tx",
    "http://app.example.c\tom",
    "ht\ntp://{host}",
    "http://evil.exa\nmple",
    "  http://{host}",
    "http://{host} ",
    "https://app.example.com\u{0}",
    "/ok\tx",
    "/ok\n",
    "/\t/evil.example",
    "/ok\u{85}",
    // Scripts and data.
    "javascript:alert(1)",
    "JAVASCRIPT:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "file:///etc/passwd",
    "blob:https://app.example.com/uuid",
    // Scheme-relative and slash-less.
    "//evil.example",
    "//{host}",
    "http:evil.example",
    "http:{host}",
    "http:/{host}/x",
    "not a url",
    "app.example.com",
    "",
    // IDN.
    "https://bücher.example",
    "https://xn--bcher-kva.example",
    "https://BÜCHER.example/x",
    "https://bücher.example.org",
    // Ports.
    "https://app.example.com:443/x",
    "https://app.example.com:0443",
    "https://app.example.com:",
    "https://app.example.com:8443",
    "https://app.example.com:65536",
    "https://app.example.com:-1",
    "http://127.0.0.1:80",
    // Percent-encoded separators.
    "/%2F%2Fevil.example",
    "/%5Cevil.example",
    "/a%2fb",
    "/a?next=%2F%2Fevil.example",
    "/a#%5C",
    "/%40evil.example",
    "/%2e%2e/x",
    "https://evil.example%2F@app.example.com",
    "https://evil.example%5C@app.example.com",
    "https://app.example.com%2F@evil.example",
    "https://app.example.com%40evil.example",
    "https://app.example.com/%2F%2Fevil",
    "https://app%2Eexample.com",
    // Case and trailing dots.
    "HTTPS://APP.EXAMPLE.COM/X",
    "HTTP://{host}",
    "http://app.example.com",
    "https://app.example.com./",
    "http://{host}.",
    "https://a.example.org.",
    // IPv6.
    "http://[::1]:3000",
    "http://[0:0::1]:3000/x",
    "http://[::2]:3000",
    "http://[::1]:3001",
    "http://[::1",
    // Origin wildcards.
    "https://a.example.org",
    "https://a.b.example.org",
    "https://example.org",
    "http://a.example.org",
    "https://evil.com?.example.org",
    "https://evil.com#.example.org",
    "https://evil.com\\.example.org",
    // Host wildcards.
    "https://a.example.net",
    "https://a.example.net:8443",
    // Address ranges.
    "http://192.168.1.1",
    "https://192.168.1.1",
    "http://192.168.1.1:8080",
    "http://192.168.0x1.1",
    "http://3232235777",
    "http://192.168.evil.com",
    "http://192.168.1.1.evil.com",
    "http://10.0.0.1:99",
    "https://10.0.0.1",
    "http://10.evil.com",
    // Custom schemes.
    "myapp://callback",
    "MYAPP://callback",
    "myapp:callback",
    "exp://host/cb",
    "exp://host/cb/x",
    "exp://host/cb?x=1",
    "exp://HOST/cb",
    "exp://host/cbx",
    "exp://host/CB",
    "exp://host/cb/../evil",
    "exp://host/cb/%2e%2e/evil",
    "exp://host/cb/%E0%A4%A",
    "exp://host.evil/cb",
    "exp://evil@host/cb",
    "exp:host/cb",
    "exp://a.example.com/cb",
    "exp://a.example.com/cbx/y",
    "exp://a.example.com\\cb",
    "exp://a.example.com/c/",
    "exp://evil@a.example.com/cb",
    "exp://a.example.com:8081/cb/../c1",
    // Accepted by the `url` crate, refused by browsers.
    "myapp://@",
    "myapp://:@/x",
    "myapp://callback:\\x",
    "myapp://@callback",
    // Relative paths.
    "/dashboard",
    "/",
];

/// Inputs better-auth trusts and Tessera deliberately does not: a host-only
/// wildcard (`*.example.net`) admits only http and https URLs in Tessera
/// (and URLs past `MAX_URL_LENGTH` are never trusted).
const STRICTER: &[&str] = &[
    "javascript://app.example.net/%0aalert(1)",
    "ftp://a.example.net",
    "ws://a.example.net",
];

/// better-auth with [`PATTERNS`] trusted, and a Tessera configured the same.
struct Pair {
    server: RefServer,
    ba: Target,
    ts: Target,
}

impl Pair {
    fn new(server: RefServer) -> Pair {
        let origin = server.base_url().to_owned();
        let mut options = Options::new()
            .secret(SECRET)
            .base_url(origin.clone())
            // The refserver also trusts http://localhost:PORT (its README).
            .trusted_origin(format!("http://localhost:{}", server.port()))
            .rate_limit(false);
        for p in PATTERNS {
            options = options.trusted_origin(*p);
        }
        let auth = Auth::builder(options)
            .database(Arc::new(MemoryDatabase::new()))
            .build()
            .expect("tessera builds");
        Pair {
            ba: Target::http(origin.clone()),
            ts: Target::auth(auth, origin),
            server,
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.server.port())
    }

    async fn both(&self, req: &TestRequest) -> (TestResponse, TestResponse) {
        (self.ba.send(req).await, self.ts.send(req).await)
    }
}

macro_rules! require_pair {
    () => {
        Pair::new(require_refserver!(&[
            ("MODE", "memory"),
            ("BETTER_AUTH_TRUSTED_ORIGINS", &PATTERNS.join(",")),
        ]))
    };
}

/// A sign-in that fails on its malformed email after the URL checks, so
/// no password is hashed: 400 `INVALID_EMAIL` when the URL is trusted.
fn sign_in(origin: &str, body_extra: Value) -> TestRequest {
    let mut body = json!({"email": "not-an-email", "password": "password1234"});
    if let (Value::Object(b), Value::Object(extra)) = (&mut body, body_extra) {
        b.extend(extra);
    }
    TestRequest::post("/api/auth/sign-in/email")
        .origin(origin)
        .json(&body)
}

/// Status, code and message: what a client sees of the verdict.
fn verdict(r: &TestResponse) -> (u16, Option<&str>, Option<&str>) {
    (r.status, r.code(), r.message())
}

#[tokio::test]
async fn callback_urls_are_judged_as_better_auth_judges_them() {
    let pair = require_pair!();
    let origin = pair.server.base_url().to_owned();
    let mut differ = Vec::new();
    let mut refused = 0;
    for input in INPUTS {
        let url = input.replace("{host}", &pair.host());
        let (ba, ts) = pair
            .both(&sign_in(&origin, json!({"callbackURL": url})))
            .await;
        if verdict(&ba) != verdict(&ts) {
            differ.push(format!(
                "callbackURL {url:?}: better-auth {:?}, tessera {:?}",
                verdict(&ba),
                verdict(&ts)
            ));
        }
        refused += usize::from(ba.status == 403);
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    // The table is not all one verdict: both refusals and passes are compared.
    assert!(refused > 20 && refused < INPUTS.len() - 20, "{refused}");
}

#[tokio::test]
async fn every_url_field_and_the_query_are_checked_alike() {
    let pair = require_pair!();
    let origin = pair.server.base_url().to_owned();
    let mut differ = Vec::new();
    let evil = "http://evil.example\\@app.example.com/x";
    let cases = [
        (
            "body redirectTo",
            sign_in(&origin, json!({"redirectTo": evil})),
        ),
        (
            "body errorCallbackURL",
            sign_in(&origin, json!({"errorCallbackURL": evil})),
        ),
        (
            "body newUserCallbackURL",
            sign_in(&origin, json!({"newUserCallbackURL": evil})),
        ),
        (
            "body redirectTo, trusted",
            sign_in(&origin, json!({"redirectTo": "/x"})),
        ),
        ("query callbackURL", {
            let mut r = sign_in(&origin, json!({}));
            r.path = format!("{}?callbackURL={}", r.path, encode_uri_component(evil));
            r
        }),
        ("query callbackURL, body's trusted", {
            let mut r = sign_in(&origin, json!({"callbackURL": "/x"}));
            r.path = format!("{}?callbackURL={}", r.path, encode_uri_component(evil));
            r
        }),
        ("query callbackURL, body's empty", {
            let mut r = sign_in(&origin, json!({"callbackURL": ""}));
            r.path = format!("{}?callbackURL={}", r.path, encode_uri_component(evil));
            r
        }),
        ("number", sign_in(&origin, json!({"callbackURL": 5}))),
        ("zero", sign_in(&origin, json!({"callbackURL": 0}))),
        (
            "object",
            sign_in(&origin, json!({"callbackURL": {"href": "/x"}})),
        ),
        ("array", sign_in(&origin, json!({"callbackURL": []}))),
        ("true", sign_in(&origin, json!({"callbackURL": true}))),
        ("false", sign_in(&origin, json!({"callbackURL": false}))),
        (
            "redirectTo number",
            sign_in(&origin, json!({"redirectTo": 1})),
        ),
    ];
    for (label, req) in &cases {
        let (ba, ts) = pair.both(req).await;
        if verdict(&ba) != verdict(&ts) {
            differ.push(format!(
                "{label}: better-auth {:?}, tessera {:?}",
                verdict(&ba),
                verdict(&ts)
            ));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

#[tokio::test]
async fn origin_headers_are_judged_as_better_auth_judges_them() {
    let pair = require_pair!();
    let mut differ = Vec::new();
    // As a header value: no controls, no surrounding space, ASCII.
    let header_safe = |s: &str| s.bytes().all(|b| (0x20..0x7f).contains(&b)) && s.trim() == s;
    for input in INPUTS.iter().filter(|i| header_safe(i)) {
        let origin = input.replace("{host}", &pair.host());
        // A cookie makes the origin check apply (better-auth's `useCookies`).
        let req = TestRequest::post("/api/auth/sign-out")
            .header("cookie", "foo=bar")
            .origin(origin.clone())
            .json(&json!({}));
        let (ba, ts) = pair.both(&req).await;
        if verdict(&ba) != verdict(&ts) {
            differ.push(format!(
                "Origin {origin:?}: better-auth {:?}, tessera {:?}",
                verdict(&ba),
                verdict(&ts)
            ));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// The deliberate differences: better-auth trusts these, Tessera refuses.
#[tokio::test]
async fn tessera_is_deliberately_stricter_than_better_auth_here() {
    let pair = require_pair!();
    let origin = pair.server.base_url().to_owned();
    let long = format!("/{}", "a".repeat(tessera::api::MAX_URL_LENGTH));
    for url in STRICTER.iter().copied().chain([long.as_str()]) {
        let (ba, ts) = pair
            .both(&sign_in(&origin, json!({"callbackURL": url})))
            .await;
        assert_eq!(ba.code(), Some("INVALID_EMAIL"), "better-auth trusts {url}");
        assert_eq!(ts.status, 403, "{url}");
        assert_eq!(ts.code(), Some("INVALID_CALLBACK_URL"), "{url}");
    }
}
