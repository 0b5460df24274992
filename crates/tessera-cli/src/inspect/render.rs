//! A [`Report`] as text for people and as JSON for scripts. Neither ever
//! holds a configured secret: the report carries only labels ("secret
//! version 2"). The OAuth secrets a cookie holds (the code verifier and
//! nonce of an `oauth_state`, the tokens of an `account_data`) are
//! redacted unless [`OAuthSecrets::Shown`].

use std::fmt::Write as _;

use serde_json::{json, Map, Value};
use tessera::oauth::StateData;
use tessera::store::Account;
use tessera::Timestamp;

use super::{
    AccountCheck, CacheCheck, Check, CookieReport, Kind, Report, SignedCheck, StateCheck,
    TokenCheck, ACCOUNT_SECRETS, STATE_SECRETS,
};

/// Whether the OAuth secrets in `oauth_state` and `account_data` are
/// printed (`--show-secrets`) or redacted (the default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OAuthSecrets {
    /// Each replaced by `[redacted: <n> characters]`.
    Redacted,
    /// Printed as they are.
    Shown,
}

/// The report as text: a line naming the secrets used, then one section
/// per cookie.
pub fn render_text(report: &Report, secrets: OAuthSecrets) -> String {
    let mut out = String::new();
    let labels: Vec<String> = report.secrets.iter().map(|s| s.to_string()).collect();
    line(&mut out, format_args!("secrets: {}", labels.join("; ")));
    if report.cookies.is_empty() {
        out.push_str("\nno cookies in the input\n");
    }
    for cookie in &report.cookies {
        out.push('\n');
        section(&mut out, cookie, secrets);
    }
    out
}

fn line(out: &mut String, args: std::fmt::Arguments<'_>) {
    // Writing to a String cannot fail.
    let _ = out.write_fmt(args);
    out.push('\n');
}

fn section(out: &mut String, cookie: &CookieReport, secrets: OAuthSecrets) {
    match &cookie.check {
        Check::Cache(CacheCheck { chunks, .. }) | Check::Account(AccountCheck { chunks, .. })
            if *chunks > 0 =>
        {
            line(out, format_args!("{} ({chunks} chunks)", cookie.name));
        }
        _ => line(out, format_args!("{}", cookie.name)),
    }
    match &cookie.check {
        Check::Signed(check) => signed(out, check, cookie.kind),
        Check::Cache(check) => cache(out, check),
        Check::State(check) => state(out, check, secrets),
        Check::Account(check) => account(out, check, secrets),
        Check::Neither { signed, cache } => {
            if let Err(err) = signed.result {
                line(out, format_args!("  signed value: no, {err}"));
            }
            if let Err(err) = &cache.result {
                line(out, format_args!("  cookie cache: no, {err}"));
            }
        }
        Check::Ignored => line(out, format_args!("  ignored")),
    }
}

fn signed(out: &mut String, check: &SignedCheck, kind: Kind) {
    match check.result {
        Ok(secret) => line(out, format_args!("  signature: valid ({secret})")),
        Err(err) => line(out, format_args!("  signature: invalid, {err}")),
    }
    // What the signature covers: a session token, except for dont_remember.
    let label = match kind {
        Kind::DontRemember => "value:    ",
        _ => "token:    ",
    };
    if let Some(payload) = &check.payload {
        match check.result {
            Ok(_) => line(out, format_args!("  {label} {payload}")),
            Err(super::SignedError::BadSignature) => {
                line(out, format_args!("  {label} {payload} (unverified)"));
            }
            Err(super::SignedError::NotSigned) => {}
        }
    }
    for note in &check.notes {
        line(out, format_args!("  note:      {note}"));
    }
}

fn cache(out: &mut String, check: &CacheCheck) {
    let decoded = match &check.result {
        Ok(decoded) => decoded,
        Err(err) => {
            line(out, format_args!("  not decoded: {err}"));
            for note in &check.notes {
                line(out, format_args!("  note:      {note}"));
            }
            return;
        }
    };
    let cached = &decoded.cached;
    match decoded.secret {
        Some(secret) => line(
            out,
            format_args!("  strategy:  {} ({secret})", decoded.strategy),
        ),
        None => line(out, format_args!("  strategy:  {}", decoded.strategy)),
    }
    if decoded.expired {
        line(
            out,
            format_args!(
                "  expired:   YES, at {} (a server ignores this cache; its content is shown anyway)",
                cached.expires_at
            ),
        );
    } else {
        line(
            out,
            format_args!("  expired:   no (the cache expires {})", cached.expires_at),
        );
    }
    line(out, format_args!("  version:   {:?}", cached.version));
    line(
        out,
        format_args!("  updatedAt: {}", Timestamp::from_millis(cached.updated_at)),
    );
    let session_expiry = cached.data.session.expires_at;
    if decoded.session_expired {
        line(
            out,
            format_args!("  session:   EXPIRED at {session_expiry}"),
        );
    } else {
        line(out, format_args!("  session:   expires {session_expiry}"));
    }
    match &check.token {
        Some(TokenCheck::Matches { cookie }) => {
            line(out, format_args!("  token matches {cookie}"));
        }
        Some(TokenCheck::Mismatch { cookie }) => line(
            out,
            format_args!(
                "  token MISMATCH: {cookie} carries another token (a server ignores this cache)"
            ),
        ),
        None => line(
            out,
            format_args!("  token not compared (no verified session_token beside it)"),
        ),
    }
    for note in &check.notes {
        line(out, format_args!("  note:      {note}"));
    }
    let body = serde_json::to_string_pretty(&cached.data).unwrap_or_default();
    for l in body.lines() {
        line(out, format_args!("  {l}"));
    }
}

