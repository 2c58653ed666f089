//! Tests of block and transaction validation: every reason code, atomicity,
//! reward arithmetic and connect/disconnect round trips (proptest).

use proptest::prelude::*;

use super::*;
use crate::chain::pow::mine;
use crate::chain::{PublicKey, merkle_root};
use crate::crypto::SecretKey;

pub(crate) const CHAIN: &str = "test-chain";

pub(crate) fn params() -> ChainParams {
    let mut p = ChainParams::devnet(CHAIN).unwrap();
    // Half of all ids meet this target: mining takes a couple of hashes.
    p.target = [0xff; 32];
    p.target[0] = 0x7f;
    p
}

pub(crate) fn key(i: u8) -> SecretKey {
    SecretKey::from_seed(&[i; 32])
}

pub(crate) fn genesis_header(p: &ChainParams) -> BlockHeader {
    BlockHeader {
        version: HEADER_VERSION,
        chain_id: p.chain_id.clone(),
        height: 0,
        prev_id: [0; 32],
        merkle_root: merkle_root(&[]),
        timestamp_ms: 1_000_000,
        target: p.target,
        nonce: 0,
        producer: [0; 32],
    }
}

pub(crate) fn tx(k: &SecretKey, nonce: u64, fee: u64, body: TxBody) -> Transaction {
    Transaction::sign(k, CHAIN, nonce, fee, body).unwrap()
}

/// A mined block on `parent` paying the exact reward for `ledger`.
pub(crate) fn block(
    p: &ChainParams,
    ledger: &Ledger,
    parent: &BlockHeader,
    producer: &SecretKey,
    txs: Vec<Transaction>,
) -> Block {
    let fees = txs.iter().map(|t| t.fee).sum();
    let amount = ledger.reward_amount(p, fees).unwrap();
    let height = parent.height + 1;
    let mut all = vec![Transaction::reward(producer, CHAIN, height, amount).unwrap()];
    all.extend(txs);
    seal(p, parent, producer, all)
}

/// Header, Merkle root and proof of work over exactly `txs`.
pub(crate) fn seal(
    p: &ChainParams,
    parent: &BlockHeader,
    producer: &SecretKey,
    txs: Vec<Transaction>,
) -> Block {
    let ids: Vec<Hash32> = txs.iter().map(Transaction::id).collect();
    let header = BlockHeader {
        version: HEADER_VERSION,
        chain_id: p.chain_id.clone(),
        height: parent.height + 1,
        prev_id: parent.id(),
        merkle_root: merkle_root(&ids),
        timestamp_ms: parent.timestamp_ms + 1_000,
        target: p.target,
        nonce: 0,
        producer: producer.public_key(),
    };
    Block {
        header: remine(&header),
        txs,
    }
}

pub(crate) fn remine(h: &BlockHeader) -> BlockHeader {
    mine(h, 0, 10_000).unwrap()
}

struct Fx {
    p: ChainParams,
    ledger: Ledger,
    parent: BlockHeader,
}

const NOW: u64 = 10_000_000;

impl Fx {
    fn new() -> Self {
        let p = params();
        let ledger = Ledger::genesis(
            &p,
            &[(key(1).public_key(), 1_000), (key(2).public_key(), 10)],
        )
        .unwrap();
        let parent = genesis_header(&p);
        Self { p, ledger, parent }
    }

    fn block(&self, txs: Vec<Transaction>) -> Block {
        block(&self.p, &self.ledger, &self.parent, &key(9), txs)
    }

    fn connect(&mut self, b: &Block) -> Result<Undo, BlockReason> {
        let before = self.ledger.clone();
        let mtp = self.parent.timestamp_ms;
        let r = self
            .ledger
            .connect(&self.p, b, &self.parent, mtp - 1, NOW, 2);
        match &r {
            Ok(_) => self.parent = b.header.clone(),
            Err(_) => assert_eq!(self.ledger, before, "a failed connect changed the ledger"),
        }
        r
    }

    /// Connects a block of `txs` and expects `BadTx { index, reason }`.
    fn expect_tx(&mut self, txs: Vec<Transaction>, index: usize, reason: TxReason) {
        let b = self.block(txs);
        assert_eq!(self.connect(&b), Err(BlockReason::BadTx { index, reason }));
    }

