//! `GET`/`POST /oauth/userinfo`: who the bearer token acts for, and the
//! teams it was granted. Errors follow RFC 6750 §3 (`invalid_token` with a
//! `WWW-Authenticate: Bearer` challenge).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::bearer::authenticate;
use super::error::{ApiError, OAuthError};
use crate::state::AppState;

async fn userinfo(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let caller = match authenticate(&req, &state) {
        Ok(caller) => caller,
        Err(ApiError::Unavailable(reason)) => return Err(OAuthError::unavailable(reason)),
        Err(ApiError::Unauthenticated { token_given: false }) => {
            return Err(OAuthError::bearer_missing())
        }
        Err(_) => {
            return Err(OAuthError::invalid_token(
                "the access token is invalid, expired or revoked",
            ))
        }
    };
    let Some(user) = caller.user else {
        return Err(OAuthError::invalid_token(
            "the access token does not act for a user",
        ));
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "sub": user.user_id.to_string(),
            "preferred_username": user.username,
            "name": user.display_name,
            "email": user.email,
            "teams": caller.token.teams(),
            "user_teams": user.teams,
            "client_id": caller.token.client_id,
            "access": super::client_json::preset_name(caller.token.access),
        })))
}

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/userinfo", web::get().to(userinfo))
        .route("/oauth/userinfo", web::post().to(userinfo));
}
