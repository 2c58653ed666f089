//! Criterion benchmarks of the routing core: `rank`, `observe`, `plan`, `rank_many`.
//!
//! Short sample sizes so the whole file runs in well under a minute.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use swarmmesh::routing::{Ranked, Router, RouterConfig};

const T3: [&str; 3] = ["integrated", "gun", "peerjs"];

fn populated(peers: usize) -> (Router, Vec<String>) {
    let cfg = RouterConfig {
        max_peers: peers.max(1),
        ..RouterConfig::default()
    };
    let mut r = Router::new(cfg).expect("valid config");
    let names: Vec<String> = (0..peers).map(|i| format!("peer-{i:08}")).collect();
    for (i, p) in names.iter().enumerate() {
        for (k, t) in T3.iter().enumerate() {
            let ok = (i + k) % 7 != 0;
            r.observe(p, t, ok, ok.then_some(20.0 + (i % 50) as f64), i as u64)
                .expect("observe");
        }
    }
    (r, names)
}

fn benches(c: &mut Criterion) {
    let (mut router, names) = populated(10_000);
    let mut out: Vec<Ranked> = Vec::with_capacity(3);
    c.bench_function("rank_into/3 transports", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) % names.len();
            router.rank_into(black_box(&names[i]), &T3, 20_000, |_| true, &mut out);
            black_box(&out);
        });
    });
    c.bench_function("score", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) % names.len();
            black_box(router.score(black_box(&names[i]), "gun", 20_000))
        });
    });
    c.bench_function("plan/3 transports", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) % names.len();
            black_box(
                router
                    .plan(black_box(&names[i]), &T3, 20_000, 2, |_| true)
                    .expect("plan"),
            )
        });
    });
    c.bench_function("observe/existing pair", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) % names.len();
            router
                .observe(
                    black_box(&names[i]),
                    "gun",
                    true,
                    Some(25.0),
                    20_000 + i as u64,
                )
                .expect("observe");
        });
    });
    let mut order = vec![0i32; names.len() * 3];
    let mut scores = vec![0.0f64; names.len() * 3];
    c.bench_function("rank_many/10k peers x 3", |b| {
        b.iter(|| {
            router
                .rank_many_into(&names, &T3, 20_000, |_, _| true, &mut order, &mut scores)
                .expect("rank_many");
            black_box(&order);
        });
    });
    let fresh: Vec<String> = (0..100_000).map(|i| format!("new-{i:08}")).collect();
    c.bench_function("observe/new peer with eviction", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) % fresh.len();
            router
                .observe(black_box(&fresh[i]), "gun", true, Some(25.0), 30_000)
                .expect("observe");
        });
    });
}

criterion_group! {
    name = routing;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(routing);
