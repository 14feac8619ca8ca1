//! The latency guard's workload, for instruction counting under callgrind
//! (`benches/latency-guard.sh` runs it; see `benches/README.md`).
//!
//! `callgrind OP N` builds its fixture, runs `WARM` untimed operations, then calls
//! `measure_OP` (never inlined), which performs `N` operations. The guard runs it under
//! `valgrind --tool=callgrind --collect-atstart=no --toggle-collect=*measure_OP*`, so only
//! `measure_OP` is counted, once with N and once with 2N; the difference divided by the
//! number of unit operations between the two is the instructions per operation, with
//! every fixed cost cancelled. The binary prints `units=U`: the unit operations its
//! measured call performed (for `tick`, one unit is one system ticked).
//!
//! Deterministic: fixed seeds, a fixed clock, the default policy, 1 000 systems.
//!
//! OP: `observe` (`Engine::observe`), `ffi_observe` (`airisk_observe` through the C ABI),
//! `classify` (`classify(&policy, &profile)` over the seed profiles), `tick`
//! (`Engine::tick` over 1 000 systems); and variants of `observe` that the guard compares
//! with it: `observe_no_incidents` (the default policy without its `incidents` section),
//! `observe_silenced` (100 silences set on other systems); and `observe_mean`,
//! `observe_ewma`, `observe_cusum`, `observe_psi`: a one-rule policy on one gauge (a mean
//! over 12 buckets; an EWMA; a CUSUM; a 10-bin PSI over 24 buckets), 1 000 systems;
//! `observe_many` (`Engine::observe_many` with 3 signals of one period: interactions,
//! hallucination_flagged and heartbeat; one unit is one call).

mod common;
use airisk::ffi::{AIRISK_OK, airisk_engine, airisk_observe};
use airisk::{Engine, Policy, Profile, SignalId, SystemHandle, classify};
use common::*;
use std::hint::black_box;

const T0: i64 = 1_764_374_400_000;
const SYSTEMS: usize = 1_000;
const STREAM: usize = 1 << 16;
const WARM: usize = 50_000;

type Obs = (SystemHandle, SignalId, f64);

#[inline(never)]
fn measure_observe(e: &Engine, evs: &[Obs], k: &mut usize, n: usize) {
    for _ in 0..n {
        let (h, s, v) = evs[*k & (STREAM - 1)];
        *k += 1;
        black_box(e.observe(h, s, v, T0 + *k as i64).unwrap());
    }
}

/// `measure_observe` under other names: the guard collects by function name (the
/// distinct `black_box` keeps the compiler from merging the identical bodies).
#[inline(never)]
fn measure_observe_no_incidents(e: &Engine, evs: &[Obs], k: &mut usize, n: usize) {
    black_box(1);
    measure_observe(e, evs, k, n)
}

#[inline(never)]
fn measure_observe_silenced(e: &Engine, evs: &[Obs], k: &mut usize, n: usize) {
    black_box(2);
    measure_observe(e, evs, k, n)
}

#[inline(never)]
fn measure_observe_mean(e: &Engine, evs: &[Obs], k: &mut usize, n: usize) {
    black_box(3);
    measure_observe(e, evs, k, n)
}

#[inline(never)]
fn measure_observe_ewma(e: &Engine, evs: &[Obs], k: &mut usize, n: usize) {
    black_box(4);
    measure_observe(e, evs, k, n)
}

#[inline(never)]
fn measure_observe_cusum(e: &Engine, evs: &[Obs], k: &mut usize, n: usize) {
    black_box(5);
    measure_observe(e, evs, k, n)
}

#[inline(never)]
fn measure_observe_psi(e: &Engine, evs: &[Obs], k: &mut usize, n: usize) {
    black_box(6);
    measure_observe(e, evs, k, n)
}

