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
/// that an entry takes 12 bytes, and the slot (`EMPTY` in a free place).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SlotEntry {
    low: [u32; 2],
    slot: u32,
}

/// The slot of a free place in a `SlotTable` (a slab never hands it out:
/// its slots are counted in a `u32` from zero).
const EMPTY: u32 = u32::MAX;

impl SlotEntry {
    const FREE: SlotEntry = SlotEntry {
        low: [0, 0],
        slot: EMPTY,
    };

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

/// One shard of a `SlotIndex`: open addressing with linear probing over a
/// power-of-two array, at most three quarters full. An entry sits in the
/// cache line of its home place or the next, so a lookup touches one or
/// two lines where a table with a separate control array touches two, and
/// that line is known from the key alone, so it can be fetched ahead
/// (`prefetch`). Removal shifts the rest of the run back: no tombstones.
#[derive(Clone, Debug, Default)]
struct SlotTable {
    entries: Box<[SlotEntry]>,
    len: usize,
}

impl SlotTable {
    fn with_capacity(entries: usize) -> Self {
        let mut table = SlotTable::default();
        if entries > 0 {
            table.resize((entries * 4 / 3 + 1).next_power_of_two());
        }
        table
    }

    fn mask(&self) -> usize {
        self.entries.len().wrapping_sub(1)
    }

    fn home(&self, hash: u64) -> usize {
        hash as usize & self.mask()
    }

    /// The entries from `hash`'s home place to the next free place: every
    /// entry with that hash is among them.
    fn run(&self, hash: u64) -> impl Iterator<Item = &SlotEntry> {
        let home = self.home(hash);
        let places = if self.len == 0 { 0 } else { self.entries.len() };
        (0..places)
            .map(move |i| &self.entries[(home + i) & self.mask()])
            .take_while(|entry| entry.slot != EMPTY)
    }

    /// Where the entry `is` accepts sits, among those with this hash.
    fn find(&self, hash: u64, is: impl FnMut(&SlotEntry) -> bool) -> Option<usize> {
        let offset = self.run(hash).position(is)?;
        Some((self.home(hash) + offset) & self.mask())
    }

    /// Asks the CPU to start loading the line of this hash's home place.
    fn prefetch(&self, hash: u64) {
        if let Some(entry) = self.entries.get(self.home(hash)) {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: a prefetch only hints the cache; it never faults and
            // changes nothing observable, and the address is in bounds.
            unsafe {
                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(entry).cast());
            }
            #[cfg(not(target_arch = "x86_64"))]
            let _ = entry;
        }
    }

    /// Adds an entry (without looking for an equal one).
    fn insert(&mut self, entry: SlotEntry) {
        if (self.len + 1) * 4 > self.entries.len() * 3 {
            self.resize((self.entries.len() * 2).max(16));
        }
        let mut at = self.home(entry.hash());
        while self.entries[at].slot != EMPTY {
            at = (at + 1) & self.mask();
        }
        self.entries[at] = entry;
        self.len += 1;
    }

    /// Removes the entry at `at`, moving later entries of its run back
    /// into the gap when the gap lies between their home and where they sit.
    fn remove_at(&mut self, mut at: usize) {
        let mask = self.mask();
        let mut next = (at + 1) & mask;
        loop {
            let entry = self.entries[next];
            if entry.slot == EMPTY {
                break;
            }
            let home = self.home(entry.hash());
            if next.wrapping_sub(home) & mask >= next.wrapping_sub(at) & mask {
                self.entries[at] = entry;
                at = next;
            }
            next = (next + 1) & mask;
        }
        self.entries[at] = SlotEntry::FREE;
        self.len -= 1;
    }

    fn resize(&mut self, capacity: usize) {
        let old = std::mem::replace(
            &mut self.entries,
            vec![SlotEntry::FREE; capacity].into_boxed_slice(),
        );
        self.len = 0;
        for entry in old.iter().filter(|e| e.slot != EMPTY) {
            self.insert(*entry);
        }
    }

    fn iter(&self) -> impl Iterator<Item = &SlotEntry> {
        self.entries.iter().filter(|e| e.slot != EMPTY)
    }
}

