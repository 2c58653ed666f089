//! A split-block Bloom filter: the storage of each dedup generation.
//!
//! A classic Bloom filter touches `k` random cache lines per item (20 at a
//! false-positive rate of 1e-6), so on a filter larger than the cache its
//! speed is `k` memory latencies. Here the bit array is cut into 512-bit blocks
//! (one cache line each); an item picks `s` blocks (`s` = 2, 3 or 4) from its
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

/// Bits per block: one 64-byte cache line.
pub const BLOCK_BITS: u64 = 512;
const BLOCK_WORDS: usize = 8;
/// The most bits set per block per item.
pub const MAX_K_PER_BLOCK: u32 = 32;
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
    let keep = 1.0 - f64::from(k_b) / BLOCK_BITS as f64;
    let upper = (lambda * 4.0 + 12.0 * lambda.sqrt() + 40.0) as u32;
    // P(0) = e^-lambda, P(i) = P(i-1) * lambda / i, accumulated in log space for
    // robustness when lambda is large.
    let mut log_p = -lambda;
    let mut sum = 0.0;
    for i in 0..=upper {
        if i > 0 {
            log_p += lambda.ln() - f64::from(i).ln();
        }
        let fill = 1.0 - keep.powi(i as i32);
        sum += log_p.exp() * fill.powi(k_b as i32);
    }
    sum.powi(blocks_per_item as i32)
}

/// The modelled false-positive rate of `g` holding `capacity` items.
pub fn modelled_fp_rate(g: Geometry, capacity: u64) -> f64 {
    let bits_per_item = g.num_bits() as f64 / capacity as f64;
    poisson_fp(bits_per_item, g.blocks_per_item, g.bits_per_block)
}

/// The geometry for `capacity` items at `fp_rate` (see the module docs).
pub fn geometry(capacity: u64, fp_rate: f64) -> CoreResult<Geometry> {
    // Validates the arguments and the size limit the same way a classic filter does.
    crate::bloom::optimal_params(capacity, fp_rate)?;
    let optimal = optimal_bits(capacity, fp_rate);
    let mut fallback: Option<(f64, Geometry)> = None;
    for s in 2..=4u32 {
        let mut step = 0;
        while step <= 20 {
            let factor = 1.0 + f64::from(step) * 0.005;
            step += 1;
            let num_blocks = ((optimal * factor) / BLOCK_BITS as f64).ceil().max(1.0) as u64;
            if num_blocks * BLOCK_BITS > MAX_BITS {
                return Err(CoreError::invalid(
                    "capacity",
                    format!(
                        "a filter for {capacity} items at fp_rate {fp_rate} exceeds {MAX_BITS} bits"
                    ),
                ));
            }
            let bits_per_item = (num_blocks * BLOCK_BITS) as f64 / capacity as f64;
            let (best_fp, best_k) = (1..=MAX_K_PER_BLOCK)
                .map(|k_b| (poisson_fp(bits_per_item, s, k_b), k_b))
                .fold(
                    (f64::INFINITY, 1),
                    |acc, x| if x.0 < acc.0 { x } else { acc },
                );
            let g = Geometry {
                num_blocks,
                blocks_per_item: s,
                bits_per_block: best_k,
            };
            if best_fp <= fp_rate {
                return Ok(g);
            }
            if fallback.is_none_or(|(fp, _)| best_fp < fp) {
                fallback = Some((best_fp, g));
            }
        }
    }
    // Only reached for rates below what 4 blocks can model within 1.1x memory;
    // take the best geometry found.
    fallback
        .map(|(_, g)| g)
        .ok_or_else(|| CoreError::invalid("fp_rate", "no geometry found"))
}

/// Where one item's bits go: per touched block, its index and 8 word masks.
#[derive(Debug, Clone, Copy)]
struct Placement {
    block: usize,
    masks: [u64; BLOCK_WORDS],
}

/// A split-block Bloom filter of fixed geometry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedBloom {
    geometry: Geometry,
    words: Vec<u64>,
    set_bits: u64,
}

impl BlockedBloom {
    /// An empty filter of geometry `g`.
    pub fn new(g: Geometry) -> Self {
        Self {
            geometry: g,
            words: vec![0; g.num_blocks as usize * BLOCK_WORDS],
            set_bits: 0,
        }
    }

    /// The geometry.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// Bytes of bit storage.
    pub fn memory_bytes(&self) -> usize {
        self.words.len() * 8
    }

    /// The number of bits set.
    pub fn set_bits(&self) -> u64 {
        self.set_bits
    }

    /// The fraction of bits set.
    pub fn fill_ratio(&self) -> f64 {
        self.set_bits as f64 / self.geometry.num_bits() as f64
    }

