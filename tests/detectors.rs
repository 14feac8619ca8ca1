//! Detectors: hand-computed EWMA and CUSUM sequences (CUSUM against a worked textbook
//! example), PSI against values computed independently (tests/data/psi), and validation.
//!
//! The common test policy: bucket 1 s; signals n (counter), k (counter), g (gauge), hb.

mod common;
use airisk::{Engine, Level, Policy, Transition};
use common::*;
use serde_json::{Value, json};

fn engine(rules: Value) -> (Engine, airisk::SystemHandle) {
    let e = Engine::new(Policy::from_value(policy_doc(rules)).unwrap());
    let h = e.register(profile("s", false)).unwrap();
    (e, h)
}

fn obs(e: &Engine, h: airisk::SystemHandle, s: &str, v: f64, ts: i64) {
    e.observe(h, e.signal(s).unwrap(), v, ts).unwrap();
}

/// (ts, from, to, value) of the rule transitions of rule `id`.
fn moves(e: &Engine, id: &str) -> Vec<(i64, Level, Level, Option<f64>)> {
    let mut v: Vec<Transition> = Vec::new();
    e.drain(&mut v);
    v.into_iter()
        .filter(|t| t.rule_id.as_deref() == Some(id))
        .map(|t| (t.ts, t.from, t.to, t.value))
        .collect()
}

fn th(t: [Value; 4]) -> Value {
    json!({"low": t, "high": t})
}

#[test]
fn ewma_starts_at_the_first_input_then_weighs_by_alpha() {
    // α = 1/4 on gauge g; a max rule over 3 buckets makes g's ring 3 buckets long.
    let (e, h) = engine(json!([
        {"id": "e", "signal": "g", "aggregate": "ewma", "alpha": 0.25,
         "thresholds": th([json!(3), json!(4.5), json!(6), json!(100)])},
        rule(json!({"id": "m", "signal": "g", "window_ms": 3000,
                    "thresholds": th([json!(1000), Value::Null, Value::Null, Value::Null])}))
    ]));
    obs(&e, h, "g", 4.0, 0); // bucket 0 open: nothing consumed, undefined
    obs(&e, h, "g", 8.0, 1000); // closes bucket 0: x = 4, s = 4 → blue (3)
    obs(&e, h, "g", 0.0, 2000); // closes 1: x = 8, s = ¼·8 + ¾·4 = 5 → yellow (4.5)
    e.tick(3000); // closes 2: x = 0, s = ¾·5 = 3.75 → back to blue
    e.tick(4000); // closes 3: empty, a gauge skips it: s stays 3.75
    obs(&e, h, "g", 100.0, 3500); // late into closed bucket 3: accepted, not consumed
    e.tick(5000); // closes 4 (empty): still 3.75
    assert_eq!(
        moves(&e, "e"),
        vec![
            (1000, N, B, Some(4.0)),
            (2000, B, Y, Some(5.0)),
            (3000, Y, B, Some(3.75)),
        ]
    );
    assert_eq!(e.stats().rejected_stale, 0);
}

#[test]
fn ewma_with_alpha_one_is_the_last_closed_bucket() {
    let (e, h) = engine(json!([
        {"id": "e", "signal": "n", "aggregate": "ewma", "alpha": 1,
         "thresholds": th([json!(2), json!(4), json!(8), json!(16)])}
    ]));
    obs(&e, h, "n", 5.0, 0);
    obs(&e, h, "n", 3.0, 0); // bucket 0 sum 8
    obs(&e, h, "n", 1.0, 1000); // closes 0: s = 8 → orange
    e.tick(2000); // closes 1: s = 1 → none
    assert_eq!(
        moves(&e, "e"),
        vec![(1000, N, O, Some(8.0)), (2000, O, N, Some(1.0))]
    );
}

