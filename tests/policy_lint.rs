//! What a valid policy can still get wrong (warnings with their JSON paths), the display
//! names a classification carries, and the prohibited case through the Rust API.

use airisk::{Engine, Error, Policy, Profile, classify};
use serde_json::{Value, json};

fn minimal() -> Value {
    serde_json::from_str(include_str!("data/minimal.json")).unwrap()
}

fn warnings(v: Value) -> Vec<(String, String)> {
    Policy::from_value(v)
        .expect("still a valid policy")
        .warnings()
        .iter()
        .map(|i| (i.path.clone(), i.reason.clone()))
        .collect()
}

#[test]
fn the_default_and_the_minimal_policy_have_no_warnings() {
    assert!(Policy::default_policy().warnings().is_empty());
    assert!(warnings(minimal()).is_empty());
}

#[test]
fn an_item_without_a_basis_is_a_warning() {
    let mut p = minimal();
    p["categories"][2]["basis"] = json!("  ");
    p["rules"][0].as_object_mut().unwrap().remove("basis");
    p["classification"]["floors"][0]
        .as_object_mut()
        .unwrap()
        .remove("basis");
    p["classification"]["prohibited"] = json!([{"id": "p1", "when": {"sectors": ["retail"]}}]);
    p["rules"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "hb", "category": "physical_safety", "basis": "Art. 15",
            "signal": "interactions", "aggregate": "silence_ms",
            "thresholds": {"low": [1000, null, null, null], "medium": [1000, null, null, null],
                           "high": [1000, null, null, null], "critical": [1000, null, null, null]}}));
    p["inhibit"] = json!([{"id": "quiet", "source": {"rule": "hb", "at_least": "blue"},
                           "target": {"categories": ["hallucination"]}}]);
    let w = warnings(p);
    let paths: Vec<&str> = w.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "categories[2]",
            "classification.floors[0]",
            "classification.prohibited[0]",
            "rules[0]",
            "inhibit[0]"
        ],
        "{w:?}"
    );
    assert!(w[0].1.contains("\"physical_safety\" has no basis"), "{w:?}");
    assert!(w[3].1.contains("rule \"hallucination-rate\" has no basis"));
}

#[test]
fn an_empty_data_or_autonomy_table_is_a_warning() {
    for table in ["data", "autonomy"] {
        let mut p = minimal();
        p["classification"][table] = json!({});
        let w = warnings(p);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].0, format!("classification.{table}"));
        assert!(w[0].1.contains("no profile can be classified"), "{w:?}");
        // A missing table is empty too.
        let mut p = minimal();
        p["classification"].as_object_mut().unwrap().remove(table);
        assert_eq!(warnings(p).len(), 1);
    }
}

/// A grade for which no rule has any threshold can never warn: a warning. A rule that skips
/// a grade while another rule covers it is not.
#[test]
fn a_grade_with_no_level_at_all_is_a_warning() {
    let mut p = minimal();
    p["rules"][0]["thresholds"]["medium"] = json!([null, null, null, null]);
    let w = warnings(p.clone());
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].0, "grades[1]");
    assert!(
        w[0].1
            .contains("grade \"medium\": a system of this grade can never warn")
    );
    p["rules"].as_array_mut().unwrap().push(json!({
        "id": "count-flags", "category": "hallucination", "basis": "Art. 46",
        "signal": "hallucination_flagged", "aggregate": "count", "window_ms": 3600000,
        "thresholds": {"low": [null, null, null, null], "medium": [null, null, null, 5],
                       "high": [null, null, null, null], "critical": [null, null, null, null]}}));
    assert!(warnings(p).is_empty());
}

fn triage() -> Profile {
    Profile::from_json(include_str!(
        "../seeds/profiles/hospital-triage-chatbot.json"
    ))
    .unwrap()
}

/// The explanation names what it grades with the policy's display names.
#[test]
fn a_classification_carries_display_names() {
    let p = Policy::default_policy();
    let c = classify(&p, &triage()).unwrap();
    let name = |n: &Option<std::sync::Arc<airisk::policy::I18n>>| {
        let n = n.as_deref().expect("a name");
        (n.zh.clone().unwrap(), n.en.clone().unwrap())
    };
    assert_eq!(name(&c.grade_name), ("重大".into(), "Major".into()));
    assert_eq!(
        name(&c.score_grade_name),
        ("较大".into(), "Significant".into())
    );
    for f in &c.factors {
        match f.kind {
            airisk::FactorKind::Scale => assert!(f.name.is_none()),
            _ => {
                // The name is the policy's for that table entry.
                let table = match f.kind {
                    airisk::FactorKind::Sector => &p.classification().sectors,
                    airisk::FactorKind::Capability => &p.classification().capabilities,
                    airisk::FactorKind::Data => &p.classification().data,
                    airisk::FactorKind::Autonomy => &p.classification().autonomy,
                    airisk::FactorKind::VulnerableGroup => &p.classification().vulnerable_groups,
                    airisk::FactorKind::Mitigation => &p.classification().mitigations,
                    airisk::FactorKind::Scale => unreachable!(),
                };
                assert_eq!(
                    f.name.as_deref(),
                    Some(&table.get(&f.id).unwrap().name),
                    "{}",
                    f.id
                );
            }
        }
    }
    for f in &c.floors {
        assert_eq!(
            f.grade_name.as_deref(),
            Some(&p.grade(&f.grade_id).unwrap().name)
        );
    }
    // A policy without names gives none (and the JSON leaves the fields out).
    let bare = Policy::from_json(include_str!("data/design-example.json")).unwrap();
    let prof = Profile::from_json(include_str!("data/design-profile.json")).unwrap();
    let c = classify(&bare, &prof).unwrap();
    let v = serde_json::to_value(&c).unwrap();
    assert!(
        v["factors"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f.get("name").is_none())
    );
}

/// The social-scoring use of seeds/README.md section 5, through the Rust API: classify
/// answers with the use, its basis and its name; register refuses it and changes nothing.
#[test]
fn the_prohibited_case_through_the_rust_api() {
    let e = Engine::new(Policy::default_policy());
    let banned = Profile::from_json(include_str!("data/prohibited-social-scoring.json")).unwrap();
    let c = e.classify(&banned).unwrap();
    assert_eq!((&*c.grade, c.score), ("major", 15));
    let hit = c.prohibited.as_ref().expect("prohibited");
    assert_eq!(&*hit.id, "social-scoring-by-public-authority");
    assert!(
        hit.basis
            .as_deref()
            .unwrap()
            .starts_with("PIPL Art. 24 para. 3")
    );
    assert_eq!(
        hit.name.as_deref().unwrap().zh.as_deref(),
        Some("公权力机关的全自动社会评分")
    );
    match e.register(banned.clone()) {
        Err(Error::Prohibited { id, basis }) => {
            assert_eq!(id, "social-scoring-by-public-authority");
            assert_eq!(basis.as_deref(), hit.basis.as_deref());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.stats().systems, 0);
    assert!(e.system("city-social-score").is_none());
    // An official deciding each case makes it a graded, registrable system.
    let mut lawful = banned;
    lawful.autonomy = "human_in_the_loop".into();
    assert!(e.classify(&lawful).unwrap().prohibited.is_none());
    e.register(lawful).unwrap();
    assert_eq!(e.stats().systems, 1);
}