/// A map from random 128-bit keys to slots of a slab whose records hold
/// their keys, in `SHARDS` independently growing parts. Only the low 64
/// bits of a key are stored; lookups confirm a candidate slot with
/// `is_key`, which asks the record in it, so keys that share those bits
/// (one pair in about 2^64 / n² at n keys) are still told apart. 12 bytes
/// per entry where a `ShardedMap<u32>` takes 24.
#[derive(Clone)]
pub struct SlotIndex {
    shards: Vec<SlotTable>,
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
            && self.shards.iter().flat_map(SlotTable::iter).all(|entry| {
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
        SlotIndex {
            shards: (0..SHARDS)
                .map(|_| SlotTable::with_capacity(entries.div_ceil(SHARDS)))
                .collect(),
        }
    }

    fn shard(&self, hash: u64) -> &SlotTable {
        // Middle bits: a table uses the low bits of the hash.
        &self.shards[(hash >> 32) as usize % SHARDS]
    }

    fn shard_mut(&mut self, hash: u64) -> &mut SlotTable {
        &mut self.shards[(hash >> 32) as usize % SHARDS]
    }

    /// Starts loading the memory a lookup of `key` will read first, so
    /// that several keys' cache misses overlap (see `TokenIndex::prefetch`).
    pub fn prefetch(&self, key: u128) {
        let hash = hash_fragment(fragment(key));
        self.shard(hash).prefetch(hash);
    }

    /// The slots stored under `key`'s low 64 bits: `key`'s own, if it is
    /// present, and those of any other keys that share the bits.
    pub fn matching(&self, key: u128) -> impl Iterator<Item = u32> + '_ {
        let low = fragment(key);
        let hash = hash_fragment(low);
        self.shard(hash)
            .run(hash)
            .filter(move |e| e.low == low)
            .map(|e| e.slot)
    }

    /// The slot of `key`: the one whose record `is_key` confirms.
    pub fn get(&self, key: u128, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        self.matching(key).find(|&slot| is_key(slot))
    }

    /// Adds `key` → `slot`, without looking for `key` first: for a key the
    /// caller knows is absent, or whose records it checks afterwards
    /// (through `matching`).
    pub fn add(&mut self, key: u128, slot: u32) {
        let entry = SlotEntry::new(key, slot);
        self.shard_mut(entry.hash()).insert(entry);
    }

    /// Removes the entry of `key` that points at `slot`; whether there was one.
    pub fn remove(&mut self, key: u128, slot: u32) -> bool {
        let entry = SlotEntry::new(key, slot);
        let hash = entry.hash();
        let shard = self.shard_mut(hash);
        match shard.find(hash, |e| *e == entry) {
            Some(at) => {
                shard.remove_at(at);
                true
            }
            None => false,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.len).sum()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
                    0 if !model.contains_key(&key) => {
                        let slot = next_slot;
                        next_slot += 1;
                        records.insert(slot, key);
                        ours.add(key, slot);
                        model.insert(key, slot);
                    }
                    1 => match model.remove(&key) {
                        Some(slot) => {
                            prop_assert!(ours.remove(key, slot));
                            prop_assert!(!ours.remove(key, slot), "removed twice");
                            records.remove(&slot);
                        }
                        None => prop_assert_eq!(ours.get(key, |s| is_key(&records, s)), None),
                    },
                    2 => {
                        let mut found: Vec<u32> = ours.matching(key).collect();
                        let mut expected: Vec<u32> = model
                            .iter()
                            .filter(|(k, _)| **k as u64 == key as u64)
                            .map(|(_, slot)| *slot)
                            .collect();
                        found.sort_unstable();
                        expected.sort_unstable();
                        prop_assert_eq!(found, expected);
                    }
                    _ => prop_assert_eq!(ours.get(key, |s| is_key(&records, s)), model.get(&key).copied()),
                }
                prop_assert_eq!(ours.len(), model.len());
            }
            let mut rebuilt = SlotIndex::with_capacity(model.len());
            for (key, slot) in &model {
                rebuilt.add(*key, *slot);
            }
            prop_assert_eq!(&rebuilt, &ours, "equal entries, another layout");
            if let Some((key, slot)) = model.iter().next() {
                rebuilt.remove(*key, *slot);
                prop_assert_ne!(&rebuilt, &ours);
            }
        }

        #[test]
        fn a_slot_table_finds_every_entry_it_holds_through_growth_and_removals(ops in proptest::collection::vec((any::<bool>(), 0u32..48, any::<u16>()), 0..600)) {
            // Few fragments over many homes: long, interleaved runs.
            let mut table = SlotTable::default();
            let mut model: Vec<SlotEntry> = Vec::new();
            for (slot, (insert, low, pick)) in ops.into_iter().enumerate() {
                if insert || model.is_empty() {
                    let entry = SlotEntry { low: [low, low % 3], slot: slot as u32 };
                    table.insert(entry);
                    model.push(entry);
                } else {
                    let gone = model.swap_remove(pick as usize % model.len());
                    let at = table.find(gone.hash(), |e| *e == gone);
                    prop_assert!(at.is_some());
                    table.remove_at(at.unwrap());
                    prop_assert_eq!(table.find(gone.hash(), |e| *e == gone), None);
                }
                prop_assert_eq!(table.len, model.len());
                for entry in &model {
                    prop_assert!(table.find(entry.hash(), |e| e == entry).is_some(), "lost {:?}", entry);
                }
            }
            prop_assert_eq!(table.iter().count(), model.len());
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
