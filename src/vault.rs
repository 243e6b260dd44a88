//! The token vault: upstream providers' tokens and client secrets,
//! encrypted at rest (XChaCha20-Poly1305).
//!
//! Two levels of keys:
//! * the **vault key** (`<data>/vault-key`, 0600, or `AUTHLOG_VAULT_KEY`)
//!   seals providers' client secrets in their events, and wraps data keys;
//! * a **data key** per user and connection seals that connection's token
//!   responses in its events. Data keys live, wrapped, only in the key
//!   store (`key_store.rs`: `<data>/vault-keys.redb`, or a table beside
//!   the log on PostgreSQL), never in the log. Ending a connection (a
//!   disconnect, a reconnect, the user's or the provider's deletion) is an
//!   `UpstreamDisconnected` event, after which the data key is deleted
//!   from the key store: every token ever sealed under it in the log is
//!   then unreadable, although the log stays append-only and verifiable
//!   (crypto-shredding).
//!
//! Known limit: deleting from the key store removes the key from every
//! page redb (or PostgreSQL) reads; a copy may survive in freed disk
//! blocks or backups of the key store until overwritten, so backups of
//! the key store must be kept no longer than a deletion should take.
//!
//! Every value is sealed by `crate::sealed`, with associated data naming
//! the user, provider and key it belongs to, so a ciphertext moved
//! elsewhere does not open.

pub mod key_store;

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::entropy::Entropy;
use crate::sealed::Sealer;
use crate::secrets::{load_or_create_key, KeyError};
pub use key_store::{KeyStore, KeyStoreError};

