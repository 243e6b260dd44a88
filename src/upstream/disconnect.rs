//! Ending a connection: its tokens are revoked at the provider when it
//! has a revocation endpoint (RFC 7009, the refresh token and the access
//! token; a failure is recorded, not fatal), then `UpstreamDisconnected`
//! is appended, then the data key is deleted from the key store.

use authlog_events::DisconnectReason;
use uuid::Uuid;

use super::oauth;
use super::refresh::TokenError;
use crate::commands::upstream::Disconnect;
use crate::commands::EventContext;
use crate::state::AppState;

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

/// Revokes a connection's tokens at the provider; `Some(why)` on failure.
async fn revoke_upstream(state: &AppState, user: Uuid, provider_id: &str) -> Option<String> {
    let (connection, provider) = {
        let p = state.read().ok()?;
        (
            p.upstream.connection(&user, provider_id).cloned()?,
            p.upstream.provider(provider_id).cloned()?,
        )
    };
    let url = provider.provider.revocation_url.clone()?;
    let vault = state.vault.clone();
    let sealed_secret = provider.sealed_client_secret.clone();
    let id = provider_id.to_owned();
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
        Ok::<_, crate::vault::VaultError>((tokens, secret))
    })
    .await;
    let (tokens, secret) = match opened {
        Ok(Ok(opened)) => opened,
        Ok(Err(e)) => return Some(format!("the tokens could not be opened: {e}")),
        Err(_) => return Some("the tokens could not be opened".into()),
    };
    let secret = secret.as_deref().map(|s| s.as_str());
    let mut failures = Vec::new();
    if let Some(refresh) = &tokens.refresh_token {
        if let Err(e) =
            oauth::revoke(&provider.provider, secret, &url, refresh, "refresh_token").await
        {
            failures.push(format!("refresh token: {}", e.reason()));
        }
    }
    if let Err(e) = oauth::revoke(
        &provider.provider,
        secret,
        &url,
        &tokens.access_token,
        "access_token",
    )
    .await
    {
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
    let revoke_failure = revoke_upstream(state, user, provider_id).await;
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
