//! Startup replay: folds the whole log into fresh projections, in chunks,
//! before the server reports ready.

use std::time::{Duration, Instant};

use authlog_events::{EventStore, StoreError};
use authlog_projections::Projections;

/// Records read per chunk.
const CHUNK: usize = 8192;

/// What a replay did.
#[derive(Debug, Clone, Copy)]
pub struct ReplaySummary {
    /// Events folded.
    pub events: u64,
    /// How long it took.
    pub elapsed: Duration,
}

/// Folds every event after `projections.applied_position` into `projections`.
pub fn replay(
    store: &dyn EventStore,
    projections: &mut Projections,
) -> Result<ReplaySummary, StoreError> {
    let started = Instant::now();
    let mut events = 0u64;
    loop {
        let chunk = store.read_all(projections.applied_position + 1, CHUNK)?;
        if chunk.is_empty() {
            break;
        }
        for event in &chunk {
            if projections.apply(event) {
                events += 1;
            }
        }
    }
    Ok(ReplaySummary {
        events,
        elapsed: started.elapsed(),
    })
}
