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
    engine_on(Policy::default_policy(), n)
}

/// An engine on `policy` with `n` systems cloned from the seed profiles.
pub fn engine_on(policy: Policy, n: usize) -> (Engine, Vec<SystemHandle>) {
    let e = Engine::new(policy);
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

/// The same `n` systems as [`engine_with`], registered through the C ABI on an engine from
/// `airisk_engine_new_default`: handles are equal, so the same stream drives both. Free
/// the engine with `airisk_engine_free`.
pub fn ffi_engine_with(n: usize) -> *mut airisk::ffi::airisk_engine {
    use airisk::ffi::*;
    let mut e = std::ptr::null_mut();
    // SAFETY: `e` is a valid out-pointer.
    assert_eq!(unsafe { airisk_engine_new_default(&mut e) }, AIRISK_OK);
    let t = seed_profiles();
    for i in 0..n {
        let mut p = t[i % t.len()].clone();
        p.id = format!("sys-{i}");
        let json = serde_json::to_string(&p).unwrap();
        let mut h = u32::MAX;
        // SAFETY: `e` is live; `json` is `json.len()` readable bytes; `h` is writable.
        let st = unsafe { airisk_register(e, json.as_ptr().cast(), json.len(), &mut h) };
        assert_eq!((st, h), (AIRISK_OK, i as u32));
    }
    e
}

/// The physical floor of an observation: one preallocated block per system of the size of
/// airisk's per-system state (`Engine::state_bytes_per_system()`), every page touched
/// before timing; [`Floor::hit`] does one random access into the system's block and one
/// add, which is all an observation cannot avoid.
pub struct Floor {
    words: usize,
    mem: Vec<f64>,
}

impl Floor {
    pub fn new(systems: usize, bytes_per_system: usize) -> Floor {
        let words = bytes_per_system.div_ceil(8);
        let mut mem = vec![0.0f64; systems * words];
        // Touch every page so no first-touch fault lands in the timed loop.
        for x in mem.iter_mut().step_by(512) {
            *x = 1.0;
        }
        Floor { words, mem }
    }

    /// Adds `v` to the word of signal `s` in system `h`'s block.
    #[inline]
    pub fn hit(&mut self, h: SystemHandle, s: SignalId, v: f64) -> f64 {
        let x = &mut self.mem[h.0 as usize * self.words + s.0 as usize];
        *x += v;
        *x
    }

    /// As [`Floor::hit`], but the address depends on the previous result (`zero` must be 0,
    /// hidden from the compiler): accesses cannot overlap, so this is the latency of one
    /// random access rather than the throughput of many independent ones.
    #[inline]
    pub fn hit_dependent(
        &mut self,
        h: SystemHandle,
        s: SignalId,
        v: f64,
        prev: f64,
        zero: u64,
    ) -> f64 {
        let h = h.0 as usize ^ (prev.to_bits() & zero) as usize;
        let x = &mut self.mem[h * self.words + s.0 as usize];
        *x += v;
        *x
    }
}
