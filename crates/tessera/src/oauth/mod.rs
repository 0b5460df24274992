//! OAuth 2.0 and OpenID Connect sign-in, on the session engine: providers,
//! the `oauth_state` and `account_data` cookies, and the HTTP client trait
//! the kernel talks to providers through. The endpoints that expose it
//! live in [`crate::api`].

mod account_cookie;
mod http;
mod id_token;
mod state;

pub use account_cookie::AccountCookie;
pub use http::{HttpClient, HttpClientError};
pub use state::{
    pkce_challenge, random_string, LinkData, Purpose, StateCipher, StateCookieError, StateData,
    MAX_SEALED_LEN,
};
pub use id_token::{
    verify_id_token, IdTokenClaims, IdTokenError, IdTokenExpectations, Jwks, JwksCache, JwksError,
    JwksFetchError, SigningAlgorithm, MAX_ID_TOKEN_BYTES, MAX_JWKS_BYTES, MAX_JWKS_KEYS,
};
