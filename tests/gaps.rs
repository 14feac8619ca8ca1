//! Hand-computed tests for behaviours that mutation testing found untested: each
//! fails if the behaviour it names breaks. Policies come from `tests/common` (buckets of
//! 1 s; signals n, k counters, g gauge, hb counter; grades low and high).

mod common;
use airisk::{Action, Actions, Engine, Level, Scope, Transition};
use common::*;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

// ---------- Wilson with for_ms ----------

/// "for each level L the engine remembers since when `met(L, v)` has been true at every
/// evaluation": a Wilson rate that drops below the threshold resets the pending raise
/// timer, so a re-crossing starts it again.
#[test]
fn wilson_rate_dropping_below_resets_the_pending_raise_timer() {
    // rate k / n over 10 buckets, Wilson lower bound with z = 1, blue at 0.5, for 3 s.
    let t = T::new(json!([rule(json!({
        "aggregate": "rate", "signal": "k", "per": "n", "window_ms": 10000,
        "wilson_z": 1.0, "for_ms": 3000,
        "thresholds": {"low": [0.5, null, null, null], "high": [0.5, null, null, null]}}))]));
    t.obs("n", 4.0, 0);
    // k = n = 4, p = 1: (1 + 1/8 − sqrt(0 + 1/64)) / (1 + 1/4) = 0.8 ≥ 0.5: met since 0.
    t.obs("k", 4.0, 0);
    // n = 16, p = 0.25 < 0.5: the lower bound is below 0.5, the timer resets.
    t.obs("n", 12.0, 1000);
    // k = n = 16, p = 1: (1 + 1/32 − sqrt(1/1024)) / (1 + 1/16) = 16/17 ≥ 0.5: met since 2000.
    t.obs("k", 12.0, 2000);
    // Had the timer not been reset at 1000, blue would be met for 3000 ms here.
    t.engine.tick(3000);
    t.engine.tick(4999);
    assert!(t.rule_moves().is_empty(), "the timer restarted at 2000");
    t.engine.tick(5000);
    assert_eq!(t.rule_moves(), vec![(5000, N, B, Some(16.0 / 17.0))]);
}

// ---------- min and max on one signal, window moving ----------

/// One gauge read by a `max` and a `min` rule over 3 buckets: both follow the window as
/// buckets expire, including when the extreme sits in an older bucket.
#[test]
fn min_and_max_rules_on_one_signal_follow_the_moving_window() {
    let t = T::new(json!([
        rule(json!({"id": "mx", "aggregate": "max", "window_ms": 3000,
            "thresholds": {"low": [2, 3, null, null], "high": [2, 3, null, null]}})),
        rule(
            json!({"id": "mn", "aggregate": "min", "window_ms": 3000, "direction": "below",
            "thresholds": {"low": [0, -1, null, null], "high": [0, -1, null, null]}})
        )
    ]));
    let moves = |t: &T| -> Vec<(String, i64, Level, Level, Option<f64>)> {
        t.drain()
            .into_iter()
            .filter(|x| x.scope == Scope::Rule)
            .map(|x| (x.rule_id.unwrap().to_string(), x.ts, x.from, x.to, x.value))
            .collect()
    };
    let m = |r: &str, ts, from, to, v| (r.to_string(), ts, from, to, Some(v));
    t.obs("g", 3.5, 0);
    assert_eq!(moves(&t), vec![m("mx", 0, N, Y, 3.5)]);
    t.obs("g", -1.5, 1000);
    assert_eq!(moves(&t), vec![m("mn", 1000, N, Y, -1.5)]);
    t.obs("g", 2.5, 2000);
    assert!(moves(&t).is_empty());
    // Window 1..=3: 3.5 has left; the max 2.5 sits in bucket 2, the min -1.5 in bucket 1.
    t.obs("g", 1.0, 3000);
    assert_eq!(moves(&t), vec![m("mx", 3000, Y, B, 2.5)]);
    // Window 2..=4: -1.5 has left → min 1.0; max still 2.5 (bucket 2).
    t.obs("g", 1.0, 4000);
    assert_eq!(moves(&t), vec![m("mn", 4000, Y, N, 1.0)]);
    // Window 3..=5: 2.5 has left → max 1.0.
    t.obs("g", 1.0, 5000);
    assert_eq!(moves(&t), vec![m("mx", 5000, B, N, 1.0)]);
}

