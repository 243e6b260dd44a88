//! Grant commands: authorization codes (issue, redeem with PKCE, reuse
//! revoking what the code produced), refresh-token rotation with reuse
//! detection, and the device flow (start, approve or deny, redeem).

use authlog_events::{
    AccessPreset, Actor, Digest, Event, GrantType, Principal, RevocationReason, RevocationTarget,
    Timestamp, TokenKind,
};
use authlog_projections::{ClientRecord, DeviceRecord, DeviceState, Projections};
use uuid::Uuid;

use super::issue::{mint_tokens, Grant, Issued};
use super::rules::{
    active_client, active_user, grant_allowed, narrow_audience, narrower_scopes, pkce_s256_matches,
    refresh_enabled,
};
use super::{
    client_stream, client_tokens_resource, grant_stream, user_stream, Access, Command, Decided,
    DomainError, Env, EventContext, GrantError,
};
use crate::scopes::OPENID;
use crate::secrets::SecretKind;

/// Lifetime of an authorization code.
pub const CODE_TTL_SECONDS: i64 = 60;
/// Lifetime of a device authorization.
pub const DEVICE_TTL_SECONDS: i64 = 600;
/// Polling interval of the device flow.
pub const DEVICE_INTERVAL_SECONDS: u32 = 5;
/// RFC 8628 §6.1: consonants only, no vowels (no words), no look-alikes.
const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// New user codes tried before a start gives up on collisions.
const USER_CODE_TRIES: usize = 5;

fn invalid_grant(message: impl Into<String>) -> DomainError {
    DomainError::Grant(GrantError::InvalidGrant(message.into()))
}

/// What a grant at the token endpoint yields: tokens, or, for a code or
/// retired refresh token presented again, the revocation of its family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantOutcome {
    /// Tokens were issued.
    Issued(Issued),
    /// The grant was replayed: its family is revoked, no tokens issued.
    ReuseDetected {
        /// Tokens the revocation stopped.
        tokens_revoked: u64,
    },
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

/// A code or retired refresh token was presented again, by the client it
/// was issued to and with its proof (PKCE verifier, client credentials):
/// one event revokes the whole grant family, and it is the command's only
/// outcome (no tokens). The event's actor is the client, the one thing the
/// request proved; the user proved nothing. A family with no active token
/// left appends nothing, so replays cannot grow the log.
fn revoke_reused_family(
    env: &Env,
    ctx: &EventContext,
    state: &Projections,
    client_id: &str,
    family: Uuid,
) -> Decided<GrantOutcome> {
    let tokens_revoked = state.tokens.active_in_family(&family, env.now());
    let outcome = GrantOutcome::ReuseDetected { tokens_revoked };
    if tokens_revoked == 0 {
        return Decided::nothing(outcome);
    }
    let proven = EventContext {
        actor: Actor {
            principal: Principal::Client(client_id.to_owned()),
            via_client: None,
            ..ctx.actor.clone()
        },
        correlation_id: ctx.correlation_id.clone(),
    };
    let event = proven.event(
        env,
        grant_stream(&family),
        client_id,
        Event::TokenRevoked {
            target: RevocationTarget::Family(family),
            client_id: client_id.to_owned(),
            reason: RevocationReason::ReuseDetected,
            tokens_revoked,
        },
    );
    Decided::events(vec![event], outcome)
}

/// The user's decision at the consent page, turned into a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCode {
    /// The code's id (its future grant family).
    pub code_id: Uuid,
    /// The code, for the redirect.
    pub code: String,
}

/// How the user signed in, for the ID tokens of an `openid` grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInFacts {
    /// The authorization request's `nonce`.
    pub nonce: Option<String>,
    /// When the session's login happened.
    pub auth_time: Timestamp,
    /// The session's id (`sid`).
    pub session_id: String,
}

impl SignInFacts {
    /// The `SignInContext` of grant `family_id` for `client`, kept as long
    /// as the grant's refresh tokens can live.
    pub fn event(&self, family_id: Uuid, client: &ClientRecord, now: Timestamp) -> Event {
        let md = &client.metadata;
        let lifetime = md
            .refresh_token_ttl_seconds
            .max(md.access_token_ttl_seconds);
        Event::SignInContext {
            family_id,
            nonce: self.nonce.clone(),
            auth_time: self.auth_time,
            session_id: self.session_id.clone(),
            amr: vec!["pwd".to_owned()],
            until: now.plus_seconds(i64::from(lifetime) + CODE_TTL_SECONDS),
        }
    }
}

