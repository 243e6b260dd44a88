//! Token commands: issue a client_credentials access token, revoke one
//! token (or its whole grant family).

use authlog_events::{
    AppendBatch, Digest, Event, GrantType, RevocationReason, RevocationTarget, Timestamp, TokenKind,
};
use authlog_projections::{ClientStatus, Projections};
use uuid::Uuid;

use super::{
    client_stream, client_tokens_resource, grant_stream, Access, Decide, DomainError, EventContext,
    GrantError,
};

/// Issues an access token to a client for itself (client_credentials).
pub struct IssueClientToken {
    /// The client.
    pub client_id: String,
    /// New token id (also its grant family).
    pub token_id: Uuid,
    /// Digest of the token value.
    pub digest: Digest,
    /// Digest of the secret the client authenticated with (re-checked at decision time).
    pub secret_digest: Digest,
    /// Granted scopes (re-checked against the client's at decision time).
    pub scopes: Vec<String>,
    /// RFC 8707 resources.
    pub audience: Vec<String>,
    /// Attribution.
    pub ctx: EventContext,
}

impl Decide for IssueClientToken {
    fn access(&self) -> Access {
        Access {
            reads: vec![
                client_stream(&self.client_id),
                client_tokens_resource(&self.client_id),
            ],
            writes: vec![grant_stream(&self.token_id)],
        }
    }

    fn decide(&self, state: &Projections, now: Timestamp) -> Result<AppendBatch, DomainError> {
        let client = state
            .registry
            .get(&self.client_id)
            .ok_or_else(|| DomainError::NotFound(format!("client {}", self.client_id)))?;
        // The handler checked these against the state it read; an edit,
        // rotation or pause may have committed since.
        if !client.secret_matches(&self.secret_digest, now) {
            return Err(DomainError::ClientAuthFailed);
        }
        if client.status == ClientStatus::Paused {
            return Err(DomainError::ClientPaused(self.client_id.clone()));
        }
        if !client
            .metadata
            .grant_types
            .contains(&GrantType::ClientCredentials)
        {
            return Err(DomainError::Grant(GrantError::UnauthorizedClient(
                "this client may not use the client_credentials grant".into(),
            )));
        }
        if let Some(extra) = self
            .scopes
            .iter()
            .find(|s| !client.metadata.scopes.contains(s))
        {
            return Err(DomainError::Grant(GrantError::InvalidScope(format!(
                "scope {extra} is not allowed for this client"
            ))));
        }
        let ttl = i64::from(client.metadata.access_token_ttl_seconds);
        let event = self.ctx.event(
            grant_stream(&self.token_id),
            &self.client_id,
            now,
            Event::TokenIssued {
                token_id: self.token_id,
                kind: TokenKind::Access,
                digest: self.digest,
                client_id: self.client_id.clone(),
                subject: None,
                scopes: self.scopes.clone(),
                audience: self.audience.clone(),
                teams: vec![],
                access: client.metadata.access_preset,
                issued_at: now,
                expires_at: now.plus_seconds(ttl),
                family_id: self.token_id,
                grant_type: GrantType::ClientCredentials,
                parent_id: None,
            },
        );
        Ok(AppendBatch::new(vec![event]))
    }
}

/// Revokes a token; a refresh token takes its whole grant family with it
/// (RFC 7009 §2.1). An inactive token appends nothing.
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

impl Decide for RevokeToken {
    fn access(&self) -> Access {
        // Reads the client's tokens, so it never shares a batch with a
        // cascade (pause, delete, revoke-all) counting the same token.
        Access {
            reads: vec![client_tokens_resource(&self.client_id)],
            writes: vec![grant_stream(&self.family_id)],
        }
    }

    fn decide(&self, state: &Projections, now: Timestamp) -> Result<AppendBatch, DomainError> {
        let Some(token) = state.tokens.get(&self.token_id) else {
            return Ok(AppendBatch::default());
        };
        if !token.is_active(now) {
            return Ok(AppendBatch::default());
        }
        let (target, count) = if token.kind == TokenKind::Refresh {
            (
                RevocationTarget::Family(token.family_id()),
                state.tokens.active_in_family(&token.family_id(), now),
            )
        } else {
            (RevocationTarget::Token(token.token_id), 1)
        };
        let event = self.ctx.event(
            grant_stream(&self.family_id),
            &self.client_id,
            now,
            Event::TokenRevoked {
                target,
                client_id: self.client_id.clone(),
                reason: self.reason,
                tokens_revoked: count,
            },
        );
        Ok(AppendBatch::new(vec![event]))
    }
}
