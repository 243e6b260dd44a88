//! Upstream providers and users' connections to them: each provider's
//! configuration and sealed client secret, each (user, provider)
//! connection with its sealed tokens, data key, expiry and state, and
//! per-provider counts of what happened (connects, refreshes, hand-offs,
//! failures, disconnects), kept for deleted providers too.

use std::collections::{BTreeMap, BTreeSet};

use authlog_events::{Event, RecordedEvent, Timestamp, UpstreamProvider, UpstreamStage};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Projection;

/// One provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRecord {
    /// Its id.
    pub provider_id: String,
    /// Its configuration.
    pub provider: UpstreamProvider,
    /// authlog's client secret there, sealed under the vault key.
    pub sealed_client_secret: Option<Vec<u8>>,
    /// Registration time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Stream version (`ETag`).
    pub version: u64,
}

/// Whether a connection can hand out tokens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectionStatus {
    /// Its tokens work (as far as authlog knows).
    Active,
    /// The provider refused a refresh: the user must connect again.
    NeedsReconnect {
        /// What the provider said.
        reason: String,
        /// Since when.
        since: Timestamp,
    },
}

/// A user's connection to a provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// The user.
    pub user_id: Uuid,
    /// The provider.
    pub provider_id: String,
    /// The data key its tokens are sealed under.
    pub key_id: Uuid,
    /// The latest token response, sealed.
    pub sealed_tokens: Vec<u8>,
    /// When the access token expires, if the provider said.
    pub expires_at: Option<Timestamp>,
    /// When the access token was obtained (connect or last refresh).
    pub obtained_at: Timestamp,
    /// Scopes the provider granted.
    pub scopes: Vec<String>,
    /// Usable or not.
    pub status: ConnectionStatus,
    /// When it was made.
    pub connected_at: Timestamp,
    /// The last refresh.
    pub refreshed_at: Option<Timestamp>,
    /// The last hand-off: which client, when.
    pub last_handoff: Option<(String, Timestamp)>,
}

/// What happened with one provider.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderActivity {
    /// Connections made.
    pub connects: u64,
    /// Refreshes.
    pub refreshes: u64,
    /// Tokens handed to clients.
    pub handoffs: u64,
    /// Failures, by step.
    pub failures: BTreeMap<String, u64>,
    /// Connections ended.
    pub disconnects: u64,
    /// The last event about it.
    pub last_activity: Option<Timestamp>,
}

/// Every provider and connection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upstream {
    providers: BTreeMap<String, ProviderRecord>,
    deleted: BTreeSet<String>,
    connections: BTreeMap<(Uuid, String), Connection>,
    activity: BTreeMap<String, ProviderActivity>,
}

/// The name of a failure step in the activity counts.
pub fn stage_name(stage: UpstreamStage) -> &'static str {
    match stage {
        UpstreamStage::Connect => "connect",
        UpstreamStage::Refresh => "refresh",
        UpstreamStage::HandOff => "hand_off",
        UpstreamStage::Revoke => "revoke",
    }
}

impl Upstream {
    /// A live provider.
    pub fn provider(&self, id: &str) -> Option<&ProviderRecord> {
        self.providers.get(id)
    }

    /// Whether `id` belonged to a deleted provider (ids are never reused).
    pub fn was_deleted(&self, id: &str) -> bool {
        self.deleted.contains(id)
    }

    /// Live providers by id.
    pub fn providers(&self) -> impl Iterator<Item = &ProviderRecord> {
        self.providers.values()
    }

    /// A user's connection to a provider.
    pub fn connection(&self, user: &Uuid, provider_id: &str) -> Option<&Connection> {
        self.connections.get(&(*user, provider_id.to_owned()))
    }

