//! A provider's JSON Web Key Set (RFC 7517 §5), as its `jwks_uri` serves
//! it, and the signature algorithms an ID token may use with it.

use std::sync::{Arc, OnceLock};

use josekit::jwk::Jwk;
use josekit::jws::{self, JwsVerifier};
use josekit::JoseError;
use serde_json::Value;

/// The largest key set document accepted, in bytes.
pub const MAX_JWKS_BYTES: usize = 128 * 1024;
/// The most entries a key set's `keys` array may hold.
pub const MAX_JWKS_KEYS: usize = 64;
/// The longest base64url RSA modulus accepted: 8192 bits. jose has no
/// upper bound; one here keeps a verification's cost bounded.
const MAX_RSA_MODULUS_CHARS: usize = 8192 / 8 * 4 / 3 + 1;
/// How many [`SigningAlgorithm`]s there are: a key's verifier slots,
/// indexed by [`SigningAlgorithm::slot`].
const ALGORITHMS: usize = 9;
/// Members that only a private or symmetric key has.
const SECRET_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A signature algorithm an ID token may be verified with against a
/// provider's public keys (RFC 7518 §3.1, RFC 8037 §3.1).
///
/// Only asymmetric algorithms exist here: `none` and the `HS*` family are
/// not representable, so no list of allowed algorithms can admit them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256: OpenID Connect's default.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// ECDSA on P-384 with SHA-384.
    Es384,
    /// EdDSA on Ed25519.
    EdDsa,
}

impl SigningAlgorithm {
    /// What OpenID Connect assumes when a provider names no algorithm
    /// (Discovery 1.0 §3: `RS256` must be supported).
    pub const DEFAULT: &'static [SigningAlgorithm] = &[SigningAlgorithm::Rs256];

    /// The algorithm a JOSE header names `name`; `None` for `none`, the
    /// symmetric `HS*` family and anything not supported.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "RS256" => Self::Rs256,
            "RS384" => Self::Rs384,
            "RS512" => Self::Rs512,
            "PS256" => Self::Ps256,
            "PS384" => Self::Ps384,
            "PS512" => Self::Ps512,
            "ES256" => Self::Es256,
            "ES384" => Self::Es384,
            "EdDSA" => Self::EdDsa,
            _ => return None,
        })
    }

    /// The name in a JOSE header.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::EdDsa => "EdDSA",
        }
    }

    /// The algorithms a provider's discovery document allows for ID
    /// tokens: its `id_token_signing_alg_values_supported`, without the
    /// ones refused here (`none`, `HS*`, unsupported), or
    /// [`SigningAlgorithm::DEFAULT`] when it lists none.
    ///
    /// A provider that lists only refused algorithms yields an empty list,
    /// and then every token is refused: better-auth's jose refuses those
    /// algorithms with a key set too.
    ///
    /// ```
    /// use tessera::oauth::SigningAlgorithm;
    ///
    /// let discovery = serde_json::json!({
    ///     "id_token_signing_alg_values_supported": ["RS256", "HS256", "none", "ES256"]
    /// });
    /// assert_eq!(
    ///     SigningAlgorithm::from_discovery(&discovery),
    ///     [SigningAlgorithm::Rs256, SigningAlgorithm::Es256]
    /// );
    /// assert_eq!(
    ///     SigningAlgorithm::from_discovery(&serde_json::json!({})),
    ///     SigningAlgorithm::DEFAULT
    /// );
    /// ```
    pub fn from_discovery(discovery: &Value) -> Vec<Self> {
        match discovery.get("id_token_signing_alg_values_supported") {
            Some(Value::Array(names)) if !names.is_empty() => names
                .iter()
                .filter_map(Value::as_str)
                .filter_map(Self::from_name)
                .collect(),
            _ => Self::DEFAULT.to_vec(),
        }
    }

    /// Its verifier slot in a [`Key`], below [`ALGORITHMS`] (a new
    /// algorithm must be given one here).
    const fn slot(self) -> usize {
        match self {
            Self::Rs256 => 0,
            Self::Rs384 => 1,
            Self::Rs512 => 2,
            Self::Ps256 => 3,
            Self::Ps384 => 4,
            Self::Ps512 => 5,
            Self::Es256 => 6,
            Self::Es384 => 7,
            Self::EdDsa => 8,
        }
    }

    fn family(self) -> KeyFamily {
        match self {
            Self::Rs256 | Self::Rs384 | Self::Rs512 | Self::Ps256 | Self::Ps384 | Self::Ps512 => {
                KeyFamily::Rsa
            }
            Self::Es256 => KeyFamily::P256,
            Self::Es384 => KeyFamily::P384,
            Self::EdDsa => KeyFamily::Ed25519,
        }
    }

    /// josekit's verifier for `jwk` with this algorithm. The key id is
    /// dropped from it: keys are chosen here, by jose's rules, and a token
    /// without a `kid` may use a key that has one.
    pub(super) fn verifier(self, jwk: &Jwk) -> Result<Box<dyn JwsVerifier>, JoseError> {
        macro_rules! without_kid {
            ($alg:expr) => {{
                let mut verifier = $alg.verifier_from_jwk(jwk)?;
                verifier.remove_key_id();
                Box::new(verifier)
            }};
        }
        Ok(match self {
            Self::Rs256 => without_kid!(jws::RS256),
            Self::Rs384 => without_kid!(jws::RS384),
            Self::Rs512 => without_kid!(jws::RS512),
            Self::Ps256 => without_kid!(jws::PS256),
            Self::Ps384 => without_kid!(jws::PS384),
            Self::Ps512 => without_kid!(jws::PS512),
            Self::Es256 => without_kid!(jws::ES256),
            Self::Es384 => without_kid!(jws::ES384),
            Self::EdDsa => without_kid!(jws::EdDSA),
        })
    }
}

