//! The browser session and CSRF protection of the HTML pages.
//!
//! * Session: a cookie `authlog_session` = `v1.<user id>.<expiry>.<mac>`,
//!   the MAC an HMAC under the server key. Stateless, so it survives
//!   restarts; a disabled user's session stops working at once because the
//!   user is checked on every use. `HttpOnly`, `SameSite=Lax`, `Path=/`.
//! * CSRF: signed double submit bound to the session. A random
//!   `authlog_csrf` cookie, and every form carries HMAC(server key, cookie
//!   ‖ the session cookie the page was shown under); a cross-site page can
//!   neither read the cookies nor compute the MAC, and a CSRF cookie and
//!   token obtained in one session (say, planted by a sibling subdomain)
//!   are refused in another.
//! * When the issuer is https both cookies are `Secure` and named with the
//!   `__Host-` prefix (`__Host-authlog_session`, `__Host-authlog_csrf`):
//!   browsers accept such a cookie only from a secure origin, for `/`,
//!   without a `Domain`, so no subdomain or plain-http page can set or
//!   overwrite it. (Browsers refuse `__Host-` cookies over plain http, so a
//!   local http issuer keeps the bare names.)

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::HttpRequest;
use authlog_events::Timestamp;
use authlog_projections::UserRecord;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::form::OAuthForm;
use super::pages::error_page;
use crate::state::AppState;

/// Session cookie name (with `__Host-` before it when the issuer is https).
pub const SESSION_COOKIE: &str = "authlog_session";
/// CSRF cookie name (with `__Host-` before it when the issuer is https).
pub const CSRF_COOKIE: &str = "authlog_csrf";
/// How long a login lasts.
pub const SESSION_SECONDS: i64 = 12 * 3600;

fn mac(state: &AppState, purpose: &str, value: &str) -> String {
    URL_SAFE_NO_PAD.encode(state.key.digest(&format!("{purpose}|{value}")).0)
}

/// Whether the issuer is https: cookies are then `Secure` and `__Host-`.
fn secure(state: &AppState) -> bool {
    state.config.issuer.starts_with("https://")
}

/// The name a cookie goes by: `base`, with the `__Host-` prefix when the
/// issuer is https.
fn cookie_name(state: &AppState, base: &str) -> String {
    if secure(state) {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

/// The value of this request's `base` cookie.
fn cookie_value(req: &HttpRequest, state: &AppState, base: &str) -> Option<String> {
    req.cookie(&cookie_name(state, base))
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

fn cookie(state: &AppState, base: &str, value: String, max_age: i64) -> Cookie<'static> {
    let mut c = Cookie::new(cookie_name(state, base), value);
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_path("/");
    c.set_secure(secure(state));
    c.set_max_age(actix_web::cookie::time::Duration::seconds(max_age));
    c
}

/// The MAC of a session: over the payload and the user's password digest,
/// so changing the password ends every session.
fn session_mac(state: &AppState, payload: &str, password_digest: &str) -> String {
    mac(state, "session", &format!("{payload}|{password_digest}"))
}

/// A session cookie for `user` from `now`.
pub fn session_cookie(state: &AppState, user: &UserRecord, now: Timestamp) -> Cookie<'static> {
    let payload = format!(
        "{}.{}",
        user.user_id,
        now.plus_seconds(SESSION_SECONDS).unix_seconds()
    );
    let value = format!(
        "v1.{payload}.{}",
        session_mac(state, &payload, &user.password_digest)
    );
    cookie(state, SESSION_COOKIE, value, SESSION_SECONDS)
}

/// The logged-in, enabled user of this request, if any.
pub fn current_user(req: &HttpRequest, state: &AppState) -> Option<UserRecord> {
    let value = cookie_value(req, state, SESSION_COOKIE)?;
    let rest = value.strip_prefix("v1.")?;
    let (payload, given) = rest.rsplit_once('.')?;
    let (user, expires) = payload.split_once('.')?;
    let expires: i64 = expires.parse().ok()?;
    let user: Uuid = user.parse().ok()?;
    let record = state
        .read()
        .ok()?
        .users
        .get(&user)
        .filter(|u| !u.disabled)
        .cloned()?;
    let expected = session_mac(state, payload, &record.password_digest);
    if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        return None;
    }
    if state.clock.now().unix_seconds() >= expires {
        return None;
    }
    let ended = state
        .read()
        .ok()?
        .users
        .session_ended(&session_id(state, payload));
    (!ended).then_some(record)
}

