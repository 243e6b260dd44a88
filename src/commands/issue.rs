//! Minting the tokens of a grant: one access token and, when the grant
//! may carry one, a refresh token, with lifetimes from the client; their
//! `TokenIssued` events (digests only) and the `Issued` outcome that holds
//! the values for the response. Shared by every grant.

use authlog_events::{
    AccessPreset, AccessTokenFormat, Event, GrantType, NewEvent, Timestamp, TokenKind,
};
use authlog_projections::{ClientRecord, SigningKeys};
use uuid::Uuid;

use super::rules::refresh_enabled;
use super::{grant_stream, DomainError, Env, EventContext};
use crate::secrets::{Minted, SecretKind};

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

/// An RFC 9068 access token: a JWT (`typ` `at+jwt`) signed with the
/// active key, whose `jti` is the token id the admin API, introspection
/// and revocation use. Its digest is stored like an opaque token's.
fn jwt_access_token(
    env: &Env,
    issuer: &str,
    keys: &SigningKeys,
    client: &ClientRecord,
    grant: &Grant,
    token_id: Uuid,
    ttl: u32,
) -> Result<Minted, DomainError> {
    let not_ready =
        || DomainError::TryAgain("no signing key is ready for JWT access tokens".into());
    let key = keys.active(crate::signing::ES256).ok_or_else(not_ready)?;
    let now = env.now().unix_seconds();
    let audience: Vec<&str> = if grant.audience.is_empty() {
        vec![issuer]
    } else {
        grant.audience.iter().map(String::as_str).collect()
    };
    let claims = serde_json::json!({
        "iss": issuer,
        "sub": grant.subject.map_or_else(|| client.client_id.clone(), |s| s.to_string()),
        "aud": if audience.len() == 1 { serde_json::json!(audience[0]) } else { serde_json::json!(audience) },
        "client_id": client.client_id,
        "scope": grant.scopes.join(" "),
        "jti": token_id.to_string(),
        "iat": now,
        "exp": now + i64::from(ttl),
    });
    let value = crate::signing::sign_once(env.server_key(), key, "at+jwt", &claims).map_err(|e| {
        tracing::error!(error = %crate::error_report::Report(&e), "could not sign a JWT access token");
        not_ready()
    })?;
    Ok(Minted {
        digest: env.digest(&value),
        value,
    })
}

/// Mints the grant's tokens: their events and the outcome. A client with
/// JWT access tokens gets them signed by the active key of `keys`, for
/// the `Env`'s issuer.
pub fn mint_tokens(
    env: &Env,
    ctx: &EventContext,
    client: &ClientRecord,
    grant: &Grant,
    keys: &SigningKeys,
) -> Result<(Vec<NewEvent>, Issued), DomainError> {
    let issuer = env.issuer();
    let now = env.now();
    let access_id = env.id();
    let family_id = grant.family_id.unwrap_or(access_id);
    let ttl = client.metadata.access_token_ttl_seconds;
    let jwt = (client.access_token_format == AccessTokenFormat::Jwt)
        .then(|| jwt_access_token(env, issuer, keys, client, grant, access_id, ttl))
        .transpose()?;
    let mut jwt = jwt;
    let mut events = Vec::with_capacity(2);
    let mut push = |kind: TokenKind, id: Uuid, scopes: &[String], ttl: u32, parent| {
        let secret = match (kind, jwt.take()) {
            (TokenKind::Access, Some(minted)) => minted,
            (TokenKind::Access, None) => env.mint(SecretKind::AccessToken),
            (TokenKind::Refresh, _) => env.mint(SecretKind::RefreshToken),
        };
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
    Ok((events, issued))
}
