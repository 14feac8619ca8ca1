//! `observe` performs no heap allocation in steady state: a counting global allocator
//! watches 100 000 observations on the default policy after warm-up.

use airisk::{Engine, Policy, Profile};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static COUNTING: AtomicBool = AtomicBool::new(false);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn observe_allocates_nothing_in_steady_state() {
    let e = Engine::new(Policy::default_policy());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/profiles");
    let mut hs = Vec::new();
    for f in std::fs::read_dir(dir).unwrap() {
        let p = f.unwrap().path();
        if p.file_name().unwrap() == "expected.json" {
            continue;
        }
        let prof = Profile::from_json(&std::fs::read_to_string(&p).unwrap()).unwrap();
        hs.push(e.register(prof).unwrap());
    }
    let sigs: Vec<_> = [
        "interactions",
        "hallucination_flagged",
        "heartbeat",
        "disparity_ratio",
        "operations",
    ]
    .iter()
    .map(|s| e.signal(s).unwrap())
    .collect();
    let values = [1.0, 0.0, 1.0, 0.95, 1.0];
    let mut ts = 1_764_374_400_000i64;
    // Warm-up: every ring has been advanced and every rule evaluated.
    for _ in 0..2_000 {
        for h in &hs {
            for (s, v) in sigs.iter().zip(values) {
                e.observe(*h, *s, v, ts).unwrap();
            }
        }
        ts += 1_000;
    }
    e.tick(ts);
    let mut sink = Vec::new();
    e.drain(&mut sink);
    COUNTING.store(true, Ordering::SeqCst);
    let mut n = 0;
    'outer: loop {
        for h in &hs {
            for (s, v) in sigs.iter().zip(values) {
                e.observe(*h, *s, v, ts).unwrap();
                n += 1;
                if n == 100_000 {
                    break 'outer;
                }
            }
        }
        ts += 997;
    }
    COUNTING.store(false, Ordering::SeqCst);
    assert_eq!(e.queued(), 0, "steady state emits no transitions");
    assert_eq!(
        ALLOCS.load(Ordering::SeqCst),
        0,
        "allocations during 100 000 observations"
    );
}
