//! Batched observations (`Engine::observe_many`): the batch law as properties (any order of
//! the values gives the same output; a batch equals the same observations one by one when
//! no rule reads two of its signals), and every rejection applies nothing.

mod common;
use airisk::{Engine, Error, Level, SignalId, Transition};
use common::*;
use proptest::prelude::*;
use serde_json::json;

fn drain(e: &Engine) -> Vec<Transition> {
    let mut v = Vec::new();
    e.drain(&mut v);
    v
}

fn sig(e: &Engine, s: &str) -> SignalId {
    e.signal(s).unwrap()
}

#[test]
fn a_batch_keeps_a_rate_from_dipping_between_its_lines() {
    // rate k/n over 1 bucket, blue at 0.5. Each period: 10 interactions, 6 flagged.
    let p = policy(json!([rule(
        json!({"id": "r", "aggregate": "rate", "signal": "k",
        "per": "n", "window_ms": 1000,
        "thresholds": {"low": [0.5, null, null, null], "high": [0.5, null, null, null]}})
    )]));
    // One by one, interactions first: the rate is 0 after the first line, then 0.6.
    let e = Engine::new(p.clone());
    let h = e.register(profile("s", false)).unwrap();
    e.observe(h, sig(&e, "k"), 6.0, 0).unwrap();
    e.observe(h, sig(&e, "n"), 10.0, 0).unwrap();
    e.observe(h, sig(&e, "n"), 10.0, 1000).unwrap(); // 0/10 = 0: falls to none
    e.observe(h, sig(&e, "k"), 6.0, 1000).unwrap(); // 0.6: blue again
    assert_eq!(drain(&e).iter().filter(|t| t.rule.is_some()).count(), 3);
    // As batches: blue once, held.
    let e = Engine::new(p);
    let h = e.register(profile("s", false)).unwrap();
    let (n, k) = (sig(&e, "n"), sig(&e, "k"));
    e.observe_many(h, &[(n, 10.0), (k, 6.0)], 0).unwrap();
    e.observe_many(h, &[(n, 10.0), (k, 6.0)], 1000).unwrap();
    let t: Vec<(i64, Level)> = drain(&e)
        .iter()
        .filter(|t| t.rule.is_some())
        .map(|t| (t.ts, t.to))
        .collect();
    assert_eq!(t, vec![(0, Level::Blue)]);
    assert_eq!(e.stats().observed, 4);
}

#[test]
fn any_bad_entry_rejects_the_whole_batch_and_applies_nothing() {
    let e = Engine::new(law_policy());
    let h = e.register(profile("s", false)).unwrap();
    let (n, k, g) = (sig(&e, "n"), sig(&e, "k"), sig(&e, "g"));
    e.observe_many(h, &[(n, 1.0)], 10_000).unwrap();
    let before = e.snapshot_system(h).unwrap();
    let stats = e.stats();
    // A negative counter.
    assert!(matches!(
        e.observe_many(h, &[(g, 1.0), (k, -1.0)], 10_000),
        Err(Error::Value { .. })
    ));
    // A non-finite value.
    assert!(matches!(
        e.observe_many(h, &[(g, f64::NAN)], 10_000),
        Err(Error::Value { .. })
    ));
    // A repeated signal.
    let err = e
        .observe_many(h, &[(g, 1.0), (g, 2.0)], 10_000)
        .unwrap_err();
    assert!(matches!(err, Error::Value { reason, .. } if reason.contains("more than once")));
    // An unknown signal.
    assert!(matches!(
        e.observe_many(h, &[(g, 1.0), (SignalId(99), 1.0)], 10_000),
        Err(Error::UnknownSignal(_))
    ));
    // Stale only when staleness is the only problem: g's ring is 3 buckets; bucket 6 is
    // stale at watermark bucket 10 for every signal here.
    assert!(matches!(
        e.observe_many(h, &[(g, 1.0), (n, 1.0)], 6_000),
        Err(Error::Stale { .. })
    ));
    assert!(matches!(
        e.observe_many(h, &[(g, 1.0), (n, -1.0)], 6_000),
        Err(Error::Value { .. })
    ));
    assert_eq!(e.snapshot_system(h).unwrap(), before, "nothing was applied");
    assert!(drain(&e).is_empty());
    let s = e.stats();
    assert_eq!(s.observed, stats.observed);
    assert!(s.rejected_invalid > stats.rejected_invalid);
    assert!(s.rejected_stale > stats.rejected_stale);
    // An empty batch is a no-op.
    e.observe_many(h, &[], 99_000).unwrap();
    assert_eq!(e.watermark(h).unwrap(), Some(10_000));
}

