//! Token commands: issue a client_credentials access token, revoke one
//! token (or its whole grant family).

use authlog_events::{Digest, Event, GrantType, RevocationReason, RevocationTarget, TokenKind};
use authlog_projections::Projections;
use uuid::Uuid;

use super::issue::{mint_tokens, Grant, Issued};
use super::rules::{client_scopes, grant_allowed, live_client, not_paused};
use super::{
    client_stream, client_tokens_resource, grant_stream, Access, Command, Decided, DomainError,
    Env, EventContext,
};

/// Issues an access token to a client for itself (client_credentials,
/// RFC 6749 §4.4).
pub struct IssueClientToken {
    /// The client.
    pub client_id: String,
    /// Digest of the secret the client authenticated with (re-checked at
    /// decision time: a rotation may have committed since).
    pub secret_digest: Digest,
    /// Scopes asked for (`None`: all of the client's).
    pub scopes: Option<Vec<String>>,
    /// RFC 8707 resources.
    pub audience: Vec<String>,
    /// Attribution.
    pub ctx: EventContext,
}

impl Command for IssueClientToken {
    type Outcome = Issued;

    fn access(&self) -> Access {
        // The token's own stream is new: nothing else can touch it.
        Access {
            reads: vec![
                client_stream(&self.client_id),
                client_tokens_resource(&self.client_id),
            ],
            writes: Vec::new(),
        }
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<Issued>, DomainError> {
        let client = live_client(state, &self.client_id)?;
        if !client.secret_matches(&self.secret_digest, env.now()) {
            return Err(DomainError::ClientAuthFailed);
        }
        not_paused(client)?;
        grant_allowed(client, GrantType::ClientCredentials)?;
        let grant = Grant {
            subject: None,
            scopes: client_scopes(self.scopes.as_deref(), client)?,
            refresh_scopes: Vec::new(),
            audience: self.audience.clone(),
            teams: Vec::new(),
            access: client.metadata.access_preset,
            family_id: None,
            grant_type: GrantType::ClientCredentials,
            parent_id: None,
            with_refresh: false,
        };
        let (events, issued) = mint_tokens(env, &self.ctx, client, &grant, &state.signing_keys)?;
        Ok(Decided::events(events, issued))
    }
}

/// Revokes a token; a refresh token takes its whole grant family with it
/// (RFC 7009 §2.1). An inactive token appends nothing. The outcome is the
/// number of tokens revoked.
pub struct RevokeToken {
    /// The token.
    pub token_id: Uuid,
    /// Its grant family (the stream the revocation goes to).
    pub family_id: Uuid,
    /// Its client.
    pub client_id: String,
    /// Why.
    pub reason: RevocationReason,
    /// Attribution.
    pub ctx: EventContext,
}

impl Command for RevokeToken {
    type Outcome = u64;

    fn access(&self) -> Access {
        // Reads the client's tokens, so it never shares a batch with a
        // cascade (pause, delete, revoke-all) counting the same token.
        Access {
            reads: vec![client_tokens_resource(&self.client_id)],
            writes: vec![grant_stream(&self.family_id)],
        }
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<u64>, DomainError> {
        let now = env.now();
        let Some(token) = state
            .tokens
            .get(&self.token_id)
            .filter(|t| t.is_active(now))
        else {
            return Ok(Decided::nothing(0));
        };
        let (target, count) = if token.kind == TokenKind::Refresh {
            (
                RevocationTarget::Family(token.family_id()),
                state.tokens.active_in_family(&token.family_id(), now),
            )
        } else {
            (RevocationTarget::Token(token.token_id), 1)
        };
        let event = self.ctx.event(
            env,
            grant_stream(&self.family_id),
            &self.client_id,
            Event::TokenRevoked {
                target,
                client_id: self.client_id.clone(),
                reason: self.reason,
                tokens_revoked: count,
            },
        );
        Ok(Decided::events(vec![event], count))
    }
}
