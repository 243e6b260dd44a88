//! `GET /healthz` (the process is up) and `GET /readyz` (replay is done and
//! the writer is healthy).

use actix_web::{get, web, HttpResponse};
use serde_json::json;

use crate::state::AppState;

/// Liveness: answers as soon as the server listens.
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Readiness: 200 once the log is replayed and the writer can commit.
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let Some(writer) = state.ready_writer() else {
        return HttpResponse::ServiceUnavailable().json(json!({ "status": "starting" }));
    };
    if let Some(error) = writer.status().failure() {
        return HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "unavailable", "error": error }));
    }
    let projections = state.read();
    HttpResponse::Ok().json(json!({
        "status": "ready",
        "position": projections.applied_position,
        "events": projections.stats.events,
    }))
}
