//! Dynamic client registration: `POST /oauth/register` (RFC 7591) and
//! client configuration at `/oauth/register/{client_id}` (RFC 7592: GET,
//! PUT, DELETE with the registration access token, stored as a digest).
//!
//! Policy (`AUTHLOG_REGISTRATION_POLICY`): `open`, `initial_access_token`
//! or `disabled`; at most `AUTHLOG_REGISTRATION_RATE_LIMIT` registrations
//! per client IP per minute and, under `open`, at most
//! `AUTHLOG_ANONYMOUS_WRITES_PER_MINUTE` from all addresses together (429
//! with `Retry-After`, nothing appended).
//! Defaults for dynamic clients: public (`none`), `authorization_code` +
//! `refresh_token`, scope `profile email`, read-only access.

use actix_web::http::{header, StatusCode};
use actix_web::{delete, get, post, put, web, HttpRequest, HttpResponse, ResponseError};
use authlog_events::{Principal, RegistrationType};
use authlog_projections::ClientRecord;
use serde_json::{json, Map, Value};
use subtle::ConstantTimeEq;

use super::bearer::bearer_token;
use super::body::BodyError;
use super::context::RequestFacts;
use super::cors;
use super::error::OAuthError;
use crate::client_document::{merge_client_owned, ClientDocument};
use crate::client_policy::{auth_method_name, grant_type_name, FieldError};
use crate::commands::clients::{DeleteClients, OidcEdit, RegisterClient, UpdateClient};
use crate::commands::DomainError;
use crate::config::RegistrationPolicy;
use crate::state::AppState;
use crate::writer::WriteError;

/// Largest registration body.
const BODY_LIMIT: usize = 16 * 1024;

/// RFC 6750 §3.1 for a missing or wrong registration access token.
fn invalid_token() -> OAuthError {
    OAuthError::invalid_token("the registration access token is invalid")
}

/// `invalid_client_metadata` (400) for a body that is not metadata.
fn bad_body(description: impl Into<String>) -> OAuthError {
    OAuthError::other(
        "invalid_client_metadata",
        StatusCode::BAD_REQUEST,
        description,
    )
}

/// Reads a bounded JSON body; `Err` is the RFC 7591 error response.
async fn read_body(req: &HttpRequest, payload: web::Payload) -> Result<ClientDocument, OAuthError> {
    if super::media_type::of(req) != "application/json" {
        return Err(bad_body("the body must be application/json"));
    }
    let body = super::body::read(payload, BODY_LIMIT)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge(_) => OAuthError::other(
                "invalid_client_metadata",
                StatusCode::PAYLOAD_TOO_LARGE,
                "the body is too large",
            ),
            BodyError::Unreadable => bad_body("unreadable body"),
            slow @ BodyError::TooSlow => slow.into(),
        })?;
    serde_json::from_slice(&body).map_err(|e| bad_body(format!("invalid JSON: {e}")))
}

/// The registration response: metadata as registered, nulls omitted (RFC 7591 §3.2.1).
fn client_information(
    state: &AppState,
    c: &ClientRecord,
    extra: Map<String, Value>,
) -> HttpResponse {
    let md = &c.metadata;
    let mut body = Map::new();
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            body.insert(k.to_owned(), v);
        }
    };
    put("client_id", json!(c.client_id));
    put("client_id_issued_at", json!(c.created_at.unix_seconds()));
    put("client_name", json!(md.client_name));
    put("redirect_uris", json!(md.redirect_uris));
    put(
        "token_endpoint_auth_method",
        json!(auth_method_name(md.token_endpoint_auth_method)),
    );
    put(
        "grant_types",
        json!(md
            .grant_types
            .iter()
            .map(|g| grant_type_name(*g))
            .collect::<Vec<_>>()),
    );
    put("response_types", json!(md.response_types));
    put("scope", json!(md.scopes.join(" ")));
    put("client_uri", json!(md.client_uri));
    put("logo_uri", json!(md.logo_uri));
    put("tos_uri", json!(md.tos_uri));
    put("policy_uri", json!(md.policy_uri));
    put("software_id", json!(md.software_id));
    put("software_version", json!(md.software_version));
    if !md.contacts.is_empty() {
        put("contacts", json!(md.contacts));
    }
    put(
        "id_token_signed_response_alg",
        json!(c.oidc.id_token_signed_response_alg.as_str()),
    );
    put(
        "backchannel_logout_uri",
        json!(c.oidc.backchannel_logout_uri),
    );
    if c.oidc.backchannel_logout_uri.is_some() {
        put(
            "backchannel_logout_session_required",
            json!(c.oidc.backchannel_logout_session_required),
        );
    }
    put(
        "registration_client_uri",
        json!(format!(
            "{}/oauth/register/{}",
            state.config.issuer, c.client_id
        )),
    );
    for (k, v) in extra {
        body.insert(k, v);
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(Value::Object(body))
}

