//! The token index: every token that can still matter, by digest (for
//! introspection and bearer authentication), by client, by grant family and
//! by subject. Revocations are folded in, including the cascades of
//! `ClientPaused`, `ClientDeleted`, `ClientTokensRevoked` and
//! `UserDisabled`. Tokens expired for more than `RETENTION_SECONDS` (by the
//! time of the event being folded) are dropped, so memory follows the live
//! tokens, not the history; the log keeps the history.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use authlog_events::{
    AccessPreset, Digest, Event, GrantType, RecordedEvent, RevocationReason, RevocationTarget,
    Timestamp, TokenKind,
};
use uuid::Uuid;

use crate::sharded::{ChunkedSlab, ShardedMap, SlotIndex};

mod snapshot;
use crate::{FastMap, FastSet, Projection};

/// How long after expiry a token is still remembered (for reuse detection
/// and history in the admin views).
pub const RETENTION_SECONDS: i64 = 86_400;

/// One token. What only some tokens carry (a user, a family of several
/// tokens, a parent, resources, teams) sits behind one pointer, so the
/// commonest token, a client_credentials one, stays small.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    /// `jti`.
    pub token_id: Uuid,
    /// Access or refresh.
    pub kind: TokenKind,
    /// Its digest.
    pub digest: Digest,
    /// The client it was issued to (shared by all its tokens).
    pub client_id: Arc<str>,
    /// Scopes (one shared copy per distinct scope set).
    pub scopes: Arc<[String]>,
    /// Access preset.
    pub access: AccessPreset,
    /// Issue time.
    pub issued_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
    /// How it was obtained.
    pub grant_type: GrantType,
    /// Why it was revoked (see `revoked`).
    revoked_reason: Option<RevocationReason>,
    /// When it was revoked; zero while it is not.
    revoked_at: Timestamp,
    /// Last recorded use (see `last_used`).
    last_used: MaybeTime,
    /// `None` when the token has no user, is its own family, has no parent,
    /// resources or teams.
    details: Option<Box<TokenDetails>>,
}

/// The less common parts of a token (see `TokenRecord`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct TokenDetails {
    subject: Option<Uuid>,
    family_id: Uuid,
    parent_id: Option<Uuid>,
    audience: Box<[String]>,
    teams: Box<[String]>,
}

/// A time that may be absent, in 8 bytes where `Option<Timestamp>` takes
/// 16: `i64::MIN` microseconds (292,000 years before 1970) stands for none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MaybeTime(i64);

impl MaybeTime {
    fn get(self) -> Option<Timestamp> {
        (self.0 != i64::MIN).then_some(Timestamp(self.0))
    }
}

impl From<Option<Timestamp>> for MaybeTime {
    fn from(time: Option<Timestamp>) -> Self {
        MaybeTime(time.map_or(i64::MIN, |t| t.0))
    }
}

impl TokenRecord {
    /// Why and when it was revoked.
    pub fn revoked(&self) -> Option<(RevocationReason, Timestamp)> {
        Some((self.revoked_reason?, self.revoked_at))
    }

    /// Last recorded use.
    pub fn last_used(&self) -> Option<Timestamp> {
        self.last_used.get()
    }

    fn set_revoked(&mut self, revoked: Option<(RevocationReason, Timestamp)>) {
        self.revoked_reason = revoked.map(|(reason, _)| reason);
        self.revoked_at = revoked.map_or(Timestamp(0), |(_, at)| at);
    }

    /// The user it acts for.
    pub fn subject(&self) -> Option<Uuid> {
        self.details.as_ref().and_then(|d| d.subject)
    }

    /// Its grant family (its own id for a token that is its own family).
    pub fn family_id(&self) -> Uuid {
        self.details.as_ref().map_or(self.token_id, |d| d.family_id)
    }

    /// The refresh token it was rotated from.
    pub fn parent_id(&self) -> Option<Uuid> {
        self.details.as_ref().and_then(|d| d.parent_id)
    }

    /// Audience / resources.
    pub fn audience(&self) -> &[String] {
        self.details.as_ref().map_or(&[], |d| &d.audience)
    }

    /// Teams.
    pub fn teams(&self) -> &[String] {
        self.details.as_ref().map_or(&[], |d| &d.teams)
    }

