//! `/api/admin/oauth-clients`: create, list, export, read, edit, rotate,
//! pause, resume, delete, bulk-delete, and a client's tokens.

use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use authlog_events::{RegistrationType, RevocationReason, Timestamp};
use authlog_projections::{ClientRecord, ClientStatus, Projections};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use super::bearer::authorize;
use super::client_export;
use super::client_json::{ClientInput, ClientView};
use super::edit::edit_request;
use super::error::ApiError;
use super::json_body::{parse_query, read_json};
use crate::client_policy;
use crate::commands::clients::{
    DeleteClients, RegisterClient, RevokeClientTokens, RotateSecret, SetClientStatus, UpdateClient,
};
use crate::scopes::{CLIENTS_READ, CLIENTS_WRITE, TOKENS_REVOKE};
use crate::state::AppState;
use crate::writer::WriterHandle;

/// Longest rotation grace period: 30 days.
const MAX_GRACE_SECONDS: u64 = 30 * 86_400;
/// Most ids in one bulk delete.
const MAX_BULK: usize = 500;
/// Largest page.
const MAX_LIMIT: usize = 500;

fn writer(state: &AppState) -> Result<&WriterHandle, ApiError> {
    state.ready_writer().ok_or_else(ApiError::starting)
}

fn view(projections: &Projections, client: &ClientRecord, now: Timestamp) -> ClientView {
    ClientView::of(
        client,
        projections.tokens.active_count(&client.client_id, now),
        now,
    )
}

fn found<'a>(projections: &'a Projections, id: &str) -> Result<&'a ClientRecord, ApiError> {
    projections
        .registry
        .get(id)
        .ok_or_else(|| ApiError::NotFound(format!("client {id}")))
}

fn etag(version: u64) -> (header::HeaderName, String) {
    (header::ETAG, format!("\"{version}\""))
}

/// The media type of an Excel workbook.
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// An export body as a download named `oauth-clients.{extension}`.
fn attachment(bytes: Vec<u8>, media_type: &str, extension: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(media_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"oauth-clients.{extension}\""),
        ))
        .body(bytes)
}

/// Reads the current view of a client after a write.
fn current(state: &AppState, id: &str) -> Result<ClientView, ApiError> {
    let now = state.clock.now();
    let projections = state.read()?;
    Ok(view(&projections, found(&projections, id)?, now))
}

#[utoipa::path(
    operation_id = "clients_create",
    tag = "clients",
    summary = "Create a client",
    request_body = ClientInput,
    responses((status = 201, description = "Created; the secret is shown once", body = crate::http::openapi::schemas::CreatedClient), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[post("/api/admin/oauth-clients")]
pub(crate) async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, CLIENTS_WRITE)?;
    let input: ClientInput = read_json(&req, body)
        .await?
        .ok_or_else(|| ApiError::invalid("client_name", "is required"))?;
    let mut metadata = client_policy::default_metadata();
    input.apply(&mut metadata)?;
    let access_token_format = input.token_format()?.unwrap_or_default();
    let oidc = input.oidc_edit()?.apply(&Default::default());
    let alg = oidc.id_token_signed_response_alg;
    let registered = writer(&state)?
        .submit(RegisterClient {
            client_id: input.client_id.clone(),
            registration_type: RegistrationType::Preregistered,
            metadata,
            preset_secret: None,
            confirm_high_risk: input.confirm_high_risk.unwrap_or(false),
            access_token_format,
            oidc,
            ctx: caller.context(),
        })
        .await?;
    super::keys::provision(&state, alg, caller.context()).await?;
    let client_id = registered.client_id;
    let view = current(&state, &client_id)?;
    let mut body = serde_json::to_value(&view).unwrap_or_default();
    if let Some(secret) = registered.client_secret {
        body["client_secret"] = json!(secret);
        body["client_secret_expires_at"] = json!(0);
    }
    body["warnings"] = json!(registered.warnings);
    Ok(HttpResponse::Created()
        .insert_header(etag(view.version))
        .insert_header((
            header::LOCATION,
            format!("/api/admin/oauth-clients/{client_id}"),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body))
}

