//! OpenID Connect Back-Channel Logout 1.0: when a browser session ends,
//! every client signed in through it that registered a
//! `backchannel_logout_uri` gets a logout token posted there, server to
//! server (`application/x-www-form-urlencoded`, `logout_token=`).
//!
//! The logout token (§2.4) is a JWT with `typ` `logout+jwt`, signed with
//! the client's ID-token algorithm: `iss`, `aud` (the client), `iat`,
//! `exp` (two minutes), `jti`, `sub`, `sid` (always; the `sid` of the ID
//! tokens of that session) and the back-channel logout event; never a
//! `nonce`. Tokens are made when the `UserLoggedOut` event has been
//! committed, then posted in the background: once each, 5 s timeout, no
//! redirects, the outcome logged (node-oidc-provider and Keycloak also
//! try once). Clients registered by an admin may be reached at any
//! address; self-registered ones (RFC 7591, metadata documents) only at
//! public addresses, as metadata documents are fetched.

use authlog_events::RegistrationType;
use serde_json::json;
use uuid::Uuid;

use crate::error_report::Report;
use crate::state::AppState;

/// Why a logout token could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The URI's host is not one authlog connects to for this client.
    #[error("the back-channel logout URI is not reachable")]
    Address(#[source] crate::cimd::CimdError),
    /// The request failed (connection, TLS, timeout).
    #[error("the back-channel logout request failed")]
    Http(#[source] reqwest::Error),
}

/// The event member of a logout token.
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How long a logout token is valid (§2.4 recommends a short time).
pub const LOGOUT_TOKEN_SECONDS: i64 = 120;

/// One logout token, ready to post.
#[derive(Clone)]
pub struct Delivery {
    /// The client it is for.
    pub client_id: String,
    /// Its `backchannel_logout_uri`.
    pub uri: url::Url,
    /// The signed logout token.
    pub logout_token: String,
    /// Whether the client may be reached at a non-public address.
    any_address: bool,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("client_id", &self.client_id)
            .field("uri", &self.uri.as_str())
            .finish_non_exhaustive()
    }
}

/// The logout tokens for session `session_id` of `user_id`: one per live
/// client signed in through it that registered a back-channel URI.
pub fn prepare(state: &AppState, user_id: Uuid, session_id: &str) -> Vec<Delivery> {
    let Ok(projections) = state.read() else {
        return Vec::new();
    };
    let iat = state.clock.now().unix_seconds();
    let mut deliveries = Vec::new();
    for client_id in projections.grants.clients_of_session(session_id) {
        let Some(client) = projections.registry.get(client_id) else {
            continue;
        };
        let Some(uri) = client
            .oidc
            .backchannel_logout_uri
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
        else {
            continue;
        };
        let alg = client.oidc.id_token_signed_response_alg.as_str();
        let Some(key) = projections.signing_keys.active(alg) else {
            tracing::warn!(client_id, alg, "no active key to sign a logout token");
            continue;
        };
        let claims = json!({
            "iss": state.config.issuer,
            "aud": client_id,
            "iat": iat,
            "exp": iat + LOGOUT_TOKEN_SECONDS,
            "jti": state.entropy.id().to_string(),
            "sub": user_id.to_string(),
            "sid": session_id,
            "events": { LOGOUT_EVENT: {} },
        });
        match state.signer.sign(&state.key, key, "logout+jwt", &claims) {
            Ok(logout_token) => deliveries.push(Delivery {
                client_id: client_id.to_owned(),
                uri,
                logout_token,
                any_address: matches!(
                    client.registration_type,
                    RegistrationType::Preregistered | RegistrationType::Default
                ),
            }),
            Err(e) => {
                tracing::error!(client_id, error = %Report(&e), "could not sign a logout token")
            }
        }
    }
    deliveries
}

/// Posts each logout token in the background, each on its own; logs
/// each outcome.
pub fn spawn(state: &std::sync::Arc<AppState>, deliveries: Vec<Delivery>) {
    for d in deliveries {
        let state = state.clone();
        tokio::spawn(async move { deliver(&state, &d).await });
    }
}

/// Posts one logout token and logs the outcome.
pub async fn deliver(state: &AppState, d: &Delivery) {
    match post(state, d).await {
        Ok(status) if status.is_success() => {
            tracing::info!(client_id = %d.client_id, %status, "back-channel logout delivered");
        }
        Ok(status) => {
            tracing::warn!(client_id = %d.client_id, %status, "back-channel logout refused");
        }
        Err(e) => {
            tracing::warn!(client_id = %d.client_id, error = %Report(&e), "back-channel logout failed");
        }
    }
}

async fn post(state: &AppState, d: &Delivery) -> Result<reqwest::StatusCode, DeliveryError> {
    let client = state
        .documents
        .vetted_client(&d.uri, d.any_address, "authlog (back-channel logout)")
        .await
        .map_err(DeliveryError::Address)?
        .build()
        .map_err(DeliveryError::Http)?;
    let response = client
        .post(d.uri.clone())
        .form(&[("logout_token", d.logout_token.as_str())])
        .send()
        .await
        .map_err(DeliveryError::Http)?;
    Ok(response.status())
}
