//! Behaviours that the random-policy comparison with the naive model
//! (`tests/model_agreement.rs`) found the engine getting wrong, each pinned by a small
//! hand-made case.

mod common;
use airisk::{Engine, Level, Policy, Silence, Transition};
use common::*;
use serde_json::{Value, json};

fn drain(e: &Engine) -> Vec<Transition> {
    let mut v = Vec::new();
    e.drain(&mut v);
    v
}

/// A number written in a policy reads as the double it denotes, also for 17 significant
/// digits (the shortest form of 1/11 is `0.09090909090909091`): a rate of exactly 1/11
/// meets a threshold written that way.
#[test]
fn a_threshold_in_shortest_form_equals_the_rate_it_denotes() {
    let t = 1.0f64 / 11.0;
    assert_eq!(t.to_string(), "0.09090909090909091");
    let doc = policy_doc(json!([rule(json!({
        "id": "r", "signal": "k", "aggregate": "rate", "per": "n",
        "thresholds": {"low": [t, null, null, null], "high": [t, null, null, null]}
    }))]));
    // Through the document's text, as a policy file is read.
    let p = Policy::from_json(&doc.to_string()).unwrap();
    let e = Engine::new(p);
    let h = e.register(profile("s", false)).unwrap();
    e.observe(h, e.signal("n").unwrap(), 11.0, 0).unwrap();
    let level = e.observe(h, e.signal("k").unwrap(), 1.0, 0).unwrap();
    assert_eq!(level, Level::Blue, "the rate 1/11 meets the threshold 1/11");
    let t = drain(&e);
    assert_eq!(
        (t[0].value, t[0].threshold),
        (Some(1.0 / 11.0), Some(1.0 / 11.0))
    );
}

/// `on_empty: "clear"` holds for `psi` as for every windowed aggregate: when the window
/// holds no observation, the rule falls to none (with a null value) instead of holding.
#[test]
fn psi_with_on_empty_clear_falls_to_none_when_its_window_empties() {
    let e = Engine::new(policy(json!([rule(json!({
        "id": "p", "aggregate": "psi", "bins": [0.0], "reference": [0.5, 0.5],
        "on_empty": "clear",
        "thresholds": {"low": [0.1, null, null, null], "high": [0.1, null, null, null]}
    }))])));
    let h = e.register(profile("s", false)).unwrap();
    let g = e.signal("g").unwrap();
    // Two observations in bin 2: a = (0.5/3, 2.5/3) against (0.5, 0.5): PSI ≈ 0.54.
    e.observe(h, g, 1.0, 0).unwrap();
    assert_eq!(e.observe(h, g, 1.0, 10).unwrap(), Level::Blue);
    drain(&e);
    // The 1-bucket window moves past them: empty, so the rule clears.
    e.tick(1000);
    let t = drain(&e);
    let moved: Vec<_> = t.iter().filter(|t| t.rule.is_some()).collect();
    assert_eq!(moved.len(), 1, "{t:?}");
    assert_eq!(
        (moved[0].from, moved[0].to, moved[0].value),
        (Level::Blue, Level::None, None)
    );
    // Without on_empty the same rule holds its level (the value is undefined).
    let e = Engine::new(policy(json!([rule(json!({
        "id": "p", "aggregate": "psi", "bins": [0.0], "reference": [0.5, 0.5],
        "thresholds": {"low": [0.1, null, null, null], "high": [0.1, null, null, null]}
    }))])));
    let h = e.register(profile("s", false)).unwrap();
    e.observe(h, g, 1.0, 0).unwrap();
    e.observe(h, g, 1.0, 10).unwrap();
    e.tick(1000);
    assert_eq!(e.system_level(h).unwrap(), Level::Blue);
}

fn two_rules(extra: Value) -> Value {
    let mut doc = policy_doc(json!([
        rule(json!({"id": "keep", "category": "c2",
                    "thresholds": {"low": [100, null, null, null], "high": [100, null, null, null]}})),
        rule(json!({"id": "gone", "category": "c1"}))
    ]));
    for (k, v) in extra.as_object().unwrap() {
        doc[k] = v.clone();
    }
    doc
}

