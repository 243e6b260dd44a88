//! Schemas of the response bodies that handlers assemble as JSON values
//! (lists, counts, summaries) rather than serialize from a type, so that
//! the OpenAPI document can describe them. Each mirrors the `json!` of the
//! handler named on it; schemathesis in `.ci/run` checks every response
//! against these, so a shape that drifts fails CI.

#![allow(dead_code)]

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::audit::item::AuditItem;
use crate::http::client_json::ClientView;

/// An RFC 9457 problem document, the error shape of every `/api` route.
#[derive(Serialize, ToSchema)]
pub struct Problem {
    /// A stable URN naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its short title.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, for a person.
    pub detail: String,
    /// The field at fault, for validation problems.
    pub field: Option<String>,
}

/// An OAuth error (RFC 6749 §5.2, RFC 7591 §3.2.2): the error shape of
/// the registration endpoints.
#[derive(Serialize, ToSchema)]
pub struct OAuthErrorBody {
    /// The error code.
    pub error: String,
    /// What went wrong, for a person.
    pub error_description: Option<String>,
}

/// `POST /api/admin/oauth-clients`: the new client, its secret (shown
/// once) and any warnings.
#[derive(Serialize, ToSchema)]
pub struct CreatedClient {
    #[serde(flatten)]
    pub client: ClientView,
    /// The secret of a confidential client; never shown again.
    pub client_secret: Option<String>,
    /// Always 0: secrets do not expire.
    pub client_secret_expires_at: Option<i64>,
    /// Warnings about the configuration.
    pub warnings: Vec<String>,
}

/// `PATCH /api/admin/oauth-clients/{id}`: the client after the edit.
#[derive(Serialize, ToSchema)]
pub struct EditedClient {
    #[serde(flatten)]
    pub client: ClientView,
    /// Warnings about the configuration.
    pub warnings: Vec<String>,
}

/// A client now, or with `at`, as it was then.
#[derive(Serialize, ToSchema)]
pub struct ClientAsOf {
    #[serde(flatten)]
    pub client: ClientView,
    /// With `at`: the instant asked (UTC).
    #[schema(required = false)]
    pub at: Option<String>,
    /// With `at`: 1 for the registration secret, +1 per rotation (0: public client).
    #[schema(required = false)]
    pub secret_generation: Option<u64>,
    /// With `at`: tokens active then (equals `active_token_count`).
    #[schema(required = false)]
    pub active_tokens: Option<u64>,
}

/// A page of clients.
#[derive(Serialize, ToSchema)]
pub struct ClientPage {
    /// The clients on this page.
    pub items: Vec<ClientAsOf>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// `POST .../rotate-secret`: the new secret, shown once.
#[derive(Serialize, ToSchema)]
pub struct RotatedSecret {
    pub client_id: String,
    /// The new secret.
    pub client_secret: String,
    /// Always 0.
    pub client_secret_expires_at: i64,
    /// Until when the previous secret is still accepted.
    pub previous_secret_expires_at: Option<String>,
}

/// `POST .../rotate-secret` input.
#[derive(Serialize, ToSchema)]
pub struct RotateSecretInput {
    /// Seconds the previous secret stays valid (0 to 2,592,000; default 86,400).
    pub previous_secret_valid_for_seconds: Option<u64>,
}

/// `POST /api/admin/oauth-clients/bulk-delete` input.
#[derive(Serialize, ToSchema)]
pub struct BulkDeleteInput {
    /// 1 to 500 distinct client ids, deleted together or not at all.
    pub client_ids: Vec<String>,
}

/// How many clients were deleted.
#[derive(Serialize, ToSchema)]
pub struct Deleted {
    pub deleted: u64,
}

/// How many tokens were revoked.
#[derive(Serialize, ToSchema)]
pub struct Revoked {
    pub revoked: u64,
}

/// A token as the admin API shows it (never its value or digest).
#[derive(Serialize, ToSchema)]
pub struct TokenView {
    pub token_id: String,
    /// `access` or `refresh`.
    pub kind: String,
    pub client_id: String,
    /// The user the token acts for, if any.
    pub subject: Option<String>,
    pub scope: String,
    pub issued_at: String,
    pub expires_at: String,
    pub last_used_at: Option<String>,
    /// `read_only` or `full`.
    pub access: String,
    pub teams: Vec<String>,
    /// `active` or `revoked`.
    pub status: String,
    /// The subject's username (sessions views only).
    pub username: Option<String>,
}

/// A page of a client's active tokens.
#[derive(Serialize, ToSchema)]
pub struct TokenPage {
    pub items: Vec<TokenView>,
    pub next_cursor: Option<String>,
}

/// Active tokens of one client.
#[derive(Serialize, ToSchema)]
pub struct SessionGroup {
    pub client_id: String,
    pub client_name: Option<String>,
    pub active_tokens: u64,
    pub tokens: Vec<TokenView>,
}

/// Active tokens grouped by client.
#[derive(Serialize, ToSchema)]
pub struct SessionList {
    pub items: Vec<SessionGroup>,
}

/// A user (never the password digest).
#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    /// `admin`, `auditor` or `member`.
    pub roles: Vec<String>,
    pub teams: Vec<String>,
    pub disabled: bool,
    pub created_at: String,
    pub updated_at: String,
    pub version: u64,
    pub active_token_count: u64,
}

