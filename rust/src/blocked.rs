//! A split-block Bloom filter: the storage of each dedup generation.
//!
//! A classic Bloom filter touches `k` random cache lines per item (20 at a
//! false-positive rate of 1e-6), so on a filter larger than the cache its
//! speed is `k` memory latencies. Here the bit array is cut into 512-bit blocks
//! (one cache line each); an item picks `s` blocks (`s` = 1 to 4) from its
//! hash and sets `k_b` distinct bits in each. That costs `s` cache lines per
//! item instead of `k`.
//!
//! Blocking alone raises the false-positive rate, because block loads vary
//! (Putze, Sanders & Singler 2007, "Cache-, hash- and space-efficient Bloom
//! filters"). The geometry is therefore chosen by the exact model of this
//! layout: block loads are Poisson with mean `s * 512 / c` for `c` bits per
//! item, a block holding `i` item-insertions has fill `1 - (1 - k_b/512)^i`, and
//! the false-positive rate is `(sum_i P(i) fill(i)^k_b)^s`. [`geometry`] takes the
//! fewest blocks per item and the least memory (from 1.00x to 1.10x of the
//! classic optimum for `(capacity, fp_rate)`) whose modelled rate is at most
//! `fp_rate`, and the best `k_b` for it. So the memory stays within 1.1x of the
//! optimal bit count (plus the rounding to whole 64-byte blocks) and the
//! false-positive rate at capacity stays at or below the target, while an
//! insert costs two or three cache misses.

use crate::bloom::{IdHash, MAX_BITS, optimal_bits};
use crate::error::{CoreError, CoreResult};
use crate::rng::mix64;

/// Bits per block: one 64-byte cache line.
pub const BLOCK_BITS: u64 = 512;
const BLOCK_WORDS: usize = 8;
const _: () = assert!(BLOCK_WORDS * 64 == BLOCK_BITS as usize);
/// The most bits set per block per item: one in each of up to 8 words.
pub const MAX_K_PER_BLOCK: u32 = 8;
/// The memory the geometry search may spend, relative to the classic optimum.
pub const MAX_MEMORY_FACTOR: f64 = 1.10;

/// The shape of a split-block filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Number of 512-bit blocks.
    pub num_blocks: u64,
    /// Blocks an item touches (`s`).
    pub blocks_per_item: u32,
    /// Bits set per touched block (`k_b`).
    pub bits_per_block: u32,
}

impl Geometry {
    /// Total bits.
    pub fn num_bits(self) -> u64 {
        self.num_blocks * BLOCK_BITS
    }
}

fn poisson_fp(bits_per_item: f64, blocks_per_item: u32, k_b: u32) -> f64 {
    let s = f64::from(blocks_per_item);
    let lambda = s * BLOCK_BITS as f64 / bits_per_item;
    // An insertion sets one bit in each of k_b of the 8 words: a given bit stays
    // clear with probability (1 - 1/64)^(k_b / 8) per insertion into its block.
    let keep = (1.0 - 1.0 / 64.0_f64).powf(f64::from(k_b) / BLOCK_WORDS as f64);
    // The Poisson mass outside mean +- 12 sd (+ 20) is below 1e-25: negligible
    // next to any accepted rate (>= 1e-15).
    let spread = 12.0 * lambda.sqrt() + 20.0;
    let lo = (lambda - spread).max(0.0) as u32;
    let hi = (lambda + spread) as u32;
    // ln P(lo), then P(i) = P(i-1) * lambda / i.
    let ln_gamma_lo: f64 = (1..=lo).map(|i| f64::from(i).ln()).sum();
    let mut p = (f64::from(lo) * lambda.ln() - lambda - ln_gamma_lo).exp();
    let mut keep_i = keep.powi(lo as i32);
    let mut sum = 0.0;
    for i in lo..=hi {
        if i > lo {
            p *= lambda / f64::from(i);
            keep_i *= keep;
        }
        sum += p * (1.0 - keep_i).powi(k_b as i32);
    }
    sum.powi(blocks_per_item as i32)
}

