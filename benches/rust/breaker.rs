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
    for key in keys {
        r.record_success(key, 0, None)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    r
}

fn bench(crit: &mut Criterion) {
    let keys = keys();
    let mut group = crit.benchmark_group("breaker");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));

    let mut one = registry_with(&keys[..1]);
    let key = keys[0].as_str();
    let mut now = 0u64;
    group.throughput(Throughput::Elements(1));
    group.bench_function("allow+record_success", |bencher| {
        bencher.iter(|| {
            now += 1;
            if one.allow(black_box(key), now) {
                one.record_success(key, now, None)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        });
    });
    group.bench_function("would_allow", |bencher| {
        bencher.iter(|| one.would_allow(black_box(key), now));
    });

    let full = registry_with(&keys);
    let mut rng = SplitMix64::new(7);
    let picks: Vec<usize> = (0..4096)
        .map(|_| (rng.next_u64() % PEERS as u64) as usize)
        .collect();
    let mut dispatch = full.clone();
    let mut pick = 0usize;
    group.bench_function("dispatch_100k_random", |bencher| {
        bencher.iter(|| {
            pick = (pick + 1) & 4095;
            let peer = keys[picks[pick]].as_str();
            if dispatch.allow(peer, 1) {
                dispatch
                    .record_success(peer, 1, None)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        });
    });

    group.throughput(Throughput::Elements(PEERS as u64));
    group.sample_size(10);
    group.bench_function("create_100k", |bencher| {
        bencher.iter(|| registry_with(black_box(&keys)));
    });

    let mut with_open = full.clone();
    for k in keys.iter().step_by(100) {
        with_open
            .force_open(k, Some(0))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    group.bench_function("due_for_recovery_100k", |bencher| {
        bencher.iter_batched(
            || with_open.clone(),
            |mut r| r.due_for_recovery(10_000),
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
