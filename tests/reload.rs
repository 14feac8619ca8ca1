//! Policy reload (`Engine::reload`).
//!
//! - **The reload law** (property): reloading the identical policy — a fresh parse of the
//!   same document, so the reload goes through the planning and state migration like any
//!   other — anywhere in a random log changes no output: transitions, incident events and
//!   levels, field for field, and the engine's state (its snapshot) is byte for byte the
//!   one of the run without reloads.
//! - A policy that changes one rule's thresholds: every other rule's transitions are
//!   unchanged and the changed rule restarts empty (hand-computed).
//! - Hand cases: a rule removed while red, a rule added, a category renamed, a system
//!   re-graded, an invalid or refused policy, a pending `for_ms` timer.
//! - Threads: two observers and a reloader going back and forth.

mod common;
use airisk::replay::Replayer;
use airisk::{Engine, Error, IncidentEvent, Level, Policy, SignalId, SystemHandle, Transition};
use common::*;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

fn drain(e: &Engine) -> Vec<Transition> {
    let mut v = Vec::new();
    e.drain(&mut v);
    v
}

fn drain_incidents(e: &Engine) -> Vec<IncidentEvent> {
    let mut v = Vec::new();
    e.drain_incidents(&mut v);
    v
}

fn sig(e: &Engine, s: &str) -> SignalId {
    e.signal(s).unwrap()
}

/// Rule-scope transitions of rule `id` as (ts, from, to).
fn moves(ts: &[Transition], id: &str) -> Vec<(i64, Level, Level)> {
    ts.iter()
        .filter(|t| t.rule_id.as_deref() == Some(id))
        .map(|t| (t.ts, t.from, t.to))
        .collect()
}

/// The law policy of the other property tests (every aggregate, detectors, timers,
/// hysteresis, escalation) with an `incidents` section, so incident events are compared
/// too.
fn law_doc() -> Value {
    let mut d = law_policy().source().clone();
    for l in ["blue", "yellow", "orange", "red"] {
        d["responses"]["levels"][l]["report_within_s"] = Value::Null;
        let a: Vec<Value> = d["responses"]["levels"][l]["actions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| *a != "report_regulator")
            .cloned()
            .collect();
        d["responses"]["levels"][l]["actions"] = json!(a);
    }
    d["responses"]["overrides"] = json!([]);
    d["incidents"] = json!({"open_at": "yellow", "severities": [{"id": "s1"}, {"id": "s2"}],
        "severity_by_level": {"yellow": "s1", "orange": "s1", "red": "s2"}, "report_at": "s1",
        "operator_types": [{"id": "o", "initial_within_s": 2}], "ack_within_s": 1,
        "final_within_s": 3});
    d
}

const SIGNALS: [&str; 4] = ["n", "k", "g", "hb"];

#[derive(Debug, Clone)]
enum Op {
    Obs {
        sys: usize,
        sig: usize,
        value: f64,
        dt: i64,
    },
    Many {
        sys: usize,
        values: Vec<(usize, f64)>,
        dt: i64,
    },
    Tick {
        dt: i64,
    },
    Reload,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..3usize, 0..4usize, 0.0..6.0f64, -3000..1500i64)
            .prop_map(|(sys, sig, value, dt)| Op::Obs { sys, sig, value, dt }),
        2 => (0..3usize, proptest::collection::btree_map(0..4usize, 0.0..6.0f64, 1..4), -1000..1500i64)
            .prop_map(|(sys, m, dt)| Op::Many { sys, values: m.into_iter().collect(), dt }),
        1 => (0..4000i64).prop_map(|dt| Op::Tick { dt }),
        1 => Just(Op::Reload),
    ]
}

/// Levels after an operation: per system, its level and its rules' levels.
type Levels = Vec<Vec<(Level, Vec<Level>)>>;

