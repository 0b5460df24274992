//! JavaScript's `encodeURIComponent` / `decodeURIComponent`, which
//! better-call applies to cookie values (spec §1.4): the kernel's, for tests.

/// `encodeURIComponent(s)`.
pub fn encode_uri_component(s: &str) -> String {
    tessera::cookie::encode_uri_component(s)
}

/// `decodeURIComponent(s)`, falling back to `s` unchanged where JavaScript
/// would throw (better-call's cookie parser does the same).
pub fn decode_uri_component(s: &str) -> String {
    tessera::cookie::decode_uri_component(s).unwrap_or_else(|| s.to_owned())
}
