//! The event catalogue, version 1: every fact authlog records. Variants and
//! fields are only ever added at the end (never reordered, renamed in the
//! encoding or reinterpreted), so every record ever written stays readable.
//! A change that cannot be expressed that way gets a new record format
//! version in `codec`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::time::Timestamp;

/// HMAC-SHA256 of a secret or token under the server key. The raw value is
/// never stored; this digest is what the log and projections hold.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct Digest(#[serde(with = "serde_bytes")] pub [u8; 32]);

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Short form: enough to tell digests apart in test output, never the
        // whole value in logs.
        write!(
            f,
            "Digest({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// How a client came to exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RegistrationType {
    /// RFC 7591 dynamic registration.
    Dynamic,
    /// Client ID Metadata Document (client_id is an HTTPS URL).
    Cimd,
    /// Created by an admin through the admin API.
    Preregistered,
    /// Provisioned by authlog itself on first start.
    Default,
}

/// What a client's access tokens look like.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AccessTokenFormat {
    /// A random opaque value (the default): only introspection says what
    /// it means, so a revocation takes effect at once everywhere.
    #[default]
    Opaque,
    /// An RFC 9068 JWT signed with the active signing key: resource
    /// servers can validate it alone, and see a revocation only at expiry.
    Jwt,
}

/// The JWS algorithm a client's ID tokens (and logout tokens) are signed
/// with: its `id_token_signed_response_alg`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlgorithm {
    /// ECDSA P-256 / SHA-256 (the default).
    #[default]
    Es256,
    /// RSASSA-PKCS1-v1_5 / SHA-256.
    Rs256,
}

impl SigningAlgorithm {
    /// The JWA name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::Es256 => "ES256",
            SigningAlgorithm::Rs256 => "RS256",
        }
    }
}

/// A client's OpenID Connect settings beyond its RFC 7591 metadata
/// (OpenID Connect Registration and Back-Channel Logout 1.0 names).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OidcSettings {
    /// `id_token_signed_response_alg`.
    pub id_token_signed_response_alg: SigningAlgorithm,
    /// `backchannel_logout_uri`: where logout tokens are posted.
    pub backchannel_logout_uri: Option<String>,
    /// `backchannel_logout_session_required`: logout tokens carry `sid`
    /// (they always do here; recorded as registered).
    pub backchannel_logout_session_required: bool,
}

/// RFC 7591 `token_endpoint_auth_method`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TokenEndpointAuthMethod {
    /// Public client: no secret.
    None,
    /// Secret in HTTP Basic.
    ClientSecretBasic,
    /// Secret in the form body.
    ClientSecretPost,
}

/// OAuth grant types authlog knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum GrantType {
    /// `authorization_code`
    AuthorizationCode,
    /// `refresh_token`
    RefreshToken,
    /// `client_credentials`
    ClientCredentials,
    /// `urn:ietf:params:oauth:grant-type:device_code`
    DeviceCode,
}

/// What a token may do on a user's behalf.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AccessPreset {
    /// Read-only access (the default).
    ReadOnly,
    /// Full access.
    Full,
}

/// Whether a user picks one team or several at consent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TeamSelection {
    /// Exactly one team.
    Single,
    /// One or more teams.
    Multiple,
}

