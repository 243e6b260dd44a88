//! Startup replay: folds the whole log into fresh projections before the
//! server reports ready.
//!
//! Decoding records costs more than folding them, so the work is spread:
//! a reader copies the stored records in chunks and deals them out in
//! turn to a few decoders; the calling thread takes the decoded chunks
//! back in the same turn, so in log order, and folds the token index,
//! while a second thread folds the other read models from the same chunks
//! (see `Projections::split`). With more threads than cores the scheduler
//! balances decoding against folding. Chunks and their buffers go back to
//! where they were filled, so memory is reused rather than freshly faulted
//! in, and records are freed on the thread that allocated them. The fold
//! counts what it has done in a `progress::ReplayProgress`.

use std::ops::Range;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authlog_events::{decode_stored, EventLog, RecordedEvent, StoreError};
use authlog_projections::{Projection, Projections, TokenIndex};

pub mod progress;

use progress::ReplayProgress;

/// Records per chunk.
const CHUNK: usize = 1024;
/// Chunks queued to and from each decoder.
const QUEUED: usize = 4;
/// Decoders at most (folding is the limit well before this).
const MAX_DECODERS: usize = 4;
/// How many events ahead the token fold prefetches (`TokenIndex::prefetch`).
const PREFETCH: usize = 8;

/// What a replay did.
#[derive(Debug, Clone, Copy)]
pub struct ReplaySummary {
    /// Events folded.
    pub events: u64,
    /// How long it took.
    pub elapsed: Duration,
}

/// A chunk of stored records, as the reader copied them.
#[derive(Default)]
struct Stored {
    bytes: Vec<u8>,
    records: Vec<(u64, Range<usize>)>,
}

impl Stored {
    fn push(&mut self, position: u64, bytes: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        self.records.push((position, start..self.bytes.len()));
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.records.clear();
    }
}

type Decoded = Result<Vec<RecordedEvent>, StoreError>;

/// One decoder's channels, as the folding thread sees them.
struct Decoder {
    /// Decoded chunks, in the order their stored chunks were sent.
    from: Receiver<Decoded>,
    /// Folded chunks going back for reuse.
    back: SyncSender<Vec<RecordedEvent>>,
}

/// Folds every event after `projections.applied_position` into
/// `projections`. On an error they are left partly folded, to be dropped.
pub fn replay(
    store: &dyn EventLog,
    projections: &mut Projections,
) -> Result<ReplaySummary, StoreError> {
    replay_counting(store, projections, &ReplayProgress::default())
}