/// Why the vault could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The vault key could not be loaded.
    #[error("vault key")]
    Key(#[from] KeyError),
    /// The key store failed.
    #[error("vault key store")]
    Store(#[from] KeyStoreError),
    /// The data key is not in the key store (destroyed, or never stored).
    #[error("data key {0} is not in the key store")]
    MissingKey(Uuid),
    /// A sealed value did not open: another key, or damage.
    #[error("a sealed {0} does not open with this vault's keys")]
    Unseal(&'static str),
}

/// An upstream token response, as sealed in the log.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamTokens {
    /// The access token.
    pub access_token: String,
    /// The refresh token, if the provider gave one.
    pub refresh_token: Option<String>,
    /// Its `token_type` (`Bearer`).
    pub token_type: String,
}

impl std::fmt::Debug for UpstreamTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTokens")
            .field("token_type", &self.token_type)
            .field("refresh_token", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

/// A connection's data key, in the clear (zeroed when dropped).
pub struct DataKey {
    id: Uuid,
    bytes: Zeroizing<[u8; 32]>,
}

impl DataKey {
    /// Its id (`key_id` in the events).
    pub fn id(&self) -> Uuid {
        self.id
    }
}

/// What the token seal's associated data names.
fn tokens_context(user: &Uuid, provider_id: &str, key_id: &Uuid) -> String {
    format!("authlog:vault:tokens:v1|{user}|{key_id}|{provider_id}")
}

/// The vault: the vault key and the key store.
#[derive(Clone)]
pub struct Vault {
    sealer: Sealer,
    store: Arc<dyn KeyStore>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(..)")
    }
}

impl Vault {
    /// The vault key `configured` (base64url), or `<data>/vault-key`
    /// (created 0600 on first start), over `store`.
    pub fn open(
        data_dir: &Path,
        configured: Option<&str>,
        store: Arc<dyn KeyStore>,
    ) -> Result<Self, VaultError> {
        let key = Zeroizing::new(load_or_create_key(
            data_dir,
            "vault-key",
            configured,
            "AUTHLOG_VAULT_KEY",
        )?);
        Ok(Self::with_key(&key, store))
    }

    /// A vault over `store` with the vault key `key`.
    pub fn with_key(key: &[u8; 32], store: Arc<dyn KeyStore>) -> Self {
        Vault {
            sealer: Sealer::new(key),
            store,
        }
    }

    /// Seals a provider's client secret for its events.
    pub fn seal_client_secret(
        &self,
        entropy: &dyn Entropy,
        provider_id: &str,
        secret: &str,
    ) -> Vec<u8> {
        let aad = format!("authlog:vault:client-secret:v1|{provider_id}");
        self.sealer
            .seal(entropy.bytes(), aad.as_bytes(), secret.as_bytes())
    }

    /// Opens a provider's sealed client secret.
    pub fn open_client_secret(
        &self,
        provider_id: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<String>, VaultError> {
        let aad = format!("authlog:vault:client-secret:v1|{provider_id}");
        let plain = self
            .sealer
            .open(aad.as_bytes(), sealed)
            .ok_or(VaultError::Unseal("client secret"))?;
        String::from_utf8(plain.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| VaultError::Unseal("client secret"))
    }

    /// Makes a new data key and stores it (wrapped, durably) before any
    /// event names it.
    pub fn new_data_key(&self, entropy: &dyn Entropy) -> Result<DataKey, VaultError> {
        let key = DataKey {
            id: entropy.id(),
            bytes: Zeroizing::new(entropy.bytes()),
        };
        let wrapped = self
            .sealer
            .seal(entropy.bytes(), &wrap_context(&key.id), &key.bytes[..]);
        self.store.put(key.id, &wrapped)?;
        Ok(key)
    }

    /// A stored data key.
    pub fn data_key(&self, id: Uuid) -> Result<DataKey, VaultError> {
        let wrapped = self.store.get(id)?.ok_or(VaultError::MissingKey(id))?;
        let plain = self
            .sealer
            .open(&wrap_context(&id), &wrapped)
            .ok_or(VaultError::Unseal("data key"))?;
        let bytes: [u8; 32] = plain[..]
            .try_into()
            .map_err(|_| VaultError::Unseal("data key"))?;
        Ok(DataKey {
            id,
            bytes: Zeroizing::new(bytes),
        })
    }

    /// Destroys data keys (after their `UpstreamDisconnected` committed).
    pub fn destroy(&self, ids: &[Uuid]) -> Result<(), VaultError> {
        for id in ids {
            self.store.delete(*id)?;
        }
        Ok(())
    }

    /// Destroys every stored key no live connection uses: those whose end
    /// committed before their deletion could run, and those stored for a
    /// connection that never committed. Returns how many.
    pub fn sweep(&self, in_use: impl Fn(&Uuid) -> bool) -> Result<usize, VaultError> {
        let unused: Vec<Uuid> = self
            .store
            .ids()?
            .into_iter()
            .filter(|id| !in_use(id))
            .collect();
        self.destroy(&unused)?;
        Ok(unused.len())
    }

    /// Seals a token response for a connection's events.
    pub fn seal_tokens(
        &self,
        entropy: &dyn Entropy,
        key: &DataKey,
        user: &Uuid,
        provider_id: &str,
        tokens: &UpstreamTokens,
    ) -> Vec<u8> {
        let plain = Zeroizing::new(serde_json::to_vec(tokens).expect("tokens serialize"));
        let aad = tokens_context(user, provider_id, &key.id);
        Sealer::new(&key.bytes).seal(entropy.bytes(), aad.as_bytes(), &plain)
    }

    /// Opens a connection's sealed token response.
    pub fn open_tokens(
        &self,
        key: &DataKey,
        user: &Uuid,
        provider_id: &str,
        sealed: &[u8],
    ) -> Result<UpstreamTokens, VaultError> {
        let aad = tokens_context(user, provider_id, &key.id);
        let plain = Sealer::new(&key.bytes)
            .open(aad.as_bytes(), sealed)
            .ok_or(VaultError::Unseal("token response"))?;
        serde_json::from_slice(&plain).map_err(|_| VaultError::Unseal("token response"))
    }

    /// Opens a connection's tokens with its data key from the store.
    pub fn open_connection(
        &self,
        key_id: Uuid,
        user: &Uuid,
        provider_id: &str,
        sealed: &[u8],
    ) -> Result<UpstreamTokens, VaultError> {
        let key = self.data_key(key_id)?;
        self.open_tokens(&key, user, provider_id, sealed)
    }
}

fn wrap_context(id: &Uuid) -> Vec<u8> {
    format!("authlog:vault:data-key:v1|{id}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::SystemEntropy;
    use key_store::MemoryKeyStore;

    fn tokens() -> UpstreamTokens {
        UpstreamTokens {
            access_token: "upstream-access".into(),
            refresh_token: Some("upstream-refresh".into()),
            token_type: "Bearer".into(),
        }
    }

    #[test]
    fn tokens_open_only_with_their_key_user_and_provider_and_never_after_the_key_is_destroyed() {
        let vault = Vault::with_key(&[3; 32], Arc::new(MemoryKeyStore::default()));
        let user = Uuid::from_u128(1);
        let key = vault.new_data_key(&SystemEntropy).unwrap();
        let sealed = vault.seal_tokens(&SystemEntropy, &key, &user, "up", &tokens());
        assert!(!sealed.windows(b"upstream".len()).any(|w| w == b"upstream"));
        let opened = vault
            .open_connection(key.id(), &user, "up", &sealed)
            .unwrap();
        assert_eq!(opened, tokens());
        assert!(vault
            .open_connection(key.id(), &Uuid::from_u128(2), "up", &sealed)
            .is_err());
        assert!(vault
            .open_connection(key.id(), &user, "other", &sealed)
            .is_err());
        let other = Vault::with_key(&[4; 32], vault.store.clone());
        assert!(matches!(
            other.open_connection(key.id(), &user, "up", &sealed),
            Err(VaultError::Unseal(_))
        ));
        vault.destroy(&[key.id()]).unwrap();
        assert!(matches!(
            vault.open_connection(key.id(), &user, "up", &sealed),
            Err(VaultError::MissingKey(_))
        ));
    }

    #[test]
    fn a_sweep_keeps_the_keys_in_use_only() {
        let vault = Vault::with_key(&[3; 32], Arc::new(MemoryKeyStore::default()));
        let kept = vault.new_data_key(&SystemEntropy).unwrap().id();
        let orphan = vault.new_data_key(&SystemEntropy).unwrap().id();
        assert_eq!(vault.sweep(|id| *id == kept).unwrap(), 1);
        assert!(vault.data_key(kept).is_ok());
        assert!(matches!(
            vault.data_key(orphan),
            Err(VaultError::MissingKey(_))
        ));
    }

    #[test]
    fn client_secrets_open_for_their_provider_only() {
        let vault = Vault::with_key(&[5; 32], Arc::new(MemoryKeyStore::default()));
        let sealed = vault.seal_client_secret(&SystemEntropy, "up", "s3cret");
        assert_eq!(&*vault.open_client_secret("up", &sealed).unwrap(), "s3cret");
        assert!(vault.open_client_secret("down", &sealed).is_err());
        assert!(vault.open_client_secret("up", &sealed[..10]).is_err());
    }
}
