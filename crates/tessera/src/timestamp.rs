//! Millisecond timestamps that serialise the way JavaScript's `Date` does.
//!
//! better-auth writes every date as `Date.prototype.toISOString()`:
//! UTC, always three fractional digits, always `Z` (spec §6.2 "JSON dates").

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// An instant, in milliseconds since the Unix epoch (UTC).
///
/// Serialises as `"2026-12-05T07:57:54.369Z"` and parses any RFC 3339
/// instant (fractional digits beyond milliseconds are truncated).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// A timestamp from milliseconds since the epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch (floored, as `Math.floor(ms / 1000)`).
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// This instant moved forward by `secs` seconds (backward when negative).
    pub const fn plus_secs(self, secs: i64) -> Self {
        Timestamp(self.0.saturating_add(secs.saturating_mul(1000)))
    }

    /// This instant moved by `ms` milliseconds.
    pub const fn plus_millis(self, ms: i64) -> Self {
        Timestamp(self.0.saturating_add(ms))
    }

    /// Parses an ISO-8601 / RFC 3339 instant such as `2026-12-05T07:57:54.369Z`.
    pub fn parse_iso(s: &str) -> Option<Self> {
        let dt = OffsetDateTime::parse(s, &Rfc3339).ok()?;
        let ms = dt.unix_timestamp_nanos().div_euclid(1_000_000);
        i64::try_from(ms).ok().map(Timestamp)
    }

    /// Formats as JavaScript's `toISOString()` does.
    ///
    /// Instants outside years 0..=9999 (which JS writes with an expanded
    /// year) are clamped to that range; no session date is ever near it.
    pub fn to_iso(self) -> String {
        const MIN: i64 = -62_167_219_200_000; // 0000-01-01T00:00:00.000Z
        const MAX: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
        let ms = self.0.clamp(MIN, MAX);
        let dt = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            dt.year(),
            u8::from(dt.month()),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            dt.millisecond()
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_iso())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_iso())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ISO-8601 date string or milliseconds since the epoch")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse_iso(v).ok_or_else(|| E::custom("invalid ISO-8601 date"))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Timestamp, E> {
                Ok(Timestamp(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Timestamp, E> {
                i64::try_from(v)
                    .map(Timestamp)
                    .map_err(|_| E::custom("timestamp out of range"))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Timestamp, E> {
                if v.is_finite() && v.abs() < 9.0e15 {
                    Ok(Timestamp(v.floor() as i64))
                } else {
                    Err(E::custom("timestamp out of range"))
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_javascript_to_iso_string() {
        assert_eq!(
            Timestamp::from_millis(1_795_852_689_612).to_iso(),
            "2026-11-28T07:58:09.612Z"
        );
        assert_eq!(Timestamp::EPOCH.to_iso(), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn parses_with_and_without_fraction() {
        let t = Timestamp::parse_iso("2026-11-28T07:58:09.612Z").unwrap();
        assert_eq!(t.as_millis(), 1_795_852_689_612);
        let t = Timestamp::parse_iso("2026-11-28T07:58:09Z").unwrap();
        assert_eq!(t.as_millis(), 1_795_852_689_000);
        assert!(Timestamp::parse_iso("yesterday").is_none());
    }

    #[test]
    fn round_trips_through_json() {
        let t = Timestamp::from_millis(1_795_852_689_612);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2026-11-28T07:58:09.612Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
    }
}
