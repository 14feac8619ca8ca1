//! airisk against regorus on identical inputs (checked to give identical answers by
//! `tests/agree.rs`).
//!
//! - `peer_classify`: classification of an already parsed profile, the 12 seed profiles in
//!   turn. airisk: `classify(&policy, &profile)` (with its full explanation: every factor
//!   and floor with its basis). regorus: input prepared as a `Value` outside the loop;
//!   timed = `set_input` (an `Rc` clone) + evaluation, with the interpreter (`eval_rule`)
//!   and with the Rego VM (`execute`).
//! - `peer_level`: the level decision of rule `hallucination-rate` for 5 grades × 16 values
//!   (80 inputs in turn, from below blue to above red). airisk: `Engine::observe` on the
//!   probe engine of [`LevelProbe`] — one system per input, each always fed its own value,
//!   so after warm-up no level changes and no transition is emitted; each call still adds
//!   to the window, aggregates, runs the state machine and decides the level.
//!   `airisk_observe`: time advances 1 ms per call (steady state: a new bucket once in
//!   60 000 calls); `airisk_observe_new_bucket`: every call opens a new bucket (the window
//!   rolls over each time: the worst case). regorus: as above, on the Rego rule
//!   `data.airisk.level.level`.

use airisk::{Policy, classify};
use airisk_peer_bench::*;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn classification(c: &mut Criterion) {
    let policy = Policy::default_policy();
    let profiles: Vec<_> = seed_profiles().into_iter().map(|(_, p)| p).collect();
    let inputs: Vec<_> = profiles.iter().map(profile_input).collect();
    let n = profiles.len();
    let mut rego = Rego::classify();
    let mut g = c.benchmark_group("peer_classify");
    let mut i = 0;
    g.bench_function("airisk", |b| {
        b.iter(|| {
            i += 1;
            black_box(classify(&policy, black_box(&profiles[i % n])).unwrap())
        })
    });
    g.bench_function("regorus_interpreter", |b| {
        b.iter(|| {
            i += 1;
            black_box(rego.eval_interpreter(black_box(&inputs[i % n])))
        })
    });
    g.bench_function("regorus_vm", |b| {
        b.iter(|| {
            i += 1;
            black_box(rego.eval_vm(black_box(&inputs[i % n])))
        })
    });
    g.finish();
}

/// 5 grades × 16 values of `hallucination-rate`: (grade rank, grade id, value).
fn level_inputs() -> Vec<(u32, String, f64)> {
    let policy = Policy::default_policy();
    let mut v = Vec::new();
    for (rank, grade) in policy.grades().iter().enumerate() {
        for k in 0..16 {
            v.push((rank as u32, grade.id.to_string(), k as f64 * 0.025));
        }
    }
    v
}

fn level(c: &mut Criterion) {
    const RULE: &str = "hallucination-rate";
    let inputs = level_inputs();
    let n = inputs.len();
    let ranks: Vec<u32> = inputs.iter().map(|x| x.0).collect();
    let mut probe = LevelProbe::new(RULE, &ranks);
    let rego_inputs: Vec<_> = inputs
        .iter()
        .map(|(_, g, v)| level_input(RULE, g, *v))
        .collect();
    let mut rego = Rego::level();
    // The inputs span every level, and both airisk paths agree with Rego on them.
    let levels: std::collections::BTreeSet<_> =
        (0..n).map(|i| probe.decide(i, inputs[i].2)).collect();
    for (k, input) in rego_inputs.iter().enumerate() {
        let want = rego.eval_vm(input);
        assert_eq!(
            want.as_string().unwrap().as_ref(),
            level_name(probe.observe_steady(k, inputs[k].2))
        );
        assert_eq!(
            want.as_string().unwrap().as_ref(),
            level_name(probe.decide(k, inputs[k].2))
        );
    }
    assert_eq!(levels.len(), 5, "{levels:?}");
    let mut g = c.benchmark_group("peer_level");
    let mut i = 0;
    g.bench_function("airisk_observe", |b| {
        b.iter(|| {
            i += 1;
            let k = i % n;
            black_box(probe.observe_steady(k, inputs[k].2))
        })
    });
    g.bench_function("airisk_observe_new_bucket", |b| {
        b.iter(|| {
            i += 1;
            let k = i % n;
            black_box(probe.decide(k, inputs[k].2))
        })
    });
    g.bench_function("regorus_interpreter", |b| {
        b.iter(|| {
            i += 1;
            black_box(rego.eval_interpreter(black_box(&rego_inputs[i % n])))
        })
    });
    g.bench_function("regorus_vm", |b| {
        b.iter(|| {
            i += 1;
            black_box(rego.eval_vm(black_box(&rego_inputs[i % n])))
        })
    });
    g.finish();
    let mut drained = Vec::new();
    probe.engine.drain(&mut drained);
    // Only the first observation of each system changed its level.
    assert!(drained.len() <= 2 * n, "{} transitions", drained.len());
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = classification, level
}
criterion_main!(benches);
