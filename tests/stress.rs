//! Multi-threaded stress (bounded in time and count): threads observe disjoint and shared
//! systems; afterwards `observed` equals the accepted calls and every transition sequence
//! per (system, rule) is a valid chain.

mod common;
use airisk::{Engine, Level, Transition};
use common::*;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[test]
fn threads_on_disjoint_and_shared_systems() {
    let p = policy(json!([
        rule(json!({"id": "max-g", "window_ms": 2000})),
        rule(
            json!({"id": "sum-n", "aggregate": "sum", "signal": "n", "window_ms": 3000,
            "thresholds": {"low": [20, 40, 60, 80], "high": [20, 40, 60, 80]}})
        )
    ]));
    let e = Arc::new(Engine::new(p));
    let n_sys = 8;
    let hs: Vec<_> = (0..n_sys)
        .map(|i| e.register(profile(&format!("s{i}"), false)).unwrap())
        .collect();
    let accepted = Arc::new(AtomicU64::new(0));
    let threads = 3;
    let per_thread = 60_000u64;
    let collected = Arc::new(parking_lot::Mutex::new(Vec::<Transition>::new()));
    std::thread::scope(|s| {
        for t in 0..threads {
            let (e, hs, accepted) = (e.clone(), hs.clone(), accepted.clone());
            s.spawn(move || {
                let g = e.signal("g").unwrap();
                let n = e.signal("n").unwrap();
                let mut x: u64 = 0x9E37_79B9 + t as u64;
                for i in 0..per_thread {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // System 0 is shared by all threads; the rest are split by thread.
                    let sys = if x % 4 == 0 {
                        0
                    } else {
                        1 + (t + 3 * (x as usize % 2)) % (n_sys - 1)
                    };
                    let ts = (i as i64) * 7 + (x % 500) as i64;
                    let r = if x % 3 == 0 {
                        e.observe(hs[sys], g, (x % 5) as f64, ts)
                    } else {
                        e.observe(hs[sys], n, (x % 4) as f64, ts)
                    };
                    if r.is_ok() {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        // A consumer draining concurrently.
        let (e2, col) = (e.clone(), collected.clone());
        s.spawn(move || {
            for _ in 0..200 {
                let mut v = Vec::new();
                e2.drain(&mut v);
                col.lock().extend(v);
                std::thread::yield_now();
            }
        });
    });
    let mut all = collected.lock().clone();
    e.drain(&mut all);
    let st = e.stats();
    assert_eq!(st.observed, accepted.load(Ordering::Relaxed));
    assert_eq!(st.observed + st.rejected_stale, threads as u64 * per_thread);
    assert_eq!(st.dropped, 0);
    assert_eq!(st.transitions, all.len() as u64);
    // Queue order is seq order, with no gaps.
    for (i, t) in all.iter().enumerate() {
        assert_eq!(t.seq, i as u64 + 1);
    }
    let mut last: HashMap<(String, Option<String>), Level> = HashMap::new();
    for t in &all {
        let k = (
            t.system_id.to_string(),
            t.rule_id.as_deref().map(str::to_owned),
        );
        let prev = last.get(&k).copied().unwrap_or(Level::None);
        assert_eq!(t.from, prev, "chain broken at seq {}", t.seq);
        last.insert(k, t.to);
    }
    assert!(
        all.len() > 10,
        "the stress produced transitions: {}",
        all.len()
    );
}

/// With an incident sink set and no transition sink, the transitions still queue in `seq`
/// order: each is queued while its number is taken, not after the shard lock is released
/// (where another thread's later transition could overtake it).
#[test]
fn with_only_an_incident_sink_the_transition_queue_stays_in_seq_order() {
    let e = Arc::new(Engine::new(policy(json!([rule(
        json!({"id": "max-g", "window_ms": 1000})
    )]))));
    e.set_incident_sink(Some(Arc::new(|_: &airisk::IncidentEvent| {})));
    let hs: Vec<_> = (0..64)
        .map(|i| e.register(profile(&format!("s{i}"), false)).unwrap())
        .collect();
    std::thread::scope(|s| {
        for t in 0..3usize {
            let (e, hs) = (e.clone(), hs.clone());
            s.spawn(move || {
                let g = e.signal("g").unwrap();
                for i in 0..40_000i64 {
                    // Each thread its own systems (different shards); levels flip often.
                    let h = hs[t * 21 + (i as usize % 21)];
                    e.observe(h, g, ((i / 21) % 5) as f64, i).unwrap();
                }
            });
        }
    });
    let mut all = Vec::new();
    e.drain(&mut all);
    assert!(all.len() > 1000, "{}", all.len());
    assert_eq!(e.stats().transitions, all.len() as u64);
    for (i, t) in all.iter().enumerate() {
        assert_eq!(t.seq, i as u64 + 1, "queue out of seq order at {i}");
    }
}
