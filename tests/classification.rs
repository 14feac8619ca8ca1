//! Classification (分类分级): hand-computed cases for every factor, floors, mitigations,
//! negative totals, unknown ids, and the boundary score at each min_score.

use airisk::{Error, FactorKind, Issue, Policy, Profile, classify};
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

// ---------- profile documents: limits, required fields, every problem ----------

/// A minimal profile document padded with spaces to `len` bytes.
fn doc_of_len(len: usize) -> String {
    let body =
        r#""id": "x", "sector": "retail", "data": "public", "autonomy": "autonomous", "users": 0}"#;
    let pad = len - body.len() - 1;
    format!("{{{}{body}", " ".repeat(pad))
}

/// The size limits are inclusive: a document of exactly `MAX_PROFILE_BYTES` bytes and a
/// list of exactly `MAX_PROFILE_LIST` (distinct) entries are accepted, one byte or one
/// entry more is refused with the limit named, by `from_json` and by `parse` alike.
#[test]
fn profile_size_limits_are_inclusive() {
    let max = airisk::MAX_PROFILE_BYTES;
    let exact = doc_of_len(max);
    assert_eq!(exact.len(), max);
    assert_eq!(Profile::from_json(&exact).unwrap().id, "x");
    assert_eq!(Profile::parse(&exact, Some(&policy())).unwrap().id, "x");
    let over = doc_of_len(max + 1);
    let want = format!("profile is {} bytes; at most {max} are accepted", max + 1);
    match Profile::from_json(&over) {
        Err(Error::Limit(m)) => assert_eq!(m, want),
        other => panic!("{other:?}"),
    }
    let issues = Profile::parse(&over, None).unwrap_err();
    assert_eq!(issues.len(), 1);
    assert_eq!(
        (issues[0].path.as_str(), issues[0].reason.as_str()),
        ("", &*want)
    );

    let n = airisk::MAX_PROFILE_LIST;
    let with_list = |n: usize| {
        json!({"id": "x", "sector": "retail", "data": "public", "autonomy": "autonomous",
               "users": 0, "capabilities": (0..n).map(|i| format!("c{i}")).collect::<Vec<_>>()})
        .to_string()
    };
    assert_eq!(
        Profile::from_json(&with_list(n))
            .unwrap()
            .capabilities
            .len(),
        n
    );
    let want = format!("{} entries; at most {n} are allowed", n + 1);
    match Profile::from_json(&with_list(n + 1)) {
        Err(Error::Profile(i)) => {
            assert_eq!((i.path.as_str(), &*i.reason), ("capabilities", &*want))
        }
        other => panic!("{other:?}"),
    }
    // The builder's check: the same limit, the same words.
    let mut b = Profile::builder("x", "retail", "public", "autonomous", 0);
    for i in 0..n {
        b = b.capability(format!("c{i}"));
    }
    assert_eq!(b.clone().build().unwrap().capabilities.len(), n);
    match b.capability(format!("c{n}")).build() {
        Err(Error::Profile(i)) => {
            assert_eq!((i.path.as_str(), &*i.reason), ("capabilities", &*want))
        }
        other => panic!("{other:?}"),
    }
}

/// `null` is "absent" only for the optional fields; a required field given as `null` is a
/// wrong type, and an optional one given as `null` is absent.
#[test]
fn null_is_absent_only_for_optional_profile_fields() {
    let issues = Profile::parse(
        r#"{"id": null, "sector": "retail", "data": "public", "autonomy": "autonomous",
            "users": 0, "name": null, "operator": null}"#,
        None,
    )
    .unwrap_err();
    let got: Vec<(&str, &str)> = issues
        .iter()
        .map(|i| (i.path.as_str(), i.reason.as_str()))
        .collect();
    assert_eq!(got, [("id", "id must be a string, found null")]);
    let p = Profile::from_json(
        r#"{"id": "x", "sector": "retail", "data": "public", "autonomy": "autonomous",
            "users": 0, "name": null, "operator": null}"#,
    )
    .unwrap();
    assert_eq!((p.name, p.operator), (None, None));
}

