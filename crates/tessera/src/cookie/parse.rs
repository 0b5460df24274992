//! Parsing the request `Cookie` header (spec §1.3).
//!
//! Two parsers, because better-auth has two and they disagree at the edges:
//! [`RequestCookies::get`] follows better-call (first occurrence wins, lenient),
//! [`RequestCookies::strict`] follows better-auth's own `parseCookies` (RFC
//! 6265 validation, last occurrence wins), which is what chunk reassembly and
//! multi-session enumeration use.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::OnceLock;

use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};

/// The cookies of one request.
///
/// Names and values are spans of the header text; only a value that
/// percent-decodes to something else is held apart. A get-session request
/// with a 1.5 KB cache cookie shares its one `Cookie` header rather than
/// copying it.
#[derive(Clone, Debug, Default)]
pub struct RequestCookies {
    /// better-call view: every name once, first occurrence, in header order.
    lenient: Vec<Pair>,
    /// better-auth view: validated, last value wins, first position kept.
    /// Parsed on first use: only chunk handling and multi-session need it,
    /// not the common get-session path.
    strict: OnceLock<Vec<Pair>>,
    header: Text,
    present: bool,
}

/// The header text the spans point into.
#[derive(Clone, Debug)]
enum Text {
    /// The request's one `Cookie` header, valid UTF-8, shared (its bytes
    /// are reference-counted), not copied.
    Header(HeaderValue),
    /// Several headers joined, a header with invalid bytes replaced, or a
    /// string given to [`RequestCookies::parse`].
    Owned(String),
}

impl Default for Text {
    fn default() -> Self {
        Text::Owned(String::new())
    }
}

impl Text {
    fn bytes(&self) -> &[u8] {
        match self {
            Text::Header(v) => v.as_bytes(),
            Text::Owned(s) => s.as_bytes(),
        }
    }

    /// The text of a span. Spans lie on character boundaries of text that
    /// was valid UTF-8 when parsed, so this never comes back empty for a
    /// real span; a broken invariant gives `""`, never a panic.
    fn get(&self, span: Range<usize>) -> &str {
        match self {
            Text::Header(v) => v
                .as_bytes()
                .get(span)
                .and_then(|b| utf8(b).ok())
                .unwrap_or_default(),
            Text::Owned(s) => s.get(span).unwrap_or_default(),
        }
    }

    fn all(&self) -> &str {
        self.get(0..self.bytes().len())
    }
}

/// `std::str::from_utf8` with SIMD validation: a get-session request's
/// header is a kilobyte or more of cache cookie, checked once whole and
/// once as the value read (std's check is several times slower on ASCII).
fn utf8(bytes: &[u8]) -> Result<&str, simdutf8::basic::Utf8Error> {
    simdutf8::basic::from_utf8(bytes)
}

/// One cookie: its name, and its value as a span or decoded.
#[derive(Clone, Debug)]
struct Pair {
    name: Range<usize>,
    value: Value,
}

#[derive(Clone, Debug)]
enum Value {
    /// Used as written (after trimming and quote stripping).
    Span(Range<usize>),
    /// Percent-decoded.
    Decoded(String),
}

impl Pair {
    fn name<'a>(&self, text: &'a Text) -> &'a str {
        text.get(self.name.clone())
    }

    /// While parsing: the name in the text being parsed.
    fn name_in<'a>(&self, s: &'a str) -> &'a str {
        s.get(self.name.clone()).unwrap_or_default()
    }

    fn is_named(&self, text: &Text, name: &str) -> bool {
        text.bytes().get(self.name.clone()) == Some(name.as_bytes())
    }

    fn value<'a>(&'a self, text: &'a Text) -> &'a str {
        match &self.value {
            Value::Span(r) => text.get(r.clone()),
            Value::Decoded(v) => v,
        }
    }
}

/// A request carrying more cookies than the limit it was parsed under
/// ([`RequestCookies::from_headers_within`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the request carries more than {limit} cookies")]
#[non_exhaustive]
pub struct TooManyCookies {
    /// The limit.
    pub limit: usize,
}

