//! Server-rendered HTML (maud): login, consent, device code entry,
//! messages and errors; and the headers every page carries (CSP without
//! inline script, no framing, no sniffing, no referrer, no caching).

use actix_web::http::{header, StatusCode};
use actix_web::{get, HttpResponse};
use maud::{html, Markup, DOCTYPE};

/// The stylesheet, served from `/assets/authlog.css` (CSP forbids inline styles).
const CSS: &str = r#"
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;background:#f4f5f7;color:#1d2330}
main{max-width:28rem;margin:2rem auto;padding:1.5rem;background:#fff;border-radius:12px;box-shadow:0 1px 4px rgba(0,0,0,.08)}
h1{font-size:1.35rem;margin:0 0 1rem}label{display:block;margin:.75rem 0 .25rem;font-weight:600}
input[type=text],input[type=password]{width:100%;padding:.7rem;border:1px solid #c5cad3;border-radius:8px;font-size:1rem}
button{padding:.7rem 1.2rem;border:0;border-radius:8px;font-size:1rem;cursor:pointer;background:#2f5bea;color:#fff}
button.secondary{background:#e4e7ec;color:#1d2330}.actions{display:flex;gap:.75rem;margin-top:1.25rem;flex-wrap:wrap}
.error{background:#fdecec;color:#8a1c1c;padding:.6rem .8rem;border-radius:8px}.muted{color:#5b6473;font-size:.9rem}
ul.scopes{padding-left:1.2rem}.badge{display:inline-block;padding:.1rem .5rem;border-radius:999px;background:#eef1ff;font-size:.85rem}
.code{font:600 1.6rem ui-monospace,monospace;letter-spacing:.15em;text-align:center}fieldset{border:1px solid #e4e7ec;border-radius:8px}
@media (max-width:32rem){main{margin:0;border-radius:0;min-height:100vh}}
"#;

#[get("/assets/authlog.css")]
async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(CSS)
}

/// Wraps page content in the document.
pub fn layout(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · authlog" }
                link rel="stylesheet" href="/assets/authlog.css";
            }
            body { main { (content) } }
        }
    }
}

/// A page response with the security headers. `form_targets` are extra
/// origins forms may post or redirect to (a client's redirect URI).
pub fn page(
    status: StatusCode,
    title: &str,
    content: Markup,
    form_targets: &[String],
) -> HttpResponse {
    let mut form_action = String::from("'self'");
    for t in form_targets {
        form_action.push(' ');
        form_action.push_str(t);
    }
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, csp))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(layout(title, content).into_string())
}

/// An error shown to the user (never a redirect).
pub fn error_page(status: StatusCode, title: &str, detail: &str) -> HttpResponse {
    let detail = if status.is_server_error() {
        super::request_id::cite(detail)
    } else {
        detail.to_owned()
    };
    page(
        status,
        title,
        html! {
            h1 { (title) }
            p.error { (detail) }
            p.muted { "Return to the application and try again." }
        },
        &[],
    )
}

/// A message after a completed action.
pub fn message_page(title: &str, text: &str) -> HttpResponse {
    page(
        StatusCode::OK,
        title,
        html! { h1 { (title) } p { (text) } },
        &[],
    )
}

/// "Sign out of authlog?": the confirmation RP-Initiated Logout asks for
/// when the request does not prove which session it ends. `hidden` are the
/// logout request's parameters, posted back with the answer;
/// `form_targets` the origin the answer may redirect to.
pub fn logout_page(
    csrf: &str,
    hidden: &[(&str, String)],
    client_name: Option<&str>,
    form_targets: &[String],
) -> HttpResponse {
    page(
        StatusCode::OK,
        "Sign out",
        html! {
            h1 { "Sign out of authlog?" }
            @if let Some(name) = client_name { p { (name) " asks you to sign out." } }
            form method="post" action="/oauth/logout" {
                input type="hidden" name="csrf" value=(csrf);
                @for (name, value) in hidden { input type="hidden" name=(name) value=(value); }
                div.actions {
                    button type="submit" name="confirm" value="yes" { "Sign out" }
                    button.secondary type="submit" name="confirm" value="no" { "Stay signed in" }
                }
            }
        },
        form_targets,
    )
}

/// The login form; it posts to `/login` and returns to `return_to`.
pub fn login_page(
    status: StatusCode,
    csrf: &str,
    return_to: &str,
    username: &str,
    error: Option<&str>,
) -> HttpResponse {
    page(
        status,
        "Sign in",
        html! {
            h1 { "Sign in to authlog" }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form method="post" action="/login" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="return_to" value=(return_to);
                label for="username" { "Username" }
                input #username type="text" name="username" value=(username) autocomplete="username" autocapitalize="none" required autofocus;
                label for="password" { "Password" }
                input #password type="password" name="password" autocomplete="current-password" required;
                div.actions { button type="submit" { "Sign in" } }
            }
        },
        &[],
    )
}

