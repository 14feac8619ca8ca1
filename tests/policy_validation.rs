//! Each validation rule of the policy has a test with a bad policy asserting the error's
//! JSON path and reason; errors are collected, not just the first.

mod common;
use airisk::{Error, Policy};
use common::*;
use serde_json::{Value, json};

fn base() -> Value {
    policy_doc(json!([rule(json!({}))]))
}

/// Validates `doc` and returns the issues as "path: reason" strings.
fn issues(doc: &Value) -> Vec<String> {
    match Policy::from_json(&doc.to_string()) {
        Ok(_) => vec![],
        Err(Error::Policy(v)) => v.iter().map(|i| i.to_string()).collect(),
        Err(e) => vec![format!("<{e}>")],
    }
}

fn expect_issue(doc: &Value, path: &str, reason_part: &str) {
    let v = issues(doc);
    assert!(
        v.iter()
            .any(|s| s.starts_with(&format!("{path}: ")) && s.contains(reason_part)),
        "expected an issue at {path:?} containing {reason_part:?}; got {v:#?}"
    );
}

#[test]
fn the_base_policy_is_valid() {
    assert_eq!(issues(&base()), Vec::<String>::new());
}

#[test]
fn unknown_fields_anywhere() {
    let mut d = base();
    d["colour"] = json!("red");
    expect_issue(&d, "colour", "unknown field");
    let mut d = base();
    d["rules"][0]["treshold"] = json!(1);
    expect_issue(&d, "rules[0].treshold", "unknown field");
    let mut d = base();
    d["categories"][1]["nmae"] = json!("x");
    expect_issue(&d, "categories[1].nmae", "unknown field");
    let mut d = base();
    d["responses"]["levels"]["blue"]["action"] = json!([]);
    expect_issue(&d, "responses.levels.blue.action", "unknown field");
    let mut d = base();
    d["classification"]["sector"] = json!({});
    expect_issue(&d, "classification.sector", "unknown field");
}

#[test]
fn duplicate_ids() {
    let mut d = base();
    d["categories"][1]["id"] = json!("c1");
    expect_issue(&d, "categories[1].id", "duplicate id \"c1\"");
    let mut d = policy_doc(json!([rule(json!({})), rule(json!({}))]));
    d["grades"][1]["id"] = json!("high");
    expect_issue(&d, "rules[1].id", "duplicate id \"r\"");
    let mut d = base();
    d["signals"][2]["id"] = json!("n");
    expect_issue(&d, "signals[2].id", "duplicate id");
    let mut d = base();
    d["grades"][1]["id"] = json!("low");
    expect_issue(&d, "grades[1].id", "duplicate id");
}

