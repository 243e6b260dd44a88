//! The admin console: `/console` and everything below it answer with the
//! console's one HTML page (the browser-side router picks the view), its
//! assets (`/console/assets/…`) are embedded in the executable from the
//! `console/` directory, and `GET /` sends a browser there. Every console
//! response carries a strict CSP: scripts and styles only from this
//! origin, no inline script, no `eval`, no framing.

use actix_web::http::{header, StatusCode};
use actix_web::{get, web, HttpRequest, HttpResponse};
use maud::{html, DOCTYPE};

use crate::bootstrap::CONSOLE_CLIENT_ID;
use crate::state::AppState;

/// The console's Content-Security-Policy.
pub const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
base-uri 'none'";

/// The embedded assets: (file name, media type, contents).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("../../console/console.css"),
    ),
    ("icon.svg", SVG, ICON),
    ("app.js", JS, include_str!("../../console/app.js")),
    ("auth.js", JS, include_str!("../../console/auth.js")),
    ("api.js", JS, include_str!("../../console/api.js")),
    ("dom.js", JS, include_str!("../../console/dom.js")),
    ("clients.js", JS, include_str!("../../console/clients.js")),
    (
        "client_form.js",
        JS,
        include_str!("../../console/client_form.js"),
    ),
    (
        "client_detail.js",
        JS,
        include_str!("../../console/client_detail.js"),
    ),
    ("sessions.js", JS, include_str!("../../console/sessions.js")),
    ("users.js", JS, include_str!("../../console/users.js")),
    ("audit.js", JS, include_str!("../../console/audit.js")),
    ("actors.js", JS, include_str!("../../console/actors.js")),
];

const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";
const ICON: &str = include_str!("../../console/icon.svg");

/// `/favicon.ico`: the console's icon (browsers ask every page's origin).
#[get("/favicon.ico")]
async fn favicon() -> HttpResponse {
    secured(HttpResponse::Ok())
        .content_type(SVG)
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(ICON)
}

fn secured(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder
        .insert_header((header::CONTENT_SECURITY_POLICY, CONSOLE_CSP))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    builder
}

/// The console page: an empty shell the modules fill in. The issuer and
/// the console's client id are handed over as `meta` elements.
fn shell(state: &AppState) -> HttpResponse {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                meta name="authlog-issuer" content=(state.config.issuer);
                meta name="authlog-client-id" content=(CONSOLE_CLIENT_ID);
                title { "authlog console" }
                link rel="icon" href="/console/assets/icon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/console/assets/console.css";
                script type="module" src="/console/assets/app.js" {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header #top {}
                main #main tabindex="-1" { p.muted { "Loading the console…" } }
                noscript { p { "The authlog console needs JavaScript." } }
            }
        }
    };
    secured(HttpResponse::Ok())
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(page.into_string())
}

#[get("/console")]
async fn console_root(state: web::Data<AppState>) -> HttpResponse {
    shell(&state)
}

#[get("/console/assets/{name}")]
async fn asset(name: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|(n, _, _)| *n == name.as_str()) {
        Some((_, media_type, body)) => secured(HttpResponse::Ok())
            .content_type(*media_type)
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(*body),
        None => secured(HttpResponse::NotFound())
            .content_type("text/plain; charset=utf-8")
            .body("no such console asset"),
    }
}

#[get("/console/{view:.*}")]
async fn console_view(state: web::Data<AppState>) -> HttpResponse {
    shell(&state)
}

/// Whether the request comes from a browser navigating (it accepts HTML).
fn wants_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// `GET /`: a browser goes to the console; anything else gets the usual
/// "no endpoint" answer.
async fn root(req: HttpRequest) -> HttpResponse {
    if wants_html(&req) {
        HttpResponse::build(StatusCode::SEE_OTHER)
            .insert_header((header::LOCATION, "/console"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish()
    } else {
        super::not_found(req).await
    }
}

/// Registers the routes (assets before the catch-all view).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(root))
        .service(favicon)
        .service(console_root)
        .service(asset)
        .service(console_view);
}

#[cfg(test)]
mod tests {
    use super::ASSETS;

    #[test]
    fn every_file_of_the_console_directory_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|(n, _, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(files, embedded);
    }
}
