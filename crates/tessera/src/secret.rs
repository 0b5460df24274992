//! Secrets, their versions, and the keys derived from them (spec §11.2).
//!
//! Keys are derived once, when [`Secrets`] is built; per request there is
//! only a lookup.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// better-auth's built-in fallback secret. Everyone knows it.
pub const DEFAULT_SECRET: &str = "better-auth-secret-12345678901234567890";

/// One configured secret.
#[derive(Clone)]
pub struct SecretEntry {
    version: Option<u32>,
    value: String,
    hmac: Hmac<Sha256>,
}

impl SecretEntry {
    fn new(version: Option<u32>, value: String) -> Self {
        let hmac = Hmac::<Sha256>::new_from_slice(value.as_bytes())
            .expect("HMAC accepts keys of any length");
        SecretEntry {
            version,
            value,
            hmac,
        }
    }

    /// The version number, for entries from `BETTER_AUTH_SECRETS`.
    pub fn version(&self) -> Option<u32> {
        self.version
    }

    /// The secret's raw bytes (its UTF-8 encoding).
    pub fn expose(&self) -> &[u8] {
        self.value.as_bytes()
    }

    /// A ready HMAC-SHA256 keyed with this secret (cloning it skips re-keying).
    pub(crate) fn hmac(&self) -> Hmac<Sha256> {
        self.hmac.clone()
    }
}

impl fmt::Debug for SecretEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretEntry")
            .field("version", &self.version)
            .field("value", &"<redacted>")
            .finish()
    }
}

/// Why a secret configuration was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretError {
    /// No secret at all.
    #[error("no secret configured: set BETTER_AUTH_SECRET or BETTER_AUTH_SECRETS")]
    Missing,
    /// An entry of `BETTER_AUTH_SECRETS` is not `version:value`.
    #[error("BETTER_AUTH_SECRETS: invalid entry {0:?}: expected \"<version>:<secret>\" with a non-negative integer version")]
    BadEntry(String),
    /// Two entries share a version.
    #[error("BETTER_AUTH_SECRETS: duplicate secret version {0}")]
    DuplicateVersion(u32),
    /// An entry's value is empty.
    #[error("BETTER_AUTH_SECRETS: empty secret value for version {0}")]
    EmptyValue(u32),
    /// better-auth's public default secret outside development.
    #[error("refusing better-auth's well-known default secret outside development: set BETTER_AUTH_SECRET to a strong random value (e.g. `openssl rand -base64 32`)")]
    DefaultSecret,
    /// better-auth's public default secret as an older version of
    /// `BETTER_AUTH_SECRETS`, outside development: it still verifies tokens.
    #[error("refusing better-auth's well-known default secret as version {0} of BETTER_AUTH_SECRETS outside development: remove that entry (anyone can forge what it verifies)")]
    DefaultSecretVersion(u32),
    /// better-auth's public default secret as the legacy `BETTER_AUTH_SECRET`
    /// beside `BETTER_AUTH_SECRETS`, outside development.
    #[error("refusing better-auth's well-known default secret in BETTER_AUTH_SECRET beside BETTER_AUTH_SECRETS outside development: unset BETTER_AUTH_SECRET or set it to the secret it replaced")]
    DefaultLegacySecret,
}

/// The secrets in force: the current one first, then older versions, then
/// the legacy single secret (if it differs).
#[derive(Clone, Debug)]
pub struct Secrets {
    entries: Vec<SecretEntry>,
    /// Beside versions: the index in `entries` of the legacy secret, which
    /// may be a versioned entry with the same value.
    legacy: Option<usize>,
    /// The legacy secret given was the public default (it is never used).
    default_legacy: bool,
}

impl Secrets {
    /// A single, unversioned secret (`BETTER_AUTH_SECRET`).
    pub fn single(secret: impl Into<String>) -> Self {
        Secrets {
            entries: vec![SecretEntry::new(None, secret.into())],
            legacy: None,
            default_legacy: false,
        }
    }

