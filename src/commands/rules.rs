//! The OAuth and lifecycle rules that more than one command (and, for an
//! early answer, a handler) checks: one function each, so a rule has one
//! wording and one test.

use authlog_events::{GrantType, TokenEndpointAuthMethod};
use authlog_projections::{ClientRecord, ClientStatus, Projections, UserRecord};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{DomainError, GrantError};
use crate::client_policy::grant_type_name;

/// A live (registered, not deleted) client.
pub fn live_client<'a>(
    state: &'a Projections,
    client_id: &str,
) -> Result<&'a ClientRecord, DomainError> {
    state
        .registry
        .get(client_id)
        .ok_or_else(|| DomainError::NotFound(format!("client {client_id}")))
}

/// A paused client gets no tokens, codes or device authorizations.
pub fn not_paused(client: &ClientRecord) -> Result<(), DomainError> {
    if client.status == ClientStatus::Paused {
        return Err(DomainError::ClientPaused(client.client_id.clone()));
    }
    Ok(())
}

/// A live client that is not paused.
pub fn active_client<'a>(
    state: &'a Projections,
    client_id: &str,
) -> Result<&'a ClientRecord, DomainError> {
    let client = live_client(state, client_id)?;
    not_paused(client)?;
    Ok(client)
}

/// The client may use `grant`: it is among its grant types, and
/// `client_credentials` needs a confidential client (RFC 6749 §4.4).
pub fn grant_allowed(client: &ClientRecord, grant: GrantType) -> Result<(), DomainError> {
    if !client.metadata.grant_types.contains(&grant) {
        return Err(GrantError::UnauthorizedClient(format!(
            "this client may not use the {} grant",
            grant_type_name(grant)
        ))
        .into());
    }
    if grant == GrantType::ClientCredentials
        && client.metadata.token_endpoint_auth_method == TokenEndpointAuthMethod::None
    {
        return Err(GrantError::UnauthorizedClient(
            "public clients cannot use client_credentials".into(),
        )
        .into());
    }
    Ok(())
}

/// Requested scopes must be among the client's; none requested means all
/// of them (RFC 6749 §3.3).
pub fn client_scopes(
    requested: Option<&[String]>,
    client: &ClientRecord,
) -> Result<Vec<String>, DomainError> {
    let Some(requested) = requested else {
        return Ok(client.metadata.scopes.clone());
    };
    if let Some(extra) = requested
        .iter()
        .find(|s| !client.metadata.scopes.contains(s))
    {
        return Err(GrantError::InvalidScope(format!(
            "scope {extra} is not allowed for this client"
        ))
        .into());
    }
    Ok(requested.to_vec())
}

/// A refresh may only narrow what the grant holds (RFC 6749 §6).
pub fn narrower_scopes(requested: &[String], granted: &[String]) -> Result<(), DomainError> {
    match requested.iter().find(|s| !granted.contains(s)) {
        Some(extra) => Err(GrantError::InvalidScope(format!(
            "scope {extra} was not granted; a refresh can only narrow scope"
        ))
        .into()),
        None => Ok(()),
    }
}

/// RFC 8707 at the token endpoint: the requested resources must be among
/// those granted; none requested means all of them.
pub fn narrow_audience(
    requested: &[String],
    granted: &[String],
) -> Result<Vec<String>, DomainError> {
    if let Some(r) = requested.iter().find(|r| !granted.contains(r)) {
        return Err(GrantError::InvalidTarget(format!("resource {r} was not granted")).into());
    }
    Ok(if requested.is_empty() {
        granted.to_vec()
    } else {
        requested.to_vec()
    })
}

/// A user who exists and is not disabled, for grants acting for them.
pub fn active_user<'a>(
    state: &'a Projections,
    user_id: &Uuid,
) -> Result<&'a UserRecord, DomainError> {
    match state.users.get(user_id) {
        Some(u) if !u.disabled => Ok(u),
        _ => Err(GrantError::InvalidGrant("the user is disabled or unknown".into()).into()),
    }
}

/// Whether `client` gets refresh tokens.
pub fn refresh_enabled(client: &ClientRecord) -> bool {
    client.metadata.refresh_token_enabled
        && client
            .metadata
            .grant_types
            .contains(&GrantType::RefreshToken)
}

/// RFC 7636 §4.6: BASE64URL(SHA256(ASCII(verifier))) == challenge, and the
/// verifier is 43–128 unreserved characters.
pub fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let equal: bool = computed.as_bytes().ct_eq(challenge.as_bytes()).into();
    well_formed && equal
}

/// An `If-Match` version, when given, must be the stream's current one.
pub fn expected_version(expected: Option<u64>, actual: u64) -> Result<(), DomainError> {
    match expected {
        Some(expected) if expected != actual => {
            Err(DomainError::PreconditionFailed { expected, actual })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_the_rfc_7636_example() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_s256_matches(verifier, challenge));
        assert!(!pkce_s256_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl",
            challenge
        ));
        assert!(!pkce_s256_matches("short", challenge));
    }

    #[test]
    fn the_audience_narrows_and_never_widens() {
        let granted = vec!["https://a".to_owned(), "https://b".to_owned()];
        assert_eq!(narrow_audience(&[], &granted).unwrap(), granted);
        assert_eq!(
            narrow_audience(&granted[..1], &granted).unwrap(),
            granted[..1]
        );
        assert!(matches!(
            narrow_audience(&["https://c".to_owned()], &granted),
            Err(DomainError::Grant(GrantError::InvalidTarget(_)))
        ));
    }
}
