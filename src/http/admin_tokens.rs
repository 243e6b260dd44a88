//! `DELETE /api/admin/tokens/{token_id}`: an admin revokes one token.

use actix_web::{delete, web, HttpRequest, HttpResponse};
use authlog_events::RevocationReason;

use super::bearer::authorize;
use super::error::ApiError;
use crate::commands::tokens::RevokeToken;
use crate::scopes::TOKENS_REVOKE;
use crate::state::AppState;

#[utoipa::path(
    operation_id = "tokens_revoke",
    tag = "clients",
    summary = "Revoke one token by id",
    params(("token_id" = String, Path, description = "Token id")),
    responses((status = 204, description = "Revoked (also when it already was)"), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[delete("/api/admin/tokens/{token_id}")]
pub(crate) async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    token_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, TOKENS_REVOKE)?;
    let not_found = || ApiError::NotFound(format!("token {token_id}"));
    let id: uuid::Uuid = token_id.parse().map_err(|_| not_found())?;
    let (family_id, client_id) = {
        let projections = state.read()?;
        let token = projections.tokens.get(&id).ok_or_else(not_found)?;
        (token.family_id(), token.client_id.to_string())
    };
    let writer = state.ready_writer().ok_or_else(ApiError::starting)?;
    writer
        .submit(RevokeToken {
            token_id: id,
            family_id,
            client_id,
            reason: RevocationReason::RevokedByAdmin,
            ctx: caller.context(),
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(revoke);
}
