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
fn restore_migrates_to_another_policy_and_refuses_corrupt_bytes() {
    let e = Engine::new(law_policy());
    e.register(profile("a", false)).unwrap();
    let bytes = e.snapshot();
    // Reformatting the policy does not change its fingerprint: restored as it was...
    let text = serde_json::to_string_pretty(law_policy().source()).unwrap();
    let same = Engine::restore(Policy::from_json(&text).unwrap(), &bytes).unwrap();
    assert!(same.last_reload_report().is_none());
    // ...changing a number migrates the state as a reload would (tests/reload.rs).
    let mut doc = law_policy().source().clone();
    doc["rules"][0]["for_ms"] = json!(1600);
    let other = Policy::from_value(doc).unwrap();
    let moved = Engine::restore(other.clone(), &bytes).unwrap();
    assert_eq!(moved.policy().fingerprint(), other.fingerprint());
    let report = moved.last_reload_report().unwrap();
    assert_eq!(report.reset.len(), 1);
    assert_eq!(report.reset[0].rule, "max-g");
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

/// The run that wrote `tests/data/reload/snapshot-v2.bin` and `system-v2.bin` with the
/// library's previous snapshot format (version 2): two systems, a silence, observations
/// `0..12` of this script and a tick at 9000; `rest` goes on from there.
fn v2_script(e: &Engine, steps: std::ops::Range<i64>) {
    let hs = [e.system("s0").unwrap(), e.system("s1").unwrap()];
    let s = |n: &str| e.signal(n).unwrap();
    let (g, n, k, hb) = (s("g"), s("n"), s("k"), s("hb"));
    for i in steps {
        let (h, ts) = (hs[(i % 2) as usize], i * 700);
        let _ = e.observe(h, g, (i % 5) as f64 + 0.5, ts);
        let _ = e.observe(h, n, 3.0, ts);
        if i % 3 == 0 {
            let _ = e.observe(h, k, 1.0, ts);
        }
        if i % 4 == 0 {
            let _ = e.observe(h, hb, 1.0, ts);
        }
    }
}

fn v2_data(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/data/reload/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn version_2_snapshots_and_system_exports_are_still_read() {
    let policy =
        Policy::from_json(&String::from_utf8(v2_data("law-policy.json")).expect("UTF-8")).unwrap();
    let bytes = v2_data("snapshot-v2.bin");
    let export = v2_data("system-v2.bin");
    assert_eq!(&bytes[8..12], &2u32.to_le_bytes());
    assert_eq!(&export[8..12], &2u32.to_le_bytes());
    // The same run with this library.
    let whole = Engine::new(policy.clone());
    let prof = |id: &str, s: &str| {
        airisk::Profile::from_json(&format!(
            r#"{{"id": "{id}", "sector": "{s}", "data": "public", "autonomy": "hitl", "users": 1}}"#
        ))
        .unwrap()
    };
    whole.register(prof("s0", "s0")).unwrap();
    whole.register(prof("s1", "s9")).unwrap();
    whole
        .silence(airisk::Silence {
            id: "maint".into(),
            system: Some("s0".into()),
            category: None,
            rule: None,
            starts: 0,
            ends: 5000,
            reason: Some("v2 fixture".into()),
            by: None,
        })
        .unwrap();
    v2_script(&whole, 0..12);
    whole.tick(9000);
    let restored = Engine::restore(policy.clone(), &bytes).unwrap();
    assert_eq!(restored.stats(), whole.stats());
    assert!(whole.stats().transitions > 0);
    assert_eq!(restored.silences(), whole.silences());
    let s1 = restored.system("s1").unwrap();
    // The system export, into an engine of the same policy.
    let other = Engine::new(policy.clone());
    let h = other.restore_system(&export).unwrap();
    assert_eq!(
        other.rule_levels(h).unwrap(),
        whole.rule_levels(s1).unwrap()
    );
    assert_eq!(other.silences().len(), 0); // the silence is s0's
    // Both go on alike, queued transitions and incident events included.
    for e in [&whole, &restored] {
        v2_script(e, 12..24);
        e.tick(20_000);
    }
    assert_eq!(all(&whole), all(&restored));
    let (mut a, mut b) = (Vec::new(), Vec::new());
    whole.drain_incidents(&mut a);
    restored.drain_incidents(&mut b);
    assert!(!a.is_empty());
    assert_eq!(a, b);
    assert_eq!(whole.snapshot(), restored.snapshot());
    // A version-2 snapshot does not carry its policy: under another one it is refused.
    let mut doc = policy.source().clone();
    doc["rules"][0]["for_ms"] = json!(1600);
    let tuned = Policy::from_value(doc).unwrap();
    match Engine::restore(tuned.clone(), &bytes) {
        Err(Error::State(m)) => assert!(m.contains("does not carry it"), "{m}"),
        r => panic!("{:?}", r.map(|_| ())),
    }
    match Engine::new(tuned).restore_system(&export) {
        Err(Error::State(m)) => assert!(m.contains("does not carry it"), "{m}"),
        r => panic!("{r:?}"),
    }
}

#[test]
fn current_snapshots_carry_their_policy_and_version_3() {
    let e = Engine::new(law_policy());
    e.register(profile("a", false)).unwrap();
    let bytes = e.snapshot();
    assert_eq!(&bytes[8..12], &airisk::SNAPSHOT_VERSION.to_le_bytes());
    assert_eq!(airisk::SNAPSHOT_VERSION, 3);
    let canonical = law_policy().canonical_json();
    assert!(
        bytes
            .windows(canonical.len())
            .any(|w| w == canonical.as_bytes())
    );
    // A forged policy whose fingerprint does not match is refused (checksum fixed up).
    let at = bytes
        .windows(canonical.len())
        .position(|w| w == canonical.as_bytes())
        .unwrap();
    let mut forged = bytes.clone();
    let i = at + canonical.find("1500").unwrap();
    forged[i] = b'2';
    let n = forged.len() - 8;
    let sum = fnv1a(&forged[..n]);
    forged[n..].copy_from_slice(&sum.to_le_bytes());
    let mut doc = law_policy().source().clone();
    doc["rules"][0]["for_ms"] = json!(1600);
    match Engine::restore(Policy::from_value(doc).unwrap(), &forged) {
        Err(Error::State(m)) => assert!(m.contains("fingerprint"), "{m}"),
        r => panic!("{:?}", r.map(|_| ())),
    }
}

/// FNV-1a 64 (the snapshot checksum).
fn fnv1a(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for x in b {
        h ^= u64::from(*x);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
