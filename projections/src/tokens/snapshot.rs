//! The serde form of `TokenIndex`, for projection snapshots.
//!
//! What is stored: the interned client ids and scope sets (once each), the
//! slab's layout (next fresh slot, freed slots) and every record in its
//! slot, naming its client and scope set by number; then the grant
//! families and the expiry buckets as they are. What is rebuilt while the
//! records are read: the id and digest maps and the per-client and
//! per-subject sets of unrevoked tokens, which hold exactly the
//! remembered tokens' ids, digests and (when unrevoked) clients and
//! subjects. Restoring therefore gives an index equal to the one saved, and
//! costs map inserts rather than a replay's decoding and folding.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use authlog_events::{AccessPreset, Digest, GrantType, RevocationReason, Timestamp, TokenKind};
use serde::de::{DeserializeSeed, Error as _, SeqAccess, Visitor};
use serde::ser::{Error as _, SerializeSeq, SerializeTuple};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use super::{digest_key, TokenDetails, TokenIndex, TokenRecord, TokenSlab};
use crate::sharded::{ChunkedSlab, ShardedMap, SlotIndex};
use crate::{FastMap, FastSet};

/// Elements of the stored tuple, in order.
const FIELDS: usize = 7;
/// Records per batch handed to the thread that builds the id and digest maps.
const BATCH: usize = 4096;

/// A record as stored: its client and scope set by number. `D` is a
/// borrowed `TokenDetails` when saving and an owned one when restoring.
#[derive(Serialize, Deserialize)]
struct StoredToken<D> {
    token_id: Uuid,
    kind: TokenKind,
    digest: Digest,
    client: u32,
    scopes: u32,
    access: AccessPreset,
    issued_at: Timestamp,
    expires_at: Timestamp,
    grant_type: GrantType,
    revoked: Option<(RevocationReason, Timestamp)>,
    last_used: Option<Timestamp>,
    details: Option<D>,
}

/// Numbers of interned values, by the address of their one shared copy.
fn numbering<T: ?Sized>(values: &[&Arc<T>]) -> FastMap<usize, u32> {
    values
        .iter()
        .enumerate()
        .map(|(n, v)| (Arc::as_ptr(v) as *const u8 as usize, n as u32))
        .collect()
}

/// The records, streamed in slot order.
struct Records<'a> {
    index: &'a TokenIndex,
    clients: FastMap<usize, u32>,
    scopes: FastMap<usize, u32>,
}

impl Serialize for Records<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let records = &self.index.tokens.records;
        let mut seq = serializer.serialize_seq(Some(self.index.tokens.len()))?;
        for (slot, t) in records.occupied() {
            let number = |numbers: &FastMap<usize, u32>, address: usize| {
                numbers
                    .get(&address)
                    .copied()
                    .ok_or_else(|| S::Error::custom("a token holds a value that is not interned"))
            };
            let stored = StoredToken {
                token_id: t.token_id,
                kind: t.kind,
                digest: t.digest,
                client: number(
                    &self.clients,
                    Arc::as_ptr(&t.client_id) as *const u8 as usize,
                )?,
                scopes: number(&self.scopes, Arc::as_ptr(&t.scopes) as *const u8 as usize)?,
                access: t.access,
                issued_at: t.issued_at,
                expires_at: t.expires_at,
                grant_type: t.grant_type,
                revoked: t.revoked(),
                last_used: t.last_used(),
                details: t.details.as_deref(),
            };
            seq.serialize_element(&(slot, stored))?;
        }
        seq.end()
    }
}

/// The grant families, as (family id, token ids) pairs.
struct Families<'a>(&'a ShardedMap<Vec<Uuid>>);

impl Serialize for Families<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for family in self.0.iter() {
            seq.serialize_element(&family)?;
        }
        seq.end()
    }
}