    /// A user's connections, by provider id.
    pub fn connections_of_user<'a>(
        &'a self,
        user: &'a Uuid,
    ) -> impl Iterator<Item = &'a Connection> {
        self.connections
            .range((*user, String::new())..)
            .take_while(move |((u, _), _)| u == user)
            .map(|(_, c)| c)
    }

    /// A provider's connections, by user id.
    pub fn connections_of_provider<'a>(
        &'a self,
        provider_id: &'a str,
    ) -> impl Iterator<Item = &'a Connection> {
        self.connections
            .values()
            .filter(move |c| c.provider_id == provider_id)
    }

    /// Every connection.
    pub fn connections(&self) -> impl Iterator<Item = &Connection> {
        self.connections.values()
    }

    /// Whether a data key belongs to a live connection.
    pub fn key_in_use(&self, key_id: &Uuid) -> bool {
        self.connections.values().any(|c| c.key_id == *key_id)
    }

    /// What happened with a provider (also a deleted one).
    pub fn activity(&self, provider_id: &str) -> Option<&ProviderActivity> {
        self.activity.get(provider_id)
    }

    fn touch(&mut self, provider_id: &str, at: Timestamp) -> &mut ProviderActivity {
        let activity = self.activity.entry(provider_id.to_owned()).or_default();
        activity.last_activity = Some(at);
        activity
    }
}

