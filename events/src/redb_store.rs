//! The embedded log: records in an append-only file (`log_file`), indexes
//! in redb (`tables`), and everything the `EventStore` contract promises.
//!
//! An append writes its frames to the record file and `fdatasync`s it
//! before it returns: that is the durability point. The index entries of
//! the same append are committed to redb in memory (`Durability::None`) and
//! made durable in bulk every `DURABLE_EVERY_EVENTS` events or
//! `DURABLE_EVERY`, and when the store closes. After a crash, opening the
//! store indexes the frames past the last durable index commit and cuts off
//! a torn final commit, so the index always ends exactly where the
//! acknowledged records end.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redb::{
    Builder, ConcurrencyMode, Database, Durability, ReadOnlyDatabase, ReadTransaction,
    ReadableDatabase, ReadableTable, WriteTransaction,
};

use crate::chain::GENESIS;
use crate::codec::{decode, seal};
use crate::envelope::RecordedEvent;
use crate::log_file::{frame, Frame, LogFile, Next};
use crate::store::{
    AppendBatch, EventStore, ExpectedVersion, Head, StoreError, UnitOutcome, VerifyReport,
    VersionConflict,
};
use crate::tables::{CLIENT_INDEX, EVENT_IDS, META, META_HEAD, META_LOG_END, OFFSETS, STREAMS};
use crate::verify::verify_log;

/// Index commits are made durable at least this often (in events)...
const DURABLE_EVERY_EVENTS: u64 = 16 * 1024;
/// ...and in time.
const DURABLE_EVERY: Duration = Duration::from_millis(500);

/// Maps any redb error into the storage variant, keeping its message.
fn storage<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::Storage(e.into().to_string())
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Storage(e.to_string())
}

/// Where the record file of the index at `index_path` lives: beside it,
/// with the extension `log` (`authlog.redb` → `authlog.log`).
pub fn log_path(index_path: &Path) -> PathBuf {
    index_path.with_extension("log")
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

/// How the store was opened.
enum Handle {
    /// The one writer.
    Writable {
        db: Database,
        log: LogFile,
        state: Mutex<WriteState>,
    },
    /// Read-only, with an index that covers the whole record file.
    Indexed { db: ReadOnlyDatabase, log: LogFile },
    /// Read-only from the record file alone (a writer holds the index, or
    /// the index does not cover the file): every read scans the file.
    /// `index_head` is the head of an index that could be read, which
    /// `verify` still checks against the file.
    Scan {
        log: LogFile,
        index_head: Option<Head>,
    },
}

/// The writer's position in the record file and its index durability.
struct WriteState {
    /// Length of the record file (where the next frame goes).
    end: u64,
    /// Events indexed since the last durable index commit.
    pending: u64,
    /// When the index was last made durable.
    last_durable: Instant,
}

/// The embedded log (see the module doc).
///
/// The writer opens the index in redb's `ExclusiveWriter` mode. Other
/// processes (`authlog audit`, `authlog verify`) open the store read-only
/// (`open_read_only`): beside a running writer they read the record file
/// alone, which is always safe to read because it is only ever appended to.
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

/// The indexed head and the record file length it covers.
fn read_meta(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<(Option<Head>, u64), StoreError> {
    let head = match table.get(META_HEAD).map_err(storage)? {
        Some(bytes) => Some(decode_head(bytes.value())?),
        None => None,
    };
    let end = match table.get(META_LOG_END).map_err(storage)? {
        Some(bytes) => {
            let raw: [u8; 8] = bytes
                .value()
                .try_into()
                .map_err(|_| StoreError::Format("log end is not 8 bytes".into()))?;
            u64::from_be_bytes(raw)
        }
        None => 0,
    };
    Ok((head, end))
}

/// The record in `frame`, which the index says is at `position`.
fn record_of(position: u64, frame: &Frame) -> Result<RecordedEvent, StoreError> {
    let record = decode(&frame.bytes).map_err(|source| StoreError::Corrupt { position, source })?;
    if record.position != position {
        return Err(StoreError::Format(format!(
            "the index puts position {position} at offset {}, which holds position {}",
            frame.offset, record.position
        )));
    }
    Ok(record)
}

/// Reads the record at `position` through the offsets index.
fn read_position(
    log: &LogFile,
    offsets: &impl ReadableTable<u64, u64>,
    position: u64,
) -> Result<RecordedEvent, StoreError> {
    let offset = offsets
        .get(position)
        .map_err(storage)?
        .ok_or_else(|| StoreError::Format(format!("index names missing position {position}")))?
        .value();
    match log.read_at(offset).map_err(io)? {
        Next::Frame(frame) => record_of(position, &frame),
        _ => Err(StoreError::Format(format!(
            "no record at offset {offset} (position {position})"
        ))),
    }
}

/// The redb tables an append writes.
struct IndexTables<'t> {
    offsets: redb::Table<'t, u64, u64>,
    streams: redb::Table<'t, (&'static str, u64), u64>,
    ids: redb::Table<'t, u128, u64>,
    clients: redb::Table<'t, (&'static str, u64), ()>,
    meta: redb::Table<'t, &'static str, &'static [u8]>,
}

