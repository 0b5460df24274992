//! better-auth's email verification token (`/verify-email?token=…`), the
//! one parser of the account lifecycle that takes a client's bytes.
//!
//! Invariants: no panic; a token that verifies re-signs (with the current
//! secret, at the fuzzing clock) to one that verifies to the same claims.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::email_token::{sign, verify};
use tessera_fuzz::{secrets, NOW};

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let secrets = secrets();
    if let Ok(claims) = verify(&secrets, token, NOW) {
        let again = sign(&secrets, &claims, NOW, 3600);
        assert_eq!(verify(&secrets, &again, NOW), Ok(claims));
    }
});