/// List filters and pagination.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Text in the client id or name (case-insensitive).
    q: Option<String>,
    /// Clients allowed this scope.
    scope: Option<String>,
    /// Clients restricted to this team.
    team: Option<String>,
    /// `active` or `paused`.
    status: Option<String>,
    /// `dynamic`, `cimd`, `preregistered` or `default`.
    registration_type: Option<String>,
    /// Clients allowed this grant type (`authorization_code`,
    /// `refresh_token`, `client_credentials` or the device code URN).
    grant_type: Option<String>,
    /// Page size, 1 to 500 (default 50).
    limit: Option<String>,
    /// A `next_cursor` this API returned.
    cursor: Option<String>,
    /// Export only: `json` (default), `csv`, `xlsx` (Excel) or `pdf`.
    format: Option<String>,
    /// List only: the clients as they were at this RFC 3339 instant,
    /// folded from the log (not in the future; not with export).
    at: Option<String>,
}

impl ListQuery {
    fn limit(&self) -> Result<usize, ApiError> {
        let Some(text) = &self.limit else {
            return Ok(50);
        };
        match text.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid(
                "limit",
                format!("must be an integer from 1 to {MAX_LIMIT}"),
            )),
        }
    }

    fn after(&self) -> Result<Option<String>, ApiError> {
        let Some(cursor) = &self.cursor else {
            return Ok(None);
        };
        URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .map(Some)
            .ok_or_else(|| ApiError::invalid("cursor", "is not a cursor this API returned"))
    }

    fn check(&self) -> Result<(), ApiError> {
        if let Some(s) = &self.status {
            if s != "active" && s != "paused" {
                return Err(ApiError::invalid("status", "must be active or paused"));
            }
        }
        if let Some(g) = &self.grant_type {
            if client_policy::parse_grant_type(g).is_none() {
                return Err(ApiError::invalid(
                    "grant_type",
                    format!("{g:?} is not a supported grant type"),
                ));
            }
        }
        if let Some(r) = &self.registration_type {
            if client_policy::parse_registration_type(r).is_none() {
                return Err(ApiError::invalid(
                    "registration_type",
                    "must be dynamic, cimd, preregistered or default",
                ));
            }
        }
        Ok(())
    }

    fn matches(&self, c: &ClientRecord) -> bool {
        if let Some(q) = &self.q {
            let q = q.to_lowercase();
            if !c.client_id.to_lowercase().contains(&q)
                && !c.metadata.client_name.to_lowercase().contains(&q)
            {
                return false;
            }
        }
        if let Some(scope) = &self.scope {
            if !c.metadata.scopes.iter().any(|s| s == scope) {
                return false;
            }
        }
        if let Some(team) = &self.team {
            if !c.metadata.team_restrictions.iter().any(|t| t == team) {
                return false;
            }
        }
        if let Some(status) = &self.status {
            if c.status.as_str() != status {
                return false;
            }
        }
        if let Some(g) = self
            .grant_type
            .as_deref()
            .and_then(client_policy::parse_grant_type)
        {
            if !c.metadata.grant_types.contains(&g) {
                return false;
            }
        }
        if let Some(r) = &self.registration_type {
            if client_policy::registration_type_name(c.registration_type) != r {
                return false;
            }
        }
        true
    }
}

#[utoipa::path(
    operation_id = "clients_list",
    tag = "clients",
    summary = "List clients",
    params(ListQuery),
    responses((status = 200, description = "A page of clients", body = crate::http::openapi::schemas::ClientPage), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[get("/api/admin/oauth-clients")]
pub(crate) async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, CLIENTS_READ)?;
    let query: ListQuery = parse_query(&req)?;
    query.check()?;
    let limit = query.limit()?;
    let after = query.after()?;
    if let Some(at) = query.at.clone() {
        return super::registry_at::list(&state, &at, move |c| query.matches(c), limit, after)
            .await;
    }
    let now = state.clock.now();
    let projections = state.read()?;
    let mut items = Vec::with_capacity(limit);
    let mut more = false;
    for c in projections
        .registry
        .iter_from(after.as_deref())
        .filter(|c| query.matches(c))
    {
        if items.len() == limit {
            more = true;
            break;
        }
        items.push(view(&projections, c, now));
    }
    let next_cursor = more
        .then(|| {
            items
                .last()
                .map(|v: &ClientView| URL_SAFE_NO_PAD.encode(&v.client_id))
        })
        .flatten();
    Ok(HttpResponse::Ok().json(json!({ "items": items, "next_cursor": next_cursor })))
}

