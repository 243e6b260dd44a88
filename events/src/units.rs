//! Deciding an append, the same for every backend: which units' version
//! expectations hold, which events repeat an id already stored (answered
//! with the stored record), and the sealed records of the new ones, chained
//! from the head. The backend only answers lookups (`Stored`) and stores
//! what this returns.

use crate::chain::GENESIS;
use crate::codec::seal;
use crate::envelope::RecordedEvent;
use crate::log_file::MAX_RECORD;
use crate::store::{AppendBatch, ExpectedVersion, Head, StoreError, UnitOutcome, VersionConflict};
use crate::FastMap;

/// What the backend holds, as the decision asks for it.
pub(crate) trait Stored {
    /// The stored record with this event id, if any.
    fn by_event_id(&mut self, id: u128) -> Result<Option<RecordedEvent>, StoreError>;
    /// The stored version of a stream (0: none).
    fn version(&mut self, stream: &str) -> Result<u64, StoreError>;
    /// Takes one new record and its sealed bytes, in position order.
    fn accept(&mut self, record: &RecordedEvent, bytes: &[u8]) -> Result<(), StoreError>;
}

/// Decides `units` on top of `head`; returns each unit's outcome and the
/// head after the new records (handed to `stored.accept` as they are made).
pub(crate) fn decide(
    head: Option<Head>,
    units: Vec<AppendBatch>,
    stored: &mut impl Stored,
) -> Result<(Vec<UnitOutcome>, Option<Head>), StoreError> {
    let mut head = head.unwrap_or(Head {
        position: 0,
        hash: GENESIS,
    });
    // Stream versions touched in this append (so later units see earlier ones).
    let mut versions: FastMap<String, u64> = FastMap::default();
    let mut outcomes: Vec<UnitOutcome> = Vec::with_capacity(units.len());
    // Event ids stored by this append: (unit, index in its records).
    let mut new_ids: FastMap<u128, (usize, usize)> = FastMap::default();

    for (unit_index, unit) in units.into_iter().enumerate() {
        // Repeated event ids are answered with what is stored.
        let mut existing: Vec<Option<RecordedEvent>> = Vec::with_capacity(unit.events.len());
        for event in &unit.events {
            let id = event.event_id.as_u128();
            existing.push(match new_ids.get(&id) {
                Some(&(u, i)) => match &outcomes[u] {
                    Ok(recorded) => recorded.get(i).cloned(),
                    Err(_) => None,
                },
                None => stored.by_event_id(id)?,
            });
        }
        // A unit with nothing new is an idempotent repeat; an empty unit
        // still asserts its expectations.
        if existing.is_empty() || existing.iter().any(Option::is_none) {
            let mut conflict = None;
            for (stream, expected) in &unit.expected {
                let actual = version_of(stream, &versions, stored)?;
                let ok = match expected {
                    ExpectedVersion::Any => true,
                    ExpectedVersion::NoStream => actual == 0,
                    ExpectedVersion::Exact(v) => actual == *v,
                };
                if !ok {
                    conflict = Some(VersionConflict {
                        stream: stream.clone(),
                        expected: *expected,
                        actual,
                    });
                    break;
                }
            }
            if let Some(conflict) = conflict {
                outcomes.push(Err(conflict));
                continue;
            }
        }

        let mut recorded: Vec<RecordedEvent> = Vec::with_capacity(unit.events.len());
        for (event, existing) in unit.events.into_iter().zip(existing) {
            if let Some(existing) = existing {
                recorded.push(existing);
                continue;
            }
            // The same id twice inside one unit: keep the first.
            let id = event.event_id.as_u128();
            if let Some(&(_, i)) = new_ids.get(&id) {
                recorded.push(recorded[i].clone());
                continue;
            }
            let version = version_of(&event.stream, &versions, stored)? + 1;
            let mut record = RecordedEvent {
                position: head.position + 1,
                stream: event.stream,
                stream_version: version,
                event_id: event.event_id,
                recorded_at: event.recorded_at,
                actor: event.actor,
                client_id: event.client_id,
                correlation_id: event.correlation_id,
                payload: event.payload,
                prev_hash: head.hash,
                hash: [0; 32],
            };
            let bytes = seal(&mut record);
            if bytes.len() > MAX_RECORD {
                return Err(StoreError::TooLarge {
                    bytes: bytes.len(),
                    limit: MAX_RECORD,
                });
            }
            stored.accept(&record, &bytes)?;
            versions.insert(record.stream.clone(), version);
            head = Head {
                position: record.position,
                hash: record.hash,
            };
            new_ids.insert(id, (unit_index, recorded.len()));
            recorded.push(record);
        }
        outcomes.push(Ok(recorded));
    }
    Ok((outcomes, (head.position > 0).then_some(head)))
}

/// A stream's version as this append left it, or as stored.
fn version_of(
    stream: &str,
    versions: &FastMap<String, u64>,
    stored: &mut impl Stored,
) -> Result<u64, StoreError> {
    match versions.get(stream) {
        Some(v) => Ok(*v),
        None => stored.version(stream),
    }
}
