//! Proof of work: targets, work and the nonce search.
//!
//! A header meets its target when its id, read as a big-endian 256-bit
//! integer, is at most the target (also big-endian). The work of a target is
//! the expected number of hashes to meet it, `floor(2^256 / (target + 1))`;
//! fork choice sums it along a chain.
//!
//! [`mine`] hashes the header prefix (everything but the trailing nonce) once
//! and clones that SHA-256 state for every nonce, so each attempt costs only the
//! compression of the final block(s).

use sha2::block_api::compress256;

use super::block::BlockHeader;
use super::{Hash32, SHA256_IV, sha256_state_bytes};

/// Whether `id` (big-endian) is at most `target` (big-endian).
#[inline]
pub fn meets_target(id: &Hash32, target: &Hash32) -> bool {
    // Lexicographic order of equal-length byte strings is big-endian order.
    id <= target
}

/// The target whose top `bits` bits are zero and all others one (`bits` is
/// capped at 256): about `2^bits` hashes to meet.
pub fn target_with_leading_zeros(bits: u32) -> Hash32 {
    let mut t = [0xffu8; 32];
    let bits = bits.min(256) as usize;
    for (i, byte) in t.iter_mut().enumerate() {
        let start = i * 8;
        if start + 8 <= bits {
            *byte = 0;
        } else if start < bits {
            *byte = 0xff >> (bits - start);
        }
    }
    t
}

/// A 256-bit unsigned integer as four big-endian-ordered 64-bit limbs.
type U256 = [u64; 4];

fn to_u256(b: &Hash32) -> U256 {
    let mut out = [0u64; 4];
    for (i, limb) in out.iter_mut().enumerate() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i * 8..i * 8 + 8]);
        *limb = u64::from_be_bytes(w);
    }
    out
}

fn ge(a: &U256, b: &U256) -> bool {
    a >= b // limbs are most significant first: lexicographic = numeric
}

fn sub(a: &U256, b: &U256) -> U256 {
    let mut out = [0u64; 4];
    let mut borrow = false;
    for i in (0..4).rev() {
        let (d, b1) = a[i].overflowing_sub(b[i]);
        let (d, b2) = d.overflowing_sub(u64::from(borrow));
        out[i] = d;
        borrow = b1 || b2;
    }
    out
}

fn shl1(a: &U256, low_bit: bool) -> U256 {
    let mut out = [0u64; 4];
    for i in 0..4 {
        let carry = if i < 3 {
            a[i + 1] >> 63
        } else {
            u64::from(low_bit)
        };
        out[i] = (a[i] << 1) | carry;
    }
    out
}

/// `floor(n / d)` by binary long division; `d` must be non-zero.
fn div(n: &U256, d: &U256) -> U256 {
    let mut q = [0u64; 4];
    let mut r = [0u64; 4];
    for bit in 0..256 {
        let limb = bit / 64;
        let shift = 63 - bit % 64;
        r = shl1(&r, (n[limb] >> shift) & 1 == 1);
        if ge(&r, d) {
            r = sub(&r, d);
            q[limb] |= 1 << shift;
        }
    }
    q
}

/// `floor(2^256 / (target + 1))`, saturating at `u128::MAX`.
///
/// Computed as `floor((2^256 - 1 - target) / (target + 1)) + 1`, which is equal
/// and stays within 256 bits.
pub fn work(target: &Hash32) -> u128 {
    let t = to_u256(target);
    if t[0] == 0 && t[1] == 0 {
        // target < 2^128, so target + 1 <= 2^128 and the work is >= 2^128.
        return u128::MAX;
    }
    let not_t = [!t[0], !t[1], !t[2], !t[3]];
    let mut t1 = t;
    for i in (0..4).rev() {
        let (v, overflow) = t1[i].overflowing_add(1);
        t1[i] = v;
        if !overflow {
            break;
        }
    }
    if t1 == [0; 4] {
        // target = 2^256 - 1: every hash meets it.
        return 1;
    }
    let q = div(&not_t, &t1);
    // t >= 2^128 so the quotient is below 2^128.
    let q = (u128::from(q[2]) << 64) | u128::from(q[3]);
    q.saturating_add(1)
}

