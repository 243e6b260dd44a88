//! Users' connections to upstream providers, never with a token in
//! them: `GET /api/me/connections` and `DELETE /api/me/connections/{id}`
//! (the signed-in user's own, by provider id, with a user's bearer
//! token), and for admins `GET /api/admin/users/{id}/connections`
//! (`users:read`) and `DELETE /api/admin/users/{id}/connections/{provider}`
//! (`users:write`). A provider's connections are listed by
//! `upstream_providers.rs`.

use actix_web::{delete, get, web, HttpRequest, HttpResponse};
use authlog_events::DisconnectReason;
use authlog_projections::{Connection, ConnectionStatus, Projections};
use serde_json::{json, Value};
use uuid::Uuid;

use super::bearer::{authenticate_api, authorize, Caller};
use super::error::ApiError;
use crate::scopes::{USERS_READ, USERS_WRITE};
use crate::state::AppState;
use crate::upstream::disconnect::disconnect;
use crate::upstream::refresh::TokenError;

/// A connection as its user or an admin sees it.
pub fn connection_view(issuer: &str, p: &Projections, c: &Connection) -> Value {
    let (status, reason) = match &c.status {
        ConnectionStatus::Active => ("active", None),
        ConnectionStatus::NeedsReconnect { reason, .. } => ("needs_reconnect", Some(reason)),
    };
    json!({
        "id": c.provider_id,
        "provider_id": c.provider_id,
        "provider_name": p.upstream.provider(&c.provider_id).map(|r| r.provider.name.clone()),
        "user_id": c.user_id,
        "username": p.users.get(&c.user_id).map(|u| u.username.clone()),
        "status": status,
        "reason": reason,
        "scopes": c.scopes,
        "connected_at": c.connected_at.to_rfc3339(),
        "refreshed_at": c.refreshed_at.map(|t| t.to_rfc3339()),
        "expires_at": c.expires_at.map(|t| t.to_rfc3339()),
        "last_handoff": c.last_handoff.as_ref().map(|(client, at)| json!({"client_id": client, "at": at.to_rfc3339()})),
        "connect_url": format!("{issuer}/connect/{}", c.provider_id),
    })
}

fn list_of(state: &AppState, user: &Uuid) -> Result<HttpResponse, ApiError> {
    let p = state.read()?;
    let items: Vec<Value> = p
        .upstream
        .connections_of_user(user)
        .map(|c| connection_view(&state.config.issuer, &p, c))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

fn user_of(caller: &Caller) -> Result<Uuid, ApiError> {
    caller.token.subject().ok_or(ApiError::Forbidden {
        scope: "a user's token",
    })
}

async fn end(
    state: &AppState,
    user: Uuid,
    provider_id: &str,
    reason: DisconnectReason,
    caller: &Caller,
) -> Result<HttpResponse, ApiError> {
    match disconnect(state, user, provider_id, reason, caller.context()).await {
        Ok(()) => Ok(HttpResponse::NoContent().finish()),
        Err(TokenError::NotConnected) => {
            Err(ApiError::NotFound(format!("connection {provider_id}")))
        }
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(
    operation_id = "connections_mine",
    tag = "upstream",
    summary = "The signed-in user's connected providers",
    responses((status = 200, description = "The connections", body = crate::http::openapi::schemas::ConnectionList), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[get("/api/me/connections")]
pub(crate) async fn mine(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authenticate_api(&req, &state)?;
    list_of(&state, &user_of(&caller)?)
}

#[utoipa::path(
    operation_id = "connections_disconnect_mine",
    tag = "upstream",
    summary = "Disconnect a provider: its tokens are revoked there and their data key destroyed",
    params(("id" = String, Path, description = "Provider id")),
    responses((status = 204, description = "Disconnected"), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[delete("/api/me/connections/{id}")]
pub(crate) async fn disconnect_mine(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authenticate_api(&req, &state)?;
    let user = user_of(&caller)?;
    end(&state, user, &id, DisconnectReason::ByUser, &caller).await
}

fn user_id(text: &str) -> Result<Uuid, ApiError> {
    text.parse()
        .map_err(|_| ApiError::NotFound(format!("user {text}")))
}

#[utoipa::path(
    operation_id = "connections_of_user",
    tag = "users",
    summary = "A user's connected providers (never a token)",
    params(("id" = String, Path, description = "User id (UUID)")),
    responses((status = 200, description = "The connections", body = crate::http::openapi::schemas::ConnectionList), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[get("/api/admin/users/{id}/connections")]
pub(crate) async fn of_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, USERS_READ)?;
    let user = user_id(&id)?;
    if state.read()?.users.get(&user).is_none() {
        return Err(ApiError::NotFound(format!("user {user}")));
    }
    list_of(&state, &user)
}

#[utoipa::path(
    operation_id = "connections_disconnect_user",
    tag = "users",
    summary = "Disconnect a user from a provider",
    params(("id" = String, Path, description = "User id (UUID)"), ("provider" = String, Path, description = "Provider id")),
    responses((status = 204, description = "Disconnected"), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[delete("/api/admin/users/{id}/connections/{provider}")]
pub(crate) async fn disconnect_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, USERS_WRITE)?;
    let (id, provider) = path.into_inner();
    let user = user_id(&id)?;
    end(&state, user, &provider, DisconnectReason::ByAdmin, &caller).await
}

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(mine)
        .service(disconnect_mine)
        .service(of_user)
        .service(disconnect_user);
}
