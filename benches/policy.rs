//! Loading the default policy: parse + validate + compile, and the cached accessor.

use airisk::{DEFAULT_POLICY_JSON, Policy};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("policy");
    g.bench_function("default_policy_parse_validate_compile", |b| {
        b.iter(|| Policy::from_json(black_box(DEFAULT_POLICY_JSON)).unwrap())
    });
    let _ = Policy::default_policy();
    g.bench_function("default_policy_cached", |b| b.iter(Policy::default_policy));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
