//! ZIP-215 edge cases at the Rust level, where the batch equation's own verdict is visible
//! ([`verify_all`] has no per-item fallback). The vectors are those of
//! `tests/unit/test_zip215.py`, which generates them and checks them against a pure-Python
//! ZIP-215 reference: the 14 encodings of the 8 small-order points, and mixed-order keys.

use swarmmesh::crypto::{BatchItem, SecretKey, verify, verify_all, verify_batch};

/// The message of the ZIP-215 small-order vectors.
const MSG: &[u8] = b"Zcash";

const SMALL_ORDER: [&str; 14] = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
];
/// (public key, signature) over MSG: mixed-order keys `[a]B + T_i`, nonces `[r]B + T_j`.
const MIXED: [(&str, &str); 24] = [
    (
        "2daa5c79d5bb8765d0e448dbf439fb750457803e419d63fee07ed5db594e54b6",
        "1160f12ecf204d4c5999c4c2ee2b265568bee0e2fc8a9d64fcc3416917f786445a8bc18e0c79b7d9278e5812d500875c1600c19a210ece83ef2afc7988906e02",
    ),
    (
        "2daa5c79d5bb8765d0e448dbf439fb750457803e419d63fee07ed5db594e54b6",
        "fea15fc7d145e1b77b291d4762743715176faed43d0d95dd2b49c36880157bf5f9220a7f7aa1d4fa7a039095ebe89e6ea5ed2aaf7c764f270b2be396e60ad604",
    ),
    (
        "2daa5c79d5bb8765d0e448dbf439fb750457803e419d63fee07ed5db594e54b6",
        "9a31664d7cb3d2c9ceca000c91a3c21f6cfd82448f52ffbe8bc12ddfc31ce8d4431a468c112207dfe04aecbe0069dbcb71247a0a7448c2e0d921fa0f0349f002",
    ),
    (
        "7352fa260579f374bc78f69df3452d92e17f921a602db5fbbbfed6d09b2d449d",
        "1160f12ecf204d4c5999c4c2ee2b265568bee0e2fc8a9d64fcc3416917f7864489e6f1251f30a5ca4a3d091550254d80722399ff7a5e970899f951f0f6c2e50b",
    ),
    (
        "7352fa260579f374bc78f69df3452d92e17f921a602db5fbbbfed6d09b2d449d",
        "fea15fc7d145e1b77b291d4762743715176faed43d0d95dd2b49c36880157bf547f82890a0fa665de775681cec4a8c3451f6a4304201632dfb9e032341c6ec03",
    ),
    (
        "7352fa260579f374bc78f69df3452d92e17f921a602db5fbbbfed6d09b2d449d",
        "9a31664d7cb3d2c9ceca000c91a3c21f6cfd82448f52ffbe8bc12ddfc31ce8d44da4684c177ca0966b6c795e48a68d9246262f6a11d7ab69985162b992227706",
    ),
    (
        "9cc490869d5b0f47def43ae136223c68d7f7b948b0740d1e3cb7d816dc422865",
        "1160f12ecf204d4c5999c4c2ee2b265568bee0e2fc8a9d64fcc3416917f786444c0671f6c19d82b39cbcdb2d50b5a1a2c1e4a49ed2defdeeadf11547b530b106",
    ),
    (
        "9cc490869d5b0f47def43ae136223c68d7f7b948b0740d1e3cb7d816dc422865",
        "fea15fc7d145e1b77b291d4762743715176faed43d0d95dd2b49c36880157bf5744de74c6d4ae89be5c78db23d16ce09f82ea7dac2482ae6479654b04e78250a",
    ),
    (
        "9cc490869d5b0f47def43ae136223c68d7f7b948b0740d1e3cb7d816dc422865",
        "9a31664d7cb3d2c9ceca000c91a3c21f6cfd82448f52ffbe8bc12ddfc31ce8d46c689b2df0e62e21e870110076d1eecfade2b466249ef1e4a0909e05d128950b",
    ),
    (
        "bef61e2d2729f2aea4016c7d3c257fb687680062ead9d11bb22880c90f4da4a2",
        "1160f12ecf204d4c5999c4c2ee2b265568bee0e2fc8a9d64fcc3416917f78644fa1538557938a5ccfb560c62cd549b13cdbf936e0dc8a11ae173d829d8891506",
    ),
    (
        "bef61e2d2729f2aea4016c7d3c257fb687680062ead9d11bb22880c90f4da4a2",
        "fea15fc7d145e1b77b291d4762743715176faed43d0d95dd2b49c36880157bf5745ab6020538c7b043a171d8e992f12cc1347f6133d5e954e21db31fab9b1d05",
    ),
    (
        "bef61e2d2729f2aea4016c7d3c257fb687680062ead9d11bb22880c90f4da4a2",
        "9a31664d7cb3d2c9ceca000c91a3c21f6cfd82448f52ffbe8bc12ddfc31ce8d45c62e62a98464d9c625d0fe2275541b6826661fbb179030f767e6a8044143303",
    ),
    (
        "69bc45c6f0f288191989fba29f25b6c3ad6443bcd2308f7ae29e958bbb60eaa0",
        "1160f12ecf204d4c5999c4c2ee2b265568bee0e2fc8a9d64fcc3416917f78644d11637851d39ed6eb71bb1cb1616a00bee9a8a6cf797111f30d1fce93a221005",
    ),
    (
        "69bc45c6f0f288191989fba29f25b6c3ad6443bcd2308f7ae29e958bbb60eaa0",
        "fea15fc7d145e1b77b291d4762743715176faed43d0d95dd2b49c36880157bf5ada93a6d9098dbd80a47da4a3fb2df9ad7f8894b38918b7c4f003519a79a910f",
    ),
    (
        "69bc45c6f0f288191989fba29f25b6c3ad6443bcd2308f7ae29e958bbb60eaa0",
        "9a31664d7cb3d2c9ceca000c91a3c21f6cfd82448f52ffbe8bc12ddfc31ce8d408cf74bb5dfa7678dc628888196fe24e0a48e12f4967a4cce831beccb5e87e0a",
    ),
    (
        "6749b9170204ea2fc5625eaaee13751056bbed3fd71b2865eb344dceb119dd5c",
        "1160f12ecf204d4c5999c4c2ee2b265568bee0e2fc8a9d64fcc3416917f786447c6adfaa887c21bd001a5c93e365c5560973ae62becdc0827dec175574f2090d",
    ),
    (
        "6749b9170204ea2fc5625eaaee13751056bbed3fd71b2865eb344dceb119dd5c",
        "fea15fc7d145e1b77b291d4762743715176faed43d0d95dd2b49c36880157bf571c7efe0fb11ab0e5b96e659216d687e70baea0773c3eea0ce0905c7ca5a5804",
    ),
    (
        "6749b9170204ea2fc5625eaaee13751056bbed3fd71b2865eb344dceb119dd5c",
        "9a31664d7cb3d2c9ceca000c91a3c21f6cfd82448f52ffbe8bc12ddfc31ce8d44d2968cf6b4f76efa83fdd8e3162ed0c5e1108348a49f35094799af4a3fa9b02",
    ),
    (
        "afe238bd7252f94c44c4e43c23a8623b1a6b425582dd07fd2d117d625f657167",
        "1160f12ecf204d4c5999c4c2ee2b265568bee0e2fc8a9d64fcc3416917f78644b95a61662d0553e64657ab6751e81667944c40d69a8ac63994179da668e0270e",
    ),
    (
        "afe238bd7252f94c44c4e43c23a8623b1a6b425582dd07fd2d117d625f657167",
        "fea15fc7d145e1b77b291d4762743715176faed43d0d95dd2b49c36880157bf525d645c43f0581ea434c28c7cd878795db1780aa1c4d44f74077e4ae29c88b0c",
    ),
    (
        "afe238bd7252f94c44c4e43c23a8623b1a6b425582dd07fd2d117d625f657167",
        "9a31664d7cb3d2c9ceca000c91a3c21f6cfd82448f52ffbe8bc12ddfc31ce8d4dbd4f100e49c23a4984a24e8a0c224bea770b8d4895efc939fa15c364fcc1c0b",
    ),
    (
        "25501abaaad9b14860826e0ac417f641c0b2d453a3474259811362bbd033e668",
        "1160f12ecf204d4c5999c4c2ee2b265568bee0e2fc8a9d64fcc3416917f786445c97ac98316b4d226af39b1005f07107401f755540c85e545c5c5626df3ede07",
    ),
    (
        "25501abaaad9b14860826e0ac417f641c0b2d453a3474259811362bbd033e668",
        "fea15fc7d145e1b77b291d4762743715176faed43d0d95dd2b49c36880157bf5d6a67e756eca75ab0e50e8cd0a218cb92b239851970afe12c3ff7bc6d9e4e400",
    ),
    (
        "25501abaaad9b14860826e0ac417f641c0b2d453a3474259811362bbd033e668",
        "9a31664d7cb3d2c9ceca000c91a3c21f6cfd82448f52ffbe8bc12ddfc31ce8d4f26900cf91e9a7d28fe022dcedce577a2d14ba1256547622a964f9fccd5efc0b",
    ),
];