/// Searches nonces `start_nonce, start_nonce + 1, ...` (at most `max_iters` of
/// them, stopping at `u64::MAX`) for one whose header meets the target.
///
/// Returns the header with that nonce, or `None` when the slice is exhausted;
/// call again with the next `start_nonce` to continue (bounded slices let the
/// caller cancel). Every other field of `header` is kept.
pub fn mine(header: &BlockHeader, start_nonce: u64, max_iters: u64) -> Option<BlockHeader> {
    let mut search = NonceSearch::new(header);
    let target = header.target;
    let mut nonce = start_nonce;
    let mut left = max_iters;
    while left > 0 {
        if meets_target(&search.id(nonce), &target) {
            let mut found = header.clone();
            found.nonce = nonce;
            return Some(found);
        }
        left -= 1;
        nonce = nonce.checked_add(1)?;
    }
    None
}

/// The header's SHA-256 state after every complete 64-byte block before the
/// nonce, and the padded tail (one or two blocks) with a slot for the nonce.
struct NonceSearch {
    mid: [u32; 8],
    tail: [[u8; 64]; 2],
    tail_blocks: usize,
    nonce_at: usize,
}

impl NonceSearch {
    fn new(header: &BlockHeader) -> Self {
        let bytes = header.to_bytes();
        let len = bytes.len();
        let nonce_start = len - 8;
        let full = nonce_start / 64;
        let mut mid = SHA256_IV;
        for block in bytes[..full * 64].chunks_exact(64) {
            let mut b = [0u8; 64];
            b.copy_from_slice(block);
            compress256(&mut mid, &[b]);
        }
        // Tail: the rest of the header, 0x80, zeros, the bit length (FIPS 180-4, 5.1.1).
        let rest = &bytes[full * 64..];
        let tail_blocks = if rest.len() + 9 <= 64 { 1 } else { 2 };
        let mut flat = [0u8; 128];
        flat[..rest.len()].copy_from_slice(rest);
        flat[rest.len()] = 0x80;
        let end = tail_blocks * 64;
        flat[end - 8..end].copy_from_slice(&((len as u64) * 8).to_be_bytes());
        let mut tail = [[0u8; 64]; 2];
        tail[0].copy_from_slice(&flat[..64]);
        tail[1].copy_from_slice(&flat[64..]);
        Self {
            mid,
            tail,
            tail_blocks,
            nonce_at: nonce_start - full * 64,
        }
    }