/// A client's registered metadata, stored whole in `ClientRegistered` and
/// `ClientUpdated` so a fold never needs to merge partial edits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientMetadata {
    /// Human-readable name (RFC 7591 `client_name`).
    pub client_name: String,
    /// Free-text description.
    pub description: Option<String>,
    /// Home page (RFC 7591 `client_uri`).
    pub client_uri: Option<String>,
    /// Logo (RFC 7591 `logo_uri`).
    pub logo_uri: Option<String>,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Where to send the user after logout.
    pub post_logout_redirect_uris: Vec<String>,
    /// Origins allowed to call the token endpoint from a browser.
    pub allowed_cors_origins: Vec<String>,
    /// Grant types the client may use.
    pub grant_types: Vec<GrantType>,
    /// Response types (`code`).
    pub response_types: Vec<String>,
    /// Scopes the client may ask for.
    pub scopes: Vec<String>,
    /// How it authenticates at the token endpoint.
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// Read-only or full access on users' behalf.
    pub access_preset: AccessPreset,
    /// One team or several at consent.
    pub team_selection: TeamSelection,
    /// Teams the client may be granted (empty = all of the user's).
    pub team_restrictions: Vec<String>,
    /// Ask for consent every time.
    pub require_consent: bool,
    /// May introspect any token (resource servers).
    pub introspection_allowed: bool,
    /// Access-token lifetime.
    pub access_token_ttl_seconds: u32,
    /// Whether refresh tokens are issued.
    pub refresh_token_enabled: bool,
    /// Refresh-token lifetime.
    pub refresh_token_ttl_seconds: u32,
    /// Contacts (RFC 7591 `contacts`).
    pub contacts: Vec<String>,
    /// Terms of service (RFC 7591 `tos_uri`).
    pub tos_uri: Option<String>,
    /// Privacy policy (RFC 7591 `policy_uri`).
    pub policy_uri: Option<String>,
    /// RFC 7591 `software_id`.
    pub software_id: Option<String>,
    /// RFC 7591 `software_version`.
    pub software_version: Option<String>,
}

/// Access token or refresh token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TokenKind {
    /// Bearer access token (`alat_…`).
    Access,
    /// Refresh token (`alrt_…`).
    Refresh,
}

/// Why a token stopped being active before its expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RevocationReason {
    /// The client revoked it (RFC 7009).
    RevokedByClient,
    /// An admin revoked it.
    RevokedByAdmin,
    /// A refresh rotated it out.
    Rotated,
    /// A retired refresh token or a used code was presented again.
    ReuseDetected,
    /// Its client was paused.
    ClientPaused,
    /// Its client was deleted.
    ClientDeleted,
    /// Its user was disabled.
    UserDisabled,
    /// The user ended the session themselves.
    RevokedByUser,
}

/// What a `TokenRevoked` covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RevocationTarget {
    /// One token.
    Token(Uuid),
    /// Every token of a grant family (refresh chain, or all tokens from one code).
    Family(Uuid),
}

/// A user's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    /// Manages clients, users and tokens.
    Admin,
    /// Reads the audit trail.
    Auditor,
    /// Ordinary user.
    Member,
}

/// Why a login or a client authentication failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AuthFailure {
    /// No such user or client (indistinguishable to the caller).
    UnknownPrincipal,
    /// Wrong password or secret.
    BadCredentials,
    /// The user or client is disabled, paused or deleted.
    Inactive,
    /// Too many attempts.
    Throttled,
    /// Authentication method other than the registered one.
    WrongMethod,
}

/// Whose credentials an `AuthenticationFailures` summary counts.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FailedSubject {
    /// The client id presented at the token, introspection, revocation or
    /// device authorization endpoint (bounded to 256 characters).
    Client(String),
    /// Client ids past a summary's bound, together.
    OtherClients {
        /// How many distinct client ids.
        client_ids: u64,
    },
    /// Usernames that name no account, at the login form (never stored).
    UnknownUsernames,
}

/// An OAuth provider authlog is itself a client of (GitHub, Google, a
/// company's own authorization server), stored whole in each registration
/// and edit. Its client secret is not here: events carry it sealed beside.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamProvider {
    /// Display name (shown at consent: "let X use your {name} account").
    pub name: String,
    /// The issuer it was discovered from, if it was.
    pub issuer: Option<String>,
    /// Its authorization endpoint.
    pub authorization_url: String,
    /// Its token endpoint.
    pub token_url: String,
    /// Its RFC 7009 revocation endpoint.
    pub revocation_url: Option<String>,
    /// Its userinfo endpoint.
    pub userinfo_url: Option<String>,
    /// authlog's client id there.
    pub client_id: String,
    /// Scopes authlog asks it for.
    pub scopes: Vec<String>,
    /// Whether authlog sends a PKCE S256 challenge.
    pub pkce: bool,
    /// How authlog authenticates at its token endpoint.
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// Extra authorization request parameters, in order.
    pub authorization_params: Vec<(String, String)>,
    /// authlog clients that may exchange a user's token for this
    /// provider's (RFC 8693).
    pub allowed_clients: Vec<String>,
}

