//! Upstream provider commands: register, edit and delete a provider;
//! connect, refresh, fail, hand off and disconnect a user's connection.
//! Tokens and client secrets arrive here already sealed (`crate::vault`);
//! a command never sees one in the clear. Ending a connection, for any
//! reason, is one `UpstreamDisconnected` naming the data key to destroy,
//! which the outcome hands back so the caller destroys it after commit.

use authlog_events::{
    AppendBatch, DisconnectReason, Event, ExpectedVersion, NewEvent, Timestamp, UpstreamProvider,
    UpstreamStage,
};
use authlog_projections::{ConnectionStatus, Projections, ProviderRecord};
use uuid::Uuid;

use super::rules::{expected_version, live_client};
use super::{client_stream, user_stream, Access, Command, Decided, DomainError, Env, EventContext};

/// Stream of a provider.
pub fn provider_stream(provider_id: &str) -> String {
    format!("upstream-provider/{provider_id}")
}

/// Stream of a user's connection to a provider.
pub fn connection_stream(user: &Uuid, provider_id: &str) -> String {
    format!("upstream/{user}/{provider_id}")
}

/// The resource every command that ends many connections at once writes,
/// so two of them never share a batch (and never end one connection twice).
const MANY_CONNECTIONS: &str = "upstream-connections";

fn live_provider<'a>(state: &'a Projections, id: &str) -> Result<&'a ProviderRecord, DomainError> {
    state
        .upstream
        .provider(id)
        .ok_or_else(|| DomainError::NotFound(format!("upstream provider {id}")))
}

/// Registers a provider.
pub struct RegisterProvider {
    /// Its id.
    pub provider_id: String,
    /// Its configuration.
    pub provider: UpstreamProvider,
    /// Its client secret, sealed under the vault key.
    pub sealed_client_secret: Option<Vec<u8>>,
    /// Attribution.
    pub ctx: EventContext,
}

impl Command for RegisterProvider {
    type Outcome = ();

    fn access(&self) -> Access {
        Access::writes(vec![provider_stream(&self.provider_id)])
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<()>, DomainError> {
        if state.upstream.provider(&self.provider_id).is_some() {
            return Err(DomainError::Conflict(format!(
                "upstream provider {} exists",
                self.provider_id
            )));
        }
        if state.upstream.was_deleted(&self.provider_id) {
            return Err(DomainError::Conflict(format!(
                "upstream provider {} was deleted; ids are not reused",
                self.provider_id
            )));
        }
        let stream = provider_stream(&self.provider_id);
        let event = self.ctx.event_for(
            env,
            stream.clone(),
            None,
            Event::UpstreamProviderRegistered {
                provider_id: self.provider_id.clone(),
                provider: Box::new(self.provider.clone()),
                sealed_client_secret: self.sealed_client_secret.clone(),
            },
        );
        Ok(Decided::unit(
            AppendBatch::new(vec![event]).expect(stream, ExpectedVersion::NoStream),
            (),
        ))
    }
}

/// An edit of a provider, applied to the one current at decision time:
/// the new configuration and sealed secret.
pub type ProviderEdit =
    Box<dyn Fn(&ProviderRecord) -> Result<(UpstreamProvider, Option<Vec<u8>>), DomainError> + Send>;

/// Edits a provider.
pub struct UpdateProvider {
    /// Its id.
    pub provider_id: String,
    /// The change.
    pub edit: ProviderEdit,
    /// `If-Match` version.
    pub expected_version: Option<u64>,
    /// Attribution.
    pub ctx: EventContext,
}

impl Command for UpdateProvider {
    type Outcome = ();