    /// The header id with `nonce`.
    #[inline]
    fn id(&mut self, nonce: u64) -> Hash32 {
        let le = nonce.to_le_bytes();
        for (i, b) in le.iter().enumerate() {
            let at = self.nonce_at + i;
            self.tail[at / 64][at % 64] = *b;
        }
        let mut state = self.mid;
        compress256(&mut state, &self.tail[..self.tail_blocks]);
        sha256_state_bytes(&state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::block::HEADER_VERSION;

    #[test]
    fn midstate_ids_equal_full_hashes_for_every_chain_id_length() {
        // Header lengths 158..=189 put the nonce in every position relative to
        // the block boundaries, with one- and two-block tails.
        for n in 1..=32 {
            let mut h = header([0xff; 32]);
            h.chain_id = "a".repeat(n);
            let mut s = NonceSearch::new(&h);
            for nonce in [0, 1, 0x0102_0304_0506_0708, u64::MAX] {
                h.nonce = nonce;
                assert_eq!(s.id(nonce), h.id(), "chain id len {n}, nonce {nonce}");
            }
        }
    }

    fn header(target: Hash32) -> BlockHeader {
        BlockHeader {
            version: HEADER_VERSION,
            chain_id: "swarm-devnet".into(),
            height: 1,
            prev_id: [1; 32],
            merkle_root: [2; 32],
            timestamp_ms: 1_700_000_000_000,
            target,
            nonce: 0,
            producer: [3; 32],
        }
    }

    fn be(v: u128, shift_bytes: usize) -> Hash32 {
        let mut t = [0u8; 32];
        let b = v.to_be_bytes();
        t[32 - 16 - shift_bytes..32 - shift_bytes].copy_from_slice(&b);
        t
    }

    #[test]
    fn work_values() {
        assert_eq!(work(&[0xff; 32]), 1);
        assert_eq!(work(&[0; 32]), u128::MAX);
        // target = 2^255 - 1 (top bit zero): work 2.
        assert_eq!(work(&target_with_leading_zeros(1)), 2);
        assert_eq!(work(&target_with_leading_zeros(12)), 4096);
        assert_eq!(work(&target_with_leading_zeros(100)), 1u128 << 100);
        assert_eq!(work(&target_with_leading_zeros(127)), 1u128 << 127);
        // target 2^128 - 1: work 2^128, saturated.
        assert_eq!(work(&target_with_leading_zeros(128)), u128::MAX);
        // target = 3 * 2^128: 2^256 / (3 * 2^128 + 1) is just below 2^128 / 3,
        // whose floor is 0x5555...5555 = (2^128 - 1) / 3.
        assert_eq!(work(&be(3, 16)), u128::MAX / 3);
        // target = 2^192: floor(2^256 / (2^192 + 1)) = 2^64 - 1.
        let mut t = [0u8; 32];
        t[7] = 1;
        assert_eq!(work(&t), u128::from(u64::MAX));
    }

    #[test]
    fn work_is_monotone() {
        let mut last = 0u128;
        for bits in 0..=128 {
            let w = work(&target_with_leading_zeros(bits));
            assert!(w >= last, "bits={bits}");
            last = w;
        }
    }

    #[test]
    fn meets_target_is_big_endian() {
        let mut id = [0u8; 32];
        id[0] = 1;
        let mut t = [0xffu8; 32];
        t[0] = 0;
        assert!(!meets_target(&id, &t));
        assert!(meets_target(&t, &t));
        assert!(meets_target(&[0; 32], &[0; 32]));
    }

    #[test]
    fn leading_zero_targets() {
        assert_eq!(target_with_leading_zeros(0), [0xff; 32]);
        let t = target_with_leading_zeros(12);
        assert_eq!(&t[..3], &[0x00, 0x0f, 0xff]);
        assert_eq!(target_with_leading_zeros(256), [0; 32]);
        assert_eq!(target_with_leading_zeros(999), [0; 32]);
    }

    #[test]
    fn mine_finds_a_valid_nonce_and_keeps_the_rest() {
        let h = header(target_with_leading_zeros(8));
        let found = mine(&h, 0, 1 << 20).unwrap();
        assert!(found.meets_target());
        let mut expected = h.clone();
        expected.nonce = found.nonce;
        assert_eq!(found, expected);
        // Every nonce before it fails (the search is in order).
        for n in 0..found.nonce {
            let mut c = h.clone();
            c.nonce = n;
            assert!(!c.meets_target());
        }
        // Resuming after the found nonce finds a later one.
        let next = mine(&h, found.nonce + 1, 1 << 20).unwrap();
        assert!(next.nonce > found.nonce && next.meets_target());
    }

    #[test]
    fn mine_is_bounded() {
        let h = header([0; 32]);
        assert_eq!(mine(&h, 0, 1000), None);
        assert_eq!(mine(&h, 0, 0), None);
        assert_eq!(mine(&h, u64::MAX - 2, 1000), None);
        // The last nonce is tried.
        let easy = header([0xff; 32]);
        assert_eq!(mine(&easy, u64::MAX, 1).map(|h| h.nonce), Some(u64::MAX));
    }
}
