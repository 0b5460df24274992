//! Password hashing, compatible with `@better-auth/utils/password`
//! (spec §6.2): scrypt N=16384, r=16, p=1, 64-byte key over the NFKC form of
//! the password, salted with the *hex string* of 16 random bytes, stored as
//! `"<saltHex>:<keyHex>"`.
//!
//! # Where hashes run
//!
//! One scrypt run takes 32 MiB and tens of milliseconds of a core, so how
//! many run at once must not depend on what clients do. A [`HashPool`] has
//! at most `size` long-lived worker threads (named [`HASH_THREAD_NAME`],
//! started on first use). A request waits asynchronously for one of `size`
//! slots and hands its slot *to the job*: the slot comes back when the job
//! is over, not when the request goes away. A request cancelled mid-hash (a
//! client that hangs up, a timeout) therefore cannot make room for another
//! hash while its own still runs: at most `size` hashes, and at most `size`
//! threads, whatever clients do. A request cancelled while it waits for a
//! slot costs nothing; a job whose requester left before a worker picked it
//! up is skipped.
//!
//! Long-lived workers rather than a thread per job: the thread count is
//! bounded by construction (not only the number of running jobs), nothing
//! is spawned per sign-in, and each worker reuses its allocator arena
//! instead of leaving one behind per hash.

use rand::RngCore;
use scrypt::Params;
use subtle::ConstantTimeEq;
use unicode_normalization::UnicodeNormalization;

mod pool;

pub use pool::{HashPool, HASH_THREAD_NAME};

/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_LENGTH: usize = 8;
/// Longest accepted password, in characters.
pub const MAX_PASSWORD_LENGTH: usize = 128;

const LOG_N: u8 = 14; // N = 16384
const R: u32 = 16;
const P: u32 = 1;
const KEY_LEN: usize = 64;

/// A stored hash that cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed password hash: expected \"<saltHex>:<keyHex>\"")]
pub struct MalformedHash;

/// Hashes a password for storage.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = hex::encode(salt);
    let key = derive(password, &salt);
    format!("{salt}:{}", hex::encode(key))
}

/// Checks a password against a stored hash, in constant time over the key.
pub fn verify_password(hash: &str, password: &str) -> Result<bool, MalformedHash> {
    let (salt, key_hex) = hash.split_once(':').ok_or(MalformedHash)?;
    let expected = hex::decode(key_hex).map_err(|_| MalformedHash)?;
    if salt.is_empty() || expected.len() != KEY_LEN {
        return Err(MalformedHash);
    }
    let key = derive(password, salt);
    Ok(key.ct_eq(&expected[..]).into())
}

/// Spends the same work as a verification, for unknown accounts, so the
/// response time does not reveal whether an email is registered.
pub fn burn_hash(password: &str) {
    let _ = derive(password, "00000000000000000000000000000000");
}

fn derive(password: &str, salt: &str) -> [u8; KEY_LEN] {
    let normalized: String = password.nfkc().collect();
    let params = Params::new(LOG_N, R, P, KEY_LEN).expect("valid scrypt parameters");
    let mut key = [0u8; KEY_LEN];
    scrypt::scrypt(normalized.as_bytes(), salt.as_bytes(), &params, &mut key)
        .expect("output length is valid");
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let h = hash_password("password1234");
        let (salt, key) = h.split_once(':').unwrap();
        assert_eq!(salt.len(), 32);
        assert_eq!(key.len(), 128);
        assert_eq!(verify_password(&h, "password1234"), Ok(true));
        assert_eq!(verify_password(&h, "password1235"), Ok(false));
    }

    #[test]
    fn nfkc_equivalent_passwords_match() {
        // U+FB01 (the "fi" ligature) normalises to "fi" under NFKC.
        let h = hash_password("\u{FB01}nepassword");
        assert_eq!(verify_password(&h, "finepassword"), Ok(true));
    }

    #[test]
    fn malformed_hashes_are_errors_not_panics() {
        for bad in ["", "nocolon", "abc:zz", "abc:00", ":00"] {
            assert_eq!(verify_password(bad, "x"), Err(MalformedHash), "{bad:?}");
        }
    }
}
