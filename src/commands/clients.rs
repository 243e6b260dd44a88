//! Client lifecycle commands: register (admin, dynamic, metadata
//! document), edit, rotate the secret, pause, resume, delete (one or many,
//! atomically) and revoke all of a client's tokens.

use authlog_events::{
    AccessTokenFormat, AppendBatch, ClientMetadata, Digest, Event, ExpectedVersion, OidcSettings,
    RegistrationType, RevocationReason, SigningAlgorithm, TokenEndpointAuthMethod,
};
use authlog_projections::{ClientStatus, Projections};

use super::rules::{
    expected_version, keeps_a_way_in, live_client, metadata_admits, not_the_callers_client,
};
use super::{
    client_stream, client_tokens_resource, Access, Command, Decided, DomainError, Env, EventContext,
};
use crate::client_document::{check_self_registered, merge_client_owned};
use crate::client_policy::{self, validate_client_id, Warning};
use crate::secrets::SecretKind;

/// Whether the client registered itself (RFC 7591 or a metadata document):
/// such clients never hold authlog's own API scopes.
fn self_registered(registration_type: RegistrationType) -> bool {
    matches!(
        registration_type,
        RegistrationType::Dynamic | RegistrationType::Cimd
    )
}

/// 16 random bytes for a version 4 UUID.
fn random_16(env: &Env) -> [u8; 16] {
    let mut bytes = [0; 16];
    bytes.copy_from_slice(&env.bytes()[..16]);
    bytes
}

/// A new client, as the caller learns it: the secrets exist only here.
#[derive(Clone, PartialEq, Eq)]
pub struct Registered {
    /// Its id.
    pub client_id: String,
    /// The client secret (confidential clients).
    pub client_secret: Option<String>,
    /// The RFC 7592 registration access token (dynamic clients).
    pub registration_access_token: Option<String>,
    /// What the client policy warns about.
    pub warnings: Vec<Warning>,
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered")
            .field("client_id", &self.client_id)
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

/// Registers a new client. An id given must never have been used; none
/// given draws a new one. Confidential clients get a secret, dynamic
/// clients a registration access token.
pub struct RegisterClient {
    /// The id, when the caller chose one.
    pub client_id: Option<String>,
    /// How it registers.
    pub registration_type: RegistrationType,
    /// Metadata (validated here against the client policy).
    pub metadata: ClientMetadata,
    /// The digest of a secret chosen beforehand (provisioning writes it to
    /// a file before registering, so a crash never loses it); `None`: a
    /// confidential client gets a new one.
    pub preset_secret: Option<Digest>,
    /// The admin confirmed a high-risk configuration.
    pub confirm_high_risk: bool,
    /// Opaque (default) or JWT access tokens.
    pub access_token_format: AccessTokenFormat,
    /// ID-token algorithm and back-channel logout.
    pub oidc: OidcSettings,
    /// Attribution.
    pub ctx: EventContext,
}

/// A change of a client's OpenID Connect settings; `None`: unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OidcEdit {
    /// `id_token_signed_response_alg`.
    pub id_token_signed_response_alg: Option<SigningAlgorithm>,
    /// `backchannel_logout_uri` (`Some(None)` removes it).
    pub backchannel_logout_uri: Option<Option<String>>,
    /// `backchannel_logout_session_required`.
    pub backchannel_logout_session_required: Option<bool>,
}

impl OidcEdit {
    /// `current` with this edit applied.
    pub fn apply(&self, current: &OidcSettings) -> OidcSettings {
        OidcSettings {
            id_token_signed_response_alg: self
                .id_token_signed_response_alg
                .unwrap_or(current.id_token_signed_response_alg),
            backchannel_logout_uri: self
                .backchannel_logout_uri
                .clone()
                .unwrap_or_else(|| current.backchannel_logout_uri.clone()),
            backchannel_logout_session_required: self
                .backchannel_logout_session_required
                .unwrap_or(current.backchannel_logout_session_required),
        }
    }
}

impl Command for RegisterClient {
    type Outcome = Registered;

