//! Every HTTP error shape, and the one place where domain and write errors
//! become HTTP responses.
//!
//! * `ApiError`: RFC 9457 problem details (`application/problem+json`) for
//!   the admin API, with a stable `type` URN, `title`, `status`, `detail`
//!   and, for validation errors, the `field` at fault.
//! * `OAuthError`: RFC 6749 §5.2 `{"error","error_description"}` for the
//!   OAuth endpoints; its `Display` is the RFC error code.
//! * `AuthorizeError`: the authorization endpoint's, shown as a page or
//!   redirected back to the client (RFC 6749 §4.1.2.1).

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use super::body::BodyError;
use crate::commands::{DomainError, GrantError};
use crate::state::Unreadable;
use crate::writer::{Failure, WriteError};

/// The media type of an `ApiError` body (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An admin/audit API error (RFC 9457).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// No valid bearer token (401).
    Unauthenticated {
        /// Whether a token was presented (then it is `invalid_token`).
        token_given: bool,
    },
    /// The token lacks a scope (403).
    Forbidden {
        /// The scope required.
        scope: &'static str,
    },
    /// No such resource (404).
    NotFound(String),
    /// No such resource (404); the text, shown whole, says why.
    NotFoundBecause(String),
    /// Contradicts current state (409).
    Conflict(String),
    /// `If-Match` did not match (412).
    PreconditionFailed(String),
    /// A field breaks a rule (422).
    Validation {
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The request is malformed (400).
    BadRequest(String),
    /// The body is too large (413).
    PayloadTooLarge(usize),
    /// The body did not arrive in time (408).
    Timeout,
    /// The log cannot take writes (503).
    Unavailable(String),
}

impl ApiError {
    /// 422 naming the field at fault.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::Validation {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// 503 while startup (replay, provisioning) is not done.
    pub fn starting() -> Self {
        ApiError::Unavailable("authlog is starting".into())
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::Unauthenticated { .. } => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Authentication required",
            ),
            ApiError::Forbidden { .. } => (
                StatusCode::FORBIDDEN,
                "insufficient-scope",
                "Insufficient scope",
            ),
            ApiError::NotFound(_) | ApiError::NotFoundBecause(_) => {
                (StatusCode::NOT_FOUND, "not-found", "Not found")
            }
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            ApiError::PreconditionFailed(_) => (
                StatusCode::PRECONDITION_FAILED,
                "precondition-failed",
                "Precondition failed",
            ),
            ApiError::Validation { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid field",
            ),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request", "Bad request"),
            ApiError::PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            ),
            ApiError::Timeout => (
                StatusCode::REQUEST_TIMEOUT,
                "request-timeout",
                "Request timeout",
            ),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::Unauthenticated { token_given: true } => {
                "the bearer token is invalid, expired or revoked".into()
            }
            ApiError::Unauthenticated { token_given: false } => {
                "send a bearer token in the Authorization header".into()
            }
            ApiError::Forbidden { scope } => format!("this request needs the {scope} scope"),
            ApiError::NotFound(what) => format!("{what} not found"),
            ApiError::NotFoundBecause(m)
            | ApiError::Conflict(m)
            | ApiError::PreconditionFailed(m)
            | ApiError::BadRequest(m)
            | ApiError::Unavailable(m) => m.clone(),
            ApiError::Validation { field, message } => format!("{field}: {message}"),
            ApiError::PayloadTooLarge(limit) => format!("the body is larger than {limit} bytes"),
            ApiError::Timeout => body_too_slow(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, slug, title) = self.parts();
        let mut body = json!({
            "type": format!("urn:authlog:problem:{slug}"),
            "title": title,
            "status": status.as_u16(),
            "detail": cited(status, self.detail()),
        });
        if let ApiError::Validation { field, .. } = self {
            body["field"] = json!(field);
        }
        let mut response = HttpResponse::build(status);
        response.content_type(PROBLEM_JSON);
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        match self {
            ApiError::Unauthenticated { token_given: false } => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"authlog\""));
            }
            ApiError::Unauthenticated { token_given: true } => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    "Bearer realm=\"authlog\", error=\"invalid_token\"",
                ));
            }
            ApiError::Forbidden { scope } => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    format!(
                        "Bearer realm=\"authlog\", error=\"insufficient_scope\", scope=\"{scope}\""
                    ),
                ));
            }
            ApiError::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            _ => {}
        }
        response.body(body.to_string())
    }
}

