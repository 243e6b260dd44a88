//! `POST /oauth/token` (RFC 6749 §3.2, §4.4, §5): the grants authlog
//! supports, dispatched by `grant_type`; responses carry
//! `Cache-Control: no-store`.

use actix_web::http::header;
use actix_web::{post, web, HttpRequest, HttpResponse};
use authlog_events::{Event, GrantType, Principal, RecordedEvent, TokenEndpointAuthMethod};
use authlog_projections::{ClientRecord, ClientStatus};
use serde_json::json;

use super::client_auth::{authenticate, credentials};
use super::context::RequestFacts;
use super::error::OAuthError;
use super::form::OAuthForm;
use crate::client_policy::parse_scope;
use crate::commands::tokens::IssueClientToken;
use crate::secrets::{self, SecretKind};
use crate::state::AppState;

/// The successful token response (RFC 6749 §5.1) for the first `TokenIssued`
/// access token among `events`, with `value` as its secret.
pub fn token_response(
    events: &[RecordedEvent],
    access_token: &str,
    refresh_token: Option<&str>,
) -> HttpResponse {
    let mut body = json!({ "access_token": access_token, "token_type": "Bearer" });
    if let Some(Event::TokenIssued {
        scopes,
        issued_at,
        expires_at,
        ..
    }) = events
        .iter()
        .map(|e| &e.payload)
        .find(|p| matches!(p, Event::TokenIssued { .. }))
    {
        body["expires_in"] = json!(expires_at.unix_seconds() - issued_at.unix_seconds());
        body["scope"] = json!(scopes.join(" "));
    }
    if let Some(refresh) = refresh_token {
        body["refresh_token"] = json!(refresh);
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

/// Requested scopes, checked against what the client may have; none
/// requested means all of the client's (RFC 6749 §3.3).
pub fn granted_scopes(
    requested: Option<&str>,
    client: &ClientRecord,
) -> Result<Vec<String>, OAuthError> {
    let Some(requested) = requested else {
        return Ok(client.metadata.scopes.clone());
    };
    let scopes = parse_scope(requested).map_err(OAuthError::invalid_scope)?;
    if let Some(extra) = scopes.iter().find(|s| !client.metadata.scopes.contains(s)) {
        return Err(OAuthError::invalid_scope(format!(
            "scope {extra} is not allowed for this client"
        )));
    }
    Ok(scopes)
}

fn writer(state: &AppState) -> Result<&crate::writer::WriterHandle, OAuthError> {
    match (state.is_ready(), state.writer()) {
        (true, Some(w)) => Ok(w),
        _ => Err(OAuthError::unavailable("authlog is starting")),
    }
}

#[post("/oauth/token")]
async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let form = OAuthForm::read(&req, body).await?;
    let grant_type = form.require("grant_type")?;
    let creds = credentials(&req, &form)?;
    let client = authenticate(&state, &creds)?;
    let grant = crate::client_policy::parse_grant_type(grant_type).ok_or_else(|| {
        OAuthError::unsupported_grant_type(format!("grant_type {grant_type} is not supported"))
    })?;
    if !client.metadata.grant_types.contains(&grant) {
        return Err(OAuthError::unauthorized_client(format!(
            "this client may not use the {grant_type} grant"
        )));
    }
    if client.status == ClientStatus::Paused {
        return Err(OAuthError::unauthorized_client(format!(
            "client {} is paused",
            client.client_id
        )));
    }
    match grant {
        GrantType::ClientCredentials => client_credentials(&req, &state, &form, &client).await,
        other => Err(OAuthError::unsupported_grant_type(format!(
            "grant_type {} is not supported yet",
            crate::client_policy::grant_type_name(other)
        ))),
    }
}

/// RFC 6749 §4.4: a confidential client gets a token for itself.
async fn client_credentials(
    req: &HttpRequest,
    state: &AppState,
    form: &OAuthForm,
    client: &ClientRecord,
) -> Result<HttpResponse, OAuthError> {
    if client.metadata.token_endpoint_auth_method == TokenEndpointAuthMethod::None {
        return Err(OAuthError::unauthorized_client(
            "public clients cannot use client_credentials",
        ));
    }
    let scopes = granted_scopes(form.get("scope"), client)?;
    let audience = form
        .get("resource")
        .map(|r| vec![r.to_owned()])
        .unwrap_or_default();
    if let Some(resource) = audience.first() {
        let ok = url::Url::parse(resource)
            .map(|u| u.fragment().is_none())
            .unwrap_or(false);
        if !ok {
            return Err(OAuthError::invalid_target(
                "resource must be an absolute URI without a fragment (RFC 8707)",
            ));
        }
    }
    let value = secrets::generate(SecretKind::AccessToken);
    let facts = RequestFacts::of(req);
    let events = writer(state)?
        .submit(IssueClientToken {
            client_id: client.client_id.clone(),
            token_id: uuid::Uuid::now_v7(),
            digest: state.key.digest(&value),
            scopes,
            audience,
            ctx: facts.context(Principal::Client(client.client_id.clone()), None),
        })
        .await?;
    Ok(token_response(&events, &value, None))
}

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(token);
}
