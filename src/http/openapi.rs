//! The OpenAPI 3.1 document of the admin, audit, self-service and
//! registration APIs, `GET /openapi.json`. Every operation comes from the
//! `#[utoipa::path]` on its handler (path and method from the handler's
//! own actix attribute); request and response schemas from the handlers'
//! types, or from `schemas` where a handler assembles its JSON. A test
//! compares the document with the routes the server registers.

pub mod schemas;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use actix_web::{get, HttpResponse};
use utoipa::openapi::content::Content;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{IntoResponses, Modify, OpenApi};

use super::error::PROBLEM_JSON;
use super::{
    admin_clients, admin_tokens, admin_users, audit, keys, registration, sessions,
    upstream_connections, upstream_providers,
};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "authlog",
        description = "Admin, audit, self-service and dynamic client registration APIs of the authlog authorization server. Every change is an event in a hash-chained log.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        admin_clients::create,
        admin_clients::list,
        admin_clients::export,
        admin_clients::bulk_delete,
        admin_clients::read,
        admin_clients::edit,
        admin_clients::rotate,
        admin_clients::pause,
        admin_clients::resume,
        admin_clients::remove,
        admin_clients::tokens,
        admin_clients::revoke_all,
        admin_tokens::revoke,
        keys::list,
        keys::rotate,
        admin_users::create,
        admin_users::list,
        admin_users::read,
        admin_users::edit,
        admin_users::disable,
        audit::events,
        audit::client_summary,
        audit::export,
        audit::stream,
        audit::verify,
        audit::checkpoint,
        sessions::all_sessions,
        sessions::my_sessions,
        sessions::end_session,
        registration::register,
        registration::read,
        registration::update,
        registration::remove,
        upstream_providers::create,
        upstream_providers::list,
        upstream_providers::read,
        upstream_providers::edit,
        upstream_providers::remove,
        upstream_providers::connections,
        upstream_connections::mine,
        upstream_connections::disconnect_mine,
        upstream_connections::of_user,
        upstream_connections::disconnect_user,
        admin_users::remove,
    ),
    components(schemas(schemas::Problem, schemas::OAuthErrorBody)),
    modifiers(&BearerAuth),
    tags(
        (name = "clients", description = "OAuth clients (scopes clients:read, clients:write, tokens:revoke)"),
        (name = "keys", description = "ID-token and JWT signing keys"),
        (name = "users", description = "Users (users:read, users:write)"),
        (name = "audit", description = "The event log (audit:read)"),
        (name = "sessions", description = "Active tokens by client; a user's own connected apps"),
        (name = "registration", description = "RFC 7591 / RFC 7592 dynamic client registration"),
        (name = "upstream", description = "Upstream OAuth providers and users' connections to them (tokens are never shown)"),
    ),
)]
pub struct ApiDoc;

/// Bearer access tokens (from `/oauth/token`) for every operation; the
/// registration endpoints take a registration access token the same way.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn error_response(description: &str, content_type: &str, schema: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            content_type,
            Content::new(Some(Ref::from_schema_name(schema))),
        )
        .build()
        .into()
}

/// The problem documents any `/api` operation may answer with.
pub struct Problems;

impl IntoResponses for Problems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [
            ("400", "The request is malformed"),
            ("401", "No valid bearer token"),
            ("403", "The token lacks the scope this operation needs"),
            ("404", "No such resource"),
            ("409", "The change conflicts with the current state"),
            ("412", "`If-Match` names an older version"),
            ("413", "The body is too large"),
            ("415", "The body is not JSON"),
            ("422", "A field is invalid; `field` names it"),
            ("428", "`If-Match` is required"),
            ("429", "Too many requests"),
            ("503", "Starting, or storage is failing; retry later"),
            ("default", "Any other error, as a problem document"),
        ]
        .into_iter()
        .map(|(status, description)| {
            (
                status.to_owned(),
                error_response(description, PROBLEM_JSON, "Problem"),
            )
        })
        .collect()
    }
}

/// The OAuth errors the registration endpoints answer with.
pub struct OAuthErrors;

impl IntoResponses for OAuthErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [
            (
                "400",
                "invalid_client_metadata, invalid_redirect_uri or invalid_request",
            ),
            ("401", "invalid_token: no valid registration access token"),
            ("404", "No such endpoint"),
            ("429", "Too many registrations from this address"),
            ("default", "Any other error, as an OAuth error"),
        ]
        .into_iter()
        .map(|(status, description)| {
            (
                status.to_owned(),
                error_response(description, "application/json", "OAuthErrorBody"),
            )
        })
        .collect()
    }
}

/// The document as JSON, built once.
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    })
}

/// `GET /openapi.json`.
#[get("/openapi.json")]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .body(document())
}