// ---------- min over several buckets; a ring that wraps ----------

/// `min` over 4 buckets keeps a minimum that sits in the oldest bucket of the window, and
/// stays right while the ring (B = 4) wraps around several times, a late observation
/// included.
#[test]
fn min_in_an_older_bucket_and_a_ring_wrapping_several_times() {
    let t = T::new(json!([rule(json!({"aggregate": "min", "window_ms": 4000,
        "direction": "below",
        "thresholds": {"low": [0, -1, null, null], "high": [0, -1, null, null]}}))]));
    t.obs("g", -0.5, 0);
    assert_eq!(t.rule_moves(), vec![(0, N, B, Some(-0.5))]);
    for ts in [1000, 2000, 3000] {
        t.obs("g", 1.0, ts);
    }
    assert!(
        t.rule_moves().is_empty(),
        "-0.5 in bucket 0 is still the minimum"
    );
    t.obs("g", 2.0, 4000); // window 1..=4: min 1.0
    assert_eq!(t.rule_moves(), vec![(4000, B, N, Some(1.0))]);
    // Buckets 5..=24 go round the 4-slot ring five times; -0.5 in bucket 17 only.
    for b in 5..=24 {
        t.obs("g", if b == 17 { -0.5 } else { 1.0 }, b * 1000 + 250);
    }
    assert_eq!(
        t.rule_moves(),
        vec![(17_250, N, B, Some(-0.5)), (21_250, B, N, Some(1.0))]
    );
    // Late, into bucket 22 (slot 2) of the window 21..=24: min -1.0 → yellow at w.
    t.obs("g", -1.0, 22_999);
    assert_eq!(t.rule_moves(), vec![(24_250, N, Y, Some(-1.0))]);
    // Bucket 26 reuses slot 2 after bucket 25: the late -1.0 is gone with bucket 22.
    t.obs("g", 1.0, 25_000);
    assert!(t.rule_moves().is_empty(), "window 22..=25 still holds -1.0");
    t.obs("g", 1.0, 26_000);
    assert_eq!(t.rule_moves(), vec![(26_000, Y, N, Some(1.0))]);
}

// ---------- silence_ms with a late heartbeat ----------

/// `silence_ms` is "w − the largest ts among the signal's accepted observations": a late
/// heartbeat must not lower that largest ts.
#[test]
fn silence_is_measured_from_the_latest_heartbeat_not_the_last_received() {
    let t = T::new(json!([
        {"id": "quiet", "category": "c3", "signal": "hb", "aggregate": "silence_ms",
         "thresholds": {"low": [3000, 6000, null, null], "high": [3000, 6000, null, null]}},
        // Only so that hb keeps 10 buckets and a late heartbeat is not stale.
        rule(json!({"id": "keep", "signal": "hb", "aggregate": "count", "window_ms": 10000,
            "thresholds": {"low": [null, null, null, null], "high": [null, null, null, null]}}))
    ]));
    t.obs("hb", 1.0, 0);
    t.obs("hb", 1.0, 2000);
    t.obs("hb", 1.0, 500); // late: the largest ts stays 2000
    t.engine.tick(4600); // silence 2600 (it would be 4100 from 500)
    assert!(t.rule_moves().is_empty());
    t.engine.tick(5000);
    assert_eq!(t.rule_moves(), vec![(5000, N, B, Some(3000.0))]);
}

// ---------- tick, system level, sink ----------

