//! `GET /.well-known/oauth-authorization-server` (RFC 8414): what this
//! server implements, and only that.

use actix_web::{get, web, HttpResponse};
use serde_json::json;

use crate::scopes::API_SCOPES;
use crate::state::AppState;

#[get("/.well-known/oauth-authorization-server")]
async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    let issuer = &state.config.issuer;
    let auth_methods = ["client_secret_basic", "client_secret_post"];
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(json!({
            "issuer": issuer,
            "token_endpoint": format!("{issuer}/oauth/token"),
            "introspection_endpoint": format!("{issuer}/oauth/introspect"),
            "revocation_endpoint": format!("{issuer}/oauth/revoke"),
            "grant_types_supported": ["client_credentials"],
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": auth_methods,
            "introspection_endpoint_auth_methods_supported": auth_methods,
            "revocation_endpoint_auth_methods_supported": auth_methods,
            "scopes_supported": API_SCOPES,
        }))
}

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(metadata);
}
