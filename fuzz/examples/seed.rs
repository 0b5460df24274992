//! Writes the fuzz targets' seed corpora into `fuzz/seeds/<target>/`, from
//! the shared better-auth test vectors, the Lambda adapter's event
//! fixtures, and a few hand-made edge cases per target.
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example seed -- [VECTORS_DIR]
//! ```
//!
//! `VECTORS_DIR` defaults to `../shared/vectors` from the repository root.
//! The seeds are committed; run this again when the vectors or a target's
//! input layout change. Each target's seeds are few and small: the fuzzer
//! finds the rest.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tessera::cache::{CacheStrategy, CacheVersion, SessionCache};
use tessera::cookie::{encode_uri_component, sign_value};
use tessera::oauth::{AccountCookie, LinkData, Purpose, StateCipher, StateData};
use tessera::store::Account;
use tessera::{Secrets, Session, User};
use tessera_fuzz::{
    device_cookie, oauth_secrets, secrets, signed_cookie, EndpointInput, Server, DEVICE_TOKENS,
    NOW, OLDER_SECRET, SESSION_TOKEN, SESSION_TOKEN_COOKIE,
};

/// At most this many seeds per target come from the vectors.
const FROM_VECTORS: usize = 48;

/// What the vectors hold, by kind, deduplicated.
#[derive(Default)]
struct Harvest {
    cookie_headers: BTreeSet<String>,
    signed_values: BTreeSet<String>,
    /// `(strategy index, value)`: 0 compact, 1 jwt, 2 jwe.
    caches: BTreeSet<(u8, String)>,
    urls: BTreeSet<String>,
    /// `(path below /api/auth, body)`.
    bodies: BTreeSet<(String, String)>,
    /// `oauth_state` and `account_data` values, and decrypted states.
    oauth: BTreeSet<String>,
    /// ID tokens the recorded OpenID provider issued.
    id_tokens: BTreeSet<String>,
}

impl Harvest {
    fn walk(&mut self, key: &str, value: &Value, parent: &Value) {
        match value {
            Value::String(s) => self.string(key, s, parent),
            Value::Array(items) => items.iter().for_each(|v| self.walk(key, v, value)),
            Value::Object(map) => {
                if let (Some(Value::String(url)), Some(body)) = (map.get("url"), map.get("body")) {
                    if let Some(path) = url.strip_prefix("/api/auth") {
                        let path = path.split('?').next().unwrap_or_default();
                        self.bodies.insert((path.to_owned(), body.to_string()));
                    }
                }
                for (k, v) in map {
                    self.walk(k, v, value);
                }
            }
            _ => {}
        }
    }

    fn string(&mut self, key: &str, s: &str, parent: &Value) {
        let lower = key.to_ascii_lowercase();
        if lower.contains("cookieheader") || lower == "cookie" {
            self.cookie_headers.insert(s.to_owned());
        }
        let oauth_parent = parent
            .get("cookieName")
            .is_some_and(|n| *n == "better-auth.oauth_state")
            || parent
                .get("salt")
                .is_some_and(|salt| *salt == "better-auth-account");
        if (key == "rawValue" && oauth_parent) || key == "decryptedJSON" {
            self.oauth.insert(s.to_owned());
        }
        if (key == "idToken" || key == "id_token") && s.split('.').count() == 3 {
            self.id_tokens.insert(s.to_owned());
        }
        if key == "urlDecoded" {
            self.signed_values.insert(s.to_owned());
        }
        if key == "rawValue" {
            let format = parent["decoded"]["format"].as_str();
            let strategy = match format {
                Some("compact") => Some(0),
                Some("jwt") => Some(1),
                Some("jwe") => Some(2),
                _ => None,
            };
            match strategy {
                Some(i) => {
                    self.caches.insert((i, s.to_owned()));
                }
                None => {
                    self.signed_values.insert(s.to_owned());
                }
            }
        }
        if (s.starts_with("http://") || s.starts_with("https://")) && s.len() < 300 {
            self.urls.insert(s.to_owned());
        }
    }
}

/// Writes one target's seeds, replacing what was there.
struct Corpus {
    dir: PathBuf,
    count: usize,
}

impl Corpus {
    fn new(root: &Path, target: &str) -> Self {
        let dir = root.join(target);
        if dir.exists() {
            fs::remove_dir_all(&dir).expect("remove old seeds");
        }
        fs::create_dir_all(&dir).expect("create the seed directory");
        Corpus { dir, count: 0 }
    }

    fn add(&mut self, name: &str, bytes: impl AsRef<[u8]>) {
        self.count += 1;
        let file = self.dir.join(format!("{:03}-{name}", self.count));
        fs::write(file, bytes).expect("write a seed");
    }