/// The best `k_b` (bits per touched block) for a layout and its modelled rate.
/// The rate is unimodal in `k_b` with its minimum near `c ln 2 / s`, so only a
/// few values around that point are evaluated.
fn best_bits_per_block(bits_per_item: f64, blocks_per_item: u32) -> (f64, u32) {
    let centre = bits_per_item * std::f64::consts::LN_2 / f64::from(blocks_per_item);
    let lo = (centre as u32).saturating_sub(3).max(1);
    let hi = (centre as u32 + 4).min(MAX_K_PER_BLOCK);
    (lo..=hi.max(lo))
        .map(|k_b| (poisson_fp(bits_per_item, blocks_per_item, k_b), k_b))
        .fold(
            (f64::INFINITY, 1),
            |acc, x| if x.0 < acc.0 { x } else { acc },
        )
}

/// The modelled false-positive rate of `g` holding `capacity` items.
pub fn modelled_fp_rate(g: Geometry, capacity: u64) -> f64 {
    let bits_per_item = g.num_bits() as f64 / capacity as f64;
    poisson_fp(bits_per_item, g.blocks_per_item, g.bits_per_block)
}

/// The geometry for `capacity` items at `fp_rate` (see the module docs).
///
/// For each `s` in 1..=4 it binary-searches the fewest blocks in
/// `[optimal, 1.1 x optimal]` whose best modelled rate is at most `fp_rate` (the
/// rate falls as blocks are added), and returns the first `s` that succeeds.
pub fn geometry(capacity: u64, fp_rate: f64) -> CoreResult<Geometry> {
    // Validates the arguments and the size limit the same way a classic filter does.
    crate::bloom::optimal_params(capacity, fp_rate)?;
    let optimal = optimal_bits(capacity, fp_rate);
    let min_blocks = (optimal / BLOCK_BITS as f64).ceil().max(1.0) as u64;
    let max_blocks = ((optimal * MAX_MEMORY_FACTOR) / BLOCK_BITS as f64)
        .ceil()
        .max(1.0) as u64;
    if max_blocks * BLOCK_BITS > MAX_BITS {
        return Err(CoreError::invalid(
            "capacity",
            format!("a filter for {capacity} items at fp_rate {fp_rate} exceeds {MAX_BITS} bits"),
        ));
    }
    let eval = |num_blocks: u64, s: u32, fixed8: bool| {
        let bits_per_item = (num_blocks * BLOCK_BITS) as f64 / capacity as f64;
        let (fp, k_b) = if fixed8 {
            (
                poisson_fp(bits_per_item, s, MAX_K_PER_BLOCK),
                MAX_K_PER_BLOCK,
            )
        } else {
            best_bits_per_block(bits_per_item, s)
        };
        (
            fp,
            Geometry {
                num_blocks,
                blocks_per_item: s,
                bits_per_block: k_b,
            },
        )
    };
    let mut best: (f64, Geometry) = eval(max_blocks, 2, false);
    // First the layouts with one bit in every word of a block (the fastest to
    // compute), fewest blocks per item first; then any bits-per-block.
    for fixed8 in [true, false] {
        for s in 1..=MAX_BLOCKS_PER_ITEM as u32 {
            let (fp_max, g_max) = eval(max_blocks, s, fixed8);
            if fp_max < best.0 {
                best = (fp_max, g_max);
            }
            if fp_max > fp_rate {
                continue;
            }
            let (mut lo, mut hi) = (min_blocks, max_blocks); // invariant: hi satisfies
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if eval(mid, s, fixed8).0 <= fp_rate {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            return Ok(eval(hi, s, fixed8).1);
        }
    }
    // Only reached for rates below what 4 blocks per item reach within 1.1x
    // memory (far below 1e-9); take the best layout at the memory bound.
    Ok(best.1)
}

/// One 512-bit block, aligned to a cache line so that a block costs exactly one
/// line fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C, align(64))]
struct Block([u64; BLOCK_WORDS]);

/// Where one item's bits go in one touched block: the block's index and the
/// mixed word `y` its in-block bit positions are read from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Placement {
    block: usize,
    y: u64,
}