    fn expect_ok(&mut self, txs: Vec<Transaction>) -> Undo {
        let b = self.block(txs);
        self.connect(&b).unwrap()
    }
}

fn pk(i: u8) -> PublicKey {
    key(i).public_key()
}

#[test]
fn a_valid_block_pays_the_producer_and_moves_coins() {
    let mut fx = Fx::new();
    let before = fx.ledger.clone();
    let undo = fx.expect_ok(vec![tx(
        &key(1),
        0,
        3,
        TxBody::Transfer {
            to: pk(3),
            amount: 100,
        },
    )]);
    assert_eq!(fx.ledger.balance(&pk(1)), 1_000 - 103);
    assert_eq!(fx.ledger.nonce(&pk(1)), 1);
    assert_eq!(fx.ledger.balance(&pk(3)), 100);
    assert_eq!(fx.ledger.balance(&pk(9)), 50 + 3);
    assert_eq!(fx.ledger.total_coins(), 1_010 + 50);
    fx.ledger.disconnect(&undo).unwrap();
    assert_eq!(fx.ledger, before);
}

#[test]
fn donations_fill_the_pool_and_the_payout_leaves_it() {
    let mut fx = Fx::new();
    fx.expect_ok(vec![
        tx(&key(1), 0, 1, TxBody::Donate { amount: 250 }),
        tx(&key(1), 1, 1, TxBody::Donate { amount: 49 }),
        tx(&key(2), 0, 1, TxBody::Donate { amount: 1 }),
    ]);
    assert_eq!(fx.ledger.pool_balance(), 300);
    assert_eq!(fx.ledger.contributed(&pk(1)), 299);
    assert_eq!(fx.ledger.contributors(), {
        let mut v = vec![(pk(1), 299), (pk(2), 1)];
        v.sort_unstable();
        v
    });
    // Next block: the payout is floor(300 / 100) = 3 out of the pool.
    fx.expect_ok(vec![]);
    assert_eq!(fx.ledger.pool_balance(), 297);
    assert_eq!(fx.ledger.balance(&pk(9)), (50 + 3) + (50 + 3));
    // And floor(297 / 100) = 2 next.
    assert_eq!(fx.ledger.reward_amount(&fx.p, 0), Some(52));
}

#[test]
fn tokens_are_created_moved_and_distributed_with_supply_conserved() {
    let mut fx = Fx::new();
    let id = token_id(&pk(1), "ALICE");
    fx.expect_ok(vec![
        tx(
            &key(1),
            0,
            1,
            TxBody::CreateToken {
                symbol: "ALICE".into(),
                supply: 1_000,
            },
        ),
        tx(
            &key(1),
            1,
            1,
            TxBody::TransferToken {
                token_id: id,
                to: pk(2),
                amount: 100,
            },
        ),
        tx(
            &key(1),
            2,
            1,
            TxBody::DistributeToken {
                token_id: id,
                recipients: vec![(pk(3), 5), (pk(4), 7), (pk(3), 1)],
            },
        ),
        tx(
            &key(2),
            0,
            1,
            TxBody::TransferToken {
                token_id: id,
                to: pk(2),
                amount: 100,
            },
        ),
    ]);
    let t = fx.ledger.token(&id).unwrap();
    assert_eq!(
        (t.owner, t.symbol.as_str(), t.supply),
        (pk(1), "ALICE", 1_000)
    );
    let holders = [pk(1), pk(2), pk(3), pk(4)];
    let bal: Vec<u64> = holders
        .iter()
        .map(|h| fx.ledger.token_balance(&id, h))
        .collect();
    assert_eq!(bal, [1_000 - 100 - 13, 100, 6, 7]);
    assert_eq!(bal.iter().sum::<u64>(), 1_000);
}