    fn add_all<'a>(&mut self, name: &str, items: impl IntoIterator<Item = &'a String>) {
        for item in items.into_iter().take(FROM_VECTORS) {
            self.add(name, item);
        }
    }
}

fn main() {
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = fuzz_dir.parent().expect("fuzz/ is inside the repository");
    let vectors = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("../shared/vectors"));
    let mut harvest = Harvest::default();
    for entry in fs::read_dir(&vectors)
        .unwrap_or_else(|e| panic!("cannot read the vectors at {}: {e}", vectors.display()))
    {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = fs::read_to_string(&path).expect("read a vector file");
            let value: Value = serde_json::from_str(&text).expect("vectors are JSON");
            harvest.walk("", &value, &Value::Null);
        }
    }
    let seeds = fuzz_dir.join("seeds");

    cookie_header(&seeds, &harvest);
    signed_values(&seeds, &harvest);
    cache_decode(&seeds, &harvest);
    endpoint_body(&seeds, &harvest);
    origin_check(&seeds, &harvest);
    device_cookies(&seeds, &harvest);
    oauth_cookies(&seeds, &harvest);
    lambda_event(&seeds, &repo.join("adapters/lambda/tests/fixtures"));
    id_token(&seeds, &harvest);
}

fn cookie_header(seeds: &Path, harvest: &Harvest) {
    let mut c = Corpus::new(seeds, "cookie_header");
    c.add_all("vector", &harvest.cookie_headers);
    for (name, header) in [
        ("chunks", "better-auth.session_data.1=b; better-auth.session_data.0=a; better-auth.session_data.01=x"),
        ("exact-and-chunks", "better-auth.session_data.0=a; better-auth.session_data=whole"),
        ("duplicates", "a=1; a=2; b=3; a=4"),
        ("quoted", "a=\"quoted value\"; b=\"; c=%22x%22"),
        ("percent", "a=%E2%82%AC; b=%ZZ; c=%; d=%F0%9F"),
        ("empty-parts", ";; a=; =b; ;c=1;"),
        ("spaces", "  a  =  1  ;b= 2 ; c =3"),
        ("two-headers", "a=1; b=2\nb=3; c=4"),
        ("secure", "__Secure-better-auth.session_token=t.s; __Host-x=1"),
        ("no-equals", "justaname; a=1"),
    ] {
        c.add(name, header);
    }
}

fn signed_values(seeds: &Path, harvest: &Harvest) {
    let mut c = Corpus::new(seeds, "signed_cookie");
    c.add_all("vector", &harvest.signed_values);
    let current = sign_value(&secrets(), SESSION_TOKEN);
    let older = sign_value(&Secrets::single(OLDER_SECRET), SESSION_TOKEN);
    c.add("current", &current);
    c.add("current-encoded", encode_uri_component(&current));
    c.add("older", &older);
    c.add("dots", sign_value(&secrets(), "a.b.c"));
    for edge in [
        "",
        ".",
        "a.",
        ".AAAA",
        "a.=",
        "t.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    ] {
        c.add("edge", edge);
    }
}

fn cache_decode(seeds: &Path, harvest: &Harvest) {
    let mut c = Corpus::new(seeds, "cache_decode");
    for (strategy, value) in harvest.caches.iter().take(FROM_VECTORS) {
        let mut bytes = vec![*strategy];
        bytes.extend_from_slice(value.as_bytes());
        c.add("vector", bytes);
    }
    // One fresh value per strategy, from the fuzz secrets, with extra
    // fields on both records.
    let user = User {
        name: "Seed".into(),
        email: "seed@example.com".into(),
        email_verified: true,
        image: Some("https://example.com/a.png".into()),
        created_at: NOW,
        updated_at: NOW,
        id: "SeedUser".into(),
        extra: json!({"nickname": "s", "n": 1.5})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    };
    let session = Session {
        expires_at: NOW.plus_secs(3600),
        token: SESSION_TOKEN.into(),
        created_at: NOW,
        updated_at: NOW,
        ip_address: None,
        user_agent: Some("seed".into()),
        user_id: user.id.clone(),
        id: "SeedSession".into(),
        extra: json!({"theme": ["dark", null]})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    };
    for (i, strategy) in [
        CacheStrategy::Compact,
        CacheStrategy::Jwt,
        CacheStrategy::Jwe,
    ]
    .into_iter()
    .enumerate()
    {
        let cache = SessionCache::new(strategy, &secrets(), 300, CacheVersion::default(), None)
            .expect("cache keys");
        let mut bytes = vec![i as u8];
        bytes.extend_from_slice(
            cache
                .encode(&session, &user, "1", NOW, Some(300))
                .as_bytes(),
        );
        c.add(&format!("fresh-{strategy}"), bytes);
    }
}

