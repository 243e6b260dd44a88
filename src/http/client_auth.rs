//! Client authentication at the token, introspection and revocation
//! endpoints: `client_secret_basic` (credentials form-urlencoded inside
//! Basic, RFC 6749 §2.3.1), `client_secret_post`, or `none` (public
//! clients send only `client_id`). Unknown clients and wrong secrets take
//! the same path and compare digests in constant time.

use actix_web::http::header;
use actix_web::HttpRequest;
use authlog_events::{AuthFailure, Digest, FailedSubject, Timestamp, TokenEndpointAuthMethod};
use authlog_projections::{ClientRecord, Projections};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::context::RequestFacts;
use super::error::OAuthError;
use super::form::{decode_component, OAuthForm};
use crate::state::AppState;

/// How the client presented itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented {
    /// HTTP Basic.
    Basic,
    /// `client_secret` in the body.
    Post,
    /// Only `client_id` in the body.
    IdOnly,
}

/// Credentials found on a request.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The client id.
    pub client_id: String,
    /// The secret, when one was sent.
    pub secret: Option<String>,
    /// Where they were found.
    pub presented: Presented,
}

/// Parses `Authorization: Basic` per RFC 6749 §2.3.1.
fn parse_basic(value: &str) -> Result<(String, String), OAuthError> {
    let bad = || OAuthError::invalid_client("malformed HTTP Basic credentials").basic_challenge();
    let (scheme, encoded) = value.trim().split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let colon = decoded.iter().position(|&b| b == b':').ok_or_else(bad)?;
    let id = decode_component(&decoded[..colon]).ok_or_else(bad)?;
    let secret = decode_component(&decoded[colon + 1..]).ok_or_else(bad)?;
    if id.is_empty() {
        return Err(bad());
    }
    Ok((id, secret))
}

/// Finds the client's credentials; more than one method is `invalid_request`.
pub fn credentials(req: &HttpRequest, form: &OAuthForm) -> Result<Credentials, OAuthError> {
    let basic = req.headers().get(header::AUTHORIZATION).map(|v| {
        v.to_str()
            .map_err(|_| {
                OAuthError::invalid_client("malformed HTTP Basic credentials").basic_challenge()
            })
            .and_then(parse_basic)
    });
    let body_id = form.get("client_id");
    let body_secret = form.get("client_secret");
    match basic {
        Some(parsed) => {
            let (id, secret) = parsed?;
            if body_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not HTTP Basic and client_secret",
                ));
            }
            if body_id.is_some_and(|b| b != id) {
                return Err(OAuthError::invalid_request(
                    "client_id does not match HTTP Basic",
                ));
            }
            Ok(Credentials {
                client_id: id,
                secret: Some(secret),
                presented: Presented::Basic,
            })
        }
        None => match (body_id, body_secret) {
            (Some(id), Some(secret)) => Ok(Credentials {
                client_id: id.to_owned(),
                secret: Some(secret.to_owned()),
                presented: Presented::Post,
            }),
            (Some(id), None) => Ok(Credentials {
                client_id: id.to_owned(),
                secret: None,
                presented: Presented::IdOnly,
            }),
            (None, _) => Err(OAuthError::invalid_client(
                "client authentication is required",
            )),
        },
    }
}

/// An authenticated client and the digest of the secret it presented
/// (zeros for public clients), for commands to re-check at decision time.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The client as it was when authenticated.
    pub client: std::sync::Arc<ClientRecord>,
    /// Digest of the presented secret.
    pub secret_digest: Digest,
}

/// Checks the credentials (`presented`: the digest of the secret sent,
/// zeros for none) against the registry at `now`; `Err` says why, for the
/// audit trail (the caller only ever sees the same `invalid_client`).
fn check(
    projections: &Projections,
    creds: &Credentials,
    presented: Digest,
    now: Timestamp,
) -> Result<Authenticated, AuthFailure> {
    let Some(client) = projections.registry.get_shared(&creds.client_id) else {
        return Err(AuthFailure::UnknownPrincipal);
    };
    let method_ok = matches!(
        (client.metadata.token_endpoint_auth_method, creds.presented),
        (TokenEndpointAuthMethod::ClientSecretBasic, Presented::Basic)
            | (TokenEndpointAuthMethod::ClientSecretPost, Presented::Post)
            | (TokenEndpointAuthMethod::None, Presented::IdOnly)
    );
    let secret_ok = match client.metadata.token_endpoint_auth_method {
        TokenEndpointAuthMethod::None => creds.secret.is_none(),
        _ => client.secret_matches(&presented, now),
    };
    match (method_ok, secret_ok) {
        (true, true) => Ok(Authenticated {
            client: client.clone(),
            secret_digest: presented,
        }),
        (false, _) => Err(AuthFailure::WrongMethod),
        (true, false) => Err(AuthFailure::BadCredentials),
    }
}

