//! `Env`: what a decision draws on besides the committed state: the
//! instant of its batch, new ids, and new secrets with their digests. The
//! writer builds one per batch from the injected clock, entropy and server
//! key; tests build one from a fixed instant and `SequentialEntropy`.

use authlog_events::{Digest, Timestamp};
use uuid::Uuid;

use crate::entropy::Entropy;
use crate::secrets::{Minted, SecretKind, ServerKey};

/// The instant and the sources of one decision.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    now: Timestamp,
    entropy: &'a dyn Entropy,
    key: &'a ServerKey,
    issuer: &'a str,
}

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env").field("now", &self.now).finish()
    }
}

impl<'a> Env<'a> {
    /// Decisions at `now`, drawing on `entropy`, digesting under `key`.
    pub fn new(now: Timestamp, entropy: &'a dyn Entropy, key: &'a ServerKey) -> Self {
        Env {
            now,
            entropy,
            key,
            issuer: "",
        }
    }

    /// The same, issuing tokens as `issuer` (the `iss` of JWT access tokens).
    pub fn for_issuer(self, issuer: &'a str) -> Self {
        Env { issuer, ..self }
    }

    /// The issuer tokens are issued as.
    pub fn issuer(&self) -> &str {
        self.issuer
    }

    /// The instant of the decision (one per batch).
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// A new id (event ids, token ids, grant families, users).
    pub fn id(&self) -> Uuid {
        self.entropy.id()
    }

    /// A new secret of `kind` and its digest.
    pub fn mint(&self, kind: SecretKind) -> Minted {
        self.key.mint(self.entropy, kind)
    }

    /// The digest of a presented value.
    pub fn digest(&self, value: &str) -> Digest {
        self.key.digest(value)
    }

    /// The server key (to open sealed signing keys).
    pub fn server_key(&self) -> &ServerKey {
        self.key
    }

    /// 32 random bytes.
    pub fn bytes(&self) -> [u8; 32] {
        self.entropy.bytes()
    }

    /// A new RSA-2048 private key (PKCS#8 DER).
    pub fn rsa_private_key(&self) -> Vec<u8> {
        self.entropy.rsa_private_key()
    }
}