#[test]
fn a_jump_closes_a_million_empty_buckets_at_once_counters_feed_zeros_gauges_skip() {
    let alpha: f64 = 1e-6;
    let (e, h) = engine(json!([
        {"id": "counter", "signal": "n", "aggregate": "ewma", "alpha": alpha,
         "thresholds": th([json!(1), json!(2), json!(4), json!(7)])},
        {"id": "gauge", "signal": "g", "aggregate": "ewma", "alpha": alpha,
         "thresholds": th([json!(1), json!(2), json!(4), json!(7)])},
        {"id": "cusum", "signal": "n", "aggregate": "cusum", "target": 1, "slack": 0.5,
         "side": "down", "thresholds": th([json!(1e5), json!(2e5), json!(4e5), json!(6e5)])}
    ]));
    obs(&e, h, "n", 8.0, 0);
    obs(&e, h, "g", 8.0, 0);
    e.tick(1000); // closes bucket 0: both EWMAs at 8 (red, ≥ 7); CUSUM down: 1 − 0.5 − 8 < 0 → 0
    let first = moves(&e, "counter");
    assert_eq!(first, vec![(1000, N, R, Some(8.0))]);
    // A jump of 10⁶ buckets: buckets 1 ..= 10⁶ close, all empty.
    let t = 1000 + 1_000_000 * 1000;
    e.tick(t);
    let mut v: Vec<Transition> = Vec::new();
    e.drain(&mut v);
    let got = |id: &str| {
        v.iter()
            .filter(|x| x.rule_id.as_deref() == Some(id))
            .map(|x| (x.to, x.value))
            .collect::<Vec<_>>()
    };
    // counter: s = 8·(1 − α)^10⁶ ≈ 8/e = 2.943 → yellow.
    let s = 8.0 * (1.0 - alpha).powi(1_000_000);
    assert!((s - 8.0 / std::f64::consts::E).abs() < 1e-5);
    assert_eq!(got("counter"), vec![(Level::Yellow, Some(s))]);
    // gauge: every empty bucket skipped: still 8, red, no transition.
    assert!(got("gauge").is_empty());
    // CUSUM down on the counter: each empty bucket adds μ − k − 0 = 0.5: S = 500 000 → orange.
    assert_eq!(got("cusum"), vec![(Level::Orange, Some(500_000.0))]);
}

/// A jump of more than 2³¹ empty buckets (past what `powi` takes as an exponent): a
/// counter's EWMA still decays by (1 − α)^m, which is 0 in f64 for α = ½ and about
/// 8·e^(−α·m) ≈ 0.934 for α = 10⁻⁹ (not 0: α·m ≈ 2.1), and the exponent never wraps round
/// to a negative one.
#[test]
fn a_jump_of_more_than_two_to_the_31_buckets_decays_by_the_closed_form() {
    let m: i64 = (1 << 31) + 10;
    for alpha in [0.5f64, 1e-9] {
        let (e, h) = engine(json!([
            {"id": "e", "signal": "n", "aggregate": "ewma", "alpha": alpha,
             "thresholds": th([json!(1), json!(100), json!(200), json!(300)])}
        ]));
        obs(&e, h, "n", 8.0, 0);
        e.tick(1000); // closes bucket 0: s = 8 → blue
        assert_eq!(moves(&e, "e"), vec![(1000, N, B, Some(8.0))]);
        // Closes bucket 1 (empty: x = 0, s = (1 − α)·8), then m more empty buckets at once.
        let t = (m + 2) * 1000;
        e.tick(t);
        let s = (1.0 - alpha) * 8.0 * (1.0 - alpha).powf(m as f64);
        let got = moves(&e, "e");
        assert_eq!(got.len(), 1, "{alpha}: {got:?}");
        let (ts, from, to, v) = got[0];
        assert_eq!((ts, from, to), (t, B, N), "{alpha}");
        let v = v.unwrap();
        if alpha == 0.5 {
            assert_eq!(v, 0.0);
        } else {
            assert!((v - s).abs() <= 1e-12 * s, "{v} vs {s}");
            assert!(
                (v - 8.0 * (-alpha * (m + 1) as f64).exp()).abs() < 1e-6,
                "{v}"
            );
        }
    }
}

#[test]
fn rate_inputs_skip_buckets_without_denominator_and_min_samples_warms_up() {
    // EWMA of k/n per bucket, α = ½, defined after 2 inputs.
    let (e, h) = engine(json!([
        {"id": "r", "signal": "k", "per": "n", "aggregate": "ewma", "alpha": 0.5,
         "min_samples": 2, "thresholds": th([json!(0.1), json!(0.3), json!(0.5), json!(0.9)])}
    ]));
    obs(&e, h, "n", 10.0, 0);
    obs(&e, h, "k", 2.0, 0); // bucket 0: 0.2
    obs(&e, h, "k", 5.0, 1000); // closes 0: s = 0.2, 1 input: undefined
    e.tick(2000); // closes 1: k = 5, n = 0: skipped (still 1 input)
    obs(&e, h, "n", 4.0, 2000);
    obs(&e, h, "k", 3.0, 2000); // bucket 2: 0.75
    e.tick(3000); // closes 2: s = ½·0.75 + ½·0.2 = 0.475 (2 inputs) → yellow
    assert_eq!(moves(&e, "r"), vec![(3000, N, Y, Some(0.475))]);
}

