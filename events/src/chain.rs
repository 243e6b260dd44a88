//! The SHA-256 hash chain: each record's hash covers the previous record's
//! hash and the record's own encoded body, so changing, removing or
//! reordering any record changes every hash after it.

use sha2::{Digest as _, Sha256};

/// The `prev_hash` of the first record.
pub const GENESIS: [u8; 32] = [0u8; 32];

/// `SHA-256(prev_hash ‖ body)`.
pub fn link_hash(prev_hash: &[u8; 32], body: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash);
    hasher.update(body);
    hasher.finalize().into()
}
