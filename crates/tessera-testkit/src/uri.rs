//! JavaScript's `encodeURIComponent` / `decodeURIComponent`, which
//! better-call applies to cookie values (spec §1.4).

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything `encodeURIComponent` escapes: all but `A-Z a-z 0-9 - _ . ! ~ * ' ( )`.
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

/// `encodeURIComponent(s)`.
pub fn encode_uri_component(s: &str) -> String {
    utf8_percent_encode(s, URI_COMPONENT).to_string()
}

/// `decodeURIComponent(s)`, falling back to `s` unchanged where JavaScript
/// would throw (better-call's cookie parser does the same).
pub fn decode_uri_component(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    percent_decode_str(s)
        .decode_utf8()
        .map_or_else(|_| s.to_owned(), |d| d.into_owned())
}
