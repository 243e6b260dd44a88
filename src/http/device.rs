//! The device flow's user side and its start (RFC 8628):
//! `POST /oauth/device_authorization` starts it for a client;
//! `/oauth/device` is where a signed-in user enters or confirms the code,
//! consents (teams, scopes), and approves or denies.

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use authlog_events::{AccessPreset, GrantType, Principal, TeamSelection, TokenEndpointAuthMethod};
use authlog_projections::{ClientRecord, DeviceRecord, DeviceState, UserRecord};
use serde_json::json;

use super::authorize::show_login;
use super::client_auth::authenticate_request;
use super::context::RequestFacts;
use super::error::OAuthError;
use super::form::OAuthForm;
use super::pages::{consent_page, device_entry_page, error_page, message_page, ConsentView};
use super::session::{csrf_token, current_user, read_page_form, session_facts};
use super::token_endpoint::{requested_scopes, resources, writer};
use crate::commands::grants::{
    DecideDevice, SignInFacts, StartDevice, DEVICE_INTERVAL_SECONDS, DEVICE_TTL_SECONDS,
};
use crate::commands::rules::{grant_allowed, not_paused, scopes_allowed};
use crate::consent::{choose_teams, eligible_teams, grantable_scopes};
use crate::state::AppState;

/// Upper-cases and drops separators: `bcdf-ghjk` → `BCDFGHJK`.
pub fn normalize_user_code(input: &str) -> String {
    input
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .take(16)
        .collect()
}

/// `BCDFGHJK` → `BCDF-GHJK`.
pub fn display_user_code(code: &str) -> String {
    if code.len() == 8 {
        format!("{}-{}", &code[..4], &code[4..])
    } else {
        code.to_owned()
    }
}

#[post("/oauth/device_authorization")]
async fn device_authorization(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let form = OAuthForm::read(&req, body).await?;
    let client = authenticate_request(&req, &state, &form).await?.client;
    let facts = RequestFacts::of(&req);
    // Answered before the throttle counts the start; the command checks again.
    grant_allowed(&client, GrantType::DeviceCode)?;
    not_paused(&client)?;
    let scopes = requested_scopes(&form)?;
    scopes_allowed(scopes.as_deref(), &client)?;
    let resources = resources(&form)?;
    let now = state.clock.now();
    let ip_key = super::context::ip_key(facts.ip);
    if let Err(wait) = state.device_starts.check(&ip_key, now) {
        return Err(OAuthError::other(
            "slow_down",
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many device authorizations from this address; retry in {wait} s"),
        ));
    }
    // A public client proves nothing: its starts share the anonymous budget.
    if client.metadata.token_endpoint_auth_method == TokenEndpointAuthMethod::None {
        if let Err(wait) = state.anonymous_writes.take() {
            return Err(OAuthError::other(
                "slow_down",
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many device authorizations right now; retry in {wait} s"),
            ));
        }
    }
    state.device_starts.fail(&ip_key, now);
    let started = writer(&state)?
        .submit(StartDevice {
            client_id: client.client_id.clone(),
            scopes,
            resources,
            ctx: facts.context(Principal::Client(client.client_id.clone()), None),
        })
        .await?;
    let issuer = &state.config.issuer;
    let shown = display_user_code(&started.user_code);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "device_code": started.device_code,
            "user_code": shown,
            "verification_uri": format!("{issuer}/oauth/device"),
            "verification_uri_complete": format!("{issuer}/oauth/device?user_code={shown}"),
            "expires_in": DEVICE_TTL_SECONDS,
            "interval": DEVICE_INTERVAL_SECONDS,
        })))
}

/// What a user code names, for a signed-in user.
enum CodeLookup {
    /// A pending, unexpired device authorization.
    Found(Box<DeviceRecord>, std::sync::Arc<ClientRecord>),
    /// No such pending code.
    Unknown,
    /// Too many wrong codes from this user lately.
    Throttled,
}

/// Looks a user code up for `user`. Wrong codes count against the user,
/// wherever they are entered, so codes cannot be guessed.
fn look_up(state: &AppState, user: &UserRecord, user_code: &str) -> CodeLookup {
    let now = state.clock.now();
    let key = format!("device:{}", user.user_id);
    if state.login_throttle.check(&key, now).is_err() {
        return CodeLookup::Throttled;
    }
    let found = {
        let Ok(p) = state.read() else {
            return CodeLookup::Unknown;
        };
        p.grants
            .device_by_user_code(&normalize_user_code(user_code))
            .filter(|d| d.state == DeviceState::Pending && now < d.expires_at)
            .and_then(|d| Some((Box::new(d.clone()), p.registry.get_shared(&d.client_id)?)))
    };
    match found {
        Some((device, client)) => CodeLookup::Found(device, client),
        None => {
            state.login_throttle.fail(&key, now);
            CodeLookup::Unknown
        }
    }
}

/// The page for a code a user entered or followed: consent, or the entry
/// form saying why not.
fn code_page(req: &HttpRequest, state: &AppState, user: &UserRecord, code: &str) -> HttpResponse {
    match look_up(state, user, code) {
        CodeLookup::Found(device, client) => {
            device_consent(req, state, &device, &client, user, None)
        }
        CodeLookup::Unknown => entry(
            req,
            state,
            StatusCode::BAD_REQUEST,
            code,
            Some("That code is not valid or has expired."),
        ),
        CodeLookup::Throttled => entry(
            req,
            state,
            StatusCode::TOO_MANY_REQUESTS,
            code,
            Some("Too many wrong codes. Wait a few minutes."),
        ),
    }
}

