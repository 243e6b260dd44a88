//! Bearer-token authentication for the admin and audit APIs (RFC 6750):
//! the token must be active, and the request's scope must be among the
//! token's.

use actix_web::http::header;
use actix_web::HttpRequest;
use authlog_events::Principal;
use authlog_projections::TokenRecord;

use super::context::RequestFacts;
use super::error::ApiError;
use crate::commands::EventContext;
use crate::state::AppState;

/// An authenticated API caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token it presented.
    pub token: TokenRecord,
    /// Request facts for attribution.
    pub facts: RequestFacts,
}

impl Caller {
    /// Who acts: the user the token is for, or the client itself.
    pub fn principal(&self) -> Principal {
        match self.token.subject {
            Some(user) => Principal::User(user),
            None => Principal::Client(self.token.client_id.clone()),
        }
    }

    /// Attribution for the events this caller causes.
    pub fn context(&self) -> EventContext {
        let via = self.token.subject.map(|_| self.token.client_id.clone());
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

/// Authenticates the request and checks `scope`.
pub fn authorize(
    req: &HttpRequest,
    state: &AppState,
    scope: &'static str,
) -> Result<Caller, ApiError> {
    let token = bearer_token(req).ok_or(ApiError::Unauthenticated { token_given: false })?;
    let digest = state.key.digest(token);
    let now = state.clock.now();
    let projections = state.read();
    let record = projections
        .tokens
        .by_digest(&digest)
        .filter(|t| t.is_active(now) && t.kind == authlog_events::TokenKind::Access)
        .ok_or(ApiError::Unauthenticated { token_given: true })?;
    if !record.scopes.iter().any(|s| s == scope) {
        return Err(ApiError::Forbidden { scope });
    }
    Ok(Caller {
        token: record.clone(),
        facts: RequestFacts::of(req),
    })
}