/// Runs `ops` (with `reload`, its reload ops reload a fresh parse of the same document).
fn run(ops: &[Op], reload: bool) -> (Vec<Transition>, Vec<IncidentEvent>, Levels, Vec<u8>) {
    let doc = law_doc();
    let e = Engine::new(Policy::from_value(doc.clone()).unwrap());
    let hs: Vec<SystemHandle> = (0..3)
        .map(|i| e.register(profile(&format!("s{i}"), i == 1)).unwrap())
        .collect();
    let sig: Vec<SignalId> = SIGNALS.iter().map(|s| e.signal(s).unwrap()).collect();
    let value = |s: usize, v: f64| if s == 2 { v } else { v.round() };
    let mut clock = 0i64;
    let mut levels = Vec::new();
    for o in ops {
        match o {
            Op::Obs {
                sys,
                sig: s,
                value: v,
                dt,
            } => {
                let ts = clock + dt;
                clock = clock.max(ts);
                let _ = e.observe(hs[*sys], sig[*s], value(*s, *v), ts);
            }
            Op::Many { sys, values, dt } => {
                let ts = clock + dt;
                clock = clock.max(ts);
                let v: Vec<(SignalId, f64)> =
                    values.iter().map(|&(s, v)| (sig[s], value(s, v))).collect();
                let _ = e.observe_many(hs[*sys], &v, ts);
            }
            Op::Tick { dt } => {
                clock += dt;
                e.tick(clock);
            }
            Op::Reload => {
                if reload {
                    let report = e.reload(Policy::from_value(doc.clone()).unwrap()).unwrap();
                    assert!(report.is_empty(), "{report:?}");
                    assert_eq!(report.kept.len(), e.policy().rules().len());
                    assert_eq!(report.transitions, 0);
                }
            }
        }
        levels.push(
            hs.iter()
                .map(|h| (e.system_level(*h).unwrap(), e.rule_levels(*h).unwrap()))
                .collect(),
        );
    }
    // Signal ids stay valid across reloads.
    for (i, s) in SIGNALS.iter().enumerate() {
        assert_eq!(e.signal(s), Some(sig[i]));
    }
    (drain(&e), drain_incidents(&e), levels, e.snapshot())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, .. ProptestConfig::default() })]

    #[test]
    fn reloading_the_identical_policy_changes_no_output(ops in proptest::collection::vec(op(), 1..160)) {
        let (t0, i0, l0, s0) = run(&ops, false);
        let (t1, i1, l1, s1) = run(&ops, true);
        prop_assert_eq!(t0, t1);
        prop_assert_eq!(i0, i1);
        prop_assert_eq!(l0, l1);
        prop_assert!(s0 == s1, "the snapshots differ");
    }
}

/// The law on a fixed log where every kind of rule holds state at the reloads (so the
/// property is not vacuous): windows, timers, detectors, psi histograms, silence, open
/// incidents.
#[test]
fn the_law_holds_with_state_in_every_kind_of_rule() {
    let mut ops = Vec::new();
    for i in 0..40 {
        ops.push(Op::Many {
            sys: i % 3,
            values: vec![(0, 4.0), (1, 3.0), (2, (i % 7) as f64), (3, 1.0)],
            dt: 700,
        });
        if i % 5 == 2 {
            ops.push(Op::Reload);
        }
        ops.push(Op::Obs {
            sys: (i + 1) % 3,
            sig: 2,
            value: 5.5,
            dt: 100,
        });
        if i % 7 == 3 {
            ops.push(Op::Tick { dt: 2500 });
            ops.push(Op::Reload);
        }
    }
    let (t0, i0, l0, s0) = run(&ops, false);
    let (t1, i1, l1, s1) = run(&ops, true);
    let rules: std::collections::BTreeSet<&str> =
        t0.iter().filter_map(|t| t.rule_id.as_deref()).collect();
    assert!(rules.len() >= 6, "{rules:?}");
    assert!(!i0.is_empty());
    assert_eq!(t0, t1);
    assert_eq!(i0, i1);
    assert_eq!(l0, l1);
    assert!(s0 == s1);
}

/// Two rules on a low-grade system: `a` (max of g over 3 buckets) and `b` (sum of n over 3
/// buckets) with `b`'s thresholds given.
fn two_rules(b_low: Value) -> Value {
    policy_doc(json!([
        rule(json!({"id": "a", "category": "c2", "window_ms": 3000})),
        rule(
            json!({"id": "b", "category": "c3", "aggregate": "sum", "signal": "n",
            "window_ms": 3000, "thresholds": {"low": b_low, "high": [3, 6, 9, 12]}})
        ),
    ]))
}

#[test]
fn changed_thresholds_restart_that_rule_alone() {
    // b: low [5, 10] before, [4, 8] after. Hand-computed:
    //  t=0     g 2.5, n 3   a: max 2.5 → yellow; b: 3
    //  t=1000  n 3          b: 6 ≥ 5 → blue
    //  reload (watermark 1000): b is reset: blue → none, reason policy_reload, at 1000
    //  t=1500  n 1          b restarted: sees only 1 (bucket 1 after the reload)
    //  t=2000  n 2          b: 1 + 2 = 3 < 4 (the shared window holds 9: yellow if kept)
    //  t=3000  n 1          b: 1 + 2 + 1 = 4 → blue
    //  t=4000  n 0, g 0.5   b: its window is past the reload: 2 + 1 + 0 = 3 → none;
    //                       a: max 0.5 → none
    let run = |reload: bool| {
        let e = Engine::new(Policy::from_value(two_rules(json!([5, 10, null, null]))).unwrap());
        let h = e.register(profile("s", false)).unwrap();
        let (g, n) = (sig(&e, "g"), sig(&e, "n"));
        e.observe(h, g, 2.5, 0).unwrap();
        e.observe(h, n, 3.0, 0).unwrap();
        e.observe(h, n, 3.0, 1000).unwrap();
        if reload {
            let new = Policy::from_value(two_rules(json!([4, 8, null, null]))).unwrap();
            let report = e.reload(new).unwrap();
            assert_eq!(report.kept, vec!["a"]);
            assert_eq!(report.reset.len(), 1);
            assert_eq!(report.reset[0].rule, "b");
            assert_eq!(report.reset[0].why, "thresholds");
            assert_eq!(report.reset[0].systems, vec!["s"]);
            assert_eq!(report.transitions, 1);
        }
        e.observe(h, n, 1.0, 1500).unwrap();
        e.observe(h, n, 2.0, 2000).unwrap();
        e.observe(h, n, 1.0, 3000).unwrap();
        e.observe(h, n, 0.0, 4000).unwrap();
        e.observe(h, g, 0.5, 4000).unwrap();
        drain(&e)
    };
    let plain = run(false);
    let reloaded = run(true);
    // a: the same transitions with or without the reload.
    assert_eq!(moves(&plain, "a"), vec![(0, N, Y), (4000, Y, N)]);
    assert_eq!(moves(&reloaded, "a"), moves(&plain, "a"));
    // b without reload: blue at 1000 (sum 6), none at 4000 (sum 3).
    assert_eq!(moves(&plain, "b"), vec![(1000, N, B), (4000, B, N)]);
    assert_eq!(
        moves(&reloaded, "b"),
        vec![(1000, N, B), (1000, B, N), (3000, N, B), (4000, B, N)]
    );
    let why: Vec<Option<&str>> = reloaded
        .iter()
        .filter(|t| t.rule_id.as_deref() == Some("b"))
        .map(|t| t.reason.as_deref())
        .collect();
    assert_eq!(why, vec![None, Some("policy_reload"), None, None]);
    let b_blue = reloaded
        .iter()
        .find(|t| t.rule_id.as_deref() == Some("b") && t.ts == 3000)
        .unwrap();
    assert_eq!(b_blue.value, Some(4.0));
    assert_eq!(b_blue.threshold, Some(4.0));
    // seq has no gap, and the system level follows.
    for (i, t) in reloaded.iter().enumerate() {
        assert_eq!(t.seq, i as u64 + 1);
    }
}