impl<'t> IndexTables<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<Self, StoreError> {
        Ok(IndexTables {
            offsets: txn.open_table(OFFSETS).map_err(storage)?,
            streams: txn.open_table(STREAMS).map_err(storage)?,
            ids: txn.open_table(EVENT_IDS).map_err(storage)?,
            clients: txn.open_table(CLIENT_INDEX).map_err(storage)?,
            meta: txn.open_table(META).map_err(storage)?,
        })
    }

    /// Indexes one record stored at `offset`.
    fn index(&mut self, record: &RecordedEvent, offset: u64) -> Result<(), StoreError> {
        if self
            .offsets
            .insert(record.position, offset)
            .map_err(storage)?
            .is_some()
        {
            return Err(StoreError::Format(format!(
                "position {} is already taken",
                record.position
            )));
        }
        self.streams
            .insert(
                (record.stream.as_str(), record.stream_version),
                record.position,
            )
            .map_err(storage)?;
        self.ids
            .insert(record.event_id.as_u128(), record.position)
            .map_err(storage)?;
        if let Some(client) = &record.client_id {
            self.clients
                .insert((client.as_str(), record.position), ())
                .map_err(storage)?;
        }
        Ok(())
    }

    fn set_meta(&mut self, head: &Head, end: u64) -> Result<(), StoreError> {
        self.meta
            .insert(META_HEAD, encode_head(head).as_slice())
            .map_err(storage)?;
        self.meta
            .insert(META_LOG_END, end.to_be_bytes().as_slice())
            .map_err(storage)?;
        Ok(())
    }
}

/// What an append produced before anything is written.
struct Prepared {
    outcomes: Vec<UnitOutcome>,
    /// Encoded frames of the new records.
    frames: Vec<u8>,
    /// New records.
    count: u64,
}

impl RedbStore {
    /// How the writer opens the index (see the type's doc).
    fn builder() -> Builder {
        let mut builder = Builder::new();
        builder.set_concurrency_mode(ConcurrencyMode::ExclusiveWriter);
        builder
    }