    fn access(&self) -> Access {
        // A drawn id is new: nothing else can touch its stream.
        Access::writes(self.client_id.iter().map(|id| client_stream(id)).collect())
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<Registered>, DomainError> {
        let client_id = match &self.client_id {
            Some(id) => {
                validate_client_id(id)?;
                id.clone()
            }
            // Random, not time-ordered: an id does not tell when it was made.
            None => uuid::Builder::from_random_bytes(random_16(env))
                .into_uuid()
                .to_string(),
        };
        if self_registered(self.registration_type) {
            check_self_registered(&self.metadata)?;
        }
        let warnings = client_policy::validate(&self.metadata, self.confirm_high_risk)?;
        if state.registry.is_deleted(&client_id) {
            return Err(DomainError::Conflict(format!(
                "client id {client_id} belonged to a deleted client and cannot be registered again"
            )));
        }
        if state.registry.id_taken(&client_id) {
            return Err(DomainError::Conflict(format!(
                "client {client_id} already exists"
            )));
        }
        let confidential =
            self.metadata.token_endpoint_auth_method != TokenEndpointAuthMethod::None;
        let secret = (confidential && self.preset_secret.is_none())
            .then(|| env.mint(SecretKind::ClientSecret));
        let secret_digest = self
            .preset_secret
            .filter(|_| confidential)
            .or(secret.as_ref().map(|s| s.digest));
        let rat = (self.registration_type == RegistrationType::Dynamic)
            .then(|| env.mint(SecretKind::RegistrationAccessToken));
        let stream = client_stream(&client_id);
        let event = self.ctx.event(
            env,
            stream.clone(),
            &client_id,
            Event::ClientRegistered {
                client_id: client_id.clone(),
                registration_type: self.registration_type,
                metadata: Box::new(self.metadata.clone()),
                secret_digest,
                registration_access_token_digest: rat.as_ref().map(|r| r.digest),
                confirm_high_risk: self.confirm_high_risk,
            },
        );
        let mut events = vec![event];
        if self.access_token_format != AccessTokenFormat::Opaque {
            events.push(self.ctx.event(
                env,
                stream.clone(),
                &client_id,
                Event::ClientAccessTokenFormatSet {
                    client_id: client_id.clone(),
                    format: self.access_token_format,
                },
            ));
        }
        if self.oidc != OidcSettings::default() {
            events.push(self.ctx.event(
                env,
                stream.clone(),
                &client_id,
                Event::ClientOidcSettingsSet {
                    client_id: client_id.clone(),
                    settings: self.oidc.clone(),
                },
            ));
        }
        let outcome = Registered {
            client_id,
            client_secret: secret.map(|s| s.value),
            registration_access_token: rat.map(|r| r.value),
            warnings,
        };
        Ok(Decided::unit(
            AppendBatch::new(events).expect(stream, ExpectedVersion::NoStream),
            outcome,
        ))
    }
}

/// An edit of a client's metadata, applied to the metadata current at decision time.
pub type Edit =
    Box<dyn Fn(&ClientMetadata) -> Result<ClientMetadata, client_policy::FieldError> + Send>;

/// Edits a client. The edit runs against the committed metadata, so
/// concurrent edits of different fields never lose each other. The
/// outcome is the client policy's warnings about the result.
pub struct UpdateClient {
    /// The client.
    pub client_id: String,
    /// The change.
    pub edit: Edit,
    /// The admin confirmed a high-risk configuration.
    pub confirm_high_risk: bool,
    /// A new access-token format, when the edit sets one.
    pub access_token_format: Option<AccessTokenFormat>,
    /// Changes to the OpenID Connect settings.
    pub oidc: OidcEdit,
    /// `If-Match` version, when given.
    pub expected_version: Option<u64>,
    /// The client edits itself (RFC 7592): the rules for self-registered
    /// clients apply. An admin's edit may go beyond them.
    pub by_client: bool,
    /// Attribution.
    pub ctx: EventContext,
}

impl Command for UpdateClient {
    type Outcome = Vec<Warning>;