/// The most blocks an item touches.
pub const MAX_BLOCKS_PER_ITEM: usize = 4;

/// All the placements of one item. Filters of the same geometry share them, so
/// a caller probing several generations computes them once.
#[derive(Debug, Clone, Copy, Default)]
pub struct Placements {
    n: usize,
    items: [Placement; MAX_BLOCKS_PER_ITEM],
}

impl Placements {
    fn as_slice(&self) -> &[Placement] {
        &self.items[..self.n]
    }
}

/// The bit of word `w` (0..8) that an item with mixed word `y` sets, for `k_b`
/// bits per block. With `k_b = 8` every word gets one bit, at `(y >> 6w) & 63`.
/// With fewer, the `k_b` consecutive words (cyclically) from word `y & 7` get
/// one, the `i`-th at `(y >> (3 + 6i)) & 63`; the other words get none.
#[inline]
fn word_mask(y: u64, w: usize, k_b: u64) -> u64 {
    if k_b == 8 {
        1u64 << ((y >> (6 * w)) & 63)
    } else {
        let i = (w as u64).wrapping_sub(y & 7) & 7;
        let bit = 1u64 << ((y >> (3 + 6 * i)) & 63);
        if i < k_b { bit } else { 0 }
    }
}

/// The eight word masks of a placement with `k_b = 8` (the bits of
/// [`word_mask`], computed by shifting `y` six bits per word).
#[inline]
fn masks8(y: u64) -> [u64; BLOCK_WORDS] {
    let mut m = [0u64; BLOCK_WORDS];
    let mut y = y;
    for slot in &mut m {
        *slot = 1u64 << (y & 63);
        y >>= 6;
    }
    m
}

/// The eight word masks of a placement for any `k_b` (see [`word_mask`]).
#[inline]
fn masks_any(y: u64, k_b: u64) -> [u64; BLOCK_WORDS] {
    let mut m = [0u64; BLOCK_WORDS];
    for (w, slot) in m.iter_mut().enumerate() {
        *slot = word_mask(y, w, k_b);
    }
    m
}

/// Sets the masked bits of a block; returns the bits that were clear (zero
/// when the block already held them all). Straight-line over a fixed-size
/// array, so it compiles without bounds checks and vectorises on SSE2.
#[inline]
fn set_block(block: &mut [u64; BLOCK_WORDS], masks: [u64; BLOCK_WORDS]) -> u64 {
    let mut missing = 0u64;
    for (word, m) in block.iter_mut().zip(masks) {
        let old = *word;
        let new = old | m;
        *word = new;
        missing |= new ^ old;
    }
    missing
}

/// The masked bits a block lacks (zero when it holds them all).
#[inline]
fn block_missing(block: &[u64; BLOCK_WORDS], masks: [u64; BLOCK_WORDS]) -> u64 {
    block
        .iter()
        .zip(masks)
        .fold(0u64, |acc, (word, m)| acc | (m & !word))
}

