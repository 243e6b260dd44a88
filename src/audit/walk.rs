//! Newest-first walks over the log for audit queries, strictly before a
//! position (the cursor), so a page never skips or repeats while appends
//! continue: new events only ever take higher positions.
//!
//! The walk picks its source from the filters, most selective first:
//! * `client_id`: the log's redb `client_index` (`EventLog::read_client`);
//! * `actor`: the in-memory actor index of the audit projection;
//! * `stream`: the log's `streams` table, from the stream's last version;
//! * otherwise the whole log, backwards from the head.
//!
//! Every record it yields is then checked against all the filters. Reads
//! are blocking (redb); run a walk on a blocking thread.

use std::collections::VecDeque;
use std::sync::Arc;

use authlog_events::{EventLog, Principal, RecordedEvent, StoreError};

use super::filter::AuditFilter;
use super::AuditError;
use crate::writer::SharedProjections;

/// Records read per step once a walk is past its first page.
const CHUNK: usize = 256;

/// Where a walk reads from.
#[derive(Debug, Clone)]
enum Source {
    Client(String),
    Actor(Principal),
    /// The stream and the highest version not yet read (`None`: not started).
    Stream(String, Option<u64>),
    All,
}

/// A resumable newest-first walk over the events matching a filter.
pub struct Walker {
    store: Arc<dyn EventLog>,
    actors: Option<SharedProjections>,
    filter: AuditFilter,
    source: Source,
    /// Everything yielded so far is at or above this position; the next
    /// record read is strictly below it.
    cursor: u64,
    buffer: VecDeque<RecordedEvent>,
    exhausted: bool,
    next_chunk: usize,
}

impl std::fmt::Debug for Walker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Walker")
            .field("source", &self.source)
            .field("cursor", &self.cursor)
            .finish()
    }
}

impl Walker {
    /// A walk over `filter`'s events strictly before `before` (all when `None`).
    /// `actors` is the server's projections; without them an actor filter
    /// is refused rather than answered by scanning.
    pub fn new(
        store: Arc<dyn EventLog>,
        actors: Option<SharedProjections>,
        filter: AuditFilter,
        before: Option<u64>,
        first_chunk: usize,
    ) -> Result<Walker, AuditError> {
        let source = if let Some(client) = &filter.client_id {
            Source::Client(client.clone())
        } else if let Some(actor) = &filter.actor {
            if actors.is_none() {
                return Err(AuditError::NoActorIndex);
            }
            Source::Actor(actor.clone())
        } else if let Some(stream) = &filter.stream {
            Source::Stream(stream.clone(), None)
        } else {
            Source::All
        };
        Ok(Walker {
            store,
            actors,
            filter,
            source,
            cursor: before.unwrap_or(u64::MAX),
            buffer: VecDeque::new(),
            exhausted: false,
            next_chunk: first_chunk.clamp(1, CHUNK),
        })
    }

    /// The position the walk has reached (every record yielded is at or
    /// above it); the cursor of the next page.
    pub fn position(&self) -> u64 {
        self.cursor
    }

    /// The next matching record, newest first; `None` at the start of the log.
    pub fn next_match(&mut self) -> Result<Option<RecordedEvent>, AuditError> {
        loop {
            if self.buffer.is_empty() {
                if self.exhausted {
                    return Ok(None);
                }
                self.refill()?;
                continue;
            }
            let Some(record) = self.buffer.pop_front() else {
                continue;
            };
            self.cursor = record.position;
            if self.filter.matches(&record) {
                return Ok(Some(record));
            }
        }
    }

    /// Up to `limit` matching records; the second value is the cursor of
    /// the next page, `None` when the walk reached the start of the log.
    pub fn page(&mut self, limit: usize) -> Result<(Vec<RecordedEvent>, Option<u64>), AuditError> {
        let mut items = Vec::with_capacity(limit.min(CHUNK));
        while items.len() < limit {
            match self.next_match()? {
                Some(record) => items.push(record),
                None => return Ok((items, None)),
            }
        }
        Ok((items, Some(self.cursor)))
    }

    /// Reads the next chunk below the cursor into the buffer.
    fn refill(&mut self) -> Result<(), AuditError> {
        let n = self.next_chunk;
        self.next_chunk = CHUNK;
        let before = self.cursor;
        let chunk = match &mut self.source {
            Source::Client(client) => self.store.read_client(client, Some(before), n)?,
            Source::Actor(actor) => {
                let positions = match &self.actors {
                    Some(p) => p
                        .read()
                        .map_err(|_| AuditError::Unreadable)?
                        .audit
                        .actor_positions_before(actor, before, n),
                    None => return Err(AuditError::NoActorIndex),
                };
                let mut out = Vec::with_capacity(positions.len());
                for position in positions {
                    out.push(read_at(self.store.as_ref(), position)?);
                }
                out
            }
            Source::Stream(stream, high) => {
                let hi = match high {
                    Some(v) => *v,
                    None => self.store.stream_version(stream)?,
                };
                if hi == 0 {
                    Vec::new()
                } else {
                    let lo = hi.saturating_sub(n as u64 - 1).max(1);
                    *high = Some(lo - 1);
                    let mut records = self.store.read_stream(stream, lo, (hi - lo + 1) as usize)?;
                    records.retain(|r| r.position < before);
                    records.reverse();
                    if records.is_empty() && lo > 1 {
                        // Everything read so far is at or above the cursor:
                        // keep going down the stream.
                        self.buffer.clear();
                        return Ok(());
                    }
                    records
                }
            }
            Source::All => {
                let head = self.store.head()?.map_or(0, |h| h.position);
                let hi = head.min(before.saturating_sub(1));
                if hi == 0 {
                    Vec::new()
                } else {
                    let lo = hi.saturating_sub(n as u64 - 1).max(1);
                    let mut records = self.store.read_all(lo, (hi - lo + 1) as usize)?;
                    records.reverse();
                    records
                }
            }
        };
        if chunk.is_empty() {
            self.exhausted = true;
        }
        self.buffer.extend(chunk);
        Ok(())
    }
}