    fn access(&self) -> Access {
        Access::writes(vec![client_stream(&self.client_id)])
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<Vec<Warning>>, DomainError> {
        let client = live_client(state, &self.client_id)?;
        expected_version(self.expected_version, client.version)?;
        let metadata = (self.edit)(&client.metadata)?;
        if self.by_client {
            check_self_registered(&metadata)?;
        }
        let warnings = client_policy::validate(&metadata, self.confirm_high_risk)?;
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
        let format = self
            .access_token_format
            .filter(|f| *f != client.access_token_format);
        let oidc = Some(self.oidc.apply(&client.oidc)).filter(|o| *o != client.oidc);
        let unchanged =
            metadata == client.metadata && self.confirm_high_risk == client.confirm_high_risk;
        if unchanged && format.is_none() && oidc.is_none() {
            return Ok(Decided::nothing(warnings));
        }
        if !metadata_admits(&metadata) {
            keeps_a_way_in(state, &[&self.client_id], None)?;
        }
        let stream = client_stream(&self.client_id);
        let mut events = Vec::with_capacity(3);
        if !unchanged {
            events.push(self.ctx.event(
                env,
                stream.clone(),
                &self.client_id,
                Event::ClientUpdated {
                    client_id: self.client_id.clone(),
                    metadata: Box::new(metadata),
                    confirm_high_risk: self.confirm_high_risk,
                },
            ));
        }
        if let Some(format) = format {
            events.push(self.ctx.event(
                env,
                stream.clone(),
                &self.client_id,
                Event::ClientAccessTokenFormatSet {
                    client_id: self.client_id.clone(),
                    format,
                },
            ));
        }
        if let Some(settings) = oidc {
            events.push(self.ctx.event(
                env,
                stream.clone(),
                &self.client_id,
                Event::ClientOidcSettingsSet {
                    client_id: self.client_id.clone(),
                    settings,
                },
            ));
        }
        Ok(Decided::unit(
            AppendBatch::new(events).expect(stream, ExpectedVersion::Exact(client.version)),
            warnings,
        ))
    }
}

/// Gives a confidential client a new secret; the old one works for
/// `grace_seconds` more. The outcome is the new secret.
pub struct RotateSecret {
    /// The client.
    pub client_id: String,
    /// How long the previous secret keeps working (0 = not at all).
    pub grace_seconds: i64,
    /// Attribution.
    pub ctx: EventContext,
}

impl Command for RotateSecret {
    type Outcome = String;

