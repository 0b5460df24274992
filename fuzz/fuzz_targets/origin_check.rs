//! URL and origin checks: `origin_of`, `TrustedOrigins::is_trusted` and
//! `is_trusted_callback`, on any string.
//!
//! Invariants: no panic; `origin_of` is idempotent; and what is trusted is
//! trusted as a browser would read it: a callback accepted against exact
//! trusted origins resolves, with the WHATWG URL parser (the `url` crate),
//! to one of those origins.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tessera::api::{origin_of, TrustedOrigins};
use url::Url;

/// Exact origins only: what they accept has a definite browser origin.
const EXACT: [&str; 2] = ["http://127.0.0.1:3005", "https://app.example.com"];

fn exact() -> &'static TrustedOrigins {
    static T: OnceLock<TrustedOrigins> = OnceLock::new();
    T.get_or_init(|| TrustedOrigins::new(EXACT))
}

/// Every kind of pattern: exact, wildcards over the origin and the host,
/// IP wildcards, a custom scheme.
fn patterns() -> &'static TrustedOrigins {
    static T: OnceLock<TrustedOrigins> = OnceLock::new();
    T.get_or_init(|| {
        TrustedOrigins::new([
            "http://127.0.0.1:3005",
            "https://*.example.com",
            "*.trusted.test",
            "http://192.168.*.*:8080",
            "myapp://",
        ])
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(origin) = origin_of(input) {
        assert_eq!(origin_of(&origin).as_deref(), Some(origin.as_str()));
    }
    patterns().is_trusted(input);
    patterns().is_trusted_callback(input);

    if exact().is_trusted_callback(input) {
        // Resolved as a browser would, from a page of the app.
        let page = Url::parse("https://app.example.com/account/").expect("a base URL");
        if let Ok(target) = page.join(input) {
            let origin = target.origin().ascii_serialization();
            assert!(
                EXACT.contains(&origin.as_str()),
                "{input:?} is trusted but a browser goes to {origin}"
            );
        }
    }
});
