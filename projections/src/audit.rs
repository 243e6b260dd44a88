//! The audit read model: what auditors ask that the log's own redb indexes
//! do not answer.
//!
//! * The actor index: principal (`system`, `client:<id>`, `user:<uuid>`,
//!   `anonymous`) -> positions of the events it caused, ascending. It lives
//!   here, in memory, rebuilt by replay, rather than as a redb table: an
//!   index whose keys scatter dirties a page per event and halved the
//!   group-commit rate (see ARCHITECTURE.md). Eight bytes per event.
//! * Per-client summaries: registration, status history with who and when,
//!   token counters, failed authentications and last activity. They outlive
//!   the client (a deleted client's history is still asked about).
//!
//! The per-client list of events needs no model here: the log's
//! `client_index` table answers it.

use crate::FastMap;
use foldhash::quality::RandomState;
use serde::{Deserialize, Serialize};

use authlog_events::{
    Actor, Event, FailedSubject, GrantType, Principal, RecordedEvent, RegistrationType, Timestamp,
};

use crate::Projection;

/// A change in a client's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ClientChange {
    /// It came into existence.
    Registered,
    /// Its metadata changed.
    Updated,
    /// It got a new secret.
    SecretRotated,
    /// It was paused.
    Paused,
    /// It was resumed.
    Resumed,
    /// All of its tokens were revoked at once.
    TokensRevoked,
    /// It was deleted.
    Deleted,
}

impl ClientChange {
    /// `registered`, `updated`, `secret_rotated`, `paused`, `resumed`,
    /// `tokens_revoked`, `deleted`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientChange::Registered => "registered",
            ClientChange::Updated => "updated",
            ClientChange::SecretRotated => "secret_rotated",
            ClientChange::Paused => "paused",
            ClientChange::Resumed => "resumed",
            ClientChange::TokensRevoked => "tokens_revoked",
            ClientChange::Deleted => "deleted",
        }
    }
}

/// One entry of a client's status history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusEntry {
    /// What changed.
    pub change: ClientChange,
    /// When.
    pub at: Timestamp,
    /// Who did it, from where.
    pub actor: Actor,
    /// The event's position.
    pub position: u64,
}

/// How a client was registered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// How it came to exist.
    pub registration_type: RegistrationType,
    /// Its name at registration.
    pub client_name: String,
    /// When.
    pub at: Timestamp,
    /// Who registered it.
    pub actor: Actor,
    /// The event's position.
    pub position: u64,
}

/// What the log says about one client, over its whole life.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientAudit {
    /// Its registration (`None` if only failed authentications name it).
    pub registration: Option<Registration>,
    /// Lifecycle changes, oldest first.
    pub history: Vec<StatusEntry>,
    /// Tokens issued (access and refresh, every grant type).
    pub tokens_issued: u64,
    /// Tokens issued by a refresh (rotation).
    pub tokens_refreshed: u64,
    /// Active tokens revoked, as counted by each revoking event (revocations,
    /// revoke-all, pause and delete cascades).
    pub tokens_revoked: u64,
    /// Failed authentications presenting its id: one per
    /// `ClientAuthenticationFailed` (older logs), `failures` of each
    /// `AuthenticationFailures` summary.
    pub failed_authentications: u64,
    /// `LoginFailed` events attributed to it (user logins through it).
    pub failed_logins: u64,
    /// Events attributed to it.
    pub events: u64,
    /// Time of the last event attributed to it.
    pub last_activity: Option<Timestamp>,
    /// Whether it was deleted.
    pub deleted: bool,
}

/// The audit read model.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditIndex {
    by_actor: FastMap<Principal, Vec<u64>>,
    /// hashbrown's own map for `entry_ref`: one lookup per event, and the
    /// key is copied only for a new client.
    clients: hashbrown::HashMap<String, ClientAudit, RandomState>,
}

