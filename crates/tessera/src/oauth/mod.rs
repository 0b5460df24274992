//! OAuth 2.0 and OpenID Connect sign-in, on the session engine: providers,
//! the `oauth_state` and `account_data` cookies, and the HTTP client trait
//! the kernel talks to providers through. The endpoints that expose it
//! live in [`crate::api`].

mod http;
mod id_token;

pub use http::{HttpClient, HttpClientError};
pub use id_token::{
    verify_id_token, IdTokenClaims, IdTokenError, IdTokenExpectations, Jwks, JwksCache, JwksError,
    JwksFetchError, SigningAlgorithm, MAX_ID_TOKEN_BYTES, MAX_JWKS_BYTES, MAX_JWKS_KEYS,
};