#[derive(Debug, Clone)]
struct Batch {
    sys: usize,
    dt: i64,
    values: Vec<(usize, f64)>,
}

const SIGNALS: [&str; 4] = ["n", "k", "g", "hb"];

fn batch() -> impl Strategy<Value = Batch> {
    (
        0..3usize,
        -2500..1500i64,
        proptest::sample::subsequence(vec![0usize, 1, 2, 3], 1..=4),
        proptest::collection::vec(0.0..6.0f64, 4),
    )
        .prop_map(|(sys, dt, sigs, vals)| Batch {
            sys,
            dt,
            values: sigs
                .iter()
                .map(|&s| (s, (vals[s] * 4.0).round() / 4.0))
                .collect(),
        })
}

/// How a batch's values are grouped into `observe_many` calls.
type Grouping<'a> = &'a dyn Fn(&[(usize, f64)]) -> Vec<Vec<(usize, f64)>>;

/// Runs the batches, each split into calls by `mode` (one call in some order, or one call
/// per value); returns every transition and the final rule levels.
fn run(batches: &[Batch], mode: Grouping<'_>) -> (Vec<Transition>, Vec<Vec<Level>>) {
    run_on(law_policy(), batches, mode)
}

/// The law policy with 60 more rules after its own (thresholds out of reach): more than
/// 64 rules, so a batch gathers the rules it touches in several words.
fn padded_law_policy() -> airisk::Policy {
    let mut d = law_policy().source().clone();
    let rules = d["rules"].as_array_mut().unwrap();
    for i in 0..60 {
        rules.push(rule(json!({"id": format!("pad-{i}"), "category": "c4",
            "signal": SIGNALS[i % 4], "aggregate": "sum",
            "thresholds": {"low": [1e12, null, null, null], "high": [1e12, null, null, null]}})));
    }
    airisk::Policy::from_value(d).unwrap()
}

fn run_on(
    policy: airisk::Policy,
    batches: &[Batch],
    mode: Grouping<'_>,
) -> (Vec<Transition>, Vec<Vec<Level>>) {
    let e = Engine::new(policy);
    let hs: Vec<_> = (0..3)
        .map(|i| e.register(profile(&format!("s{i}"), i == 1)).unwrap())
        .collect();
    let sig: Vec<SignalId> = SIGNALS.iter().map(|s| e.signal(s).unwrap()).collect();
    let mut clock = 0i64;
    for b in batches {
        let ts = clock + b.dt;
        clock = clock.max(ts);
        for group in mode(&b.values) {
            let v: Vec<(SignalId, f64)> = group.iter().map(|&(s, x)| (sig[s], x)).collect();
            let _ = e.observe_many(hs[b.sys], &v, ts);
        }
    }
    e.tick(clock + 10_000);
    let levels = hs.iter().map(|&h| e.rule_levels(h).unwrap()).collect();
    let mut t = Vec::new();
    e.drain(&mut t);
    (t, levels)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn more_than_64_rules_evaluate_the_same_rules(batches in proptest::collection::vec(batch(), 1..60)) {
        let (t, l) = run(&batches, &|v| vec![v.to_vec()]);
        let (tp, lp) = run_on(padded_law_policy(), &batches, &|v| vec![v.to_vec()]);
        let n = l[0].len();
        prop_assert!(lp.iter().all(|x| x[n..].iter().all(|l| *l == Level::None)));
        prop_assert_eq!(l, lp.iter().map(|x| x[..n].to_vec()).collect::<Vec<_>>());
        prop_assert_eq!(t, tp);
    }

    #[test]
    fn the_order_of_a_batch_never_changes_the_output(batches in proptest::collection::vec(batch(), 1..60), seed in any::<u64>()) {
        let as_is = run(&batches, &|v| vec![v.to_vec()]);
        let shuffled = run(&batches, &|v| {
            let mut w = v.to_vec();
            // A permutation that depends on the seed and the batch.
            let k = (seed as usize).wrapping_add(w.len()) % w.len().max(1);
            w.rotate_left(k);
            if seed % 2 == 1 {
                w.reverse();
            }
            vec![w]
        });
        prop_assert_eq!(as_is, shuffled);
    }

    #[test]
    fn a_batch_equals_its_observations_one_by_one_when_no_rule_reads_two_of_them(batches in proptest::collection::vec(batch(), 1..60)) {
        // In the law policy only rate-k (k per n) and cusum-k (k per n) read two signals:
        // batches holding both n and k lose k. Times only move forward here: a batch with
        // one stale entry is rejected whole, while one by one the others would be taken.
        let safe: Vec<Batch> = batches
            .into_iter()
            .map(|mut b| {
                b.dt = b.dt.abs();
                if b.values.iter().any(|v| v.0 == 0) && b.values.iter().any(|v| v.0 == 1) {
                    b.values.retain(|v| v.0 != 1);
                }
                b
            })
            .collect();
        let batched = run(&safe, &|v| vec![v.to_vec()]);
        let single = run(&safe, &|v| v.iter().map(|x| vec![*x]).collect());
        // The same rule transitions and levels. What may differ: the order of transitions at
        // one time (a batch evaluates in declaration order, single observations rule by
        // rule as each signal arrives), hence `seq`, and the grouping of system lines (one
        // evaluation instead of several). So rule transitions are compared per (time,
        // system, rule).
        let rules = |t: &[Transition]| -> Vec<(i64, String, Option<u32>, Level, Level)> {
            let mut v: Vec<_> = t
                .iter()
                .filter(|x| x.rule.is_some())
                .map(|x| (x.ts, x.system_id.to_string(), x.rule, x.from, x.to))
                .collect();
            v.sort_by(|a, b| (a.0, &a.1, a.2).cmp(&(b.0, &b.1, b.2)));
            v
        };
        prop_assert_eq!(rules(&batched.0), rules(&single.0));
        prop_assert_eq!(batched.1, single.1);
    }
}

