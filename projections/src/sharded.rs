//! Containers for millions of tokens that grow without pauses.
//!
//! One big `HashMap` or `Vec` grows by moving everything it holds at once:
//! at a million tokens that is tens of milliseconds during which the writer
//! holds the projections lock and every request waits. `ShardedMap` splits
//! a map over 128-bit random keys (token digests, UUIDv7 token ids) into
//! `SHARDS` maps that each grow on their own; `SlotIndex` does the same for
//! maps from such keys to slots of a slab whose records hold the full key,
//! keeping only 64 bits of each key; `ChunkedSlab` keeps records in
//! fixed-size chunks, so growing allocates one chunk and moves nothing.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};

use hashbrown::hash_table::Entry;
use hashbrown::HashTable;

/// Shards of a `ShardedMap`.
const SHARDS: usize = 64;
/// Records per chunk of a `ChunkedSlab`.
const CHUNK: usize = 4096;

/// A 128-bit key as stored: two `u64`s, so an entry is aligned to 8 bytes
/// rather than 16 (24 bytes with a `u32` value instead of 32).
type Key = (u64, u64);

fn split(key: u128) -> Key {
    (key as u64, (key >> 64) as u64)
}

/// Spreads the bits of a key (the keys are random already: an HMAC output,
/// or the random tail of a UUIDv7 the server generated).
fn mix((low, high): Key) -> u64 {
    (low.rotate_left(32) ^ high).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Hashes a `Key` with `mix`; no per-map seed is needed because nobody
/// outside the server chooses the keys.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyHash;

/// The hasher of `KeyHash`: `(low, high)` hashes to `mix((low, high))`.
#[derive(Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by the maps here; anything else still
        // hashes correctly, just slower.
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(buf));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = self.0.rotate_left(32) ^ word;
    }
}

impl BuildHasher for KeyHash {
    type Hasher = KeyHasher;

    fn build_hasher(&self) -> KeyHasher {
        KeyHasher::default()
    }
}

/// A map from random 128-bit keys, in `SHARDS` independently growing parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardedMap<V> {
    shards: Vec<HashMap<Key, V, KeyHash>>,
}

impl<V> Default for ShardedMap<V> {
    fn default() -> Self {
        ShardedMap {
            shards: (0..SHARDS).map(|_| HashMap::default()).collect(),
        }
    }
}

impl<V> ShardedMap<V> {
    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u128, &V)> {
        self.shards
            .iter()
            .flatten()
            .map(|(&(low, high), v)| (u128::from(low) | (u128::from(high) << 64), v))
    }

    fn shard(&self, key: Key) -> &HashMap<Key, V, KeyHash> {
        // Middle bits: hashbrown uses the low and the top bits of the hash.
        &self.shards[(mix(key) >> 32) as usize % SHARDS]
    }

    fn shard_mut(&mut self, key: Key) -> &mut HashMap<Key, V, KeyHash> {
        &mut self.shards[(mix(key) >> 32) as usize % SHARDS]
    }

    /// The value of `key`.
    pub fn get(&self, key: u128) -> Option<&V> {
        let key = split(key);
        self.shard(key).get(&key)
    }

    /// The value of `key`, to change.
    pub fn get_mut(&mut self, key: u128) -> Option<&mut V> {
        let key = split(key);
        self.shard_mut(key).get_mut(&key)
    }

    /// Sets `key` to `value`; returns the old value.
    pub fn insert(&mut self, key: u128, value: V) -> Option<V> {
        let key = split(key);
        self.shard_mut(key).insert(key, value)
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: u128) -> Option<V> {
        let key = split(key);
        self.shard_mut(key).remove(&key)
    }

    /// The value of `key`, inserting `make()` first if absent.
    pub fn get_or_insert_with(&mut self, key: u128, make: impl FnOnce() -> V) -> &mut V {
        let key = split(key);
        self.shard_mut(key).entry(key).or_insert_with(make)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.shards.iter().map(HashMap::len).sum()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(HashMap::is_empty)
    }
}

/// One entry of a `SlotIndex`: the low 64 bits of a key, as two `u32`s so
/// that an entry takes 12 bytes, and the slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SlotEntry {
    low: [u32; 2],
    slot: u32,
}

impl SlotEntry {
    fn new(key: u128, slot: u32) -> Self {
        SlotEntry {
            low: fragment(key),
            slot,
        }
    }

    fn hash(&self) -> u64 {
        hash_fragment(self.low)
    }
}

fn fragment(key: u128) -> [u32; 2] {
    [key as u32, (key >> 32) as u32]
}

