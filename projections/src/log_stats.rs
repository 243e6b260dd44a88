//! `LogStats`: how many events of each type the log holds, and its head.
//! Cheap to keep, and what `/readyz` and the audit summary report.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use authlog_events::{RecordedEvent, Timestamp};

use crate::Projection;

/// Counts over the whole log.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogStats {
    /// Events folded.
    pub events: u64,
    /// Events per catalogue type name.
    #[serde(with = "type_counts")]
    pub by_type: BTreeMap<&'static str, u64>,
    /// Hash of the last event folded.
    pub head_hash: [u8; 32],
    /// Time of the last event folded.
    pub last_recorded_at: Option<Timestamp>,
}

impl Projection for LogStats {
    fn apply(&mut self, event: &RecordedEvent) {
        self.events += 1;
        *self.by_type.entry(event.payload.type_name()).or_default() += 1;
        self.head_hash = event.hash;
        self.last_recorded_at = Some(event.recorded_at);
    }
}

/// Serde for `LogStats::by_type`: names are written as strings and read
/// back as the catalogue's own (`Event::TYPE_NAMES`).
mod type_counts {
    use std::collections::BTreeMap;

    use authlog_events::Event;
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        counts: &BTreeMap<&'static str, u64>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_map(counts)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<&'static str, u64>, D::Error> {
        BTreeMap::<String, u64>::deserialize(deserializer)?
            .into_iter()
            .map(|(name, count)| {
                Event::TYPE_NAMES
                    .iter()
                    .find(|known| **known == name)
                    .map(|known| (*known, count))
                    .ok_or_else(|| D::Error::custom(format!("unknown event type {name}")))
            })
            .collect()
    }
}
