//! Password hashing, compatible with `@better-auth/utils/password`
//! (spec §6.2): scrypt N=16384, r=16, p=1, 64-byte key over the NFKC form of
//! the password, salted with the *hex string* of 16 random bytes, stored as
//! `"<saltHex>:<keyHex>"`.
//!
//! Work is bounded whatever the input: a password longer than
//! [`MAX_PASSWORD_BYTES`] is refused before it is normalised (NFKC can make
//! a string 18 times longer) or hashed.
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

/// Shortest accepted password by default, in UTF-16 code units (see
/// [`password_length`]).
pub const MIN_PASSWORD_LENGTH: usize = 8;
/// Longest accepted password by default, in UTF-16 code units (see
/// [`password_length`]).
pub const MAX_PASSWORD_LENGTH: usize = 128;
/// Longest password [`hash_password`], [`verify_password`] and
/// [`burn_hash`] accept, in UTF-8 bytes: 3 KiB, what 1,024 UTF-16 code
/// units take at most (3 bytes each). Anything longer is refused before
/// normalisation, so callers that forget a length check still do bounded
/// work; an [`Auth`](crate::Auth) refuses a `max_password_length` above
/// 1,024 for the same reason.
pub const MAX_PASSWORD_BYTES: usize = 3 * 1024;

const LOG_N: u8 = 14; // N = 16384
const R: u32 = 16;
const P: u32 = 1;
const KEY_LEN: usize = 64;

/// A password's length as better-auth measures it (JavaScript's
/// `String.length`): UTF-16 code units, so a character outside the Basic
/// Multilingual Plane, such as an emoji, counts 2.
///
/// ```
/// use tessera::password::password_length;
///
/// assert_eq!(password_length("password"), 8);
/// assert_eq!(password_length("\u{1F600}"), 2);
/// ```
pub fn password_length(password: &str) -> usize {
    password.encode_utf16().count()
}

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PasswordError {
    /// The password is longer than [`MAX_PASSWORD_BYTES`]; it was neither
    /// normalised nor hashed.
    #[error("password longer than {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    /// The stored hash cannot be read.
    #[error("malformed password hash: expected \"<saltHex>:<keyHex>\"")]
    MalformedHash,
}

/// Hashes a password for storage.
///
/// ```
/// use tessera::password::{hash_password, verify_password, PasswordError, MAX_PASSWORD_BYTES};
///
/// let hash = hash_password("correct horse battery").unwrap();
/// assert_eq!(verify_password(&hash, "correct horse battery"), Ok(true));
/// let huge = "x".repeat(MAX_PASSWORD_BYTES + 1);
/// assert_eq!(hash_password(&huge), Err(PasswordError::TooLong));
/// ```
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = hex::encode(salt);
    let key = derive(password, &salt)?;
    Ok(format!("{salt}:{}", hex::encode(key)))
}

/// Checks a password against a stored hash, in constant time over the key.
/// A password over [`MAX_PASSWORD_BYTES`] is an error, found before any
/// work.
pub fn verify_password(hash: &str, password: &str) -> Result<bool, PasswordError> {
    let (salt, key_hex) = hash.split_once(':').ok_or(PasswordError::MalformedHash)?;
    let expected = hex::decode(key_hex).map_err(|_| PasswordError::MalformedHash)?;
    if salt.is_empty() || expected.len() != KEY_LEN {
        return Err(PasswordError::MalformedHash);
    }
    let key = derive(password, salt)?;
    Ok(key.ct_eq(&expected[..]).into())
}

/// Spends the same work as a verification, for unknown accounts, so the
/// response time does not reveal whether an email is registered. Like
/// [`verify_password`], it does nothing for a password over
/// [`MAX_PASSWORD_BYTES`].
pub fn burn_hash(password: &str) {
    let _ = derive(password, "00000000000000000000000000000000");
}

fn derive(password: &str, salt: &str) -> Result<[u8; KEY_LEN], PasswordError> {
    // Checked before normalising: NFKC output can be 18 times the input.
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    let normalized: String = password.nfkc().collect();
    let params = Params::new(LOG_N, R, P, KEY_LEN).expect("valid scrypt parameters");
    let mut key = [0u8; KEY_LEN];
    scrypt::scrypt(normalized.as_bytes(), salt.as_bytes(), &params, &mut key)
        .expect("output length is valid");
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let h = hash_password("password1234").unwrap();
        let (salt, key) = h.split_once(':').unwrap();
        assert_eq!(salt.len(), 32);
        assert_eq!(key.len(), 128);
        assert_eq!(verify_password(&h, "password1234"), Ok(true));
        assert_eq!(verify_password(&h, "password1235"), Ok(false));
    }

    #[test]
    fn nfkc_equivalent_passwords_match() {
        // U+FB01 (the "fi" ligature) normalises to "fi" under NFKC.
        let h = hash_password("\u{FB01}nepassword").unwrap();
        assert_eq!(verify_password(&h, "finepassword"), Ok(true));
    }

    #[test]
    fn malformed_hashes_are_errors_not_panics() {
        for bad in ["", "nocolon", "abc:zz", "abc:00", ":00"] {
            assert_eq!(
                verify_password(bad, "x"),
                Err(PasswordError::MalformedHash),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn passwords_over_the_byte_bound_are_refused_before_any_work() {
        let hash = hash_password("password1234").unwrap();
        // U+FDFA is 3 bytes that NFKC turns into 18 characters.
        for long in ["x".repeat(MAX_PASSWORD_BYTES + 1), "\u{FDFA}".repeat(1025)] {
            assert_eq!(hash_password(&long), Err(PasswordError::TooLong));
            assert_eq!(verify_password(&hash, &long), Err(PasswordError::TooLong));
        }
    }

    #[test]
    fn a_password_at_the_byte_bound_hashes_and_verifies() {
        let longest = "\u{FDFA}".repeat(MAX_PASSWORD_BYTES / 3);
        assert_eq!(longest.len(), MAX_PASSWORD_BYTES);
        let hash = hash_password(&longest).unwrap();
        assert_eq!(verify_password(&hash, &longest), Ok(true));
    }
}