/// A tick that raises a rule raises the system level too (system-scope transition after the
/// rule's), and tick transitions go to a sink set with `set_sink`, not to the queue.
#[test]
fn tick_changes_the_system_level_and_reaches_the_sink() {
    let t = T::new(json!([
        {"id": "quiet", "category": "c3", "signal": "hb", "aggregate": "silence_ms",
         "thresholds": {"low": [1000, 2000, null, null], "high": [1000, 2000, null, null]}}
    ]));
    t.obs("hb", 1.0, 0);
    let got: Arc<Mutex<Vec<Transition>>> = Arc::default();
    let g = got.clone();
    t.engine.set_sink(Some(Arc::new(move |tr: &Transition| {
        g.lock().unwrap().push(tr.clone())
    })));
    t.engine.tick(1500);
    assert_eq!(t.engine.system_level(t.sys).unwrap(), B);
    t.engine.tick(2500);
    assert_eq!(t.engine.system_level(t.sys).unwrap(), Y);
    assert_eq!(t.engine.queued(), 0, "nothing went to the queue");
    let seen: Vec<_> = got
        .lock()
        .unwrap()
        .iter()
        .map(|x| (x.seq, x.ts, x.scope, x.from, x.to, x.value))
        .collect();
    assert_eq!(
        seen,
        vec![
            (1, 1500, Scope::Rule, N, B, Some(1500.0)),
            (2, 1500, Scope::System, N, B, None),
            (3, 2500, Scope::Rule, B, Y, Some(2500.0)),
            (4, 2500, Scope::System, B, Y, None),
        ]
    );
}

// ---------- handles other than 0, queue, state size ----------

/// `update_profile`, `system_profile` and `watermark` act on the handle they are given, not
/// on handle 0: handle 1 (another shard than 0) and handle 64 (the same shard as 0, next
/// slot).
#[test]
fn profile_and_watermark_calls_use_their_handle() {
    let e = Engine::new(policy(json!([rule(
        json!({"thresholds": {"low": [5, null, null, null], "high": [1, 2, 3, 4]}})
    )])));
    let a = e.register(profile("a", false)).unwrap();
    let ids: Vec<String> = (1..=64).map(|i| format!("s{i}")).collect();
    let hs: Vec<_> = ids
        .iter()
        .map(|id| e.register(profile(id, false)).unwrap())
        .collect();
    let g = e.signal("g").unwrap();
    for (h, id) in [(hs[0], &ids[0]), (hs[63], &ids[63])] {
        assert!(h.0 == 1 || h.0 == 64);
        let c = e.update_profile(h, profile(id, true)).unwrap();
        assert_eq!(&*c.grade, "high");
        let (grade, p) = e.system_profile(h).unwrap();
        assert_eq!(
            (grade, p.id.as_str(), p.sector.as_str()),
            (1, id.as_str(), "s9")
        );
        assert_eq!(e.watermark(h).unwrap(), None);
        let ts = 1000 * h.0 as i64;
        assert_eq!(e.observe(h, g, 4.0, ts).unwrap(), R, "graded high now");
        assert_eq!(e.watermark(h).unwrap(), Some(ts));
    }
    let (grade_a, prof_a) = e.system_profile(a).unwrap();
    assert_eq!(
        (grade_a, prof_a.id.as_str(), prof_a.sector.as_str()),
        (0, "a", "s0")
    );
    assert_eq!(e.watermark(a).unwrap(), None);
    assert_eq!(e.system_profile(hs[1]).unwrap().0, 0, "handle 2 untouched");
    assert_eq!(e.observe(a, g, 4.0, 7).unwrap(), N, "a is still low");
    assert_eq!(e.watermark(a).unwrap(), Some(7));
    assert_eq!(e.watermark(hs[63]).unwrap(), Some(64_000));
    assert!(
        e.update_profile(a, profile("s1", true)).is_err(),
        "id mismatch"
    );
}

/// `queued()` counts the transitions waiting in the queue.
#[test]
fn queued_counts_waiting_transitions() {
    let t = T::new(json!([rule(json!({}))]));
    assert_eq!(t.engine.queued(), 0);
    t.obs("g", 2.0, 0); // rule none → yellow, system none → yellow
    assert_eq!(t.engine.queued(), 2);
    t.obs("g", 0.0, 1000); // both back to none
    assert_eq!(t.engine.queued(), 4);
    let mut v = Vec::new();
    assert_eq!(t.engine.drain_up_to(&mut v, 1), 1);
    assert_eq!(t.engine.queued(), 3);
    assert_eq!(t.drain().len(), 3);
    assert_eq!(t.engine.queued(), 0);
}

