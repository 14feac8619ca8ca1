//! Silences and inhibition: hand cases for every matcher and edge, and the muting law as a
//! property (muting changes `silenced`, `inhibited_by` and `actions`, nothing else; incident
//! events are untouched).

mod common;
use airisk::{Engine, Error, IncidentEvent, Level, Policy, Scope, Silence, Transition};
use common::*;
use proptest::prelude::*;
use serde_json::{Value, json};

/// Rules: `a` (gauge g, category c2), `b` (gauge k... as max, category c1), `hb`
/// (silence_ms on hb, category c3). Thresholds 1, 2, 3, 4 (blue..red).
fn doc(inhibit: Option<Value>) -> Value {
    let mut d = policy_doc(json!([
        rule(json!({"id": "a", "category": "c2", "signal": "g"})),
        rule(json!({"id": "b", "category": "c1", "signal": "k", "aggregate": "max"})),
        rule(
            json!({"id": "hb", "category": "c3", "signal": "hb", "aggregate": "silence_ms",
                    "window_ms": null, "hysteresis": 0.5,
                    "thresholds": {"low": [1000, 2000, 3000, 4000], "high": [1000, 2000, 3000, 4000]}})
        )
    ]));
    if let Some(i) = inhibit {
        d["inhibit"] = i;
    }
    d
}

fn engine(inhibit: Option<Value>) -> (Engine, airisk::SystemHandle, airisk::SystemHandle) {
    let e = Engine::new(Policy::from_value(doc(inhibit)).unwrap());
    let s1 = e.register(profile("s1", false)).unwrap();
    let s2 = e.register(profile("s2", false)).unwrap();
    (e, s1, s2)
}

fn silence(
    id: &str,
    system: Option<&str>,
    category: Option<&str>,
    rule: Option<&str>,
    starts: i64,
    ends: i64,
) -> Silence {
    Silence {
        id: id.into(),
        system: system.map(Into::into),
        category: category.map(Into::into),
        rule: rule.map(Into::into),
        starts,
        ends,
        reason: Some("maintenance".into()),
        by: Some("ops".into()),
    }
}

fn drain(e: &Engine) -> Vec<Transition> {
    let mut v = Vec::new();
    e.drain(&mut v);
    v
}

fn obs(e: &Engine, h: airisk::SystemHandle, s: &str, v: f64, ts: i64) {
    e.observe(h, e.signal(s).unwrap(), v, ts).unwrap();
}

/// (system, rule or "system", silenced, inhibited_by, actions)
type Muted = (
    String,
    String,
    Option<String>,
    Option<String>,
    Vec<&'static str>,
);

fn muted(ts: &[Transition]) -> Vec<Muted> {
    ts.iter()
        .map(|t| {
            (
                t.system_id.to_string(),
                t.rule_id.as_deref().unwrap_or("system").to_string(),
                t.silenced.as_deref().map(str::to_owned),
                t.inhibited_by.as_deref().map(str::to_owned),
                t.actions.iter().map(|a| a.name()).collect(),
            )
        })
        .collect()
}

#[test]
fn a_silence_by_system_mutes_that_systems_rule_and_system_lines_only() {
    let (e, s1, s2) = engine(None);
    e.silence(silence("m", Some("s1"), None, None, 0, 10_000))
        .unwrap();
    obs(&e, s1, "g", 3.5, 1000); // a: none → orange; system likewise
    obs(&e, s2, "g", 3.5, 1000);
    let t = drain(&e);
    let m = muted(&t);
    assert_eq!(
        m[0],
        ("s1".into(), "a".into(), Some("m".into()), None, vec!["log"])
    );
    // A silence without category or rule matcher mutes the system line too.
    assert_eq!(
        m[1],
        (
            "s1".into(),
            "system".into(),
            Some("m".into()),
            None,
            vec!["log"]
        )
    );
    // s2 is untouched: the override of c2 at orange (suspend + report).
    assert_eq!(m[2].2, None);
    assert_eq!(m[2].4, vec!["suspend", "report_regulator"]);
    // The muted transitions keep every other field (levels, values, seq).
    assert_eq!(
        (t[0].from, t[0].to, t[0].value, t[0].seq),
        (Level::None, Level::Orange, Some(3.5), 1)
    );
}