fn hex<const N: usize>(s: &str) -> [u8; N] {
    let v: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect();
    v.try_into().expect("length")
}

/// Every small-order encoding as A and as R with `S = s` (little-endian), over [`MSG`].
fn small_order_grid(s: [u8; 32]) -> Vec<([u8; 32], [u8; 64])> {
    let mut out = Vec::new();
    for a in SMALL_ORDER {
        for r in SMALL_ORDER {
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&hex::<32>(r));
            sig[32..].copy_from_slice(&s);
            out.push((hex::<32>(a), sig));
        }
    }
    out
}

fn mixed() -> Vec<([u8; 32], [u8; 64])> {
    MIXED.iter().map(|(a, s)| (hex(a), hex(s))).collect()
}

fn items(v: &[([u8; 32], [u8; 64])]) -> Vec<BatchItem<'_>> {
    v.iter()
        .map(|(a, s)| BatchItem {
            public_key: a,
            msg: MSG,
            sig: s,
        })
        .collect()
}

fn honest(n: u8) -> ([u8; 32], [u8; 64]) {
    let k = SecretKey::from_seed(&[n; 32]);
    (k.public_key(), k.sign(MSG))
}

#[test]
fn small_order_and_mixed_order_vectors_pass_single_and_batch_equation() {
    let mut valid = small_order_grid([0; 32]);
    assert_eq!(valid.len(), 196);
    valid.extend(mixed());
    valid.extend((0..4).map(honest));
    for (a, s) in &valid {
        assert!(verify(a, MSG, s), "single: {a:02x?}");
    }
    let batch = items(&valid);
    for threads in [1, 2] {
        // The batch equation alone must accept every ZIP-215-valid signature.
        assert!(verify_all(&batch, threads), "threads={threads}");
    }
}

