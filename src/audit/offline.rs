//! The auditor's commands that read a data directory directly, without
//! HTTP: `authlog audit --client ID`, `authlog audit --at TIME [--client
//! ID]` and `authlog verify --checkpoint FILE`.
//! Both open the log read-only, which redb allows beside a running server
//! (the server opens it in `SingleWriter` mode), and never change it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use authlog_events::{EventLog, RedbStore, StoreError, Timestamp};
use thiserror::Error;

use super::checkpoint::{check_extends, AuditKey, Checkpoint, Extension};
use super::export::ExportFormat;
use super::filter::AuditFilter;
use super::item::AuditItem;
use super::walk::Walker;
use super::AuditError;
use crate::config;
use crate::registry_at::{fold_all, fold_client, RegistryAtError};
use crate::secrets::KeyError;

/// Records rendered per chunk.
const CHUNK: usize = 500;

/// Why an offline audit command could not run.
#[derive(Debug, Error)]
pub enum OfflineError {
    /// There is no log in the data directory.
    #[error("no log at {0}")]
    NoLog(PathBuf),
    /// The log could not be opened or read.
    #[error("cannot read the log: {0}")]
    Store(#[from] StoreError),
    /// A filter is invalid.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// Output or the checkpoint file failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The checkpoint file is not a checkpoint.
    #[error("{path} is not a checkpoint: {message}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The audit key could not be read.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The registry at an instant could not be shown.
    #[error(transparent)]
    RegistryAt(#[from] RegistryAtError),
}

/// Where an offline command reads: the data directory (its keys, and its
/// embedded log), or the PostgreSQL log `--store` names.
#[derive(Debug, Clone)]
pub struct LogSource {
    /// The data directory.
    pub data: PathBuf,
    /// A `postgres://` URL (`--store`, `AUTHLOG_STORE`), instead of the
    /// embedded log in `data`.
    pub store: Option<String>,
}

/// Opens the log read-only, beside a server that may be running (see
/// `RedbStore::open_read_only`; PostgreSQL reads are plain reads); never
/// changes a file or a row.
pub fn open_log(source: &LogSource) -> Result<Arc<dyn EventLog>, OfflineError> {
    if let Some(url) = source.store.as_deref().filter(|s| !s.is_empty()) {
        return Ok(Arc::new(authlog_events::PgStore::open_existing(url)?));
    }
    let path = config::log_path(&source.data);
    let records = authlog_events::redb_store::log_path(&path);
    if !records.exists() {
        return Err(OfflineError::NoLog(records));
    }
    Ok(Arc::new(RedbStore::open_read_only(&path)?))
}

/// Writes the events of `filter` (which must name a client; there is no
/// actor index offline) newest first to `out`. Returns how many.
pub fn audit(
    source: &LogSource,
    filter: AuditFilter,
    format: ExportFormat,
    out: &mut dyn Write,
) -> Result<u64, OfflineError> {
    if filter.client_id.is_none() {
        return Err(AuditError::invalid("client", "is required").into());
    }
    let store = open_log(source)?;
    let mut walker = Walker::new(store, None, filter, None, CHUNK)?;
    out.write_all(&format.header())?;
    let mut count = 0u64;
    loop {
        let (records, next) = walker.page(CHUNK)?;
        let items: Vec<AuditItem> = records.iter().map(AuditItem::of).collect();
        count += items.len() as u64;
        out.write_all(&format.render(&items))?;
        if next.is_none() {
            break;
        }
    }
    out.flush()?;
    Ok(count)
}

/// Writes `client` (every client when `None`) as it was at `at`, one line
/// of the JSON `GET /api/admin/oauth-clients/{id}?at=` (or the whole list
/// as one page of `GET /api/admin/oauth-clients?at=`) answers.
pub fn registry_at(
    source: &LogSource,
    client: Option<&str>,
    at: Timestamp,
    out: &mut dyn Write,
) -> Result<(), OfflineError> {
    let store = open_log(source)?;
    match client {
        Some(id) => {
            let then = fold_client(store.as_ref(), id, at)?.client(id)?;
            serde_json::to_writer(&mut *out, &then).map_err(std::io::Error::from)?;
        }
        None => {
            let then = fold_all(store.as_ref(), at)?.all();
            serde_json::to_writer(&mut *out, &then).map_err(std::io::Error::from)?;
        }
    }
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// The outcome of `authlog verify --checkpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointVerdict {
    /// Whether the log extends the checkpoint.
    pub extension: Extension,
    /// `Some(valid)` when the audit key was available, `None` otherwise.
    pub signature_valid: Option<bool>,
}

impl CheckpointVerdict {
    /// Extends, and the signature is valid or could not be checked.
    pub fn holds(&self) -> bool {
        matches!(self.extension, Extension::Extends { .. }) && self.signature_valid != Some(false)
    }
}

/// Reads a checkpoint file (the JSON `GET /api/audit/checkpoint` returned).
pub fn read_checkpoint(path: &Path) -> Result<Checkpoint, OfflineError> {
    let text = std::fs::read_to_string(path)?;
    serde_json::from_str(&text).map_err(|e| OfflineError::Checkpoint {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// Checks that the log of `data` still extends the checkpoint in `file`,
/// and its signature when the audit key is configured or in `data`.
pub fn verify_checkpoint(
    source: &LogSource,
    file: &Path,
    configured_key: Option<&str>,
) -> Result<CheckpointVerdict, OfflineError> {
    let checkpoint = read_checkpoint(file)?;
    let store = open_log(source)?;
    let extension = check_extends(store.as_ref(), &checkpoint)?;
    let signature_valid =
        AuditKey::load_existing(&source.data, configured_key)?.map(|k| k.signed(&checkpoint));
    Ok(CheckpointVerdict {
        extension,
        signature_valid,
    })
}
