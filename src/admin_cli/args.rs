//! The command-line shape of `authlog clients …` and `authlog tokens …`:
//! the connection flags both share and each subcommand's arguments.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, Subcommand};

/// Where the server listens by default (`config::DEFAULT_LISTEN`), as a URL.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// The client whose credentials are used when none is named.
pub const DEFAULT_CLIENT_ID: &str = "authlog-admin";

/// A secret from a flag or the environment; `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret received (an access token).
    pub fn new(text: impl Into<String>) -> Self {
        Secret(text.into())
    }

    /// The secret itself, for the request that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

/// How to reach a running server and prove the caller may administer it.
/// Flags win over the environment. Prefer the environment for secrets:
/// other users of the machine can read a process's flags.
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// Base URL of the running authlog server.
    #[arg(
        long,
        env = "AUTHLOG_URL",
        value_name = "URL",
        default_value = DEFAULT_URL,
        global = true
    )]
    pub url: String,
    /// A bearer access token holding the admin scope the command needs;
    /// used instead of client credentials.
    #[arg(
        long,
        env = "AUTHLOG_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<Secret>,
    /// The confidential client whose credentials get a client_credentials
    /// token (with only the scope the command needs).
    #[arg(
        long,
        env = "AUTHLOG_CLIENT_ID",
        value_name = "ID",
        default_value = DEFAULT_CLIENT_ID,
        global = true
    )]
    pub client_id: String,
    /// That client's secret.
    #[arg(
        long,
        env = "AUTHLOG_CLIENT_SECRET",
        value_name = "SECRET",
        hide_env_values = true,
        global = true
    )]
    pub client_secret: Option<Secret>,
    /// Print the server's JSON (pretty) instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// `authlog clients`: the admin client API.
#[derive(Debug, Args)]
pub struct ClientsArgs {
    /// Server and credentials.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: ClientsCommand,
}

/// A `clients` subcommand.
#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// List clients (every page), ordered by id.
    List(ListArgs),
    /// Show one client.
    Get {
        /// The client id.
        id: String,
    },
    /// Register a client; a confidential client's secret is printed once.
    Create(CreateArgs),
    /// Pause a client: its tokens stop working and it gets no new ones.
    Pause {
        /// The client id.
        id: String,
    },
    /// Resume a paused client.
    Resume {
        /// The client id.
        id: String,
    },
    /// Give a client a new secret (printed once); the old one keeps
    /// working for the grace period.
    Rotate {
        /// The client id.
        id: String,
        /// How long the previous secret keeps working, in seconds (server
        /// default 86400, at most 30 days; 0 ends it at once).
        #[arg(long, value_name = "SECONDS")]
        grace_seconds: Option<u64>,
    },
    /// Delete a client and revoke its tokens. Irreversible.
    Delete {
        /// The client id.
        id: String,
    },
}

/// `clients list` filters.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only clients with this status.
    #[arg(long, value_name = "STATUS", value_parser = ["active", "paused"])]
    pub status: Option<String>,
    /// Only clients whose id or name contains this text (any case).
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
}

/// `clients create` fields. Flags override the same fields of `--from-json`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// A JSON object in the admin API's create shape (`-`: standard input);
    /// the flags below override its fields.
    #[arg(long, value_name = "FILE")]
    pub from_json: Option<PathBuf>,
    /// The client id (default: the server draws a random one).
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// Display name (`client_name`); required unless the JSON has it.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Description.
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// A grant type (repeatable): client_credentials, authorization_code,
    /// refresh_token, urn:ietf:params:oauth:grant-type:device_code.
    #[arg(long = "grant-type", value_name = "GRANT")]
    pub grant_types: Vec<String>,
    /// A redirect URI (repeatable).
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// Space-separated scopes the client may ask for.
    #[arg(long, value_name = "SCOPES")]
    pub scope: Option<String>,
    /// A public client (`token_endpoint_auth_method` none): no secret.
    #[arg(long)]
    pub public: bool,
    /// Confirm a configuration the server calls high-risk.
    #[arg(long)]
    pub confirm_high_risk: bool,
}

/// `authlog tokens`: revoking (and finding) tokens.
#[derive(Debug, Args)]
pub struct TokensArgs {
    /// Server and credentials.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: TokensCommand,
}

/// A `tokens` subcommand.
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Revoke one token by id (with its refresh family), or with
    /// `--client ID --all` every token of a client.
    Revoke(RevokeArgs),
    /// List a client's active tokens (ids, scopes, expiry; never values).
    List {
        /// The client whose tokens to list.
        #[arg(long, value_name = "ID")]
        client: String,
    },
}

/// `tokens revoke` arguments: a token id, or a client and `--all`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The token id (`token_id` in `tokens list`, `jti` in introspection).
    #[arg(
        value_name = "TOKEN_ID",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub token_id: Option<String>,
    /// The client whose tokens `--all` revokes.
    #[arg(long, value_name = "ID", requires = "all")]
    pub client: Option<String>,
    /// Revoke every token of `--client`.
    #[arg(long, requires = "client")]
    pub all: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_url_is_the_default_listen_address() {
        assert_eq!(
            DEFAULT_URL,
            format!("http://{}", crate::config::DEFAULT_LISTEN)
        );
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let secret: Secret = "hunter2-very-secret".parse().unwrap();
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
