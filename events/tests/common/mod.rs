//! Shared fixtures for the log's tests: one sample of every event variant,
//! and builders for new events.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};

use authlog_events::*;
use uuid::Uuid;

pub fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

pub fn metadata(name: &str) -> ClientMetadata {
    ClientMetadata {
        client_name: name.to_owned(),
        description: Some("a sample client".into()),
        client_uri: Some("https://app.example.com".into()),
        logo_uri: None,
        redirect_uris: vec![
            "https://app.example.com/cb".into(),
            "http://127.0.0.1/cb".into(),
        ],
        post_logout_redirect_uris: vec![],
        allowed_cors_origins: vec!["https://app.example.com".into()],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        response_types: vec!["code".into()],
        scopes: vec!["openid".into(), "clients:read".into()],
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        access_preset: AccessPreset::ReadOnly,
        team_selection: TeamSelection::Multiple,
        team_restrictions: vec!["red".into()],
        require_consent: true,
        introspection_allowed: false,
        access_token_ttl_seconds: 3600,
        refresh_token_enabled: true,
        refresh_token_ttl_seconds: 604_800,
        contacts: vec!["ops@example.com".into()],
        tos_uri: None,
        policy_uri: Some("https://app.example.com/privacy".into()),
        software_id: Some("app".into()),
        software_version: Some("1.2.3".into()),
    }
}

/// One sample of every variant, in catalogue order.
pub fn every_variant() -> Vec<Event> {
    let d = Digest([7; 32]);
    let t = Timestamp(1_764_000_000_000_000);
    vec![
        Event::ClientRegistered {
            client_id: "app".into(),
            registration_type: RegistrationType::Preregistered,
            metadata: Box::new(metadata("App")),
            secret_digest: Some(d),
            registration_access_token_digest: None,
            confirm_high_risk: false,
        },
        Event::ClientUpdated {
            client_id: "app".into(),
            metadata: Box::new(metadata("App 2")),
            confirm_high_risk: true,
        },
        Event::ClientSecretRotated {
            client_id: "app".into(),
            secret_digest: Digest([8; 32]),
            previous_valid_until: t,
        },
        Event::ClientPaused {
            client_id: "app".into(),
            tokens_revoked: 3,
        },
        Event::ClientResumed {
            client_id: "app".into(),
        },
        Event::ClientDeleted {
            client_id: "app".into(),
            tokens_revoked: 2,
            codes_revoked: 1,
        },
        Event::AuthorizationCodeIssued {
            code_id: uuid(1),
            code_digest: d,
            client_id: "app".into(),
            user_id: uuid(2),
            redirect_uri: "https://app.example.com/cb".into(),
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            scopes: vec!["openid".into()],
            resources: vec!["https://api.example.com".into()],
            teams: vec!["red".into()],
            access: AccessPreset::Full,
            expires_at: t,
        },
        Event::AuthorizationCodeRedeemed {
            code_id: uuid(1),
            client_id: "app".into(),
        },
        Event::DeviceAuthorizationStarted {
            device_id: uuid(3),
            device_code_digest: d,
            user_code: "BCDF-GHJK".into(),
            client_id: "authlog-cli".into(),
            scopes: vec!["openid".into()],
            resources: vec![],
            expires_at: t,
            interval_seconds: 5,
        },
        Event::DeviceAuthorizationApproved {
            device_id: uuid(3),
            client_id: "authlog-cli".into(),
            user_id: uuid(2),
            scopes: vec!["openid".into()],
            teams: vec![],
            access: AccessPreset::ReadOnly,
        },
        Event::DeviceAuthorizationDenied {
            device_id: uuid(3),
            client_id: "authlog-cli".into(),
            user_id: uuid(2),
        },
        Event::TokenIssued {
            token_id: uuid(4),
            kind: TokenKind::Access,
            digest: d,
            client_id: "app".into(),
            subject: Some(uuid(2)),
            scopes: vec!["openid".into()],
            audience: vec!["https://api.example.com".into()],
            teams: vec!["red".into()],
            access: AccessPreset::ReadOnly,
            issued_at: t,
            expires_at: t.plus_seconds(3600),
            family_id: uuid(1),
            grant_type: GrantType::AuthorizationCode,
            parent_id: None,
        },
        Event::TokenRevoked {
            target: RevocationTarget::Family(uuid(1)),
            client_id: "app".into(),
            reason: RevocationReason::ReuseDetected,
            tokens_revoked: 2,
        },
        Event::ClientTokensRevoked {
            client_id: "app".into(),
            reason: RevocationReason::RevokedByAdmin,
            tokens_revoked: 5,
        },
        Event::TokensUsed {
            uses: vec![(uuid(4), t)],
        },
        Event::ClientAuthenticationFailed {
            client_id: "app".into(),
            reason: AuthFailure::BadCredentials,
        },
        Event::UserCreated {
            user_id: uuid(2),
            username: "ada".into(),
            display_name: "Ada".into(),
            email: Some("ada@example.com".into()),
            password_digest: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            roles: vec![Role::Admin, Role::Member],
            teams: vec!["red".into()],
        },
        Event::UserUpdated {
            user_id: uuid(2),
            display_name: "Ada L.".into(),
            email: None,
            password_digest: None,
            roles: vec![Role::Auditor],
            teams: vec![],
        },
        Event::UserDisabled {
            user_id: uuid(2),
            tokens_revoked: 4,
        },
        Event::ConsentGranted {
            user_id: uuid(2),
            client_id: "app".into(),
            scopes: vec!["openid".into()],
            teams: vec!["red".into()],
            access: AccessPreset::ReadOnly,
        },
        Event::ConsentRevoked {
            user_id: uuid(2),
            client_id: "app".into(),
        },
        Event::LoginSucceeded { user_id: uuid(2) },
        Event::LoginFailed {
            username: "ada".into(),
            reason: AuthFailure::BadCredentials,
        },
        Event::AuthenticationFailures {
            subject: FailedSubject::Client("app".into()),
            failures: 12,
            throttled: 2,
            reasons: vec![(AuthFailure::BadCredentials, 12)],
            addresses: vec![("192.0.2.7".into(), 12)],
            first: t,
            last: t.plus_seconds(30),
        },
        Event::SigningKeyCreated {
            kid: "k1".into(),
            alg: "ES256".into(),
            public_jwk: r#"{"kty":"EC","crv":"P-256","x":"AA","y":"AA","kid":"k1","alg":"ES256","use":"sig"}"#.into(),
            sealed_private_key: vec![7; 40],
        },
        Event::SigningKeyActivated { kid: "k1".into() },
        Event::SigningKeyRetired {
            kid: "k0".into(),
            unpublish_at: t.plus_seconds(86_400),
        },
        Event::SignInContext {
            family_id: uuid(40),
            nonce: Some("n-0S6_WzA2Mj".into()),
            auth_time: t,
            session_id: "sid-1".into(),
            amr: vec!["pwd".into()],
            until: t.plus_seconds(30 * 86_400),
        },
        Event::UserLoggedOut {
            user_id: uuid(2),
            session_id: "sid-1".into(),
            client_id: Some("app".into()),
            session_expires: t.plus_seconds(43_200),
        },
        Event::ClientAccessTokenFormatSet {
            client_id: "app".into(),
            format: AccessTokenFormat::Jwt,
        },
        Event::ClientOidcSettingsSet {
            client_id: "app".into(),
            settings: OidcSettings {
                id_token_signed_response_alg: SigningAlgorithm::Rs256,
                backchannel_logout_uri: Some("https://app.example/backchannel".into()),
                backchannel_logout_session_required: true,
            },
        },
        Event::UpstreamProviderRegistered {
            provider_id: "github".into(),
            provider: Box::new(upstream_provider()),
            sealed_client_secret: Some(vec![7; 56]),
        },
        Event::UpstreamProviderUpdated {
            provider_id: "github".into(),
            provider: Box::new(UpstreamProvider {
                pkce: false,
                ..upstream_provider()
            }),
            sealed_client_secret: None,
        },
        Event::UpstreamProviderDeleted {
            provider_id: "github".into(),
        },
        Event::UpstreamConnected {
            user_id: uuid(0x10),
            provider_id: "github".into(),
            key_id: uuid(0x40),
            sealed_tokens: vec![9; 80],
            expires_at: Some(Timestamp::from_unix_seconds(1_700_000_600)),
            scopes: vec!["repo".into()],
        },
        Event::UpstreamTokensRefreshed {
            user_id: uuid(0x10),
            provider_id: "github".into(),
            key_id: uuid(0x40),
            sealed_tokens: vec![8; 80],
            expires_at: None,
            scopes: vec!["repo".into()],
        },
        Event::UpstreamFailed {
            user_id: uuid(0x10),
            provider_id: "github".into(),
            stage: UpstreamStage::Refresh,
            reason: "invalid_grant: the refresh token was revoked".into(),
            needs_reconnect: true,
        },
        Event::UpstreamTokenHandedOff {
            user_id: uuid(0x10),
            provider_id: "github".into(),
            client_id: "mcp".into(),
            expires_at: Some(Timestamp::from_unix_seconds(1_700_000_600)),
        },
        Event::UpstreamDisconnected {
            user_id: uuid(0x10),
            provider_id: "github".into(),
            key_id: uuid(0x40),
            reason: DisconnectReason::ByUser,
        },
        Event::UserDeleted {
            user_id: uuid(0x10),
        },
    ]
}