#[utoipa::path(
    operation_id = "clients_export",
    tag = "clients",
    summary = "Export every matching client as JSON, CSV, Excel (xlsx) or PDF",
    params(ListQuery),
    responses((status = 200, description = "The clients", content((Vec<ClientView> = "application/json"), (String = "text/csv"), (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), (Vec<u8> = "application/pdf"))), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[get("/api/admin/oauth-clients/export")]
pub(crate) async fn export(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, CLIENTS_READ)?;
    let query: ListQuery = parse_query(&req)?;
    query.check()?;
    if query.at.is_some() {
        return Err(ApiError::BadRequest(
            "at: the export shows the present only; use GET /api/admin/oauth-clients?at=".into(),
        ));
    }
    let now = state.clock.now();
    let items: Vec<ClientView> = {
        let projections = state.read()?;
        projections
            .registry
            .iter_from(None)
            .filter(|c| query.matches(c))
            .map(|c| view(&projections, c, now))
            .collect()
    };
    match query.format.as_deref().unwrap_or("json") {
        "json" => Ok(HttpResponse::Ok()
            .insert_header((
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"oauth-clients.json\"",
            ))
            .json(items)),
        "csv" => {
            let bytes = client_export::csv(&items)
                .map_err(|e| ApiError::Unavailable(format!("export failed: {e}")))?;
            Ok(attachment(bytes, "text/csv; charset=utf-8", "csv"))
        }
        "xlsx" => {
            let bytes = client_export::xlsx(&items)
                .map_err(|e| ApiError::Unavailable(format!("export failed: {e}")))?;
            Ok(attachment(bytes, XLSX, "xlsx"))
        }
        "pdf" => {
            let bytes = client_export::pdf(&items, &now.to_rfc3339());
            Ok(attachment(bytes, "application/pdf", "pdf"))
        }
        other => Err(ApiError::invalid(
            "format",
            format!("{other:?} is not csv, json, xlsx or pdf"),
        )),
    }
}

#[utoipa::path(
    operation_id = "clients_read",
    tag = "clients",
    summary = "Read a client, now or as it was at an instant",
    params(
        ("id" = String, Path, description = "Client id"),
        ("at" = Option<String>, Query, description = "An RFC 3339 instant, not in the future: the client as it was then, folded from the log (404 when it did not exist then; no ETag)"),
    ),
    responses((status = 200, description = "The client; its version is the ETag", body = crate::http::openapi::schemas::ClientAsOf), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[get("/api/admin/oauth-clients/{id}")]
pub(crate) async fn read(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, CLIENTS_READ)?;
    if let Some(at) = super::registry_at::at_param(&req)? {
        return super::registry_at::read(&state, &id, &at).await;
    }
    let view = current(&state, &id)?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(view.version))
        .json(view))
}