/// Users.
#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub items: Vec<UserView>,
}

/// Create or edit a user. Unknown fields are refused.
#[derive(Serialize, ToSchema)]
pub struct UserInput {
    /// Required on create; immutable.
    pub username: Option<String>,
    pub display_name: Option<String>,
    /// `null` removes it.
    pub email: Option<String>,
    /// Checked against the password policy; stored only as a digest.
    pub password: Option<String>,
    /// `admin`, `auditor` or `member`.
    pub roles: Option<Vec<String>>,
    pub teams: Option<Vec<String>>,
}

/// A signing key.
#[derive(Serialize, ToSchema)]
pub struct KeyView {
    pub kid: String,
    /// `ES256` or `RS256`.
    pub alg: String,
    /// `active`, `next` or `retired`.
    pub state: String,
    /// Whether the JWKS lists it now.
    pub published: bool,
    pub created_at: String,
    pub activated_at: Option<String>,
    pub retired_at: Option<String>,
    pub unpublish_at: Option<String>,
    /// The public key as a JWK.
    #[schema(value_type = Object)]
    pub public_jwk: Value,
}

/// Signing keys, newest first.
#[derive(Serialize, ToSchema)]
pub struct KeyList {
    pub items: Vec<KeyView>,
}

/// One algorithm's rotation.
#[derive(Serialize, ToSchema)]
pub struct Rotation {
    pub alg: String,
    /// The kid now signing.
    pub active: String,
    /// The kid retired, if any.
    pub retired: Option<String>,
    pub retired_unpublish_at: Option<String>,
    /// The kid published to sign next.
    pub next: String,
}

/// `POST /api/admin/keys/rotate`: the ES256 rotation, and every one.
#[derive(Serialize, ToSchema)]
pub struct Rotations {
    #[serde(flatten)]
    pub es256: Rotation,
    pub rotations: Vec<Rotation>,
}

/// A page of audit events, newest first.
#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditItem>,
    pub next_cursor: Option<String>,
}

/// How a client came to be.
#[derive(Serialize, ToSchema)]
pub struct RegistrationSummary {
    pub registration_type: String,
    pub client_name: String,
    pub at: String,
    pub actor: crate::audit::item::ActorView,
    pub position: u64,
}

/// A change of a client's status or settings.
#[derive(Serialize, ToSchema)]
pub struct StatusChange {
    pub change: String,
    pub at: String,
    pub actor: crate::audit::item::ActorView,
    pub position: u64,
}

/// Token counts of a client.
#[derive(Serialize, ToSchema)]
pub struct TokenCounts {
    pub issued: u64,
    pub refreshed: u64,
    pub revoked: u64,
    pub active_now: u64,
}

/// Everything a client did, summarised.
#[derive(Serialize, ToSchema)]
pub struct ClientAudit {
    pub client_id: String,
    pub client_name: Option<String>,
    /// `active`, `paused`, `deleted` or `unregistered`.
    pub status: String,
    pub registration: Option<RegistrationSummary>,
    pub status_history: Vec<StatusChange>,
    pub tokens: TokenCounts,
    pub failed_authentications: u64,
}

/// The log's head.
#[derive(Serialize, ToSchema)]
pub struct HeadView {
    pub position: u64,
    /// SHA-256, hex.
    pub hash: String,
}

/// Where the chain breaks.
#[derive(Serialize, ToSchema)]
pub struct BrokenView {
    pub position: u64,
    pub reason: String,
}

/// The chain walk's result.
#[derive(Serialize, ToSchema)]
pub struct VerifyView {
    pub intact: bool,
    pub records: u64,
    pub head: Option<HeadView>,
    pub broken: Option<BrokenView>,
}

/// Filters of the audit queries; each given one must hold.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Events attributed to this client.
    pub client_id: Option<String>,
    /// Caused by this principal: `user:ID`, `client:ID`, `system` or `anonymous`.
    pub actor: Option<String>,
    /// Event type (repeatable).
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// Recorded at or after (RFC 3339).
    pub since: Option<String>,
    /// Recorded strictly before (RFC 3339).
    pub until: Option<String>,
    /// Events of this stream.
    pub stream: Option<String>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<u32>,
}

/// Paging of the audit events query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditCursor {
    /// A `next_cursor` this API returned.
    pub cursor: Option<String>,
}

/// The export's format.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFormat {
    /// `ndjson` (default) or `csv`.
    pub format: Option<String>,
}

