//! The embedded log: records in an append-only file (`log_file`), indexes
//! in redb (`index_tables`), and everything the `EventStore` contract
//! promises.
//!
//! An append writes its frames to the record file and `fdatasync`s it
//! before it returns: that is the durability point, and the only I/O on the
//! token path. The index entries wait in memory (`indexer::Pending`) until
//! the indexer thread commits them to redb in bulk. After a crash, opening
//! the store indexes the frames past the last index commit and cuts off a
//! torn final commit, so the index always ends exactly where the
//! acknowledged records end.

use std::cell::OnceCell;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use redb::{
    Builder, ConcurrencyMode, Database, ReadOnlyDatabase, ReadOnlyTable, ReadTransaction,
    ReadableDatabase, ReadableTable,
};

use crate::chain::GENESIS;
use crate::envelope::RecordedEvent;
use crate::index_tables::{
    current_version, read_meta, read_offset, read_position, storage, IndexTables,
};
pub use crate::indexer::PENDING_LIMIT;
use crate::indexer::{IndexEntry, Indexer, Pending};
use crate::log_file::{frame, LogFile, Next};
use crate::store::{
    decode_stored, io, AppendBatch, EventLog, EventStore, Head, StoreError, UnitOutcome,
    VerifyReport,
};
use crate::tables::{CLIENT_INDEX, EVENT_IDS, META, OFFSETS, STREAMS};
use crate::units::{self, Stored};
use crate::verify::verify_log;
use crate::FastMap;

/// Where the record file of the index at `index_path` lives: beside it,
/// with the extension `log` (`authlog.redb` → `authlog.log`).
pub fn log_path(index_path: &Path) -> PathBuf {
    index_path.with_extension("log")
}

/// The one writer's parts.
struct Writer {
    db: Arc<Database>,
    log: LogFile,
    indexer: Arc<Indexer>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Serializes appends (the writer thread is the only caller anyway).
    appending: Mutex<AppendState>,
}

/// What appends keep between calls.
#[derive(Default)]
struct AppendState {
    /// Why appends are refused, once a failed write could not be undone.
    broken: Option<String>,
    /// Per stream prefix (up to its first `/`), a name at least as large as
    /// every stored stream with that prefix: a larger name (`grant/<a new
    /// UUIDv7>`) is a new stream, found without an index lookup.
    ceilings: FastMap<String, String>,
}

/// The index tables an append may read, opened on first use: an append of
/// new event ids to new streams (every token) opens none.
struct IndexReads<'a> {
    db: &'a Database,
    tables: OnceCell<ReadTables>,
}

/// See `IndexReads`.
struct ReadTables {
    offsets: ReadOnlyTable<u64, u64>,
    streams: ReadOnlyTable<(&'static str, u64), u64>,
    ids: ReadOnlyTable<u128, u64>,
}

impl IndexReads<'_> {
    fn get(&self) -> Result<&ReadTables, StoreError> {
        if let Some(tables) = self.tables.get() {
            return Ok(tables);
        }
        let txn = self.db.begin_read().map_err(storage)?;
        let tables = ReadTables {
            offsets: txn.open_table(OFFSETS).map_err(storage)?,
            streams: txn.open_table(STREAMS).map_err(storage)?,
            ids: txn.open_table(EVENT_IDS).map_err(storage)?,
        };
        Ok(self.tables.get_or_init(|| tables))
    }
}

/// The prefix of a stream name, up to and including its first `/`.
fn stream_prefix(stream: &str) -> Option<&str> {
    stream.find('/').map(|i| &stream[..=i])
}

