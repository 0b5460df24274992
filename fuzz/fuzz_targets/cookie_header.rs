//! The `Cookie` header parser: `RequestCookies` from one header or several
//! (split at the first `\n` of the input), its lenient view (`get`, `iter`,
//! better-call's) and its strict one (`strict`, better-auth's
//! `parseCookies`), and chunk reassembly (`read_chunked`).
//!
//! Invariants: no panic; each view names a cookie once; `get` answers
//! every name `iter` yields, with its value; `read_chunked` prefers the
//! exact name.

#![no_main]

use std::collections::HashSet;
use std::sync::OnceLock;

use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use tessera::cookie::{read_chunked, AuthCookies, CookieOptions};
use tessera::RequestCookies;

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for part in data.splitn(2, |&b| b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(part) {
            headers.append(COOKIE, value);
        }
    }
    check(&RequestCookies::from_headers(&headers));
    check(&RequestCookies::parse(&String::from_utf8_lossy(data)));
});

fn check(cookies: &RequestCookies) {
    let lenient: Vec<(&str, &str)> = cookies.iter().collect();
    assert_unique(lenient.iter().map(|(n, _)| *n), "lenient");
    // `get` of the first and last names (all of them would make the
    // target quadratic in the number of cookies).
    let ends = lenient.iter().take(8).chain(lenient.iter().rev().take(8));
    for (name, value) in ends {
        assert_eq!(cookies.get(name), Some(*value), "get({name:?})");
    }
    assert_unique(cookies.strict().map(|(n, _)| n), "strict");
    static NAMES: OnceLock<AuthCookies> = OnceLock::new();
    let names =
        NAMES.get_or_init(|| AuthCookies::new(&CookieOptions::default(), false, 604_800, 300));
    for def in [&names.session_data, &names.session_token] {
        let chunked = read_chunked(def, cookies);
        if let Some(exact) = cookies.get(&def.name) {
            assert_eq!(chunked.as_deref(), Some(exact));
        }
    }
}

fn assert_unique<'a>(names: impl Iterator<Item = &'a str>, view: &str) {
    let mut seen = HashSet::new();
    for name in names {
        assert!(seen.insert(name), "the {view} view names {name:?} twice");
    }
}
