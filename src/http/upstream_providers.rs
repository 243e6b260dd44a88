//! `/api/admin/upstream-providers`: register (given, or discovered from
//! an issuer), list, read, edit (`If-Match`) and delete the OAuth
//! providers authlog connects users to, and list a provider's
//! connections. The client secret is write-only: sealed under the vault
//! key before it reaches the log, never in a response. Reads need
//! `clients:read`, writes `clients:write`.

use actix_web::http::{header, StatusCode};
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::bearer::authorize;
use super::edit::{edit_request, if_match};
use super::error::ApiError;
use super::json_body::read_json;
use super::upstream_connections::connection_view;
use crate::commands::upstream::{RegisterProvider, UpdateProvider};
use crate::commands::DomainError;
use crate::scopes::{CLIENTS_READ, CLIENTS_WRITE};
use crate::state::AppState;
use crate::upstream::provider::{self, ProviderInput};

fn writer(state: &AppState) -> Result<&crate::writer::WriterHandle, ApiError> {
    state.ready_writer().ok_or_else(ApiError::starting)
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("upstream provider {id}"))
}

/// The provider as an admin reads it, with its `ETag`.
fn respond(state: &AppState, id: &str, status: StatusCode) -> Result<HttpResponse, ApiError> {
    let p = state.read()?;
    let record = p.upstream.provider(id).ok_or_else(|| not_found(id))?;
    Ok(HttpResponse::build(status)
        .insert_header((header::ETAG, format!("\"{}\"", record.version)))
        .json(provider::view(&state.config.issuer, record, &p.upstream)))
}

#[utoipa::path(
    operation_id = "upstream_providers_create",
    tag = "upstream",
    summary = "Register an upstream provider (endpoints given, or discovered from issuer)",
    request_body = crate::http::openapi::schemas::ProviderInput,
    responses((status = 201, description = "The provider; register its callback_url there", body = crate::http::openapi::schemas::ProviderView), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[post("/api/admin/upstream-providers")]
pub(crate) async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, CLIENTS_WRITE)?;
    let mut input: ProviderInput = read_json(&req, body).await?.unwrap_or_default();
    let id = input
        .id
        .clone()
        .ok_or_else(|| ApiError::invalid("id", "is required"))?;
    if !provider::valid_id(&id) {
        return Err(ApiError::invalid(
            "id",
            "must be 1-64 characters of a-z 0-9 - _",
        ));
    }
    if input.issuer.is_some() {
        input.discover().await?;
    }
    let upstream = input.to_provider(input.client_secret.is_some())?;
    let sealed = input
        .client_secret
        .as_deref()
        .map(|s| state.vault.seal_client_secret(&*state.entropy, &id, s));
    writer(&state)?
        .submit(RegisterProvider {
            provider_id: id.clone(),
            provider: upstream,
            sealed_client_secret: sealed,
            ctx: caller.context(),
        })
        .await?;
    let mut response = respond(&state, &id, StatusCode::CREATED)?;
    if let Ok(v) = header::HeaderValue::from_str(&format!("/api/admin/upstream-providers/{id}")) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

#[utoipa::path(
    operation_id = "upstream_providers_list",
    tag = "upstream",
    summary = "List upstream providers",
    responses((status = 200, description = "The providers", body = crate::http::openapi::schemas::ProviderList), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[get("/api/admin/upstream-providers")]
pub(crate) async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, CLIENTS_READ)?;
    let p = state.read()?;
    let items: Vec<Value> = p
        .upstream
        .providers()
        .map(|r| provider::view(&state.config.issuer, r, &p.upstream))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

#[utoipa::path(
    operation_id = "upstream_providers_read",
    tag = "upstream",
    summary = "Read an upstream provider",
    params(("id" = String, Path, description = "Provider id")),
    responses((status = 200, description = "The provider", body = crate::http::openapi::schemas::ProviderView), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[get("/api/admin/upstream-providers/{id}")]
pub(crate) async fn read(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, CLIENTS_READ)?;
    respond(&state, &id, StatusCode::OK)
}

