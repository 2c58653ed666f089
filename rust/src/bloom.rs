//! A seeded, serialisable Bloom filter.
//!
//! Items are hashed with 128-bit xxh3 under an explicit seed (never Python's
//! salted `hash()`), so a filter built in one process answers the same in any
//! other process or on another peer. The `k` bit positions come from enhanced
//! double hashing (Kirsch–Mitzenmacher with a cubic term, Dillinger & Manolios
//! 2004) of the two 64-bit halves, each reduced to `[0, m)` by a multiply-shift
//! (Lemire 2019), which is unbiased enough for any `m < 2^40` and needs no
//! division.
//!
//! Sizing is the textbook optimum: `m = ceil(-n ln p / (ln 2)^2)` bits and
//! `k = round((m / n) ln 2)` hash functions, so the memory is within one word
//! (64 bits) of the optimal bit count for `(capacity, fp_rate)`.

use xxhash_rust::xxh3::xxh3_128_with_seed;

use crate::codec::Reader;
use crate::error::{CoreError, CoreResult, DecodeReason};

/// The largest filter we agree to build or decode: 2^36 bits (8 GiB).
pub const MAX_BITS: u64 = 1 << 36;
/// The largest number of hash functions (reached for fp rates near 1e-19).
pub const MAX_HASHES: u32 = 64;
/// The smallest accepted false-positive rate.
pub const MIN_FP_RATE: f64 = 1e-15;
/// The largest accepted false-positive rate.
pub const MAX_FP_RATE: f64 = 0.5;

const MAGIC: &[u8; 4] = b"SMBF";
const VERSION: u8 = 1;
/// `magic(4) version(1) reserved(3) seed(8) capacity(8) fp_rate(8) num_bits(8) num_hashes(4) reserved(4)`
const HEADER_LEN: usize = 48;

/// The two 64-bit halves of an item's seeded 128-bit hash; every bit position
/// of the item is derived from them. Computing it needs no lock, so batch paths
/// hash first and probe later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdHash {
    h1: u64,
    h2: u64,
}

impl IdHash {
    /// Hash `item` under `seed`.
    #[inline]
    pub fn of(item: &[u8], seed: u64) -> Self {
        let h = xxh3_128_with_seed(item, seed);
        Self {
            h1: h as u64,
            h2: (h >> 64) as u64,
        }
    }

    /// The two 64-bit halves.
    #[inline]
    pub fn halves(self) -> (u64, u64) {
        (self.h1, self.h2)
    }
}

/// Optimal `(num_bits, num_hashes)` for `capacity` items at `fp_rate`.
pub fn optimal_params(capacity: u64, fp_rate: f64) -> CoreResult<(u64, u32)> {
    validate_params(capacity, fp_rate)?;
    let ln2 = std::f64::consts::LN_2;
    let bits = (-(capacity as f64) * fp_rate.ln() / (ln2 * ln2)).ceil();
    if !bits.is_finite() || bits > MAX_BITS as f64 {
        return Err(CoreError::invalid(
            "capacity",
            format!(
                "a filter for {capacity} items at fp_rate {fp_rate} needs {bits} bits, over the limit of {MAX_BITS}"
            ),
        ));
    }
    let num_bits = (bits as u64).max(64);
    let k = ((num_bits as f64 / capacity as f64) * ln2)
        .round()
        .clamp(1.0, f64::from(MAX_HASHES));
    Ok((num_bits, k as u32))
}

/// The optimal number of bits for `capacity` items at `fp_rate`, unrounded:
/// the yardstick the memory guarantee is measured against.
pub fn optimal_bits(capacity: u64, fp_rate: f64) -> f64 {
    let ln2 = std::f64::consts::LN_2;
    -(capacity as f64) * fp_rate.ln() / (ln2 * ln2)
}

fn validate_params(capacity: u64, fp_rate: f64) -> CoreResult<()> {
    if capacity == 0 {
        return Err(CoreError::invalid("capacity", "must be at least 1"));
    }
    if !(MIN_FP_RATE..=MAX_FP_RATE).contains(&fp_rate) {
        return Err(CoreError::invalid(
            "fp_rate",
            format!("must be in [{MIN_FP_RATE:e}, {MAX_FP_RATE}], got {fp_rate}"),
        ));
    }
    Ok(())
}

