//! What an auditor sees of each event's payload: ids, names, counts,
//! reasons, scopes. Written out per variant on purpose: digests, password
//! digests, PKCE challenges, device user codes and token values are never
//! copied, and a new field added to the catalogue shows up here only when
//! someone decides it is safe to show.

use authlog_events::{
    AccessPreset, AuthFailure, ClientMetadata, DisconnectReason, Event, FailedSubject,
    RevocationReason, RevocationTarget, TokenKind,
};
use serde_json::{json, Value};

use crate::scopes::role_name;

use crate::client_policy::{auth_method_name, grant_type_name, registration_type_name};

/// The auditor's view of a payload.
pub fn summarize(event: &Event) -> Value {
    match event {
        Event::ClientRegistered {
            client_id,
            registration_type,
            metadata,
            secret_digest,
            registration_access_token_digest: _,
            confirm_high_risk,
        } => {
            let mut v = metadata_summary(metadata);
            v["client_id"] = json!(client_id);
            v["registration_type"] = json!(registration_type_name(*registration_type));
            v["confidential"] = json!(secret_digest.is_some());
            v["confirm_high_risk"] = json!(confirm_high_risk);
            v
        }
        Event::ClientUpdated {
            client_id,
            metadata,
            confirm_high_risk,
        } => {
            let mut v = metadata_summary(metadata);
            v["client_id"] = json!(client_id);
            v["confirm_high_risk"] = json!(confirm_high_risk);
            v
        }
        Event::ClientSecretRotated {
            client_id,
            secret_digest: _,
            previous_valid_until,
        } => json!({
            "client_id": client_id,
            "previous_valid_until": previous_valid_until.to_rfc3339(),
        }),
        Event::ClientPaused {
            client_id,
            tokens_revoked,
        } => json!({ "client_id": client_id, "tokens_revoked": tokens_revoked }),
        Event::ClientResumed { client_id } => json!({ "client_id": client_id }),
        Event::ClientDeleted {
            client_id,
            tokens_revoked,
            codes_revoked,
        } => json!({
            "client_id": client_id,
            "tokens_revoked": tokens_revoked,
            "codes_revoked": codes_revoked,
        }),
        Event::AuthorizationCodeIssued {
            code_id,
            code_digest: _,
            client_id,
            user_id,
            redirect_uri,
            code_challenge: _,
            scopes,
            resources,
            teams,
            access,
            expires_at,
        } => json!({
            "code_id": code_id,
            "client_id": client_id,
            "user_id": user_id,
            "redirect_uri": redirect_uri,
            "scopes": scopes,
            "resources": resources,
            "teams": teams,
            "access": access_name(*access),
            "expires_at": expires_at.to_rfc3339(),
        }),
        Event::AuthorizationCodeRedeemed { code_id, client_id } => {
            json!({ "code_id": code_id, "client_id": client_id })
        }
        Event::DeviceAuthorizationStarted {
            device_id,
            device_code_digest: _,
            user_code: _,
            client_id,
            scopes,
            resources,
            expires_at,
            interval_seconds,
        } => json!({
            "device_id": device_id,
            "client_id": client_id,
            "scopes": scopes,
            "resources": resources,
            "expires_at": expires_at.to_rfc3339(),
            "interval_seconds": interval_seconds,
        }),
        Event::DeviceAuthorizationApproved {
            device_id,
            client_id,
            user_id,
            scopes,
            teams,
            access,
        } => json!({
            "device_id": device_id,
            "client_id": client_id,
            "user_id": user_id,
            "scopes": scopes,
            "teams": teams,
            "access": access_name(*access),
        }),
        Event::DeviceAuthorizationDenied {
            device_id,
            client_id,
            user_id,
        } => json!({ "device_id": device_id, "client_id": client_id, "user_id": user_id }),
        Event::TokenIssued {
            token_id,
            kind,
            digest: _,
            client_id,
            subject,
            scopes,
            audience,
            teams,
            access,
            issued_at,
            expires_at,
            family_id,
            grant_type,
            parent_id,
        } => json!({
            "token_id": token_id,
            "kind": token_kind_name(*kind),
            "client_id": client_id,
            "subject": subject,
            "scopes": scopes,
            "audience": audience,
            "teams": teams,
            "access": access_name(*access),
            "issued_at": issued_at.to_rfc3339(),
            "expires_at": expires_at.to_rfc3339(),
            "family_id": family_id,
            "grant_type": grant_type_name(*grant_type),
            "parent_id": parent_id,
        }),
        Event::TokenRevoked {
            target,
            client_id,
            reason,
            tokens_revoked,
        } => {
            let (kind, id) = match target {
                RevocationTarget::Token(id) => ("token", id),
                RevocationTarget::Family(id) => ("family", id),
            };
            json!({
                "target": kind,
                "target_id": id,
                "client_id": client_id,
                "reason": revocation_reason_name(*reason),
                "tokens_revoked": tokens_revoked,
            })
        }
        Event::ClientTokensRevoked {
            client_id,
            reason,
            tokens_revoked,
        } => json!({
            "client_id": client_id,
            "reason": revocation_reason_name(*reason),
            "tokens_revoked": tokens_revoked,
        }),
        Event::TokensUsed { uses } => json!({ "tokens": uses.len() }),
        Event::ClientAuthenticationFailed { client_id, reason } => json!({
            "client_id": client_id,
            "reason": auth_failure_name(*reason),
        }),
        Event::UserCreated {
            user_id,
            username,
            display_name,
            email: _,
            password_digest: _,
            roles,
            teams,
        } => json!({
            "user_id": user_id,
            "username": username,
            "display_name": display_name,
            "roles": roles.iter().map(|r| role_name(*r)).collect::<Vec<_>>(),
            "teams": teams,
        }),
        Event::UserUpdated {
            user_id,
            display_name,
            email: _,
            password_digest,
            roles,
            teams,
        } => json!({
            "user_id": user_id,
            "display_name": display_name,
            "password_changed": password_digest.is_some(),
            "roles": roles.iter().map(|r| role_name(*r)).collect::<Vec<_>>(),
            "teams": teams,
        }),
        Event::UserDisabled {
            user_id,
            tokens_revoked,
        } => json!({ "user_id": user_id, "tokens_revoked": tokens_revoked }),
        Event::ConsentGranted {
            user_id,
            client_id,
            scopes,
            teams,
            access,
        } => json!({
            "user_id": user_id,
            "client_id": client_id,
            "scopes": scopes,
            "teams": teams,
            "access": access_name(*access),
        }),
        Event::ConsentRevoked { user_id, client_id } => {
            json!({ "user_id": user_id, "client_id": client_id })
        }
        Event::LoginSucceeded { user_id } => json!({ "user_id": user_id }),
        Event::LoginFailed { username, reason } => json!({
            "username": username,
            "reason": auth_failure_name(*reason),
        }),
        Event::AuthenticationFailures {
            subject,
            failures,
            throttled,
            reasons,
            addresses,
            first,
            last,
        } => {
            let mut summary = json!({
                "failures": failures,
                "throttled": throttled,
                "reasons": reasons
                    .iter()
                    .map(|(r, n)| (auth_failure_name(*r).to_owned(), json!(n)))
                    .collect::<serde_json::Map<_, _>>(),
                "addresses": addresses
                    .iter()
                    .map(|(a, n)| json!({ "address": a, "failures": n }))
                    .collect::<Vec<_>>(),
                "first": first.to_rfc3339(),
                "last": last.to_rfc3339(),
            });
            match subject {
                FailedSubject::Client(id) => summary["client_id"] = json!(id),
                FailedSubject::OtherClients { client_ids } => {
                    summary["other_client_ids"] = json!(client_ids)
                }
                FailedSubject::UnknownUsernames => summary["unknown_usernames"] = json!(true),
            }
            summary
        }
        // The public key is public; the sealed private key is never shown.
        Event::SigningKeyCreated {
            kid,
            alg,
            public_jwk,
            ..
        } => json!({
            "kid": kid,
            "alg": alg,
            "public_jwk": serde_json::from_str::<Value>(public_jwk).unwrap_or(Value::Null),
        }),
        Event::SigningKeyActivated { kid } => json!({ "kid": kid }),
        Event::ClientAccessTokenFormatSet { client_id, format } => json!({
            "client_id": client_id,
            "access_token_format": crate::http::client_json::token_format_name(*format),
        }),
        Event::ClientOidcSettingsSet {
            client_id,
            settings,
        } => json!({
            "client_id": client_id,
            "id_token_signed_response_alg": settings.id_token_signed_response_alg.as_str(),
            "backchannel_logout_uri": settings.backchannel_logout_uri,
            "backchannel_logout_session_required": settings.backchannel_logout_session_required,
        }),
        Event::UpstreamProviderRegistered {
            provider_id,
            provider,
            sealed_client_secret,
        }
        | Event::UpstreamProviderUpdated {
            provider_id,
            provider,
            sealed_client_secret,
        } => json!({
            "provider_id": provider_id,
            "name": provider.name,
            "issuer": provider.issuer,
            "authorization_url": provider.authorization_url,
            "token_url": provider.token_url,
            "revocation_url": provider.revocation_url,
            "client_id": provider.client_id,
            "client_secret_set": sealed_client_secret.is_some(),
            "scopes": provider.scopes,
            "pkce": provider.pkce,
            "token_endpoint_auth_method": auth_method_name(provider.token_endpoint_auth_method),
            "allowed_clients": provider.allowed_clients,
        }),
        Event::UpstreamProviderDeleted { provider_id } => json!({ "provider_id": provider_id }),
        Event::UpstreamConnected {
            user_id,
            provider_id,
            key_id,
            sealed_tokens: _,
            expires_at,
            scopes,
        }
        | Event::UpstreamTokensRefreshed {
            user_id,
            provider_id,
            key_id,
            sealed_tokens: _,
            expires_at,
            scopes,
        } => json!({
            "user_id": user_id,
            "provider_id": provider_id,
            "key_id": key_id,
            "expires_at": expires_at.map(|t| t.to_rfc3339()),
            "scopes": scopes,
        }),
        Event::UpstreamFailed {
            user_id,
            provider_id,
            stage,
            reason,
            needs_reconnect,
        } => json!({
            "user_id": user_id,
            "provider_id": provider_id,
            "stage": authlog_projections::upstream::stage_name(*stage),
            "reason": reason,
            "needs_reconnect": needs_reconnect,
        }),
        Event::UpstreamTokenHandedOff {
            user_id,
            provider_id,
            client_id,
            expires_at,
        } => json!({
            "user_id": user_id,
            "provider_id": provider_id,
            "client_id": client_id,
            "expires_at": expires_at.map(|t| t.to_rfc3339()),
        }),
        Event::UpstreamDisconnected {
            user_id,
            provider_id,
            key_id,
            reason,
        } => json!({
            "user_id": user_id,
            "provider_id": provider_id,
            "key_id": key_id,
            "reason": match reason {
                DisconnectReason::ByUser => "by_user",
                DisconnectReason::ByAdmin => "by_admin",
                DisconnectReason::Reconnected => "reconnected",
                DisconnectReason::UserDeleted => "user_deleted",
                DisconnectReason::ProviderDeleted => "provider_deleted",
            },
            "data_key_destroyed": true,
        }),
        Event::UserDeleted { user_id } => json!({ "user_id": user_id }),
        Event::UserLoggedOut {
            user_id,
            session_id,
            client_id,
            session_expires,
        } => json!({
            "user_id": user_id.to_string(),
            "session_id": session_id,
            "client_id": client_id,
            "session_expires": session_expires.to_rfc3339(),
        }),
        Event::SignInContext {
            family_id,
            nonce,
            auth_time,
            session_id,
            amr,
            until,
        } => json!({
            "family_id": family_id.to_string(),
            "nonce": nonce.is_some(),
            "auth_time": auth_time.to_rfc3339(),
            "session_id": session_id,
            "amr": amr,
            "until": until.to_rfc3339(),
        }),
        Event::SigningKeyRetired { kid, unpublish_at } => json!({
            "kid": kid,
            "unpublish_at": unpublish_at.to_rfc3339(),
        }),
    }
}

