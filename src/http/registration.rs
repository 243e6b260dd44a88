//! Dynamic client registration: `POST /oauth/register` (RFC 7591) and
//! client configuration at `/oauth/register/{client_id}` (RFC 7592: GET,
//! PUT, DELETE with the registration access token, stored as a digest).
//!
//! Policy (`AUTHLOG_REGISTRATION_POLICY`): `open`, `initial_access_token`
//! or `disabled`; at most `AUTHLOG_REGISTRATION_RATE_LIMIT` registrations
//! per client IP per minute (429 with `Retry-After`, nothing appended).
//! Defaults for dynamic clients: public (`none`), `authorization_code` +
//! `refresh_token`, scope `profile email`, read-only access.

use actix_web::http::{header, StatusCode};
use actix_web::{delete, get, post, put, web, HttpRequest, HttpResponse};
use authlog_events::{Principal, RegistrationType, TokenEndpointAuthMethod};
use authlog_projections::ClientRecord;
use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use subtle::ConstantTimeEq;

use super::bearer::bearer_token;
use super::context::RequestFacts;
use super::cors;
use super::error::rfc6749_text;
use crate::client_document::{check_self_registered, merge_client_owned, ClientDocument};
use crate::client_policy::{self, auth_method_name, grant_type_name, FieldError};
use crate::commands::clients::{DeleteClients, RegisterClient, UpdateClient};
use crate::commands::DomainError;
use crate::config::RegistrationPolicy;
use crate::secrets::{self, SecretKind};
use crate::state::AppState;
use crate::writer::WriteError;

/// Largest registration body.
const BODY_LIMIT: usize = 16 * 1024;

/// RFC 7591 §3.2.2 error response.
fn error(status: StatusCode, code: &str, description: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "error": code, "error_description": rfc6749_text(description) }))
}

fn metadata_error(e: &FieldError) -> HttpResponse {
    let code = if e.field.contains("redirect_uri") {
        "invalid_redirect_uri"
    } else {
        "invalid_client_metadata"
    };
    error(
        StatusCode::BAD_REQUEST,
        code,
        &format!("{}: {}", e.field, e.message),
    )
}

/// RFC 6750 §3.1 for a missing or wrong registration access token.
fn invalid_token() -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"authlog\", error=\"invalid_token\""))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "error": "invalid_token", "error_description": "the registration access token is invalid" }))
}

/// Reads a bounded JSON body; `Err` is the RFC 7591 error response.
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
) -> Result<ClientDocument, HttpResponse> {
    let mime = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime != "application/json" {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            "the body must be application/json",
        ));
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                "invalid_client_metadata",
                "unreadable body",
            )
        })?;
        if body.len() + chunk.len() > BODY_LIMIT {
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_client_metadata",
                "the body is too large",
            ));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            &format!("invalid JSON: {e}"),
        )
    })
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

fn unavailable(e: &WriteError) -> HttpResponse {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        &e.to_string(),
    )
}

#[post("/oauth/register")]
async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> HttpResponse {
    let response = register_inner(&req, &state, body).await;
    cors::allow_any(&req, response)
}

async fn register_inner(req: &HttpRequest, state: &AppState, body: web::Payload) -> HttpResponse {
    match &state.config.registration {
        RegistrationPolicy::Disabled => {
            return error(
                StatusCode::FORBIDDEN,
                "access_denied",
                "dynamic registration is disabled",
            )
        }
        RegistrationPolicy::InitialAccessToken(expected) => {
            let given = bearer_token(req).unwrap_or("");
            if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
                return invalid_token();
            }
        }
        RegistrationPolicy::Open => {}
    }
    let facts = RequestFacts::of(req);
    let now = state.clock.now();
    let ip_key = super::context::ip_key(facts.ip);
    if let Err(wait) = state.registrations.check(&ip_key, now) {
        let mut r = error(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "too many registrations from this address",
        );
        if let Ok(v) = header::HeaderValue::from_str(&wait.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    state.registrations.fail(&ip_key, now);
    let input = match read_body(req, body).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let metadata = match input.metadata() {
        Ok(m) => m,
        Err(e) => return metadata_error(&e),
    };
    if let Err(e) = check_self_registered(&metadata)
        .and_then(|_| client_policy::validate(&metadata, false).map(|_| ()))
    {
        return metadata_error(&e);
    }
    let client_id = uuid::Uuid::new_v4().to_string();
    let secret = (metadata.token_endpoint_auth_method != TokenEndpointAuthMethod::None)
        .then(|| secrets::generate(SecretKind::ClientSecret));
    let rat = secrets::generate(SecretKind::RegistrationAccessToken);
    let Some(writer) = state.ready_writer() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "authlog is starting",
        );
    };
    let result = writer
        .submit(RegisterClient {
            client_id: client_id.clone(),
            registration_type: RegistrationType::Dynamic,
            metadata,
            secret_digest: secret.as_deref().map(|s| state.key.digest(s)),
            registration_access_token_digest: Some(state.key.digest(&rat)),
            confirm_high_risk: false,
            ctx: facts.context(Principal::Anonymous, None),
        })
        .await;
    if let Err(e) = result {
        return unavailable(&e);
    }
    let Some(client) = state.read().registry.get(&client_id).cloned() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "registration not visible",
        );
    };
    let mut extra = Map::new();
    extra.insert("registration_access_token".into(), json!(rat));
    if let Some(secret) = secret {
        extra.insert("client_secret".into(), json!(secret));
        extra.insert("client_secret_expires_at".into(), json!(0));
    }
    let mut response = client_information(state, &client, extra);
    *response.status_mut() = StatusCode::CREATED;
    response
}