    /// Versioned secrets, current first, plus an optional legacy secret that
    /// is kept for decryption (spec §11.2).
    pub fn versioned(
        versions: Vec<(u32, String)>,
        legacy: Option<String>,
    ) -> Result<Self, SecretError> {
        if versions.is_empty() {
            return legacy.map(Secrets::single).ok_or(SecretError::Missing);
        }
        let mut entries: Vec<SecretEntry> = Vec::with_capacity(versions.len() + 1);
        for (v, value) in versions {
            if value.is_empty() {
                return Err(SecretError::EmptyValue(v));
            }
            if entries.iter().any(|e| e.version == Some(v)) {
                return Err(SecretError::DuplicateVersion(v));
            }
            entries.push(SecretEntry::new(Some(v), value));
        }
        // better-auth ignores a legacy secret that is its default
        // (`buildSecretConfig`); remember it to refuse it outside development.
        let default_legacy = legacy.as_deref() == Some(DEFAULT_SECRET);
        // A legacy secret equal to a version is not a second entry (the
        // JWE and HMAC paths try each value once), but it stays the legacy
        // secret: better-auth's `symmetricDecrypt` opens bare-hex values
        // with it whatever the versions are.
        let legacy = legacy
            .filter(|l| l != DEFAULT_SECRET && !l.is_empty())
            .map(
                |legacy| match entries.iter().position(|e| e.value == legacy) {
                    Some(at) => at,
                    None => {
                        entries.push(SecretEntry::new(None, legacy));
                        entries.len() - 1
                    }
                },
            );
        Ok(Secrets {
            entries,
            legacy,
            default_legacy,
        })
    }

    /// Parses `BETTER_AUTH_SECRETS` (`"2:new,1:old"`), current first.
    pub fn parse_versioned_list(list: &str) -> Result<Vec<(u32, String)>, SecretError> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|item| {
                let (v, value) = item
                    .split_once(':')
                    .ok_or_else(|| SecretError::BadEntry(redact(item)))?;
                let v: u32 = v
                    .trim()
                    .parse()
                    .map_err(|_| SecretError::BadEntry(redact(item)))?;
                Ok((v, value.trim().to_owned()))
            })
            .collect()
    }

    /// The secret new values are signed and encrypted with.
    pub fn current(&self) -> &SecretEntry {
        &self.entries[0]
    }

    /// Every secret, current first.
    pub fn all(&self) -> &[SecretEntry] {
        &self.entries
    }

    /// The legacy secret (`BETTER_AUTH_SECRET`) kept beside versioned
    /// secrets, even when its value is also one of the versions (spec
    /// §11.2): better-auth's `symmetricDecrypt` opens bare-hex values with
    /// it. `None` for a single secret, which has no versions.
    pub fn legacy(&self) -> Option<&SecretEntry> {
        self.legacy.map(|at| &self.entries[at])
    }

    /// Whether the current secret is better-auth's public default.
    pub fn is_default(&self) -> bool {
        self.current().value == DEFAULT_SECRET
    }

    /// Where better-auth's public default secret appears, if anywhere: as
    /// the secret, as any version of `BETTER_AUTH_SECRETS` (an older one
    /// still verifies, so anyone could forge what it verifies), or as the
    /// legacy secret beside them. Outside development this is refused.
    ///
    /// ```
    /// use tessera::{SecretError, Secrets, secret::DEFAULT_SECRET};
    ///
    /// let rotated = Secrets::versioned(
    ///     vec![(2, "a-fresh-random-secret".into()), (1, DEFAULT_SECRET.into())],
    ///     None,
    /// )
    /// .unwrap();
    /// assert_eq!(rotated.default_secret_use(), Some(SecretError::DefaultSecretVersion(1)));
    /// assert_eq!(Secrets::single("a-fresh-random-secret").default_secret_use(), None);
    /// ```
    pub fn default_secret_use(&self) -> Option<SecretError> {
        let slot = self.entries.iter().find(|e| e.value == DEFAULT_SECRET);
        match slot.map(|e| e.version) {
            Some(Some(version)) => Some(SecretError::DefaultSecretVersion(version)),
            Some(None) => Some(SecretError::DefaultSecret),
            None if self.default_legacy => Some(SecretError::DefaultLegacySecret),
            None => None,
        }
    }

    /// Human-readable warnings about weak secrets, as better-auth logs them:
    /// shorter than 32 characters, or under 120 bits of estimated entropy.
    pub fn weaknesses(&self) -> Vec<String> {
        let mut out = Vec::new();
        for e in &self.entries {
            let label = match e.version {
                Some(v) => format!("secret version {v}"),
                None => "BETTER_AUTH_SECRET".to_owned(),
            };
            let len = e.value.chars().count();
            if len < 32 {
                out.push(format!(
                    "{label} is {len} characters long; use at least 32 random characters"
                ));
            }
            let entropy = estimated_entropy_bits(&e.value);
            if entropy < 120.0 {
                out.push(format!(
                    "{label} has low estimated entropy ({entropy:.0} bits < 120); use a random value"
                ));
            }
        }
        out
    }
}

