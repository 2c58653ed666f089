//! Criterion benchmarks of the breaker registry core (no Python).
//!
//! `cargo bench --bench breaker` (about 20 s): one guarded call on an existing
//! key, the side-effect-free peek, creating 100 000 breakers, random dispatch over
//! 100 000 peers, and the recovery scan.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use swarmmesh::breaker::{BreakerConfig, BreakerMode, BreakerRegistry};
use swarmmesh::rng::SplitMix64;

const PEERS: usize = 100_000;

fn keys() -> Vec<String> {
    (0..PEERS).map(|i| format!("peer-{i:08}|gun")).collect()
}

fn registry_with(keys: &[String]) -> BreakerRegistry {
    let mut r = BreakerRegistry::new(BreakerConfig::default(), 1, BreakerMode::Enabled)
        .unwrap_or_else(|e| panic!("{e}"));
    for k in keys {
        r.record_success(k, 0, None)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    r
}

fn bench(c: &mut Criterion) {
    let keys = keys();
    let mut g = c.benchmark_group("breaker");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));

    let mut one = registry_with(&keys[..1]);
    let key = keys[0].as_str();
    let mut t = 0u64;
    g.throughput(Throughput::Elements(1));
    g.bench_function("allow+record_success", |b| {
        b.iter(|| {
            t += 1;
            if one.allow(black_box(key), t) {
                one.record_success(key, t, None)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        });
    });
    g.bench_function("would_allow", |b| {
        b.iter(|| one.would_allow(black_box(key), t))
    });

    let full = registry_with(&keys);
    let mut rng = SplitMix64::new(7);
    let picks: Vec<usize> = (0..4096)
        .map(|_| (rng.next_u64() % PEERS as u64) as usize)
        .collect();
    let mut dispatch = full.clone();
    let mut i = 0usize;
    g.bench_function("dispatch_100k_random", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            let k = keys[picks[i]].as_str();
            if dispatch.allow(k, 1) {
                dispatch
                    .record_success(k, 1, None)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        });
    });

    g.throughput(Throughput::Elements(PEERS as u64));
    g.sample_size(10);
    g.bench_function("create_100k", |b| {
        b.iter(|| registry_with(black_box(&keys)))
    });

    let mut with_open = full.clone();
    for k in keys.iter().step_by(100) {
        with_open
            .force_open(k, Some(0))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    g.bench_function("due_for_recovery_100k", |b| {
        b.iter_batched(
            || with_open.clone(),
            |mut r| r.due_for_recovery(10_000),
            BatchSize::LargeInput,
        );
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