    /// Unrevoked and unexpired at `now`.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.revoked_reason.is_none() && now < self.expires_at
    }
}

/// Token records in a chunked slab, found by id through a sharded id →
/// slot index (see `sharded`: neither pauses to grow).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct TokenSlab {
    records: ChunkedSlab<TokenRecord>,
    slots: SlotIndex,
}

/// The index key of a digest: its first 128 bits (HMAC output; a
/// collision among live tokens is as likely as guessing a token).
fn digest_key(digest: &Digest) -> u128 {
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest.0[..16]);
    u128::from_le_bytes(key)
}

impl TokenSlab {
    fn slot(&self, id: &Uuid) -> Option<u32> {
        let records = &self.records;
        self.slots.get(id.as_u128(), |slot| {
            records.get(slot).is_some_and(|t| t.token_id == *id)
        })
    }

    fn at(&self, slot: u32) -> Option<&TokenRecord> {
        self.records.get(slot)
    }

    fn get(&self, id: &Uuid) -> Option<&TokenRecord> {
        self.records.get(self.slot(id)?)
    }

    fn get_mut(&mut self, id: &Uuid) -> Option<&mut TokenRecord> {
        let slot = self.slot(id)?;
        self.records.get_mut(slot)
    }

    fn contains_key(&self, id: &Uuid) -> bool {
        self.slot(id).is_some()
    }

    /// Stores `record`, whose id no stored token has; returns its slot.
    fn insert(&mut self, record: TokenRecord) -> u32 {
        debug_assert!(!self.contains_key(&record.token_id), "a stored id");
        let id = record.token_id.as_u128();
        let slot = self.records.insert(record);
        self.slots.add(id, slot);
        slot
    }

    /// Takes out the token with this id; returns its slot and record.
    fn remove(&mut self, id: &Uuid) -> Option<(u32, TokenRecord)> {
        let slot = self.slot(id)?;
        self.slots.remove(id.as_u128(), slot);
        Some((slot, self.records.remove(slot)?))
    }

    fn len(&self) -> usize {
        self.slots.len()
    }

    fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// Token ids as integers (`Uuid::as_u128`, which keeps the UUIDs' order):
/// finding a place in the set compares integers, not byte slices.
type IdSet = BTreeSet<u128>;

/// Every remembered token and its indexes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenIndex {
    tokens: TokenSlab,
    /// Digest → slot, keyed by the digest's first 128 bits (the full
    /// digest is checked in the record).
    by_digest: SlotIndex,
    /// Unrevoked tokens per client, in id (= issue time, UUIDv7) order.
    by_client: FastMap<String, IdSet>,
    by_family: ShardedMap<Vec<Uuid>>,
    /// Unrevoked tokens per subject.
    by_subject: FastMap<Uuid, IdSet>,
    /// Slots of remembered tokens by expiry (Unix second), for pruning: a
    /// few bytes per token where a set of (expiry, id) took about forty.
    by_expiry: BTreeMap<i64, Vec<u32>>,
    /// How many remembered revoked tokens expire in each second: with
    /// `by_expiry`, the number of active tokens without visiting them.
    revoked_by_expiry: BTreeMap<i64, u32>,
    /// Interned client ids and scope sets: a few distinct values shared by
    /// millions of tokens (scope sets are subsets of a client's scopes).
    client_ids: FastSet<Arc<str>>,
    scope_sets: FastSet<Arc<[String]>>,
}

impl TokenIndex {
    /// The token with this digest. Should two tokens share one (never
    /// written: a digest is an HMAC of a random value), the newest (highest
    /// UUIDv7 id), however the index is laid out.
    pub fn by_digest(&self, digest: &Digest) -> Option<&TokenRecord> {
        self.by_digest
            .matching(digest_key(digest))
            .filter_map(|slot| self.tokens.at(slot))
            .filter(|t| t.digest == *digest)
            .max_by_key(|t| t.token_id)
    }

    /// Starts loading what folding `event` will look up first (the id and
    /// digest index places of an issued token), so that a fold of many
    /// events can overlap their cache misses: call it a few events ahead.
    pub fn prefetch(&self, event: &RecordedEvent) {
        if let Event::TokenIssued {
            token_id, digest, ..
        } = &event.payload
        {
            self.tokens.slots.prefetch(token_id.as_u128());
            self.by_digest.prefetch(digest_key(digest));
        }
    }

