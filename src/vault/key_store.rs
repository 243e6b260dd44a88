//! Where wrapped data keys live: a store that, unlike the log, can forget.
//! `RedbKeyStore` (`<data>/vault-keys.redb`, one table, every write a
//! durable commit) beside the embedded log; `PgKeyStore`
//! (`authlog_vault_keys`, beside the log's tables) when the log is on
//! PostgreSQL, so the replica that leads next has the same keys.

use std::path::Path;
use std::sync::Arc;

use authlog_events::{PgStore, StoreError};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use uuid::Uuid;

/// The table of wrapped data keys: key id → nonce ‖ wrapped key.
const KEYS: TableDefinition<u128, &[u8]> = TableDefinition::new("vault_keys");

/// Why the key store failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    /// The embedded key store.
    #[error("vault-keys.redb")]
    Redb(#[source] Box<redb::Error>),
    /// The PostgreSQL key table.
    #[error("authlog_vault_keys")]
    Postgres(#[source] StoreError),
}

fn redb_error(e: impl Into<redb::Error>) -> KeyStoreError {
    KeyStoreError::Redb(Box::new(e.into()))
}

/// A store of wrapped data keys. `put` and `delete` are durable when they
/// return.
pub trait KeyStore: Send + Sync + 'static {
    /// Stores a wrapped key.
    fn put(&self, id: Uuid, wrapped: &[u8]) -> Result<(), KeyStoreError>;
    /// A wrapped key, if stored.
    fn get(&self, id: Uuid) -> Result<Option<Vec<u8>>, KeyStoreError>;
    /// Forgets a key (absent is fine).
    fn delete(&self, id: Uuid) -> Result<(), KeyStoreError>;
    /// Every stored key's id.
    fn ids(&self) -> Result<Vec<Uuid>, KeyStoreError>;
}

/// The embedded key store.
pub struct RedbKeyStore {
    db: Database,
}

impl RedbKeyStore {
    /// Opens (or creates) `<data>/vault-keys.redb`.
    pub fn open(data_dir: &Path) -> Result<Self, KeyStoreError> {
        let db = Database::create(data_dir.join("vault-keys.redb")).map_err(redb_error)?;
        let txn = db.begin_write().map_err(redb_error)?;
        txn.open_table(KEYS).map_err(redb_error)?;
        txn.commit().map_err(redb_error)?;
        Ok(RedbKeyStore { db })
    }
}

impl KeyStore for RedbKeyStore {
    fn put(&self, id: Uuid, wrapped: &[u8]) -> Result<(), KeyStoreError> {
        let txn = self.db.begin_write().map_err(redb_error)?;
        txn.open_table(KEYS)
            .map_err(redb_error)?
            .insert(id.as_u128(), wrapped)
            .map_err(redb_error)?;
        txn.commit().map_err(redb_error)
    }

    fn get(&self, id: Uuid) -> Result<Option<Vec<u8>>, KeyStoreError> {
        let txn = self.db.begin_read().map_err(redb_error)?;
        let table = txn.open_table(KEYS).map_err(redb_error)?;
        let value = table.get(id.as_u128()).map_err(redb_error)?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    fn delete(&self, id: Uuid) -> Result<(), KeyStoreError> {
        let txn = self.db.begin_write().map_err(redb_error)?;
        txn.open_table(KEYS)
            .map_err(redb_error)?
            .remove(id.as_u128())
            .map_err(redb_error)?;
        txn.commit().map_err(redb_error)
    }

    fn ids(&self) -> Result<Vec<Uuid>, KeyStoreError> {
        let txn = self.db.begin_read().map_err(redb_error)?;
        let table = txn.open_table(KEYS).map_err(redb_error)?;
        table
            .iter()
            .map_err(redb_error)?
            .map(|entry| {
                entry
                    .map(|(k, _)| Uuid::from_u128(k.value()))
                    .map_err(redb_error)
            })
            .collect()
    }
}

/// The key table beside a PostgreSQL log.
pub struct PgKeyStore(pub Arc<PgStore>);

impl KeyStore for PgKeyStore {
    fn put(&self, id: Uuid, wrapped: &[u8]) -> Result<(), KeyStoreError> {
        self.0
            .vault_key_put(id, wrapped)
            .map_err(KeyStoreError::Postgres)
    }

    fn get(&self, id: Uuid) -> Result<Option<Vec<u8>>, KeyStoreError> {
        self.0.vault_key_get(id).map_err(KeyStoreError::Postgres)
    }

    fn delete(&self, id: Uuid) -> Result<(), KeyStoreError> {
        self.0.vault_key_delete(id).map_err(KeyStoreError::Postgres)
    }

    fn ids(&self) -> Result<Vec<Uuid>, KeyStoreError> {
        self.0.vault_key_ids().map_err(KeyStoreError::Postgres)
    }
}

/// Keys in memory, for unit tests.
#[cfg(test)]
#[derive(Default)]
pub struct MemoryKeyStore(std::sync::Mutex<std::collections::BTreeMap<Uuid, Vec<u8>>>);

#[cfg(test)]
impl KeyStore for MemoryKeyStore {
    fn put(&self, id: Uuid, wrapped: &[u8]) -> Result<(), KeyStoreError> {
        self.0.lock().unwrap().insert(id, wrapped.to_vec());
        Ok(())
    }

    fn get(&self, id: Uuid) -> Result<Option<Vec<u8>>, KeyStoreError> {
        Ok(self.0.lock().unwrap().get(&id).cloned())
    }

    fn delete(&self, id: Uuid) -> Result<(), KeyStoreError> {
        self.0.lock().unwrap().remove(&id);
        Ok(())
    }

    fn ids(&self) -> Result<Vec<Uuid>, KeyStoreError> {
        Ok(self.0.lock().unwrap().keys().copied().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redb_store_keeps_keys_across_opens_and_forgets_deleted_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        {
            let store = RedbKeyStore::open(dir.path()).unwrap();
            store.put(a, b"wrapped-a").unwrap();
            store.put(b, b"wrapped-b").unwrap();
            store.delete(b).unwrap();
            store.delete(Uuid::from_u128(3)).unwrap();
        }
        let store = RedbKeyStore::open(dir.path()).unwrap();
        assert_eq!(store.get(a).unwrap().as_deref(), Some(&b"wrapped-a"[..]));
        assert_eq!(store.get(b).unwrap(), None);
        assert_eq!(store.ids().unwrap(), vec![a]);
    }
}
