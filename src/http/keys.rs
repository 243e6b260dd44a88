//! Signing keys over HTTP: `GET /oauth/jwks` (the JWKS every relying party
//! verifies ID tokens with: the active key, the next one, and retired keys
//! until their tokens have expired), and for admins `GET /api/admin/keys`
//! (every key and its state) and `POST /api/admin/keys/rotate` (scope
//! `clients:write`).

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use authlog_projections::SigningKey;
use serde_json::{json, Value};

use super::bearer::authorize;
use super::error::ApiError;
use crate::commands::keys::{RotateSigningKeys, Rotated};
use crate::scopes::{CLIENTS_READ, CLIENTS_WRITE};
use crate::signing::{ES256, RS256};
use crate::state::AppState;
use authlog_events::SigningAlgorithm;

#[get("/oauth/jwks")]
async fn jwks(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let keys: Vec<Value> = state
        .read()?
        .signing_keys
        .published(now)
        .filter_map(|k| serde_json::from_str(&k.public_jwk).ok())
        .collect();
    let response = HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .content_type("application/jwk-set+json")
        .body(json!({ "keys": keys }).to_string());
    Ok(crate::http::cors::allow_any(&req, response))
}

/// One key as the admin API shows it (never its sealed private half).
fn key_view(key: &SigningKey, active: bool, now: authlog_events::Timestamp) -> Value {
    let state = if active {
        "active"
    } else if key.retired.is_some() {
        "retired"
    } else {
        "next"
    };
    json!({
        "kid": key.kid,
        "alg": key.alg,
        "state": state,
        "published": key.published(now),
        "created_at": key.created_at.to_rfc3339(),
        "activated_at": key.activated_at.map(|t| t.to_rfc3339()),
        "retired_at": key.retired.map(|(at, _)| at.to_rfc3339()),
        "unpublish_at": key.retired.map(|(_, until)| until.to_rfc3339()),
        "public_jwk": serde_json::from_str::<Value>(&key.public_jwk).unwrap_or(Value::Null),
    })
}

#[utoipa::path(
    operation_id = "keys_list",
    tag = "keys",
    summary = "Signing keys, newest first",
    responses((status = 200, description = "The keys", body = crate::http::openapi::schemas::KeyList), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[get("/api/admin/keys")]
pub(crate) async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state, CLIENTS_READ)?;
    let now = state.clock.now();
    let projections = state.read()?;
    let keys = &projections.signing_keys;
    let items: Vec<Value> = keys
        .all()
        .iter()
        .rev()
        .map(|k| key_view(k, keys.is_active(&k.kid), now))
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "items": items })))
}

#[utoipa::path(
    operation_id = "keys_rotate",
    tag = "keys",
    summary = "Rotate the signing keys of every algorithm in use",
    responses((status = 200, description = "The rotations", body = crate::http::openapi::schemas::Rotations), crate::http::openapi::Problems),
    security(("bearer" = []))
)]
#[post("/api/admin/keys/rotate")]
pub(crate) async fn rotate(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, CLIENTS_WRITE)?;
    let writer = state.ready_writer().ok_or_else(ApiError::starting)?;
    let rotations = writer
        .submit(RotateSigningKeys {
            only_if_missing: false,
            alg: None,
            ctx: caller.context(),
        })
        .await?;
    let view = |r: &Rotated| {
        json!({
            "alg": r.alg,
            "active": r.active,
            "retired": r.retired.as_ref().map(|(kid, _)| kid),
            "retired_unpublish_at": r.retired.as_ref().map(|(_, until)| until.to_rfc3339()),
            "next": r.next,
        })
    };
    // The ES256 rotation at the top level; every algorithm's in `rotations`.
    let mut body = rotations
        .iter()
        .find(|r| r.alg == ES256)
        .map(view)
        .ok_or_else(|| ApiError::Conflict("no rotation happened".into()))?;
    body["rotations"] = rotations.iter().map(view).collect();
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(body))
}

/// Makes sure keys of `alg` exist for a client just registered or edited
/// to use them: the first client asking for RS256 has the RS256 key and
/// its successor made (and published) before its registration is
/// answered, and so before anything is signed for it. Called only after
/// the client was accepted, so a refused request changes nothing.
pub async fn provision(
    state: &AppState,
    alg: SigningAlgorithm,
    ctx: crate::commands::EventContext,
) -> Result<(), ApiError> {
    let alg = match alg {
        SigningAlgorithm::Es256 => ES256,
        SigningAlgorithm::Rs256 => RS256,
    };
    if state.read()?.signing_keys.active(alg).is_some() {
        return Ok(());
    }
    let writer = state.ready_writer().ok_or_else(ApiError::starting)?;
    writer
        .submit(RotateSigningKeys {
            only_if_missing: true,
            alg: Some(alg),
            ctx,
        })
        .await?;
    Ok(())
}

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(jwks).service(list).service(rotate);
}