    /// The token with this id.
    pub fn get(&self, token_id: &Uuid) -> Option<&TokenRecord> {
        self.tokens.get(token_id)
    }

    /// Active tokens of a client at `now`, oldest first.
    pub fn active_for_client<'a>(
        &'a self,
        client_id: &str,
        now: Timestamp,
    ) -> impl Iterator<Item = &'a TokenRecord> + 'a {
        self.by_client
            .get(client_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.tokens.get(&Uuid::from_u128(*id)))
            .filter(move |t| t.is_active(now))
    }

    /// How many tokens of a client are active at `now`.
    pub fn active_count(&self, client_id: &str, now: Timestamp) -> u64 {
        self.active_for_client(client_id, now).count() as u64
    }

    /// Active tokens of a user at `now`.
    pub fn active_for_subject<'a>(
        &'a self,
        subject: &Uuid,
        now: Timestamp,
    ) -> impl Iterator<Item = &'a TokenRecord> + 'a {
        self.by_subject
            .get(subject)
            .into_iter()
            .flatten()
            .filter_map(|id| self.tokens.get(&Uuid::from_u128(*id)))
            .filter(move |t| t.is_active(now))
    }

    /// Ids of a grant family's tokens. A family of one token whose id is the
    /// family id (client_credentials) has no index entry: that token is it.
    fn family_ids(&self, family_id: &Uuid) -> Vec<Uuid> {
        match self.by_family.get(family_id.as_u128()) {
            Some(ids) => ids.clone(),
            None if self.tokens.contains_key(family_id) => vec![*family_id],
            None => Vec::new(),
        }
    }

    /// Tokens of a grant family (any state).
    pub fn family<'a>(&'a self, family_id: &Uuid) -> impl Iterator<Item = &'a TokenRecord> + 'a {
        self.family_ids(family_id)
            .into_iter()
            .filter_map(|id| self.tokens.get(&id))
    }

    fn intern_client(&mut self, client_id: &str) -> Arc<str> {
        if let Some(c) = self.client_ids.get(client_id) {
            return c.clone();
        }
        let c: Arc<str> = Arc::from(client_id);
        self.client_ids.insert(c.clone());
        c
    }

    fn intern_scopes(&mut self, scopes: &[String]) -> Arc<[String]> {
        if let Some(s) = self.scope_sets.get(scopes) {
            return s.clone();
        }
        let s: Arc<[String]> = Arc::from(scopes);
        self.scope_sets.insert(s.clone());
        s
    }

    /// How many of a family's tokens are active at `now`.
    pub fn active_in_family(&self, family_id: &Uuid, now: Timestamp) -> u64 {
        self.family(family_id).filter(|t| t.is_active(now)).count() as u64
    }

    /// How many tokens are active (unrevoked, unexpired) after second
    /// `now` ends: counted from the expiry buckets, O(distinct expiry
    /// seconds), never by visiting tokens (a metrics scrape holds the read
    /// lock for this).
    pub fn active_total(&self, now: Timestamp) -> u64 {
        let after = now.unix_seconds() + 1;
        let unexpired: u64 = self
            .by_expiry
            .range(after..)
            .map(|(_, slots)| slots.len() as u64)
            .sum();
        let revoked: u64 = self
            .revoked_by_expiry
            .range(after..)
            .map(|(_, n)| u64::from(*n))
            .sum();
        unexpired.saturating_sub(revoked)
    }

    fn count_revoked(&mut self, expires_at: Timestamp, delta: i32) {
        let second = expires_at.unix_seconds();
        let n = self.revoked_by_expiry.entry(second).or_default();
        *n = n.saturating_add_signed(delta);
        if *n == 0 {
            self.revoked_by_expiry.remove(&second);
        }
    }

    /// Number of remembered tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether no token is remembered.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Removes a token from the per-client and per-subject indexes of unrevoked tokens.
    fn unindex_live(&mut self, token: &TokenRecord) {
        if let Some(set) = self.by_client.get_mut(&*token.client_id) {
            set.remove(&token.token_id.as_u128());
            if set.is_empty() {
                self.by_client.remove(&*token.client_id);
            }
        }
        if let Some(subject) = token.subject() {
            if let Some(set) = self.by_subject.get_mut(&subject) {
                set.remove(&token.token_id.as_u128());
                if set.is_empty() {
                    self.by_subject.remove(&subject);
                }
            }
        }
    }

    fn revoke(&mut self, id: Uuid, reason: RevocationReason, at: Timestamp) {
        let Some(token) = self.tokens.get_mut(&id) else {
            return;
        };
        if token.revoked_reason.is_some() {
            return;
        }
        token.set_revoked(Some((reason, at)));
        let token = token.clone();
        self.count_revoked(token.expires_at, 1);
        self.unindex_live(&token);
    }

    /// Revokes the tokens among `ids` still active at `at`. Expired ones
    /// are left alone, so each cascade revokes exactly what its event counted.
    fn revoke_active(&mut self, ids: Vec<Uuid>, reason: RevocationReason, at: Timestamp) {
        for id in ids {
            if self.tokens.get(&id).is_some_and(|t| t.is_active(at)) {
                self.revoke(id, reason, at);
            }
        }
    }

    fn revoke_client(&mut self, client_id: &str, reason: RevocationReason, at: Timestamp) {
        let ids: Vec<Uuid> = self
            .by_client
            .get(client_id)
            .into_iter()
            .flatten()
            .map(|id| Uuid::from_u128(*id))
            .collect();
        self.revoke_active(ids, reason, at);
    }

    /// Drops a token and every index entry of it.
    fn forget(&mut self, id: Uuid) {
        if let Some((slot, token)) = self.tokens.remove(&id) {
            if token.revoked_reason.is_some() {
                self.count_revoked(token.expires_at, -1);
            }
            self.unindex_live(&token);
            self.by_digest.remove(digest_key(&token.digest), slot);
            let family_id = token.family_id().as_u128();
            if let Some(family) = self.by_family.get_mut(family_id) {
                family.retain(|t| *t != id);
                if family.is_empty() {
                    self.by_family.remove(family_id);
                }
            }
        }
    }

    fn prune(&mut self, at: Timestamp) {
        let horizon = at.plus_seconds(-RETENTION_SECONDS);
        while let Some(entry) = self.by_expiry.first_entry() {
            let second = *entry.key();
            if Timestamp::from_unix_seconds(second) >= horizon {
                break;
            }
            let slots = entry.remove();
            // A slot may have been freed and reused since it was listed:
            // only a token of this very second is this entry's to drop or keep.
            let mut later = Vec::new();
            for slot in slots {
                let Some(token) = self.tokens.at(slot) else {
                    continue;
                };
                if token.expires_at.unix_seconds() != second {
                    continue;
                }
                if token.expires_at < horizon {
                    let id = token.token_id;
                    self.forget(id);
                } else {
                    later.push(slot);
                }
            }
            if !later.is_empty() {
                self.by_expiry.insert(second, later);
                break;
            }
        }
    }
}