/// `law_doc` without the rule `id`.
fn without_rule(mut d: Value, id: &str) -> Value {
    d["rules"].as_array_mut().unwrap().retain(|r| r["id"] != id);
    d
}

#[test]
fn a_rule_removed_while_red_goes_to_none_with_the_reason_and_resolves_its_incident() {
    let doc = law_doc();
    let e = Engine::new(Policy::from_value(doc.clone()).unwrap());
    let h = e.register(profile("s", false)).unwrap();
    // max-g: 4.5 ≥ 4 held for 1500 ms → red (min-g reads g too, but 4.5 is not below 1).
    e.observe(h, sig(&e, "g"), 4.5, 0).unwrap();
    e.observe(h, sig(&e, "g"), 4.5, 1500).unwrap();
    let before = drain(&e);
    assert!(
        before
            .iter()
            .any(|t| t.rule_id.as_deref() == Some("max-g") && t.to == R)
    );
    let level_before = e.system_level(h).unwrap();
    assert_eq!(level_before, R);
    drain_incidents(&e);
    let report = e
        .reload(Policy::from_value(without_rule(doc, "max-g")).unwrap())
        .unwrap();
    assert_eq!(report.removed, vec!["max-g"]);
    assert!(report.reset.is_empty() && report.added.is_empty());
    assert_eq!(report.transitions, 1);
    let t = drain(&e);
    let removed = t
        .iter()
        .find(|t| t.rule_id.as_deref() == Some("max-g"))
        .unwrap();
    assert_eq!((removed.from, removed.to, removed.ts), (R, N, 1500));
    assert_eq!(removed.reason.as_deref(), Some("policy_reload"));
    assert_eq!(removed.value, None);
    assert_eq!(removed.actions.0, 0);
    // The system line follows it down to what the other rules call for.
    let sys = t.iter().find(|t| t.rule.is_none()).unwrap();
    assert_eq!(sys.from, R);
    assert_eq!(sys.to, e.system_level(h).unwrap());
    assert!(sys.to < R);
    assert!(t.iter().position(|x| x.rule.is_none()) > t.iter().position(|x| x.rule.is_some()));
    // The removal acts on incidents: c2 has no rule above none any more.
    let events = drain_incidents(&e);
    assert!(
        events
            .iter()
            .any(|ev| ev.event == airisk::IncidentEventKind::Resolved && &*ev.category == "c2"),
        "{events:#?}"
    );
    assert!(e.policy().rule("max-g").is_none());
}

#[test]
fn an_added_rule_starts_empty_and_sees_only_what_comes_after_the_reload() {
    let old = two_rules(json!([5, 10, null, null]));
    let mut new = old.clone();
    new["rules"].as_array_mut().unwrap().push(rule(
        json!({"id": "c", "category": "c4", "window_ms": 3000}),
    ));
    let e = Engine::new(Policy::from_value(old).unwrap());
    let h = e.register(profile("s", false)).unwrap();
    let g = sig(&e, "g");
    e.observe(h, g, 3.5, 0).unwrap(); // a: orange
    let report = e.reload(Policy::from_value(new).unwrap()).unwrap();
    assert_eq!(report.added, vec!["c"]);
    assert_eq!(report.kept, vec!["a", "b"]);
    assert_eq!(report.transitions, 0);
    assert_eq!(e.rule_levels(h).unwrap(), vec![O, N, N]);
    // c's window does not hold the 3.5 from before: max 1.5 → blue, not orange.
    e.observe(h, g, 1.5, 500).unwrap();
    let t = drain(&e);
    assert_eq!(moves(&t, "c"), vec![(500, N, B)]);
    assert_eq!(moves(&t, "a"), vec![(0, N, O)]);
    // Once its window holds only buckets after the reload, it reads the shared window
    // again: at 3000 that is buckets 1..=3, where only 0.5 is.
    e.observe(h, g, 0.5, 3000).unwrap();
    e.observe(h, g, 2.5, 3100).unwrap();
    let t = drain(&e);
    assert_eq!(moves(&t, "c"), vec![(3000, B, N), (3100, N, Y)]);
    assert_eq!(moves(&t, "a"), vec![(3000, O, N), (3100, N, Y)]);
}