#[utoipa::path(
    operation_id = "upstream_providers_edit",
    tag = "upstream",
    summary = "Edit an upstream provider (If-Match: its version); fields not sent are kept",
    params(("id" = String, Path, description = "Provider id"), ("If-Match" = String, Header, description = "The version read, quoted")),
    request_body = crate::http::openapi::schemas::ProviderInput,
    responses((status = 200, description = "The provider", body = crate::http::openapi::schemas::ProviderView), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[patch("/api/admin/upstream-providers/{id}")]
pub(crate) async fn edit(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (caller, expected_version, mut patch): (_, _, ProviderInput) =
        edit_request(&req, &state, CLIENTS_WRITE, body).await?;
    let id = id.into_inner();
    if patch.id.as_ref().is_some_and(|given| *given != id) {
        return Err(ApiError::invalid("id", "is immutable"));
    }
    if state.read()?.upstream.provider(&id).is_none() {
        return Err(not_found(&id));
    }
    if patch.issuer.is_some() {
        patch.discover().await?;
    }
    let sealed_new = patch
        .client_secret
        .as_deref()
        .map(|s| state.vault.seal_client_secret(&*state.entropy, &id, s));
    writer(&state)?
        .submit(UpdateProvider {
            provider_id: id.clone(),
            edit: Box::new(move |current| {
                let merged = merge(provider::editable(current), &patch);
                let drops_secret = patch.token_endpoint_auth_method.as_deref() == Some("none");
                let sealed = match &sealed_new {
                    Some(s) => Some(s.clone()),
                    None if drops_secret => None,
                    None => current.sealed_client_secret.clone(),
                };
                let upstream = merged
                    .to_provider(sealed.is_some())
                    .map_err(DomainError::from)?;
                Ok((upstream, sealed))
            }),
            expected_version,
            ctx: caller.context(),
        })
        .await?;
    respond(&state, &id, StatusCode::OK)
}

/// `patch`'s fields over `current`'s.
fn merge(current: ProviderInput, patch: &ProviderInput) -> ProviderInput {
    let p = patch.clone();
    ProviderInput {
        id: current.id,
        name: p.name.or(current.name),
        issuer: p.issuer.or(current.issuer),
        authorization_url: p.authorization_url.or(current.authorization_url),
        token_url: p.token_url.or(current.token_url),
        revocation_url: p.revocation_url.or(current.revocation_url),
        userinfo_url: p.userinfo_url.or(current.userinfo_url),
        client_id: p.client_id.or(current.client_id),
        client_secret: None,
        scopes: p.scopes.or(current.scopes),
        pkce: p.pkce.or(current.pkce),
        token_endpoint_auth_method: p
            .token_endpoint_auth_method
            .or(current.token_endpoint_auth_method),
        authorization_params: p.authorization_params.or(current.authorization_params),
        allowed_clients: p.allowed_clients.or(current.allowed_clients),
    }
}

#[utoipa::path(
    operation_id = "upstream_providers_delete",
    tag = "upstream",
    summary = "Delete an upstream provider; every connection to it ends (revoked at the provider) and its data key is destroyed",
    params(("id" = String, Path, description = "Provider id"), ("If-Match" = Option<String>, Header, description = "The version read, quoted")),
    responses((status = 204, description = "Deleted"), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[delete("/api/admin/upstream-providers/{id}")]
pub(crate) async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, CLIENTS_WRITE)?;
    let expected_version = if_match(&req)?;
    if state.read()?.upstream.provider(&id).is_none() {
        return Err(not_found(&id));
    }
    crate::upstream::disconnect::delete_provider(&state, &id, expected_version, caller.context())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    operation_id = "upstream_providers_connections",
    tag = "upstream",
    summary = "Users connected to a provider (never a token)",
    params(("id" = String, Path, description = "Provider id")),
    responses((status = 200, description = "The connections", body = crate::http::openapi::schemas::ConnectionList), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[get("/api/admin/upstream-providers/{id}/connections")]
pub(crate) async fn connections(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, CLIENTS_READ)?;
    let p = state.read()?;
    p.upstream.provider(&id).ok_or_else(|| not_found(&id))?;
    let items: Vec<Value> = p
        .upstream
        .connections_of_provider(&id)
        .map(|c| connection_view(&state.config.issuer, &p, c))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(read)
        .service(edit)
        .service(remove)
        .service(connections);
}
