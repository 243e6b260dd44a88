//! `POST /oauth/token` (RFC 6749 §3.2, §5): every grant authlog supports,
//! dispatched by `grant_type`: `client_credentials` (§4.4),
//! `authorization_code` with PKCE (§4.1.3, RFC 7636), `refresh_token` with
//! rotation (§6, OAuth 2.1 §4.3.1) and the device code (RFC 8628 §3.4).
//! Responses carry `Cache-Control: no-store`.

use actix_web::http::header;
use actix_web::{post, web, HttpRequest, HttpResponse};
use authlog_events::{
    Event, GrantType, Principal, RecordedEvent, TokenEndpointAuthMethod, TokenKind,
};
use authlog_projections::{ClientRecord, ClientStatus, DeviceState};
use serde::Serialize;

use super::client_auth::{authenticate_request, Authenticated};
use super::context::RequestFacts;
use super::error::OAuthError;
use super::form::OAuthForm;
use crate::client_policy::{grant_type_name, parse_grant_type, parse_scope};
use crate::commands::grants::{RedeemCode, RedeemDevice, RefreshTokens};
use crate::commands::issue::NewToken;
use crate::commands::tokens::IssueClientToken;
use crate::commands::GrantError;
use crate::secrets::{self, SecretKind};
use crate::state::AppState;
use crate::writer::WriterHandle;

/// The values of the tokens a grant may issue; only the digests reach the log.
struct Minted {
    access: String,
    access_token: NewToken,
    refresh: String,
    refresh_token: Option<NewToken>,
}

impl Minted {
    /// New token values; a refresh token only when the grant can issue one.
    fn new(state: &AppState, with_refresh: bool) -> Self {
        let access = secrets::generate(SecretKind::AccessToken);
        let refresh = if with_refresh {
            secrets::generate(SecretKind::RefreshToken)
        } else {
            String::new()
        };
        Minted {
            access_token: NewToken {
                id: uuid::Uuid::now_v7(),
                digest: state.key.digest(&access),
            },
            refresh_token: with_refresh.then(|| NewToken {
                id: uuid::Uuid::now_v7(),
                digest: state.key.digest(&refresh),
            }),
            access,
            refresh,
        }
    }

    /// The RFC 6749 §5.1 response for the tokens among `events`, or `None`
    /// when the grant issued none (a detected reuse revoked instead).
    fn response(&self, events: &[RecordedEvent]) -> Option<HttpResponse> {
        let mut body = TokenResponse {
            access_token: None,
            expires_in: None,
            refresh_token: None,
            scope: None,
            token_type: "Bearer",
        };
        let mut issued = false;
        for event in events {
            if let Event::TokenIssued {
                kind,
                scopes,
                issued_at,
                expires_at,
                ..
            } = &event.payload
            {
                issued = true;
                match kind {
                    TokenKind::Access => {
                        body.access_token = Some(&self.access);
                        body.expires_in =
                            Some(expires_at.unix_seconds() - issued_at.unix_seconds());
                        body.scope = Some(scopes.join(" "));
                    }
                    TokenKind::Refresh => body.refresh_token = Some(&self.refresh),
                }
            }
        }
        issued.then(|| {
            HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((header::PRAGMA, "no-cache"))
                .json(body)
        })
    }
}

/// The RFC 6749 §5.1 token response (members in name order).
#[derive(Serialize)]
struct TokenResponse<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    access_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_in: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    token_type: &'static str,
}

/// Requested scopes, checked against what the client may have; none
/// requested means all of the client's (RFC 6749 §3.3).
pub fn granted_scopes(
    requested: Option<&str>,
    client: &ClientRecord,
) -> Result<Vec<String>, OAuthError> {
    let Some(requested) = requested else {
        return Ok(client.metadata.scopes.clone());
    };
    let scopes = parse_scope(requested).map_err(OAuthError::invalid_scope)?;
    if let Some(extra) = scopes.iter().find(|s| !client.metadata.scopes.contains(s)) {
        return Err(OAuthError::invalid_scope(format!(
            "scope {extra} is not allowed for this client"
        )));
    }
    Ok(scopes)
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
    let facts = RequestFacts::of(&req);
    let grant = parse_grant_type(grant_type).ok_or_else(|| {
        OAuthError::unsupported_grant_type(format!("grant_type {grant_type} is not supported"))
    })?;
    if !client.metadata.grant_types.contains(&grant) {
        return Err(OAuthError::unauthorized_client(format!(
            "this client may not use the {grant_type} grant"
        )));
    }
    if client.status == ClientStatus::Paused {
        return Err(OAuthError::unauthorized_client(format!(
            "client {} is paused",
            client.client_id
        )));
    }
    match grant {
        GrantType::ClientCredentials => client_credentials(&state, &form, &auth, &facts).await,
        GrantType::AuthorizationCode => authorization_code(&state, &form, client, &facts).await,
        GrantType::RefreshToken => refresh_token(&state, &form, client, &facts).await,
        GrantType::DeviceCode => device_code(&state, &form, client, &facts).await,
    }
}