/// `state_bytes_per_system()` depends on the policy only: equal for two engines with the
/// same policy, larger when windows are longer (more buckets per ring).
#[test]
fn state_bytes_per_system_follow_the_windows() {
    let short = || policy(json!([rule(json!({"window_ms": 2000}))]));
    let long = policy(json!([rule(json!({"window_ms": 50000}))]));
    let a = Engine::new(short());
    let b = Engine::new(short());
    b.register(profile("x", false)).unwrap();
    assert_eq!(a.state_bytes_per_system(), b.state_bytes_per_system());
    let l = Engine::new(long).state_bytes_per_system();
    // 48 more buckets of g, each at least one 8-byte field.
    assert!(
        l >= a.state_bytes_per_system() + 48 * 8,
        "{l} vs {}",
        a.state_bytes_per_system()
    );
}

// ---------- Actions ----------

/// `Actions` collects from an iterator of `Action`s (a set: order and repeats do not
/// matter).
#[test]
fn actions_collect_from_an_iterator() {
    let a: Actions = [Action::Suspend, Action::Log, Action::Suspend]
        .into_iter()
        .collect();
    assert_eq!(a, Actions(1 | 32));
    assert_eq!(
        a.iter().collect::<Vec<_>>(),
        vec![Action::Log, Action::Suspend]
    );
    let none: Actions = std::iter::empty().collect();
    assert_eq!(none, Actions::EMPTY);
    let all: Actions = Action::ALL.into_iter().collect();
    assert_eq!(all, Actions(255));
}

/// An `Actions` set is empty exactly when it holds no action (`Actions::EMPTY`), for every
/// set of the eight actions.
#[test]
fn actions_are_empty_only_without_an_action() {
    assert!(Actions::EMPTY.is_empty());
    for bits in 1..=255u32 {
        let a = Actions(bits);
        assert!(!a.is_empty(), "{a:?}");
        assert!(a.iter().next().is_some(), "{a:?}");
    }
    assert_eq!(Actions::EMPTY.iter().count(), 0);
}

