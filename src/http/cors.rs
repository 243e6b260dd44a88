//! CORS for the endpoints browser-based clients call: metadata and
//! registration allow any origin (public, no credentials); token and
//! revocation allow the origins of the client that authenticated (its
//! `allowed_cors_origins`, plus its redirect URIs' origins for public
//! clients). Handlers mark the request with a `CorsPolicy`; `finish`
//! turns the mark into headers after the handler ran.

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use authlog_events::TokenEndpointAuthMethod;
use authlog_projections::ClientRecord;

use crate::state::AppState;

/// Which origins may read a response.
#[derive(Debug, Clone)]
pub enum CorsPolicy {
    /// Any origin.
    Any,
    /// The origins of this client.
    Client(String),
}

/// Marks the request as readable by any origin; returns the response unchanged.
pub fn allow_any(req: &HttpRequest, response: HttpResponse) -> HttpResponse {
    req.extensions_mut().insert(CorsPolicy::Any);
    response
}

/// Marks the request as readable by `client_id`'s origins.
pub fn allow_client(req: &HttpRequest, client_id: &str) {
    req.extensions_mut()
        .insert(CorsPolicy::Client(client_id.to_owned()));
}

/// The origins a client's browser code may call from.
pub fn client_origins(client: &ClientRecord) -> Vec<String> {
    let mut origins = client.metadata.allowed_cors_origins.clone();
    if client.metadata.token_endpoint_auth_method == TokenEndpointAuthMethod::None {
        for uri in &client.metadata.redirect_uris {
            if let Ok(u) = url::Url::parse(uri) {
                let origin = u.origin().ascii_serialization();
                if u.scheme() == "https" && !origins.contains(&origin) {
                    origins.push(origin);
                }
            }
        }
    }
    origins
}

/// Preflight (`OPTIONS`) for the CORS-enabled endpoints: the actual
/// response decides which origin may read it.
pub async fn preflight(req: HttpRequest) -> HttpResponse {
    let mut response = HttpResponse::NoContent();
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        response
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone()))
            .insert_header((
                header::ACCESS_CONTROL_ALLOW_METHODS,
                "GET, POST, PUT, DELETE, OPTIONS",
            ))
            .insert_header((
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                "Authorization, Content-Type",
            ))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
            .insert_header((header::VARY, "Origin"));
    }
    response.finish()
}

/// Adds the CORS headers a handler's mark calls for.
pub fn finish<B: MessageBody>(mut res: ServiceResponse<B>) -> ServiceResponse<B> {
    let Some(origin) = res.request().headers().get(header::ORIGIN).cloned() else {
        return res;
    };
    let policy = res.request().extensions().get::<CorsPolicy>().cloned();
    let allowed = match policy {
        None => None,
        Some(CorsPolicy::Any) => Some(HeaderValue::from_static("*")),
        Some(CorsPolicy::Client(id)) => {
            let state = res
                .request()
                .app_data::<actix_web::web::Data<AppState>>()
                .cloned();
            let ok = state.is_some_and(|s| {
                s.read().is_ok_and(|p| {
                    p.registry.get(&id).is_some_and(|c| {
                        client_origins(c)
                            .iter()
                            .any(|o| o.as_bytes() == origin.as_bytes())
                    })
                })
            });
            ok.then_some(origin)
        }
    };
    if let Some(value) = allowed {
        let headers = res.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("WWW-Authenticate, Retry-After"),
        );
    }
    res
}
