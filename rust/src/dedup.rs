//! The seen-message filter of the mesh: rotating generations of Bloom filters.
//!
//! A [`DedupFilter`] holds `G >= 2` Bloom filters of identical geometry (each
//! sized for `capacity` ids at `fp_rate`; split-block filters, see
//! [`crate::blocked`], so an insert costs two or three cache misses, not `k`). New ids go into the *current*
//! generation; lookups consult every live generation. Time is cut into spans of
//! `span = ceil(ttl / (G - 1))` milliseconds on a fixed schedule that starts at
//! the first call: at each span boundary the oldest generation is cleared and
//! becomes the new current one. An id inserted at `t` therefore stays in some
//! live generation until at least `t + (G - 1) * span >= t + ttl`, and at most
//! until `t + G * span`: **no false negative inside the TTL**, and memory fixed
//! at `G` filters forever.
//!
//! Capacity is the rated number of distinct ids per span. If the current
//! generation reaches it before its span ends (an overload), it rotates early
//! so that the false-positive rate stays bounded; that forgets the oldest
//! generation sooner than the TTL, and is counted in `early_rotations` so an
//! operator can size the filter up.
//!
//! A lookup of a fresh id is a false positive if any live generation answers
//! yes, so the rate for one query is `1 - prod(1 - fill_g^k)`: `fp_rate` while
//! one generation is full and the others are empty, up to about `G * fp_rate`
//! when all are full. [`DedupStats::estimated_fp_rate`] reports the current value.
//!
//! A duplicate found only in an older generation is re-inserted into the
//! current one, so an id that keeps arriving keeps being remembered.
//!
//! Time never runs backwards here: a `now_ms` older than one already seen is
//! treated as the latest one seen.

use crate::blocked::{BlockedBloom, Geometry, Placements, geometry};
use crate::bloom::IdHash;
use crate::codec::Reader;
use crate::error::{CoreError, CoreResult, DecodeReason};

/// The most generations a filter may have.
pub const MAX_GENERATIONS: u32 = 16;

const MAGIC: &[u8; 4] = b"SMDF";
const VERSION: u8 = 1;

#[derive(Debug, Clone, PartialEq)]
struct Generation {
    filter: BlockedBloom,
    /// Distinct ids inserted into this generation.
    count: u64,
    /// When this generation became current (0 until the first call).
    started_ms: u64,
}

/// Counters and gauges of a [`DedupFilter`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DedupStats {
    /// Ids seen for the first time (answered `true`).
    pub inserted: u64,
    /// Ids answered as already seen.
    pub duplicates: u64,
    /// Generation rotations, on schedule or early.
    pub rotations: u64,
    /// Rotations forced by a full generation before its span ended.
    pub early_rotations: u64,
    /// The number of generations.
    pub generations: u32,
    /// Distinct ids held in the current generation.
    pub current_count: u64,
    /// Distinct ids held over all generations (an id refreshed into the current
    /// generation counts twice).
    pub live_count: u64,
    /// The fraction of bits set in the current generation.
    pub fill_ratio: f64,
    /// The false-positive rate of a lookup right now, over all generations.
    pub estimated_fp_rate: f64,
    /// Bytes of bit storage over all generations.
    pub memory_bytes: u64,
}

/// A time-bounded seen-message filter (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct DedupFilter {
    capacity: u64,
    fp_rate: f64,
    ttl_ms: u64,
    span_ms: u64,
    seed: u64,
    gens: Vec<Generation>,
    head: usize,
    /// Start of the current span on the fixed schedule; `None` before the first call.
    current_started: Option<u64>,
    last_now: u64,
    inserted: u64,
    duplicates: u64,
    rotations: u64,
    early_rotations: u64,
}

