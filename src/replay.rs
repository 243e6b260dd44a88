//! Startup replay: folds the whole log into fresh projections before the
//! server reports ready. Two threads share the work: one reads and decodes
//! the log a chunk at a time and folds every read model but the token
//! index; the other folds the token index (see `Projections::split`).

use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use authlog_events::{EventStore, StoreError};
use authlog_projections::{Projection, Projections};

/// Records read per chunk.
const CHUNK: usize = 1024;

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
    let from = projections.applied_position + 1;
    let (tokens, mut others) = projections.split();
    let (tx, rx) = sync_channel(8);
    let mut last = None;
    let mut events = 0u64;
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || -> Result<(), StoreError> {
            let mut next = from;
            loop {
                let chunk = store.read_all(next, CHUNK)?;
                let Some(last) = chunk.last() else {
                    return Ok(());
                };
                next = last.position + 1;
                for event in &chunk {
                    others.apply(event);
                }
                if tx.send(chunk).is_err() {
                    return Ok(());
                }
            }
        });
        for chunk in rx {
            for event in &chunk {
                tokens.apply(event);
            }
            events += chunk.len() as u64;
            last = chunk.last().map(|e| e.position);
        }
        reader
            .join()
            .unwrap_or_else(|_| Err(StoreError::Storage("replay reader panicked".into())))
    })?;
    if let Some(position) = last {
        projections.applied_position = position;
    }
    Ok(ReplaySummary {
        events,
        elapsed: started.elapsed(),
    })
}