pub fn upstream_provider() -> UpstreamProvider {
    UpstreamProvider {
        name: "GitHub".into(),
        issuer: None,
        authorization_url: "https://github.com/login/oauth/authorize".into(),
        token_url: "https://github.com/login/oauth/access_token".into(),
        revocation_url: None,
        userinfo_url: Some("https://api.github.com/user".into()),
        client_id: "Iv1.abc".into(),
        scopes: vec!["repo".into(), "read:user".into()],
        pkce: true,
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretPost,
        authorization_params: vec![("allow_signup".into(), "false".into())],
        allowed_clients: vec!["mcp".into()],
    }
}

pub fn actor() -> Actor {
    Actor {
        principal: Principal::User(uuid(2)),
        via_client: Some("authlog-cli".into()),
        ip: Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))),
        user_agent: Some("test/1".into()),
    }
}

/// A new event id: distinct within the test process, random in its high
/// bits so ids do not arrive in order.
pub fn fresh_id() -> Uuid {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let high = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    Uuid::from_u128((u128::from(high) << 64) | u128::from(n))
}

/// A new event on `stream` with a fresh id.
pub fn new_event(stream: &str, payload: Event) -> NewEvent {
    NewEvent {
        event_id: fresh_id(),
        stream: stream.to_owned(),
        recorded_at: Timestamp(1_764_000_000_000_000),
        actor: actor(),
        client_id: Some("app".into()),
        correlation_id: Some("req-1".into()),
        payload,
    }
}

/// A small event for volume tests.
pub fn resumed(stream: &str, client: &str) -> NewEvent {
    let mut e = new_event(
        stream,
        Event::ClientResumed {
            client_id: client.to_owned(),
        },
    );
    e.client_id = Some(client.to_owned());
    e
}
pub mod pg;
