//! A bounded cache of decompressed Ed25519 public keys.
//!
//! Decompressing a key (recovering the point's x from its encoded y, a square
//! root in the field) is about a third of the cost of verifying a signature
//! in a batch. The same keys sign again and again (a sender's transactions, a
//! peer's broadcasts), and a transaction's key has normally been seen when the
//! transaction entered the pool, so block validation finds most keys here.
//!
//! Only keys whose signature has just verified are inserted, so a flood of
//! made-up keys with bad signatures cannot churn the cache. A cached point is
//! exactly what decompressing the same 32 bytes gives (the map is keyed by the
//! raw encoding, canonical or not), so a hit and a miss give the same verdict.
//!
//! Memory is bounded: two generations of at most `capacity / 2` entries each.
//! A lookup that hits the older generation promotes the entry; when the current
//! generation is full it becomes the older one and the oldest is dropped whole.
//! That keeps every key used within the last `capacity / 2` insertions, in O(1)
//! per operation and with no per-entry bookkeeping.

use std::collections::HashMap;

use curve25519_dalek::edwards::EdwardsPoint;
use parking_lot::Mutex;

/// Keys kept by default (about 200 bytes each: 3.3 MB when full).
pub const DEFAULT_CAPACITY: usize = 16_384;

/// What the cache holds and how it has served, for `stats()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyCacheStats {
    /// Keys held now.
    pub entries: usize,
    /// The bound on `entries`.
    pub capacity: usize,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that had to decompress.
    pub misses: u64,
}

#[derive(Default)]
struct Generations {
    current: HashMap<[u8; 32], EdwardsPoint>,
    previous: HashMap<[u8; 32], EdwardsPoint>,
    capacity: usize,
    hits: u64,
    misses: u64,
}

impl Generations {
    fn per_generation(&self) -> usize {
        self.capacity / 2
    }

    fn get(&mut self, key: &[u8; 32]) -> Option<EdwardsPoint> {
        if let Some(p) = self.current.get(key) {
            self.hits += 1;
            return Some(*p);
        }
        if let Some(p) = self.previous.remove(key) {
            self.hits += 1;
            self.put(*key, p);
            return Some(p);
        }
        self.misses += 1;
        None
    }

    fn put(&mut self, key: [u8; 32], point: EdwardsPoint) {
        let per = self.per_generation();
        if per == 0 {
            return;
        }
        if self.current.len() >= per && !self.current.contains_key(&key) {
            self.previous = std::mem::take(&mut self.current);
            self.current.reserve(per.min(1024));
        }
        self.current.insert(key, point);
    }
}

/// A thread-safe bounded map from a key's 32-byte encoding to its point.
pub struct KeyCache {
    inner: Mutex<Generations>,
}

impl KeyCache {
    /// An empty cache holding at most `capacity` keys (0 turns it off).
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Generations {
                capacity,
                ..Generations::default()
            }),
        }
    }

    /// The cached points of `keys`, in order (`None` where not cached), under
    /// one lock.
    pub fn get_many<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k [u8; 32]>,
    ) -> Vec<Option<EdwardsPoint>> {
        let mut g = self.inner.lock();
        keys.into_iter().map(|k| g.get(k)).collect()
    }

    /// The cached point of `key`, if any.
    pub fn get(&self, key: &[u8; 32]) -> Option<EdwardsPoint> {
        self.inner.lock().get(key)
    }

    /// Remembers that `key` decompresses to `point`.
    ///
    /// The caller guarantees `point` is `CompressedEdwardsY(key).decompress()`.
    pub fn insert(&self, key: [u8; 32], point: EdwardsPoint) {
        self.inner.lock().put(key, point);
    }

    /// [`insert`](Self::insert) for several keys under one lock.
    pub fn insert_many(&self, entries: impl IntoIterator<Item = ([u8; 32], EdwardsPoint)>) {
        let mut g = self.inner.lock();
        for (k, p) in entries {
            g.put(k, p);
        }
    }

    /// Drops every entry and sets a new bound (0 turns the cache off); the
    /// hit and miss counters restart.
    pub fn reset(&self, capacity: usize) {
        *self.inner.lock() = Generations {
            capacity,
            ..Generations::default()
        };
    }

    /// Entries, bound and counters.
    pub fn stats(&self) -> KeyCacheStats {
        let g = self.inner.lock();
        KeyCacheStats {
            entries: g.current.len() + g.previous.len(),
            capacity: g.capacity,
            hits: g.hits,
            misses: g.misses,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::ED25519_BASEPOINT_POINT as B;
    use curve25519_dalek::scalar::Scalar;

    fn entry(i: u64) -> ([u8; 32], EdwardsPoint) {
        let p = B * Scalar::from(i + 1);
        (p.compress().to_bytes(), p)
    }

    #[test]
    fn hit_returns_what_was_inserted_and_counts() {
        let c = KeyCache::new(8);
        let (k, p) = entry(1);
        assert_eq!(c.get(&k), None);
        c.insert(k, p);
        assert_eq!(c.get(&k), Some(p));
        let s = c.stats();
        assert_eq!((s.entries, s.hits, s.misses), (1, 1, 1));
    }

    #[test]
    fn never_holds_more_than_capacity() {
        let c = KeyCache::new(10);
        for i in 0..1000 {
            let (k, p) = entry(i);
            c.insert(k, p);
            assert!(c.stats().entries <= 10);
        }
        // The most recent capacity/2 keys are always kept.
        for i in 995..1000 {
            assert!(c.get(&entry(i).0).is_some(), "{i}");
        }
        assert!(c.get(&entry(0).0).is_none());
    }

    #[test]
    fn a_key_in_use_survives_rotation() {
        let c = KeyCache::new(4);
        let hot = entry(999);
        c.insert(hot.0, hot.1);
        for i in 0..100 {
            let (k, p) = entry(i);
            c.insert(k, p);
            assert_eq!(c.get(&hot.0), Some(hot.1), "after {i}");
        }
    }

    #[test]
    fn zero_capacity_is_off_and_reset_clears() {
        let c = KeyCache::new(0);
        let (k, p) = entry(3);
        c.insert(k, p);
        assert_eq!(c.get(&k), None);
        c.reset(4);
        c.insert(k, p);
        assert_eq!(c.get_many([&k, &entry(4).0]), vec![Some(p), None]);
        c.reset(4);
        assert_eq!(c.stats().entries, 0);
        assert_eq!(c.stats().hits, 0);
    }
}
