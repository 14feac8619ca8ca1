//! Hostile input: malformed and adversarial policies, profiles and observations each get an
//! error; nothing panics, nothing allocates without bound, nothing already recorded changes.

mod common;
use airisk::{Engine, Error, Policy, Profile, SystemHandle};
use common::*;
use serde_json::{Value, json};

fn policy_err(text: &str) -> Error {
    Policy::from_json(text).expect_err("must be rejected")
}

#[test]
fn deeply_nested_json_is_an_error_not_a_stack_overflow() {
    for depth in [200, 10_000, 200_000] {
        let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(matches!(policy_err(&text), Error::Json(_)));
        let text = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        assert!(matches!(policy_err(&text), Error::Json(_)));
        assert!(Profile::from_json(&text).is_err());
    }
    // Nested inside a valid-looking policy field.
    let mut doc = policy_doc(json!([rule(json!({}))]));
    doc["name"] = json!("x");
    let text = doc.to_string().replacen(
        "\"name\":\"x\"",
        &format!("\"name\":{}1{}", "[".repeat(5000), "]".repeat(5000)),
        1,
    );
    assert!(matches!(policy_err(&text), Error::Json(_)));
}

#[test]
fn oversized_documents_are_refused_before_parsing() {
    let big = format!("{{\"schema\": 1, \"name\": \"{}\"}}", "x".repeat(10 << 20));
    assert!(matches!(policy_err(&big), Error::Limit(_)));
    assert!(matches!(Profile::from_json(&big), Err(Error::Limit(_))));
    // A 3 MB id inside the size limit is rejected by the id rule, with its path.
    let mut doc = policy_doc(json!([rule(json!({}))]));
    doc["categories"][0]["id"] = Value::String("c".repeat(3 << 20));
    match Policy::from_value(doc) {
        Err(Error::Policy(v)) => assert!(v.iter().any(|i| i.path == "categories[0].id")),
        r => panic!("{r:?}"),
    }
}

#[test]
fn huge_and_non_finite_numbers() {
    let mut doc = policy_doc(json!([rule(json!({}))])).to_string();
    doc = doc.replacen("\"bucket_ms\":1000", "\"bucket_ms\":1e400", 1);
    assert!(matches!(policy_err(&doc), Error::Json(_)));
    for bad in [json!("NaN"), json!("Infinity"), json!(null)] {
        let d = policy_doc(json!([rule(
            json!({"thresholds": {"low": [bad.clone(), 1, 2, 3], "high": [1, 2, 3, 4]}})
        )]));
        let r = Policy::from_value(d);
        if bad.is_null() {
            assert!(r.is_ok(), "null means the level is unused");
        } else {
            assert!(matches!(r, Err(Error::Policy(_))), "{bad}");
        }
    }
    // Extreme but representable numbers are accepted and behave.
    let d = policy_doc(json!([rule(
        json!({"thresholds": {"low": [1e300, 1e301, null, null], "high": [-1e300, 0, 1e300, 1.7e308]},
        "for_ms": i64::MAX, "clear_for_ms": i64::MAX})
    )]));
    let t = T::with(Policy::from_value(d).unwrap(), Default::default());
    let g = t.engine.signal("g").unwrap();
    t.engine.observe(t.sys, g, 1e308, i64::MAX - 1).unwrap();
    t.engine.observe(t.sys, g, -1e308, i64::MAX).unwrap();
    t.engine.tick(i64::MAX);
    let mut d = policy_doc(json!([rule(json!({}))]));
    d["grades"][1]["min_score"] = json!(i64::MAX);
    d["classification"]["sectors"]["s9"] = json!(1_000_001);
    assert!(matches!(Policy::from_value(d), Err(Error::Policy(_))));
    let mut d = policy_doc(json!([rule(json!({}))]));
    d["bucket_ms"] = json!(u64::MAX);
    assert!(matches!(Policy::from_value(d), Err(Error::Policy(_))));
}

