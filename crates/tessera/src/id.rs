//! Random identifiers and session tokens (spec §6.2).

use rand::distributions::{Alphanumeric, DistString, Distribution, Uniform};

/// Length of session tokens and default record ids.
pub const ID_LENGTH: usize = 32;

/// A random string over `a-zA-Z0-9`, uniformly distributed (rejection
/// sampling, as better-auth's `generateId`), from a CSPRNG.
pub fn generate_id(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), len)
}

/// better-auth's `generateRandomString(len, "0-9", "a-z")`: a random
/// string over `0-9a-z`, uniformly distributed, from a CSPRNG (the token of
/// a delete-account link).
pub fn generate_lowercase_token(len: usize) -> String {
    const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let index = Uniform::from(0..ALPHABET.len());
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(ALPHABET[index.sample(&mut rng)]))
        .collect()
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

    #[test]
    fn lowercase_tokens_use_digits_and_lowercase_letters_only() {
        let a = generate_lowercase_token(32);
        assert_eq!(a.len(), 32);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
        assert_ne!(a, generate_lowercase_token(32));
    }
}
