//! Keys, signatures, hashes and addresses.
//!
//! * **Signatures** are Ed25519 under the ZIP-215 rules (the rule of
//!   `ed25519-zebra`, implemented in [`ed25519`] on curve25519-dalek and checked
//!   against zebra item by item): one precisely specified acceptance rule, cofactored, that single and batch
//!   verification both implement. With the usual libraries a signature crafted
//!   with small-order components can pass a batch and fail a single check (or the
//!   reverse), which would let an attacker split nodes that validate the same
//!   block in different ways. Every signature an honest signer makes (RFC 8032)
//!   is accepted by both paths and by every other Ed25519 verifier.
//! * **Batch verification** checks many signatures with one multiscalar
//!   multiplication. Its random coefficients come from a SHA-256 transcript of
//!   the whole batch (keys, signatures, messages), so the result is
//!   deterministic and needs no randomness from the caller, yet no signer can
//!   predict the coefficients before fixing its signature. A failing batch is
//!   re-checked item by item so the caller learns *which* signatures fail. Large
//!   batches are split across threads. Decompressed public keys are kept in a
//!   bounded cache ([`keycache`]), since the same keys sign again and again.
//! * **Hashes** are SHA-256.
//! * **Addresses** are the bech32m encoding (BIP-350) of the 32-byte public key
//!   under the human-readable prefix `sw`: `sw1` followed by 58 characters, the
//!   last six a checksum that catches any four substituted characters.

use bech32::{Bech32m, Hrp, primitives::decode::CheckedHrpstring};
use ed25519_zebra::{SigningKey, VerificationKeyBytes};
use sha2::{Digest, Sha256};

mod ed25519;
pub mod keycache;

pub use ed25519::{key_cache_stats, reset_key_cache, verify};
pub use keycache::KeyCacheStats;

use crate::error::{CoreError, CoreResult};

/// Length of a public key, in bytes.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of a signature, in bytes.
pub const SIGNATURE_LEN: usize = 64;
/// Length of a secret seed, in bytes.
pub const SEED_LEN: usize = 32;
/// The human-readable prefix of an address.
pub const ADDRESS_HRP: &str = "sw";
/// Length of an address, in characters (`sw1` + 52 data + 6 checksum).
pub const ADDRESS_LEN: usize = 61;

/// Batches below this size are verified on the calling thread only.
const MIN_ITEMS_PER_THREAD: usize = 64;

/// SHA-256 of `data`.
#[inline]
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// SHA-256 of the concatenation of `parts`, without copying them together.
#[inline]
pub fn sha256_parts(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// An Ed25519 signing key, made from a 32-byte seed (RFC 8032 secret key).
#[derive(Clone)]
pub struct SecretKey {
    key: SigningKey,
    public: [u8; PUBLIC_KEY_LEN],
}

impl SecretKey {
    /// The key whose RFC 8032 secret is `seed`.
    pub fn from_seed(seed: &[u8; SEED_LEN]) -> Self {
        let key = SigningKey::from_bytes(seed);
        let public: [u8; PUBLIC_KEY_LEN] = VerificationKeyBytes::from(&key).into();
        Self { key, public }
    }

    /// The public key.
    #[inline]
    pub fn public_key(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.public
    }

    /// The 32-byte seed (secret).
    pub fn seed(&self) -> [u8; SEED_LEN] {
        self.key.to_bytes()
    }

    /// The RFC 8032 signature of `msg`.
    #[inline]
    pub fn sign(&self, msg: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.key.sign(msg).to_bytes()
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("SecretKey")
            .field("public", &address_of(&self.public))
            .finish_non_exhaustive()
    }
}

/// One (key, message, signature) triple of a batch.
#[derive(Debug, Clone, Copy)]
pub struct BatchItem<'a> {
    /// The signer's public key.
    pub public_key: &'a [u8; PUBLIC_KEY_LEN],
    /// The signed message.
    pub msg: &'a [u8],
    /// The signature.
    pub sig: &'a [u8; SIGNATURE_LEN],
}

