//! The client registry as it was at a past instant, folded from the log:
//! what `GET /api/admin/oauth-clients[/{id}]?at=TIME` and `authlog audit
//! --at TIME [--client ID]` answer.
//!
//! The state at `at` is the fold, in log order, of every record stamped at
//! or before `at` (records carry the writer's clock; should that clock ever
//! step back, a record stamped later than a later one is still judged by
//! its own stamp). Nothing comes from the server's live read models: the
//! records are folded into a fresh `Registry` and `TokenIndex`, the same
//! folds startup replay uses, so a client at `at` is the client the server
//! served then. What the registry does not keep is folded here too: when
//! each client was registered and deleted (whatever the instant, to say
//! why a client did not exist then) and its `secret_generation` (1 for the
//! secret it registered with, one more per rotation, 0 for a public
//! client).
//!
//! Two sources, both streaming and read-only:
//! * one client (`fold_client`): its records through the log's client
//!   index, newest first until its registration, keeping those that change
//!   the registry or its tokens, then the `UserDisabled` records of the
//!   users its tokens that outlive `at` act for (their `user/<id>`
//!   streams), merged in log order. Cost: the client's history; memory:
//!   its client events, revocations and tokens unexpired at `at`.
//! * every client (`fold_all`): one pass over the whole log. Cost: the
//!   log; memory: the tokens alive at each point of the pass.
//!
//! Both skip tokens that expired by `at` (they cannot be active then, and
//! a revocation or cascade naming one changes nothing else), which is why
//! the two agree (`tests.rs` checks it against a fold of every read model).

use std::collections::{BTreeSet, HashMap};

use authlog_events::{decode_stored, Event, EventLog, RecordedEvent, StoreError, Timestamp};
use authlog_projections::{ClientRecord, Projection, Registry, TokenIndex};
use chrono::DateTime;
use serde::Serialize;
use thiserror::Error;

use crate::commands::user_stream;
use crate::http::client_json::ClientView;

/// Records asked of the client index or a user stream at once.
const PAGE: usize = 4096;

/// Why the registry at an instant could not be shown.
#[derive(Debug, Error)]
pub enum RegistryAtError {
    /// `at` is not an RFC 3339 time.
    #[error("at: must be an RFC 3339 time, e.g. 2025-01-31T12:00:00Z")]
    NotATime,
    /// `at` is later than now: its answer could still change.
    #[error("at: {} is in the future (the clock reads {}); ask about the past", .at.to_rfc3339(), .now.to_rfc3339())]
    InTheFuture {
        /// The instant asked.
        at: Timestamp,
        /// The clock when asked.
        now: Timestamp,
    },
    /// No client ever had this id (as far as the log tells by now).
    #[error("client {client_id} did not exist at {}", .at.to_rfc3339())]
    NeverExisted {
        /// The id.
        client_id: String,
        /// The instant asked.
        at: Timestamp,
    },
    /// The client was registered after `at`.
    #[error("client {client_id} did not exist at {}: it was registered at {}", .at.to_rfc3339(), .registered_at.to_rfc3339())]
    NotYetRegistered {
        /// The id.
        client_id: String,
        /// The instant asked.
        at: Timestamp,
        /// When it was registered.
        registered_at: Timestamp,
    },
    /// The client was deleted at or before `at`.
    #[error("client {client_id} did not exist at {}: it was deleted at {}", .at.to_rfc3339(), .deleted_at.to_rfc3339())]
    Deleted {
        /// The id.
        client_id: String,
        /// The instant asked.
        at: Timestamp,
        /// When it was deleted.
        deleted_at: Timestamp,
    },
    /// The log could not be read.
    #[error("the log could not be read")]
    Store(#[source] StoreError),
}

impl RegistryAtError {
    /// Whether the client did not exist at the instant (the API's 404).
    pub fn is_absent(&self) -> bool {
        matches!(
            self,
            RegistryAtError::NeverExisted { .. }
                | RegistryAtError::NotYetRegistered { .. }
                | RegistryAtError::Deleted { .. }
        )
    }
}

impl From<StoreError> for RegistryAtError {
    fn from(e: StoreError) -> Self {
        RegistryAtError::Store(e)
    }
}

/// Reads `text` as an RFC 3339 instant no later than `now` (an instant
/// still to come has no final answer, so it is refused rather than
/// answered as of now). Digits below the microsecond are dropped.
pub fn parse_at(text: &str, now: Timestamp) -> Result<Timestamp, RegistryAtError> {
    let at = DateTime::parse_from_rfc3339(text)
        .map(|t| Timestamp::from(t.to_utc()))
        .map_err(|_| RegistryAtError::NotATime)?;
    if at > now {
        return Err(RegistryAtError::InTheFuture { at, now });
    }
    Ok(at)
}

/// A client as it was at an instant: the admin API's client JSON, as of
/// then, and what only a past instant needs.
#[derive(Debug, Clone, Serialize)]
pub struct ClientAt {
    /// The client as `GET /api/admin/oauth-clients/{id}` showed it then
    /// (its `active_token_count` and `previous_secret_expires_at` judged
    /// at `at` too).
    #[serde(flatten)]
    pub view: ClientView,
    /// The instant asked (RFC 3339, microseconds, UTC).
    pub at: String,
    /// How many secrets the client had had by then: 1 for the one it
    /// registered with, one more per rotation; 0 for a public client.
    pub secret_generation: u64,
    /// Its tokens active then: issued at or before `at`, not expired at
    /// `at`, not revoked by `at` (the same number as `active_token_count`).
    pub active_tokens: u64,
}

/// A page of clients as they were at an instant, shaped like the list of
/// `GET /api/admin/oauth-clients`.
#[derive(Debug, Clone, Serialize)]
pub struct ClientsAt {
    /// The clients, in id order.
    pub items: Vec<ClientAt>,
    /// The cursor of the next page, when there is one.
    pub next_cursor: Option<String>,
}

/// What the registry does not keep of a client: when it came and went,
/// and how many secrets it had had by the instant.
#[derive(Debug, Clone, Copy, Default)]
struct Life {
    registered_at: Option<Timestamp>,
    deleted_at: Option<Timestamp>,
    secret_generation: u64,
}

/// The registry and the token index folded up to an instant.
#[derive(Debug)]
pub struct RegistryAt {
    at: Timestamp,
    registry: Registry,
    tokens: TokenIndex,
    lives: HashMap<String, Life>,
}

impl RegistryAt {
    fn new(at: Timestamp) -> Self {
        RegistryAt {
            at,
            registry: Registry::default(),
            tokens: TokenIndex::default(),
            lives: HashMap::new(),
        }
    }

