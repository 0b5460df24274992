//! Trusted origins: which URLs a callback, a redirect or an `Origin` header
//! may name (spec §7.2).
//!
//! URLs are parsed as browsers parse them (the WHATWG URL standard, through
//! the `url` crate), so the origin checked is the origin a browser would go
//! to: `http://evil.example\@app.host/` is `http://evil.example`, tabs and
//! newlines inside vanish, hosts are lowercased and IDNs become punycode.
//! Matching follows better-auth 1.7.25's `matchesOriginPattern`
//! (`auth/trusted-origins.mjs`), branch for branch:
//!
//! | URL | pattern | rule |
//! |---|---|---|
//! | `/path` | any | a safe relative path (callbacks only) |
//! | any | `*.example.com` (wildcard, no `://`) | the URL's `host[:port]` matches |
//! | `http(s)://…`, or unparsable | exact | the same origin |
//! | `http(s)://…` | `https://*.example.com` | the URL's origin matches |
//! | `myapp://…` (another scheme) | `myapp://[authority][/path]` | same scheme, same authority, path within the pattern's |
//!
//! A wildcard whose host is made only of digits, dots and wildcards
//! (`192.168.*.*`) admits only IPv4 addresses. Wildcards are better-auth's
//! path-aware globs: `*` matches any run of characters but `/` and `\` (dots
//! and colons too), `?` one such character, `**` whole segments, `\`
//! escapes.
//!
//! Three deliberate differences from better-auth, each stricter or kinder
//! to the operator and never looser for an attacker:
//! - URLs longer than [`MAX_URL_LENGTH`] are not trusted (bounded work);
//! - a host-only wildcard admits only `http` and `https` URLs (better-auth
//!   admits any scheme there, `javascript://app.example.com/%0aalert(1)`
//!   under `*.example.com` included);
//! - configured patterns are normalised: exact http(s) patterns become their
//!   origin (`https://App.example.com/` is `https://app.example.com`) and
//!   wildcards over http(s) origins are lowercased, where better-auth
//!   compares them as written and such patterns never match.

use std::borrow::Cow;

use url::Url;

use crate::cookie::decode_uri_component;

/// The origin relative paths are resolved against: better-auth's
/// `RELATIVE_URL_PARSER_ORIGIN`.
const RELATIVE_BASE: &str = "https://better-auth.invalid";

/// The longest URL (in bytes) that can be trusted. Longer ones are refused
/// unparsed, so checking one URL costs under a millisecond (0.2–0.7 ms at
/// the bound, release build, 2-core AMD EPYC), where parsing and matching a
/// megabyte-long `callbackURL` took about 0.1 s. better-auth has no such
/// bound; no real callback comes close (common proxies refuse request lines
/// past 8 KiB, so a browser could not follow a longer one anyway).
pub const MAX_URL_LENGTH: usize = 8 * 1024;

/// The trusted origins of one configuration, compiled once at build time.
///
/// ```
/// use tessera::api::TrustedOrigins;
///
/// let trusted = TrustedOrigins::new(["https://app.example.com", "*.example.org", "myapp://"]);
/// assert!(trusted.is_trusted("https://app.example.com/after-login"));
/// assert!(trusted.is_trusted("https://preview.example.org"));
/// assert!(trusted.is_trusted("myapp://callback"));
/// // A browser goes to evil.example here: the backslash ends the host.
/// assert!(!trusted.is_trusted("https://evil.example\\@app.example.com/"));
/// assert!(trusted.is_trusted_callback("/dashboard"));
/// assert!(!trusted.is_trusted_callback("/\\evil.example"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct TrustedOrigins {
    patterns: Vec<Pattern>,
}

#[derive(Clone, Debug)]
enum Pattern {
    /// A wildcard over the host and port alone (`*.example.com`).
    Host { glob: Glob, ipv4_only: bool },
    /// A wildcard with a scheme (`https://*.example.com`, `exp://192.168.*.*:*/**`):
    /// over the origin of an http(s) URL, part by part for another scheme.
    Wildcard {
        origin: Glob,
        ipv4_only: bool,
        custom: Option<CustomPattern>,
    },
    /// No wildcard: an origin for http(s) URLs, parts for another scheme.
    Exact {
        origin: Option<String>,
        custom: Option<CustomPattern>,
    },
}