fn state(out: &mut String, check: &StateCheck, secrets: OAuthSecrets) {
    let opened = match &check.result {
        Ok(opened) => opened,
        Err(err) => return line(out, format_args!("  not decrypted: {err}")),
    };
    line(out, format_args!("  decrypted: yes ({})", opened.secret));
    let expires = Timestamp::from_millis(opened.data.expires_at);
    if opened.expired {
        line(
            out,
            format_args!(
                "  expired:   YES, at {expires} (a callback refuses it; its content is shown anyway)"
            ),
        );
    } else {
        line(
            out,
            format_args!("  expired:   no (the state expires {expires})"),
        );
    }
    let (body, redacted) = state_json(&opened.data, secrets);
    body_lines(out, &body, &redacted);
}

fn account(out: &mut String, check: &AccountCheck, secrets: OAuthSecrets) {
    let opened = match &check.result {
        Ok(opened) => opened,
        Err(err) => {
            line(out, format_args!("  not decrypted: {err}"));
            for note in &check.notes {
                line(out, format_args!("  note:      {note}"));
            }
            return;
        }
    };
    match opened.secret {
        Some(secret) => line(out, format_args!("  decrypted: yes ({secret})")),
        None => line(out, format_args!("  decrypted: yes")),
    }
    if opened.expired {
        line(
            out,
            format_args!(
                "  expired:   YES (a server ignores this cookie; its content is shown anyway)"
            ),
        );
    } else {
        line(out, format_args!("  expired:   no"));
    }
    for note in &check.notes {
        line(out, format_args!("  note:      {note}"));
    }
    let (body, redacted) = account_json(&opened.account, secrets);
    body_lines(out, &body, &redacted);
}

/// Which members were redacted, then the JSON, indented.
fn body_lines(out: &mut String, body: &Value, redacted: &[&str]) {
    if !redacted.is_empty() {
        line(
            out,
            format_args!(
                "  redacted:  {} (--show-secrets shows them)",
                redacted.join(", ")
            ),
        );
    }
    let body = serde_json::to_string_pretty(body).unwrap_or_default();
    for l in body.lines() {
        line(out, format_args!("  {l}"));
    }
}

/// The state as better-auth wrote it (its key order), the code verifier
/// and nonce redacted unless shown; and the members redacted.
fn state_json(data: &StateData, secrets: OAuthSecrets) -> (Value, Vec<&'static str>) {
    let mut map = match serde_json::to_value(data) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let redacted = redact(&mut map, &STATE_SECRETS, secrets);
    (Value::Object(map), redacted)
}

/// The account as better-auth writes it in `account_data` (its key order,
/// absent values omitted, never a password), the tokens redacted unless
/// shown; and the members redacted.
fn account_json(account: &Account, secrets: OAuthSecrets) -> (Value, Vec<&'static str>) {
    let mut map = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            map.insert(k.to_owned(), v);
        }
    };
    let text = |v: &Option<String>| v.as_ref().map(|s| json!(s));
    let date = |v: Option<Timestamp>| v.map(|t| json!(t.to_iso()));
    put("accountId", Some(json!(account.account_id)));
    put("providerId", Some(json!(account.provider_id)));
    put("userId", Some(json!(account.user_id)));
    put("accessToken", text(&account.access_token));
    put("refreshToken", text(&account.refresh_token));
    put("idToken", text(&account.id_token));
    put(
        "accessTokenExpiresAt",
        date(account.access_token_expires_at),
    );
    put(
        "refreshTokenExpiresAt",
        date(account.refresh_token_expires_at),
    );
    put("scope", text(&account.scope));
    put("createdAt", date(Some(account.created_at)));
    put("updatedAt", date(Some(account.updated_at)));
    put("id", Some(json!(account.id)));
    let redacted = redact(&mut map, &ACCOUNT_SECRETS, secrets);
    (Value::Object(map), redacted)
}

/// Replaces each string member of `members` with its length, unless
/// shown; the members it replaced.
fn redact(
    map: &mut Map<String, Value>,
    members: &[&'static str],
    secrets: OAuthSecrets,
) -> Vec<&'static str> {
    if secrets == OAuthSecrets::Shown {
        return Vec::new();
    }
    let mut redacted = Vec::new();
    for member in members {
        if let Some(value) = map.get_mut(*member) {
            let chars = value.as_str().map_or(0, |s| s.chars().count());
            *value = json!(format!("[redacted: {chars} characters]"));
            redacted.push(*member);
        }
    }
    redacted
}

