//! Password hashing, compatible with `@better-auth/utils/password`
//! (spec §6.2): scrypt N=16384, r=16, p=1, 64-byte key over the NFKC form of
//! the password, salted with the *hex string* of 16 random bytes, stored as
//! `"<saltHex>:<keyHex>"`.

use rand::RngCore;
use scrypt::Params;
use subtle::ConstantTimeEq;
use unicode_normalization::UnicodeNormalization;

/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_LENGTH: usize = 8;
/// Longest accepted password, in characters.
pub const MAX_PASSWORD_LENGTH: usize = 128;

const LOG_N: u8 = 14; // N = 16384
const R: u32 = 16;
const P: u32 = 1;
const KEY_LEN: usize = 64;

/// Runs password hashing off the async executor, on dedicated threads,
/// with at most one hash per core at a time: each scrypt run takes 32 MiB
/// and tens of milliseconds, so unbounded concurrency would exhaust memory
/// and starve request handling. Works under any executor.
#[derive(Debug)]
pub struct HashPool {
    permits: tokio::sync::Semaphore,
}

impl Default for HashPool {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        HashPool {
            permits: tokio::sync::Semaphore::new(cores),
        }
    }
}

impl HashPool {
    /// Runs `f` on a hashing thread and waits for its result. Fails only
    /// when the operating system refuses a thread.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, std::io::Error> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| std::io::Error::other("hash pool closed"))?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("tessera-hash".to_owned())
            .spawn(move || {
                let _ = tx.send(f());
            })?;
        rx.await
            .map_err(|_| std::io::Error::other("hashing thread ended without a result"))
    }
}

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
