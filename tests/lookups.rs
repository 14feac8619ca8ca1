//! `Engine::lookup_signal` and `Engine::lookup_system`: the `Result` forms of
//! `Engine::signal` and `Engine::system`, whose errors suggest the name probably meant.

use airisk::{Engine, Error, Policy, Profile, SystemHandle};
use serde_json::json;

fn bus(id: &str) -> Profile {
    Profile::builder(id, "autonomous_driving", "personal", "autonomous", 20_000)
        .build()
        .unwrap()
}

#[test]
fn lookup_signal_agrees_with_signal_for_every_signal_of_the_policy() {
    let policy = Policy::default_policy();
    let engine = Engine::new(policy.clone());
    assert!(!policy.signals().is_empty());
    for s in policy.signals() {
        let id = engine.signal(&s.id).unwrap();
        assert_eq!(engine.lookup_signal(&s.id).unwrap(), id, "{}", s.id);
    }
}

#[test]
fn an_unknown_signal_is_named_with_a_suggestion_when_one_is_close() {
    let engine = Engine::new(Policy::default_policy());
    for (asked, message) in [
        (
            "interactons",
            r#"unknown signal "interactons"; did you mean "interactions"?"#,
        ),
        (
            "Heart-Beat",
            r#"unknown signal "Heart-Beat"; did you mean "heartbeat"?"#,
        ),
        (
            "hallucination",
            r#"unknown signal "hallucination"; did you mean "hallucination_flagged"?"#,
        ),
        ("weather", r#"unknown signal "weather""#),
        ("", r#"unknown signal """#),
    ] {
        assert_eq!(engine.signal(asked), None);
        match engine.lookup_signal(asked) {
            Err(e @ Error::UnknownSignal(_)) => assert_eq!(e.to_string(), message),
            other => panic!("{asked}: {other:?}"),
        }
    }
}

#[test]
fn a_signal_dropped_by_a_reload_is_unknown_and_suggestions_come_from_the_new_policy() {
    let mut doc = Policy::default_policy().source().clone();
    let engine = Engine::new(Policy::from_value(doc.clone()).unwrap());
    let model_score = engine.lookup_signal("model_score").unwrap();
    // Drop the rules using model_score, then the signal; add a signal named like it.
    let rules = doc["rules"].as_array_mut().unwrap();
    rules.retain(|r| r["signal"] != "model_score" && r["per"] != "model_score");
    let signals = doc["signals"].as_array_mut().unwrap();
    signals.retain(|s| s["id"] != "model_score");
    signals.push(json!({"id": "model_scores", "kind": "gauge"}));
    engine.reload(Policy::from_value(doc).unwrap()).unwrap();
    assert_eq!(
        engine.lookup_signal("model_score").unwrap_err().to_string(),
        r#"unknown signal "model_score"; did you mean "model_scores"?"#
    );
    assert_ne!(engine.lookup_signal("model_scores").unwrap(), model_score);
}

#[test]
fn lookup_system_agrees_with_system_and_suggests_only_live_ids() {
    let engine = Engine::new(Policy::default_policy());
    let a = engine.register(bus("bus-17")).unwrap();
    let b = engine.register(bus("tram-3")).unwrap();
    assert_eq!(engine.lookup_system("bus-17").unwrap(), a);
    assert_eq!(engine.lookup_system("tram-3").unwrap(), b);
    let message = |asked: &str| match engine.lookup_system(asked) {
        Err(e @ Error::UnknownSystemId(_)) => e.to_string(),
        other => panic!("{asked}: {other:?}"),
    };
    assert_eq!(
        message("bus-71"),
        r#"unknown system id "bus-71"; did you mean "bus-17"?"#
    );
    assert_eq!(
        message("TRAM 3"),
        r#"unknown system id "TRAM 3"; did you mean "tram-3"?"#
    );
    assert_eq!(message("ferry"), r#"unknown system id "ferry""#);
    // A deregistered system is unknown, and no longer suggested.
    engine.deregister(b).unwrap();
    assert_eq!(engine.system("tram-3"), None);
    assert_eq!(message("tram-3"), r#"unknown system id "tram-3""#);
    // Registered again, it is suggested under its new handle's id.
    let c = engine.register(bus("tram-3")).unwrap();
    assert_ne!(c, b);
    assert_eq!(
        message("tram_3x"),
        r#"unknown system id "tram_3x"; did you mean "tram-3"?"#
    );
    // Ties go to the system registered first.
    engine.register(bus("bus-18")).unwrap();
    assert_eq!(
        message("bus-1"),
        r#"unknown system id "bus-1"; did you mean "bus-17"?"#
    );
}

#[test]
fn no_suggestion_is_looked_for_among_more_than_10000_systems() {
    let engine = Engine::new(Policy::default_policy());
    for i in 0..10_000 {
        engine.register(bus(&format!("s{i:05}"))).unwrap();
    }
    assert!(
        engine
            .lookup_system("s1234")
            .unwrap_err()
            .to_string()
            .contains("did you mean")
    );
    engine.register(bus("t")).unwrap();
    assert_eq!(
        engine.lookup_system("s1234").unwrap_err().to_string(),
        r#"unknown system id "s1234""#
    );
    assert_eq!(engine.lookup_system("s01234").unwrap(), SystemHandle(1234));
}
