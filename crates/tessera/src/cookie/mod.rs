//! Cookies: names, attributes, the request parser, the response jar, signing
//! and chunking (spec §1, §2.7).

use std::borrow::Cow;

mod parse;
mod serialize;
mod signed;

pub use parse::{decode_uri_component, RequestCookies, TooManyCookies};
pub use serialize::{encode_uri_component, CookieAttributes, SameSite, SetCookie, MAX_AGE_LIMIT};
pub(crate) use signed::SIGNATURE_LEN;
pub use signed::{sign_value, signature_of, verify_value};

/// The longest serialised `Set-Cookie` line better-auth writes (spec §2.7).
pub const MAX_COOKIE_SIZE: usize = 4050;
/// The most chunks one cookie may be split into: 8 chunks of at most
/// [`MAX_COOKIE_SIZE`] bytes fill the 32 KiB the default
/// request limits (`options::RequestLimits`) leave the session cache.
/// better-auth allows 100 (400 KB), which no server's head limit admits.
pub const MAX_COOKIE_CHUNKS: usize = 8;

/// A logical cookie's wire name and default attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieDef {
    /// Wire name, prefixes included (`__Secure-better-auth.session_token`).
    pub name: String,
    /// Attributes, `max_age` being the cookie's default lifetime.
    pub attributes: CookieAttributes,
}

impl CookieDef {
    /// A cookie with this name and value and the default attributes.
    pub fn with_value(&self, value: impl Into<String>) -> SetCookie {
        SetCookie::new(self.name.clone(), value, self.attributes.clone())
    }

    /// The same cookie with another `Max-Age` (`None`: browser session).
    pub fn with_max_age(&self, max_age: Option<u64>) -> CookieDef {
        let mut def = self.clone();
        def.attributes.max_age = max_age;
        def
    }
}

/// The session cookies of one configuration (spec §1.1).
#[derive(Clone, Debug)]
pub struct AuthCookies {
    /// `session_token`: the signed session token.
    pub session_token: CookieDef,
    /// `session_data`: the cookie cache (§2).
    pub session_data: CookieDef,
    /// `dont_remember`: the signed literal `true` (§6.3).
    pub dont_remember: CookieDef,
    /// `account_data`: the stateless account cookie (§4.2).
    pub account_data: CookieDef,
    /// `oauth_state`: the stateless OAuth state cookie (§4.3).
    pub oauth_state: CookieDef,
    /// `state`: the signed OAuth state of the `database` strategy (§4.3).
    pub state: CookieDef,
}

/// How cookie names and attributes are chosen.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CookieOptions {
    /// `advanced.cookiePrefix` (default `better-auth`).
    pub prefix: String,
    /// `advanced.useSecureCookies`; `None` decides from the base URL scheme.
    pub use_secure_cookies: Option<bool>,
    /// `advanced.crossSubDomainCookies`: `Some(domain)` sets `Domain` on
    /// every cookie (the base URL's full host name when built from an URL).
    pub cross_subdomain_domain: Option<String>,
    /// `advanced.defaultCookieAttributes`: applied on top of the defaults.
    pub same_site: SameSite,
    /// `Partitioned` on every cookie.
    pub partitioned: bool,
}

impl Default for CookieOptions {
    fn default() -> Self {
        CookieOptions {
            prefix: "better-auth".to_owned(),
            use_secure_cookies: None,
            cross_subdomain_domain: None,
            same_site: SameSite::Lax,
            partitioned: false,
        }
    }
}