/// `len * log2(unique characters)`, better-auth's estimate.
fn estimated_entropy_bits(s: &str) -> f64 {
    let mut unique: Vec<char> = s.chars().collect();
    let len = unique.len() as f64;
    unique.sort_unstable();
    unique.dedup();
    if unique.len() <= 1 {
        return 0.0;
    }
    len * (unique.len() as f64).log2()
}

fn redact(item: &str) -> String {
    match item.split_once(':') {
        Some((v, _)) => format!("{v}:<redacted>"),
        None => "<redacted>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versioned_secrets_current_first() {
        let list = Secrets::parse_versioned_list("2:new-secret, 1:old-secret").unwrap();
        let s = Secrets::versioned(list, Some("legacy".into())).unwrap();
        let versions: Vec<_> = s.all().iter().map(|e| e.version()).collect();
        assert_eq!(versions, vec![Some(2), Some(1), None]);
        assert_eq!(s.current().expose(), b"new-secret");
        assert_eq!(s.legacy().map(SecretEntry::expose), Some(&b"legacy"[..]));
        assert!(Secrets::single("only").legacy().is_none());
    }

    #[test]
    fn a_legacy_secret_equal_to_a_version_stays_the_legacy_secret() {
        let s = Secrets::versioned(
            vec![(2, "new-secret".into()), (1, "old-secret".into())],
            Some("old-secret".into()),
        )
        .unwrap();
        assert_eq!(s.all().len(), 2, "each value is tried once");
        let legacy = s.legacy().unwrap();
        assert_eq!(legacy.expose(), b"old-secret");
        assert_eq!(legacy.version(), Some(1));
        let without = Secrets::versioned(vec![(2, "new-secret".into())], None).unwrap();
        assert!(without.legacy().is_none());
    }

    #[test]
    fn rejects_bad_or_duplicate_versions() {
        assert!(matches!(
            Secrets::parse_versioned_list("x:abc"),
            Err(SecretError::BadEntry(_))
        ));
        assert!(matches!(
            Secrets::parse_versioned_list("-1:abc"),
            Err(SecretError::BadEntry(_))
        ));
        assert_eq!(
            Secrets::versioned(vec![(1, "a".into()), (1, "b".into())], None).unwrap_err(),
            SecretError::DuplicateVersion(1)
        );
    }

    #[test]
    fn the_default_secret_is_found_in_every_slot() {
        let strong = "Xk9#pL2$vQ8@nR5&mT1*wY7!zB4^cF6%hJ3".to_owned();
        let d = DEFAULT_SECRET.to_owned();
        assert_eq!(
            Secrets::single(d.clone()).default_secret_use(),
            Some(SecretError::DefaultSecret)
        );
        let current = Secrets::versioned(vec![(3, d.clone()), (2, strong.clone())], None);
        assert_eq!(
            current.unwrap().default_secret_use(),
            Some(SecretError::DefaultSecretVersion(3))
        );
        let older = Secrets::versioned(vec![(3, strong.clone()), (2, d.clone())], None);
        assert_eq!(
            older.unwrap().default_secret_use(),
            Some(SecretError::DefaultSecretVersion(2))
        );
        let legacy = Secrets::versioned(vec![(3, strong.clone())], Some(d.clone()));
        assert_eq!(
            legacy.unwrap().default_secret_use(),
            Some(SecretError::DefaultLegacySecret)
        );
        let clean = Secrets::versioned(vec![(3, strong.clone())], Some("other".into()));
        assert_eq!(clean.unwrap().default_secret_use(), None);
    }

    #[test]
    fn errors_never_print_the_secret() {
        let err = Secrets::parse_versioned_list("zz:supersecret").unwrap_err();
        assert!(!err.to_string().contains("supersecret"));
    }

    #[test]
    fn warns_on_short_or_repetitive_secrets() {
        assert!(!Secrets::single("short").weaknesses().is_empty());
        assert!(!Secrets::single("a".repeat(64)).weaknesses().is_empty());
        let strong = "Xk9#pL2$vQ8@nR5&mT1*wY7!zB4^cF6%hJ3";
        assert!(Secrets::single(strong).weaknesses().is_empty());
    }
}