impl DedupFilter {
    /// A filter remembering ids for at least `ttl_ms`, each generation sized for
    /// `capacity` ids at `fp_rate`.
    pub fn new(
        capacity: u64,
        fp_rate: f64,
        ttl_ms: u64,
        generations: u32,
        seed: u64,
    ) -> CoreResult<Self> {
        if ttl_ms == 0 {
            return Err(CoreError::invalid("ttl_ms", "must be at least 1"));
        }
        if !(2..=MAX_GENERATIONS).contains(&generations) {
            return Err(CoreError::invalid(
                "generations",
                format!("must be in [2, {MAX_GENERATIONS}], got {generations}"),
            ));
        }
        let template = BlockedBloom::new(geometry(capacity, fp_rate)?);
        let gens = (0..generations)
            .map(|_| Generation {
                filter: template.clone(),
                count: 0,
                started_ms: 0,
            })
            .collect();
        Ok(Self {
            capacity,
            fp_rate,
            ttl_ms,
            span_ms: ttl_ms.div_ceil(u64::from(generations) - 1),
            seed,
            gens,
            head: 0,
            current_started: None,
            last_now: 0,
            inserted: 0,
            duplicates: 0,
            rotations: 0,
            early_rotations: 0,
        })
    }

    /// Ids per generation the filter is rated for.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }
    /// False-positive rate of one full generation.
    pub fn fp_rate(&self) -> f64 {
        self.fp_rate
    }
    /// The minimum time an id is remembered.
    pub fn ttl_ms(&self) -> u64 {
        self.ttl_ms
    }
    /// The length of one generation's span.
    pub fn span_ms(&self) -> u64 {
        self.span_ms
    }
    /// The hashing seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// The number of generations.
    pub fn generations(&self) -> u32 {
        self.gens.len() as u32
    }
    /// Bytes of bit storage of one generation.
    pub fn generation_bytes(&self) -> usize {
        self.gens[0].filter.memory_bytes()
    }
    /// Bits of one generation.
    pub fn generation_bits(&self) -> u64 {
        self.gens[0].filter.geometry().num_bits()
    }

    /// The split-block geometry of every generation.
    pub fn geometry(&self) -> Geometry {
        self.gens[0].filter.geometry()
    }

    /// The seeded hash of an id (needs no `&mut`, so batch callers hash before
    /// taking a lock).
    #[inline]
    pub fn hash(&self, id: &[u8]) -> IdHash {
        IdHash::of(id, self.seed)
    }

    #[inline]
    fn gen_index(&self, age: usize) -> usize {
        // head < g and age < g, so one conditional subtraction replaces
        // `% g` (a division on the hot path).
        let g = self.gens.len();
        let i = self.head + g - age;
        if i >= g { i - g } else { i }
    }

    fn rotate_one(&mut self, started_ms: u64) {
        self.head = if self.head + 1 == self.gens.len() {
            0
        } else {
            self.head + 1
        };
        let generation = &mut self.gens[self.head];
        generation.filter.clear();
        generation.count = 0;
        generation.started_ms = started_ms;
        self.rotations += 1;
    }

    /// Performs the rotations due at `now` on the fixed schedule; returns the
    /// clamped (monotonic) time.
    fn advance(&mut self, now_ms: u64) -> u64 {
        let now = now_ms.max(self.last_now);
        self.last_now = now;
        match self.current_started {
            None => {
                self.current_started = Some(now);
                let head = self.head;
                self.gens[head].started_ms = now;
            }
            Some(start) => {
                let due = (now - start) / self.span_ms;
                if due > 0 {
                    let new_start = start + due * self.span_ms;
                    let steps = due.min(self.gens.len() as u64);
                    for _ in 0..steps {
                        self.rotate_one(new_start);
                    }
                    self.current_started = Some(new_start);
                }
            }
        }
        now
    }

    /// How many generations, counted from the current one, are live at `now`
    /// without mutating anything.
    fn live_at(&self, now_ms: u64) -> usize {
        let g = self.gens.len();
        match self.current_started {
            None => 0,
            Some(start) => {
                let now = now_ms.max(self.last_now);
                let due = ((now - start) / self.span_ms).min(g as u64) as usize;
                g - due
            }
        }
    }