/// The report as one JSON array, one object per cookie, with the fields
/// `name`, `kind`, `valid`, `strategy`, `expired`, `error`, `session`
/// (and details: `secret`, `token`, `tokenMatches`, `chunks`, `version`,
/// `updatedAt`, `expiresAt`, `sessionExpired`, `notes`; `state` for an
/// `oauth_state`, `account` for an `account_data`, and `redacted`, the
/// members of either that were redacted).
pub fn render_json(report: &Report, secrets: OAuthSecrets) -> String {
    let cookies: Vec<Value> = report
        .cookies
        .iter()
        .map(|c| cookie_json(c, secrets))
        .collect();
    let mut out = serde_json::to_string_pretty(&cookies).unwrap_or_else(|_| "[]".to_owned());
    out.push('\n');
    out
}

fn cookie_json(cookie: &CookieReport, secrets: OAuthSecrets) -> Value {
    let mut o = Map::new();
    o.insert("name".into(), json!(cookie.name));
    o.insert("kind".into(), json!(cookie.kind.as_str()));
    let (valid, error, notes): (Value, Value, &[String]) = match &cookie.check {
        Check::Signed(s) => (
            json!(s.result.is_ok()),
            json!(s.result.err().map(|e| e.to_string())),
            &s.notes,
        ),
        Check::Cache(c) => (
            json!(c.result.is_ok()),
            json!(c.result.as_ref().err().map(ToString::to_string)),
            &c.notes,
        ),
        Check::State(s) => (
            json!(s.result.is_ok()),
            json!(s.result.as_ref().err().map(ToString::to_string)),
            &[],
        ),
        Check::Account(a) => (
            json!(a.result.is_ok()),
            json!(a.result.as_ref().err().map(ToString::to_string)),
            &a.notes,
        ),
        Check::Neither { signed, cache } => {
            let mut reasons = Vec::new();
            if let Err(e) = signed.result {
                reasons.push(format!("signed value: {e}"));
            }
            if let Err(e) = &cache.result {
                reasons.push(format!("cookie cache: {e}"));
            }
            (json!(false), json!(reasons.join("; ")), &[])
        }
        Check::Ignored => (Value::Null, Value::Null, &[]),
    };
    o.insert("valid".into(), valid);
    let decoded = match &cookie.check {
        Check::Cache(c) => c.result.as_ref().ok(),
        _ => None,
    };
    o.insert(
        "strategy".into(),
        json!(decoded.map(|d| d.strategy.to_string())),
    );
    let expired = match &cookie.check {
        Check::State(s) => s.result.as_ref().ok().map(|o| o.expired),
        Check::Account(a) => a.result.as_ref().ok().map(|o| o.expired),
        _ => decoded.map(|d| d.expired),
    };
    o.insert("expired".into(), json!(expired));
    o.insert("error".into(), error);
    o.insert(
        "session".into(),
        decoded
            .and_then(|d| serde_json::to_value(&d.cached.data).ok())
            .unwrap_or(Value::Null),
    );
    let secret = match &cookie.check {
        Check::Signed(s) => s.result.ok(),
        Check::State(s) => s.result.as_ref().ok().map(|o| o.secret),
        Check::Account(a) => a.result.as_ref().ok().and_then(|o| o.secret),
        _ => decoded.and_then(|d| d.secret),
    };
    o.insert("secret".into(), json!(secret.map(|s| s.to_string())));
    let token = match &cookie.check {
        Check::Signed(s) if s.result.is_ok() => s.payload.clone(),
        _ => decoded.map(|d| d.cached.data.session.token.clone()),
    };
    o.insert("token".into(), json!(token));
    if cookie.kind == Kind::SessionData {
        if let Check::Cache(c) = &cookie.check {
            o.insert("chunks".into(), json!(c.chunks));
            o.insert(
                "tokenMatches".into(),
                json!(c
                    .token
                    .as_ref()
                    .map(|t| matches!(t, TokenCheck::Matches { .. }))),
            );
        }
        o.insert("version".into(), json!(decoded.map(|d| &d.cached.version)));
        o.insert(
            "updatedAt".into(),
            json!(decoded.map(|d| Timestamp::from_millis(d.cached.updated_at).to_iso())),
        );
        o.insert(
            "expiresAt".into(),
            json!(decoded.map(|d| d.cached.expires_at.to_iso())),
        );
        o.insert(
            "sessionExpired".into(),
            json!(decoded.map(|d| d.session_expired)),
        );
    }
    match &cookie.check {
        Check::State(s) => {
            let (state, redacted) = match &s.result {
                Ok(opened) => state_json(&opened.data, secrets),
                Err(_) => (Value::Null, Vec::new()),
            };
            o.insert("state".into(), state);
            o.insert("redacted".into(), json!(redacted));
        }
        Check::Account(a) => {
            let (account, redacted) = match &a.result {
                Ok(opened) => account_json(&opened.account, secrets),
                Err(_) => (Value::Null, Vec::new()),
            };
            o.insert("chunks".into(), json!(a.chunks));
            o.insert("account".into(), account);
            o.insert("redacted".into(), json!(redacted));
        }
        _ => {}
    }
    o.insert("notes".into(), json!(notes));
    Value::Object(o)
}
