//! Scale: `observe` with 1 000, 100 000 and 1 000 000 registered systems observed in random
//! order, each beside its physical floor at the same size ([`Floor`]: one random access
//! into a per-system block of airisk's state size and one add; `floor_` independent
//! accesses, whose misses overlap, and `floor_dependent_` accesses that each wait for the
//! previous one: the latency of one random access), and `tick` (throughput = systems, so
//! the report reads per system). Shows how the cost grows once the state
//! outgrows the caches. Prints, per size, the registration time and the heap bytes per
//! system (counting allocator).
//!
//! 1 000 000 systems need about `state_bytes_per_system()` × 10⁶ bytes of memory under the
//! default policy (the floor's blocks are freed before the engine is built, so the two
//! never coexist). Set `AIRISK_BENCH_MAX_SYSTEMS` (e.g. 100000) to skip the larger sizes on
//! a small machine.

mod common;
use common::*;
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::{Duration, Instant};

#[global_allocator]
static A: Counting = Counting;

const T0: i64 = 1_764_374_400_000;
const STREAM: usize = 1 << 20;

fn scale(c: &mut Criterion) {
    let max: usize = std::env::var("AIRISK_BENCH_MAX_SYSTEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let mut g = c.benchmark_group("scale");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for (n, name) in [(1_000, "1k"), (100_000, "100k"), (1_000_000, "1m")] {
        if n > max {
            eprintln!("scale: skipping {n} systems (AIRISK_BENCH_MAX_SYSTEMS={max})");
            continue;
        }
        let state_bytes =
            airisk::Engine::new(airisk::Policy::default_policy()).state_bytes_per_system();
        g.throughput(Throughput::Elements(1));
        {
            // The floor first, freed before the engine is built: both never coexist.
            let mut floor = Floor::new(n, state_bytes);
            let mut r = XorShift(7);
            let evs: Vec<_> = (0..STREAM)
                .map(|_| {
                    let h = airisk::SystemHandle((r.next_u64() % n as u64) as u32);
                    (h, airisk::SignalId((r.next_u64() % 6) as u32), 1.0)
                })
                .collect();
            let mut k = 0usize;
            g.bench_function(format!("floor_{name}_systems"), |b| {
                b.iter(|| {
                    let (h, s, v) = evs[k & (STREAM - 1)];
                    k += 1;
                    black_box(floor.hit(h, s, v))
                })
            });
            let zero = black_box(0u64);
            let mut prev = 0.0;
            g.bench_function(format!("floor_dependent_{name}_systems"), |b| {
                b.iter(|| {
                    let (h, s, v) = evs[k & (STREAM - 1)];
                    k += 1;
                    prev = floor.hit_dependent(h, s, v, prev, zero);
                    prev
                })
            });
        }
        let before = live_bytes();
        let t = Instant::now();
        let (e, hs) = engine_with(n);
        let took = t.elapsed();
        let per_system = (live_bytes() - before) as f64 / n as f64;
        eprintln!(
            "memory: systems={n} bytes_per_system={per_system:.0} \
             state_bytes_per_system={state_bytes} register_s={:.2}",
            took.as_secs_f64()
        );
        let evs = stream(&e, &hs, STREAM, 7);
        let mut k: usize = 0;
        g.bench_function(format!("observe_{name}_systems"), |b| {
            b.iter(|| {
                let (h, s, v) = evs[k & (STREAM - 1)];
                k += 1;
                black_box(e.observe(h, s, v, T0 + k as i64).unwrap())
            })
        });
        let mut now = T0 + STREAM as i64;
        g.throughput(Throughput::Elements(n as u64));
        if n >= 100_000 {
            // One tick takes long at this size: a fixed number of ticks per sample.
            g.sampling_mode(SamplingMode::Flat);
        }
        g.bench_function(format!("tick_{name}_systems"), |b| {
            b.iter(|| {
                now += 1_000;
                e.tick(black_box(now))
            })
        });
        g.sampling_mode(SamplingMode::Auto);
        drop(evs);
        drop(e);
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = scale
}
criterion_main!(benches);