/// Issues an authorization code (and remembers consent when given).
pub struct IssueCode {
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
    /// How the user signed in; appended as `SignInContext` when `openid`
    /// is among the scopes.
    pub sign_in: Option<SignInFacts>,
    /// Attribution.
    pub ctx: EventContext,
}

impl IssueCode {
    fn consent_stream(&self) -> String {
        format!("consent/{}/{}", self.user_id, self.client_id)
    }
}

impl Command for IssueCode {
    type Outcome = IssuedCode;

    fn access(&self) -> Access {
        // The code's own stream is new: nothing else can touch it.
        Access {
            reads: vec![client_stream(&self.client_id), user_stream(&self.user_id)],
            writes: vec![self.consent_stream()],
        }
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<IssuedCode>, DomainError> {
        let client = active_client(state, &self.client_id)?;
        grant_allowed(client, GrantType::AuthorizationCode)?;
        active_user(state, &self.user_id)?;
        let mut events = Vec::with_capacity(2);
        if self.remember_consent {
            events.push(self.ctx.event(
                env,
                self.consent_stream(),
                &self.client_id,
                Event::ConsentGranted {
                    user_id: self.user_id,
                    client_id: self.client_id.clone(),
                    scopes: self.scopes.clone(),
                    teams: self.teams.clone(),
                    access: self.access,
                },
            ));
        }
        let code_id = env.id();
        let code = env.mint(SecretKind::AuthorizationCode);
        events.push(self.ctx.event(
            env,
            grant_stream(&code_id),
            &self.client_id,
            Event::AuthorizationCodeIssued {
                code_id,
                code_digest: code.digest,
                client_id: self.client_id.clone(),
                user_id: self.user_id,
                redirect_uri: self.redirect_uri.clone(),
                code_challenge: self.code_challenge.clone(),
                scopes: self.scopes.clone(),
                resources: self.resources.clone(),
                teams: self.teams.clone(),
                access: self.access,
                expires_at: env.now().plus_seconds(CODE_TTL_SECONDS),
            },
        ));
        if let Some(sign_in) = self
            .sign_in
            .as_ref()
            .filter(|_| self.scopes.iter().any(|s| s == OPENID))
        {
            events.push(self.ctx.event(
                env,
                grant_stream(&code_id),
                &self.client_id,
                sign_in.event(code_id, client, env.now()),
            ));
        }
        let outcome = IssuedCode {
            code_id,
            code: code.value,
        };
        Ok(Decided::events(events, outcome))
    }
}

/// Exchanges a code for tokens (RFC 6749 §4.1.3, RFC 7636 §4.6). A code
/// presented again revokes every token it produced (RFC 6749 §4.1.2).
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
    /// Attribution.
    pub ctx: EventContext,
}

impl RedeemCode {
    /// The redemption of the code whose value has `digest`, as the
    /// committed state knows it (`invalid_grant` for an unknown code).
    #[allow(clippy::too_many_arguments)]
    pub fn of_code(
        state: &Projections,
        digest: &Digest,
        client_id: &str,
        redirect_uri: Option<String>,
        code_verifier: String,
        resources: Vec<String>,
        ctx: impl FnOnce(Uuid) -> EventContext,
    ) -> Result<Self, DomainError> {
        let code = state
            .grants
            .code_by_digest(digest)
            .ok_or_else(|| invalid_grant("the code is invalid or expired"))?;
        Ok(RedeemCode {
            code_id: code.code_id,
            user_id: code.user_id,
            client_id: client_id.to_owned(),
            redirect_uri,
            code_verifier,
            resources,
            ctx: ctx(code.user_id),
        })
    }
}

impl Command for RedeemCode {
    type Outcome = GrantOutcome;

