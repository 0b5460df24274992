//! [`Reply`]: a successful endpoint result.

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde::Serialize;

/// A successful endpoint result.
#[derive(Clone, Debug)]
pub struct Reply {
    /// Status (200 unless set).
    pub status: StatusCode,
    /// Extra headers (not `Set-Cookie`: cookies go in the [`Ctx`](crate::Ctx) jar).
    pub headers: HeaderMap,
    /// JSON body.
    pub body: Bytes,
}

impl Reply {
    /// A 200 JSON reply.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Self {
        Reply {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from(serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec())),
        }
    }

    /// A 200 reply with a body that is JSON already.
    pub(crate) fn json_bytes(body: Bytes) -> Self {
        Reply {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body,
        }
    }

    /// A 200 JSON reply, or the serialisation error (a `Serialize` impl
    /// of yours that can fail).
    pub fn try_json<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        Ok(Reply {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from(serde_json::to_vec(value)?),
        })
    }

    /// Marks the reply uncacheable (`Cache-Control: no-store`,
    /// `Pragma: no-cache`), as `/get-session` answers.
    pub fn no_store(mut self) -> Self {
        self.headers
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        self.headers
            .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        self
    }

    /// A `302 Found` to `location`, with no body (better-call's
    /// `ctx.redirect`). A location that is not a valid header value is
    /// percent-encoded where it must be.
    pub fn redirect(location: &str) -> Self {
        let value = HeaderValue::from_str(location).unwrap_or_else(|_| {
            let encoded: String =
                percent_encoding::utf8_percent_encode(location, percent_encoding::CONTROLS)
                    .collect();
            HeaderValue::from_str(&encoded).unwrap_or_else(|_| HeaderValue::from_static("/"))
        });
        let mut headers = HeaderMap::new();
        headers.insert(header::LOCATION, value);
        Reply {
            status: StatusCode::FOUND,
            headers,
            body: Bytes::new(),
        }
    }

    /// A reply with another status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }
}
