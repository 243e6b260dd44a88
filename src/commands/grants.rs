//! Grant commands: authorization codes (issue, redeem with PKCE, reuse
//! revoking what the code produced), refresh-token rotation with reuse
//! detection, and the device flow (start, approve or deny, redeem).

use authlog_events::{
    AccessPreset, AppendBatch, Digest, Event, GrantType, RevocationReason, RevocationTarget,
    Timestamp, TokenKind,
};
use authlog_projections::{ClientRecord, ClientStatus, DeviceState, Projections, UserRecord};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::issue::{token_events, Grant, NewToken};
use super::{
    client_stream, client_tokens_resource, grant_stream, user_stream, Access, Decide, DomainError,
    EventContext, GrantError,
};

/// Lifetime of an authorization code.
pub const CODE_TTL_SECONDS: i64 = 60;
/// Lifetime of a device authorization.
pub const DEVICE_TTL_SECONDS: i64 = 600;
/// Polling interval of the device flow.
pub const DEVICE_INTERVAL_SECONDS: u32 = 5;

fn invalid_grant(message: impl Into<String>) -> DomainError {
    DomainError::Grant(GrantError::InvalidGrant(message.into()))
}

fn active_client<'a>(
    state: &'a Projections,
    client_id: &str,
) -> Result<&'a ClientRecord, DomainError> {
    let client = state
        .registry
        .get(client_id)
        .ok_or_else(|| DomainError::NotFound(format!("client {client_id}")))?;
    if client.status == ClientStatus::Paused {
        return Err(DomainError::ClientPaused(client_id.to_owned()));
    }
    Ok(client)
}

fn active_user<'a>(state: &'a Projections, user_id: &Uuid) -> Result<&'a UserRecord, DomainError> {
    match state.users.get(user_id) {
        Some(u) if !u.disabled => Ok(u),
        _ => Err(invalid_grant("the user is disabled or unknown")),
    }
}

fn grant_allowed(client: &ClientRecord, grant: GrantType) -> Result<(), DomainError> {
    if client.metadata.grant_types.contains(&grant) {
        Ok(())
    } else {
        Err(DomainError::Grant(GrantError::UnauthorizedClient(
            "this client may no longer use this grant".into(),
        )))
    }
}

/// RFC 8707 at the token endpoint: the requested resources must be among
/// those granted; none requested means all of them.
fn narrow_audience(requested: &[String], granted: &[String]) -> Result<Vec<String>, DomainError> {
    if requested.is_empty() {
        return Ok(granted.to_vec());
    }
    if let Some(r) = requested.iter().find(|r| !granted.contains(r)) {
        return Err(DomainError::Grant(GrantError::InvalidTarget(format!(
            "resource {r} was not granted"
        ))));
    }
    Ok(requested.to_vec())
}

/// What issuing tokens for a user reads (the client, its tokens, the user)
/// and writes (the grant family), so a pause, revoke-all or user disable
/// is never decided in the same batch.
fn user_grant_access(client_id: &str, user_id: Option<&Uuid>, family: &Uuid) -> Access {
    let mut reads = vec![client_stream(client_id), client_tokens_resource(client_id)];
    reads.extend(user_id.map(user_stream));
    Access {
        reads,
        writes: vec![grant_stream(family)],
    }
}

/// A code or retired refresh token was presented again: one event revokes
/// the whole grant family, and it is the command's only outcome (no tokens).
fn revoke_reused_family(
    ctx: &EventContext,
    state: &Projections,
    now: Timestamp,
    client_id: &str,
    family: Uuid,
) -> AppendBatch {
    let event = ctx.event(
        grant_stream(&family),
        client_id,
        now,
        Event::TokenRevoked {
            target: RevocationTarget::Family(family),
            client_id: client_id.to_owned(),
            reason: RevocationReason::ReuseDetected,
            tokens_revoked: state.tokens.active_in_family(&family, now),
        },
    );
    AppendBatch::new(vec![event])
}