    fn access(&self) -> Access {
        Access::writes(vec![client_stream(&self.client_id)])
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<String>, DomainError> {
        let client = live_client(state, &self.client_id)?;
        if client.secret_digest.is_none() {
            return Err(DomainError::Conflict(format!(
                "client {} is public and has no secret to rotate",
                self.client_id
            )));
        }
        let secret = env.mint(SecretKind::ClientSecret);
        let event = self.ctx.event(
            env,
            client_stream(&self.client_id),
            &self.client_id,
            Event::ClientSecretRotated {
                client_id: self.client_id.clone(),
                secret_digest: secret.digest,
                previous_valid_until: env.now().plus_seconds(self.grace_seconds),
            },
        );
        Ok(Decided::events(vec![event], secret.value))
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

impl Command for SetClientStatus {
    type Outcome = ();

    fn access(&self) -> Access {
        Access::writes(vec![
            client_stream(&self.client_id),
            client_tokens_resource(&self.client_id),
        ])
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<()>, DomainError> {
        let client = live_client(state, &self.client_id)?;
        if client.status == self.status {
            return Ok(Decided::nothing(()));
        }
        if self.status == ClientStatus::Paused {
            not_the_callers_client(&self.ctx, &self.client_id, "pause")?;
            keeps_a_way_in(state, &[&self.client_id], None)?;
        }
        let payload = match self.status {
            ClientStatus::Paused => Event::ClientPaused {
                client_id: self.client_id.clone(),
                tokens_revoked: state.tokens.active_count(&self.client_id, env.now()),
            },
            ClientStatus::Active => Event::ClientResumed {
                client_id: self.client_id.clone(),
            },
        };
        let event = self.ctx.event(
            env,
            client_stream(&self.client_id),
            &self.client_id,
            payload,
        );
        Ok(Decided::events(vec![event], ()))
    }
}

/// Deletes clients, all or none: every id must be a live client. The
/// outcome is how many were deleted.
pub struct DeleteClients {
    /// The clients (no duplicates).
    pub client_ids: Vec<String>,
    /// The client deletes itself (RFC 7592, with its registration access
    /// token). Otherwise the caller's own client may not be among them.
    pub by_client: bool,
    /// Attribution.
    pub ctx: EventContext,
}

impl Command for DeleteClients {
    type Outcome = usize;

    fn access(&self) -> Access {
        let mut writes = Vec::with_capacity(self.client_ids.len() * 2);
        for id in &self.client_ids {
            writes.push(client_stream(id));
            writes.push(client_tokens_resource(id));
        }
        Access::writes(writes)
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<usize>, DomainError> {
        let mut events = Vec::with_capacity(self.client_ids.len());
        for id in self.client_ids.iter().filter(|_| !self.by_client) {
            not_the_callers_client(&self.ctx, id, "delete")?;
        }
        let ids: Vec<&str> = self.client_ids.iter().map(String::as_str).collect();
        for id in &self.client_ids {
            if state.registry.is_deleted(id) {
                return Err(DomainError::Conflict(format!(
                    "client {id} is already deleted"
                )));
            }
            live_client(state, id)?;
            events.push(self.ctx.event(
                env,
                client_stream(id),
                id,
                Event::ClientDeleted {
                    client_id: id.clone(),
                    tokens_revoked: state.tokens.active_count(id, env.now()),
                    codes_revoked: 0,
                },
            ));
        }
        keeps_a_way_in(state, &ids, None)?;
        let count = events.len();
        Ok(Decided::events(events, count))
    }
}

/// Revokes every active token of a client in one event; the outcome is
/// how many.
pub struct RevokeClientTokens {
    /// The client.
    pub client_id: String,
    /// Why.
    pub reason: RevocationReason,
    /// Attribution.
    pub ctx: EventContext,
}

impl Command for RevokeClientTokens {
    type Outcome = u64;

    fn access(&self) -> Access {
        Access {
            reads: vec![client_stream(&self.client_id)],
            writes: vec![client_tokens_resource(&self.client_id)],
        }
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<u64>, DomainError> {
        live_client(state, &self.client_id)?;
        let count = state.tokens.active_count(&self.client_id, env.now());
        let event = self.ctx.event(
            env,
            client_tokens_resource(&self.client_id),
            &self.client_id,
            Event::ClientTokensRevoked {
                client_id: self.client_id.clone(),
                reason: self.reason,
                tokens_revoked: count,
            },
        );
        Ok(Decided::events(vec![event], count))
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

impl UpsertDocumentClient {
    /// Whether the document would change nothing for the client as
    /// `state` has it (`None`: no such client yet).
    pub fn is_current(
        state: &Projections,
        client_id: &str,
        metadata: &ClientMetadata,
    ) -> Option<bool> {
        state
            .registry
            .get(client_id)
            .map(|c| merge_client_owned(&c.metadata, metadata) == c.metadata)
    }
}

impl Command for UpsertDocumentClient {
    type Outcome = ();

    fn access(&self) -> Access {
        Access::writes(vec![client_stream(&self.client_id)])
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<()>, DomainError> {
        if state.registry.is_deleted(&self.client_id) {
            return Err(DomainError::Conflict(format!(
                "client {} was deleted",
                self.client_id
            )));
        }
        check_self_registered(&self.metadata)?;
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
                let metadata = merge_client_owned(&c.metadata, &self.metadata);
                if metadata == c.metadata {
                    return Ok(Decided::nothing(()));
                }
                Event::ClientUpdated {
                    client_id: self.client_id.clone(),
                    metadata: Box::new(metadata),
                    confirm_high_risk: c.confirm_high_risk,
                }
            }
        };
        let event = self.ctx.event(
            env,
            client_stream(&self.client_id),
            &self.client_id,
            payload,
        );
        Ok(Decided::events(vec![event], ()))
    }
}
