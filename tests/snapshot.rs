//! Snapshot and restore. Law: for any event log split at any point, running to the split,
//! snapshotting, restoring and running the rest gives exactly the transitions (and stats)
//! of the uninterrupted run.

mod common;
use airisk::{Engine, Error, Policy, SystemHandle, Transition};
use common::*;
use proptest::prelude::*;
use serde_json::json;

#[derive(Debug, Clone)]
enum Op {
    Reg(usize),
    Obs {
        sys: usize,
        sig: usize,
        value: f64,
        dt: i64,
    },
    Tick(i64),
    Dereg(usize),
}

const SIGNALS: [&str; 4] = ["n", "k", "g", "hb"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0..5usize).prop_map(Op::Reg),
        12 => (0..5usize, 0..4usize, 0.0..6.0f64, -3000..1500i64)
            .prop_map(|(sys, sig, value, dt)| Op::Obs { sys, sig, value, dt }),
        2 => (0..4000i64).prop_map(Op::Tick),
        1 => (0..5usize).prop_map(Op::Dereg),
    ]
}

struct Run {
    clock: i64,
}

fn apply(e: &Engine, r: &mut Run, o: &Op) {
    let h = |i: usize| e.system(&format!("s{i}"));
    match *o {
        Op::Reg(i) => {
            let _ = e.register(profile(&format!("s{i}"), i % 2 == 1));
        }
        Op::Obs {
            sys,
            sig,
            value,
            dt,
        } => {
            let ts = r.clock + dt;
            r.clock = r.clock.max(ts);
            let s = e.signal(SIGNALS[sig]).unwrap();
            let v = if sig == 2 { value } else { value.round() };
            match h(sys) {
                Some(h) => {
                    let _ = e.observe(h, s, v, ts);
                }
                None => {
                    let _ = e.observe(SystemHandle(1000), s, v, ts);
                }
            }
        }
        Op::Tick(dt) => {
            r.clock += dt;
            e.tick(r.clock);
        }
        Op::Dereg(i) => {
            if let Some(h) = h(i) {
                e.deregister(h).unwrap();
            }
        }
    }
}

fn all(e: &Engine) -> Vec<String> {
    let mut v = Vec::new();
    e.drain(&mut v);
    v.iter().map(Transition::to_json).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn split_snapshot_restore_equals_uninterrupted(
        ops in prop::collection::vec(op(), 1..250),
        split in any::<prop::sample::Index>(),
    ) {
        let k = split.index(ops.len() + 1);
        let whole = Engine::new(law_policy());
        let mut r = Run { clock: 0 };
        for o in &ops { apply(&whole, &mut r, o); }

        let first = Engine::new(law_policy());
        let mut r2 = Run { clock: 0 };
        for o in &ops[..k] { apply(&first, &mut r2, o); }
        let bytes = first.snapshot();
        drop(first);
        let second = Engine::restore(law_policy(), &bytes).unwrap();
        for o in &ops[k..] { apply(&second, &mut r2, o); }

        prop_assert_eq!(whole.stats(), second.stats());
        prop_assert_eq!(all(&whole), all(&second));
        // A second snapshot of equal states is byte-identical.
        prop_assert_eq!(whole.snapshot(), second.snapshot());
    }
}

#[test]
fn restore_refuses_another_policy_and_corrupt_bytes() {
    let e = Engine::new(law_policy());
    e.register(profile("a", false)).unwrap();
    let bytes = e.snapshot();
    // Reformatting the policy does not change its fingerprint...
    let text = serde_json::to_string_pretty(law_policy().source()).unwrap();
    assert!(Engine::restore(Policy::from_json(&text).unwrap(), &bytes).is_ok());
    // ...changing a number does.
    let mut doc = law_policy().source().clone();
    doc["rules"][0]["for_ms"] = json!(1600);
    let other = Policy::from_value(doc).unwrap();
    match Engine::restore(other, &bytes) {
        Err(Error::State(m)) => assert!(m.contains("different policy"), "{m}"),
        r => panic!("{r:?}"),
    }
    for bad in [
        &bytes[..bytes.len() - 1],
        &bytes[..10],
        b"nonsense".as_slice(),
        &[],
    ] {
        assert!(matches!(
            Engine::restore(law_policy(), bad),
            Err(Error::State(_))
        ));
    }
    let mut flipped = bytes.clone();
    flipped[40] ^= 1;
    match Engine::restore(law_policy(), &flipped) {
        Err(Error::State(m)) => assert!(m.contains("checksum"), "{m}"),
        r => panic!("{r:?}"),
    }
}

#[test]
fn a_system_moves_between_engines_with_its_state() {
    let a = Engine::new(law_policy());
    let b = Engine::new(law_policy());
    let c = Engine::new(law_policy());
    b.register(profile("other", false)).unwrap();
    let ha = a.register(profile("mover", true)).unwrap();
    let hc = c.register(profile("mover", true)).unwrap();
    let g = a.signal("g").unwrap();
    // Same history in a and c.
    for (i, v) in [1.0, 2.0, 2.0, 3.5].iter().enumerate() {
        a.observe(ha, g, *v, i as i64 * 1000).unwrap();
        c.observe(hc, g, *v, i as i64 * 1000).unwrap();
    }
    let bytes = a.snapshot_system(ha).unwrap();
    let hb = b.restore_system(&bytes).unwrap();
    assert_eq!(hb.0, 1);
    assert_eq!(b.system_level(hb).unwrap(), c.system_level(hc).unwrap());
    assert_eq!(b.rule_levels(hb).unwrap(), c.rule_levels(hc).unwrap());
    // The rest of the history gives the same transitions (seq and handle aside).
    let mut v = Vec::new();
    c.drain(&mut v);
    for (i, x) in [3.5, 0.0, 0.0, 0.0, 0.0].iter().enumerate() {
        let ts = 4000 + i as i64 * 1000;
        b.observe(hb, g, *x, ts).unwrap();
        c.observe(hc, g, *x, ts).unwrap();
    }
    let strip = |e: &Engine| {
        let mut v = Vec::new();
        e.drain(&mut v);
        v.into_iter()
            .map(|t| (t.ts, t.rule_id, t.from, t.to, t.value))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&b), strip(&c));
    assert!(matches!(b.restore_system(&bytes), Err(Error::Duplicate(_))));
    assert!(matches!(
        b.restore_system(&bytes[1..]),
        Err(Error::State(_))
    ));
}
