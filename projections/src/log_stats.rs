//! `LogStats`: how many events of each type the log holds, and its head.
//! Cheap to keep, and what `/readyz` and the audit summary report.

use std::collections::BTreeMap;

use authlog_events::{RecordedEvent, Timestamp};

use crate::Projection;

/// Counts over the whole log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LogStats {
    /// Events folded.
    pub events: u64,
    /// Events per catalogue type name.
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
