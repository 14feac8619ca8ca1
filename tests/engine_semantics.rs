//! One test per sentence of the engine semantics (`docs/policy.md`, "Signals" through
//! "Levels, thresholds and the state machine", and the transition form of
//! `docs/formats.md`), with hand-computed expectations.

mod common;
use airisk::{Engine, EngineOptions, Error, Level, Scope};
use common::*;
use serde_json::json;
use std::sync::{Arc, Mutex};

// ---------- Time, buckets, watermark, stale ----------

#[test]
fn buckets_use_div_euclid_for_negative_timestamps() {
    // count over 1 bucket; blue at 2 observations.
    let t = T::new(json!([rule(json!({"aggregate": "count", "signal": "n",
        "thresholds": {"low": [2, null, null, null], "high": [2, null, null, null]}}))]));
    t.obs("n", 1.0, -1000); // bucket -1
    t.obs("n", 1.0, -1); // bucket -1 → count 2 → blue
    assert_eq!(t.rule_moves(), vec![(-1, N, B, Some(2.0))]);
    // ts 0 is bucket 0: the 1-bucket window holds only this observation → count 1, below 2.
    t.obs("n", 1.0, 0);
    assert_eq!(t.rule_moves(), vec![(0, B, N, Some(1.0))]);
    // -1001 is bucket -2, which is stale for a ring of B = 1 at idx(w) = 0 (≤ 0 - 1).
    let s = t.engine.signal("n").unwrap();
    assert!(matches!(
        t.engine.observe(t.sys, s, 1.0, -1001),
        Err(Error::Stale { bucket: -2, .. })
    ));
}

#[test]
fn stale_exactly_at_ring_edge() {
    // A 3-bucket window makes B = 3 for n.
    let t = T::new(json!([rule(
        json!({"aggregate": "count", "signal": "n", "window_ms": 3000})
    )]));
    let n = t.engine.signal("n").unwrap();
    t.engine.observe(t.sys, n, 1.0, 5500).unwrap(); // idx(w) = 5
    // bucket 2 = 5 - 3 → stale; bucket 3 is the oldest kept.
    let e = t.engine.observe(t.sys, n, 1.0, 2999).unwrap_err();
    assert_eq!(
        e,
        Error::Stale {
            ts_ms: 2999,
            bucket: 2,
            oldest_rejected: 2
        }
    );
    t.engine.observe(t.sys, n, 1.0, 3000).unwrap();
    let st = t.engine.stats();
    assert_eq!((st.observed, st.rejected_stale), (2, 1));
}

#[test]
fn system_without_watermark_rejects_nothing_as_stale() {
    let t = T::new(json!([rule(json!({"aggregate": "count", "signal": "n"}))]));
    t.obs("n", 1.0, -9_000_000_000);
    t.obs("n", 1.0, 10);
    assert_eq!(t.engine.stats().observed, 2);
}

#[test]
fn stale_is_per_signal_ring_size() {
    // n has B = 5, g has B = 1; a late g at bucket idx(w)-1 is stale, a late n is not.
    let t = T::new(json!([
        rule(json!({"id": "a", "aggregate": "count", "signal": "n", "window_ms": 5000})),
        rule(json!({"id": "b", "aggregate": "max", "signal": "g", "window_ms": 1000}))
    ]));
    t.obs("n", 1.0, 10_000);
    let g = t.engine.signal("g").unwrap();
    assert!(matches!(
        t.engine.observe(t.sys, g, 1.0, 9_000),
        Err(Error::Stale { .. })
    ));
    t.obs("n", 1.0, 6_000);
}

#[test]
fn late_observation_lands_in_its_own_bucket() {
    // n: B = 3 (rule a); rule b counts only the newest 2 buckets.
    let t = T::new(json!([
        rule(
            json!({"id": "a", "aggregate": "count", "signal": "n", "window_ms": 3000,
            "thresholds": {"low": [2, null, null, null], "high": [2, null, null, null]}})
        ),
        rule(
            json!({"id": "b", "aggregate": "count", "signal": "n", "window_ms": 2000,
            "thresholds": {"low": [2, null, null, null], "high": [2, null, null, null]}})
        )
    ]));
    t.obs("n", 1.0, 5000);
    t.obs("n", 1.0, 3500); // bucket 3: inside the 3-bucket window only
    let moves: Vec<_> = t
        .drain()
        .into_iter()
        .filter(|x| x.rule.is_some())
        .map(|x| (x.rule_id.unwrap().to_string(), x.ts, x.to))
        .collect();
    // Evaluated at w = 5000 (the watermark), not at the late ts.
    assert_eq!(moves, vec![("a".to_string(), 5000, B)]);
}

