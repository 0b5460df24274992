//! Device cookies: one signed `…_multi-<token>` cookie per account signed
//! in on this device (spec §9, §1.1, §1.4).
//!
//! Only cookies whose signature verifies, under their own token's name, are
//! ever acted on: a forged or renamed device cookie is never counted,
//! listed, switched to, revoked or signed out.

use tessera::cookie::CookieDef;
use tessera::Ctx;

/// What marks a cookie name as a device cookie.
const MARKER: &str = "_multi-";

/// better-auth's `SECURE_COOKIE_PREFIX`.
const SECURE_PREFIX: &str = "__Secure-";

/// The device cookie name of `token` under the `session_token` cookie name
/// `session_token_name`: `${session_token_name}_multi-${token.toLowerCase()}`.
///
/// ```
/// assert_eq!(
///     tessera_multi_session::device_cookie_name("better-auth.session_token", "AbC123"),
///     "better-auth.session_token_multi-abc123",
/// );
/// ```
pub fn device_cookie_name(session_token_name: &str, token: &str) -> String {
    format!("{session_token_name}{MARKER}{}", token.to_lowercase())
}

/// Whether a cookie name is a device cookie (it contains `_multi-`).
pub fn is_device_cookie(name: &str) -> bool {
    name.contains(MARKER)
}

/// The device cookie of `token` in this configuration.
pub(crate) fn name_for(ctx: &Ctx<'_>, token: &str) -> String {
    device_cookie_name(&ctx.auth_cookies().session_token.name, token)
}

/// A device cookie named `name`, with the `session_token` attributes
/// (Max-Age = `expiresIn`).
pub(crate) fn def(ctx: &Ctx<'_>, name: String) -> CookieDef {
    CookieDef {
        name,
        attributes: ctx.auth_cookies().session_token.attributes.clone(),
    }
}

/// The verified token of the request cookie `name`, as better-call's
/// `getSignedCookie` reads it (first occurrence; empty means absent).
pub(crate) fn verified_token(ctx: &Ctx<'_>, name: &str) -> Option<String> {
    let raw = ctx.cookies().get(name).filter(|v| !v.is_empty())?;
    ctx.verify_signed(raw).map(str::to_owned)
}

/// The tokens of [`verified_cookies`], in header order.
pub(crate) fn verified_tokens(ctx: &Ctx<'_>, maximum_sessions: usize) -> Vec<String> {
    verified_cookies(ctx, maximum_sessions)
        .into_iter()
        .map(|(_, token)| token)
        .collect()
}

/// The device's accounts: the request's device cookies, as `(name,
/// token)`, in the order of better-auth's own cookie parser (spec §1.3),
/// that are
/// - named after their own token (`<session_token>_multi-<token
///   lowercased>`, compared exactly): one signed value replayed under
///   other names counts once, under its own;
/// - signed with a secret in force;
/// - each token once;
/// - and no more than `maximum_sessions`: the rest are ignored.
///
/// So whatever the `Cookie` header holds, a request looks up, deletes or
/// lists at most `maximum_sessions` sessions through them. (better-auth
/// counts every `_multi-` cookie whatever its name and value; this is a
/// deliberate difference.)
pub(crate) fn verified_cookies(ctx: &Ctx<'_>, maximum_sessions: usize) -> Vec<(String, String)> {
    let prefix = format!("{}{MARKER}", ctx.auth_cookies().session_token.name);
    let mut found: Vec<(String, String)> = Vec::new();
    for (name, _) in ctx.cookies().strict() {
        if found.len() >= maximum_sessions {
            break;
        }
        // Cheap tests first: only a name of this configuration's shape is
        // worth a MAC.
        let Some(lowercased) = name.strip_prefix(&prefix) else {
            continue;
        };
        if found.iter().any(|(n, _)| n == name) {
            continue;
        }
        let Some(token) = verified_token(ctx, name) else {
            continue;
        };
        // The exact name of this token: one lowercased token, one name, so
        // distinct names here are distinct tokens.
        if token.to_lowercase() != lowercased || found.iter().any(|(_, t)| *t == token) {
            continue;
        }
        found.push((name.to_owned(), token));
    }
    found
}

/// The name sign-out expires for a request cookie: lowercased, with the
/// secure prefix re-capitalised (better-auth lowercases the whole name).
pub(crate) fn sign_out_name(name: &str) -> String {
    name.to_ascii_lowercase()
        .replacen(&SECURE_PREFIX.to_ascii_lowercase(), SECURE_PREFIX, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lowercase_the_token_only() {
        assert_eq!(
            device_cookie_name("__Secure-better-auth.session_token", "G1bKH53"),
            "__Secure-better-auth.session_token_multi-g1bkh53"
        );
        assert!(is_device_cookie("sid_multi-abc"));
        assert!(!is_device_cookie("better-auth.session_token"));
    }

    #[test]
    fn sign_out_names_keep_the_secure_prefix() {
        assert_eq!(
            sign_out_name("__Secure-My.session_token_multi-abc"),
            "__Secure-my.session_token_multi-abc"
        );
        assert_eq!(
            sign_out_name("better-auth.session_token_multi-abc"),
            "better-auth.session_token_multi-abc"
        );
    }
}
