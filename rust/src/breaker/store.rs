//! The storage of breaker entries by key: a dense `Vec` of 64-byte
//! [`Entry`] records, one byte arena holding every key (no per-key
//! allocation), and an open-addressing index over them.
//!
//! The index is a power-of-two table of `u32` slots (8-bit hash tag + 24-bit
//! entry index, or `EMPTY` / `TOMBSTONE`) with triangular probing, kept at most
//! 7/8 full counting tombstones; a rebuild drops the tombstones and doubles the
//! table when the live entries alone would fill more than 7/16 of it. Removal
//! is a swap-remove: the last entry takes the freed index. Removed keys leave
//! garbage in the arena, compacted once it passes 4 KiB and half the arena.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::entry::Entry;
use crate::error::{CoreError, CoreResult};

/// Longest accepted key, in bytes.
pub const MAX_KEY_LEN: usize = 255;
/// Largest accepted `max_entries` (entry indexes are 24-bit).
pub const MAX_ENTRIES_LIMIT: usize = 0x00FF_FFF0;

const EMPTY: u32 = u32::MAX;
/// A deleted slot: lookups probe past it, inserts may reuse it.
const TOMBSTONE: u32 = u32::MAX - 1;
const IDX_MASK: u32 = 0x00FF_FFFF;

/// Rejects keys longer than [`MAX_KEY_LEN`].
pub(super) fn check_key(key: &str) -> CoreResult<()> {
    if key.len() > MAX_KEY_LEN {
        return Err(CoreError::invalid(
            "key",
            format!("must be at most {MAX_KEY_LEN} bytes, got {}", key.len()),
        ));
    }
    Ok(())
}

/// Entries addressed by index (`0..len`) and found by key.
#[derive(Debug, Clone)]
pub(super) struct EntryStore {
    hash_seed: u64,
    entries: Vec<Entry>,
    arena: Vec<u8>,
    arena_garbage: usize,
    /// Open-addressing index: `tag << 24 | entry index`, `EMPTY` or `TOMBSTONE`.
    slots: Vec<u32>,
    /// Tombstone slots in `slots`.
    tombstones: usize,
}

impl EntryStore {
    /// An empty store whose index hashes keys with `hash_seed`.
    pub(super) fn new(hash_seed: u64) -> Self {
        Self {
            hash_seed,
            entries: Vec::new(),
            arena: Vec::new(),
            arena_garbage: 0,
            slots: vec![EMPTY; 16],
            tombstones: 0,
        }
    }

