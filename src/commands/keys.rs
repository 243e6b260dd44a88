//! Signing-key commands: provisioning and rotation. A key is published in
//! the JWKS one rotation before it signs: every rotation activates the key
//! made by the previous one (already in every relying party's cached JWKS)
//! and makes the next. The retired key stays published until every token
//! it could have signed has expired.

use authlog_events::{Event, Timestamp};
use authlog_projections::Projections;

use super::{Access, Command, Decided, DomainError, Env, EventContext};
use crate::signing::{new_key, ALGORITHMS, ES256};

/// The stream of every key event.
pub const STREAM: &str = "signing-keys";

/// How long a retired key stays in the JWKS: the longest any token it
/// signed lives (ID tokens and JWT access tokens live as long as the
/// client's access tokens, at most `MAX_ACCESS_TTL`), plus clock skew.
pub const RETIRED_KEY_PUBLISHED_SECONDS: i64 = crate::client_policy::MAX_ACCESS_TTL as i64 + 300;

/// For each algorithm asked: activates its published next key (or, with
/// no keys of it yet, makes and activates the first), retires its active
/// one, and makes its next.
pub struct RotateSigningKeys {
    /// Only algorithms with no active key (provisioning): a rotation that
    /// finds one active does nothing for it.
    pub only_if_missing: bool,
    /// One algorithm (`ES256` at start-up, `RS256` when a client first
    /// asks for it); `None`: every algorithm that has an active key, and
    /// ES256 always.
    pub alg: Option<&'static str>,
    /// Attribution.
    pub ctx: EventContext,
}

/// What a rotation did to one algorithm's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    /// The algorithm.
    pub alg: &'static str,
    /// The key that signs now.
    pub active: String,
    /// The key retired, if one was.
    pub retired: Option<(String, Timestamp)>,
    /// The key published for the next rotation.
    pub next: String,
}

impl Command for RotateSigningKeys {
    type Outcome = Vec<Rotated>;

    fn access(&self) -> Access {
        Access::writes(vec![STREAM.to_owned()])
    }

    fn decide(
        &self,
        state: &Projections,
        env: &Env,
    ) -> Result<Decided<Self::Outcome>, DomainError> {
        let keys = &state.signing_keys;
        let algs = ALGORITHMS.into_iter().filter(|alg| match self.alg {
            Some(only) => only == *alg,
            None => *alg == ES256 || keys.active(alg).is_some(),
        });
        let event = |payload| self.ctx.event_for(env, STREAM.to_owned(), None, payload);
        let mut events = Vec::new();
        let mut rotations = Vec::new();
        for alg in algs {
            if self.only_if_missing && keys.active(alg).is_some() {
                continue;
            }
            let created = |events: &mut Vec<_>| {
                let key = new_key(env, alg);
                events.push(event(Event::SigningKeyCreated {
                    kid: key.kid.clone(),
                    alg: alg.to_owned(),
                    public_jwk: key.public_jwk,
                    sealed_private_key: key.sealed_private_key,
                }));
                key.kid
            };
            let activate = match keys.next(alg) {
                Some(next) => next.kid.clone(),
                None => created(&mut events),
            };
            let retired = keys.active(alg).map(|old| {
                let until = env.now().plus_seconds(RETIRED_KEY_PUBLISHED_SECONDS);
                events.push(event(Event::SigningKeyRetired {
                    kid: old.kid.clone(),
                    unpublish_at: until,
                }));
                (old.kid.clone(), until)
            });
            events.push(event(Event::SigningKeyActivated {
                kid: activate.clone(),
            }));
            rotations.push(Rotated {
                alg,
                active: activate,
                retired,
                next: created(&mut events),
            });
        }
        if events.is_empty() {
            return Ok(Decided::nothing(rotations));
        }
        Ok(Decided::events(events, rotations))
    }
}