/// RFC 6749 §4.4: a confidential client gets a token for itself.
async fn client_credentials(
    state: &AppState,
    form: &OAuthForm,
    auth: &Authenticated,
    facts: &RequestFacts,
) -> Result<HttpResponse, OAuthError> {
    let client = &auth.client;
    if client.metadata.token_endpoint_auth_method == TokenEndpointAuthMethod::None {
        return Err(OAuthError::unauthorized_client(
            "public clients cannot use client_credentials",
        ));
    }
    let scopes = granted_scopes(form.get("scope"), client)?;
    let audience = resources(form)?;
    let minted = Minted::new(state, false);
    let events = writer(state)?
        .submit(IssueClientToken {
            client_id: client.client_id.clone(),
            token_id: minted.access_token.id,
            digest: minted.access_token.digest,
            secret_digest: auth.secret_digest,
            scopes,
            audience,
            ctx: facts.context(Principal::Client(client.client_id.clone()), None),
        })
        .await?;
    minted
        .response(&events)
        .ok_or_else(|| OAuthError::unavailable("no token was issued"))
}

/// RFC 6749 §4.1.3 with RFC 7636 §4.5: the code, the same redirect URI, and the PKCE verifier.
async fn authorization_code(
    state: &AppState,
    form: &OAuthForm,
    client: &ClientRecord,
    facts: &RequestFacts,
) -> Result<HttpResponse, OAuthError> {
    let code = form.require("code")?;
    let verifier = form
        .get("code_verifier")
        .ok_or_else(|| OAuthError::invalid_request("code_verifier is required (PKCE)"))?;
    let found = state
        .read()
        .grants
        .code_by_digest(&state.key.digest(code))
        .map(|c| (c.code_id, c.user_id));
    let Some((code_id, user_id)) = found else {
        return Err(GrantError::InvalidGrant("the code is invalid or expired".into()).into());
    };
    let minted = Minted::new(state, crate::commands::issue::refresh_enabled(client));
    let events = writer(state)?
        .submit(RedeemCode {
            code_id,
            user_id,
            client_id: client.client_id.clone(),
            redirect_uri: form.get("redirect_uri").map(str::to_owned),
            code_verifier: verifier.to_owned(),
            resources: resources(form)?,
            access: minted.access_token,
            refresh: minted.refresh_token,
            ctx: facts.context(Principal::User(user_id), Some(client.client_id.clone())),
        })
        .await?;
    minted.response(&events).ok_or_else(|| {
        GrantError::InvalidGrant(
            "the code was already used; the tokens issued from it are revoked".into(),
        )
        .into()
    })
}

/// RFC 6749 §6: rotation; a retired refresh token revokes its family.
async fn refresh_token(
    state: &AppState,
    form: &OAuthForm,
    client: &ClientRecord,
    facts: &RequestFacts,
) -> Result<HttpResponse, OAuthError> {
    let presented = form.require("refresh_token")?;
    let scopes = form
        .get("scope")
        .map(|s| parse_scope(s).map_err(OAuthError::invalid_scope))
        .transpose()?;
    let found = state
        .read()
        .tokens
        .by_digest(&state.key.digest(presented))
        .filter(|t| t.kind == TokenKind::Refresh)
        .map(|t| (t.token_id, t.family_id(), t.subject()));
    let Some((token_id, family_id, Some(user_id))) = found else {
        return Err(GrantError::InvalidGrant("the refresh token is invalid".into()).into());
    };
    let minted = Minted::new(state, crate::commands::issue::refresh_enabled(client));
    let events = writer(state)?
        .submit(RefreshTokens {
            token_id,
            family_id,
            user_id,
            client_id: client.client_id.clone(),
            scopes,
            resources: resources(form)?,
            access: minted.access_token,
            refresh: minted.refresh_token,
            ctx: facts.context(Principal::User(user_id), Some(client.client_id.clone())),
        })
        .await?;
    minted.response(&events).ok_or_else(|| {
        GrantError::InvalidGrant("the refresh token was already used; its grant is revoked".into())
            .into()
    })
}

/// RFC 8628 §3.4: polling with the device code.
async fn device_code(
    state: &AppState,
    form: &OAuthForm,
    client: &ClientRecord,
    facts: &RequestFacts,
) -> Result<HttpResponse, OAuthError> {
    let device_code = form.require("device_code")?;
    let found = state
        .read()
        .grants
        .device_by_digest(&state.key.digest(device_code))
        .filter(|d| d.client_id == client.client_id)
        .map(|d| (d.device_id, d.interval_seconds, d.state.clone()));
    let Some((device_id, interval, device_state)) = found else {
        return Err(GrantError::InvalidGrant("the device code is invalid".into()).into());
    };
    let in_time = state
        .device_polls
        .poll(device_id, state.clock.now(), interval);
    // slow_down is a variant of authorization_pending (RFC 8628 §3.5);
    // a decided code gets its definitive answer whatever the pace.
    if !in_time && device_state == DeviceState::Pending {
        return Err(GrantError::SlowDown.into());
    }
    let minted = Minted::new(state, crate::commands::issue::refresh_enabled(client));
    let user = match device_state {
        DeviceState::Approved { user_id, .. } => Some(user_id),
        _ => None,
    };
    let principal = user
        .map(Principal::User)
        .unwrap_or(Principal::Client(client.client_id.clone()));
    let events = writer(state)?
        .submit(RedeemDevice {
            device_id,
            client_id: client.client_id.clone(),
            approved_by: user,
            access: minted.access_token,
            refresh: minted.refresh_token,
            ctx: facts.context(principal, user.map(|_| client.client_id.clone())),
        })
        .await?;
    minted.response(&events).ok_or_else(|| {
        GrantError::InvalidGrant(format!(
            "no token for grant {}",
            grant_type_name(GrantType::DeviceCode)
        ))
        .into()
    })
}

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(token);
}