#[test]
#[allow(clippy::too_many_lines)]
fn every_tx_reason_in_a_block() {
    let mut fx = Fx::new();
    let id = token_id(&pk(1), "TOK");
    fx.expect_ok(vec![tx(
        &key(1),
        0,
        1,
        TxBody::CreateToken {
            symbol: "TOK".into(),
            supply: 50,
        },
    )]);
    let t = |to: u8, amount: u64| TxBody::Transfer { to: pk(to), amount };

    let mut other_chain = tx(&key(1), 1, 1, t(3, 1));
    other_chain.chain_id = "other".into();
    other_chain.signature = key(1).sign(&other_chain.signing_bytes());
    fx.expect_tx(vec![other_chain], 1, TxReason::BadChainId);
    fx.expect_tx(vec![tx(&key(1), 1, 0, t(3, 1))], 1, TxReason::FeeTooLow);
    fx.expect_tx(vec![tx(&key(1), 0, 1, t(3, 1))], 1, TxReason::BadNonce); // reuse
    fx.expect_tx(vec![tx(&key(1), 2, 1, t(3, 1))], 1, TxReason::BadNonce); // gap
    // Two in a row must be consecutive.
    fx.expect_tx(
        vec![tx(&key(1), 1, 1, t(3, 1)), tx(&key(1), 3, 1, t(3, 1))],
        2,
        TxReason::BadNonce,
    );
    fx.expect_tx(
        vec![tx(&key(2), 0, 1, t(3, 10))],
        1,
        TxReason::InsufficientFunds,
    );
    fx.expect_tx(
        vec![tx(&key(3), 0, 1, t(2, 1))],
        1,
        TxReason::InsufficientFunds,
    ); // unknown account
    fx.expect_tx(vec![tx(&key(1), 1, 1, t(3, 0))], 1, TxReason::ZeroAmount);
    fx.expect_tx(
        vec![tx(&key(1), 1, 1, TxBody::Donate { amount: 0 })],
        1,
        TxReason::ZeroAmount,
    );
    fx.expect_tx(
        vec![tx(
            &key(1),
            1,
            1,
            TxBody::CreateToken {
                symbol: "Z".into(),
                supply: 0,
            },
        )],
        1,
        TxReason::ZeroAmount,
    );
    fx.expect_tx(
        vec![tx(
            &key(1),
            1,
            1,
            TxBody::DistributeToken {
                token_id: id,
                recipients: vec![],
            },
        )],
        1,
        TxReason::ZeroAmount,
    );
    fx.expect_tx(
        vec![tx(&key(1), 1, 1, t(3, u64::MAX))],
        1,
        TxReason::AmountOverflow,
    );
    fx.expect_tx(
        vec![tx(
            &key(1),
            1,
            1,
            TxBody::DistributeToken {
                token_id: id,
                recipients: vec![(pk(3), u64::MAX), (pk(4), 1)],
            },
        )],
        1,
        TxReason::AmountOverflow,
    );
    fx.expect_tx(
        vec![tx(
            &key(1),
            1,
            1,
            TxBody::TransferToken {
                token_id: [5; 32],
                to: pk(3),
                amount: 1,
            },
        )],
        1,
        TxReason::UnknownToken,
    );
    fx.expect_tx(
        vec![tx(
            &key(1),
            1,
            1,
            TxBody::DistributeToken {
                token_id: [5; 32],
                recipients: vec![(pk(3), 1)],
            },
        )],
        1,
        TxReason::UnknownToken,
    );
    fx.expect_tx(
        vec![tx(
            &key(1),
            1,
            1,
            TxBody::CreateToken {
                symbol: "TOK".into(),
                supply: 5,
            },
        )],
        1,
        TxReason::TokenExists,
    );
    for bad in ["tok", "TO-K", "AB!"] {
        fx.expect_tx(
            vec![tx(
                &key(1),
                1,
                1,
                TxBody::CreateToken {
                    symbol: bad.into(),
                    supply: 5,
                },
            )],
            1,
            TxReason::BadTokenSymbol,
        );
    }
    fx.expect_tx(
        vec![tx(
            &key(1),
            1,
            1,
            TxBody::TransferToken {
                token_id: id,
                to: pk(3),
                amount: 51,
            },
        )],
        1,
        TxReason::TokenInsufficient,
    );
    fx.expect_tx(
        vec![tx(
            &key(1),
            1,
            1,
            TxBody::DistributeToken {
                token_id: id,
                recipients: vec![(pk(3), 30), (pk(4), 21)],
            },
        )],
        1,
        TxReason::TokenInsufficient,
    );
    fx.expect_tx(
        vec![tx(
            &key(2),
            0,
            1,
            TxBody::DistributeToken {
                token_id: id,
                recipients: vec![(pk(3), 1)],
            },
        )],
        1,
        TxReason::NotTokenOwner,
    );
    let many = vec![(pk(3), 1); MAX_RECIPIENTS + 1];
    fx.expect_tx(
        vec![tx(
            &key(1),
            1,
            1,
            TxBody::DistributeToken {
                token_id: id,
                recipients: many,
            },
        )],
        1,
        TxReason::TooManyRecipients,
    );
    let mut forged = tx(&key(1), 1, 1, t(3, 1));
    forged.signature[10] ^= 1;
    fx.expect_tx(vec![forged.clone()], 1, TxReason::BadSignature);
    // A signature by another key over the same bytes.
    forged.signature = key(2).sign(&forged.signing_bytes());
    fx.expect_tx(vec![forged], 1, TxReason::BadSignature);
    // The first failing transaction is reported, not a later one.
    fx.expect_tx(
        vec![
            tx(&key(1), 1, 1, t(3, 1)),
            tx(&key(1), 2, 0, t(3, 1)),
            tx(&key(2), 5, 1, t(3, 1)),
        ],
        2,
        TxReason::FeeTooLow,
    );
    // After all those rejections the chain still extends.
    fx.expect_ok(vec![tx(&key(1), 1, 1, t(3, 1))]);
}