impl AuditIndex {
    /// Up to `limit` positions of events caused by `actor`, strictly before
    /// `before`, newest first.
    pub fn actor_positions_before(&self, actor: &Principal, before: u64, limit: usize) -> Vec<u64> {
        let Some(positions) = self.by_actor.get(actor) else {
            return Vec::new();
        };
        let end = positions.partition_point(|p| *p < before);
        positions[..end].iter().rev().take(limit).copied().collect()
    }

    /// How many events `actor` caused.
    pub fn actor_event_count(&self, actor: &Principal) -> usize {
        self.by_actor.get(actor).map_or(0, Vec::len)
    }

    /// The summary of a client, live or deleted.
    pub fn client(&self, client_id: &str) -> Option<&ClientAudit> {
        self.clients.get(client_id)
    }

    fn entry(&mut self, client_id: &str) -> &mut ClientAudit {
        self.clients.entry_ref(client_id).or_default()
    }

    fn change(&mut self, client_id: &str, change: ClientChange, event: &RecordedEvent) {
        self.entry(client_id).history.push(StatusEntry {
            change,
            at: event.recorded_at,
            actor: event.actor.clone(),
            position: event.position,
        });
    }
}

impl Projection for AuditIndex {
    fn apply(&mut self, event: &RecordedEvent) {
        // No allocation for a principal already seen.
        match self.by_actor.get_mut(&event.actor.principal) {
            Some(positions) => positions.push(event.position),
            None => {
                self.by_actor
                    .insert(event.actor.principal.clone(), vec![event.position]);
            }
        }
        if let Some(client_id) = &event.client_id {
            let summary = self.entry(client_id);
            summary.events += 1;
            summary.last_activity = Some(event.recorded_at);
        }
        match &event.payload {
            Event::ClientRegistered {
                client_id,
                registration_type,
                metadata,
                ..
            } => {
                self.entry(client_id).registration = Some(Registration {
                    registration_type: *registration_type,
                    client_name: metadata.client_name.clone(),
                    at: event.recorded_at,
                    actor: event.actor.clone(),
                    position: event.position,
                });
                self.change(client_id, ClientChange::Registered, event);
            }
            Event::ClientUpdated { client_id, .. } => {
                self.change(client_id, ClientChange::Updated, event)
            }
            Event::ClientSecretRotated { client_id, .. } => {
                self.change(client_id, ClientChange::SecretRotated, event)
            }
            Event::ClientPaused {
                client_id,
                tokens_revoked,
            } => {
                self.entry(client_id).tokens_revoked += tokens_revoked;
                self.change(client_id, ClientChange::Paused, event);
            }
            Event::ClientResumed { client_id } => {
                self.change(client_id, ClientChange::Resumed, event)
            }
            Event::ClientDeleted {
                client_id,
                tokens_revoked,
                ..
            } => {
                let summary = self.entry(client_id);
                summary.tokens_revoked += tokens_revoked;
                summary.deleted = true;
                self.change(client_id, ClientChange::Deleted, event);
            }
            Event::ClientTokensRevoked {
                client_id,
                tokens_revoked,
                ..
            } => {
                self.entry(client_id).tokens_revoked += tokens_revoked;
                self.change(client_id, ClientChange::TokensRevoked, event);
            }
            Event::TokenIssued {
                client_id,
                grant_type,
                ..
            } => {
                let summary = self.entry(client_id);
                summary.tokens_issued += 1;
                if *grant_type == GrantType::RefreshToken {
                    summary.tokens_refreshed += 1;
                }
            }
            Event::TokenRevoked {
                client_id,
                tokens_revoked,
                ..
            } => self.entry(client_id).tokens_revoked += tokens_revoked,
            Event::ClientAuthenticationFailed { client_id, .. } => {
                self.entry(client_id).failed_authentications += 1
            }
            Event::AuthenticationFailures {
                subject: FailedSubject::Client(client_id),
                failures,
                ..
            } => self.entry(client_id).failed_authentications += failures,
            Event::LoginFailed { .. } => {
                if let Some(client_id) = &event.client_id {
                    self.entry(client_id).failed_logins += 1;
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use authlog_events::{Principal, RevocationReason, RevocationTarget};
    use uuid::Uuid;

    use super::*;

    fn record(
        position: u64,
        actor: Principal,
        client: Option<&str>,
        payload: Event,
    ) -> RecordedEvent {
        RecordedEvent {
            position,
            stream: "s".into(),
            stream_version: position,
            event_id: Uuid::from_u128(position as u128),
            recorded_at: Timestamp(position as i64 * 1_000_000),
            actor: Actor {
                principal: actor,
                via_client: None,
                ip: None,
                user_agent: None,
            },
            client_id: client.map(str::to_owned),
            correlation_id: None,
            payload,
            prev_hash: [0; 32],
            hash: [0; 32],
        }
    }

    #[test]
    fn actor_positions_are_newest_first_and_strictly_before_the_cursor() {
        let mut index = AuditIndex::default();
        let user = Principal::User(Uuid::from_u128(7));
        for p in 1..=10 {
            let actor = if p % 2 == 0 {
                user.clone()
            } else {
                Principal::System
            };
            index.apply(&record(
                p,
                actor,
                None,
                Event::LoginSucceeded {
                    user_id: Uuid::nil(),
                },
            ));
        }
        let key = user.clone();
        assert_eq!(
            index.actor_positions_before(&key, u64::MAX, 3),
            vec![10, 8, 6]
        );
        assert_eq!(index.actor_positions_before(&key, 6, 10), vec![4, 2]);
        assert_eq!(
            index.actor_positions_before(&Principal::System, 2, 10),
            vec![1]
        );
        assert!(index
            .actor_positions_before(&Principal::Anonymous, u64::MAX, 10)
            .is_empty());
        assert_eq!(index.actor_event_count(&key), 5);
    }

    #[test]
    fn a_client_summary_counts_tokens_and_keeps_its_history_after_deletion() {
        let mut index = AuditIndex::default();
        let admin = Principal::Client("authlog-admin".into());
        let c = Some("svc");
        index.apply(&record(
            1,
            admin.clone(),
            c,
            Event::ClientPaused {
                client_id: "svc".into(),
                tokens_revoked: 2,
            },
        ));
        index.apply(&record(
            2,
            Principal::Client("svc".into()),
            c,
            Event::TokenRevoked {
                target: RevocationTarget::Token(Uuid::nil()),
                client_id: "svc".into(),
                reason: RevocationReason::RevokedByClient,
                tokens_revoked: 1,
            },
        ));
        index.apply(&record(
            3,
            Principal::Anonymous,
            c,
            Event::ClientAuthenticationFailed {
                client_id: "svc".into(),
                reason: authlog_events::AuthFailure::BadCredentials,
            },
        ));
        index.apply(&record(
            4,
            Principal::Anonymous,
            c,
            Event::LoginFailed {
                username: "mallory".into(),
                reason: authlog_events::AuthFailure::BadCredentials,
            },
        ));
        index.apply(&record(
            5,
            admin,
            c,
            Event::ClientDeleted {
                client_id: "svc".into(),
                tokens_revoked: 0,
                codes_revoked: 0,
            },
        ));
        let s = index.client("svc").unwrap();
        assert_eq!(s.tokens_revoked, 3);
        assert_eq!(s.failed_authentications, 1);
        assert_eq!(s.failed_logins, 1);
        assert_eq!(s.events, 5);
        assert!(s.deleted);
        assert_eq!(s.last_activity, Some(Timestamp(5_000_000)));
        let changes: Vec<_> = s.history.iter().map(|h| h.change).collect();
        assert_eq!(changes, vec![ClientChange::Paused, ClientChange::Deleted]);
    }
}