/// The record at `position`.
fn read_at(store: &dyn EventLog, position: u64) -> Result<RecordedEvent, StoreError> {
    store
        .read_all(position, 1)?
        .into_iter()
        .next()
        .filter(|r| r.position == position)
        .ok_or_else(|| StoreError::Format(format!("index names missing position {position}")))
}

#[cfg(test)]
mod tests {
    use std::sync::RwLock;

    use authlog_events::{
        Actor, AppendBatch, Event, EventStore, NewEvent, Principal, RedbStore, Timestamp,
    };
    use authlog_projections::Projections;
    use uuid::Uuid;

    use super::*;

    /// 700 events over 3 streams, 4 clients (one event in 7 has none) and 5 actors.
    fn log() -> (tempfile::TempDir, Arc<dyn EventLog>, SharedProjections) {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path().join("log.redb")).unwrap();
        let events: Vec<NewEvent> = (0..700u64)
            .map(|i| NewEvent {
                event_id: crate::entropy::Entropy::id(&crate::entropy::SystemEntropy),
                stream: format!("s{}", i % 3),
                recorded_at: Timestamp(i as i64),
                actor: Actor {
                    principal: Principal::Client(format!("a{}", i % 5)),
                    via_client: None,
                    ip: None,
                    user_agent: None,
                },
                client_id: (i % 7 != 0).then(|| format!("c{}", i % 4)),
                correlation_id: None,
                payload: if i % 2 == 0 {
                    Event::ClientResumed {
                        client_id: "x".into(),
                    }
                } else {
                    Event::LoginSucceeded {
                        user_id: Uuid::nil(),
                    }
                },
            })
            .collect();
        let outcome = store.append(vec![AppendBatch::new(events)]).unwrap();
        let projections = Arc::new(RwLock::new(Projections::default()));
        for record in outcome.into_iter().next().unwrap().unwrap() {
            projections.write().unwrap().apply(&record);
        }
        (dir, Arc::new(store), projections)
    }

    fn filters() -> Vec<AuditFilter> {
        let f = AuditFilter::default;
        vec![
            f(),
            AuditFilter {
                client_id: Some("c1".into()),
                ..f()
            },
            AuditFilter {
                actor: Some(Principal::Client("a3".into())),
                ..f()
            },
            AuditFilter {
                stream: Some("s2".into()),
                ..f()
            },
            AuditFilter {
                stream: Some("s0".into()),
                types: vec!["ClientResumed"],
                since: Some(Timestamp(100)),
                until: Some(Timestamp(650)),
                ..f()
            },
            AuditFilter {
                client_id: Some("c2".into()),
                actor: Some(Principal::Client("a1".into())),
                types: vec!["LoginSucceeded"],
                ..f()
            },
            AuditFilter {
                client_id: Some("nobody".into()),
                ..f()
            },
        ]
    }

    #[test]
    fn every_source_pages_exactly_the_matching_events_newest_first() {
        let (_dir, store, projections) = log();
        let everything = store.read_all(1, 10_000).unwrap();
        for filter in filters() {
            let mut expected: Vec<u64> = everything
                .iter()
                .filter(|r| filter.matches(r))
                .map(|r| r.position)
                .collect();
            expected.reverse();

            // Stateless pages, as the HTTP API walks them.
            let mut got = Vec::new();
            let mut before = None;
            loop {
                let mut walker = Walker::new(
                    store.clone(),
                    Some(projections.clone()),
                    filter.clone(),
                    before,
                    7,
                )
                .unwrap();
                let (items, next) = walker.page(7).unwrap();
                got.extend(items.iter().map(|r| r.position));
                match next {
                    Some(n) => before = Some(n),
                    None => break,
                }
            }
            assert_eq!(got, expected, "{filter:?}");

            // One walker across pages, as the export streams them.
            let mut walker = Walker::new(
                store.clone(),
                Some(projections.clone()),
                filter.clone(),
                None,
                7,
            )
            .unwrap();
            let mut got = Vec::new();
            loop {
                let (items, next) = walker.page(13).unwrap();
                got.extend(items.iter().map(|r| r.position));
                if next.is_none() {
                    break;
                }
            }
            assert_eq!(got, expected, "{filter:?}");
        }
    }

    #[test]
    fn an_actor_filter_without_the_actor_index_is_refused() {
        let (_dir, store, _) = log();
        let filter = AuditFilter {
            actor: Some(Principal::System),
            ..AuditFilter::default()
        };
        assert!(matches!(
            Walker::new(store, None, filter, None, 10),
            Err(AuditError::NoActorIndex)
        ));
    }
}
