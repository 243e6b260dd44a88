//! JSON request bodies and query strings for the admin API: bounded,
//! and every parse error names the field at fault (422) in problem shape.

use actix_web::{web, HttpRequest};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Largest admin JSON body.
pub const JSON_LIMIT: usize = 64 * 1024;

/// Reads a JSON body into `T`; an empty body is `None`.
pub async fn read_json<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Option<T>, ApiError> {
    let body = super::body::read(payload, JSON_LIMIT).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if !super::media_type::is_json(req) {
        return Err(ApiError::BadRequest(
            "the body must be application/json".into(),
        ));
    }
    parse_json(&body).map(Some)
}

/// Parses JSON, naming the offending field.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::BadRequest(format!("the body is not valid JSON: {inner}"));
        }
        let message = inner.to_string();
        // serde reports unknown fields at the parent; name the field itself.
        let field = message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
            .unwrap_or(if path == "." { "body".into() } else { path });
        ApiError::Validation { field, message }
    })?;
    de.end()
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

/// Parses a query string into `T`.
pub fn parse_query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    // serde_urlencoded decodes invalid UTF-8 lossily (U+FFFD): refuse it.
    if let Some(name) = crate::audit::invalid_utf8_component(req.query_string()) {
        return Err(ApiError::BadRequest(format!(
            "query parameter {name} is not valid UTF-8"
        )));
    }
    serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("bad query string: {e}")))
}

/// Deserializes a present field as `Some(value)` (with `null` as `Some(None)`),
/// so PATCH can tell "clear" from "leave alone".
pub fn present<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(de).map(Some)
}
