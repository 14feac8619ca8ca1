//! Shared bench helpers: a counting allocator, realistic profiles and observation streams.
#![allow(dead_code)]

use airisk::{Engine, Policy, Profile, SignalId, SystemHandle};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};

/// Counts live heap bytes.
pub struct Counting;
pub static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as i64 - l.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

pub fn live_bytes() -> i64 {
    LIVE.load(Ordering::Relaxed)
}

/// The 12 seed profiles, as templates.
pub fn seed_profiles() -> Vec<Profile> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/profiles");
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|f| f.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "expected.json")
        .collect();
    v.sort();
    v.iter()
        .map(|p| Profile::from_json(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

/// An engine on the default policy with `n` systems cloned from the seed profiles.
pub fn engine_with(n: usize) -> (Engine, Vec<SystemHandle>) {
    let e = Engine::new(Policy::default_policy());
    let t = seed_profiles();
    let hs = (0..n)
        .map(|i| {
            let mut p = t[i % t.len()].clone();
            p.id = format!("sys-{i}");
            e.register(p).unwrap()
        })
        .collect();
    (e, hs)
}

pub struct XorShift(pub u64);
impl XorShift {
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// A realistic observation mix: mostly interactions, some flags and gauges, all quiet
/// enough that steady state emits no transitions.
pub fn stream(
    e: &Engine,
    hs: &[SystemHandle],
    n: usize,
    seed: u64,
) -> Vec<(SystemHandle, SignalId, f64)> {
    let mix: [(&str, f64, u64); 6] = [
        ("interactions", 1.0, 60),
        ("operations", 1.0, 10),
        ("heartbeat", 1.0, 10),
        ("hallucination_flagged", 0.0, 10),
        ("disparity_ratio", 0.97, 5),
        ("should_refuse_probes", 1.0, 5),
    ];
    let sig: Vec<(SignalId, f64, u64)> = mix
        .iter()
        .map(|(s, v, w)| (e.signal(s).unwrap(), *v, *w))
        .collect();
    let total: u64 = sig.iter().map(|x| x.2).sum();
    let mut r = XorShift(seed | 1);
    (0..n)
        .map(|_| {
            let h = hs[(r.next_u64() % hs.len() as u64) as usize];
            let mut k = r.next_u64() % total;
            let mut pick = sig[0];
            for s in &sig {
                if k < s.2 {
                    pick = *s;
                    break;
                }
                k -= s.2;
            }
            (h, pick.0, pick.1)
        })
        .collect()
}