/// The bit positions of one item: an iterator over `k` indexes in `[0, m)`.
#[derive(Debug, Clone)]
pub struct Probes {
    x: u64,
    y: u64,
    i: u64,
    k: u64,
    m: u64,
}

impl Iterator for Probes {
    type Item = u64;

    #[inline]
    fn next(&mut self) -> Option<u64> {
        if self.i == self.k {
            return None;
        }
        let idx = ((u128::from(self.x) * u128::from(self.m)) >> 64) as u64;
        // Enhanced double hashing: x += y; y += i (cubic term spreads the sequence).
        self.x = self.x.wrapping_add(self.y);
        self.y = self.y.wrapping_add(self.i);
        self.i += 1;
        Some(idx)
    }
}

/// A fixed-size bit array with `k` seeded probes per item.
///
/// The storage and probing primitives (`probes`, `test_and_set`, `contains_hash`)
/// are shared with [`crate::dedup::DedupFilter`], whose generations are Bloom
/// filters of identical geometry.
#[derive(Debug, Clone, PartialEq)]
pub struct BloomFilter {
    capacity: u64,
    fp_rate: f64,
    seed: u64,
    num_bits: u64,
    num_hashes: u32,
    words: Vec<u64>,
    set_bits: u64,
}

impl BloomFilter {
    /// An empty filter sized for `capacity` items at false-positive rate `fp_rate`.
    pub fn new(capacity: u64, fp_rate: f64, seed: u64) -> CoreResult<Self> {
        let (num_bits, num_hashes) = optimal_params(capacity, fp_rate)?;
        let words = num_bits.div_ceil(64) as usize;
        Ok(Self {
            capacity,
            fp_rate,
            seed,
            num_bits,
            num_hashes,
            words: vec![0; words],
            set_bits: 0,
        })
    }

    /// The number of items the filter is sized for.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }
    /// The false-positive rate at `capacity` items.
    pub fn fp_rate(&self) -> f64 {
        self.fp_rate
    }
    /// The hashing seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// `m`, the number of bits.
    pub fn num_bits(&self) -> u64 {
        self.num_bits
    }
    /// `k`, the number of bit positions per item.
    pub fn num_hashes(&self) -> u32 {
        self.num_hashes
    }
    /// The number of bits set.
    pub fn set_bits(&self) -> u64 {
        self.set_bits
    }
    /// Bytes of bit storage.
    pub fn memory_bytes(&self) -> usize {
        self.words.len() * 8
    }

    /// The seeded hash of `item` for this filter.
    #[inline]
    pub fn hash(&self, item: &[u8]) -> IdHash {
        IdHash::of(item, self.seed)
    }

    /// The bit positions of a hashed item.
    #[inline]
    pub fn probes(&self, h: IdHash) -> Probes {
        Probes {
            x: h.h1,
            y: h.h2,
            i: 0,
            k: u64::from(self.num_hashes),
            m: self.num_bits,
        }
    }

    /// Sets every bit of `h`; returns true when at least one bit was clear, that
    /// is when the item was certainly not in the filter before.
    #[inline]
    pub fn test_and_set(&mut self, h: IdHash) -> bool {
        let mut newly = 0u64;
        let probes = self.probes(h);
        for idx in probes {
            let word = &mut self.words[(idx >> 6) as usize];
            let mask = 1u64 << (idx & 63);
            newly += u64::from(*word & mask == 0);
            *word |= mask;
        }
        self.set_bits += newly;
        newly != 0
    }

    /// Whether every bit of `h` is set.
    #[inline]
    pub fn contains_hash(&self, h: IdHash) -> bool {
        self.probes(h)
            .all(|idx| self.words[(idx >> 6) as usize] & (1u64 << (idx & 63)) != 0)
    }

