//! The engine's hot path under the default policy: `observe` on 10 000 systems in random
//! order, `tick` over 10 000 systems, 1- vs 2-thread throughput on disjoint systems, and
//! memory per registered system (counting allocator; printed).

mod common;
use common::*;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Instant;

#[global_allocator]
static A: Counting = Counting;

const T0: i64 = 1_764_374_400_000;

fn observe(c: &mut Criterion) {
    let before = live_bytes();
    let (e, hs) = engine_with(10_000);
    let per_system = (live_bytes() - before) as f64 / 10_000.0;
    eprintln!(
        "memory per registered system (default policy, 10 000 systems): {per_system:.0} bytes"
    );
    let evs = stream(&e, &hs, 1 << 20, 7);
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(1));
    let mut k: usize = 0;
    // Time advances 1 ms per observation: steady state, no stale events.
    g.bench_function("observe_10k_systems", |b| {
        b.iter(|| {
            let (h, s, v) = evs[k & ((1 << 20) - 1)];
            k += 1;
            black_box(e.observe(h, s, v, T0 + k as i64).unwrap())
        })
    });
    let (e2, hs2) = engine_with(100);
    let evs2 = stream(&e2, &hs2, 1 << 20, 7);
    let mut k2: usize = 0;
    g.bench_function("observe_100_systems", |b| {
        b.iter(|| {
            let (h, s, v) = evs2[k2 & ((1 << 20) - 1)];
            k2 += 1;
            black_box(e2.observe(h, s, v, T0 + k2 as i64).unwrap())
        })
    });
    let mut now = T0 + k as i64;
    g.throughput(Throughput::Elements(hs.len() as u64));
    g.bench_function("tick_10k_systems", |b| {
        b.iter(|| {
            now += 1_000;
            e.tick(black_box(now))
        })
    });
    g.finish();
}

fn threads(c: &mut Criterion) {
    let (e, hs) = engine_with(10_000);
    // Disjoint: thread t observes only systems with handle % 2 == t (different shards).
    let parts: Vec<Vec<_>> = (0..2)
        .map(|t| {
            let mine: Vec<_> = hs
                .iter()
                .copied()
                .filter(|h| h.0 as usize % 2 == t)
                .collect();
            stream(&e, &mine, 1 << 18, 11 + t as u64)
        })
        .collect();
    let mut g = c.benchmark_group("threads");
    for n in [1usize, 2] {
        g.throughput(Throughput::Elements(n as u64));
        let mut clock = T0;
        g.bench_function(format!("observe_disjoint_{n}_threads"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                let base = clock;
                std::thread::scope(|s| {
                    for p in parts.iter().take(n) {
                        let e = &e;
                        s.spawn(move || {
                            for i in 0..iters as usize {
                                let (h, sg, v) = p[i & ((1 << 18) - 1)];
                                let _ = black_box(e.observe(h, sg, v, base + i as i64));
                            }
                        });
                    }
                });
                clock = base + iters as i64;
                start.elapsed()
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = observe, threads
}
criterion_main!(benches);