#[test]
fn silences_by_category_and_by_rule_leave_the_system_line_alone() {
    for s in [
        silence("c", Some("s1"), Some("c2"), None, 0, 10_000),
        silence("r", None, None, Some("a"), 0, 10_000),
    ] {
        let (e, s1, _) = engine(None);
        e.silence(s.clone()).unwrap();
        obs(&e, s1, "g", 3.5, 1000); // rule a (c2) muted
        obs(&e, s1, "k", 1.0, 1000); // rule b (c1): not matched
        let m = muted(&drain(&e));
        assert_eq!(m[0].1, "a");
        assert_eq!(m[0].2.as_deref(), Some(&*s.id));
        assert_eq!(m[1].1, "system");
        assert_eq!(
            m[1].2, None,
            "a category or rule silence never mutes the system line"
        );
        assert_eq!(m[2].1, "b");
        assert_eq!(m[2].2, None);
    }
}

#[test]
fn starts_is_inclusive_and_ends_exclusive() {
    let (e, s1, _) = engine(None);
    e.silence(silence("w", Some("s1"), None, Some("a"), 1000, 2000))
        .unwrap();
    obs(&e, s1, "g", 1.5, 999); // blue at 999: before
    obs(&e, s1, "g", 2.5, 1000); // yellow at 1000: muted
    obs(&e, s1, "g", 3.5, 1999); // orange at 1999: muted
    obs(&e, s1, "g", 4.5, 2000); // red at 2000: not muted
    let t: Vec<Transition> = drain(&e)
        .into_iter()
        .filter(|t| t.scope == Scope::Rule)
        .collect();
    let s: Vec<Option<&str>> = t.iter().map(|t| t.silenced.as_deref()).collect();
    assert_eq!(s, vec![None, Some("w"), Some("w"), None]);
}

#[test]
fn unsilence_mid_window_and_overlapping_silences_name_the_smallest_id() {
    let (e, s1, _) = engine(None);
    e.silence(silence("zeta", None, None, None, 0, 100_000))
        .unwrap();
    e.silence(silence("alpha", Some("s1"), Some("c2"), None, 0, 100_000))
        .unwrap();
    obs(&e, s1, "g", 1.5, 1000);
    let m = muted(&drain(&e));
    assert_eq!(m[0].2.as_deref(), Some("alpha"));
    assert_eq!(
        m[1].2.as_deref(),
        Some("zeta"),
        "only zeta can mute the system line"
    );
    e.unsilence("alpha").unwrap();
    obs(&e, s1, "g", 2.5, 2000);
    assert_eq!(muted(&drain(&e))[0].2.as_deref(), Some("zeta"));
    e.unsilence("zeta").unwrap();
    obs(&e, s1, "g", 3.5, 3000);
    assert!(drain(&e).iter().all(|t| t.silenced.is_none()));
    assert!(matches!(e.unsilence("zeta"), Err(Error::Silence(_))));
}

#[test]
fn a_transition_to_none_keeps_its_empty_actions() {
    let (e, s1, _) = engine(None);
    e.silence(silence("m", Some("s1"), None, None, 0, 100_000))
        .unwrap();
    obs(&e, s1, "g", 1.5, 1000);
    obs(&e, s1, "g", 0.0, 2000);
    let t = drain(&e);
    assert!(t.iter().all(|t| t.silenced.as_deref() == Some("m")));
    assert!(
        t.iter()
            .filter(|t| t.to == Level::None)
            .all(|t| t.actions.is_empty())
    );
}

#[test]
fn setting_a_silence_with_the_same_id_replaces_it_and_bad_silences_are_refused() {
    let (e, _, _) = engine(None);
    e.silence(silence("m", Some("s1"), None, None, 0, 10))
        .unwrap();
    e.silence(silence("m", Some("s2"), None, None, 0, 20))
        .unwrap();
    let all = e.silences();
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].system.as_deref(), all[0].ends), (Some("s2"), 20));
    let err = |s: Silence| match e.silence(s) {
        Err(Error::Silence(m)) => m,
        other => panic!("{other:?}"),
    };
    assert!(
        err(silence("x", None, None, None, 10, 10)).contains("ends (10) must be after starts (10)")
    );
    let m = err(silence("x", None, Some("c9"), None, 0, 10));
    assert!(m.contains("unknown category \"c9\""), "{m}");
    let m = err(silence("x", None, None, Some("hbb"), 0, 10));
    assert!(
        m.contains("unknown rule \"hbb\"; did you mean \"hb\"?"),
        "{m}"
    );
    assert!(err(silence("", None, None, None, 0, 10)).contains("id"));
    assert_eq!(e.silences().len(), 1, "refused silences change nothing");
}