#[utoipa::path(
    operation_id = "clients_edit",
    tag = "clients",
    summary = "Edit a client (If-Match: its version)",
    params(("id" = String, Path, description = "Client id"), ("If-Match" = String, Header, description = "The version read, quoted")), request_body = ClientInput,
    responses((status = 200, description = "The client after the edit", body = crate::http::openapi::schemas::EditedClient), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[patch("/api/admin/oauth-clients/{id}")]
pub(crate) async fn edit(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (caller, expected_version, input): (_, _, ClientInput) =
        edit_request(&req, &state, CLIENTS_WRITE, body).await?;
    if input.client_id.as_ref().is_some_and(|given| *given != *id) {
        return Err(ApiError::invalid("client_id", "is immutable"));
    }
    let confirm = input.confirm_high_risk.unwrap_or(false);
    let access_token_format = input.token_format()?;
    let oidc = input.oidc_edit()?;
    let alg = oidc.id_token_signed_response_alg;
    let edit_input = input.clone();
    let warnings = writer(&state)?
        .submit(UpdateClient {
            client_id: id.to_string(),
            edit: Box::new(move |current| {
                let mut md = current.clone();
                edit_input.apply(&mut md)?;
                Ok(md)
            }),
            confirm_high_risk: confirm,
            expected_version,
            by_client: false,
            access_token_format,
            oidc,
            ctx: caller.context(),
        })
        .await?;
    if let Some(alg) = alg {
        super::keys::provision(&state, alg, caller.context()).await?;
    }
    let view = current(&state, &id)?;
    let mut body = serde_json::to_value(&view).unwrap_or_default();
    body["warnings"] = json!(warnings);
    Ok(HttpResponse::Ok()
        .insert_header(etag(view.version))
        .json(body))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateInput {
    previous_secret_valid_for_seconds: Option<u64>,
}

#[utoipa::path(
    operation_id = "clients_rotate",
    tag = "clients",
    summary = "Rotate a client's secret, keeping the previous one for a grace period",
    params(("id" = String, Path, description = "Client id")), request_body(content = Option<crate::http::openapi::schemas::RotateSecretInput>, description = "Optional"),
    responses((status = 200, description = "The new secret, shown once", body = crate::http::openapi::schemas::RotatedSecret), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[post("/api/admin/oauth-clients/{id}/rotate-secret")]
pub(crate) async fn rotate(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, CLIENTS_WRITE)?;
    let input: Option<RotateInput> = read_json(&req, body).await?;
    let grace = input
        .and_then(|i| i.previous_secret_valid_for_seconds)
        .unwrap_or(86_400);
    if grace > MAX_GRACE_SECONDS {
        return Err(ApiError::invalid(
            "previous_secret_valid_for_seconds",
            format!("must be between 0 and {MAX_GRACE_SECONDS} (30 days)"),
        ));
    }
    let secret = writer(&state)?
        .submit(RotateSecret {
            client_id: id.to_string(),
            grace_seconds: grace as i64,
            ctx: caller.context(),
        })
        .await?;
    let view = current(&state, &id)?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(view.version))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "client_id": view.client_id,
            "client_secret": secret,
            "client_secret_expires_at": 0,
            "previous_secret_expires_at": view.previous_secret_expires_at,
        })))
}

async fn set_status(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: String,
    status: ClientStatus,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, CLIENTS_WRITE)?;
    writer(&state)?
        .submit(SetClientStatus {
            client_id: id.clone(),
            status,
            ctx: caller.context(),
        })
        .await?;
    let view = current(&state, &id)?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(view.version))
        .json(view))
}

