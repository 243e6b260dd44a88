//! The token exchange grant (RFC 8693) at `/oauth/token`, for one use: a
//! resource server holding a user's authlog access token gets that
//! user's current access token at an upstream provider.
//!
//! `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`,
//! `subject_token` (an authlog access token, `subject_token_type`
//! `urn:ietf:params:oauth:token-type:access_token`), `audience` or
//! `resource` naming the provider id, and optionally
//! `requested_token_type` (only the access-token type is issued). The
//! client must be confidential and in the provider's `allowed_clients`;
//! the subject token must act for an enabled user and hold the scope
//! `upstream:{id}`. Errors: an unacceptable subject token is
//! `invalid_request` (RFC 8693 §2.2.2), a client not allowed
//! `unauthorized_client`, a provider the user has not connected (or must
//! connect again) `invalid_target` with a `connect_uri` member naming
//! where to send the user. Every hand-off, and every hand-off that found
//! no usable connection, is an event.

use actix_web::http::header;
use actix_web::HttpResponse;
use authlog_events::{Principal, TokenEndpointAuthMethod, TokenKind, UpstreamStage};
use authlog_projections::ClientRecord;
use serde_json::json;

use super::context::RequestFacts;
use super::error::OAuthError;
use super::form::OAuthForm;
use crate::commands::upstream::{HandOff, RecordUpstreamFailure};
use crate::state::AppState;
use crate::upstream::provider::scope_of;
use crate::upstream::refresh::TokenError;

/// The grant type.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The only token type accepted and issued.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// The provider id `audience` or `resource` names (one target only).
fn target(form: &OAuthForm, issuer: &str) -> Result<String, OAuthError> {
    let mut targets: Vec<&str> = form.get_all("audience").collect();
    targets.extend(form.get_all("resource"));
    let [one] = targets[..] else {
        return Err(OAuthError::invalid_target(
            "name exactly one upstream provider, as audience (its id) or resource",
        ));
    };
    let prefix = format!("{issuer}/connect/");
    Ok(one.strip_prefix(&prefix).unwrap_or(one).to_owned())
}

/// Handles the exchange for an authenticated `client`.
pub async fn exchange(
    state: &AppState,
    form: &OAuthForm,
    client: &ClientRecord,
    facts: RequestFacts,
) -> Result<HttpResponse, OAuthError> {
    if client.metadata.token_endpoint_auth_method == TokenEndpointAuthMethod::None {
        return Err(OAuthError::unauthorized_client(
            "only confidential clients may exchange tokens",
        ));
    }
    let subject_token = form.require("subject_token")?;
    let subject_type = form.require("subject_token_type")?;
    if subject_type != ACCESS_TOKEN_TYPE {
        return Err(OAuthError::invalid_request(format!(
            "subject_token_type must be {ACCESS_TOKEN_TYPE}"
        )));
    }
    if form
        .get("requested_token_type")
        .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
    {
        return Err(OAuthError::invalid_request(format!(
            "only {ACCESS_TOKEN_TYPE} can be issued"
        )));
    }
    if form.get("actor_token").is_some() {
        return Err(OAuthError::invalid_request(
            "actor_token is not supported: the client itself is the actor",
        ));
    }
    let provider_id = target(form, &state.config.issuer)?;
    let now = state.clock.now();
    let (user, scope_covered) = {
        let p = state.read()?;
        let provider = p.upstream.provider(&provider_id).ok_or_else(|| {
            OAuthError::invalid_target(format!("no upstream provider {provider_id}"))
        })?;
        if !provider
            .provider
            .allowed_clients
            .contains(&client.client_id)
        {
            return Err(OAuthError::unauthorized_client(format!(
                "client {} may not exchange tokens for {provider_id}",
                client.client_id
            )));
        }
        let token = p
            .tokens
            .by_digest(&state.key.digest(subject_token))
            .filter(|t| t.kind == TokenKind::Access && t.is_active(now))
            .ok_or_else(|| {
                OAuthError::invalid_request("subject_token is not an active access token")
            })?;
        let user = token
            .subject()
            .filter(|u| p.users.get(u).is_some_and(|u| !u.disabled))
            .ok_or_else(|| {
                OAuthError::invalid_request("subject_token does not act for an enabled user")
            })?;
        let live_issuer = p
            .registry
            .get(&token.client_id)
            .is_some_and(|c| c.status == authlog_projections::ClientStatus::Active);
        if !live_issuer {
            return Err(OAuthError::invalid_request(
                "subject_token is not an active access token",
            ));
        }
        let wanted = scope_of(&provider_id);
        (user, token.scopes.contains(&wanted))
    };
    if !scope_covered {
        return Err(OAuthError::invalid_request(format!(
            "subject_token lacks the scope {}: the user has not let any client use this provider",
            scope_of(&provider_id)
        )));
    }
    let connect_uri = format!("{}/connect/{provider_id}", state.config.issuer);
    let ctx = facts.context(Principal::User(user), Some(client.client_id.clone()));
    let writer = state.ready_writer().ok_or_else(OAuthError::starting)?;
    let current = match state
        .upstream_refresher
        .current(state, user, &provider_id)
        .await
    {
        Ok(current) => current,
        Err(e @ (TokenError::NotConnected | TokenError::NeedsReconnect(_))) => {
            let key_id = state
                .read()?
                .upstream
                .connection(&user, &provider_id)
                .map(|c| c.key_id);
            writer
                .submit(RecordUpstreamFailure {
                    user_id: user,
                    provider_id: provider_id.clone(),
                    key_id,
                    stage: UpstreamStage::HandOff,
                    reason: e.to_string(),
                    needs_reconnect: false,
                    client_id: Some(client.client_id.clone()),
                    ctx,
                })
                .await?;
            let mut error = OAuthError::invalid_target(format!(
                "{e}; send the user to {connect_uri} to connect {provider_id}"
            ));
            error.connect_uri = Some(connect_uri);
            return Err(error);
        }
        Err(e) => return Err(e.into()),
    };
    writer
        .submit(HandOff {
            user_id: user,
            provider_id: provider_id.clone(),
            key_id: current.key_id,
            client_id: client.client_id.clone(),
            expires_at: current.expires_at,
            ctx,
        })
        .await?;
    let token_type = if current.tokens.token_type.eq_ignore_ascii_case("bearer") {
        "Bearer".to_owned()
    } else {
        current.tokens.token_type.clone()
    };
    let mut body = json!({
        "access_token": current.tokens.access_token,
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": token_type,
    });
    if let Some(expires) = current.expires_at {
        body["expires_in"] =
            json!((expires.unix_seconds() - state.clock.now().unix_seconds()).max(0));
    }
    if !current.scopes.is_empty() {
        body["scope"] = json!(current.scopes.join(" "));
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body))
}
