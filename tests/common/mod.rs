//! Shared helpers for the integration tests: a small policy built around the rules under
//! test, profiles of a low and a high grade, and transition shorthands.
#![allow(dead_code)]

use airisk::{Engine, EngineOptions, Level, Policy, Profile, SystemHandle, Transition};
use serde_json::{Value, json};

/// A policy with bucket_ms 1000, grades low (<5) and high (≥5), categories c1..c4,
/// signals n (counter), k (counter), g (gauge), hb (counter), and the given rules.
pub fn policy_doc(rules: Value) -> Value {
    json!({
        "schema": 1,
        "categories": [{"id": "c1", "basis": "B1"}, {"id": "c2"}, {"id": "c3"}, {"id": "c4"}],
        "grades": [{"id": "low"}, {"id": "high", "min_score": 5}],
        "classification": {
            "sectors": {"s0": 0, "s9": 9},
            "data": {"public": 0},
            "autonomy": {"hitl": 0}
        },
        "bucket_ms": 1000,
        "signals": [
            {"id": "n", "kind": "counter"},
            {"id": "k", "kind": "counter", "category": "c1"},
            {"id": "g", "kind": "gauge", "category": "c2"},
            {"id": "hb", "kind": "counter", "category": "c3"}
        ],
        "rules": rules,
        "responses": {
            "levels": {
                "blue": {"actions": ["log"], "report_within_s": null},
                "yellow": {"actions": ["log", "notify_operator"], "report_within_s": 14400},
                "orange": {"actions": ["notify_operator", "human_review", "throttle"], "report_within_s": 7200},
                "red": {"actions": ["notify_operator", "suspend", "report_regulator"], "report_within_s": 3600}
            },
            "overrides": [{"category": "c2", "level": "orange", "actions": ["suspend", "report_regulator"], "report_within_s": 600}]
        }
    })
}

pub fn policy(rules: Value) -> Policy {
    Policy::from_value(policy_doc(rules)).expect("test policy is valid")
}

/// One rule with the given overrides on top of: signal g, max over 1 bucket, thresholds
/// low [1,2,3,4] high [1,2,3,4].
pub fn rule(over: Value) -> Value {
    let mut r = json!({
        "id": "r", "category": "c1", "basis": "Art. T", "signal": "g", "aggregate": "max",
        "window_ms": 1000,
        "thresholds": {"low": [1, 2, 3, 4], "high": [1, 2, 3, 4]}
    });
    for (k, v) in over.as_object().unwrap() {
        if v.is_null() {
            r.as_object_mut().unwrap().remove(k);
        } else {
            r[k] = v.clone();
        }
    }
    r
}

pub fn profile(id: &str, high: bool) -> Profile {
    Profile::from_json(
        &json!({"id": id, "sector": if high {"s9"} else {"s0"}, "data": "public",
                "autonomy": "hitl", "users": 1})
        .to_string(),
    )
    .unwrap()
}

pub struct T {
    pub engine: Engine,
    pub sys: SystemHandle,
}

impl T {
    pub fn new(rules: Value) -> T {
        T::with(policy(rules), EngineOptions::default())
    }
    pub fn with(p: Policy, o: EngineOptions) -> T {
        let engine = Engine::with_options(p, o);
        let sys = engine.register(profile("sys", false)).unwrap();
        T { engine, sys }
    }
    pub fn obs(&self, signal: &str, v: f64, ts: i64) -> Level {
        let s = self.engine.signal(signal).unwrap();
        self.engine.observe(self.sys, s, v, ts).unwrap()
    }
    pub fn drain(&self) -> Vec<Transition> {
        let mut v = Vec::new();
        self.engine.drain(&mut v);
        v
    }
    /// Rule-scope transitions as (ts, from, to, value).
    pub fn rule_moves(&self) -> Vec<(i64, Level, Level, Option<f64>)> {
        self.drain()
            .into_iter()
            .filter(|t| t.rule.is_some())
            .map(|t| (t.ts, t.from, t.to, t.value))
            .collect()
    }
}

#[allow(unused_imports)]
pub use airisk::Level::{Blue as B, None as N, Orange as O, Red as R, Yellow as Y};

/// The policy the property tests run: every aggregate kind (detectors included), timers,
/// hysteresis, Wilson, `on_empty: "clear"`, `direction: "below"`, silence and escalation.
pub fn law_policy() -> Policy {
    let mut doc = policy_doc(json!([
        rule(json!({"id": "max-g", "category": "c2", "window_ms": 3000, "for_ms": 1500,
            "clear_for_ms": 2000, "hysteresis": 0.2})),
        rule(json!({"id": "rate-k", "category": "c1", "aggregate": "rate", "signal": "k",
            "per": "n", "window_ms": 5000, "min_samples": 3, "wilson_z": 1.0,
            "thresholds": {"low": [0.2, 0.4, 0.6, 0.8], "high": [0.1, 0.2, 0.3, 0.4]}})),
        rule(json!({"id": "sum-n", "category": "c3", "aggregate": "sum", "signal": "n",
            "window_ms": 2000, "on_empty": "clear",
            "thresholds": {"low": [5, 10, null, null], "high": [3, 6, 9, 12]}})),
        rule(json!({"id": "min-g", "category": "c4", "aggregate": "min", "direction": "below",
            "window_ms": 1000, "thresholds": {"low": [1, 0.5, 0, -1], "high": [2, 1, 0, -1]}})),
        {"id": "quiet", "category": "c3", "signal": "hb", "aggregate": "silence_ms",
         "thresholds": {"low": [3000, 6000, null, null], "high": [2000, 4000, 6000, 8000]}},
        {"id": "ewma-g", "category": "c2", "signal": "g", "aggregate": "ewma", "alpha": 0.5,
         "min_samples": 2, "for_ms": 1000, "hysteresis": 0.1,
         "thresholds": {"low": [1, 2, 3, 4], "high": [0.5, 1.5, 2.5, 3.5]}},
        {"id": "cusum-k", "category": "c1", "signal": "k", "per": "n", "aggregate": "cusum",
         "target": 0.5, "slack": 0.125, "side": "up",
         "thresholds": {"low": [0.5, 1, 2, 4], "high": [0.25, 0.5, 1, 2]}},
        {"id": "cusum-n", "category": "c3", "signal": "n", "aggregate": "cusum",
         "target": 1, "slack": 0, "side": "down", "clear_for_ms": 1000,
         "thresholds": {"low": [2, 4, 8, 16], "high": [1, 2, 4, 8]}},
        {"id": "psi-g", "category": "c4", "signal": "g", "aggregate": "psi", "window_ms": 3000,
         "bins": [0, 2, 4], "reference": [0.25, 0.25, 0.25, 0.25], "min_samples": 2,
         "thresholds": {"low": [0.25, 0.5, 1, 2], "high": [0.125, 0.25, 0.5, 1]}}
    ]));
    doc["escalation"] = json!({"min_categories": 2, "at_least": "yellow"});
    Policy::from_value(doc).unwrap()
}
