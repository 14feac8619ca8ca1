//! Concurrency soak: threads register, deregister, observe, tick, drain and snapshot at
//! once; nothing deadlocks and every invariant holds. Short by default; set
//! `AIRISK_SOAK_SECS=600` for a long run.

mod common;
use airisk::{Engine, Level, Transition};
use common::*;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[test]
fn everything_at_once() {
    let secs: u64 = std::env::var("AIRISK_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let mut doc = policy_doc(json!([
        rule(json!({"id": "max-g", "window_ms": 2000, "hysteresis": 0.1, "clear_for_ms": 500})),
        rule(json!({"id": "sum-n", "category": "c3", "aggregate": "sum", "signal": "n", "window_ms": 3000,
            "on_empty": "clear", "thresholds": {"low": [20, 40, 60, 80], "high": [10, 20, 30, 40]}})),
        {"id": "quiet", "category": "c4", "signal": "hb", "aggregate": "silence_ms",
         "thresholds": {"low": [3000, 6000, null, null], "high": [2000, 4000, 6000, 8000]}}
    ]));
    doc["escalation"] = json!({"min_categories": 2, "at_least": "yellow"});
    let e = Arc::new(Engine::new(airisk::Policy::from_value(doc).unwrap()));
    for i in 0..16 {
        e.register(profile(&format!("s{i}"), i % 3 == 0)).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let clock = Arc::new(AtomicU64::new(0));
    let calls = Arc::new(AtomicU64::new(0));
    let got: Arc<parking_lot::Mutex<Vec<Transition>>> = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(secs);
    std::thread::scope(|s| {
        // Observers.
        for t in 0..2u64 {
            let (e, stop, clock, calls) = (e.clone(), stop.clone(), clock.clone(), calls.clone());
            s.spawn(move || {
                let sig: Vec<_> = ["n", "g", "hb"]
                    .iter()
                    .map(|x| e.signal(x).unwrap())
                    .collect();
                let mut x = 0x2545_F491_4F6C_DD1D ^ t;
                while !stop.load(Ordering::Relaxed) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let now = clock.fetch_add(3, Ordering::Relaxed) as i64;
                    if let Some(h) = e.system(&format!("s{}", x % 20)) {
                        calls.fetch_add(1, Ordering::Relaxed);
                        let _ = e.observe(
                            h,
                            sig[(x >> 8) as usize % 3],
                            ((x >> 16) % 6) as f64,
                            now - (x % 900) as i64,
                        );
                    }
                }
            });
        }
        // Registrar / deregistrar.
        {
            let (e, stop) = (e.clone(), stop.clone());
            s.spawn(move || {
                let mut i = 16;
                while !stop.load(Ordering::Relaxed) {
                    let id = format!("s{}", i % 20);
                    match e.system(&id) {
                        Some(h) if i % 3 == 0 => {
                            let _ = e.deregister(h);
                        }
                        _ => {
                            let _ = e.register(profile(&id, i % 2 == 0));
                        }
                    }
                    i += 1;
                    std::thread::sleep(Duration::from_micros(200));
                }
            });
        }
        // Ticker, drainer, snapshotter.
        {
            let (e, stop, clock, got) = (e.clone(), stop.clone(), clock.clone(), got.clone());
            s.spawn(move || {
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    e.tick(clock.load(Ordering::Relaxed) as i64);
                    let mut v = Vec::new();
                    e.drain(&mut v);
                    got.lock().extend(v);
                    if n % 16 == 0 {
                        let bytes = e.snapshot();
                        let r =
                            Engine::restore(e.policy().clone(), &bytes).expect("snapshot restores");
                        assert!(r.stats().transitions <= e.stats().transitions);
                    }
                    n += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
        }
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Relaxed);
    });
    let mut all = got.lock().clone();
    e.drain(&mut all);
    let st = e.stats();
    assert_eq!(st.dropped, 0);
    assert_eq!(st.transitions, all.len() as u64);
    assert_eq!(
        st.observed + st.rejected_stale + st.rejected_invalid,
        calls.load(Ordering::Relaxed)
    );
    let mut last: HashMap<(airisk::SystemHandle, Option<u32>), Level> = HashMap::new();
    for (i, t) in all.iter().enumerate() {
        assert_eq!(t.seq, i as u64 + 1);
        let k = (t.system, t.rule);
        assert_eq!(
            t.from,
            last.get(&k).copied().unwrap_or(Level::None),
            "seq {}",
            t.seq
        );
        last.insert(k, t.to);
    }
    assert!(st.observed > 1000, "{st:?}");
}