/// `two_rules` with category c2 renamed c2x (the category, the signal g, rule a, the
/// override).
fn renamed(mut d: Value) -> Value {
    let s = serde_json::to_string(&d)
        .unwrap()
        .replace("\"c2\"", "\"c2x\"");
    d = serde_json::from_str(&s).unwrap();
    d
}

#[test]
fn a_renamed_category_resets_its_rules() {
    let old = two_rules(json!([5, 10, null, null]));
    let e = Engine::new(Policy::from_value(old.clone()).unwrap());
    let h = e.register(profile("s", false)).unwrap();
    let (g, n) = (sig(&e, "g"), sig(&e, "n"));
    e.observe(h, g, 2.5, 0).unwrap(); // a: yellow
    e.observe(h, n, 6.0, 0).unwrap(); // b: blue
    drain(&e);
    let report = e.reload(Policy::from_value(renamed(old)).unwrap()).unwrap();
    assert_eq!(report.kept, vec!["b"]);
    assert_eq!(report.reset.len(), 1);
    assert_eq!(
        (report.reset[0].rule.as_str(), report.reset[0].why.as_str()),
        ("a", "definition")
    );
    let t = drain(&e);
    assert_eq!(t.len(), 2, "{t:#?}"); // a to none, and the system line yellow → blue
    assert_eq!(t[0].category.as_deref(), Some("c2"));
    assert_eq!((t[0].from, t[0].to), (Y, N));
    assert_eq!(t[0].reason.as_deref(), Some("policy_reload"));
    assert_eq!((t[1].rule, t[1].from, t[1].to), (None, Y, B));
    // Signal ids survive the rename of their category.
    assert_eq!(e.signal("g"), Some(g));
    e.observe(h, g, 2.5, 100).unwrap();
    let t = drain(&e);
    assert_eq!(moves(&t, "a"), vec![(100, N, Y)]);
    assert_eq!(t[0].category.as_deref(), Some("c2x"));
}

#[test]
fn renaming_the_category_of_an_open_incident_is_refused_and_changes_nothing() {
    let doc = law_doc();
    let e = Engine::new(Policy::from_value(doc.clone()).unwrap());
    let h = e.register(profile("s", false)).unwrap();
    e.observe(h, sig(&e, "g"), 4.5, 0).unwrap();
    e.observe(h, sig(&e, "g"), 4.5, 1500).unwrap();
    assert!(e.incidents().iter().any(|i| &*i.category == "c2"));
    let before = e.snapshot();
    let fp = e.policy().fingerprint();
    let err = e
        .reload(Policy::from_value(renamed(doc)).unwrap())
        .unwrap_err();
    let Error::Reload(msg) = &err else {
        panic!("{err:?}")
    };
    assert!(msg.contains("s/c2/1") && msg.contains("c2"), "{msg}");
    assert_eq!(e.snapshot(), before);
    assert_eq!(e.policy().fingerprint(), fp);
}

#[test]
fn a_regraded_system_switches_thresholds_and_keeps_rules_whose_thresholds_are_equal() {
    // a: low [1,2,3,4] = high [1,2,3,4]: kept. b: low [5,10] ≠ high [3,6,9,12]: reset.
    let old = two_rules(json!([5, 10, null, null]));
    let mut new = old.clone();
    new["classification"]["sectors"]["s0"] = json!(5); // s0 is now high
    let e = Engine::new(Policy::from_value(old).unwrap());
    let h = e.register(profile("s", false)).unwrap();
    let (g, n) = (sig(&e, "g"), sig(&e, "n"));
    e.observe(h, g, 2.5, 0).unwrap(); // a: yellow
    e.observe(h, n, 5.0, 0).unwrap(); // b: 5 → blue (low)
    drain(&e);
    let report = e.reload(Policy::from_value(new).unwrap()).unwrap();
    assert_eq!(report.regraded.len(), 1);
    assert_eq!(
        (
            report.regraded[0].system.as_str(),
            report.regraded[0].from.as_str(),
            report.regraded[0].to.as_str()
        ),
        ("s", "low", "high")
    );
    assert_eq!(report.kept, vec!["a"]);
    assert_eq!(report.reset[0].rule, "b");
    assert_eq!(report.reset[0].why, "thresholds");
    assert_eq!(e.system_profile(h).unwrap().0, 1);
    let t = drain(&e);
    // b blue → none (reason); the system stays yellow (a kept).
    assert_eq!(t.len(), 1, "{t:#?}");
    assert_eq!((t[0].from, t[0].to, t[0].grade_id.as_ref()), (B, N, "high"));
    assert_eq!(e.rule_levels(h).unwrap(), vec![Y, N]);
    // b under the high thresholds, from an empty window: 3 → blue, 6 → yellow.
    e.observe(h, n, 3.0, 100).unwrap();
    e.observe(h, n, 3.0, 200).unwrap();
    let t = drain(&e);
    assert_eq!(moves(&t, "b"), vec![(100, N, B), (200, B, Y)]);
    assert!(t.iter().all(|t| &*t.grade_id == "high"));
}

