//! `AuditItem`: one event as the audit API, its exports, its live feed and
//! the `authlog audit` command show it: position, time, type, actor,
//! client, correlation id, stream, a payload summary (`summary`) and the
//! record's hash.

use authlog_events::{Actor, RecordedEvent};
use serde::Serialize;
use serde_json::Value;

use super::summary::summarize;

/// Who caused an event, as shown to auditors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ActorView {
    /// `system`, `client:<id>`, `user:<uuid>` or `anonymous`.
    pub principal: String,
    /// The client whose token a user acted through.
    pub via_client: Option<String>,
    /// Source IP.
    pub ip: Option<String>,
    /// User agent.
    pub user_agent: Option<String>,
}

impl ActorView {
    /// The view of an actor.
    pub fn of(actor: &Actor) -> Self {
        ActorView {
            principal: actor.principal.key(),
            via_client: actor.via_client.clone(),
            ip: actor.ip.map(|ip| ip.to_string()),
            user_agent: actor.user_agent.clone(),
        }
    }
}

/// One event for an auditor.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditItem {
    /// Global position (also the SSE id).
    pub position: u64,
    /// RFC 3339 UTC.
    pub time: String,
    /// Catalogue type name.
    #[serde(rename = "type")]
    pub event_type: &'static str,
    /// Who.
    pub actor: ActorView,
    /// The client it is attributed to.
    pub client_id: Option<String>,
    /// The request that caused it.
    pub correlation_id: Option<String>,
    /// Its stream.
    pub stream: String,
    /// Safe payload fields.
    pub summary: Value,
    /// The record's chain hash (hex).
    pub hash: String,
}

impl AuditItem {
    /// The view of a record.
    pub fn of(record: &RecordedEvent) -> Self {
        AuditItem {
            position: record.position,
            time: record.recorded_at.to_rfc3339(),
            event_type: record.payload.type_name(),
            actor: ActorView::of(&record.actor),
            client_id: record.client_id.clone(),
            correlation_id: record.correlation_id.clone(),
            stream: record.stream.clone(),
            summary: summarize(&record.payload),
            hash: hex::encode(record.hash),
        }
    }
}