/// The keys are random in their low 64 bits (an HMAC output, or the random
/// tail of a UUIDv7 the server generated), so one multiplication spreads them.
fn hash_fragment([low, high]: [u32; 2]) -> u64 {
    (u64::from(low) | (u64::from(high) << 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// A map from random 128-bit keys to slots of a slab whose records hold
/// their keys, in `SHARDS` independently growing parts. Only the low 64
/// bits of a key are stored; lookups confirm a candidate slot with
/// `is_key`, which asks the record in it, so keys that share those bits
/// (one pair in about 2^64 / n² at n keys) are still told apart. 12 bytes
/// per entry where a `ShardedMap<u32>` takes 24.
#[derive(Clone)]
pub struct SlotIndex {
    shards: Vec<HashTable<SlotEntry>>,
}

impl Default for SlotIndex {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl fmt::Debug for SlotIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotIndex")
            .field("len", &self.len())
            .finish()
    }
}

/// Equal when they hold the same (key bits, slot) entries, however laid out.
impl PartialEq for SlotIndex {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self.shards.iter().flatten().all(|entry| {
                other
                    .shard(entry.hash())
                    .find(entry.hash(), |e| e == entry)
                    .is_some()
            })
    }
}

impl Eq for SlotIndex {}

impl SlotIndex {
    /// An empty index with room for about `entries` entries.
    pub fn with_capacity(entries: usize) -> Self {
        let each = entries / SHARDS + entries / SHARDS / 8;
        SlotIndex {
            shards: (0..SHARDS)
                .map(|_| HashTable::with_capacity(each))
                .collect(),
        }
    }

    fn shard(&self, hash: u64) -> &HashTable<SlotEntry> {
        // Middle bits: hashbrown uses the low and the top bits of the hash.
        &self.shards[(hash >> 32) as usize % SHARDS]
    }

    fn shard_mut(&mut self, hash: u64) -> &mut HashTable<SlotEntry> {
        &mut self.shards[(hash >> 32) as usize % SHARDS]
    }

    /// The slot of `key`: the one whose record `is_key` confirms.
    pub fn get(&self, key: u128, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        let low = fragment(key);
        let hash = hash_fragment(low);
        self.shard(hash)
            .find(hash, |e| e.low == low && is_key(e.slot))
            .map(|e| e.slot)
    }

    /// Points `key` at `slot`; returns the slot it pointed at before, the
    /// one `is_key` confirmed.
    pub fn insert(
        &mut self,
        key: u128,
        slot: u32,
        mut is_key: impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        let entry = SlotEntry::new(key, slot);
        let hash = entry.hash();
        match self.shard_mut(hash).entry(
            hash,
            |e| e.low == entry.low && is_key(e.slot),
            SlotEntry::hash,
        ) {
            Entry::Occupied(mut found) => Some(std::mem::replace(&mut found.get_mut().slot, slot)),
            Entry::Vacant(vacant) => {
                vacant.insert(entry);
                None
            }
        }
    }

    /// Adds `key` → `slot` without looking for `key`, for a key that is not
    /// present (or whose records are not at hand yet). Returns a slot
    /// already stored under the same low 64 bits, if any: the caller
    /// decides whether its record has the same key.
    pub fn insert_new(&mut self, key: u128, slot: u32) -> Option<u32> {
        let entry = SlotEntry::new(key, slot);
        let hash = entry.hash();
        let shard = self.shard_mut(hash);
        let same_bits = shard.find(hash, |e| e.low == entry.low).map(|e| e.slot);
        shard.insert_unique(hash, entry, SlotEntry::hash);
        same_bits
    }

    /// Removes the entry of `key` that points at `slot`; whether there was one.
    pub fn remove(&mut self, key: u128, slot: u32) -> bool {
        let entry = SlotEntry::new(key, slot);
        let hash = entry.hash();
        match self.shard_mut(hash).find_entry(hash, |e| *e == entry) {
            Ok(found) => {
                found.remove();
                true
            }
            Err(_) => false,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.shards.iter().map(HashTable::len).sum()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(HashTable::is_empty)
    }
}

/// Records addressed by a `u32` slot, stored in fixed-size chunks; freed
/// slots are reused. A chunk is allocated whole but filled as slots are
/// handed out, so its memory is first touched by the records themselves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkedSlab<T> {
    /// Each of capacity `CHUNK`, holding its slots below `next`.
    chunks: Vec<Vec<Option<T>>>,
    /// Slots handed out so far (the next fresh slot).
    next: u32,
    free: Vec<u32>,
}

impl<T> Default for ChunkedSlab<T> {
    fn default() -> Self {
        ChunkedSlab {
            chunks: Vec::new(),
            next: 0,
            free: Vec::new(),
        }
    }
}

impl<T> ChunkedSlab<T> {
    /// An empty slab whose next fresh slot is `next` and whose freed slots
    /// are `free` (to be reused in that order), ready for `put` of the
    /// occupied slots and then `finish_layout`: restoring a slab from its
    /// `layout` and `occupied`. `None` when a free slot is out of range or
    /// listed twice.
    pub fn with_layout(next: u32, free: Vec<u32>) -> Option<Self> {
        let mut sorted = free.clone();
        sorted.sort_unstable();
        if sorted.last().is_some_and(|&slot| slot >= next)
            || sorted.windows(2).any(|w| w[0] == w[1])
        {
            return None;
        }
        Some(ChunkedSlab {
            chunks: Vec::new(),
            next,
            free,
        })
    }

    /// Puts `record` into an empty slot below the next fresh one (restoring
    /// a layout); gives the record back when the slot is not such a slot.
    pub fn put(&mut self, slot: u32, record: T) -> Result<(), T> {
        if slot >= self.next {
            return Err(record);
        }
        self.open_through(slot);
        let (chunk, at) = Self::place(slot);
        match &mut self.chunks[chunk][at] {
            cell @ None => {
                *cell = Some(record);
                Ok(())
            }
            Some(_) => Err(record),
        }
    }

    /// Ends a restore after `records` calls of `put`: every slot below the
    /// next fresh one must be either occupied or free, and only once.
    /// Allocates the chunks growth would have. False when inconsistent.
    pub fn finish_layout(&mut self, records: usize) -> bool {
        if records + self.free.len() != self.next as usize {
            return false;
        }
        if let Some(last) = self.next.checked_sub(1) {
            self.open_through(last);
        }
        self.free.iter().all(|&slot| self.get(slot).is_none())
    }

    /// Makes every slot up to `slot` (below the next fresh one) addressable.
    /// Every chunk but the last is full.
    fn open_through(&mut self, slot: u32) {
        let (last, at) = Self::place(slot);
        while self.chunks.len() <= last {
            if let Some(full) = self.chunks.last_mut() {
                full.resize_with(CHUNK, || None);
            }
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let chunk = &mut self.chunks[last];
        if chunk.len() <= at {
            chunk.resize_with(at + 1, || None);
        }
    }

    /// The next fresh slot and the freed slots (see `with_layout`).
    pub fn layout(&self) -> (u32, &[u32]) {
        (self.next, &self.free)
    }

    /// Every occupied slot and its record, in slot order.
    pub fn occupied(&self) -> impl Iterator<Item = (u32, &T)> {
        self.chunks.iter().enumerate().flat_map(|(c, chunk)| {
            chunk
                .iter()
                .enumerate()
                .filter_map(move |(at, cell)| Some(((c * CHUNK + at) as u32, cell.as_ref()?)))
        })
    }

    fn place(slot: u32) -> (usize, usize) {
        (slot as usize / CHUNK, slot as usize % CHUNK)
    }

    /// The record in `slot`.
    pub fn get(&self, slot: u32) -> Option<&T> {
        let (chunk, at) = Self::place(slot);
        self.chunks.get(chunk)?.get(at)?.as_ref()
    }

    /// The record in `slot`, to change.
    pub fn get_mut(&mut self, slot: u32) -> Option<&mut T> {
        let (chunk, at) = Self::place(slot);
        self.chunks.get_mut(chunk)?.get_mut(at)?.as_mut()
    }

    /// Stores `record`; returns its slot.
    pub fn insert(&mut self, record: T) -> u32 {
        if let Some(slot) = self.free.pop() {
            let (chunk, at) = Self::place(slot);
            self.chunks[chunk][at] = Some(record);
            return slot;
        }
        let slot = self.next;
        self.next += 1;
        if slot as usize % CHUNK == 0 {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let chunk = self.chunks.last_mut().expect("a chunk for the fresh slot");
        chunk.push(Some(record));
        slot
    }

    /// Takes the record out of `slot` and frees the slot.
    pub fn remove(&mut self, slot: u32) -> Option<T> {
        let (chunk, at) = Self::place(slot);
        let record = self.chunks.get_mut(chunk)?.get_mut(at)?.take()?;
        self.free.push(slot);
        Some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_sharded_map_behaves_like_a_hash_map(ops in proptest::collection::vec((0u8..3, 0u128..64, any::<u32>()), 0..400)) {
            let mut ours = ShardedMap::default();
            let mut model = std::collections::HashMap::new();
            for (op, key, value) in ops {
                // Spread the small keys over the whole key space.
                let key = key.wrapping_mul(0x0123_4567_89ab_cdef_fedc_ba98_7654_3211);
                match op {
                    0 => prop_assert_eq!(ours.insert(key, value), model.insert(key, value)),
                    1 => prop_assert_eq!(ours.remove(key), model.remove(&key)),
                    _ => prop_assert_eq!(ours.get(key), model.get(&key)),
                }
                prop_assert_eq!(ours.len(), model.len());
            }
        }

        #[test]
        fn a_slot_index_behaves_like_a_hash_map(ops in proptest::collection::vec((0u8..4, 0u128..4, 0u128..8), 0..400)) {
            let mut ours = SlotIndex::default();
            let mut model = std::collections::HashMap::new();
            // The slab: which key the record in each slot has.
            let mut records = std::collections::HashMap::new();
            let mut next_slot = 0u32;
            for (op, high, low) in ops {
                // Few distinct low halves, so that keys often share their
                // stored 64 bits and only the records tell them apart.
                let key = (high << 64) | low.wrapping_mul(0x0123_4567_89ab_cdef);
                let is_key = |records: &std::collections::HashMap<u32, u128>, slot: u32| records.get(&slot) == Some(&key);
                match op {
                    0 => {
                        let slot = next_slot;
                        next_slot += 1;
                        records.insert(slot, key);
                        let old = ours.insert(key, slot, |s| s != slot && is_key(&records, s));
                        prop_assert_eq!(old, model.insert(key, slot));
                        if let Some(old) = old {
                            records.remove(&old);
                        }
                    }
                    1 if !model.contains_key(&key) => {
                        let slot = next_slot;
                        next_slot += 1;
                        records.insert(slot, key);
                        let same_bits = ours.insert_new(key, slot);
                        if let Some(other) = same_bits {
                            prop_assert_eq!(records[&other] as u64, key as u64);
                            prop_assert_ne!(records[&other], key);
                        }
                        prop_assert_eq!(
                            same_bits.is_some(),
                            model.keys().any(|k| *k as u64 == key as u64)
                        );
                        model.insert(key, slot);
                    }
                    2 => match model.remove(&key) {
                        Some(slot) => {
                            prop_assert!(ours.remove(key, slot));
                            prop_assert!(!ours.remove(key, slot), "removed twice");
                            records.remove(&slot);
                        }
                        None => prop_assert_eq!(ours.get(key, |s| is_key(&records, s)), None),
                    },
                    _ => prop_assert_eq!(ours.get(key, |s| is_key(&records, s)), model.get(&key).copied()),
                }
                prop_assert_eq!(ours.len(), model.len());
            }
            let mut rebuilt = SlotIndex::with_capacity(model.len());
            for (key, slot) in &model {
                rebuilt.insert_new(*key, *slot);
            }
            prop_assert_eq!(&rebuilt, &ours, "equal entries, another layout");
            if let Some((key, slot)) = model.iter().next() {
                rebuilt.remove(*key, *slot);
                prop_assert_ne!(&rebuilt, &ours);
            }
        }

        #[test]
        fn a_restored_layout_refuses_free_slots_out_of_range_or_twice(next in 1u32..50, free in proptest::collection::vec(0u32..60, 0..10)) {
            let mut distinct = free.clone();
            distinct.sort_unstable();
            distinct.dedup();
            let valid = distinct.len() == free.len() && free.iter().all(|&s| s < next);
            let slab = ChunkedSlab::<u8>::with_layout(next, free);
            prop_assert_eq!(slab.is_some(), valid);
            if let Some(mut slab) = slab {
                prop_assert_eq!(slab.put(next, 1), Err(1), "a slot past the next fresh one");
            }
        }

        #[test]
        fn a_chunked_slab_keeps_every_record_in_its_slot(ops in proptest::collection::vec((any::<bool>(), any::<u16>()), 0..12_000)) {
            let mut slab = ChunkedSlab::default();
            let mut model: std::collections::BTreeMap<u32, u16> = Default::default();
            for (insert, value) in ops {
                if insert || model.is_empty() {
                    let slot = slab.insert(value);
                    prop_assert!(model.insert(slot, value).is_none(), "slot {} handed out twice", slot);
                } else {
                    let slot = *model.keys().nth(value as usize % model.len()).unwrap();
                    prop_assert_eq!(slab.remove(slot), model.remove(&slot));
                }
            }
            for (slot, value) in &model {
                prop_assert_eq!(slab.get(*slot), Some(value));
            }
            // Restored from its layout and records, it is the same slab
            // and hands out the same slots next.
            let (next, free) = slab.layout();
            let mut restored = ChunkedSlab::with_layout(next, free.to_vec()).expect("a valid layout");
            for (slot, value) in slab.occupied() {
                prop_assert_eq!(restored.put(slot, *value), Ok(()));
            }
            prop_assert!(restored.finish_layout(model.len()));
            prop_assert_eq!(&restored, &slab);
            prop_assert_eq!(restored.insert(0), slab.insert(0));
            prop_assert_eq!(restored.insert(1), slab.insert(1));
        }
    }
}
