//! `GET`/`POST /oauth/logout`: OpenID Connect RP-Initiated Logout 1.0 (the
//! `end_session_endpoint`). With an `id_token_hint` this server signed for
//! the signed-in user the session ends at once; without one the user is
//! asked first. Ending a session appends `UserLoggedOut`, after which the
//! session cookie is refused everywhere. `post_logout_redirect_uri` must
//! be one of the client's registered post-logout redirect URIs, exactly;
//! anything else gets an error page and no redirect.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use authlog_events::{Principal, Timestamp};
use authlog_projections::ClientRecord;

use super::context::RequestFacts;
use super::form::OAuthForm;
use super::pages::{error_page, logout_page, message_page};
use super::session::{
    cleared_session_cookie, csrf_refusal, csrf_token, current_session, SESSION_SECONDS,
};
use crate::commands::users::EndSession;
use crate::state::AppState;

/// A checked logout request.
struct LogoutRequest {
    client: Option<ClientRecord>,
    /// The hint's subject, when a valid hint was given.
    hinted_user: Option<String>,
    /// The session the hint names (`sid`, user, login time), when it does.
    hinted_session: Option<(String, uuid::Uuid, i64)>,
    redirect: Option<String>,
    state: Option<String>,
}

/// Why a logout request is refused: shown as an error page, never a
/// redirect.
#[derive(Debug)]
struct Refused(StatusCode, String);

impl Refused {
    fn page(&self) -> HttpResponse {
        error_page(self.0, "Invalid sign-out request", &self.1)
    }
}

fn bad(detail: &str) -> Refused {
    Refused(StatusCode::BAD_REQUEST, detail.to_owned())
}

fn parse(state: &AppState, form: &OAuthForm) -> Result<LogoutRequest, Refused> {
    let projections = state
        .read()
        .map_err(|e| Refused(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let hint = match form.get("id_token_hint").filter(|h| !h.is_empty()) {
        Some(token) => Some(
            crate::signing::verify_own_id_token(
                &projections.signing_keys,
                &state.config.issuer,
                token,
            )
            .ok_or_else(|| bad("id_token_hint is not an ID token issued by authlog"))?,
        ),
        None => None,
    };
    let hinted_client = hint
        .as_ref()
        .and_then(|c| c["aud"].as_str().or_else(|| c["aud"][0].as_str()))
        .map(str::to_owned);
    let client_id = match (form.get("client_id"), hinted_client.as_deref()) {
        (Some(given), Some(hinted)) if given != hinted => {
            return Err(bad("client_id does not match the id_token_hint"))
        }
        (Some(given), _) => Some(given.to_owned()),
        (None, hinted) => hinted.map(str::to_owned),
    };
    let client = match &client_id {
        Some(id) => Some(
            projections
                .registry
                .get(id)
                .cloned()
                .ok_or_else(|| bad("this application is not registered"))?,
        ),
        None => None,
    };
    let redirect = match form.get("post_logout_redirect_uri") {
        Some(uri) => {
            let registered = client.as_ref().is_some_and(|c| {
                c.metadata
                    .post_logout_redirect_uris
                    .iter()
                    .any(|r| r == uri)
            });
            if !registered {
                return Err(bad(
                    "post_logout_redirect_uri is not registered for this application",
                ));
            }
            Some(uri.to_owned())
        }
        None => None,
    };
    let hinted_session = hint.as_ref().and_then(|c| {
        Some((
            c["sid"].as_str()?.to_owned(),
            c["sub"].as_str()?.parse().ok()?,
            c["auth_time"].as_i64()?,
        ))
    });
    Ok(LogoutRequest {
        client,
        hinted_session,
        hinted_user: hint.and_then(|c| c["sub"].as_str().map(str::to_owned)),
        redirect,
        state: form.get("state").map(str::to_owned),
    })
}

/// The request's parameters, to carry through the confirmation.
fn carried(form: &OAuthForm) -> Vec<(&'static str, String)> {
    ["client_id", "post_logout_redirect_uri", "state"]
        .into_iter()
        .filter_map(|name| form.get(name).map(|v| (name, v.to_owned())))
        .collect()
}

/// Ends the session and answers: back to the client, or a page. The
/// session is this request's, or else the one the hint names (a relying
/// party may call from another browser context).
async fn log_out(req: &HttpRequest, state: &AppState, request: &LogoutRequest) -> HttpResponse {
    let session = current_session(req, state)
        .map(|(user, sid, _, expires)| (user.user_id, sid, expires))
        .or_else(|| {
            request
                .hinted_session
                .clone()
                .map(|(sid, user, auth_time)| {
                    let expires = Timestamp::from_unix_seconds(auth_time + SESSION_SECONDS);
                    (user, sid, expires)
                })
        });
    if let Some((user_id, sid, expires)) = session {
        let Some(writer) = state.ready_writer() else {
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                "authlog is starting",
            );
        };
        let client_id = request.client.as_ref().map(|c| c.client_id.clone());
        let ended = writer
            .submit(EndSession {
                user_id,
                session_id: sid.clone(),
                client_id: client_id.clone(),
                session_expires: expires,
                ctx: RequestFacts::of(req).context(Principal::User(user_id), client_id),
            })
            .await;
        match ended {
            Err(e) => {
                return error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Unavailable",
                    &e.to_string(),
                )
            }
            // Ended now (not before): tell the clients of the session.
            Ok(true) => {
                if let Some(state) = req.app_data::<web::Data<AppState>>() {
                    let deliveries = crate::backchannel::prepare(state, user_id, &sid);
                    crate::backchannel::spawn(&state.clone().into_inner(), deliveries);
                }
            }
            Ok(false) => {}
        }
    }
    let mut response = match &request.redirect {
        Some(uri) => {
            let params: Vec<(&str, &str)> = request
                .state
                .as_deref()
                .map(|s| vec![("state", s)])
                .unwrap_or_default();
            let mut to = url::Url::parse(uri).expect("registered redirect URIs parse");
            if !params.is_empty() {
                to.query_pairs_mut().extend_pairs(params);
            }
            HttpResponse::SeeOther()
                .insert_header(("Location", to.to_string()))
                .insert_header(("Cache-Control", "no-store"))
                .finish()
        }
        None => message_page("Signed out", "You are signed out of authlog."),
    };
    let _ = response.add_cookie(&cleared_session_cookie(state));
    response
}