#[test]
fn watermark_never_goes_back() {
    let t = T::new(json!([rule(
        json!({"aggregate": "count", "signal": "n", "window_ms": 5000})
    )]));
    t.obs("n", 1.0, 5000);
    t.obs("n", 1.0, 4000);
    assert_eq!(t.engine.watermark(t.sys).unwrap(), Some(5000));
    t.engine.tick(3000);
    assert_eq!(t.engine.watermark(t.sys).unwrap(), Some(5000));
    t.engine.tick(9000);
    assert_eq!(t.engine.watermark(t.sys).unwrap(), Some(9000));
}

// ---------- Aggregates ----------

fn first_value(agg: serde_json::Value, obs: &[(&str, f64, i64)]) -> Option<f64> {
    let t = T::new(json!([agg]));
    for (s, v, ts) in obs {
        t.obs(s, *v, *ts);
    }
    t.drain()
        .into_iter()
        .find(|x| x.rule.is_some())
        .and_then(|x| x.value)
}

#[test]
fn aggregate_count_sum_mean_max_min() {
    let th = json!({"low": [0, null, null, null], "high": [0, null, null, null]});
    let obs = [("g", 2.0, 100), ("g", 6.0, 200), ("g", 1.0, 1100)];
    let mk = |a: &str| rule(json!({"aggregate": a, "window_ms": 2000, "thresholds": th}));
    // At the first observation the level becomes blue (threshold 0 met), so take the value
    // of the whole window via a threshold the last observation crosses.
    let th_hi = |x: f64| json!({"low": [x, null, null, null], "high": [x, null, null, null]});
    assert_eq!(
        first_value(
            rule(json!({"aggregate": "count", "window_ms": 2000, "thresholds": th_hi(3.0)})),
            &obs
        ),
        Some(3.0)
    );
    assert_eq!(
        first_value(
            rule(json!({"aggregate": "sum", "window_ms": 2000, "thresholds": th_hi(9.0)})),
            &obs
        ),
        Some(9.0)
    );
    // means 1, 1.5, 3: first crosses 3 at the third observation.
    let obs_mean = [("g", 1.0, 100), ("g", 2.0, 200), ("g", 6.0, 1100)];
    assert_eq!(
        first_value(
            rule(json!({"aggregate": "mean", "window_ms": 2000, "thresholds": th_hi(3.0)})),
            &obs_mean
        ),
        Some(3.0)
    );
    assert_eq!(first_value(mk("max"), &obs), Some(2.0));
    assert_eq!(
        first_value(
            rule(
                json!({"aggregate": "min", "window_ms": 2000, "direction": "below",
                "thresholds": {"low": [1.5, null, null, null], "high": [1.5, null, null, null]}})
            ),
            &obs
        ),
        Some(1.0)
    );
}

#[test]
fn window_covers_exactly_n_buckets_ending_at_watermark() {
    // sum over 2 buckets: observations in buckets 0, 1, 2 → at w in bucket 2 only 1+2 count.
    let t = T::new(json!([rule(
        json!({"aggregate": "sum", "signal": "n", "window_ms": 2000,
        "thresholds": {"low": [100, null, null, null], "high": [100, null, null, null]},
        "direction": "above"})
    )]));
    t.obs("n", 50.0, 0);
    t.obs("n", 49.0, 1000); // 99
    assert!(t.rule_moves().is_empty());
    t.obs("n", 50.0, 2000); // buckets 1, 2 → 99 < 100
    assert!(t.rule_moves().is_empty());
    t.obs("n", 1.0, 2999); // 100 → blue
    assert_eq!(t.rule_moves(), vec![(2999, N, B, Some(100.0))]);
}

#[test]
fn aggregate_rate_is_sum_over_sum_of_per() {
    let r = rule(
        json!({"aggregate": "rate", "signal": "k", "per": "n", "window_ms": 5000,
        "thresholds": {"low": [0.25, null, null, null], "high": [0.25, null, null, null]}}),
    );
    let t = T::new(json!([r]));
    t.obs("n", 10.0, 0);
    t.obs("k", 2.0, 100); // 0.2
    assert!(t.rule_moves().is_empty());
    t.obs("k", 1.0, 200); // 0.3
    assert_eq!(t.rule_moves(), vec![(200, N, B, Some(0.3))]);
    // Observing per re-evaluates: 3 / 20 = 0.15 → falls to none.
    t.obs("n", 10.0, 300);
    assert_eq!(t.rule_moves(), vec![(300, B, N, Some(0.15))]);
}

#[test]
fn silence_ms_measures_since_last_observation_or_first_watermark() {
    let r = json!({"id": "quiet", "category": "c3", "signal": "hb", "aggregate": "silence_ms",
        "thresholds": {"low": [5000, 10000, null, null], "high": [5000, 10000, null, null]}});
    let t = T::new(json!([r]));
    // Before any heartbeat: measured from the first watermark (here set by tick).
    t.engine.tick(1000);
    t.engine.tick(6000);
    assert_eq!(t.rule_moves(), vec![(6000, N, B, Some(5000.0))]);
    t.obs("hb", 1.0, 7000); // silence 0 → none
    assert_eq!(t.rule_moves(), vec![(7000, B, N, Some(0.0))]);
    t.engine.tick(17_000);
    assert_eq!(t.rule_moves(), vec![(17_000, N, Y, Some(10_000.0))]);
}