/// `parse` succeeds exactly when there is no problem, and with a policy an unknown id is a
/// problem even though the document is otherwise well formed.
#[test]
fn parse_succeeds_only_without_problems() {
    let good = r#"{"id": "x", "sector": "retail", "data": "public", "autonomy": "autonomous", "users": 0}"#;
    assert_eq!(
        Profile::parse(good, Some(&policy())).unwrap().sector,
        "retail"
    );
    let unknown = good.replace("retail", "retale");
    assert_eq!(Profile::parse(&unknown, None).unwrap().sector, "retale");
    let issues = Profile::parse(&unknown, Some(&policy())).unwrap_err();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].path, "sector");
    assert!(
        issues[0].reason.starts_with(r#"unknown sector "retale""#),
        "{}",
        issues[0].reason
    );
}

/// `users` beyond u64 is named as such; a negative one is "≥ 0".
#[test]
fn users_out_of_range_say_which_way() {
    let users = |v: &str| {
        let doc = format!(
            r#"{{"id": "x", "sector": "retail", "data": "public", "autonomy": "autonomous", "users": {v}}}"#
        );
        let issues = Profile::parse(&doc, None).unwrap_err();
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0].path, "users");
        issues[0].reason.clone()
    };
    assert_eq!(
        users("1e20"),
        format!(
            "users must be a whole number from 0 to {}, found 1e+20",
            u64::MAX
        )
    );
    assert_eq!(
        users("-1e20"),
        "users must be a whole number ≥ 0, found -1e+20"
    );
    assert_eq!(users("-3"), "users must be a whole number ≥ 0, found -3");
    assert_eq!(users("2.5"), "users must be a whole number ≥ 0, found 2.5");
    // Whole numbers in range written as floats: what to change is the notation.
    for (v, shown) in [
        ("1000.0", "1000.0"),
        ("1e3", "1000.0"),
        ("0.0", "0.0"),
        ("-0.0", "-0.0"),
    ] {
        assert_eq!(
            users(v),
            format!(
                "users must be written as a whole number without a fraction or exponent, found {shown}"
            ),
            "{v}"
        );
    }
    // 2^64 is the first whole number out of range; 2^64 − 2048 (the float below it) is in.
    assert!(users("18446744073709551616").contains("from 0 to"));
    assert!(users("18446744073709549568.0").contains("without a fraction"));
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

