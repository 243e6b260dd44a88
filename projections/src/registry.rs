//! The client registry: every live client with its metadata, status and
//! secret digests, plus the ids of deleted clients (never reusable).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use authlog_events::{
    AccessTokenFormat, ClientMetadata, Digest, Event, OidcSettings, RecordedEvent,
    RegistrationType, Timestamp,
};
use subtle::ConstantTimeEq;

use crate::Projection;

/// Whether a client may get tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ClientStatus {
    /// Normal.
    Active,
    /// No new tokens; its tokens were revoked when it was paused.
    Paused,
}

impl ClientStatus {
    /// `active` / `paused`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientStatus::Active => "active",
            ClientStatus::Paused => "paused",
        }
    }
}

/// One registered client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// The id.
    pub client_id: String,
    /// How it registered.
    pub registration_type: RegistrationType,
    /// Current metadata.
    pub metadata: ClientMetadata,
    /// Active or paused.
    pub status: ClientStatus,
    /// Digest of the current secret (confidential clients).
    pub secret_digest: Option<Digest>,
    /// The previous secret and the instant it stops working.
    pub previous_secret: Option<(Digest, Timestamp)>,
    /// Digest of the RFC 7592 registration access token.
    pub registration_access_token_digest: Option<Digest>,
    /// Registration time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Version of its stream (the admin API's `ETag`).
    pub version: u64,
    /// Whether the last registration/edit confirmed a high-risk setting.
    pub confirm_high_risk: bool,
    /// Opaque (default) or JWT access tokens.
    pub access_token_format: AccessTokenFormat,
    /// ID-token algorithm and back-channel logout.
    pub oidc: OidcSettings,
}

impl ClientRecord {
    /// Whether `presented` (the digest of a presented secret) is the current
    /// secret, or the previous one before its deadline. Both comparisons
    /// always run, in constant time.
    pub fn secret_matches(&self, presented: &Digest, now: Timestamp) -> bool {
        let current = self
            .secret_digest
            .map(|d| d.0.ct_eq(&presented.0).into())
            .unwrap_or(false);
        let previous = self
            .previous_secret
            .map(|(d, until)| bool::from(d.0.ct_eq(&presented.0)) && now < until)
            .unwrap_or(false);
        current | previous
    }
}

/// All clients.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registry {
    clients: BTreeMap<String, Arc<ClientRecord>>,
    deleted: HashSet<String>,
}

impl Registry {
    /// A live client.
    pub fn get(&self, client_id: &str) -> Option<&ClientRecord> {
        self.clients.get(client_id).map(|c| c.as_ref())
    }

    /// A live client, shared (cheap to keep past the read lock).
    pub fn get_shared(&self, client_id: &str) -> Option<Arc<ClientRecord>> {
        self.clients.get(client_id).cloned()
    }

    /// Whether this id was ever used (live or deleted).
    pub fn id_taken(&self, client_id: &str) -> bool {
        self.clients.contains_key(client_id) || self.deleted.contains(client_id)
    }

    /// Whether this id belonged to a deleted client.
    pub fn is_deleted(&self, client_id: &str) -> bool {
        self.deleted.contains(client_id)
    }

    /// Live clients in id order, starting after `after` when given.
    pub fn iter_from<'a>(
        &'a self,
        after: Option<&str>,
    ) -> impl Iterator<Item = &'a ClientRecord> + 'a {
        use std::ops::Bound;
        let lower = match after {
            Some(a) => Bound::Excluded(a.to_owned()),
            None => Bound::Unbounded,
        };
        self.clients
            .range::<String, _>((lower, Bound::Unbounded))
            .map(|(_, c)| c.as_ref())
    }

    /// Number of live clients.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether there are no live clients.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

impl Projection for Registry {
    fn apply(&mut self, event: &RecordedEvent) {
        let at = event.recorded_at;
        match &event.payload {
            Event::ClientRegistered {
                client_id,
                registration_type,
                metadata,
                secret_digest,
                registration_access_token_digest,
                confirm_high_risk,
            } => {
                self.clients.insert(
                    client_id.clone(),
                    Arc::new(ClientRecord {
                        client_id: client_id.clone(),
                        registration_type: *registration_type,
                        metadata: ClientMetadata::clone(metadata),
                        status: ClientStatus::Active,
                        secret_digest: *secret_digest,
                        previous_secret: None,
                        registration_access_token_digest: *registration_access_token_digest,
                        created_at: at,
                        updated_at: at,
                        version: event.stream_version,
                        confirm_high_risk: *confirm_high_risk,
                        access_token_format: AccessTokenFormat::Opaque,
                        oidc: OidcSettings::default(),
                    }),
                );
            }
            Event::ClientAccessTokenFormatSet { client_id, format } => {
                if let Some(c) = self.clients.get_mut(client_id).map(Arc::make_mut) {
                    c.access_token_format = *format;
                    c.updated_at = at;
                    c.version = event.stream_version;
                }
            }
            Event::ClientOidcSettingsSet {
                client_id,
                settings,
            } => {
                if let Some(c) = self.clients.get_mut(client_id).map(Arc::make_mut) {
                    c.oidc = settings.clone();
                    c.updated_at = at;
                    c.version = event.stream_version;
                }
            }
            Event::ClientUpdated {
                client_id,
                metadata,
                confirm_high_risk,
            } => {
                if let Some(c) = self.clients.get_mut(client_id).map(Arc::make_mut) {
                    c.metadata = ClientMetadata::clone(metadata);
                    c.confirm_high_risk = *confirm_high_risk;
                    c.updated_at = at;
                    c.version = event.stream_version;
                }
            }
            Event::ClientSecretRotated {
                client_id,
                secret_digest,
                previous_valid_until,
            } => {
                if let Some(c) = self.clients.get_mut(client_id).map(Arc::make_mut) {
                    c.previous_secret = c.secret_digest.map(|d| (d, *previous_valid_until));
                    c.secret_digest = Some(*secret_digest);
                    c.updated_at = at;
                    c.version = event.stream_version;
                }
            }
            Event::ClientPaused { client_id, .. } | Event::ClientResumed { client_id } => {
                if let Some(c) = self.clients.get_mut(client_id).map(Arc::make_mut) {
                    c.status = if matches!(event.payload, Event::ClientPaused { .. }) {
                        ClientStatus::Paused
                    } else {
                        ClientStatus::Active
                    };
                    c.updated_at = at;
                    c.version = event.stream_version;
                }
            }
            Event::ClientDeleted { client_id, .. } => {
                self.clients.remove(client_id);
                self.deleted.insert(client_id.clone());
            }
            _ => {}
        }
    }
}