/// A pattern over a URL of another scheme, split as better-auth splits it.
#[derive(Clone, Debug)]
struct CustomPattern {
    parts: CustomParts,
    /// Compiled from `parts.authority` and `parts.path` for wildcard patterns.
    authority_glob: Glob,
    path_glob: Glob,
    ipv4_only: bool,
}

impl TrustedOrigins {
    /// Compiles the patterns: the base URL's origin and the configured
    /// trusted origins (exact, wildcard, or custom scheme). Blank entries are
    /// skipped.
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Self {
        let patterns = patterns
            .into_iter()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(Pattern::new)
            .collect();
        TrustedOrigins { patterns }
    }

    /// Whether an absolute URL (or an origin) is trusted: better-auth's
    /// `isTrustedOrigin` without relative paths, as for `Origin` headers.
    pub fn is_trusted(&self, url: &str) -> bool {
        if url.starts_with('/') || url.len() > MAX_URL_LENGTH {
            return false;
        }
        let candidate = Candidate::new(url);
        self.patterns.iter().any(|p| p.admits(&candidate))
    }

    /// Whether a callback-type URL is acceptable: trusted, or a safe
    /// relative path (better-auth's `allowRelativePaths`).
    pub fn is_trusted_callback(&self, url: &str) -> bool {
        if url.starts_with('/') {
            return url.len() <= MAX_URL_LENGTH && is_safe_relative(url);
        }
        self.is_trusted(url)
    }
}

/// The URL under test, parsed once for every pattern. Neither part for a
/// URL that does not parse: it matches nothing.
struct Candidate {
    /// An http(s) URL: matched by origin and host.
    web: Option<WebParts>,
    /// A URL of another scheme that parses: matched part by part on the raw
    /// text, as better-auth does (`parseCustomSchemeOrigin`).
    custom: Option<CustomParts>,
}

/// What a browser would make of an http(s) URL.
struct WebParts {
    /// `scheme://host[:port]`, default port dropped, host in ASCII.
    origin: String,
    /// `host[:port]`: JavaScript's `URL.host`.
    host: String,
}

impl Candidate {
    fn new(raw: &str) -> Self {
        let Ok(url) = Url::parse(raw) else {
            return Candidate {
                web: None,
                custom: None,
            };
        };
        if !matches!(url.scheme(), "http" | "https") {
            let refused = !is_special(url.scheme()) && browsers_refuse(raw);
            return Candidate {
                web: None,
                custom: CustomParts::parse(raw, false).filter(|_| !refused),
            };
        }
        let host = url.host_str().unwrap_or_default();
        let host = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        Candidate {
            web: Some(WebParts {
                origin: url.origin().ascii_serialization(),
                host,
            }),
            custom: None,
        }
    }
}

/// The WHATWG special schemes, whose URLs the `url` crate parses as
/// browsers do.
fn is_special(scheme: &str) -> bool {
    matches!(scheme, "http" | "https" | "ws" | "wss" | "ftp" | "file")
}

