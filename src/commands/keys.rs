//! Signing-key commands: provisioning and rotation. A key is published in
//! the JWKS one rotation before it signs: every rotation activates the key
//! made by the previous one (already in every relying party's cached JWKS)
//! and makes the next. The retired key stays published until every token
//! it could have signed has expired.

use authlog_events::{Event, Timestamp};
use authlog_projections::Projections;

use super::{Access, Command, Decided, DomainError, Env, EventContext};
use crate::signing::{new_es256, ES256};

/// The stream of every key event.
pub const STREAM: &str = "signing-keys";

/// How long a retired key stays in the JWKS: the longest any token it
/// signed lives (ID tokens and JWT access tokens live as long as the
/// client's access tokens, at most `MAX_ACCESS_TTL`), plus clock skew.
pub const RETIRED_KEY_PUBLISHED_SECONDS: i64 = crate::client_policy::MAX_ACCESS_TTL as i64 + 300;

/// Activates the published next key (or, on a log with no keys, makes and
/// activates the first), retires the active one, and makes the next.
pub struct RotateSigningKeys {
    /// Only when no key is active (start-up provisioning): a rotation that
    /// finds an active key does nothing and says so.
    pub only_if_missing: bool,
    /// Attribution.
    pub ctx: EventContext,
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    /// The key that signs now.
    pub active: String,
    /// The key retired, if one was.
    pub retired: Option<(String, Timestamp)>,
    /// The key published for the next rotation.
    pub next: String,
}

impl Command for RotateSigningKeys {
    type Outcome = Option<Rotated>;

    fn access(&self) -> Access {
        Access::writes(vec![STREAM.to_owned()])
    }

    fn decide(
        &self,
        state: &Projections,
        env: &Env,
    ) -> Result<Decided<Self::Outcome>, DomainError> {
        let keys = &state.signing_keys;
        if self.only_if_missing && keys.active().is_some() {
            return Ok(Decided::nothing(None));
        }
        let event = |payload| self.ctx.event_for(env, STREAM.to_owned(), None, payload);
        let created = |events: &mut Vec<_>| {
            let key = new_es256(env);
            events.push(event(Event::SigningKeyCreated {
                kid: key.kid.clone(),
                alg: ES256.to_owned(),
                public_jwk: key.public_jwk,
                sealed_private_key: key.sealed_private_key,
            }));
            key.kid
        };
        let mut events = Vec::new();
        let activate = match keys.next() {
            Some(next) => next.kid.clone(),
            None => created(&mut events),
        };
        let retired = keys.active().map(|old| {
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
        let next = created(&mut events);
        Ok(Decided::events(
            events,
            Some(Rotated {
                active: activate,
                retired,
                next,
            }),
        ))
    }
}
