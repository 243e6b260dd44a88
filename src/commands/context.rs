//! `EventContext`: who asks and which request, turned into event envelopes.

use authlog_events::{Actor, Event, NewEvent, Timestamp};
use uuid::Uuid;

/// The attribution every event of a command carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventContext {
    /// Who.
    pub actor: Actor,
    /// The request.
    pub correlation_id: Option<String>,
}

impl EventContext {
    /// authlog itself, outside any request (bootstrap).
    pub fn system() -> Self {
        EventContext {
            actor: Actor::system(),
            correlation_id: None,
        }
    }

    /// An event on `stream` attributed to `client_id`.
    pub fn event(
        &self,
        stream: String,
        client_id: &str,
        now: Timestamp,
        payload: Event,
    ) -> NewEvent {
        self.event_for(stream, Some(client_id), now, payload)
    }

    /// An event on `stream`, attributed to a client when there is one.
    pub fn event_for(
        &self,
        stream: String,
        client_id: Option<&str>,
        now: Timestamp,
        payload: Event,
    ) -> NewEvent {
        NewEvent {
            event_id: Uuid::now_v7(),
            stream,
            recorded_at: now,
            actor: self.actor.clone(),
            client_id: client_id.map(str::to_owned),
            correlation_id: self.correlation_id.clone(),
            payload,
        }
    }
}