    fn access(&self) -> Access {
        user_grant_access(&self.client_id, Some(&self.user_id), &self.code_id)
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<GrantOutcome>, DomainError> {
        let now = env.now();
        let code = state
            .grants
            .code(&self.code_id)
            .ok_or_else(|| invalid_grant("the code is invalid"))?;
        if code.client_id != self.client_id {
            return Err(invalid_grant("the code was issued to another client"));
        }
        // A replay may revoke only once it proves what a redemption must
        // (RFC 9700 §4.2.4: the code is bound to the client and its PKCE
        // verifier): someone who merely saw a used code cannot end the
        // user's session with it.
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
        if code.redeemed {
            return Ok(revoke_reused_family(
                env,
                &self.ctx,
                state,
                &self.client_id,
                code.code_id,
            ));
        }
        let client = active_client(state, &self.client_id)?;
        grant_allowed(client, GrantType::AuthorizationCode)?;
        active_user(state, &code.user_id)?;
        let grant = Grant {
            subject: Some(code.user_id),
            scopes: code.scopes.clone(),
            refresh_scopes: code.scopes.clone(),
            audience: narrow_audience(&self.resources, &code.resources)?,
            teams: code.teams.clone(),
            access: code.access,
            family_id: Some(code.code_id),
            grant_type: GrantType::AuthorizationCode,
            parent_id: None,
            with_refresh: true,
        };
        let mut events = vec![self.ctx.event(
            env,
            grant_stream(&code.code_id),
            &self.client_id,
            Event::AuthorizationCodeRedeemed {
                code_id: code.code_id,
                client_id: self.client_id.clone(),
            },
        )];
        let (tokens, issued) = mint_tokens(env, &self.ctx, client, &grant, &state.signing_keys)?;
        events.extend(tokens);
        Ok(Decided::events(events, GrantOutcome::Issued(issued)))
    }
}

/// Rotates a refresh token (OAuth 2.1 §4.3.1). A retired refresh token
/// presented again revokes its whole family.
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
    /// Attribution.
    pub ctx: EventContext,
}

impl RefreshTokens {
    /// The rotation of the refresh token whose value has `digest`, as the
    /// committed state knows it (`invalid_grant` for an unknown one).
    pub fn of_token(
        state: &Projections,
        digest: &Digest,
        client_id: &str,
        scopes: Option<Vec<String>>,
        resources: Vec<String>,
        ctx: impl FnOnce(Uuid) -> EventContext,
    ) -> Result<Self, DomainError> {
        let token = state
            .tokens
            .by_digest(digest)
            .filter(|t| t.kind == TokenKind::Refresh)
            .ok_or_else(|| invalid_grant("the refresh token is invalid"))?;
        let user_id = token
            .subject()
            .ok_or_else(|| invalid_grant("the refresh token is invalid"))?;
        Ok(RefreshTokens {
            token_id: token.token_id,
            family_id: token.family_id(),
            user_id,
            client_id: client_id.to_owned(),
            scopes,
            resources,
            ctx: ctx(user_id),
        })
    }
}

impl Command for RefreshTokens {
    type Outcome = GrantOutcome;