#[test]
fn silence_before_any_observation_uses_first_watermark_from_other_signal() {
    let r = json!({"id": "quiet", "signal": "hb", "aggregate": "silence_ms",
        "thresholds": {"low": [5000, null, null, null], "high": [5000, null, null, null]}});
    let t = T::new(json!([r]));
    t.obs("n", 1.0, 2000); // first watermark 2000
    t.engine.tick(7000);
    assert_eq!(t.rule_moves(), vec![(7000, N, B, Some(5000.0))]);
}

// ---------- Undefined values ----------

#[test]
fn undefined_below_min_samples_for_count_and_sum() {
    for agg in ["count", "sum"] {
        let t = T::new(json!([rule(
            json!({"aggregate": agg, "signal": "n", "window_ms": 10000,
            "min_samples": 3,
            "thresholds": {"low": [1, null, null, null], "high": [1, null, null, null]}})
        )]));
        t.obs("n", 5.0, 0);
        t.obs("n", 5.0, 1);
        assert!(t.rule_moves().is_empty(), "{agg}: 2 < min_samples");
        t.obs("n", 5.0, 2);
        assert_eq!(t.rule_moves().len(), 1, "{agg}");
    }
}

#[test]
fn count_with_zero_min_samples_is_defined_on_empty_window() {
    // count over an empty window is 0, a defined value: direction below fires on it.
    let t = T::new(json!([rule(
        json!({"aggregate": "count", "signal": "n", "window_ms": 1000,
        "direction": "below",
        "thresholds": {"low": [0, null, null, null], "high": [0, null, null, null]}})
    )]));
    t.engine.tick(0);
    assert_eq!(t.rule_moves(), vec![(0, N, B, Some(0.0))]);
}

#[test]
fn undefined_mean_max_min_need_at_least_one_sample() {
    for agg in ["mean", "max", "min"] {
        let t = T::new(json!([rule(json!({"aggregate": agg, "window_ms": 1000,
            "direction": "below",
            "thresholds": {"low": [100, null, null, null], "high": [100, null, null, null]}}))]));
        t.engine.tick(0); // empty window: undefined, not 0 or ±inf
        assert!(t.rule_moves().is_empty(), "{agg}");
        t.obs("g", 1.0, 10);
        assert_eq!(t.rule_moves().len(), 1, "{agg}");
    }
}

#[test]
fn undefined_rate_on_zero_or_small_denominator() {
    let t = T::new(json!([rule(
        json!({"aggregate": "rate", "signal": "k", "per": "n",
        "window_ms": 10000, "min_samples": 10,
        "thresholds": {"low": [0.1, null, null, null], "high": [0.1, null, null, null]}})
    )]));
    t.obs("k", 5.0, 0); // denominator 0
    t.obs("n", 9.0, 1); // 9 < 10
    assert!(t.rule_moves().is_empty());
    t.obs("n", 1.0, 2); // 5/10
    assert_eq!(t.rule_moves(), vec![(2, N, B, Some(0.5))]);
}

#[test]
fn undefined_holds_level_and_resets_timers() {
    // for_ms 3000; blue met at 0 and 2000, then an undefined evaluation at 2500 (window
    // empty → mean undefined), then met again at 4000: the timer restarted at 4000.
    let t = T::new(json!([rule(
        json!({"aggregate": "mean", "window_ms": 1000, "for_ms": 3000,
        "thresholds": {"low": [1, null, null, null], "high": [1, null, null, null]}})
    )]));
    t.obs("g", 5.0, 0);
    t.obs("g", 5.0, 2000);
    t.engine.tick(3500); // window [3] empty → undefined; timers reset
    t.obs("g", 5.0, 4000);
    t.obs("g", 5.0, 6500);
    assert!(t.rule_moves().is_empty(), "timer restarted at 4000");
    t.obs("g", 5.0, 7000);
    assert_eq!(t.rule_moves(), vec![(7000, N, B, Some(5.0))]);
    // Undefined changes no level.
    t.engine.tick(9000);
    assert!(t.rule_moves().is_empty());
    assert_eq!(t.engine.rule_levels(t.sys).unwrap(), vec![B]);
}

// ---------- Wilson ----------

