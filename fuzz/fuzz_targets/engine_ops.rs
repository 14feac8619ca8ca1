//! A sequence of engine operations decoded from the input, checked against invariants:
//! seq continuity, valid transition chains per (system, rule) and per system, stats
//! consistency, and snapshot → restore equivalence.
#![no_main]
use airisk::{Engine, Level, Policy, Profile, SystemHandle, Transition};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use std::sync::OnceLock;

const POLICY: &str = r#"{
 "schema": 1,
 "categories": [{"id": "c1"}, {"id": "c2"}, {"id": "c3"}],
 "grades": [{"id": "low"}, {"id": "high", "min_score": 5}],
 "classification": {"sectors": {"s0": 0, "s9": 9}, "data": {"public": 0}, "autonomy": {"hitl": 0}},
 "bucket_ms": 1000,
 "signals": [{"id": "n", "kind": "counter"}, {"id": "k", "kind": "counter"},
             {"id": "g", "kind": "gauge"}, {"id": "hb", "kind": "counter"}],
 "rules": [
  {"id": "max-g", "category": "c1", "signal": "g", "aggregate": "max", "window_ms": 3000,
   "for_ms": 1500, "clear_for_ms": 2000, "hysteresis": 0.2,
   "thresholds": {"low": [1, 2, 3, 4], "high": [0.5, 1, 2, 3]}},
  {"id": "rate-k", "category": "c2", "signal": "k", "aggregate": "rate", "per": "n",
   "window_ms": 5000, "min_samples": 3, "wilson_z": 1.0,
   "thresholds": {"low": [0.2, 0.4, 0.6, 0.8], "high": [0.1, 0.2, 0.3, 0.4]}},
  {"id": "sum-n", "category": "c3", "signal": "n", "aggregate": "sum", "window_ms": 2000,
   "on_empty": "clear", "thresholds": {"low": [5, 10, null, null], "high": [3, 6, 9, 12]}},
  {"id": "min-g", "category": "c2", "signal": "g", "aggregate": "min", "direction": "below",
   "window_ms": 1000, "thresholds": {"low": [1, 0.5, 0, -1], "high": [2, 1, 0, -1]}},
  {"id": "quiet", "category": "c3", "signal": "hb", "aggregate": "silence_ms",
   "thresholds": {"low": [3000, 6000, null, null], "high": [2000, 4000, 6000, 8000]}}
 ],
 "escalation": {"min_categories": 2, "at_least": "yellow"}
}"#;

fn policy() -> Policy {
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(|| Policy::from_json(POLICY).unwrap()).clone()
}

fn profile(i: u8) -> Profile {
    Profile::from_json(&format!(
        r#"{{"id": "s{}", "sector": "{}", "data": "public", "autonomy": "hitl", "users": 1}}"#,
        i % 4,
        if i % 2 == 0 { "s0" } else { "s9" }
    ))
    .unwrap()
}

fuzz_target!(|data: &[u8]| {
    let mut e = Engine::new(policy());
    let sig: Vec<_> = ["n", "k", "g", "hb"].iter().map(|s| e.signal(s).unwrap()).collect();
    let mut out: Vec<Transition> = Vec::new();
    let mut clock: i64 = 0;
    let mut calls: u64 = 0;
    for c in data.chunks(4) {
        let [op, a, b, d] = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0), *c.get(3).unwrap_or(&0)];
        match op % 16 {
            0 => {
                let _ = e.register(profile(a));
            }
            1 => {
                if let Some(h) = e.system(&format!("s{}", a % 4)) {
                    let _ = e.deregister(h);
                }
            }
            2 => {
                clock += (a as i64) * 100;
                e.tick(clock);
            }
            3 => {
                // Snapshot → restore must be invisible.
                e.drain(&mut out);
                let bytes = e.snapshot();
                let r = Engine::restore(policy(), &bytes).expect("own snapshot restores");
                assert_eq!(r.stats(), e.stats());
                assert_eq!(r.snapshot(), bytes);
                e = r;
            }
            _ => {
                let h = e.system(&format!("s{}", a % 4)).unwrap_or(SystemHandle(9));
                let dt = (b as i64 - 160) * 40;
                let ts = clock + dt;
                clock = clock.max(ts);
                let s = sig[(d % 4) as usize];
                let v = match d / 4 % 4 {
                    0 => (d / 16) as f64,
                    1 => (d as f64) / 37.0 - 1.0,
                    2 => f64::from_bits(((a as u64) << 56) | (b as u64) << 8 | d as u64),
                    _ => 1.0,
                };
                calls += 1;
                let _ = e.observe(h, s, v, ts);
            }
        }
    }
    e.drain(&mut out);
    let st = e.stats();
    assert_eq!(st.dropped, 0);
    assert_eq!(st.transitions, out.len() as u64);
    assert_eq!(st.observed + st.rejected_stale + st.rejected_invalid, calls);
    let mut last: HashMap<(String, Option<String>), Level> = HashMap::new();
    for (i, t) in out.iter().enumerate() {
        assert_eq!(t.seq, i as u64 + 1, "seq continuity");
        let k = (format!("{}#{}", t.system_id, t.system), t.rule_id.as_deref().map(str::to_owned));
        let prev = last.get(&k).copied().unwrap_or(Level::None);
        assert_eq!(t.from, prev, "chain");
        assert_ne!(t.from, t.to);
        last.insert(k, t.to);
    }
});