async fn handle(req: &HttpRequest, state: &AppState, form: &OAuthForm) -> HttpResponse {
    let request = match parse(state, form) {
        Ok(r) => r,
        Err(refused) => return refused.page(),
    };
    let session_user = current_session(req, state).map(|(u, ..)| u.user_id.to_string());
    // A hint naming the signed-in user (or no session at all): no question.
    let proven = request.hinted_user.is_some()
        && (session_user.is_none() || session_user == request.hinted_user);
    if proven {
        return log_out(req, state, &request).await;
    }
    let (csrf, cookie) = csrf_token(req, state);
    let targets: Vec<String> = request
        .redirect
        .as_deref()
        .and_then(|uri| url::Url::parse(uri).ok())
        .map(|u| vec![u.origin().ascii_serialization()])
        .unwrap_or_default();
    let mut page = logout_page(
        &csrf,
        &carried(form),
        request
            .client
            .as_ref()
            .map(|c| c.metadata.client_name.as_str()),
        &targets,
    );
    if let Some(c) = cookie {
        let _ = page.add_cookie(&c);
    }
    page
}

async fn logout_get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match OAuthForm::parse(req.query_string().as_bytes()) {
        Ok(form) => handle(&req, &state, &form).await,
        Err(e) => bad(&e.description).page(),
    }
}

async fn logout_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> HttpResponse {
    let form = match OAuthForm::read(&req, body).await {
        Ok(form) => form,
        Err(e) => return error_page(e.status, "Invalid sign-out request", &e.description),
    };
    if form.get("confirm").is_none() {
        // A relying party's form post: the same as GET.
        return handle(&req, &state, &form).await;
    }
    // The answer to our confirmation page: CSRF-checked.
    if let Some(refusal) = csrf_refusal(&req, &state, &form) {
        return refusal;
    }
    let request = match parse(&state, &form) {
        Ok(r) => r,
        Err(refused) => return refused.page(),
    };
    if form.get("confirm") == Some("yes") {
        return log_out(&req, &state, &request).await;
    }
    message_page("Still signed in", "You are still signed in to authlog.")
}

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/logout", web::get().to(logout_get))
        .route("/oauth/logout", web::post().to(logout_post));
}
