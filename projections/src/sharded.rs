//! Containers for millions of tokens that grow without pauses.
//!
//! One big `HashMap` or `Vec` grows by moving everything it holds at once:
//! at a million tokens that is tens of milliseconds during which the writer
//! holds the projections lock and every request waits. `ShardedMap` splits
//! a map over 128-bit random keys (token digests, UUIDv7 token ids) into
//! `SHARDS` maps that each grow on their own; `ChunkedSlab` keeps records
//! in fixed-size chunks, so growing allocates one chunk and moves nothing.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

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
    /// An empty map with room for about `entries` entries.
    pub fn with_capacity(entries: usize) -> Self {
        let each = entries / SHARDS + entries / SHARDS / 8;
        ShardedMap {
            shards: (0..SHARDS)
                .map(|_| HashMap::with_capacity_and_hasher(each, KeyHash))
                .collect(),
        }
    }

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

    /// Whether `key` is present.
    pub fn contains_key(&self, key: u128) -> bool {
        let key = split(key);
        self.shard(key).contains_key(&key)
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

/// Records addressed by a `u32` slot, stored in fixed-size chunks; freed
/// slots are reused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkedSlab<T> {
    chunks: Vec<Box<[Option<T>]>>,
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
        let (chunk, at) = Self::place(slot);
        while self.chunks.len() <= chunk {
            self.chunks.push((0..CHUNK).map(|_| None).collect());
        }
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
        let chunks = (self.next as usize).div_ceil(CHUNK);
        while self.chunks.len() < chunks {
            self.chunks.push((0..CHUNK).map(|_| None).collect());
        }
        self.free.iter().all(|&slot| self.get(slot).is_none())
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
        self.chunks.get(chunk)?[at].as_ref()
    }

    /// The record in `slot`, to change.
    pub fn get_mut(&mut self, slot: u32) -> Option<&mut T> {
        let (chunk, at) = Self::place(slot);
        self.chunks.get_mut(chunk)?[at].as_mut()
    }

    /// Stores `record`; returns its slot.
    pub fn insert(&mut self, record: T) -> u32 {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                let slot = self.next;
                self.next += 1;
                if slot as usize / CHUNK == self.chunks.len() {
                    self.chunks.push((0..CHUNK).map(|_| None).collect());
                }
                slot
            }
        };
        let (chunk, at) = Self::place(slot);
        self.chunks[chunk][at] = Some(record);
        slot
    }

    /// Replaces the record in an occupied `slot`.
    pub fn replace(&mut self, slot: u32, record: T) {
        let (chunk, at) = Self::place(slot);
        if let Some(cell) = self.chunks.get_mut(chunk) {
            cell[at] = Some(record);
        }
    }

    /// Takes the record out of `slot` and frees the slot.
    pub fn remove(&mut self, slot: u32) -> Option<T> {
        let (chunk, at) = Self::place(slot);
        let record = self.chunks.get_mut(chunk)?[at].take()?;
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
        }
    }
}
