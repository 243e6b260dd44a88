//! The embedded log on redb: one file, durable commits, typed tables
//! (`tables`), and everything the `EventStore` contract promises.

use std::collections::HashMap;
use std::path::Path;

use redb::{
    Builder, ConcurrencyMode, Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase,
    ReadableTable, WriteTransaction,
};

use crate::chain::{link_hash, GENESIS};
use crate::codec::{self, decode, seal};
use crate::envelope::RecordedEvent;
use crate::store::{
    AppendBatch, BrokenLink, EventStore, ExpectedVersion, Head, StoreError, UnitOutcome,
    VerifyReport, VersionConflict,
};
use crate::tables::{CLIENT_INDEX, EVENTS, EVENT_IDS, META, META_HEAD, STREAMS};

/// Maps any redb error into the storage variant, keeping its message.
fn storage<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::Storage(e.into().to_string())
}

/// A stream's version: as changed earlier in this transaction, else as stored.
fn current_version(
    streams: &impl ReadableTable<(&'static str, u64), u64>,
    stream: &str,
    touched: &HashMap<String, u64>,
) -> Result<u64, StoreError> {
    if let Some(v) = touched.get(stream) {
        return Ok(*v);
    }
    let last = streams
        .range((stream, 0)..=(stream, u64::MAX))
        .map_err(storage)?
        .next_back();
    Ok(match last {
        Some(entry) => entry.map_err(storage)?.0.value().1,
        None => 0,
    })
}

/// The open database: the one writer, or a read-only follower of it.
enum Handle {
    Writable(Database),
    ReadOnly(ReadOnlyDatabase),
}

/// The redb-backed log.
///
/// Writers open the file in redb's `SingleWriter` mode: one process writes,
/// and any number of other processes may open it read-only at the same
/// time (`open_read_only`) and follow its commits, which is what lets
/// `authlog audit` and `authlog verify` run beside a live server.
pub struct RedbStore {
    db: Handle,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedbStore")
    }
}

fn encode_head(head: &Head) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..8].copy_from_slice(&head.position.to_be_bytes());
    out[8..].copy_from_slice(&head.hash);
    out
}

fn decode_head(bytes: &[u8]) -> Result<Head, StoreError> {
    if bytes.len() != 40 {
        return Err(StoreError::Format(format!(
            "head is {} bytes, expected 40",
            bytes.len()
        )));
    }
    let mut position = [0u8; 8];
    position.copy_from_slice(&bytes[..8]);
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&bytes[8..]);
    Ok(Head {
        position: u64::from_be_bytes(position),
        hash,
    })
}

impl RedbStore {
    /// How every authlog process shares the file (see the type's doc).
    fn builder() -> Builder {
        let mut builder = Builder::new();
        builder.set_concurrency_mode(ConcurrencyMode::SingleWriter);
        builder
    }

