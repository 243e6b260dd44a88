//! `POST /oauth/revoke` (RFC 7009). The client authenticates; a token of
//! its own is revoked (a refresh token with its whole grant family); an
//! unknown token or another client's gets the same 200 and nothing changes.

use actix_web::http::header;
use actix_web::{post, web, HttpRequest, HttpResponse};
use authlog_events::{Principal, RevocationReason};

use super::client_auth::authenticate_request;
use super::context::RequestFacts;
use super::error::OAuthError;
use super::form::OAuthForm;
use crate::commands::tokens::RevokeToken;
use crate::state::AppState;

#[post("/oauth/revoke")]
async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let form = OAuthForm::read(&req, body).await?;
    let client = authenticate_request(&req, &state, &form).await?.client;
    let token = form.require("token")?;
    // token_type_hint is optional help (RFC 7009 §2.1); every token type is searched anyway.
    let digest = state.key.digest(token);
    let target = {
        let projections = state.read()?;
        projections
            .tokens
            .by_digest(&digest)
            .filter(|t| *t.client_id == *client.client_id)
            .map(|t| (t.token_id, t.family_id()))
    };
    if let Some((token_id, family_id)) = target {
        let writer = state.ready_writer().ok_or_else(OAuthError::starting)?;
        let facts = RequestFacts::of(&req);
        writer
            .submit(RevokeToken {
                token_id,
                family_id,
                client_id: client.client_id.clone(),
                reason: RevocationReason::RevokedByClient,
                ctx: facts.context(Principal::Client(client.client_id.clone()), None),
            })
            .await?;
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(revoke);
}