/// [`replay`], counting the events folded into `progress` as it goes.
pub fn replay_counting(
    store: &dyn EventLog,
    projections: &mut Projections,
    progress: &ReplayProgress,
) -> Result<ReplaySummary, StoreError> {
    let started = Instant::now();
    let from = projections.applied_position + 1;
    let head = store.head()?.map_or(0, |head| head.position);
    progress.begin(head.saturating_sub(projections.applied_position));
    let decoders = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_DECODERS);
    let (tokens, mut others) = projections.split();
    let events = std::thread::scope(|scope| {
        let spawn_failed =
            |e: std::io::Error| StoreError::Storage(format!("cannot start replay threads: {e}"));
        // Emptied stored chunks, back from every decoder to the reader.
        let (empty_tx, empty_rx) = sync_channel::<Stored>(decoders * (QUEUED + 2));
        let mut lanes = Vec::with_capacity(decoders);
        let mut inputs = Vec::with_capacity(decoders);
        let mut decoding = Vec::with_capacity(decoders);
        for _ in 0..decoders {
            let (to, stored) = sync_channel::<Stored>(QUEUED);
            let (decoded_tx, from) = sync_channel::<Decoded>(QUEUED);
            // Room for every chunk of this decoder that can be on its way
            // back at once: queued to the fold, shared, being folded.
            let (back, folded) = sync_channel::<Vec<RecordedEvent>>(2 * QUEUED + 4);
            let empty_tx = empty_tx.clone();
            let decoder = std::thread::Builder::new()
                .name("authlog-decode".into())
                .spawn_scoped(scope, move || {
                    for mut chunk in stored {
                        // Records are dropped here, where they were allocated.
                        let mut out = folded.try_recv().unwrap_or_default();
                        out.clear();
                        let decoded = chunk
                            .records
                            .iter()
                            .try_for_each(|(position, range)| {
                                out.push(decode_stored(*position, &chunk.bytes[range.clone()])?);
                                Ok(())
                            })
                            .map(|()| out);
                        chunk.clear();
                        let _ = empty_tx.try_send(chunk);
                        if decoded_tx.send(decoded).is_err() {
                            return;
                        }
                    }
                })
                .map_err(spawn_failed)?;
            decoding.push(decoder);
            lanes.push(to);
            inputs.push(Decoder { from, back });
        }
        drop(empty_tx);
        let reader = std::thread::Builder::new()
            .name("authlog-replay".into())
            .spawn_scoped(scope, move || -> Result<(), StoreError> {
                let mut turn = 0;
                let mut chunk = Stored::default();
                let mut deal = |chunk: Stored| {
                    let sent = lanes[turn % lanes.len()].send(chunk).is_ok();
                    turn += 1;
                    sent
                };
                store.for_each_stored(from, &mut |position, bytes| {
                    chunk.push(position, bytes);
                    if chunk.records.len() < CHUNK {
                        return true;
                    }
                    let next = empty_rx.try_recv().unwrap_or_default();
                    // A send fails only once folding has stopped.
                    deal(std::mem::replace(&mut chunk, next))
                })?;
                if !chunk.records.is_empty() {
                    deal(chunk);
                }
                Ok(())
            })
            .map_err(spawn_failed)?;
        // The other read models fold on a thread of their own, from the
        // same chunks; whichever finishes a chunk last sends it back.
        let (share, shared) = sync_channel::<(Arc<Vec<RecordedEvent>>, usize)>(QUEUED);
        let backs: Vec<_> = inputs.iter().map(|d| d.back.clone()).collect();
        let other_fold = std::thread::Builder::new()
            .name("authlog-fold".into())
            .spawn_scoped(scope, move || {
                for (chunk, lane) in shared {
                    for event in chunk.iter() {
                        others.apply(event);
                    }
                    if let Some(chunk) = Arc::into_inner(chunk) {
                        let _ = backs[lane].try_send(chunk);
                    }
                }
            })
            .map_err(spawn_failed)?;
        let folded = fold(&inputs, tokens, &share, progress);
        drop(share);
        // Stop the decoders and the reader if folding stopped early.
        drop(inputs);
        let panicked = |what: &str| StoreError::Storage(format!("the replay's {what} panicked"));
        let others_folded = other_fold
            .join()
            .map_err(|_| panicked("fold of the other read models"));
        let read = reader.join().unwrap_or_else(|_| Err(panicked("reader")));
        // A decoder that panicked looks to the fold like the end of the log.
        let decoded = decoding
            .into_iter()
            .try_for_each(|d| d.join().map_err(|_| panicked("decoder")));
        others_folded?;
        decoded?;
        // A fold error comes from a chunk dealt before the reader failed,
        // if it did: the earlier of the two in the log.
        let events = folded?;
        read?;
        Ok(events)
    })?;
    // The log's positions are gapless, and each record was checked to be
    // at its position.
    projections.applied_position += events;
    Ok(ReplaySummary {
        events,
        elapsed: started.elapsed(),
    })
}

/// Takes decoded chunks from the decoders in turn, shares each with the
/// other read models' thread and folds the token index, until the decoder
/// whose turn it is has nothing more; returns how many events it folded.
fn fold(
    decoders: &[Decoder],
    tokens: &mut TokenIndex,
    share: &SyncSender<(Arc<Vec<RecordedEvent>>, usize)>,
    progress: &ReplayProgress,
) -> Result<u64, StoreError> {
    let mut events = 0;
    for (lane, decoder) in decoders.iter().enumerate().cycle() {
        let Ok(decoded) = decoder.from.recv() else {
            break;
        };
        let chunk = Arc::new(decoded?);
        if share.send((chunk.clone(), lane)).is_err() {
            return Err(StoreError::Storage(
                "the replay's fold of the other read models stopped".into(),
            ));
        }
        for (at, event) in chunk.iter().enumerate() {
            if let Some(ahead) = chunk.get(at + PREFETCH) {
                tokens.prefetch(ahead);
            }
            tokens.apply(event);
        }
        events += chunk.len() as u64;
        progress.add(chunk.len() as u64);
        if let Some(chunk) = Arc::into_inner(chunk) {
            let _ = decoder.back.try_send(chunk);
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests;