impl Projection for TokenIndex {
    fn apply(&mut self, event: &RecordedEvent) {
        let at = event.recorded_at;
        match &event.payload {
            Event::TokenIssued {
                token_id,
                kind,
                digest,
                client_id,
                subject,
                scopes,
                audience,
                teams,
                access,
                issued_at,
                expires_at,
                family_id,
                grant_type,
                parent_id,
            } => {
                // A repeated token id replaces the old token and every
                // index entry of it (the writer never repeats one).
                if self.tokens.contains_key(token_id) {
                    self.forget(*token_id);
                }
                let shared_client = self.intern_client(client_id);
                let shared_scopes = self.intern_scopes(scopes);
                let details = (subject.is_some()
                    || family_id != token_id
                    || parent_id.is_some()
                    || !audience.is_empty()
                    || !teams.is_empty())
                .then(|| {
                    Box::new(TokenDetails {
                        subject: *subject,
                        family_id: *family_id,
                        parent_id: *parent_id,
                        audience: audience.clone().into_boxed_slice(),
                        teams: teams.clone().into_boxed_slice(),
                    })
                });
                let slot = self.tokens.insert(TokenRecord {
                    token_id: *token_id,
                    kind: *kind,
                    digest: *digest,
                    client_id: shared_client,
                    scopes: shared_scopes,
                    access: *access,
                    issued_at: *issued_at,
                    expires_at: *expires_at,
                    grant_type: *grant_type,
                    revoked_reason: None,
                    revoked_at: Timestamp(0),
                    last_used: MaybeTime::from(None),
                    details,
                });
                self.by_digest.add(digest_key(digest), slot);
                // Look up before inserting: `entry` would allocate the key for every token.
                match self.by_client.get_mut(client_id.as_str()) {
                    Some(set) => {
                        set.insert(token_id.as_u128());
                    }
                    None => {
                        self.by_client
                            .insert(client_id.clone(), IdSet::from([token_id.as_u128()]));
                    }
                }
                // A token that is its own family (client_credentials) needs no entry.
                if family_id != token_id {
                    self.by_family
                        .get_or_insert_with(family_id.as_u128(), Vec::new)
                        .push(*token_id);
                }
                if let Some(subject) = subject {
                    self.by_subject
                        .entry(*subject)
                        .or_default()
                        .insert(token_id.as_u128());
                }
                self.by_expiry
                    .entry(expires_at.unix_seconds())
                    .or_default()
                    .push(slot);
            }
            Event::TokenRevoked { target, reason, .. } => match target {
                RevocationTarget::Token(id) => self.revoke(*id, *reason, at),
                RevocationTarget::Family(family) => {
                    let ids = self.family_ids(family);
                    self.revoke_active(ids, *reason, at);
                }
            },
            Event::ClientTokensRevoked {
                client_id, reason, ..
            } => self.revoke_client(client_id, *reason, at),
            Event::ClientPaused { client_id, .. } => {
                self.revoke_client(client_id, RevocationReason::ClientPaused, at)
            }
            Event::ClientDeleted { client_id, .. } => {
                self.revoke_client(client_id, RevocationReason::ClientDeleted, at)
            }
            Event::UserDisabled { user_id, .. } => {
                let ids: Vec<Uuid> = self
                    .by_subject
                    .get(user_id)
                    .into_iter()
                    .flatten()
                    .map(|id| Uuid::from_u128(*id))
                    .collect();
                self.revoke_active(ids, RevocationReason::UserDisabled, at);
            }
            Event::TokensUsed { uses } => {
                for (id, when) in uses {
                    if let Some(t) = self.tokens.get_mut(id) {
                        if t.last_used().is_none_or(|l| l < *when) {
                            t.last_used = MaybeTime::from(Some(*when));
                        }
                    }
                }
            }
            _ => {}
        }
        self.prune(at);
    }
}