#[test]
fn a_refused_reload_changes_nothing_and_says_which_system() {
    let old = two_rules(json!([5, 10, null, null]));
    let mut new = old.clone();
    new["classification"]["prohibited"] =
        json!([{"id": "no-s0", "when": {"sectors": ["s0"]}, "basis": "Art. X"}]);
    let Ok(new) = Policy::from_value(new.clone()) else {
        panic!("the prohibited-use form changed: {new}");
    };
    let e = Engine::new(Policy::from_value(old).unwrap());
    let h = e.register(profile("s", false)).unwrap();
    e.observe(h, sig(&e, "g"), 2.5, 0).unwrap();
    let snap = e.snapshot();
    let fp = e.policy().fingerprint();
    let err = e.reload(new).unwrap_err();
    assert!(
        matches!(&err, Error::Reload(m) if m.contains("\"s\"") || m.contains("s: ")),
        "{err}"
    );
    assert_eq!(e.snapshot(), snap);
    assert_eq!(e.policy().fingerprint(), fp);
}

#[test]
fn an_invalid_policy_on_a_reload_line_is_refused_with_its_path_and_changes_nothing() {
    let old = two_rules(json!([5, 10, null, null]));
    let mut bad = old.clone();
    bad["rules"][1]["window_ms"] = json!(-5);
    let lines = |with_reload: bool| {
        let mut v = vec![
            json!({"op": "register", "ts": 0, "profile": {"id": "s", "sector": "s0",
                "data": "public", "autonomy": "hitl", "users": 1}}),
            json!({"op": "observe", "ts": 0, "system": "s", "signal": "g", "value": 2.5}),
        ];
        if with_reload {
            v.push(json!({"op": "reload", "ts": 500, "policy": bad}));
        }
        v.push(json!({"op": "observe", "ts": 1000, "system": "s", "signal": "n", "value": 6}));
        v
    };
    let replay = |with_reload: bool| {
        let mut r = Replayer::new(Policy::from_value(old.clone()).unwrap());
        let mut errors = Vec::new();
        for l in lines(with_reload) {
            if let Err(e) = r.apply_line(l.to_string().as_bytes()) {
                errors.push(e);
            }
        }
        (drain(r.engine()), r.engine().snapshot(), errors)
    };
    let (t0, s0, e0) = replay(false);
    let (t1, s1, e1) = replay(true);
    assert!(e0.is_empty());
    assert_eq!(e1.len(), 1);
    assert_eq!(e1[0].kind, airisk::replay::ErrorKind::ReloadRefused);
    assert!(
        e1[0].message.contains("rules[1].window_ms"),
        "{}",
        e1[0].message
    );
    assert_eq!(t0, t1);
    assert_eq!(s0, s1);
}

#[test]
fn a_pending_for_ms_timer_of_a_kept_rule_continues_across_a_reload() {
    let with_for = |b_low: Value| {
        let mut d = two_rules(b_low);
        d["rules"][0]["for_ms"] = json!(2000);
        Policy::from_value(d).unwrap()
    };
    let run = |reload: bool| {
        let e = Engine::new(with_for(json!([5, 10, null, null])));
        let h = e.register(profile("s", false)).unwrap();
        let g = sig(&e, "g");
        e.observe(h, g, 2.5, 0).unwrap(); // met since 0, held for 2000 ms
        e.observe(h, g, 2.5, 1000).unwrap();
        if reload {
            // Another rule changes: a is kept with its timer.
            let r = e.reload(with_for(json!([4, 8, null, null]))).unwrap();
            assert_eq!(r.kept, vec!["a"]);
        }
        e.observe(h, g, 2.5, 1999).unwrap();
        e.observe(h, g, 2.5, 2000).unwrap();
        drain(&e)
    };
    assert_eq!(moves(&run(false), "a"), vec![(2000, N, Y)]);
    assert_eq!(moves(&run(true), "a"), vec![(2000, N, Y)]);
}

