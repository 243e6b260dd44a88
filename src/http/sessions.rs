//! Connected apps: `GET /api/admin/sessions` (every active token grouped
//! by client) and the user's own view, `GET /api/me/sessions` and
//! `DELETE /api/me/sessions/{token_id}`.

use actix_web::{delete, get, web, HttpRequest, HttpResponse};
use authlog_events::RevocationReason;
use authlog_projections::TokenRecord;
use serde::Deserialize;
use serde_json::{json, Value};

use super::bearer::{authenticate_api, authorize};
use super::error::ApiError;
use super::json_body::parse_query;
use super::token_json::token_view;
use crate::commands::tokens::RevokeToken;
use crate::scopes::CLIENTS_READ;
use crate::state::AppState;

/// Groups tokens by client, each group with the client's name.
fn grouped<'a>(
    state: &AppState,
    tokens: impl Iterator<Item = &'a TokenRecord>,
) -> Result<Vec<Value>, ApiError> {
    let p = state.read()?;
    let mut groups: std::collections::BTreeMap<&str, Vec<Value>> =
        std::collections::BTreeMap::new();
    for t in tokens {
        let mut view = token_view(t, state.usage.pending(&t.token_id));
        if let Some(user) = t.subject().and_then(|s| p.users.get(&s)) {
            view["username"] = json!(user.username);
        }
        groups.entry(&*t.client_id).or_default().push(view);
    }
    Ok(groups
        .into_iter()
        .map(|(client_id, tokens)| {
            let name = p.registry.get(client_id).map(|c| c.metadata.client_name.clone());
            json!({ "client_id": client_id, "client_name": name, "active_tokens": tokens.len(), "tokens": tokens })
        })
        .collect())
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SessionsQuery {
    /// Only this client's tokens.
    client_id: Option<String>,
    /// Only tokens acting for this user (UUID).
    user_id: Option<String>,
}

#[utoipa::path(
    operation_id = "sessions_all_sessions",
    tag = "sessions",
    summary = "Active tokens grouped by client",
    params(SessionsQuery),
    responses((status = 200, description = "The groups", body = crate::http::openapi::schemas::SessionList), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[get("/api/admin/sessions")]
pub(crate) async fn all_sessions(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, CLIENTS_READ)?;
    let query: SessionsQuery = parse_query(&req)?;
    let user = match &query.user_id {
        Some(u) => Some(
            u.parse::<uuid::Uuid>()
                .map_err(|_| ApiError::invalid("user_id", "is not a user id"))?,
        ),
        None => None,
    };
    let now = state.clock.now();
    let tokens: Vec<TokenRecord> = {
        let p = state.read()?;
        let clients: Vec<String> = match &query.client_id {
            Some(c) => vec![c.clone()],
            None => p
                .registry
                .iter_from(None)
                .map(|c| c.client_id.clone())
                .collect(),
        };
        clients
            .iter()
            .flat_map(|c| p.tokens.active_for_client(c, now))
            .filter(|t| user.is_none_or(|u| t.subject() == Some(u)))
            .cloned()
            .collect()
    };
    Ok(HttpResponse::Ok().json(json!({ "items": grouped(&state, tokens.iter())? })))
}

#[utoipa::path(
    operation_id = "sessions_my_sessions",
    tag = "sessions",
    summary = "The signed-in user's connected apps",
    responses((status = 200, description = "The groups", body = crate::http::openapi::schemas::SessionList), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[get("/api/me/sessions")]
pub(crate) async fn my_sessions(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authenticate_api(&req, &state)?;
    let user = caller.token.subject().ok_or(ApiError::Forbidden {
        scope: "a user's token",
    })?;
    let now = state.clock.now();
    let tokens: Vec<TokenRecord> = state
        .read()?
        .tokens
        .active_for_subject(&user, now)
        .cloned()
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": grouped(&state, tokens.iter())? })))
}

#[utoipa::path(
    operation_id = "sessions_end_session",
    tag = "sessions",
    summary = "Disconnect one of the user's apps (revoke the token)",
    params(("token_id" = String, Path, description = "Token id")),
    responses((status = 204, description = "Revoked"), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[delete("/api/me/sessions/{token_id}")]
pub(crate) async fn end_session(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authenticate_api(&req, &state)?;
    let user = caller.token.subject().ok_or(ApiError::Forbidden {
        scope: "a user's token",
    })?;
    let not_found = || ApiError::NotFound(format!("session {id}"));
    let token_id: uuid::Uuid = id.parse().map_err(|_| not_found())?;
    let (family_id, client_id) = {
        let p = state.read()?;
        let t = p
            .tokens
            .get(&token_id)
            .filter(|t| t.subject() == Some(user))
            .ok_or_else(not_found)?;
        (t.family_id(), t.client_id.to_string())
    };
    let writer = state.ready_writer().ok_or_else(ApiError::starting)?;
    writer
        .submit(RevokeToken {
            token_id,
            family_id,
            client_id,
            reason: RevocationReason::RevokedByUser,
            ctx: caller.context(),
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(all_sessions)
        .service(my_sessions)
        .service(end_session);
}
