//! The JSON shapes of a client in the admin API: the input accepted by
//! create and edit (RFC 7591 names where one exists), and the view returned
//! by every read.

use authlog_events::{AccessPreset, AccessTokenFormat, ClientMetadata, TeamSelection, Timestamp};
use authlog_projections::ClientRecord;
use serde::{Deserialize, Serialize};

use super::json_body::present;
use crate::client_policy::{
    self, auth_method_name, grant_type_name, parse_auth_method, parse_grant_type,
    registration_type_name, FieldError,
};
use crate::commands::clients::OidcEdit;

/// Create/edit input. Every field optional; unknown fields are refused.
/// `null` clears an optional text field on edit.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientInput {
    /// Given id (create only; immutable).
    pub client_id: Option<String>,
    /// Name.
    pub client_name: Option<String>,
    /// Description.
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
    /// Home page.
    #[serde(default, deserialize_with = "present")]
    pub client_uri: Option<Option<String>>,
    /// Logo.
    #[serde(default, deserialize_with = "present")]
    pub logo_uri: Option<Option<String>>,
    /// Redirect URIs.
    pub redirect_uris: Option<Vec<String>>,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// CORS origins.
    pub allowed_cors_origins: Option<Vec<String>>,
    /// Grant types.
    pub grant_types: Option<Vec<String>>,
    /// Response types.
    pub response_types: Option<Vec<String>>,
    /// Space-separated scopes.
    pub scope: Option<String>,
    /// Token endpoint auth method.
    pub token_endpoint_auth_method: Option<String>,
    /// `read_only` or `full`.
    pub access_preset: Option<String>,
    /// `single` or `multiple`.
    pub team_selection: Option<String>,
    /// Allowed teams.
    pub team_restrictions: Option<Vec<String>>,
    /// Always ask for consent.
    pub require_consent: Option<bool>,
    /// May introspect any token.
    pub introspection_allowed: Option<bool>,
    /// Access-token lifetime.
    pub access_token_ttl_seconds: Option<u32>,
    /// Issue refresh tokens.
    pub refresh_token_enabled: Option<bool>,
    /// Refresh-token lifetime.
    pub refresh_token_ttl_seconds: Option<u32>,
    /// Contacts.
    pub contacts: Option<Vec<String>>,
    /// Terms of service.
    #[serde(default, deserialize_with = "present")]
    pub tos_uri: Option<Option<String>>,
    /// Privacy policy.
    #[serde(default, deserialize_with = "present")]
    pub policy_uri: Option<Option<String>>,
    /// `opaque` (default) or `jwt` (RFC 9068) access tokens.
    pub access_token_format: Option<String>,
    /// `ES256` (default) or `RS256` ID tokens.
    pub id_token_signed_response_alg: Option<String>,
    /// Where logout tokens are posted (`null` removes it).
    #[serde(default, deserialize_with = "present")]
    pub backchannel_logout_uri: Option<Option<String>>,
    /// Whether the client needs `sid` in logout tokens.
    pub backchannel_logout_session_required: Option<bool>,
    /// RFC 7591 software id.
    #[serde(default, deserialize_with = "present")]
    pub software_id: Option<Option<String>>,
    /// RFC 7591 software version.
    #[serde(default, deserialize_with = "present")]
    pub software_version: Option<Option<String>>,
    /// Confirms a high-risk configuration.
    pub confirm_high_risk: Option<bool>,
}

fn set_text(target: &mut Option<String>, value: &Option<Option<String>>) {
    if let Some(v) = value {
        *target = v.clone().filter(|s| !s.is_empty());
    }
}

/// Parses `read_only` / `full`.
pub fn parse_preset(s: &str) -> Option<AccessPreset> {
    match s {
        "read_only" => Some(AccessPreset::ReadOnly),
        "full" => Some(AccessPreset::Full),
        _ => None,
    }
}

/// Names an access-token format.
pub fn token_format_name(f: AccessTokenFormat) -> &'static str {
    match f {
        AccessTokenFormat::Opaque => "opaque",
        AccessTokenFormat::Jwt => "jwt",
    }
}

impl ClientInput {
    /// The OpenID Connect settings asked for.
    pub fn oidc_edit(&self) -> Result<OidcEdit, FieldError> {
        client_policy::oidc_edit(
            self.id_token_signed_response_alg.as_deref(),
            self.backchannel_logout_uri.clone(),
            self.backchannel_logout_session_required,
        )
    }

