//! "Last used" without a disk write per request: uses are kept in memory
//! and appended coarsely as one `TokensUsed` event per flush interval.

use std::collections::HashMap;
use std::sync::Mutex;

use authlog_events::Timestamp;
use uuid::Uuid;

/// Token uses not yet in the log.
#[derive(Debug, Default)]
pub struct UsageTracker {
    pending: Mutex<HashMap<Uuid, Timestamp>>,
}

impl UsageTracker {
    /// Notes that `token` was used at `now`.
    pub fn touch(&self, token: Uuid, now: Timestamp) {
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(token).or_insert(now);
        if *entry < now {
            *entry = now;
        }
    }

    /// The latest unflushed use of `token`.
    pub fn pending(&self, token: &Uuid) -> Option<Timestamp> {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .copied()
    }

    /// Takes every unflushed use.
    pub fn drain(&self) -> Vec<(Uuid, Timestamp)> {
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let mut uses: Vec<(Uuid, Timestamp)> = map.drain().collect();
        uses.sort();
        uses
    }
}