#[test]
fn wilson_lower_bound_for_above_and_upper_for_below() {
    // k = 10, n = 100, z = 1.96: lower 0.055229, upper 0.174367 (hand-computed).
    let above = rule(
        json!({"id": "a", "aggregate": "rate", "signal": "k", "per": "n",
        "window_ms": 10000, "wilson_z": 1.96,
        "thresholds": {"low": [0.05, null, null, null], "high": [0.05, null, null, null]}}),
    );
    let below = rule(
        json!({"id": "b", "aggregate": "rate", "signal": "k", "per": "n",
        "window_ms": 10000, "wilson_z": 1.96, "direction": "below",
        "thresholds": {"low": [0.2, null, null, null], "high": [0.2, null, null, null]}}),
    );
    let t = T::new(json!([above, below]));
    t.obs("k", 10.0, 0);
    t.obs("n", 100.0, 1);
    let v: Vec<_> = t
        .drain()
        .into_iter()
        .filter(|x| x.rule.is_some())
        .map(|x| x.value.unwrap())
        .collect();
    assert_eq!(v.len(), 2);
    assert!((v[0] - 0.055229).abs() < 1e-5, "{}", v[0]);
    assert!((v[1] - 0.174367).abs() < 1e-5, "{}", v[1]);
}

#[test]
fn wilson_keeps_small_samples_from_firing() {
    // 1/2 = 0.5 raw, but the Wilson lower bound with z = 1.96 is 0.0945 < 0.1.
    let t = T::new(json!([rule(
        json!({"aggregate": "rate", "signal": "k", "per": "n",
        "window_ms": 10000, "wilson_z": 1.96,
        "thresholds": {"low": [0.1, null, null, null], "high": [0.1, null, null, null]}})
    )]));
    t.obs("n", 2.0, 0);
    t.obs("k", 1.0, 1);
    assert!(t.rule_moves().is_empty());
}

#[test]
fn wilson_takes_k_as_n_when_flags_outnumber_the_denominator() {
    // k = 2 flagged, n = 1 interaction, z = 1: k is taken as n, p = 1, lower bound
    // (1 + 1/2 - sqrt(1/4)) / (1 + 1) = 0.5 — yellow (0.5), not red (0.9) at once.
    let t = T::new(json!([rule(
        json!({"aggregate": "rate", "signal": "k", "per": "n",
        "window_ms": 10000, "wilson_z": 1.0,
        "thresholds": {"low": [0.25, 0.5, 0.75, 0.9], "high": [0.25, 0.5, 0.75, 0.9]}})
    )]));
    t.obs("k", 2.0, 0);
    t.obs("n", 1.0, 1);
    assert_eq!(t.rule_moves(), vec![(1, N, Y, Some(0.5))]);
}

// ---------- Raising ----------

#[test]
fn raising_without_for_is_immediate_and_jumps_to_highest_met() {
    let t = T::new(json!([rule(json!({}))]));
    t.obs("g", 3.5, 0);
    let m = t.drain();
    assert_eq!(m.len(), 2); // rule + system
    assert_eq!(
        (m[0].from, m[0].to, m[0].value, m[0].threshold),
        (N, O, Some(3.5), Some(3.0))
    );
}

#[test]
fn per_level_timers_red_only_if_red_met_for_for_ms() {
    // for_ms 10 000 (buckets of 1 s, max over 1 bucket).
    let t = T::new(json!([rule(json!({"for_ms": 10000}))]));
    t.obs("g", 1.5, 0); // blue met since 0
    t.obs("g", 4.5, 5000); // blue since 0, yellow..red since 5000
    assert!(t.rule_moves().is_empty());
    t.obs("g", 4.5, 10_000); // blue met for 10 s → blue (not red)
    assert_eq!(t.rule_moves(), vec![(10_000, N, B, Some(4.5))]);
    t.obs("g", 4.5, 14_999);
    assert!(t.rule_moves().is_empty());
    t.obs("g", 4.5, 15_000); // red met for 10 s → straight to red
    assert_eq!(t.rule_moves(), vec![(15_000, B, R, Some(4.5))]);
}

#[test]
fn raising_timer_restarts_when_level_not_met() {
    let t = T::new(json!([rule(json!({"for_ms": 2000}))]));
    t.obs("g", 2.0, 0); // yellow since 0
    t.obs("g", 0.0, 1000); // not met: reset
    t.obs("g", 2.0, 2000); // yellow since 2000
    t.obs("g", 2.0, 3000);
    assert!(t.rule_moves().is_empty());
    t.obs("g", 2.0, 4000);
    assert_eq!(t.rule_moves(), vec![(4000, N, Y, Some(2.0))]);
}

// ---------- Lowering, hysteresis, clear_for ----------