#[utoipa::path(
    operation_id = "clients_pause",
    tag = "clients",
    summary = "Pause a client (its tokens stop working)",
    params(("id" = String, Path, description = "Client id")),
    responses((status = 200, description = "The client", body = ClientView), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[post("/api/admin/oauth-clients/{id}/pause")]
pub(crate) async fn pause(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_status(req, state, id.into_inner(), ClientStatus::Paused).await
}

#[utoipa::path(
    operation_id = "clients_resume",
    tag = "clients",
    summary = "Resume a paused client",
    params(("id" = String, Path, description = "Client id")),
    responses((status = 200, description = "The client", body = ClientView), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[post("/api/admin/oauth-clients/{id}/resume")]
pub(crate) async fn resume(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_status(req, state, id.into_inner(), ClientStatus::Active).await
}

#[utoipa::path(
    operation_id = "clients_remove",
    tag = "clients",
    summary = "Delete a client and revoke its tokens",
    params(("id" = String, Path, description = "Client id")),
    responses((status = 204, description = "Deleted"), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[delete("/api/admin/oauth-clients/{id}")]
pub(crate) async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, CLIENTS_WRITE)?;
    writer(&state)?
        .submit(DeleteClients {
            client_ids: vec![id.into_inner()],
            by_client: false,
            ctx: caller.context(),
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkDelete {
    client_ids: Vec<String>,
}

#[utoipa::path(
    operation_id = "clients_bulk_delete",
    tag = "clients",
    summary = "Delete up to 500 clients at once, all or none",
    request_body = crate::http::openapi::schemas::BulkDeleteInput,
    responses((status = 200, description = "How many were deleted", body = crate::http::openapi::schemas::Deleted), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[post("/api/admin/oauth-clients/bulk-delete")]
pub(crate) async fn bulk_delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, CLIENTS_WRITE)?;
    let input: BulkDelete = read_json(&req, body)
        .await?
        .ok_or_else(|| ApiError::invalid("client_ids", "is required"))?;
    if input.client_ids.is_empty() || input.client_ids.len() > MAX_BULK {
        return Err(ApiError::invalid(
            "client_ids",
            format!("must hold 1 to {MAX_BULK} ids"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for id in &input.client_ids {
        if !seen.insert(id) {
            return Err(ApiError::invalid(
                "client_ids",
                format!("{id} is listed twice"),
            ));
        }
    }
    let count = writer(&state)?
        .submit(DeleteClients {
            client_ids: input.client_ids,
            by_client: false,
            ctx: caller.context(),
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "deleted": count })))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct TokensQuery {
    /// Page size, 1 to 500 (default 50).
    limit: Option<String>,
    /// A `next_cursor` this API returned.
    cursor: Option<String>,
}

#[utoipa::path(
    operation_id = "clients_tokens",
    tag = "clients",
    summary = "A client's active tokens",
    params(("id" = String, Path, description = "Client id"), TokensQuery),
    responses((status = 200, description = "A page of tokens", body = crate::http::openapi::schemas::TokenPage), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[get("/api/admin/oauth-clients/{id}/tokens")]
pub(crate) async fn tokens(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, CLIENTS_READ)?;
    let query: TokensQuery = parse_query(&req)?;
    let paging = ListQuery {
        limit: query.limit,
        cursor: query.cursor,
        ..Default::default()
    };
    let limit = paging.limit()?;
    let after = match paging.after()? {
        Some(text) => Some(
            text.parse::<uuid::Uuid>()
                .map_err(|_| ApiError::invalid("cursor", "is not a cursor this API returned"))?,
        ),
        None => None,
    };
    let now = state.clock.now();
    let projections = state.read()?;
    found(&projections, &id)?;
    let mut items = Vec::new();
    let mut more = false;
    for t in projections
        .tokens
        .active_for_client(&id, now)
        .filter(|t| after.is_none_or(|a| t.token_id > a))
    {
        if items.len() == limit {
            more = true;
            break;
        }
        items.push(super::token_json::token_view(
            t,
            state.usage.pending(&t.token_id),
        ));
    }
    let next_cursor = more
        .then(|| {
            items
                .last()
                .and_then(|v| v["token_id"].as_str())
                .map(|s| URL_SAFE_NO_PAD.encode(s))
        })
        .flatten();
    Ok(HttpResponse::Ok().json(json!({ "items": items, "next_cursor": next_cursor })))
}

#[utoipa::path(
    operation_id = "clients_revoke_all",
    tag = "clients",
    summary = "Revoke every token of a client",
    params(("id" = String, Path, description = "Client id")),
    responses((status = 200, description = "How many were revoked", body = crate::http::openapi::schemas::Revoked), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[post("/api/admin/oauth-clients/{id}/tokens/revoke-all")]
pub(crate) async fn revoke_all(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, TOKENS_REVOKE)?;
    let revoked = writer(&state)?
        .submit(RevokeClientTokens {
            client_id: id.into_inner(),
            reason: RevocationReason::RevokedByAdmin,
            ctx: caller.context(),
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "revoked": revoked })))
}

/// Registers the routes (fixed paths before `{id}`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(export)
        .service(bulk_delete)
        .service(read)
        .service(edit)
        .service(rotate)
        .service(pause)
        .service(resume)
        .service(remove)
        .service(tokens)
        .service(revoke_all);
}