fn metadata_summary(m: &ClientMetadata) -> Value {
    json!({
        "client_name": m.client_name,
        "grant_types": m.grant_types.iter().map(|g| grant_type_name(*g)).collect::<Vec<_>>(),
        "scopes": m.scopes,
        "redirect_uris": m.redirect_uris,
        "token_endpoint_auth_method": auth_method_name(m.token_endpoint_auth_method),
        "access_preset": access_name(m.access_preset),
        "introspection_allowed": m.introspection_allowed,
    })
}

fn access_name(a: AccessPreset) -> &'static str {
    match a {
        AccessPreset::ReadOnly => "read_only",
        AccessPreset::Full => "full",
    }
}

fn token_kind_name(k: TokenKind) -> &'static str {
    match k {
        TokenKind::Access => "access",
        TokenKind::Refresh => "refresh",
    }
}

fn revocation_reason_name(r: RevocationReason) -> &'static str {
    match r {
        RevocationReason::RevokedByClient => "revoked_by_client",
        RevocationReason::RevokedByAdmin => "revoked_by_admin",
        RevocationReason::Rotated => "rotated",
        RevocationReason::ReuseDetected => "reuse_detected",
        RevocationReason::ClientPaused => "client_paused",
        RevocationReason::ClientDeleted => "client_deleted",
        RevocationReason::UserDisabled => "user_disabled",
        RevocationReason::RevokedByUser => "revoked_by_user",
    }
}