#[test]
fn lowering_through_hysteresis_bands() {
    // thresholds 10/20/30/40, h = 0.1: held(orange) needs v ≥ 27.
    let t = T::new(json!([rule(json!({"hysteresis": 0.1,
        "thresholds": {"low": [10, 20, 30, 40], "high": [10, 20, 30, 40]}}))]));
    t.obs("g", 31.0, 0);
    assert_eq!(t.rule_moves(), vec![(0, N, O, Some(31.0))]);
    t.obs("g", 27.0, 1000); // inside the orange band → stays
    assert!(t.rule_moves().is_empty());
    t.obs("g", 26.9, 2000); // below 27, held(yellow) (≥ 18) → yellow
    assert_eq!(t.rule_moves(), vec![(2000, O, Y, Some(26.9))]);
    t.obs("g", 18.0, 3000); // yellow band holds
    assert!(t.rule_moves().is_empty());
    t.obs("g", 8.5, 4000); // below 9 → none (not held blue)
    assert_eq!(t.rule_moves(), vec![(4000, Y, N, Some(8.5))]);
}

#[test]
fn lowering_waits_clear_for_and_falls_to_d_at_that_evaluation() {
    let t = T::new(json!([rule(json!({"clear_for_ms": 3000}))]));
    t.obs("g", 4.0, 0); // red
    t.drain();
    t.obs("g", 2.0, 1000); // D = yellow, below since 1000
    t.obs("g", 3.0, 2000); // D = orange (still < red)
    assert!(t.rule_moves().is_empty());
    t.obs("g", 1.0, 4000); // 3000 elapsed; D computed now = blue
    assert_eq!(t.rule_moves(), vec![(4000, R, B, Some(1.0))]);
}

#[test]
fn clear_for_timer_resets_when_level_held_again() {
    let t = T::new(json!([rule(json!({"clear_for_ms": 3000}))]));
    t.obs("g", 2.0, 0); // yellow
    t.drain();
    t.obs("g", 0.0, 1000); // below since 1000
    t.obs("g", 2.0, 2000); // held again: reset
    t.obs("g", 0.0, 3000); // below since 3000
    t.obs("g", 0.0, 5000);
    assert!(t.rule_moves().is_empty());
    t.obs("g", 0.0, 6000);
    assert_eq!(t.rule_moves(), vec![(6000, Y, N, Some(0.0))]);
}

#[test]
fn transition_to_none_has_null_threshold_and_no_actions() {
    let t = T::new(json!([rule(json!({}))]));
    t.obs("g", 1.0, 0);
    t.drain();
    t.obs("g", 0.0, 1000);
    let m = t.drain();
    assert_eq!(m[0].to, N);
    assert_eq!(m[0].threshold, None);
    assert!(m[0].actions.is_empty());
    assert_eq!(m[0].report_within_s, None);
}

// ---------- on_empty, direction ----------

#[test]
fn on_empty_clear_lowers_to_none_with_null_value() {
    let t = T::new(json!([rule(
        json!({"on_empty": "clear", "clear_for_ms": 2000})
    )]));
    t.obs("g", 2.5, 0);
    t.drain();
    t.engine.tick(1000); // empty window: below since 1000
    assert!(t.rule_moves().is_empty());
    t.engine.tick(3000);
    assert_eq!(t.rule_moves(), vec![(3000, Y, N, None)]);
}

#[test]
fn on_empty_hold_keeps_level_on_empty_window() {
    let t = T::new(json!([rule(json!({}))]));
    t.obs("g", 2.5, 0);
    t.drain();
    t.engine.tick(50_000);
    assert!(t.rule_moves().is_empty());
    assert_eq!(t.engine.rule_levels(t.sys).unwrap(), vec![Y]);
}

#[test]
fn on_empty_clear_resets_raising_timers() {
    let t = T::new(json!([rule(json!({"on_empty": "clear", "for_ms": 2000}))]));
    t.obs("g", 1.0, 0);
    t.engine.tick(1000); // empty: timers reset
    t.obs("g", 1.0, 2000);
    t.obs("g", 1.0, 3500);
    assert!(t.rule_moves().is_empty());
    t.obs("g", 1.0, 4000);
    assert_eq!(t.rule_moves(), vec![(4000, N, B, Some(1.0))]);
}

#[test]
fn on_empty_clear_for_rate_needs_both_signal_and_per_empty() {
    let t = T::new(json!([rule(
        json!({"aggregate": "rate", "signal": "k", "per": "n",
        "window_ms": 1000, "on_empty": "clear",
        "thresholds": {"low": [0.5, null, null, null], "high": [0.5, null, null, null]}})
    )]));
    t.obs("n", 1.0, 0);
    t.obs("k", 1.0, 1);
    assert_eq!(t.rule_moves(), vec![(1, N, B, Some(1.0))]);
    t.engine.tick(5000);
    assert_eq!(t.rule_moves(), vec![(5000, B, N, None)]);
}