/// The kind of public key, which fixes the algorithms it can verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyFamily {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyFamily {
    /// The algorithm a key of this family is checked with when it names
    /// none itself.
    fn probe(self) -> SigningAlgorithm {
        match self {
            Self::Rsa => SigningAlgorithm::Rs256,
            Self::P256 => SigningAlgorithm::Es256,
            Self::P384 => SigningAlgorithm::Es384,
            Self::Ed25519 => SigningAlgorithm::EdDsa,
        }
    }
}

/// One usable verification key of a set.
#[derive(Clone, Debug)]
pub(super) struct Key {
    kid: Option<String>,
    /// The key's own `alg`, when it names one: then only that algorithm.
    alg: Option<SigningAlgorithm>,
    family: KeyFamily,
    jwk: Jwk,
    /// Its verifier per algorithm (by [`SigningAlgorithm::slot`]), built
    /// on first use and kept with the set: loading a key into OpenSSL
    /// costs several times what checking a signature does.
    verifiers: Arc<[OnceLock<Arc<dyn JwsVerifier>>; ALGORITHMS]>,
}

impl Key {
    /// The key, or why it is skipped.
    fn from_value(value: &Value) -> Result<Key, &'static str> {
        let Value::Object(map) = value else {
            return Err("not an object");
        };
        if SECRET_MEMBERS.iter().any(|m| map.contains_key(*m)) {
            return Err("holds private or symmetric key material");
        }
        let jwk = Jwk::from_map(map.clone()).map_err(|_| "malformed member")?;
        if jwk.key_use().is_some_and(|u| u != "sig") {
            return Err("use is not sig");
        }
        if !jwk.is_for_key_operation("verify") {
            return Err("key_ops lacks verify");
        }
        let curve = jwk.parameter("crv").and_then(Value::as_str);
        let family = match (jwk.key_type(), curve) {
            ("RSA", _) => KeyFamily::Rsa,
            ("EC", Some("P-256")) => KeyFamily::P256,
            ("EC", Some("P-384")) => KeyFamily::P384,
            ("OKP", Some("Ed25519")) => KeyFamily::Ed25519,
            _ => return Err("unsupported kty or crv"),
        };
        let alg = match jwk.algorithm() {
            None => None,
            Some(name) => match SigningAlgorithm::from_name(name) {
                Some(alg) if alg.family() == family => Some(alg),
                _ => return Err("alg unusable with this key"),
            },
        };
        if family == KeyFamily::Rsa
            && jwk
                .parameter("n")
                .and_then(Value::as_str)
                .is_some_and(|n| n.len() > MAX_RSA_MODULUS_CHARS)
        {
            return Err("RSA modulus longer than 8192 bits");
        }
        // Building a verifier checks the key material (and, for RSA, the
        // 2048-bit minimum jose also enforces) once, here; it is kept.
        let probe = alg.unwrap_or(family.probe());
        let verifier = probe.verifier(&jwk).map_err(|_| "unusable key material")?;
        let verifiers: Arc<[OnceLock<Arc<dyn JwsVerifier>>; ALGORITHMS]> =
            Arc::new(std::array::from_fn(|_| OnceLock::new()));
        let _ = verifiers[probe.slot()].set(Arc::from(verifier));
        Ok(Key {
            kid: jwk.key_id().map(str::to_owned),
            alg,
            family,
            jwk,
            verifiers,
        })
    }

    /// This key's verifier for `alg` (one that [`Key::fits`]), built once.
    pub(super) fn verifier(&self, alg: SigningAlgorithm) -> Result<&dyn JwsVerifier, JoseError> {
        let slot = &self.verifiers[alg.slot()];
        if let Some(verifier) = slot.get() {
            return Ok(&**verifier);
        }
        // Two verifications may both build it; one of the two is kept.
        let built: Arc<dyn JwsVerifier> = Arc::from(alg.verifier(&self.jwk)?);
        Ok(&**slot.get_or_init(|| built))
    }

    /// jose's `isUsableJWK`: the algorithm's key type, the same `kid` when
    /// the token names one, the same `alg` when the key names one (`use`
    /// and `key_ops` were checked when the set was read).
    fn fits(&self, alg: SigningAlgorithm, kid: Option<&str>) -> bool {
        self.family == alg.family()
            && self.alg.is_none_or(|own| own == alg)
            && kid.is_none_or(|kid| self.kid.as_deref() == Some(kid))
    }
}

