//! The metrics exposition allocates nothing when its buffer is large enough: a counting
//! global allocator watches `render_openmetrics` and `render_prometheus` into a `String`
//! with capacity, and the C `airisk_metrics` into a caller buffer, on the engine of the
//! demo week (9 systems, every rule of the default policy, open incidents, overdue
//! reports). One test only: the counter is process-wide.

use airisk::ffi::{AIRISK_ERR_BUFFER, AIRISK_OK, airisk_engine, airisk_metrics};
use airisk::replay::{ReplayHandler, Replayer};
use airisk::{Engine, Policy};
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

/// Allocations made by `f`.
fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCS.load(Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    f();
    COUNTING.store(false, Ordering::SeqCst);
    ALLOCS.load(Ordering::SeqCst) - before
}

fn demo_events() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/seeds/demo/events.jsonl"
    ))
    .unwrap()
}

struct Null;
impl ReplayHandler for Null {}

fn demo_engine(engine: Engine) -> Replayer {
    let mut rp = Replayer::with_engine(engine);
    rp.run(&demo_events()[..], &mut Null).unwrap();
    rp
}

#[test]
fn metrics_allocate_nothing_with_enough_capacity() {
    let rp = demo_engine(Engine::new(Policy::default_policy()));
    let e = rp.engine();
    let mut text = String::new();
    e.render_openmetrics(&mut text);
    assert!(text.contains("airisk_incidents_open{severity=\"critical\"} 1\n"));
    assert!(text.contains("airisk_reports_overdue{report=\"update\"} 1\n"));

    // Control: into an empty String it must allocate (the counter works).
    let mut fresh = String::new();
    assert!(allocations(|| e.render_openmetrics(&mut fresh)) > 0);

    let mut again = String::with_capacity(text.len());
    assert_eq!(allocations(|| e.render_openmetrics(&mut again)), 0);
    assert_eq!(again, text);
    let mut prom = String::with_capacity(text.len() + 4096);
    assert_eq!(allocations(|| e.render_prometheus(&mut prom)), 0);

    // The C function, straight into a caller buffer, on an engine fed through the C ABI:
    // every seed profile registered, a safety incident on the bus (an open incident).
    let mut c_engine: *mut airisk_engine = std::ptr::null_mut();
    // SAFETY: a valid out-pointer.
    let st = unsafe { airisk::ffi::airisk_engine_new_default(&mut c_engine) };
    assert_eq!(st, AIRISK_OK);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/profiles");
    let mut bus = u32::MAX;
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|f| f.unwrap().path())
        .collect();
    files.sort();
    for p in files.iter().filter(|p| !p.ends_with("expected.json")) {
        let json = std::fs::read_to_string(p).unwrap();
        let mut h = u32::MAX;
        // SAFETY: live engine, `json` readable for its length, valid out-pointer.
        let st = unsafe {
            airisk::ffi::airisk_register(c_engine, json.as_ptr().cast(), json.len(), &mut h)
        };
        assert_eq!(st, AIRISK_OK, "{}", p.display());
        if p.ends_with("autonomous-bus.json") {
            bus = h;
        }
    }
    let mut sig = 0u32;
    let name = "safety_incidents";
    // SAFETY: live engine, `name` readable, valid out-pointer.
    let st =
        unsafe { airisk::ffi::airisk_signal(c_engine, name.as_ptr().cast(), name.len(), &mut sig) };
    assert_eq!(st, AIRISK_OK);
    let mut level: airisk::ffi::airisk_level = 0;
    // SAFETY: live engine, valid out-pointer.
    let st = unsafe {
        airisk::ffi::airisk_observe(c_engine, bus, sig, 1.0, 1_764_374_400_000, &mut level)
    };
    assert_eq!(st, AIRISK_OK);
    let mut need = 0usize;
    // SAFETY: live engine, NULL buffer with cap 0 (a size query), valid out-pointer.
    let st = unsafe { airisk_metrics(c_engine, std::ptr::null_mut(), 0, &mut need) };
    assert_eq!(st, AIRISK_ERR_BUFFER);
    let mut buf = vec![0u8; need + 1];
    let mut len = 0usize;
    let n = allocations(|| {
        // SAFETY: `buf` is valid for `buf.len()` bytes.
        let st = unsafe { airisk_metrics(c_engine, buf.as_mut_ptr().cast(), buf.len(), &mut len) };
        assert_eq!(st, AIRISK_OK);
    });
    assert_eq!(
        n, 0,
        "allocations in airisk_metrics with a large enough buffer"
    );
    assert_eq!(len, need);
    assert_eq!(buf[len], 0);
    let c_text = std::str::from_utf8(&buf[..len]).unwrap();
    assert!(c_text.ends_with("# EOF\n"));
    assert!(c_text.contains("airisk_rule_level{system=\"autonomous-bus\",rule=\"safety-incidents\",category=\"physical_safety\"} "));
    let open: u64 = c_text
        .lines()
        .filter(|l| l.starts_with("airisk_incidents_open{"))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .sum();
    assert_eq!(open, 1, "{c_text}");
    // SAFETY: made above, freed once.
    unsafe { airisk::ffi::airisk_engine_free(c_engine) };
}
