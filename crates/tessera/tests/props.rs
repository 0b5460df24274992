//! Property tests: parsers of untrusted input never panic, and what we
//! write we read back.

use proptest::prelude::*;
use tessera::cookie::{sign_value, verify_value, CookieAttributes, RequestCookies, SetCookie};
use tessera::password::verify_password;
use tessera::{Secrets, Timestamp};

fn secrets() -> Secrets {
    Secrets::single("property-test-secret-0123456789-abcdefghijkl")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn cookie_parser_never_panics(header in any::<String>()) {
        let c = RequestCookies::parse(&header);
        for (name, value) in c.iter() {
            prop_assert!(c.get(name).is_some());
            let _ = value;
        }
        let _ = c.strict().count();
    }

    #[test]
    fn cookie_parser_handles_cookie_like_noise(
        header in proptest::collection::vec("[ -~]{0,12}(=[ -~%\"]{0,20})?", 0..8)
    ) {
        let joined = header.join(";");
        let _ = RequestCookies::parse(&joined);
    }

    #[test]
    fn set_cookie_round_trips_through_the_parser(
        name in "[A-Za-z0-9_.-]{1,20}",
        value in any::<String>(),
    ) {
        let line = SetCookie::new(name.clone(), value.clone(), CookieAttributes::default()).serialize();
        let (pair, _) = line.split_once("; ").unwrap();
        let parsed = RequestCookies::parse(pair);
        // Values that start with a quote lose it to the parser's quote
        // stripping, as in better-call.
        if !value.starts_with('"') {
            prop_assert_eq!(parsed.get(&name), Some(value.as_str()));
        }
    }

    #[test]
    fn signed_values_verify_and_reject_any_other_input(value in any::<String>(), junk in any::<String>()) {
        let s = secrets();
        let signed = sign_value(&s, &value);
        // better-call refuses an empty payload (`lastIndexOf(".") < 1`).
        let expected = (!value.is_empty()).then_some(value.as_str());
        prop_assert_eq!(verify_value(&s, &signed), expected);
        if junk != signed {
            let v = verify_value(&s, &junk);
            // Anything that verifies must be a correctly signed value.
            if let Some(payload) = v {
                prop_assert_eq!(sign_value(&s, payload), junk);
            }
        }
    }

    #[test]
    fn flipping_any_byte_breaks_the_signature(value in "[A-Za-z0-9]{1,40}", at in any::<prop::sample::Index>()) {
        let s = secrets();
        let signed = sign_value(&s, &value);
        let mut bytes = signed.into_bytes();
        let i = at.index(bytes.len());
        bytes[i] = if bytes[i] == b'x' { b'y' } else { b'x' };
        let tampered = String::from_utf8(bytes).unwrap();
        prop_assert_eq!(verify_value(&s, &tampered), None);
    }

    #[test]
    fn malformed_password_hashes_never_panic(hash in "[0-9a-f:]{0,200}|\\PC{0,100}") {
        let _ = verify_password(&hash, "password");
    }

    #[test]
    fn iso_dates_never_panic_and_round_trip(ms in -62_167_219_200_000i64..253_402_300_799_999i64, junk in any::<String>()) {
        let t = Timestamp::from_millis(ms);
        prop_assert_eq!(Timestamp::parse_iso(&t.to_iso()), Some(t));
        let _ = Timestamp::parse_iso(&junk);
    }
}

/// URL-shaped noise: the pieces that confuse hand-written URL parsers.
fn tricky_url() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "http:",
        "https:",
        "HTTPS:",
        "javascript:",
        "myapp:",
        "//",
        "/",
        "\\",
        "@",
        ":",
        ":443",
        ":8443",
        "app.example.com",
        "evil.example",
        "xn--bcher-kva",
        "bücher",
        "[::1]",
        "%2F",
        "%5C",
        "%40",
        "%2e%2e",
        "..",
        ".",
        "?",
        "#",
        "\t",
        "\n",
        " ",
        "\u{0}",
        "*",
        "192.168.1.1",
    ]);
    proptest::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Whatever passes an exact http(s) pattern, a browser goes to that
    /// origin; and no input or pattern makes the matcher panic.
    #[test]
    fn trusted_urls_lead_browsers_to_the_trusted_origin(
        url in tricky_url(),
        pattern in tricky_url(),
    ) {
        use tessera::api::{origin_of, TrustedOrigins};
        let exact = TrustedOrigins::new(["https://app.example.com"]);
        let origin = origin_of(&url);
        let goes_to_app = origin.as_deref() == Some("https://app.example.com");
        if exact.is_trusted(&url) {
            prop_assert!(goes_to_app, "{:?} trusted, browsers go to {:?}", url, origin);
        }
        if exact.is_trusted_callback(&url) && !url.starts_with('/') {
            prop_assert!(goes_to_app, "{:?} trusted, browsers go to {:?}", url, origin);
        }
        let any = TrustedOrigins::new([pattern.as_str(), "*.example.com", "192.168.*.*", "myapp://app"]);
        let _ = any.is_trusted_callback(&url);
        let _ = any.is_trusted(&url);
    }
}