/// RFC 7636 §4.6: BASE64URL(SHA256(ASCII(verifier))) == challenge, and the
/// verifier is 43–128 unreserved characters.
pub fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let equal: bool = computed.as_bytes().ct_eq(challenge.as_bytes()).into();
    well_formed && equal
}

/// Issues an authorization code (and remembers consent when given).
pub struct IssueCode {
    /// Code id (future grant family).
    pub code_id: Uuid,
    /// Digest of the code value.
    pub code_digest: Digest,
    /// The client.
    pub client_id: String,
    /// The user.
    pub user_id: Uuid,
    /// Redirect URI as sent ("" when omitted).
    pub redirect_uri: String,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// RFC 8707 resources.
    pub resources: Vec<String>,
    /// Granted teams.
    pub teams: Vec<String>,
    /// Access preset.
    pub access: AccessPreset,
    /// Append `ConsentGranted` too (the user just consented).
    pub remember_consent: bool,
    /// Attribution.
    pub ctx: EventContext,
}

impl Decide for IssueCode {
    fn access(&self) -> Access {
        Access {
            reads: vec![client_stream(&self.client_id), user_stream(&self.user_id)],
            writes: vec![
                grant_stream(&self.code_id),
                format!("consent/{}/{}", self.user_id, self.client_id),
            ],
        }
    }

    fn decide(&self, state: &Projections, now: Timestamp) -> Result<AppendBatch, DomainError> {
        active_client(state, &self.client_id)?;
        active_user(state, &self.user_id)?;
        let mut events = Vec::with_capacity(2);
        if self.remember_consent {
            events.push(self.ctx.event(
                format!("consent/{}/{}", self.user_id, self.client_id),
                &self.client_id,
                now,
                Event::ConsentGranted {
                    user_id: self.user_id,
                    client_id: self.client_id.clone(),
                    scopes: self.scopes.clone(),
                    teams: self.teams.clone(),
                    access: self.access,
                },
            ));
        }
        events.push(self.ctx.event(
            grant_stream(&self.code_id),
            &self.client_id,
            now,
            Event::AuthorizationCodeIssued {
                code_id: self.code_id,
                code_digest: self.code_digest,
                client_id: self.client_id.clone(),
                user_id: self.user_id,
                redirect_uri: self.redirect_uri.clone(),
                code_challenge: self.code_challenge.clone(),
                scopes: self.scopes.clone(),
                resources: self.resources.clone(),
                teams: self.teams.clone(),
                access: self.access,
                expires_at: now.plus_seconds(CODE_TTL_SECONDS),
            },
        ));
        Ok(AppendBatch::new(events))
    }
}

/// Exchanges a code for tokens (RFC 6749 §4.1.3, RFC 7636 §4.6). A code
/// presented again revokes every token it produced (RFC 6749 §4.1.2): the
/// outcome is then a `TokenRevoked` event and no `TokenIssued`.
pub struct RedeemCode {
    /// The code.
    pub code_id: Uuid,
    /// Its user (for the interference rule).
    pub user_id: Uuid,
    /// The authenticated client.
    pub client_id: String,
    /// `redirect_uri` of the token request.
    pub redirect_uri: Option<String>,
    /// PKCE verifier.
    pub code_verifier: String,
    /// RFC 8707 resources asked for at the token endpoint (empty: all granted).
    pub resources: Vec<String>,
    /// The access token to issue.
    pub access: NewToken,
    /// The refresh token to issue, if the client gets one.
    pub refresh: Option<NewToken>,
    /// Attribution.
    pub ctx: EventContext,
}

impl Decide for RedeemCode {
    fn access(&self) -> Access {
        user_grant_access(&self.client_id, Some(&self.user_id), &self.code_id)
    }