#[test]
fn sequence_reasons_malformed_and_duplicate() {
    let fx = Fx::new();
    let good = tx(&key(1), 0, 1, TxBody::Donate { amount: 5 });
    let next = tx(&key(1), 1, 1, TxBody::Donate { amount: 5 });
    let reward = Transaction::reward(&key(1), CHAIN, 1, 50).unwrap();
    let mut forged = tx(&key(1), 1, 1, TxBody::Donate { amount: 5 });
    forged.signature[0] ^= 1;
    let before = fx.ledger.clone();
    let v = fx.ledger.apply_sequence(
        &fx.p,
        &[good.clone(), good, reward, forged, next.clone(), next],
        1,
    );
    assert_eq!(
        v,
        [
            Ok(()),
            Err(TxReason::Duplicate),
            Err(TxReason::Malformed),
            Err(TxReason::BadSignature),
            Ok(()),
            Err(TxReason::Duplicate),
        ]
    );
    assert_eq!(fx.ledger, before);
}

#[test]
fn sequence_with_known_signatures_verifies_only_the_others() {
    let fx = Fx::new();
    let good = tx(&key(1), 0, 1, TxBody::Donate { amount: 5 });
    let mut forged = tx(&key(1), 1, 1, TxBody::Donate { amount: 5 });
    forged.signature[0] ^= 1;
    let txs = [good, forged];
    // Nothing known: the forged signature is found and reported.
    let (v, sig) = fx
        .ledger
        .apply_sequence_known(&fx.p, &txs, 1, &[false, false]);
    assert_eq!(v, [Ok(()), Err(TxReason::BadSignature)]);
    assert_eq!(sig, [true, false]);
    // Marked known, it is not checked again: the caller vouches for it (the
    // bindings do so only for signatures they verified themselves).
    let (v, sig) = fx
        .ledger
        .apply_sequence_known(&fx.p, &txs, 1, &[true, true]);
    assert_eq!(v, [Ok(()), Ok(())]);
    assert_eq!(sig, [true, true]);
    // A short mask counts as unknown for the rest.
    let (v, _) = fx.ledger.apply_sequence_known(&fx.p, &txs, 1, &[true]);
    assert_eq!(v, [Ok(()), Err(TxReason::BadSignature)]);
}

