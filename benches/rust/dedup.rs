//! Criterion benchmarks of the Bloom and dedup filters (pure Rust, no Python).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use swarmmesh::bloom::{BloomFilter, IdHash};
use swarmmesh::dedup::DedupFilter;

fn ids(n: usize) -> Vec<[u8; 16]> {
    (0..n as u64)
        .map(|i| {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&swarmmesh::rng::mix64(i).to_le_bytes());
            b[8..].copy_from_slice(&swarmmesh::rng::mix64(!i).to_le_bytes());
            b
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let n = 1_000_000;
    let items = ids(n);
    let mut g = c.benchmark_group("dedup");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));

    g.throughput(Throughput::Elements(1));
    g.bench_function("hash_16B", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) % n;
            black_box(IdHash::of(&items[i], 7))
        });
    });

    g.throughput(Throughput::Elements(n as u64));
    for p in [1e-3, 1e-6] {
        g.bench_function(format!("check_and_insert_1M_fp{p:e}"), |b| {
            b.iter_batched_ref(
                || DedupFilter::new(n as u64, p, 60_000, 2, 7).unwrap_or_else(|e| panic!("{e}")),
                |f| {
                    for x in &items {
                        black_box(f.check_and_insert(x, 1));
                    }
                },
                BatchSize::LargeInput,
            );
        });
        g.bench_function(format!("bloom_add_1M_fp{p:e}"), |b| {
            b.iter_batched_ref(
                || BloomFilter::new(n as u64, p, 7).unwrap_or_else(|e| panic!("{e}")),
                |f| {
                    for x in &items {
                        black_box(f.add(x));
                    }
                },
                BatchSize::LargeInput,
            );
        });
    }
    // The batch path (what `check_and_insert_many` runs after hashing): on a
    // fresh filter, and in steady state, where the previous generation is full
    // and every new id is also looked up there.
    let n_hashed = n as u64;
    let hashes: Vec<IdHash> = items.iter().map(|x| IdHash::of(x, 7)).collect();
    let later: Vec<IdHash> = items.iter().map(|x| IdHash::of(x, 8)).collect();
    let fresh = || DedupFilter::new(n_hashed, 1e-6, 60_000, 2, 7).unwrap_or_else(|e| panic!("{e}"));
    g.bench_function("check_and_insert_many_1M_fp1e-6", |b| {
        b.iter_batched_ref(
            || (fresh(), vec![false; n]),
            |(f, out)| f.check_and_insert_many_hashed(&hashes, 1, out),
            BatchSize::LargeInput,
        );
    });
    g.bench_function("check_and_insert_many_1M_fp1e-6_steady", |b| {
        b.iter_batched_ref(
            || {
                let mut f = fresh();
                let mut out = vec![false; n];
                // Fill one generation (the last id rotates it out of the way),
                // then insert new ids after one span.
                f.check_and_insert_many_hashed(&hashes, 1, &mut out);
                (f, out)
            },
            |(f, out)| f.check_and_insert_many_hashed(&later, 60_001, out),
            BatchSize::LargeInput,
        );
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
