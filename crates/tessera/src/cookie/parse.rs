//! Parsing the request `Cookie` header (spec §1.3).
//!
//! Two parsers, because better-auth has two and they disagree at the edges:
//! [`RequestCookies::get`] follows better-call (first occurrence wins, lenient),
//! [`RequestCookies::strict`] follows better-auth's own `parseCookies` (RFC
//! 6265 validation, last occurrence wins), which is what chunk reassembly and
//! multi-session enumeration use.

use std::sync::OnceLock;

use http::header::COOKIE;
use http::HeaderMap;

/// The cookies of one request.
#[derive(Clone, Debug, Default)]
pub struct RequestCookies {
    /// better-call view: every name once, first occurrence, in header order.
    lenient: Vec<(String, String)>,
    /// better-auth view: validated, last value wins, first position kept.
    /// Parsed on first use: only chunk handling and multi-session need it,
    /// not the common get-session path.
    strict: OnceLock<Vec<(String, String)>>,
    header: String,
    present: bool,
}

impl RequestCookies {
    /// Parses every `Cookie` header of a request. Several headers (HTTP/2
    /// splits them) are read as one list joined by `; `.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut joined = String::new();
        let mut present = false;
        for value in headers.get_all(COOKIE) {
            present = true;
            if !joined.is_empty() {
                joined.push_str("; ");
            }
            joined.push_str(&String::from_utf8_lossy(value.as_bytes()));
        }
        let mut parsed = Self::from_string(joined);
        parsed.present = present;
        parsed
    }

    /// Parses one `Cookie` header value.
    pub fn parse(header: &str) -> Self {
        Self::from_string(header.to_owned())
    }

    fn from_string(header: String) -> Self {
        RequestCookies {
            lenient: parse_lenient(&header),
            strict: OnceLock::new(),
            present: !header.is_empty(),
            header,
        }
    }

    /// Whether the request carried a `Cookie` header at all.
    pub fn header_present(&self) -> bool {
        self.present
    }

    /// The value of `name`, first occurrence, percent-decoded (better-call).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.lenient
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every cookie as better-call sees it, in header order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.lenient.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Every cookie as better-auth's strict parser sees it, in header order.
    pub fn strict(&self) -> impl Iterator<Item = (&str, &str)> {
        self.strict
            .get_or_init(|| parse_strict(&self.header))
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

/// better-call's `parseCookies` (the `cookie` package's algorithm).
fn parse_lenient(s: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut index = 0;
    while index < s.len() {
        let Some(eq) = s[index..].find('=').map(|i| i + index) else {
            break;
        };
        let end = match s[index..].find(';').map(|i| i + index) {
            None => s.len(),
            Some(semi) if semi < eq => {
                // A segment without `=`: resume after the last `;` before the `=`.
                index = s[..eq].rfind(';').map_or(eq, |i| i + 1);
                continue;
            }
            Some(semi) => semi,
        };
        let key = s[index..eq].trim();
        if !out.iter().any(|(k, _)| k == key) {
            let mut val = s[eq + 1..end].trim();
            if val.starts_with('"') {
                val = strip_quotes(val);
            }
            out.push((key.to_owned(), try_decode(val)));
        }
        index = end + 1;
    }
    out
}

/// better-auth's `parseCookies` from `cookie-utils.ts`.
fn parse_strict(s: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for part in s.split(';') {
        let part = part.trim_matches([' ', '\t']);
        let Some((name, value)) = part.split_once('=') else {
            continue;
        };
        let name = name.trim_matches([' ', '\t']);
        let mut value = value.trim_matches([' ', '\t']);
        if name.is_empty() || !name.bytes().all(is_token_char) {
            continue;
        }
        if !value.bytes().all(is_cookie_octet_or_lenient) {
            continue;
        }
        if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
            value = &value[1..value.len() - 1];
        }
        let decoded = try_decode(value);
        match out.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = decoded,
            None => out.push((name.to_owned(), decoded)),
        }
    }
    out
}

/// JavaScript's `str.slice(1, -1)` on a value that starts with a quote.
fn strip_quotes(val: &str) -> &str {
    let inner = &val[1..];
    match inner.char_indices().last() {
        Some((i, _)) => &inner[..i],
        None => "",
    }
}

/// `decodeURIComponent`, applied only when the value has a `%`, keeping the
/// raw value when it does not decode (better-call's `tryDecode`).
fn try_decode(val: &str) -> String {
    if !val.contains('%') {
        return val.to_owned();
    }
    decode_uri_component(val).unwrap_or_else(|| val.to_owned())
}

/// JavaScript's `decodeURIComponent`: every `%` must start a valid escape
/// and the bytes must be UTF-8, or the whole decode fails (`None`, where
/// JavaScript throws).
pub fn decode_uri_component(val: &str) -> Option<String> {
    let bytes = val.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = hex_val(*bytes.get(i + 1)?)?;
            let lo = hex_val(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// RFC 7230 `tchar`.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 6265 cookie-octet, plus space, comma and the quote better-auth lets
/// through before stripping it.
fn is_cookie_octet_or_lenient(b: u8) -> bool {
    matches!(b, 0x20..=0x7e) && b != b';' && b != b'\\'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_without_spaces_as_api_gateway_joins_them() {
        let c = RequestCookies::parse("a=1;b=2;c=3");
        assert_eq!(c.get("a"), Some("1"));
        assert_eq!(c.get("b"), Some("2"));
        assert_eq!(c.get("c"), Some("3"));
    }

    #[test]
    fn first_occurrence_wins_for_better_call_last_for_strict() {
        let c = RequestCookies::parse("a=1; a=2");
        assert_eq!(c.get("a"), Some("1"));
        assert_eq!(c.strict().collect::<Vec<_>>(), vec![("a", "2")]);
    }

    #[test]
    fn strips_quotes_and_percent_decodes() {
        let c = RequestCookies::parse(r#"q="x%2By"; bad=%E0%A4%A"#);
        assert_eq!(c.get("q"), Some("x+y"));
        // An invalid escape keeps the raw value rather than failing.
        assert_eq!(c.get("bad"), Some("%E0%A4%A"));
    }

    #[test]
    fn skips_segments_without_equals() {
        let c = RequestCookies::parse("junk; a=1; more junk; b=2");
        assert_eq!(c.get("a"), Some("1"));
        assert_eq!(c.get("b"), Some("2"));
    }

    #[test]
    fn strict_parser_drops_invalid_names_and_values() {
        let c = RequestCookies::parse("ok=1; b@d=2; v=a\\b");
        let names: Vec<_> = c.strict().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["ok"]);
    }

    #[test]
    fn joins_several_cookie_headers() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, "a=1".parse().unwrap());
        h.append(COOKIE, "b=2".parse().unwrap());
        let c = RequestCookies::from_headers(&h);
        assert!(c.header_present());
        assert_eq!(c.get("b"), Some("2"));
    }
}