    /// True the first time `id` is seen within the TTL; records it.
    #[inline]
    pub fn check_and_insert(&mut self, id: &[u8], now_ms: u64) -> bool {
        let h = self.hash(id);
        self.check_and_insert_hashed(h, now_ms)
    }

    /// [`DedupFilter::check_and_insert`] for an already hashed id.
    pub fn check_and_insert_hashed(&mut self, h: IdHash, now_ms: u64) -> bool {
        let now = self.advance(now_ms);
        // All generations share one geometry, so the placements are computed once.
        let placed = self.gens[self.head].filter.placements(h);
        std::hint::black_box(self.touch_older(&placed));
        self.insert_placed(&placed, now)
    }

    /// Loads the first cache line of each block `placed` needs in every older,
    /// non-empty generation, so that those misses overlap with the insert into
    /// the current generation instead of following it.
    #[inline]
    fn touch_older(&self, placed: &Placements) -> u64 {
        (1..self.gens.len()).fold(0, |acc, age| {
            acc ^ self.gens[self.gen_index(age)].filter.touch_placed(placed)
        })
    }

    #[inline]
    fn insert_placed(&mut self, placed: &Placements, now: u64) -> bool {
        let head = self.head;
        let current = &mut self.gens[head];
        if !current.filter.test_and_set_placed(placed) {
            self.duplicates += 1;
            return false;
        }
        current.count += 1;
        let full = current.count >= self.capacity;
        // Only a new id in the current generation needs the older ones, and an
        // empty generation answers without a memory access.
        let seen_before = (1..self.gens.len()).any(|age| {
            let older = &self.gens[self.gen_index(age)].filter;
            !older.is_empty() && older.contains_placed(placed)
        });
        if seen_before {
            self.duplicates += 1;
        } else {
            self.inserted += 1;
        }
        if full {
            // Overload: the current generation is full before its span ended.
            self.rotate_one(now);
            self.current_started = Some(now);
            self.early_rotations += 1;
        }
        !seen_before
    }

    /// Processes a batch at one `now_ms` in order (a repeat inside the batch is
    /// a duplicate); writes one answer per hash into `out`.
    ///
    /// Software-pipelined in chunks: the placements of a chunk are computed
    /// first, then the cache lines of all of them are requested (so their misses
    /// overlap), then the ids are inserted in order, mostly hitting the cache.
    /// The answers are those of the same sequence of single calls.
    pub fn check_and_insert_many_hashed(
        &mut self,
        hashes: &[IdHash],
        now_ms: u64,
        out: &mut [bool],
    ) {
        /// Ids whose cache lines are requested ahead of their insert.
        const AHEAD: usize = 16;
        let now = self.advance(now_ms);
        let mut acc = 0u64;
        let mut placed = [Placements::default(); AHEAD];
        for (chunk, slots) in hashes.chunks(AHEAD).zip(out.chunks_mut(AHEAD)) {
            let placed = &mut placed[..chunk.len()];
            for (p, h) in placed.iter_mut().zip(chunk) {
                *p = self.gens[self.head].filter.placements(*h);
            }
            for p in placed.iter() {
                acc ^= self
                    .gens
                    .iter()
                    .fold(0, |a, g| a ^ g.filter.touch_placed(p));
            }
            for (p, slot) in placed.iter().zip(slots.iter_mut()) {
                *slot = self.insert_placed(p, now);
            }
        }
        std::hint::black_box(acc);
    }

    /// Whether `id` was seen and is still remembered at `now_ms` (no state change).
    pub fn contains(&self, id: &[u8], now_ms: u64) -> bool {
        self.contains_hashed(self.hash(id), now_ms)
    }