#[test]
fn direction_below_meets_at_or_under_and_holds_with_upper_band() {
    // Four-fifths style: blue ≤ 0.8, yellow ≤ 0.7, orange ≤ 0.6, red ≤ 0.5, h = 0.1.
    let t = T::new(json!([rule(
        json!({"direction": "below", "hysteresis": 0.1,
        "thresholds": {"low": [0.8, 0.7, 0.6, 0.5], "high": [0.8, 0.7, 0.6, 0.5]}})
    )]));
    t.obs("g", 0.9, 0);
    assert!(t.rule_moves().is_empty());
    t.obs("g", 0.7, 1000);
    assert_eq!(t.rule_moves(), vec![(1000, N, Y, Some(0.7))]);
    t.obs("g", 0.77, 2000); // held(yellow): ≤ 0.77
    assert!(t.rule_moves().is_empty());
    t.obs("g", 0.78, 3000); // not held yellow; held blue (≤ 0.88) → blue
    assert_eq!(t.rule_moves(), vec![(3000, Y, B, Some(0.78))]);
}

// ---------- System level, escalation ----------

fn three_categories(escalation: Option<serde_json::Value>) -> T {
    let rules = json!([
        rule(json!({"id": "r1", "category": "c1"})),
        rule(json!({"id": "r2", "category": "c2", "signal": "n", "aggregate": "sum"})),
        rule(json!({"id": "r3", "category": "c3", "signal": "hb", "aggregate": "sum"}))
    ]);
    let mut doc = policy_doc(rules);
    if let Some(e) = escalation {
        doc["escalation"] = e;
    }
    T::with(
        airisk::Policy::from_value(doc).unwrap(),
        EngineOptions::default(),
    )
}

#[test]
fn system_level_is_max_of_rules_without_escalation() {
    let t = three_categories(None);
    t.obs("g", 3.0, 0);
    t.obs("n", 3.0, 1);
    t.obs("hb", 2.0, 2);
    assert_eq!(t.engine.system_level(t.sys).unwrap(), O);
    let sys: Vec<_> = t
        .drain()
        .into_iter()
        .filter(|x| x.scope == Scope::System)
        .map(|x| (x.from, x.to))
        .collect();
    assert_eq!(sys, vec![(N, O)]);
}

#[test]
fn escalation_raises_when_enough_categories_at_level() {
    let t = three_categories(Some(json!({"min_categories": 3, "at_least": "yellow"})));
    t.obs("g", 3.0, 0); // c1 orange
    t.obs("n", 2.0, 1); // c2 yellow
    assert_eq!(t.engine.system_level(t.sys).unwrap(), O);
    let lvl = t.obs("hb", 2.0, 2); // c3 yellow → 3 categories ≥ yellow → orange + 1 = red
    assert_eq!(lvl, R);
    let all = t.drain();
    let last_two: Vec<_> = all[all.len() - 2..]
        .iter()
        .map(|x| (x.scope, x.from, x.to))
        .collect();
    // The system-scope transition comes after the rule transition of the same evaluation.
    assert_eq!(last_two, vec![(Scope::Rule, N, Y), (Scope::System, O, R)]);
    // One category falls below yellow → escalation lifts off.
    t.obs("hb", 0.0, 1002);
    assert_eq!(t.engine.system_level(t.sys).unwrap(), O);
}

#[test]
fn escalation_is_capped_at_red_and_counts_distinct_categories() {
    let rules = json!([
        rule(json!({"id": "r1", "category": "c1"})),
        rule(json!({"id": "r1b", "category": "c1", "signal": "n", "aggregate": "sum"})),
        rule(json!({"id": "r2", "category": "c2", "signal": "hb", "aggregate": "sum"}))
    ]);
    let mut doc = policy_doc(rules);
    doc["escalation"] = json!({"min_categories": 2, "at_least": "blue", "raise_by": 3});
    let t = T::with(
        airisk::Policy::from_value(doc).unwrap(),
        EngineOptions::default(),
    );
    t.obs("g", 1.0, 0);
    t.obs("n", 1.0, 0); // two rules, one category → no escalation
    assert_eq!(t.engine.system_level(t.sys).unwrap(), B);
    t.obs("hb", 2.0, 0); // c1 blue, c2 yellow → yellow + 3 = red (capped)
    assert_eq!(t.engine.system_level(t.sys).unwrap(), R);
}

// ---------- Responses ----------

#[test]
fn transitions_carry_the_response_of_the_new_level() {
    let t = T::new(json!([rule(json!({}))]));
    t.obs("g", 2.0, 0);
    let m = t.drain();
    let r = &m[0];
    assert_eq!(
        r.actions.iter().map(|a| a.name()).collect::<Vec<_>>(),
        ["log", "notify_operator"]
    );
    assert_eq!(r.report_within_s, Some(14400));
    assert_eq!(r.basis.as_deref(), Some("Art. T"));
    assert_eq!(r.category.as_deref(), Some("c1"));
    // The system-scope transition carries the level's response and nulls.
    let s = &m[1];
    assert_eq!(s.scope, Scope::System);
    assert_eq!((s.rule, s.value, s.threshold), (None, None, None));
    assert_eq!(s.report_within_s, Some(14400));
}