#[cfg(test)]
mod tests {
    use authlog_events::{Actor, RecordedEvent};

    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix_seconds(seconds)
    }

    pub(super) fn recorded(position: u64, when: i64, payload: Event) -> RecordedEvent {
        RecordedEvent {
            position,
            stream: "s".into(),
            stream_version: position,
            event_id: Uuid::from_u128(position as u128),
            recorded_at: at(when),
            actor: Actor::system(),
            client_id: None,
            correlation_id: None,
            payload,
            prev_hash: [0; 32],
            hash: [0; 32],
        }
    }

    #[test]
    fn the_active_total_follows_issues_revocations_expiry_and_pruning() {
        let mut index = TokenIndex::default();
        let mut position = 0;
        let mut fold = |index: &mut TokenIndex, when: i64, payload: Event| {
            position += 1;
            index.apply(&recorded(position, when, payload));
        };
        // Ten tokens expiring at 100, 200, ..., 1000.
        for n in 1..=10u128 {
            fold(&mut index, 0, issued(n, "c", n, None, 100 * n as i64));
        }
        let revoke = |n: u128| Event::TokenRevoked {
            target: RevocationTarget::Token(Uuid::from_u128(n)),
            client_id: "c".into(),
            reason: RevocationReason::RevokedByAdmin,
            tokens_revoked: 1,
        };
        fold(&mut index, 1, revoke(3));
        fold(&mut index, 1, revoke(8));
        fold(&mut index, 1, revoke(8));
        let brute =
            |index: &TokenIndex, now: i64| index.active_for_client("c", at(now)).count() as u64;
        for now in [0, 99, 100, 250, 350, 799, 800, 1000] {
            assert_eq!(index.active_total(at(now)), brute(&index, now), "at {now}");
        }
        assert_eq!(index.active_total(at(0)), 8);
        // Pruned a day after expiry, revoked ones too: nothing is left over.
        fold(&mut index, 1000 + RETENTION_SECONDS + 1, revoke(1));
        assert!(index.is_empty());
        assert!(index.revoked_by_expiry.is_empty());
        assert_eq!(index.active_total(at(0)), 0);
    }

    fn issued(n: u128, client: &str, family: u128, subject: Option<u128>, expires: i64) -> Event {
        Event::TokenIssued {
            token_id: Uuid::from_u128(n),
            kind: TokenKind::Access,
            digest: Digest([n as u8; 32]),
            client_id: client.into(),
            subject: subject.map(Uuid::from_u128),
            scopes: vec!["read".into()],
            audience: vec![],
            teams: vec![],
            access: AccessPreset::ReadOnly,
            issued_at: at(0),
            expires_at: at(expires),
            family_id: Uuid::from_u128(family),
            grant_type: GrantType::ClientCredentials,
            parent_id: None,
        }
    }

    fn index(events: Vec<(i64, Event)>) -> TokenIndex {
        let mut index = TokenIndex::default();
        for (i, (when, e)) in events.into_iter().enumerate() {
            index.apply(&recorded(i as u64 + 1, when, e));
        }
        index
    }

    #[test]
    fn a_repeated_token_id_replaces_the_old_token_everywhere() {
        let idx = index(vec![
            (0, issued(1, "a", 1, None, 100)),
            (0, issued(1, "b", 1, None, 100)),
        ]);
        assert_eq!(idx.len(), 1);
        assert_eq!(idx.active_count("a", at(0)), 0);
        assert_eq!(idx.active_count("b", at(0)), 1);
        assert!(idx.by_digest(&Digest([1; 32])).is_some());
    }

    #[test]
    fn tokens_whose_ids_and_digests_share_their_stored_bits_are_told_apart() {
        // The id and digest indexes keep 64 bits of each key: these two
        // tokens differ only above them.
        let id = |high: u128| Uuid::from_u128((high << 64) | 7);
        let digest = |rest: u8| {
            let mut d = [1; 32];
            d[8..].fill(rest);
            Digest(d)
        };
        let twin = |high: u128, expires: i64| {
            let mut event = issued(0, "a", 0, None, expires);
            if let Event::TokenIssued {
                token_id,
                digest: d,
                family_id,
                ..
            } = &mut event
            {
                (*token_id, *family_id, *d) = (id(high), id(high), digest(high as u8));
            }
            event
        };
        let mut idx = index(vec![(0, twin(1, 10)), (0, twin(2, 1_000_000))]);
        assert_eq!(idx.len(), 2);
        for high in [1, 2] {
            assert_eq!(
                idx.get(&id(high)).map(|t| t.digest),
                Some(digest(high as u8))
            );
            let found = idx.by_digest(&digest(high as u8)).map(|t| t.token_id);
            assert_eq!(found, Some(id(high)));
        }
        // The first expires and is forgotten; the second stays findable.
        let later = Event::TokensUsed { uses: vec![] };
        idx.apply(&recorded(3, 10 + RETENTION_SECONDS + 1, later));
        assert_eq!(idx.len(), 1);
        assert!(idx.get(&id(1)).is_none());
        assert!(idx.by_digest(&digest(1)).is_none());
        assert_eq!(idx.by_digest(&digest(2)).map(|t| t.token_id), Some(id(2)));
    }

    #[test]
    fn a_repeated_digest_finds_the_newest_token_before_and_after_a_snapshot() {
        // Never written (digests are HMACs of random values), but the
        // answer must not depend on how the index was built.
        let same_digest = |n: u128| {
            let mut event = issued(n, "a", n, None, 100);
            if let Event::TokenIssued { digest, .. } = &mut event {
                *digest = Digest([9; 32]);
            }
            event
        };
        let newest = |idx: &TokenIndex| idx.by_digest(&Digest([9; 32])).map(|t| t.token_id);
        for order in [[1, 2], [2, 1]] {
            let idx = index(order.map(|n| (0, same_digest(n))).to_vec());
            assert_eq!(newest(&idx), Some(Uuid::from_u128(2)), "{order:?}");
            let config = bincode::config::standard();
            let bytes = bincode::serde::encode_to_vec(&idx, config).unwrap();
            let (restored, _): (TokenIndex, usize) =
                bincode::serde::decode_from_slice(&bytes, config).unwrap();
            assert_eq!(restored, idx);
            assert_eq!(newest(&restored), Some(Uuid::from_u128(2)), "{order:?}");
        }
    }

    #[test]
    fn a_pause_revokes_the_clients_active_tokens_and_leaves_expired_ones_alone() {
        let idx = index(vec![
            (0, issued(1, "a", 1, None, 100)),
            (0, issued(2, "a", 2, None, 10)),
            (0, issued(3, "b", 3, None, 100)),
            (
                50,
                Event::ClientPaused {
                    client_id: "a".into(),
                    tokens_revoked: 1,
                },
            ),
        ]);
        assert_eq!(
            idx.get(&Uuid::from_u128(1)).unwrap().revoked(),
            Some((RevocationReason::ClientPaused, at(50)))
        );
        assert_eq!(
            idx.get(&Uuid::from_u128(2)).unwrap().revoked(),
            None,
            "expired before the pause"
        );
        assert!(idx.get(&Uuid::from_u128(3)).unwrap().is_active(at(50)));
        assert_eq!(idx.active_count("a", at(50)), 0);
        assert_eq!(idx.active_count("b", at(50)), 1);
    }

    #[test]
    fn a_family_revocation_takes_every_token_of_the_family() {
        let idx = index(vec![
            (0, issued(1, "a", 9, Some(7), 100)),
            (0, issued(2, "a", 9, Some(7), 100)),
            (0, issued(3, "a", 8, Some(7), 100)),
            (
                1,
                Event::TokenRevoked {
                    target: RevocationTarget::Family(Uuid::from_u128(9)),
                    client_id: "a".into(),
                    reason: RevocationReason::ReuseDetected,
                    tokens_revoked: 2,
                },
            ),
        ]);
        assert_eq!(idx.active_in_family(&Uuid::from_u128(9), at(1)), 0);
        assert_eq!(
            idx.active_for_subject(&Uuid::from_u128(7), at(1)).count(),
            1
        );
    }

    #[test]
    fn disabling_a_user_revokes_only_their_tokens() {
        let idx = index(vec![
            (0, issued(1, "a", 1, Some(7), 100)),
            (0, issued(2, "a", 2, Some(8), 100)),
            (
                5,
                Event::UserDisabled {
                    user_id: Uuid::from_u128(7),
                    tokens_revoked: 1,
                },
            ),
        ]);
        assert!(!idx.get(&Uuid::from_u128(1)).unwrap().is_active(at(5)));
        assert!(idx.get(&Uuid::from_u128(2)).unwrap().is_active(at(5)));
    }

    #[test]
    fn tokens_are_forgotten_a_day_after_expiry_by_event_time() {
        let idx = index(vec![
            (0, issued(1, "a", 1, None, 10)),
            (0, issued(2, "a", 2, None, 100_000)),
            (
                10 + RETENTION_SECONDS - 1,
                Event::ClientResumed {
                    client_id: "x".into(),
                },
            ),
        ]);
        assert!(
            idx.get(&Uuid::from_u128(1)).is_some(),
            "still within retention"
        );
        let idx = index(vec![
            (0, issued(1, "a", 1, None, 10)),
            (0, issued(2, "a", 2, None, 100_000)),
            (
                10 + RETENTION_SECONDS + 1,
                Event::ClientResumed {
                    client_id: "x".into(),
                },
            ),
        ]);
        assert!(idx.get(&Uuid::from_u128(1)).is_none());
        assert!(idx.by_digest(&Digest([1; 32])).is_none());
        assert!(idx.get(&Uuid::from_u128(2)).is_some());
        assert_eq!(idx.len(), 1);
    }

    #[test]
    fn last_use_only_moves_forward() {
        let idx = index(vec![
            (0, issued(1, "a", 1, None, 100)),
            (
                1,
                Event::TokensUsed {
                    uses: vec![(Uuid::from_u128(1), at(20))],
                },
            ),
            (
                2,
                Event::TokensUsed {
                    uses: vec![(Uuid::from_u128(1), at(5))],
                },
            ),
        ]);
        assert_eq!(
            idx.get(&Uuid::from_u128(1)).unwrap().last_used(),
            Some(at(20))
        );
    }
}
