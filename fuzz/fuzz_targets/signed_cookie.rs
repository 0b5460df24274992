//! Signed cookie values (`verify_value`, better-call's format) under
//! several secrets in force.
//!
//! Invariants: no panic; a verified payload is the value up to its last
//! `.`; whatever non-empty value is signed with a secret in force
//! verifies to itself (better-call never verifies an empty payload), and
//! nothing signed with a secret not in force does.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::cookie::{decode_uri_component, sign_value, verify_value};
use tessera::Secrets;
use tessera_fuzz::{secrets, FOREIGN_SECRET, OLDER_SECRET};

fuzz_target!(|data: &[u8]| {
    let in_force = secrets();
    let text = String::from_utf8_lossy(data);
    let decoded = decode_uri_component(&text);
    for value in std::iter::once(text.as_ref()).chain(decoded.as_deref()) {
        if let Some(payload) = verify_value(&in_force, value) {
            assert_eq!(
                value.rfind('.'),
                Some(payload.len()),
                "payload of {value:?}"
            );
        }
        if value.is_empty() {
            assert_eq!(verify_value(&in_force, &sign_value(&in_force, value)), None);
            continue;
        }
        let signed = sign_value(&in_force, value);
        assert_eq!(verify_value(&in_force, &signed), Some(value));
        let older = sign_value(&Secrets::single(OLDER_SECRET), value);
        assert_eq!(verify_value(&in_force, &older), Some(value));
        let foreign = sign_value(&Secrets::single(FOREIGN_SECRET), value);
        assert_eq!(verify_value(&in_force, &foreign), None);
    }
});
