//! Sealed values: XChaCha20-Poly1305 under a 32-byte key, stored as a
//! random 24-byte nonce ‖ ciphertext, with associated data naming what the
//! value belongs to (so a ciphertext moved elsewhere does not open). The
//! signing keys in the log, the vault's client secrets, data keys and token
//! responses, and the pending-connection cookie are all sealed this way.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

/// Nonce length.
const NONCE: usize = 24;

/// A sealing key.
#[derive(Clone)]
pub struct Sealer(XChaCha20Poly1305);

impl Sealer {
    /// A sealer under `key`.
    pub fn new(key: &[u8; 32]) -> Self {
        Sealer(XChaCha20Poly1305::new(key.into()))
    }

    /// Seals `plain` with `aad`; `random` gives the nonce (its first 24
    /// bytes).
    pub fn seal(&self, random: [u8; 32], aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let nonce = &random[..NONCE];
        let ciphertext = self
            .0
            .encrypt(XNonce::from_slice(nonce), Payload { msg: plain, aad })
            .expect("XChaCha20-Poly1305 seals any message that fits in memory");
        let mut sealed = Vec::with_capacity(NONCE + ciphertext.len());
        sealed.extend_from_slice(nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// Opens a sealed value; `None` when it was sealed under another key or
    /// `aad`, or damaged.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE);
        self.0
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .ok()
            .map(Zeroizing::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_associated_data() {
        let sealer = Sealer::new(&[1; 32]);
        let sealed = sealer.seal([7; 32], b"kid-1", b"secret");
        assert_eq!(
            sealer.open(b"kid-1", &sealed).unwrap().as_slice(),
            b"secret"
        );
        assert!(sealer.open(b"kid-2", &sealed).is_none());
        assert!(Sealer::new(&[2; 32]).open(b"kid-1", &sealed).is_none());
        assert!(sealer.open(b"kid-1", &sealed[..NONCE]).is_none());
        let mut damaged = sealed.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(sealer.open(b"kid-1", &damaged).is_none());
    }
}