#[test]
fn extreme_timestamps_never_panic_or_hang() {
    let rules = json!([
        rule(json!({"id": "a", "aggregate": "sum", "signal": "n", "window_ms": 5000})),
        rule(json!({"id": "b", "aggregate": "rate", "signal": "k", "per": "n", "window_ms": 3000})),
        {"id": "q", "signal": "hb", "aggregate": "silence_ms", "thresholds": {"low": [1, 2, 3, 4], "high": [1, 2, 3, 4]}}
    ]);
    let mut doc = policy_doc(rules);
    doc["bucket_ms"] = json!(1);
    doc["rules"][0]["window_ms"] = json!(5);
    doc["rules"][1]["window_ms"] = json!(3);
    let t = T::with(Policy::from_value(doc).unwrap(), Default::default());
    let n = t.engine.signal("n").unwrap();
    let k = t.engine.signal("k").unwrap();
    for ts in [
        i64::MIN + 1,
        i64::MIN + 2,
        -1,
        0,
        i64::MAX - 3,
        i64::MAX - 1,
        i64::MAX,
    ] {
        let _ = t.engine.observe(t.sys, n, 1.0, ts);
        let _ = t.engine.observe(t.sys, k, 1.0, ts);
        t.engine.tick(ts);
    }
    assert!(matches!(
        t.engine.observe(t.sys, n, 1.0, i64::MIN),
        Err(Error::Value { .. })
    ));
    t.engine.tick(i64::MIN);
    let _ = t.engine.snapshot();
}

#[test]
fn thousands_of_rules_are_capped() {
    let many: Vec<Value> = (0..2000)
        .map(|i| rule(json!({"id": format!("r{i}")})))
        .collect();
    match Policy::from_value(policy_doc(Value::Array(many))) {
        Err(Error::Policy(v)) => assert!(v[0].reason.contains("at most 1024"), "{v:?}"),
        r => panic!("{r:?}"),
    }
    // 1024 rules are fine and an engine runs them.
    let ok: Vec<Value> = (0..1024)
        .map(|i| rule(json!({"id": format!("r{i}")})))
        .collect();
    let t = T::with(
        Policy::from_value(policy_doc(Value::Array(ok))).unwrap(),
        Default::default(),
    );
    t.obs("g", 5.0, 0);
    assert_eq!(t.engine.stats().transitions, 1025);
}

#[test]
fn window_memory_is_capped() {
    let d = policy_doc(json!([rule(json!({"window_ms": 1000i64 * 2_000_000}))]));
    match Policy::from_value(d) {
        Err(Error::Policy(v)) => assert!(v.iter().any(|i| i.path == "rules[0].window_ms"), "{v:?}"),
        r => panic!("{r:?}"),
    }
}

#[test]
fn duplicate_keys_anywhere() {
    for text in [
        r#"{"schema": 1, "schema": 1}"#,
        r#"{"schema": 1, "categories": [{"id": "a", "id": "b"}]}"#,
    ] {
        assert!(matches!(policy_err(text), Error::Json(m) if m.contains("duplicate key")));
        // Through serde too (a policy embedded in a caller's own configuration).
        let e = serde_json::from_str::<Policy>(text).unwrap_err();
        assert!(e.to_string().starts_with("duplicate key"), "{e}");
    }
    assert!(
        Profile::from_json(
            r#"{"id":"a","sector":"s","data":"d","autonomy":"a","users":1,"users":2}"#
        )
        .is_err()
    );
}

