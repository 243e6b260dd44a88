//! Keeping connections' upstream tokens fresh, and reading the current
//! one for a hand-off.
//!
//! * **On demand**: a hand-off whose access token expires within
//!   `ON_DEMAND_MARGIN_SECONDS` refreshes first.
//! * **In the background**: every `AUTHLOG_UPSTREAM_REFRESH_INTERVAL_SECONDS`
//!   (±20%), the replica that holds the writer refreshes the connections
//!   within their lead time of expiry: a third of the token's life, at
//!   most five minutes, stretched by up to 20% per connection (from its
//!   key id) so that tokens obtained together are not all refreshed in
//!   the same instant. A provider that cannot be reached is tried again
//!   after `UNREACHABLE_BACKOFF_SECONDS`.
//!
//! One refresh per connection at a time (a provider that rotates refresh
//! tokens would otherwise see the old one reused). A refresh the provider
//! refuses (`invalid_grant`, ...) marks the connection `needs_reconnect`
//! with its reason; each refresh and failure is an event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authlog_events::{Timestamp, UpstreamStage};
use authlog_projections::{Connection, ConnectionStatus};
use uuid::Uuid;

use super::oauth;
use crate::commands::upstream::{RecordRefresh, RecordUpstreamFailure};
use crate::commands::EventContext;
use crate::state::{AppState, Unreadable};
use crate::vault::{UpstreamTokens, VaultError};
use crate::writer::WriteError;

/// A hand-off refreshes a token that expires sooner than this.
pub const ON_DEMAND_MARGIN_SECONDS: i64 = 30;
/// The longest lead time of a background refresh.
pub const MAX_LEAD_SECONDS: i64 = 300;
/// Wait before trying an unreachable provider again in the background.
pub const UNREACHABLE_BACKOFF_SECONDS: i64 = 300;

/// Why no current token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The user has no connection to the provider.
    #[error("the user has not connected this provider")]
    NotConnected,
    /// The connection must be made again.
    #[error("the connection must be made again: {0}")]
    NeedsReconnect(String),
    /// The provider could not be reached and the token has expired.
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    /// The vault failed.
    #[error("the token vault failed")]
    Vault(#[from] VaultError),
    /// The log could not record the refresh.
    #[error("the refresh could not be recorded")]
    Write(#[from] WriteError),
    /// The read models are unavailable.
    #[error(transparent)]
    Unreadable(#[from] Unreadable),
    /// authlog is starting or stopping (or a blocking task was cancelled
    /// by the shutdown).
    #[error("authlog is not ready")]
    NotReady,
}

/// A connection's usable token.
#[derive(Debug)]
pub struct Current {
    /// The tokens.
    pub tokens: UpstreamTokens,
    /// The connection's data key.
    pub key_id: Uuid,
    /// When the access token expires.
    pub expires_at: Option<Timestamp>,
    /// The scopes the provider granted.
    pub scopes: Vec<String>,
}

/// A connection: its user and provider.
type ConnectionKey = (Uuid, String);

/// Per-connection locks and the background backoff.
#[derive(Default)]
pub struct Refresher {
    locks: Mutex<HashMap<ConnectionKey, Arc<tokio::sync::Mutex<()>>>>,
    backoff: Mutex<HashMap<ConnectionKey, Timestamp>>,
}

impl std::fmt::Debug for Refresher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Refresher(..)")
    }
}

/// Whether `c` expires within `margin` seconds of `now`.
fn expires_within(c: &Connection, now: Timestamp, margin: i64) -> bool {
    c.expires_at
        .is_some_and(|e| e.unix_seconds() - now.unix_seconds() <= margin)
}

/// A connection's background lead time: a third of its token's life, at
/// most `MAX_LEAD_SECONDS`, stretched by up to 20% from its key id.
pub fn lead_seconds(c: &Connection) -> i64 {
    let Some(expires) = c.expires_at else {
        return 0;
    };
    let life = (expires.unix_seconds() - c.obtained_at.unix_seconds()).max(0);
    let base = (life / 3).min(MAX_LEAD_SECONDS);
    let stretch = (c.key_id.as_u128() % 21) as i64; // 0..=20 percent
    base + base * stretch / 100
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, VaultError> + Send + 'static,
) -> Result<T, TokenError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| TokenError::NotReady)?
        .map_err(TokenError::Vault)
}