/// A write refused by the domain, in RFC 7591/7592 terms: a rule on a
/// field is client metadata at fault; a client that is gone looks like a
/// wrong registration access token.
fn refused(e: WriteError) -> OAuthError {
    match e {
        WriteError::Rejected(DomainError::Invalid { field, message }) => {
            OAuthError::client_metadata(&FieldError::new(field, message))
        }
        WriteError::Rejected(DomainError::NotFound(_) | DomainError::Conflict(_)) => {
            invalid_token()
        }
        other => other.into(),
    }
}

/// Answers `result`, readable from any origin.
fn any_origin(req: &HttpRequest, result: Result<HttpResponse, OAuthError>) -> HttpResponse {
    cors::allow_any(req, result.unwrap_or_else(|e| e.error_response()))
}

#[utoipa::path(
    operation_id = "registration_register",
    tag = "registration",
    summary = "Register a client (RFC 7591)",
    request_body = crate::client_document::ClientDocument,
    responses((status = 201, description = "Registered; secret and registration access token shown once", body = crate::http::openapi::schemas::ClientInformation), crate::http::openapi::OAuthErrors),
    security((), ("bearer" = []))
)]
#[post("/oauth/register")]
pub(crate) async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> HttpResponse {
    let result = register_inner(&req, &state, body).await;
    any_origin(&req, result)
}

async fn register_inner(
    req: &HttpRequest,
    state: &AppState,
    body: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    match &state.config.registration {
        RegistrationPolicy::Disabled => {
            return Err(OAuthError::other(
                "access_denied",
                StatusCode::FORBIDDEN,
                "dynamic registration is disabled",
            ))
        }
        RegistrationPolicy::InitialAccessToken(expected) => {
            let given = bearer_token(req).unwrap_or("");
            if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
                return Err(invalid_token());
            }
        }
        RegistrationPolicy::Open => {}
    }
    let facts = RequestFacts::of(req);
    let now = state.clock.now();
    let ip_key = super::context::ip_key(facts.ip);
    if let Err(wait) = state.registrations.check(&ip_key, now) {
        return Err(OAuthError::other(
            "too_many_requests",
            StatusCode::TOO_MANY_REQUESTS,
            "too many registrations from this address",
        )
        .retry_after(wait));
    }
    if let Err(wait) = state.anonymous_writes.take() {
        return Err(OAuthError::other(
            "too_many_requests",
            StatusCode::TOO_MANY_REQUESTS,
            "too many registrations right now",
        )
        .retry_after(wait));
    }
    state.registrations.fail(&ip_key, now);
    let input = read_body(req, body).await?;
    let metadata = input
        .metadata()
        .map_err(|e| OAuthError::client_metadata(&e))?;
    let oidc = input.oidc().map_err(|e| OAuthError::client_metadata(&e))?;
    let ctx = facts.context(Principal::Anonymous, None);
    let alg = oidc.id_token_signed_response_alg;
    let registered = state
        .ready_writer()
        .ok_or_else(OAuthError::starting)?
        .submit(RegisterClient {
            client_id: None,
            registration_type: RegistrationType::Dynamic,
            metadata,
            preset_secret: None,
            confirm_high_risk: false,
            access_token_format: Default::default(),
            oidc,
            ctx: ctx.clone(),
        })
        .await
        .map_err(refused)?;
    super::keys::provision(state, alg, ctx)
        .await
        .map_err(|e| OAuthError::unavailable(e.to_string()))?;
    let client = state
        .read()?
        .registry
        .get(&registered.client_id)
        .cloned()
        .ok_or_else(|| OAuthError::unavailable("registration not visible"))?;
    let mut extra = Map::new();
    extra.extend(
        registered
            .registration_access_token
            .map(|rat| ("registration_access_token".to_owned(), json!(rat))),
    );
    if let Some(secret) = registered.client_secret {
        extra.insert("client_secret".into(), json!(secret));
        extra.insert("client_secret_expires_at".into(), json!(0));
    }
    let mut response = client_information(state, &client, extra);
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

