//! First-start provisioning: the default clients authlog needs, each
//! registered once. A default is provisioned when its id was never used, so
//! a restart does nothing and a deleted default stays deleted.

use std::path::Path;

use authlog_events::{
    AccessPreset, ClientMetadata, GrantType, RegistrationType, TeamSelection,
    TokenEndpointAuthMethod,
};
use thiserror::Error;

use crate::commands::clients::RegisterClient;
use crate::commands::EventContext;
use crate::secrets::{self, SecretKind, ServerKey};
use crate::state::AppState;
use crate::writer::WriteError;

/// The admin client's id.
pub const ADMIN_CLIENT_ID: &str = "authlog-admin";
/// File (in the data directory) holding a generated admin secret.
pub const ADMIN_SECRET_FILE: &str = "bootstrap-admin-secret";
/// Every scope of the admin API.
pub const ADMIN_SCOPES: [&str; 4] = [
    "clients:read",
    "clients:write",
    "tokens:revoke",
    "audit:read",
];

/// Provisioning failed; the server does not start.
#[derive(Debug, Error)]
pub enum BootstrapError {
    /// The secret file could not be written.
    #[error("cannot write {path}: {source}")]
    SecretFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The log refused the registration.
    #[error("cannot register {client}: {source}")]
    Write {
        /// The client.
        client: &'static str,
        /// Why.
        source: WriteError,
    },
}

/// The settings a default client starts from.
fn base_metadata(name: &str) -> ClientMetadata {
    ClientMetadata {
        client_name: name.to_owned(),
        description: None,
        client_uri: None,
        logo_uri: None,
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        allowed_cors_origins: vec![],
        grant_types: vec![],
        response_types: vec![],
        scopes: vec![],
        token_endpoint_auth_method: TokenEndpointAuthMethod::None,
        access_preset: AccessPreset::ReadOnly,
        team_selection: TeamSelection::Single,
        team_restrictions: vec![],
        require_consent: false,
        introspection_allowed: false,
        access_token_ttl_seconds: 3600,
        refresh_token_enabled: false,
        refresh_token_ttl_seconds: 604_800,
        contacts: vec![],
        tos_uri: None,
        policy_uri: None,
        software_id: None,
        software_version: None,
    }
}

/// Registers the default clients that were never registered.
/// `admin_secret` comes from `AUTHLOG_BOOTSTRAP_ADMIN_SECRET` when set.
pub fn provision(
    state: &AppState,
    key: &ServerKey,
    admin_secret: Option<&str>,
) -> Result<(), BootstrapError> {
    let taken = state.read().registry.id_taken(ADMIN_CLIENT_ID);
    if !taken {
        let secret = match admin_secret {
            Some(s) => s.to_owned(),
            None => {
                let secret = secrets::generate(SecretKind::ClientSecret);
                let path = state.config.data_dir.join(ADMIN_SECRET_FILE);
                write_secret(&path, &secret)?;
                tracing::info!(path = %path.display(), "generated the authlog-admin client secret; it is in this file and will not be shown again");
                secret
            }
        };
        let mut metadata = base_metadata("authlog admin");
        metadata.description = Some("Administration of authlog (client_credentials)".into());
        metadata.grant_types = vec![GrantType::ClientCredentials];
        metadata.scopes = ADMIN_SCOPES.iter().map(|s| s.to_string()).collect();
        metadata.token_endpoint_auth_method = TokenEndpointAuthMethod::ClientSecretBasic;
        metadata.access_preset = AccessPreset::Full;
        register(state, ADMIN_CLIENT_ID, metadata, Some(key.digest(&secret)))?;
    }
    Ok(())
}

fn write_secret(path: &Path, secret: &str) -> Result<(), BootstrapError> {
    // A file left by a start that died before registering is replaced: the
    // client was not registered, so the old secret never worked.
    let _ = std::fs::remove_file(path);
    secrets::write_private_file(path, format!("{secret}\n").as_bytes()).map_err(|source| {
        BootstrapError::SecretFile {
            path: path.display().to_string(),
            source,
        }
    })
}

fn register(
    state: &AppState,
    client_id: &'static str,
    metadata: ClientMetadata,
    secret_digest: Option<authlog_events::Digest>,
) -> Result<(), BootstrapError> {
    let writer = state
        .writer()
        .expect("provisioning runs after the writer started");
    writer
        .submit_blocking(RegisterClient {
            client_id: client_id.to_owned(),
            registration_type: RegistrationType::Default,
            metadata,
            secret_digest,
            registration_access_token_digest: None,
            confirm_high_risk: false,
            ctx: EventContext::system(),
        })
        .map(|_| ())
        .map_err(|source| BootstrapError::Write {
            client: client_id,
            source,
        })
}
