//! `GET /metrics` (Prometheus text exposition, see `telemetry`) and the
//! per-request observation behind the HTTP metrics: requests by route
//! template (never the raw path: `unmatched` for paths no route has),
//! method and status, a latency histogram, and 429s by route.

use std::time::Instant;

use actix_web::dev::ServiceRequest;
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpResponse};

use crate::state::AppState;
use crate::telemetry::{self, HTTP_DURATION, HTTP_REQUESTS, RATE_LIMITED};

/// One request being timed.
pub struct Observation {
    started: Instant,
    route: String,
    method: &'static str,
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
        }
    }

    /// Counts the request with its final status.
    pub fn finish(self, status: StatusCode) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let code = status.as_u16();
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
