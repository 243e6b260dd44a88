//! The signing keys of ID tokens and JWT access tokens, folded from
//! `SigningKeyCreated` / `SigningKeyActivated` / `SigningKeyRetired`: which
//! key signs now, which one is published ahead of its turn, and which
//! retired keys stay published until their tokens have expired. Private
//! keys stay sealed here; only the server can open them.

use authlog_events::{Event, RecordedEvent, Timestamp};
use serde::{Deserialize, Serialize};

use crate::Projection;

/// One key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKey {
    /// Key id.
    pub kid: String,
    /// JWS algorithm.
    pub alg: String,
    /// Public JWK (JSON text).
    pub public_jwk: String,
    /// Sealed private key (see `SigningKeyCreated`).
    pub sealed_private_key: Vec<u8>,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it began to sign, if it has.
    pub activated_at: Option<Timestamp>,
    /// When it stopped signing and when it leaves the JWKS.
    pub retired: Option<(Timestamp, Timestamp)>,
}

impl SigningKey {
    /// Whether the JWKS lists it at `now`: from creation until its
    /// `unpublish_at`.
    pub fn published(&self, now: Timestamp) -> bool {
        self.retired.is_none_or(|(_, until)| now < until)
    }
}

/// Every key, oldest first.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeys {
    keys: Vec<SigningKey>,
    active: Option<String>,
}

impl SigningKeys {
    /// The key that signs now.
    pub fn active(&self) -> Option<&SigningKey> {
        let kid = self.active.as_deref()?;
        self.get(kid)
    }

    /// The newest key made but never activated: the one the next rotation
    /// activates, already published.
    pub fn next(&self) -> Option<&SigningKey> {
        self.keys
            .iter()
            .rev()
            .find(|k| k.activated_at.is_none() && k.retired.is_none())
    }

    /// A key by id.
    pub fn get(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// The keys the JWKS lists at `now`, oldest first.
    pub fn published(&self, now: Timestamp) -> impl Iterator<Item = &SigningKey> {
        self.keys.iter().filter(move |k| k.published(now))
    }

    /// Every key ever made, oldest first.
    pub fn all(&self) -> &[SigningKey] {
        &self.keys
    }
}

impl Projection for SigningKeys {
    fn apply(&mut self, event: &RecordedEvent) {
        match &event.payload {
            Event::SigningKeyCreated {
                kid,
                alg,
                public_jwk,
                sealed_private_key,
            } => self.keys.push(SigningKey {
                kid: kid.clone(),
                alg: alg.clone(),
                public_jwk: public_jwk.clone(),
                sealed_private_key: sealed_private_key.clone(),
                created_at: event.recorded_at,
                activated_at: None,
                retired: None,
            }),
            Event::SigningKeyActivated { kid } => {
                if let Some(key) = self.keys.iter_mut().find(|k| &k.kid == kid) {
                    key.activated_at = Some(event.recorded_at);
                    self.active = Some(kid.clone());
                }
            }
            Event::SigningKeyRetired { kid, unpublish_at } => {
                if let Some(key) = self.keys.iter_mut().find(|k| &k.kid == kid) {
                    key.retired = Some((event.recorded_at, *unpublish_at));
                }
                if self.active.as_deref() == Some(kid.as_str()) {
                    self.active = None;
                }
            }
            _ => {}
        }
    }
}
