//! A [`Report`] as text for people and as JSON for scripts. Neither ever
//! holds a secret: the report carries only labels ("secret version 2").

use std::fmt::Write as _;

use serde_json::{json, Map, Value};
use tessera::Timestamp;

use super::{CacheCheck, Check, CookieReport, Kind, Report, SignedCheck, TokenCheck};

/// The report as text: a line naming the secrets used, then one section
/// per cookie.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    let secrets: Vec<String> = report.secrets.iter().map(|s| s.to_string()).collect();
    line(&mut out, format_args!("secrets: {}", secrets.join("; ")));
    if report.cookies.is_empty() {
        out.push_str("\nno cookies in the input\n");
    }
    for cookie in &report.cookies {
        out.push('\n');
        section(&mut out, cookie);
    }
    out
}

fn line(out: &mut String, args: std::fmt::Arguments<'_>) {
    // Writing to a String cannot fail.
    let _ = out.write_fmt(args);
    out.push('\n');
}

fn section(out: &mut String, cookie: &CookieReport) {
    match &cookie.check {
        Check::Cache(c) if c.chunks > 0 => {
            line(out, format_args!("{} ({} chunks)", cookie.name, c.chunks));
        }
        _ => line(out, format_args!("{}", cookie.name)),
    }
    match &cookie.check {
        Check::Signed(check) => signed(out, check, cookie.kind),
        Check::Cache(check) => cache(out, check),
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

/// The report as one JSON array, one object per cookie, with the fields
/// `name`, `kind`, `valid`, `strategy`, `expired`, `error`, `session`
/// (and details: `secret`, `token`, `tokenMatches`, `chunks`, `version`,
/// `updatedAt`, `expiresAt`, `sessionExpired`, `notes`).
pub fn render_json(report: &Report) -> String {
    let cookies: Vec<Value> = report.cookies.iter().map(cookie_json).collect();
    let mut out = serde_json::to_string_pretty(&cookies).unwrap_or_else(|_| "[]".to_owned());
    out.push('\n');
    out
}

fn cookie_json(cookie: &CookieReport) -> Value {
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
    o.insert("expired".into(), json!(decoded.map(|d| d.expired)));
    o.insert("error".into(), error);
    o.insert(
        "session".into(),
        decoded
            .and_then(|d| serde_json::to_value(&d.cached.data).ok())
            .unwrap_or(Value::Null),
    );
    let secret = match &cookie.check {
        Check::Signed(s) => s.result.ok(),
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
    o.insert("notes".into(), json!(notes));
    Value::Object(o)
}