impl RequestCookies {
    /// Parses every `Cookie` header of a request. Several headers (HTTP/2
    /// splits them) are read as one list joined by `; `.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        // Without a limit nothing is refused.
        Self::from_headers_within(headers, usize::MAX).unwrap_or_default()
    }

    /// [`RequestCookies::from_headers`], refusing more than `max_cookies`
    /// cookies: every `name=value` pair counts, repeated names included.
    /// The parser stops at the first one past the limit, so its work is
    /// bounded by the limit as well as by the header's length.
    ///
    /// ```
    /// # use tessera::cookie::RequestCookies;
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("cookie", "a=1; b=2; a=3".parse().unwrap());
    /// assert!(RequestCookies::from_headers_within(&headers, 3).is_ok());
    /// assert!(RequestCookies::from_headers_within(&headers, 2).is_err());
    /// ```
    pub fn from_headers_within(
        headers: &HeaderMap,
        max_cookies: usize,
    ) -> Result<Self, TooManyCookies> {
        let too_many = TooManyCookies { limit: max_cookies };
        let mut all = headers.get_all(COOKIE).iter();
        if let (Some(one), None) = (all.next(), all.next()) {
            if let Ok(text) = utf8(one.as_bytes()) {
                return Ok(RequestCookies {
                    lenient: parse_lenient(text, max_cookies).ok_or(too_many)?,
                    strict: OnceLock::new(),
                    present: true,
                    header: Text::Header(one.clone()),
                });
            }
        }
        let mut joined = String::new();
        let mut present = false;
        for value in headers.get_all(COOKIE) {
            present = true;
            if !joined.is_empty() {
                joined.push_str("; ");
            }
            // Valid UTF-8 is the rule: check it at SIMD speed, and only
            // replace bad bytes, as better-call's decoding does, when needed.
            match utf8(value.as_bytes()) {
                Ok(s) => joined.push_str(s),
                Err(_) => joined.push_str(&String::from_utf8_lossy(value.as_bytes())),
            }
        }
        let mut parsed = RequestCookies {
            lenient: parse_lenient(&joined, max_cookies).ok_or(too_many)?,
            strict: OnceLock::new(),
            present: false,
            header: Text::Owned(joined),
        };
        parsed.present = present;
        Ok(parsed)
    }

    /// Parses one `Cookie` header value.
    pub fn parse(header: &str) -> Self {
        let header = header.to_owned();
        RequestCookies {
            // Without a limit nothing is refused.
            lenient: parse_lenient(&header, usize::MAX).unwrap_or_default(),
            strict: OnceLock::new(),
            present: !header.is_empty(),
            header: Text::Owned(header),
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
            .find(|p| p.is_named(&self.header, name))
            .map(|p| p.value(&self.header))
    }

    /// Every cookie as better-call sees it, in header order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.lenient
            .iter()
            .map(|p| (p.name(&self.header), p.value(&self.header)))
    }

    /// Every cookie as better-auth's strict parser sees it, in header order.
    pub fn strict(&self) -> impl Iterator<Item = (&str, &str)> {
        self.strict
            .get_or_init(|| parse_strict(self.header.all()))
            .iter()
            .map(|p| (p.name(&self.header), p.value(&self.header)))
    }
}

/// The span of `part` within `whole` (`part` is a slice of it).
fn span(whole: &str, part: &str) -> Range<usize> {
    let start = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    debug_assert!(whole.get(start..start + part.len()) == Some(part));
    start..start + part.len()
}

