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

use sha2::{Digest, Sha256};

use super::Hash32;

/// Domain byte of a leaf.
pub const LEAF_TAG: u8 = 0x00;
/// Domain byte of an inner node.
pub const NODE_TAG: u8 = 0x01;
/// Domain byte of the empty tree.
pub const EMPTY_TAG: u8 = 0x02;

#[inline]
fn leaf(id: &Hash32) -> Hash32 {
    let mut h = Sha256::new();
    h.update([LEAF_TAG]);
    h.update(id);
    h.finalize().into()
}

#[inline]
fn node(left: &Hash32, right: &Hash32) -> Hash32 {
    let mut h = Sha256::new();
    h.update([NODE_TAG]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The Merkle root of `ids` (transaction ids, in block order).
pub fn merkle_root(ids: &[Hash32]) -> Hash32 {
    if ids.is_empty() {
        return Sha256::digest([EMPTY_TAG]).into();
    }
    let mut level: Vec<Hash32> = ids.iter().map(leaf).collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{sha256, sha256_parts};
    use proptest::prelude::*;

    /// A recursive reference: split at the largest power of two below n, which
    /// is the same tree as level-by-level pairing with promotion.
    fn reference(ids: &[Hash32]) -> Hash32 {
        fn rec(level: &[Hash32]) -> Hash32 {
            if level.len() == 1 {
                return level[0];
            }
            let mut next = Vec::new();
            for pair in level.chunks(2) {
                next.push(match pair {
                    [l, r] => sha256_parts(&[&[1], l, r]),
                    [one] => *one,
                    _ => unreachable!(),
                });
            }
            rec(&next)
        }
        if ids.is_empty() {
            return sha256(&[2]);
        }
        rec(&ids
            .iter()
            .map(|id| sha256_parts(&[&[0], id]))
            .collect::<Vec<_>>())
    }

    fn ids(n: usize) -> Vec<Hash32> {
        (0..n).map(|i| sha256(&(i as u64).to_le_bytes())).collect()
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
        let v = ids(10_000);
        assert_eq!(merkle_root(&v), reference(&v));
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