/// A one-rule policy on gauge `g` (buckets of 1 min) whose rule is `rule` (thresholds out
/// of reach, so nothing is emitted), and 1 000 systems observing `g` in random order.
fn one_rule(rule: serde_json::Value) -> (Engine, Vec<Obs>) {
    let mut r = rule;
    r["id"] = "r".into();
    r["signal"] = "g".into();
    r["thresholds"] =
        serde_json::json!({"low": [1e9, null, null, null], "high": [1e9, null, null, null]});
    let doc = serde_json::json!({
        "schema": 1, "categories": [{"id": "c"}],
        "grades": [{"id": "low"}, {"id": "high", "min_score": 1}],
        "classification": {"sectors": {"s": 0}, "data": {"d": 0}, "autonomy": {"a": 0}},
        "bucket_ms": 60000, "signals": [{"id": "g", "kind": "gauge", "category": "c"}],
        "rules": [r]
    });
    let e = Engine::new(Policy::from_value(doc).expect("valid"));
    let hs: Vec<SystemHandle> = (0..SYSTEMS)
        .map(|i| {
            e.register(
                Profile::from_json(&format!(
                    r#"{{"id": "s{i}", "sector": "s", "data": "d", "autonomy": "a", "users": 1}}"#
                ))
                .expect("profile"),
            )
            .expect("register")
        })
        .collect();
    let g = e.signal("g").expect("g");
    let mut x = XorShift(11);
    let evs = (0..STREAM)
        .map(|_| {
            let h = hs[(x.next_u64() % SYSTEMS as u64) as usize];
            (h, g, (x.next_u64() % 1000) as f64 / 1000.0)
        })
        .collect();
    (e, evs)
}

/// One system's period: three signals observed together.
type Batch = (SystemHandle, [(SignalId, f64); 3]);

#[inline(never)]
fn measure_observe_many(e: &Engine, bs: &[Batch], k: &mut usize, n: usize) {
    for _ in 0..n {
        let (h, vs) = &bs[*k & (STREAM - 1)];
        *k += 1;
        black_box(e.observe_many(*h, vs, T0 + *k as i64).unwrap());
    }
}

/// `n` periods of random systems: interactions (1), hallucination_flagged (0) and
/// heartbeat (1), quiet like [`stream`].
fn batches(e: &Engine, hs: &[SystemHandle], n: usize, seed: u64) -> Vec<Batch> {
    let s = |name: &str| e.signal(name).expect("signal");
    let (i, f, b) = (
        s("interactions"),
        s("hallucination_flagged"),
        s("heartbeat"),
    );
    let mut r = XorShift(seed | 1);
    (0..n)
        .map(|_| {
            let h = hs[(r.next_u64() % hs.len() as u64) as usize];
            (h, [(i, 1.0), (f, 0.0), (b, 1.0)])
        })
        .collect()
}

#[inline(never)]
fn measure_ffi_observe(e: *mut airisk_engine, evs: &[Obs], k: &mut usize, n: usize) {
    for _ in 0..n {
        let (h, s, v) = evs[*k & (STREAM - 1)];
        *k += 1;
        let mut level = 0;
        // SAFETY: `e` is a live engine; `level` is writable.
        let st = unsafe { airisk_observe(e, h.0, s.0, v, T0 + *k as i64, &mut level) };
        assert_eq!(st, AIRISK_OK);
        black_box(level);
    }
}

#[inline(never)]
fn measure_classify(p: &Policy, profiles: &[Profile], k: &mut usize, n: usize) {
    for _ in 0..n {
        *k += 1;
        black_box(classify(p, black_box(&profiles[*k % profiles.len()])).unwrap());
    }
}