impl AuthCookies {
    /// Names and attributes for a configuration; `base_url_is_https` is the
    /// fallback for the `__Secure-` rule, `session_max_age` the token's and
    /// `cache_max_age` the cache's lifetime in seconds.
    pub fn new(
        options: &CookieOptions,
        base_url_is_https: bool,
        session_max_age: u64,
        cache_max_age: u64,
    ) -> Self {
        let secure = options.use_secure_cookies.unwrap_or(base_url_is_https);
        let def = |logical: &str, max_age: Option<u64>| {
            let name = if secure {
                format!("__Secure-{}.{logical}", options.prefix)
            } else {
                format!("{}.{logical}", options.prefix)
            };
            CookieDef {
                name,
                attributes: CookieAttributes {
                    max_age,
                    domain: options.cross_subdomain_domain.clone(),
                    path: Some("/".to_owned()),
                    http_only: true,
                    secure,
                    same_site: Some(options.same_site),
                    partitioned: options.partitioned,
                },
            }
        };
        AuthCookies {
            session_token: def("session_token", Some(session_max_age)),
            session_data: def("session_data", Some(cache_max_age)),
            dont_remember: def("dont_remember", None),
            account_data: def("account_data", Some(cache_max_age)),
            oauth_state: def("oauth_state", Some(600)),
            state: def("state", Some(300)),
        }
    }
}

/// The `Set-Cookie` headers a response will carry, in order.
#[derive(Clone, Debug, Default)]
pub struct CookieJar {
    out: Vec<SetCookie>,
}

impl CookieJar {
    /// An empty jar.
    pub fn new() -> Self {
        CookieJar::default()
    }

    /// Appends a `Set-Cookie`.
    pub fn set(&mut self, cookie: SetCookie) {
        self.out.push(cookie);
    }

    /// Expires a cookie, first dropping any earlier `Set-Cookie` of it (or of
    /// its chunks) in this response, so a value issued and revoked in one
    /// request never leaks (better-auth's `expireCookie`).
    pub fn expire(&mut self, def: &CookieDef) {
        let prefix = format!("{}.", def.name);
        self.out
            .retain(|c| c.name != def.name && !c.name.starts_with(&prefix));
        self.out
            .push(SetCookie::expired(def.name.clone(), &def.attributes));
    }

    /// Expires the numbered chunks (`name.<k>`) of `def` that the request
    /// carried; pair it with [`CookieJar::expire`] for the base name.
    pub fn expire_request_chunks_only(&mut self, def: &CookieDef, request: &RequestCookies) {
        for name in chunk_names_in(def, request) {
            if name != def.name {
                self.out.push(SetCookie::expired(name, &def.attributes));
            }
        }
    }

    /// Writes `value` under `def`, split into `name.0 … name.n-1` when one
    /// line would exceed [`MAX_COOKIE_SIZE`]; chunks the request carried and
    /// that are not rewritten are expired (spec §2.7). A value needing more
    /// than [`MAX_COOKIE_CHUNKS`] chunks is not written (a warning is
    /// logged).
    pub fn set_chunked(&mut self, def: &CookieDef, value: &str, request: &RequestCookies) {
        self.set_chunked_within(def, value, request, usize::MAX);
    }

    /// [`CookieJar::set_chunked`] within a budget: a value whose chunks
    /// would take more than `max_request_bytes` of the `Cookie` header
    /// browsers send back ([`SetCookie::request_len`]) is not written
    /// either (a warning is logged; the request's chunks are still
    /// expired), so that no cookie is set that the request limits would
    /// then refuse.
    pub fn set_chunked_within(
        &mut self,
        def: &CookieDef,
        value: &str,
        request: &RequestCookies,
        max_request_bytes: usize,
    ) {
        let mut pending: Vec<SetCookie> = chunk_names_in(def, request)
            .into_iter()
            .map(|name| SetCookie::expired(name, &def.attributes))
            .collect();
        let overhead = SetCookie::new(format!("{}.99", def.name), "", def.attributes.clone())
            .serialize()
            .len();
        let chunk_size = MAX_COOKIE_SIZE.saturating_sub(overhead).max(1);
        let count = value.len().div_ceil(chunk_size);
        let mut fresh: Vec<SetCookie> = Vec::new();
        if count <= 1 {
            fresh.push(def.with_value(value));
        } else if count > MAX_COOKIE_CHUNKS {
            tracing::warn!(
                cookie = %def.name,
                bytes = value.len(),
                "cookie value needs more than {MAX_COOKIE_CHUNKS} chunks; not written"
            );
        } else {
            // Values are base64url or JWS/JWE compact strings: ASCII, so byte
            // offsets are character offsets.
            for (i, piece) in value.as_bytes().chunks(chunk_size).enumerate() {
                let piece = String::from_utf8_lossy(piece).into_owned();
                fresh.push(SetCookie::new(
                    format!("{}.{i}", def.name),
                    piece,
                    def.attributes.clone(),
                ));
            }
        }
        let request_bytes: usize = fresh.iter().map(SetCookie::request_len).sum();
        if request_bytes > max_request_bytes {
            tracing::warn!(
                cookie = %def.name,
                bytes = request_bytes,
                limit = max_request_bytes,
                "cookie value would take more of the Cookie header than the request limits leave it; not written"
            );
            fresh.clear();
        }
        for cookie in fresh {
            match pending.iter_mut().find(|c| c.name == cookie.name) {
                Some(slot) => *slot = cookie,
                None => pending.push(cookie),
            }
        }
        self.out.extend(pending);
    }

