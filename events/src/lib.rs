//! `authlog-events`: the event schema (`catalogue`, `envelope`), its
//! encoding (`codec`), the hash chain (`chain`) and the append-only log
//! (`store` contract; `redb_store` embedded backend: records in `log_file`,
//! indexes in redb `tables` written by `index_tables` from the `indexer`
//! thread; `verify` walks the chain; `thread_priority` makes background
//! threads yield to requests).
//!
//! This crate knows nothing about HTTP or projections.
#![warn(missing_docs)]

pub mod catalogue;
pub mod chain;
pub mod codec;
pub mod envelope;
pub mod fault_backend;
mod index_tables;
mod indexer;
pub mod log_file;
pub mod pg_store;
pub mod redb_store;
pub mod store;
pub mod tables;
pub mod thread_priority;
pub mod time;
mod units;
pub mod verify;

/// A hash map for the writer's per-append maps: foldhash (seeded per map,
/// so names chosen by clients cannot be aimed at it) instead of SipHash.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::quality::RandomState>;

pub use catalogue::*;
pub use envelope::{Actor, NewEvent, Principal, RecordedEvent};
pub use pg_store::PgStore;
pub use redb_store::RedbStore;
pub use store::{
    decode_stored, AppendBatch, BrokenLink, EventLog, EventStore, ExpectedVersion, Head,
    StoreError, UnitOutcome, VerifyReport, VersionConflict,
};
pub use time::Timestamp;
