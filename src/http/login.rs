//! `POST /login`: username and password, CSRF-checked, throttled per
//! username and per IP. Every attempt on an account is appended
//! (`LoginSucceeded` / `LoginFailed`); an attempt with a name that matches
//! no account is counted in the `FailureTally` and summarised. Success sets
//! the session cookie and returns to the page that asked (only authlog's
//! own authorize and device pages).

use actix_web::http::{header, StatusCode};
use actix_web::{post, web, HttpRequest, HttpResponse};
use authlog_events::{AuthFailure, FailedSubject, Principal};
use uuid::Uuid;

use super::context::RequestFacts;
use super::pages::{error_page, login_page};
use super::session::{csrf_token, read_page_form, session_cookie};
use crate::commands::users::RecordLogin;
use crate::passwords;
use crate::state::AppState;

/// Whether `return_to` is one of authlog's own pages (no open redirect).
pub fn safe_return_to(return_to: &str) -> bool {
    let ours = return_to.starts_with("/oauth/authorize?")
        || return_to == "/oauth/device"
        || return_to.starts_with("/oauth/device?")
        || return_to
            .strip_prefix("/connect/")
            .is_some_and(crate::upstream::provider::valid_id);
    ours && !return_to.contains(['\r', '\n', '\\']) && !return_to.starts_with("//")
}

#[post("/login")]
async fn login(req: HttpRequest, state: web::Data<AppState>, body: web::Payload) -> HttpResponse {
    let form = match read_page_form(&req, &state, body).await {
        Ok(f) => f,
        Err(page) => return page,
    };
    let return_to = form.get("return_to").unwrap_or("");
    if !safe_return_to(return_to) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "unknown page to return to",
        );
    }
    let username: String = form
        .get("username")
        .unwrap_or("")
        .chars()
        .take(128)
        .collect();
    let password = form.get("password").unwrap_or("").to_owned();
    let facts = RequestFacts::of(&req);
    let now = state.clock.now();
    let user_key = format!("user:{}", username.to_lowercase());
    let ip_key = format!("ip:{}", super::context::ip_key(facts.ip));
    let (csrf, _) = csrf_token(&req, &state);
    let throttled = state
        .login_throttle
        .check(&user_key, now)
        .and(state.login_throttle.check(&ip_key, now));
    let user = match state.read() {
        Ok(p) => p.users.by_username(&username).cloned(),
        Err(e) => {
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                &e.to_string(),
            )
        }
    };
    let Some(writer) = state.ready_writer().cloned() else {
        return error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            "authlog is starting",
        );
    };
    let record = |user_id: Uuid, failure: Option<AuthFailure>| RecordLogin {
        user_id,
        failure,
        client_id: None,
        ctx: facts.context(Principal::User(user_id), None),
    };
    if let Err(wait) = throttled {
        // Refused before any work; not appended (a flood must not become a write flood).
        let mut response = login_page(
            StatusCode::TOO_MANY_REQUESTS,
            &csrf,
            return_to,
            &username,
            Some("Too many failed attempts. Wait a few minutes and try again."),
        );
        if let Ok(v) = header::HeaderValue::from_str(&wait.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return response;
    }
    // Count the attempt before the slow check, so parallel guesses cannot
    // all pass the throttle; a success gives it back.
    state.login_throttle.fail(&user_key, now);
    state.login_throttle.fail(&ip_key, now);
    let digest = user.as_ref().map(|u| u.password_digest.clone());
    // argon2 is deliberately slow and memory-hard: off the request workers,
    // and only as many at once as there are slots.
    let checked = state
        .password_slots
        .run(move || passwords::verify(&password, digest.as_deref()))
        .await;
    let verified = match checked {
        Ok(verified) => verified,
        Err(busy) => {
            // Not the user's fault: the attempt does not count.
            state.login_throttle.forgive_one(&user_key);
            state.login_throttle.forgive_one(&ip_key);
            let mut response =
                error_page(StatusCode::SERVICE_UNAVAILABLE, "Busy", &busy.to_string());
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            return response;
        }
    };
    let failure = match &user {
        None => Some(AuthFailure::UnknownPrincipal),
        Some(_) if !verified => Some(AuthFailure::BadCredentials),
        Some(u) if u.disabled => Some(AuthFailure::Inactive),
        Some(_) => None,
    };
    if let Some(failure) = failure {
        match &user {
            // An account's failures are bounded by its own throttle.
            Some(u) => {
                metrics::counter!(crate::telemetry::FAILED_AUTHENTICATIONS, "kind" => "login")
                    .increment(1);
                let _ = writer.submit(record(u.user_id, Some(failure))).await;
            }
            // Names that match no account are only counted: the name may
            // be a password, and any number of them can arrive.
            None => state.failures.note(
                FailedSubject::UnknownUsernames,
                failure,
                &super::context::ip_key(facts.ip),
                false,
                now,
            ),
        }
        return login_page(
            StatusCode::UNAUTHORIZED,
            &csrf,
            return_to,
            &username,
            Some("Invalid username or password."),
        );
    }
    let Some(signed_in) = user.clone() else {
        return error_page(StatusCode::UNAUTHORIZED, "Sign-in failed", "unknown user");
    };
    state.login_throttle.clear(&user_key);
    state.login_throttle.forgive_one(&ip_key);
    if let Err(e) = writer.submit(record(signed_in.user_id, None)).await {
        return error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            &e.to_string(),
        );
    }
    let mut response = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, return_to))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish();
    let _ = response.add_cookie(&session_cookie(&state, &signed_in, now));
    response
}

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(login);
}

#[cfg(test)]
mod tests {
    use super::safe_return_to;

    #[test]
    fn only_authlog_pages_are_return_targets() {
        assert!(safe_return_to("/oauth/authorize?client_id=x"));
        assert!(safe_return_to("/oauth/device?user_code=ABCD-EFGH"));
        assert!(!safe_return_to("https://evil.example.com/"));
        assert!(!safe_return_to("//evil.example.com/oauth/authorize?"));
        assert!(!safe_return_to("/oauth/authorize?x\r\nSet-Cookie: a=b"));
        assert!(!safe_return_to("/api/admin/oauth-clients"));
    }
}
