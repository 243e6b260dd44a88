//! The one source of randomness and new ids. Commands and handlers take an
//! `Entropy`; `rand::rng`, `Uuid::now_v7` and `Uuid::new_v4` are banned
//! elsewhere by clippy's `disallowed-methods`, so tests can make every
//! decision deterministic.

use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};
use uuid::Uuid;

/// Where random bytes and new ids come from.
pub trait Entropy: Send + Sync + 'static {
    /// 32 unpredictable bytes.
    fn bytes(&self) -> [u8; 32];

    /// A new id, time-ordered (UUIDv7) where the source allows.
    fn id(&self) -> Uuid;

    /// A new RSA-2048 private key (PKCS#8 DER) for RS256 signing. The one
    /// draw that is not from `bytes`: AWS-LC generates it from its own
    /// DRBG (seeded by the OS), as RSA generation from a caller's stream
    /// is not offered by any maintained constant-time implementation.
    /// Deterministic sources get a fresh key too; nothing decides on it.
    fn rsa_private_key(&self) -> Vec<u8> {
        use aws_lc_rs::encoding::AsDer;
        aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .and_then(|key| key.as_der())
            .expect("AWS-LC generates RSA-2048 keys")
            .as_ref()
            .to_vec()
    }
}

/// The operating system's randomness: `rand`'s thread-local CSPRNG
/// (ChaCha, seeded and regularly reseeded from the OS; the same strength
/// as asking the OS, without a system call per token), and UUIDv7 ids that
/// increase within the process, so index inserts stay append-like.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemEntropy;

impl Entropy for SystemEntropy {
    #[allow(clippy::disallowed_methods)]
    fn bytes(&self) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
        bytes
    }

    #[allow(clippy::disallowed_methods)]
    fn id(&self) -> Uuid {
        Uuid::now_v7()
    }
}

/// A deterministic source for tests: ids count up from 1 and bytes are the
/// SHA-256 of a counter, so the same steps give the same events.
#[derive(Debug, Default)]
pub struct SequentialEntropy {
    next: AtomicU64,
}

impl SequentialEntropy {
    fn step(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed) + 1
    }
}

impl Entropy for SequentialEntropy {
    fn bytes(&self) -> [u8; 32] {
        Sha256::digest(self.step().to_be_bytes()).into()
    }

    fn id(&self) -> Uuid {
        Uuid::from_u128(u128::from(self.step()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_ids_increase_and_bytes_differ() {
        let e = SystemEntropy;
        let (a, b) = (e.id(), e.id());
        assert!(b > a);
        assert_ne!(e.bytes(), e.bytes());
    }

    #[test]
    fn sequential_entropy_repeats_itself() {
        let (a, b) = (SequentialEntropy::default(), SequentialEntropy::default());
        assert_eq!((a.id(), a.bytes()), (b.id(), b.bytes()));
        assert_ne!(a.id(), a.id());
    }
}