#[test]
fn chains_are_judged_apart_and_equal_sequences_judged_one_by_one() {
    let fx = Fx::new();
    let a0 = tx(&key(1), 0, 1, TxBody::Donate { amount: 5 });
    let a1 = tx(&key(1), 1, 1, TxBody::Donate { amount: 5 });
    let mut forged = tx(&key(2), 0, 1, TxBody::Donate { amount: 5 });
    forged.signature[3] ^= 1;
    // key(1)'s nonce 0 in two chains: each chain sees the tip state, not the other.
    let chains = vec![
        vec![a0.clone(), a1.clone()],
        vec![forged.clone()],
        vec![a0.clone()],
        vec![],
    ];
    let known = vec![vec![false, true], vec![false], vec![true], vec![]];
    let (v, sig) = fx.ledger.apply_chains(&fx.p, &chains, 1, &known);
    assert_eq!(v.len(), 4);
    for (c, chain) in chains.iter().enumerate() {
        let (alone, _) = fx.ledger.apply_sequence_known(&fx.p, chain, 1, &known[c]);
        assert_eq!(v[c], alone, "chain {c}");
    }
    assert_eq!(v[1], [Err(TxReason::BadSignature)]);
    assert_eq!(sig, [vec![true, true], vec![false], vec![true], vec![]]);
}

#[test]
fn sequence_skips_failures_and_later_txs_see_earlier_ones() {
    let fx = Fx::new();
    let v = fx.ledger.apply_sequence(
        &fx.p,
        &[
            tx(
                &key(2),
                0,
                1,
                TxBody::Transfer {
                    to: pk(3),
                    amount: 20,
                },
            ), // insufficient
            tx(
                &key(1),
                0,
                1,
                TxBody::Transfer {
                    to: pk(2),
                    amount: 20,
                },
            ),
            tx(
                &key(2),
                0,
                1,
                TxBody::Transfer {
                    to: pk(3),
                    amount: 20,
                },
            ), // now funded
            tx(
                &key(1),
                2,
                1,
                TxBody::Transfer {
                    to: pk(2),
                    amount: 1,
                },
            ), // gap
        ],
        2,
    );
    assert_eq!(
        v,
        [
            Err(TxReason::InsufficientFunds),
            Ok(()),
            Ok(()),
            Err(TxReason::BadNonce)
        ]
    );
}

/// Connects `b` on a fresh fixture and returns the reason.
fn reject(fx: &mut Fx, b: &Block) -> BlockReason {
    fx.connect(b).unwrap_err()
}

