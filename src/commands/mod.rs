//! Commands: what a request asks the write side to do. Each command says
//! which streams its decision reads and writes (so the writer can batch
//! commands that do not interfere) and decides, against the committed
//! projections and an `Env` (time, ids, secrets), which events to append
//! and what the caller learns (a typed outcome), or why not. Handlers only
//! parse, authenticate, submit and render; every rule lives here.

pub mod clients;
pub mod context;
pub mod env;
pub mod grants;
pub mod issue;
pub mod keys;
pub mod raw_append;
pub mod rules;
pub mod tokens;
pub mod upstream;
pub mod users;

#[cfg(test)]
mod tests;

use authlog_events::{AppendBatch, NewEvent};
use authlog_projections::Projections;
use thiserror::Error;

pub use context::EventContext;
pub use env::Env;
pub use raw_append::RawAppend;

/// Why the domain refused a command (nothing is appended).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DomainError {
    /// The thing the command is about does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The id exists, or existed and was deleted.
    #[error("{0}")]
    Conflict(String),
    /// An `If-Match` version does not match the current one.
    #[error("version {expected} does not match current version {actual}")]
    PreconditionFailed {
        /// What the caller expected.
        expected: u64,
        /// What it is.
        actual: u64,
    },
    /// A field breaks a rule.
    #[error("{field}: {message}")]
    Invalid {
        /// The field, by its JSON name.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The client may not get tokens now.
    #[error("client {0} is paused")]
    ClientPaused(String),
    /// The client's credentials no longer hold (rotated or deleted meanwhile).
    #[error("client authentication failed")]
    ClientAuthFailed,
    /// Nothing is wrong with the request, but it cannot be done now
    /// (a random draw kept colliding); the caller may retry.
    #[error("{0}")]
    TryAgain(String),
    /// A grant cannot be exchanged (token endpoint errors).
    #[error(transparent)]
    Grant(#[from] GrantError),
}

/// Why a grant presented at the token endpoint yields no tokens
/// (RFC 6749 §5.2, RFC 8628 §3.5).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum GrantError {
    /// The code, refresh token or device code is invalid, expired, used or not this client's.
    #[error("{0}")]
    InvalidGrant(String),
    /// Asked for more scope than the grant holds.
    #[error("{0}")]
    InvalidScope(String),
    /// The client may not use this grant.
    #[error("{0}")]
    UnauthorizedClient(String),
    /// A `resource` the grant does not cover (RFC 8707).
    #[error("{0}")]
    InvalidTarget(String),
    /// The user has not decided yet.
    #[error("the user has not approved the request yet")]
    AuthorizationPending,
    /// Polled faster than the interval.
    #[error("polling too fast; wait longer between requests")]
    SlowDown,
    /// The user denied the request.
    #[error("the user denied the request")]
    AccessDenied,
    /// The device code expired.
    #[error("the device code has expired")]
    ExpiredToken,
}

impl From<crate::client_policy::FieldError> for DomainError {
    fn from(e: crate::client_policy::FieldError) -> Self {
        DomainError::Invalid {
            field: e.field,
            message: e.message,
        }
    }
}

/// The streams a decision depends on. Two commands interfere when one
/// writes a stream the other reads or writes; the writer never puts
/// interfering commands in the same batch, so every decision sees the
/// committed effect of every earlier one. Names are stream names, or
/// resource names that stand for a set of streams (`tokens-of/<client>`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Access {
    /// Streams whose state the decision reads.
    pub reads: Vec<String>,
    /// Streams the decision may append to.
    pub writes: Vec<String>,
}

impl Access {
    /// A decision that only appends to `streams` (reads nothing else).
    pub fn writes(streams: Vec<String>) -> Self {
        Access {
            reads: Vec::new(),
            writes: streams,
        }
    }
}

/// A command for the writer.
pub trait Command: Send + 'static {
    /// What the caller learns once the events are durable and applied.
    type Outcome: Send + 'static;

    /// The streams the decision reads and writes.
    fn access(&self) -> Access;

    /// Decides which events to append and the outcome, against committed
    /// state, at `env.now()`.
    fn decide(&self, state: &Projections, env: &Env)
        -> Result<Decided<Self::Outcome>, DomainError>;
}

/// A decision: the unit to append (possibly empty) and the outcome.
#[derive(Debug, Clone)]
pub struct Decided<O> {
    /// What to append, atomically.
    pub unit: AppendBatch,
    /// What the caller learns.
    pub outcome: O,
}

impl<O> Decided<O> {
    /// Appends `events` (no stream expectations).
    pub fn events(events: Vec<NewEvent>, outcome: O) -> Self {
        Decided {
            unit: AppendBatch::new(events),
            outcome,
        }
    }

    /// Appends a prepared unit.
    pub fn unit(unit: AppendBatch, outcome: O) -> Self {
        Decided { unit, outcome }
    }

    /// Appends nothing.
    pub fn nothing(outcome: O) -> Self {
        Decided {
            unit: AppendBatch::default(),
            outcome,
        }
    }
}

/// Stream of a client.
pub fn client_stream(client_id: &str) -> String {
    format!("client/{client_id}")
}

/// Stream of client-wide token revocations; also the resource that stands
/// for all tokens of a client in `Access`.
pub fn client_tokens_resource(client_id: &str) -> String {
    format!("client-tokens/{client_id}")
}

/// Stream of a user (profile, roles, disabling); token issuance for the
/// user reads it.
pub fn user_stream(user_id: &uuid::Uuid) -> String {
    format!("user/{user_id}")
}

/// Stream of a grant family.
pub fn grant_stream(family_id: &uuid::Uuid) -> String {
    format!("grant/{family_id}")
}