    /// Number of stored entries.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no entry is stored.
    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Heap bytes held by the entries, the key arena and the index.
    pub(super) fn memory_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.arena.capacity()
            + self.slots.capacity() * 4
    }

    /// The entry at `idx` (< `len`).
    pub(super) fn get(&self, idx: usize) -> &Entry {
        &self.entries[idx]
    }

    /// The entry at `idx` (< `len`), mutably. The key fields must not change.
    pub(super) fn get_mut(&mut self, idx: usize) -> &mut Entry {
        &mut self.entries[idx]
    }

    /// The seeded hash the index uses for `key`.
    pub(super) fn hash(&self, key: &str) -> u64 {
        xxh3_64_with_seed(key.as_bytes(), self.hash_seed)
    }

    /// The key bytes of entry `idx`.
    pub(super) fn key_of(&self, idx: usize) -> &[u8] {
        let e = &self.entries[idx];
        let off = e.key_off as usize;
        &self.arena[off..off + e.key_len as usize]
    }

    /// The entry index of `key`, whose [`hash`](Self::hash) is `hash`. Probing
    /// is triangular (`pos + 1, + 2, + 3, ...`), which visits every slot of a
    /// power-of-two table and avoids the primary clustering of linear probing.
    pub(super) fn find_hashed(&self, key: &str, hash: u64) -> Option<usize> {
        let mask = self.slots.len() - 1;
        let tag = (hash >> 56) as u32;
        let mut pos = hash as usize & mask;
        let mut step = 0;
        loop {
            let s = self.slots[pos];
            if s == EMPTY {
                return None;
            }
            if s >> 24 == tag && s != TOMBSTONE {
                let idx = (s & IDX_MASK) as usize;
                if self.key_of(idx) == key.as_bytes() {
                    return Some(idx);
                }
            }
            step += 1;
            pos = (pos + step) & mask;
        }
    }

    /// The entry index of `key`.
    pub(super) fn find(&self, key: &str) -> Option<usize> {
        self.find_hashed(key, self.hash(key))
    }

    /// Stores `entry` under `key` (which must be absent, at most
    /// [`MAX_KEY_LEN`] bytes, with `hash` its [`hash`](Self::hash)), with fewer
    /// than [`MAX_ENTRIES_LIMIT`] entries stored; returns its index (the old `len`).
    pub(super) fn insert_hashed(&mut self, key: &str, hash: u64, mut entry: Entry) -> usize {
        if (self.entries.len() + self.tombstones + 1) * 8 > self.slots.len() * 7 {
            self.rebuild_index();
        }
        if self.arena.len() + key.len() > u32::MAX as usize {
            self.compact_arena();
        }
        let idx = self.entries.len();
        entry.key_off = self.arena.len() as u32;
        entry.key_len = key.len() as u8;
        self.entries.push(entry);
        self.arena.extend_from_slice(key.as_bytes());
        if Self::insert_slot(&mut self.slots, hash, idx) {
            self.tombstones -= 1;
        }
        idx
    }

    /// Removes entry `idx` (swap-remove: the last entry takes index `idx`) and
    /// its key; returns the removed entry.
    pub(super) fn remove(&mut self, idx: usize) -> Entry {
        if let Some(pos) = self.slot_of(idx) {
            self.slots[pos] = TOMBSTONE;
            self.tombstones += 1;
        }
        let last = self.entries.len() - 1;
        if idx != last
            && let Some(pos) = self.slot_of(last)
        {
            self.slots[pos] = (self.slots[pos] & !IDX_MASK) | idx as u32;
        }
        self.arena_garbage += self.entries[idx].key_len as usize;
        let removed = self.entries.swap_remove(idx);
        if self.arena_garbage > 4096 && self.arena_garbage * 2 > self.arena.len() {
            self.compact_arena();
        }
        removed
    }

    /// Stores `idx` in the first free (empty or tombstone) slot of `hash`'s probe
    /// sequence; returns true if it reused a tombstone.
    fn insert_slot(slots: &mut [u32], hash: u64, idx: usize) -> bool {
        let mask = slots.len() - 1;
        let mut pos = hash as usize & mask;
        let mut step = 0;
        while slots[pos] != EMPTY && slots[pos] != TOMBSTONE {
            step += 1;
            pos = (pos + step) & mask;
        }
        let reused = slots[pos] == TOMBSTONE;
        slots[pos] = ((hash >> 56) as u32) << 24 | idx as u32;
        reused
    }

    /// Rebuilds the index (dropping tombstones), doubling it when the live
    /// entries alone would fill more than 7/16 of it.
    fn rebuild_index(&mut self) {
        let mut cap = self.slots.len();
        if (self.entries.len() + 1) * 16 > cap * 7 {
            cap *= 2;
        }
        let mut slots = vec![EMPTY; cap];
        for idx in 0..self.entries.len() {
            let h = xxh3_64_with_seed(self.key_of(idx), self.hash_seed);
            Self::insert_slot(&mut slots, h, idx);
        }
        self.slots = slots;
        self.tombstones = 0;
    }

    /// The slot position holding entry index `idx`.
    fn slot_of(&self, idx: usize) -> Option<usize> {
        let mask = self.slots.len() - 1;
        let h = xxh3_64_with_seed(self.key_of(idx), self.hash_seed);
        let mut pos = h as usize & mask;
        let mut step = 0;
        loop {
            let s = self.slots[pos];
            if s == EMPTY {
                return None;
            }
            if s != TOMBSTONE && (s & IDX_MASK) as usize == idx {
                return Some(pos);
            }
            step += 1;
            pos = (pos + step) & mask;
        }
    }

    fn compact_arena(&mut self) {
        let mut arena = Vec::with_capacity(self.arena.len() - self.arena_garbage);
        for e in &mut self.entries {
            let off = e.key_off as usize;
            let new_off = arena.len() as u32;
            arena.extend_from_slice(&self.arena[off..off + e.key_len as usize]);
            e.key_off = new_off;
        }
        self.arena = arena;
        self.arena_garbage = 0;
    }

    /// Checks the index and the arena against the entries.
    #[cfg(test)]
    #[allow(clippy::unwrap_used)]
    pub(super) fn assert_consistent(&self) {
        let live = self
            .slots
            .iter()
            .filter(|&&s| s != EMPTY && s != TOMBSTONE)
            .count();
        let dead = self.slots.iter().filter(|&&s| s == TOMBSTONE).count();
        assert_eq!(live, self.entries.len());
        assert_eq!(dead, self.tombstones);
        assert!((self.entries.len() + self.tombstones) * 8 <= self.slots.len() * 7);
        for idx in 0..self.entries.len() {
            let key = std::str::from_utf8(self.key_of(idx)).unwrap();
            assert_eq!(self.find(key), Some(idx), "{key}");
        }
        let key_bytes: usize = self.entries.iter().map(|e| e.key_len as usize).sum();
        assert_eq!(key_bytes + self.arena_garbage, self.arena.len());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// An entry whose `last_change_ms` tags it, so tests can tell entries apart.
    fn tagged(tag: u64) -> Entry {
        Entry::new(tag, 0)
    }

    fn insert(s: &mut EntryStore, key: &str, tag: u64) -> usize {
        assert_eq!(s.find(key), None, "{key} already stored");
        s.insert_hashed(key, s.hash(key), tagged(tag))
    }

    #[test]
    fn finds_inserted_keys_and_swap_removes() {
        let mut s = EntryStore::new(1);
        assert!(s.is_empty());
        for i in 0..4 {
            assert_eq!(insert(&mut s, &format!("k{i}"), i), i as usize);
        }
        assert_eq!(s.len(), 4);
        assert_eq!(s.key_of(2), b"k2");
        let removed = s.remove(1);
        assert_eq!(removed.last_change_ms, 1);
        assert_eq!(removed.key_len, 2);
        // The last entry took index 1.
        assert_eq!(s.find("k3"), Some(1));
        assert_eq!(s.get(1).last_change_ms, 3);
        assert_eq!(s.find("k1"), None);
        assert_eq!(s.tombstones, 1);
        s.get_mut(0).consecutive_failures = 7;
        assert_eq!(s.get(s.find("k0").unwrap()).consecutive_failures, 7);
        s.assert_consistent();
    }

    #[test]
    fn keys_longer_than_the_limit_are_rejected() {
        assert!(check_key(&"x".repeat(MAX_KEY_LEN)).is_ok());
        match check_key(&"x".repeat(MAX_KEY_LEN + 1)) {
            Err(CoreError::InvalidArgument { arg, .. }) => assert_eq!(arg, "key"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn index_stays_at_most_seven_eighths_full() {
        let mut s = EntryStore::new(1);
        for i in 0..100_000 {
            insert(&mut s, &format!("peer-{i:08}|gun"), 0);
        }
        // 100 000 live keys fit a 131 072-slot index (76% full): 4 bytes of index
        // per slot, about 5.2 per breaker.
        assert_eq!(s.slots.len(), 131_072);
        s.assert_consistent();
    }

    #[test]
    fn rebuild_drops_tombstones_without_growing() {
        let mut s = EntryStore::new(5);
        for round in 0..50 {
            for i in 0..10 {
                insert(&mut s, &format!("r{round}-{i}"), 0);
            }
            while !s.is_empty() {
                s.remove(0);
            }
            s.assert_consistent();
        }
        // 500 inserts, never more than 10 live: the table stayed small.
        assert!(s.slots.len() <= 32, "{}", s.slots.len());
    }

    #[test]
    fn arena_is_compacted_once_mostly_garbage() {
        let mut s = EntryStore::new(3);
        for i in 0..1000 {
            insert(&mut s, &format!("a-long-peer-key-{i:06}"), i);
        }
        assert_eq!(s.arena.len(), 1000 * 22);
        for _ in 0..500 {
            s.remove(0);
        }
        // Half the arena is garbage: not yet compacted.
        assert_eq!(s.arena_garbage, 500 * 22);
        s.remove(0);
        assert_eq!(s.arena_garbage, 0, "compacted");
        assert_eq!(s.arena.len(), 499 * 22);
        s.assert_consistent();
        for idx in 0..s.len() {
            let tag = s.get(idx).last_change_ms;
            assert_eq!(
                s.key_of(idx),
                format!("a-long-peer-key-{tag:06}").as_bytes()
            );
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;
        use std::collections::HashMap;

        proptest! {
            #[test]
            fn matches_a_map(
                ops in proptest::collection::vec((0u16..300, any::<bool>()), 1..800),
                seed in any::<u64>(),
            ) {
                let mut s = EntryStore::new(seed);
                let mut model: HashMap<String, u64> = HashMap::new();
                for (n, (k, add)) in ops.into_iter().enumerate() {
                    let key = format!("peer-{k}|{}", "t".repeat(usize::from(k % 40)));
                    match (add, s.find(&key)) {
                        (true, None) => {
                            insert(&mut s, &key, n as u64);
                            model.insert(key.clone(), n as u64);
                        }
                        (false, Some(idx)) => {
                            s.remove(idx);
                            model.remove(&key);
                        }
                        _ => {}
                    }
                    prop_assert_eq!(s.len(), model.len());
                    let found = s.find(&key).map(|idx| s.get(idx).last_change_ms);
                    prop_assert_eq!(found, model.get(&key).copied());
                }
                s.assert_consistent();
                for (key, tag) in &model {
                    let found = s.find(key).map(|idx| s.get(idx).last_change_ms);
                    prop_assert_eq!(found, Some(*tag), "{}", key);
                }
            }
        }
    }
}
