//! The media type of a request body, as the body readers check it.

use actix_web::http::header;
use actix_web::HttpRequest;

/// The `Content-Type` essence (type/subtype, no parameters), lower-cased;
/// empty when absent or unreadable.
pub fn of(req: &HttpRequest) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// JSON: `application/json` or any `+json` type.
pub fn is_json(req: &HttpRequest) -> bool {
    let mime = of(req);
    mime == "application/json" || mime.ends_with("+json")
}
