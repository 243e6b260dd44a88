//! `POST /oauth/token` (RFC 6749 §3.2, §5): every grant authlog supports,
//! dispatched by `grant_type`: `client_credentials` (§4.4),
//! `authorization_code` with PKCE (§4.1.3, RFC 7636), `refresh_token` with
//! rotation (§6, OAuth 2.1 §4.3.1), the device code (RFC 8628 §3.4) and
//! token exchange for a user's upstream token (RFC 8693, `token_exchange.rs`).
//! Responses carry `Cache-Control: no-store`.

use actix_web::http::header;
use actix_web::{post, web, HttpRequest, HttpResponse};
use authlog_events::{GrantType, Principal};
use serde::Serialize;

use super::client_auth::authenticate_request;
use super::context::RequestFacts;
use super::error::OAuthError;
use super::form::OAuthForm;
use crate::client_policy::{parse_grant_type, parse_scope};
use crate::commands::grants::{GrantOutcome, RedeemCode, RedeemDevice, RefreshTokens};
use crate::commands::issue::Issued;
use crate::commands::rules::{grant_allowed, not_paused, scopes_allowed};
use crate::commands::tokens::IssueClientToken;
use crate::commands::GrantError;
use crate::state::AppState;
use crate::writer::WriterHandle;

/// The RFC 6749 §5.1 token response (members in name order).
#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    scope: &'a str,
    token_type: &'static str,
}

/// Renders issued tokens, uncacheable (RFC 6749 §5.1).
fn respond(issued: &Issued, id_token: Option<&str>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(TokenResponse {
            access_token: &issued.access_token,
            expires_in: issued.expires_in,
            id_token,
            refresh_token: issued.refresh_token.as_deref(),
            scope: &issued.scope,
            token_type: "Bearer",
        })
}

/// Renders tokens that act for a user, with an ID token when `openid` was
/// granted.
fn respond_user(
    state: &AppState,
    client_id: &str,
    issued: &Issued,
) -> Result<HttpResponse, OAuthError> {
    let id_token = super::id_token::for_issued(state, client_id, issued)?;
    Ok(respond(issued, id_token.as_deref()))
}

/// A code or refresh token presented again: its family is revoked.
fn respond_grant(
    state: &AppState,
    client_id: &str,
    outcome: &GrantOutcome,
    replayed: &str,
) -> Result<HttpResponse, OAuthError> {
    match outcome {
        GrantOutcome::Issued(issued) => respond_user(state, client_id, issued),
        GrantOutcome::ReuseDetected { .. } => {
            Err(GrantError::InvalidGrant(replayed.to_owned()).into())
        }
    }
}

/// The `scope` parameter (RFC 6749 §3.3), when sent.
pub fn requested_scopes(form: &OAuthForm) -> Result<Option<Vec<String>>, OAuthError> {
    form.get("scope")
        .map(|s| parse_scope(s).map_err(OAuthError::invalid_scope))
        .transpose()
}

/// RFC 8707 `resource` values: absolute URIs without a fragment.
pub fn resources(form: &OAuthForm) -> Result<Vec<String>, OAuthError> {
    form.get_all("resource")
        .map(|r| match url::Url::parse(r) {
            Ok(u) if u.fragment().is_none() => Ok(r.to_owned()),
            _ => Err(OAuthError::invalid_target(
                "resource must be an absolute URI without a fragment (RFC 8707)",
            )),
        })
        .collect()
}

/// The writer, once authlog is ready.
pub fn writer(state: &AppState) -> Result<&WriterHandle, OAuthError> {
    state.ready_writer().ok_or_else(OAuthError::starting)
}

#[post("/oauth/token")]
async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let form = OAuthForm::read(&req, body).await?;
    let grant_type = form.require("grant_type")?;
    let auth = authenticate_request(&req, &state, &form).await?;
    let client = &auth.client;
    if grant_type == super::token_exchange::GRANT_TYPE {
        not_paused(client)?;
        let facts = RequestFacts::of(&req);
        return super::token_exchange::exchange(&state, &form, client, facts).await;
    }
    let grant = parse_grant_type(grant_type).ok_or_else(|| {
        OAuthError::unsupported_grant_type(format!("grant_type {grant_type} is not supported"))
    })?;
    // Answered before the grant is looked up; the command checks again.
    grant_allowed(client, grant)?;
    not_paused(client)?;
    let facts = RequestFacts::of(&req);
    let client_id = client.client_id.clone();
    let as_user = |user| facts.context(Principal::User(user), Some(client_id.clone()));
    let digest = |name| form.require(name).map(|value| state.key.digest(value));
    match grant {
        GrantType::ClientCredentials => {
            let scopes = requested_scopes(&form)?;
            scopes_allowed(scopes.as_deref(), client)?;
            let command = IssueClientToken {
                client_id: client_id.clone(),
                secret_digest: auth.secret_digest,
                scopes,
                audience: resources(&form)?,
                ctx: facts.context(Principal::Client(client_id.clone()), None),
            };
            Ok(respond(&writer(&state)?.submit(command).await?, None))
        }
        GrantType::AuthorizationCode => {
            let code = digest("code")?;
            let verifier = form
                .get("code_verifier")
                .ok_or_else(|| OAuthError::invalid_request("code_verifier is required (PKCE)"))?;
            let command = RedeemCode::of_code(
                &*state.read()?,
                &code,
                &client_id,
                form.get("redirect_uri").map(str::to_owned),
                verifier.to_owned(),
                resources(&form)?,
                as_user,
            )?;
            let outcome = writer(&state)?.submit(command).await?;
            respond_grant(
                &state,
                &client_id,
                &outcome,
                "the code was already used; the tokens issued from it are revoked",
            )
        }
        GrantType::RefreshToken => {
            let token = digest("refresh_token")?;
            let scopes = requested_scopes(&form)?;
            let command = RefreshTokens::of_token(
                &*state.read()?,
                &token,
                &client_id,
                scopes,
                resources(&form)?,
                as_user,
            )?;
            let outcome = writer(&state)?.submit(command).await?;
            respond_grant(
                &state,
                &client_id,
                &outcome,
                "the refresh token was already used; its grant is revoked",
            )
        }
        GrantType::DeviceCode => {
            let now = state.clock.now();
            let command = RedeemDevice::of_code(
                &*state.read()?,
                now,
                &digest("device_code")?,
                &client_id,
                |device, interval| !state.device_polls.poll(device, now, interval),
                |user| match user {
                    Some(user) => as_user(user),
                    None => facts.context(Principal::Client(client_id.clone()), None),
                },
            )?;
            let issued = writer(&state)?.submit(command).await?;
            respond_user(&state, &client_id, &issued)
        }
    }
}

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(token);
}