#[test]
#[allow(clippy::too_many_lines)]
fn every_block_reason() {
    let mut fx = Fx::new();
    fx.expect_ok(vec![]);
    let p = fx.p.clone();
    let parent = fx.parent.clone();
    let good = fx.block(vec![tx(&key(1), 0, 1, TxBody::Donate { amount: 5 })]);

    let with_header = |f: &dyn Fn(&mut BlockHeader)| {
        let mut b = good.clone();
        f(&mut b.header);
        b.header = remine(&b.header);
        b
    };
    assert_eq!(
        reject(&mut fx, &with_header(&|h| h.version = 2)),
        BlockReason::BadVersion
    );
    assert_eq!(
        reject(&mut fx, &with_header(&|h| h.chain_id = "other".into())),
        BlockReason::BadChainId
    );
    // An easier target than the chain's, though met.
    assert_eq!(
        reject(&mut fx, &with_header(&|h| h.target = [0xff; 32])),
        BlockReason::BadPow
    );
    // The right target, not met.
    let mut unmined = good.clone();
    while unmined.header.meets_target() {
        unmined.header.nonce += 1;
    }
    assert_eq!(reject(&mut fx, &unmined), BlockReason::BadPow);
    assert_eq!(
        reject(&mut fx, &with_header(&|h| h.prev_id = [3; 32])),
        BlockReason::BadPrev
    );
    assert_eq!(
        reject(&mut fx, &with_header(&|h| h.height = 3)),
        BlockReason::BadHeight
    );
    let mtp = parent.timestamp_ms - 1;
    assert_eq!(
        reject(&mut fx, &with_header(&|h| h.timestamp_ms = mtp)),
        BlockReason::TimeTooOld
    );
    let future = NOW + p.max_future_ms;
    // Exactly at the limit is fine as far as time goes.
    let at_limit = with_header(&|h| h.timestamp_ms = future);
    assert!(check_header(&p, &at_limit.header, &parent, mtp, NOW).is_ok());
    assert_eq!(
        reject(&mut fx, &with_header(&|h| h.timestamp_ms = future + 1)),
        BlockReason::TimeTooNew
    );
    assert_eq!(
        reject(&mut fx, &with_header(&|h| h.merkle_root = [0; 32])),
        BlockReason::BadMerkle
    );

    // Duplicate transaction with a Merkle root over the duplicated list.
    let donate = tx(&key(1), 0, 1, TxBody::Donate { amount: 5 });
    let dup = {
        let mut txs = good.txs.clone();
        txs.push(donate.clone());
        seal(&p, &parent, &key(9), txs)
    };
    assert_eq!(reject(&mut fx, &dup), BlockReason::DuplicateTx);

    // Reward: missing, wrong amount (both ways), wrong height, wrong producer,
    // a fee, not first, a second one.
    let amount = fx.ledger.reward_amount(&p, 1).unwrap();
    let reward = |k: &SecretKey, h: u64, a: u64| Transaction::reward(k, CHAIN, h, a).unwrap();
    let h = parent.height + 1;
    let cases = vec![
        vec![],
        vec![donate.clone()],
        vec![reward(&key(9), h, amount + 1), donate.clone()],
        vec![reward(&key(9), h, amount - 1), donate.clone()],
        vec![reward(&key(9), h + 1, amount), donate.clone()],
        vec![donate.clone(), reward(&key(9), h, amount)],
        vec![
            reward(&key(9), h, amount),
            donate.clone(),
            reward(&key(9), h, 0),
        ],
    ];
    for txs in cases {
        assert_eq!(
            reject(&mut fx, &seal(&p, &parent, &key(9), txs)),
            BlockReason::BadReward
        );
    }
    // Signed by the producer's key but the header names another producer.
    let mut other = seal(
        &p,
        &parent,
        &key(9),
        vec![reward(&key(9), h, amount), donate.clone()],
    );
    other.header.producer = pk(8);
    other.header = remine(&other.header);
    assert_eq!(reject(&mut fx, &other), BlockReason::BadReward);
    let mut fee = Transaction::sign(&key(9), CHAIN, h, 1, TxBody::Reward { amount }).unwrap();
    fee.signature = key(9).sign(&fee.signing_bytes());
    assert_eq!(
        reject(
            &mut fx,
            &seal(&p, &parent, &key(9), vec![fee, donate.clone()])
        ),
        BlockReason::BadReward
    );
    // A forged reward signature is a bad-tx at index 0.
    let mut forged = reward(&key(9), h, amount);
    forged.signature[1] ^= 1;
    assert_eq!(
        reject(
            &mut fx,
            &seal(&p, &parent, &key(9), vec![forged, donate.clone()])
        ),
        BlockReason::BadTx {
            index: 0,
            reason: TxReason::BadSignature
        }
    );

    // Oversize: too many transactions, too many bytes.
    fx.p.max_block_txs = 1;
    assert_eq!(reject(&mut fx, &good), BlockReason::Oversize);
    fx.p.max_block_txs = p.max_block_txs;
    fx.p.max_block_bytes = good.to_bytes().len() - 1;
    assert_eq!(reject(&mut fx, &good), BlockReason::Oversize);
    fx.p.max_block_bytes = good.to_bytes().len();
    // The size computation matches the codec exactly.
    fx.connect(&good).unwrap();
}

#[test]
fn block_reasons_come_in_the_documented_order() {
    let fx = Fx::new();
    // Bad version and bad prev: version is checked first.
    let mut b = fx.block(vec![]);
    b.header.version = 7;
    b.header.prev_id = [1; 32];
    b.header = remine(&b.header);
    assert_eq!(
        check_header(&fx.p, &b.header, &fx.parent, 0, NOW),
        Err(BlockReason::BadVersion)
    );
    // Bad Merkle root and a bad signature: the Merkle root first.
    let mut b = fx.block(vec![tx(&key(1), 0, 1, TxBody::Donate { amount: 1 })]);
    b.txs[1].signature[0] ^= 1;
    let mut l = fx.ledger.clone();
    assert_eq!(
        l.connect(&fx.p, &b, &fx.parent, 0, NOW, 1),
        Err(BlockReason::BadMerkle)
    );
}

