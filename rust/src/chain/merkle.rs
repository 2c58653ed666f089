//! The Merkle root of a block's transaction ids.
//!
//! Leaves are `sha256(0x00 || id)`, inner nodes `sha256(0x01 || left || right)`;
//! a level with an odd number of nodes promotes the last one unchanged to the
//! next level (it is *not* paired with itself). The root of the empty list is
//! `sha256(0x02)`. Because leaves, nodes and the empty root live in separate
//! hash domains and no node is ever duplicated, the list of ids is the only
//! preimage of its root that a block can carry: appending a copy of the last
//! transaction (the CVE-2012-2459 mutation of Bitcoin's tree) changes the root,
//! and an inner node can never be passed off as a transaction id.

use sha2::block_api::compress256;
use sha2::{Digest, Sha256};

use super::{Hash32, SHA256_IV, sha256_state_bytes};

/// Domain byte of a leaf.
pub const LEAF_TAG: u8 = 0x00;
/// Domain byte of an inner node.
pub const NODE_TAG: u8 = 0x01;
/// Domain byte of the empty tree.
pub const EMPTY_TAG: u8 = 0x02;

// Both hashes go straight through the compression function with their padding
// laid out by hand (FIPS 180-4, 5.1.1): a leaf is one 64-byte block, a node two.
// This skips the buffering of the streaming API on the hottest loop of block
// validation; the tests check both against `sha256` of the same bytes.

/// `sha256(0x00 || id)`: 33 bytes, one padded block.
#[inline]
fn leaf(id: &Hash32) -> Hash32 {
    let mut block = [0u8; 64];
    block[0] = LEAF_TAG;
    block[1..33].copy_from_slice(id);
    block[33] = 0x80;
    block[56..].copy_from_slice(&(33u64 * 8).to_be_bytes());
    let mut state = SHA256_IV;
    compress256(&mut state, &[block]);
    sha256_state_bytes(&state)
}

/// `sha256(0x01 || left || right)`: 65 bytes, two padded blocks.
#[inline]
fn node(left: &Hash32, right: &Hash32) -> Hash32 {
    let mut blocks = [[0u8; 64]; 2];
    blocks[0][0] = NODE_TAG;
    blocks[0][1..33].copy_from_slice(left);
    blocks[0][33..].copy_from_slice(&right[..31]);
    blocks[1][0] = right[31];
    blocks[1][1] = 0x80;
    blocks[1][56..].copy_from_slice(&(65u64 * 8).to_be_bytes());
    let mut state = SHA256_IV;
    compress256(&mut state, &blocks);
    sha256_state_bytes(&state)
}

/// Lists shorter than this are hashed on the calling thread only.
pub const MIN_PARALLEL_IDS: usize = 4096;

/// Pairs the nodes of `level` in place until one is left (the odd node of a
/// level is promoted).
fn reduce(mut level: Vec<Hash32>) -> Hash32 {
    while level.len() > 1 {
        let pairs = level.len() / 2;
        for i in 0..pairs {
            level[i] = node(&level[2 * i], &level[2 * i + 1]);
        }
        if level.len() % 2 == 1 {
            level[pairs] = level[level.len() - 1];
            level.truncate(pairs + 1);
        } else {
            level.truncate(pairs);
        }
    }
    level[0]
}

/// The root of a non-empty run of ids as its own tree.
fn subtree(ids: &[Hash32]) -> Hash32 {
    reduce(ids.iter().map(leaf).collect())
}

/// The Merkle root of `ids` (transaction ids, in block order).
pub fn merkle_root(ids: &[Hash32]) -> Hash32 {
    merkle_root_with_threads(ids, 1)
}