/// A server error's fixed description cites the request id, under which
/// the log holds the cause.
fn cited(status: StatusCode, text: String) -> String {
    if status.is_server_error() {
        super::request_id::cite(&text)
    } else {
        text
    }
}

/// What a caller is told when the log cannot take writes: the failure's
/// own words, never a storage error's internals (those go to the log).
fn unavailable_text(failure: &Failure) -> String {
    match failure {
        Failure::Storage(_) => "the event log is unavailable: it could not be written".into(),
        Failure::FoldPanicked(_) => {
            "the event log is unavailable: the read models failed; restart to replay the log".into()
        }
        Failure::DecidePanicked(_) => {
            "the request could not be decided; nothing was written".into()
        }
        Failure::WriterPanicked(_) => {
            "the event log is unavailable: the writer failed; restart to replay the log".into()
        }
        Failure::Stopped => "the event log is unavailable: the writer has stopped".into(),
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Rejected(d) => d.into(),
            WriteError::Conflict(c) => ApiError::PreconditionFailed(c.to_string()),
            WriteError::Unavailable(f) => ApiError::Unavailable(unavailable_text(&f)),
        }
    }
}

/// What a client whose body trickled in too slowly is told.
fn body_too_slow() -> String {
    format!(
        "the body did not arrive within {} s",
        super::body::BODY_DEADLINE.as_secs()
    )
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::Unreadable => ApiError::BadRequest("the body could not be read".into()),
            BodyError::TooLarge(limit) => ApiError::PayloadTooLarge(limit),
            BodyError::TooSlow => ApiError::Timeout,
        }
    }
}

impl From<BodyError> for OAuthError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::Unreadable => OAuthError::invalid_request("the body could not be read"),
            BodyError::TooLarge(limit) => OAuthError::too_large(limit),
            BodyError::TooSlow => OAuthError::other(
                "invalid_request",
                StatusCode::REQUEST_TIMEOUT,
                body_too_slow(),
            ),
        }
    }
}

impl From<crate::upstream::refresh::TokenError> for ApiError {
    fn from(e: crate::upstream::refresh::TokenError) -> Self {
        use crate::upstream::refresh::TokenError;
        match e {
            TokenError::Write(w) => w.into(),
            TokenError::Unreadable(u) => u.into(),
            TokenError::NotConnected => ApiError::NotFound("connection".into()),
            TokenError::NotReady => ApiError::starting(),
            other => {
                tracing::error!(error = %crate::error_report::Report(&other), "the token vault failed");
                ApiError::Unavailable("the token vault is unavailable".into())
            }
        }
    }
}

impl From<crate::upstream::refresh::TokenError> for OAuthError {
    fn from(e: crate::upstream::refresh::TokenError) -> Self {
        use crate::upstream::refresh::TokenError;
        match e {
            TokenError::Write(w) => w.into(),
            TokenError::Unreadable(u) => u.into(),
            TokenError::NotReady => OAuthError::starting(),
            TokenError::Unreachable(why) => OAuthError::unavailable(format!(
                "the provider could not be reached and the user's token has expired: {why}"
            )),
            TokenError::NotConnected | TokenError::NeedsReconnect(_) => {
                OAuthError::invalid_target(e.to_string())
            }
            TokenError::Vault(_) => {
                tracing::error!(error = %crate::error_report::Report(&e), "the token vault failed");
                OAuthError::unavailable("the token vault is unavailable")
            }
        }
    }
}