/// better-call's `parseCookies` (the `cookie` package's algorithm), or
/// `None` past `max` pairs (repeated names count). The scans use `memchr`:
/// a cache cookie is 1.5 KB or more, read on every request.
///
/// Every `;`-separated segment better-auth's strict parser reads a cookie
/// from is one this parser counts, so the limit bounds both.
fn parse_lenient(s: &str, max: usize) -> Option<Vec<Pair>> {
    let bytes = s.as_bytes();
    let mut out: Vec<Pair> = Vec::with_capacity(4);
    let mut seen = Positions::default();
    let mut pairs = 0usize;
    let mut index = 0;
    while index < s.len() {
        let Some(eq) = memchr::memchr(b'=', &bytes[index..]).map(|i| i + index) else {
            break;
        };
        let end = match memchr::memchr(b';', &bytes[index..]).map(|i| i + index) {
            None => s.len(),
            Some(semi) if semi < eq => {
                // A segment without `=`: resume after the last `;` before the `=`.
                index = memchr::memrchr(b';', &bytes[..eq]).map_or(eq, |i| i + 1);
                continue;
            }
            Some(semi) => semi,
        };
        pairs += 1;
        if pairs > max {
            return None;
        }
        let key = s[index..eq].trim();
        if seen.find(s, &out, key).is_none() {
            let mut val = s[eq + 1..end].trim();
            if val.starts_with('"') {
                val = strip_quotes(val);
            }
            out.push(Pair {
                name: span(s, key),
                value: try_decode(s, val),
            });
            seen.pushed(s, &out);
        }
        index = end + 1;
    }
    Some(out)
}

/// Up to this many names, a duplicate is found by scanning the names
/// parsed so far (every real request: a browser sends a handful); past
/// it, by a hash map, so that parsing stays linear in the header's length.
const SCAN_LIMIT: usize = 16;

/// Where each name parsed so far sits in the output, for duplicate
/// detection in constant time per cookie.
#[derive(Default)]
struct Positions<'s> {
    /// Built once the output outgrows [`SCAN_LIMIT`]. std's SipHash, keyed
    /// per process: the names are the client's, so collisions must not be
    /// theirs to choose.
    by_name: Option<HashMap<&'s str, usize>>,
}

impl<'s> Positions<'s> {
    /// The position in `out` of the pair named `name`.
    fn find(&self, s: &'s str, out: &[Pair], name: &str) -> Option<usize> {
        match &self.by_name {
            Some(map) => map.get(name).copied(),
            None => out.iter().position(|p| p.name_in(s) == name),
        }
    }

    /// Records the pair just pushed onto `out` (its name is new).
    fn pushed(&mut self, s: &'s str, out: &[Pair]) {
        let last = out.len() - 1;
        match &mut self.by_name {
            Some(map) => {
                map.insert(out[last].name_in(s), last);
            }
            None if out.len() > SCAN_LIMIT => {
                let map = out.iter().enumerate().map(|(i, p)| (p.name_in(s), i));
                self.by_name = Some(map.collect());
            }
            None => {}
        }
    }
}

/// better-auth's `parseCookies` from `cookie-utils.ts`.
fn parse_strict(s: &str) -> Vec<Pair> {
    let mut out: Vec<Pair> = Vec::new();
    let mut seen = Positions::default();
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
        let decoded = try_decode(s, value);
        match seen.find(s, &out, name) {
            Some(at) => out[at].value = decoded,
            None => {
                out.push(Pair {
                    name: span(s, name),
                    value: decoded,
                });
                seen.pushed(s, &out);
            }
        }
    }
    out
}

/// JavaScript's `str.slice(1, -1)` on a value that starts with a quote.
/// The result is always a slice of `val` (spans are taken of it).
fn strip_quotes(val: &str) -> &str {
    let inner = &val[1..];
    match inner.char_indices().last() {
        Some((i, _)) => &inner[..i],
        None => &inner[..0],
    }
}

/// `decodeURIComponent`, applied only when the value has a `%`, keeping the
/// raw value when it does not decode (better-call's `tryDecode`). `val` is
/// a slice of `header`.
fn try_decode(header: &str, val: &str) -> Value {
    let escaped = memchr::memchr(b'%', val.as_bytes()).is_some();
    match escaped.then(|| decode_uri_component(val)).flatten() {
        Some(decoded) => Value::Decoded(decoded),
        None => Value::Span(span(header, val)),
    }
}