/// A provider's public signing keys, read from its `jwks_uri` document.
///
/// RSA (2048 to 8192 bits), EC P-256 and P-384, and OKP Ed25519 keys are
/// kept. A key that cannot verify ID tokens is skipped rather than failing
/// the set: `use` other than `sig`, `key_ops` without `verify`, another
/// `kty` or curve, an `alg` that does not fit the key, private or symmetric
/// members, or key material that does not load.
///
/// ```
/// use tessera::oauth::Jwks;
///
/// let jwks = Jwks::from_json(br#"{"keys": [
///     {"kty": "oct", "k": "c2VjcmV0"},
///     {"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}
/// ]}"#)
/// .unwrap();
/// assert!(jwks.is_empty(), "neither key can verify a signature");
/// ```
#[derive(Clone, Debug, Default)]
pub struct Jwks {
    keys: Vec<Key>,
}

impl Jwks {
    /// Reads a key set document (`{"keys": [...]}`), skipping the keys
    /// that cannot verify ID tokens.
    pub fn from_json(document: &[u8]) -> Result<Jwks, JwksError> {
        if document.len() > MAX_JWKS_BYTES {
            return Err(JwksError::TooLarge {
                limit: MAX_JWKS_BYTES,
            });
        }
        let document: Value = serde_json::from_slice(document).map_err(JwksError::Json)?;
        let Some(Value::Array(entries)) = document.get("keys") else {
            return Err(JwksError::NotAKeySet);
        };
        if entries.len() > MAX_JWKS_KEYS {
            return Err(JwksError::TooManyKeys {
                limit: MAX_JWKS_KEYS,
            });
        }
        let keys = entries
            .iter()
            .filter_map(|entry| match Key::from_value(entry) {
                Ok(key) => Some(key),
                Err(reason) => {
                    let kid = entry.get("kid").and_then(Value::as_str);
                    tracing::debug!(?kid, reason, "JWKS key skipped");
                    None
                }
            })
            .collect();
        Ok(Jwks { keys })
    }

    /// How many usable keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The `kid`s of the usable keys that have one.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().filter_map(|k| k.kid.as_deref())
    }

    /// The keys a token signed with `alg` and naming `kid` may have been
    /// signed with. Several when the token names no `kid` (or the set
    /// repeats one): each is tried, as jose does.
    pub(super) fn candidates<'a>(
        &'a self,
        alg: SigningAlgorithm,
        kid: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Key> + 'a {
        self.keys.iter().filter(move |k| k.fits(alg, kid))
    }
}

/// Why a key set document was refused as a whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// The document is longer than [`MAX_JWKS_BYTES`].
    #[error("the key set is larger than {limit} bytes")]
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The document is not JSON.
    #[error("the key set is not JSON")]
    Json(#[source] serde_json::Error),
    /// The document has no `keys` array.
    #[error("the document has no keys array")]
    NotAKeySet,
    /// `keys` has more than [`MAX_JWKS_KEYS`] entries.
    #[error("the key set has more than {limit} keys")]
    TooManyKeys {
        /// The cap.
        limit: usize,
    },
}
