//! Records written to the record file but not yet in the redb index, and
//! the thread that moves them there.
//!
//! An append is durable once its frames are fsynced; indexing them in redb
//! is left to the indexer thread. Each append hands its index entries over
//! through a queue; the thread takes the whole queue and commits it in one
//! durable redb transaction every `INDEX_EVERY` (or sooner when `INDEX_AT`
//! records wait). Until then `Pending` answers for them, so every read sees
//! every acknowledged record.
//!
//! Indexing is background work: the thread runs at a lower priority
//! (`INDEXER_NICENESS`), so on a busy core it takes mostly the time the
//! request threads and the writer leave idle (while a commit's `fdatasync`
//! is in flight, for instance) instead of theirs. Lest it fall behind for
//! good, an append that leaves `PENDING_LIMIT` records unindexed waits
//! until a round has indexed them; if the thread fails or panics, waiting
//! appends return and later ones are refused.
//!
//! Reads follow one rule: take what is needed from `Pending` (including its
//! `first` position) and only then open a redb read transaction, asking it
//! for positions before `first`. Records leave `Pending` only after their
//! redb commit (the next append drops what the indexer reports indexed), so
//! nothing falls between the two. The indexer never locks `Pending`: were
//! it preempted holding that lock, its low priority would keep the writer
//! waiting.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use redb::Database;

use crate::envelope::RecordedEvent;
use crate::index_tables::commit_entries;
use crate::store::{Head, StoreError};
use crate::FastMap;

/// How long records may wait to be indexed...
const INDEX_EVERY: Duration = Duration::from_millis(50);
/// ...or how many.
const INDEX_AT: usize = 8192;
/// How many records may wait before appends wait for the indexer.
pub const PENDING_LIMIT: usize = 8 * INDEX_AT;
/// How much nicer than the thread that opens the store the indexer thread
/// is (nice values run from -20 to 19). 5 steps give it about a third of a
/// normal thread's share of a busy core plus whatever is idle: enough to
/// keep up at full load in small rounds. (At 10 it fell behind at full
/// load and its rounds grew until appends waited for them: p99 up to
/// 27 ms.)
const INDEXER_NICENESS: i32 = 5;

/// What the index needs of a record. Its strings are shared, so the copy
/// handed to the indexer and `Pending`'s maps allocate none.
#[derive(Debug, Clone)]
pub struct IndexEntry {
    /// Position.
    pub position: u64,
    /// Offset of its frame in the record file.
    pub offset: u64,
    /// Stream.
    pub stream: Arc<str>,
    /// Version within the stream.
    pub stream_version: u64,
    /// Event id.
    pub event_id: u128,
    /// Client it is attributed to.
    pub client_id: Option<Arc<str>>,
}

impl IndexEntry {
    /// The entry of `record`, stored at `offset`.
    pub fn of(record: &RecordedEvent, offset: u64) -> Self {
        IndexEntry {
            position: record.position,
            offset,
            stream: Arc::from(record.stream.as_str()),
            stream_version: record.stream_version,
            event_id: record.event_id.as_u128(),
            client_id: record.client_id.as_deref().map(Arc::from),
        }
    }
}

/// Acknowledged records, in position order, that redb may not hold yet:
/// what reads and appends consult besides redb. Records redb has taken
/// stay until the next append drops them.
#[derive(Debug, Default)]
pub struct Pending {
    /// The entries; the first has position `first()`.
    pub entries: VecDeque<IndexEntry>,
    /// Event id → position, for the entries.
    pub ids: FastMap<u128, u64>,
    /// Stream → its latest version among the entries.
    pub versions: FastMap<Arc<str>, u64>,
    /// The head of the whole log (indexed or not).
    pub head: Option<Head>,
    /// The record file's length after the last acknowledged frame.
    pub end: u64,
    /// The largest event id stored (as `u128`): a larger one (every
    /// UUIDv7 the server mints) is new without asking the index.
    pub max_event_id: u128,
}

impl Pending {
    /// Position of the oldest pending record (one past the head if none):
    /// every position before it is in the redb index.
    pub fn first(&self) -> u64 {
        match self.entries.front() {
            Some(entry) => entry.position,
            None => self.head.map_or(1, |h| h.position + 1),
        }
    }

    /// Adds the entries of one acknowledged append.
    pub fn push(&mut self, entries: Vec<IndexEntry>, head: Head, end: u64) {
        for entry in entries {
            self.max_event_id = self.max_event_id.max(entry.event_id);
            self.ids.insert(entry.event_id, entry.position);
            self.versions
                .insert(entry.stream.clone(), entry.stream_version);
            self.entries.push_back(entry);
        }
        self.head = Some(head);
        self.end = end;
    }

    /// Drops the entries up to `position`, which redb now holds.
    pub fn forget_through(&mut self, position: u64) {
        let first = self.first();
        if position < first {
            return;
        }
        let n = ((position - first + 1) as usize).min(self.entries.len());
        for entry in self.entries.drain(..n) {
            if self.ids.get(&entry.event_id) == Some(&entry.position) {
                self.ids.remove(&entry.event_id);
            }
            if self.versions.get(&entry.stream) == Some(&entry.stream_version) {
                self.versions.remove(&entry.stream);
            }
        }
    }
}

