#[path = "../benches/common/mod.rs"]
mod common;
use std::hint::black_box;
#[inline(never)]
fn measure(
    e: &airisk::Engine,
    evs: &[(airisk::SystemHandle, airisk::SignalId, f64)],
    k0: usize,
    n: usize,
) {
    for k in k0..k0 + n {
        let (h, s, v) = evs[k % evs.len()];
        black_box(e.observe(h, s, v, 1_764_374_400_000 + k as i64).unwrap());
    }
}
fn main() {
    let n: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let (e, hs) = common::engine_with(10_000);
    let evs = common::stream(&e, &hs, 1 << 20, 7);
    measure(&e, &evs, 0, 300_000);
    measure(&e, &evs, 300_000, n);
}