#[test]
fn inhibition_starts_and_stops_with_its_source_including_through_hysteresis() {
    // hb: silence_ms with thresholds 1000/2000/3000/4000 and hysteresis 0.5, so yellow
    // holds while the silence is ≥ 2000 × 0.5 = 1000. While hb is at ≥ yellow, rules of c2
    // (rule `a`) are inhibited.
    let inhibit = json!([{"id": "telemetry-down", "source": {"rule": "hb", "at_least": "yellow"},
                          "target": {"categories": ["c2", "c3"]}, "basis": "B"}]);
    let (e, s1, _) = engine(Some(inhibit));
    obs(&e, s1, "hb", 1.0, 0);
    obs(&e, s1, "g", 1.5, 500); // a blue; hb none: not inhibited
    assert_eq!(drain(&e)[0].inhibited_by, None);
    e.tick(2500); // hb: silence 2500 → yellow; it never inhibits itself (c3 is a target)
    let t = drain(&e);
    assert_eq!(
        (t[0].rule_id.as_deref(), t[0].to),
        (Some("hb"), Level::Yellow)
    );
    assert_eq!(t[0].inhibited_by, None, "a rule never inhibits itself");
    obs(&e, s1, "g", 3.5, 2600); // a orange while hb is yellow: inhibited
    let t = drain(&e);
    assert_eq!(t[0].inhibited_by.as_deref(), Some("telemetry-down"));
    assert_eq!(
        t[0].actions.iter().map(|a| a.name()).collect::<Vec<_>>(),
        vec!["log"]
    );
    // The heartbeat returns at 2700: silence 0, below the band: hb falls to none.
    obs(&e, s1, "hb", 1.0, 2700);
    assert_eq!(drain(&e)[0].to, Level::None);
    obs(&e, s1, "g", 0.5, 3000); // a falls: no longer inhibited
    assert_eq!(drain(&e)[0].inhibited_by, None);

    // Through hysteresis: source `b` (max of k, c1) with hysteresis 0.5 stays yellow while
    // k ≥ 2 × 0.5 = 1, so `a` (c2) stays inhibited at k = 1.5 and is free again once b is
    // blue (k = 0.5: blue's band 1 × 0.5 holds, yellow's does not).
    let mut d = doc(Some(
        json!([{"id": "i", "source": {"rule": "b", "at_least": "yellow"},
        "target": {"categories": ["c2"]}}]),
    ));
    d["rules"][1]["hysteresis"] = json!(0.5);
    let e = Engine::new(Policy::from_value(d).unwrap());
    let s1 = e.register(profile("s1", false)).unwrap();
    obs(&e, s1, "k", 2.0, 0); // b yellow
    drain(&e);
    obs(&e, s1, "k", 1.5, 1000); // below yellow's threshold, inside its band: b holds
    assert!(drain(&e).is_empty());
    obs(&e, s1, "g", 1.5, 1000);
    assert_eq!(drain(&e)[0].inhibited_by.as_deref(), Some("i"));
    obs(&e, s1, "k", 0.5, 2000); // b: yellow → blue
    assert_eq!(drain(&e)[0].to, Level::Blue);
    obs(&e, s1, "g", 2.5, 2000);
    assert_eq!(drain(&e)[0].inhibited_by, None);
}

