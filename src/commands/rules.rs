//! The OAuth and lifecycle rules that more than one command (and, for an
//! early answer, a handler) checks: one function each, so a rule has one
//! wording and one test.

use authlog_events::{ClientMetadata, GrantType, Principal, Role, TokenEndpointAuthMethod};
use authlog_projections::{ClientRecord, ClientStatus, Projections, UserRecord};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{DomainError, EventContext, GrantError};
use crate::client_policy::grant_type_name;
use crate::scopes::CLIENTS_WRITE;

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

/// Requested scopes must be among the client's (RFC 6749 §3.3).
pub fn scopes_allowed(
    requested: Option<&[String]>,
    client: &ClientRecord,
) -> Result<(), DomainError> {
    match requested
        .into_iter()
        .flatten()
        .find(|s| !client.metadata.scopes.contains(s))
    {
        Some(extra) => Err(GrantError::InvalidScope(format!(
            "scope {extra} is not allowed for this client"
        ))
        .into()),
        None => Ok(()),
    }
}

/// The scopes a client gets: those requested, which must be among its
/// own, or all of its own when none are requested (RFC 6749 §3.3).
pub fn client_scopes(
    requested: Option<&[String]>,
    client: &ClientRecord,
) -> Result<Vec<String>, DomainError> {
    scopes_allowed(requested, client)?;
    Ok(requested.map_or_else(|| client.metadata.scopes.clone(), <[String]>::to_vec))
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

/// RFC 7636 §4.2: the S256 challenge of a verifier,
/// BASE64URL(SHA256(ASCII(verifier))).
pub fn pkce_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// RFC 7636 §4.6: `pkce_s256(verifier)` == challenge, and the verifier is
/// 43–128 unreserved characters.
pub fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = pkce_s256(verifier);
    let equal: bool = computed.as_bytes().ct_eq(challenge.as_bytes()).into();
    well_formed && equal
}

/// Whether a client lets someone administer authlog on its own: active,
/// with the client_credentials grant and the `clients:write` scope.
fn admits(client: &ClientRecord) -> bool {
    client.status == ClientStatus::Active && metadata_admits(&client.metadata)
}

/// Whether metadata holds what `admits` asks of a client's definition.
pub fn metadata_admits(md: &ClientMetadata) -> bool {
    md.grant_types.contains(&GrantType::ClientCredentials)
        && md.scopes.iter().any(|s| s == CLIENTS_WRITE)
}

/// Whether a user can administer authlog: enabled, with the admin role.
fn administers(user: &UserRecord) -> bool {
    !user.disabled && user.roles.contains(&Role::Admin)
}

/// Refuses a change after which nobody could administer authlog: no
/// enabled admin user and no client that `admits` would remain once
/// `clients` and `user` stop counting. A change that removes no way in is
/// always fine, so a log without any (tests) is never stuck.
pub fn keeps_a_way_in(
    state: &Projections,
    clients: &[&str],
    user: Option<&Uuid>,
) -> Result<(), DomainError> {
    let removes = clients
        .iter()
        .any(|id| state.registry.get(id).is_some_and(admits))
        || user.is_some_and(|u| state.users.get(u).is_some_and(administers));
    if !removes {
        return Ok(());
    }
    let other_client = state
        .registry
        .iter_from(None)
        .any(|c| admits(c) && !clients.contains(&c.client_id.as_str()));
    let other_user = state
        .users
        .all()
        .into_iter()
        .any(|u| administers(u) && Some(&u.user_id) != user);
    if other_client || other_user {
        return Ok(());
    }
    Err(DomainError::Conflict(
        "this would leave no way to administer authlog: no other enabled admin user and no \
         other active client with client_credentials and clients:write"
            .into(),
    ))
}

/// A client may not pause or delete itself with its own token (nor a user
/// through a token of that client): the caller would cut off its own access.
pub fn not_the_callers_client(
    ctx: &EventContext,
    client_id: &str,
    what: &str,
) -> Result<(), DomainError> {
    let own = ctx.actor.principal == Principal::Client(client_id.to_owned())
        || ctx.actor.via_client.as_deref() == Some(client_id);
    if own {
        return Err(DomainError::Conflict(format!(
            "client {client_id} cannot {what} itself: the token making this request belongs to it"
        )));
    }
    Ok(())
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