#[inline(never)]
fn measure_tick(e: &Engine, now: &mut i64, n: usize) {
    for _ in 0..n {
        *now += 1_000;
        e.tick(black_box(*now));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (op, n) = match &args[..] {
        [op, n] => (op.as_str(), n.parse::<usize>().expect("N")),
        // `cargo bench` runs every bench target with `--bench`: nothing to do here.
        _ => {
            eprintln!("usage: callgrind observe|ffi_observe|classify|tick N");
            return;
        }
    };
    let mut k = 0usize;
    match op {
        "observe" => {
            let (e, hs) = engine_with(SYSTEMS);
            let evs = stream(&e, &hs, STREAM, 7);
            warm_observe(&e, &evs, &mut k);
            measure_observe(&e, &evs, &mut k, n);
            println!("units={n}");
        }
        "observe_no_incidents" | "observe_silenced" => {
            let mut doc: serde_json::Value =
                serde_json::from_str(airisk::DEFAULT_POLICY_JSON).expect("default policy");
            if op == "observe_no_incidents" {
                doc.as_object_mut().expect("object").remove("incidents");
            }
            let (e, hs) = engine_on(Policy::from_value(doc).expect("valid"), SYSTEMS);
            if op == "observe_silenced" {
                for i in 0..100 {
                    e.silence(airisk::Silence {
                        id: format!("maintenance-{i}"),
                        system: Some(format!("elsewhere-{i}")),
                        category: None,
                        rule: None,
                        starts: 0,
                        ends: i64::MAX,
                        reason: None,
                        by: None,
                    })
                    .expect("silence");
                }
            }
            let evs = stream(&e, &hs, STREAM, 7);
            warm_observe(&e, &evs, &mut k);
            if op == "observe_silenced" {
                measure_observe_silenced(&e, &evs, &mut k, n);
            } else {
                measure_observe_no_incidents(&e, &evs, &mut k, n);
            }
            println!("units={n}");
        }
        "observe_mean" | "observe_ewma" | "observe_cusum" | "observe_psi" => {
            let rule = match op {
                "observe_mean" => serde_json::json!({"aggregate": "mean", "window_ms": 720000}),
                "observe_ewma" => serde_json::json!({"aggregate": "ewma", "alpha": 0.1}),
                "observe_cusum" => serde_json::json!({"aggregate": "cusum", "target": 0.5,
                    "slack": 0.05, "side": "up"}),
                _ => serde_json::json!({"aggregate": "psi", "window_ms": 1440000,
                    "bins": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
                    "reference": [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]}),
            };
            let (e, evs) = one_rule(rule);
            warm_observe(&e, &evs, &mut k);
            match op {
                "observe_mean" => measure_observe_mean(&e, &evs, &mut k, n),
                "observe_ewma" => measure_observe_ewma(&e, &evs, &mut k, n),
                "observe_cusum" => measure_observe_cusum(&e, &evs, &mut k, n),
                _ => measure_observe_psi(&e, &evs, &mut k, n),
            }
            println!("units={n}");
        }
        "observe_many" => {
            let (e, hs) = engine_with(SYSTEMS);
            let bs = batches(&e, &hs, STREAM, 7);
            for _ in 0..WARM {
                let (h, vs) = &bs[k & (STREAM - 1)];
                k += 1;
                black_box(e.observe_many(*h, vs, T0 + k as i64).unwrap());
            }
            measure_observe_many(&e, &bs, &mut k, n);
            println!("units={n}");
        }
        "ffi_observe" => {
            let (e, hs) = engine_with(SYSTEMS);
            let evs = stream(&e, &hs, STREAM, 7);
            drop(e);
            let fe = ffi_engine_with(SYSTEMS);
            for _ in 0..WARM {
                let (h, s, v) = evs[k & (STREAM - 1)];
                k += 1;
                let mut level = 0;
                // SAFETY: `fe` is a live engine; `level` is writable.
                unsafe { airisk_observe(fe, h.0, s.0, v, T0 + k as i64, &mut level) };
            }
            measure_ffi_observe(fe, &evs, &mut k, n);
            // SAFETY: `fe` is live and no longer used.
            unsafe { airisk::ffi::airisk_engine_free(fe) };
            println!("units={n}");
        }
        "classify" => {
            let p = Policy::default_policy();
            let profiles = seed_profiles();
            for _ in 0..WARM / 10 {
                k += 1;
                black_box(classify(&p, &profiles[k % profiles.len()]).unwrap());
            }
            measure_classify(&p, &profiles, &mut k, n);
            println!("units={n}");
        }
        "tick" => {
            let (e, hs) = engine_with(SYSTEMS);
            let evs = stream(&e, &hs, STREAM, 7);
            warm_observe(&e, &evs, &mut k);
            let mut now = T0 + k as i64;
            for _ in 0..5 {
                now += 1_000;
                e.tick(now);
            }
            measure_tick(&e, &mut now, n);
            println!("units={}", n * SYSTEMS);
        }
        _ => panic!("unknown op {op}"),
    }
}

/// The untimed warm-up: `WARM` observations, so every system has a watermark and windows.
fn warm_observe(e: &Engine, evs: &[Obs], k: &mut usize) {
    for _ in 0..WARM {
        let (h, s, v) = evs[*k & (STREAM - 1)];
        *k += 1;
        black_box(e.observe(h, s, v, T0 + *k as i64).unwrap());
    }
}