impl Refresher {
    fn lock_for(&self, key: ConnectionKey) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default()
            .clone()
    }

    /// The user's usable token for `provider_id`, refreshed first when it
    /// expires within the on-demand margin.
    pub async fn current(
        &self,
        state: &AppState,
        user: Uuid,
        provider_id: &str,
    ) -> Result<Current, TokenError> {
        let connection = |state: &AppState| -> Result<Connection, TokenError> {
            let c = state
                .read()?
                .upstream
                .connection(&user, provider_id)
                .cloned()
                .ok_or(TokenError::NotConnected)?;
            match &c.status {
                ConnectionStatus::Active => Ok(c),
                ConnectionStatus::NeedsReconnect { reason, .. } => {
                    Err(TokenError::NeedsReconnect(reason.clone()))
                }
            }
        };
        let c = connection(state)?;
        if !expires_within(&c, state.clock.now(), ON_DEMAND_MARGIN_SECONDS) {
            return open(state, c).await;
        }
        let lock = self.lock_for((user, provider_id.to_owned()));
        let _held = lock.lock().await;
        // Another hand-off may have refreshed it while this one waited.
        let c = connection(state)?;
        if !expires_within(&c, state.clock.now(), ON_DEMAND_MARGIN_SECONDS) {
            return open(state, c).await;
        }
        refresh(state, c).await
    }

    /// One background round: refreshes every connection within its lead
    /// time (not those backing off). Returns how many were refreshed.
    pub async fn round(&self, state: &AppState) -> usize {
        if state.ready_writer().is_none() {
            return 0;
        }
        let now = state.clock.now();
        let due: Vec<Connection> = match state.read() {
            Ok(p) => p
                .upstream
                .connections()
                .filter(|c| {
                    c.status == ConnectionStatus::Active && expires_within(c, now, lead_seconds(c))
                })
                .cloned()
                .collect(),
            Err(_) => return 0,
        };
        let mut refreshed = 0;
        for c in due {
            let key = (c.user_id, c.provider_id.clone());
            let backing_off = self
                .backoff
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&key)
                .is_some_and(|until| *until > now);
            if backing_off {
                continue;
            }
            let lock = self.lock_for(key.clone());
            let _held = lock.lock().await;
            let fresh = state.read().ok().and_then(|p| {
                p.upstream
                    .connection(&c.user_id, &c.provider_id)
                    .filter(|n| n.key_id == c.key_id && n.obtained_at == c.obtained_at)
                    .cloned()
            });
            let Some(c) = fresh else { continue };
            match refresh(state, c).await {
                Ok(_) => refreshed += 1,
                Err(TokenError::Unreachable(why)) => {
                    tracing::warn!(provider = %key.1, %why, "an upstream refresh failed; trying again later");
                    self.backoff
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(key, now.plus_seconds(UNREACHABLE_BACKOFF_SECONDS));
                }
                Err(e) => {
                    tracing::info!(provider = %key.1, error = %e, "an upstream refresh failed")
                }
            }
        }
        refreshed
    }
}

/// Opens a connection's current tokens.
async fn open(state: &AppState, c: Connection) -> Result<Current, TokenError> {
    let vault = state.vault.clone();
    let (key_id, expires_at, scopes) = (c.key_id, c.expires_at, c.scopes.clone());
    let tokens = blocking(move || {
        vault.open_connection(c.key_id, &c.user_id, &c.provider_id, &c.sealed_tokens)
    })
    .await?;
    Ok(Current {
        tokens,
        key_id,
        expires_at,
        scopes,
    })
}

