//! OpenID Connect ID tokens (Core §2, §3.1.3.6) and the claims a user's
//! scopes release, shared by the token endpoint's ID tokens and userinfo
//! (Core §5.3, §5.4): `profile` → `name`, `preferred_username`; `email` →
//! `email`; `role` → `roles`.

use authlog_projections::UserRecord;
use serde_json::{json, Map, Value};

use super::error::OAuthError;
use crate::commands::issue::Issued;
use crate::scopes::{role_name, EMAIL, OPENID, PROFILE, ROLE};
use crate::state::AppState;

/// The claims `scopes` release about `user` (besides `sub`).
pub fn scope_claims<'a>(
    user: &UserRecord,
    scopes: impl IntoIterator<Item = &'a str>,
) -> Map<String, Value> {
    let mut claims = Map::new();
    for scope in scopes {
        match scope {
            PROFILE => {
                claims.insert("name".into(), json!(user.display_name));
                claims.insert("preferred_username".into(), json!(user.username));
            }
            EMAIL => {
                if let Some(email) = &user.email {
                    claims.insert("email".into(), json!(email));
                }
            }
            ROLE => {
                let roles: Vec<&str> = user.roles.iter().map(|r| role_name(*r)).collect();
                claims.insert("roles".into(), json!(roles));
            }
            _ => {}
        }
    }
    claims
}

/// The ID token for tokens just issued to `client_id`, when `openid` was
/// granted and they act for a user: signed with the active key. The
/// `nonce` is echoed only from the code exchange (Core §12.2: not in
/// refreshed ID tokens).
pub fn for_issued(
    state: &AppState,
    client_id: &str,
    issued: &Issued,
) -> Result<Option<String>, OAuthError> {
    let Some(subject) = issued.subject else {
        return Ok(None);
    };
    if !issued.scope.split(' ').any(|s| s == OPENID) {
        return Ok(None);
    }
    let projections = state.read()?;
    let Some(user) = projections.users.get(&subject) else {
        return Ok(None);
    };
    let alg = projections
        .registry
        .get(client_id)
        .map(|c| c.oidc.id_token_signed_response_alg)
        .unwrap_or_default();
    let key = projections
        .signing_keys
        .active(alg.as_str())
        .ok_or_else(|| signing_failed(&crate::signing::SigningError::NoActiveKey))?;
    let mut claims = scope_claims(user, issued.scope.split(' '));
    let iat = issued.issued_at.unix_seconds();
    for (name, value) in [
        ("iss", json!(state.config.issuer)),
        ("sub", json!(subject.to_string())),
        ("aud", json!(client_id)),
        ("azp", json!(client_id)),
        ("iat", json!(iat)),
        ("exp", json!(iat + issued.expires_in)),
        (
            "at_hash",
            json!(crate::signing::half_hash(&issued.access_token)),
        ),
    ] {
        claims.insert(name.into(), value);
    }
    if let Some(sign_in) = projections.grants.sign_in(&issued.family_id) {
        claims.insert("auth_time".into(), json!(sign_in.auth_time.unix_seconds()));
        claims.insert("sid".into(), json!(sign_in.session_id));
        claims.insert("amr".into(), json!(sign_in.amr));
        if issued.grant_type == authlog_events::GrantType::AuthorizationCode {
            if let Some(nonce) = &sign_in.nonce {
                claims.insert("nonce".into(), json!(nonce));
            }
        }
    }
    state
        .signer
        .sign(&state.key, key, "JWT", &claims)
        .map(Some)
        .map_err(|e| signing_failed(&e))
}

fn signing_failed(e: &crate::signing::SigningError) -> OAuthError {
    tracing::error!(error = %crate::error_report::Report(e), "could not sign an ID token");
    OAuthError::other(
        "server_error",
        actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
        "the ID token could not be signed",
    )
}