#[test]
fn two_observers_and_a_reloader_lose_nothing_and_keep_every_chain_valid() {
    // A and B differ: b's thresholds (reset each way), d only in A (removed / added), c
    // only in B; a is kept throughout.
    let mut a = two_rules(json!([5, 10, null, null]));
    a["rules"].as_array_mut().unwrap().push(rule(
        json!({"id": "d", "category": "c1", "aggregate": "sum", "signal": "k", "window_ms": 2000}),
    ));
    let mut b = two_rules(json!([4, 8, 12, null]));
    b["rules"].as_array_mut().unwrap().push(rule(
        json!({"id": "c", "category": "c4", "signal": "g", "window_ms": 1000}),
    ));
    let (pa, pb) = (
        Policy::from_value(a).unwrap(),
        Policy::from_value(b).unwrap(),
    );
    let e = Arc::new(Engine::new(pa.clone()));
    let hs: Vec<SystemHandle> = (0..2)
        .map(|i| e.register(profile(&format!("s{i}"), i == 1)).unwrap())
        .collect();
    let seen: Arc<parking_lot::Mutex<Vec<Transition>>> = Arc::default();
    {
        let seen = seen.clone();
        e.set_sink(Some(Arc::new(move |t: &Transition| {
            seen.lock().push(t.clone())
        })));
    }
    let signals: Vec<SignalId> = ["n", "g", "k"].iter().map(|s| sig(&e, s)).collect();
    let done = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicU64::new(0));
    let observers: Vec<_> = hs
        .iter()
        .enumerate()
        .map(|(i, &h)| {
            let (e, signals, done, accepted) =
                (e.clone(), signals.clone(), done.clone(), accepted.clone());
            std::thread::spawn(move || {
                let mut ts = 0i64;
                let mut k = 0u64;
                while !done.load(Ordering::Relaxed) || k < 2000 {
                    ts += 150;
                    let s = signals[(k % 3) as usize];
                    let v = ((k * 7 + i as u64) % 11) as f64 / 2.0;
                    let r = if k % 5 == 0 {
                        e.observe_many(h, &[(signals[0], v), (signals[2], 1.0)], ts)
                            .map(|_| 2)
                    } else {
                        e.observe(h, s, v, ts).map(|_| 1)
                    };
                    match r {
                        Ok(n) => {
                            accepted.fetch_add(n, Ordering::Relaxed);
                        }
                        Err(err) => panic!("observer {i}: {err}"),
                    }
                    k += 1;
                }
            })
        })
        .collect();
    let mut reports = 0;
    for i in 0..1000 {
        let p = if i % 2 == 0 { pb.clone() } else { pa.clone() };
        let r = e.reload(p).unwrap();
        assert_eq!(r.kept.first().map(String::as_str), Some("a"));
        reports += 1;
    }
    done.store(true, Ordering::Relaxed);
    for o in observers {
        o.join().unwrap();
    }
    assert_eq!(reports, 1000);
    let stats = e.stats();
    assert_eq!(stats.observed, accepted.load(Ordering::Relaxed));
    assert_eq!(stats.rejected_invalid + stats.rejected_stale, 0);
    // Signal ids are the same after 1000 reloads.
    for (s, id) in ["n", "g", "k"].iter().zip(&signals) {
        assert_eq!(e.signal(s), Some(*id));
    }
    let mut t = std::mem::take(&mut *seen.lock());
    t.sort_by_key(|t| t.seq);
    for (i, x) in t.iter().enumerate() {
        assert_eq!(x.seq, i as u64 + 1, "a gap in seq");
    }
    assert_eq!(stats.transitions, t.len() as u64);
    let mut last: HashMap<(String, Option<String>), Level> = HashMap::new();
    let mut reload_moves = 0;
    for x in &t {
        let k = (
            x.system_id.to_string(),
            x.rule_id.as_deref().map(str::to_owned),
        );
        let prev = last.get(&k).copied().unwrap_or(Level::None);
        assert_eq!(x.from, prev, "broken chain at seq {}: {x:?}", x.seq);
        assert_ne!(x.from, x.to);
        last.insert(k, x.to);
        reload_moves += x.reason.is_some() as u32;
    }
    assert!(reload_moves > 0, "no rule was above none at a reload");
    // The final levels are the chains' ends.
    let policy = e.policy();
    for &h in &hs {
        let id = e.system_id(h).unwrap().to_string();
        for (r, l) in policy.rules().iter().zip(e.rule_levels(h).unwrap()) {
            let end = last
                .get(&(id.clone(), Some(r.id.to_string())))
                .copied()
                .unwrap_or(N);
            assert_eq!(l, end, "{id} {}", r.id);
        }
        assert_eq!(
            e.system_level(h).unwrap(),
            last.get(&(id.clone(), None)).copied().unwrap_or(N)
        );
    }
}

#[test]
fn profiles_failing_the_new_policy_are_listed_in_a_diff() {
    let old = Policy::from_value(two_rules(json!([5, 10, null, null]))).unwrap();
    let mut d = two_rules(json!([5, 10, null, null]));
    d["classification"]["sectors"] = json!({"s9": 9});
    let new = Policy::from_value(d).unwrap();
    let r = airisk::ReloadReport::diff(&old, &new, &[profile("s", false), profile("t", true)]);
    assert_eq!(r.problems.len(), 1);
    assert_eq!(r.problems[0].system, "s");
    assert!(r.problems[0].reason.contains("sector"), "{:?}", r.problems);
}