impl From<Unreadable> for ApiError {
    fn from(e: Unreadable) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}

impl From<Unreadable> for OAuthError {
    fn from(e: Unreadable) -> Self {
        OAuthError::unavailable(e.to_string())
    }
}

impl From<crate::audit::AuditError> for ApiError {
    fn from(e: crate::audit::AuditError) -> Self {
        use crate::audit::AuditError;
        match e {
            AuditError::Invalid { field, message } => ApiError::Validation { field, message },
            AuditError::Store(s) => {
                tracing::error!(error = %crate::error_report::Report(&s), "reading the event log failed");
                ApiError::Unavailable("the event log cannot be read".into())
            }
            AuditError::NoActorIndex => ApiError::BadRequest(e.to_string()),
            AuditError::Unreadable => ApiError::Unavailable(e.to_string()),
        }
    }
}

impl From<crate::registry_at::RegistryAtError> for ApiError {
    fn from(e: crate::registry_at::RegistryAtError) -> Self {
        use crate::registry_at::RegistryAtError;
        match e {
            RegistryAtError::NotATime | RegistryAtError::InTheFuture { .. } => {
                ApiError::BadRequest(e.to_string())
            }
            RegistryAtError::Store(s) => {
                tracing::error!(error = %crate::error_report::Report(&s), "reading the event log failed");
                ApiError::Unavailable("the event log cannot be read".into())
            }
            absent => ApiError::NotFoundBecause(absent.to_string()),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(_: actix_web::error::BlockingError) -> Self {
        ApiError::Unavailable("the server is shutting down".into())
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound(what) => ApiError::NotFound(what),
            DomainError::Conflict(m) => ApiError::Conflict(m),
            DomainError::PreconditionFailed { .. } => ApiError::PreconditionFailed(e.to_string()),
            DomainError::Invalid { field, message } => ApiError::Validation { field, message },
            DomainError::TryAgain(m) => ApiError::Unavailable(m),
            DomainError::ClientPaused(_)
            | DomainError::Grant(_)
            | DomainError::ClientAuthFailed => ApiError::Conflict(e.to_string()),
        }
    }
}

impl From<crate::client_policy::FieldError> for ApiError {
    fn from(e: crate::client_policy::FieldError) -> Self {
        ApiError::Validation {
            field: e.field,
            message: e.message,
        }
    }
}

/// An OAuth endpoint error (RFC 6749 §5.2, RFC 7009, RFC 7662).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The RFC error code.
    pub code: &'static str,
    /// Human-readable detail.
    pub description: String,
    /// HTTP status.
    pub status: StatusCode,
    /// Seconds for `Retry-After`, when throttled.
    pub retry_after: Option<i64>,
    /// The `WWW-Authenticate` challenge, if any.
    pub challenge: Challenge,
    /// Where to send the user to connect the provider a token exchange
    /// needs (the extra `connect_uri` member).
    pub connect_uri: Option<String>,
}

/// Which `WWW-Authenticate` challenge an `OAuthError` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    /// None: client authentication failed with credentials sent in the
    /// body (RFC 6749 §5.2 asks for a challenge only when the client used
    /// the `Authorization` header; clients such as openid-client treat an
    /// unexpected one as a different error), or not a 401 at all.
    None,
    /// `Basic`, with `error="invalid_client"`: the client authenticated
    /// with HTTP Basic and failed.
    Basic,
    /// `Bearer` with the error code (RFC 6750 §3.1).
    Bearer,
    /// `Bearer` without an error code: the request carried no token at all
    /// (RFC 6750 §3.1 SHOULD NOT include one then).
    BearerMissing,
}

impl OAuthError {
    fn new(code: &'static str, status: StatusCode, description: impl Into<String>) -> Self {
        OAuthError {
            code,
            description: description.into(),
            status,
            retry_after: None,
            connect_uri: None,
            challenge: Challenge::None,
        }
    }

