//! Client lifecycle commands: register, edit, rotate the secret, pause,
//! resume, delete (one or many, atomically) and revoke all of a client's
//! tokens.

use authlog_events::{
    AppendBatch, ClientMetadata, Digest, Event, ExpectedVersion, RegistrationType,
    RevocationReason, Timestamp, TokenEndpointAuthMethod,
};
use authlog_projections::{ClientRecord, ClientStatus, Projections};

use super::{client_stream, client_tokens_resource, Access, Decide, DomainError, EventContext};
use crate::client_policy;

fn live<'a>(state: &'a Projections, client_id: &str) -> Result<&'a ClientRecord, DomainError> {
    state
        .registry
        .get(client_id)
        .ok_or_else(|| DomainError::NotFound(format!("client {client_id}")))
}

/// Registers a new client. The id must never have been used.
pub struct RegisterClient {
    /// The id.
    pub client_id: String,
    /// How it registers.
    pub registration_type: RegistrationType,
    /// Validated metadata.
    pub metadata: ClientMetadata,
    /// Secret digest for confidential clients.
    pub secret_digest: Option<Digest>,
    /// RFC 7592 registration access token digest.
    pub registration_access_token_digest: Option<Digest>,
    /// The admin confirmed a high-risk configuration.
    pub confirm_high_risk: bool,
    /// Attribution.
    pub ctx: EventContext,
}

impl Decide for RegisterClient {
    fn access(&self) -> Access {
        Access::writes(vec![client_stream(&self.client_id)])
    }

    fn decide(&self, state: &Projections, now: Timestamp) -> Result<AppendBatch, DomainError> {
        if state.registry.is_deleted(&self.client_id) {
            return Err(DomainError::Conflict(format!(
                "client id {} belonged to a deleted client and cannot be registered again",
                self.client_id
            )));
        }
        if state.registry.id_taken(&self.client_id) {
            return Err(DomainError::Conflict(format!(
                "client {} already exists",
                self.client_id
            )));
        }
        let stream = client_stream(&self.client_id);
        let event = self.ctx.event(
            stream.clone(),
            &self.client_id,
            now,
            Event::ClientRegistered {
                client_id: self.client_id.clone(),
                registration_type: self.registration_type,
                metadata: Box::new(self.metadata.clone()),
                secret_digest: self.secret_digest,
                registration_access_token_digest: self.registration_access_token_digest,
                confirm_high_risk: self.confirm_high_risk,
            },
        );
        Ok(AppendBatch::new(vec![event]).expect(stream, ExpectedVersion::NoStream))
    }
}

/// An edit of a client's metadata, applied to the metadata current at decision time.
pub type Edit =
    Box<dyn Fn(&ClientMetadata) -> Result<ClientMetadata, client_policy::FieldError> + Send>;

/// Edits a client. The edit runs against the committed metadata, so
/// concurrent edits of different fields never lose each other.
pub struct UpdateClient {
    /// The client.
    pub client_id: String,
    /// The change.
    pub edit: Edit,
    /// The admin confirmed a high-risk configuration.
    pub confirm_high_risk: bool,
    /// `If-Match` version, when given.
    pub expected_version: Option<u64>,
    /// Attribution.
    pub ctx: EventContext,
}

impl Decide for UpdateClient {
    fn access(&self) -> Access {
        Access::writes(vec![client_stream(&self.client_id)])
    }

    fn decide(&self, state: &Projections, now: Timestamp) -> Result<AppendBatch, DomainError> {
        let client = live(state, &self.client_id)?;
        if let Some(expected) = self.expected_version {
            if expected != client.version {
                return Err(DomainError::PreconditionFailed {
                    expected,
                    actual: client.version,
                });
            }
        }
        let metadata = (self.edit)(&client.metadata)?;
        client_policy::validate(&metadata, self.confirm_high_risk)?;
        if client.secret_digest.is_none()
            && metadata.token_endpoint_auth_method != TokenEndpointAuthMethod::None
        {
            return Err(DomainError::Invalid {
                field: "token_endpoint_auth_method".into(),
                message:
                    "a public client cannot become confidential by an edit; register a new client"
                        .into(),
            });
        }
        if metadata == client.metadata && self.confirm_high_risk == client.confirm_high_risk {
            return Ok(AppendBatch::default());
        }
        let stream = client_stream(&self.client_id);
        let event = self.ctx.event(
            stream.clone(),
            &self.client_id,
            now,
            Event::ClientUpdated {
                client_id: self.client_id.clone(),
                metadata: Box::new(metadata),
                confirm_high_risk: self.confirm_high_risk,
            },
        );
        Ok(AppendBatch::new(vec![event]).expect(stream, ExpectedVersion::Exact(client.version)))
    }
}

/// Gives a confidential client a new secret; the old one works for `grace_seconds` more.
pub struct RotateSecret {
    /// The client.
    pub client_id: String,
    /// Digest of the new secret.
    pub secret_digest: Digest,
    /// How long the previous secret keeps working (0 = not at all).
    pub grace_seconds: i64,
    /// Attribution.
    pub ctx: EventContext,
}

impl Decide for RotateSecret {
    fn access(&self) -> Access {
        Access::writes(vec![client_stream(&self.client_id)])
    }