#[test]
fn duplicate_json_keys_are_malformed() {
    let text = base()
        .to_string()
        .replacen("\"schema\":1", "\"schema\":1,\"schema\":1", 1);
    match Policy::from_json(&text) {
        Err(Error::Json(m)) => assert!(m.contains("duplicate key \"schema\""), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn rule_naming_unknown_signal_category_or_grade() {
    let d = policy_doc(json!([rule(json!({"signal": "nope"}))]));
    expect_issue(&d, "rules[0].signal", "unknown signal \"nope\"");
    let d = policy_doc(json!([rule(json!({"category": "nope"}))]));
    expect_issue(&d, "rules[0].category", "unknown category \"nope\"");
    let d = policy_doc(json!([rule(json!({"thresholds":
        {"low": [1, 2, 3, 4], "high": [1, 2, 3, 4], "medium": [1, 2, 3, 4]}}))]));
    expect_issue(&d, "rules[0].thresholds.medium", "unknown grade \"medium\"");
    let d = policy_doc(json!([rule(json!({"aggregate": "rate", "per": "nope"}))]));
    expect_issue(&d, "rules[0].per", "unknown signal \"nope\"");
}

#[test]
fn grade_without_thresholds() {
    let d = policy_doc(json!([rule(json!({"thresholds": {"low": [1, 2, 3, 4]}}))]));
    expect_issue(
        &d,
        "rules[0].thresholds.high",
        "grade \"high\" has no thresholds",
    );
}

#[test]
fn thresholds_must_be_monotone_in_direction() {
    let d = policy_doc(json!([rule(json!({"thresholds":
        {"low": [1, 2, 3, 4], "high": [0.05, 0.10, 0.08, null]}}))]));
    expect_issue(
        &d,
        "rules[0].thresholds.high",
        "thresholds must not decrease for direction \"above\"",
    );
    // Nulls are skipped: 1, null, 0.5 still decreases.
    let d = policy_doc(json!([rule(json!({"thresholds":
        {"low": [1, null, 0.5, null], "high": [1, 2, 3, 4]}}))]));
    expect_issue(&d, "rules[0].thresholds.low", "must not decrease");
    let d = policy_doc(json!([rule(json!({"direction": "below", "thresholds":
        {"low": [0.8, 0.9, null, null], "high": [0.8, 0.7, 0.6, 0.5]}}))]));
    expect_issue(
        &d,
        "rules[0].thresholds.low",
        "thresholds must not increase for direction \"below\"",
    );
    // Equal neighbours are allowed.
    let d = policy_doc(json!([rule(json!({"thresholds":
        {"low": [1, 1, 1, 1], "high": [1, 2, 3, 4]}}))]));
    assert!(issues(&d).is_empty());
    let d = policy_doc(json!([rule(json!({"thresholds":
        {"low": [1, 2, 3], "high": [1, 2, 3, 4]}}))]));
    expect_issue(&d, "rules[0].thresholds.low", "expected 4 thresholds");
}

#[test]
fn window_must_be_a_positive_multiple_of_bucket() {
    let d = policy_doc(json!([rule(json!({"window_ms": 1500}))]));
    expect_issue(
        &d,
        "rules[0].window_ms",
        "positive multiple of bucket_ms (1000)",
    );
    let d = policy_doc(json!([rule(json!({"window_ms": 0}))]));
    expect_issue(&d, "rules[0].window_ms", "positive multiple");
    let d = policy_doc(json!([rule(json!({"window_ms": -2000}))]));
    expect_issue(&d, "rules[0].window_ms", "positive multiple");
    let d = policy_doc(json!([rule(json!({"window_ms": null}))]));
    expect_issue(&d, "rules[0].window_ms", "missing required field");
    let d = policy_doc(json!([rule(json!({"aggregate": "silence_ms"}))]));
    expect_issue(&d, "rules[0].window_ms", "takes no window_ms");
}

#[test]
fn rate_needs_per() {
    let d = policy_doc(json!([rule(json!({"aggregate": "rate"}))]));
    expect_issue(&d, "rules[0].per", "aggregate \"rate\" needs \"per\"");
    let d = policy_doc(json!([rule(json!({"per": "n"}))]));
    expect_issue(&d, "rules[0].per", "only allowed with aggregate \"rate\"");
}

#[test]
fn hysteresis_in_zero_to_one() {
    for h in [1.0, -0.1, 1.5] {
        let d = policy_doc(json!([rule(json!({"hysteresis": h}))]));
        expect_issue(&d, "rules[0].hysteresis", "hysteresis must be in [0, 1)");
    }
    let d = policy_doc(json!([rule(json!({"hysteresis": 0.0}))]));
    assert!(issues(&d).is_empty());
    let d = policy_doc(json!([rule(json!({"hysteresis": 0.99}))]));
    assert!(issues(&d).is_empty());
}

#[test]
fn min_score_strictly_increasing() {
    let mut d = base();
    d["grades"] =
        json!([{"id": "low"}, {"id": "mid", "min_score": 5}, {"id": "high", "min_score": 5}]);
    d["rules"][0]["thresholds"] = json!({"low": [1,2,3,4], "mid": [1,2,3,4], "high": [1,2,3,4]});
    expect_issue(&d, "grades[2].min_score", "strictly increasing");
    d["grades"][2]["min_score"] = json!(4);
    expect_issue(&d, "grades[2].min_score", "strictly increasing");
    d["grades"][2] = json!({"id": "high"});
    expect_issue(
        &d,
        "grades[2].min_score",
        "every grade but the first needs a min_score",
    );
}

#[test]
fn two_to_eight_grades() {
    let mut d = base();
    d["grades"] = json!([{"id": "only"}]);
    d["rules"][0]["thresholds"] = json!({"only": [1,2,3,4]});
    expect_issue(&d, "grades", "2 to 8 grades; found 1");
    let grades: Vec<Value> = (0..9)
        .map(|i| {
            if i == 0 {
                json!({"id": "g0"})
            } else {
                json!({"id": format!("g{i}"), "min_score": i})
            }
        })
        .collect();
    let th: serde_json::Map<String, Value> = (0..9)
        .map(|i| (format!("g{i}"), json!([1, 2, 3, 4])))
        .collect();
    d["grades"] = Value::Array(grades);
    d["rules"][0]["thresholds"] = Value::Object(th);
    expect_issue(&d, "grades", "2 to 8 grades; found 9");
}

#[test]
fn floor_naming_unknown_grade_sector_or_capability() {
    let mut d = base();
    d["classification"]["capabilities"] = json!({"generative": 1});
    d["classification"]["floors"] = json!([
        {"id": "f1", "when": {"sectors": ["s9", "mars"]}, "grade": "high"},
        {"id": "f2", "when": {"capabilities": ["telepathy"]}, "grade": "high"},
        {"id": "f3", "when": {"sectors": ["s0"]}, "grade": "extreme"},
        {"id": "f4", "when": {"data": ["secret"], "vulnerable_groups": ["x"], "autonomy": ["y"]}, "grade": "low"}
    ]);
    expect_issue(
        &d,
        "classification.floors[0].when.sectors[1]",
        "unknown sector \"mars\"",
    );
    expect_issue(
        &d,
        "classification.floors[1].when.capabilities[0]",
        "unknown capability \"telepathy\"",
    );
    expect_issue(
        &d,
        "classification.floors[2].grade",
        "unknown grade \"extreme\"",
    );
    expect_issue(
        &d,
        "classification.floors[3].when.data[0]",
        "unknown data class",
    );
    expect_issue(
        &d,
        "classification.floors[3].when.vulnerable_groups[0]",
        "unknown vulnerable group",
    );
    expect_issue(
        &d,
        "classification.floors[3].when.autonomy[0]",
        "unknown autonomy",
    );
}

#[test]
fn unknown_action_name() {
    let mut d = base();
    d["responses"]["levels"]["red"]["actions"] = json!(["notify_operator", "panic"]);
    expect_issue(
        &d,
        "responses.levels.red.actions[1]",
        "unknown action \"panic\"",
    );
    let mut d = base();
    d["responses"]["overrides"][0]["actions"] = json!(["shout"]);
    expect_issue(
        &d,
        "responses.overrides[0].actions[0]",
        "unknown action \"shout\"",
    );
}

#[test]
fn all_errors_are_collected() {
    let mut d = policy_doc(json!([
        rule(json!({"id": "a", "signal": "nope"})),
        rule(json!({"id": "b", "hysteresis": 2})),
        rule(json!({"id": "c", "window_ms": 10}))
    ]));
    d["bogus"] = json!(1);
    d["responses"]["levels"]["red"]["actions"] = json!(["x"]);
    let v = issues(&d);
    assert!(v.len() >= 5, "{v:#?}");
    for p in [
        "bogus",
        "rules[0].signal",
        "rules[1].hysteresis",
        "rules[2].window_ms",
        "responses.levels.red.actions[0]",
    ] {
        assert!(v.iter().any(|s| s.starts_with(p)), "missing {p}: {v:#?}");
    }
}

#[test]
fn other_checks_name_path_and_reason() {
    let mut d = base();
    d["schema"] = json!(2);
    expect_issue(&d, "schema", "unsupported schema 2");
    let mut d = base();
    d["bucket_ms"] = json!(0);
    expect_issue(&d, "bucket_ms", "must be positive");
    let mut d = base();
    d["signals"][0]["kind"] = json!("histogram");
    expect_issue(&d, "signals[0].kind", "unknown kind");
    let d = policy_doc(json!([rule(json!({"aggregate": "median"}))]));
    expect_issue(&d, "rules[0].aggregate", "unknown aggregate \"median\"");
    let d = policy_doc(json!([rule(json!({"direction": "sideways"}))]));
    expect_issue(&d, "rules[0].direction", "unknown direction");
    let d = policy_doc(json!([rule(json!({"on_empty": "panic"}))]));
    expect_issue(&d, "rules[0].on_empty", "unknown on_empty");
    let d = policy_doc(json!([rule(json!({"for_ms": -1}))]));
    expect_issue(&d, "rules[0].for_ms", "must be ≥ 0");
    let d = policy_doc(json!([rule(json!({"wilson_z": 1.96}))]));
    expect_issue(
        &d,
        "rules[0].wilson_z",
        "only allowed with aggregate \"rate\"",
    );
    let d = policy_doc(json!([rule(
        json!({"thresholds": {"low": [1, "2", 3, 4], "high": [1, 2, 3, 4]}})
    )]));
    expect_issue(&d, "rules[0].thresholds.low[1]", "expected a number");
    let mut d = base();
    d["escalation"] = json!({"min_categories": 0, "at_least": "purple"});
    expect_issue(&d, "escalation.min_categories", "at least 1");
    expect_issue(&d, "escalation.at_least", "unknown level \"purple\"");
    // An override for an undefined category can never apply: a warning, not an error.
    let mut d = base();
    d["responses"]["overrides"][0]["category"] = json!("nope");
    let p = Policy::from_value(d).unwrap();
    assert_eq!(p.warnings()[0].path, "responses.overrides[0].category");
    assert!(p.warnings()[0].reason.contains("never applies"));
    let mut d = base();
    d["classification"]["scale"] =
        json!([{"min_users": 10, "score": 1}, {"min_users": 5, "score": 2}]);
    expect_issue(&d, "classification.scale[1].min_users", "must increase");
    let mut d = base();
    d["categories"][0]["id"] = json!("");
    expect_issue(&d, "categories[0].id", "must not be empty");
    let mut d = base();
    d["categories"][0]["id"] = json!("x".repeat(129));
    expect_issue(&d, "categories[0].id", "at most 128");
    let mut d = base();
    d["categories"][0]["id"] = json!("a\u{7}b");
    expect_issue(&d, "categories[0].id", "control character");
}

#[test]
fn malformed_json_reports_line_and_column() {
    match Policy::from_json("{\n  \"schema\": 1,\n  oops\n}") {
        Err(Error::Json(m)) => assert!(m.contains("line 3"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn rule_category_defaults_to_its_signals() {
    let d = policy_doc(json!([rule(
        json!({"category": null, "signal": "k", "aggregate": "sum"})
    )]));
    let p = Policy::from_value(d).unwrap();
    assert_eq!(p.rules()[0].category, Some(0));
}

#[test]
fn policy_round_trips_through_serde() {
    let p = Policy::from_value(base()).unwrap();
    let text = serde_json::to_string(&p).unwrap();
    let q: Policy = serde_json::from_str(&text).unwrap();
    assert_eq!(p.fingerprint(), q.fingerprint());
    let mut bad = base();
    bad["rules"][0]["hysteresis"] = json!(3);
    let e = serde_json::from_value::<Policy>(bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("rules[0].hysteresis"), "{e}");
}

/// A policy whose `sectors`, `data` or `autonomy` table is empty can classify no profile
/// (every profile names one value of each): valid, but each empty table is a warning with
/// its path, so `airisk validate` says so instead of a bare `ok`.
#[test]
fn empty_tables_every_profile_needs_are_warnings() {
    // Only the classification tables' warnings (this test policy's categories have no
    // basis, which is a warning of its own).
    let tables = |p: &Policy| -> Vec<airisk::Issue> {
        p.warnings()
            .iter()
            .filter(|w| w.path.starts_with("classification."))
            .cloned()
            .collect()
    };
    let p = Policy::from_value(base()).unwrap();
    assert!(tables(&p).is_empty(), "{:?}", p.warnings());
    let mut d = base();
    d["classification"] = json!({"sectors": {"health": 3}});
    let p = Policy::from_value(d).unwrap();
    let w = tables(&p);
    let paths: Vec<&str> = w.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(paths, ["classification.data", "classification.autonomy"]);
    assert!(w[0].reason.contains("no profile can be classified"));
    let mut d = base();
    d["classification"]["sectors"] = json!({});
    let p = Policy::from_value(d).unwrap();
    assert_eq!(tables(&p)[0].path, "classification.sectors");
}

/// `null` stands for an absent optional field; a required field that is `null` is an
/// error, never a rule silently dropped or a `rate` without its denominator.
#[test]
fn null_is_absent_only_for_optional_fields() {
    // (`rule()` drops keys given as null, so the nulls are set afterwards.)
    let with = |over: Value, nulls: &[&str]| {
        let mut r = rule(over);
        for k in nulls {
            r[*k] = Value::Null;
        }
        policy_doc(json!([r]))
    };
    let d = with(json!({}), &["signal"]);
    expect_issue(&d, "rules[0].signal", "expected a string, found null");
    let d = with(json!({"aggregate": "rate"}), &["per"]);
    expect_issue(&d, "rules[0].per", "needs \"per\"");
    let d = with(json!({}), &["per", "for_ms", "hysteresis", "on_empty"]);
    assert_eq!(issues(&d), Vec::<String>::new());
}