/// Refreshes a connection at its provider and records the outcome.
async fn refresh(state: &AppState, c: Connection) -> Result<Current, TokenError> {
    let writer = state.ready_writer().ok_or(TokenError::NotReady)?;
    let provider = state
        .read()?
        .upstream
        .provider(&c.provider_id)
        .cloned()
        .ok_or(TokenError::NotConnected)?;
    let vault = state.vault.clone();
    let (user, provider_id, key_id) = (c.user_id, c.provider_id.clone(), c.key_id);
    let sealed_secret = provider.sealed_client_secret.clone();
    let sealed_tokens = c.sealed_tokens.clone();
    let (key, tokens, secret) = blocking(move || {
        let key = vault.data_key(key_id)?;
        let tokens = vault.open_tokens(&key, &user, &provider_id, &sealed_tokens)?;
        let secret = sealed_secret
            .map(|s| vault.open_client_secret(&provider_id, &s))
            .transpose()?;
        Ok((key, tokens, secret))
    })
    .await?;
    let now = state.clock.now();
    let expired = c.expires_at.is_some_and(|e| e <= now);
    let fail = |reason: String| RecordUpstreamFailure {
        user_id: user,
        provider_id: c.provider_id.clone(),
        key_id: Some(key_id),
        stage: UpstreamStage::Refresh,
        reason,
        needs_reconnect: true,
        client_id: None,
        ctx: EventContext::system(),
    };
    let Some(refresh_token) = tokens.refresh_token.clone() else {
        if !expired {
            return Ok(Current {
                tokens,
                key_id,
                expires_at: c.expires_at,
                scopes: c.scopes,
            });
        }
        let reason = "the access token expired and the provider gave no refresh token".to_owned();
        writer.submit(fail(reason.clone())).await?;
        return Err(TokenError::NeedsReconnect(reason));
    };
    let secret = secret.as_deref().map(|s| s.as_str());
    match oauth::refresh(&provider.provider, secret, &refresh_token).await {
        Ok(granted) => {
            let now = state.clock.now();
            let expires_at = granted.expires_in.map(|s| now.plus_seconds(s));
            let scopes = granted.scopes.unwrap_or_else(|| c.scopes.clone());
            let sealed = state.vault.seal_tokens(
                &*state.entropy,
                &key,
                &user,
                &c.provider_id,
                &granted.tokens,
            );
            writer
                .submit(RecordRefresh {
                    user_id: user,
                    provider_id: c.provider_id.clone(),
                    key_id,
                    sealed_tokens: sealed,
                    expires_at,
                    scopes: scopes.clone(),
                    ctx: EventContext::system(),
                })
                .await?;
            Ok(Current {
                tokens: granted.tokens,
                key_id,
                expires_at,
                scopes,
            })
        }
        Err(e) if e.grant_refused() => {
            let reason = e.reason();
            writer.submit(fail(reason.clone())).await?;
            Err(TokenError::NeedsReconnect(reason))
        }
        Err(e) if !expired => {
            tracing::warn!(provider = %c.provider_id, error = %e, "an upstream refresh failed; the current token is still valid");
            Ok(Current {
                tokens,
                key_id,
                expires_at: c.expires_at,
                scopes: c.scopes,
            })
        }
        Err(e) => Err(TokenError::Unreachable(e.reason())),
    }
}

/// Runs background rounds until the process ends.
pub async fn run(state: Arc<AppState>) {
    let interval = state.config.upstream_refresh_interval_seconds.max(1) as f64;
    loop {
        // ±20% so replicas and restarts do not fall into step.
        let jitter = 0.8 + 0.4 * (state.entropy.bytes()[0] as f64 / 255.0);
        tokio::time::sleep(Duration::from_secs_f64(interval * jitter)).await;
        state.upstream_refresher.round(&state).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(life: i64, key: u128) -> Connection {
        let obtained_at = Timestamp::from_unix_seconds(1_000);
        Connection {
            user_id: Uuid::nil(),
            provider_id: "up".into(),
            key_id: Uuid::from_u128(key),
            sealed_tokens: Vec::new(),
            expires_at: Some(obtained_at.plus_seconds(life)),
            obtained_at,
            scopes: Vec::new(),
            status: ConnectionStatus::Active,
            connected_at: obtained_at,
            refreshed_at: None,
            last_handoff: None,
        }
    }

    #[test]
    fn the_lead_is_a_third_of_the_life_at_most_five_minutes_stretched_by_up_to_a_fifth() {
        assert_eq!(lead_seconds(&connection(60, 0)), 20);
        assert_eq!(lead_seconds(&connection(60, 20)), 24);
        assert_eq!(lead_seconds(&connection(3600, 0)), MAX_LEAD_SECONDS);
        assert_eq!(lead_seconds(&connection(3600, 10)), 330);
        let never = Connection {
            expires_at: None,
            ..connection(60, 0)
        };
        assert_eq!(lead_seconds(&never), 0);
        assert!(!expires_within(
            &never,
            Timestamp::from_unix_seconds(i64::MAX / 2_000_000),
            30
        ));
        let c = connection(60, 0);
        assert!(!expires_within(&c, Timestamp::from_unix_seconds(1_029), 30));
        assert!(expires_within(&c, Timestamp::from_unix_seconds(1_030), 30));
    }
}
