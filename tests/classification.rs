//! Classification (分类分级): hand-computed cases for every factor, floors, mitigations,
//! negative totals, unknown ids, and the boundary score at each min_score.

use airisk::{Error, FactorKind, Policy, Profile, classify};
use serde_json::{Value, json};

fn policy() -> Policy {
    Policy::from_value(json!({
        "schema": 1,
        "categories": [],
        "grades": [{"id": "low"}, {"id": "medium", "min_score": 4},
                   {"id": "high", "min_score": 7}, {"id": "critical", "min_score": 10}],
        "classification": {
            "sectors": {"healthcare": {"score": 3, "basis": "Art. 23"}, "autonomous_driving": 4, "retail": 0},
            "capabilities": {"generative": 1, "automated_decision": 2, "biometric": 2},
            "data": {"public": 0, "personal": 1, "sensitive_personal": 2},
            "autonomy": {"human_in_the_loop": 0, "human_on_the_loop": 1, "autonomous": 2},
            "scale": [{"min_users": 10000, "score": 1, "basis": "CAC"}, {"min_users": 1000000, "score": 2}],
            "vulnerable_groups": {"minors": 2, "elderly": 1},
            "mitigations": {"human_review_process": -1, "incident_response_plan": -1, "big_mitigation": -20},
            "floors": [
                {"id": "av", "when": {"sectors": ["autonomous_driving"]}, "grade": "high", "basis": "Art. 15"},
                {"id": "kids-decisions", "when": {"vulnerable_groups": ["minors"], "capabilities": ["automated_decision"]}, "grade": "medium"},
                {"id": "mass-biometric", "when": {"capabilities": ["biometric"], "min_users": 1000000}, "grade": "critical"}
            ]
        },
        "signals": [], "rules": []
    }))
    .unwrap()
}

fn prof(over: Value) -> Profile {
    let mut p = json!({"id": "x", "sector": "retail", "data": "public",
                        "autonomy": "human_in_the_loop", "users": 0});
    for (k, v) in over.as_object().unwrap() {
        p[k] = v.clone();
    }
    Profile::from_json(&p.to_string()).unwrap()
}

fn score_grade(over: Value) -> (i64, String) {
    let c = classify(&policy(), &prof(over)).unwrap();
    (c.score, c.grade.to_string())
}

#[test]
fn every_factor_adds_its_points() {
    assert_eq!(score_grade(json!({})), (0, "low".into()));
    assert_eq!(score_grade(json!({"sector": "healthcare"})).0, 3);
    assert_eq!(
        score_grade(json!({"capabilities": ["generative", "biometric"]})).0,
        3
    );
    assert_eq!(score_grade(json!({"data": "sensitive_personal"})).0, 2);
    assert_eq!(score_grade(json!({"autonomy": "autonomous"})).0, 2);
    assert_eq!(score_grade(json!({"users": 9999})).0, 0);
    assert_eq!(score_grade(json!({"users": 10000})).0, 1);
    assert_eq!(score_grade(json!({"users": 999_999})).0, 1);
    assert_eq!(score_grade(json!({"users": 5_000_000})).0, 2);
    assert_eq!(
        score_grade(json!({"vulnerable_groups": ["minors", "elderly"]})).0,
        3
    );
    assert_eq!(
        score_grade(json!({"sector": "healthcare", "mitigations": ["human_review_process"]})).0,
        2
    );
}