#[test]
fn one_invalid_vector_fails_the_batch_equation_wherever_it_sits() {
    // A few representatives (debug-build curve arithmetic is slow; the Python vectors cover
    // every combination through `verify_batch`).
    let filler: Vec<_> = (0..65).map(honest).collect();
    let mut s_one = [0u8; 32];
    s_one[0] = 1;
    // S = l, the non-canonical encoding of zero.
    let l: [u8; 32] = hex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
    let mut bad: Vec<_> = small_order_grid(s_one).into_iter().step_by(97).collect();
    bad.extend(small_order_grid(l).into_iter().step_by(97));
    let (a, mut s) = mixed()[7];
    s[32] ^= 1; // S +- 1
    bad.push((a, s));
    assert_eq!(bad.len(), 7);
    for (k, v) in bad.iter().enumerate() {
        assert!(!verify(&v.0, MSG, &v.1));
        let pos = [0, 33, 65][k % 3];
        let mut all = filler.clone();
        all.insert(pos, *v);
        let batch = items(&all);
        for threads in [1, 2] {
            assert!(
                !verify_all(&batch, threads),
                "vector {k} at {pos}, threads={threads}"
            );
        }
    }
    let batch = items(&filler);
    assert!(verify_all(&batch, 2));
    let mut with_bad = filler.clone();
    with_bad.insert(33, bad[0]);
    let verdicts = verify_batch(&items(&with_bad), 2);
    assert_eq!(verdicts.iter().filter(|ok| !**ok).count(), 1);
    assert!(!verdicts[33]);
}

/// ed25519-zebra's own verdict, the reference implementation of ZIP 215.
fn zebra(a: &[u8; 32], msg: &[u8], s: &[u8; 64]) -> bool {
    ed25519_zebra::VerificationKey::try_from(*a).is_ok_and(|vk| {
        vk.verify(&ed25519_zebra::ed25519::Signature::from_bytes(s), msg)
            .is_ok()
    })
}

#[test]
fn verdicts_match_zebra_with_the_key_cache_cold_off_and_warm() {
    let mut s_one = [0u8; 32];
    s_one[0] = 1;
    let l: [u8; 32] = hex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
    let mut cases = small_order_grid([0; 32]);
    cases.extend(small_order_grid(s_one).into_iter().step_by(5));
    cases.extend(small_order_grid(l).into_iter().step_by(5));
    cases.extend(mixed());
    cases.extend(mixed().into_iter().map(|(a, mut s)| {
        s[40] ^= 4;
        (a, s)
    }));
    let want: Vec<bool> = cases.iter().map(|(a, s)| zebra(a, MSG, s)).collect();
    assert!(want.iter().any(|w| *w) && want.iter().any(|w| !*w));
    // Off, then on and cold, then warm (the valid cases cached their keys, which the
    // invalid cases share).
    for capacity in [0, swarmmesh::crypto::keycache::DEFAULT_CAPACITY] {
        swarmmesh::crypto::reset_key_cache(capacity);
        for round in 0..2 {
            for ((a, s), w) in cases.iter().zip(&want) {
                assert_eq!(
                    verify(a, MSG, s),
                    *w,
                    "{a:02x?} capacity={capacity} round={round}"
                );
            }
            let valid: Vec<_> = cases
                .iter()
                .zip(&want)
                .filter(|(_, w)| **w)
                .map(|(c, _)| *c)
                .collect();
            assert!(verify_all(&items(&valid), 1));
            let verdicts = verify_batch(&items(&cases), 1);
            assert_eq!(verdicts, want, "batch, capacity={capacity} round={round}");
        }
    }
}