/// The two shapes of a URL of another scheme that the `url` crate accepts
/// and browsers (so better-auth's `new URL`) refuse, found by comparing
/// both on generated inputs: an empty host after `@` (`myapp://@`,
/// `myapp://:@/x`) and a backslash in the port (`myapp://h:\x`).
fn browsers_refuse(raw: &str) -> bool {
    let trimmed = raw.trim_matches(|c: char| c <= ' ');
    let Some(rest) = trimmed
        .split_once(':')
        .and_then(|(_, rest)| rest.strip_prefix("//"))
    else {
        return false;
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = match authority.rfind('@') {
        Some(at) if at + 1 == authority.len() => return true,
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    let port = match host_port.strip_prefix('[') {
        Some(literal) => literal.split_once(']').map_or("", |(_, port)| port),
        None => host_port.split_once(':').map_or("", |(_, port)| port),
    };
    port.contains('\\')
}

impl Pattern {
    fn new(p: &str) -> Pattern {
        let wild = p.contains(['*', '?']);
        match p.find("://") {
            None if wild => Pattern::Host {
                glob: Glob::new(&p.to_lowercase()),
                ipv4_only: is_ip_wildcard(p),
            },
            Some(at) if wild => Pattern::Wildcard {
                origin: Glob::new(&p.to_lowercase()),
                ipv4_only: is_ip_wildcard(&p[at + 3..]),
                custom: CustomPattern::new(p, true),
            },
            _ => Pattern::Exact {
                origin: Url::parse(p)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .map(|u| u.origin().ascii_serialization()),
                custom: CustomPattern::new(p, false),
            },
        }
    }

    fn admits(&self, url: &Candidate) -> bool {
        match self {
            // Deliberately http(s) only (see the module docs).
            Pattern::Host { glob, ipv4_only } => url
                .web
                .as_ref()
                .is_some_and(|w| glob.matches(&w.host) && ipv4_allowed(*ipv4_only, &w.host)),
            Pattern::Wildcard {
                origin,
                ipv4_only,
                custom,
            } => match &url.web {
                Some(w) => {
                    let authority = w.origin.split_once("://").map_or("", |(_, a)| a);
                    origin.matches(&w.origin) && ipv4_allowed(*ipv4_only, authority)
                }
                None => custom_admits(custom.as_ref(), url, true),
            },
            Pattern::Exact { origin, custom } => match &url.web {
                Some(w) => origin.as_deref() == Some(w.origin.as_str()),
                None => custom_admits(custom.as_ref(), url, false),
            },
        }
    }
}

/// The custom-scheme branch of `matchesOriginPattern`.
fn custom_admits(pattern: Option<&CustomPattern>, url: &Candidate, wild: bool) -> bool {
    let (Some(p), Some(u)) = (pattern, url.custom.as_ref()) else {
        return false;
    };
    if u.scheme != p.parts.scheme {
        return false;
    }
    if wild {
        if u.authority.contains('@') {
            return false;
        }
        let authority_ok = p.parts.authority.is_empty()
            || (p.authority_glob.matches(&u.authority) && ipv4_allowed(p.ipv4_only, &u.authority));
        if !authority_ok {
            return false;
        }
        let path = if u.path.is_empty() { "/" } else { &u.path };
        return p.parts.path.is_empty() || p.path_glob.matches(path);
    }
    if !p.parts.authority.is_empty() && u.authority != p.parts.authority {
        return false;
    }
    p.parts.path.is_empty()
        || u.path == p.parts.path
        || u.path
            .strip_prefix(p.parts.path.as_str())
            .is_some_and(|rest| rest.starts_with('/'))
}

impl CustomPattern {
    fn new(p: &str, wild: bool) -> Option<CustomPattern> {
        let parts = CustomParts::parse(p, wild)?;
        Some(CustomPattern {
            authority_glob: Glob::new(&parts.authority),
            path_glob: Glob::new(&parts.path),
            ipv4_only: is_ip_wildcard(&parts.authority),
            parts,
        })
    }
}

/// `scheme:[//authority][path]` of a URL with another scheme than http(s),
/// split with plain string operations as better-auth's
/// `parseCustomSchemeOrigin` splits it (non-special URLs are parsed
/// differently by different JavaScript runtimes, so better-auth does not use
/// `URL` here).
#[derive(Clone, Debug)]
struct CustomParts {
    /// Lowercased.
    scheme: String,
    /// Lowercased; empty without `//`.
    authority: String,
    /// Percent-decoded, `.` and `..` resolved; empty for no path or `/`.
    path: String,
}

impl CustomParts {
    /// `None` for control characters or a missing scheme. In a wildcard
    /// pattern `?` is a wildcard, not the start of a query.
    fn parse(value: &str, wild: bool) -> Option<CustomParts> {
        if value.chars().any(is_js_control) {
            return None;
        }
        let scheme_end = value.find(':').filter(|&i| i > 0)?;
        let scheme = value[..scheme_end].to_lowercase();
        let mut rest = &value[scheme_end + 1..];
        let mut authority = "";
        if let Some(after) = rest.strip_prefix("//") {
            let end = if wild {
                after.find(['/', '#'])
            } else {
                after.find(['/', '?', '#'])
            };
            let end = end.unwrap_or(after.len());
            (authority, rest) = after.split_at(end);
        }
        let path_end = if wild {
            rest.find('#')
        } else {
            rest.find(['?', '#'])
        };
        let path = &rest[..path_end.unwrap_or(rest.len())];
        Some(CustomParts {
            scheme,
            authority: authority.to_lowercase(),
            path: normalize_path(path),
        })
    }
}

/// Percent-decodes (when it decodes) and resolves `.` and `..`, so
/// `myapp://host/cb/../evil` is not within `myapp://host/cb`.
fn normalize_path(path: &str) -> String {
    let decoded = decode_uri_component(path).map_or(Cow::Borrowed(path), Cow::Owned);
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            ".." => {
                segments.pop();
            }
            "." | "" => {}
            s => segments.push(s),
        }
    }
    if segments.is_empty() {
        String::new()
    } else {
        format!("/{}", segments.join("/"))
    }
}