fn auth_failure_name(f: AuthFailure) -> &'static str {
    match f {
        AuthFailure::UnknownPrincipal => "unknown_principal",
        AuthFailure::BadCredentials => "bad_credentials",
        AuthFailure::Inactive => "inactive",
        AuthFailure::Throttled => "throttled",
        AuthFailure::WrongMethod => "wrong_method",
    }
}

#[cfg(test)]
mod tests {
    use authlog_events::{Digest, Timestamp};
    use uuid::Uuid;

    use super::*;

    #[test]
    fn summaries_never_carry_digests_or_codes() {
        let secret = Digest([0xab; 32]);
        let hex_digest = hex::encode(secret.0);
        let events = [
            Event::ClientSecretRotated {
                client_id: "c".into(),
                secret_digest: secret,
                previous_valid_until: Timestamp(0),
            },
            Event::DeviceAuthorizationStarted {
                device_id: Uuid::nil(),
                device_code_digest: secret,
                user_code: "WXYZ-ABCD".into(),
                client_id: "c".into(),
                scopes: vec![],
                resources: vec![],
                expires_at: Timestamp(0),
                interval_seconds: 5,
            },
            Event::UserCreated {
                user_id: Uuid::nil(),
                username: "u".into(),
                display_name: "U".into(),
                email: Some("u@example.com".into()),
                password_digest: "$argon2id$v=19$secret".into(),
                roles: vec![authlog_events::Role::Admin],
                teams: vec![],
            },
        ];
        for event in &events {
            let text = summarize(event).to_string();
            for needle in [
                hex_digest.as_str(),
                "171",
                "WXYZ-ABCD",
                "argon2id",
                "u@example.com",
            ] {
                assert!(!text.contains(needle), "{needle} in {text}");
            }
        }
    }
}