/// A reload that removes a rule while it is above none emits its transition to none
/// (`reason: policy_reload`); with a silence set, or an inhibition in the new policy, that
/// transition is muted by the removed rule's own id and category — the policy no longer
/// has the rule, so nothing may look it up by its old index (that panicked).
#[test]
fn a_reload_removing_a_rule_above_none_mutes_it_by_its_own_id_and_category() {
    let e = Engine::new(Policy::from_value(two_rules(json!({}))).unwrap());
    let h = e.register(profile("s", false)).unwrap();
    e.observe(h, e.signal("g").unwrap(), 3.5, 0).unwrap();
    assert_eq!(e.rule_levels(h).unwrap(), [Level::None, Level::Orange]);
    drain(&e);
    e.silence(Silence {
        id: "maint".into(),
        system: None,
        category: Some("c1".into()),
        rule: Some("gone".into()),
        starts: 0,
        ends: 10_000,
        reason: None,
        by: None,
    })
    .unwrap();
    // The new policy: "gone" removed; "keep" (index 0 in both) stays, in category c2,
    // and an inhibition from "keep" targets c1 — the removed rule's category — and c2.
    let mut doc = policy_doc(json!([rule(json!({"id": "keep", "category": "c2",
        "thresholds": {"low": [100, null, null, null], "high": [100, null, null, null]}}))]));
    doc["inhibit"] = json!([{"id": "inh", "source": {"rule": "keep", "at_least": "blue"},
                            "target": {"categories": ["c1", "c2"]}}]);
    let report = e.reload(Policy::from_value(doc).unwrap()).unwrap();
    assert_eq!(report.removed, ["gone"]);
    assert_eq!(report.silences_removed, ["maint"]);
    let t = drain(&e);
    assert_eq!(t.len(), 2, "{t:?}");
    let gone = &t[0];
    assert_eq!(gone.rule_id.as_deref(), Some("gone"));
    assert_eq!(gone.category.as_deref(), Some("c1"));
    assert_eq!((gone.from, gone.to), (Level::Orange, Level::None));
    assert_eq!(gone.reason.as_deref(), Some("policy_reload"));
    // The silence (set before the reload, naming the removed rule) mutes it; "keep" is at
    // none, so it inhibits nothing.
    assert_eq!(gone.silenced.as_deref(), Some("maint"));
    assert_eq!(gone.inhibited_by, None);
    assert_eq!(t[1].rule, None);
    assert_eq!(
        t[1].silenced, None,
        "a silence with a rule matcher never mutes a system line"
    );
}

/// The same reload with the source of the inhibition above none: the removed rule's
/// transition is inhibited, judged by its own category (c1, which the new policy's rules no
/// longer use).
#[test]
fn a_reload_transition_of_a_removed_rule_is_inhibited_by_its_own_category() {
    let keep = rule(json!({"id": "keep", "category": "c2"}));
    let e = Engine::new(policy(json!([
        keep,
        rule(json!({"id": "gone", "category": "c1"}))
    ])));
    let h = e.register(profile("s", false)).unwrap();
    e.observe(h, e.signal("g").unwrap(), 3.5, 0).unwrap();
    assert_eq!(e.rule_levels(h).unwrap(), [Level::Orange, Level::Orange]);
    drain(&e);
    let mut doc = policy_doc(json!([keep]));
    doc["inhibit"] = json!([{"id": "inh", "source": {"rule": "keep", "at_least": "blue"},
                            "target": {"categories": ["c1", "c2"]}}]);
    let report = e.reload(Policy::from_value(doc).unwrap()).unwrap();
    assert_eq!(
        (report.kept.as_slice(), report.removed.as_slice()),
        (&["keep".to_owned()][..], &["gone".to_owned()][..])
    );
    let t = drain(&e);
    assert_eq!(t.len(), 1, "the system stays orange: {t:?}");
    assert_eq!(t[0].rule_id.as_deref(), Some("gone"));
    assert_eq!((t[0].from, t[0].to), (Level::Orange, Level::None));
    assert_eq!(t[0].inhibited_by.as_deref(), Some("inh"));
    assert!(
        t[0].actions.is_empty(),
        "a transition to none keeps its empty actions"
    );
}

/// A detector that a reload adds on a signal whose ring stored nothing before (only a
/// `silence_ms` rule read it) starts with the bucket after the one open at the reload, and
/// each closed bucket gives its own input: the ring does not start from a head borrowed
/// from elsewhere (it used to take the watermark, so the bucket open at the reload and the
/// next one were mixed into one input).
#[test]
fn a_detector_added_by_a_reload_on_a_signal_that_stored_nothing_reads_its_own_buckets() {
    let silence = rule(
        json!({"id": "quiet", "aggregate": "silence_ms", "window_ms": null,
        "thresholds": {"low": [1e9, null, null, null], "high": [1e9, null, null, null]}}),
    );
    let e = Engine::new(policy(json!([silence])));
    let h = e.register(profile("s", false)).unwrap();
    let g = e.signal("g").unwrap();
    e.observe(h, g, -3.0, 6000).unwrap();
    let ewma = rule(
        json!({"id": "e", "aggregate": "ewma", "alpha": 0.5, "window_ms": null,
        "direction": "below",
        "thresholds": {"low": [0, null, null, null], "high": [0, null, null, null]}}),
    );
    let report = e.reload(policy(json!([silence, ewma]))).unwrap();
    assert_eq!((report.kept.len(), report.added.len()), (1, 1));
    e.observe(h, g, -2.625, 6000).unwrap(); // bucket 6, open at the reload: skipped
    e.observe(h, g, -0.25, 7100).unwrap(); // closes bucket 6
    e.observe(h, g, -3.0, 8050).unwrap(); // closes bucket 7: its mean, -0.25, is the input
    let t = drain(&e);
    let e_moves: Vec<_> = t
        .iter()
        .filter(|t| t.rule_id.as_deref() == Some("e"))
        .collect();
    assert_eq!(e_moves.len(), 1, "{t:?}");
    assert_eq!(
        (e_moves[0].ts, e_moves[0].to, e_moves[0].value),
        (8050, Level::Blue, Some(-0.25))
    );
}