/// The law policy with one rule's thresholds, one rule's window and the silence rule's
/// category changed, one rule removed and one added: most kinds of reset at once.
fn tuned_doc() -> Value {
    let mut d = law_doc();
    let rules = d["rules"].as_array_mut().unwrap();
    for r in rules.iter_mut() {
        match r["id"].as_str().unwrap() {
            "rate-k" => r["thresholds"]["low"] = json!([0.25, 0.5, 0.75, 0.9]),
            "sum-n" => r["window_ms"] = json!(3000),
            "quiet" => r["category"] = json!("c4"),
            _ => {}
        }
    }
    rules.retain(|r| r["id"] != "cusum-n");
    rules.push(
        json!({"id": "mean-g", "category": "c4", "signal": "g", "aggregate": "mean",
        "window_ms": 2000, "thresholds": {"low": [1, 2, 3, 4], "high": [1, 2, 3, 4]}}),
    );
    d
}

/// Applies `ops` to `e` (reload ops switch between the law policy and its tuned copy).
fn apply_ops(e: &Engine, ops: &[Op], clock: &mut i64, tuned: &mut bool) {
    let sig: Vec<SignalId> = SIGNALS.iter().map(|s| e.signal(s).unwrap()).collect();
    let hs: Vec<SystemHandle> = (0..3)
        .map(|i| e.system(&format!("s{i}")).unwrap())
        .collect();
    let value = |s: usize, v: f64| if s == 2 { v } else { v.round() };
    for o in ops {
        match o {
            Op::Obs {
                sys,
                sig: s,
                value: v,
                dt,
            } => {
                let ts = *clock + dt;
                *clock = (*clock).max(ts);
                let _ = e.observe(hs[*sys], sig[*s], value(*s, *v), ts);
            }
            Op::Many { sys, values, dt } => {
                let ts = *clock + dt;
                *clock = (*clock).max(ts);
                let v: Vec<(SignalId, f64)> =
                    values.iter().map(|&(s, v)| (sig[s], value(s, v))).collect();
                let _ = e.observe_many(hs[*sys], &v, ts);
            }
            Op::Tick { dt } => {
                *clock += dt;
                e.tick(*clock);
            }
            Op::Reload => {
                *tuned = !*tuned;
                let doc = if *tuned { tuned_doc() } else { law_doc() };
                // Refused when an open incident's category would go: then nothing changes.
                if e.reload(Policy::from_value(doc).unwrap()).is_err() {
                    *tuned = !*tuned;
                }
            }
        }
    }
}

fn engine3(doc: Value) -> Engine {
    let e = Engine::new(Policy::from_value(doc).unwrap());
    for i in 0..3 {
        e.register(profile(&format!("s{i}"), i == 1)).unwrap();
    }
    e
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    /// Snapshot, restore under the other policy, go on = reload at that point, go on; and
    /// a snapshot taken after reloads (private windows included) restores to the same
    /// state under its own policy.
    #[test]
    fn restoring_under_a_changed_policy_equals_reloading_it(
        ops in proptest::collection::vec(op(), 1..120),
        split in any::<proptest::sample::Index>(),
    ) {
        let k = split.index(ops.len() + 1);
        // Reference: reload at the split.
        let whole = engine3(law_doc());
        let (mut clock, mut tuned) = (0, false);
        apply_ops(&whole, &ops[..k], &mut clock, &mut tuned);
        let bytes = whole.snapshot();
        let target = if tuned { law_doc() } else { tuned_doc() };
        let reloaded = whole.reload(Policy::from_value(target.clone()).unwrap());
        // Under test: restore the snapshot under the other policy.
        let restored = Engine::restore(Policy::from_value(target).unwrap(), &bytes);
        match (&reloaded, &restored) {
            (Ok(report), Ok(e)) => prop_assert_eq!(Some(report.clone()), e.last_reload_report()),
            (Err(a), Err(b)) => {
                prop_assert_eq!(a, b);
                return Ok(());
            }
            _ => prop_assert!(false, "{:?} vs {:?}", reloaded, restored.map(|_| ())),
        }
        let restored = restored.unwrap();
        let (mut c2, mut t2) = (clock, !tuned);
        let mut t1 = !tuned;
        apply_ops(&whole, &ops[k..], &mut clock, &mut t1);
        apply_ops(&restored, &ops[k..], &mut c2, &mut t2);
        prop_assert_eq!(drain(&whole), drain(&restored));
        prop_assert_eq!(drain_incidents(&whole), drain_incidents(&restored));
        prop_assert_eq!(whole.stats(), restored.stats());
        let snap = whole.snapshot();
        prop_assert!(snap == restored.snapshot(), "the states differ");
        // Under its own policy, a snapshot with private windows restores as it was.
        let p = whole.policy();
        let again = Engine::restore(p, &snap).unwrap();
        prop_assert!(again.snapshot() == snap);
        prop_assert!(again.last_reload_report().is_none());
    }
}