/// Authenticates the client. Unknown clients and wrong secrets get the
/// same `invalid_client`.
///
/// Correct credentials are always accepted: failures can never lock a
/// client out, from any address. Failures are budgeted per source address
/// and per client-and-address, never per client alone (`CLIENT_AUTH_FAILURES`
/// in `CLIENT_AUTH_WINDOW_SECONDS`): under budget a failure is answered
/// 401, over it 429 with `Retry-After`. Either way it is counted in the
/// `FailureTally`, which the log receives as periodic summaries, so brute
/// force shows in the audit log without ever becoming a write flood.
pub async fn authenticate(
    state: &AppState,
    creds: &Credentials,
    facts: &RequestFacts,
) -> Result<Authenticated, OAuthError> {
    let now = state.clock.now();
    // Digest even when the client is unknown, so both paths cost the same.
    let presented = creds
        .secret
        .as_deref()
        .map(|s| state.key.digest(s))
        .unwrap_or(Digest([0; 32]));
    let checked = check(&*state.read()?, creds, presented, now);
    let reason = match checked {
        Ok(authenticated) => return Ok(authenticated),
        Err(reason) => reason,
    };
    let address = super::context::ip_key(facts.ip);
    let client_id: String = creds.client_id.chars().take(256).collect();
    let ip_key = format!("ip:{address}");
    let pair_key = format!("client-ip:{address}|{client_id}");
    let throttle = &state.client_auth_failures;
    let over_budget = throttle
        .check(&ip_key, now)
        .and(throttle.check(&pair_key, now));
    state.failures.note(
        FailedSubject::Client(client_id),
        reason,
        &address,
        over_budget.is_err(),
        now,
    );
    if let Err(wait) = over_budget {
        return Err(OAuthError::throttled(wait));
    }
    throttle.fail(&ip_key, now);
    throttle.fail(&pair_key, now);
    let failed = OAuthError::invalid_client("client authentication failed");
    Err(match creds.presented {
        Presented::Basic => failed.basic_challenge(),
        Presented::Post | Presented::IdOnly => failed,
    })
}

/// Everything an OAuth endpoint does to know its caller, in order: find
/// the credentials; when `client_id` is a URL, fetch its document and
/// submit `UpsertDocumentClient` (`document_client::ensure`); check them
/// (throttled; a failure is counted in the `FailureTally`); mark the
/// request for the client's CORS origins.
pub async fn authenticate_request(
    req: &HttpRequest,
    state: &AppState,
    form: &OAuthForm,
) -> Result<Authenticated, OAuthError> {
    let creds = credentials(req, form)?;
    let facts = RequestFacts::of(req);
    super::document_client::ensure(state, &creds.client_id, &facts).await?;
    let authenticated = authenticate(state, &creds, &facts).await?;
    super::observation::note_client(req, &authenticated.client.client_id);
    super::cors::allow_client(req, &authenticated.client.client_id);
    Ok(authenticated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        // "my%3Aclient:s%2Bc+r" -> id "my:client", secret "s+c r"
        let header = format!("Basic {}", STANDARD.encode("my%3Aclient:s%2Bc+r"));
        assert_eq!(
            parse_basic(&header).unwrap(),
            ("my:client".to_owned(), "s+c r".to_owned())
        );
    }

    #[test]
    fn malformed_basic_is_invalid_client_with_a_challenge() {
        for value in [
            "Basic !!!",
            "Bearer abc",
            "Basic",
            &format!("Basic {}", STANDARD.encode("nocolon")),
        ] {
            let e = parse_basic(value).unwrap_err();
            assert_eq!(e.code, "invalid_client");
            assert_eq!(e.status, actix_web::http::StatusCode::UNAUTHORIZED);
        }
    }
}