/// better-auth's `CONTROL_CHARACTER_PATTERN`: C0, DEL and C1.
fn is_js_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
}

/// Whether a pattern's host (before any `:`) is made only of digits, dots
/// and wildcards, with a digit: an address range such as `192.168.*.*`.
fn is_ip_wildcard(authority: &str) -> bool {
    let host = authority.split(':').next().unwrap_or_default();
    host.bytes().any(|b| b.is_ascii_digit())
        && host
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'*' | b'?' | b'.'))
}

/// An address-range pattern admits only a dotted-quad IPv4 host, so
/// `192.168.*.*` does not admit `192.168.evil.com`.
fn ipv4_allowed(ipv4_only: bool, authority: &str) -> bool {
    let host = authority.split(':').next().unwrap_or_default();
    // std rejects leading zeros, as zod's `ipv4()` does.
    !ipv4_only || host.parse::<std::net::Ipv4Addr>().is_ok()
}

/// better-auth's `isSafeRelativeURL`: a root-relative path that every
/// browser and router reads as a path on this origin.
fn is_safe_relative(url: &str) -> bool {
    if !url.starts_with('/')
        || url.starts_with("//")
        || url.contains('\\')
        || url.chars().any(is_js_control)
    {
        return false;
    }
    let path = &url[..url.find(['?', '#']).unwrap_or(url.len())];
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") {
        return false;
    }
    let Ok(base) = Url::parse(RELATIVE_BASE) else {
        return false;
    };
    base.join(url)
        .is_ok_and(|u| u.origin().ascii_serialization() == RELATIVE_BASE)
}

