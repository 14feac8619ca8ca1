use airisk::{Engine, Level, Policy, Profile, ReportKind};

fn main() -> Result<(), airisk::Error> {
    // The default policy is compiled into the library; Policy::from_json loads another.
    let engine = Engine::new(Policy::default_policy());

    // A profile describes one AI application: built in code, or parsed with Profile::from_json.
    let profile = Profile::builder(
        "triage-bot",
        "healthcare_clinical",
        "sensitive_personal",
        "human_on_the_loop",
        150_000,
    )
    .capability("generative")
    .capability("automated_decision")
    .vulnerable_group("patients")
    .build()?;

    // Classifying explains the grade; registering classifies the system and fixes its grade
    // (and so its thresholds).
    let explanation = engine.classify(&profile)?;
    println!("grade {} (score {})", explanation.grade, explanation.score);
    for f in &explanation.factors {
        println!("  {:?} {}: {:+}", f.kind, f.id, f.points);
    }
    let bot = engine.register(profile)?;

    // Signals are looked up once by name; observing uses the ids (no string hashing).
    let interactions = engine.lookup_signal("interactions")?;
    let flagged = engine.lookup_signal("hallucination_flagged")?;

    // One 5-minute period per step: 100 answers, 12 of them flagged as hallucinated, sent
    // together (observe_many applies both, then evaluates the rate once).
    let t0 = 1_764_374_400_000; // ms, your clock: the engine never reads one
    let mut level = Level::None;
    for step in 0..12 {
        let ts = t0 + step * 300_000;
        level = engine.observe_many(bot, &[(interactions, 100.0), (flagged, 12.0)], ts)?;
    }
    assert_eq!(level, Level::Orange); // 12% ≥ the orange threshold of a 重大 (major) system

    // Transitions wait in a bounded queue (or go to a sink: Engine::set_sink).
    let mut out = Vec::new();
    engine.drain(&mut out);
    for t in &out {
        println!("{}", t.to_json()); // one JSON line each
    }
    let last = out
        .iter()
        .rev()
        .find(|t| t.rule_id.is_some())
        .expect("a rule transition");
    assert!(last.actions.iter().any(|a| a.name() == "throttle"));

    // Orange opened an incident: serious (较大), so reportable, the initial report due 4 h on.
    let mut incidents = Vec::new();
    engine.drain_incidents(&mut incidents);
    let opened = &incidents[0];
    assert_eq!(&*opened.incident, "triage-bot/hallucination/1");
    let due = opened.due.expect("an initial report is owed");
    assert_eq!(due.by, opened.ts + 4 * 3_600_000);
    engine.file_report(
        &opened.incident,
        ReportKind::Initial,
        t0 + 3_600_000,
        "CAC-2025-0042",
    )?;
    assert_eq!(engine.stats().observed, 24);
    Ok(())
}