/// What the consent page shows and posts back.
pub struct ConsentView<'a> {
    /// Client name.
    pub client_name: &'a str,
    /// Client id.
    pub client_id: &'a str,
    /// Scopes asked for (after narrowing to the user's roles).
    pub scopes: &'a [String],
    /// `true` for full access, `false` for read-only.
    pub full_access: bool,
    /// Teams the user may pick.
    pub teams: &'a [String],
    /// Pick several.
    pub multiple: bool,
    /// Where the form posts.
    pub action: &'a str,
    /// Hidden fields (name, value) carried through.
    pub hidden: Vec<(&'a str, String)>,
    /// CSRF token.
    pub csrf: &'a str,
    /// An error to show.
    pub error: Option<&'a str>,
    /// Who is signed in.
    pub username: &'a str,
    /// Names of the upstream providers the client asks to use for the user.
    pub upstream: Vec<String>,
}

/// The consent page.
pub fn consent_page(view: &ConsentView<'_>, form_targets: &[String]) -> HttpResponse {
    let status = if view.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    page(
        status,
        "Allow access",
        html! {
            h1 { "Allow " (view.client_name) "?" }
            p.muted { "Signed in as " strong { (view.username) } ". Application id: " code { (view.client_id) } }
            @if let Some(e) = view.error { p.error role="alert" { (e) } }
            p { "It asks for "
                span.badge { @if view.full_access { "full access" } @else { "read-only access" } }
                @if view.scopes.is_empty() { "." } @else { " to:" }
            }
            @if !view.scopes.is_empty() {
                ul.scopes { @for s in view.scopes { li { code { (s) } } } }
            }
            @for name in &view.upstream {
                p.notice { "Let " strong { (view.client_name) } " use your " strong { (name) } " account on your behalf." }
            }
            form method="post" action=(view.action) {
                input type="hidden" name="csrf" value=(view.csrf);
                @for (name, value) in &view.hidden { input type="hidden" name=(name) value=(value); }
                @if !view.teams.is_empty() {
                    fieldset {
                        legend { @if view.multiple { "Teams it may act for" } @else { "Team it may act for" } }
                        @for (i, t) in view.teams.iter().enumerate() {
                            label {
                                @if view.multiple {
                                    input type="checkbox" name="team" value=(t) checked[view.teams.len() == 1];
                                } @else {
                                    input type="radio" name="team" value=(t) checked[i == 0];
                                }
                                " " (t)
                            }
                        }
                    }
                }
                div.actions {
                    button type="submit" name="decision" value="approve" { "Allow" }
                    button.secondary type="submit" name="decision" value="deny" { "Deny" }
                }
            }
        },
        form_targets,
    )
}

/// The device code entry form.
pub fn device_entry_page(
    status: StatusCode,
    csrf: &str,
    user_code: &str,
    error: Option<&str>,
) -> HttpResponse {
    page(
        status,
        "Connect a device",
        html! {
            h1 { "Connect a device" }
            p { "Enter the code shown on your device." }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form method="post" action="/oauth/device" {
                input type="hidden" name="csrf" value=(csrf);
                label for="user_code" { "Code" }
                input #user_code.code type="text" name="user_code" value=(user_code) autocomplete="off" autocapitalize="characters" placeholder="XXXX-XXXX" required autofocus;
                div.actions { button type="submit" { "Continue" } }
            }
        },
        &[],
    )
}

/// Registers the routes.
pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.service(stylesheet);
}
