//! Origin and CSRF checks (spec §7.2).

use http::HeaderMap;
use serde_json::Value;

use super::error::{codes, ApiError};

/// The trusted origins of one configuration, normalised once at build time.
#[derive(Clone, Debug, Default)]
pub struct TrustedOrigins {
    patterns: Vec<Pattern>,
}

#[derive(Clone, Debug)]
enum Pattern {
    /// An exact http(s) origin, normalised.
    Exact(String),
    /// A wildcard over the full origin (`https://*.example.com`).
    OriginGlob(String),
    /// A wildcard over the host alone (`*.example.com`).
    HostGlob(String),
    /// A custom scheme (`myapp://`), matched as a prefix.
    Prefix(String),
}

impl TrustedOrigins {
    /// Builds the matcher from the base URL's origin and configured patterns.
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Self {
        let patterns = patterns
            .into_iter()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                let wild = p.contains('*') || p.contains('?');
                match (wild, p.contains("://")) {
                    (true, true) => Pattern::OriginGlob(p.to_ascii_lowercase()),
                    (true, false) => Pattern::HostGlob(p.to_ascii_lowercase()),
                    (false, _) if is_http(p) => {
                        Pattern::Exact(origin_of(p).unwrap_or_else(|| p.to_ascii_lowercase()))
                    }
                    (false, _) => Pattern::Prefix(p.to_owned()),
                }
            })
            .collect();
        TrustedOrigins { patterns }
    }

    /// Whether an absolute URL (or origin) is trusted.
    pub fn is_trusted(&self, url: &str) -> bool {
        let origin = origin_of(url);
        self.patterns.iter().any(|p| match p {
            Pattern::Exact(o) => origin.as_deref() == Some(o.as_str()),
            Pattern::OriginGlob(g) => origin.as_deref().is_some_and(|o| glob(g, o)),
            Pattern::HostGlob(g) => origin
                .as_deref()
                .and_then(|o| o.split_once("://"))
                .is_some_and(|(_, host)| glob(g, host_without_port(host))),
            Pattern::Prefix(prefix) => url.starts_with(prefix.as_str()),
        })
    }

    /// Whether a callback-type URL is acceptable: trusted, or a safe
    /// relative path.
    pub fn is_trusted_callback(&self, url: &str) -> bool {
        if url.starts_with('/') {
            return is_safe_relative(url);
        }
        self.is_trusted(url)
    }
}

fn is_http(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// `scheme://host[:port]`, lowercased, default ports dropped; `None` for
/// anything that is not an absolute URL.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or("");
    if authority.is_empty() {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    let mut host = authority.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => Some(":80"),
        "https" => Some(":443"),
        _ => None,
    };
    if let Some(port) = default_port {
        if let Some(stripped) = host.strip_suffix(port) {
            host = stripped.to_owned();
        }
    }
    Some(format!("{scheme}://{host}"))
}

fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// `*` matches any run, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn is_safe_relative(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    url.starts_with('/')
        && !url.starts_with("//")
        && !url.contains('\\')
        && !url.chars().any(char::is_control)
        && !lower.contains("%2f")
        && !lower.contains("%5c")
}

/// The request's `Origin`, else its `Referer`.
fn request_origin(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(http::header::ORIGIN)
        .or_else(|| headers.get(http::header::REFERER))
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

/// better-auth's `validateOrigin`: the request's origin must be trusted.
pub fn validate_origin(headers: &HeaderMap, trusted: &TrustedOrigins) -> Result<(), ApiError> {
    match request_origin(headers) {
        Some("null") => {
            let same_origin = headers
                .get("sec-fetch-site")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"same-origin"));
            if same_origin {
                Ok(())
            } else {
                Err(codes::missing_or_null_origin())
            }
        }
        None => Err(codes::missing_or_null_origin()),
        Some(origin) if trusted.is_trusted(origin) => Ok(()),
        Some(_) => Err(codes::invalid_origin()),
    }
}

/// `formCsrfMiddleware` for `/sign-in/email` and `/sign-up/email`, which
/// usually arrive without cookies.
pub fn form_csrf(
    headers: &HeaderMap,
    has_cookies: bool,
    trusted: &TrustedOrigins,
) -> Result<(), ApiError> {
    if has_cookies {
        return validate_origin(headers, trusted);
    }
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let mode = headers.get("sec-fetch-mode").and_then(|v| v.to_str().ok());
    let dest = headers.get("sec-fetch-dest");
    if site.is_some() || mode.is_some() || dest.is_some() {
        if site == Some("cross-site") && mode == Some("navigate") {
            return Err(codes::cross_site_navigation_login_blocked());
        }
        return validate_origin(headers, trusted);
    }
    if request_origin(headers).is_some() {
        return validate_origin(headers, trusted);
    }
    Ok(())
}

/// Validates the URL fields of a body against the trusted origins.
pub fn validate_callback_urls(
    body: Option<&Value>,
    trusted: &TrustedOrigins,
) -> Result<(), ApiError> {
    let Some(Value::Object(map)) = body else {
        return Ok(());
    };
    type ErrorFor = fn() -> ApiError;
    let fields: [(&str, ErrorFor); 4] = [
        ("callbackURL", codes::invalid_callback_url),
        ("redirectTo", codes::invalid_redirect_url),
        ("errorCallbackURL", codes::invalid_error_callback_url),
        ("newUserCallbackURL", codes::invalid_new_user_callback_url),
    ];
    for (field, err) in fields {
        if let Some(Value::String(url)) = map.get(field) {
            if !url.is_empty() && !trusted.is_trusted_callback(url) {
                return Err(err());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted() -> TrustedOrigins {
        TrustedOrigins::new([
            "http://127.0.0.1:3005",
            "https://*.example.org",
            "*.example.net",
            "myapp://",
        ])
    }

    #[test]
    fn exact_and_wildcard_origins() {
        let t = trusted();
        assert!(t.is_trusted("http://127.0.0.1:3005"));
        assert!(t.is_trusted("http://127.0.0.1:3005/some/page?x=1"));
        assert!(!t.is_trusted("http://127.0.0.1:3006"));
        assert!(t.is_trusted("https://app.example.org"));
        assert!(!t.is_trusted("http://app.example.org"));
        assert!(t.is_trusted("https://a.example.net:8443"));
        assert!(t.is_trusted("myapp://callback"));
        assert!(!t.is_trusted("https://evil.com"));
        assert!(!t.is_trusted("https://example.org.evil.com"));
    }

    #[test]
    fn default_ports_are_ignored() {
        let t = TrustedOrigins::new(["https://auth.example.com"]);
        assert!(t.is_trusted("https://auth.example.com:443/x"));
    }

    #[test]
    fn relative_callbacks_must_be_safe() {
        let t = trusted();
        assert!(t.is_trusted_callback("/dashboard"));
        assert!(!t.is_trusted_callback("//evil.com"));
        assert!(!t.is_trusted_callback("/\\evil.com"));
        assert!(!t.is_trusted_callback("/%2F%2Fevil.com"));
    }

    #[test]
    fn missing_origin_with_cookies_is_refused() {
        let h = HeaderMap::new();
        assert_eq!(
            validate_origin(&h, &trusted()).unwrap_err().code.as_deref(),
            Some("MISSING_OR_NULL_ORIGIN")
        );
        assert!(form_csrf(&h, false, &trusted()).is_ok());
    }
}
