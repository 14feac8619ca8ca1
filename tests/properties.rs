//! Laws that hold for all inputs (proptest):
//! (a) replaying the same log twice gives identical transitions;
//! (b) interleaving systems' observations in any order that keeps each system's own order
//!     gives the same per-system transitions;
//! (c) a rule's level never changes without a transition being emitted, and every
//!     transition chain is valid (each `from` is the previous `to`).

mod common;
use airisk::{Engine, Level, SystemHandle, Transition};
use common::*;
use proptest::prelude::*;
use std::collections::HashMap;

#[derive(Debug, Clone)]
enum Op {
    Obs {
        sys: usize,
        sig: usize,
        value: f64,
        dt: i64,
    },
    Tick {
        dt: i64,
    },
}

const SIGNALS: [&str; 4] = ["n", "k", "g", "hb"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..3usize, 0..4usize, -2.0..6.0f64, -3000..1500i64)
            .prop_map(|(sys, sig, value, dt)| Op::Obs { sys, sig, value, dt }),
        1 => (0..4000i64).prop_map(|dt| Op::Tick { dt }),
    ]
}

/// Runs the ops; observations' ts = clock + dt (dt < 0 gives late/stale ones).
/// Rule levels of a system after an operation.
type LevelsAfter = Vec<(usize, Vec<Level>)>;
/// Per system: (ts, rule, from, to).
type BySystem = HashMap<String, Vec<(i64, Option<String>, Level, Level)>>;

fn run(ops: &[Op]) -> (Engine, Vec<Transition>, LevelsAfter) {
    let e = Engine::new(law_policy());
    let hs: Vec<SystemHandle> = (0..3)
        .map(|i| e.register(profile(&format!("s{i}"), i == 1)).unwrap())
        .collect();
    let sig: Vec<_> = SIGNALS.iter().map(|s| e.signal(s).unwrap()).collect();
    let mut clock = 0i64;
    let mut levels_after = Vec::new();
    for o in ops {
        match *o {
            Op::Obs {
                sys,
                sig: s,
                value,
                dt,
            } => {
                let ts = clock + dt;
                clock = clock.max(ts);
                let v = if s == 2 { value } else { value.abs().round() };
                let _ = e.observe(hs[sys], sig[s], v, ts);
                levels_after.push((sys, e.rule_levels(hs[sys]).unwrap()));
            }
            Op::Tick { dt } => {
                clock += dt;
                e.tick(clock);
                for (i, h) in hs.iter().enumerate() {
                    levels_after.push((i, e.rule_levels(*h).unwrap()));
                }
            }
        }
    }
    let mut out = Vec::new();
    e.drain(&mut out);
    (e, out, levels_after)
}

fn key(t: &Transition) -> (u64, i64, String, Option<String>, Level, Level, Option<u64>) {
    (
        t.seq,
        t.ts,
        t.system_id.to_string(),
        t.rule_id.as_deref().map(str::to_owned),
        t.from,
        t.to,
        t.value.map(f64::to_bits),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn replay_is_deterministic(ops in prop::collection::vec(op(), 1..300)) {
        let (_, a, _) = run(&ops);
        let (_, b, _) = run(&ops);
        prop_assert_eq!(a.iter().map(key).collect::<Vec<_>>(), b.iter().map(key).collect::<Vec<_>>());
    }

    #[test]
    fn chains_are_valid_and_levels_never_change_silently(ops in prop::collection::vec(op(), 1..300)) {
        let (e, ts, _) = run(&ops);
        // seq is 1..=n without gaps (the queue is large enough).
        for (i, t) in ts.iter().enumerate() {
            prop_assert_eq!(t.seq, i as u64 + 1);
        }
        // Per (system, rule) and per system, each from is the previous to, starting at none.
        let mut last: HashMap<(String, Option<String>), Level> = HashMap::new();
        for t in &ts {
            let k = (t.system_id.to_string(), t.rule_id.as_deref().map(str::to_owned));
            let prev = last.get(&k).copied().unwrap_or(Level::None);
            prop_assert_eq!(t.from, prev, "broken chain at seq {}", t.seq);
            prop_assert_ne!(t.from, t.to);
            last.insert(k, t.to);
        }
        // The final level of every rule and system equals its last transition's `to`.
        for i in 0..3 {
            let h = e.system(&format!("s{i}")).unwrap();
            let levels = e.rule_levels(h).unwrap();
            for (r, lvl) in e.policy().rules().iter().zip(levels) {
                let k = (format!("s{i}"), Some(r.id.to_string()));
                prop_assert_eq!(lvl, last.get(&k).copied().unwrap_or(Level::None));
            }
            let k = (format!("s{i}"), None);
            prop_assert_eq!(e.system_level(h).unwrap(), last.get(&k).copied().unwrap_or(Level::None));
        }
        let st = e.stats();
        prop_assert_eq!(st.transitions, ts.len() as u64);
    }

    #[test]
    fn interleaving_systems_does_not_change_their_transitions(
        per_sys in prop::collection::vec(
            prop::collection::vec((0..4usize, 0.0..5.0f64, -1500..1200i64), 0..80), 3),
        order_seed in any::<u64>(),
    ) {
        // Each system's own event list, with its own clock.
        let mut lists: Vec<Vec<(usize, f64, i64)>> = Vec::new();
        for evs in &per_sys {
            let mut clock = 0i64;
            let mut l = Vec::new();
            for &(sig, v, dt) in evs {
                let ts = clock + dt;
                clock = clock.max(ts);
                l.push((sig, if sig == 2 { v } else { v.round() }, ts));
            }
            lists.push(l);
        }
        let play = |order: &[usize]| {
            let e = Engine::new(law_policy());
            let hs: Vec<_> = (0..3).map(|i| e.register(profile(&format!("s{i}"), i == 2)).unwrap()).collect();
            let sig: Vec<_> = SIGNALS.iter().map(|s| e.signal(s).unwrap()).collect();
            let mut pos = [0usize; 3];
            for &s in order {
                let (g, v, ts) = lists[s][pos[s]];
                pos[s] += 1;
                let _ = e.observe(hs[s], sig[g], v, ts);
            }
            let mut out = Vec::new();
            e.drain(&mut out);
            let mut by: BySystem = HashMap::new();
            for t in out {
                by.entry(t.system_id.to_string()).or_default()
                    .push((t.ts, t.rule_id.as_deref().map(str::to_owned), t.from, t.to));
            }
            by
        };
        // Sequential order vs a pseudo-random interleaving.
        let mut seq_order = Vec::new();
        for (s, l) in lists.iter().enumerate() {
            seq_order.extend(std::iter::repeat_n(s, l.len()));
        }
        let mut mixed = seq_order.clone();
        let mut x = order_seed | 1;
        for i in (1..mixed.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            mixed.swap(i, (x % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(play(&seq_order), play(&mixed));
    }
}
