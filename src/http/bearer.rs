//! Bearer-token authentication for the admin, audit and self-service APIs
//! (RFC 6750). The token must be an active access token with the
//! request's scope. A token acting for a user never does more than the
//! user: the user must be enabled, their roles must allow the scope, and
//! write scopes need `full` access. Every use is noted for "last used".

use actix_web::http::header;
use actix_web::HttpRequest;
use authlog_events::{Principal, TokenKind};
use authlog_projections::{TokenRecord, UserRecord};

use super::context::RequestFacts;
use super::error::ApiError;
use crate::commands::EventContext;
use crate::scopes::{access_allows, role_allows};
use crate::state::AppState;

/// An authenticated API caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token it presented.
    pub token: TokenRecord,
    /// The user the token acts for, if any.
    pub user: Option<UserRecord>,
    /// Request facts for attribution.
    pub facts: RequestFacts,
}

impl Caller {
    /// Who acts: the user the token is for, or the client itself.
    pub fn principal(&self) -> Principal {
        match self.token.subject() {
            Some(user) => Principal::User(user),
            None => Principal::Client(self.token.client_id.to_string()),
        }
    }

    /// Attribution for the events this caller causes: a user acting
    /// through a client's token is tagged with that client.
    pub fn context(&self) -> EventContext {
        let via = self
            .token
            .subject()
            .map(|_| self.token.client_id.to_string());
        self.facts.context(self.principal(), via)
    }
}

/// The bearer token of a request, if any.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Authenticates the request's bearer token (any scope).
pub fn authenticate(req: &HttpRequest, state: &AppState) -> Result<Caller, ApiError> {
    let token = bearer_token(req).ok_or(ApiError::Unauthenticated { token_given: false })?;
    let digest = state.key.digest(token);
    let now = state.clock.now();
    let projections = state.read()?;
    let record = projections
        .tokens
        .by_digest(&digest)
        .filter(|t| t.is_active(now) && t.kind == TokenKind::Access)
        .ok_or(ApiError::Unauthenticated { token_given: true })?;
    let user = match record.subject() {
        Some(subject) => Some(
            projections
                .users
                .get(&subject)
                .filter(|u| !u.disabled)
                .cloned()
                .ok_or(ApiError::Unauthenticated { token_given: true })?,
        ),
        None => None,
    };
    state.usage.touch(record.token_id, now);
    Ok(Caller {
        token: record.clone(),
        user,
        facts: RequestFacts::of(req),
    })
}

/// Authenticates a request to authlog's own API (`/api/...`): a token
/// minted for another resource (RFC 8707 audience) is refused, so a
/// resource server cannot replay the tokens it receives against authlog.
pub fn authenticate_api(req: &HttpRequest, state: &AppState) -> Result<Caller, ApiError> {
    let caller = authenticate(req, state)?;
    let for_authlog = caller.token.audience().is_empty()
        || caller
            .token
            .audience()
            .iter()
            .any(|a| a.trim_end_matches('/') == state.config.issuer);
    if for_authlog {
        Ok(caller)
    } else {
        Err(ApiError::Unauthenticated { token_given: true })
    }
}

/// Authenticates the request and checks `scope` against the token, the
/// user's roles and the token's access preset.
pub fn authorize(
    req: &HttpRequest,
    state: &AppState,
    scope: &'static str,
) -> Result<Caller, ApiError> {
    let caller = authenticate_api(req, state)?;
    super::observation::note_client(req, &caller.token.client_id);
    let token_ok = caller.token.scopes.iter().any(|s| s == scope);
    let user_ok = caller
        .user
        .as_ref()
        .is_none_or(|u| role_allows(&u.roles, scope));
    if token_ok && user_ok && access_allows(caller.token.access, scope) {
        Ok(caller)
    } else {
        Err(ApiError::Forbidden { scope })
    }
}
