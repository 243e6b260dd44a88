//! The HTTP surface. Only this module knows actix-web: handlers parse and
//! authenticate, hand commands to the writer or queries to the projections,
//! and map errors to responses (`error`, the one place that does).

pub mod admin_clients;
pub mod admin_tokens;
pub mod admin_users;
pub mod audit;
pub mod authorize;
pub mod bearer;
pub mod body;
pub mod client_auth;
pub mod client_export;
pub mod client_json;
pub mod connect;
pub mod connections;
pub mod console;
pub mod context;
pub mod cors;
pub mod device;
pub mod document_client;
pub mod edit;
pub mod error;
pub mod form;
pub mod forward;
pub mod health;
pub mod id_token;
pub mod introspection;
pub mod json_body;
pub mod keys;
pub mod login;
pub mod logout;
pub mod media_type;
pub mod metadata;
pub mod observation;
pub mod openapi;
pub mod pages;
pub mod registration;
pub mod registry_at;
pub mod request_id;
pub mod request_span;
pub mod revocation;
pub mod session;
pub mod sessions;
pub mod token_endpoint;
pub mod token_exchange;
pub mod token_json;
pub mod transport_security;
pub mod upstream_connections;
pub mod upstream_providers;
pub mod userinfo;

use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(openapi::openapi_json);
    metadata::routes(cfg);
    token_endpoint::routes(cfg);
    introspection::routes(cfg);
    revocation::routes(cfg);
    admin_clients::routes(cfg);
    admin_tokens::routes(cfg);
    keys::routes(cfg);
    admin_users::routes(cfg);
    audit::routes(cfg);
    sessions::routes(cfg);
    userinfo::routes(cfg);
    authorize::routes(cfg);
    login::routes(cfg);
    logout::routes(cfg);
    device::routes(cfg);
    pages::routes(cfg);
    registration::routes(cfg);
    console::routes(cfg);
    connect::routes(cfg);
    upstream_providers::routes(cfg);
    upstream_connections::routes(cfg);
    for path in [
        "/.well-known/oauth-authorization-server",
        "/oauth/token",
        "/oauth/revoke",
        "/oauth/register",
        "/oauth/register/{client_id}",
    ] {
        cfg.route(
            path,
            web::method(actix_web::http::Method::OPTIONS).to(cors::preflight),
        );
    }
}

/// Unknown paths: a problem document under `/api`, an OAuth error elsewhere.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    if req.path().starts_with("/api/") {
        error::ApiError::NotFound(format!("{} {}", req.method(), req.path())).error_response()
    } else {
        let mut e = error::OAuthError::invalid_request(format!(
            "no endpoint {} {}",
            req.method(),
            req.path()
        ));
        e.status = actix_web::http::StatusCode::NOT_FOUND;
        e.error_response()
    }
}