fn device_consent(
    req: &HttpRequest,
    state: &AppState,
    device: &DeviceRecord,
    client: &ClientRecord,
    user: &UserRecord,
    error: Option<&str>,
) -> HttpResponse {
    let (csrf, cookie) = csrf_token(req, state);
    let scopes = grantable_scopes(&device.scopes, user);
    let teams = eligible_teams(user, client);
    let view = ConsentView {
        client_name: &client.metadata.client_name,
        client_id: &client.client_id,
        scopes: &scopes,
        full_access: client.metadata.access_preset == AccessPreset::Full,
        teams: &teams,
        multiple: client.metadata.team_selection == TeamSelection::Multiple,
        action: "/oauth/device/decision",
        hidden: vec![("user_code", device.user_code.clone())],
        csrf: &csrf,
        error,
        username: &user.username,
        upstream: super::authorize::upstream_names(state, &scopes),
    };
    let mut response = consent_page(&view, &[]);
    if let Some(c) = cookie {
        let _ = response.add_cookie(&c);
    }
    response
}

fn entry(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    code: &str,
    error: Option<&str>,
) -> HttpResponse {
    let (csrf, cookie) = csrf_token(req, state);
    let mut response = device_entry_page(status, &csrf, code, error);
    if let Some(c) = cookie {
        let _ = response.add_cookie(&c);
    }
    response
}

#[derive(serde::Deserialize)]
struct DeviceQuery {
    user_code: Option<String>,
}

#[get("/oauth/device")]
async fn device_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query: DeviceQuery =
        serde_urlencoded::from_str(req.query_string()).unwrap_or(DeviceQuery { user_code: None });
    let code = query.user_code.unwrap_or_default();
    let Some(user) = current_user(&req, &state) else {
        let return_to = if code.is_empty() {
            "/oauth/device".to_owned()
        } else {
            format!(
                "/oauth/device?user_code={}",
                display_user_code(&normalize_user_code(&code))
            )
        };
        return show_login(&req, &state, &return_to);
    };
    if code.is_empty() {
        return entry(&req, &state, StatusCode::OK, "", None);
    }
    code_page(&req, &state, &user, &code)
}

#[post("/oauth/device")]
async fn enter_code(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> HttpResponse {
    let form = match read_page_form(&req, &state, body).await {
        Ok(f) => f,
        Err(page) => return page,
    };
    let Some(user) = current_user(&req, &state) else {
        return show_login(&req, &state, "/oauth/device");
    };
    code_page(&req, &state, &user, form.get("user_code").unwrap_or(""))
}

#[post("/oauth/device/decision")]
async fn decision(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> HttpResponse {
    let form = match read_page_form(&req, &state, body).await {
        Ok(f) => f,
        Err(page) => return page,
    };
    let Some(user) = current_user(&req, &state) else {
        return show_login(&req, &state, "/oauth/device");
    };
    let (device, client) = match look_up(&state, &user, form.get("user_code").unwrap_or("")) {
        CodeLookup::Found(device, client) => (device, client),
        CodeLookup::Unknown => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Code expired",
                "That code is not valid or has expired.",
            )
        }
        CodeLookup::Throttled => {
            return error_page(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                "Wait a few minutes and try again.",
            )
        }
    };
    let approval = if form.get("decision") == Some("approve") {
        let chosen: Vec<String> = form.get_all("team").map(str::to_owned).collect();
        let eligible = eligible_teams(&user, &client);
        match choose_teams(&chosen, &eligible, &client) {
            Ok(teams) => Some((
                grantable_scopes(&device.scopes, &user),
                teams,
                client.metadata.access_preset,
            )),
            Err(message) => {
                return device_consent(&req, &state, &device, &client, &user, Some(&message))
            }
        }
    } else {
        None
    };
    let approved = approval.is_some();
    let facts = RequestFacts::of(&req);
    let Some(writer) = state.ready_writer() else {
        return error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            "authlog is starting",
        );
    };
    let result = writer
        .submit(DecideDevice {
            device_id: device.device_id,
            user_id: user.user_id,
            approval,
            // No nonce: the device flow has no authorization request.
            sign_in: session_facts(&req, &state).map(|(auth_time, session_id)| SignInFacts {
                nonce: None,
                auth_time,
                session_id,
            }),
            ctx: facts.context(
                Principal::User(user.user_id),
                Some(client.client_id.clone()),
            ),
        })
        .await;
    match result {
        Ok(_) if approved => message_page(
            "Device connected",
            "You can return to your device; it will finish signing in.",
        ),
        Ok(_) => message_page("Request denied", "The device was not connected."),
        Err(e) => error_page(
            StatusCode::BAD_REQUEST,
            "Could not complete",
            &e.to_string(),
        ),
    }
}

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(device_authorization)
        .service(device_page)
        .service(enter_code)
        .service(decision);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_shown_with_a_dash_and_read_back_normalised() {
        assert_eq!(display_user_code("BCDFGHJK"), "BCDF-GHJK");
        assert_eq!(normalize_user_code(" bcdf-ghjk "), "BCDFGHJK");
    }
}