    /// `invalid_token` (401, RFC 6750 §3.1) with a `Bearer` challenge.
    pub fn invalid_token(d: impl Into<String>) -> Self {
        let mut e = Self::new("invalid_token", StatusCode::UNAUTHORIZED, d);
        e.challenge = Challenge::Bearer;
        e
    }

    /// 401 for a request that sent no bearer token: a `Bearer` challenge
    /// without an error code (RFC 6750 §3.1).
    pub fn bearer_missing() -> Self {
        let mut e = Self::new(
            "invalid_request",
            StatusCode::UNAUTHORIZED,
            "send an access token in the Authorization header",
        );
        e.challenge = Challenge::BearerMissing;
        e
    }

    /// Adds the `Basic` challenge: for a client that authenticated with
    /// HTTP Basic.
    pub fn basic_challenge(mut self) -> Self {
        self.challenge = Challenge::Basic;
        self
    }

    /// RFC 7591 §3.2.2: `invalid_redirect_uri` for a redirect URI field,
    /// `invalid_client_metadata` for any other.
    pub fn client_metadata(e: &crate::client_policy::FieldError) -> Self {
        let code = if e.field.contains("redirect_uri") {
            "invalid_redirect_uri"
        } else {
            "invalid_client_metadata"
        };
        Self::new(
            code,
            StatusCode::BAD_REQUEST,
            format!("{}: {}", e.field, e.message),
        )
    }

    /// Adds `Retry-After`.
    pub fn retry_after(mut self, seconds: i64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// `invalid_request` (400).
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new("invalid_request", StatusCode::BAD_REQUEST, d)
    }

    /// `invalid_client` (401; `basic_challenge` when the client used HTTP Basic).
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new("invalid_client", StatusCode::UNAUTHORIZED, d)
    }

    /// Any other RFC error code with its status.
    pub fn other(code: &'static str, status: StatusCode, d: impl Into<String>) -> Self {
        Self::new(code, status, d)
    }

    /// `invalid_grant` (400).
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new("invalid_grant", StatusCode::BAD_REQUEST, d)
    }

    /// `unauthorized_client` (400).
    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new("unauthorized_client", StatusCode::BAD_REQUEST, d)
    }

    /// `unsupported_grant_type` (400).
    pub fn unsupported_grant_type(d: impl Into<String>) -> Self {
        Self::new("unsupported_grant_type", StatusCode::BAD_REQUEST, d)
    }

    /// `invalid_scope` (400).
    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new("invalid_scope", StatusCode::BAD_REQUEST, d)
    }

    /// `invalid_target` (400, RFC 8707).
    pub fn invalid_target(d: impl Into<String>) -> Self {
        Self::new("invalid_target", StatusCode::BAD_REQUEST, d)
    }

    /// `invalid_request` with 413 for an oversized body.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            "invalid_request",
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {limit} bytes"),
        )
    }

    /// Too many failed client authentications: 429 with `Retry-After`.
    pub fn throttled(retry_after: i64) -> Self {
        Self::new(
            "invalid_client",
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed authentications; retry in {retry_after} s"),
        )
        .retry_after(retry_after)
    }

    /// 503 while startup (replay, provisioning) is not done.
    pub fn starting() -> Self {
        Self::unavailable("authlog is starting")
    }

    /// `temporarily_unavailable` (503).
    pub fn unavailable(d: impl Into<String>) -> Self {
        Self::new(
            "temporarily_unavailable",
            StatusCode::SERVICE_UNAVAILABLE,
            d,
        )
    }
}