#[test]
fn malformed_profiles() {
    let cases = [
        "",
        "null",
        "[]",
        "{}",
        r#"{"id": 1}"#,
        r#"{"id": "a", "sector": "s0", "data": "public", "autonomy": "hitl", "users": 1.5}"#,
        r#"{"id": "a", "sector": "s0", "data": "public", "autonomy": "hitl", "users": 1e30}"#,
        r#"{"id": "a", "sector": "s0", "data": "public", "autonomy": "hitl", "users": 1, "capabilities": "x"}"#,
        r#"{"id": "a", "sector": "s0", "data": "public", "autonomy": "hitl", "users": 1, "capabilities": [1]}"#,
        "{\"id\": \"a\", \"sector\": \"s0\" \"data\": 1}",
    ];
    for c in cases {
        assert!(Profile::from_json(c).is_err(), "{c}");
    }
    let long_list: Vec<String> = (0..300).map(|i| format!("c{i}")).collect();
    let p = json!({"id": "a", "sector": "s0", "data": "public", "autonomy": "hitl", "users": 1, "capabilities": long_list});
    assert!(
        matches!(Profile::from_json(&p.to_string()), Err(Error::Profile(i)) if i.path == "capabilities")
    );
}

#[test]
fn rejected_calls_change_nothing() {
    let t = T::new(json!([rule(
        json!({"aggregate": "sum", "signal": "n", "window_ms": 3000})
    )]));
    t.obs("n", 3.0, 5000);
    let before = (t.engine.snapshot(), t.engine.stats());
    let n = t.engine.signal("n").unwrap();
    let bad: Vec<(SystemHandle, f64, i64)> = vec![
        (t.sys, f64::NAN, 6000),
        (t.sys, -1.0, 6000),
        (t.sys, f64::INFINITY, 6000),
        (t.sys, 1.0, 1000),
        (t.sys, 1.0, i64::MIN),
        (SystemHandle(7), 1.0, 6000),
        (SystemHandle(u32::MAX), 1.0, 6000),
    ];
    for (h, v, ts) in bad {
        assert!(t.engine.observe(h, n, v, ts).is_err());
    }
    assert!(t.engine.register(profile("sys", true)).is_err());
    let bad_profile = Profile {
        sector: "mars".into(),
        ..profile("new", false)
    };
    assert!(t.engine.register(bad_profile).is_err());
    assert!(
        t.engine
            .update_profile(t.sys, profile("other", false))
            .is_err()
    );
    assert!(t.engine.deregister(SystemHandle(99)).is_err());
    assert!(Engine::restore(t.engine.policy().clone(), b"garbage").is_err());
    let after_stats = t.engine.stats();
    // Only the rejection counters moved.
    assert_eq!(after_stats.observed, before.1.observed);
    assert_eq!(after_stats.transitions, before.1.transitions);
    assert_eq!(after_stats.systems, before.1.systems);
    assert_eq!(after_stats.rejected_invalid, before.1.rejected_invalid + 6);
    assert_eq!(after_stats.rejected_stale, before.1.rejected_stale + 1);
    // The state itself (windows, timers, levels, registry) is byte-identical except for
    // the counters: restore both and compare the next evaluation.
    let a = Engine::restore(t.engine.policy().clone(), &before.0).unwrap();
    let b = Engine::restore(t.engine.policy().clone(), &t.engine.snapshot()).unwrap();
    for e in [&a, &b] {
        e.observe(t.sys, n, 1.0, 6000).unwrap();
    }
    assert_eq!(a.rule_levels(t.sys).unwrap(), b.rule_levels(t.sys).unwrap());
    assert_eq!(a.system("new"), None);
    assert_eq!(b.system("new"), None);
}

#[test]
fn non_utf8_and_control_characters_in_ids() {
    let p =
        json!({"id": "a\u{0}b", "sector": "s0", "data": "public", "autonomy": "hitl", "users": 1});
    assert!(matches!(Profile::from_json(&p.to_string()), Err(Error::Profile(i)) if i.path == "id"));
    let p = json!({"id": "\u{202e}evil", "sector": "s0", "data": "public", "autonomy": "hitl", "users": 1});
    // Bidi overrides are format characters, not control characters: allowed, escaped in JSON.
    assert!(Profile::from_json(&p.to_string()).is_ok());
}