/// RFC 7591 §3.2.1 client information response: the metadata as
/// registered (members without a value omitted).
#[derive(Serialize, ToSchema)]
pub struct ClientInformation {
    pub client_id: String,
    pub client_id_issued_at: i64,
    pub client_name: String,
    pub redirect_uris: Vec<String>,
    pub token_endpoint_auth_method: String,
    pub grant_types: Vec<String>,
    pub response_types: Vec<String>,
    pub scope: String,
    #[schema(required = false)]
    pub client_uri: Option<String>,
    #[schema(required = false)]
    pub logo_uri: Option<String>,
    #[schema(required = false)]
    pub tos_uri: Option<String>,
    #[schema(required = false)]
    pub policy_uri: Option<String>,
    #[schema(required = false)]
    pub software_id: Option<String>,
    #[schema(required = false)]
    pub software_version: Option<String>,
    #[schema(required = false)]
    pub contacts: Option<Vec<String>>,
    pub id_token_signed_response_alg: String,
    #[schema(required = false)]
    pub backchannel_logout_uri: Option<String>,
    #[schema(required = false)]
    pub backchannel_logout_session_required: Option<bool>,
    /// Where RFC 7592 reads, updates and deletes it.
    pub registration_client_uri: String,
    /// The bearer token for those (registration only).
    #[schema(required = false)]
    pub registration_access_token: Option<String>,
    /// A confidential client's secret (registration only).
    #[schema(required = false)]
    pub client_secret: Option<String>,
    #[schema(required = false)]
    pub client_secret_expires_at: Option<i64>,
}

/// Register or edit an upstream provider. Unknown fields are refused;
/// an edit keeps the fields it does not send.
#[derive(Serialize, ToSchema)]
pub struct ProviderInput {
    /// Required on create: 1-64 of `a-z 0-9 - _`; immutable.
    pub id: Option<String>,
    pub name: Option<String>,
    /// Discover the endpoints not given from this issuer (RFC 8414, then
    /// OpenID Connect Discovery).
    pub issuer: Option<String>,
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
    pub revocation_url: Option<String>,
    pub userinfo_url: Option<String>,
    /// authlog's client id at the provider.
    pub client_id: Option<String>,
    /// Write-only: stored sealed under the vault key, never returned.
    pub client_secret: Option<String>,
    pub scopes: Option<Vec<String>>,
    /// Send PKCE S256 (default true).
    pub pkce: Option<bool>,
    /// `client_secret_basic` (default with a secret), `client_secret_post` or `none`.
    pub token_endpoint_auth_method: Option<String>,
    /// Extra authorization request parameters (string values).
    pub authorization_params: Option<BTreeMap<String, String>>,
    /// Clients that may exchange users' tokens for this provider's (RFC 8693).
    pub allowed_clients: Option<Vec<String>>,
}

/// A provider's connection counts.
#[derive(Serialize, ToSchema)]
pub struct ProviderConnections {
    pub active: u64,
    pub needs_reconnect: u64,
}

/// What happened with a provider.
#[derive(Serialize, ToSchema)]
pub struct ProviderActivity {
    pub connects: u64,
    pub refreshes: u64,
    pub handoffs: u64,
    /// Failures by step: `connect`, `refresh`, `hand_off`, `revoke`.
    pub failures: BTreeMap<String, u64>,
    pub disconnects: u64,
    pub last_activity: Option<String>,
}

/// An upstream provider (never its client secret).
#[derive(Serialize, ToSchema)]
pub struct ProviderView {
    pub id: String,
    pub name: String,
    pub issuer: Option<String>,
    pub authorization_url: String,
    pub token_url: String,
    pub revocation_url: Option<String>,
    pub userinfo_url: Option<String>,
    pub client_id: String,
    pub client_secret_set: bool,
    pub scopes: Vec<String>,
    pub pkce: bool,
    pub token_endpoint_auth_method: String,
    pub authorization_params: BTreeMap<String, String>,
    pub allowed_clients: Vec<String>,
    /// Register this redirect URI at the provider.
    pub callback_url: String,
    /// The scope a user grants a client to let it use this provider.
    pub scope: String,
    pub created_at: String,
    pub updated_at: String,
    pub version: u64,
    pub connections: ProviderConnections,
    pub activity: ProviderActivity,
}

/// Upstream providers.
#[derive(Serialize, ToSchema)]
pub struct ProviderList {
    pub items: Vec<ProviderView>,
}

/// The last hand-off of a connection's token.
#[derive(Serialize, ToSchema)]
pub struct HandOffView {
    pub client_id: String,
    pub at: String,
}

/// A user's connection to a provider (never a token).
#[derive(Serialize, ToSchema)]
pub struct ConnectionView {
    /// The provider id.
    pub id: String,
    pub provider_id: String,
    pub provider_name: Option<String>,
    pub user_id: String,
    pub username: Option<String>,
    /// `active` or `needs_reconnect`.
    pub status: String,
    /// Why it needs a reconnect.
    pub reason: Option<String>,
    pub scopes: Vec<String>,
    pub connected_at: String,
    pub refreshed_at: Option<String>,
    pub expires_at: Option<String>,
    pub last_handoff: Option<HandOffView>,
    /// Where to send the user to connect (again).
    pub connect_url: String,
}

/// Connections.
#[derive(Serialize, ToSchema)]
pub struct ConnectionList {
    pub items: Vec<ConnectionView>,
}