impl Projection for Upstream {
    fn apply(&mut self, event: &RecordedEvent) {
        let at = event.recorded_at;
        match &event.payload {
            Event::UpstreamProviderRegistered {
                provider_id,
                provider,
                sealed_client_secret,
            } => {
                self.providers.insert(
                    provider_id.clone(),
                    ProviderRecord {
                        provider_id: provider_id.clone(),
                        provider: (**provider).clone(),
                        sealed_client_secret: sealed_client_secret.clone(),
                        created_at: at,
                        updated_at: at,
                        version: event.stream_version,
                    },
                );
                self.touch(provider_id, at);
            }
            Event::UpstreamProviderUpdated {
                provider_id,
                provider,
                sealed_client_secret,
            } => {
                if let Some(p) = self.providers.get_mut(provider_id) {
                    p.provider = (**provider).clone();
                    p.sealed_client_secret = sealed_client_secret.clone();
                    p.updated_at = at;
                    p.version = event.stream_version;
                }
                self.touch(provider_id, at);
            }
            Event::UpstreamProviderDeleted { provider_id } => {
                self.providers.remove(provider_id);
                self.deleted.insert(provider_id.clone());
                self.connections.retain(|(_, p), _| p != provider_id);
                self.touch(provider_id, at);
            }
            Event::UpstreamConnected {
                user_id,
                provider_id,
                key_id,
                sealed_tokens,
                expires_at,
                scopes,
            } => {
                self.connections.insert(
                    (*user_id, provider_id.clone()),
                    Connection {
                        user_id: *user_id,
                        provider_id: provider_id.clone(),
                        key_id: *key_id,
                        sealed_tokens: sealed_tokens.clone(),
                        expires_at: *expires_at,
                        obtained_at: at,
                        scopes: scopes.clone(),
                        status: ConnectionStatus::Active,
                        connected_at: at,
                        refreshed_at: None,
                        last_handoff: None,
                    },
                );
                self.touch(provider_id, at).connects += 1;
            }
            Event::UpstreamTokensRefreshed {
                user_id,
                provider_id,
                key_id,
                sealed_tokens,
                expires_at,
                scopes,
            } => {
                if let Some(c) = self.connections.get_mut(&(*user_id, provider_id.clone())) {
                    if c.key_id == *key_id {
                        c.sealed_tokens = sealed_tokens.clone();
                        c.expires_at = *expires_at;
                        c.obtained_at = at;
                        c.scopes = scopes.clone();
                        c.status = ConnectionStatus::Active;
                        c.refreshed_at = Some(at);
                    }
                }
                self.touch(provider_id, at).refreshes += 1;
            }
            Event::UpstreamFailed {
                user_id,
                provider_id,
                stage,
                reason,
                needs_reconnect,
            } => {
                if *needs_reconnect {
                    if let Some(c) = self.connections.get_mut(&(*user_id, provider_id.clone())) {
                        c.status = ConnectionStatus::NeedsReconnect {
                            reason: reason.clone(),
                            since: at,
                        };
                    }
                }
                *self
                    .touch(provider_id, at)
                    .failures
                    .entry(stage_name(*stage).to_owned())
                    .or_default() += 1;
            }
            Event::UpstreamTokenHandedOff {
                user_id,
                provider_id,
                client_id,
                ..
            } => {
                if let Some(c) = self.connections.get_mut(&(*user_id, provider_id.clone())) {
                    c.last_handoff = Some((client_id.clone(), at));
                }
                self.touch(provider_id, at).handoffs += 1;
            }
            Event::UpstreamDisconnected {
                user_id,
                provider_id,
                key_id,
                ..
            } => {
                let key = (*user_id, provider_id.clone());
                if self
                    .connections
                    .get(&key)
                    .is_some_and(|c| c.key_id == *key_id)
                {
                    self.connections.remove(&key);
                }
                self.touch(provider_id, at).disconnects += 1;
            }
            Event::UserDeleted { user_id } => {
                self.connections.retain(|(u, _), _| u != user_id);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use authlog_events::{Actor, DisconnectReason, TokenEndpointAuthMethod};

    fn provider() -> UpstreamProvider {
        UpstreamProvider {
            name: "Up".into(),
            issuer: None,
            authorization_url: "https://up.example/authorize".into(),
            token_url: "https://up.example/token".into(),
            revocation_url: None,
            userinfo_url: None,
            client_id: "authlog".into(),
            scopes: vec!["repo".into()],
            pkce: true,
            token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
            authorization_params: Vec::new(),
            allowed_clients: vec!["mcp".into()],
        }
    }

    fn record(position: u64, payload: Event) -> RecordedEvent {
        RecordedEvent {
            position,
            stream: "s".into(),
            stream_version: position,
            event_id: Uuid::from_u128(position as u128),
            recorded_at: Timestamp::from_unix_seconds(1_000 + position as i64),
            actor: Actor::system(),
            client_id: None,
            correlation_id: None,
            payload,
            prev_hash: [0; 32],
            hash: [0; 32],
        }
    }

    #[test]
    fn a_connection_lives_from_connect_to_disconnect_and_only_its_own_key_ends_it() {
        let user = Uuid::from_u128(7);
        let (old_key, new_key) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let connected = |key| Event::UpstreamConnected {
            user_id: user,
            provider_id: "up".into(),
            key_id: key,
            sealed_tokens: vec![1],
            expires_at: None,
            scopes: vec![],
        };
        let ended = |key| Event::UpstreamDisconnected {
            user_id: user,
            provider_id: "up".into(),
            key_id: key,
            reason: DisconnectReason::Reconnected,
        };
        let mut up = Upstream::default();
        for (i, e) in [
            Event::UpstreamProviderRegistered {
                provider_id: "up".into(),
                provider: Box::new(provider()),
                sealed_client_secret: None,
            },
            connected(old_key),
            Event::UpstreamFailed {
                user_id: user,
                provider_id: "up".into(),
                stage: UpstreamStage::Refresh,
                reason: "invalid_grant".into(),
                needs_reconnect: true,
            },
        ]
        .into_iter()
        .enumerate()
        {
            up.apply(&record(i as u64 + 1, e));
        }
        let c = up.connection(&user, "up").unwrap();
        assert!(matches!(c.status, ConnectionStatus::NeedsReconnect { .. }));
        // A reconnect ends the old key, then connects under the new one; a
        // late end of the old key leaves the new connection alone.
        up.apply(&record(4, ended(old_key)));
        up.apply(&record(5, connected(new_key)));
        up.apply(&record(6, ended(old_key)));
        let c = up.connection(&user, "up").unwrap();
        assert_eq!((c.key_id, &c.status), (new_key, &ConnectionStatus::Active));
        assert!(up.key_in_use(&new_key) && !up.key_in_use(&old_key));
        up.apply(&record(7, ended(new_key)));
        assert!(up.connection(&user, "up").is_none());
        let activity = up.activity("up").unwrap();
        assert_eq!((activity.connects, activity.disconnects), (2, 3));
        assert_eq!(activity.failures.get("refresh"), Some(&1));
    }
}
