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