/// Verifies every item; returns one verdict per item, in order.
///
/// `threads` bounds the worker threads (1 = the calling thread only). The
/// verdicts are exactly those of [`verify`] on each item: the batch equation is
/// the fast path and any failing chunk is re-checked item by item.
pub fn verify_batch(items: &[BatchItem<'_>], threads: usize) -> Vec<bool> {
    let threads = threads
        .max(1)
        .min(items.len().div_ceil(MIN_ITEMS_PER_THREAD).max(1));
    if threads == 1 {
        return verify_chunk(items);
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| scope.spawn(move || verify_chunk(c)))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for (h, c) in handles.into_iter().zip(items.chunks(chunk)) {
            // A worker cannot panic (verification is total), but if one ever
            // did, fall back to checking its chunk here rather than crash.
            match h.join() {
                Ok(v) => out.extend(v),
                Err(_) => out.extend(c.iter().map(|i| verify(i.public_key, i.msg, i.sig))),
            }
        }
        out
    })
}

/// Whether every item is valid (the batch equation alone, no per-item
/// fallback): the fast path for "accept or reject the whole block".
pub fn verify_all(items: &[BatchItem<'_>], threads: usize) -> bool {
    let threads = threads
        .max(1)
        .min(items.len().div_ceil(MIN_ITEMS_PER_THREAD).max(1));
    if threads == 1 {
        return batch_equation(items);
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| scope.spawn(move || batch_equation(c)))
            .collect();
        handles.into_iter().all(|h| h.join().unwrap_or(false))
    })
}