    fn decide(&self, state: &Projections, now: Timestamp) -> Result<AppendBatch, DomainError> {
        let code = state
            .grants
            .code(&self.code_id)
            .ok_or_else(|| invalid_grant("the code is invalid"))?;
        if code.client_id != self.client_id {
            return Err(invalid_grant("the code was issued to another client"));
        }
        if code.redeemed {
            return Ok(revoke_reused_family(
                &self.ctx,
                state,
                now,
                &self.client_id,
                code.code_id,
            ));
        }
        if now >= code.expires_at {
            return Err(invalid_grant("the code has expired"));
        }
        let redirect_ok = match (&self.redirect_uri, code.redirect_uri.is_empty()) {
            (Some(given), false) => *given == code.redirect_uri,
            (None, false) => false,
            (_, true) => true,
        };
        if !redirect_ok {
            return Err(invalid_grant(
                "redirect_uri does not match the authorization request",
            ));
        }
        if !pkce_s256_matches(&self.code_verifier, &code.code_challenge) {
            return Err(invalid_grant(
                "code_verifier does not match the code_challenge",
            ));
        }
        let client = active_client(state, &self.client_id)?;
        grant_allowed(client, GrantType::AuthorizationCode)?;
        active_user(state, &code.user_id)?;
        let audience = narrow_audience(&self.resources, &code.resources)?;
        let grant = Grant {
            subject: code.user_id,
            scopes: code.scopes.clone(),
            refresh_scopes: code.scopes.clone(),
            audience,
            teams: code.teams.clone(),
            access: code.access,
            family_id: code.code_id,
            grant_type: GrantType::AuthorizationCode,
            parent_id: None,
        };
        let mut events = vec![self.ctx.event(
            grant_stream(&code.code_id),
            &self.client_id,
            now,
            Event::AuthorizationCodeRedeemed {
                code_id: code.code_id,
                client_id: self.client_id.clone(),
            },
        )];
        events.extend(token_events(
            &self.ctx,
            now,
            client,
            &grant,
            self.access,
            self.refresh,
        ));
        Ok(AppendBatch::new(events))
    }
}

/// Rotates a refresh token (OAuth 2.1 §4.3.1). A retired refresh token
/// presented again revokes its whole family (outcome: `TokenRevoked`
/// with `reuse_detected`, no `TokenIssued`).
pub struct RefreshTokens {
    /// The refresh token presented.
    pub token_id: Uuid,
    /// Its family.
    pub family_id: Uuid,
    /// Its user.
    pub user_id: Uuid,
    /// The authenticated client.
    pub client_id: String,
    /// Narrower scopes, if asked.
    pub scopes: Option<Vec<String>>,
    /// RFC 8707 resources asked for (empty: all granted).
    pub resources: Vec<String>,
    /// New access token.
    pub access: NewToken,
    /// New refresh token (issued if the client still has refresh tokens).
    pub refresh: Option<NewToken>,
    /// Attribution.
    pub ctx: EventContext,
}

impl Decide for RefreshTokens {
    fn access(&self) -> Access {
        user_grant_access(&self.client_id, Some(&self.user_id), &self.family_id)
    }

