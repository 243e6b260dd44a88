//! `?at=TIME` on `GET /api/admin/oauth-clients` and
//! `GET /api/admin/oauth-clients/{id}`: the client, or the list, as it was
//! at that instant, folded from the log by `crate::registry_at` on the
//! blocking pool (never on the executor or the writer). The handlers in
//! `admin_clients.rs` authenticate, parse their own parameters and hand
//! over here when `at` is given.

use actix_web::{web, HttpRequest, HttpResponse};
use authlog_projections::ClientRecord;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use tokio::sync::Semaphore;

use super::error::ApiError;
use super::json_body::parse_query;
use crate::registry_at::{self, ClientsAt};
use crate::state::AppState;

/// Folds at once: one whole-log fold takes both, a one-client fold one, so
/// past instants never take more than two threads from live requests.
static FOLDS: Semaphore = Semaphore::const_new(2);

#[derive(Debug, Default, Deserialize)]
struct AtQuery {
    at: Option<String>,
}

/// The `at` parameter, when the request has one (other parameters are the
/// handler's).
pub fn at_param(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    Ok(parse_query::<AtQuery>(req)?.at)
}

/// One client as it was at `at` (404 when it did not exist then).
pub async fn read(state: &AppState, id: &str, at: &str) -> Result<HttpResponse, ApiError> {
    let at = registry_at::parse_at(at, state.clock.now())?;
    let log = state.log.clone();
    let id = id.to_owned();
    let _permit = FOLDS
        .acquire()
        .await
        .map_err(|_| ApiError::Unavailable("the server is shutting down".into()))?;
    let client =
        web::block(move || registry_at::fold_client(log.as_ref(), &id, at)?.client(&id)).await??;
    Ok(HttpResponse::Ok().json(client))
}

/// A page of the clients that existed at `at` and that `keep` keeps, after
/// the client id `after`: the list's shape and cursor.
pub async fn list(
    state: &AppState,
    at: &str,
    keep: impl Fn(&ClientRecord) -> bool + Send + 'static,
    limit: usize,
    after: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let at = registry_at::parse_at(at, state.clock.now())?;
    let log = state.log.clone();
    let _permits = FOLDS
        .acquire_many(2)
        .await
        .map_err(|_| ApiError::Unavailable("the server is shutting down".into()))?;
    let page = web::block(move || {
        let then = registry_at::fold_all(log.as_ref(), at)?;
        let (items, more) = then.clients(after.as_deref(), limit, keep);
        let next_cursor = more
            .then(|| {
                items
                    .last()
                    .map(|c| URL_SAFE_NO_PAD.encode(&c.view.client_id))
            })
            .flatten();
        Ok::<_, registry_at::RegistryAtError>(ClientsAt { items, next_cursor })
    })
    .await??;
    Ok(HttpResponse::Ok().json(page))
}
