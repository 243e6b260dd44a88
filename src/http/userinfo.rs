//! `GET`/`POST /oauth/userinfo`: who the bearer token acts for (`sub`, and
//! the claims its scopes release, as in the ID token), and the teams it
//! was granted. Errors follow RFC 6750 §3 (`invalid_token` with a
//! `WWW-Authenticate: Bearer` challenge).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::bearer::authenticate;
use super::error::{ApiError, OAuthError};
use super::id_token::scope_claims;
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
    // The same claims per scope as the ID token (OpenID Connect Core
    // §5.4), and authlog's own: teams, client and access.
    let mut claims = scope_claims(&user, caller.token.scopes.iter().map(|s| s.as_str()));
    for (name, value) in [
        ("sub", json!(user.user_id.to_string())),
        ("teams", json!(caller.token.teams())),
        ("user_teams", json!(user.teams)),
        ("client_id", json!(caller.token.client_id)),
        (
            "access",
            json!(super::client_json::preset_name(caller.token.access)),
        ),
    ] {
        claims.insert(name.into(), value);
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(claims))
}

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/userinfo", web::get().to(userinfo))
        .route("/oauth/userinfo", web::post().to(userinfo));
}
