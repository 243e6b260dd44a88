//! The record envelope: who did what, when, to which stream, and where it
//! sits in the hash chain. `NewEvent` is what a writer proposes;
//! `RecordedEvent` is what the log assigned and stored.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalogue::Event;
use crate::time::Timestamp;

/// Who caused an event.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Principal {
    /// authlog itself (bootstrap, expiry sweeps, cascades).
    System,
    /// An OAuth client acting for itself (client_credentials, RFC 7009 revoke).
    Client(String),
    /// A user (admin, auditor or member), possibly through a client's token.
    User(Uuid),
    /// Nobody authenticated (a failed login, an open registration).
    Anonymous,
}

impl Principal {
    /// Stable text form used in indexes and audit filters
    /// (`system`, `client:<id>`, `user:<uuid>`, `anonymous`).
    pub fn key(&self) -> String {
        match self {
            Principal::System => "system".to_owned(),
            Principal::Client(id) => format!("client:{id}"),
            Principal::User(id) => format!("user:{id}"),
            Principal::Anonymous => "anonymous".to_owned(),
        }
    }
}

/// The actor of an event: the principal, the client whose token it acted
/// through, and where the request came from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    /// Who.
    pub principal: Principal,
    /// The OAuth client holding the token the principal acted through, when
    /// that is not the principal itself (a user acting via `authlog-cli`
    /// tells integration activity from console activity).
    pub via_client: Option<String>,
    /// Source IP of the request, when there was one.
    pub ip: Option<IpAddr>,
    /// User agent of the request, when there was one (bounded length).
    pub user_agent: Option<String>,
}

impl Actor {
    /// authlog itself, with no request.
    pub fn system() -> Self {
        Actor {
            principal: Principal::System,
            via_client: None,
            ip: None,
            user_agent: None,
        }
    }
}

/// An event proposed for appending. The log assigns position, stream
/// version and hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    /// Idempotency key: appending the same id twice stores it once.
    pub event_id: Uuid,
    /// Aggregate stream, e.g. `client/<id>`.
    pub stream: String,
    /// When it happened (from the injected clock).
    pub recorded_at: Timestamp,
    /// Who did it.
    pub actor: Actor,
    /// The OAuth client it is attributed to.
    pub client_id: Option<String>,
    /// The request that caused it.
    pub correlation_id: Option<String>,
    /// The fact itself.
    pub payload: Event,
}

/// A stored event with everything the log assigned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// Global, gapless, from 1.
    pub position: u64,
    /// Aggregate stream.
    pub stream: String,
    /// Version within the stream, from 1.
    pub stream_version: u64,
    /// Idempotency key.
    pub event_id: Uuid,
    /// When it happened.
    pub recorded_at: Timestamp,
    /// Who did it.
    pub actor: Actor,
    /// The OAuth client it is attributed to.
    pub client_id: Option<String>,
    /// The request that caused it.
    pub correlation_id: Option<String>,
    /// The fact itself.
    pub payload: Event,
    /// Hash of the previous record (zeros for position 1).
    #[serde(with = "serde_bytes")]
    pub prev_hash: [u8; 32],
    /// SHA-256(prev_hash ‖ encoded body); not part of the encoded body.
    #[serde(skip)]
    pub hash: [u8; 32],
}
