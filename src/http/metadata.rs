//! `GET /.well-known/oauth-authorization-server` (RFC 8414): what this
//! server implements, and only that.

use actix_web::{get, web, HttpResponse};
use serde_json::json;

use crate::client_policy::{grant_type_name, GRANT_TYPES};
use crate::scopes::API_SCOPES;
use crate::state::AppState;

#[get("/.well-known/oauth-authorization-server")]
async fn metadata(req: actix_web::HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let issuer = &state.config.issuer;
    let client_auth = ["client_secret_basic", "client_secret_post", "none"];
    let confidential_auth = ["client_secret_basic", "client_secret_post"];
    let mut scopes: Vec<&str> = API_SCOPES.to_vec();
    scopes.extend(["profile", "email"]);
    let response = HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/oauth/authorize"),
            "token_endpoint": format!("{issuer}/oauth/token"),
            "device_authorization_endpoint": format!("{issuer}/oauth/device_authorization"),
            "introspection_endpoint": format!("{issuer}/oauth/introspect"),
            "revocation_endpoint": format!("{issuer}/oauth/revoke"),
            "userinfo_endpoint": format!("{issuer}/oauth/userinfo"),
            "grant_types_supported": GRANT_TYPES.map(grant_type_name),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": client_auth,
            "introspection_endpoint_auth_methods_supported": confidential_auth,
            "revocation_endpoint_auth_methods_supported": client_auth,
            "authorization_response_iss_parameter_supported": true,
            "scopes_supported": scopes,
            "registration_endpoint": format!("{issuer}/oauth/register"),
            "client_id_metadata_document_supported": true,
        }));
    crate::http::cors::allow_any(&req, response)
}

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(metadata);
}
