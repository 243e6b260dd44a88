//! First-start provisioning: the default clients and the first admin
//! user, each registered once. A default is provisioned when its id was never used, so
//! a restart does nothing and a deleted default stays deleted.

use std::path::Path;

use authlog_events::{
    AccessPreset, ClientMetadata, GrantType, RegistrationType, Role, TeamSelection,
    TokenEndpointAuthMethod,
};
use thiserror::Error;

use crate::commands::clients::{RegisterClient, UpdateClient};
use crate::commands::keys::RotateSigningKeys;
use crate::commands::users::CreateUser;
use crate::commands::EventContext;
use crate::passwords;
use crate::scopes::API_SCOPES;
use crate::secrets::{self, SecretKind, ServerKey};
use crate::state::AppState;
use crate::writer::WriteError;

/// The admin client's id.
pub const ADMIN_CLIENT_ID: &str = "authlog-admin";
/// File (in the data directory) holding a generated admin secret.
pub const ADMIN_SECRET_FILE: &str = "bootstrap-admin-secret";
/// The CLI's client id (public, device flow).
pub const CLI_CLIENT_ID: &str = "authlog-cli";
/// The console's client id (public, code + PKCE; redirects to the
/// console's callback under the issuer, or a loopback one).
pub const CONSOLE_CLIENT_ID: &str = "authlog-console";
/// The first admin user's name.
pub const ADMIN_USERNAME: &str = "admin";
/// File (in the data directory) holding a generated admin password.
pub const ADMIN_PASSWORD_FILE: &str = "bootstrap-admin-password";

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
    /// The log refused the first signing keys.
    #[error("cannot provision the signing keys: {0}")]
    Keys(#[source] WriteError),
    /// The read models are unavailable.
    #[error(transparent)]
    Unreadable(#[from] crate::state::Unreadable),
    /// Data keys no connection uses could not be destroyed.
    #[error("cannot sweep the vault's key store")]
    Vault(#[source] crate::vault::VaultError),
}

/// The settings a default client starts from: the admin API's defaults,
/// public, with no grant until set.
fn base_metadata(name: &str) -> ClientMetadata {
    let mut md = crate::client_policy::default_metadata();
    md.client_name = name.to_owned();
    md.grant_types = vec![];
    md.response_types = vec![];
    md.token_endpoint_auth_method = TokenEndpointAuthMethod::None;
    md
}

/// A secret given in configuration, or a generated one written once to
/// `file` in the data directory (mode 0600).
fn given_or_generated(
    state: &AppState,
    given: Option<&str>,
    file: &str,
    what: &str,
) -> Result<String, BootstrapError> {
    if let Some(s) = given {
        return Ok(s.to_owned());
    }
    let secret = secrets::generate(state.entropy.as_ref(), SecretKind::ClientSecret);
    let path = state.config.data_dir.join(file);
    write_secret(&path, &secret)?;
    tracing::info!(path = %path.display(), "generated the {what}; it is in this file and will not be shown again");
    Ok(secret)
}

/// Provisions what was never provisioned: the `authlog-admin` client, the
/// `admin` user, `authlog-cli`, `authlog-console`, and an active and a next
/// signing key; then sweeps the vault's key store.
pub fn provision(state: &AppState, key: &ServerKey) -> Result<(), BootstrapError> {
    let user_scopes = || -> Vec<String> {
        let mut s: Vec<String> = API_SCOPES.iter().map(|s| s.to_string()).collect();
        s.extend(["profile".to_owned(), "email".to_owned()]);
        s
    };
    let (admin_client, cli, console, admin_user) = {
        let p = state.read()?;
        (
            p.registry.id_taken(ADMIN_CLIENT_ID),
            p.registry.id_taken(CLI_CLIENT_ID),
            p.registry.id_taken(CONSOLE_CLIENT_ID),
            p.users.by_username(ADMIN_USERNAME).is_some(),
        )
    };
    if !admin_client {
        let secret = given_or_generated(
            state,
            state.config.bootstrap_admin_secret.as_deref(),
            ADMIN_SECRET_FILE,
            "authlog-admin client secret",
        )?;
        let mut metadata = base_metadata("authlog admin");
        metadata.description = Some("Administration of authlog (client_credentials)".into());
        metadata.grant_types = vec![GrantType::ClientCredentials];
        metadata.scopes = API_SCOPES.iter().map(|s| s.to_string()).collect();
        metadata.token_endpoint_auth_method = TokenEndpointAuthMethod::ClientSecretBasic;
        metadata.access_preset = AccessPreset::Full;
        register(state, ADMIN_CLIENT_ID, metadata, Some(key.digest(&secret)))?;
    }
    if !admin_user {
        let password = given_or_generated(
            state,
            state.config.bootstrap_admin_password.as_deref(),
            ADMIN_PASSWORD_FILE,
            "admin user's password",
        )?;
        let writer = state
            .writer()
            .expect("provisioning runs after the writer started");
        writer
            .submit_blocking(CreateUser {
                username: ADMIN_USERNAME.into(),
                display_name: "Administrator".into(),
                email: None,
                password_digest: passwords::hash(state.entropy.as_ref(), &password),
                roles: vec![Role::Admin],
                teams: vec![],
                ctx: EventContext::system(),
            })
            .map_err(|source| BootstrapError::Write {
                client: ADMIN_USERNAME,
                source,
            })?;
    }
    if !cli {
        let mut metadata = base_metadata("authlog CLI");
        metadata.description = Some("The authlog command line (device flow)".into());
        metadata.grant_types = vec![GrantType::DeviceCode, GrantType::RefreshToken];
        metadata.scopes = user_scopes();
        metadata.access_preset = AccessPreset::Full;
        metadata.team_selection = TeamSelection::Multiple;
        metadata.refresh_token_enabled = true;
        metadata.refresh_token_ttl_seconds = 30 * 86_400;
        register(state, CLI_CLIENT_ID, metadata, None)?;
    }
    if !console {
        let mut metadata = base_metadata("authlog console");
        metadata.description = Some("The authlog console (authorization code + PKCE)".into());
        metadata.grant_types = vec![GrantType::AuthorizationCode, GrantType::RefreshToken];
        metadata.response_types = vec!["code".into()];
        metadata.redirect_uris = vec![
            console_callback(&state.config.issuer),
            "http://127.0.0.1/callback".into(),
            "http://[::1]/callback".into(),
        ];
        metadata.scopes = user_scopes();
        metadata.access_preset = AccessPreset::Full;
        metadata.team_selection = TeamSelection::Multiple;
        metadata.refresh_token_enabled = true;
        metadata.refresh_token_ttl_seconds = 7 * 86_400;
        register(state, CONSOLE_CLIENT_ID, metadata, None)?;
    } else {
        add_console_callback(state)?;
    }
    // The ES256 signing key and the next one, on a log that has none.
    state
        .writer()
        .expect("provisioning runs after the writer started")
        .submit_blocking(RotateSigningKeys {
            only_if_missing: true,
            alg: Some(crate::signing::ES256),
            ctx: EventContext::system(),
        })
        .map_err(BootstrapError::Keys)?;
    sweep_vault(state)
}

/// Destroys the data keys no connection uses: keys whose connection's end
/// committed before they could be deleted, and keys stored for a
/// connection that never committed. Runs on the replica that just took
/// the writer, before it takes writes.
fn sweep_vault(state: &AppState) -> Result<(), BootstrapError> {
    let projections = state.read()?;
    let swept = state
        .vault
        .sweep(|id| projections.upstream.key_in_use(id))
        .map_err(BootstrapError::Vault)?;
    if swept > 0 {
        tracing::info!(swept, "destroyed data keys no connection uses");
    }
    Ok(())
}

/// The console's redirect URI under `issuer`.
pub fn console_callback(issuer: &str) -> String {
    format!("{}/console/callback", issuer.trim_end_matches('/'))
}

/// A data dir provisioned before the console existed (or under another
/// issuer): its live `authlog-console` gains the callback under this
/// issuer, by an ordinary edit (`ClientUpdated`, attributed to the
/// system). A deleted console stays deleted.
fn add_console_callback(state: &AppState) -> Result<(), BootstrapError> {
    let callback = console_callback(&state.config.issuer);
    let current = {
        let p = state.read()?;
        p.registry.get(CONSOLE_CLIENT_ID).map(|c| {
            (
                c.version,
                c.confirm_high_risk,
                c.metadata.redirect_uris.contains(&callback),
            )
        })
    };
    let Some((version, confirmed, present)) = current else {
        return Ok(());
    };
    if present {
        return Ok(());
    }
    let writer = state
        .writer()
        .expect("provisioning runs after the writer started");
    let added = callback.clone();
    writer
        .submit_blocking(UpdateClient {
            client_id: CONSOLE_CLIENT_ID.to_owned(),
            edit: Box::new(move |current| {
                let mut md = current.clone();
                md.redirect_uris.insert(0, added.clone());
                Ok(md)
            }),
            confirm_high_risk: confirmed,
            access_token_format: None,
            oidc: Default::default(),
            expected_version: Some(version),
            by_client: false,
            ctx: EventContext::system(),
        })
        .map_err(|source| BootstrapError::Write {
            client: CONSOLE_CLIENT_ID,
            source,
        })?;
    tracing::info!(%callback, "added the console's callback to {CONSOLE_CLIENT_ID}");
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
            client_id: Some(client_id.to_owned()),
            registration_type: RegistrationType::Default,
            metadata,
            preset_secret: secret_digest,
            confirm_high_risk: false,
            access_token_format: Default::default(),
            oidc: Default::default(),
            ctx: EventContext::system(),
        })
        .map(|_| ())
        .map_err(|source| BootstrapError::Write {
            client: client_id,
            source,
        })
}
