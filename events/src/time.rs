//! `Timestamp`: the one time type stored in the log (UTC, microseconds since
//! the Unix epoch). A plain integer keeps the encoding small, fast and
//! independent of chrono's serde format.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// A UTC instant with microsecond precision.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The instant as microseconds since the Unix epoch.
    pub fn micros(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch (what OAuth's `exp`/`iat` carry).
    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    /// Builds a timestamp from whole seconds since the Unix epoch.
    pub fn from_unix_seconds(seconds: i64) -> Self {
        Timestamp(seconds.saturating_mul(1_000_000))
    }

    /// This instant moved by `seconds` (saturating, never panics).
    pub fn plus_seconds(self, seconds: i64) -> Self {
        Timestamp(self.0.saturating_add(seconds.saturating_mul(1_000_000)))
    }

    /// The instant as a chrono `DateTime<Utc>`.
    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_micros(self.0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// RFC 3339 text with microseconds and `Z`.
    pub fn to_rfc3339(self) -> String {
        self.to_datetime()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(value: DateTime<Utc>) -> Self {
        Timestamp(value.timestamp_micros())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_down_for_times_before_the_epoch() {
        assert_eq!(Timestamp(-1).unix_seconds(), -1);
        assert_eq!(Timestamp(1_999_999).unix_seconds(), 1);
    }

    #[test]
    fn rfc3339_is_utc_with_micros() {
        assert_eq!(
            Timestamp(1_700_000_000_123_456).to_rfc3339(),
            "2023-11-14T22:13:20.123456Z"
        );
    }
}