    /// [`DedupFilter::contains`] for an already hashed id.
    pub fn contains_hashed(&self, h: IdHash, now_ms: u64) -> bool {
        let live = self.live_at(now_ms);
        let placed = self.gens[0].filter.placements(h);
        (0..live).any(|age| {
            self.gens[self.gen_index(age)]
                .filter
                .contains_placed(&placed)
        })
    }

    /// The latest time seen (the clock the filter has been driven to).
    pub fn stats_now(&self) -> u64 {
        self.last_now
    }

    /// Forgets everything (counters included) and restarts the schedule.
    pub fn clear(&mut self) {
        for g in &mut self.gens {
            g.filter.clear();
            g.count = 0;
            g.started_ms = 0;
        }
        self.head = 0;
        self.current_started = None;
        self.last_now = 0;
        self.inserted = 0;
        self.duplicates = 0;
        self.rotations = 0;
        self.early_rotations = 0;
    }

    /// Counters and gauges.
    pub fn stats(&self) -> DedupStats {
        let current = &self.gens[self.head];
        let live = self.live_at(self.last_now);
        let mut p_clear = 1.0;
        for age in 0..live {
            p_clear *= 1.0 - self.gens[self.gen_index(age)].filter.estimated_fp_rate();
        }
        DedupStats {
            inserted: self.inserted,
            duplicates: self.duplicates,
            rotations: self.rotations,
            early_rotations: self.early_rotations,
            generations: self.generations(),
            current_count: current.count,
            live_count: (0..live)
                .map(|age| self.gens[self.gen_index(age)].count)
                .sum(),
            fill_ratio: current.filter.fill_ratio(),
            estimated_fp_rate: 1.0 - p_clear,
            memory_bytes: self
                .gens
                .iter()
                .map(|g| g.filter.memory_bytes() as u64)
                .sum(),
        }
    }

