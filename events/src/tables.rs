//! Every redb table, defined once as typed constants. redb holds only
//! indexes over the record file (`log_file`); all of it can be rebuilt
//! from that file.

use redb::TableDefinition;

/// position -> offset of its frame in the record file.
pub const OFFSETS: TableDefinition<u64, u64> = TableDefinition::new("offsets");

/// (stream, stream version) -> position.
pub const STREAMS: TableDefinition<(&str, u64), u64> = TableDefinition::new("streams");

/// event id (UUID as u128) -> position; makes appends idempotent.
pub const EVENT_IDS: TableDefinition<u128, u64> = TableDefinition::new("event_ids");

/// (client id, position) -> (); one client's events, newest first by reverse range.
pub const CLIENT_INDEX: TableDefinition<(&str, u64), ()> = TableDefinition::new("client_index");

/// Singleton values; see the `META_*` keys.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// `META` key of the indexed head: position (8 bytes, big-endian) ‖ hash (32 bytes).
pub const META_HEAD: &str = "head";

/// `META` key of the record file's length covered by the index (8 bytes, big-endian).
pub const META_LOG_END: &str = "log_end";
