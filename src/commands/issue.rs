//! Building the `TokenIssued` events of a grant: one access token and,
//! when the client has refresh tokens enabled, one refresh token, with
//! lifetimes from the client. Shared by every grant that acts for a user.

use authlog_events::{AccessPreset, Digest, Event, GrantType, NewEvent, Timestamp, TokenKind};
use authlog_projections::ClientRecord;
use uuid::Uuid;

use super::{grant_stream, EventContext};

/// A pre-generated token: its id and the digest of its value.
#[derive(Debug, Clone, Copy)]
pub struct NewToken {
    /// Token id.
    pub id: Uuid,
    /// Digest of the value the handler holds.
    pub digest: Digest,
}

/// What the tokens carry.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The user.
    pub subject: Uuid,
    /// Scopes of the access token.
    pub scopes: Vec<String>,
    /// Scopes of the refresh token (the whole grant).
    pub refresh_scopes: Vec<String>,
    /// Resources.
    pub audience: Vec<String>,
    /// Teams.
    pub teams: Vec<String>,
    /// Access preset.
    pub access: AccessPreset,
    /// Grant family.
    pub family_id: Uuid,
    /// How it was obtained.
    pub grant_type: GrantType,
    /// The refresh token it rotates, if any.
    pub parent_id: Option<Uuid>,
}

/// Whether `client` gets refresh tokens.
pub fn refresh_enabled(client: &ClientRecord) -> bool {
    client.metadata.refresh_token_enabled
        && client
            .metadata
            .grant_types
            .contains(&GrantType::RefreshToken)
}

/// The `TokenIssued` events for a grant.
pub fn token_events(
    ctx: &EventContext,
    now: Timestamp,
    client: &ClientRecord,
    grant: &Grant,
    access: NewToken,
    refresh: Option<NewToken>,
) -> Vec<NewEvent> {
    let mut events = Vec::with_capacity(2);
    let mut push =
        |token: NewToken, kind: TokenKind, scopes: &[String], ttl: u32, parent: Option<Uuid>| {
            events.push(ctx.event(
                grant_stream(&grant.family_id),
                &client.client_id,
                now,
                Event::TokenIssued {
                    token_id: token.id,
                    kind,
                    digest: token.digest,
                    client_id: client.client_id.clone(),
                    subject: Some(grant.subject),
                    scopes: scopes.to_vec(),
                    audience: grant.audience.clone(),
                    teams: grant.teams.clone(),
                    access: grant.access,
                    issued_at: now,
                    expires_at: now.plus_seconds(i64::from(ttl)),
                    family_id: grant.family_id,
                    grant_type: grant.grant_type,
                    parent_id: parent,
                },
            ));
        };
    push(
        access,
        TokenKind::Access,
        &grant.scopes,
        client.metadata.access_token_ttl_seconds,
        None,
    );
    if let Some(refresh) = refresh.filter(|_| refresh_enabled(client)) {
        push(
            refresh,
            TokenKind::Refresh,
            &grant.refresh_scopes,
            client.metadata.refresh_token_ttl_seconds,
            grant.parent_id,
        );
    }
    events
}