    fn decide(&self, state: &Projections, now: Timestamp) -> Result<AppendBatch, DomainError> {
        let client = live(state, &self.client_id)?;
        if client.secret_digest.is_none() {
            return Err(DomainError::Conflict(format!(
                "client {} is public and has no secret to rotate",
                self.client_id
            )));
        }
        let event = self.ctx.event(
            client_stream(&self.client_id),
            &self.client_id,
            now,
            Event::ClientSecretRotated {
                client_id: self.client_id.clone(),
                secret_digest: self.secret_digest,
                previous_valid_until: now.plus_seconds(self.grace_seconds),
            },
        );
        Ok(AppendBatch::new(vec![event]))
    }
}

/// Pauses or resumes a client. Pausing revokes all its active tokens in the
/// same event. Asking for the state it is already in appends nothing.
pub struct SetClientStatus {
    /// The client.
    pub client_id: String,
    /// The wanted status.
    pub status: ClientStatus,
    /// Attribution.
    pub ctx: EventContext,
}

impl Decide for SetClientStatus {
    fn access(&self) -> Access {
        Access::writes(vec![
            client_stream(&self.client_id),
            client_tokens_resource(&self.client_id),
        ])
    }

    fn decide(&self, state: &Projections, now: Timestamp) -> Result<AppendBatch, DomainError> {
        let client = live(state, &self.client_id)?;
        if client.status == self.status {
            return Ok(AppendBatch::default());
        }
        let payload = match self.status {
            ClientStatus::Paused => Event::ClientPaused {
                client_id: self.client_id.clone(),
                tokens_revoked: state.tokens.active_count(&self.client_id, now),
            },
            ClientStatus::Active => Event::ClientResumed {
                client_id: self.client_id.clone(),
            },
        };
        let event = self.ctx.event(
            client_stream(&self.client_id),
            &self.client_id,
            now,
            payload,
        );
        Ok(AppendBatch::new(vec![event]))
    }
}

/// Deletes clients, all or none: every id must be a live client.
pub struct DeleteClients {
    /// The clients (no duplicates).
    pub client_ids: Vec<String>,
    /// Attribution.
    pub ctx: EventContext,
}

impl Decide for DeleteClients {
    fn access(&self) -> Access {
        let mut writes = Vec::with_capacity(self.client_ids.len() * 2);
        for id in &self.client_ids {
            writes.push(client_stream(id));
            writes.push(client_tokens_resource(id));
        }
        Access::writes(writes)
    }

    fn decide(&self, state: &Projections, now: Timestamp) -> Result<AppendBatch, DomainError> {
        let mut events = Vec::with_capacity(self.client_ids.len());
        for id in &self.client_ids {
            if state.registry.is_deleted(id) {
                return Err(DomainError::Conflict(format!(
                    "client {id} is already deleted"
                )));
            }
            live(state, id)?;
            events.push(self.ctx.event(
                client_stream(id),
                id,
                now,
                Event::ClientDeleted {
                    client_id: id.clone(),
                    tokens_revoked: state.tokens.active_count(id, now),
                    codes_revoked: 0,
                },
            ));
        }
        Ok(AppendBatch::new(events))
    }
}

/// Revokes every active token of a client in one event.
pub struct RevokeClientTokens {
    /// The client.
    pub client_id: String,
    /// Why.
    pub reason: RevocationReason,
    /// Attribution.
    pub ctx: EventContext,
}

impl Decide for RevokeClientTokens {
    fn access(&self) -> Access {
        Access {
            reads: vec![client_stream(&self.client_id)],
            writes: vec![client_tokens_resource(&self.client_id)],
        }
    }

    fn decide(&self, state: &Projections, now: Timestamp) -> Result<AppendBatch, DomainError> {
        live(state, &self.client_id)?;
        let count = state.tokens.active_count(&self.client_id, now);
        let event = self.ctx.event(
            client_tokens_resource(&self.client_id),
            &self.client_id,
            now,
            Event::ClientTokensRevoked {
                client_id: self.client_id.clone(),
                reason: self.reason,
                tokens_revoked: count,
            },
        );
        Ok(AppendBatch::new(vec![event]))
    }
}

/// Registers or refreshes a client from its metadata document: the first
/// use appends `ClientRegistered` (type `cimd`), a changed document
/// `ClientUpdated`, an unchanged one nothing. A deleted id stays deleted.
pub struct UpsertDocumentClient {
    /// The document URL.
    pub client_id: String,
    /// Metadata from the document.
    pub metadata: ClientMetadata,
    /// Attribution.
    pub ctx: EventContext,
}

impl Decide for UpsertDocumentClient {
    fn access(&self) -> Access {
        Access::writes(vec![client_stream(&self.client_id)])
    }

    fn decide(&self, state: &Projections, now: Timestamp) -> Result<AppendBatch, DomainError> {
        if state.registry.is_deleted(&self.client_id) {
            return Err(DomainError::Conflict(format!(
                "client {} was deleted",
                self.client_id
            )));
        }
        let stream = client_stream(&self.client_id);
        let payload = match state.registry.get(&self.client_id) {
            None => Event::ClientRegistered {
                client_id: self.client_id.clone(),
                registration_type: RegistrationType::Cimd,
                metadata: Box::new(self.metadata.clone()),
                secret_digest: None,
                registration_access_token_digest: None,
                confirm_high_risk: false,
            },
            Some(c) => {
                let metadata =
                    crate::client_document::merge_client_owned(&c.metadata, &self.metadata);
                if metadata == c.metadata {
                    return Ok(AppendBatch::default());
                }
                Event::ClientUpdated {
                    client_id: self.client_id.clone(),
                    metadata: Box::new(metadata),
                    confirm_high_risk: c.confirm_high_risk,
                }
            }
        };
        Ok(AppendBatch::new(vec![self.ctx.event(
            stream,
            &self.client_id,
            now,
            payload,
        )]))
    }
}