#[test]
fn large_block_verifies_on_several_threads() {
    let mut fx = Fx::new();
    let senders: Vec<SecretKey> = (20..60).map(key).collect();
    let alloc: Vec<(PublicKey, u64)> = senders.iter().map(|k| (k.public_key(), 1_000)).collect();
    fx.ledger = Ledger::genesis(&fx.p, &alloc).unwrap();
    let txs: Vec<Transaction> = (0..300)
        .map(|i| {
            let k = &senders[i % senders.len()];
            tx(
                k,
                (i / senders.len()) as u64,
                1,
                TxBody::Transfer {
                    to: pk(3),
                    amount: 2,
                },
            )
        })
        .collect();
    let b = fx.block(txs.clone());
    for threads in [1, 2, 4] {
        let mut l = fx.ledger.clone();
        l.connect(&fx.p, &b, &fx.parent, 0, NOW, threads).unwrap();
        assert_eq!(l.balance(&pk(3)), 600);
    }
    let mut bad = txs;
    bad[217].signature[5] ^= 1;
    let b = fx.block(bad);
    assert_eq!(
        fx.connect(&b),
        Err(BlockReason::BadTx {
            index: 218,
            reason: TxReason::BadSignature
        })
    );
}

#[test]
fn reward_overflow_is_a_bad_tx_and_fee_sum_overflow_is_caught() {
    let mut fx = Fx::new();
    fx.ledger = Ledger::genesis(&fx.p, &[(pk(9), u64::MAX - 10)]).unwrap();
    fx.expect_tx(vec![], 0, TxReason::AmountOverflow);
    let mut fx = Fx::new();
    let huge = vec![
        tx(&key(1), 0, u64::MAX, TxBody::Donate { amount: 1 }),
        tx(&key(2), 0, 2, TxBody::Donate { amount: 1 }),
    ];
    let reward = Transaction::reward(&key(9), CHAIN, 1, 0).unwrap();
    let mut all = vec![reward];
    all.extend(huge);
    let b = seal(&fx.p, &fx.parent.clone(), &key(9), all);
    assert_eq!(
        fx.connect(&b),
        Err(BlockReason::BadTx {
            index: 2,
            reason: TxReason::AmountOverflow
        })
    );
}

/// One random operation of the proptest model.
#[derive(Debug, Clone)]
enum Op {
    Transfer(usize, usize, u64),
    Donate(usize, u64),
    Create(usize, u8),
    MoveToken(usize, usize, u64),
    Distribute(usize, Vec<(usize, u64)>),
}