    fn access(&self) -> Access {
        Access::writes(vec![provider_stream(&self.provider_id)])
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<()>, DomainError> {
        let current = live_provider(state, &self.provider_id)?;
        expected_version(self.expected_version, current.version)?;
        let (provider, sealed_client_secret) = (self.edit)(current)?;
        if provider == current.provider && sealed_client_secret == current.sealed_client_secret {
            return Ok(Decided::nothing(()));
        }
        let event = self.ctx.event_for(
            env,
            provider_stream(&self.provider_id),
            None,
            Event::UpstreamProviderUpdated {
                provider_id: self.provider_id.clone(),
                provider: Box::new(provider),
                sealed_client_secret,
            },
        );
        Ok(Decided::events(vec![event], ()))
    }
}

/// Ends the connections `which` selects: one `UpstreamDisconnected` each;
/// returns the events and the data keys to destroy.
fn end_connections<'a>(
    env: &Env,
    ctx: &EventContext,
    which: impl Iterator<Item = &'a authlog_projections::Connection>,
    reason: DisconnectReason,
) -> (Vec<NewEvent>, Vec<Uuid>) {
    let mut events = Vec::new();
    let mut keys = Vec::new();
    for c in which {
        keys.push(c.key_id);
        events.push(ctx.event_for(
            env,
            connection_stream(&c.user_id, &c.provider_id),
            None,
            Event::UpstreamDisconnected {
                user_id: c.user_id,
                provider_id: c.provider_id.clone(),
                key_id: c.key_id,
                reason,
            },
        ));
    }
    (events, keys)
}

/// Deletes a provider and ends every connection to it. The outcome is the
/// data keys to destroy.
pub struct DeleteProvider {
    /// Its id.
    pub provider_id: String,
    /// `If-Match` version.
    pub expected_version: Option<u64>,
    /// Attribution.
    pub ctx: EventContext,
}

impl Command for DeleteProvider {
    type Outcome = Vec<Uuid>;

    fn access(&self) -> Access {
        Access::writes(vec![
            provider_stream(&self.provider_id),
            MANY_CONNECTIONS.to_owned(),
        ])
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<Vec<Uuid>>, DomainError> {
        let current = live_provider(state, &self.provider_id)?;
        expected_version(self.expected_version, current.version)?;
        let (mut events, keys) = end_connections(
            env,
            &self.ctx,
            state.upstream.connections_of_provider(&self.provider_id),
            DisconnectReason::ProviderDeleted,
        );
        events.push(self.ctx.event_for(
            env,
            provider_stream(&self.provider_id),
            None,
            Event::UpstreamProviderDeleted {
                provider_id: self.provider_id.clone(),
            },
        ));
        Ok(Decided::events(events, keys))
    }
}

/// Stores a user's new connection (replacing one they had: its key is
/// destroyed). The outcome is the replaced data key, if any.
pub struct Connect {
    /// The user.
    pub user_id: Uuid,
    /// The provider.
    pub provider_id: String,
    /// The new data key (already in the key store).
    pub key_id: Uuid,
    /// The token response, sealed under it.
    pub sealed_tokens: Vec<u8>,
    /// When the access token expires.
    pub expires_at: Option<Timestamp>,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// Attribution.
    pub ctx: EventContext,
}

impl Command for Connect {
    type Outcome = Option<Uuid>;

    fn access(&self) -> Access {
        Access {
            reads: vec![
                provider_stream(&self.provider_id),
                user_stream(&self.user_id),
            ],
            writes: vec![connection_stream(&self.user_id, &self.provider_id)],
        }
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<Option<Uuid>>, DomainError> {
        live_provider(state, &self.provider_id)?;
        state
            .users
            .get(&self.user_id)
            .filter(|u| !u.disabled)
            .ok_or_else(|| DomainError::NotFound(format!("user {}", self.user_id)))?;
        let (mut events, replaced) = end_connections(
            env,
            &self.ctx,
            state
                .upstream
                .connection(&self.user_id, &self.provider_id)
                .into_iter(),
            DisconnectReason::Reconnected,
        );
        events.push(self.ctx.event_for(
            env,
            connection_stream(&self.user_id, &self.provider_id),
            None,
            Event::UpstreamConnected {
                user_id: self.user_id,
                provider_id: self.provider_id.clone(),
                key_id: self.key_id,
                sealed_tokens: self.sealed_tokens.clone(),
                expires_at: self.expires_at,
                scopes: self.scopes.clone(),
            },
        ));
        Ok(Decided::events(events, replaced.into_iter().next()))
    }
}

/// Stores refreshed tokens of a connection; nothing when the connection
/// has ended or was replaced meanwhile (outcome `false`).
pub struct RecordRefresh {
    /// The user.
    pub user_id: Uuid,
    /// The provider.
    pub provider_id: String,
    /// The data key they are sealed under.
    pub key_id: Uuid,
    /// The new token response, sealed.
    pub sealed_tokens: Vec<u8>,
    /// When the new access token expires.
    pub expires_at: Option<Timestamp>,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// Attribution.
    pub ctx: EventContext,
}

impl Command for RecordRefresh {
    type Outcome = bool;