#[test]
fn inhibition_is_judged_after_all_rule_transitions_of_the_evaluation() {
    // Rule a (c2, cleared by an empty window) is declared before hb. One tick moves both:
    // a falls to none (its window empties) and hb rises to yellow. a's transition comes
    // first, yet it is inhibited: hb's level after the whole evaluation is what counts.
    let mut d = doc(Some(
        json!([{"id": "i", "source": {"rule": "hb", "at_least": "yellow"},
                                 "target": {"categories": ["c2"]}}]),
    ));
    d["rules"][0]["on_empty"] = json!("clear");
    let e = Engine::new(Policy::from_value(d).unwrap());
    let s1 = e.register(profile("s1", false)).unwrap();
    obs(&e, s1, "hb", 1.0, 0);
    obs(&e, s1, "g", 3.5, 0); // a orange, not inhibited (hb none)
    assert_eq!(drain(&e)[0].inhibited_by, None);
    e.tick(2500);
    let t = drain(&e);
    let order: Vec<(Option<&str>, Level, Option<&str>)> = t
        .iter()
        .map(|t| (t.rule_id.as_deref(), t.to, t.inhibited_by.as_deref()))
        .collect();
    assert_eq!(
        order,
        vec![
            (Some("a"), Level::None, Some("i")),
            (Some("hb"), Level::Yellow, None),
            (None, Level::Yellow, None),
        ]
    );
    assert!(
        t[0].actions.is_empty(),
        "a transition to none keeps its empty actions"
    );
}

#[test]
fn policy_inhibit_is_validated_with_paths() {
    let mut d = doc(Some(
        json!([{"id": "i", "source": {"rule": "nope", "at_least": "purple"},
        "target": {"categories": ["c9"]}}]),
    ));
    d["inhibit"][0]["colour"] = json!(1);
    let e = Policy::from_value(d).unwrap_err();
    let i: Vec<String> = e.issues().iter().map(|i| i.to_string()).collect();
    assert!(
        i.iter()
            .any(|x| x.starts_with("inhibit[0].source.rule: unknown rule \"nope\"")),
        "{i:?}"
    );
    assert!(
        i.iter()
            .any(|x| x.starts_with("inhibit[0].source.at_least: unknown level")),
        "{i:?}"
    );
    assert!(
        i.iter()
            .any(|x| x.starts_with("inhibit[0].target.categories[0]: unknown category")),
        "{i:?}"
    );
    assert!(
        i.iter()
            .any(|x| x.starts_with("inhibit[0].colour: unknown field")),
        "{i:?}"
    );
}

#[test]
fn snapshots_and_system_exports_carry_silences() {
    let (e, s1, _) = engine(None);
    e.silence(silence("m", Some("s1"), None, None, 0, 10_000))
        .unwrap();
    e.silence(silence("g", None, None, None, 0, 10_000))
        .unwrap();
    let r = Engine::restore(e.policy(), &e.snapshot()).unwrap();
    assert_eq!(r.silences(), e.silences());
    let other = Engine::new(e.policy());
    let h = other
        .restore_system(&e.snapshot_system(s1).unwrap())
        .unwrap();
    // Only the silences whose system matcher is the exported system move with it.
    assert_eq!(
        other
            .silences()
            .iter()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>(),
        vec!["m"]
    );
    obs(&other, h, "g", 3.5, 1000);
    assert!(
        drain(&other)
            .iter()
            .all(|t| t.silenced.as_deref() == Some("m"))
    );
}

// ---------- the muting law ----------

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
    Silence {
        id: u8,
        sys: Option<usize>,
        cat: Option<usize>,
        rule: Option<usize>,
        start: i64,
        len: i64,
    },
    Unsilence {
        id: u8,
    },
}

const SIGNALS: [&str; 4] = ["n", "k", "g", "hb"];
const CATS: [&str; 4] = ["c1", "c2", "c3", "c4"];
const RULES: [&str; 3] = ["a", "b", "hb"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..2usize, 0..4usize, 0.0..5.0f64, -1500..1500i64)
            .prop_map(|(sys, sig, value, dt)| Op::Obs { sys, sig, value, dt }),
        1 => (0..4000i64).prop_map(|dt| Op::Tick { dt }),
        2 => (0..4u8, proptest::option::of(0..2usize), proptest::option::of(0..4usize),
              proptest::option::of(0..3usize), -2000..2000i64, 1..6000i64)
            .prop_map(|(id, sys, cat, rule, start, len)| Op::Silence { id, sys, cat, rule, start, len }),
        1 => (0..4u8).prop_map(|id| Op::Unsilence { id }),
    ]
}

