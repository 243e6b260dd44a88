//! Minting the tokens of a grant: one access token and, when the grant
//! may carry one, a refresh token, with lifetimes from the client; their
//! `TokenIssued` events (digests only) and the `Issued` outcome that holds
//! the values for the response. Shared by every grant.

use authlog_events::{AccessPreset, Event, GrantType, NewEvent, Timestamp, TokenKind};
use authlog_projections::ClientRecord;
use uuid::Uuid;

use super::rules::refresh_enabled;
use super::{grant_stream, Env, EventContext};
use crate::secrets::SecretKind;

/// What the tokens carry.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The user, when the grant acts for one.
    pub subject: Option<Uuid>,
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
    /// Grant family; `None`: the access token is its own family
    /// (client_credentials).
    pub family_id: Option<Uuid>,
    /// How it was obtained.
    pub grant_type: GrantType,
    /// The refresh token it rotates, if any.
    pub parent_id: Option<Uuid>,
    /// Whether the grant may carry a refresh token at all.
    pub with_refresh: bool,
}

/// Tokens issued by a grant: the values exist only here, for the response.
#[derive(Clone, PartialEq, Eq)]
pub struct Issued {
    /// The access token's id.
    pub token_id: Uuid,
    /// The access token.
    pub access_token: String,
    /// Its lifetime in seconds.
    pub expires_in: i64,
    /// Its scopes, space-separated (RFC 6749 §3.3).
    pub scope: String,
    /// The refresh token, when the client gets one.
    pub refresh_token: Option<String>,
    /// The user the tokens act for.
    pub subject: Option<Uuid>,
    /// Their grant family.
    pub family_id: Uuid,
    /// How they were obtained.
    pub grant_type: GrantType,
    /// When.
    pub issued_at: Timestamp,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("token_id", &self.token_id)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("refresh_token", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

/// Mints the grant's tokens: their events and the outcome.
pub fn mint_tokens(
    env: &Env,
    ctx: &EventContext,
    client: &ClientRecord,
    grant: &Grant,
) -> (Vec<NewEvent>, Issued) {
    let now = env.now();
    let access_id = env.id();
    let family_id = grant.family_id.unwrap_or(access_id);
    let mut events = Vec::with_capacity(2);
    let mut push = |kind: TokenKind, id: Uuid, scopes: &[String], ttl: u32, parent| {
        let secret = env.mint(match kind {
            TokenKind::Access => SecretKind::AccessToken,
            TokenKind::Refresh => SecretKind::RefreshToken,
        });
        events.push(ctx.event(
            env,
            grant_stream(&family_id),
            &client.client_id,
            Event::TokenIssued {
                token_id: id,
                kind,
                digest: secret.digest,
                client_id: client.client_id.clone(),
                subject: grant.subject,
                scopes: scopes.to_vec(),
                audience: grant.audience.clone(),
                teams: grant.teams.clone(),
                access: grant.access,
                issued_at: now,
                expires_at: now.plus_seconds(i64::from(ttl)),
                family_id,
                grant_type: grant.grant_type,
                parent_id: parent,
            },
        ));
        secret.value
    };
    let ttl = client.metadata.access_token_ttl_seconds;
    let access_token = push(TokenKind::Access, access_id, &grant.scopes, ttl, None);
    let refresh_token = (grant.with_refresh && refresh_enabled(client)).then(|| {
        let ttl = client.metadata.refresh_token_ttl_seconds;
        push(
            TokenKind::Refresh,
            env.id(),
            &grant.refresh_scopes,
            ttl,
            grant.parent_id,
        )
    });
    let issued = Issued {
        token_id: access_id,
        access_token,
        expires_in: i64::from(ttl),
        scope: grant.scopes.join(" "),
        refresh_token,
        subject: grant.subject,
        family_id,
        grant_type: grant.grant_type,
        issued_at: now,
    };
    (events, issued)
}