    /// The instant.
    pub fn at(&self) -> Timestamp {
        self.at
    }

    /// Notes a client's registration and deletion, whenever they were, and
    /// counts its secrets up to the instant.
    fn note(&mut self, record: &RecordedEvent) {
        let when = record.recorded_at;
        let then = when <= self.at;
        match &record.payload {
            Event::ClientRegistered {
                client_id,
                secret_digest,
                ..
            } => {
                let life = self.lives.entry(client_id.clone()).or_default();
                life.registered_at = Some(when);
                if then && secret_digest.is_some() {
                    life.secret_generation += 1;
                }
            }
            Event::ClientSecretRotated { client_id, .. } if then => {
                self.lives
                    .entry(client_id.clone())
                    .or_default()
                    .secret_generation += 1;
            }
            Event::ClientDeleted { client_id, .. } => {
                self.lives.entry(client_id.clone()).or_default().deleted_at = Some(when);
            }
            _ => {}
        }
    }

    /// Whether `record` is folded: stamped at or before the instant, and
    /// not a token that expired by then.
    fn folds(&self, record: &RecordedEvent) -> bool {
        record.recorded_at <= self.at
            && !matches!(&record.payload,
                Event::TokenIssued { expires_at, .. } if *expires_at <= self.at)
    }

    fn apply(&mut self, record: &RecordedEvent) {
        self.registry.apply(record);
        self.tokens.apply(record);
    }

    /// The client `client_id` as it was, or why it did not exist then.
    pub fn client(&self, client_id: &str) -> Result<ClientAt, RegistryAtError> {
        match self.registry.get(client_id) {
            Some(client) => Ok(self.view(client)),
            None => Err(self.absent(client_id)),
        }
    }

    fn absent(&self, client_id: &str) -> RegistryAtError {
        let life = self.lives.get(client_id).copied().unwrap_or_default();
        let client_id = client_id.to_owned();
        let at = self.at;
        match (life.deleted_at, life.registered_at) {
            (Some(deleted_at), _) if deleted_at <= at => RegistryAtError::Deleted {
                client_id,
                at,
                deleted_at,
            },
            (_, Some(registered_at)) if registered_at > at => RegistryAtError::NotYetRegistered {
                client_id,
                at,
                registered_at,
            },
            _ => RegistryAtError::NeverExisted { client_id, at },
        }
    }

    fn view(&self, client: &ClientRecord) -> ClientAt {
        let active = self.tokens.active_count(&client.client_id, self.at);
        let life = self
            .lives
            .get(&client.client_id)
            .copied()
            .unwrap_or_default();
        ClientAt {
            view: ClientView::of(client, active, self.at),
            at: self.at.to_rfc3339(),
            secret_generation: life.secret_generation,
            active_tokens: active,
        }
    }

