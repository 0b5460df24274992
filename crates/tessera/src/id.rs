//! Random identifiers and session tokens (spec §6.2).

use rand::distributions::{Alphanumeric, DistString};

/// Length of session tokens and default record ids.
pub const ID_LENGTH: usize = 32;

/// A random string over `a-zA-Z0-9`, uniformly distributed (rejection
/// sampling, as better-auth's `generateId`), from a CSPRNG.
pub fn generate_id(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_alphanumerics_and_distinct() {
        let a = generate_id(ID_LENGTH);
        let b = generate_id(ID_LENGTH);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