    fn decide(&self, state: &Projections, now: Timestamp) -> Result<AppendBatch, DomainError> {
        let token = state
            .tokens
            .get(&self.token_id)
            .filter(|t| t.kind == TokenKind::Refresh && *t.client_id == *self.client_id)
            .ok_or_else(|| invalid_grant("the refresh token is invalid"))?;
        if let Some((reason, _)) = token.revoked() {
            if reason == RevocationReason::Rotated {
                return Ok(revoke_reused_family(
                    &self.ctx,
                    state,
                    now,
                    &self.client_id,
                    token.family_id(),
                ));
            }
            return Err(invalid_grant("the refresh token was revoked"));
        }
        if now >= token.expires_at {
            return Err(invalid_grant("the refresh token has expired"));
        }
        let client = active_client(state, &self.client_id)?;
        if !super::issue::refresh_enabled(client) {
            return Err(invalid_grant("refresh tokens are disabled for this client"));
        }
        let subject = token
            .subject()
            .ok_or_else(|| invalid_grant("the refresh token has no user"))?;
        let user = active_user(state, &subject)?;
        if let Some(extra) = self
            .scopes
            .iter()
            .flatten()
            .find(|s| !token.scopes.contains(s))
        {
            return Err(DomainError::Grant(GrantError::InvalidScope(format!(
                "scope {extra} was not granted; a refresh can only narrow scope"
            ))));
        }
        // What the client and the user may still have now: an edit of the
        // client's scopes, the user's roles or teams since the grant narrows it.
        let still_allowed = |s: &String| {
            client.metadata.scopes.contains(s) && crate::scopes::role_allows(&user.roles, s)
        };
        let refresh_scopes: Vec<String> = token
            .scopes
            .iter()
            .filter(|s| still_allowed(s))
            .cloned()
            .collect();
        let scopes: Vec<String> = match &self.scopes {
            Some(asked) => asked.iter().filter(|s| still_allowed(s)).cloned().collect(),
            None => refresh_scopes.clone(),
        };
        let eligible = crate::consent::eligible_teams(user, client);
        let teams: Vec<String> = token
            .teams()
            .iter()
            .filter(|t| eligible.contains(t))
            .cloned()
            .collect();
        let audience = narrow_audience(&self.resources, token.audience())?;
        let grant = Grant {
            subject,
            scopes,
            refresh_scopes,
            audience,
            teams,
            access: token.access,
            family_id: token.family_id(),
            grant_type: GrantType::RefreshToken,
            parent_id: Some(token.token_id),
        };
        let mut events = vec![self.ctx.event(
            grant_stream(&token.family_id()),
            &self.client_id,
            now,
            Event::TokenRevoked {
                target: RevocationTarget::Token(token.token_id),
                client_id: self.client_id.clone(),
                reason: RevocationReason::Rotated,
                tokens_revoked: 1,
            },
        )];
        events.extend(token_events(
            &self.ctx,
            now,
            client,
            &grant,
            self.access,
            self.refresh,
        ));
        Ok(AppendBatch::new(events))
    }
}

/// Starts a device authorization (RFC 8628 §3.1).
pub struct StartDevice {
    /// Id (future grant family).
    pub device_id: Uuid,
    /// Digest of the device code.
    pub device_code_digest: Digest,
    /// Normalised user code.
    pub user_code: String,
    /// The client.
    pub client_id: String,
    /// Requested scopes.
    pub scopes: Vec<String>,
    /// Resources.
    pub resources: Vec<String>,
    /// Attribution.
    pub ctx: EventContext,
}

impl Decide for StartDevice {
    fn access(&self) -> Access {
        Access {
            reads: vec![client_stream(&self.client_id)],
            writes: vec![
                grant_stream(&self.device_id),
                format!("user-code/{}", self.user_code),
            ],
        }
    }

    fn decide(&self, state: &Projections, now: Timestamp) -> Result<AppendBatch, DomainError> {
        active_client(state, &self.client_id)?;
        if state
            .grants
            .device_by_user_code(&self.user_code)
            .is_some_and(|d| now < d.expires_at)
        {
            return Err(DomainError::Conflict("user code collision".into()));
        }
        let event = self.ctx.event(
            grant_stream(&self.device_id),
            &self.client_id,
            now,
            Event::DeviceAuthorizationStarted {
                device_id: self.device_id,
                device_code_digest: self.device_code_digest,
                user_code: self.user_code.clone(),
                client_id: self.client_id.clone(),
                scopes: self.scopes.clone(),
                resources: self.resources.clone(),
                expires_at: now.plus_seconds(DEVICE_TTL_SECONDS),
                interval_seconds: DEVICE_INTERVAL_SECONDS,
            },
        );
        Ok(AppendBatch::new(vec![event]))
    }
}

/// The user approves (with scopes, teams, access) or denies a device authorization.
pub struct DecideDevice {
    /// The device authorization.
    pub device_id: Uuid,
    /// The deciding user.
    pub user_id: Uuid,
    /// `Some((scopes, teams, access))` to approve, `None` to deny.
    pub approval: Option<(Vec<String>, Vec<String>, AccessPreset)>,
    /// Attribution.
    pub ctx: EventContext,
}

