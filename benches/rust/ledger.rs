//! Criterion benchmarks of block validation (pure Rust, no Python): a
//! 1 000-transaction block decoded, validated and connected, with the batch
//! signature verification on 1 and 2 threads, beside the batch verification
//! alone (the floor).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use swarmmesh::chain::block::HEADER_VERSION;
use swarmmesh::chain::params::ChainParams;
use swarmmesh::chain::state::Ledger;
use swarmmesh::chain::{Block, BlockHeader, Transaction, TxBody, merkle_root, mine};
use swarmmesh::crypto::{BatchItem, SecretKey, keycache, reset_key_cache, verify_batch};

const TXS: usize = 1_000;
const CHAIN: &str = "bench-chain";

fn key(i: u64) -> SecretKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&i.to_le_bytes());
    seed[8] = 0xb5;
    SecretKey::from_seed(&seed)
}

/// A genesis ledger, its header and a mined 1 000-transfer block on top.
fn fixture() -> (ChainParams, Ledger, BlockHeader, Block) {
    let params = ChainParams::devnet(CHAIN).unwrap_or_else(|e| panic!("{e}"));
    let senders: Vec<SecretKey> = (0..TXS as u64).map(key).collect();
    let alloc: Vec<_> = senders.iter().map(|k| (k.public_key(), 1_000)).collect();
    let ledger = Ledger::genesis(&params, &alloc).unwrap_or_else(|e| panic!("{e}"));
    let parent = BlockHeader {
        version: HEADER_VERSION,
        chain_id: CHAIN.into(),
        height: 0,
        prev_id: [0; 32],
        merkle_root: merkle_root(&[]),
        timestamp_ms: 1_000,
        target: params.target,
        nonce: 0,
        producer: [0; 32],
    };
    let producer = key(u64::MAX);
    let mut txs = vec![
        Transaction::reward(&producer, CHAIN, 1, params.block_subsidy + TXS as u64)
            .unwrap_or_else(|e| panic!("{e}")),
    ];
    for (i, k) in senders.iter().enumerate() {
        let to = senders[(i + 1) % TXS].public_key();
        txs.push(
            Transaction::sign(k, CHAIN, 0, 1, TxBody::Transfer { to, amount: 10 })
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    let ids: Vec<_> = txs.iter().map(Transaction::id).collect();
    let header = BlockHeader {
        height: 1,
        prev_id: parent.id(),
        merkle_root: merkle_root(&ids),
        timestamp_ms: 2_000,
        producer: producer.public_key(),
        ..parent.clone()
    };
    let header = mine(&header, 0, u64::MAX).unwrap_or_else(|| panic!("no nonce"));
    (params, ledger, parent, Block { header, txs })
}

fn bench(c: &mut Criterion) {
    let (params, ledger, parent, block) = fixture();
    let bytes = block.to_bytes();
    let mut g = c.benchmark_group("ledger");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(TXS as u64));
    let signing: Vec<Vec<u8>> = block.txs.iter().map(Transaction::signing_bytes).collect();
    let items: Vec<BatchItem<'_>> = block
        .txs
        .iter()
        .zip(&signing)
        .map(|(t, m)| BatchItem {
            public_key: &t.sender,
            msg: m,
            sig: &t.signature,
        })
        .collect();
    for threads in [1, 2] {
        // The floor: the batch verification alone, as validation runs it.
        g.bench_function(format!("verify_batch_1000_{threads}thread"), |b| {
            b.iter(|| black_box(verify_batch(&items, threads)));
        });
        // The same with every key new to the node: the decompressed-key cache
        // emptied before each run (the rows above see the keys again).
        g.bench_function(
            format!("verify_batch_1000_cold_keys_{threads}thread"),
            |b| {
                b.iter_batched(
                    || reset_key_cache(keycache::DEFAULT_CAPACITY),
                    |()| black_box(verify_batch(&items, threads)),
                    BatchSize::SmallInput,
                );
            },
        );
        g.bench_function(format!("connect_1000tx_{threads}thread"), |b| {
            b.iter_batched_ref(
                || ledger.clone(),
                |l| {
                    let undo = l
                        .connect(&params, &block, &parent, 0, 10_000, threads)
                        .unwrap_or_else(|r| panic!("{r}"));
                    black_box(undo)
                },
                BatchSize::LargeInput,
            );
        });
        g.bench_function(format!("decode_connect_1000tx_{threads}thread"), |b| {
            b.iter_batched_ref(
                || ledger.clone(),
                |l| {
                    let decoded = Block::decode(&bytes).unwrap_or_else(|e| panic!("{e}"));
                    let undo = l
                        .connect(&params, &decoded, &parent, 0, 10_000, threads)
                        .unwrap_or_else(|r| panic!("{r}"));
                    black_box(undo)
                },
                BatchSize::LargeInput,
            );
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
