//! Request bodies: media types, JSON and form parsing, and zod-style
//! validation messages (spec §7.1).

use bytes::Bytes;
use http::{header, HeaderMap, StatusCode};
use serde_json::{Map, Value};

use crate::error::{codes, ApiError};
use crate::plugin::BodyKind;

/// Parses a body by its `Content-Type`. An empty body, or a body without a
/// `Content-Type`, is absent (`None`), as better-call treats it.
pub fn parse(headers: &HeaderMap, body: &Bytes, kind: BodyKind) -> Result<Option<Value>, ApiError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(None);
    };
    let ct = String::from_utf8_lossy(ct.as_bytes());
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence.is_empty() {
        return Ok(None);
    }
    let form_ok = kind == BodyKind::JsonOrForm;
    match essence.as_str() {
        "application/json" => {
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(None);
            }
            serde_json::from_slice(body)
                .map(Some)
                .map_err(|_| codes::invalid_json())
        }
        "application/x-www-form-urlencoded" if form_ok => {
            let map: Map<String, Value> = form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect();
            Ok(Some(Value::Object(map)))
        }
        _ => {
            let allowed = if form_ok {
                "application/x-www-form-urlencoded, application/json"
            } else {
                "application/json"
            };
            Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                format!("Content-Type \"{essence}\" is not allowed. Allowed types: {allowed}"),
            ))
        }
    }
}

/// The JavaScript type name zod reports for a value.
pub(super) fn received(v: Option<&Value>) -> &'static str {
    match v {
        None => "undefined",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    }
}

/// Collects zod-style issues over a body object, in schema order, and turns
/// them into one `VALIDATION_ERROR`.
pub struct Validator<'a> {
    body: Option<&'a Map<String, Value>>,
    issues: Vec<String>,
}

impl<'a> Validator<'a> {
    /// Starts validating a body that must be an object.
    pub fn object(body: Option<&'a Value>) -> Result<Self, ApiError> {
        Self::start(body, false)
    }

    /// Like [`Validator::object`], for schemas that also accept extra fields
    /// (`z.object(..).and(z.record(..))`, as `/sign-up/email` has): a
    /// non-object body reports both expectations, as zod does.
    pub fn object_or_record(body: Option<&'a Value>) -> Result<Self, ApiError> {
        Self::start(body, true)
    }

    /// Starts validating a body read as `z.record(z.string(), z.any())`
    /// (`/update-user`): any object, its fields read one by one.
    pub fn record(body: Option<&'a Value>) -> Result<Self, ApiError> {
        match body {
            Some(Value::Object(map)) => Ok(Validator {
                body: Some(map),
                issues: Vec::new(),
            }),
            other => Err(ApiError::validation(format!(
                "[body] Invalid input: expected record, received {}",
                received(other)
            ))),
        }
    }

    fn start(body: Option<&'a Value>, record: bool) -> Result<Self, ApiError> {
        match body {
            Some(Value::Object(map)) => Ok(Validator {
                body: Some(map),
                issues: Vec::new(),
            }),
            other => {
                let r = received(other);
                let mut message = format!("[body] Invalid input: expected object, received {r}");
                if record {
                    message.push_str(&format!(
                        "; [body] Invalid input: expected record, received {r}"
                    ));
                }
                Err(ApiError::validation(message))
            }
        }
    }

    /// Starts validating an optional object body (absent is fine).
    pub fn optional_object(body: Option<&'a Value>) -> Result<Self, ApiError> {
        match body {
            None | Some(Value::Null) => Ok(Validator {
                body: None,
                issues: Vec::new(),
            }),
            some => Validator::object(some),
        }
    }

