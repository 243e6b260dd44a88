//! `authlog-projections`: pure, deterministic folds over recorded events
//! into the read models the server answers queries from. No I/O, no clock
//! reads: time comes from events or from a query argument.
//!
//! Depends only on `authlog-events`.
#![warn(missing_docs)]

pub mod audit;
pub mod grants;
pub mod log_stats;
pub mod registry;
pub mod sharded;
pub mod signing_keys;
pub mod tokens;
pub mod upstream;
pub mod users;

use authlog_events::RecordedEvent;
use serde::{Deserialize, Serialize};

/// A hash map for the per-event hot paths of the folds: foldhash (seeded
/// per map, so keys chosen by clients cannot be aimed at it) instead of
/// SipHash, which was a few percent of replay.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::quality::RandomState>;
/// The set of `FastMap`.
pub(crate) type FastSet<K> = std::collections::HashSet<K, foldhash::quality::RandomState>;

pub use audit::{AuditIndex, ClientAudit, ClientChange, Registration, StatusEntry};
pub use grants::{CodeRecord, DeviceRecord, DeviceState, Grants, SignIn};
pub use log_stats::LogStats;
pub use registry::{ClientRecord, ClientStatus, Registry};
pub use signing_keys::{SigningKey, SigningKeys};
pub use tokens::{TokenIndex, TokenRecord};
pub use upstream::{Connection, ConnectionStatus, ProviderRecord, Upstream};
pub use users::{Consent, UserRecord, Users};

/// A read model folded from the log.
pub trait Projection {
    /// Folds one committed event in. Called once per event, in position order.
    fn apply(&mut self, event: &RecordedEvent);
}

/// Every read model the server keeps, folded together so that each one has
/// seen exactly the same prefix of the log.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Projections {
    /// Position of the last event applied (0 = none).
    pub applied_position: u64,
    /// Counts of what the log holds.
    pub stats: LogStats,
    /// Clients.
    pub registry: Registry,
    /// Tokens.
    pub tokens: TokenIndex,
    /// Users and consents.
    pub users: Users,
    /// Codes and device authorizations.
    pub grants: Grants,
    /// The actor index and per-client audit summaries.
    pub audit: AuditIndex,
    /// ID token and JWT signing keys.
    pub signing_keys: SigningKeys,
    /// Upstream providers and users' connections to them.
    pub upstream: Upstream,
}

impl Projections {
    /// Applies an event unless it was applied already (idempotent re-appends
    /// hand back records that are already folded in).
    pub fn apply(&mut self, event: &RecordedEvent) -> bool {
        if event.position <= self.applied_position {
            return false;
        }
        let (tokens, mut others) = self.split();
        tokens.apply(event);
        others.apply(event);
        self.applied_position = event.position;
        true
    }

    /// The token index and the other read models, borrowed apart so that a
    /// replay can fold them on two threads: each read model reads only the
    /// event and its own state. The caller then sets `applied_position`.
    pub fn split(&mut self) -> (&mut TokenIndex, OtherProjections<'_>) {
        (
            &mut self.tokens,
            OtherProjections {
                stats: &mut self.stats,
                registry: &mut self.registry,
                users: &mut self.users,
                grants: &mut self.grants,
                audit: &mut self.audit,
                signing_keys: &mut self.signing_keys,
                upstream: &mut self.upstream,
            },
        )
    }
}

/// Every read model but the token index (see `Projections::split`).
#[derive(Debug)]
pub struct OtherProjections<'a> {
    stats: &'a mut LogStats,
    registry: &'a mut Registry,
    users: &'a mut Users,
    grants: &'a mut Grants,
    audit: &'a mut AuditIndex,
    signing_keys: &'a mut SigningKeys,
    upstream: &'a mut Upstream,
}

impl OtherProjections<'_> {
    /// Folds one event into each of them.
    pub fn apply(&mut self, event: &RecordedEvent) {
        self.stats.apply(event);
        self.registry.apply(event);
        self.users.apply(event);
        self.grants.apply(event);
        self.audit.apply(event);
        self.signing_keys.apply(event);
        self.upstream.apply(event);
    }
}