    /// Writes the bit positions of `h` into `out` (which must hold at least
    /// [`MAX_HASHES`] slots) and returns how many there are. Filters of the same
    /// geometry share positions, so a caller probing several filters computes
    /// them once.
    #[inline]
    pub fn positions(&self, h: IdHash, out: &mut [u64; MAX_HASHES as usize]) -> usize {
        let mut n = 0;
        for (slot, idx) in out.iter_mut().zip(self.probes(h)) {
            *slot = idx;
            n += 1;
        }
        n
    }

    /// [`BloomFilter::test_and_set`] on precomputed positions.
    #[inline]
    pub fn test_and_set_positions(&mut self, positions: &[u64]) -> bool {
        let mut newly = 0u64;
        for &idx in positions {
            let word = &mut self.words[(idx >> 6) as usize];
            let mask = 1u64 << (idx & 63);
            newly += u64::from(*word & mask == 0);
            *word |= mask;
        }
        self.set_bits += newly;
        newly != 0
    }

    /// [`BloomFilter::contains_hash`] on precomputed positions.
    #[inline]
    pub fn contains_positions(&self, positions: &[u64]) -> bool {
        positions
            .iter()
            .all(|&idx| self.words[(idx >> 6) as usize] & (1u64 << (idx & 63)) != 0)
    }

    /// Adds `item`; returns true when it was certainly not present before.
    pub fn add(&mut self, item: &[u8]) -> bool {
        let h = self.hash(item);
        self.test_and_set(h)
    }

    /// Whether `item` may have been added (false positives at about `fp_rate`
    /// when full, never a false negative).
    pub fn contains(&self, item: &[u8]) -> bool {
        self.contains_hash(self.hash(item))
    }

    /// Clears every bit.
    pub fn clear(&mut self) {
        self.words.fill(0);
        self.set_bits = 0;
    }

    /// The fraction of bits set.
    pub fn fill_ratio(&self) -> f64 {
        self.set_bits as f64 / self.num_bits as f64
    }

    /// The false-positive rate at the current fill: `fill^k`.
    pub fn estimated_fp_rate(&self) -> f64 {
        self.fill_ratio().powi(self.num_hashes as i32)
    }

    /// The estimated number of distinct items added (Swamidass & Baldi 2007):
    /// `-(m / k) ln(1 - X / m)` for `X` bits set.
    pub fn estimated_count(&self) -> f64 {
        let m = self.num_bits as f64;
        // A saturated filter has no finite estimate; report the largest one.
        let x = (self.set_bits as f64).min(m - 1.0);
        -(m / f64::from(self.num_hashes)) * (1.0 - x / m).ln()
    }

    fn check_compatible(&self, other: &Self) -> CoreResult<()> {
        if self.seed != other.seed
            || self.num_bits != other.num_bits
            || self.num_hashes != other.num_hashes
        {
            return Err(CoreError::invalid(
                "other",
                format!(
                    "incompatible filters: (seed {}, {} bits, k {}) vs (seed {}, {} bits, k {})",
                    self.seed,
                    self.num_bits,
                    self.num_hashes,
                    other.seed,
                    other.num_bits,
                    other.num_hashes
                ),
            ));
        }
        Ok(())
    }