impl Decide for DecideDevice {
    fn access(&self) -> Access {
        Access {
            reads: vec![user_stream(&self.user_id)],
            writes: vec![grant_stream(&self.device_id)],
        }
    }

    fn decide(&self, state: &Projections, now: Timestamp) -> Result<AppendBatch, DomainError> {
        let device = state
            .grants
            .device(&self.device_id)
            .ok_or_else(|| DomainError::NotFound("device authorization".into()))?;
        if device.state != DeviceState::Pending || now >= device.expires_at {
            return Err(DomainError::Conflict(
                "this code was already used or has expired".into(),
            ));
        }
        active_user(state, &self.user_id)?;
        let payload = match &self.approval {
            Some((scopes, teams, access)) => Event::DeviceAuthorizationApproved {
                device_id: self.device_id,
                client_id: device.client_id.clone(),
                user_id: self.user_id,
                scopes: scopes.clone(),
                teams: teams.clone(),
                access: *access,
            },
            None => Event::DeviceAuthorizationDenied {
                device_id: self.device_id,
                client_id: device.client_id.clone(),
                user_id: self.user_id,
            },
        };
        let event = self.ctx.event(
            grant_stream(&self.device_id),
            &device.client_id,
            now,
            payload,
        );
        Ok(AppendBatch::new(vec![event]))
    }
}

/// Exchanges an approved device code for tokens (RFC 8628 §3.4, §3.5).
pub struct RedeemDevice {
    /// The device authorization.
    pub device_id: Uuid,
    /// The polling client.
    pub client_id: String,
    /// The user who approved it, as read before submitting (its stream is
    /// declared so a concurrent disable is never batched with this).
    pub approved_by: Option<Uuid>,
    /// The access token to issue.
    pub access: NewToken,
    /// The refresh token to issue, if the client gets one.
    pub refresh: Option<NewToken>,
    /// Attribution.
    pub ctx: EventContext,
}

impl Decide for RedeemDevice {
    fn access(&self) -> Access {
        user_grant_access(&self.client_id, self.approved_by.as_ref(), &self.device_id)
    }

    fn decide(&self, state: &Projections, now: Timestamp) -> Result<AppendBatch, DomainError> {
        let device = state
            .grants
            .device(&self.device_id)
            .filter(|d| d.client_id == self.client_id)
            .ok_or_else(|| invalid_grant("the device code is invalid"))?;
        let (user_id, scopes, teams, access) = match &device.state {
            DeviceState::Redeemed => return Err(invalid_grant("the device code was already used")),
            DeviceState::Denied => return Err(GrantError::AccessDenied.into()),
            _ if now >= device.expires_at => return Err(GrantError::ExpiredToken.into()),
            DeviceState::Pending => return Err(GrantError::AuthorizationPending.into()),
            DeviceState::Approved {
                user_id,
                scopes,
                teams,
                access,
            } => (*user_id, scopes.clone(), teams.clone(), *access),
        };
        if self.approved_by != Some(user_id) {
            // Approved after the handler looked: its stream was not declared; poll again.
            return Err(GrantError::AuthorizationPending.into());
        }
        let client = active_client(state, &self.client_id)?;
        grant_allowed(client, GrantType::DeviceCode)?;
        if state.users.get(&user_id).is_none_or(|u| u.disabled) {
            return Err(GrantError::AccessDenied.into());
        }
        let grant = Grant {
            subject: user_id,
            scopes: scopes.clone(),
            refresh_scopes: scopes,
            audience: device.resources.clone(),
            teams,
            access,
            family_id: device.device_id,
            grant_type: GrantType::DeviceCode,
            parent_id: None,
        };
        Ok(AppendBatch::new(token_events(
            &self.ctx,
            now,
            client,
            &grant,
            self.access,
            self.refresh,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_the_rfc_7636_example() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_s256_matches(verifier, challenge));
        assert!(!pkce_s256_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl",
            challenge
        ));
        assert!(!pkce_s256_matches("short", challenge));
    }
}
