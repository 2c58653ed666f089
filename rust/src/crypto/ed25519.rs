//! Ed25519 verification under the ZIP-215 rules, single and batch, written
//! directly on curve25519-dalek so that decompressed public keys can be reused
//! (see [`super::keycache`]).
//!
//! The acceptance rule is exactly ed25519-zebra's (ZIP 215), which the tests
//! check item by item against `ed25519-zebra` and the ZIP-215 vectors:
//!
//! * `A` and `R` must decode to curve points; non-canonical encodings are
//!   accepted (decoding reduces y mod p, as dalek's `decompress` does);
//! * `s` must be canonical (`s < l`);
//! * `k = SHA-512(R_bytes || A_bytes || M) mod l` over the bytes as given;
//! * the cofactored equation `[8]([s]B - R - [k]A) = 0` must hold.
//!
//! A batch of n signatures is one multiscalar multiplication,
//! `[8](-(sum z_i s_i) B + sum z_i R_i + sum_A (sum_{i: A_i = A} z_i k_i) A) = 0`,
//! with 128-bit coefficients `z_i` drawn from a `ChaCha20` stream keyed by a
//! SHA-256 transcript of the whole batch, so the verdict is deterministic (each
//! item always gets the same coefficient) and no signer can know its
//! coefficient before committing to its signature. Items that share a key add
//! into one term, so a key costs one point in the sum however often it signs.

use std::iter::once;
use std::sync::LazyLock;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng as _, SeedableRng};
use sha2::{Digest, Sha256, Sha512};

use super::keycache::{DEFAULT_CAPACITY, KeyCache, KeyCacheStats};
use super::{BatchItem, PUBLIC_KEY_LEN, SIGNATURE_LEN};

/// Domain separator of the batch-coefficient transcript.
const BATCH_DOMAIN: &[u8] = b"swarmmesh/ed25519-batch/v1";

/// The process-wide cache of decompressed keys that verification uses.
static KEYS: LazyLock<KeyCache> = LazyLock::new(|| KeyCache::new(DEFAULT_CAPACITY));

/// Counters and size of the decompressed-key cache.
pub fn key_cache_stats() -> KeyCacheStats {
    KEYS.stats()
}

/// Empties the decompressed-key cache and bounds it to `capacity` keys (0
/// turns it off). Verdicts never depend on the cache, only speed does.
pub fn reset_key_cache(capacity: usize) {
    KEYS.reset(capacity);
}

#[inline]
fn decompress(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    CompressedEdwardsY(*bytes).decompress()
}

/// `s` of a signature, if canonical.
#[inline]
fn scalar_s(sig: &[u8; SIGNATURE_LEN]) -> Option<Scalar> {
    let mut s = [0u8; 32];
    s.copy_from_slice(&sig[32..]);
    Scalar::from_canonical_bytes(s).into()
}

#[inline]
fn r_bytes(sig: &[u8; SIGNATURE_LEN]) -> [u8; 32] {
    let mut r = [0u8; 32];
    r.copy_from_slice(&sig[..32]);
    r
}

/// `k = SHA-512(R || A || M) mod l`.
#[inline]
fn challenge(r: &[u8; 32], a: &[u8; PUBLIC_KEY_LEN], msg: &[u8]) -> Scalar {
    let mut h = Sha512::new();
    h.update(r);
    h.update(a);
    h.update(msg);
    Scalar::from_bytes_mod_order_wide(&h.finalize().into())
}

/// Whether `sig` is a valid signature of `msg` by `public_key` (ZIP-215).
pub fn verify(public_key: &[u8; PUBLIC_KEY_LEN], msg: &[u8], sig: &[u8; SIGNATURE_LEN]) -> bool {
    let cached = KEYS.get(public_key);
    let Some(a) = cached.or_else(|| decompress(public_key)) else {
        return false;
    };
    let Some(s) = scalar_s(sig) else {
        return false;
    };
    let r_enc = r_bytes(sig);
    let Some(r) = decompress(&r_enc) else {
        return false;
    };
    let k = challenge(&r_enc, public_key, msg);
    // R' = [s]B - [k]A; valid iff [8](R - R') = 0.
    let r_prime = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &(-a), &s);
    let ok = (r - r_prime).mul_by_cofactor().is_identity();
    if ok && cached.is_none() {
        KEYS.insert(*public_key, a);
    }
    ok
}

/// A 128-bit coefficient from the transcript stream.
#[inline]
fn coefficient(rng: &mut ChaCha20Rng) -> Scalar {
    let mut z = [0u8; 16];
    rng.fill_bytes(&mut z);
    Scalar::from(u128::from_le_bytes(z))
}