#[test]
fn every_problem_of_a_profile_is_reported_at_once_in_plain_words() {
    let p = policy();
    let text = r#"{"id": "x", "sector": "healthcar", "data": "public", "autonomy": "self",
                   "users": "many", "capabilities": ["generative", 7], "colour": 1}"#;
    let issues = Profile::parse(text, Some(&p)).unwrap_err();
    let paths: Vec<&str> = issues.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(
        paths,
        ["sector", "capabilities[1]", "autonomy", "users", "colour"]
    );
    let reason = |path: &str| &issues.iter().find(|i| i.path == path).unwrap().reason;
    assert_eq!(
        reason("sector"),
        r#"unknown sector "healthcar"; did you mean "healthcare"? valid: autonomous_driving, healthcare, retail"#
    );
    assert_eq!(
        reason("users"),
        r#"users must be a whole number ≥ 0, found "many""#
    );
    assert_eq!(
        reason("capabilities[1]"),
        "each entry of capabilities must be a string, found 7"
    );
    assert!(
        reason("autonomy").ends_with("valid: autonomous, human_in_the_loop, human_on_the_loop"),
        "{}",
        reason("autonomy")
    );
    assert!(reason("colour").starts_with(r#"unknown field "colour"; valid: id, sector"#));
    // No serde jargon anywhere.
    for i in &issues {
        for jargon in ["expected u64", "invalid type", "expected a sequence", "`"] {
            assert!(!i.reason.contains(jargon), "{i}");
        }
    }
    // Without a policy, only the document's own problems.
    let issues = Profile::parse(text, None).unwrap_err();
    assert_eq!(issues.len(), 3, "{issues:?}");
    // Negative, fractional and missing users; not an object; malformed JSON.
    for (users, found) in [("-1", "-1"), ("2.5", "2.5"), ("null", "null")] {
        let t = format!(
            r#"{{"id": "x", "sector": "retail", "data": "public", "autonomy": "autonomous", "users": {users}}}"#
        );
        let i = Profile::parse(&t, Some(&p)).unwrap_err();
        assert_eq!(i.len(), 1);
        assert_eq!(
            i[0].reason,
            format!("users must be a whole number ≥ 0, found {found}")
        );
    }
    let i = Profile::parse(r#"{"id": "x"}"#, Some(&p)).unwrap_err();
    let paths: Vec<&str> = i.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(paths, ["sector", "data", "autonomy", "users"]);
    assert!(i[0].reason.contains("required field sector is missing"));
    let i = Profile::parse("[1]", Some(&p)).unwrap_err();
    assert_eq!(
        i[0].reason,
        "a profile must be a JSON object, found an array"
    );
    let i = Profile::parse("{\"id\": ", Some(&p)).unwrap_err();
    assert!(i[0].reason.starts_with("invalid JSON"), "{}", i[0].reason);
}

#[test]
fn classify_names_the_first_problem_with_a_suggestion() {
    // Rust and C callers get the first problem, with the same suggestion and valid values.
    let p = Policy::default_policy();
    let prof = Profile::builder("bot", "healthcare", "personal", "autonomous", 1)
        .capability("generatve")
        .build()
        .unwrap();
    match classify(&p, &prof) {
        Err(Error::Profile(i)) => {
            assert_eq!(i.path, "sector");
            assert!(
                i.reason.starts_with(
                    r#"unknown sector "healthcare"; did you mean "healthcare_clinical"? valid: "#
                ),
                "{}",
                i.reason
            );
        }
        other => panic!("{other:?}"),
    }
    let all = airisk::profile_issues(&p, &prof);
    assert_eq!(all.len(), 2);
    assert!(all[1].reason.contains(r#"did you mean "generative"?"#));
    // No suggestion when nothing is close; the valid values still come.
    let prof = Profile::builder("bot", "finance", "personal", "autonomous", 1)
        .mitigation("prayer")
        .build()
        .unwrap();
    let i = airisk::profile_issues(&p, &prof);
    assert_eq!(i[0].path, "mitigations[0]");
    assert!(!i[0].reason.contains("did you mean"), "{}", i[0].reason);
    assert!(
        i[0].reason.contains("valid: bias_audit,"),
        "{}",
        i[0].reason
    );
}

#[test]
fn suggestions_catch_typos_case_and_abbreviations_only() {
    use airisk::suggest;
    let v = [
        "healthcare_clinical",
        "healthcare_patient_services",
        "finance",
        "education",
    ];
    let s = |x: &str| suggest(x, v.iter().copied());
    assert_eq!(s("healthcare"), Some("healthcare_clinical"));
    assert_eq!(s("Healthcare-Clinical"), Some("healthcare_clinical"));
    assert_eq!(s("finanse"), Some("finance"));
    assert_eq!(s("eudcation"), Some("education"));
    assert_eq!(s("clinical"), Some("healthcare_clinical"));
    assert_eq!(s("retail"), None);
    assert_eq!(s(""), None);
}

#[test]
fn suggestions_catch_prefixes_and_substrings_in_a_fixed_order() {
    use airisk::suggest;
    // The default policy's sectors.
    let policy = Policy::default_policy();
    let sectors: Vec<String> = policy
        .source()
        .pointer("/classification/sectors")
        .and_then(|v| v.as_object())
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let s = |x: &str| suggest(x, sectors.iter().map(String::as_str));
    // A prefix of a value beats a later whole word ("public_health") and the longer value
    // with the same prefix ("healthcare_patient_services").
    assert_eq!(s("health"), Some("healthcare_clinical"));
    assert_eq!(s("Health"), Some("healthcare_clinical"));
    assert_eq!(s("fin"), Some("finance"));
    assert_eq!(s("educ"), Some("education"));
    // A later word, a prefix of a later word, a substring.
    assert_eq!(s("robotics"), Some("embodied_robotics"));
    assert_eq!(s("robot"), Some("embodied_robotics"));
    assert_eq!(s("obotic"), Some("embodied_robotics"));
    // Too short to mean anything: no prefix under 3 characters, no substring under 4.
    assert_eq!(s("fi"), None);
    assert_eq!(s("bot"), None);

    let v = [
        "care_home",
        "elderly_care",
        "healthcare",
        "health",
        "health_data",
        "x_health_y",
    ];
    let order =
        |found: &str, candidates: &[&'static str]| suggest(found, candidates.iter().copied());
    // Each rule beats every later one, whatever the order of the values.
    for (found, expected, rest) in [
        ("health", "health", &v[..]),
        (
            "healht",
            "health",
            &["health_data", "healthcare", "health"][..],
        ),
        (
            "health",
            "health_data",
            &["x_health_y", "healthcare", "health_data"][..],
        ),
        ("health", "healthcare", &["x_health_y", "healthcare"][..]),
        (
            "care",
            "care_home",
            &["healthcare", "elderly_care", "care_home"][..],
        ),
        ("care", "elderly_care", &["healthcare", "elderly_care"][..]),
        ("heal", "x_health_y", &["xhealthy", "x_health_y"][..]),
    ] {
        assert_eq!(order(found, rest), Some(expected), "{found} among {rest:?}");
        let reversed: Vec<&'static str> = rest.iter().rev().copied().collect();
        assert_eq!(
            order(found, &reversed),
            Some(expected),
            "{found} among {reversed:?}"
        );
    }
    // Within a rule the shortest value wins, then the earlier one.
    assert_eq!(
        order("heal", &["healthcare_x", "healthcare"]),
        Some("healthcare")
    );
    assert_eq!(
        order("fina", &["finance_x", "finances", "finance"]),
        Some("finance")
    );
    assert_eq!(order("fina", &["financex", "finances"]), Some("financex"));
    assert_eq!(order("fina", &["finances", "financex"]), Some("finances"));
    // Separators and case are normalised on both sides (system ids are not snake case).
    assert_eq!(order("bus 17", &["Bus-17", "bus-71"]), Some("Bus-17"));
    assert_eq!(order("BUS-7", &["bus-17", "Bus-7"]), Some("Bus-7"));
}

#[test]
fn a_built_profile_equals_the_parsed_one_and_is_checked_the_same_way() {
    let built = Profile::builder("bot", "healthcare", "personal", "autonomous", 10)
        .capability("generative")
        .capability("biometric")
        .vulnerable_group("minors")
        .mitigation("human_review_process")
        .name("Bot")
        .operator("Op")
        .build()
        .unwrap();
    let parsed = Profile::from_json(
        r#"{"id": "bot", "sector": "healthcare", "data": "personal", "autonomy": "autonomous",
            "users": 10, "capabilities": ["generative", "biometric"], "vulnerable_groups": ["minors"],
            "mitigations": ["human_review_process"], "name": "Bot", "operator": "Op"}"#,
    )
    .unwrap();
    assert_eq!(built, parsed);
    assert_eq!(
        classify(&policy(), &built).unwrap().score,
        3 + 3 + 1 + 2 + 2 - 1
    );
    for bad in ["", "a\u{1}", &"x".repeat(129)] {
        match Profile::builder(bad, "retail", "public", "autonomous", 0).build() {
            Err(Error::Profile(i)) => assert_eq!(i.path, "id"),
            other => panic!("{other:?}"),
        }
    }
    let mut b = Profile::builder("x", "retail", "public", "autonomous", 0);
    for _ in 0..=airisk::MAX_PROFILE_LIST {
        b = b.capability("generative");
    }
    match b.build() {
        Err(Error::Profile(i)) => assert_eq!(i.path, "capabilities"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_value_listed_twice_is_refused_wherever_the_profile_comes_from() {
    let p = policy();
    let doc = |caps: &str, groups: &str, mits: &str| {
        format!(
            r#"{{"id": "bot", "sector": "retail", "data": "public", "autonomy": "autonomous",
                "users": 1, "capabilities": {caps}, "vulnerable_groups": {groups},
                "mitigations": {mits}}}"#
        )
    };
    // A repeated mitigation would lower the score twice: refused, naming both indexes.
    let text = doc(
        "[]",
        "[]",
        r#"["big_mitigation", "human_review_process", "big_mitigation"]"#,
    );
    let expected = Issue {
        path: "mitigations[2]".into(),
        reason: r#"mitigation "big_mitigation" is listed twice (also at mitigations[0]); list each once"#
            .into(),
    };
    assert_eq!(
        Profile::from_json(&text),
        Err(Error::Profile(expected.clone()))
    );
    assert_eq!(Profile::parse(&text, Some(&p)), Err(vec![expected.clone()]));
    assert_eq!(Profile::parse(&text, None), Err(vec![expected.clone()]));
    // Every list, every repeat, in field order; a repeated unknown id is unknown once.
    let text = doc(
        r#"["generative", "generative", "biometric", "generative"]"#,
        r#"["minors", "elderly", "elderly"]"#,
        r#"["prayer", "prayer"]"#,
    );
    let issues = Profile::parse(&text, Some(&p)).unwrap_err();
    let paths: Vec<&str> = issues.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "capabilities[1]",
            "capabilities[3]",
            "vulnerable_groups[2]",
            "mitigations[1]",
            "mitigations[0]"
        ]
    );
    assert_eq!(
        issues[1].reason,
        r#"capability "generative" is listed twice (also at capabilities[0]); list each once"#
    );
    assert_eq!(
        issues[2].reason,
        r#"vulnerable group "elderly" is listed twice (also at vulnerable_groups[1]); list each once"#
    );
    assert!(
        issues[4]
            .reason
            .starts_with(r#"unknown mitigation "prayer""#)
    );

    // Built in code, or with the fields set directly: the same check.
    let built = Profile::builder("bot", "retail", "public", "autonomous", 1)
        .capability("biometric")
        .capability("biometric")
        .build();
    let first = Error::Profile(Issue {
        path: "capabilities[1]".into(),
        reason:
            r#"capability "biometric" is listed twice (also at capabilities[0]); list each once"#
                .into(),
    });
    assert_eq!(built, Err(first.clone()));
    let mut direct = Profile::builder("bot", "retail", "public", "autonomous", 1)
        .capability("biometric")
        .build()
        .unwrap();
    assert_eq!(classify(&p, &direct).unwrap().score, 2 + 2);
    direct.capabilities.push("biometric".into());
    assert_eq!(direct.check(), Err(first.clone()));
    assert_eq!(classify(&p, &direct), Err(first.clone()));
    assert_eq!(airisk::profile_issues(&p, &direct).len(), 1);
    let engine = airisk::Engine::new(p.clone());
    assert_eq!(engine.register(direct.clone()), Err(first.clone()));
    assert_eq!(engine.stats().systems, 0);
    // The same id in different lists is no repeat.
    let text = doc(
        r#"["generative"]"#,
        r#"["minors"]"#,
        r#"["human_review_process"]"#,
    );
    assert!(Profile::parse(&text, Some(&p)).is_ok());
}

/// Every value of one list (capabilities, vulnerable groups, mitigations) on a profile
/// with nothing in the other lists: each is one factor of the explanation, in the
/// profile's order, and the score is the sum of the factors. (The default policy, with
/// three more vulnerable groups so that every list is longer than the other factors.)
#[test]
fn a_profile_with_every_value_of_a_list_lists_each_as_a_factor() {
    let mut doc = Policy::default_policy().source().clone();
    for g in ["g1", "g2", "g3"] {
        doc["classification"]["vulnerable_groups"][g] = json!(1);
    }
    let p = Policy::from_value(doc).unwrap();
    for (list, kind) in [
        ("capabilities", FactorKind::Capability),
        ("vulnerable_groups", FactorKind::VulnerableGroup),
        ("mitigations", FactorKind::Mitigation),
    ] {
        let all: Vec<String> = p.source()["classification"][list]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert!(all.len() > 4, "{list}: {}", all.len());
        let mut doc = json!({"id": "x", "sector": "scientific_research", "data": "public",
                             "autonomy": "human_in_the_loop", "users": 0});
        doc[list] = json!(all);
        let c = classify(&p, &Profile::from_value(doc).unwrap()).unwrap();
        let listed: Vec<String> = c
            .factors
            .iter()
            .filter(|f| f.kind == kind)
            .map(|f| f.id.to_string())
            .collect();
        assert_eq!(listed, all, "{list}");
        assert_eq!(c.factors.len(), 3 + all.len(), "{list}");
        assert_eq!(c.score, c.factors.iter().map(|f| f.points).sum::<i64>());
    }
}