/// The dynamic client addressed by the path, if the registration access
/// token is its own. Unknown, deleted and wrong-token all look the same.
fn authorized(
    req: &HttpRequest,
    state: &AppState,
    client_id: &str,
) -> Result<ClientRecord, OAuthError> {
    let token = bearer_token(req).ok_or_else(invalid_token)?;
    let digest = state.key.digest(token);
    let client = state
        .read()?
        .registry
        .get(client_id)
        .cloned()
        .ok_or_else(invalid_token)?;
    let stored = client
        .registration_access_token_digest
        .ok_or_else(invalid_token)?;
    if bool::from(stored.0.ct_eq(&digest.0)) {
        Ok(client)
    } else {
        Err(invalid_token())
    }
}

#[utoipa::path(
    operation_id = "registration_read",
    tag = "registration",
    summary = "Read a registration (RFC 7592)",
    params(("client_id" = String, Path, description = "Client id")),
    responses((status = 200, description = "The client information", body = crate::http::openapi::schemas::ClientInformation), crate::http::openapi::OAuthErrors),
    security(("bearer" = []))
)]
#[get("/oauth/register/{client_id}")]
pub(crate) async fn read(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    let result = authorized(&req, &state, &id).map(|c| client_information(&state, &c, Map::new()));
    any_origin(&req, result)
}

#[utoipa::path(
    operation_id = "registration_update",
    tag = "registration",
    summary = "Replace a registration (RFC 7592)",
    params(("client_id" = String, Path, description = "Client id")), request_body = crate::client_document::ClientDocument,
    responses((status = 200, description = "The client information", body = crate::http::openapi::schemas::ClientInformation), crate::http::openapi::OAuthErrors),
    security(("bearer" = []))
)]
#[put("/oauth/register/{client_id}")]
pub(crate) async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let client = authorized(&req, &state, &id)?;
    let input = read_body(&req, body).await?;
    // RFC 7592 §2.2: the body names the client and carries everything (omitted = empty).
    if input.client_id.as_deref() != Some(client.client_id.as_str()) {
        return Err(bad_body("client_id must match the client being updated"));
    }
    // A client_secret may be sent back (RFC 7592 §2.2) but must be the current one.
    if let Some(secret) = &input.client_secret {
        if !client.secret_matches(&state.key.digest(secret), state.clock.now()) {
            return Err(bad_body("client_secret does not match"));
        }
    }
    let metadata = input
        .metadata()
        .map_err(|e| OAuthError::client_metadata(&e))?;
    let oidc = input.oidc().map_err(|e| OAuthError::client_metadata(&e))?;
    let facts = RequestFacts::of(&req);
    let ctx = facts.context(Principal::Client(client.client_id.clone()), None);
    let alg = oidc.id_token_signed_response_alg;
    state
        .ready_writer()
        .ok_or_else(OAuthError::starting)?
        .submit(UpdateClient {
            client_id: client.client_id.clone(),
            edit: Box::new(move |current| Ok(merge_client_owned(current, &metadata))),
            confirm_high_risk: false,
            expected_version: None,
            by_client: true,
            access_token_format: None,
            oidc: OidcEdit {
                id_token_signed_response_alg: Some(oidc.id_token_signed_response_alg),
                backchannel_logout_uri: Some(oidc.backchannel_logout_uri),
                backchannel_logout_session_required: Some(oidc.backchannel_logout_session_required),
            },
            ctx: ctx.clone(),
        })
        .await
        .map_err(refused)?;
    super::keys::provision(&state, alg, ctx)
        .await
        .map_err(|e| OAuthError::unavailable(e.to_string()))?;
    let current = state.read()?.registry.get(&client.client_id).cloned();
    current
        .map(|c| client_information(&state, &c, Map::new()))
        .ok_or_else(invalid_token)
}

#[utoipa::path(
    operation_id = "registration_remove",
    tag = "registration",
    summary = "Delete a registration (RFC 7592)",
    params(("client_id" = String, Path, description = "Client id")),
    responses((status = 204, description = "Deleted"), crate::http::openapi::OAuthErrors),
    security(("bearer" = []))
)]
#[delete("/oauth/register/{client_id}")]
pub(crate) async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, OAuthError> {
    let client = authorized(&req, &state, &id)?;
    let facts = RequestFacts::of(&req);
    state
        .ready_writer()
        .ok_or_else(OAuthError::starting)?
        .submit(DeleteClients {
            client_ids: vec![client.client_id.clone()],
            by_client: true,
            ctx: facts.context(Principal::Client(client.client_id.clone()), None),
        })
        .await
        .map_err(refused)?;
    Ok(HttpResponse::NoContent().finish())
}

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(register)
        .service(read)
        .service(update)
        .service(remove);
}
