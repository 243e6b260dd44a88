//! The signing keys of ID tokens and JWT access tokens, folded from
//! `SigningKeyCreated` / `SigningKeyActivated` / `SigningKeyRetired`: which
//! key of each algorithm signs now, which one is published ahead of its
//! turn, and which retired keys stay published until their tokens have
//! expired. Private keys stay sealed here; only the server can open them.

use std::collections::BTreeMap;

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
    /// Algorithm → the key of it that signs now.
    active: BTreeMap<String, String>,
}

impl SigningKeys {
    /// The key of `alg` that signs now.
    pub fn active(&self, alg: &str) -> Option<&SigningKey> {
        let kid = self.active.get(alg)?;
        self.get(kid)
    }

    /// Every key that signs now, one per algorithm.
    pub fn all_active(&self) -> impl Iterator<Item = &SigningKey> {
        self.active.values().filter_map(|kid| self.get(kid))
    }

    /// Whether `kid` signs now.
    pub fn is_active(&self, kid: &str) -> bool {
        self.active.values().any(|k| k == kid)
    }

    /// The newest key of `alg` made but never activated: the one the next
    /// rotation activates, already published.
    pub fn next(&self, alg: &str) -> Option<&SigningKey> {
        self.keys
            .iter()
            .rev()
            .find(|k| k.alg == alg && k.activated_at.is_none() && k.retired.is_none())
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
                    self.active.insert(key.alg.clone(), kid.clone());
                }
            }
            Event::SigningKeyRetired { kid, unpublish_at } => {
                if let Some(key) = self.keys.iter_mut().find(|k| &k.kid == kid) {
                    key.retired = Some((event.recorded_at, *unpublish_at));
                }
                self.active.retain(|_, active| active != kid);
            }
            _ => {}
        }
    }
}
