//! The request id: tracing-actix-web gives each request one (it is also
//! the correlation id of the events the request appends). Every response
//! carries it as `X-Request-Id`, and the fixed descriptions that stand in
//! for a hidden cause (5xx answers, metadata-document fetch failures)
//! cite it, so an operator can find the cause in the log.
//!
//! The id is kept in a task-local for the handler's future, so error
//! constructors can cite it without every handler passing it along.

use std::future::Future;

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::HttpMessage;
use tracing_actix_web::RequestId;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The response header.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, from its extensions.
pub fn of(req: &impl HttpMessage) -> Option<String> {
    req.extensions().get::<RequestId>().map(ToString::to_string)
}

/// Runs `handling` with `id` as the current request id.
pub async fn scoped<F: Future>(id: Option<String>, handling: F) -> F::Output {
    REQUEST_ID.scope(id.unwrap_or_default(), handling).await
}

/// `text`, citing the current request id when there is one.
pub fn cite(text: &str) -> String {
    match REQUEST_ID.try_with(|id| (!id.is_empty()).then(|| id.clone())) {
        Ok(Some(id)) => format!("{text} (request id {id})"),
        _ => text.to_owned(),
    }
}

/// Adds `X-Request-Id` to the response.
pub fn finish<B: MessageBody>(mut res: ServiceResponse<B>) -> ServiceResponse<B> {
    if let Some(value) = of(res.request()).and_then(|id| HeaderValue::from_str(&id).ok()) {
        res.headers_mut().insert(HEADER, value);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cites_the_id_only_inside_a_request() {
        assert_eq!(cite("failed"), "failed");
        let inside = scoped(Some("r-1".into()), async { cite("failed") }).await;
        assert_eq!(inside, "failed (request id r-1)");
    }
}