    /// Opens (creating if needed) the log whose index is at `path` and whose
    /// records are at `log_path(path)`, as its one writer.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let db = Self::builder().create(path).map_err(storage)?;
        let log = LogFile::open(&log_path(path)).map_err(io)?;
        Self::from_parts(db, log)
    }

    /// Opens (creating if needed) a log on custom storage backends for its
    /// index and its record file, as its one writer (tests use
    /// `fault_backend::FaultBackend`).
    pub fn open_with_backends(
        index: impl redb::StorageBackend,
        records: impl redb::StorageBackend,
    ) -> Result<Self, StoreError> {
        let db = Self::builder()
            .create_with_backend(index)
            .map_err(storage)?;
        Self::from_parts(db, LogFile::new(records))
    }

    /// Opens an existing log read-only, beside a writer that may be running
    /// (never changes either file). `append` on such a store fails.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let log = LogFile::open_read_only(&log_path(path)).map_err(io)?;
        let Ok(db) = Self::builder().open_read_only(path) else {
            // A writer holds the index (or there is none).
            return Ok(RedbStore {
                db: Handle::Scan {
                    log,
                    index_head: None,
                },
            });
        };
        let txn = db.begin_read().map_err(storage)?;
        let (index_head, end) = match txn.open_table(META) {
            Ok(meta) => read_meta(&meta)?,
            Err(_) => (None, 0),
        };
        drop(txn);
        Ok(RedbStore {
            db: if end == log.len().map_err(io)? {
                Handle::Indexed { db, log }
            } else {
                Handle::Scan { log, index_head }
            },
        })
    }

    /// Creates the tables, indexes what the record file holds past the
    /// index (cutting off a torn final commit), and makes that durable.
    fn from_parts(db: Database, log: LogFile) -> Result<Self, StoreError> {
        let txn = db.begin_write().map_err(storage)?;
        let end = {
            let mut tables = IndexTables::open(&txn)?;
            Self::catch_up(&mut tables, &log)?
        };
        txn.commit().map_err(storage)?;
        Ok(RedbStore {
            db: Handle::Writable {
                db,
                log,
                state: Mutex::new(WriteState {
                    end,
                    pending: 0,
                    last_durable: Instant::now(),
                }),
            },
        })
    }

    /// Indexes the frames after the indexed end; returns the new end.
    fn catch_up(tables: &mut IndexTables<'_>, log: &LogFile) -> Result<u64, StoreError> {
        let (head, end) = read_meta(&tables.meta)?;
        let mut head = head.unwrap_or(Head {
            position: 0,
            hash: GENESIS,
        });
        let len = log.len().map_err(io)?;
        if len < end {
            return Err(StoreError::Format(format!(
                "the record file is {len} bytes but its index covers {end}: records are missing; run `authlog verify`"
            )));
        }
        let last_indexed = tables
            .offsets
            .last()
            .map_err(storage)?
            .map(|(k, _)| k.value())
            .unwrap_or(0);
        if last_indexed != head.position {
            return Err(StoreError::Format(format!(
                "head says position {} but the last indexed record is {last_indexed}; run `authlog verify`",
                head.position
            )));
        }
        let mut scan = log.scan(end).map_err(io)?;
        let mut new_end = end;
        loop {
            let offset = scan.offset();
            let expected = head.position + 1;
            let linked = match scan.next_frame().map_err(io)? {
                Next::End => break,
                Next::Bad => None,
                Next::Frame(frame) => frame
                    .whole_record()
                    .filter(|r| r.position == expected && r.prev_hash == head.hash),
            };
            let Some(record) = linked else {
                if log.later_commit_after(offset, expected).map_err(io)? {
                    return Err(StoreError::Format(format!(
                        "the record at position {expected} (offset {offset}) is damaged and later commits follow; run `authlog verify`"
                    )));
                }
                // A torn final commit: never acknowledged.
                tracing::warn!(
                    offset,
                    discarded = len - offset,
                    "cutting off a torn final commit"
                );
                log.truncate(offset).map_err(io)?;
                break;
            };
            tables.index(&record, offset)?;
            head = Head {
                position: record.position,
                hash: record.hash,
            };
            new_end = scan.offset();
        }
        if new_end != end {
            tables.set_meta(&head, new_end)?;
        }
        Ok(new_end)
    }

    fn read_txn(&self) -> Result<(ReadTransaction, &LogFile), StoreError> {
        match &self.db {
            Handle::Writable { db, log, .. } => Ok((db.begin_read().map_err(storage)?, log)),
            Handle::Indexed { db, log } => Ok((db.begin_read().map_err(storage)?, log)),
            Handle::Scan { .. } => Err(StoreError::Storage("no index is open".into())),
        }
    }

    /// Reads records by positions taken from an index (newest first).
    fn read_indexed(
        &self,
        index: redb::TableDefinition<(&'static str, u64), ()>,
        key: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let (txn, log) = self.read_txn()?;
        let idx = txn.open_table(index).map_err(storage)?;
        let offsets = txn.open_table(OFFSETS).map_err(storage)?;
        let end = before.unwrap_or(u64::MAX);
        let mut out = Vec::with_capacity(limit.min(1024));
        for entry in idx.range((key, 0)..(key, end)).map_err(storage)?.rev() {
            if out.len() >= limit {
                break;
            }
            let (k, _) = entry.map_err(storage)?;
            out.push(read_position(log, &offsets, k.value().1)?);
        }
        Ok(out)
    }

    /// Decides every unit against the index, indexes the new records in
    /// `txn` and encodes their frames (from `end` on).
    fn prepare(
        txn: &WriteTransaction,
        log: &LogFile,
        units: Vec<AppendBatch>,
        end: u64,
    ) -> Result<Prepared, StoreError> {
        let mut tables = IndexTables::open(txn)?;
        let (start, _) = read_meta(&tables.meta)?;
        let mut head = start.unwrap_or(Head {
            position: 0,
            hash: GENESIS,
        });
        let commit_start = head.position + 1;
        // Stream versions touched in this append (so later units see earlier ones).
        let mut versions: HashMap<String, u64> = HashMap::new();
        let mut outcomes = Vec::with_capacity(units.len());
        let mut frames = Vec::with_capacity(units.len() * 512);
        let mut count = 0u64;

        for unit in units {
            // Repeated event ids are answered with what is stored.
            let mut existing: Vec<Option<RecordedEvent>> = Vec::with_capacity(unit.events.len());
            for event in &unit.events {
                let stored = match tables.ids.get(event.event_id.as_u128()).map_err(storage)? {
                    Some(p) => Some(read_position(log, &tables.offsets, p.value())?),
                    None => None,
                };
                existing.push(stored);
            }
            let any_new = existing.iter().any(Option::is_none);

            if any_new {
                let mut conflict = None;
                for (stream, expected) in &unit.expected {
                    let actual = current_version(&tables.streams, stream, &versions)?;
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
            for (event, stored) in unit.events.into_iter().zip(existing) {
                if let Some(stored) = stored {
                    recorded.push(stored);
                    continue;
                }
                // The same id twice inside one unit: keep the first.
                if let Some(p) = tables.ids.get(event.event_id.as_u128()).map_err(storage)? {
                    let position = p.value();
                    if let Some(r) = recorded.iter().find(|r| r.position == position) {
                        recorded.push(r.clone());
                        continue;
                    }
                }
                let version = current_version(&tables.streams, &event.stream, &versions)? + 1;
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
                tables.index(&record, end + frames.len() as u64)?;
                frame(commit_start, &bytes, &mut frames);
                versions.insert(record.stream.clone(), version);
                head = Head {
                    position: record.position,
                    hash: record.hash,
                };
                count += 1;
                recorded.push(record);
            }
            outcomes.push(Ok(recorded));
        }

        if count > 0 {
            tables.set_meta(&head, end + frames.len() as u64)?;
        }
        Ok(Prepared {
            outcomes,
            frames,
            count,
        })
    }

    /// Calls `f` with every whole record of the file, in order, until it
    /// returns false (read-only use without an index).
    fn scan_records(
        log: &LogFile,
        mut f: impl FnMut(RecordedEvent) -> bool,
    ) -> Result<(), StoreError> {
        let mut scan = log.scan(0).map_err(io)?;
        while let Next::Frame(frame) = scan.next_frame().map_err(io)? {
            let Some(record) = frame.whole_record() else {
                break;
            };
            if !f(record) {
                break;
            }
        }
        Ok(())
    }
}

impl Drop for RedbStore {
    /// Makes the index durable, so the next open has nothing to catch up.
    fn drop(&mut self) {
        if let Handle::Writable { db, state, .. } = &self.db {
            let pending = state.lock().map(|s| s.pending).unwrap_or(1);
            if pending > 0 {
                if let Ok(txn) = db.begin_write() {
                    let _ = txn.commit();
                }
            }
        }
    }
}

impl EventStore for RedbStore {
    fn append(&self, units: Vec<AppendBatch>) -> Result<Vec<UnitOutcome>, StoreError> {
        let Handle::Writable { db, log, state } = &self.db else {
            return Err(StoreError::Storage("the log was opened read-only".into()));
        };
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        let mut txn = db.begin_write().map_err(storage)?;
        let durable =
            state.pending >= DURABLE_EVERY_EVENTS || state.last_durable.elapsed() >= DURABLE_EVERY;
        if !durable {
            txn.set_durability(Durability::None)
                .map_err(|e| StoreError::Storage(e.to_string()))?;
        }
        let prepared = match Self::prepare(&txn, log, units, state.end) {
            Ok(prepared) => prepared,
            Err(e) => {
                // Dropping would abort too; aborting explicitly reports its own failure.
                let _ = txn.abort();
                return Err(e);
            }
        };
        if !prepared.frames.is_empty() {
            if let Err(e) = log.append(state.end, &prepared.frames) {
                let _ = txn.abort();
                return Err(io(e));
            }
        }
        txn.commit().map_err(storage)?;
        state.end += prepared.frames.len() as u64;
        if durable {
            state.pending = 0;
            state.last_durable = Instant::now();
        } else {
            state.pending += prepared.count;
        }
        Ok(prepared.outcomes)
    }

    fn head(&self) -> Result<Option<Head>, StoreError> {
        if let Handle::Scan { log, .. } = &self.db {
            let mut head = None;
            Self::scan_records(log, |r| {
                head = Some(Head {
                    position: r.position,
                    hash: r.hash,
                });
                true
            })?;
            return Ok(head);
        }
        let (txn, _) = self.read_txn()?;
        let meta = txn.open_table(META).map_err(storage)?;
        Ok(read_meta(&meta)?.0)
    }

    fn read_all(&self, from: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let from = from.max(1);
        let mut out = Vec::with_capacity(limit.min(16 * 1024));
        if let Handle::Scan { log, .. } = &self.db {
            Self::scan_records(log, |r| {
                if r.position >= from {
                    out.push(r);
                }
                out.len() < limit
            })?;
            return Ok(out);
        }
        let (txn, log) = self.read_txn()?;
        let meta = txn.open_table(META).map_err(storage)?;
        let Some(head) = read_meta(&meta)?.0 else {
            return Ok(out);
        };
        if from > head.position || limit == 0 {
            return Ok(out);
        }
        let offsets = txn.open_table(OFFSETS).map_err(storage)?;
        let offset = offsets
            .get(from)
            .map_err(storage)?
            .ok_or_else(|| StoreError::Format(format!("index names no position {from}")))?
            .value();
        // Frames past the indexed head may belong to an append in flight.
        let last = head.position.min(from.saturating_add(limit as u64 - 1));
        let mut scan = log.scan(offset).map_err(io)?;
        for position in from..=last {
            match scan.next_frame().map_err(io)? {
                Next::Frame(frame) => out.push(record_of(position, &frame)?),
                _ => {
                    return Err(StoreError::Format(format!(
                        "the record file ends before indexed position {position}"
                    )))
                }
            }
        }
        Ok(out)
    }

    fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut out = Vec::new();
        if let Handle::Scan { log, .. } = &self.db {
            Self::scan_records(log, |r| {
                if r.stream == stream && r.stream_version >= from_version {
                    out.push(r);
                }
                out.len() < limit
            })?;
            return Ok(out);
        }
        let (txn, log) = self.read_txn()?;
        let streams = txn.open_table(STREAMS).map_err(storage)?;
        let offsets = txn.open_table(OFFSETS).map_err(storage)?;
        for entry in streams
            .range((stream, from_version.max(1))..=(stream, u64::MAX))
            .map_err(storage)?
        {
            if out.len() >= limit {
                break;
            }
            let (_, p) = entry.map_err(storage)?;
            out.push(read_position(log, &offsets, p.value())?);
        }
        Ok(out)
    }

    fn stream_version(&self, stream: &str) -> Result<u64, StoreError> {
        if let Handle::Scan { log, .. } = &self.db {
            let mut version = 0;
            Self::scan_records(log, |r| {
                if r.stream == stream {
                    version = r.stream_version;
                }
                true
            })?;
            return Ok(version);
        }
        let (txn, _) = self.read_txn()?;
        let streams = txn.open_table(STREAMS).map_err(storage)?;
        current_version(&streams, stream, &HashMap::new())
    }

    fn read_client(
        &self,
        client_id: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if let Handle::Scan { log, .. } = &self.db {
            let before = before.unwrap_or(u64::MAX);
            let mut newest: VecDeque<RecordedEvent> = VecDeque::new();
            Self::scan_records(log, |r| {
                if r.position >= before {
                    return false;
                }
                if r.client_id.as_deref() == Some(client_id) {
                    newest.push_back(r);
                    if newest.len() > limit {
                        newest.pop_front();
                    }
                }
                true
            })?;
            return Ok(newest.into_iter().rev().collect());
        }
        self.read_indexed(CLIENT_INDEX, client_id, before, limit)
    }

    fn verify(&self) -> Result<VerifyReport, StoreError> {
        match &self.db {
            Handle::Scan { log, index_head } => verify_log(log, *index_head),
            Handle::Writable { log, .. } | Handle::Indexed { log, .. } => {
                let head = self.head()?;
                verify_log(log, head)
            }
        }
    }
}