/// The seed of the coefficient stream: SHA-256 over every key, signature and
/// message of the batch, in order and length-prefixed.
fn transcript_seed(items: &[BatchItem<'_>]) -> [u8; 32] {
    let mut t = Sha256::new();
    t.update(BATCH_DOMAIN);
    t.update((items.len() as u64).to_le_bytes());
    for i in items {
        t.update(i.public_key);
        t.update(i.sig);
        t.update((i.msg.len() as u64).to_le_bytes());
        t.update(i.msg);
    }
    t.finalize().into()
}

/// Whether every item of `items` is valid, by one batch equation.
///
/// True exactly when every item passes [`verify`], except with probability
/// about 2^-128 over the coefficients (which no signer controls).
pub fn batch_equation(items: &[BatchItem<'_>]) -> bool {
    match items {
        [] => return true,
        [one] => return verify(one.public_key, one.msg, one.sig),
        _ => {}
    }
    let count = items.len();
    // Distinct keys in first-seen order, and which one each item uses.
    let mut slot: std::collections::HashMap<&[u8; 32], usize> =
        std::collections::HashMap::with_capacity(count);
    let mut keys: Vec<&[u8; 32]> = Vec::new();
    let mut key_of: Vec<usize> = Vec::with_capacity(count);
    for it in items {
        let next = keys.len();
        let j = *slot.entry(it.public_key).or_insert(next);
        if j == next {
            keys.push(it.public_key);
        }
        key_of.push(j);
    }
    drop(slot);

    let mut a_points: Vec<EdwardsPoint> = Vec::with_capacity(keys.len());
    let mut fresh: Vec<usize> = Vec::new();
    for (j, (key, cached)) in keys
        .iter()
        .zip(KEYS.get_many(keys.iter().copied()))
        .enumerate()
    {
        if let Some(point) = cached {
            a_points.push(point);
        } else {
            let Some(point) = decompress(key) else {
                return false;
            };
            fresh.push(j);
            a_points.push(point);
        }
    }

    let mut rng = ChaCha20Rng::from_seed(transcript_seed(items));
    let mut b_coeff = Scalar::ZERO;
    let mut a_coeff = vec![Scalar::ZERO; keys.len()];
    let mut r_coeff: Vec<Scalar> = Vec::with_capacity(count);
    let mut r_points: Vec<EdwardsPoint> = Vec::with_capacity(count);
    for (it, &j) in items.iter().zip(&key_of) {
        let Some(s) = scalar_s(it.sig) else {
            return false;
        };
        let r_enc = r_bytes(it.sig);
        let Some(nonce) = decompress(&r_enc) else {
            return false;
        };
        let k = challenge(&r_enc, it.public_key, it.msg);
        let z = coefficient(&mut rng);
        b_coeff -= z * s;
        a_coeff[j] += z * k;
        r_coeff.push(z);
        r_points.push(nonce);
    }
    let sum = EdwardsPoint::vartime_multiscalar_mul(
        once(&b_coeff).chain(&r_coeff).chain(&a_coeff),
        once(&ED25519_BASEPOINT_POINT)
            .chain(&r_points)
            .chain(&a_points),
    );
    let ok = sum.mul_by_cofactor().is_identity();
    if ok && !fresh.is_empty() {
        KEYS.insert_many(fresh.iter().map(|&j| (*keys[j], a_points[j])));
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;
    use ed25519_zebra::{VerificationKey, ed25519::Signature};
    use proptest::prelude::*;

    /// ed25519-zebra's verdict: the independent implementation of ZIP 215.
    fn zebra(pk: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
        VerificationKey::try_from(*pk)
            .is_ok_and(|vk| vk.verify(&Signature::from_bytes(sig), msg).is_ok())
    }

    fn item<'a>(pk: &'a [u8; 32], msg: &'a [u8], sig: &'a [u8; 64]) -> BatchItem<'a> {
        BatchItem {
            public_key: pk,
            msg,
            sig,
        }
    }

    #[test]
    fn same_verdict_with_and_without_a_cached_key() {
        let k = SecretKey::from_seed(&[5; 32]);
        let pk = k.public_key();
        let sig = k.sign(b"m");
        let mut bad = sig;
        bad[40] ^= 1;
        for _ in 0..3 {
            assert!(verify(&pk, b"m", &sig));
            assert!(!verify(&pk, b"m", &bad));
            assert!(!verify(&pk, b"n", &sig));
        }
    }

    #[test]
    fn a_failed_verification_does_not_insert_its_key() {
        // A fresh key signing garbage must not be cached; the global cache is
        // shared by tests running in parallel, so look at this key only.
        let k = SecretKey::from_seed(&[0xa7; 32]);
        let pk = k.public_key();
        assert!(!verify(&pk, b"m", &[0u8; 64]));
        assert!(KEYS.get(&pk).is_none());
        assert!(verify(&pk, b"m", &k.sign(b"m")));
        assert!(KEYS.get(&pk).is_some());
    }

    #[test]
    fn s_must_be_canonical_even_if_it_reduces_to_a_valid_one() {
        // s + l verifies under the non-strict rule; ZIP 215 refuses it.
        let k = SecretKey::from_seed(&[6; 32]);
        let sig = k.sign(b"x");
        let mut s = [0u8; 32];
        s.copy_from_slice(&sig[32..]);
        // l = 2^252 + 27742317777372353535851937790883648493, little-endian.
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        let mut sum = [0u8; 32];
        for i in 0..32 {
            let v = u16::from(s[i]) + u16::from(l[i]) + carry;
            sum[i] = v as u8;
            carry = v >> 8;
        }
        let mut forged = sig;
        forged[32..].copy_from_slice(&sum);
        assert_eq!(
            verify(&k.public_key(), b"x", &forged),
            zebra(&k.public_key(), b"x", &forged)
        );
        assert!(!verify(&k.public_key(), b"x", &forged));
        let pk = k.public_key();
        let good = k.sign(b"y");
        assert!(!batch_equation(&[
            item(&pk, b"x", &forged),
            item(&pk, b"y", &good)
        ]));
    }

    #[test]
    fn batch_coefficients_are_deterministic() {
        // Same batch, same seed: the equation is a pure function of its input.
        let k = SecretKey::from_seed(&[8; 32]);
        let pk = k.public_key();
        let a = k.sign(b"a");
        let b = k.sign(b"b");
        let items = [item(&pk, b"a", &a), item(&pk, b"b", &b)];
        assert_eq!(transcript_seed(&items), transcript_seed(&items));
        let swapped = [item(&pk, b"b", &b), item(&pk, b"a", &a)];
        assert_ne!(transcript_seed(&items), transcript_seed(&swapped));
        assert!(batch_equation(&items) && batch_equation(&swapped));
    }

    /// Which part of a valid signature a case corrupts.
    #[derive(Debug, Clone, Copy)]
    enum Mutation {
        None,
        SigBit(usize),
        KeyBit(usize),
        MsgByte,
        KeyFromOther,
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            3 => Just(Mutation::None),
            2 => (0usize..512).prop_map(Mutation::SigBit),
            2 => (0usize..256).prop_map(Mutation::KeyBit),
            1 => Just(Mutation::MsgByte),
            1 => Just(Mutation::KeyFromOther),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn agrees_with_zebra_item_by_item_and_as_a_batch(
            cases in proptest::collection::vec(
                (any::<[u8; 32]>(), proptest::collection::vec(any::<u8>(), 0..80), mutation()),
                2..12,
            ),
            shared_key in any::<bool>(),
        ) {
            let mut pks = Vec::new();
            let mut msgs = Vec::new();
            let mut sigs = Vec::new();
            for (n, (seed, msg, m)) in cases.iter().enumerate() {
                let seed = if shared_key && n % 2 == 0 { [1u8; 32] } else { *seed };
                let k = SecretKey::from_seed(&seed);
                let mut pk = k.public_key();
                let mut msg = msg.clone();
                let mut sig = k.sign(&msg);
                match *m {
                    Mutation::None => {}
                    Mutation::SigBit(b) => sig[b / 8] ^= 1 << (b % 8),
                    Mutation::KeyBit(b) => pk[b / 8] ^= 1 << (b % 8),
                    Mutation::MsgByte => msg.push(0),
                    Mutation::KeyFromOther => pk = SecretKey::from_seed(&[9; 32]).public_key(),
                }
                pks.push(pk);
                msgs.push(msg);
                sigs.push(sig);
            }
            let items: Vec<BatchItem<'_>> =
                (0..pks.len()).map(|i| item(&pks[i], &msgs[i], &sigs[i])).collect();
            let mut all = true;
            for it in &items {
                let want = zebra(it.public_key, it.msg, it.sig);
                prop_assert_eq!(verify(it.public_key, it.msg, it.sig), want);
                all &= want;
            }
            prop_assert_eq!(batch_equation(&items), all);
        }
    }
}
