//! RFC 7591 §2 client metadata as a client sends it (dynamic registration
//! body, or a Client ID Metadata Document), turned into `ClientMetadata`
//! with the defaults of clients that register themselves: public (`none`),
//! `authorization_code` + `refresh_token`, scope `profile email`,
//! read-only access.

use authlog_events::{ClientMetadata, GrantType, TokenEndpointAuthMethod};
use serde::Deserialize;

use crate::client_policy::{self, parse_auth_method, parse_grant_type, FieldError};

/// RFC 7591 §2 client metadata as sent. Unknown members are ignored (§2).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct ClientDocument {
    /// Its `client_id` (RFC 7592 updates; a metadata document's own URL).
    pub client_id: Option<String>,
    /// RFC 7591 `client_secret`.
    pub client_secret: Option<String>,
    /// RFC 7591 `redirect_uris`.
    pub redirect_uris: Option<Vec<String>>,
    /// RFC 7591 `token_endpoint_auth_method`.
    pub token_endpoint_auth_method: Option<String>,
    /// RFC 7591 `grant_types`.
    pub grant_types: Option<Vec<String>>,
    /// RFC 7591 `response_types`.
    pub response_types: Option<Vec<String>>,
    /// RFC 7591 `client_name`.
    pub client_name: Option<String>,
    /// RFC 7591 `client_uri`.
    pub client_uri: Option<String>,
    /// RFC 7591 `logo_uri`.
    pub logo_uri: Option<String>,
    /// RFC 7591 `scope`.
    pub scope: Option<String>,
    /// RFC 7591 `contacts`.
    pub contacts: Option<Vec<String>>,
    /// RFC 7591 `tos_uri`.
    pub tos_uri: Option<String>,
    /// RFC 7591 `policy_uri`.
    pub policy_uri: Option<String>,
    /// RFC 7591 `software_id`.
    pub software_id: Option<String>,
    /// RFC 7591 `software_version`.
    pub software_version: Option<String>,
    /// OpenID Connect Registration `id_token_signed_response_alg`.
    pub id_token_signed_response_alg: Option<String>,
    /// Back-Channel Logout `backchannel_logout_uri`.
    pub backchannel_logout_uri: Option<String>,
    /// Back-Channel Logout `backchannel_logout_session_required`.
    pub backchannel_logout_session_required: Option<bool>,
}

impl ClientDocument {
    /// The OpenID Connect settings sent, omitted ones at their defaults
    /// (a registration, and an RFC 7592 update, carry the whole client).
    pub fn oidc(&self) -> Result<authlog_events::OidcSettings, FieldError> {
        client_policy::oidc_edit(
            self.id_token_signed_response_alg.as_deref(),
            Some(self.backchannel_logout_uri.clone()),
            self.backchannel_logout_session_required,
        )
        .map(|edit| edit.apply(&Default::default()))
    }

    /// The metadata to register: dynamic defaults, then what was sent.
    pub fn metadata(&self) -> Result<ClientMetadata, FieldError> {
        let mut md = client_policy::default_metadata();
        md.client_name = self
            .client_name
            .clone()
            .unwrap_or_else(|| "Unnamed application".into());
        md.client_uri = self.client_uri.clone();
        md.logo_uri = self.logo_uri.clone();
        md.tos_uri = self.tos_uri.clone();
        md.policy_uri = self.policy_uri.clone();
        md.software_id = self.software_id.clone();
        md.software_version = self.software_version.clone();
        md.contacts = self.contacts.clone().unwrap_or_default();
        md.redirect_uris = self.redirect_uris.clone().unwrap_or_default();
        md.token_endpoint_auth_method = match &self.token_endpoint_auth_method {
            None => TokenEndpointAuthMethod::None,
            Some(m) => parse_auth_method(m).ok_or_else(|| {
                FieldError::new(
                    "token_endpoint_auth_method",
                    format!("{m} is not supported"),
                )
            })?,
        };
        md.grant_types = match &self.grant_types {
            None => vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            Some(list) => {
                let mut grants = Vec::new();
                for g in list {
                    let grant = parse_grant_type(g).ok_or_else(|| {
                        FieldError::new("grant_types", format!("{g} is not supported"))
                    })?;
                    if !grants.contains(&grant) {
                        grants.push(grant);
                    }
                }
                grants
            }
        };
        md.response_types = match &self.response_types {
            Some(r) => r.clone(),
            None if md.grant_types.contains(&GrantType::AuthorizationCode) => vec!["code".into()],
            None => vec![],
        };
        md.scopes = match &self.scope {
            Some(s) => client_policy::parse_scope(s).map_err(|m| FieldError::new("scope", m))?,
            None => vec!["profile".into(), "email".into()],
        };
        md.refresh_token_enabled = md.grant_types.contains(&GrantType::RefreshToken);
        Ok(md)
    }
}

/// Self-registered clients (dynamic or metadata documents) may not ask
/// for authlog's own API scopes: those are for clients an admin registers.
pub fn check_self_registered(md: &ClientMetadata) -> Result<(), FieldError> {
    if let Some(s) = md
        .scopes
        .iter()
        .find(|s| crate::scopes::API_SCOPES.contains(&s.as_str()))
    {
        return Err(FieldError::new(
            "scope",
            format!("{s} is reserved for clients registered by an admin"),
        ));
    }
    Ok(())
}

/// The fields a self-registered client owns (RFC 7591 metadata) taken from
/// `sent`; everything an admin decides (access preset, teams, consent,
/// introspection, lifetimes, CORS origins, refresh tokens) kept from `current`.
pub fn merge_client_owned(current: &ClientMetadata, sent: &ClientMetadata) -> ClientMetadata {
    let mut md = current.clone();
    md.client_name = sent.client_name.clone();
    md.client_uri = sent.client_uri.clone();
    md.logo_uri = sent.logo_uri.clone();
    md.tos_uri = sent.tos_uri.clone();
    md.policy_uri = sent.policy_uri.clone();
    md.software_id = sent.software_id.clone();
    md.software_version = sent.software_version.clone();
    md.contacts = sent.contacts.clone();
    md.redirect_uris = sent.redirect_uris.clone();
    md.grant_types = sent.grant_types.clone();
    md.response_types = sent.response_types.clone();
    md.scopes = sent.scopes.clone();
    md.token_endpoint_auth_method = sent.token_endpoint_auth_method;
    md
}
