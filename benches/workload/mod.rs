//! The event the benchmarks use: a client_credentials `TokenIssued` as the
//! token endpoint appends it (its own grant stream and family), spread
//! over `clients` clients.

use authlog::entropy::{Entropy, SystemEntropy};
use authlog_events::*;

/// The `n`-th token event, for one of `clients` clients.
pub fn token_event(n: u64, clients: u64) -> NewEvent {
    let client = format!("client-{}", n % clients.max(1));
    let token_id = Entropy::id(&SystemEntropy);
    let mut digest = [0u8; 32];
    digest[..16].copy_from_slice(&Entropy::bytes(&SystemEntropy)[..16]);
    digest[16..].copy_from_slice(token_id.as_bytes());
    NewEvent {
        event_id: Entropy::id(&SystemEntropy),
        stream: format!("grant/{token_id}"),
        recorded_at: Timestamp(1_764_000_000_000_000 + n as i64),
        actor: Actor {
            principal: Principal::Client(client.clone()),
            via_client: None,
            ip: Some("127.0.0.1".parse().unwrap()),
            user_agent: Some("bench/1".into()),
        },
        client_id: Some(client.clone()),
        correlation_id: Some(format!("req-{n}")),
        payload: Event::TokenIssued {
            token_id,
            kind: TokenKind::Access,
            digest: Digest(digest),
            client_id: client,
            subject: None,
            scopes: vec!["api:read".into(), "api:write".into()],
            audience: vec![],
            teams: vec![],
            access: AccessPreset::ReadOnly,
            issued_at: Timestamp(1_764_000_000_000_000),
            expires_at: Timestamp(1_764_003_600_000_000),
            family_id: token_id,
            grant_type: GrantType::ClientCredentials,
            parent_id: None,
        },
    }
}
