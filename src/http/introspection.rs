//! `POST /oauth/introspect` (RFC 7662). The caller authenticates as a
//! confidential client. It sees its own tokens, or any token when it has
//! `introspection_allowed`; everything else is `{"active": false}`.

use actix_web::http::header;
use actix_web::{post, web, HttpRequest, HttpResponse};
use authlog_events::{TokenEndpointAuthMethod, TokenKind};
use serde_json::json;

use super::client_auth::authenticate_request;
use super::error::OAuthError;
use super::form::OAuthForm;
use crate::state::AppState;

fn inactive() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "active": false }))
}

#[post("/oauth/introspect")]
async fn introspect(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let form = OAuthForm::read(&req, body).await?;
    let caller = authenticate_request(&req, &state, &form).await?.client;
    if caller.metadata.token_endpoint_auth_method == TokenEndpointAuthMethod::None {
        return Err(OAuthError::invalid_client(
            "public clients cannot introspect tokens",
        ));
    }
    let token = form.require("token")?;
    let digest = state.key.digest(token);
    let now = state.clock.now();
    let projections = state.read()?;
    let Some(record) = projections.tokens.by_digest(&digest) else {
        return Ok(inactive());
    };
    let visible = *record.client_id == *caller.client_id || caller.metadata.introspection_allowed;
    let client_live = projections
        .registry
        .get(&record.client_id)
        .is_some_and(|c| c.status == authlog_projections::ClientStatus::Active);
    if !visible || !client_live || !record.is_active(now) {
        return Ok(inactive());
    }
    state.usage.touch(record.token_id, now);
    let sub = record
        .subject()
        .map(|s| s.to_string())
        .unwrap_or_else(|| record.client_id.to_string());
    let mut body = json!({
        "active": true,
        "scope": record.scopes.join(" "),
        "client_id": record.client_id,
        "sub": sub,
        "exp": record.expires_at.unix_seconds(),
        "iat": record.issued_at.unix_seconds(),
        "iss": state.config.issuer,
        "token_type": match record.kind { TokenKind::Access => "Bearer", TokenKind::Refresh => "refresh_token" },
        "jti": record.token_id.to_string(),
    });
    if !record.audience().is_empty() {
        body["aud"] = json!(record.audience());
    }
    if let Some(user) = record.subject().and_then(|s| projections.users.get(&s)) {
        if user.disabled {
            return Ok(inactive());
        }
        body["username"] = json!(user.username);
        body["access"] = json!(super::client_json::preset_name(record.access));
        body["teams"] = json!(record.teams());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body))
}

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(introspect);
}
