//! Criterion benchmarks of the chain value types (pure Rust, no Python): the
//! Merkle root of a full block's ids, header hashing (one full hash, and one
//! mining attempt from the midstate), transaction and block decoding.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use swarmmesh::chain::block::HEADER_VERSION;
use swarmmesh::chain::pow::{mine, target_with_leading_zeros};
use swarmmesh::chain::{
    Block, BlockHeader, Hash32, Transaction, TxBody, merkle_root, merkle_root_with_threads,
};
use swarmmesh::crypto::{SecretKey, sha256};

fn ids(n: usize) -> Vec<Hash32> {
    (0..n as u64).map(|i| sha256(&i.to_le_bytes())).collect()
}

fn header() -> BlockHeader {
    BlockHeader {
        version: HEADER_VERSION,
        chain_id: "swarm-devnet".into(),
        height: 1,
        prev_id: [1; 32],
        merkle_root: [2; 32],
        timestamp_ms: 1_700_000_000_000,
        target: target_with_leading_zeros(12),
        nonce: 0,
        producer: [3; 32],
    }
}

fn transfer(i: u64) -> Transaction {
    let key = SecretKey::from_seed(&[(i % 251) as u8; 32]);
    Transaction::sign(
        &key,
        "swarm-devnet",
        i,
        1,
        TxBody::Transfer {
            to: [9; 32],
            amount: 10,
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("chain");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));

    let leaves = ids(10_000);
    g.throughput(Throughput::Elements(leaves.len() as u64));
    g.bench_function("merkle_root_10000", |b| {
        b.iter(|| black_box(merkle_root(black_box(&leaves))));
    });
    g.bench_function("merkle_root_10000_2_threads", |b| {
        b.iter(|| black_box(merkle_root_with_threads(black_box(&leaves), 2)));
    });

    g.throughput(Throughput::Elements(1));
    let h = header();
    g.bench_function("header_id", |b| b.iter(|| black_box(black_box(&h).id())));
    let bytes = h.to_bytes();
    g.bench_function("header_decode", |b| {
        b.iter(|| black_box(BlockHeader::decode(black_box(&bytes))));
    });
    // One mining attempt costs the final SHA-256 block from the midstate.
    let hard = BlockHeader {
        target: [0; 32],
        ..header()
    };
    g.throughput(Throughput::Elements(4096));
    g.bench_function("mine_4096_nonces", |b| {
        b.iter(|| black_box(mine(black_box(&hard), 0, 4096)));
    });

    g.throughput(Throughput::Elements(1));
    let tx = transfer(1).to_bytes();
    g.bench_function("tx_decode_transfer", |b| {
        b.iter(|| black_box(Transaction::decode(black_box(&tx))));
    });

    let block = Block {
        header: header(),
        txs: (0..1000).map(transfer).collect(),
    };
    let raw = block.to_bytes();
    g.throughput(Throughput::Elements(1000));
    g.bench_function("block_decode_with_ids_1000tx", |b| {
        b.iter(|| black_box(Block::decode_with_ids(black_box(&raw))));
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
