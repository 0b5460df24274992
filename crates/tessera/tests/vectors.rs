//! Every signed cookie better-auth 1.7.25 produced in `shared/vectors`
//! verifies here, and every `Set-Cookie` line it wrote for a signed cookie
//! is reproduced byte for byte by our signer and serialiser.

use std::path::PathBuf;

use serde_json::Value;
use tessera::cookie::{sign_value, verify_value, CookieAttributes, SameSite, SetCookie};
use tessera::Secrets;

fn vectors_dir() -> PathBuf {
    std::env::var_os("TESSERA_VECTORS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
        })
}

fn load_all() -> Vec<(String, Value)> {
    let dir = vectors_dir();
    let mut out = Vec::new();
    for entry in
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("vectors at {}: {e}", dir.display()))
    {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((
                path.display().to_string(),
                serde_json::from_str(&text).unwrap(),
            ));
        }
    }
    assert!(!out.is_empty(), "no vector files in {}", dir.display());
    out
}

/// Every object shaped like a recorded signed cookie.
fn signed_cookies<'a>(v: &'a Value, out: &mut Vec<&'a serde_json::Map<String, Value>>) {
    match v {
        Value::Object(map) => {
            if ["rawValue", "urlDecoded", "token", "signatureBase64"]
                .iter()
                .all(|k| map.contains_key(*k))
            {
                out.push(map);
            }
            map.values().for_each(|v| signed_cookies(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| signed_cookies(v, out)),
        _ => {}
    }
}

/// Every `Set-Cookie` line recorded anywhere.
fn set_cookie_lines<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if k.eq_ignore_ascii_case("setCookie") || k.eq_ignore_ascii_case("set-cookie") {
                    if let Value::Array(lines) = v {
                        out.extend(lines.iter().filter_map(Value::as_str));
                    }
                }
                set_cookie_lines(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| set_cookie_lines(v, out)),
        _ => {}
    }
}

fn secret_of(file: &Value, key: &str) -> Secrets {
    Secrets::single(file["meta"][key].as_str().expect("meta secret"))
}

#[test]
fn every_recorded_signed_cookie_verifies() {
    let mut checked = 0;
    for (path, file) in load_all() {
        let secret = secret_of(&file, "secret");
        let other = secret_of(&file, "otherSecret");
        let mut cookies = Vec::new();
        signed_cookies(&file, &mut cookies);
        for c in cookies {
            let decoded = c["urlDecoded"].as_str().unwrap();
            let token = c["token"].as_str().unwrap();
            assert_eq!(
                verify_value(&secret, decoded),
                Some(token),
                "{path}: {decoded} should verify"
            );
            assert_eq!(
                verify_value(&other, decoded),
                None,
                "{path}: wrong secret must fail"
            );
            // Our signature of the token is better-auth's, byte for byte.
            assert_eq!(sign_value(&secret, token), decoded, "{path}");
            // Any single-byte change of the signature fails.
            let mut tampered = decoded.as_bytes().to_vec();
            let i = decoded.len() - 5;
            tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
            assert_eq!(
                verify_value(&secret, std::str::from_utf8(&tampered).unwrap()),
                None
            );
            checked += 1;
        }
    }
    assert!(checked >= 48, "only {checked} signed cookies found");
}

/// Parses a `Set-Cookie` line back into a cookie (attributes as written).
fn parse_line(line: &str) -> SetCookie {
    let mut parts = line.split("; ");
    let (name, value) = parts.next().unwrap().split_once('=').unwrap();
    let mut a = CookieAttributes {
        max_age: None,
        domain: None,
        path: None,
        http_only: false,
        secure: false,
        same_site: None,
        partitioned: false,
    };
    for attr in parts {
        let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
        match k {
            "Max-Age" => a.max_age = Some(v.parse().unwrap()),
            "Domain" => a.domain = Some(v.to_owned()),
            "Path" => a.path = Some(v.to_owned()),
            "HttpOnly" => a.http_only = true,
            "Secure" => a.secure = true,
            "Partitioned" => a.partitioned = true,
            "SameSite" => {
                a.same_site = Some(match v {
                    "Strict" => SameSite::Strict,
                    "None" => SameSite::None,
                    _ => SameSite::Lax,
                })
            }
            other => panic!("unexpected attribute {other} in {line}"),
        }
    }
    let decoded = percent_decode(value);
    SetCookie::new(name, decoded, a)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn signed_set_cookie_lines_are_reproduced_byte_for_byte() {
    let mut checked = 0;
    for (path, file) in load_all() {
        let secret = secret_of(&file, "secret");
        let mut lines = Vec::new();
        set_cookie_lines(&file, &mut lines);
        for line in lines {
            let name = line.split('=').next().unwrap();
            // The OAuth vectors also record the identity provider's own cookies.
            if !name.starts_with("better-auth.") && !name.starts_with("__Secure-better-auth.") {
                continue;
            }
            let signed = name.ends_with(".session_token")
                || name.ends_with(".dont_remember")
                || name.contains("_multi-")
                || name.ends_with(".state");
            let cookie = parse_line(line);
            if cookie.value.is_empty() {
                // A deletion: re-serialising it must give the same line.
                assert_eq!(cookie.serialize(), line, "{path}");
                continue;
            }
            if !signed {
                continue;
            }
            let payload = verify_value(&secret, &cookie.value)
                .unwrap_or_else(|| panic!("{path}: {line} does not verify"));
            let ours = SetCookie::new(
                name,
                sign_value(&secret, payload),
                cookie.attributes.clone(),
            );
            assert_eq!(ours.serialize(), line, "{path}");
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} signed Set-Cookie lines found");
}