#[test]
fn category_override_replaces_level_response() {
    // c2 at orange is overridden: suspend + report_regulator, 600 s.
    let t = T::new(json!([rule(json!({"category": "c2"}))]));
    t.obs("g", 3.0, 0);
    let m = t.drain();
    assert_eq!(
        m[0].actions.iter().map(|a| a.name()).collect::<Vec<_>>(),
        ["suspend", "report_regulator"]
    );
    assert_eq!(m[0].report_within_s, Some(600));
    // Other levels of c2 are not overridden.
    t.obs("g", 4.0, 1000);
    let m = t.drain();
    assert_eq!(m[0].report_within_s, Some(3600));
}

#[test]
fn json_form_matches_design() {
    let t = T::new(json!([rule(json!({}))]));
    t.obs("g", 2.0, 1_764_374_400_000);
    let m = t.drain();
    let v: serde_json::Value = serde_json::from_str(&m[0].to_json()).unwrap();
    assert_eq!(
        v,
        json!({"seq": 1, "ts": 1_764_374_400_000i64, "scope": "rule", "system": "sys",
            "grade": "low", "rule": "r", "category": "c1", "from": "none", "to": "yellow",
            "value": 2.0, "threshold": 2.0, "actions": ["log", "notify_operator"],
            "report_within_s": 14400, "basis": "Art. T"})
    );
    let v: serde_json::Value = serde_json::from_str(&m[1].to_json()).unwrap();
    assert_eq!(
        v,
        json!({"seq": 2, "ts": 1_764_374_400_000i64, "scope": "system", "system": "sys",
            "grade": "low", "rule": null, "category": null, "from": "none", "to": "yellow",
            "value": null, "threshold": null, "actions": ["log", "notify_operator"],
            "report_within_s": 14400, "basis": null})
    );
}

// ---------- seq, queue, sink ----------

#[test]
fn seq_starts_at_one_and_is_continuous() {
    let t = T::new(json!([rule(json!({}))]));
    for (i, v) in [1.0, 2.0, 0.0, 4.0, 1.0].iter().enumerate() {
        t.obs("g", *v, i as i64 * 1000);
    }
    let m = t.drain();
    let seqs: Vec<u64> = m.iter().map(|x| x.seq).collect();
    assert_eq!(seqs, (1..=m.len() as u64).collect::<Vec<_>>());
    assert_eq!(t.engine.stats().transitions, m.len() as u64);
}