#[test]
fn full_profile_hand_computed_with_explanation() {
    // healthcare 3 + generative 1 + automated_decision 2 + sensitive_personal 2
    // + human_on_the_loop 1 + scale(50 000 → 1) + elderly 1 + human_review_process −1 = 10
    let c = classify(
        &policy(),
        &prof(
            json!({"sector": "healthcare", "capabilities": ["generative", "automated_decision"],
            "data": "sensitive_personal", "autonomy": "human_on_the_loop", "users": 50000,
            "vulnerable_groups": ["elderly"], "mitigations": ["human_review_process"]}),
        ),
    )
    .unwrap();
    assert_eq!(c.score, 10);
    assert_eq!(&*c.grade, "critical");
    assert_eq!(c.grade_rank, 3);
    let f: Vec<_> = c
        .factors
        .iter()
        .map(|f| (f.kind, f.id.to_string(), f.points))
        .collect();
    assert_eq!(
        f,
        vec![
            (FactorKind::Sector, "healthcare".into(), 3),
            (FactorKind::Capability, "generative".into(), 1),
            (FactorKind::Capability, "automated_decision".into(), 2),
            (FactorKind::Data, "sensitive_personal".into(), 2),
            (FactorKind::Autonomy, "human_on_the_loop".into(), 1),
            (FactorKind::Scale, "min_users 10000".into(), 1),
            (FactorKind::VulnerableGroup, "elderly".into(), 1),
            (FactorKind::Mitigation, "human_review_process".into(), -1),
        ]
    );
    assert_eq!(c.factors[0].basis.as_deref(), Some("Art. 23"));
    assert_eq!(c.factors[5].basis.as_deref(), Some("CAC"));
    assert!(c.floors.is_empty());
}

#[test]
fn boundary_scores_at_each_min_score() {
    // healthcare (3) + points from autonomy/data to reach each boundary.
    let cases = [
        (json!({"sector": "healthcare"}), 3, "low"),
        (
            json!({"sector": "healthcare", "data": "personal"}),
            4,
            "medium",
        ),
        (
            json!({"sector": "healthcare", "data": "sensitive_personal", "autonomy": "human_on_the_loop"}),
            6,
            "medium",
        ),
        (
            json!({"sector": "healthcare", "data": "sensitive_personal", "autonomy": "autonomous"}),
            7,
            "high",
        ),
        (
            json!({"sector": "healthcare", "data": "sensitive_personal", "autonomy": "autonomous", "capabilities": ["automated_decision"]}),
            9,
            "high",
        ),
        (
            json!({"sector": "healthcare", "data": "sensitive_personal", "autonomy": "autonomous", "capabilities": ["automated_decision", "generative"]}),
            10,
            "critical",
        ),
    ];
    for (p, score, grade) in cases {
        assert_eq!(score_grade(p.clone()), (score, grade.into()), "{p}");
    }
}

#[test]
fn negative_total_is_the_first_grade() {
    let (s, g) = score_grade(json!({"mitigations": ["big_mitigation"]}));
    assert_eq!((s, g.as_str()), (-20, "low"));
}

#[test]
fn floors_raise_and_mitigations_never_lower_below_a_floor() {
    // autonomous_driving 4 → medium by score, floor → high.
    let c = classify(&policy(), &prof(json!({"sector": "autonomous_driving"}))).unwrap();
    assert_eq!((c.score, &*c.score_grade, &*c.grade), (4, "medium", "high"));
    assert_eq!(c.floors.len(), 1);
    assert_eq!(
        (&*c.floors[0].id, c.floors[0].basis.as_deref()),
        ("av", Some("Art. 15"))
    );
    // Mitigations that would take the score to −17 leave it at the floor.
    let c = classify(
        &policy(),
        &prof(json!({"sector": "autonomous_driving", "mitigations": ["big_mitigation", "human_review_process"]})),
    )
    .unwrap();
    assert_eq!((c.score, &*c.score_grade, &*c.grade), (-17, "low", "high"));
    // A score above the floor wins over it.
    let c = classify(
        &policy(),
        &prof(json!({"sector": "autonomous_driving", "data": "sensitive_personal", "autonomy": "autonomous", "capabilities": ["automated_decision"]})),
    )
    .unwrap();
    assert_eq!((c.score, &*c.grade), (10, "critical"));
}

