//! A connection in progress, carried through the provider's redirect in
//! a cookie rather than stored: the provider, the user who started it,
//! `state`, the PKCE verifier, where to go after, and an expiry (10
//! minutes), sealed with XChaCha20-Poly1305 under a key derived from the
//! server key. Any replica can finish it; nobody can read or forge it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entropy::Entropy;
use crate::sealed::Sealer;
use crate::secrets::ServerKey;

/// How long a user has at the provider.
pub const LIFETIME_SECONDS: i64 = 600;
const CONTEXT: &[u8] = b"authlog:connect-state:v1";

/// What the callback needs to finish a connection.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PendingConnect {
    /// The provider.
    pub provider_id: String,
    /// The user who started it.
    pub user_id: Uuid,
    /// The `state` sent to the provider.
    pub state: String,
    /// The PKCE verifier, when PKCE is on.
    pub verifier: Option<String>,
    /// Where to send the browser after (a URL authlog made itself).
    pub return_to: Option<String>,
    /// Unix seconds after which it is refused.
    pub expires: i64,
}

impl std::fmt::Debug for PendingConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingConnect")
            .field("provider_id", &self.provider_id)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// A random URL-safe value (`state`, PKCE verifier).
pub fn random_value(entropy: &dyn Entropy) -> String {
    URL_SAFE_NO_PAD.encode(entropy.bytes())
}

fn sealer(key: &ServerKey) -> Sealer {
    Sealer::new(&key.digest("authlog:connect-state-seal:v1").0)
}

impl PendingConnect {
    /// Sealed, as a cookie value.
    pub fn seal(&self, key: &ServerKey, entropy: &dyn Entropy) -> String {
        let plain = serde_json::to_vec(self).expect("the pending connection serializes");
        URL_SAFE_NO_PAD.encode(sealer(key).seal(entropy.bytes(), CONTEXT, &plain))
    }

    /// Opens a cookie value; `None` when it is not one of ours or has
    /// expired at `now` (unix seconds).
    pub fn open(key: &ServerKey, value: &str, now: i64) -> Option<PendingConnect> {
        let sealed = URL_SAFE_NO_PAD.decode(value).ok()?;
        let plain = sealer(key).open(CONTEXT, &sealed)?;
        let pending: PendingConnect = serde_json::from_slice(&plain).ok()?;
        (now < pending.expires).then_some(pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::SystemEntropy;

    #[test]
    fn a_sealed_state_opens_only_with_the_key_and_before_it_expires() {
        let key = ServerKey::from_bytes([1; 32]);
        let pending = PendingConnect {
            provider_id: "up".into(),
            user_id: Uuid::from_u128(9),
            state: "s".into(),
            verifier: Some("v".into()),
            return_to: None,
            expires: 1_000,
        };
        let value = pending.seal(&key, &SystemEntropy);
        assert_eq!(PendingConnect::open(&key, &value, 999), Some(pending));
        assert_eq!(PendingConnect::open(&key, &value, 1_000), None);
        assert_eq!(
            PendingConnect::open(&ServerKey::from_bytes([2; 32]), &value, 0),
            None
        );
        let mut tampered = URL_SAFE_NO_PAD.decode(&value).unwrap();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(
            PendingConnect::open(&key, &URL_SAFE_NO_PAD.encode(tampered), 0),
            None
        );
    }
}