/// How the store was opened.
enum Handle {
    /// The one writer.
    Writable(Writer),
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

/// What an append produced before anything is written.
struct Prepared {
    outcomes: Vec<UnitOutcome>,
    /// Encoded frames of the new records.
    frames: Vec<u8>,
    /// Index entries of the new records.
    entries: Vec<IndexEntry>,
    /// The head after them.
    head: Option<Head>,
}

/// What a read of the writable store takes from `Pending` before it opens
/// its redb transaction (see `indexer`).
struct Snapshot {
    head: Option<Head>,
    /// Positions from here on come from `entries`; before it, from redb.
    first: u64,
    entries: Vec<IndexEntry>,
}

/// What `units::decide` asks of the embedded store: pending records first,
/// then redb; new records become frames and index entries.
struct Lookups<'a> {
    log: &'a LogFile,
    pending: &'a Pending,
    index: IndexReads<'a>,
    ceilings: &'a mut FastMap<String, String>,
    commit_start: u64,
    frames: Vec<u8>,
    entries: Vec<IndexEntry>,
}

impl Stored for Lookups<'_> {
    fn by_event_id(&mut self, id: u128) -> Result<Option<RecordedEvent>, StoreError> {
        if id > self.pending.max_event_id {
            return Ok(None);
        }
        let position = match self.pending.ids.get(&id) {
            Some(p) => *p,
            None => match self.index.get()?.ids.get(id).map_err(storage)? {
                Some(p) => p.value(),
                None => return Ok(None),
            },
        };
        let first = self.pending.first();
        if position >= first {
            let entry = &self.pending.entries[(position - first) as usize];
            read_offset(self.log, position, entry.offset).map(Some)
        } else {
            read_position(self.log, &self.index.get()?.offsets, position).map(Some)
        }
    }

    fn version(&mut self, stream: &str) -> Result<u64, StoreError> {
        if let Some(v) = self.pending.versions.get(stream) {
            return Ok(*v);
        }
        if let Some(prefix) = stream_prefix(stream) {
            if !self.ceilings.contains_key(prefix) {
                // The largest stored name with this prefix ('0' follows '/').
                let end = format!("{}0", &prefix[..prefix.len() - 1]);
                let largest = self
                    .index
                    .get()?
                    .streams
                    .range((prefix, 0)..(end.as_str(), 0))
                    .map_err(storage)?
                    .next_back()
                    .transpose()
                    .map_err(storage)?
                    .map(|(k, _)| k.value().0.to_owned())
                    .unwrap_or_default();
                // Streams still pending reach redb later: count them too.
                let largest = self
                    .pending
                    .versions
                    .keys()
                    .filter(|s| s.starts_with(prefix))
                    .fold(
                        largest,
                        |max, s| if **s > *max { s.to_string() } else { max },
                    );
                self.ceilings.insert(prefix.to_owned(), largest);
            }
            if self
                .ceilings
                .get(prefix)
                .is_some_and(|c| stream > c.as_str())
            {
                return Ok(0);
            }
        }
        current_version(&self.index.get()?.streams, stream)
    }

    fn accept(&mut self, record: &RecordedEvent, bytes: &[u8]) -> Result<(), StoreError> {
        self.entries.push(IndexEntry::of(
            record,
            self.pending.end + self.frames.len() as u64,
        ));
        frame(self.commit_start, bytes, &mut self.frames);
        Ok(())
    }
}

impl Writer {
    /// Takes `pick` of the pending entries, then opens a read transaction.
    fn snapshot(
        &self,
        pick: impl Fn(&IndexEntry) -> bool,
    ) -> Result<(Snapshot, ReadTransaction), StoreError> {
        let snapshot = {
            let pending = self
                .indexer
                .pending
                .read()
                .unwrap_or_else(|e| e.into_inner());
            Snapshot {
                head: pending.head,
                first: pending.first(),
                entries: pending
                    .entries
                    .iter()
                    .filter(|e| pick(e))
                    .cloned()
                    .collect(),
            }
        };
        let txn = self.db.begin_read().map_err(storage)?;
        Ok((snapshot, txn))
    }

