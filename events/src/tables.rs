//! Every redb table of the log, defined once as typed constants.

use redb::TableDefinition;

/// position -> stored record bytes (`codec`).
pub const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");

/// (stream, stream version) -> position.
pub const STREAMS: TableDefinition<(&str, u64), u64> = TableDefinition::new("streams");

/// event id (UUID as u128) -> position; makes appends idempotent.
pub const EVENT_IDS: TableDefinition<u128, u64> = TableDefinition::new("event_ids");

/// (client id, position) -> (); one client's events, newest first by reverse range.
pub const CLIENT_INDEX: TableDefinition<(&str, u64), ()> = TableDefinition::new("client_index");

/// Singleton values; see the `META_*` keys.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// `META` key of the head: position (8 bytes, big-endian) ‖ hash (32 bytes).
pub const META_HEAD: &str = "head";