impl Serialize for TokenIndex {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let clients: Vec<&Arc<str>> = self.client_ids.iter().collect();
        let scopes: Vec<&Arc<[String]>> = self.scope_sets.iter().collect();
        let (next, free) = self.tokens.records.layout();
        let mut tuple = serializer.serialize_tuple(FIELDS)?;
        tuple.serialize_element(&clients.iter().map(|c| &***c).collect::<Vec<&str>>())?;
        tuple.serialize_element(&scopes.iter().map(|s| &***s).collect::<Vec<&[String]>>())?;
        tuple.serialize_element(&next)?;
        tuple.serialize_element(free)?;
        tuple.serialize_element(&Records {
            index: self,
            clients: numbering(&clients),
            scopes: numbering(&scopes),
        })?;
        tuple.serialize_element(&Families(&self.by_family))?;
        tuple.serialize_element(&self.by_expiry)?;
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for TokenIndex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_tuple(FIELDS, IndexVisitor)
    }
}

struct IndexVisitor;

fn missing<E: serde::de::Error>(what: &str) -> E {
    E::custom(format!("token index snapshot: missing {what}"))
}

impl<'de> Visitor<'de> for IndexVisitor {
    type Value = TokenIndex;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a token index snapshot")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TokenIndex, A::Error> {
        let clients: Vec<Arc<str>> = seq
            .next_element::<Vec<String>>()?
            .ok_or_else(|| missing("client ids"))?
            .into_iter()
            .map(Arc::from)
            .collect();
        let scopes: Vec<Arc<[String]>> = seq
            .next_element::<Vec<Vec<String>>>()?
            .ok_or_else(|| missing("scope sets"))?
            .into_iter()
            .map(Arc::from)
            .collect();
        let next: u32 = seq.next_element()?.ok_or_else(|| missing("next slot"))?;
        let free: Vec<u32> = seq.next_element()?.ok_or_else(|| missing("free slots"))?;
        let records = ChunkedSlab::with_layout(next, free)
            .ok_or_else(|| A::Error::custom("a free slot is past the next slot or listed twice"))?;
        let mut index = seq
            .next_element_seed(RecordsSeed {
                clients: &clients,
                scopes: &scopes,
                records,
            })?
            .ok_or_else(|| missing("records"))?;
        let count = index.tokens.len();
        if !index.tokens.records.finish_layout(count) {
            return Err(A::Error::custom(
                "the slots are not each either occupied or free: a free slot holds a record, or a slot is neither",
            ));
        }
        let families: Vec<(u128, Vec<Uuid>)> =
            seq.next_element()?.ok_or_else(|| missing("families"))?;
        for (family, ids) in families {
            index.by_family.insert(family, ids);
        }
        index.by_expiry = seq
            .next_element()?
            .ok_or_else(|| missing("expiry buckets"))?;
        // Derived, not stored: revoked remembered tokens per expiry second.
        let revoked: Vec<Timestamp> = index
            .tokens
            .records
            .occupied()
            .filter(|(_, t)| t.revoked_reason.is_some())
            .map(|(_, t)| t.expires_at)
            .collect();
        for expires_at in revoked {
            index.count_revoked(expires_at, 1);
        }
        index.client_ids = clients.into_iter().collect::<FastSet<_>>();
        index.scope_sets = scopes.into_iter().collect::<FastSet<_>>();
        Ok(index)
    }
}