    fn access(&self) -> Access {
        user_grant_access(&self.client_id, Some(&self.user_id), &self.family_id)
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<GrantOutcome>, DomainError> {
        let token = state
            .tokens
            .get(&self.token_id)
            .filter(|t| t.kind == TokenKind::Refresh && *t.client_id == *self.client_id)
            .ok_or_else(|| invalid_grant("the refresh token is invalid"))?;
        if let Some((reason, _)) = token.revoked() {
            if reason == RevocationReason::Rotated {
                return Ok(revoke_reused_family(
                    env,
                    &self.ctx,
                    state,
                    &self.client_id,
                    token.family_id(),
                ));
            }
            return Err(invalid_grant("the refresh token was revoked"));
        }
        if env.now() >= token.expires_at {
            return Err(invalid_grant("the refresh token has expired"));
        }
        let client = active_client(state, &self.client_id)?;
        grant_allowed(client, GrantType::RefreshToken)?;
        if !refresh_enabled(client) {
            return Err(invalid_grant("refresh tokens are disabled for this client"));
        }
        let subject = token
            .subject()
            .ok_or_else(|| invalid_grant("the refresh token has no user"))?;
        let user = active_user(state, &subject)?;
        if let Some(asked) = &self.scopes {
            narrower_scopes(asked, &token.scopes)?;
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
        let grant = Grant {
            subject: Some(subject),
            scopes,
            refresh_scopes,
            audience: narrow_audience(&self.resources, token.audience())?,
            teams,
            access: token.access,
            family_id: Some(token.family_id()),
            grant_type: GrantType::RefreshToken,
            parent_id: Some(token.token_id),
            with_refresh: true,
        };
        let mut events = vec![self.ctx.event(
            env,
            grant_stream(&token.family_id()),
            &self.client_id,
            Event::TokenRevoked {
                target: RevocationTarget::Token(token.token_id),
                client_id: self.client_id.clone(),
                reason: RevocationReason::Rotated,
                tokens_revoked: 1,
            },
        )];
        let (tokens, issued) = mint_tokens(env, &self.ctx, client, &grant, &state.signing_keys)?;
        events.extend(tokens);
        Ok(Decided::events(events, GrantOutcome::Issued(issued)))
    }
}

/// A started device authorization (RFC 8628 §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceStarted {
    /// The device code, for the device.
    pub device_code: String,
    /// The user code, normalised (8 letters).
    pub user_code: String,
}

/// Starts a device authorization (RFC 8628 §3.1).
pub struct StartDevice {
    /// The client.
    pub client_id: String,
    /// Requested scopes (`None`: all of the client's).
    pub scopes: Option<Vec<String>>,
    /// Resources.
    pub resources: Vec<String>,
    /// Attribution.
    pub ctx: EventContext,
}

/// The answer to a poll of an undecided device authorization (RFC 8628
/// §3.5): expired, too fast (`slow_down`), or still pending.
fn undecided(device: &DeviceRecord, now: Timestamp, polled_too_fast: bool) -> GrantError {
    if now >= device.expires_at {
        GrantError::ExpiredToken
    } else if polled_too_fast {
        GrantError::SlowDown
    } else {
        GrantError::AuthorizationPending
    }
}

/// A fresh 8-letter user code (about 34 bits).
fn new_user_code(env: &Env) -> String {
    env.bytes()[..8]
        .iter()
        .map(|b| USER_CODE_ALPHABET[usize::from(*b) % USER_CODE_ALPHABET.len()] as char)
        .collect()
}

impl Command for StartDevice {
    type Outcome = DeviceStarted;

    fn access(&self) -> Access {
        // User codes are drawn at decision time: starts never share a
        // batch, so two cannot draw the same code unseen.
        Access {
            reads: vec![client_stream(&self.client_id)],
            writes: vec!["user-codes".into()],
        }
    }

    fn decide(
        &self,
        state: &Projections,
        env: &Env,
    ) -> Result<Decided<DeviceStarted>, DomainError> {
        let now = env.now();
        let client = active_client(state, &self.client_id)?;
        grant_allowed(client, GrantType::DeviceCode)?;
        let scopes = super::rules::client_scopes(self.scopes.as_deref(), client)?;
        let user_code = (0..USER_CODE_TRIES)
            .map(|_| new_user_code(env))
            .find(|code| {
                state
                    .grants
                    .device_by_user_code(code)
                    .is_none_or(|d| now >= d.expires_at)
            })
            .ok_or_else(|| DomainError::TryAgain("could not allocate a user code".into()))?;
        let device_id = env.id();
        let device_code = env.mint(SecretKind::DeviceCode);
        let event = self.ctx.event(
            env,
            grant_stream(&device_id),
            &self.client_id,
            Event::DeviceAuthorizationStarted {
                device_id,
                device_code_digest: device_code.digest,
                user_code: user_code.clone(),
                client_id: self.client_id.clone(),
                scopes,
                resources: self.resources.clone(),
                expires_at: now.plus_seconds(DEVICE_TTL_SECONDS),
                interval_seconds: DEVICE_INTERVAL_SECONDS,
            },
        );
        let outcome = DeviceStarted {
            device_code: device_code.value,
            user_code,
        };
        Ok(Decided::events(vec![event], outcome))
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
    /// How the approving user signed in; appended as `SignInContext` when
    /// an approval grants `openid`.
    pub sign_in: Option<SignInFacts>,
    /// Attribution.
    pub ctx: EventContext,
}

impl Command for DecideDevice {
    type Outcome = ();