/// What the store and its indexer thread share besides `Pending`: the
/// hand-over queue and the signals. Every hold of this lock is short (no
/// I/O, no copying of entries), so the writer rarely waits on it, and then
/// only briefly, even when the indexer is preempted.
#[derive(Debug, Default)]
struct Control {
    stop: bool,
    /// The first indexing failure; appends refuse once it is set.
    failure: Option<Arc<StoreError>>,
    /// Acknowledged entries no round has taken yet, in position order.
    queue: Vec<IndexEntry>,
    /// The head and the record file's length after the last queued entry.
    head: Option<Head>,
    end: u64,
    /// How many entries the round now committing holds.
    in_flight: usize,
    /// The last position in the redb index (0: none).
    indexed: u64,
}

impl Control {
    /// Entries acknowledged and not yet in redb.
    fn waiting(&self) -> usize {
        self.queue.len() + self.in_flight
    }
}

/// The shared state of a writable store and its indexer.
#[derive(Debug)]
pub struct Indexer {
    /// What reads and appends consult for records redb may not hold yet.
    /// Only appends change it; the indexer thread never takes this lock.
    pub pending: RwLock<Pending>,
    control: Mutex<Control>,
    wake: Condvar,
    /// Signalled after each round and when indexing fails.
    drained: Condvar,
}

impl Indexer {
    /// Starts the indexer thread over `db`, with `pending` as it stands
    /// after opening: opening indexes every record, so none waits.
    pub fn start(db: Arc<Database>, pending: Pending) -> (Arc<Self>, JoinHandle<()>) {
        debug_assert!(pending.entries.is_empty(), "opening left records unindexed");
        let control = Control {
            head: pending.head,
            end: pending.end,
            indexed: pending.head.map_or(0, |h| h.position),
            ..Control::default()
        };
        let shared = Arc::new(Indexer {
            pending: RwLock::new(pending),
            control: Mutex::new(control),
            wake: Condvar::new(),
            drained: Condvar::new(),
        });
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("authlog-indexer".into())
            .spawn(move || worker.run(&db))
            .expect("spawning the indexer thread");
        (shared, thread)
    }

    fn control(&self) -> MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Why indexing stopped working, if it did.
    pub fn failure(&self) -> Option<Arc<StoreError>> {
        self.control().failure.clone()
    }

    /// How many acknowledged records redb does not hold yet.
    pub fn unindexed(&self) -> usize {
        self.control().waiting()
    }

    /// The last position the redb index holds (0: none).
    pub fn indexed(&self) -> u64 {
        self.control().indexed
    }

    /// Queues the entries of one acknowledged append (ending at `head`, the
    /// record file then `end` bytes long) for indexing, waking the thread
    /// when `INDEX_AT` wait. Returns how many records wait.
    pub fn hand_over(&self, mut entries: Vec<IndexEntry>, head: Head, end: u64) -> usize {
        let mut control = self.control();
        control.queue.append(&mut entries);
        control.head = Some(head);
        control.end = end;
        if control.queue.len() >= INDEX_AT {
            self.wake.notify_one();
        }
        control.waiting()
    }

    /// Waits while `PENDING_LIMIT` records or more wait to be indexed
    /// (unless indexing has failed: the next append reports that).
    pub fn wait_for_room(&self) {
        let control = self.control();
        self.wake.notify_one();
        let _control = self
            .drained
            .wait_while(control, |c| {
                c.failure.is_none() && c.waiting() >= PENDING_LIMIT
            })
            .unwrap_or_else(|e| e.into_inner());
    }

    /// Asks the thread to index what is queued and exit.
    pub fn stop(&self) {
        self.control().stop = true;
        self.wake.notify_one();
    }

    fn run(&self, db: &Database) {
        crate::thread_priority::lower_calling_thread(INDEXER_NICENESS, "indexer");
        let rounds = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.rounds(db)));
        if rounds.is_err() {
            // Appends must not wait for a thread that is gone.
            let mut control = self.control();
            control.failure = Some(Arc::new(StoreError::Storage(
                "the indexer thread panicked".into(),
            )));
            self.drained.notify_all();
        }
    }

    /// Indexes what is queued, round after round, until stopped or failed.
    fn rounds(&self, db: &Database) {
        // Swapped with the queue each round, so both keep their capacity: a
        // fresh buffer of this size is fresh memory from the allocator each
        // time (page faults, zeroing).
        let mut batch = Vec::new();
        loop {
            let (head, end, stop) = {
                let (mut control, _) = self
                    .wake
                    .wait_timeout_while(self.control(), INDEX_EVERY, |c| {
                        !c.stop && c.queue.len() < INDEX_AT
                    })
                    .unwrap_or_else(|e| e.into_inner());
                if control.failure.is_some() {
                    return;
                }
                std::mem::swap(&mut control.queue, &mut batch);
                control.in_flight = batch.len();
                (control.head, control.end, control.stop)
            };
            if let Some(last) = batch.last() {
                // Appends made while this commits are queued for the next
                // round; the head and end written belong to the last entry.
                let result = match head {
                    Some(head) if head.position == last.position => {
                        commit_entries(db, &batch, &head, end).map(|()| head.position)
                    }
                    _ => Err(StoreError::Storage(
                        "queued records do not end at the head".into(),
                    )),
                };
                batch.clear();
                let mut control = self.control();
                control.in_flight = 0;
                match result {
                    Ok(position) => control.indexed = position,
                    Err(error) => {
                        tracing::error!(error = ?error, "indexing the log failed; appends are refused until restart");
                        control.failure = Some(Arc::new(error));
                        self.drained.notify_all();
                        return;
                    }
                }
                self.drained.notify_all();
            }
            if stop {
                return;
            }
        }
    }
}