#[inline]
fn block_seed(h1: u64, h2: u64, j: u64) -> u64 {
    // Double hashing across blocks (plus a constant stride so j = 0 and j = 1 differ
    // even when h2 = 0).
    h1.wrapping_add(j.wrapping_mul(h2))
        .wrapping_add(j.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// A split-block Bloom filter of fixed geometry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedBloom {
    geometry: Geometry,
    blocks: Vec<Block>,
    /// No bit is set (fresh, cleared, or decoded all-zero): every lookup is a
    /// miss without reading memory. Derived from the bits, never serialised.
    empty: bool,
}

impl BlockedBloom {
    /// An empty filter of geometry `g`.
    pub fn new(g: Geometry) -> Self {
        Self {
            geometry: g,
            blocks: vec![Block::default(); g.num_blocks as usize],
            empty: true,
        }
    }

    /// The geometry.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// Bytes of bit storage.
    pub fn memory_bytes(&self) -> usize {
        self.blocks.len() * 64
    }

    /// Whether no bit is set (O(1)).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.empty
    }

    /// The number of bits set (counted on demand: O(m), off the hot path).
    pub fn set_bits(&self) -> u64 {
        self.blocks
            .iter()
            .flat_map(|b| b.0)
            .map(|w| u64::from(w.count_ones()))
            .sum()
    }

    /// The fraction of bits set.
    pub fn fill_ratio(&self) -> f64 {
        self.set_bits() as f64 / self.geometry.num_bits() as f64
    }

    /// The false-positive rate of a fresh item at the current fill, from the
    /// actual fill of every word: a block answers yes for a fresh item with
    /// probability `prod over its words of (bits set / 64)` (for `k_b = 8`; with
    /// fewer bits the block fill to the power `k_b`), and an item needs all its
    /// `s` blocks to answer yes. O(m): for statistics, not the hot path.
    pub fn estimated_fp_rate(&self) -> f64 {
        let g = self.geometry;
        if self.blocks.is_empty() {
            return 0.0;
        }
        let per_block: f64 = self
            .blocks
            .iter()
            .map(|b| {
                if g.bits_per_block == 8 {
                    b.0.iter()
                        .map(|w| f64::from(w.count_ones()) / 64.0)
                        .product::<f64>()
                } else {
                    let fill = f64::from(b.0.iter().map(|w| w.count_ones()).sum::<u32>()) / 512.0;
                    fill.powi(g.bits_per_block as i32)
                }
            })
            .sum::<f64>()
            / self.blocks.len() as f64;
        per_block.powi(g.blocks_per_item as i32)
    }

    #[inline]
    fn block_index(&self, z: u64) -> usize {
        ((u128::from(z) * u128::from(self.geometry.num_blocks)) >> 64) as usize
    }

    /// The placements of a hashed item: per touched block, its index (from
    /// the high bits of a per-block seed, by multiply-shift) and a mixed word of
    /// that seed which places the in-block bits (see `word_mask`).
    #[inline]
    pub fn placements(&self, h: IdHash) -> Placements {
        let (h1, h2) = h.halves();
        let mut out = Placements {
            n: self.geometry.blocks_per_item as usize,
            items: [Placement::default(); MAX_BLOCKS_PER_ITEM],
        };
        for (j, p) in out.items.iter_mut().take(out.n).enumerate() {
            let z = block_seed(h1, h2, j as u64);
            p.block = self.block_index(z);
            p.y = mix64(z);
        }
        out
    }

    /// Reads the first word of every block of `placed` so that the cache lines
    /// are on their way before an insert or lookup needs them; the caller must
    /// consume the result (`std::hint::black_box`). An empty filter reads nothing.
    #[inline]
    pub fn touch_placed(&self, placed: &Placements) -> u64 {
        if self.empty {
            return 0;
        }
        placed
            .as_slice()
            .iter()
            .fold(0, |acc, p| acc ^ self.blocks[p.block].0[0])
    }

    /// Sets the bits of the placements; true when at least one was clear (the
    /// item was certainly absent).
    #[inline]
    pub fn test_and_set_placed(&mut self, placed: &Placements) -> bool {
        self.empty = false;
        let mut missing = 0u64;
        if self.geometry.bits_per_block == 8 {
            for p in placed.as_slice() {
                missing |= set_block(&mut self.blocks[p.block].0, masks8(p.y));
            }
        } else {
            let k_b = u64::from(self.geometry.bits_per_block);
            for p in placed.as_slice() {
                missing |= set_block(&mut self.blocks[p.block].0, masks_any(p.y, k_b));
            }
        }
        missing != 0
    }

    /// Whether every bit of the placements is set. Stops at the first block
    /// that lacks a bit; an empty filter answers without reading memory.
    #[inline]
    pub fn contains_placed(&self, placed: &Placements) -> bool {
        if self.empty {
            return false;
        }
        if self.geometry.bits_per_block == 8 {
            placed
                .as_slice()
                .iter()
                .all(|p| block_missing(&self.blocks[p.block].0, masks8(p.y)) == 0)
        } else {
            let k_b = u64::from(self.geometry.bits_per_block);
            placed
                .as_slice()
                .iter()
                .all(|p| block_missing(&self.blocks[p.block].0, masks_any(p.y, k_b)) == 0)
        }
    }

    /// Sets the bits of `h`; true when at least one was clear.
    pub fn test_and_set(&mut self, h: IdHash) -> bool {
        let placed = self.placements(h);
        self.test_and_set_placed(&placed)
    }

    /// Whether every bit of `h` is set.
    pub fn contains(&self, h: IdHash) -> bool {
        self.contains_placed(&self.placements(h))
    }

    /// Clears every bit (O(1) when none is set).
    pub fn clear(&mut self) {
        // An empty filter is already all zero: skipping the fill saves a pass
        // over memory (and, on a never-used generation, faulting its pages in).
        if !self.empty {
            self.blocks.fill(Block::default());
            self.empty = true;
        }
    }

    /// The bit words, little-endian, for serialisation.
    pub fn write_words(&self, out: &mut Vec<u8>) {
        out.reserve(self.memory_bytes());
        for w in self.blocks.iter().flat_map(|b| b.0) {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }

    /// Fills the bit words from `data` (exactly `memory_bytes()` long).
    pub(crate) fn read_words(&mut self, data: &[u8]) {
        let words = self.blocks.iter_mut().flat_map(|b| b.0.iter_mut());
        for (w, chunk) in words.zip(data.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *w = u64::from_le_bytes(b);
        }
        self.empty = self.blocks.iter().all(|b| b.0 == [0; BLOCK_WORDS]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(i: u64) -> IdHash {
        IdHash::of(&i.to_le_bytes(), 5)
    }

    #[test]
    fn geometry_meets_memory_and_fp_targets() {
        for &(n, p) in &[
            (10_000u64, 0.01),
            (100_000, 1e-3),
            (1_000_000, 1e-4),
            (1_000_000, 1e-6),
            (50_000, 1e-9),
        ] {
            let g = geometry(n, p).unwrap();
            let opt = optimal_bits(n, p);
            assert!(
                g.num_bits() as f64 <= opt * MAX_MEMORY_FACTOR + BLOCK_BITS as f64,
                "{n} {p} {g:?}"
            );
            assert!(
                modelled_fp_rate(g, n) <= p,
                "{n} {p} {g:?}: {}",
                modelled_fp_rate(g, n)
            );
            assert!((1..=4).contains(&g.blocks_per_item));
        }
    }

    #[test]
    fn measured_fp_matches_model() {
        for &(n, p) in &[(20_000u64, 0.01), (50_000, 1e-3)] {
            let g = geometry(n, p).unwrap();
            let mut f = BlockedBloom::new(g);
            for i in 0..n {
                f.test_and_set(h(i));
            }
            for i in 0..n {
                assert!(f.contains(h(i)));
            }
            let trials = 500_000u64;
            let fp = (n..n + trials).filter(|&i| f.contains(h(i))).count() as f64 / trials as f64;
            assert!(fp <= 1.5 * p, "n {n} p {p}: measured {fp}");
        }
    }

    #[test]
    fn positions_are_distinct_within_a_block() {
        let g = Geometry {
            num_blocks: 10,
            blocks_per_item: 2,
            bits_per_block: 7,
        };
        let f = BlockedBloom::new(g);
        for i in 0..1000 {
            for j in 0..2 {
                let p = f.placements(h(i)).items[j];
                let masks: Vec<u64> = (0..8).map(|w| word_mask(p.y, w, 7)).collect();
                let bits: u32 = masks.iter().map(|m| m.count_ones()).sum();
                assert_eq!(bits, 7);
                assert_eq!(masks.iter().filter(|m| **m != 0).count(), 7);
                assert!(p.block < 10);
            }
        }
    }

    #[test]
    fn set_bits_and_clear() {
        let g = geometry(1000, 0.01).unwrap();
        let mut f = BlockedBloom::new(g);
        assert!(f.test_and_set(h(1)));
        assert!(!f.test_and_set(h(1)));
        let expected = u64::from(g.blocks_per_item * g.bits_per_block);
        assert!(f.set_bits() <= expected && f.set_bits() >= expected - u64::from(g.bits_per_block));
        assert!(!f.is_empty());
        assert_eq!(BlockedBloom::new(g).touch_placed(&f.placements(h(1))), 0);
        std::hint::black_box(f.touch_placed(&f.placements(h(1))));
        let mut bytes = Vec::new();
        f.write_words(&mut bytes);
        let mut g2 = BlockedBloom::new(g);
        g2.read_words(&bytes);
        assert_eq!(f, g2);
        assert!(!g2.is_empty());
        f.clear();
        assert!(f.is_empty());
        assert!(!f.contains(h(1)));
        let mut g3 = BlockedBloom::new(g);
        g3.test_and_set(h(2));
        bytes.clear();
        f.write_words(&mut bytes);
        g3.read_words(&bytes);
        assert!(g3.is_empty() && g3 == f);
        assert_eq!(f.set_bits(), 0);
    }

    #[test]
    fn fast_masks_match_the_layout() {
        for i in 0..1000 {
            let y = crate::rng::mix64(i);
            let fast = masks8(y);
            for (w, &m) in fast.iter().enumerate() {
                assert_eq!(m, word_mask(y, w, 8));
            }
            assert_eq!(masks_any(y, 8), fast);
            for k_b in 1..8 {
                let m = masks_any(y, k_b);
                assert_eq!(m.iter().map(|x| x.count_ones()).sum::<u32>(), k_b as u32);
            }
        }
    }

    proptest! {
        /// The fast paths set exactly the bits of the reference layout
        /// (`word_mask`, word by word) and answer as it does, for every `k_b`.
        #[test]
        fn prop_matches_reference_layout(
            keys in proptest::collection::vec(0u64..300, 1..300),
            s in 1u32..=4,
            k_b in 1u32..=8,
            num_blocks in 1u64..40,
        ) {
            let g = Geometry { num_blocks, blocks_per_item: s, bits_per_block: k_b };
            let mut f = BlockedBloom::new(g);
            let mut reference = vec![[0u64; BLOCK_WORDS]; num_blocks as usize];
            for &k in &keys {
                let placed = f.placements(h(k));
                let mut missing = false;
                for p in placed.as_slice() {
                    for (w, word) in reference[p.block].iter_mut().enumerate() {
                        let m = word_mask(p.y, w, u64::from(k_b));
                        missing |= m & !*word != 0;
                        *word |= m;
                    }
                }
                prop_assert_eq!(f.contains(h(k)), !missing);
                prop_assert_eq!(f.test_and_set(h(k)), missing);
                prop_assert!(f.contains(h(k)));
            }
            let words: Vec<[u64; BLOCK_WORDS]> = f.blocks.iter().map(|b| b.0).collect();
            prop_assert_eq!(words, reference);
        }

        #[test]
        fn prop_no_false_negatives(keys in proptest::collection::vec(any::<u64>(), 1..500)) {
            let g = geometry(keys.len() as u64, 1e-4).unwrap();
            let mut f = BlockedBloom::new(g);
            for &k in &keys { f.test_and_set(h(k)); }
            for &k in &keys { prop_assert!(f.contains(h(k))); }
        }
    }
}