/// [`merkle_root`] spread over up to `threads` threads (same result).
///
/// Pairing is aligned: at level `k` a pair starts at a multiple of `2^k` leaves,
/// so every aligned run of `2^k` leaves is a complete subtree and a final
/// shorter run is the subtree the odd-node promotion builds. The ids are cut
/// into such runs, hashed in parallel, and their roots reduced as level `k`.
pub fn merkle_root_with_threads(ids: &[Hash32], threads: usize) -> Hash32 {
    if ids.is_empty() {
        return Sha256::digest([EMPTY_TAG]).into();
    }
    let threads = threads.max(1);
    if threads == 1 || ids.len() < MIN_PARALLEL_IDS {
        return subtree(ids);
    }
    // Runs of a power-of-two length, a few per thread for balance.
    let run = ids.len().div_ceil(threads * 4).next_power_of_two();
    let runs: Vec<&[Hash32]> = ids.chunks(run).collect();
    let per_thread = runs.len().div_ceil(threads);
    let roots: Vec<Hash32> = std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .chunks(per_thread)
            .map(|group| scope.spawn(move || group.iter().map(|r| subtree(r)).collect::<Vec<_>>()))
            .collect();
        let mut roots = Vec::with_capacity(runs.len());
        for (h, group) in handles.into_iter().zip(runs.chunks(per_thread)) {
            // Hashing cannot panic; if a worker ever did, redo its share here.
            match h.join() {
                Ok(v) => roots.extend(v),
                Err(_) => roots.extend(group.iter().map(|r| subtree(r))),
            }
        }
        roots
    });
    reduce(roots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{sha256, sha256_parts};
    use proptest::prelude::*;

    /// An independent reference: the RFC 6962 recursion (split at the largest
    /// power of two below the count), which equals level-by-level pairing with
    /// promotion of the odd node.
    fn reference(ids: &[Hash32]) -> Hash32 {
        fn mth(ids: &[Hash32]) -> Hash32 {
            if ids.len() == 1 {
                return sha256_parts(&[&[0], &ids[0]]);
            }
            let mut k = 1;
            while k * 2 < ids.len() {
                k *= 2;
            }
            sha256_parts(&[&[1], &mth(&ids[..k]), &mth(&ids[k..])])
        }
        if ids.is_empty() {
            return sha256(&[2]);
        }
        mth(ids)
    }

    fn ids(n: usize) -> Vec<Hash32> {
        (0..n).map(|i| sha256(&(i as u64).to_le_bytes())).collect()
    }

    #[test]
    fn hand_padded_hashes_match_sha256() {
        for i in 0..50u8 {
            let a = sha256(&[i]);
            let b = sha256(&[i, 1]);
            assert_eq!(leaf(&a), sha256_parts(&[&[0], &a]));
            assert_eq!(node(&a, &b), sha256_parts(&[&[1], &a, &b]));
        }
    }

    #[test]
    fn small_trees_by_hand() {
        assert_eq!(merkle_root(&[]), sha256(&[2]));
        let a = [1u8; 32];
        let b = [2u8; 32];
        let c = [3u8; 32];
        let la = sha256_parts(&[&[0], &a]);
        let lb = sha256_parts(&[&[0], &b]);
        let lc = sha256_parts(&[&[0], &c]);
        assert_eq!(merkle_root(&[a]), la);
        assert_eq!(merkle_root(&[a, b]), sha256_parts(&[&[1], &la, &lb]));
        let ab = sha256_parts(&[&[1], &la, &lb]);
        assert_eq!(merkle_root(&[a, b, c]), sha256_parts(&[&[1], &ab, &lc]));
    }

    #[test]
    fn duplicating_the_last_id_changes_the_root() {
        // CVE-2012-2459: with Bitcoin's duplicate-the-odd-node rule, [a, b, c]
        // and [a, b, c, c] share a root.
        for n in 1..40 {
            let mut v = ids(n);
            let root = merkle_root(&v);
            v.push(v[n - 1]);
            assert_ne!(merkle_root(&v), root, "n={n}");
        }
    }

    #[test]
    fn a_node_is_not_a_leaf() {
        let v = ids(2);
        let l0 = sha256_parts(&[&[0], &v[0]]);
        let l1 = sha256_parts(&[&[0], &v[1]]);
        let inner = sha256_parts(&[&[1], &l0, &l1]);
        // Presenting the inner node as a single transaction id gives another root.
        assert_ne!(merkle_root(&[inner]), merkle_root(&v));
    }

    #[test]
    fn matches_reference_for_many_sizes() {
        for n in 0..70 {
            let v = ids(n);
            assert_eq!(merkle_root(&v), reference(&v), "n={n}");
        }
        let v = ids(3000);
        assert_eq!(merkle_root(&v), reference(&v));
    }

    #[test]
    fn parallel_equals_serial() {
        for n in [MIN_PARALLEL_IDS - 1, MIN_PARALLEL_IDS + 1, 6001] {
            let v = ids(n);
            let serial = merkle_root(&v);
            for threads in [2, 3] {
                assert_eq!(
                    merkle_root_with_threads(&v, threads),
                    serial,
                    "n={n} t={threads}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn order_matters(n in 2usize..50, i in any::<usize>()) {
            let mut v = ids(n);
            let root = merkle_root(&v);
            let i = i % (n - 1);
            v.swap(i, i + 1);
            prop_assert_ne!(merkle_root(&v), root);
        }
    }
}
