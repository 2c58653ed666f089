//! Criterion benchmarks of the envelope codec: encode, decode, batch signature
//! verification of 256 broadcasts (beside 256 single verifications), and
//! split + reassembly of a 1 MiB frame.
//!
//! Short sample sizes so the whole file runs in well under a minute.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use swarmmesh::chunk::{Reassembler, ReassemblerConfig, split};
use swarmmesh::crypto::SecretKey;
use swarmmesh::envelope::{Envelope, Kind, decode, verify_envelopes};

fn broadcast(key: &SecretKey, i: u32, payload_len: usize) -> Envelope {
    let mut message_id = [0u8; 16];
    message_id[..4].copy_from_slice(&i.to_le_bytes());
    Envelope {
        kind: Kind::Broadcast,
        message_id,
        origin: key.public_key(),
        target: None,
        ttl: 8,
        hops: 0,
        timestamp_ms: 1_700_000_000_000 + u64::from(i),
        topic: "mesh/bench".to_owned(),
        payload: vec![(i % 251) as u8; payload_len],
        signature: None,
    }
    .signed(key)
    .expect("the key is the origin's")
}

fn benches(c: &mut Criterion) {
    let key = SecretKey::from_seed(&[7; 32]);
    let env = broadcast(&key, 1, 100);
    let frame = env.to_bytes().expect("encodable");

    let mut g = c.benchmark_group("envelope");
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode/100-byte broadcast", |b| {
        b.iter(|| black_box(black_box(&env).to_bytes().expect("encodable")));
    });
    g.bench_function("decode/100-byte broadcast", |b| {
        b.iter(|| black_box(decode(black_box(&frame)).expect("decodable")));
    });
    g.bench_function("verify/one broadcast", |b| {
        b.iter(|| black_box(black_box(&env).verify()));
    });
    g.finish();

    let keys: Vec<SecretKey> = (0..16u8).map(|i| SecretKey::from_seed(&[i; 32])).collect();
    let envs: Vec<Envelope> = (0..256u32)
        .map(|i| broadcast(&keys[i as usize % keys.len()], i, 100))
        .collect();
    let mut g = c.benchmark_group("envelope verify 256");
    g.throughput(Throughput::Elements(256));
    g.bench_function("verify_envelopes/1 thread", |b| {
        b.iter(|| black_box(verify_envelopes(black_box(&envs), 1)));
    });
    g.bench_function("verify_envelopes/2 threads", |b| {
        b.iter(|| black_box(verify_envelopes(black_box(&envs), 2)));
    });
    g.bench_function("verify one by one", |b| {
        b.iter(|| black_box(envs.iter().filter(|e| e.verify()).count()));
    });
    g.finish();

    let big = vec![0x5a; 1 << 20];
    let mut g = c.benchmark_group("chunk 1 MiB");
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("split/16 KiB frames", |b| {
        b.iter(|| black_box(split(black_box(&big), 16 << 10, [1; 16]).expect("splittable")));
    });
    let chunks = split(&big, 16 << 10, [1; 16]).expect("splittable");
    g.bench_function("reassemble/16 KiB frames", |b| {
        b.iter_batched(
            || Reassembler::new(ReassemblerConfig::default()).expect("valid config"),
            |mut r| {
                let mut out = None;
                for c in &chunks {
                    out = r.push("peer", c, 0).expect("valid chunk");
                }
                black_box(out)
            },
            BatchSize::SmallInput,
        );
    });
    g.finish();
}

criterion_group! {
    name = envelope;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(envelope);
