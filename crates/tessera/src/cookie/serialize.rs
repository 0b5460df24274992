//! `Set-Cookie` serialisation, byte for byte as better-call writes it
//! (spec §1.2).

use std::fmt::Write as _;

use http::HeaderValue;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// The characters JavaScript's `encodeURIComponent` escapes.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// JavaScript's `encodeURIComponent`, which better-call applies to every
/// cookie value.
pub fn encode_uri_component(s: &str) -> String {
    utf8_percent_encode(s, URI_COMPONENT).to_string()
}

/// The longest `Max-Age` browsers honour, and better-call accepts: 400 days.
pub const MAX_AGE_LIMIT: u64 = 400 * 24 * 60 * 60;

/// `SameSite` attribute values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    /// `SameSite=Strict`
    Strict,
    /// `SameSite=Lax` (better-auth's default)
    Lax,
    /// `SameSite=None` (forces `Secure`)
    None,
}

impl SameSite {
    fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }
}

/// Attributes of a cookie, independent of its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieAttributes {
    /// `Max-Age` in seconds; `None` makes a browser-session cookie.
    pub max_age: Option<u64>,
    /// `Domain`.
    pub domain: Option<String>,
    /// `Path`.
    pub path: Option<String>,
    /// `HttpOnly`.
    pub http_only: bool,
    /// `Secure`.
    pub secure: bool,
    /// `SameSite`.
    pub same_site: Option<SameSite>,
    /// `Partitioned` (CHIPS).
    pub partitioned: bool,
}

impl Default for CookieAttributes {
    /// better-auth's defaults: `Path=/; HttpOnly; SameSite=Lax`.
    fn default() -> Self {
        CookieAttributes {
            max_age: None,
            domain: None,
            path: Some("/".to_owned()),
            http_only: true,
            secure: false,
            same_site: Some(SameSite::Lax),
            partitioned: false,
        }
    }
}

/// One `Set-Cookie` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetCookie {
    /// Cookie name (already prefixed).
    pub name: String,
    /// The value before `encodeURIComponent`.
    pub value: String,
    /// Its attributes.
    pub attributes: CookieAttributes,
}

impl SetCookie {
    /// A cookie with a value.
    pub fn new(
        name: impl Into<String>,
        value: impl Into<String>,
        attributes: CookieAttributes,
    ) -> Self {
        SetCookie {
            name: name.into(),
            value: value.into(),
            attributes,
        }
    }

    /// The deletion of `name`: empty value, same attributes, `Max-Age=0`.
    pub fn expired(name: impl Into<String>, attributes: &CookieAttributes) -> Self {
        let mut attributes = attributes.clone();
        attributes.max_age = Some(0);
        SetCookie {
            name: name.into(),
            value: String::new(),
            attributes,
        }
    }

    /// Whether this header deletes its cookie.
    pub fn is_expiry(&self) -> bool {
        self.attributes.max_age == Some(0)
    }

    /// The header line, in better-call's attribute order:
    /// `name=value; Max-Age; Domain; Path; HttpOnly; Secure; SameSite; Partitioned`.
    pub fn serialize(&self) -> String {
        let a = &self.attributes;
        let lower = self.name.to_ascii_lowercase();
        let host = lower.starts_with("__host-");
        let secure = a.secure
            || host
            || lower.starts_with("__secure-")
            || a.partitioned
            || a.same_site == Some(SameSite::None);
        let mut out = String::with_capacity(self.name.len() + self.value.len() + 64);
        out.push_str(&self.name);
        out.push('=');
        let _ = write!(out, "{}", utf8_percent_encode(&self.value, URI_COMPONENT));
        if let Some(max_age) = a.max_age {
            let _ = write!(out, "; Max-Age={}", max_age.min(MAX_AGE_LIMIT));
        }
        if let (Some(domain), false) = (&a.domain, host) {
            let _ = write!(out, "; Domain={domain}");
        }
        let path = if host { Some("/") } else { a.path.as_deref() };
        if let Some(path) = path {
            let _ = write!(out, "; Path={path}");
        }
        if a.http_only {
            out.push_str("; HttpOnly");
        }
        if secure {
            out.push_str("; Secure");
        }
        if let Some(s) = a.same_site {
            let _ = write!(out, "; SameSite={}", s.as_str());
        }
        if a.partitioned {
            out.push_str("; Partitioned");
        }
        out
    }

    /// The bytes this cookie takes in a request's `Cookie` header once the
    /// browser sends it back: `name=value` with the value percent-encoded
    /// as [`SetCookie::serialize`] writes it, and the `; ` that separates it
    /// from the next.
    pub fn request_len(&self) -> usize {
        let value: usize = utf8_percent_encode(&self.value, URI_COMPONENT)
            .map(str::len)
            .sum();
        self.name.len() + 1 + value + 2
    }

    /// The serialised header as an `http` header value.
    pub fn to_header_value(&self) -> HeaderValue {
        // Names come from configuration and values are percent-encoded, so
        // the line is always visible ASCII.
        HeaderValue::from_str(&self.serialize()).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_better_call_for_a_signed_session_token() {
        let c = SetCookie::new(
            "better-auth.session_token",
            "Dq126CZaWZeVbN8dleAGBHLINk38aYUc.nvrE7V+Tb5cHzjmWBewb8/+SERjzDP0ONo1shdTqwDU=",
            CookieAttributes {
                max_age: Some(604_800),
                ..CookieAttributes::default()
            },
        );
        assert_eq!(
            c.serialize(),
            "better-auth.session_token=Dq126CZaWZeVbN8dleAGBHLINk38aYUc.nvrE7V%2BTb5cHzjmWBewb8%2F%2BSERjzDP0ONo1shdTqwDU%3D; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn deletion_keeps_attributes_with_max_age_zero() {
        let c = SetCookie::expired("better-auth.session_token", &CookieAttributes::default());
        assert_eq!(
            c.serialize(),
            "better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn secure_prefix_partitioned_and_domain_order() {
        let c = SetCookie::new(
            "__Secure-sid",
            "v",
            CookieAttributes {
                max_age: Some(604_800),
                domain: Some(".example.com".into()),
                same_site: Some(SameSite::None),
                partitioned: true,
                ..CookieAttributes::default()
            },
        );
        assert_eq!(
            c.serialize(),
            "__Secure-sid=v; Max-Age=604800; Domain=.example.com; Path=/; HttpOnly; Secure; SameSite=None; Partitioned"
        );
    }

    #[test]
    fn host_prefix_forces_path_and_drops_domain() {
        let c = SetCookie::new(
            "__Host-x",
            "v",
            CookieAttributes {
                domain: Some("example.com".into()),
                path: Some("/a".into()),
                ..CookieAttributes::default()
            },
        );
        assert_eq!(
            c.serialize(),
            "__Host-x=v; Path=/; HttpOnly; Secure; SameSite=Lax"
        );
    }

    #[test]
    fn max_age_is_capped_at_400_days() {
        let c = SetCookie::new(
            "a",
            "b",
            CookieAttributes {
                max_age: Some(10 * MAX_AGE_LIMIT),
                ..CookieAttributes::default()
            },
        );
        assert!(c.serialize().contains("Max-Age=34560000;"));
    }
}