#[test]
fn floor_keys_are_anded_and_list_keys_match_any_value() {
    // kids-decisions needs minors AND automated_decision.
    assert_eq!(
        score_grade(json!({"vulnerable_groups": ["minors"]})).1,
        "low"
    );
    assert_eq!(
        score_grade(json!({"capabilities": ["automated_decision"]})).1,
        "low"
    );
    assert_eq!(
        score_grade(json!({"vulnerable_groups": ["elderly", "minors"], "capabilities": ["generative", "automated_decision"]})).1,
        "medium"
    );
    // min_users: users ≥ 1 000 000 with biometric → critical.
    assert_eq!(
        score_grade(json!({"capabilities": ["biometric"], "users": 999_999})).1,
        "low"
    );
    assert_eq!(
        score_grade(json!({"capabilities": ["biometric"], "users": 1_000_000})).1,
        "critical"
    );
}

#[test]
fn unknown_ids_are_errors_naming_them() {
    let p = policy();
    let cases = [
        (
            json!({"sector": "mining"}),
            "sector",
            "unknown sector \"mining\"",
        ),
        (
            json!({"capabilities": ["generative", "telepathy"]}),
            "capabilities[1]",
            "unknown capability \"telepathy\"",
        ),
        (
            json!({"data": "secret"}),
            "data",
            "unknown data class \"secret\"",
        ),
        (
            json!({"autonomy": "rogue"}),
            "autonomy",
            "unknown autonomy \"rogue\"",
        ),
        (
            json!({"vulnerable_groups": ["pets"]}),
            "vulnerable_groups[0]",
            "unknown vulnerable group",
        ),
        (
            json!({"mitigations": ["prayer"]}),
            "mitigations[0]",
            "unknown mitigation",
        ),
    ];
    for (over, path, reason) in cases {
        match classify(&p, &prof(over)) {
            Err(Error::Profile(i)) => {
                assert_eq!(i.path, path);
                assert!(i.reason.contains(reason), "{}", i.reason);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn profile_is_strictly_validated() {
    let bad = [
        (
            r#"{"id": "x", "sector": "retail", "data": "public", "autonomy": "a"}"#,
            "users",
        ),
        (
            r#"{"id": "x", "sector": "retail", "data": "public", "autonomy": "a", "users": 1, "colour": 1}"#,
            "colour",
        ),
        (
            r#"{"id": "", "sector": "retail", "data": "public", "autonomy": "a", "users": 1}"#,
            "id",
        ),
        (
            r#"{"id": "a\u0001", "sector": "retail", "data": "public", "autonomy": "a", "users": 1}"#,
            "id",
        ),
        (
            r#"{"id": "x", "sector": "retail", "data": "public", "autonomy": "a", "users": -1}"#,
            "users",
        ),
        (
            r#"{"id": "x", "sector": 3, "data": "public", "autonomy": "a", "users": 1}"#,
            "sector",
        ),
    ];
    for (text, field) in bad {
        match Profile::from_json(text) {
            Err(Error::Profile(i)) => assert_eq!(i.path, field, "{text}: {}", i.reason),
            other => panic!("{text}: {other:?}"),
        }
    }
    let long = format!(
        r#"{{"id": "{}", "sector": "retail", "data": "public", "autonomy": "a", "users": 1}}"#,
        "x".repeat(129)
    );
    assert!(matches!(Profile::from_json(&long), Err(Error::Profile(_))));
    assert!(matches!(
        Profile::from_json(
            r#"{"id": "x", "id": "y", "sector": "r", "data": "p", "autonomy": "a", "users": 1}"#
        ),
        Err(Error::Json(_))
    ));
    // 128 bytes of multi-byte UTF-8 is fine.
    let ok = format!(
        r#"{{"id": "{}", "sector": "retail", "data": "public", "autonomy": "a", "users": 1}}"#,
        "分".repeat(42)
    );
    assert!(Profile::from_json(&ok).is_ok());
}