    /// Decides every unit against pending records and the index and
    /// encodes the frames of the new records.
    fn prepare(
        &self,
        pending: &Pending,
        db: &Database,
        ceilings: &mut FastMap<String, String>,
        units: Vec<AppendBatch>,
    ) -> Result<Prepared, StoreError> {
        let mut lookups = Lookups {
            log: &self.log,
            pending,
            index: IndexReads {
                db,
                tables: OnceCell::new(),
            },
            ceilings,
            commit_start: pending.head.map_or(1, |h| h.position + 1),
            frames: Vec::with_capacity(units.len() * 512),
            entries: Vec::with_capacity(units.len()),
        };
        let (outcomes, head) = units::decide(pending.head, units, &mut lookups)?;
        Ok(Prepared {
            outcomes,
            frames: lookups.frames,
            entries: lookups.entries,
            head,
        })
    }

    fn append(&self, units: Vec<AppendBatch>) -> Result<Vec<UnitOutcome>, StoreError> {
        let mut state = self.appending.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(broken) = &state.broken {
            return Err(StoreError::Storage(broken.clone()));
        }
        if let Some(failure) = self.indexer.failure() {
            return Err(StoreError::Indexing(failure));
        }
        let (prepared, end) = {
            let pending = self
                .indexer
                .pending
                .read()
                .unwrap_or_else(|e| e.into_inner());
            (
                self.prepare(&pending, &self.db, &mut state.ceilings, units)?,
                pending.end,
            )
        };
        if let Some(head) = prepared.head.filter(|_| !prepared.frames.is_empty()) {
            if let Err(e) = self.log.append(end, &prepared.frames) {
                // Nothing of a failed append may stay: cut the file back, or
                // refuse every later append if even that fails.
                if let Err(undo) = self.log.truncate(end) {
                    state.broken = Some(format!(
                        "an append failed ({e}) and could not be undone ({undo})"
                    ));
                }
                return Err(io(e));
            }
            for entry in &prepared.entries {
                if let Some(prefix) = stream_prefix(&entry.stream) {
                    if let Some(ceiling) = state.ceilings.get_mut(prefix) {
                        if *entry.stream > **ceiling {
                            *ceiling = entry.stream.to_string();
                        }
                    }
                }
            }
            let end = end + prepared.frames.len() as u64;
            let queued = prepared.entries.clone();
            let indexed = self.indexer.indexed();
            {
                let mut pending = self
                    .indexer
                    .pending
                    .write()
                    .unwrap_or_else(|e| e.into_inner());
                pending.forget_through(indexed);
                pending.push(prepared.entries, head, end);
            }
            // Only now: redb never holds a record reads cannot see yet.
            let waiting = self.indexer.hand_over(queued, head, end);
            if waiting >= crate::indexer::PENDING_LIMIT {
                self.indexer.wait_for_room();
            }
        }
        Ok(prepared.outcomes)
    }
}

impl RedbStore {
    /// How the writer opens the index (see the type's doc).
    fn builder() -> Builder {
        let mut builder = Builder::new();
        builder.set_concurrency_mode(ConcurrencyMode::ExclusiveWriter);
        builder
    }

