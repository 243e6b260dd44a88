//! Ending connections. A disconnect revokes the connection's tokens at the
//! provider when it has a revocation endpoint (RFC 7009: the refresh token
//! and the access token; a failure is recorded, not fatal), then appends
//! `UpstreamDisconnected`, then deletes the data key. Deleting a user or
//! a provider opens the connections' tokens first, commits the deletion,
//! deletes the keys, and then revokes what it opened.

use authlog_events::{DisconnectReason, UpstreamProvider, UpstreamStage};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::oauth;
use super::refresh::TokenError;
use crate::commands::upstream::{DeleteProvider, DeleteUser, Disconnect, RecordUpstreamFailure};
use crate::commands::EventContext;
use crate::state::AppState;
use crate::vault::{UpstreamTokens, VaultError};

/// Deletes data keys whose end has committed. A failure is logged, not
/// returned: the committed end stands, and the next start's sweep
/// deletes the key.
pub async fn destroy_keys(state: &AppState, keys: Vec<Uuid>) {
    if keys.is_empty() {
        return;
    }
    let vault = state.vault.clone();
    let done = tokio::task::spawn_blocking(move || vault.destroy(&keys)).await;
    match done {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %crate::error_report::Report(&e),
            "data keys could not be deleted; the next start's sweep deletes them"),
        Err(_) => {
            tracing::error!("data keys could not be deleted; the next start's sweep deletes them")
        }
    }
}

/// What revoking a connection at its provider needs, opened.
struct Revocable {
    user_id: Uuid,
    provider_id: String,
    provider: UpstreamProvider,
    url: String,
    tokens: UpstreamTokens,
    secret: Option<Zeroizing<String>>,
}

/// Opens a connection's tokens and its provider's secret, when the
/// provider has a revocation endpoint: `Ok(None)` when it has none.
async fn open(
    state: &AppState,
    user: Uuid,
    provider_id: &str,
) -> Result<Option<Revocable>, String> {
    let found = state.read().ok().and_then(|p| {
        Some((
            p.upstream.connection(&user, provider_id).cloned()?,
            p.upstream.provider(provider_id).cloned()?,
        ))
    });
    let Some((connection, record)) = found else {
        return Ok(None);
    };
    let Some(url) = record.provider.revocation_url.clone() else {
        return Ok(None);
    };
    let vault = state.vault.clone();
    let id = provider_id.to_owned();
    let sealed_secret = record.sealed_client_secret.clone();
    let opened = tokio::task::spawn_blocking(move || {
        let tokens = vault.open_connection(
            connection.key_id,
            &connection.user_id,
            &connection.provider_id,
            &connection.sealed_tokens,
        )?;
        let secret = sealed_secret
            .map(|s| vault.open_client_secret(&id, &s))
            .transpose()?;
        Ok::<_, VaultError>((tokens, secret))
    })
    .await;
    match opened {
        Ok(Ok((tokens, secret))) => Ok(Some(Revocable {
            user_id: user,
            provider_id: provider_id.to_owned(),
            provider: record.provider,
            url,
            tokens,
            secret,
        })),
        Ok(Err(e)) => Err(format!("the tokens could not be opened: {e}")),
        Err(_) => Err("the tokens could not be opened".into()),
    }
}

/// Revokes at the provider; `Some(why)` on failure.
async fn revoke(r: &Revocable) -> Option<String> {
    let secret = r.secret.as_deref().map(|s| s.as_str());
    let mut failures = Vec::new();
    if let Some(refresh) = &r.tokens.refresh_token {
        if let Err(e) = oauth::revoke(&r.provider, secret, &r.url, refresh, "refresh_token").await {
            failures.push(format!("refresh token: {}", e.reason()));
        }
    }
    let access = &r.tokens.access_token;
    if let Err(e) = oauth::revoke(&r.provider, secret, &r.url, access, "access_token").await {
        failures.push(format!("access token: {}", e.reason()));
    }
    (!failures.is_empty()).then(|| failures.join("; "))
}

