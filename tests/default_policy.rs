//! The default policy validates, covers what DESIGN.md section 6 asks, and grades the 12
//! realistic profiles of seeds/profiles/ as seeds/README.md argues.

use airisk::{Engine, Policy, Profile, classify};
use std::collections::BTreeMap;
use std::path::Path;

#[test]
fn default_policy_validates_and_covers_the_regulation() {
    let p = Policy::default_policy();
    let cats: Vec<&str> = p.categories().iter().map(|c| &*c.id).collect();
    for c in [
        "opacity",
        "hallucination",
        "discrimination",
        "ethics",
        "national_security",
        "network_security",
        "data_security",
        "trade_secrets",
        "personal_information",
        "consumer_rights",
        "physical_safety",
        "oversight_loss",
    ] {
        assert!(cats.contains(&c), "category {c} missing");
    }
    for c in p.categories() {
        assert!(
            c.basis.is_some() && c.name.zh.is_some() && c.name.en.is_some(),
            "{}",
            c.id
        );
    }
    let grades: Vec<&str> = p.grades().iter().map(|g| &*g.id).collect();
    assert_eq!(
        grades,
        ["low", "general", "significant", "major", "critical"]
    );
    let zh: Vec<&str> = p
        .grades()
        .iter()
        .map(|g| g.name.zh.as_deref().unwrap())
        .collect();
    assert_eq!(zh, ["低", "一般", "较大", "重大", "特别重大"]);
    let t = p.classification();
    assert!(t.sectors.entries().len() >= 20);
    for table in [
        &t.sectors,
        &t.capabilities,
        &t.data,
        &t.autonomy,
        &t.vulnerable_groups,
        &t.mitigations,
    ] {
        for f in table.entries() {
            assert!(f.basis.is_some(), "factor {} has no basis", f.id);
        }
    }
    for d in [
        "public",
        "personal",
        "sensitive_personal",
        "important",
        "core",
    ] {
        assert!(t.data.get(d).is_some(), "data class {d}");
    }
    for g in ["minors", "elderly", "patients", "disabled"] {
        assert!(t.vulnerable_groups.get(g).is_some(), "group {g}");
    }
    for f in &t.floors {
        assert!(f.basis.is_some(), "floor {}", f.id);
    }
    // Every category has at least one rule; every rule cites its basis.
    for (i, c) in p.categories().iter().enumerate() {
        assert!(
            p.rules().iter().any(|r| r.category == Some(i as u32)),
            "no rule for category {}",
            c.id
        );
    }
    for r in p.rules() {
        assert!(r.basis.is_some(), "rule {} has no basis", r.id);
    }
    assert!(p.escalation().is_some());
}

#[test]
fn thresholds_get_stricter_as_the_grade_rises() {
    let p = Policy::default_policy();
    for r in p.rules() {
        for w in r.thresholds.windows(2) {
            let (lo, hi) = (&w[0], &w[1]);
            for l in 0..4 {
                if let (Some(a), Some(b)) = (lo[l], hi[l]) {
                    let ok = match r.direction {
                        airisk::policy::Direction::Above => b <= a,
                        airisk::policy::Direction::Below => b >= a,
                    };
                    assert!(ok, "rule {} level {l}: {a} then {b}", r.id);
                }
                if lo[l].is_some() {
                    assert!(
                        hi[l].is_some(),
                        "rule {} drops level {l} at a higher grade",
                        r.id
                    );
                }
            }
        }
    }
}

#[test]
fn twelve_realistic_profiles_grade_as_argued() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/profiles");
    let expected: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    assert!(expected.len() >= 12);
    let p = Policy::default_policy();
    for (file, exp) in &expected {
        let prof = Profile::from_json(&std::fs::read_to_string(dir.join(file)).unwrap())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let c = classify(&p, &prof).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(&*c.grade, exp["grade"].as_str().unwrap(), "{file}: {c:#?}");
        assert_eq!(c.score, exp["score"].as_i64().unwrap(), "{file}");
    }
}

#[test]
fn default_policy_state_fits_the_memory_goal() {
    let e = Engine::new(Policy::default_policy());
    // Goal: ≤ 8 KiB per registered system (measured with a counting allocator in benches;
    // this is the static layout bound).
    assert!(
        e.state_bytes_per_system() <= 8 * 1024,
        "{}",
        e.state_bytes_per_system()
    );
}
