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
        self.iso().as_str().to_owned()
    }

    /// `toISOString()` into a fixed buffer: dates are on every response
    /// (six per get-session body), so no formatter and no allocation.
    fn iso(self) -> Iso {
        const MIN: i64 = -62_167_219_200_000; // 0000-01-01T00:00:00.000Z
        const MAX: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
        let ms = self.0.clamp(MIN, MAX);
        let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
        let (year, month, day) = civil_from_days(days);
        let secs = ms_of_day / 1000;
        let mut b = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, mut v: i64| {
            for i in (at..at + width).rev() {
                b[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, month);
        put(8, 2, day);
        put(11, 2, secs / 3600);
        put(14, 2, secs / 60 % 60);
        put(17, 2, secs % 60);
        put(20, 3, ms_of_day % 1000);
        Iso(b)
    }
}

/// An ISO-8601 instant, `YYYY-MM-DDTHH:MM:SS.mmmZ`: ASCII digits only.
struct Iso([u8; 24]);

impl Iso {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ISO dates are ASCII")
    }
}

/// The proleptic Gregorian (year, month, day) of a day count from
/// 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.iso().as_str())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.iso().as_str())
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

    /// What `time` prints, for comparison.
    fn reference(ms: i64) -> String {
        let dt = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap();
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

    #[test]
    fn formats_the_edges_and_clamps_beyond_them() {
        for ms in [
            -62_167_219_200_000,
            -1,
            951_782_400_000,   // 2000-02-29
            4_107_542_399_999, // 2100-02-28T23:59:59.999
            253_402_300_799_999,
        ] {
            assert_eq!(Timestamp::from_millis(ms).to_iso(), reference(ms), "{ms}");
        }
        assert_eq!(
            Timestamp::from_millis(i64::MIN).to_iso(),
            "0000-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_millis(i64::MAX).to_iso(),
            "9999-12-31T23:59:59.999Z"
        );
    }

    proptest::proptest! {
        #[test]
        fn formats_every_instant_as_time_does(ms in -62_167_219_200_000i64..=253_402_300_799_999) {
            proptest::prop_assert_eq!(Timestamp::from_millis(ms).to_iso(), reference(ms));
            proptest::prop_assert_eq!(Timestamp::parse_iso(&reference(ms)), Some(Timestamp::from_millis(ms)));
        }
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