/// A batch of more than 8 values (the engine gathers up to 8 on the stack, more on the
/// heap) is one evaluation like any other: with 12 signals each read by its own rule, the
/// batch gives the transitions of its values observed one by one, and a repeated or stale
/// entry among 9 still rejects the whole batch.
#[test]
fn batches_of_more_than_8_values_evaluate_like_small_ones() {
    let names: Vec<String> = (0..12).map(|i| format!("s{i}")).collect();
    let mut doc = policy_doc(json!(
        names
            .iter()
            .map(|s| rule(
                json!({"id": format!("sum-{s}"), "signal": s, "aggregate": "sum",
                "thresholds": {"low": [2, 4, 6, 8], "high": [2, 4, 6, 8]}})
            ))
            .collect::<Vec<_>>()
    ));
    doc["signals"] = names
        .iter()
        .map(|s| json!({"id": s, "kind": "counter", "category": "c1"}))
        .collect();
    let p = airisk::Policy::from_value(doc).unwrap();
    let run = |batched: bool| {
        let e = Engine::new(p.clone());
        let h = e.register(profile("x", false)).unwrap();
        let sigs: Vec<SignalId> = names.iter().map(|s| sig(&e, s)).collect();
        for (t, scale) in [(0i64, 1.0), (1000, 2.0), (2000, 0.5)] {
            let values: Vec<(SignalId, f64)> = sigs
                .iter()
                .enumerate()
                .map(|(i, &s)| (s, scale * i as f64))
                .collect();
            if batched {
                e.observe_many(h, &values, t).unwrap();
            } else {
                for &(s, v) in &values {
                    e.observe(h, s, v, t).unwrap();
                }
            }
        }
        (e, h, sigs)
    };
    let (batched, h, sigs) = run(true);
    let (single, ..) = run(false);
    let (b, s) = (drain(&batched), drain(&single));
    let rules = |t: &[Transition]| -> Vec<_> {
        t.iter()
            .filter(|x| x.rule.is_some())
            .map(|x| (x.rule_id.clone(), x.ts, x.from, x.to, x.value))
            .collect()
    };
    assert!(rules(&b).len() > 12, "{}", rules(&b).len());
    assert_eq!(rules(&b), rules(&s));
    assert_eq!(
        batched.rule_levels(h).unwrap(),
        single.rule_levels(h).unwrap()
    );
    // 9 values, one signal twice: nothing applied.
    let mut nine: Vec<(SignalId, f64)> = sigs[..8].iter().map(|&s| (s, 100.0)).collect();
    nine.push((sigs[0], 1.0));
    let before = batched.stats().observed;
    assert!(matches!(
        batched.observe_many(h, &nine, 3000),
        Err(Error::Value { .. })
    ));
    assert_eq!(batched.stats().observed, before);
    assert!(drain(&batched).is_empty());
}