    /// The canonical serialisation: parameters, schedule, counters and every
    /// generation's bits (all little-endian).
    pub fn to_bytes(&self) -> Vec<u8> {
        let g = self.geometry();
        let mut out = Vec::with_capacity(120 + self.gens.len() * (16 + self.generation_bytes()));
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(u8::from(self.current_started.is_some()));
        out.extend_from_slice(&[0; 2]);
        for v in [
            self.seed,
            self.capacity,
            self.fp_rate.to_bits(),
            self.ttl_ms,
            u64::from(self.generations()),
            self.head as u64,
            self.current_started.unwrap_or(0),
            self.last_now,
            self.inserted,
            self.duplicates,
            self.rotations,
            self.early_rotations,
            g.num_blocks,
            u64::from(g.blocks_per_item) | (u64::from(g.bits_per_block) << 32),
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for generation in &self.gens {
            out.extend_from_slice(&generation.count.to_le_bytes());
            out.extend_from_slice(&generation.started_ms.to_le_bytes());
            generation.filter.write_words(&mut out);
        }
        out
    }

    /// Decodes [`DedupFilter::to_bytes`] output, rejecting anything that is not
    /// exactly one canonical filter. Lengths are checked before anything is
    /// allocated, so a forged header cannot make it allocate more than the
    /// input's own size.
    pub fn from_bytes(data: &[u8]) -> CoreResult<Self> {
        let what = "DedupFilter";
        let inconsistent =
            |detail: String| CoreError::decode(what, DecodeReason::Inconsistent, detail);
        let mut r = Reader::new(what, data);
        r.magic(*MAGIC)?;
        r.version(VERSION)?;
        let started_flag = r.u8("started")?;
        if started_flag > 1 {
            return Err(CoreError::decode(
                what,
                DecodeReason::NonCanonical,
                "started flag not 0 or 1",
            ));
        }
        r.zeros(2, "reserved")?;
        let seed = r.u64("seed")?;
        let capacity = r.u64("capacity")?;
        let fp_rate = f64::from_bits(r.u64("fp_rate")?);
        let ttl_ms = r.u64("ttl_ms")?;
        let generations = r.u64("generations")?;
        let head = r.u64("head")?;
        let current_started = r.u64("current_started")?;
        let last_now = r.u64("last_now")?;
        let counters = [
            r.u64("counters")?,
            r.u64("counters")?,
            r.u64("counters")?,
            r.u64("counters")?,
        ];
        let num_blocks = r.u64("num_blocks")?;
        let packed = r.u64("packed")?;
        let stored = Geometry {
            num_blocks,
            blocks_per_item: packed as u32,
            bits_per_block: (packed >> 32) as u32,
        };
        let generations = u32::try_from(generations)
            .ok()
            .filter(|g| (2..=MAX_GENERATIONS).contains(g))
            .ok_or_else(|| {
                CoreError::decode(
                    what,
                    DecodeReason::LengthLimit,
                    format!("{generations} generations, limit {MAX_GENERATIONS}"),
                )
            })?;
        if head >= u64::from(generations) {
            return Err(inconsistent(format!(
                "head {head} >= generations {generations}"
            )));
        }
        if ttl_ms == 0 {
            return Err(inconsistent("ttl_ms is 0".to_owned()));
        }
        if started_flag == 0 && (current_started != 0 || last_now != 0) {
            return Err(CoreError::decode(
                what,
                DecodeReason::NonCanonical,
                "times set before start",
            ));
        }
        if started_flag == 1 && current_started > last_now {
            return Err(inconsistent(
                "current span starts after the last seen time".to_owned(),
            ));
        }
        let expected = geometry(capacity, fp_rate)
            .map_err(|e| inconsistent(format!("bad parameters: {e}")))?;
        if stored != expected {
            return Err(inconsistent(format!(
                "geometry {stored:?} does not match capacity {capacity} at fp_rate {fp_rate}"
            )));
        }
        let gen_bytes = num_blocks as usize * 64;
        r.need(generations as usize * (16 + gen_bytes), "generations")?;
        let mut f = Self::new(capacity, fp_rate, ttl_ms, generations, seed)
            .map_err(|e| inconsistent(format!("bad parameters: {e}")))?;
        for generation in &mut f.gens {
            generation.count = r.u64("generation count")?;
            generation.started_ms = r.u64("generation start")?;
            generation
                .filter
                .read_words(r.take(gen_bytes, "generation words")?);
        }
        r.finish()?;
        f.head = head as usize;
        f.current_started = (started_flag == 1).then_some(current_started);
        f.last_now = last_now;
        [f.inserted, f.duplicates, f.rotations, f.early_rotations] = counters;
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(i: u64) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&i.to_le_bytes());
        b[8..].copy_from_slice(&(!i).to_le_bytes());
        b
    }

    #[test]
    fn first_sight_then_duplicate() {
        let mut f = DedupFilter::new(1000, 1e-4, 10_000, 2, 0).unwrap();
        assert!(f.check_and_insert(b"a", 5));
        assert!(!f.check_and_insert(b"a", 6));
        assert!(f.contains(b"a", 7));
        assert!(!f.contains(b"b", 7));
        let s = f.stats();
        assert_eq!((s.inserted, s.duplicates, s.rotations), (1, 1, 0));
    }

    #[test]
    fn remembered_for_ttl_then_forgotten() {
        let ttl = 1000;
        for g in 2..=5u32 {
            let mut f = DedupFilter::new(1000, 1e-4, ttl, g, 1).unwrap();
            let span = f.span_ms();
            assert!(span * u64::from(g - 1) >= ttl);
            // Insert at every offset of the first span; each must survive ttl.
            for t in (0..span).step_by(37) {
                let mut f = f.clone();
                assert!(f.check_and_insert(b"x", 0)); // start the schedule at 0
                assert!(f.check_and_insert(b"y", t));
                assert!(f.contains(b"y", t + ttl - 1), "g {g} t {t}");
                // and it is gone once G spans passed since its span began
                assert!(!f.contains(b"y", span * u64::from(g)), "g {g} t {t}");
            }
            assert!(f.check_and_insert(b"y", 0));
        }
    }

