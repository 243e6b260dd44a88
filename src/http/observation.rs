//! What is observed of every request: the HTTP metrics (requests by route
//! template, never the raw path: `unmatched` for paths no route has;
//! method and status; a latency histogram; 429s by route) and the access
//! log line (target `authlog::access`, level info: request id, method,
//! route, the authenticated client when there was one, status, latency).
//! The raw path and query are never logged: they can carry codes and
//! tokens. Also `GET /metrics` (Prometheus text exposition, `telemetry`).

use std::time::Instant;

use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::{web, HttpMessage, HttpResponse};

use crate::state::AppState;
use crate::telemetry::{self, HTTP_DURATION, HTTP_REQUESTS, RATE_LIMITED};

/// The client a request authenticated as (client credentials or the
/// client of its bearer token), for the access log.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient(pub String);

/// Notes on `req` which client it authenticated as.
pub fn note_client(req: &impl HttpMessage, client_id: &str) {
    req.extensions_mut()
        .insert(AuthenticatedClient(client_id.to_owned()));
}

/// One request being timed.
pub struct Observation {
    started: Instant,
    route: String,
    method: &'static str,
    request_id: Option<String>,
}

impl Observation {
    /// Starts timing `req`.
    pub fn start(req: &ServiceRequest) -> Observation {
        Observation {
            started: Instant::now(),
            route: req
                .match_pattern()
                .unwrap_or_else(|| "unmatched".to_owned()),
            method: method_name(req.method()),
            request_id: super::request_id::of(req),
        }
    }

    /// Counts and logs the request with its response.
    pub fn finish<B>(self, res: &ServiceResponse<B>) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let code = res.status().as_u16();
        if tracing::enabled!(target: "authlog::access", tracing::Level::INFO) {
            let extensions = res.request().extensions();
            let client = extensions.get::<AuthenticatedClient>();
            tracing::info!(
                target: "authlog::access",
                request_id = self.request_id.as_deref().unwrap_or(""),
                method = self.method,
                route = self.route.as_str(),
                client_id = client.map(|c| c.0.as_str()),
                status = code,
                latency_ms = elapsed * 1e3,
                "request"
            );
        }
        if code == 429 {
            metrics::counter!(RATE_LIMITED, "route" => self.route.clone()).increment(1);
        }
        metrics::histogram!(HTTP_DURATION, "route" => self.route.clone(), "method" => self.method)
            .record(elapsed);
        metrics::counter!(
            HTTP_REQUESTS,
            "route" => self.route,
            "method" => self.method,
            "status" => code.to_string()
        )
        .increment(1);
    }
}

/// A method as a label: the standard ones by name, anything else `other`
/// (a client cannot grow the label set).
fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// `GET /metrics`.
pub async fn scrape(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(telemetry::render(&state))
}

/// Registers `GET /metrics`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(scrape));
}