/// Reads the records into their slots and rebuilds the maps over them.
struct RecordsSeed<'a> {
    clients: &'a [Arc<str>],
    scopes: &'a [Arc<[String]>],
    records: ChunkedSlab<TokenRecord>,
}

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_> {
    type Value = TokenIndex;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<TokenIndex, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_> {
    type Value = TokenIndex;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("token records in their slots")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TokenIndex, A::Error> {
        // The snapshot's checksum is verified before it is read, so the
        // count can size the maps (capped, in case it is not ours).
        let expected = seq.size_hint().unwrap_or(0).min(1 << 28);
        let mut records = self.records;
        // Unrevoked token ids per client number and per subject, gathered
        // in slot order and made into sets at the end (a bulk build from
        // sorted ids, not one insert each).
        let mut live_by_client: Vec<Vec<u128>> = vec![Vec::new(); self.clients.len()];
        let mut live_by_subject: FastMap<Uuid, Vec<u128>> = FastMap::default();
        // The id and digest maps (random inserts, most of a restore's time)
        // are built on a second thread from batches of (id, digest key, slot).
        let (maps, decoded) = std::thread::scope(|scope| {
            let (batches, received) = std::sync::mpsc::sync_channel::<Vec<(u128, u128, u32)>>(16);
            let builder = scope.spawn(move || {
                let mut slots = SlotIndex::with_capacity(expected);
                let mut by_digest = SlotIndex::with_capacity(expected);
                // Slots whose ids share their low 64 bits with another's,
                // to compare once the records are in place.
                let mut same_bits = Vec::new();
                for batch in received {
                    for (id, digest, slot) in batch {
                        let before = same_bits.len();
                        same_bits.extend(slots.matching(id));
                        if same_bits.len() > before {
                            same_bits.push(slot);
                        }
                        slots.add(id, slot);
                        by_digest.add(digest, slot);
                    }
                }
                (slots, by_digest, same_bits)
            });
            let mut decode = || -> Result<(), A::Error> {
                let mut batch = Vec::with_capacity(BATCH);
                while let Some((slot, t)) =
                    seq.next_element::<(u32, StoredToken<Box<TokenDetails>>)>()?
                {
                    let client = self
                        .clients
                        .get(t.client as usize)
                        .ok_or_else(|| A::Error::custom("a token names an unknown client"))?;
                    let scopes = self
                        .scopes
                        .get(t.scopes as usize)
                        .ok_or_else(|| A::Error::custom("a token names an unknown scope set"))?;
                    let mut record = TokenRecord {
                        token_id: t.token_id,
                        kind: t.kind,
                        digest: t.digest,
                        client_id: client.clone(),
                        scopes: scopes.clone(),
                        access: t.access,
                        issued_at: t.issued_at,
                        expires_at: t.expires_at,
                        grant_type: t.grant_type,
                        revoked_reason: None,
                        revoked_at: Timestamp(0),
                        last_used: t.last_used.into(),
                        details: t.details,
                    };
                    record.set_revoked(t.revoked);
                    if t.revoked.is_none() {
                        live_by_client[t.client as usize].push(record.token_id.as_u128());
                        if let Some(subject) = record.subject() {
                            live_by_subject
                                .entry(subject)
                                .or_default()
                                .push(record.token_id.as_u128());
                        }
                    }
                    batch.push((record.token_id.as_u128(), digest_key(&record.digest), slot));
                    if batch.len() == BATCH {
                        // Only fails if the builder is gone, which the join reports.
                        let _ =
                            batches.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
                    }
                    records.put(slot, record).map_err(|_| {
                        A::Error::custom("a record is outside the slab or shares a slot")
                    })?;
                }
                let _ = batches.send(batch);
                Ok(())
            };
            let decoded = decode();
            drop(batches);
            (builder.join(), decoded)
        });
        decoded?;
        let (slots, by_digest, mut same_bits) =
            maps.map_err(|_| A::Error::custom("building the token maps failed"))?;
        same_bits.sort_unstable();
        same_bits.dedup();
        let mut ids: Vec<Option<Uuid>> = same_bits
            .iter()
            .map(|&slot| records.get(slot).map(|t| t.token_id))
            .collect();
        ids.sort_unstable();
        if ids.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(A::Error::custom("two records share a token id"));
        }
        let by_client = self
            .clients
            .iter()
            .zip(live_by_client)
            .filter(|(_, ids)| !ids.is_empty())
            .map(|(client, ids)| (client.to_string(), BTreeSet::from_iter(ids)))
            .collect();
        let by_subject = live_by_subject
            .into_iter()
            .map(|(subject, ids)| (subject, BTreeSet::from_iter(ids)))
            .collect();
        Ok(TokenIndex {
            tokens: TokenSlab { records, slots },
            by_digest,
            by_client,
            by_family: ShardedMap::default(),
            by_subject,
            by_expiry: BTreeMap::new(),
            revoked_by_expiry: BTreeMap::new(),
            client_ids: FastSet::default(),
            scope_sets: FastSet::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use authlog_events::{Event, RecordedEvent, RevocationTarget};
    use proptest::prelude::*;

    use super::super::tests::recorded;
    use super::*;
    use crate::Projection;

    /// One step of a random history of tokens.
    #[derive(Debug, Clone)]
    enum Step {
        /// Issue token `n` of client `c`, in family `f` (its own when
        /// `None`), for subject `s`, living `ttl` seconds.
        Issue {
            c: u8,
            f: Option<u8>,
            s: Option<u8>,
            ttl: u16,
            scopes: u8,
        },
        Revoke(u16),
        RevokeFamily(u8),
        Pause(u8),
        Disable(u8),
        Use(u16),
        /// Let time pass (pruning drops tokens a day after expiry).
        Wait(u32),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            6 => (0u8..3, proptest::option::of(0u8..4), proptest::option::of(0u8..3), 1u16..3600, 0u8..3)
                .prop_map(|(c, f, s, ttl, scopes)| Step::Issue { c, f, s, ttl, scopes }),
            2 => any::<u16>().prop_map(Step::Revoke),
            1 => (0u8..4).prop_map(Step::RevokeFamily),
            1 => (0u8..3).prop_map(Step::Pause),
            1 => (0u8..3).prop_map(Step::Disable),
            2 => any::<u16>().prop_map(Step::Use),
            1 => (0u32..200_000).prop_map(Step::Wait),
        ]
    }

    fn uuid(kind: u128, n: u128) -> Uuid {
        Uuid::from_u128((kind << 64) | n)
    }

    /// The events of `steps`, with their times.
    fn history(steps: &[Step]) -> Vec<RecordedEvent> {
        let mut now = 1_700_000_000i64;
        let mut issued = 0u128;
        let mut out = Vec::new();
        for step in steps {
            let payload = match step {
                Step::Issue {
                    c,
                    f,
                    s,
                    ttl,
                    scopes,
                } => {
                    issued += 1;
                    let id = uuid(1, issued);
                    Event::TokenIssued {
                        token_id: id,
                        kind: TokenKind::Access,
                        digest: Digest([(issued % 251) as u8; 32].map(|b| b ^ (issued >> 8) as u8)),
                        client_id: format!("client-{c}"),
                        subject: s.map(|s| uuid(2, s.into())),
                        scopes: (0..*scopes).map(|n| format!("scope{n}")).collect(),
                        audience: vec![],
                        teams: vec![],
                        access: AccessPreset::ReadOnly,
                        issued_at: Timestamp::from_unix_seconds(now),
                        expires_at: Timestamp::from_unix_seconds(now + i64::from(*ttl)),
                        family_id: f.map_or(id, |f| uuid(3, f.into())),
                        grant_type: GrantType::AuthorizationCode,
                        parent_id: None,
                    }
                }
                Step::Revoke(n) => Event::TokenRevoked {
                    target: RevocationTarget::Token(uuid(1, u128::from(*n) % (issued + 1))),
                    client_id: String::new(),
                    reason: RevocationReason::RevokedByAdmin,
                    tokens_revoked: 0,
                },
                Step::RevokeFamily(f) => Event::TokenRevoked {
                    target: RevocationTarget::Family(uuid(3, (*f).into())),
                    client_id: String::new(),
                    reason: RevocationReason::ReuseDetected,
                    tokens_revoked: 0,
                },
                Step::Pause(c) => Event::ClientPaused {
                    client_id: format!("client-{c}"),
                    tokens_revoked: 0,
                },
                Step::Disable(s) => Event::UserDisabled {
                    user_id: uuid(2, (*s).into()),
                    tokens_revoked: 0,
                },
                Step::Use(n) => Event::TokensUsed {
                    uses: vec![(
                        uuid(1, u128::from(*n) % (issued + 1)),
                        Timestamp::from_unix_seconds(now),
                    )],
                },
                Step::Wait(seconds) => {
                    now += i64::from(*seconds);
                    continue;
                }
            };
            out.push(recorded(out.len() as u64 + 1, now, payload));
        }
        out
    }

    fn roundtrip(index: &TokenIndex) -> TokenIndex {
        let config = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(index, config).unwrap();
        bincode::serde::decode_from_slice(&bytes, config).unwrap().0
    }

    proptest! {
        #[test]
        fn a_restored_index_equals_the_saved_one_and_folds_the_same(
            before in proptest::collection::vec(step(), 0..200),
            after in proptest::collection::vec(step(), 0..60),
        ) {
            let events = history(&[before.clone(), after].concat());
            let (first, rest) = events.split_at(history(&before).len());
            let mut saved = TokenIndex::default();
            for event in first {
                saved.apply(event);
            }
            let mut restored = roundtrip(&saved);
            prop_assert_eq!(&restored, &saved);
            for event in rest {
                saved.apply(event);
                restored.apply(event);
            }
            prop_assert_eq!(restored, saved);
        }
    }

    /// The decoding error of three tokens saved with their slab re-laid
    /// out as `next` and `free`.
    /// Three issued tokens, in slots 0 to 2.
    fn three_tokens() -> TokenIndex {
        let issue = Step::Issue {
            c: 0,
            f: None,
            s: None,
            ttl: 10,
            scopes: 0,
        };
        let mut index = TokenIndex::default();
        for event in &history(&[issue.clone(), issue.clone(), issue]) {
            index.apply(event);
        }
        index
    }

    fn refusal(next: u32, free: Vec<u32>) -> String {
        let mut index = three_tokens();
        index.tokens.records = {
            let mut slab = ChunkedSlab::with_layout(next, free).unwrap();
            for (slot, record) in index.tokens.records.occupied() {
                slab.put(slot, record.clone()).unwrap();
            }
            slab
        };
        let config = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(&index, config).unwrap();
        let decoded: Result<(TokenIndex, usize), _> =
            bincode::serde::decode_from_slice(&bytes, config);
        decoded.unwrap_err().to_string()
    }

    /// Three issued tokens, their ids (by slot) changed by `ids`, through a
    /// snapshot and back.
    fn restore_with_ids(ids: impl Fn([Uuid; 3]) -> [Uuid; 3]) -> Result<TokenIndex, String> {
        let mut index = three_tokens();
        let slot = |slot: u32| index.tokens.records.get(slot).unwrap().token_id;
        let changed = ids([slot(0), slot(1), slot(2)]);
        for (slot, id) in (0u32..).zip(changed) {
            index.tokens.records.get_mut(slot).unwrap().token_id = id;
        }
        let config = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(&index, config).unwrap();
        bincode::serde::decode_from_slice::<TokenIndex, _>(&bytes, config)
            .map(|(restored, _)| restored)
            .map_err(|e| e.to_string())
    }

    /// Another id with the same low 64 bits (what the id index stores).
    fn twin(id: Uuid) -> Uuid {
        Uuid::from_u128(id.as_u128() ^ (1 << 100))
    }

    #[test]
    fn two_records_with_one_token_id_are_refused_and_ids_sharing_low_bits_are_not() {
        let refused = [
            restore_with_ids(|[a, b, _]| [a, b, a]),
            // A third id sharing the low bits does not hide the repeat.
            restore_with_ids(|[_, b, _]| [twin(b), b, b]),
        ];
        for error in refused.map(Result::unwrap_err) {
            assert!(error.contains("two records share a token id"), "{error}");
        }
        let restored = restore_with_ids(|[a, b, _]| [a, b, twin(a)]).unwrap();
        assert_eq!(restored.len(), 3);
        let first = restored.tokens.records.get(0).unwrap().token_id;
        assert_eq!(restored.get(&first).map(|t| t.token_id), Some(first));
        assert_eq!(
            restored.get(&twin(first)).map(|t| t.token_id),
            Some(twin(first))
        );
    }

    #[test]
    fn a_slab_whose_slots_are_not_each_occupied_or_free_is_refused() {
        // Slot 0 both occupied and free.
        let error = refusal(3, vec![0]);
        assert!(error.contains("a free slot holds a record"), "{error}");
        // Slot 3 neither occupied nor free (a later insert would never reuse it).
        let error = refusal(4, vec![]);
        assert!(error.contains("or a slot is neither"), "{error}");
    }
}
