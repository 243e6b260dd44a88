//! `EventContext`: who asks and which request, turned into event envelopes.

use authlog_events::{Actor, Event, NewEvent};

use super::Env;

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
    pub fn event(&self, env: &Env, stream: String, client_id: &str, payload: Event) -> NewEvent {
        self.event_for(env, stream, Some(client_id), payload)
    }

    /// An event on `stream`, attributed to a client when there is one.
    pub fn event_for(
        &self,
        env: &Env,
        stream: String,
        client_id: Option<&str>,
        payload: Event,
    ) -> NewEvent {
        NewEvent {
            event_id: env.id(),
            stream,
            recorded_at: env.now(),
            actor: self.actor.clone(),
            client_id: client_id.map(str::to_owned),
            correlation_id: self.correlation_id.clone(),
            payload,
        }
    }
}
