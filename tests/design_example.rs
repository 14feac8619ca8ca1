//! The example policy and profile of the original specification (`tests/data/design-*.json`)
//! load and behave as written.

use airisk::{Engine, Level, Policy, Profile, classify};

const POLICY: &str = include_str!("data/design-example.json");
const PROFILE: &str = include_str!("data/design-profile.json");

#[test]
fn the_design_policy_validates_with_one_warning() {
    let p = Policy::from_json(POLICY).unwrap();
    assert_eq!(p.grades().len(), 4);
    // Its override names `physical_safety`, which the example does not define: it can
    // never apply, which is a warning, not an error.
    assert_eq!(p.warnings().len(), 1);
    assert_eq!(p.warnings()[0].path, "responses.overrides[0].category");
    assert!(p.responses().overrides.is_empty());
}

#[test]
fn the_design_profile_classifies_by_the_formula() {
    let p = Policy::from_json(POLICY).unwrap();
    let c = classify(&p, &Profile::from_json(PROFILE).unwrap()).unwrap();
    // healthcare 3 + generative 1 + automated_decision 2 + sensitive_personal 2
    // + human_on_the_loop 1 + scale (50 000 ≥ 10 000) 1 + patients 1 + human_review −1
    assert_eq!(c.score, 10);
    assert_eq!(&*c.grade, "critical");
}

#[test]
fn the_design_rule_warns_as_its_thresholds_say() {
    let e = Engine::new(Policy::from_json(POLICY).unwrap());
    let bot = e.register(Profile::from_json(PROFILE).unwrap()).unwrap();
    let (n, k) = (
        e.signal("interactions").unwrap(),
        e.signal("hallucination_flagged").unwrap(),
    );
    // critical thresholds [0.01, 0.02, 0.05, 0.10], min_samples 200, for_ms 5 min.
    let t0 = 1_764_374_400_000i64;
    for m in 0..10 {
        let ts = t0 + m * 60_000;
        e.observe(bot, k, 3.0, ts).unwrap();
        e.observe(bot, n, 50.0, ts).unwrap(); // 6 %: orange
    }
    assert_eq!(e.system_level(bot).unwrap(), Level::Orange);
    let mut v = Vec::new();
    e.drain(&mut v);
    let t = &v[0];
    assert_eq!((t.from, t.to), (Level::None, Level::Orange));
    // Raised after 5 minutes of orange being met, once 200 interactions are in the window.
    assert_eq!(t.ts, t0 + 3 * 60_000 + 300_000);
    assert_eq!(t.threshold, Some(0.05));
    assert_eq!(t.report_within_s, Some(14400));
    assert_eq!(
        t.actions.iter().map(|a| a.name()).collect::<Vec<_>>(),
        ["notify_operator", "human_review", "throttle"]
    );
}