/// `Actions` serialises as the list of action names in bit order and deserialises back, for
/// every set; unknown names are refused.
#[test]
fn actions_serde_round_trip() {
    for bits in 0..=255u32 {
        let a = Actions(bits);
        let text = serde_json::to_string(&a).unwrap();
        let back: Actions = serde_json::from_str(&text).unwrap();
        assert_eq!(back, a, "{text}");
    }
    let a: Actions = serde_json::from_str(r#"["public_notice", "log", "log"]"#).unwrap();
    assert_eq!(a, Actions(1 | 128));
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        r#"["log","public_notice"]"#
    );
    assert!(serde_json::from_str::<Actions>(r#"["reboot"]"#).is_err());
}

// ---------- rules that start again at a reload: their private windows ----------

/// Rule-scope transitions as (rule, ts, from, to, value).
fn moves_by_rule(t: &T) -> Vec<(String, i64, Level, Level, Option<f64>)> {
    t.drain()
        .into_iter()
        .filter(|x| x.scope == Scope::Rule)
        .map(|x| (x.rule_id.unwrap().to_string(), x.ts, x.from, x.to, x.value))
        .collect()
}

fn never() -> Value {
    json!({"low": [1e9, null, null, null], "high": [1e9, null, null, null]})
}

/// A rule added by a reload "starts empty": while its window still reaches back before the
/// reload, it reads only what arrived since (its private window), although its signal's
/// ring, carried over for a kept rule (thresholds that nothing here meets), still holds the
/// older observations. `count` counts only the observations since.
#[test]
fn a_count_rule_added_by_a_reload_counts_only_what_arrived_since() {
    let keep = json!([rule(
        json!({"id": "kept", "aggregate": "count", "signal": "n",
        "window_ms": 5000, "thresholds": never()})
    )]);
    let t = T::new(keep.clone());
    for ts in [0, 100, 200, 300, 400] {
        t.obs("n", 1.0, ts);
    }
    let mut rules = keep.as_array().unwrap().clone();
    rules.push(rule(
        json!({"id": "added", "aggregate": "count", "signal": "n",
        "window_ms": 5000, "thresholds": {"low": [3, null, null, null],
        "high": [3, null, null, null]}}),
    ));
    let report = t.engine.reload(policy(Value::Array(rules))).unwrap();
    assert_eq!(report.added, vec!["added".to_string()]);
    // The shared window holds 5 + 1, 5 + 2; the private one 1, 2, then 3.
    t.obs("n", 1.0, 1000);
    t.obs("n", 1.0, 1100);
    assert!(moves_by_rule(&t).is_empty(), "count 2 since the reload");
    t.obs("n", 1.0, 1200);
    assert_eq!(
        moves_by_rule(&t),
        vec![("added".to_string(), 1200, N, B, Some(3.0))]
    );
}

/// `min` and `max` after a reload are those of the observations since: the older extremes
/// (−10 and 50) in the shared ring are not theirs.
#[test]
fn min_and_max_rules_added_by_a_reload_read_only_what_arrived_since() {
    let keep = json!([rule(
        json!({"id": "kept", "aggregate": "max", "window_ms": 5000,
        "thresholds": never()})
    )]);
    let thresholds = json!({"low": [2, 10, null, null], "high": [2, 10, null, null]});
    for (aggregate, want) in [("max", 4.0), ("min", 3.0)] {
        let t = T::new(keep.clone());
        t.obs("g", -10.0, 0);
        t.obs("g", 50.0, 100);
        let mut rules = keep.as_array().unwrap().clone();
        rules.push(rule(
            json!({"id": "added", "aggregate": aggregate, "window_ms": 5000,
            "thresholds": thresholds}),
        ));
        t.engine.reload(policy(Value::Array(rules))).unwrap();
        t.obs("g", 3.0, 1000);
        t.obs("g", 4.0, 1100);
        // Above 2 (blue), below 10 (yellow): blue at 1000 with the value of that moment.
        assert_eq!(
            moves_by_rule(&t),
            vec![("added".to_string(), 1000, N, B, Some(3.0))],
            "{aggregate}"
        );
        let levels = t.engine.rule_levels(t.sys).unwrap();
        assert_eq!(levels.last(), Some(&B), "{aggregate}");
        // Five buckets after the reload the shared window holds only later data: the same.
        t.obs("g", want, 5000);
        assert!(moves_by_rule(&t).is_empty(), "{aggregate}");
    }
}

/// `rate` after a reload divides the flagged events since by the events since (k = 2,
/// n = 4: 0.5, below 0.6; then 0.75), not by the events before it (n = 10, k = 1).
#[test]
fn a_rate_rule_added_by_a_reload_divides_what_arrived_since() {
    let keep = json!([
        rule(
            json!({"id": "kept-n", "aggregate": "sum", "signal": "n", "window_ms": 5000,
            "thresholds": never()})
        ),
        rule(
            json!({"id": "kept-k", "aggregate": "sum", "signal": "k", "window_ms": 5000,
            "thresholds": never()})
        )
    ]);
    let t = T::new(keep.clone());
    t.obs("n", 10.0, 0);
    t.obs("k", 1.0, 0);
    let mut rules = keep.as_array().unwrap().clone();
    rules.push(rule(
        json!({"id": "added", "aggregate": "rate", "signal": "k", "per": "n",
        "window_ms": 5000,
        "thresholds": {"low": [0.6, null, null, null], "high": [0.6, null, null, null]}}),
    ));
    t.engine.reload(policy(Value::Array(rules))).unwrap();
    t.obs("n", 4.0, 1000);
    t.obs("k", 2.0, 1100);
    assert!(moves_by_rule(&t).is_empty(), "2 / 4 = 0.5 < 0.6");
    t.obs("k", 1.0, 1200);
    assert_eq!(
        moves_by_rule(&t),
        vec![("added".to_string(), 1200, N, B, Some(0.75))]
    );
}

/// A `rate` "below" added by a reload, `on_empty: "clear"`: events since the reload but no
/// flagged one is a rate of 0 (met), not an empty window.
#[test]
fn a_rate_below_added_by_a_reload_with_events_but_no_flagged_one_is_zero() {
    let keep = json!([
        rule(
            json!({"id": "kept-n", "aggregate": "sum", "signal": "n", "window_ms": 5000,
            "thresholds": never()})
        ),
        rule(
            json!({"id": "kept-k", "aggregate": "sum", "signal": "k", "window_ms": 5000,
            "thresholds": never()})
        )
    ]);
    let t = T::new(keep.clone());
    t.obs("n", 10.0, 0);
    t.obs("k", 10.0, 0);
    let mut rules = keep.as_array().unwrap().clone();
    rules.push(rule(
        json!({"id": "added", "aggregate": "rate", "signal": "k", "per": "n",
        "window_ms": 5000, "direction": "below", "on_empty": "clear",
        "thresholds": {"low": [0.5, 0.25, null, null], "high": [0.5, 0.25, null, null]}}),
    ));
    t.engine.reload(policy(Value::Array(rules))).unwrap();
    // Shared: 10 / 14 ≈ 0.71, not met; private: 0 / 4 = 0 ≤ 0.25: yellow.
    t.obs("n", 4.0, 1000);
    assert_eq!(
        moves_by_rule(&t),
        vec![("added".to_string(), 1000, N, Y, Some(0.0))]
    );
}

/// A `silence_ms` rule added by a reload measures the silence from the reload (the
/// watermark then), not from the signal's last observation before it: the old heartbeat at
/// 0 would make it red at once at 12 000.
#[test]
fn a_silence_rule_added_by_a_reload_counts_from_the_reload() {
    let keep = json!([rule(
        json!({"id": "kept", "window_ms": 1000, "thresholds": never()})
    )]);
    let t = T::new(keep.clone());
    t.obs("hb", 1.0, 0);
    t.obs("g", 0.0, 10_000);
    let mut rules = keep.as_array().unwrap().clone();
    rules.push(json!({"id": "added", "category": "c3", "signal": "hb",
        "aggregate": "silence_ms",
        "thresholds": {"low": [3000, 6000, 9000, 12000], "high": [3000, 6000, 9000, 12000]}}));
    t.engine.reload(policy(Value::Array(rules))).unwrap();
    t.engine.tick(12_000);
    assert!(moves_by_rule(&t).is_empty(), "2 000 ms since the reload");
    t.engine.tick(13_000);
    assert_eq!(
        moves_by_rule(&t),
        vec![("added".to_string(), 13_000, N, B, Some(3000.0))]
    );
    // A heartbeat ends the private window; the silence counts from it again.
    t.obs("hb", 1.0, 14_000);
    assert_eq!(
        moves_by_rule(&t),
        vec![("added".to_string(), 14_000, B, N, Some(0.0))]
    );
}

// ---------- escalation across more than 64 categories ----------

/// Escalation counts distinct categories: two categories whose indexes differ by 64
/// (c1 and c65 of 70) are two, not one. The engine keeps the categories seen as bits of
/// several words; a policy with at most 64 categories uses only the first word.
#[test]
fn escalation_counts_categories_64_apart_as_two() {
    let mut doc = policy_doc(json!([
        rule(json!({"id": "a", "category": "c1"})),
        rule(json!({"id": "b", "category": "c65", "signal": "n", "aggregate": "sum"}))
    ]));
    // Categories c1..c70: c1 has index 0, c65 index 64.
    doc["categories"] = (1..=70).map(|i| json!({"id": format!("c{i}")})).collect();
    doc["escalation"] = json!({"min_categories": 2, "at_least": "blue", "raise_by": 1});
    let t = T::with(
        airisk::Policy::from_value(doc).unwrap(),
        airisk::EngineOptions::default(),
    );
    assert_eq!(t.obs("g", 1.0, 0), B, "one category at blue: no escalation");
    assert_eq!(
        t.obs("n", 1.0, 0),
        Y,
        "c1 and c65 at blue: two categories, raised one level"
    );
}