    fn access(&self) -> Access {
        Access {
            reads: vec![user_stream(&self.user_id)],
            writes: vec![grant_stream(&self.device_id)],
        }
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<()>, DomainError> {
        let now = env.now();
        let device = state
            .grants
            .device(&self.device_id)
            .ok_or_else(|| DomainError::NotFound("device authorization".into()))?;
        // Say what happened: a user who lost a race between approve and
        // deny (two tabs, two people) learns the decision that won.
        let decided = match device.state {
            DeviceState::Approved { .. } => Some("this request was already approved"),
            DeviceState::Denied => Some("this request was already denied"),
            DeviceState::Redeemed => Some("this request was already approved and used"),
            DeviceState::Pending if now >= device.expires_at => Some("this code has expired"),
            DeviceState::Pending => None,
        };
        if let Some(what) = decided {
            return Err(DomainError::Conflict(what.into()));
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
        let mut events = vec![self.ctx.event(
            env,
            grant_stream(&self.device_id),
            &device.client_id,
            payload,
        )];
        let openid =
            matches!(&self.approval, Some((scopes, ..)) if scopes.iter().any(|s| s == OPENID));
        if let (true, Some(sign_in), Some(client)) =
            (openid, &self.sign_in, state.registry.get(&device.client_id))
        {
            events.push(self.ctx.event(
                env,
                grant_stream(&self.device_id),
                &device.client_id,
                sign_in.event(self.device_id, client, now),
            ));
        }
        Ok(Decided::events(events, ()))
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
    /// The client polled faster than the interval (RFC 8628 §3.5).
    pub polled_too_fast: bool,
    /// Attribution.
    pub ctx: EventContext,
}

impl RedeemDevice {
    /// The redemption of the device code whose value has `digest`, as the
    /// committed state knows it (`invalid_grant` for an unknown code or
    /// another client's). `too_fast(device_id, interval)` says whether
    /// this poll came sooner than the interval; `ctx` gets the approving
    /// user, if any.
    /// An undecided code polled too fast is answered `slow_down` here,
    /// without a trip through the writer.
    pub fn of_code(
        state: &Projections,
        now: Timestamp,
        digest: &Digest,
        client_id: &str,
        too_fast: impl FnOnce(Uuid, u32) -> bool,
        ctx: impl FnOnce(Option<Uuid>) -> EventContext,
    ) -> Result<Self, DomainError> {
        let device = state
            .grants
            .device_by_digest(digest)
            .filter(|d| d.client_id == client_id)
            .ok_or_else(|| invalid_grant("the device code is invalid"))?;
        let approved_by = match device.state {
            DeviceState::Approved { user_id, .. } => Some(user_id),
            _ => None,
        };
        let polled_too_fast = too_fast(device.device_id, device.interval_seconds);
        if device.state == DeviceState::Pending && polled_too_fast {
            return Err(undecided(device, now, polled_too_fast).into());
        }
        Ok(RedeemDevice {
            device_id: device.device_id,
            client_id: client_id.to_owned(),
            approved_by,
            polled_too_fast,
            ctx: ctx(approved_by),
        })
    }
}

impl Command for RedeemDevice {
    type Outcome = Issued;

    fn access(&self) -> Access {
        user_grant_access(&self.client_id, self.approved_by.as_ref(), &self.device_id)
    }

    fn decide(&self, state: &Projections, env: &Env) -> Result<Decided<Issued>, DomainError> {
        let now = env.now();
        let device = state
            .grants
            .device(&self.device_id)
            .filter(|d| d.client_id == self.client_id)
            .ok_or_else(|| invalid_grant("the device code is invalid"))?;
        let (user_id, scopes, teams, access) = match &device.state {
            DeviceState::Redeemed => return Err(invalid_grant("the device code was already used")),
            DeviceState::Denied => return Err(GrantError::AccessDenied.into()),
            // slow_down is a variant of authorization_pending (RFC 8628
            // §3.5); a decided code gets its definitive answer whatever the pace.
            DeviceState::Pending => return Err(undecided(device, now, self.polled_too_fast).into()),
            _ if now >= device.expires_at => return Err(GrantError::ExpiredToken.into()),
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
            subject: Some(user_id),
            scopes: scopes.clone(),
            refresh_scopes: scopes,
            audience: device.resources.clone(),
            teams,
            access,
            family_id: Some(device.device_id),
            grant_type: GrantType::DeviceCode,
            parent_id: None,
            with_refresh: true,
        };
        let (events, issued) = mint_tokens(env, &self.ctx, client, &grant, &state.signing_keys)?;
        Ok(Decided::events(events, issued))
    }
}