    /// The false-positive rate at the current fill (uniform-fill estimate).
    pub fn estimated_fp_rate(&self) -> f64 {
        let g = self.geometry;
        self.fill_ratio()
            .powi((g.blocks_per_item * g.bits_per_block) as i32)
    }

    #[inline]
    fn placement(&self, h: IdHash, j: u32) -> Placement {
        let (h1, h2) = h.halves();
        let j64 = u64::from(j);
        // Double hashing across blocks; the block comes from the high bits (by
        // multiply-shift), the in-block positions from the low bits.
        let z = h1
            .wrapping_add(j64.wrapping_mul(h2))
            .wrapping_add(j64.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let block = ((u128::from(z) * u128::from(self.geometry.num_blocks)) >> 64) as usize;
        let a = z & 511;
        let b = ((z >> 9) & 511) | 1; // odd: the k_b positions a + i*b mod 512 are distinct
        let mut masks = [0u64; BLOCK_WORDS];
        let mut pos = a;
        for _ in 0..self.geometry.bits_per_block {
            masks[(pos >> 6) as usize] |= 1u64 << (pos & 63);
            pos = (pos + b) & 511;
        }
        Placement { block, masks }
    }

    /// Reads one word of each block `h` touches so that the cache lines are on
    /// their way before [`BlockedBloom::test_and_set`] needs them; returns a value
    /// the caller must consume (fold it into `std::hint::black_box`).
    #[inline]
    pub fn touch(&self, h: IdHash) -> u64 {
        let (h1, h2) = h.halves();
        let mut acc = 0u64;
        for j in 0..u64::from(self.geometry.blocks_per_item.min(2)) {
            let z = h1
                .wrapping_add(j.wrapping_mul(h2))
                .wrapping_add(j.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let block = ((u128::from(z) * u128::from(self.geometry.num_blocks)) >> 64) as usize;
            acc ^= self.words[block * BLOCK_WORDS];
        }
        acc
    }

    /// Sets the bits of `h`; true when at least one was clear (the item was
    /// certainly absent).
    #[inline]
    pub fn test_and_set(&mut self, h: IdHash) -> bool {
        let mut newly = 0u64;
        for j in 0..self.geometry.blocks_per_item {
            let p = self.placement(h, j);
            let block = &mut self.words[p.block * BLOCK_WORDS..(p.block + 1) * BLOCK_WORDS];
            for (word, mask) in block.iter_mut().zip(p.masks) {
                newly += u64::from((mask & !*word).count_ones());
                *word |= mask;
            }
        }
        self.set_bits += newly;
        newly != 0
    }

    /// Whether every bit of `h` is set.
    #[inline]
    pub fn contains(&self, h: IdHash) -> bool {
        (0..self.geometry.blocks_per_item).all(|j| {
            let p = self.placement(h, j);
            let block = &self.words[p.block * BLOCK_WORDS..(p.block + 1) * BLOCK_WORDS];
            block
                .iter()
                .zip(p.masks)
                .all(|(word, mask)| word & mask == mask)
        })
    }

    /// Clears every bit.
    pub fn clear(&mut self) {
        self.words.fill(0);
        self.set_bits = 0;
    }

    /// The bit words, little-endian, for serialisation.
    pub fn write_words(&self, out: &mut Vec<u8>) {
        out.reserve(self.words.len() * 8);
        for w in &self.words {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }

    /// Fills the bit words from `data` (exactly `memory_bytes()` long).
    pub(crate) fn read_words(&mut self, data: &[u8]) {
        let mut set = 0u64;
        for (w, chunk) in self.words.iter_mut().zip(data.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *w = u64::from_le_bytes(b);
            set += u64::from(w.count_ones());
        }
        self.set_bits = set;
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
            assert!((2..=4).contains(&g.blocks_per_item));
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
            bits_per_block: 32,
        };
        let f = BlockedBloom::new(g);
        for i in 0..1000 {
            for j in 0..2 {
                let p = f.placement(h(i), j);
                let bits: u32 = p.masks.iter().map(|m| m.count_ones()).sum();
                assert_eq!(bits, 32);
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
        f.touch(h(1));
        let mut bytes = Vec::new();
        f.write_words(&mut bytes);
        let mut g2 = BlockedBloom::new(g);
        g2.read_words(&bytes);
        assert_eq!(f, g2);
        f.clear();
        assert!(!f.contains(h(1)));
        assert_eq!(f.set_bits(), 0);
    }

    proptest! {
        #[test]
        fn prop_no_false_negatives(keys in proptest::collection::vec(any::<u64>(), 1..500)) {
            let g = geometry(keys.len() as u64, 1e-4).unwrap();
            let mut f = BlockedBloom::new(g);
            for &k in &keys { f.test_and_set(h(k)); }
            for &k in &keys { prop_assert!(f.contains(h(k))); }
        }
    }
}