/// The dynamic client addressed by the path, if the registration access
/// token is its own. Unknown, deleted and wrong-token all look the same.
fn authorized(req: &HttpRequest, state: &AppState, client_id: &str) -> Option<ClientRecord> {
    let token = bearer_token(req)?;
    let digest = state.key.digest(token);
    let client = state.read().registry.get(client_id).cloned()?;
    let stored = client.registration_access_token_digest?;
    bool::from(stored.0.ct_eq(&digest.0)).then_some(client)
}

#[get("/oauth/register/{client_id}")]
async fn read(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> HttpResponse {
    let response = match authorized(&req, &state, &id) {
        Some(client) => client_information(&state, &client, Map::new()),
        None => invalid_token(),
    };
    cors::allow_any(&req, response)
}

#[put("/oauth/register/{client_id}")]
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Payload,
) -> HttpResponse {
    let Some(client) = authorized(&req, &state, &id) else {
        return invalid_token();
    };
    let input = match read_body(&req, body).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    // RFC 7592 §2.2: the body names the client and carries everything (omitted = empty).
    if input.client_id.as_deref() != Some(client.client_id.as_str()) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            "client_id must match the client being updated",
        );
    }
    // A client_secret may be sent back (RFC 7592 §2.2) but must be the current one.
    if let Some(secret) = &input.client_secret {
        if !client.secret_matches(&state.key.digest(secret), state.clock.now()) {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_client_metadata",
                "client_secret does not match",
            );
        }
    }
    let metadata = match input.metadata() {
        Ok(m) => m,
        Err(e) => return metadata_error(&e),
    };
    if let Err(e) = check_self_registered(&metadata) {
        return metadata_error(&e);
    }
    let Some(writer) = state.ready_writer() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "authlog is starting",
        );
    };
    let facts = RequestFacts::of(&req);
    let result = writer
        .submit(UpdateClient {
            client_id: client.client_id.clone(),
            edit: Box::new(move |current| Ok(merge_client_owned(current, &metadata))),
            confirm_high_risk: false,
            expected_version: None,
            ctx: facts.context(Principal::Client(client.client_id.clone()), None),
        })
        .await;
    match result {
        Ok(_) => {}
        Err(WriteError::Rejected(DomainError::Invalid { field, message })) => {
            return metadata_error(&FieldError::new(field, message))
        }
        Err(WriteError::Rejected(DomainError::NotFound(_))) => return invalid_token(),
        Err(e) => return unavailable(&e),
    }
    match state.read().registry.get(&client.client_id) {
        Some(c) => client_information(&state, c, Map::new()),
        None => invalid_token(),
    }
}

#[delete("/oauth/register/{client_id}")]
async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    let Some(client) = authorized(&req, &state, &id) else {
        return invalid_token();
    };
    let Some(writer) = state.ready_writer() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "authlog is starting",
        );
    };
    let facts = RequestFacts::of(&req);
    let result = writer
        .submit(DeleteClients {
            client_ids: vec![client.client_id.clone()],
            ctx: facts.context(Principal::Client(client.client_id.clone()), None),
        })
        .await;
    match result {
        Ok(_) => HttpResponse::NoContent().finish(),
        Err(WriteError::Rejected(_)) => invalid_token(),
        Err(e) => unavailable(&e),
    }
}

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(register)
        .service(read)
        .service(update)
        .service(remove);
}
