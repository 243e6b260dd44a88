//! `authlog migrate-store --from … --to …`: copies a log from one store to
//! another (a data directory's embedded log, or a PostgreSQL database) record
//! for record. Each record is appended again with its own event id, time,
//! actor and payload, in its order, so the destination assigns the same
//! positions and stream versions and seals the same bytes: every copied
//! record must come out with the hash it had, and the destination's chain
//! is verified at the end.

use std::path::PathBuf;

use authlog_events::pg_store::Role;
use authlog_events::{
    AppendBatch, EventLog, EventStore, NewEvent, PgStore, RecordedEvent, RedbStore, StoreError,
};
use thiserror::Error;

use crate::config;

/// Records appended per transaction.
const BATCH: usize = 1_000;

/// Where a log is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// The embedded log in a data directory.
    Dir(PathBuf),
    /// A PostgreSQL database (the URL may name a schema in `options`).
    Postgres(String),
}

impl Place {
    /// A `postgres://` (or `postgresql://`) URL, else a data directory.
    pub fn parse(text: &str) -> Place {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Place::Postgres(text.to_owned())
        } else {
            Place::Dir(PathBuf::from(text))
        }
    }
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Dir(dir) => write!(f, "{}", dir.display()),
            // The URL may carry a password.
            Place::Postgres(_) => f.write_str("the PostgreSQL database"),
        }
    }
}

/// Why a copy failed; the destination may hold a prefix of the source then.
#[derive(Debug, Error)]
pub enum CopyError {
    /// Either log could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The source has no log.
    #[error("no log at {0}")]
    NoSource(String),
    /// The destination already holds records.
    #[error("{place} already holds {records} records; copy into an empty store")]
    NotEmpty {
        /// Which.
        place: String,
        /// How many.
        records: u64,
    },
    /// A server leads the destination database.
    #[error("a running authlog holds the writer lock of {0}; stop it first")]
    Locked(String),
    /// A copied record did not come out as it was.
    #[error("position {position} came out with another hash than the source's")]
    Diverged {
        /// Where.
        position: u64,
    },
    /// The destination's chain does not verify after the copy.
    #[error("the copy does not verify: {0}")]
    Broken(String),
}

/// What a copy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// Records copied.
    pub records: u64,
    /// The head hash both logs end with.
    pub head_hash: Option<[u8; 32]>,
}

fn open_source(place: &Place) -> Result<Box<dyn EventLog>, CopyError> {
    Ok(match place {
        Place::Dir(dir) => {
            let path = config::log_path(dir);
            if !authlog_events::redb_store::log_path(&path).exists() {
                return Err(CopyError::NoSource(place.to_string()));
            }
            Box::new(RedbStore::open_read_only(&path)?)
        }
        Place::Postgres(url) => Box::new(PgStore::open_existing(url)?),
    })
}

fn open_destination(place: &Place) -> Result<Box<dyn EventStore>, CopyError> {
    let store: Box<dyn EventStore> = match place {
        Place::Dir(dir) => {
            std::fs::create_dir_all(dir).map_err(StoreError::Io)?;
            Box::new(RedbStore::open(config::log_path(dir))?)
        }
        Place::Postgres(url) => {
            let store = PgStore::open(url)?;
            if store.try_lead()? != Role::Leader {
                return Err(CopyError::Locked(place.to_string()));
            }
            Box::new(store)
        }
    };
    if let Some(head) = store.head()? {
        return Err(CopyError::NotEmpty {
            place: place.to_string(),
            records: head.position,
        });
    }
    Ok(store)
}

fn proposed(record: &RecordedEvent) -> NewEvent {
    NewEvent {
        event_id: record.event_id,
        stream: record.stream.to_string(),
        recorded_at: record.recorded_at,
        actor: record.actor.clone(),
        client_id: record.client_id.as_deref().map(str::to_owned),
        correlation_id: record.correlation_id.clone(),
        payload: record.payload.clone(),
    }
}

/// Copies every record of `from` into the empty `to`; `progress` hears the
/// records copied so far and the source's total.
pub fn copy(
    from: &Place,
    to: &Place,
    mut progress: impl FnMut(u64, u64),
) -> Result<Copied, CopyError> {
    let source = open_source(from)?;
    let total = source.head()?.map_or(0, |h| h.position);
    let destination = open_destination(to)?;
    let mut copied = 0u64;
    loop {
        let batch = source.read_all(copied + 1, BATCH)?;
        if batch.is_empty() {
            break;
        }
        let unit = AppendBatch::new(batch.iter().map(proposed).collect());
        let stored = match destination.append(vec![unit])?.pop() {
            Some(Ok(stored)) => stored,
            _ => Vec::new(),
        };
        let diverged = batch.iter().enumerate().find(|(i, original)| {
            stored
                .get(*i)
                .is_none_or(|copy| (copy.position, copy.hash) != (original.position, original.hash))
        });
        if let Some((_, original)) = diverged {
            return Err(CopyError::Diverged {
                position: original.position,
            });
        }
        copied += batch.len() as u64;
        progress(copied, total);
    }
    let report = destination.verify()?;
    if let Some(broken) = report.broken {
        return Err(CopyError::Broken(format!(
            "position {}: {}",
            broken.position, broken.reason
        )));
    }
    let source_head = source.head()?;
    if report.head != source_head {
        return Err(CopyError::Broken(
            "the copy does not end where the source does (did a server write to the source meanwhile?)"
                .into(),
        ));
    }
    Ok(Copied {
        records: copied,
        head_hash: report.head.map(|h| h.hash),
    })
}