/// Montgomery, *Introduction to Statistical Quality Control* (6th ed., 2009), Example 9.1
/// and Table 9.2: the tabular CUSUM of 30 observations with μ₀ = 10, σ = 1, K = 0.5
/// (k = ½σ), H = 5. The first 20 observations come from N(10, 1), the last 10 from
/// N(11, 1); the upper CUSUM C⁺ first exceeds H at period 29 (5.28).
const MONTGOMERY_X: [f64; 30] = [
    9.45, 7.99, 9.29, 11.66, 12.16, 10.18, 8.04, 11.46, 9.20, 10.34, 9.03, 11.47, 10.51, 9.40,
    10.08, 9.37, 10.62, 10.31, 8.52, 10.84, 10.90, 9.33, 12.29, 11.50, 10.60, 11.08, 10.38, 11.62,
    11.31, 10.52,
];
/// C⁺ᵢ of Table 9.2.
const MONTGOMERY_C_PLUS: [f64; 30] = [
    0.0, 0.0, 0.0, 1.16, 2.82, 2.50, 0.04, 1.00, 0.0, 0.0, 0.0, 0.97, 0.98, 0.0, 0.0, 0.0, 0.12,
    0.0, 0.0, 0.34, 0.74, 0.0, 1.79, 2.79, 2.89, 3.47, 3.35, 4.47, 5.28, 5.30,
];
/// C⁻ᵢ of Table 9.2 (written as positive numbers).
const MONTGOMERY_C_MINUS: [f64; 30] = [
    0.05, 1.56, 1.77, 0.0, 0.0, 0.0, 1.46, 0.0, 0.30, 0.0, 0.47, 0.0, 0.0, 0.10, 0.0, 0.13, 0.0,
    0.0, 0.98, 0.0, 0.0, 0.17, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
];

#[test]
fn cusum_reproduces_montgomery_example_9_1_up_and_down() {
    for (side, table) in [("up", MONTGOMERY_C_PLUS), ("down", MONTGOMERY_C_MINUS)] {
        // One observation per bucket: the bucket's mean is the observation. The thresholds
        // are steps (blue 0.01, yellow 1, orange 3, red 5 = H), so S moves the level often;
        // each transition reports S, which must equal the table's value to two decimals.
        let (e, h) = engine(json!([
            {"id": "c", "signal": "g", "aggregate": "cusum", "target": 10, "slack": 0.5,
             "side": side, "thresholds": th([json!(0.01), json!(1), json!(3), json!(5)])}
        ]));
        let mut values = Vec::new();
        for (i, x) in MONTGOMERY_X.iter().enumerate() {
            obs(&e, h, "g", *x, i as i64 * 1000);
            values.extend(
                moves(&e, "c")
                    .into_iter()
                    .map(|m| (m.0 / 1000, m.3.unwrap())),
            );
        }
        e.tick(30_000); // closes period 30
        values.extend(
            moves(&e, "c")
                .into_iter()
                .map(|m| (m.0 / 1000, m.3.unwrap())),
        );
        assert!(values.len() >= 4, "{side}: {values:?}");
        // A transition at bucket b was evaluated after period b closed (periods are the
        // buckets 0..29, so period b is bucket b − 1).
        for (b, v) in &values {
            let want = table[*b as usize - 1];
            assert!(
                (v - want).abs() < 0.005,
                "{side}: period {b}: S = {v}, table {want}"
            );
        }
        if side == "up" {
            // Red (≥ H = 5) first when period 29 closes, at the 30th observation.
            let red = values.iter().find(|(_, v)| *v >= 5.0).unwrap();
            assert_eq!(red.0, 29);
        }
    }
}

#[test]
fn psi_matches_values_computed_independently() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/psi/cases.json");
    let cases: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(cases.len() >= 5);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        // Thresholds below every value: the first evaluation with enough samples moves the
        // level and reports the PSI.
        let (e, h) = engine(json!([
            {"id": "p", "signal": "g", "aggregate": "psi", "window_ms": 1000,
             "bins": c["bins"], "reference": c["reference"],
             "min_samples": c["samples"].as_array().unwrap().len(),
             "thresholds": th([json!(0.0), Value::Null, Value::Null, Value::Null])}
        ]));
        for s in c["samples"].as_array().unwrap() {
            obs(&e, h, "g", s.as_f64().unwrap(), 500);
        }
        let m = moves(&e, "p");
        assert_eq!(m.len(), 1, "{name}");
        let got = m[0].3.unwrap();
        let want = c["psi"].as_f64().unwrap();
        assert!(
            (got - want).abs() <= 1e-12 * want.abs().max(1.0),
            "{name}: {got} vs {want}"
        );
    }
}

