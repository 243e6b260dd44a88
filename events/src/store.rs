//! The storage contract of the log, independent of any backend. redb is the
//! embedded default (`redb_store`); another backend (PostgreSQL, for several
//! replicas) implements this same trait and nothing above it changes.

use thiserror::Error;

use crate::codec::CodecError;
use crate::envelope::{NewEvent, RecordedEvent};

/// What a unit expects of a stream before it appends to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must be at exactly this version (an `ETag`/`If-Match`).
    Exact(u64),
}

/// One caller's atomic unit: all of its events are appended, or none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppendBatch {
    /// Events in order.
    pub events: Vec<NewEvent>,
    /// Per-stream expectations, checked before anything of the unit is written.
    pub expected: Vec<(String, ExpectedVersion)>,
}

impl AppendBatch {
    /// A unit with no version expectations.
    pub fn new(events: Vec<NewEvent>) -> Self {
        AppendBatch {
            events,
            expected: Vec::new(),
        }
    }

    /// Adds an expectation on `stream`.
    pub fn expect(mut self, stream: impl Into<String>, version: ExpectedVersion) -> Self {
        self.expected.push((stream.into(), version));
        self
    }
}

/// A unit's expectation did not hold; nothing of the unit was written.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("stream {stream}: expected {expected:?}, found version {actual}")]
pub struct VersionConflict {
    /// The stream.
    pub stream: String,
    /// What the unit expected.
    pub expected: ExpectedVersion,
    /// Its current version (0 = no stream).
    pub actual: u64,
}

/// The outcome of one unit of an append: its stored records (previously
/// stored ones for repeated event ids), or the conflict that refused it.
pub type UnitOutcome = Result<Vec<RecordedEvent>, VersionConflict>;

/// The end of the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Position of the last record.
    pub position: u64,
    /// Its hash.
    pub hash: [u8; 32],
}

/// Storage failed; the log was not changed by the failed call.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The record file could not be read or written (I/O, disk full, ...).
    #[error("the record file could not be read or written")]
    Io(#[source] std::io::Error),
    /// The index (redb) failed.
    #[error("the log's index failed")]
    Index(#[source] redb::Error),
    /// Indexing failed earlier; appends are refused until a restart.
    #[error("indexing the log failed")]
    Indexing(#[source] std::sync::Arc<StoreError>),
    /// PostgreSQL refused or failed a query, or the connection broke.
    #[error("PostgreSQL")]
    Postgres(#[source] tokio_postgres::Error),
    /// The backend cannot do this, or failed for a reason of its own.
    #[error("log storage failed: {0}")]
    Storage(String),
    /// A stored record could not be decoded.
    #[error("record at position {position} is unreadable: {source}")]
    Corrupt {
        /// Where.
        position: u64,
        /// Why.
        source: CodecError,
    },
    /// The database holds something that is not an authlog log.
    #[error("not an authlog log: {0}")]
    Format(String),
    /// A record is larger than a frame of the record file can hold.
    #[error("a record of {bytes} bytes is larger than the {limit}-byte limit")]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
}

/// Maps an I/O error of the record file into the storage variant.
pub(crate) fn io(e: std::io::Error) -> StoreError {
    StoreError::Io(e)
}

/// The first place where the chain does not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokenLink {
    /// The first position that fails.
    pub position: u64,
    /// What failed there.
    pub reason: String,
}

/// Result of walking the whole chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records walked.
    pub records: u64,
    /// The head as recorded in the log's metadata.
    pub head: Option<Head>,
    /// `None` when every link holds.
    pub broken: Option<BrokenLink>,
}

impl VerifyReport {
    /// Whether the chain is intact.
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// Decodes the stored bytes of the record at `position` (see `codec`),
/// checking that they hold that position. The stored hash is taken as it
/// is; `EventStore::verify` checks the chain.
pub fn decode_stored(position: u64, bytes: &[u8]) -> Result<RecordedEvent, StoreError> {
    let record =
        crate::codec::decode(bytes).map_err(|source| StoreError::Corrupt { position, source })?;
    if record.position != position {
        return Err(StoreError::Format(format!(
            "the log puts position {position} where position {} is stored",
            record.position
        )));
    }
    Ok(record)
}

/// An append-only, hash-chained event log, as its readers see it:
/// request handlers, the audit side and replay hold this handle; only the
/// writer holds an `EventStore`.
pub trait EventLog: Send + Sync + 'static {
    /// The last record's position and hash; `None` for an empty log.
    fn head(&self) -> Result<Option<Head>, StoreError>;

    /// Up to `limit` records from `from` (inclusive) onward, in order.
    fn read_all(&self, from: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Calls `each` with the position and stored bytes of every record
    /// from `from` (inclusive) to the head, in order, until it returns
    /// false: `read_all` in one pass, leaving the decoding to the caller
    /// (`decode_stored`), so that a fold over the whole log (startup
    /// replay) can decode on several threads.
    fn for_each_stored(
        &self,
        from: u64,
        each: &mut dyn FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), StoreError>;

    /// Up to `limit` records of one stream from `from_version` onward.
    fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Current version of a stream (0 if it does not exist).
    fn stream_version(&self, stream: &str) -> Result<u64, StoreError>;

    /// Up to `limit` records attributed to `client_id`, newest first,
    /// strictly before position `before` when given.
    fn read_client(
        &self,
        client_id: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Walks the chain from the first record and reports the first broken link.
    fn verify(&self) -> Result<VerifyReport, StoreError>;

    /// How many acknowledged records still wait to be indexed (0 for a
    /// store that indexes as it appends).
    fn unindexed(&self) -> usize {
        0
    }
}

/// The log with its one write operation.
pub trait EventStore: EventLog {
    /// Appends several units in ONE durable transaction (group commit).
    /// Each unit either fully succeeds or fails with a conflict without
    /// affecting the others. When this returns `Ok`, every stored record is
    /// durable. On `Err` nothing of the call was stored.
    fn append(&self, units: Vec<AppendBatch>) -> Result<Vec<UnitOutcome>, StoreError>;
}