    fn get(&self, field: &str) -> Option<&'a Value> {
        self.body.and_then(|b| b.get(field))
    }

    fn expected(&mut self, field: &str, ty: &str, got: Option<&Value>) {
        self.issues.push(format!(
            "[body.{field}] Invalid input: expected {ty}, received {}",
            received(got)
        ));
    }

    /// A required string.
    pub fn string(&mut self, field: &str) -> String {
        match self.get(field) {
            Some(Value::String(s)) => s.clone(),
            other => {
                self.expected(field, "string", other);
                String::new()
            }
        }
    }

    /// A required string read through a zod union (`z.enum([...]).or(z.string())`),
    /// whose failure says only `Invalid input`.
    pub fn union_string(&mut self, field: &str) -> String {
        match self.get(field) {
            Some(Value::String(s)) => s.clone(),
            _ => {
                self.issues.push(format!("[body.{field}] Invalid input"));
                String::new()
            }
        }
    }

    /// A required string that must be an email address.
    pub fn email(&mut self, field: &str) -> String {
        match self.get(field) {
            Some(Value::String(s)) => {
                if !is_valid_email(s) {
                    self.issues
                        .push(format!("[body.{field}] Invalid email address"));
                }
                s.clone()
            }
            other => {
                self.expected(field, "string", other);
                String::new()
            }
        }
    }

    /// An optional string (absent; `null` is an error, as in zod).
    pub fn opt_string(&mut self, field: &str) -> Option<String> {
        match self.get(field) {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            other => {
                self.expected(field, "string", other);
                None
            }
        }
    }

    /// An optional string that may also be `null`.
    pub fn nullable_string(&mut self, field: &str) -> Option<String> {
        match self.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            other => {
                self.expected(field, "string", other);
                None
            }
        }
    }

    /// An optional boolean.
    pub fn opt_bool(&mut self, field: &str) -> Option<bool> {
        match self.get(field) {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            other => {
                self.expected(field, "boolean", other);
                None
            }
        }
    }

    /// An optional array of strings.
    pub fn opt_string_array(&mut self, field: &str) -> Option<Vec<String>> {
        match self.get(field) {
            None => None,
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => Some(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            ),
            other => {
                self.expected(field, "array", other);
                None
            }
        }
    }

    /// The whole body object (empty when absent).
    pub fn fields(&self) -> Map<String, Value> {
        self.body.cloned().unwrap_or_default()
    }

    /// Fails with every issue found, joined by `; `.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.issues.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.issues.join("; ")))
        }
    }
}

/// zod's issue for a required query parameter that is absent, as
/// better-auth answers it: 400 `VALIDATION_ERROR`.
pub fn missing_query(name: &str) -> ApiError {
    ApiError::validation(format!(
        "[query.{name}] Invalid input: expected string, received undefined"
    ))
}

/// JavaScript truthiness of a JSON value (better-auth's `if (body.x)`).
pub fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// zod 4's email check:
/// `^(?!\.)(?!.*\.\.)([A-Za-z0-9_'+\-\.]*)[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$`
pub fn is_valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    if local.is_empty() || local.starts_with('.') || s.contains("..") {
        return false;
    }
    let local_ok = local
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_'+-.".contains(&b));
    let last_ok = local
        .bytes()
        .last()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b));
    if !local_ok || !last_ok {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let Some((tld, hosts)) = labels.split_last() else {
        return false;
    };
    if hosts.is_empty() || tld.len() < 2 || !tld.bytes().all(|b| b.is_ascii_alphabetic()) {
        return false;
    }
    hosts.iter().all(|label| {
        let mut bytes = label.bytes();
        bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_as_zod_judges_them() {
        for ok in ["a@example.com", "a.b+c@sub.example.org", "x_y@a-b.co"] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "a@b",
            "a@b.c",
            ".a@b.com",
            "a..b@c.com",
            "a.@b.com",
            "a@-b.com",
            "a@b.c0m",
            "a@@b.com",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }

    #[test]
    fn issues_follow_schema_order() {
        let body: Value = serde_json::json!({"email": 5});
        let mut v = Validator::object(Some(&body)).unwrap();
        v.string("name");
        v.email("email");
        v.string("password");
        assert_eq!(
            v.finish().unwrap_err().message,
            "[body.name] Invalid input: expected string, received undefined; [body.email] Invalid input: expected string, received number; [body.password] Invalid input: expected string, received undefined"
        );
    }

    #[test]
    fn non_object_body() {
        let body: Value = serde_json::json!([1]);
        assert_eq!(
            Validator::object_or_record(Some(&body)).err().unwrap().message,
            "[body] Invalid input: expected object, received array; [body] Invalid input: expected record, received array"
        );
        assert_eq!(
            Validator::object(Some(&body)).err().unwrap().message,
            "[body] Invalid input: expected object, received array"
        );
    }

    #[test]
    fn unsupported_media_type_names_the_allowed_ones() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        let err = parse(&h, &Bytes::from_static(b"{}"), BodyKind::Json).unwrap_err();
        assert_eq!(err.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(
            err.message,
            "Content-Type \"text/plain\" is not allowed. Allowed types: application/json"
        );
    }
}