#[test]
fn a_system_export_moves_to_an_engine_with_a_changed_policy() {
    // The same history in `from` (law policy) and `reference`; `reference` reloads the
    // tuned policy, `to` (tuned policy) restores the export: the same state.
    let from = engine3(law_doc());
    let reference = engine3(law_doc());
    let to = Engine::new(Policy::from_value(tuned_doc()).unwrap());
    let h = from.system("s1").unwrap();
    for e in [&from, &reference] {
        let (g, n) = (sig(e, "g"), sig(e, "n"));
        for i in 0..6 {
            e.observe_many(h, &[(g, 4.5), (n, 2.0)], i * 700).unwrap();
        }
    }
    assert!(from.rule_levels(h).unwrap().iter().any(|l| *l >= O));
    drain(&reference);
    drain_incidents(&reference);
    let report = reference
        .reload(Policy::from_value(tuned_doc()).unwrap())
        .unwrap();
    let bytes = from.snapshot_system(h).unwrap();
    let moved = to.restore_system(&bytes).unwrap();
    assert_eq!(
        to.rule_levels(moved).unwrap(),
        reference.rule_levels(h).unwrap()
    );
    assert_eq!(
        to.system_level(moved).unwrap(),
        reference.system_level(h).unwrap()
    );
    let got = to.last_reload_report().unwrap();
    assert_eq!(got.removed, report.removed);
    assert_eq!(got.added, report.added);
    type Line = (i64, Option<String>, Level, Level, Option<String>);
    let strip = |t: Vec<Transition>| -> Vec<Line> {
        t.into_iter()
            .filter(|t| t.system_id.as_ref() == "s1")
            .map(|t| {
                (
                    t.ts,
                    t.rule_id.as_deref().map(str::to_owned),
                    t.from,
                    t.to,
                    t.reason.as_deref().map(str::to_owned),
                )
            })
            .collect()
    };
    // The migration's transitions (cusum-n removed, sum-n reset, ...) are the reload's.
    let a = strip(drain(&reference));
    assert!(a.iter().any(|t| t.4.is_some()), "{a:?}");
    assert_eq!(strip(drain(&to)), a);
    // And the rest of the history gives the same transitions.
    for e in [&reference, &to] {
        let h = e.system("s1").unwrap();
        let (g, n) = (sig(e, "g"), sig(e, "n"));
        for i in 6..12 {
            e.observe_many(h, &[(g, (i % 5) as f64), (n, 1.0)], i * 700)
                .unwrap();
        }
    }
    assert_eq!(strip(drain(&to)), strip(drain(&reference)));
    // An export whose profile the new policy does not accept is refused, nothing added.
    let mut d = tuned_doc();
    d["classification"]["sectors"] = json!({"s0": 0});
    let strict = Engine::new(Policy::from_value(d).unwrap());
    assert!(matches!(
        strict.restore_system(&bytes),
        Err(Error::Reload(_))
    ));
    assert_eq!(strict.stats().systems, 0);
}

#[test]
fn registrations_and_profile_updates_during_reloads_land_under_the_right_policy() {
    // B has a third grade (s9 systems are "top" there) and another layout (one more
    // rule): a system classified under one policy and inserted under the other would
    // carry a grade or a state block of the wrong policy.
    let a = two_rules(json!([5, 10, null, null]));
    let mut b = a.clone();
    b["grades"] =
        json!([{"id": "low"}, {"id": "high", "min_score": 5}, {"id": "top", "min_score": 9}]);
    for r in b["rules"].as_array_mut().unwrap() {
        r["thresholds"]["top"] = json!([1, 2, 3, 4]);
    }
    b["rules"].as_array_mut().unwrap().push(rule(json!({"id": "c", "category": "c4",
        "window_ms": 2000, "thresholds": {"low": [1, 2, 3, 4], "high": [1, 2, 3, 4], "top": [1, 2, 3, 4]}})));
    let (pa, pb) = (
        Policy::from_value(a).unwrap(),
        Policy::from_value(b).unwrap(),
    );
    let e = Arc::new(Engine::new(pa.clone()));
    let done = Arc::new(AtomicBool::new(false));
    let worker = {
        let (e, done) = (e.clone(), done.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !done.load(Ordering::Relaxed) || i < 300 {
                let h = e.register(profile(&format!("r{i}"), i % 2 == 0)).unwrap();
                let g = sig(&e, "g");
                e.observe(h, g, 2.5, i).unwrap();
                e.update_profile(h, profile(&format!("r{i}"), i % 2 == 1))
                    .unwrap();
                e.observe(h, g, 3.5, i + 1).unwrap();
                i += 1;
            }
            i
        })
    };
    for i in 0..200 {
        e.reload(if i % 2 == 0 { pb.clone() } else { pa.clone() })
            .unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let n = worker.join().unwrap();
    // Every system's grade is valid for the final policy and matches its profile.
    let p = e.policy();
    for i in 0..n {
        let h = e.system(&format!("r{i}")).unwrap();
        let (grade, prof) = e.system_profile(h).unwrap();
        assert_eq!(grade, e.classify(&prof).unwrap().grade_rank, "r{i}");
        assert_eq!(e.rule_levels(h).unwrap().len(), p.rules().len());
    }
    assert_eq!(e.stats().systems, n as u64);
}