fn verify_chunk(items: &[BatchItem<'_>]) -> Vec<bool> {
    if batch_equation(items) {
        return vec![true; items.len()];
    }
    items
        .iter()
        .map(|i| verify(i.public_key, i.msg, i.sig))
        .collect()
}

/// The batch equation over `items` (see [`ed25519`]).
fn batch_equation(items: &[BatchItem<'_>]) -> bool {
    ed25519::batch_equation(items)
}

/// The address of `public_key`: bech32m under the prefix `sw`.
pub fn address_of(public_key: &[u8; PUBLIC_KEY_LEN]) -> String {
    let hrp = Hrp::parse_unchecked(ADDRESS_HRP);
    // Encoding 32 bytes under a 2-character prefix is 61 characters, far below
    // bech32's 90-character limit, so this cannot fail; the fallback keeps the
    // function total anyway.
    bech32::encode_lower::<Bech32m>(hrp, public_key).unwrap_or_default()
}

/// The public key that `address` encodes.
///
/// Only the canonical form is accepted: lower case, the `sw` prefix, a bech32m
/// checksum (not bech32) and exactly 32 bytes of data.
pub fn public_key_of(address: &str) -> CoreResult<[u8; PUBLIC_KEY_LEN]> {
    let bad = |why: &str| CoreError::invalid("address", format!("{why}: {address:?}"));
    if address.len() != ADDRESS_LEN {
        return Err(bad(&format!(
            "an address has {ADDRESS_LEN} characters, this one {}",
            address.len()
        )));
    }
    if address.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(bad("an address is lower case"));
    }
    let checked = CheckedHrpstring::new::<Bech32m>(address)
        .map_err(|e| bad(&format!("not bech32m ({e})")))?;
    if checked.hrp().as_str() != ADDRESS_HRP {
        return Err(bad("the prefix must be `sw1`"));
    }
    let data: Vec<u8> = checked.byte_iter().collect();
    let key: [u8; PUBLIC_KEY_LEN] = data
        .as_slice()
        .try_into()
        .map_err(|_| bad("an address holds 32 bytes"))?;
    if address_of(&key) != address {
        return Err(bad("not the canonical encoding"));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(i: u8) -> SecretKey {
        SecretKey::from_seed(&[i; 32])
    }

    #[test]
    fn rfc8032_test_vector_1() {
        // RFC 8032 section 7.1, TEST 1 (empty message).
        let seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let public = hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        let sig = hex(concat!(
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155",
            "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        ));
        let k = SecretKey::from_seed(&seed.clone().try_into().unwrap());
        assert_eq!(k.public_key().to_vec(), public);
        assert_eq!(k.sign(b"").to_vec(), sig);
        assert!(verify(&k.public_key(), b"", &sig.try_into().unwrap()));
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn sha256_known_answer() {
        assert_eq!(
            sha256(b"abc").to_vec(),
            hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(sha256_parts(&[b"a", b"bc"]), sha256(b"abc"));
    }

    #[test]
    fn verify_rejects_wrong_message_key_and_garbage() {
        let k = key(1);
        let sig = k.sign(b"hello");
        assert!(verify(&k.public_key(), b"hello", &sig));
        assert!(!verify(&k.public_key(), b"hellp", &sig));
        assert!(!verify(&key(2).public_key(), b"hello", &sig));
        assert!(!verify(&[0xff; 32], b"hello", &sig));
        assert!(!verify(&k.public_key(), b"hello", &[0xff; 64]));
    }

    #[test]
    fn batch_finds_exactly_the_bad_items() {
        for threads in [1, 2, 4] {
            for n in [0usize, 1, 2, 3, 65, 300] {
                let keys: Vec<_> = (0..n).map(|i| key((i % 250) as u8)).collect();
                let msgs: Vec<Vec<u8>> = (0..n).map(|i| format!("m{i}").into_bytes()).collect();
                let mut sigs: Vec<[u8; 64]> =
                    keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
                let bad: Vec<usize> = (0..n).filter(|i| i % 37 == 5).collect();
                for &b in &bad {
                    sigs[b][3] ^= 1;
                }
                let pks: Vec<[u8; 32]> = keys.iter().map(SecretKey::public_key).collect();
                let items: Vec<BatchItem<'_>> = (0..n)
                    .map(|i| BatchItem {
                        public_key: &pks[i],
                        msg: &msgs[i],
                        sig: &sigs[i],
                    })
                    .collect();
                let verdicts = verify_batch(&items, threads);
                let expected: Vec<bool> = (0..n).map(|i| !bad.contains(&i)).collect();
                assert_eq!(verdicts, expected, "n={n} threads={threads}");
                assert_eq!(verify_all(&items, threads), bad.is_empty());
            }
        }
    }

    #[test]
    fn batch_with_repeated_key_and_garbage_key() {
        let k = key(9);
        let pk = k.public_key();
        let msgs: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 10]).collect();
        let sigs: Vec<[u8; 64]> = msgs.iter().map(|m| k.sign(m)).collect();
        let garbage = [0xffu8; 32];
        let mut items: Vec<BatchItem<'_>> = (0..10)
            .map(|i| BatchItem {
                public_key: &pk,
                msg: &msgs[i],
                sig: &sigs[i],
            })
            .collect();
        assert!(verify_all(&items, 1));
        items[4].public_key = &garbage;
        let v = verify_batch(&items, 1);
        assert_eq!(v.iter().filter(|x| !**x).count(), 1);
        assert!(!v[4]);
    }

    #[test]
    fn address_round_trip_and_shape() {
        let pk = key(3).public_key();
        let a = address_of(&pk);
        assert_eq!(a.len(), ADDRESS_LEN);
        assert!(a.starts_with("sw1"));
        assert_eq!(public_key_of(&a).unwrap(), pk);
    }

    #[test]
    fn address_rejects_typos_case_prefix_and_bech32() {
        let a = address_of(&key(4).public_key());
        // One substituted character.
        let mut chars: Vec<char> = a.chars().collect();
        chars[10] = if chars[10] == 'q' { 'p' } else { 'q' };
        let typo: String = chars.into_iter().collect();
        assert!(public_key_of(&typo).is_err());
        assert!(public_key_of(&a.to_uppercase()).is_err());
        assert!(public_key_of("").is_err());
        assert!(public_key_of(&a[..60]).is_err());
        // Same data, classic bech32 checksum: refused.
        let legacy =
            bech32::encode_lower::<bech32::Bech32>(Hrp::parse_unchecked("sw"), &[7u8; 32]).unwrap();
        assert!(public_key_of(&legacy).is_err());
        // Other prefix of the same length.
        let other =
            bech32::encode_lower::<Bech32m>(Hrp::parse_unchecked("sx"), &[7u8; 32]).unwrap();
        assert!(public_key_of(&other).is_err());
        let e = public_key_of("sw1").unwrap_err();
        assert_eq!(e.code(), "invalid_argument");
    }

    proptest! {
        #[test]
        fn address_decoder_never_panics(s in "\\PC{0,80}") {
            let _ = public_key_of(&s);
        }

        #[test]
        fn any_key_round_trips(bytes in proptest::array::uniform32(any::<u8>())) {
            prop_assert_eq!(public_key_of(&address_of(&bytes)).unwrap(), bytes);
        }

        #[test]
        fn sign_verify_round_trip(seed in proptest::array::uniform32(any::<u8>()),
                                  msg in proptest::collection::vec(any::<u8>(), 0..200)) {
            let k = SecretKey::from_seed(&seed);
            prop_assert!(verify(&k.public_key(), &msg, &k.sign(&msg)));
        }
    }
}
