//! Signed checkpoints: `{position, hash, signature}` where the signature is
//! HMAC-SHA256 under the audit key (separate from the server key) over
//! `position (8 bytes, big-endian) ‖ hash (32 bytes)`. Anyone who kept a
//! checkpoint can later prove the log still extends it: the record at that
//! position must still have that hash, and the chain must verify. A rewrite
//! that recomputes the whole chain changes that hash, so it is caught.

use std::path::Path;

use authlog_events::{EventLog, StoreError};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::secrets::{load_or_create_key, read_key_file, KeyError};

/// The audit key's file in the data directory.
pub const AUDIT_KEY_FILE: &str = "audit-key";
/// The environment variable that overrides the file.
pub const AUDIT_KEY_ENV: &str = "AUTHLOG_AUDIT_KEY";

/// The HMAC key that signs checkpoints.
#[derive(Clone)]
pub struct AuditKey {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

impl AuditKey {
    /// A key from raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        AuditKey {
            mac: Hmac::<Sha256>::new_from_slice(&bytes).expect("HMAC takes keys of any length"),
        }
    }

    /// The configured key (base64url), or `<data>/audit-key`, created on first start.
    pub fn load_or_create(data_dir: &Path, configured: Option<&str>) -> Result<Self, KeyError> {
        load_or_create_key(data_dir, AUDIT_KEY_FILE, configured, AUDIT_KEY_ENV)
            .map(Self::from_bytes)
    }

    /// The configured key, or the existing `<data>/audit-key`; `None` when
    /// neither exists (nothing is created).
    pub fn load_existing(
        data_dir: &Path,
        configured: Option<&str>,
    ) -> Result<Option<Self>, KeyError> {
        if configured.is_some() {
            return Self::load_or_create(data_dir, configured).map(Some);
        }
        let path = data_dir.join(AUDIT_KEY_FILE);
        if !path.exists() {
            return Ok(None);
        }
        read_key_file(&path).map(|b| Some(Self::from_bytes(b)))
    }

    fn mac(&self, position: u64, hash: &[u8; 32]) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(&position.to_be_bytes());
        mac.update(hash);
        mac
    }

    /// Signs a log position and its hash.
    pub fn sign(&self, position: u64, hash: &[u8; 32]) -> Checkpoint {
        let signature = self.mac(position, hash).finalize().into_bytes();
        Checkpoint {
            position,
            hash: hex::encode(hash),
            signature: hex::encode(signature),
        }
    }

    /// Whether `checkpoint`'s signature is this key's (constant time).
    pub fn signed(&self, checkpoint: &Checkpoint) -> bool {
        let (Ok(hash), Ok(signature)) =
            (checkpoint.hash_bytes(), hex::decode(&checkpoint.signature))
        else {
            return false;
        };
        self.mac(checkpoint.position, &hash)
            .verify_slice(&signature)
            .is_ok()
    }
}

/// A signed statement that the log's record at `position` has `hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Checkpoint {
    /// Log position.
    pub position: u64,
    /// The record's chain hash (hex).
    pub hash: String,
    /// HMAC-SHA256(audit key, position BE ‖ hash), hex.
    pub signature: String,
}

impl Checkpoint {
    /// The hash as bytes.
    pub fn hash_bytes(&self) -> Result<[u8; 32], String> {
        hex::decode(&self.hash)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| "the checkpoint's hash is not 32 bytes of hex".to_owned())
    }
}

/// Whether the log still extends a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extension {
    /// The record at the position has the hash, and the chain verifies.
    Extends {
        /// Records after the checkpoint.
        records_after: u64,
    },
    /// It does not; why.
    Diverges(String),
}

/// Checks that `store` still extends `checkpoint` (hash at its position,
/// intact chain). Signatures are checked separately (`AuditKey::signed`).
pub fn check_extends(
    store: &dyn EventLog,
    checkpoint: &Checkpoint,
) -> Result<Extension, StoreError> {
    let expected = match checkpoint.hash_bytes() {
        Ok(h) => h,
        Err(e) => return Ok(Extension::Diverges(e)),
    };
    if checkpoint.position == 0 {
        return Ok(Extension::Diverges(
            "a checkpoint starts at position 1".into(),
        ));
    }
    let record = store.read_all(checkpoint.position, 1)?;
    match record.first() {
        Some(r) if r.position == checkpoint.position && r.hash == expected => {}
        Some(r) if r.position == checkpoint.position => {
            return Ok(Extension::Diverges(format!(
                "the record at position {} has hash {}, the checkpoint says {}",
                r.position,
                hex::encode(r.hash),
                checkpoint.hash
            )))
        }
        _ => {
            return Ok(Extension::Diverges(format!(
                "the log has no record at position {}",
                checkpoint.position
            )))
        }
    }
    let report = store.verify()?;
    if let Some(broken) = report.broken {
        return Ok(Extension::Diverges(format!(
            "the chain is broken at position {}: {}",
            broken.position, broken.reason
        )));
    }
    let head = report.head.map_or(0, |h| h.position);
    Ok(Extension::Extends {
        records_after: head.saturating_sub(checkpoint.position),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_signature_covers_position_and_hash() {
        let key = AuditKey::from_bytes([3; 32]);
        let c = key.sign(7, &[9; 32]);
        assert!(key.signed(&c));
        assert!(!AuditKey::from_bytes([4; 32]).signed(&c));
        let mut moved = c.clone();
        moved.position = 8;
        assert!(!key.signed(&moved));
        let mut rehashed = c.clone();
        rehashed.hash = hex::encode([8u8; 32]);
        assert!(!key.signed(&rehashed));
    }

    #[test]
    fn the_audit_key_file_is_private_and_separate_from_the_server_key() {
        let dir = tempfile::tempdir().unwrap();
        assert!(AuditKey::load_existing(dir.path(), None).unwrap().is_none());
        let a = AuditKey::load_or_create(dir.path(), None).unwrap();
        let b = AuditKey::load_existing(dir.path(), None).unwrap().unwrap();
        assert_eq!(a.sign(1, &[0; 32]), b.sign(1, &[0; 32]));
        assert!(dir.path().join(AUDIT_KEY_FILE).exists());
        assert!(!dir.path().join("server-key").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join(AUDIT_KEY_FILE);
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
            assert!(matches!(
                AuditKey::load_or_create(dir.path(), None),
                Err(KeyError::Exposed(_))
            ));
        }
    }
}
