//! What the account-lifecycle tests against better-auth share: the
//! refserver's mail flags and the Tessera options they stand for, a mailer
//! that records what Tessera hands it, and one shape for a mail from
//! either server (better-auth's from its `MAIL_LOG`, Tessera's from the
//! recording mailer).

// Each test binary uses its own subset.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;
use tessera::Options;
use tessera_testkit::decode_uri_component;
use tessera_testkit::json::form_of;
use tessera_testkit::mail::Outbox;
use tessera_testkit::refserver::{LoggedMail, MailLog};

/// The reference server's default `SECRET`.
pub const SECRET: &str = "refharness-fixed-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
pub const PASSWORD: &str = "password1234";
pub const NEW_PASSWORD: &str = "a-new-password-5678";

/// An address no other test of this process uses.
pub fn unique_email(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{tag}-{}-{}@example.com",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `/api/auth` + `path`.
pub fn api(path: &str) -> String {
    format!("/api/auth{path}")
}

/// The refserver's lifecycle flags that take effect only with `MAIL_LOG`
/// (its README, "Mail"), and the Tessera option each one stands for.
pub const MAIL_FLAGS: &[&str] = &[
    "REQUIRE_EMAIL_VERIFICATION",
    "SEND_ON_SIGN_UP",
    "AUTO_SIGN_IN_AFTER_VERIFICATION",
    "REVOKE_SESSIONS_ON_PASSWORD_RESET",
    "UPDATE_EMAIL_WITHOUT_VERIFICATION",
];

/// Tessera's options set as the refserver sets better-auth's with
/// `MAIL_LOG` and `flags`: every mail flow on (with a mailer, the reset and
/// verification flows are on by default), `user.changeEmail` and
/// `user.deleteUser` enabled with their mail callbacks, and each flag.
///
/// # Panics
///
/// On a flag the refserver does not know or a value that is not
/// `true`/`false`.
pub fn lifecycle_options(mut options: Options, flags: &[(&str, &str)]) -> Options {
    options.user.change_email.enabled = true;
    options.user.change_email.send_change_email_confirmation = true;
    options.user.delete_user.enabled = true;
    options.user.delete_user.send_delete_account_verification = true;
    for &(name, value) in flags {
        let on = match value {
            "true" => true,
            "false" => false,
            other => panic!("{name}={other}: the tests use true or false"),
        };
        match name {
            "REQUIRE_EMAIL_VERIFICATION" => {
                options.email_and_password.require_email_verification = on;
            }
            "SEND_ON_SIGN_UP" => options.email_verification.send_on_sign_up = Some(on),
            "AUTO_SIGN_IN_AFTER_VERIFICATION" => {
                options.email_verification.auto_sign_in_after_verification = on;
            }
            "REVOKE_SESSIONS_ON_PASSWORD_RESET" => {
                options.email_and_password.revoke_sessions_on_password_reset = on;
            }
            "UPDATE_EMAIL_WITHOUT_VERIFICATION" => {
                options.user.change_email.update_email_without_verification = on;
            }
            other => panic!("unknown refserver mail flag {other} (known: {MAIL_FLAGS:?})"),
        }
    }
    options
}

/// The refserver's environment: `base` (e.g. `MODE`), `MAIL_LOG` and the
/// flags.
pub fn refserver_env<'a>(
    base: &[(&'a str, &'a str)],
    log: &'a MailLog,
    flags: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut env = base.to_vec();
    env.push(("MAIL_LOG", log.env_value()));
    env.extend_from_slice(flags);
    env
}

/// The messages Tessera handed `outbox` since the last call, as compared.
pub fn sent(outbox: &Outbox) -> Vec<SentMail> {
    outbox
        .take()
        .into_iter()
        .map(|m| SentMail {
            kind: m.kind.as_str().to_owned(),
            to: m.to,
            url: m.link,
        })
        .collect()
}

/// A mail from either server, as compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMail {
    /// better-auth's name for the flow: `verify-email`, `reset-password`,
    /// `change-email-confirmation`, `delete-account`.
    pub kind: String,
    /// The recipient.
    pub to: String,
    /// The link, absolute.
    pub url: String,
}

impl From<LoggedMail> for SentMail {
    fn from(m: LoggedMail) -> Self {
        SentMail {
            kind: m.kind,
            to: m.to,
            url: m.url,
        }
    }
}

impl SentMail {
    /// The link's path and query, for a request to the server at `origin`.
    ///
    /// # Panics
    ///
    /// When the link points elsewhere.
    pub fn path(&self, origin: &str) -> String {
        self.url
            .strip_prefix(origin)
            .unwrap_or_else(|| panic!("a {} link to {origin}: {}", self.kind, self.url))
            .to_owned()
    }

    /// The token the link carries: the `token` query parameter
    /// (`/verify-email`, `/delete-user/callback`) or the path segment after
    /// `/reset-password/`.
    pub fn token(&self) -> Option<String> {
        token_in(&self.url)
    }

    /// The mail with its token masked, as two servers' mails compare.
    pub fn comparable(&self) -> String {
        format!("{} to {}: {}", self.kind, self.to, mask_tokens(&self.url))
    }
}

/// The token a lifecycle link carries, if any.
pub fn token_in(url: &str) -> Option<String> {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    if let Some((_, token)) = path.split_once("/reset-password/") {
        return Some(decode_uri_component(token));
    }
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .map(decode_uri_component)
}

/// `url` (a link or a `Location`) with its token replaced by the token's
/// form (`<string len 24>`, …): the tokens of two servers differ, their
/// place and form must not.
pub fn mask_tokens(url: &str) -> String {
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (url, None),
    };
    let form = |token: &str| form_of(&Value::String(decode_uri_component(token)));
    let path = match path.split_once("/reset-password/") {
        Some((before, token)) if !token.is_empty() => {
            format!("{before}/reset-password/{}", form(token))
        }
        _ => path.to_owned(),
    };
    match query {
        None => path,
        Some(query) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.strip_prefix("token=") {
                    Some(token) => format!("token={}", form(token)),
                    None => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
    }
}

#[test]
fn tokens_are_found_and_masked_where_lifecycle_links_carry_them() {
    let reset = "http://h/api/auth/reset-password/abcdefghijklmnopqrstuvwx?callbackURL=%2Freset";
    assert_eq!(token_in(reset).as_deref(), Some("abcdefghijklmnopqrstuvwx"));
    assert_eq!(
        mask_tokens(reset),
        "http://h/api/auth/reset-password/<string len 24>?callbackURL=%2Freset"
    );
    let verify = "http://h/api/auth/verify-email?token=a.b.c&callbackURL=%2F";
    assert_eq!(token_in(verify).as_deref(), Some("a.b.c"));
    assert_eq!(
        mask_tokens(verify),
        "http://h/api/auth/verify-email?token=<string len 5>&callbackURL=%2F"
    );
    assert_eq!(
        mask_tokens("/x?error=INVALID_TOKEN"),
        "/x?error=INVALID_TOKEN"
    );
    assert_eq!(token_in("/x?error=INVALID_TOKEN"), None);
}