    /// The access-token format asked for, if any.
    pub fn token_format(&self) -> Result<Option<AccessTokenFormat>, FieldError> {
        self.access_token_format
            .as_deref()
            .map(|f| match f {
                "opaque" => Ok(AccessTokenFormat::Opaque),
                "jwt" => Ok(AccessTokenFormat::Jwt),
                _ => Err(FieldError {
                    field: "access_token_format".into(),
                    message: "must be opaque or jwt".into(),
                }),
            })
            .transpose()
    }
}

/// Names an access preset.
pub fn preset_name(p: AccessPreset) -> &'static str {
    match p {
        AccessPreset::ReadOnly => "read_only",
        AccessPreset::Full => "full",
    }
}

impl ClientInput {
    /// Applies the given fields to `md` (create: onto defaults; edit: onto
    /// the current metadata). Enum values are parsed here; rules that span
    /// fields are `client_policy::validate`'s.
    pub fn apply(&self, md: &mut ClientMetadata) -> Result<(), FieldError> {
        if let Some(name) = &self.client_name {
            md.client_name = name.clone();
        }
        set_text(&mut md.description, &self.description);
        set_text(&mut md.client_uri, &self.client_uri);
        set_text(&mut md.logo_uri, &self.logo_uri);
        set_text(&mut md.tos_uri, &self.tos_uri);
        set_text(&mut md.policy_uri, &self.policy_uri);
        set_text(&mut md.software_id, &self.software_id);
        set_text(&mut md.software_version, &self.software_version);
        if let Some(v) = &self.redirect_uris {
            md.redirect_uris = v.clone();
        }
        if let Some(v) = &self.post_logout_redirect_uris {
            md.post_logout_redirect_uris = v.clone();
        }
        if let Some(v) = &self.allowed_cors_origins {
            md.allowed_cors_origins = v.clone();
        }
        if let Some(v) = &self.contacts {
            md.contacts = v.clone();
        }
        if let Some(v) = &self.team_restrictions {
            md.team_restrictions = v.clone();
        }
        if let Some(grants) = &self.grant_types {
            let mut parsed = Vec::with_capacity(grants.len());
            for g in grants {
                let grant = parse_grant_type(g).ok_or_else(|| {
                    FieldError::new(
                        "grant_types",
                        format!("{g:?} is not a supported grant type"),
                    )
                })?;
                if !parsed.contains(&grant) {
                    parsed.push(grant);
                }
            }
            md.grant_types = parsed;
            if self.response_types.is_none() {
                md.response_types = if md
                    .grant_types
                    .contains(&authlog_events::GrantType::AuthorizationCode)
                {
                    vec!["code".into()]
                } else {
                    vec![]
                };
            }
        }
        if let Some(v) = &self.response_types {
            md.response_types = v.clone();
        }
        if let Some(scope) = &self.scope {
            md.scopes = if scope.is_empty() {
                vec![]
            } else {
                client_policy::parse_scope(scope).map_err(|m| FieldError::new("scope", m))?
            };
        }
        if let Some(m) = &self.token_endpoint_auth_method {
            md.token_endpoint_auth_method = parse_auth_method(m).ok_or_else(|| {
                FieldError::new(
                    "token_endpoint_auth_method",
                    format!("{m:?} is not one of none, client_secret_basic, client_secret_post"),
                )
            })?;
        }
        if let Some(p) = &self.access_preset {
            md.access_preset = parse_preset(p).ok_or_else(|| {
                FieldError::new(
                    "access_preset",
                    format!("{p:?} is not one of read_only, full"),
                )
            })?;
        }
        if let Some(t) = &self.team_selection {
            md.team_selection = match t.as_str() {
                "single" => TeamSelection::Single,
                "multiple" => TeamSelection::Multiple,
                _ => {
                    return Err(FieldError::new(
                        "team_selection",
                        format!("{t:?} is not one of single, multiple"),
                    ))
                }
            };
        }
        if let Some(v) = self.require_consent {
            md.require_consent = v;
        }
        if let Some(v) = self.introspection_allowed {
            md.introspection_allowed = v;
        }
        if let Some(v) = self.access_token_ttl_seconds {
            md.access_token_ttl_seconds = v;
        }
        if let Some(v) = self.refresh_token_enabled {
            md.refresh_token_enabled = v;
        }
        if let Some(v) = self.refresh_token_ttl_seconds {
            md.refresh_token_ttl_seconds = v;
        }
        Ok(())
    }
}