fn endpoint_body(seeds: &Path, harvest: &Harvest) {
    let mut c = Corpus::new(seeds, "endpoint_body");
    let server = Server::endpoints();
    let json_all = EndpointInput::SESSION | EndpointInput::DEVICE | EndpointInput::ORIGIN;
    for (i, (method, path)) in server.routes().iter().enumerate() {
        let mut bodies: Vec<String> = vec!["{}".into()];
        bodies.extend(
            harvest
                .bodies
                .iter()
                .filter(|(p, _)| p == path)
                .map(|(_, b)| b.clone())
                .take(2),
        );
        bodies.push(
            match path.as_str() {
                "/sign-up/email" => json!({"email": "a@example.com", "password": "password1234", "name": "A", "nickname": "n", "callbackURL": "/welcome", "rememberMe": false}),
                "/sign-in/email" => json!({"email": "fuzz0@example.com", "password": "password1234", "callbackURL": "http://127.0.0.1:3005/x", "rememberMe": true}),
                "/update-session" => json!({"theme": "dark"}),
                "/revoke-session" => json!({"token": SESSION_TOKEN}),
                "/multi-session/set-active" | "/multi-session/revoke" => json!({"sessionToken": SESSION_TOKEN}),
                _ => json!({"unexpected": [1, {"nested": null}]}),
            }
            .to_string(),
        );
        let route = u8::try_from(i).expect("fewer than 256 routes");
        let slug = format!("{method}{}", path.replace('/', "-"));
        for body in &bodies {
            let input = EndpointInput {
                route,
                flags: json_all,
                body: body.as_bytes(),
            };
            c.add(&slug, input.to_bytes());
        }
        if method == "POST" {
            let form = EndpointInput {
                route,
                flags: json_all | 1,
                body: b"email=a%40example.com&password=password1234&name=A",
            };
            c.add(&slug, form.to_bytes());
        }
    }
}

fn origin_check(seeds: &Path, harvest: &Harvest) {
    let mut c = Corpus::new(seeds, "origin_check");
    c.add_all("vector", &harvest.urls);
    for url in [
        "http://127.0.0.1:3005/dashboard",
        "https://app.example.com:443/x",
        "http://evil.example\\@127.0.0.1:3005/x",
        "http://127.0.0.1:3005\\@evil.example/x",
        "http://127.0.0.1:3005@evil.example/",
        "http://user:pass@127.0.0.1:3005/",
        "http://127.0.0.1:3005\t.evil.example/",
        "http://127.0.0.1:3005\n/x",
        "javascript:alert(1)",
        "JAVASCRIPT://127.0.0.1:3005/%0aalert(1)",
        "//evil.example/x",
        "/\\evil.example/x",
        "/\t/evil.example",
        "\\\\evil.example",
        "http:evil.example",
        "http:/127.0.0.1:3005",
        "https://xn--n3h.example.com/",
        "https://☃.example.com/",
        "http://127.0.0.1:03005/",
        "http://127.0.0.1:3005%2f@evil.example",
        "http://2130706433:3005/",
        "http://[::1]:3005/",
        "HTTPS://APP.EXAMPLE.COM./x",
        "myapp://callback",
        "http://192.168.evil.com:8080/",
        "https://a.b.example.com/",
        " http://127.0.0.1:3005/",
    ] {
        c.add("edge", url);
    }
}

fn device_cookies(seeds: &Path, harvest: &Harvest) {
    let mut c = Corpus::new(seeds, "device_cookies");
    let multi = harvest
        .cookie_headers
        .iter()
        .filter(|h| h.contains("_multi-"));
    for header in multi.take(FROM_VECTORS / 2) {
        for pick in [0u8, 1] {
            let mut bytes = vec![pick];
            bytes.extend_from_slice(header.as_bytes());
            c.add("vector", bytes);
        }
    }
    let all: Vec<String> = DEVICE_TOKENS.iter().map(|t| device_cookie(t)).collect();
    let session = signed_cookie(SESSION_TOKEN_COOKIE, DEVICE_TOKENS[0]);
    let renamed = format!(
        "{SESSION_TOKEN_COOKIE}_multi-someoneelse={}",
        all[1].split_once('=').map(|(_, v)| v).unwrap_or_default()
    );
    let headers = [
        all.join("; "),
        format!("{session}; {}", all[..2].join("; ")),
        format!("{}; {}; {}", all[2], all[2], all[0]),
        format!("{renamed}; {}", all[3]),
        all[4].clone(),
        all[0].to_uppercase(),
    ];
    for (i, header) in headers.iter().enumerate() {
        for pick in [0u8, 1 + 2 * i as u8] {
            let mut bytes = vec![pick];
            bytes.extend_from_slice(header.as_bytes());
            c.add("made", bytes);
        }
    }
}