    #[test]
    fn contains_matches_check_after_lazy_rotation() {
        let mut f = DedupFilter::new(100, 1e-3, 100, 2, 0).unwrap();
        f.check_and_insert(b"a", 0);
        assert!(f.contains(b"a", 150)); // one span passed: a is in the previous gen
        assert!(!f.contains(b"a", 200)); // two spans passed: gone
        assert!(f.check_and_insert(b"a", 200));
        assert_eq!(f.stats().rotations, 2);
    }

    #[test]
    fn old_duplicate_is_refreshed() {
        let mut f = DedupFilter::new(100, 1e-3, 100, 2, 0).unwrap();
        f.check_and_insert(b"a", 0);
        assert!(!f.check_and_insert(b"a", 150)); // found in the previous gen, refreshed
        assert!(f.contains(b"a", 250)); // survives the next rotation thanks to the refresh
    }

    #[test]
    fn time_never_runs_backwards() {
        let mut f = DedupFilter::new(100, 1e-3, 100, 2, 0).unwrap();
        f.check_and_insert(b"a", 1000);
        assert!(!f.check_and_insert(b"a", 0));
        assert!(f.contains(b"a", 500));
    }

    #[test]
    fn long_gap_clears_everything() {
        let mut f = DedupFilter::new(100, 1e-3, 100, 3, 0).unwrap();
        f.check_and_insert(b"a", 0);
        assert!(f.check_and_insert(b"a", 1_000_000));
        assert_eq!(f.stats().rotations, 3);
    }

    #[test]
    fn overload_rotates_early() {
        let mut f = DedupFilter::new(10, 1e-3, 1_000_000, 2, 0).unwrap();
        for i in 0..25 {
            assert!(f.check_and_insert(&id(i), 0));
        }
        let s = f.stats();
        assert_eq!(s.early_rotations, 2);
        assert_eq!(s.current_count, 5);
        assert!(f.contains(&id(24), 0) && f.contains(&id(10), 0));
        assert!(!f.contains(&id(0), 0), "the oldest generation was dropped");
    }

    #[test]
    fn fp_rate_and_memory_guarantees() {
        let n = 50_000u64;
        let p = 1e-3;
        let mut f = DedupFilter::new(n, p, 60_000, 2, 3).unwrap();
        // A fresh id may be answered as seen (a false positive while filling);
        // those are rare and leave the generation just short of full.
        let fresh = (0..n - 1)
            .filter(|&i| f.check_and_insert(&id(i), 10))
            .count() as u64;
        assert!(
            n - 1 - fresh < 50,
            "{} false positives while filling",
            n - 1 - fresh
        );
        let trials = 400_000u64;
        let fp = (n..n + trials).filter(|&i| f.contains(&id(i), 10)).count() as f64 / trials as f64;
        assert!(fp <= 1.5 * p, "fp {fp}");
        let per_gen_bits = f.generation_bytes() as f64 * 8.0;
        assert!(per_gen_bits <= 1.1 * crate::bloom::optimal_bits(n, p));
        let est = f.stats().estimated_fp_rate;
        assert!((est - p).abs() < 0.3 * p, "estimate {est}");
    }

    #[test]
    fn batch_matches_single() {
        let mut a = DedupFilter::new(1000, 1e-4, 1000, 2, 9).unwrap();
        let mut b = a.clone();
        let ids: Vec<[u8; 16]> = (0..300).map(|i| id(i % 200)).collect();
        let hashes: Vec<IdHash> = ids.iter().map(|x| a.hash(x)).collect();
        let mut out = vec![false; ids.len()];
        a.check_and_insert_many_hashed(&hashes, 5, &mut out);
        let single: Vec<bool> = ids.iter().map(|x| b.check_and_insert(x, 5)).collect();
        assert_eq!(out, single);
        assert_eq!(out.iter().filter(|&&x| x).count(), 200);
        assert_eq!(a, b);
    }