#[test]
fn full_queue_drops_and_counts_leaving_a_seq_gap() {
    let t = T::with(
        policy(json!([rule(json!({}))])),
        EngineOptions { queue_capacity: 3 },
    );
    for i in 0..4 {
        t.obs("g", if i % 2 == 0 { 4.0 } else { 0.0 }, i * 1000); // 2 transitions each
    }
    let st = t.engine.stats();
    assert_eq!((st.transitions, st.dropped), (8, 5));
    let m = t.drain();
    assert_eq!(m.iter().map(|x| x.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
    t.obs("g", 4.0, 10_000);
    let m = t.drain();
    assert_eq!(m[0].seq, 9, "the consumer sees the gap 4..=8");
}

#[test]
fn sink_receives_transitions_and_may_call_the_engine() {
    let t = Arc::new(T::new(json!([rule(json!({}))])));
    let got: Arc<Mutex<Vec<(u64, Level)>>> = Arc::default();
    let (g2, t2) = (got.clone(), Arc::downgrade(&t));
    t.engine
        .set_sink(Some(Arc::new(move |tr: &airisk::Transition| {
            // Re-entrant call: no engine lock is held here.
            if let Some(t) = t2.upgrade() {
                let _ = t.engine.system_level(t.sys).unwrap();
                let _ = t.engine.stats();
            }
            g2.lock().unwrap().push((tr.seq, tr.to));
        })));
    t.obs("g", 2.0, 0);
    assert_eq!(*got.lock().unwrap(), vec![(1, Y), (2, Y)]);
    assert_eq!(t.engine.queued(), 0);
    t.engine.set_sink(None);
    t.obs("g", 0.0, 1000);
    assert_eq!(t.drain().len(), 2);
}

// ---------- Registry, values, tick ----------

#[test]
fn invalid_values_and_unknown_ids_are_counted_and_change_nothing() {
    let t = T::new(json!([rule(json!({"aggregate": "sum", "signal": "n"}))]));
    let n = t.engine.signal("n").unwrap();
    let g = t.engine.signal("g").unwrap();
    for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0] {
        assert!(matches!(
            t.engine.observe(t.sys, n, v, 0),
            Err(Error::Value { .. })
        ));
    }
    // A gauge may be negative.
    t.engine.observe(t.sys, g, -1.0, 0).unwrap();
    assert!(matches!(
        t.engine.observe(airisk::SystemHandle(99), n, 1.0, 0),
        Err(Error::UnknownSystem(99))
    ));
    assert!(matches!(
        t.engine.observe(t.sys, airisk::SignalId(99), 1.0, 0),
        Err(Error::UnknownSignal(_))
    ));
    let st = t.engine.stats();
    assert_eq!((st.observed, st.rejected_invalid), (1, 6));
    assert_eq!(t.engine.watermark(t.sys).unwrap(), Some(0));
}

#[test]
fn duplicate_registration_is_an_error_and_handles_are_dense() {
    let e = Engine::new(policy(json!([rule(json!({}))])));
    assert_eq!(e.register(profile("a", false)).unwrap().0, 0);
    assert_eq!(e.register(profile("b", true)).unwrap().0, 1);
    assert_eq!(
        e.register(profile("a", true)).unwrap_err(),
        Error::Duplicate("a".into())
    );
    assert_eq!(e.stats().systems, 2);
    assert_eq!(e.system("b").unwrap().0, 1);
}

#[test]
fn thresholds_follow_the_systems_grade() {
    let r = rule(json!({"thresholds": {"low": [5, null, null, null], "high": [1, 2, 3, 4]}}));
    let e = Engine::new(policy(json!([r])));
    let lo = e.register(profile("lo", false)).unwrap();
    let hi = e.register(profile("hi", true)).unwrap();
    let g = e.signal("g").unwrap();
    assert_eq!(e.observe(lo, g, 4.0, 0).unwrap(), N);
    assert_eq!(e.observe(hi, g, 4.0, 0).unwrap(), R);
    let mut v = Vec::new();
    e.drain(&mut v);
    assert_eq!(&*v[0].grade_id, "high");
    assert_eq!(v[0].grade, 1);
}

#[test]
fn update_profile_regrades_and_keeps_rule_state() {
    let r = rule(json!({"thresholds": {"low": [5, null, null, null], "high": [1, 2, 3, 4]}}));
    let t = T::new(json!([r]));
    t.obs("g", 4.0, 0); // low grade: none
    assert!(t.rule_moves().is_empty());
    let c = t
        .engine
        .update_profile(t.sys, profile("sys", true))
        .unwrap();
    assert_eq!(&*c.grade, "high");
    assert!(
        t.rule_moves().is_empty(),
        "nothing happens until the next evaluation"
    );
    t.obs("g", 4.0, 100);
    assert_eq!(t.rule_moves(), vec![(100, N, R, Some(4.0))]);
    assert!(
        t.engine
            .update_profile(t.sys, profile("other", true))
            .is_err()
    );
}

#[test]
fn deregistered_system_is_not_evaluated_and_id_stays_readable() {
    let t = T::new(json!([rule(json!({}))]));
    let g = t.engine.signal("g").unwrap();
    t.engine.deregister(t.sys).unwrap();
    assert!(matches!(
        t.engine.observe(t.sys, g, 1.0, 0),
        Err(Error::UnknownSystem(0))
    ));
    t.engine.tick(1000);
    assert!(t.drain().is_empty());
    assert_eq!(&*t.engine.system_id(t.sys).unwrap(), "sys");
    assert_eq!(t.engine.stats().systems, 0);
    let again = t.engine.register(profile("sys", false)).unwrap();
    assert_eq!(again.0, 1);
}

#[test]
fn tick_evaluates_systems_in_registration_order() {
    let r = json!({"id": "quiet", "signal": "hb", "aggregate": "silence_ms",
        "thresholds": {"low": [1000, null, null, null], "high": [1000, null, null, null]}});
    let e = Engine::new(policy(json!([r])));
    let ids = ["c", "a", "b"];
    for id in ids {
        e.register(profile(id, false)).unwrap();
    }
    e.tick(0);
    e.tick(5000);
    let mut v = Vec::new();
    e.drain(&mut v);
    let order: Vec<_> = v
        .iter()
        .filter(|x| x.scope == Scope::Rule)
        .map(|x| x.system_id.to_string())
        .collect();
    assert_eq!(order, ids);
}

#[test]
fn observe_evaluates_only_rules_of_that_signal_and_tick_evaluates_all() {
    // A silence rule on hb is not evaluated when n is observed, only on tick.
    let rules = json!([
        {"id": "quiet", "signal": "hb", "aggregate": "silence_ms",
         "thresholds": {"low": [1000, null, null, null], "high": [1000, null, null, null]}},
        rule(json!({"id": "sum", "signal": "n", "aggregate": "sum",
          "thresholds": {"low": [100, null, null, null], "high": [100, null, null, null]}}))
    ]);
    let t = T::new(rules);
    t.obs("hb", 1.0, 0);
    t.obs("n", 1.0, 5000);
    assert!(t.rule_moves().is_empty());
    t.engine.tick(5000);
    assert_eq!(t.rule_moves(), vec![(5000, N, B, Some(5000.0))]);
}