/// Why a user's connection to a provider ended. Every end destroys the
/// connection's data key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DisconnectReason {
    /// The user disconnected it.
    ByUser,
    /// An admin disconnected it.
    ByAdmin,
    /// The user connected again; this connection was replaced.
    Reconnected,
    /// The user was deleted.
    UserDeleted,
    /// The provider was deleted.
    ProviderDeleted,
}

/// Which step with a provider failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UpstreamStage {
    /// The authorization redirect came back with an error, or the code
    /// exchange failed.
    Connect,
    /// A refresh failed.
    Refresh,
    /// A token exchange found no usable connection.
    HandOff,
    /// Revoking the tokens at the provider on disconnect failed.
    Revoke,
}

/// Every event in the log (catalogue v1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    // --- clients ---
    /// A client came into existence.
    ClientRegistered {
        /// The client's id.
        client_id: String,
        /// How it registered.
        registration_type: RegistrationType,
        /// Its metadata.
        metadata: Box<ClientMetadata>,
        /// Digest of its secret, for confidential clients.
        secret_digest: Option<Digest>,
        /// Digest of the RFC 7592 registration access token, for dynamic clients.
        registration_access_token_digest: Option<Digest>,
        /// The admin confirmed a high-risk configuration.
        confirm_high_risk: bool,
    },
    /// A client's metadata changed (the whole new metadata).
    ClientUpdated {
        /// The client's id.
        client_id: String,
        /// Its new metadata.
        metadata: Box<ClientMetadata>,
        /// The admin confirmed a high-risk configuration.
        confirm_high_risk: bool,
    },
    /// A client got a new secret; the previous one is honoured until `previous_valid_until`.
    ClientSecretRotated {
        /// The client's id.
        client_id: String,
        /// Digest of the new secret.
        secret_digest: Digest,
        /// The old secret stops working at this instant.
        previous_valid_until: Timestamp,
    },
    /// A client was paused: no new tokens; its tokens are revoked by this event.
    ClientPaused {
        /// The client's id.
        client_id: String,
        /// How many active tokens this pause revoked.
        tokens_revoked: u64,
    },
    /// A paused client may get tokens again.
    ClientResumed {
        /// The client's id.
        client_id: String,
    },
    /// A client was deleted; its tokens and codes are revoked by this event.
    ClientDeleted {
        /// The client's id.
        client_id: String,
        /// How many active tokens this deletion revoked.
        tokens_revoked: u64,
        /// How many unredeemed codes and device authorizations it voided.
        codes_revoked: u64,
    },

    // --- grants and tokens ---
    /// An authorization code was issued.
    AuthorizationCodeIssued {
        /// Id of the code (its grant family when redeemed).
        code_id: Uuid,
        /// Digest of the code.
        code_digest: Digest,
        /// The client it was issued to.
        client_id: String,
        /// The user who authorized it.
        user_id: Uuid,
        /// The exact redirect URI of the request.
        redirect_uri: String,
        /// PKCE S256 challenge.
        code_challenge: String,
        /// Granted scopes.
        scopes: Vec<String>,
        /// RFC 8707 resource indicators.
        resources: Vec<String>,
        /// Teams the user granted.
        teams: Vec<String>,
        /// Access preset of the grant.
        access: AccessPreset,
        /// Expiry of the code.
        expires_at: Timestamp,
    },
    /// A code was exchanged for tokens.
    AuthorizationCodeRedeemed {
        /// Id of the code.
        code_id: Uuid,
        /// The client that redeemed it.
        client_id: String,
    },
    /// A device authorization request started (RFC 8628).
    DeviceAuthorizationStarted {
        /// Id of the device authorization.
        device_id: Uuid,
        /// Digest of the device code.
        device_code_digest: Digest,
        /// The user code shown to the user (short-lived, not a secret).
        user_code: String,
        /// The client polling for it.
        client_id: String,
        /// Requested scopes.
        scopes: Vec<String>,
        /// RFC 8707 resource indicators.
        resources: Vec<String>,
        /// Expiry.
        expires_at: Timestamp,
        /// Minimum polling interval.
        interval_seconds: u32,
    },
    /// The user approved a device authorization.
    DeviceAuthorizationApproved {
        /// Id of the device authorization.
        device_id: Uuid,
        /// The client.
        client_id: String,
        /// The approving user.
        user_id: Uuid,
        /// Granted scopes.
        scopes: Vec<String>,
        /// Teams the user granted.
        teams: Vec<String>,
        /// Access preset of the grant.
        access: AccessPreset,
    },
    /// The user denied a device authorization.
    DeviceAuthorizationDenied {
        /// Id of the device authorization.
        device_id: Uuid,
        /// The client.
        client_id: String,
        /// The denying user.
        user_id: Uuid,
    },
    /// A token was issued.
    TokenIssued {
        /// Token id (`jti`).
        token_id: Uuid,
        /// Access or refresh.
        kind: TokenKind,
        /// Digest of the token value.
        digest: Digest,
        /// The client it was issued to.
        client_id: String,
        /// The user it acts for (none for client_credentials).
        subject: Option<Uuid>,
        /// Granted scopes.
        scopes: Vec<String>,
        /// Audience / RFC 8707 resources.
        audience: Vec<String>,
        /// Teams granted.
        teams: Vec<String>,
        /// Access preset.
        access: AccessPreset,
        /// Issue time.
        issued_at: Timestamp,
        /// Expiry.
        expires_at: Timestamp,
        /// Grant family (refresh chain / code) it belongs to.
        family_id: Uuid,
        /// How it was obtained.
        grant_type: GrantType,
        /// The refresh token it was rotated from, if any.
        parent_id: Option<Uuid>,
    },
    /// A token, or a whole grant family, was revoked.
    TokenRevoked {
        /// What is revoked.
        target: RevocationTarget,
        /// The client the tokens belong to.
        client_id: String,
        /// Why.
        reason: RevocationReason,
        /// How many active tokens this revoked.
        tokens_revoked: u64,
    },
    /// All tokens of one client revoked at once.
    ClientTokensRevoked {
        /// The client.
        client_id: String,
        /// Why.
        reason: RevocationReason,
        /// How many active tokens this revoked.
        tokens_revoked: u64,
    },
    /// Coarse "last used" summary: written at most about once a minute, not per request.
    TokensUsed {
        /// (token id, last use) pairs.
        uses: Vec<(Uuid, Timestamp)>,
    },
    /// A client failed to authenticate (wrong secret, unknown client, ...).
    ClientAuthenticationFailed {
        /// The client id presented.
        client_id: String,
        /// What went wrong.
        reason: AuthFailure,
    },

    // --- users ---
    /// A user was created.
    UserCreated {
        /// User id.
        user_id: Uuid,
        /// Login name.
        username: String,
        /// Display name.
        display_name: String,
        /// Email.
        email: Option<String>,
        /// Argon2id PHC string of the password (never the password).
        password_digest: String,
        /// Roles.
        roles: Vec<Role>,
        /// Teams.
        teams: Vec<String>,
    },
    /// A user's profile changed (the whole new profile).
    UserUpdated {
        /// User id.
        user_id: Uuid,
        /// Display name.
        display_name: String,
        /// Email.
        email: Option<String>,
        /// New password digest, when the password changed.
        password_digest: Option<String>,
        /// Roles.
        roles: Vec<Role>,
        /// Teams.
        teams: Vec<String>,
    },
    /// A user was disabled; all their tokens are revoked by this event.
    UserDisabled {
        /// User id.
        user_id: Uuid,
        /// How many active tokens this revoked.
        tokens_revoked: u64,
    },
    /// A user consented to a client.
    ConsentGranted {
        /// User id.
        user_id: Uuid,
        /// Client id.
        client_id: String,
        /// Scopes consented to.
        scopes: Vec<String>,
        /// Teams chosen.
        teams: Vec<String>,
        /// Access preset.
        access: AccessPreset,
    },
    /// A user withdrew consent.
    ConsentRevoked {
        /// User id.
        user_id: Uuid,
        /// Client id.
        client_id: String,
    },
    /// A user logged in.
    LoginSucceeded {
        /// User id.
        user_id: Uuid,
    },
    /// A login failed.
    LoginFailed {
        /// The username given (as typed, bounded in length).
        username: String,
        /// Why.
        reason: AuthFailure,
    },
    /// Failed authentications of one subject over a period, counted in
    /// memory and appended as one summary per flush instead of one event
    /// per failure, so refusals cannot grow the log past a fixed rate.
    AuthenticationFailures {
        /// Whose credentials failed.
        subject: FailedSubject,
        /// Failures in the period.
        failures: u64,
        /// Of them, how many were answered 429 (over an address's budget).
        throttled: u64,
        /// Failures by reason.
        reasons: Vec<(AuthFailure, u64)>,
        /// The busiest source addresses (IPv4, or IPv6 /64) with their
        /// failures, at most 8; the rest came from others.
        addresses: Vec<(String, u64)>,
        /// First failure of the period.
        first: Timestamp,
        /// Last failure of the period.
        last: Timestamp,
    },
    /// A signing key for ID tokens and JWT access tokens was made. It is
    /// published in the JWKS from now on, and signs only once activated.
    SigningKeyCreated {
        /// Its key id (`kid`).
        kid: String,
        /// JWS algorithm (`ES256`, `RS256`).
        alg: String,
        /// The public key as a JWK (JSON text, with `kid`, `alg`, `use`).
        public_jwk: String,
        /// The private key (PKCS#8 DER) sealed with XChaCha20-Poly1305
        /// under a key derived from the server key: nonce (24 bytes) ‖
        /// ciphertext, the `kid` as associated data. Never in the clear.
        #[serde(with = "serde_bytes")]
        sealed_private_key: Vec<u8>,
    },
    /// The key that signs from now on (the one before it is retired in the
    /// same commit).
    SigningKeyActivated {
        /// Its key id.
        kid: String,
    },
    /// A key signs no more; it stays published until every token it
    /// signed has expired.
    SigningKeyRetired {
        /// Its key id.
        kid: String,
        /// When it leaves the JWKS.
        unpublish_at: Timestamp,
    },
    /// How the user of an OpenID Connect grant signed in, for its ID
    /// tokens: appended with the authorization code (or the device
    /// approval) when `openid` is granted, on the grant's stream.
    SignInContext {
        /// The grant family (the code's or the device authorization's id).
        family_id: Uuid,
        /// The authorization request's `nonce`, echoed in the first ID token.
        nonce: Option<String>,
        /// When the user authenticated (`auth_time`).
        auth_time: Timestamp,
        /// The browser session (`sid`).
        session_id: String,
        /// How (`amr`, RFC 8176: `pwd`).
        amr: Vec<String>,
        /// Until when the grant can yield ID tokens (its refresh tokens'
        /// longest life); forgotten after.
        until: Timestamp,
    },
    /// A browser session ended at the user's or a relying party's request
    /// (OpenID Connect RP-Initiated Logout): its cookie is refused from now
    /// on, wherever a copy of it is.
    UserLoggedOut {
        /// The user.
        user_id: Uuid,
        /// The session (`sid`).
        session_id: String,
        /// The relying party that asked, if one did.
        client_id: Option<String>,
        /// When the session would have expired (it is forgotten after).
        session_expires: Timestamp,
    },
    /// A client's access-token format changed (registered with, or edited
    /// to, a format other than the default opaque one).
    ClientAccessTokenFormatSet {
        /// The client.
        client_id: String,
        /// From now on.
        format: AccessTokenFormat,
    },
    /// A client's OpenID Connect settings changed (registered with, or
    /// edited to, other than the defaults).
    ClientOidcSettingsSet {
        /// The client.
        client_id: String,
        /// From now on.
        settings: OidcSettings,
    },
    /// An upstream provider was registered.
    UpstreamProviderRegistered {
        /// Its id (in `/connect/{id}` and the scope `upstream:{id}`).
        provider_id: String,
        /// Its configuration.
        provider: Box<UpstreamProvider>,
        /// authlog's client secret there, sealed with XChaCha20-Poly1305
        /// under the vault key (nonce ‖ ciphertext, the provider id as
        /// associated data); none for a public client.
        sealed_client_secret: Option<Vec<u8>>,
    },
    /// An upstream provider changed (the whole new configuration).
    UpstreamProviderUpdated {
        /// Its id.
        provider_id: String,
        /// Its configuration.
        provider: Box<UpstreamProvider>,
        /// The client secret from now on, sealed as at registration.
        sealed_client_secret: Option<Vec<u8>>,
    },
    /// An upstream provider was deleted (its connections end in the same
    /// commit, each with its own `UpstreamDisconnected`).
    UpstreamProviderDeleted {
        /// Its id.
        provider_id: String,
    },
    /// A user connected a provider: its tokens, sealed under a new data
    /// key of the user's that lives only in the vault's key store.
    UpstreamConnected {
        /// The user.
        user_id: Uuid,
        /// The provider.
        provider_id: String,
        /// The data key (in the key store, wrapped by the vault key).
        key_id: Uuid,
        /// The token response, sealed under the data key.
        #[serde(with = "serde_bytes")]
        sealed_tokens: Vec<u8>,
        /// When the upstream access token expires, if it said.
        expires_at: Option<Timestamp>,
        /// The scopes the provider granted.
        scopes: Vec<String>,
    },
    /// A connection's tokens were refreshed (sealed under the same data key).
    UpstreamTokensRefreshed {
        /// The user.
        user_id: Uuid,
        /// The provider.
        provider_id: String,
        /// The data key.
        key_id: Uuid,
        /// The new token response, sealed under the data key.
        #[serde(with = "serde_bytes")]
        sealed_tokens: Vec<u8>,
        /// When the new access token expires, if it said.
        expires_at: Option<Timestamp>,
        /// The scopes the provider granted.
        scopes: Vec<String>,
    },
    /// A step with a provider failed; a refresh the provider refused
    /// leaves the connection needing a reconnect.
    UpstreamFailed {
        /// The user.
        user_id: Uuid,
        /// The provider.
        provider_id: String,
        /// Which step.
        stage: UpstreamStage,
        /// What went wrong (the provider's error code and description, or
        /// why it could not be reached); never a token.
        reason: String,
        /// The connection must be made again.
        needs_reconnect: bool,
    },
    /// A client got a user's upstream access token by token exchange.
    UpstreamTokenHandedOff {
        /// The user.
        user_id: Uuid,
        /// The provider.
        provider_id: String,
        /// The client that got it.
        client_id: String,
        /// When the token handed out expires, if known.
        expires_at: Option<Timestamp>,
    },
    /// A connection ended and its data key was destroyed: every token
    /// sealed under it, in this log, is unreadable from now on.
    UpstreamDisconnected {
        /// The user.
        user_id: Uuid,
        /// The provider.
        provider_id: String,
        /// The destroyed data key.
        key_id: Uuid,
        /// Why.
        reason: DisconnectReason,
    },
    /// A user was deleted (after a `UserDisabled` in the same commit that
    /// revoked their tokens, and the end of each of their connections).
    UserDeleted {
        /// The user.
        user_id: Uuid,
    },
}