    #[test]
    fn rejects_bad_params() {
        let arg = |e: CoreError| match e {
            CoreError::InvalidArgument { arg, .. } => arg,
            CoreError::Decode { .. } => "decode",
        };
        assert_eq!(
            arg(DedupFilter::new(10, 0.01, 0, 2, 0).unwrap_err()),
            "ttl_ms"
        );
        assert_eq!(
            arg(DedupFilter::new(10, 0.01, 10, 1, 0).unwrap_err()),
            "generations"
        );
        assert_eq!(
            arg(DedupFilter::new(10, 0.01, 10, 17, 0).unwrap_err()),
            "generations"
        );
        assert_eq!(
            arg(DedupFilter::new(0, 0.01, 10, 2, 0).unwrap_err()),
            "capacity"
        );
        assert_eq!(
            arg(DedupFilter::new(10, 0.9, 10, 2, 0).unwrap_err()),
            "fp_rate"
        );
    }

    #[test]
    fn roundtrip_and_rejections() {
        let mut f = DedupFilter::new(100, 1e-3, 100, 3, 4).unwrap();
        for i in 0..150 {
            f.check_and_insert(&id(i), i * 2);
        }
        let bytes = f.to_bytes();
        let mut g = DedupFilter::from_bytes(&bytes).unwrap();
        assert_eq!(f, g);
        for i in 0..150 {
            assert_eq!(f.contains(&id(i), 300), g.contains(&id(i), 300));
        }
        assert_eq!(
            f.check_and_insert(b"new", 301),
            g.check_and_insert(b"new", 301)
        );

        let fresh = DedupFilter::new(100, 1e-3, 100, 2, 4).unwrap();
        assert_eq!(DedupFilter::from_bytes(&fresh.to_bytes()).unwrap(), fresh);

        let code = |b: &[u8]| DedupFilter::from_bytes(b).unwrap_err().code();
        assert_eq!(code(&bytes[..50]), "decode.truncated");
        let mut extra = bytes.clone();
        extra.extend_from_slice(&[0; 8]);
        assert_eq!(code(&extra), "decode.trailing_bytes");
        let mut bad = bytes.clone();
        bad[..4].copy_from_slice(b"SMBF");
        assert_eq!(code(&bad), "decode.bad_magic");
        let mut bad = bytes.clone();
        bad[4] = 2;
        assert_eq!(code(&bad), "decode.unknown_version");
        let mut bad = bytes.clone();
        bad[5] = 7;
        assert_eq!(code(&bad), "decode.non_canonical");
        let mut bad = bytes.clone();
        bad[40] = 200; // generations
        assert_eq!(code(&bad), "decode.length_limit");
        let mut bad = bytes.clone();
        bad[48] = 3; // head == generations
        assert_eq!(code(&bad), "decode.inconsistent");
        let mut bad = bytes.clone();
        bad[104] ^= 1; // num_bits
        assert_eq!(code(&bad), "decode.inconsistent");
    }

    proptest! {
        #[test]
        fn prop_no_false_negative_within_ttl(
            steps in proptest::collection::vec((0u64..64, 0u64..400), 1..200),
            ttl in 1u64..1000,
            g in 2u32..5,
        ) {
            // Capacity large enough that no early rotation happens.
            let mut f = DedupFilter::new(10_000, 1e-6, ttl, g, 11).unwrap();
            let mut now = 0u64;
            let mut last_seen: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
            for (key, dt) in steps {
                now += dt;
                let first = f.check_and_insert(&id(key), now);
                if let Some(&t) = last_seen.get(&key) {
                    if now - t < ttl {
                        prop_assert!(!first, "false negative for key {} inserted at {} seen at {}", key, t, now);
                    }
                }
                last_seen.insert(key, now);
                prop_assert!(f.contains(&id(key), now));
            }
        }

        #[test]
        fn prop_decoder_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = DedupFilter::from_bytes(&data);
        }
    }
}