fn oauth_cookies(seeds: &Path, harvest: &Harvest) {
    let mut c = Corpus::new(seeds, "oauth_cookies");
    c.add_all("vector", &harvest.oauth);
    // Fresh values under the fixtures' secrets: a `$ba$2$` envelope with
    // every state field, a link token, an account with every field.
    let state_cipher = StateCipher::new(&oauth_secrets(), Purpose::OAuthStateCookie);
    let link_cipher = StateCipher::new(&oauth_secrets(), Purpose::OAuthLinkSessionToken);
    let mut state = StateData::new("/after", "v".repeat(128), NOW.plus_secs(600));
    state
        .extra
        .insert("additional".into(), json!({"n": 1.5, "a": [null, true]}));
    state.error_url = Some("/error".into());
    state.new_user_url = Some("/welcome".into());
    state.link = Some(LinkData {
        user_id: "SeedUser".into(),
        email: "seed@example.com".into(),
        encrypted_session_token: Some(link_cipher.seal_str(SESSION_TOKEN)),
    });
    state.server_context = json!({"origin": "seed"}).as_object().cloned();
    state.request_sign_up = Some(true);
    state.id_token_nonce = Some("n".repeat(32));
    state.oauth_state = Some("s".repeat(32));
    c.add("state-json", state.to_json());
    c.add("state-envelope", state_cipher.seal(&state));
    c.add("link-token", link_cipher.seal_str(SESSION_TOKEN));
    let account = Account {
        id: "SeedAccount".into(),
        account_id: "seed".into(),
        provider_id: "oidc".into(),
        user_id: "SeedUser".into(),
        access_token: Some("access".into()),
        refresh_token: Some("refresh".into()),
        id_token: Some("header.payload.signature".into()),
        access_token_expires_at: Some(NOW.plus_secs(3600)),
        refresh_token_expires_at: Some(NOW.plus_secs(86_400)),
        scope: Some("openid,email".into()),
        password: None,
        created_at: NOW,
        updated_at: NOW,
    };
    let accounts = AccountCookie::new(&oauth_secrets()).expect("account cookie keys");
    c.add("account", accounts.seal(&account, NOW, 600));
    for edge in [
        "",
        "$ba$2$",
        "$ba$-0$00",
        "$ba$ 2$abc",
        "$ba$99999999999$00",
        "0",
        "0g",
        "..",
        "e30..AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        r#"{"callbackURL":"/","codeVerifier":"v","expiresAt":1.5,"link":{"userId":7,"email":"e"}}"#,
    ] {
        c.add("edge", edge);
    }
}

fn lambda_event(seeds: &Path, fixtures: &Path) {
    let mut c = Corpus::new(seeds, "lambda_event");
    let mut files: Vec<PathBuf> = fs::read_dir(fixtures)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", fixtures.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for file in files {
        let name = file.file_stem().and_then(|s| s.to_str()).unwrap_or("event");
        c.add(name, fs::read(&file).expect("read a fixture"));
    }
}

fn id_token(seeds: &Path, harvest: &Harvest) {
    let mut c = Corpus::new(seeds, "id_token");
    c.add_all("vector", &harvest.id_tokens);
    let Some(token) = harvest.id_tokens.iter().next() else {
        return;
    };
    let mut parts = token.split('.');
    let (header, payload, signature) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    // Other headers on the recorded payload and signature.
    for (name, other) in [
        // {"alg":"none"}
        ("alg-none", "eyJhbGciOiJub25lIn0"),
        // {"alg":"HS256","kid":"keystore-CHANGE-ME"}
        (
            "alg-hs256",
            "eyJhbGciOiJIUzI1NiIsImtpZCI6ImtleXN0b3JlLUNIQU5HRS1NRSJ9",
        ),
        // {"alg":"RS256"}: no kid
        ("no-kid", "eyJhbGciOiJSUzI1NiJ9"),
        // {"alg":"RS256","kid":"rotated"}
        ("other-kid", "eyJhbGciOiJSUzI1NiIsImtpZCI6InJvdGF0ZWQifQ"),
        // {"alg":"RS256","kid":7}
        ("kid-number", "eyJhbGciOiJSUzI1NiIsImtpZCI6N30"),
        // {"alg":"RS256","crit":["b64"],"b64":false}
        (
            "crit",
            "eyJhbGciOiJSUzI1NiIsImNyaXQiOlsiYjY0Il0sImI2NCI6ZmFsc2V9",
        ),
    ] {
        c.add(name, format!("{other}.{payload}.{signature}"));
    }
    c.add("no-signature", format!("{header}.{payload}."));
    c.add("padded", format!("{header}=.{payload}.{signature}"));
    // {"sub":"mallory"}: another payload under the recorded signature.
    c.add(
        "tampered",
        format!("{header}.eyJzdWIiOiJtYWxsb3J5In0.{signature}"),
    );
    for edge in ["", ".", "..", "...", "a.b.c", "e30.e30.e30"] {
        c.add("edge", edge);
    }
}