    fn access(&self) -> Access {
        Access::writes(vec![connection_stream(&self.user_id, &self.provider_id)])
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<bool>, DomainError> {
        let current = state
            .upstream
            .connection(&self.user_id, &self.provider_id)
            .filter(|c| c.key_id == self.key_id);
        if current.is_none() {
            return Ok(Decided::nothing(false));
        }
        let event = self.ctx.event_for(
            env,
            connection_stream(&self.user_id, &self.provider_id),
            None,
            Event::UpstreamTokensRefreshed {
                user_id: self.user_id,
                provider_id: self.provider_id.clone(),
                key_id: self.key_id,
                sealed_tokens: self.sealed_tokens.clone(),
                expires_at: self.expires_at,
                scopes: self.scopes.clone(),
            },
        );
        Ok(Decided::events(vec![event], true))
    }
}

/// Records a failed step. `needs_reconnect` only marks the connection
/// whose key is `key_id` (a newer one is left alone).
pub struct RecordUpstreamFailure {
    /// The user.
    pub user_id: Uuid,
    /// The provider.
    pub provider_id: String,
    /// The connection's data key, when the step was about one.
    pub key_id: Option<Uuid>,
    /// Which step.
    pub stage: UpstreamStage,
    /// Why (never a token).
    pub reason: String,
    /// The connection must be made again.
    pub needs_reconnect: bool,
    /// The client concerned, if any.
    pub client_id: Option<String>,
    /// Attribution.
    pub ctx: EventContext,
}

impl Command for RecordUpstreamFailure {
    type Outcome = ();

    fn access(&self) -> Access {
        Access::writes(vec![connection_stream(&self.user_id, &self.provider_id)])
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<()>, DomainError> {
        let same = state
            .upstream
            .connection(&self.user_id, &self.provider_id)
            .is_some_and(|c| Some(c.key_id) == self.key_id);
        let event = self.ctx.event_for(
            env,
            connection_stream(&self.user_id, &self.provider_id),
            self.client_id.as_deref(),
            Event::UpstreamFailed {
                user_id: self.user_id,
                provider_id: self.provider_id.clone(),
                stage: self.stage,
                reason: self.reason.clone(),
                needs_reconnect: self.needs_reconnect && same,
            },
        );
        Ok(Decided::events(vec![event], ()))
    }
}

/// Records that a client got a user's upstream token (RFC 8693
/// exchange), checking again at decision time that it may.
pub struct HandOff {
    /// The user.
    pub user_id: Uuid,
    /// The provider.
    pub provider_id: String,
    /// The data key of the tokens handed out.
    pub key_id: Uuid,
    /// The client.
    pub client_id: String,
    /// When the token handed out expires.
    pub expires_at: Option<Timestamp>,
    /// Attribution.
    pub ctx: EventContext,
}

impl Command for HandOff {
    type Outcome = ();