/// Ends `user`'s connection to `provider_id`: revoked upstream, recorded,
/// its data key destroyed.
pub async fn disconnect(
    state: &AppState,
    user: Uuid,
    provider_id: &str,
    reason: DisconnectReason,
    ctx: EventContext,
) -> Result<(), TokenError> {
    let key_id = state
        .read()?
        .upstream
        .connection(&user, provider_id)
        .map(|c| c.key_id)
        .ok_or(TokenError::NotConnected)?;
    let writer = state.ready_writer().ok_or(TokenError::NotReady)?;
    let revoke_failure = match open(state, user, provider_id).await {
        Ok(Some(revocable)) => revoke(&revocable).await,
        Ok(None) => None,
        Err(why) => Some(why),
    };
    let destroyed = writer
        .submit(Disconnect {
            user_id: user,
            provider_id: provider_id.to_owned(),
            key_id,
            reason,
            revoke_failure,
            ctx,
        })
        .await?;
    destroy_keys(state, vec![destroyed]).await;
    Ok(())
}

/// Opens the tokens of `connections` (user, provider) that can be
/// revoked; a connection whose tokens cannot be opened is shredded anyway.
async fn open_all(state: &AppState, connections: Vec<(Uuid, String)>) -> Vec<Revocable> {
    let mut revocable = Vec::new();
    for (user, provider_id) in connections {
        if let Ok(Some(r)) = open(state, user, &provider_id).await {
            revocable.push(r);
        }
    }
    revocable
}

/// Revokes what was opened before its connections ended, recording each
/// failure.
async fn revoke_ended(state: &AppState, revocable: Vec<Revocable>, ctx: &EventContext) {
    let Some(writer) = state.ready_writer() else {
        return;
    };
    for r in revocable {
        let Some(reason) = revoke(&r).await else {
            continue;
        };
        let recorded = writer
            .submit(RecordUpstreamFailure {
                user_id: r.user_id,
                provider_id: r.provider_id.clone(),
                key_id: None,
                stage: UpstreamStage::Revoke,
                reason,
                needs_reconnect: false,
                client_id: None,
                ctx: ctx.clone(),
            })
            .await;
        if let Err(e) = recorded {
            tracing::warn!(error = %crate::error_report::Report(&e), "a failed revocation could not be recorded");
        }
    }
}

/// Deletes a user (`DeleteUser`), destroys their data keys, and revokes
/// their connections' tokens at the providers, recording failures.
pub async fn delete_user(
    state: &AppState,
    user: Uuid,
    ctx: EventContext,
) -> Result<(), TokenError> {
    let writer = state.ready_writer().ok_or(TokenError::NotReady)?;
    let connections: Vec<(Uuid, String)> = state
        .read()?
        .upstream
        .connections_of_user(&user)
        .map(|c| (user, c.provider_id.clone()))
        .collect();
    let revocable = open_all(state, connections).await;
    let keys = writer
        .submit(DeleteUser {
            user_id: user,
            ctx: ctx.clone(),
        })
        .await?;
    destroy_keys(state, keys).await;
    revoke_ended(state, revocable, &ctx).await;
    Ok(())
}

/// Deletes a provider (`DeleteProvider`), destroys its connections' data
/// keys, and revokes their tokens at the provider, recording failures.
pub async fn delete_provider(
    state: &AppState,
    provider_id: &str,
    expected_version: Option<u64>,
    ctx: EventContext,
) -> Result<(), TokenError> {
    let writer = state.ready_writer().ok_or(TokenError::NotReady)?;
    let connections: Vec<(Uuid, String)> = state
        .read()?
        .upstream
        .connections_of_provider(provider_id)
        .map(|c| (c.user_id, provider_id.to_owned()))
        .collect();
    let revocable = open_all(state, connections).await;
    let keys = writer
        .submit(DeleteProvider {
            provider_id: provider_id.to_owned(),
            expected_version,
            ctx: ctx.clone(),
        })
        .await?;
    destroy_keys(state, keys).await;
    revoke_ended(state, revocable, &ctx).await;
    Ok(())
}