    /// Opens (creating if needed) the log at `path` as its one writer.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let db = Self::builder().create(path).map_err(storage)?;
        Self::from_database(db)
    }

    /// Opens (creating if needed) a log on a custom redb storage backend
    /// as its one writer (tests use `fault_backend::FaultBackend`).
    pub fn open_with_backend(backend: impl redb::StorageBackend) -> Result<Self, StoreError> {
        let db = Self::builder()
            .create_with_backend(backend)
            .map_err(storage)?;
        Self::from_database(db)
    }

    /// Opens an existing log read-only, beside a writer that may be running
    /// (never changes the file). `append` on such a store fails.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let db = Self::builder().open_read_only(path).map_err(storage)?;
        Ok(RedbStore {
            db: Handle::ReadOnly(db),
        })
    }

    /// Wraps an already opened database (tests and fault injection use custom backends).
    pub fn from_database(db: Database) -> Result<Self, StoreError> {
        let txn = db.begin_write().map_err(storage)?;
        {
            txn.open_table(EVENTS).map_err(storage)?;
            txn.open_table(STREAMS).map_err(storage)?;
            txn.open_table(EVENT_IDS).map_err(storage)?;
            txn.open_table(CLIENT_INDEX).map_err(storage)?;
            txn.open_table(META).map_err(storage)?;
        }
        txn.commit().map_err(storage)?;
        Ok(RedbStore {
            db: Handle::Writable(db),
        })
    }

    fn read_txn(&self) -> Result<ReadTransaction, StoreError> {
        match &self.db {
            Handle::Writable(db) => db.begin_read().map_err(storage),
            Handle::ReadOnly(db) => db.begin_read().map_err(storage),
        }
    }

    fn read_head(
        table: &impl ReadableTable<&'static str, &'static [u8]>,
    ) -> Result<Option<Head>, StoreError> {
        match table.get(META_HEAD).map_err(storage)? {
            Some(bytes) => Ok(Some(decode_head(bytes.value())?)),
            None => Ok(None),
        }
    }

    fn decode_at(position: u64, bytes: &[u8]) -> Result<RecordedEvent, StoreError> {
        decode(bytes).map_err(|source| StoreError::Corrupt { position, source })
    }

    /// Reads records by positions taken from an index (newest first).
    fn read_indexed(
        &self,
        index: redb::TableDefinition<(&'static str, u64), ()>,
        key: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let txn = self.read_txn()?;
        let idx = txn.open_table(index).map_err(storage)?;
        let events = txn.open_table(EVENTS).map_err(storage)?;
        let end = before.unwrap_or(u64::MAX);
        let mut out = Vec::with_capacity(limit.min(1024));
        for entry in idx.range((key, 0)..(key, end)).map_err(storage)?.rev() {
            if out.len() >= limit {
                break;
            }
            let (k, _) = entry.map_err(storage)?;
            let position = k.value().1;
            let bytes = events.get(position).map_err(storage)?.ok_or_else(|| {
                StoreError::Format(format!("index names missing position {position}"))
            })?;
            out.push(Self::decode_at(position, bytes.value())?);
        }
        Ok(out)
    }

    fn append_in(
        txn: &WriteTransaction,
        units: Vec<AppendBatch>,
    ) -> Result<Vec<UnitOutcome>, StoreError> {
        let mut events = txn.open_table(EVENTS).map_err(storage)?;
        let mut streams = txn.open_table(STREAMS).map_err(storage)?;
        let mut ids = txn.open_table(EVENT_IDS).map_err(storage)?;
        let mut clients = txn.open_table(CLIENT_INDEX).map_err(storage)?;
        let mut meta = txn.open_table(META).map_err(storage)?;

        let start = Self::read_head(&meta)?;
        let mut head = start.unwrap_or(Head {
            position: 0,
            hash: GENESIS,
        });
        // Never trust the head alone: a head behind the stored records
        // would make this append overwrite them.
        let last = events
            .last()
            .map_err(storage)?
            .map(|(k, _)| k.value())
            .unwrap_or(0);
        if last != head.position {
            return Err(StoreError::Format(format!(
                "head says position {} but the last record is {last}; run `authlog verify`",
                head.position
            )));
        }
        // Stream versions touched in this transaction (so later units see earlier ones).
        let mut versions: HashMap<String, u64> = HashMap::new();
        let mut outcomes = Vec::with_capacity(units.len());

        for unit in units {
            // Repeated event ids are answered with what is stored.
            let mut existing: Vec<Option<RecordedEvent>> = Vec::with_capacity(unit.events.len());
            for event in &unit.events {
                let stored = match ids.get(event.event_id.as_u128()).map_err(storage)? {
                    Some(p) => {
                        let position = p.value();
                        let bytes = events.get(position).map_err(storage)?.ok_or_else(|| {
                            StoreError::Format(format!(
                                "event id names missing position {position}"
                            ))
                        })?;
                        Some(Self::decode_at(position, bytes.value())?)
                    }
                    None => None,
                };
                existing.push(stored);
            }
            let any_new = existing.iter().any(Option::is_none);

            if any_new {
                let mut conflict = None;
                for (stream, expected) in &unit.expected {
                    let actual = current_version(&streams, stream, &versions)?;
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

            let mut recorded = Vec::with_capacity(unit.events.len());
            for (event, stored) in unit.events.into_iter().zip(existing) {
                if let Some(stored) = stored {
                    recorded.push(stored);
                    continue;
                }
                // The same id twice inside one unit: keep the first.
                if let Some(p) = ids.get(event.event_id.as_u128()).map_err(storage)? {
                    let position = p.value();
                    if let Some(r) = recorded
                        .iter()
                        .find(|r: &&RecordedEvent| r.position == position)
                    {
                        recorded.push(r.clone());
                        continue;
                    }
                }
                let version = current_version(&streams, &event.stream, &versions)? + 1;
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
                if events
                    .insert(record.position, bytes.as_slice())
                    .map_err(storage)?
                    .is_some()
                {
                    return Err(StoreError::Format(format!(
                        "position {} is already taken",
                        record.position
                    )));
                }
                streams
                    .insert((record.stream.as_str(), version), record.position)
                    .map_err(storage)?;
                ids.insert(record.event_id.as_u128(), record.position)
                    .map_err(storage)?;
                if let Some(client) = &record.client_id {
                    clients
                        .insert((client.as_str(), record.position), ())
                        .map_err(storage)?;
                }
                versions.insert(record.stream.clone(), version);
                head = Head {
                    position: record.position,
                    hash: record.hash,
                };
                recorded.push(record);
            }
            outcomes.push(Ok(recorded));
        }

        if start.map(|h| h.position).unwrap_or(0) != head.position {
            meta.insert(META_HEAD, encode_head(&head).as_slice())
                .map_err(storage)?;
        }
        Ok(outcomes)
    }
}

impl EventStore for RedbStore {
    fn append(&self, units: Vec<AppendBatch>) -> Result<Vec<UnitOutcome>, StoreError> {
        let Handle::Writable(db) = &self.db else {
            return Err(StoreError::Storage("the log was opened read-only".into()));
        };
        let txn = db.begin_write().map_err(storage)?;
        let outcomes = match Self::append_in(&txn, units) {
            Ok(outcomes) => outcomes,
            Err(e) => {
                // Dropping would abort too; aborting explicitly reports its own failure.
                let _ = txn.abort();
                return Err(e);
            }
        };
        txn.commit().map_err(storage)?;
        Ok(outcomes)
    }

    fn head(&self) -> Result<Option<Head>, StoreError> {
        let txn = self.read_txn()?;
        let meta = txn.open_table(META).map_err(storage)?;
        Self::read_head(&meta)
    }

    fn read_all(&self, from: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let txn = self.read_txn()?;
        let events = txn.open_table(EVENTS).map_err(storage)?;
        let mut out = Vec::with_capacity(limit.min(16 * 1024));
        for entry in events.range(from.max(1)..).map_err(storage)? {
            if out.len() >= limit {
                break;
            }
            let (k, v) = entry.map_err(storage)?;
            out.push(Self::decode_at(k.value(), v.value())?);
        }
        Ok(out)
    }

    fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let txn = self.read_txn()?;
        let streams = txn.open_table(STREAMS).map_err(storage)?;
        let events = txn.open_table(EVENTS).map_err(storage)?;
        let mut out = Vec::new();
        for entry in streams
            .range((stream, from_version.max(1))..=(stream, u64::MAX))
            .map_err(storage)?
        {
            if out.len() >= limit {
                break;
            }
            let (_, p) = entry.map_err(storage)?;
            let position = p.value();
            let bytes = events.get(position).map_err(storage)?.ok_or_else(|| {
                StoreError::Format(format!("stream names missing position {position}"))
            })?;
            out.push(Self::decode_at(position, bytes.value())?);
        }
        Ok(out)
    }

    fn stream_version(&self, stream: &str) -> Result<u64, StoreError> {
        let txn = self.read_txn()?;
        let streams = txn.open_table(STREAMS).map_err(storage)?;
        current_version(&streams, stream, &HashMap::new())
    }

    fn read_client(
        &self,
        client_id: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_indexed(CLIENT_INDEX, client_id, before, limit)
    }

    fn verify(&self) -> Result<VerifyReport, StoreError> {
        let txn = self.read_txn()?;
        let events = txn.open_table(EVENTS).map_err(storage)?;
        let meta = txn.open_table(META).map_err(storage)?;
        let head = Self::read_head(&meta)?;
        let mut prev = GENESIS;
        let mut expected_position = 1u64;
        let mut records = 0u64;
        let broken = |position: u64, reason: String| BrokenLink { position, reason };
        let mut first_broken = None;
        for entry in events.range(0..).map_err(storage)? {
            let (k, v) = entry.map_err(storage)?;
            let position = k.value();
            records += 1;
            if position != expected_position {
                first_broken = Some(broken(
                    expected_position,
                    format!("record missing (next stored position is {position})"),
                ));
                break;
            }
            let bytes = v.value();
            let (body, stored_hash) = match codec::split(bytes) {
                Ok(parts) => parts,
                Err(e) => {
                    first_broken = Some(broken(position, e.to_string()));
                    break;
                }
            };
            let record = match decode(bytes) {
                Ok(r) => r,
                Err(e) => {
                    first_broken = Some(broken(position, e.to_string()));
                    break;
                }
            };
            if record.position != position {
                first_broken = Some(broken(
                    position,
                    format!("record claims position {}", record.position),
                ));
                break;
            }
            if record.prev_hash != prev {
                first_broken = Some(broken(
                    position,
                    "prev_hash does not match the previous record".into(),
                ));
                break;
            }
            if link_hash(&prev, body) != stored_hash {
                first_broken = Some(broken(
                    position,
                    "hash does not match the record's contents".into(),
                ));
                break;
            }
            prev = stored_hash;
            expected_position += 1;
        }
        if first_broken.is_none() {
            let last = expected_position - 1;
            match head {
                None if last == 0 => {}
                None => {
                    first_broken = Some(broken(1, "records present but no head recorded".into()))
                }
                Some(h) if h.position != last => {
                    first_broken = Some(broken(
                        h.position.min(last + 1),
                        format!("head says position {}, last record is {last}", h.position),
                    ))
                }
                Some(h) if h.hash != prev => {
                    first_broken = Some(broken(
                        h.position,
                        "head hash does not match the last record".into(),
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(VerifyReport {
            records,
            head,
            broken: first_broken,
        })
    }
}