#[test]
fn psi_windows_forget_old_buckets_and_need_min_samples() {
    // Two bins split at 0, reference ½ ½, window 2 buckets; defined from 4 samples.
    let (e, h) = engine(json!([
        {"id": "p", "signal": "g", "aggregate": "psi", "window_ms": 2000, "bins": [0],
         "reference": [0.5, 0.5], "min_samples": 4,
         "thresholds": th([json!(0.1), json!(0.5), json!(1), json!(2)])}
    ]));
    for ts in [0, 10, 20] {
        obs(&e, h, "g", -1.0, ts); // 3 samples: undefined
    }
    assert!(moves(&e, "p").is_empty());
    // 4 samples, all in bin 1: a = (4.5/5, 0.5/5) = (0.9, 0.1), PSI = 0.4·ln 1.8 + 0.4·ln 5
    // = 0.8789 → yellow (0.5 ≤ PSI < 1).
    obs(&e, h, "g", -1.0, 1000);
    let a = [4.5 / 5.0, 0.5 / 5.0];
    let psi: f64 = a.iter().map(|x| (x - 0.5) * (x / 0.5_f64).ln()).sum();
    assert!((psi - 0.8789).abs() < 1e-4);
    assert_eq!(moves(&e, "p"), vec![(1000, N, Y, Some(psi))]);
    // Two buckets later the first three samples left the window: 1 sample → undefined, the
    // level holds; a sample at 3000 leaves 2 → still undefined.
    obs(&e, h, "g", 1.0, 2500);
    assert!(moves(&e, "p").is_empty());
}

#[test]
fn detector_validation_names_paths() {
    let issues = |r: Value| -> Vec<String> {
        Policy::from_value(policy_doc(json!([r])))
            .unwrap_err()
            .issues()
            .iter()
            .map(|i| i.to_string())
            .collect()
    };
    let t = th([json!(1), json!(2), json!(3), json!(4)]);
    let i =
        issues(json!({"id": "x", "signal": "g", "aggregate": "ewma", "alpha": 0, "thresholds": t}));
    assert!(
        i.iter()
            .any(|x| x.starts_with("rules[0].alpha: alpha must be in (0, 1]")),
        "{i:?}"
    );
    let i = issues(
        json!({"id": "x", "signal": "g", "aggregate": "ewma", "alpha": 0.5,
        "window_ms": 1000, "on_empty": "clear", "slack": 1, "thresholds": t}),
    );
    assert!(
        i.iter()
            .any(|x| x.starts_with("rules[0].window_ms: aggregate \"ewma\" takes no window_ms")),
        "{i:?}"
    );
    assert!(
        i.iter().any(|x| x.starts_with("rules[0].on_empty:")),
        "{i:?}"
    );
    assert!(
        i.iter()
            .any(|x| x
                .starts_with("rules[0].slack: \"slack\" is only allowed with aggregate \"cusum\"")),
        "{i:?}"
    );
    let i = issues(
        json!({"id": "x", "signal": "g", "aggregate": "cusum", "target": 1,
        "slack": -1, "side": "sideways", "direction": "below",
        "thresholds": {"low": [4, 3, 2, 1], "high": [4, 3, 2, 1]}}),
    );
    assert!(
        i.iter()
            .any(|x| x.starts_with("rules[0].slack: slack must be ≥ 0")),
        "{i:?}"
    );
    assert!(
        i.iter()
            .any(|x| x.starts_with("rules[0].side: unknown side \"sideways\"")),
        "{i:?}"
    );
    assert!(
        i.iter()
            .any(|x| x.starts_with("rules[0].direction: a cusum rule")),
        "{i:?}"
    );
    let i = issues(
        json!({"id": "x", "signal": "n", "aggregate": "psi", "window_ms": 1000,
        "bins": [1, 1], "reference": [0.5, 0.6], "thresholds": t}),
    );
    assert!(
        i.iter()
            .any(|x| x.starts_with("rules[0].signal: psi needs a gauge")),
        "{i:?}"
    );
    assert!(
        i.iter()
            .any(|x| x.starts_with("rules[0].bins[1]: bin edges must be strictly increasing")),
        "{i:?}"
    );
    assert!(
        i.iter()
            .any(|x| x.starts_with("rules[0].reference: 2 edges make 3 bins")),
        "{i:?}"
    );
    let i = issues(
        json!({"id": "x", "signal": "g", "aggregate": "psi", "window_ms": 1000,
        "bins": [], "reference": [1], "thresholds": t}),
    );
    assert!(
        i.iter()
            .any(|x| x.starts_with("rules[0].bins: psi takes 2 to 32 bins")),
        "{i:?}"
    );
    let i = issues(
        json!({"id": "x", "signal": "g", "aggregate": "psi", "window_ms": 1000,
        "bins": [0], "reference": [0.5, -0.5], "thresholds": t}),
    );
    assert!(
        i.iter()
            .any(|x| x.starts_with("rules[0].reference[1]: proportions must be ≥ 0")),
        "{i:?}"
    );
    assert!(
        i.iter()
            .any(|x| x.starts_with("rules[0].reference: the reference proportions must sum to 1")),
        "{i:?}"
    );
}