/// JavaScript's `decodeURIComponent`: every `%` must start a valid escape
/// and the bytes must be UTF-8, or the whole decode fails (`None`, where
/// JavaScript throws).
pub fn decode_uri_component(val: &str) -> Option<String> {
    let bytes = val.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    // Copy the runs between escapes whole.
    while let Some(at) = memchr::memchr(b'%', rest) {
        out.extend_from_slice(&rest[..at]);
        let hi = hex_val(*rest.get(at + 1)?)?;
        let lo = hex_val(*rest.get(at + 2)?)?;
        out.push(hi << 4 | lo);
        rest = &rest[at + 3..];
    }
    out.extend_from_slice(rest);
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
    fn a_lone_quote_is_an_empty_value() {
        // JavaScript's `'"'.slice(1, -1)` is `""`.
        assert_eq!(RequestCookies::parse("a=\"").get("a"), Some(""));
        assert_eq!(RequestCookies::parse("=\"").iter().count(), 1);
    }

    #[test]
    fn skips_segments_without_equals() {
        let c = RequestCookies::parse("junk; a=1; more junk; b=2");
        assert_eq!(c.get("a"), Some("1"));
        assert_eq!(c.get("b"), Some("2"));
    }

    #[test]
    fn duplicates_past_the_scan_limit_keep_both_parsers_rules() {
        // Enough names that duplicates are found through the hash map.
        let mut parts: Vec<String> = (0..40).map(|i| format!("n{i}=first{i}")).collect();
        parts.extend((0..40).rev().map(|i| format!("n{i}=last{i}")));
        let c = RequestCookies::parse(&parts.join("; "));
        let lenient: Vec<_> = c.iter().collect();
        let strict: Vec<_> = c.strict().collect();
        assert_eq!(lenient.len(), 40);
        assert_eq!(strict.len(), 40);
        for i in 0..40 {
            let name = format!("n{i}");
            // First occurrence wins for better-call, last for better-auth,
            // both in the order names first appeared.
            assert_eq!(lenient[i], (name.as_str(), format!("first{i}").as_str()));
            assert_eq!(strict[i], (name.as_str(), format!("last{i}").as_str()));
            assert_eq!(c.get(&name), Some(format!("first{i}").as_str()));
        }
    }

    #[test]
    fn a_limit_counts_every_pair_in_every_header_and_nothing_else() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, "a=1; a=2; ;;;; junk; b=3".parse().unwrap());
        h.append(COOKIE, HeaderValue::from_bytes(b"c=\xff; d=4").unwrap());
        // a, a, b, c, d: repeated names count, empty and bare segments not.
        let parsed = RequestCookies::from_headers_within(&h, 5).unwrap();
        assert_eq!(parsed.get("d"), Some("4"));
        assert_eq!(
            RequestCookies::from_headers_within(&h, 4).unwrap_err(),
            TooManyCookies { limit: 4 }
        );
        let mut one = HeaderMap::new();
        one.insert(COOKIE, "a=1; b=2".parse().unwrap());
        assert!(RequestCookies::from_headers_within(&one, 2).is_ok());
        assert!(RequestCookies::from_headers_within(&one, 1).is_err());
    }

    #[test]
    fn strict_parser_drops_invalid_names_and_values() {
        let c = RequestCookies::parse("ok=1; b@d=2; v=a\\b");
        let names: Vec<_> = c.strict().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["ok"]);
    }

    #[test]
    fn one_header_is_read_in_place_and_bad_bytes_are_replaced() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, "a=1; b=x%2By; c=\"q\"".parse().unwrap());
        let c = RequestCookies::from_headers(&h);
        assert!(matches!(c.header, Text::Header(_)));
        assert_eq!(c.get("a"), Some("1"));
        assert_eq!(c.get("b"), Some("x+y"));
        assert_eq!(c.get("c"), Some("q"));
        assert_eq!(c.strict().count(), 3);
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_bytes(b"a=\xff; b=2").unwrap());
        let c = RequestCookies::from_headers(&h);
        assert_eq!(c.get("a"), Some("\u{fffd}"));
        assert_eq!(c.get("b"), Some("2"));
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