    fn access(&self) -> Access {
        Access {
            reads: vec![
                client_stream(&self.client_id),
                provider_stream(&self.provider_id),
                user_stream(&self.user_id),
            ],
            writes: vec![connection_stream(&self.user_id, &self.provider_id)],
        }
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<()>, DomainError> {
        live_client(state, &self.client_id)?;
        let provider = live_provider(state, &self.provider_id)?;
        if !provider.provider.allowed_clients.contains(&self.client_id) {
            return Err(DomainError::Grant(super::GrantError::UnauthorizedClient(
                format!(
                    "client {} may not exchange tokens for {}",
                    self.client_id, self.provider_id
                ),
            )));
        }
        let usable = state
            .upstream
            .connection(&self.user_id, &self.provider_id)
            .is_some_and(|c| c.key_id == self.key_id && c.status == ConnectionStatus::Active)
            && state.users.get(&self.user_id).is_some_and(|u| !u.disabled);
        if !usable {
            return Err(DomainError::Grant(super::GrantError::InvalidGrant(
                "the user's connection ended meanwhile".into(),
            )));
        }
        let event = self.ctx.event(
            env,
            connection_stream(&self.user_id, &self.provider_id),
            &self.client_id,
            Event::UpstreamTokenHandedOff {
                user_id: self.user_id,
                provider_id: self.provider_id.clone(),
                client_id: self.client_id.clone(),
                expires_at: self.expires_at,
            },
        );
        Ok(Decided::events(vec![event], ()))
    }
}

/// Ends a user's connection to a provider (with the failure of revoking
/// it at the provider, when that failed). The outcome is the destroyed
/// data key.
pub struct Disconnect {
    /// The user.
    pub user_id: Uuid,
    /// The provider.
    pub provider_id: String,
    /// The data key of the connection the caller saw (a newer one stays).
    pub key_id: Uuid,
    /// Who asked.
    pub reason: DisconnectReason,
    /// Why revoking at the provider failed, if it did.
    pub revoke_failure: Option<String>,
    /// Attribution.
    pub ctx: EventContext,
}

impl Command for Disconnect {
    type Outcome = Uuid;

    fn access(&self) -> Access {
        Access::writes(vec![connection_stream(&self.user_id, &self.provider_id)])
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<Uuid>, DomainError> {
        let connection = state
            .upstream
            .connection(&self.user_id, &self.provider_id)
            .filter(|c| c.key_id == self.key_id)
            .ok_or_else(|| DomainError::NotFound(format!("connection {}", self.provider_id)))?;
        let mut events = Vec::new();
        if let Some(reason) = &self.revoke_failure {
            events.push(self.ctx.event_for(
                env,
                connection_stream(&self.user_id, &self.provider_id),
                None,
                Event::UpstreamFailed {
                    user_id: self.user_id,
                    provider_id: self.provider_id.clone(),
                    stage: UpstreamStage::Revoke,
                    reason: reason.clone(),
                    needs_reconnect: false,
                },
            ));
        }
        let (ended, keys) =
            end_connections(env, &self.ctx, std::iter::once(connection), self.reason);
        events.extend(ended);
        Ok(Decided::events(events, keys[0]))
    }
}

/// Deletes a user: their tokens are revoked (`UserDisabled`), their
/// connections end (their data keys are destroyed), then `UserDeleted`.
/// The outcome is the data keys to destroy.
pub struct DeleteUser {
    /// The user.
    pub user_id: Uuid,
    /// Attribution.
    pub ctx: EventContext,
}

impl Command for DeleteUser {
    type Outcome = Vec<Uuid>;

    fn access(&self) -> Access {
        Access::writes(vec![
            user_stream(&self.user_id),
            MANY_CONNECTIONS.to_owned(),
        ])
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<Vec<Uuid>>, DomainError> {
        state
            .users
            .get(&self.user_id)
            .ok_or_else(|| DomainError::NotFound(format!("user {}", self.user_id)))?;
        super::rules::keeps_a_way_in(state, &[], Some(&self.user_id))?;
        let stream = user_stream(&self.user_id);
        let revoked = state
            .tokens
            .active_for_subject(&self.user_id, env.now())
            .count() as u64;
        let mut events = vec![self.ctx.event_for(
            env,
            stream.clone(),
            None,
            Event::UserDisabled {
                user_id: self.user_id,
                tokens_revoked: revoked,
            },
        )];
        let (ended, keys) = end_connections(
            env,
            &self.ctx,
            state.upstream.connections_of_user(&self.user_id),
            DisconnectReason::UserDeleted,
        );
        events.extend(ended);
        events.push(self.ctx.event_for(
            env,
            stream,
            None,
            Event::UserDeleted {
                user_id: self.user_id,
            },
        ));
        Ok(Decided::events(events, keys))
    }
}