    /// Whether a `Set-Cookie` for `name` is pending.
    pub fn contains(&self, name: &str) -> bool {
        self.out.iter().any(|c| c.name == name)
    }

    /// The pending headers.
    pub fn iter(&self) -> impl Iterator<Item = &SetCookie> {
        self.out.iter()
    }

    /// Moves every pending header of `other` to the end of this jar.
    pub fn append(&mut self, other: CookieJar) {
        self.out.extend(other.out);
    }

    /// How many `Set-Cookie` headers are pending.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// Writes every pending cookie as its own `Set-Cookie` header.
    pub fn write_to(&self, headers: &mut http::HeaderMap) {
        for c in &self.out {
            headers.append(http::header::SET_COOKIE, c.to_header_value());
        }
    }
}

/// Reassembles a possibly chunked cookie (better-auth's `getChunkedCookie`):
/// the exact name wins; otherwise `name.<k>` chunks, `k` a canonical
/// non-negative integer, sorted numerically and concatenated.
pub fn read_chunked<'a>(def: &CookieDef, request: &'a RequestCookies) -> Option<Cow<'a, str>> {
    if let Some(v) = request.get(&def.name) {
        return Some(Cow::Borrowed(v));
    }
    let prefix = format!("{}.", def.name);
    let mut chunks: Vec<(u32, &str)> = request
        .strict()
        .filter_map(|(name, value)| {
            let k = name.strip_prefix(&prefix)?;
            canonical_index(k).map(|k| (k, value))
        })
        .collect();
    if chunks.is_empty() {
        return None;
    }
    chunks.sort_by_key(|(k, _)| *k);
    Some(Cow::Owned(chunks.into_iter().map(|(_, v)| v).collect()))
}