/// RFC 6749 §5.2: `error_description` holds only %x20-21 / %x23-5B /
/// %x5D-7E; anything else (quotes, backslashes, non-ASCII, controls from
/// echoed input) becomes `'` or `?`.
pub fn rfc6749_text(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' => '\'',
            ' '..='~' if c != '\\' => c,
            _ => '?',
        })
        .collect()
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code)
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
        let challenge = match self.challenge {
            Challenge::None => None,
            Challenge::Basic => Some(format!(
                "Basic realm=\"authlog\", charset=\"UTF-8\", error=\"{}\"",
                self.code
            )),
            Challenge::Bearer => Some(format!(
                "Bearer realm=\"authlog\", error=\"{}\", error_description=\"{}\"",
                self.code,
                rfc6749_text(&self.description)
            )),
            Challenge::BearerMissing => Some("Bearer realm=\"authlog\"".to_owned()),
        };
        if let Some(challenge) = challenge {
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, "5"));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        let description = cited(self.status, rfc6749_text(&self.description));
        let mut body = json!({ "error": self.code, "error_description": description });
        if let Some(uri) = &self.connect_uri {
            body["connect_uri"] = json!(uri);
        }
        response.json(body)
    }
}

/// The error another authorization server sent back in a redirect
/// (RFC 6749 §4.1.2.1): its code and, bounded, its description.
pub fn redirect_error(query: &super::form::OAuthForm) -> Option<String> {
    let code = query.get("error")?;
    let mut text = code.chars().take(100).collect::<String>();
    if let Some(d) = query.get("error_description") {
        text.push_str(&format!(" ({})", d.chars().take(200).collect::<String>()));
    }
    Some(text)
}

impl From<GrantError> for OAuthError {
    fn from(g: GrantError) -> Self {
        let code = match &g {
            GrantError::InvalidGrant(_) => "invalid_grant",
            GrantError::InvalidScope(_) => "invalid_scope",
            GrantError::UnauthorizedClient(_) => "unauthorized_client",
            GrantError::InvalidTarget(_) => "invalid_target",
            GrantError::AuthorizationPending => "authorization_pending",
            GrantError::SlowDown => "slow_down",
            GrantError::AccessDenied => "access_denied",
            GrantError::ExpiredToken => "expired_token",
        };
        OAuthError::new(code, StatusCode::BAD_REQUEST, g.to_string())
    }
}

impl From<DomainError> for OAuthError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::ClientPaused(id) => {
                OAuthError::unauthorized_client(format!("client {id} is paused"))
            }
            DomainError::NotFound(what) => OAuthError::invalid_client(format!("{what} not found")),
            DomainError::ClientAuthFailed => {
                OAuthError::invalid_client("client authentication failed")
            }
            DomainError::Grant(g) => g.into(),
            DomainError::TryAgain(m) => OAuthError::unavailable(m),
            other => OAuthError::invalid_request(other.to_string()),
        }
    }
}

impl From<WriteError> for OAuthError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Rejected(d) => d.into(),
            WriteError::Conflict(c) => OAuthError::invalid_request(c.to_string()),
            WriteError::Unavailable(f) => OAuthError::unavailable(unavailable_text(&f)),
        }
    }
}

/// Why an authorization request fails.
#[derive(Debug)]
pub enum AuthorizeError {
    /// Shown to the user; never redirected.
    Page(StatusCode, &'static str, String),
    /// Redirected back to the client (RFC 6749 §4.1.2.1).
    Redirect {
        /// Where.
        redirect_uri: String,
        /// RFC error code.
        error: &'static str,
        /// Detail.
        description: String,
        /// The request's `state`.
        state: Option<String>,
    },
}

impl AuthorizeError {
    /// The page, or the redirect back to the client.
    pub fn respond(self, issuer: &str, status: StatusCode) -> HttpResponse {
        match self {
            AuthorizeError::Page(code, title, detail) => {
                super::pages::error_page(code, title, &detail)
            }
            AuthorizeError::Redirect {
                redirect_uri,
                error,
                description,
                state,
            } => {
                let description = rfc6749_text(&description);
                let mut params = vec![
                    ("error", error),
                    ("error_description", description.as_str()),
                ];
                if let Some(s) = state.as_deref() {
                    params.push(("state", s));
                }
                super::authorize::redirect_to(&redirect_uri, &params, issuer, status)
            }
        }
    }
}
