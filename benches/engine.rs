//! The engine's hot path under the default policy, each next to its floor or peer:
//!
//! - group `engine`: `observe` on 10 000 and on 100 systems in random order, beside the
//!   physical floor (one random access into a per-system block of airisk's state size and
//!   one add, [`Floor`]; `floor_dependent_`: each access waiting for the previous one, the
//!   latency of one random access) and beside the same call through the C ABI (`airisk_observe` on
//!   an engine from `airisk_engine_new_default` holding the same systems); `tick` over
//!   10 000 systems (throughput = systems).
//! - group `threads`: observations per second with 1 and 2 threads, on disjoint systems
//!   (thread t observes the systems with handle % 2 == t: different shards) and on one
//!   shared hot system (every thread observes system 0).
//!
//! Memory per registered system (counting allocator) is printed. Scale (1 000 to 1 000 000
//! systems) is in `benches/scale.rs`.

mod common;
use airisk::ffi::{AIRISK_OK, airisk_engine_free, airisk_observe};
use common::*;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Instant;

#[global_allocator]
static A: Counting = Counting;

const T0: i64 = 1_764_374_400_000;
const STREAM: usize = 1 << 20;

fn observe(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(1));
    for (n, name) in [(10_000, "10k"), (100, "100")] {
        let before = live_bytes();
        let (e, hs) = engine_with(n);
        let per_system = (live_bytes() - before) as f64 / n as f64;
        eprintln!(
            "memory: systems={n} bytes_per_system={per_system:.0} state_bytes_per_system={}",
            e.state_bytes_per_system()
        );
        let evs = stream(&e, &hs, STREAM, 7);
        // Time advances 1 ms per observation: steady state, no stale events.
        let mut k: usize = 0;
        g.bench_function(format!("observe_{name}_systems"), |b| {
            b.iter(|| {
                let (h, s, v) = evs[k & (STREAM - 1)];
                k += 1;
                black_box(e.observe(h, s, v, T0 + k as i64).unwrap())
            })
        });
        let mut floor = Floor::new(n, e.state_bytes_per_system());
        let mut kf: usize = 0;
        g.bench_function(format!("floor_{name}_systems"), |b| {
            b.iter(|| {
                let (h, s, v) = evs[kf & (STREAM - 1)];
                kf += 1;
                black_box(floor.hit(h, s, v))
            })
        });
        let zero = black_box(0u64);
        let mut prev = 0.0;
        g.bench_function(format!("floor_dependent_{name}_systems"), |b| {
            b.iter(|| {
                let (h, s, v) = evs[kf & (STREAM - 1)];
                kf += 1;
                prev = floor.hit_dependent(h, s, v, prev, zero);
                prev
            })
        });
        drop(floor);
        let fe = ffi_engine_with(n);
        let mut kc: usize = 0;
        g.bench_function(format!("ffi_observe_{name}_systems"), |b| {
            b.iter(|| {
                let (h, s, v) = evs[kc & (STREAM - 1)];
                kc += 1;
                let mut level = 0;
                // SAFETY: `fe` is a live engine; `level` is writable.
                let st = unsafe { airisk_observe(fe, h.0, s.0, v, T0 + kc as i64, &mut level) };
                debug_assert_eq!(st, AIRISK_OK);
                black_box((st, level))
            })
        });
        // SAFETY: `fe` is live and no longer used.
        unsafe { airisk_engine_free(fe) };
        if n == 10_000 {
            let mut now = T0 + k as i64;
            g.throughput(Throughput::Elements(hs.len() as u64));
            g.bench_function("tick_10k_systems", |b| {
                b.iter(|| {
                    now += 1_000;
                    e.tick(black_box(now))
                })
            });
            g.throughput(Throughput::Elements(1));
        }
    }
    g.finish();
}

/// Runs `parts[..n]` on `n` threads, `iters` observations each; returns the wall time.
fn run_threads(
    e: &airisk::Engine,
    parts: &[Vec<(airisk::SystemHandle, airisk::SignalId, f64)>],
    n: usize,
    iters: u64,
    clock: &mut i64,
) -> std::time::Duration {
    let len = parts[0].len();
    let start = Instant::now();
    let base = *clock;
    std::thread::scope(|s| {
        for p in parts.iter().take(n) {
            s.spawn(move || {
                for i in 0..iters as usize {
                    let (h, sg, v) = p[i & (len - 1)];
                    let _ = black_box(e.observe(h, sg, v, base + i as i64));
                }
            });
        }
    });
    *clock = base + iters as i64;
    start.elapsed()
}

fn threads(c: &mut Criterion) {
    let (e, hs) = engine_with(10_000);
    // Disjoint: thread t observes only systems with handle % 2 == t (different shards).
    let disjoint: Vec<Vec<_>> = (0..2)
        .map(|t| {
            let mine: Vec<_> = hs
                .iter()
                .copied()
                .filter(|h| h.0 as usize % 2 == t)
                .collect();
            stream(&e, &mine, 1 << 18, 11 + t as u64)
        })
        .collect();
    // Shared: every thread observes system 0 (one shard lock, one state).
    let shared: Vec<Vec<_>> = (0..2)
        .map(|t| stream(&e, &hs[..1], 1 << 18, 21 + t as u64))
        .collect();
    let mut g = c.benchmark_group("threads");
    let mut clock = T0;
    for (kind, parts) in [("disjoint", &disjoint), ("shared", &shared)] {
        for n in [1usize, 2] {
            g.throughput(Throughput::Elements(n as u64));
            g.bench_function(format!("observe_{kind}_{n}_threads"), |b| {
                b.iter_custom(|iters| run_threads(&e, parts, n, iters, &mut clock))
            });
        }
    }
    // Disjoint again with an audit journal open (fsync every 1 024 records): transitions
    // are sequenced under the shard lock and written after it is released, so the
    // threads should still scale.
    let dir = std::env::temp_dir().join(format!("airisk-bench-journal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("journal.jsonl");
    e.open_journal(&path, airisk::journal::Durability::EveryN(1024))
        .unwrap();
    let before = e.stats();
    for n in [1usize, 2] {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("observe_disjoint_journal_{n}_threads"), |b| {
            b.iter_custom(|iters| run_threads(&e, &disjoint, n, iters, &mut clock))
        });
    }
    let after = e.stats();
    eprintln!(
        "threads: with the journal open, {} transitions per {} observations were journaled",
        after.transitions - before.transitions,
        after.observed - before.observed
    );
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
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