/// A client as the admin API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClientView {
    /// Id.
    pub client_id: String,
    /// Name.
    pub client_name: String,
    /// Description.
    pub description: Option<String>,
    /// Home page.
    pub client_uri: Option<String>,
    /// Logo.
    pub logo_uri: Option<String>,
    /// Redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// CORS origins.
    pub allowed_cors_origins: Vec<String>,
    /// Grant types.
    pub grant_types: Vec<&'static str>,
    /// Response types.
    pub response_types: Vec<String>,
    /// Space-separated scopes.
    pub scope: String,
    /// Token endpoint auth method.
    pub token_endpoint_auth_method: &'static str,
    /// How it registered.
    pub registration_type: &'static str,
    /// `active` or `paused`.
    pub status: &'static str,
    /// `read_only` or `full`.
    pub access_preset: &'static str,
    /// `single` or `multiple`.
    pub team_selection: &'static str,
    /// Allowed teams (empty = all).
    pub team_restrictions: Vec<String>,
    /// Always ask for consent.
    pub require_consent: bool,
    /// May introspect any token.
    pub introspection_allowed: bool,
    /// Access-token lifetime.
    pub access_token_ttl_seconds: u32,
    /// Refresh tokens issued.
    pub refresh_token_enabled: bool,
    /// Refresh-token lifetime.
    pub refresh_token_ttl_seconds: u32,
    /// Contacts.
    pub contacts: Vec<String>,
    /// Terms of service.
    pub tos_uri: Option<String>,
    /// Privacy policy.
    pub policy_uri: Option<String>,
    /// Software id.
    pub software_id: Option<String>,
    /// Software version.
    pub software_version: Option<String>,
    /// Whether the high-risk configuration was confirmed.
    pub confirm_high_risk: bool,
    /// `opaque` or `jwt`.
    pub access_token_format: &'static str,
    /// `ES256` or `RS256`.
    pub id_token_signed_response_alg: &'static str,
    /// Where logout tokens are posted.
    pub backchannel_logout_uri: Option<String>,
    /// Whether logout tokens must carry `sid` (they always do).
    pub backchannel_logout_session_required: bool,
    /// When the previous secret stops working, during a rotation grace period.
    pub previous_secret_expires_at: Option<String>,
    /// Registration time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Stream version (also the `ETag`).
    pub version: u64,
    /// Unexpired, unrevoked tokens now.
    pub active_token_count: u64,
}

impl ClientView {
    /// The view of `c` with its active token count at `now`.
    pub fn of(c: &ClientRecord, active_token_count: u64, now: Timestamp) -> Self {
        let md = &c.metadata;
        ClientView {
            client_id: c.client_id.clone(),
            client_name: md.client_name.clone(),
            description: md.description.clone(),
            client_uri: md.client_uri.clone(),
            logo_uri: md.logo_uri.clone(),
            redirect_uris: md.redirect_uris.clone(),
            post_logout_redirect_uris: md.post_logout_redirect_uris.clone(),
            allowed_cors_origins: md.allowed_cors_origins.clone(),
            grant_types: md.grant_types.iter().map(|g| grant_type_name(*g)).collect(),
            response_types: md.response_types.clone(),
            scope: md.scopes.join(" "),
            token_endpoint_auth_method: auth_method_name(md.token_endpoint_auth_method),
            registration_type: registration_type_name(c.registration_type),
            status: c.status.as_str(),
            access_preset: preset_name(md.access_preset),
            team_selection: match md.team_selection {
                TeamSelection::Single => "single",
                TeamSelection::Multiple => "multiple",
            },
            team_restrictions: md.team_restrictions.clone(),
            require_consent: md.require_consent,
            introspection_allowed: md.introspection_allowed,
            access_token_ttl_seconds: md.access_token_ttl_seconds,
            refresh_token_enabled: md.refresh_token_enabled,
            refresh_token_ttl_seconds: md.refresh_token_ttl_seconds,
            contacts: md.contacts.clone(),
            tos_uri: md.tos_uri.clone(),
            policy_uri: md.policy_uri.clone(),
            software_id: md.software_id.clone(),
            software_version: md.software_version.clone(),
            confirm_high_risk: c.confirm_high_risk,
            access_token_format: token_format_name(c.access_token_format),
            id_token_signed_response_alg: c.oidc.id_token_signed_response_alg.as_str(),
            backchannel_logout_uri: c.oidc.backchannel_logout_uri.clone(),
            backchannel_logout_session_required: c.oidc.backchannel_logout_session_required,
            previous_secret_expires_at: c
                .previous_secret
                .filter(|(_, until)| now < *until)
                .map(|(_, until)| until.to_rfc3339()),
            created_at: c.created_at.to_rfc3339(),
            updated_at: c.updated_at.to_rfc3339(),
            version: c.version,
            active_token_count,
        }
    }
}
