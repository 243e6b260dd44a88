//! Commands: what a request asks the write side to do. Each command says
//! which streams its decision reads and writes (so the writer can batch
//! commands that do not interfere) and decides, against the committed
//! projections, which events to append, or why not.

pub mod raw_append;

use authlog_events::{AppendBatch, Timestamp};
use authlog_projections::Projections;
use thiserror::Error;

pub use raw_append::RawAppend;

/// Why the domain refused a command (nothing is appended).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DomainError {
    /// The thing the command is about does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The command contradicts the current state.
    #[error("{0}")]
    Conflict(String),
    /// The command is not valid in itself.
    #[error("{0}")]
    Invalid(String),
}

/// The streams a decision depends on. Two commands interfere when one
/// writes a stream the other reads or writes; the writer never puts
/// interfering commands in the same batch, so every decision sees the
/// committed effect of every earlier one.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Access {
    /// Streams whose state the decision reads.
    pub reads: Vec<String>,
    /// Streams the decision may append to.
    pub writes: Vec<String>,
}

/// A command for the writer.
pub trait Decide: Send + 'static {
    /// The streams the decision reads and writes.
    fn access(&self) -> Access;

    /// Decides which events to append, against committed state at `now`.
    fn decide(&self, state: &Projections, now: Timestamp) -> Result<AppendBatch, DomainError>;
}