    /// Up to `limit` clients that existed then and that `keep` keeps, in
    /// id order after `after`; and whether more follow.
    pub fn clients(
        &self,
        after: Option<&str>,
        limit: usize,
        keep: impl Fn(&ClientRecord) -> bool,
    ) -> (Vec<ClientAt>, bool) {
        let mut items = Vec::new();
        for client in self.registry.iter_from(after).filter(|c| keep(c)) {
            if items.len() == limit {
                return (items, true);
            }
            items.push(self.view(client));
        }
        (items, false)
    }

    /// Every client that existed then, as one page without a cursor.
    pub fn all(&self) -> ClientsAt {
        ClientsAt {
            items: self.clients(None, usize::MAX, |_| true).0,
            next_cursor: None,
        }
    }
}

/// Whether the registry or the token index folds `payload` for `client_id`.
fn names_client(payload: &Event, client_id: &str) -> bool {
    match payload {
        Event::ClientRegistered { client_id: id, .. }
        | Event::ClientUpdated { client_id: id, .. }
        | Event::ClientSecretRotated { client_id: id, .. }
        | Event::ClientPaused { client_id: id, .. }
        | Event::ClientResumed { client_id: id }
        | Event::ClientDeleted { client_id: id, .. }
        | Event::ClientAccessTokenFormatSet { client_id: id, .. }
        | Event::ClientOidcSettingsSet { client_id: id, .. }
        | Event::TokenIssued { client_id: id, .. }
        | Event::TokenRevoked { client_id: id, .. }
        | Event::ClientTokensRevoked { client_id: id, .. } => id == client_id,
        _ => false,
    }
}

/// Folds the whole log up to `at`: every client as it was then.
pub fn fold_all(log: &dyn EventLog, at: Timestamp) -> Result<RegistryAt, RegistryAtError> {
    let mut state = RegistryAt::new(at);
    let mut failed = None;
    log.for_each_stored(
        1,
        &mut |position, bytes| match decode_stored(position, bytes) {
            Ok(record) => {
                state.note(&record);
                if state.folds(&record) {
                    state.apply(&record);
                }
                true
            }
            Err(e) => {
                failed = Some(e);
                false
            }
        },
    )?;
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(state),
    }
}

/// Folds what concerns `client_id` up to `at`: that client as it was then
/// (`RegistryAt::client`); other clients are not in it.
pub fn fold_client(
    log: &dyn EventLog,
    client_id: &str,
    at: Timestamp,
) -> Result<RegistryAt, RegistryAtError> {
    let mut state = RegistryAt::new(at);
    let mut kept: Vec<RecordedEvent> = Vec::new();
    let mut before: Option<u64> = None;
    loop {
        let page = log.read_client(client_id, before, PAGE)?;
        let Some(oldest) = page.last().map(|r| r.position) else {
            break;
        };
        if before.is_some_and(|b| oldest >= b) {
            // The index went backwards; stop rather than loop.
            return Err(StoreError::Format(format!(
                "the client index of {client_id} is out of order at position {oldest}"
            ))
            .into());
        }
        before = Some(oldest);
        let mut registered = false;
        for record in page {
            if !names_client(&record.payload, client_id) {
                continue;
            }
            state.note(&record);
            registered |= matches!(record.payload, Event::ClientRegistered { .. });
            if state.folds(&record) {
                kept.push(record);
            }
        }
        // An id is never registered twice: nothing older changes it.
        if registered {
            break;
        }
    }
    // A user's disabling revokes its tokens of every client; it is on the
    // user's stream, not the client's.
    let subjects: BTreeSet<uuid::Uuid> = kept
        .iter()
        .filter_map(|r| match &r.payload {
            Event::TokenIssued {
                subject: Some(s), ..
            } => Some(*s),
            _ => None,
        })
        .collect();
    for subject in subjects {
        let stream = user_stream(&subject);
        let mut from = 1;
        loop {
            let records = log.read_stream(&stream, from, PAGE)?;
            let Some(last) = records.last().map(|r| r.stream_version) else {
                break;
            };
            let full = records.len() == PAGE;
            from = last.saturating_add(1);
            kept.extend(records.into_iter().filter(|r| {
                r.recorded_at <= at
                    && matches!(r.payload, Event::UserDisabled { user_id, .. } if user_id == subject)
            }));
            if !full {
                break;
            }
        }
    }
    kept.sort_unstable_by_key(|r| r.position);
    kept.dedup_by_key(|r| r.position);
    for record in &kept {
        state.apply(record);
    }
    Ok(state)
}

#[cfg(test)]
mod tests;