impl Event {
    /// The variant name, as shown to auditors and used as the `type` filter.
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::ClientRegistered { .. } => "ClientRegistered",
            Event::ClientUpdated { .. } => "ClientUpdated",
            Event::ClientSecretRotated { .. } => "ClientSecretRotated",
            Event::ClientPaused { .. } => "ClientPaused",
            Event::ClientResumed { .. } => "ClientResumed",
            Event::ClientDeleted { .. } => "ClientDeleted",
            Event::AuthorizationCodeIssued { .. } => "AuthorizationCodeIssued",
            Event::AuthorizationCodeRedeemed { .. } => "AuthorizationCodeRedeemed",
            Event::DeviceAuthorizationStarted { .. } => "DeviceAuthorizationStarted",
            Event::DeviceAuthorizationApproved { .. } => "DeviceAuthorizationApproved",
            Event::DeviceAuthorizationDenied { .. } => "DeviceAuthorizationDenied",
            Event::TokenIssued { .. } => "TokenIssued",
            Event::TokenRevoked { .. } => "TokenRevoked",
            Event::ClientTokensRevoked { .. } => "ClientTokensRevoked",
            Event::TokensUsed { .. } => "TokensUsed",
            Event::ClientAuthenticationFailed { .. } => "ClientAuthenticationFailed",
            Event::UserCreated { .. } => "UserCreated",
            Event::UserUpdated { .. } => "UserUpdated",
            Event::UserDisabled { .. } => "UserDisabled",
            Event::ConsentGranted { .. } => "ConsentGranted",
            Event::ConsentRevoked { .. } => "ConsentRevoked",
            Event::LoginSucceeded { .. } => "LoginSucceeded",
            Event::LoginFailed { .. } => "LoginFailed",
            Event::AuthenticationFailures { .. } => "AuthenticationFailures",
            Event::SigningKeyCreated { .. } => "SigningKeyCreated",
            Event::SigningKeyActivated { .. } => "SigningKeyActivated",
            Event::SigningKeyRetired { .. } => "SigningKeyRetired",
            Event::SignInContext { .. } => "SignInContext",
            Event::UserLoggedOut { .. } => "UserLoggedOut",
            Event::ClientAccessTokenFormatSet { .. } => "ClientAccessTokenFormatSet",
            Event::ClientOidcSettingsSet { .. } => "ClientOidcSettingsSet",
            Event::UpstreamProviderRegistered { .. } => "UpstreamProviderRegistered",
            Event::UpstreamProviderUpdated { .. } => "UpstreamProviderUpdated",
            Event::UpstreamProviderDeleted { .. } => "UpstreamProviderDeleted",
            Event::UpstreamConnected { .. } => "UpstreamConnected",
            Event::UpstreamTokensRefreshed { .. } => "UpstreamTokensRefreshed",
            Event::UpstreamFailed { .. } => "UpstreamFailed",
            Event::UpstreamTokenHandedOff { .. } => "UpstreamTokenHandedOff",
            Event::UpstreamDisconnected { .. } => "UpstreamDisconnected",
            Event::UserDeleted { .. } => "UserDeleted",
        }
    }

    /// Every variant name in catalogue order.
    pub const TYPE_NAMES: [&'static str; 40] = [
        "ClientRegistered",
        "ClientUpdated",
        "ClientSecretRotated",
        "ClientPaused",
        "ClientResumed",
        "ClientDeleted",
        "AuthorizationCodeIssued",
        "AuthorizationCodeRedeemed",
        "DeviceAuthorizationStarted",
        "DeviceAuthorizationApproved",
        "DeviceAuthorizationDenied",
        "TokenIssued",
        "TokenRevoked",
        "ClientTokensRevoked",
        "TokensUsed",
        "ClientAuthenticationFailed",
        "UserCreated",
        "UserUpdated",
        "UserDisabled",
        "ConsentGranted",
        "ConsentRevoked",
        "LoginSucceeded",
        "LoginFailed",
        "AuthenticationFailures",
        "SigningKeyCreated",
        "SigningKeyActivated",
        "SigningKeyRetired",
        "SignInContext",
        "UserLoggedOut",
        "ClientAccessTokenFormatSet",
        "ClientOidcSettingsSet",
        "UpstreamProviderRegistered",
        "UpstreamProviderUpdated",
        "UpstreamProviderDeleted",
        "UpstreamConnected",
        "UpstreamTokensRefreshed",
        "UpstreamFailed",
        "UpstreamTokenHandedOff",
        "UpstreamDisconnected",
        "UserDeleted",
    ];
}
