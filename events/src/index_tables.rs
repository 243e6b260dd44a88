//! The redb side of the log: the index tables an append fills, the head
//! and record-file length they cover (`META`), and lookups through them.

use redb::{Database, ReadableTable, WriteTransaction};

use crate::envelope::RecordedEvent;
use crate::indexer::IndexEntry;
use crate::log_file::{LogFile, Next};
use crate::store::{decode_stored, io, Head, StoreError};
use crate::tables::{CLIENT_INDEX, EVENT_IDS, META, META_HEAD, META_LOG_END, OFFSETS, STREAMS};

/// Maps any redb error into the index variant, keeping it as the source.
pub fn storage<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::Index(e.into())
}

/// A stream's version as stored in the index (0: no such stream).
pub fn current_version(
    streams: &impl ReadableTable<(&'static str, u64), u64>,
    stream: &str,
) -> Result<u64, StoreError> {
    let last = streams
        .range((stream, 0)..=(stream, u64::MAX))
        .map_err(storage)?
        .next_back();
    Ok(match last {
        Some(entry) => entry.map_err(storage)?.0.value().1,
        None => 0,
    })
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
pub fn read_meta(
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

/// Reads the record at `position` through the offsets index.
pub fn read_position(
    log: &LogFile,
    offsets: &impl ReadableTable<u64, u64>,
    position: u64,
) -> Result<RecordedEvent, StoreError> {
    let offset = offsets
        .get(position)
        .map_err(storage)?
        .ok_or_else(|| StoreError::Format(format!("index names missing position {position}")))?
        .value();
    read_offset(log, position, offset)
}

/// The record in the frame at `offset`, which should hold `position`.
pub fn read_offset(log: &LogFile, position: u64, offset: u64) -> Result<RecordedEvent, StoreError> {
    log.read_at(offset, |next| match next {
        Next::Frame(frame) => decode_stored(position, frame.bytes).map_err(|e| match e {
            StoreError::Format(what) => StoreError::Format(format!("{what} (offset {offset})")),
            other => other,
        }),
        _ => Err(StoreError::Format(format!(
            "no record at offset {offset} (position {position})"
        ))),
    })
    .map_err(io)?
}

/// The redb tables an append writes.
pub struct IndexTables<'t> {
    pub offsets: redb::Table<'t, u64, u64>,
    pub streams: redb::Table<'t, (&'static str, u64), u64>,
    pub ids: redb::Table<'t, u128, u64>,
    pub clients: redb::Table<'t, (&'static str, u64), ()>,
    pub meta: redb::Table<'t, &'static str, &'static [u8]>,
}

impl<'t> IndexTables<'t> {
    pub fn open(txn: &'t WriteTransaction) -> Result<Self, StoreError> {
        Ok(IndexTables {
            offsets: txn.open_table(OFFSETS).map_err(storage)?,
            streams: txn.open_table(STREAMS).map_err(storage)?,
            ids: txn.open_table(EVENT_IDS).map_err(storage)?,
            clients: txn.open_table(CLIENT_INDEX).map_err(storage)?,
            meta: txn.open_table(META).map_err(storage)?,
        })
    }

    /// Indexes one record.
    pub fn index(&mut self, entry: &IndexEntry) -> Result<(), StoreError> {
        if self
            .offsets
            .insert(entry.position, entry.offset)
            .map_err(storage)?
            .is_some()
        {
            return Err(StoreError::Format(format!(
                "position {} is already taken",
                entry.position
            )));
        }
        self.streams
            .insert((&*entry.stream, entry.stream_version), entry.position)
            .map_err(storage)?;
        self.ids
            .insert(entry.event_id, entry.position)
            .map_err(storage)?;
        if let Some(client) = &entry.client_id {
            self.clients
                .insert((&**client, entry.position), ())
                .map_err(storage)?;
        }
        Ok(())
    }

    /// Records the head and the record file length the index covers.
    pub fn set_meta(&mut self, head: &Head, end: u64) -> Result<(), StoreError> {
        self.meta
            .insert(META_HEAD, encode_head(head).as_slice())
            .map_err(storage)?;
        self.meta
            .insert(META_LOG_END, end.to_be_bytes().as_slice())
            .map_err(storage)?;
        Ok(())
    }
}

/// Indexes `entries` (ending at `head`, with the record file `end` bytes
/// long) in one durable redb transaction: the indexer's commit.
pub fn commit_entries(
    db: &Database,
    entries: &[IndexEntry],
    head: &Head,
    end: u64,
) -> Result<(), StoreError> {
    let write = || -> Result<(), StoreError> {
        let mut txn = db.begin_write().map_err(storage)?;
        // After a crash, redb loads the allocator state this commit records
        // instead of walking the whole index (tens of seconds at 10M events).
        txn.set_quick_repair(true);
        {
            let mut tables = IndexTables::open(&txn)?;
            for entry in entries {
                tables.index(entry)?;
            }
            tables.set_meta(head, end)?;
        }
        txn.commit().map_err(storage)
    };
    write()
}