    /// Adds every item of `other` (same seed and geometry) to `self`.
    pub fn union_in_place(&mut self, other: &Self) -> CoreResult<()> {
        self.check_compatible(other)?;
        let mut set = 0u64;
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= *b;
            set += u64::from(a.count_ones());
        }
        self.set_bits = set;
        Ok(())
    }

    /// The canonical serialisation (little-endian, versioned).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.words.len() * 8);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&[0; 3]);
        out.extend_from_slice(&self.seed.to_le_bytes());
        out.extend_from_slice(&self.capacity.to_le_bytes());
        out.extend_from_slice(&self.fp_rate.to_bits().to_le_bytes());
        out.extend_from_slice(&self.num_bits.to_le_bytes());
        out.extend_from_slice(&self.num_hashes.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        for w in &self.words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Decodes [`BloomFilter::to_bytes`] output, rejecting anything that is not
    /// exactly one canonical filter.
    pub fn from_bytes(data: &[u8]) -> CoreResult<Self> {
        let mut r = Reader::new("BloomFilter", data);
        r.magic(*MAGIC)?;
        r.version(VERSION)?;
        r.zeros(3, "reserved")?;
        let seed = r.u64("seed")?;
        let capacity = r.u64("capacity")?;
        let fp_rate = f64::from_bits(r.u64("fp_rate")?);
        let num_bits = r.u64("num_bits")?;
        let num_hashes = r.u32("num_hashes")?;
        r.zeros(4, "reserved")?;
        let filter = Self::decode_body(&mut r, capacity, fp_rate, seed, num_bits, num_hashes)?;
        r.finish()?;
        Ok(filter)
    }

    /// Decodes the parameters' check and the bit words that follow a header.
    pub(crate) fn decode_body(
        r: &mut Reader<'_>,
        capacity: u64,
        fp_rate: f64,
        seed: u64,
        num_bits: u64,
        num_hashes: u32,
    ) -> CoreResult<Self> {
        let (want_bits, want_k) = optimal_params(capacity, fp_rate).map_err(|e| {
            CoreError::decode(
                r.what(),
                DecodeReason::Inconsistent,
                format!("bad parameters: {e}"),
            )
        })?;
        if (num_bits, num_hashes) != (want_bits, want_k) {
            return Err(CoreError::decode(
                r.what(),
                DecodeReason::Inconsistent,
                format!(
                    "geometry ({num_bits} bits, k {num_hashes}) does not match capacity {capacity} at fp_rate {fp_rate}"
                ),
            ));
        }
        let n_words = num_bits.div_ceil(64) as usize;
        // Check the length before allocating, so a forged header cannot make us
        // allocate more than the input's own size.
        r.need(n_words * 8, "words")?;
        let mut filter = Self::new(capacity, fp_rate, seed)?;
        let mut set = 0u64;
        for w in &mut filter.words {
            *w = r.u64("words")?;
            set += u64::from(w.count_ones());
        }
        let tail = num_bits % 64;
        if tail != 0 {
            if let Some(last) = filter.words.last() {
                if last >> tail != 0 {
                    return Err(CoreError::decode(
                        r.what(),
                        DecodeReason::NonCanonical,
                        "bits set beyond num_bits",
                    ));
                }
            }
        }
        filter.set_bits = set;
        Ok(filter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(i: u64) -> [u8; 8] {
        i.to_le_bytes()
    }

    #[test]
    fn sizing_is_optimal() {
        let (m, k) = optimal_params(1_000_000, 0.01).unwrap();
        assert_eq!(m, 9_585_059);
        assert_eq!(k, 7);
        let (m, k) = optimal_params(1_000_000, 1e-6).unwrap();
        assert!((m as f64 - optimal_bits(1_000_000, 1e-6)).abs() < 1.0);
        assert_eq!(k, 20);
        let f = BloomFilter::new(1_000_000, 1e-6, 0).unwrap();
        assert!((f.memory_bytes() * 8) as f64 <= optimal_bits(1_000_000, 1e-6) + 64.0);
    }

    #[test]
    fn rejects_bad_params() {
        assert_eq!(
            BloomFilter::new(0, 0.01, 0).unwrap_err().code(),
            "invalid_argument"
        );
        for p in [0.0, -0.1, 0.6, f64::NAN, 1e-20] {
            match BloomFilter::new(10, p, 0).unwrap_err() {
                CoreError::InvalidArgument { arg, .. } => assert_eq!(arg, "fp_rate"),
                e @ CoreError::Decode { .. } => panic!("{e}"),
            }
        }
        match BloomFilter::new(u64::MAX, 1e-9, 0).unwrap_err() {
            CoreError::InvalidArgument { arg, .. } => assert_eq!(arg, "capacity"),
            e @ CoreError::Decode { .. } => panic!("{e}"),
        }
    }

    #[test]
    fn no_false_negatives_and_fp_near_target() {
        let n = 20_000u64;
        let mut f = BloomFilter::new(n, 0.01, 7).unwrap();
        for i in 0..n {
            f.add(&id(i));
        }
        for i in 0..n {
            assert!(f.contains(&id(i)));
        }
        let trials = 200_000u64;
        let fp = (n..n + trials).filter(|&i| f.contains(&id(i))).count() as f64 / trials as f64;
        assert!(fp < 0.015, "fp {fp}");
        assert!(fp > 0.005, "fp {fp} suspiciously low");
        let est = f.estimated_count();
        assert!((est - n as f64).abs() / (n as f64) < 0.03, "estimate {est}");
        assert!((f.estimated_fp_rate() - 0.01).abs() < 0.003);
    }

    #[test]
    fn add_reports_novelty() {
        let mut f = BloomFilter::new(100, 0.001, 0).unwrap();
        assert!(f.add(b"a"));
        assert!(!f.add(b"a"));
        assert!(f.contains(b"a"));
        assert!(!f.contains(b"b"));
        f.clear();
        assert!(!f.contains(b"a"));
        assert_eq!(f.set_bits(), 0);
    }

    #[test]
    fn seed_changes_positions() {
        let a = BloomFilter::new(100, 0.01, 1).unwrap();
        let b = BloomFilter::new(100, 0.01, 2).unwrap();
        let pa: Vec<u64> = a.probes(a.hash(b"x")).collect();
        let pb: Vec<u64> = b.probes(b.hash(b"x")).collect();
        assert_ne!(pa, pb);
        assert_eq!(pa.len(), a.num_hashes() as usize);
        assert!(pa.iter().all(|&i| i < a.num_bits()));
    }

    #[test]
    fn union_requires_same_geometry() {
        let mut a = BloomFilter::new(100, 0.01, 1).unwrap();
        let mut b = BloomFilter::new(100, 0.01, 1).unwrap();
        a.add(b"a");
        b.add(b"b");
        a.union_in_place(&b).unwrap();
        assert!(a.contains(b"a") && a.contains(b"b"));
        let c = BloomFilter::new(100, 0.01, 2).unwrap();
        assert!(a.union_in_place(&c).is_err());
        let d = BloomFilter::new(101, 0.01, 1).unwrap();
        assert!(a.union_in_place(&d).is_err());
    }

    #[test]
    fn roundtrip_and_rejections() {
        let mut f = BloomFilter::new(1000, 0.01, 99).unwrap();
        for i in 0..500 {
            f.add(&id(i));
        }
        let bytes = f.to_bytes();
        let g = BloomFilter::from_bytes(&bytes).unwrap();
        assert_eq!(f, g);

        let code = |b: &[u8]| BloomFilter::from_bytes(b).unwrap_err().code();
        assert_eq!(code(&bytes[..10]), "decode.truncated");
        assert_eq!(code(&bytes[..bytes.len() - 1]), "decode.truncated");
        let mut extra = bytes.clone();
        extra.push(0);
        assert_eq!(code(&extra), "decode.trailing_bytes");
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert_eq!(code(&bad), "decode.bad_magic");
        let mut bad = bytes.clone();
        bad[4] = 9;
        assert_eq!(code(&bad), "decode.unknown_version");
        let mut bad = bytes.clone();
        bad[5] = 1;
        assert_eq!(code(&bad), "decode.non_canonical");
        let mut bad = bytes.clone();
        bad[32] ^= 1; // num_bits
        assert_eq!(code(&bad), "decode.inconsistent");
        let mut bad = bytes.clone();
        bad[16] = 0; // capacity 1000 -> 768: geometry mismatch
        assert_eq!(code(&bad), "decode.inconsistent");
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] = 0xFF; // bits past num_bits (9586 bits = 149 words + 50 bits)
        assert_eq!(code(&bad), "decode.non_canonical");
    }

    proptest! {
        #[test]
        fn prop_no_false_negatives(items in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..300), seed in any::<u64>()) {
            let mut f = BloomFilter::new(items.len() as u64, 0.01, seed).unwrap();
            for it in &items { f.add(it); }
            for it in &items { prop_assert!(f.contains(it)); }
            let g = BloomFilter::from_bytes(&f.to_bytes()).unwrap();
            for it in &items { prop_assert!(g.contains(it)); }
        }

        #[test]
        fn prop_decoder_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = BloomFilter::from_bytes(&data);
        }
    }
}
