//! `GET /healthz` (the process is up) and `GET /readyz` (replay is done,
//! the writer is healthy and the read models can be trusted).

use actix_web::{get, web, HttpResponse};
use serde_json::json;

use crate::state::AppState;

/// Liveness: answers as soon as the server listens.
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Readiness: 200 once the log is replayed and the writer can commit; 503
/// while starting, after a storage failure, or after a fold failed (the
/// read models may be half-applied until a restart replays the log).
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let Some(writer) = state.ready_writer() else {
        return HttpResponse::ServiceUnavailable().json(json!({ "status": "starting" }));
    };
    let failure = writer.status().failure().map(|f| f.to_string());
    let projections = match (failure, state.read()) {
        (None, Ok(projections)) => projections,
        (failure, read) => {
            let reason = failure.or_else(|| read.err().map(|e| e.to_string()));
            return HttpResponse::ServiceUnavailable()
                .json(json!({ "status": "unavailable", "error": reason }));
        }
    };
    HttpResponse::Ok().json(json!({
        "status": "ready",
        "position": projections.applied_position,
        "events": projections.stats.events,
    }))
}