    /// Opens (creating if needed) the log whose index is at `path` and whose
    /// records are at `log_path(path)`, as its one writer, with redb's
    /// default index cache.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with_builder(path.as_ref(), Self::builder())
    }

    /// `open` with at most `cache_bytes` of memory for redb's index cache.
    pub fn open_with_cache(path: impl AsRef<Path>, cache_bytes: usize) -> Result<Self, StoreError> {
        let mut builder = Self::builder();
        builder.set_cache_size(cache_bytes);
        Self::open_with_builder(path.as_ref(), builder)
    }

    fn open_with_builder(path: &Path, builder: Builder) -> Result<Self, StoreError> {
        let db = builder.create(path).map_err(storage)?;
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

    /// How many acknowledged records wait to be indexed in redb (none for
    /// a read-only store). Appends keep it below `PENDING_LIMIT`.
    pub fn unindexed(&self) -> usize {
        match &self.db {
            Handle::Writable(writer) => writer.indexer.unindexed(),
            _ => 0,
        }
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
    /// index (cutting off a torn final commit), makes that durable, and
    /// starts the indexer.
    fn from_parts(db: Database, log: LogFile) -> Result<Self, StoreError> {
        let mut txn = db.begin_write().map_err(storage)?;
        // As the indexer's commits (see `index_tables::commit_entries`).
        txn.set_quick_repair(true);
        let (head, end, max_event_id) = {
            let mut tables = IndexTables::open(&txn)?;
            let (head, end) = Self::catch_up(&mut tables, &log)?;
            let max_event_id = tables
                .ids
                .last()
                .map_err(storage)?
                .map_or(0, |(k, _)| k.value());
            (head, end, max_event_id)
        };
        txn.commit().map_err(storage)?;
        let db = Arc::new(db);
        let pending = Pending {
            head,
            end,
            max_event_id,
            ..Pending::default()
        };
        let (indexer, thread) = Indexer::start(db.clone(), pending);
        Ok(RedbStore {
            db: Handle::Writable(Writer {
                db,
                log,
                indexer,
                thread: Mutex::new(Some(thread)),
                appending: Mutex::new(AppendState::default()),
            }),
        })
    }

    /// Indexes the frames after the indexed end; returns the head and the
    /// end of the record file.
    fn catch_up(
        tables: &mut IndexTables<'_>,
        log: &LogFile,
    ) -> Result<(Option<Head>, u64), StoreError> {
        let (indexed_head, end) = read_meta(&tables.meta)?;
        let mut head = indexed_head.unwrap_or(Head {
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
        // The index must describe this very file: its head's frame holds
        // the head and ends exactly where the index says the file does.
        if let Some(h) = indexed_head {
            let offset = tables
                .offsets
                .get(h.position)
                .map_err(storage)?
                .map(|o| o.value());
            let holds_head = |next: Next<'_>| match next {
                Next::Frame(frame) => {
                    frame.end() == end
                        && frame
                            .whole_record()
                            .is_some_and(|r| r.position == h.position && r.hash == h.hash)
                }
                _ => false,
            };
            let matches = match offset {
                Some(offset) => log.read_at(offset, holds_head).map_err(io)?,
                None => false,
            };
            if !matches {
                return Err(StoreError::Format(format!(
                    "the record file does not hold the index's head (position {}) where the index says; it is not this index's file. Run `authlog verify`",
                    h.position
                )));
            }
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
                if log.zeros_from(offset).map_err(io)? {
                    // Space written ahead of the records (see `log_file`).
                    log.truncate(offset).map_err(io)?;
                    break;
                }
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
            tables.index(&IndexEntry::of(&record, offset))?;
            head = Head {
                position: record.position,
                hash: record.hash,
            };
            new_end = scan.offset();
        }
        if new_end != end {
            tables.set_meta(&head, new_end)?;
        }
        Ok(((head.position > 0).then_some(head), new_end))
    }

    /// Calls `f` with every record of the file's chain and its stored
    /// bytes, in order, until it returns false (read-only use without an
    /// index). Stops at the first frame that is not the next link (a torn
    /// tail, or damage `verify` reports).
    fn scan_records(
        log: &LogFile,
        mut f: impl FnMut(RecordedEvent, &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let mut scan = log.scan(0).map_err(io)?;
        let mut prev = GENESIS;
        let mut expected = 1;
        while let Next::Frame(frame) = scan.next_frame().map_err(io)? {
            let Some(record) = frame
                .whole_record()
                .filter(|r| r.position == expected && r.prev_hash == prev)
            else {
                break;
            };
            prev = record.hash;
            expected += 1;
            if !f(record, frame.bytes) {
                break;
            }
        }
        Ok(())
    }

    /// Calls `each` with the position and stored bytes of up to `limit`
    /// records from `from` (inclusive) onward, in order, in one pass over
    /// the record file, until it returns false or fails. Without an index
    /// (a read-only store beside a writer) the chain is walked and each
    /// record decoded to check it; `each` then gets that record too.
    fn each_stored(
        &self,
        from: u64,
        limit: u64,
        mut each: impl FnMut(u64, &[u8], Option<RecordedEvent>) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let from = from.max(1);
        if limit == 0 {
            return Ok(());
        }
        if let Handle::Scan { log, .. } = &self.db {
            let mut left = limit;
            let mut failed = Ok(());
            Self::scan_records(log, |r, bytes| {
                if r.position < from {
                    return true;
                }
                left -= 1;
                match each(r.position, bytes, Some(r)) {
                    Ok(more) => more && left > 0,
                    Err(e) => {
                        failed = Err(e);
                        false
                    }
                }
            })?;
            return failed;
        }
        let (snapshot, txn, log) = self.view(|e| e.position == from)?;
        let Some(head) = snapshot.head else {
            return Ok(());
        };
        if from > head.position {
            return Ok(());
        }
        let offset = match snapshot.entries.first() {
            Some(entry) => entry.offset,
            None => txn
                .open_table(OFFSETS)
                .map_err(storage)?
                .get(from)
                .map_err(storage)?
                .ok_or_else(|| StoreError::Format(format!("index names no position {from}")))?
                .value(),
        };
        // The records up to the head stay as they are: no need to keep
        // the index's read transaction open while `each` runs.
        drop(txn);
        // Frames past the head may belong to an append in flight.
        let last = head.position.min(from.saturating_add(limit - 1));
        let mut scan = log.scan(offset).map_err(io)?;
        for position in from..=last {
            match scan.next_frame().map_err(io)? {
                Next::Frame(frame) => {
                    if !each(position, frame.bytes, None)? {
                        break;
                    }
                }
                _ => {
                    return Err(StoreError::Format(format!(
                        "the record file ends before position {position}"
                    )))
                }
            }
        }
        Ok(())
    }

    /// The head, the record file, and a read transaction whose index
    /// covers positions before `first`, with the pending entries `pick`
    /// selects from `first` on (none for a read-only store).
    fn view(
        &self,
        pick: impl Fn(&IndexEntry) -> bool,
    ) -> Result<(Snapshot, ReadTransaction, &LogFile), StoreError> {
        match &self.db {
            Handle::Writable(writer) => {
                let (snapshot, txn) = writer.snapshot(pick)?;
                Ok((snapshot, txn, &writer.log))
            }
            Handle::Indexed { db, log } => {
                let txn = db.begin_read().map_err(storage)?;
                let head = read_meta(&txn.open_table(META).map_err(storage)?)?.0;
                let snapshot = Snapshot {
                    head,
                    first: head.map_or(1, |h| h.position + 1),
                    entries: Vec::new(),
                };
                Ok((snapshot, txn, log))
            }
            Handle::Scan { .. } => Err(StoreError::Storage("no index is open".into())),
        }
    }
}

impl Drop for RedbStore {
    /// Cuts off the zeros written ahead of the records, indexes what is
    /// pending and stops the indexer.
    fn drop(&mut self) {
        if let Handle::Writable(writer) = &self.db {
            let broken = writer.appending.lock().map_or(true, |s| s.broken.is_some());
            if !broken {
                let end = writer.indexer.pending.read().map(|p| p.end).ok();
                if let Some(end) = end {
                    let _ = writer.log.truncate(end);
                }
            }
            writer.indexer.stop();
            let thread = writer
                .thread
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(thread) = thread {
                let _ = thread.join();
            }
        }
    }
}

impl EventStore for RedbStore {
    fn append(&self, units: Vec<AppendBatch>) -> Result<Vec<UnitOutcome>, StoreError> {
        match &self.db {
            Handle::Writable(writer) => writer.append(units),
            _ => Err(StoreError::Storage("the log was opened read-only".into())),
        }
    }
}

impl EventLog for RedbStore {
    fn unindexed(&self) -> usize {
        RedbStore::unindexed(self)
    }

    fn head(&self) -> Result<Option<Head>, StoreError> {
        if let Handle::Scan { log, .. } = &self.db {
            let mut head = None;
            Self::scan_records(log, |r, _| {
                head = Some(Head {
                    position: r.position,
                    hash: r.hash,
                });
                true
            })?;
            return Ok(head);
        }
        Ok(self.view(|_| false)?.0.head)
    }

    fn read_all(&self, from: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut out = Vec::with_capacity(limit.min(16 * 1024));
        self.each_stored(from, limit as u64, |position, bytes, decoded| {
            out.push(match decoded {
                Some(record) => record,
                None => decode_stored(position, bytes)?,
            });
            Ok(true)
        })?;
        Ok(out)
    }

    fn for_each_stored(
        &self,
        from: u64,
        each: &mut dyn FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.each_stored(from, u64::MAX, |position, bytes, _| {
            Ok(each(position, bytes))
        })
    }

    fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        if let Handle::Scan { log, .. } = &self.db {
            Self::scan_records(log, |r, _| {
                if r.stream == stream && r.stream_version >= from_version {
                    out.push(r);
                }
                out.len() < limit
            })?;
            return Ok(out);
        }
        let (snapshot, txn, log) =
            self.view(|e| *e.stream == *stream && e.stream_version >= from_version)?;
        let streams = txn.open_table(STREAMS).map_err(storage)?;
        let offsets = txn.open_table(OFFSETS).map_err(storage)?;
        for entry in streams
            .range((stream, from_version.max(1))..=(stream, u64::MAX))
            .map_err(storage)?
        {
            let position = entry.map_err(storage)?.1.value();
            if out.len() >= limit || position >= snapshot.first {
                break;
            }
            out.push(read_position(log, &offsets, position)?);
        }
        for entry in &snapshot.entries {
            if out.len() >= limit {
                break;
            }
            out.push(read_offset(log, entry.position, entry.offset)?);
        }
        Ok(out)
    }

    fn stream_version(&self, stream: &str) -> Result<u64, StoreError> {
        if let Handle::Scan { log, .. } = &self.db {
            let mut version = 0;
            Self::scan_records(log, |r, _| {
                if r.stream == stream {
                    version = r.stream_version;
                }
                true
            })?;
            return Ok(version);
        }
        let (snapshot, txn, _) = self.view(|e| *e.stream == *stream)?;
        if let Some(latest) = snapshot.entries.last() {
            return Ok(latest.stream_version);
        }
        let streams = txn.open_table(STREAMS).map_err(storage)?;
        current_version(&streams, stream)
    }

    fn read_client(
        &self,
        client_id: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let before = before.unwrap_or(u64::MAX);
        if let Handle::Scan { log, .. } = &self.db {
            let mut newest: VecDeque<RecordedEvent> = VecDeque::new();
            Self::scan_records(log, |r, _| {
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
        let (snapshot, txn, log) =
            self.view(|e| e.position < before && e.client_id.as_deref() == Some(client_id))?;
        let mut out = Vec::with_capacity(limit.min(1024));
        for entry in snapshot.entries.iter().rev().take(limit) {
            out.push(read_offset(log, entry.position, entry.offset)?);
        }
        let index = txn.open_table(CLIENT_INDEX).map_err(storage)?;
        let offsets = txn.open_table(OFFSETS).map_err(storage)?;
        let end = before.min(snapshot.first);
        for entry in index
            .range((client_id, 0)..(client_id, end))
            .map_err(storage)?
            .rev()
        {
            if out.len() >= limit {
                break;
            }
            let position = entry.map_err(storage)?.0.value().1;
            out.push(read_position(log, &offsets, position)?);
        }
        Ok(out)
    }

    fn verify(&self) -> Result<VerifyReport, StoreError> {
        match &self.db {
            Handle::Scan { log, index_head } => verify_log(log, *index_head),
            Handle::Writable(Writer { log, .. }) | Handle::Indexed { log, .. } => {
                verify_log(log, self.head()?)
            }
        }
    }
}