/// The cookie parsers' semantics as they were written before duplicate
/// detection became linear: each name looked up by scanning every name
/// parsed so far. Simple and quadratic, so only for small inputs.
mod reference {
    use tessera::cookie::decode_uri_component;

    fn try_decode(val: &str) -> String {
        if val.contains('%') {
            decode_uri_component(val).unwrap_or_else(|| val.to_owned())
        } else {
            val.to_owned()
        }
    }

    /// better-call: first occurrence wins.
    pub fn lenient(s: &str) -> Vec<(String, String)> {
        lenient_with_count(s).0
    }

    /// [`lenient`], and how many pairs it read, repeated names included.
    pub fn lenient_with_count(s: &str) -> (Vec<(String, String)>, usize) {
        let mut read = 0;
        let mut out: Vec<(String, String)> = Vec::new();
        let mut index = 0;
        while index < s.len() {
            let Some(eq) = s[index..].find('=').map(|i| i + index) else {
                break;
            };
            let end = match s[index..].find(';').map(|i| i + index) {
                None => s.len(),
                Some(semi) if semi < eq => {
                    index = s[..eq].rfind(';').map_or(eq, |i| i + 1);
                    continue;
                }
                Some(semi) => semi,
            };
            read += 1;
            let key = s[index..eq].trim();
            if !out.iter().any(|(name, _)| name == key) {
                let mut val = s[eq + 1..end].trim();
                if val.starts_with('"') {
                    // JavaScript's `val.slice(1, -1)`.
                    let inner = &val[1..];
                    val = inner.char_indices().last().map_or("", |(i, _)| &inner[..i]);
                }
                out.push((key.to_owned(), try_decode(val)));
            }
            index = end + 1;
        }
        (out, read)
    }

    /// better-auth: validated, last value wins, first position kept.
    pub fn strict(s: &str) -> Vec<(String, String)> {
        strict_with_count(s).0
    }

    /// [`strict`], and how many pairs it read, repeated names included.
    pub fn strict_with_count(s: &str) -> (Vec<(String, String)>, usize) {
        let mut read = 0;
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        let octet = |b: u8| matches!(b, 0x20..=0x7e) && b != b';' && b != b'\\';
        let mut out: Vec<(String, String)> = Vec::new();
        for part in s.split(';') {
            let part = part.trim_matches([' ', '\t']);
            let Some((name, value)) = part.split_once('=') else {
                continue;
            };
            let name = name.trim_matches([' ', '\t']);
            let mut value = value.trim_matches([' ', '\t']);
            if name.is_empty() || !name.bytes().all(token) || !value.bytes().all(octet) {
                continue;
            }
            if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
                value = &value[1..value.len() - 1];
            }
            read += 1;
            let decoded = try_decode(value);
            match out.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = decoded,
                None => out.push((name.to_owned(), decoded)),
            }
        }
        (out, read)
    }
}

fn owned<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<(String, String)> {
    pairs.map(|(n, v)| (n.to_owned(), v.to_owned())).collect()
}

/// Cookie headers with many repeated names (past the parsers' scan limit,
/// so duplicates are found both ways), quotes, escapes and junk segments.
fn cookie_headers() -> impl Strategy<Value = String> {
    let pair = (
        "[a-f]{1,2}| ?[a-c]\t?",
        "[a-z0-9]{0,3}|\"[a-z%]{0,3}\"?|%2[Bb]|%E0|[ -~]{0,4}",
    )
        .prop_map(|(n, v)| format!("{n}={v}"));
    let segment = prop_oneof![8 => pair, 1 => "[ -~é]{0,6}"];
    (
        proptest::collection::vec(segment, 0..80),
        prop_oneof![Just("; "), Just(";"), Just(" ;")],
    )
        .prop_map(|(segments, separator)| segments.join(separator))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn lenient_parser_equals_the_reference_model(header in cookie_headers()) {
        let parsed = RequestCookies::parse(&header);
        prop_assert_eq!(owned(parsed.iter()), reference::lenient(&header));
    }

    #[test]
    fn strict_parser_equals_the_reference_model(header in cookie_headers()) {
        let parsed = RequestCookies::parse(&header);
        prop_assert_eq!(owned(parsed.strict()), reference::strict(&header));
    }

    #[test]
    fn both_parsers_equal_the_reference_model_on_any_text(header in "[a-d=; \"%\t,é]{0,120}") {
        let parsed = RequestCookies::parse(&header);
        prop_assert_eq!(owned(parsed.iter()), reference::lenient(&header));
        prop_assert_eq!(owned(parsed.strict()), reference::strict(&header));
    }

    #[test]
    fn a_cookie_limit_refuses_exactly_the_headers_with_more_pairs(
        header in cookie_headers(),
        limit in 0usize..50,
    ) {
        let (_, read) = reference::lenient_with_count(&header);
        let mut headers = http::HeaderMap::new();
        if let Ok(value) = http::HeaderValue::from_str(&header) {
            headers.insert(http::header::COOKIE, value);
            let parsed = RequestCookies::from_headers_within(&headers, limit);
            prop_assert_eq!(parsed.is_ok(), read <= limit);
        }
        // The strict parser reads no more pairs than the limit counted.
        prop_assert!(reference::strict_with_count(&header).1 <= read);
    }
}