/// `scheme://host[:port]` as a browser serialises an origin (lowercase,
/// default port dropped, IDN in punycode); `None` for what is not an
/// absolute URL with an origin (relative paths, `data:`, `javascript:`,
/// custom schemes).
///
/// ```
/// use tessera::api::origin_of;
///
/// assert_eq!(origin_of("HTTPS://App.Example.com:443/x").as_deref(), Some("https://app.example.com"));
/// assert_eq!(origin_of("http://evil.example\\@app.example.com/").as_deref(), Some("http://evil.example"));
/// assert_eq!(origin_of("myapp://callback"), None);
/// ```
pub fn origin_of(url: &str) -> Option<String> {
    let origin = Url::parse(url).ok()?.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// A compiled wildcard, as better-auth's `wildcardMatch` (`utils/wildcard`)
/// reads one in its default, path-aware form: the pattern is split on `/`;
/// `*` matches a run of characters other than `/` and `\`, `?` one such
/// character, a `**` segment any number of segments; each `/` matches one
/// or more `/` or `\` (after the last segment, also none); `\` escapes the
/// next character. better-auth compiles it to a regular expression; here
/// it is a small automaton run without backtracking, so matching costs
/// time linear in the text for a given pattern, whatever the text.
#[derive(Clone, Debug)]
struct Glob {
    program: Vec<Inst>,
}

/// One step of a [`Glob`]'s automaton (a Thompson NFA).
#[derive(Clone, Copy, Debug)]
enum Inst {
    /// Consume one character of the class, then go to the index.
    Char(Class, usize),
    /// Go to both indices without consuming.
    Split(usize, usize),
    /// The whole text matched.
    Match,
}

#[derive(Clone, Copy, Debug)]
enum Class {
    Literal(char),
    /// `/` or `\`.
    Separator,
    /// Anything but `/` and `\`.
    Other,
}

impl Class {
    fn admits(self, c: char) -> bool {
        let separator = matches!(c, '/' | '\\');
        match self {
            Class::Literal(l) => l == c,
            Class::Separator => separator,
            Class::Other => !separator,
        }
    }
}

impl Glob {
    /// Compiles `pattern` as better-auth's `transform(pattern, true)`.
    fn new(pattern: &str) -> Glob {
        let mut g = Glob {
            program: Vec::new(),
        };
        let segments: Vec<&str> = pattern.split('/').collect();
        let last = segments.len() - 1;
        for (s, segment) in segments.iter().enumerate() {
            if segment.is_empty() && s > 0 {
                continue;
            }
            // The separator after this segment: none before a `**`
            // (which brings its own), required between, optional at the end.
            let separator = if s == last {
                Some(false)
            } else if segments[s + 1] != "**" {
                Some(true)
            } else {
                None
            };
            if *segment == "**" {
                if let Some(required) = separator {
                    if s > 0 {
                        g.separators(required);
                    }
                    g.segments(required);
                }
                continue;
            }
            let mut chars = segment.chars();
            while let Some(c) = chars.next() {
                match c {
                    // A trailing lone backslash escapes nothing and is dropped.
                    '\\' => {
                        if let Some(escaped) = chars.next() {
                            g.one(Class::Literal(escaped));
                        }
                    }
                    '?' => g.one(Class::Other),
                    '*' => g.any(Class::Other),
                    c => g.one(Class::Literal(c)),
                }
            }
            if let Some(required) = separator {
                g.separators(required);
            }
        }
        g.program.push(Inst::Match);
        g
    }

    fn one(&mut self, class: Class) {
        let next = self.program.len() + 1;
        self.program.push(Inst::Char(class, next));
    }

    /// Zero or more of `class`.
    fn any(&mut self, class: Class) {
        let at = self.program.len();
        self.program.push(Inst::Split(at + 1, at + 2));
        self.program.push(Inst::Char(class, at));
    }

    /// `[/\\]+?` when `required`, else `[/\\]*?`.
    fn separators(&mut self, required: bool) {
        if required {
            self.one(Class::Separator);
        }
        self.any(Class::Separator);
    }

    /// A `**` segment: `(?:[^/\\]*?SEPARATORS)*?`.
    fn segments(&mut self, required: bool) {
        let at = self.program.len();
        self.program.push(Inst::Split(at + 1, usize::MAX));
        self.any(Class::Other);
        self.separators(required);
        self.program.push(Inst::Split(at, at));
        let end = self.program.len();
        self.program[at] = Inst::Split(at + 1, end);
    }

    fn matches(&self, text: &str) -> bool {
        let mut marks = vec![usize::MAX; self.program.len()];
        let mut current = Vec::new();
        let mut next = Vec::new();
        let mut stack = Vec::new();
        self.enter(0, 0, &mut marks, &mut current, &mut stack);
        for (step, c) in text.chars().enumerate() {
            next.clear();
            for &pc in &current {
                if let Inst::Char(class, to) = self.program[pc] {
                    if class.admits(c) {
                        self.enter(to, step + 1, &mut marks, &mut next, &mut stack);
                    }
                }
            }
            if next.is_empty() {
                return false;
            }
            std::mem::swap(&mut current, &mut next);
        }
        current
            .iter()
            .any(|&pc| matches!(self.program[pc], Inst::Match))
    }

    /// Adds `pc` and every state reachable from it without consuming to
    /// `states`, once per step (`marks`).
    fn enter(
        &self,
        pc: usize,
        step: usize,
        marks: &mut [usize],
        states: &mut Vec<usize>,
        stack: &mut Vec<usize>,
    ) {
        stack.push(pc);
        while let Some(pc) = stack.pop() {
            if marks[pc] == step {
                continue;
            }
            marks[pc] = step;
            match self.program[pc] {
                Inst::Split(a, b) => {
                    stack.push(b);
                    stack.push(a);
                }
                Inst::Char(..) | Inst::Match => states.push(pc),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The patterns of the verdict table: the base URL, an exact origin,
    /// wildcards over an origin, a host and address ranges, custom schemes,
    /// an IDN and an IPv6 literal.
    fn trusted() -> TrustedOrigins {
        TrustedOrigins::new([
            "http://127.0.0.1:3005",
            "https://app.example.com",
            "https://*.example.org",
            "*.example.net",
            "192.168.*.*",
            "http://10.*",
            "myapp://",
            "exp://host/cb",
            "https://xn--bcher-kva.example",
            "http://[::1]:3000",
        ])
    }

    /// `(input, as a callback, as an Origin)`: what better-auth 1.7.25's
    /// `matchesOriginPattern` answers over the patterns of [`trusted`]
    /// (checked with Node 20 against its own code), except the rows marked
    /// "deliberate".
    const VERDICTS: &[(&str, bool, bool)] = &[
        // Backslashes: a browser ends the host at `\` in http(s) URLs.
        ("http://evil.example\\@127.0.0.1:3005/x", false, false),
        ("https://evil.example\\@app.example.com", false, false),
        ("http://127.0.0.1:3005\\@evil.example/x", true, true),
        ("https://app.example.com\\.evil.example", true, true),
        ("http://127.0.0.1:3005/\\evil", true, true),
        ("/\\evil.example", false, false),
        ("\\\\evil.example", false, false),
        ("\\/evil.example", false, false),
        ("http:\\\\evil.example", false, false),
        ("http:\\\\127.0.0.1:3005", true, true),
        // Userinfo.
        ("http://127.0.0.1:3005@evil.example/x", false, false),
        ("https://user:pass@app.example.com/x", true, true),
        ("https://app.example.com@evil.example", false, false),
        ("https://evil.example#@app.example.com", false, false),
        ("https://evil.example?@app.example.com", false, false),
        // Tabs, newlines and other controls: removed by the parser, refused
        // in relative paths.
        ("http://127.0.0.1:3005/ok\tx", true, true),
        ("http://127.0.0.1:3\t005", true, true),
        ("ht\ntp://127.0.0.1:3005", true, true),
        ("http://evil.exa\nmple", false, false),
        ("  http://127.0.0.1:3005", true, true),
        ("http://127.0.0.1:3005 ", true, true),
        ("https://app.example.com\u{0}", true, true),
        ("/ok\tx", false, false),
        ("/ok\n", false, false),
        ("/\t/evil.example", false, false),
        // Scripts and data.
        ("javascript:alert(1)", false, false),
        ("JAVASCRIPT:alert(1)", false, false),
        // Deliberate: better-auth trusts this under `*.example.net`.
        ("javascript://app.example.net/%0aalert(1)", false, false),
        ("data:text/html,<script>alert(1)</script>", false, false),
        ("file:///etc/passwd", false, false),
        ("blob:https://app.example.com/uuid", false, false),
        // Scheme-relative and slash-less forms.
        ("//evil.example", false, false),
        ("//127.0.0.1:3005", false, false),
        ("http:evil.example", false, false),
        ("http:127.0.0.1:3005", true, true),
        ("http:/127.0.0.1:3005/x", true, true),
        ("not a url", false, false),
        ("app.example.com", false, false),
        ("", false, false),
        // IDN: the punycode origin.
        ("https://bücher.example", true, true),
        ("https://xn--bcher-kva.example", true, true),
        ("https://BÜCHER.example/x", true, true),
        // Ports.
        ("https://app.example.com:443/x", true, true),
        ("https://app.example.com:0443", true, true),
        ("https://app.example.com:", true, true),
        ("https://app.example.com:8443", false, false),
        ("https://app.example.com:65536", false, false),
        ("http://127.0.0.1:80", false, false),
        // Percent-encoded separators.
        ("/%2F%2Fevil.example", false, false),
        ("/%5Cevil.example", false, false),
        ("/a%2fb", false, false),
        ("/a?next=%2F%2Fevil.example", true, false),
        ("/a#%5C", true, false),
        ("/%40evil.example", true, false),
        ("https://evil.example%2F@app.example.com", true, true),
        ("https://evil.example%5C@app.example.com", true, true),
        ("https://app.example.com%2F@evil.example", false, false),
        ("https://app.example.com%40evil.example", false, false),
        ("https://app.example.com/%2F%2Fevil", true, true),
        // Case and trailing dots.
        ("HTTPS://APP.EXAMPLE.COM/X", true, true),
        ("HTTP://127.0.0.1:3005", true, true),
        ("http://app.example.com", false, false),
        ("https://app.example.com./", false, false),
        ("http://127.0.0.1:3005.", false, false),
        ("https://a.example.org.", false, false),
        // IPv6 literals, canonicalised.
        ("http://[::1]:3000", true, true),
        ("http://[0:0::1]:3000/x", true, true),
        ("http://[::2]:3000", false, false),
        ("http://[::1]:3001", false, false),
        // Origin wildcards.
        ("https://a.example.org", true, true),
        ("https://a.b.example.org", true, true),
        ("https://xn--bcher-kva.example.org", true, true),
        ("https://example.org", false, false),
        ("http://a.example.org", false, false),
        ("https://evil.com?.example.org", false, false),
        ("https://evil.com#.example.org", false, false),
        ("https://evil.com\\.example.org", false, false),
        // Host wildcards: the port is part of the host.
        ("https://a.example.net", true, true),
        ("https://a.example.net:8443", false, false),
        // Deliberate: better-auth admits any scheme here.
        ("ftp://a.example.net", false, false),
        ("ws://a.example.net", false, false),
        // Address ranges admit IPv4 addresses only.
        ("http://192.168.1.1", true, true),
        ("https://192.168.1.1", true, true),
        ("http://192.168.1.1:8080", true, true),
        ("http://192.168.0x1.1", true, true),
        ("http://3232235777", true, true),
        ("http://192.168.evil.com", false, false),
        ("http://192.168.1.1.evil.com", false, false),
        ("http://10.0.0.1:99", true, true),
        ("https://10.0.0.1", false, false),
        ("http://10.evil.com", false, false),
        // Custom schemes: scheme, authority, then the path within the pattern's.
        ("myapp://callback", true, true),
        ("MYAPP://callback", true, true),
        ("myapp:callback", true, true),
        ("myapp://a.example.net", true, true),
        ("exp://host/cb", true, true),
        ("exp://host/cb/x", true, true),
        ("exp://host/cb?x=1", true, true),
        ("exp://HOST/cb", true, true),
        ("exp://host/cbx", false, false),
        ("exp://host/CB", false, false),
        ("exp://host/cb/../evil", false, false),
        ("exp://host/cb/%2e%2e/evil", false, false),
        ("exp://host.evil/cb", false, false),
        ("exp://evil@host/cb", false, false),
        ("exp:host/cb", false, false),
        // Refused by browsers, accepted by the `url` crate.
        ("myapp://@", false, false),
        ("myapp://:@/x", false, false),
        ("myapp://callback:\\x", false, false),
        ("myapp://@callback", true, true),
        // Relative paths.
        ("/dashboard", true, false),
    ];

    #[test]
    fn tricky_urls_are_judged_as_better_auth_judges_them() {
        let t = trusted();
        let mut wrong = Vec::new();
        for &(input, callback, origin) in VERDICTS {
            let got = (t.is_trusted_callback(input), t.is_trusted(input));
            if got != (callback, origin) {
                wrong.push(format!(
                    "{input:?}: got (callback {}, origin {}), want ({callback}, {origin})",
                    got.0, got.1
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn urls_past_the_length_bound_are_not_trusted() {
        let t = trusted();
        let at_bound = |prefix: &str| {
            let mut url = prefix.to_owned();
            url.push_str(&"a".repeat(MAX_URL_LENGTH - prefix.len()));
            url
        };
        for prefix in ["/", "https://app.example.com/", "myapp://x/"] {
            let url = at_bound(prefix);
            assert!(t.is_trusted_callback(&url), "{prefix}");
            assert!(!t.is_trusted_callback(&format!("{url}a")), "{prefix}");
        }
        let origin = at_bound("https://app.example.com/");
        assert!(t.is_trusted(&origin));
        assert!(!t.is_trusted(&format!("{origin}a")));
    }

    #[test]
    fn address_ranges_admit_only_ipv4_addresses() {
        let t = TrustedOrigins::new(["192.168.*.*", "exp://10.0.*.*:*"]);
        assert!(t.is_trusted("http://192.168.1.20"));
        assert!(!t.is_trusted("http://192.168.evil.com"));
        assert!(!t.is_trusted("http://192.168.1.evil.com"));
        assert!(t.is_trusted("exp://10.0.0.7:8081"));
        assert!(!t.is_trusted("exp://10.0.evil.com:8081"));
        assert!(!t.is_trusted("exp://10.0.0.007:8081"));
        // A pattern with letters keeps subdomain matching.
        let t = TrustedOrigins::new(["*.example.com"]);
        assert!(t.is_trusted("https://192.168.example.com"));
    }

    #[test]
    fn host_wildcards_admit_only_http_and_https() {
        let t = TrustedOrigins::new(["*.example.com"]);
        assert!(t.is_trusted("https://app.example.com"));
        assert!(t.is_trusted("http://app.example.com"));
        for url in [
            "javascript://app.example.com/%0aalert(1)",
            "ftp://app.example.com",
            "wss://app.example.com",
            "myapp://app.example.com",
        ] {
            assert!(!t.is_trusted(url), "{url}");
        }
    }

    #[test]
    fn custom_wildcards_match_authority_and_path() {
        let t = TrustedOrigins::new(["exp://*.example.com/cb/*"]);
        assert!(t.is_trusted("exp://a.example.com/cb/x"));
        assert!(!t.is_trusted("exp://a.example.com/other/x"));
        assert!(!t.is_trusted("exp://evil@a.example.com/cb/x"));
        assert!(!t.is_trusted("exp://a.example.com/cb/../../other/x"));
    }

    #[test]
    fn configured_patterns_are_normalised() {
        let t = TrustedOrigins::new([
            " https://App.Example.com:443/some/path ",
            "",
            "HTTPS://*.Example.org",
        ]);
        assert!(t.is_trusted("https://app.example.com"));
        assert!(t.is_trusted("https://a.example.org"));
        let t = TrustedOrigins::new(["https://bücher.example"]);
        assert!(t.is_trusted("https://xn--bcher-kva.example"));
    }

    /// `(pattern, text, match)`, as better-auth's `wildcardMatch(pattern)(text)`
    /// answers (checked with Node 20 against its own code).
    const GLOBS: &[(&str, &str, bool)] = &[
        ("/cb/**", "/cb", true),
        ("/cb/**", "/cbx", true),
        ("/cb/**", "/cb/a/b", true),
        ("/cb/*", "/cb/a/b", false),
        ("/cb/*", "/cb/a", true),
        ("/cb/*", "/cb\\a", true),
        ("/c?/**", "/cb", true),
        ("*.example.com", "a.b.example.com", true),
        ("*.example.com", "example.com", false),
        ("a?c", "abc", true),
        ("a?c", "a/c", false),
        ("a\\*c", "a*c", true),
        ("a\\*c", "abc", false),
        ("**", "", true),
        ("**", "a/b\\c", true),
        ("a/**/b", "a/b", true),
        ("a/**/b", "a/x/y/b", true),
        ("a/**/b", "a//b", true),
        ("a/**/b", "ab", false),
        ("a/**/**/b", "a/b", true),
        ("https://*.example.org", "https://a.example.org", true),
        ("https://*.example.org", "https:/a.example.org", true),
        ("https://*.example.org", "https:\\\\a.example.org", true),
        ("https://*.example.org", "https://a.example.org/", true),
        ("https://*.example.org", "https://a/b.example.org", false),
        ("*", "a\nb", true),
        ("*", "a\u{2028}b", true),
        ("a//b", "a/b", true),
        ("a/b", "a//b", true),
        ("a/b/", "a/b", false),
        ("/a", "a", false),
        ("*", "a\\b", false),
        ("x/**", "x", true),
        ("**/x", "x", true),
        ("**/x", "a/x", true),
        ("**/x", "/x", true),
        ("?", "é", true),
        ("a*", "a", true),
        ("", "", true),
        ("", "/", true),
        ("a\\", "a", true),
    ];

    #[test]
    fn wildcards_match_as_better_auths_wildcard_match() {
        let wrong: Vec<_> = GLOBS
            .iter()
            .filter(|(p, t, want)| Glob::new(p).matches(t) != *want)
            .collect();
        assert!(wrong.is_empty(), "{wrong:?}");
    }

    #[test]
    fn origin_of_serialises_as_a_browser_does() {
        assert_eq!(
            origin_of("HTTPS://Bücher.Example:443/x").as_deref(),
            Some("https://xn--bcher-kva.example")
        );
        assert_eq!(
            origin_of("http://[0::1]:80").as_deref(),
            Some("http://[::1]")
        );
        assert_eq!(
            origin_of("http://evil.example\\@app.host/x").as_deref(),
            Some("http://evil.example")
        );
        assert_eq!(origin_of("data:text/plain,x"), None);
        // Found by fuzzing the hand-written parser: an empty http(s) host is
        // no origin (browsers refuse the URL), whatever follows it.
        assert_eq!(origin_of("http://:80/x"), None);
        assert_eq!(origin_of("http://"), None);
        assert_eq!(origin_of("/relative"), None);
    }
}