/// A session's id (`sid`): a MAC of the cookie's payload, so the same for
/// every request of the session and meaningless without the server key.
fn session_id(state: &AppState, payload: &str) -> String {
    mac(state, "sid", payload)[..22].to_owned()
}

/// The cookie that removes the session cookie from the browser.
pub fn cleared_session_cookie(state: &AppState) -> Cookie<'static> {
    cookie(state, SESSION_COOKIE, String::new(), 0)
}

/// This request's session when `current_user` accepts it: its user, id,
/// login time and expiry.
pub fn current_session(
    req: &HttpRequest,
    state: &AppState,
) -> Option<(UserRecord, String, Timestamp, Timestamp)> {
    let user = current_user(req, state)?;
    let (payload, expires) = session_payload(req, state)?;
    Some((
        user,
        session_id(state, &payload),
        Timestamp::from_unix_seconds(expires - SESSION_SECONDS),
        Timestamp::from_unix_seconds(expires),
    ))
}

/// The session cookie's signed payload (`<user id>.<expiry>`) and expiry,
/// unchecked.
fn session_payload(req: &HttpRequest, state: &AppState) -> Option<(String, i64)> {
    let value = cookie_value(req, state, SESSION_COOKIE)?;
    let (payload, _) = value.strip_prefix("v1.")?.rsplit_once('.')?;
    let expires: i64 = payload.split_once('.')?.1.parse().ok()?;
    Some((payload.to_owned(), expires))
}

/// When this request's session signed in (`auth_time`) and its id
/// (`sid`). Call after `current_user` has accepted the cookie.
pub fn session_facts(req: &HttpRequest, state: &AppState) -> Option<(Timestamp, String)> {
    let (payload, expires) = session_payload(req, state)?;
    let auth_time = Timestamp::from_unix_seconds(expires - SESSION_SECONDS);
    Some((auth_time, session_id(state, &payload)))
}

/// The CSRF token of a CSRF cookie value under this request's session
/// (none before sign-in): a form is good only in the session it was
/// shown in.
fn csrf_mac(req: &HttpRequest, state: &AppState, csrf_cookie: &str) -> String {
    let session = cookie_value(req, state, SESSION_COOKIE).unwrap_or_default();
    mac(state, "csrf", &format!("{csrf_cookie}|{session}"))
}

/// The CSRF token for this request's forms, and the cookie to set when the
/// browser has none yet.
pub fn csrf_token(req: &HttpRequest, state: &AppState) -> (String, Option<Cookie<'static>>) {
    match cookie_value(req, state, CSRF_COOKIE) {
        Some(value) => (csrf_mac(req, state, &value), None),
        None => {
            let value = URL_SAFE_NO_PAD.encode(state.entropy.bytes());
            let token = csrf_mac(req, state, &value);
            (
                token,
                Some(cookie(state, CSRF_COOKIE, value, SESSION_SECONDS)),
            )
        }
    }
}

/// Reads a page's form and checks its CSRF token; `Err` is the error
/// page to answer with (nothing else happens for a refused form).
pub async fn read_page_form(
    req: &HttpRequest,
    state: &AppState,
    body: actix_web::web::Payload,
) -> Result<OAuthForm, actix_web::HttpResponse> {
    let form = OAuthForm::read(req, body)
        .await
        .map_err(|e| error_page(e.status, "Invalid request", &e.description))?;
    match csrf_refusal(req, state, &form) {
        Some(refusal) => Err(refusal),
        None => Ok(form),
    }
}

/// The 403 page for a form whose `csrf` field does not match this
/// request's CSRF cookie and session; `None` when it matches.
pub fn csrf_refusal(
    req: &HttpRequest,
    state: &AppState,
    form: &OAuthForm,
) -> Option<actix_web::HttpResponse> {
    (!csrf_ok(req, state, form.get("csrf"))).then(|| {
        error_page(
            StatusCode::FORBIDDEN,
            "Request refused",
            "the form expired or did not come from authlog; go back and try again",
        )
    })
}

/// Whether `token` (from a form) matches this request's CSRF cookie and
/// session.
fn csrf_ok(req: &HttpRequest, state: &AppState, token: Option<&str>) -> bool {
    let (Some(cookie), Some(token)) = (cookie_value(req, state, CSRF_COOKIE), token) else {
        return false;
    };
    let expected = csrf_mac(req, state, &cookie);
    expected.as_bytes().ct_eq(token.as_bytes()).into()
}