fn incident_doc(inhibit: bool) -> Value {
    let mut d = doc(inhibit.then(|| {
        json!([{"id": "i1", "source": {"rule": "hb", "at_least": "blue"}, "target": {"categories": ["c1", "c2"]}},
               {"id": "i0", "source": {"rule": "b", "at_least": "orange"}, "target": {"categories": ["c2", "c3"]}}])
    }));
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

/// Runs `ops`; with `mute`, silences are set and the policy inhibits.
fn run(ops: &[Op], mute: bool) -> (Vec<Transition>, Vec<IncidentEvent>) {
    let e = Engine::new(Policy::from_value(incident_doc(mute)).unwrap());
    let hs = [
        e.register(profile("s0", false)).unwrap(),
        e.register(profile("s1", true)).unwrap(),
    ];
    let mut clock = 0i64;
    for o in ops {
        match *o {
            Op::Obs {
                sys,
                sig,
                value,
                dt,
            } => {
                let ts = clock + dt;
                clock = clock.max(ts);
                let _ = e.observe(hs[sys], e.signal(SIGNALS[sig]).unwrap(), value, ts);
            }
            Op::Tick { dt } => {
                clock += dt;
                e.tick(clock);
            }
            Op::Silence {
                id,
                sys,
                cat,
                rule,
                start,
                len,
            } if mute => {
                e.silence(Silence {
                    id: format!("s{id}"),
                    system: sys.map(|s| format!("s{s}")),
                    category: cat.map(|c| CATS[c].into()),
                    rule: rule.map(|r| RULES[r].into()),
                    starts: clock + start,
                    ends: clock + start + len,
                    reason: None,
                    by: None,
                })
                .unwrap();
            }
            Op::Unsilence { id } if mute => {
                let _ = e.unsilence(&format!("s{id}"));
            }
            _ => {}
        }
    }
    let (mut t, mut i) = (Vec::new(), Vec::new());
    e.drain(&mut t);
    e.drain_incidents(&mut i);
    (t, i)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn muting_changes_only_silenced_inhibited_by_and_actions(ops in proptest::collection::vec(op(), 1..120)) {
        let (plain, plain_inc) = run(&ops, false);
        let (muted, muted_inc) = run(&ops, true);
        prop_assert_eq!(plain.len(), muted.len());
        for (p, m) in plain.iter().zip(&muted) {
            prop_assert!(p.silenced.is_none() && p.inhibited_by.is_none());
            let mut m2 = m.clone();
            m2.silenced = None;
            m2.inhibited_by = None;
            m2.actions = p.actions;
            prop_assert_eq!(p, &m2);
            if m.silenced.is_some() || m.inhibited_by.is_some() {
                let want = if m.to == Level::None { 0 } else { 1 };
                prop_assert_eq!(m.actions.0, want);
            } else {
                prop_assert_eq!(m.actions, p.actions);
            }
        }
        // Incident events (and so every report due) are identical, field for field.
        prop_assert_eq!(plain_inc, muted_inc);
    }
}

#[test]
fn the_law_holds_on_a_log_that_mutes_both_ways_and_owes_reports() {
    // A fixed log where silences and inhibition both mute, and incidents open and go
    // overdue: the property above must not be vacuous.
    let ops = vec![
        Op::Silence {
            id: 1,
            sys: Some(0),
            cat: None,
            rule: None,
            start: 0,
            len: 5000,
        },
        Op::Obs {
            sys: 0,
            sig: 3,
            value: 1.0,
            dt: 0,
        },
        Op::Obs {
            sys: 0,
            sig: 2,
            value: 3.5,
            dt: 100,
        },
        Op::Obs {
            sys: 1,
            sig: 1,
            value: 3.5,
            dt: 200,
        },
        Op::Obs {
            sys: 1,
            sig: 2,
            value: 2.5,
            dt: 300,
        },
        Op::Tick { dt: 3000 },
        Op::Obs {
            sys: 0,
            sig: 2,
            value: 0.5,
            dt: 0,
        },
        Op::Tick { dt: 5000 },
    ];
    let (plain, plain_inc) = run(&ops, false);
    let (muted, muted_inc) = run(&ops, true);
    assert!(muted.iter().any(|t| t.silenced.is_some()), "{muted:#?}");
    assert!(muted.iter().any(|t| t.inhibited_by.is_some()), "{muted:#?}");
    assert!(
        plain
            .iter()
            .all(|t| t.silenced.is_none() && t.inhibited_by.is_none())
    );
    assert!(
        plain_inc
            .iter()
            .any(|e| e.event == airisk::IncidentEventKind::Overdue)
    );
    assert_eq!(plain_inc, muted_inc);
    assert_eq!(plain.len(), muted.len());
}
