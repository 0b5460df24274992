//! Comparing JSON bodies from two servers: values that are random or
//! time-dependent (ids, tokens, dates) are replaced by a description of
//! their form, everything else — key order included — must match.

use serde_json::Value;

/// Keys whose values are random or time-dependent: compared by form only.
pub const VOLATILE_KEYS: &[&str] = &[
    "id",
    "token",
    "userId",
    "createdAt",
    "updatedAt",
    "expiresAt",
];

/// The body with volatile values replaced by their form, key order kept, so
/// two servers' bodies compare equal when they agree on everything that is
/// deterministic.
pub fn normalized(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if VOLATILE_KEYS.contains(&k.as_str()) {
                        Value::String(form_of(v))
                    } else {
                        normalized(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalized).collect()),
        other => other.clone(),
    }
}

/// A description of a volatile value's form: an ISO-8601 date with
/// milliseconds, a 32-character alphanumeric id, a string of some length, …
pub fn form_of(v: &Value) -> String {
    match v {
        Value::String(s) if s.len() == 24 && tessera::Timestamp::parse_iso(s).is_some() => {
            "<iso-8601 ms>".to_owned()
        }
        Value::String(s) if s.len() == 32 && s.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            "<32 alnum>".to_owned()
        }
        Value::String(s) => format!("<string len {}>", s.len()),
        Value::Null => "<null>".to_owned(),
        other => format!("<{other}>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn volatile_values_compare_by_form() {
        let a = json!({"user": {"id": "a".repeat(32), "name": "A", "createdAt": "2026-11-28T07:58:09.608Z"}});
        let b = json!({"user": {"id": "b".repeat(32), "name": "A", "createdAt": "2026-11-29T07:58:09.000Z"}});
        assert_eq!(normalized(&a), normalized(&b));
        let c = json!({"user": {"id": "b".repeat(32), "name": "B", "createdAt": "2026-11-29T07:58:09.000Z"}});
        assert_ne!(normalized(&a), normalized(&c));
    }
}
