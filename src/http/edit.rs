//! What every `PATCH` of the admin API starts with: the caller (with the
//! scope it needs), the `If-Match` version it edits, and its JSON body.

use actix_web::http::header;
use actix_web::{web, HttpRequest};
use serde::de::DeserializeOwned;

use super::bearer::{authorize, Caller};
use super::error::ApiError;
use super::json_body::read_json;
use crate::state::AppState;

/// Authorizes `scope`, reads `If-Match` and the body (empty: all defaults).
pub async fn edit_request<T: DeserializeOwned + Default>(
    req: &HttpRequest,
    state: &AppState,
    scope: &'static str,
    body: web::Payload,
) -> Result<(Caller, Option<u64>, T), ApiError> {
    let caller = authorize(req, state, scope)?;
    let expected_version = if_match(req)?;
    let input = read_json(req, body).await?.unwrap_or_default();
    Ok((caller, expected_version, input))
}

/// Parses `If-Match`: `"N"` or `*`.
pub fn if_match(req: &HttpRequest) -> Result<Option<u64>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::BadRequest("If-Match is not valid".into()))?
        .trim();
    if text == "*" {
        return Ok(None);
    }
    // Strong comparison only (RFC 9110 §13.1.1): a weak tag never matches.
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or("not a strong tag")
        .parse()
        .map(Some)
        .map_err(|_| {
            ApiError::PreconditionFailed(format!("If-Match {text} is not an ETag of this resource"))
        })
}