/// Names of `def` or its chunks that the request carried, in header order.
fn chunk_names_in(def: &CookieDef, request: &RequestCookies) -> Vec<String> {
    let prefix = format!("{}.", def.name);
    request
        .strict()
        .filter(|(name, _)| {
            *name == def.name
                || name
                    .strip_prefix(&prefix)
                    .is_some_and(|k| canonical_index(k).is_some())
        })
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// `String(Number(k)) === k` for non-negative integers.
fn canonical_index(k: &str) -> Option<u32> {
    let n: u32 = k.parse().ok()?;
    (n.to_string() == k).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies() -> AuthCookies {
        AuthCookies::new(&CookieOptions::default(), false, 604_800, 300)
    }

    #[test]
    fn default_names_and_secure_prefix() {
        let c = cookies();
        assert_eq!(c.session_token.name, "better-auth.session_token");
        let secure = AuthCookies::new(&CookieOptions::default(), true, 604_800, 300);
        assert_eq!(
            secure.session_token.name,
            "__Secure-better-auth.session_token"
        );
        assert!(secure.session_token.attributes.secure);
    }

    #[test]
    fn expiring_drops_an_earlier_value_of_the_same_cookie() {
        let c = cookies();
        let mut jar = CookieJar::new();
        jar.set(c.session_token.with_value("tok.sig"));
        jar.set(c.dont_remember.with_value("x"));
        jar.expire(&c.session_token);
        let lines: Vec<_> = jar.iter().map(SetCookie::serialize).collect();
        assert_eq!(
            lines,
            vec![
                "better-auth.dont_remember=x; Path=/; HttpOnly; SameSite=Lax",
                "better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
            ]
        );
    }

    #[test]
    fn chunk_size_matches_better_auth_default_3977() {
        let c = cookies();
        let value = "a".repeat(9 * 1024 + 900);
        let mut jar = CookieJar::new();
        jar.set_chunked(&c.session_data, &value, &RequestCookies::default());
        let out: Vec<_> = jar.iter().collect();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].name, "better-auth.session_data.0");
        assert_eq!(out[0].value.len(), 3977);
        assert!(out.iter().all(|c| c.serialize().len() <= MAX_COOKIE_SIZE));
        assert_eq!(out[0].serialize().len(), 4049);
    }

    #[test]
    fn stale_chunks_are_expired_and_rewritten_ones_replaced() {
        let c = cookies();
        let req = RequestCookies::parse(
            "better-auth.session_data.0=a; better-auth.session_data.1=b; better-auth.session_data.2=c",
        );
        let mut jar = CookieJar::new();
        jar.set_chunked(&c.session_data, "small", &req);
        let out: Vec<_> = jar
            .iter()
            .map(|c| (c.name.as_str(), c.is_expiry()))
            .collect();
        assert_eq!(
            out,
            vec![
                ("better-auth.session_data.0", true),
                ("better-auth.session_data.1", true),
                ("better-auth.session_data.2", true),
                ("better-auth.session_data", false),
            ]
        );
    }

    #[test]
    fn reassembles_chunks_numerically() {
        let c = cookies();
        let req = RequestCookies::parse(
            "better-auth.session_data.10=k; better-auth.session_data.2=c; better-auth.session_data.01=x; better-auth.session_data.0=a",
        );
        assert_eq!(read_chunked(&c.session_data, &req).as_deref(), Some("ack"));
        let exact =
            RequestCookies::parse("better-auth.session_data.0=a; better-auth.session_data=whole");
        assert_eq!(
            read_chunked(&c.session_data, &exact).as_deref(),
            Some("whole")
        );
    }

    #[test]
    fn a_value_over_the_request_budget_is_not_written_and_stale_chunks_expire() {
        let c = cookies();
        let value = "a".repeat(3977 * 2);
        let chunk = SetCookie::new(
            "better-auth.session_data.0",
            "a".repeat(3977),
            Default::default(),
        );
        let two_chunks = 2 * chunk.request_len();
        let req =
            RequestCookies::parse("better-auth.session_data.0=old; better-auth.session_data.5=old");
        let mut jar = CookieJar::new();
        jar.set_chunked_within(&c.session_data, &value, &req, two_chunks - 1);
        let out: Vec<_> = jar
            .iter()
            .map(|c| (c.name.as_str(), c.is_expiry()))
            .collect();
        assert_eq!(
            out,
            vec![
                ("better-auth.session_data.0", true),
                ("better-auth.session_data.5", true),
            ]
        );
        let mut jar = CookieJar::new();
        jar.set_chunked_within(&c.session_data, &value, &req, two_chunks);
        let live = jar.iter().filter(|c| !c.is_expiry()).count();
        assert_eq!(live, 2);
    }

    #[test]
    fn request_len_is_what_the_browser_sends_back() {
        let c = SetCookie::new("n", "a b", Default::default());
        // `n=a%20b; `
        assert_eq!(c.request_len(), "n=a%20b; ".len());
    }

    #[test]
    fn too_many_chunks_writes_nothing() {
        let c = cookies();
        let mut jar = CookieJar::new();
        jar.set_chunked(
            &c.session_data,
            &"a".repeat(3977 * (MAX_COOKIE_CHUNKS + 1)),
            &RequestCookies::default(),
        );
        assert!(jar.is_empty());
    }
}
