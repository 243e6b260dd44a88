//! `GET /.well-known/oauth-authorization-server` (RFC 8414) and
//! `GET /.well-known/openid-configuration` (OpenID Connect Discovery 1.0):
//! one document, what this server implements and only that.

use actix_web::{get, web, HttpResponse};
use serde_json::{json, Value};

use crate::client_policy::{grant_type_name, GRANT_TYPES};
use crate::scopes::{API_SCOPES, EMAIL, OPENID, PROFILE, ROLE};
use crate::signing::ALGORITHMS;
use crate::state::AppState;

/// Everything this server implements, for both documents.
fn document(state: &AppState) -> Value {
    let issuer = &state.config.issuer;
    let client_auth = ["client_secret_basic", "client_secret_post", "none"];
    let confidential_auth = ["client_secret_basic", "client_secret_post"];
    let mut scopes: Vec<&str> = vec![OPENID, PROFILE, EMAIL, ROLE];
    scopes.extend(API_SCOPES);
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth/authorize"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "device_authorization_endpoint": format!("{issuer}/oauth/device_authorization"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "userinfo_endpoint": format!("{issuer}/oauth/userinfo"),
        "jwks_uri": format!("{issuer}/oauth/jwks"),
        "end_session_endpoint": format!("{issuer}/oauth/logout"),
        "registration_endpoint": format!("{issuer}/oauth/register"),
        "grant_types_supported": GRANT_TYPES
            .map(grant_type_name)
            .into_iter()
            .chain([super::token_exchange::GRANT_TYPE])
            .collect::<Vec<_>>(),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": client_auth,
        "introspection_endpoint_auth_methods_supported": confidential_auth,
        "revocation_endpoint_auth_methods_supported": client_auth,
        "authorization_response_iss_parameter_supported": true,
        "scopes_supported": scopes,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ALGORITHMS,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp", "sid",
            "amr", "name", "preferred_username", "email", "roles",
        ],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "client_id_metadata_document_supported": true,
    })
}

fn answer(req: &actix_web::HttpRequest, state: &AppState) -> HttpResponse {
    let response = HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(document(state));
    crate::http::cors::allow_any(req, response)
}

/// RFC 8414.
#[get("/.well-known/oauth-authorization-server")]
async fn metadata(req: actix_web::HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    answer(&req, &state)
}

/// OpenID Connect Discovery 1.0 §4.
#[get("/.well-known/openid-configuration")]
async fn openid_configuration(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
) -> HttpResponse {
    answer(&req, &state)
}

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(metadata).service(openid_configuration);
}
