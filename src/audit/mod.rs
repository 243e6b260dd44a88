//! The audit read side, shared by the HTTP audit API (`http::audit`) and
//! the offline `authlog audit` / `authlog verify --checkpoint` commands:
//! query filters (`filter`), newest-first walks over the log's indexes
//! (`walk`), the item an auditor sees (`item`, `summary`), export formats
//! (`export`), and signed checkpoints (`checkpoint`). Nothing here knows
//! actix-web; nothing here writes.

pub mod checkpoint;
pub mod export;
pub mod filter;
pub mod item;
pub mod offline;
pub mod summary;
pub mod walk;

use authlog_events::StoreError;
use thiserror::Error;

pub use checkpoint::{AuditKey, Checkpoint};
pub use filter::{invalid_utf8_component, AuditFilter, AuditQuery};
pub use item::AuditItem;
pub use walk::Walker;

/// Why an audit query could not be answered.
#[derive(Debug, Error)]
pub enum AuditError {
    /// A query parameter is invalid.
    #[error("{field}: {message}")]
    Invalid {
        /// The parameter.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The log could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The read models are unavailable after a failed fold.
    #[error("the read models are unavailable after a failed fold; restart to replay the log")]
    Unreadable,
    /// An actor filter without the server's in-memory actor index.
    #[error("filtering by actor needs the server's actor index; use GET /api/audit/events")]
    NoActorIndex,
}

impl AuditError {
    /// An invalid parameter.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AuditError::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}