fn op() -> impl Strategy<Value = Op> {
    let who = 0usize..4;
    prop_oneof![
        (who.clone(), who.clone(), 1u64..300).prop_map(|(a, b, n)| Op::Transfer(a, b, n)),
        (who.clone(), 1u64..300).prop_map(|(a, n)| Op::Donate(a, n)),
        (who.clone(), 0u8..3).prop_map(|(a, s)| Op::Create(a, s)),
        (who.clone(), who.clone(), 1u64..50).prop_map(|(a, b, n)| Op::MoveToken(a, b, n)),
        (
            who.clone(),
            proptest::collection::vec((who, 1u64..20), 1..4)
        )
            .prop_map(|(a, r)| Op::Distribute(a, r)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Random blocks of random transactions (valid or not, filtered through
    /// apply_sequence like a block template): every block connects, undo
    /// restores each intermediate state exactly, coins are conserved.
    #[test]
    fn connect_disconnect_round_trips(blocks in proptest::collection::vec(proptest::collection::vec(op(), 0..8), 1..5)) {
        let p = params();
        let keys: Vec<SecretKey> = (30..34).map(key).collect();
        let alloc: Vec<(PublicKey, u64)> = keys.iter().map(|k| (k.public_key(), 2_000)).collect();
        let mut ledger = Ledger::genesis(&p, &alloc).unwrap();
        let mut parent = genesis_header(&p);
        let mut history = vec![(ledger.clone(), ledger.state_hash(), ledger.entries())];
        let mut undos = Vec::new();
        let symbols = ["A", "BB", "C3"];
        for ops in blocks {
            let mut nonces: Vec<u64> = keys.iter().map(|k| ledger.nonce(&k.public_key())).collect();
            let candidates: Vec<Transaction> = ops.iter().map(|o| {
                let (from, body) = match o {
                    Op::Transfer(a, b, n) => (*a, TxBody::Transfer { to: keys[*b].public_key(), amount: *n }),
                    Op::Donate(a, n) => (*a, TxBody::Donate { amount: *n }),
                    Op::Create(a, s) => (*a, TxBody::CreateToken { symbol: symbols[*s as usize].into(), supply: 100 }),
                    Op::MoveToken(a, b, n) => (*a, TxBody::TransferToken {
                        token_id: token_id(&keys[*a].public_key(), "A"), to: keys[*b].public_key(), amount: *n }),
                    Op::Distribute(a, r) => (*a, TxBody::DistributeToken {
                        token_id: token_id(&keys[*a].public_key(), "BB"),
                        recipients: r.iter().map(|(w, n)| (keys[*w].public_key(), *n)).collect() }),
                };
                let t = tx(&keys[from], nonces[from], 1 + (nonces[from] % 3), body);
                nonces[from] += 1;
                t
            }).collect();
            // Keep only what applies in sequence, re-signing with fixed-up
            // nonces is not needed: apply_sequence drops failures, and a
            // later tx of the same sender then has a gap and drops too.
            let verdicts = ledger.apply_sequence(&p, &candidates, 1);
            let chosen: Vec<Transaction> = candidates.into_iter().zip(&verdicts)
                .filter(|(_, v)| v.is_ok()).map(|(t, _)| t).collect();
            let b = block(&p, &ledger, &parent, &keys[0], chosen);
            let before_coins = ledger.total_coins();
            let undo = ledger.connect(&p, &b, &parent, 0, NOW, 1).unwrap();
            prop_assert_eq!(ledger.total_coins(), before_coins + u128::from(p.block_subsidy));
            prop_assert_eq!(Undo::decode(&undo.to_bytes()).unwrap(), undo.clone());
            undos.push(undo);
            parent = b.header.clone();
            history.push((ledger.clone(), ledger.state_hash(), ledger.entries()));
        }
        // Reloading from entries gives the same state.
        prop_assert_eq!(&Ledger::from_entries(&ledger.entries()).unwrap(), &ledger);
        history.pop();
        while let Some(undo) = undos.pop() {
            ledger.disconnect(&undo).unwrap();
            let (l, h, e) = history.pop().unwrap();
            prop_assert_eq!(ledger.state_hash(), h);
            prop_assert_eq!(ledger.entries(), e);
            prop_assert_eq!(&ledger, &l);
        }
    }
}

#[test]
fn a_reward_for_another_chain_is_a_bad_tx_at_index_zero() {
    let mut fx = Fx::new();
    let amount = fx.ledger.reward_amount(&fx.p, 0).unwrap();
    let mut reward = Transaction::reward(&key(9), CHAIN, 1, amount).unwrap();
    reward.chain_id = "other".into();
    reward.signature = key(9).sign(&reward.signing_bytes());
    let b = seal(&fx.p, &fx.parent.clone(), &key(9), vec![reward]);
    assert_eq!(
        fx.connect(&b),
        Err(BlockReason::BadTx {
            index: 0,
            reason: TxReason::BadChainId
        })
    );
}

#[test]
fn prepare_connect_writes_nothing_until_applied() {
    let fx = Fx::new();
    let b = fx.block(vec![tx(&key(1), 0, 1, TxBody::Donate { amount: 7 })]);
    let mut l = fx.ledger.clone();
    let (delta, undo) = l.prepare_connect(&fx.p, &b, &fx.parent, 0, NOW, 1).unwrap();
    assert_eq!(l, fx.ledger);
    l.apply(delta);
    assert_eq!(l.pool_balance(), 7);
    let mut direct = fx.ledger.clone();
    assert_eq!(
        direct.connect(&fx.p, &b, &fx.parent, 0, NOW, 1).unwrap(),
        undo
    );
    assert_eq!(direct, l);
}
