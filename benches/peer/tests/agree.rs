//! Before any timing: Rego and airisk give the same answers on the inputs the benchmark
//! uses (and many more), with both regorus evaluators.

use airisk::{Policy, Profile, classify};
use airisk_peer_bench::*;
use regorus::Value;

fn rego_classification(v: &Value) -> (String, u32, i64, u32, Vec<String>) {
    let s = |k: &str| v[k].as_string().unwrap().to_string();
    (
        s("grade"),
        v["grade_rank"].as_u64().unwrap() as u32,
        v["score"].as_i64().unwrap(),
        v["score_rank"].as_u64().unwrap() as u32,
        v["floors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_string().unwrap().to_string())
            .collect(),
    )
}

fn airisk_classification(policy: &Policy, p: &Profile) -> (String, u32, i64, u32, Vec<String>) {
    let c = classify(policy, p).unwrap();
    (
        c.grade.to_string(),
        c.grade_rank,
        c.score,
        c.score_grade_rank,
        c.floors.iter().map(|f| f.id.to_string()).collect(),
    )
}

fn check(policy: &Policy, rego: &mut Rego, p: &Profile) {
    let want = airisk_classification(policy, p);
    let input = profile_input(p);
    let a = rego_classification(&rego.eval_interpreter(&input));
    let b = rego_classification(&rego.eval_vm(&input));
    assert_eq!(a, want, "interpreter vs airisk on {p:?}");
    assert_eq!(b, want, "Rego VM vs airisk on {p:?}");
}

#[test]
fn classification_agrees_on_every_seed_profile() {
    let policy = Policy::default_policy();
    let mut rego = Rego::classify();
    let expected = expected();
    let seeds = seed_profiles();
    assert!(seeds.len() >= 12, "the seed profiles were read");
    for (file, p) in &seeds {
        check(&policy, &mut rego, p);
        let c = classify(&policy, p).unwrap();
        assert_eq!(
            *c.grade,
            *expected[file]["grade"].as_str().unwrap(),
            "{file}"
        );
        assert_eq!(c.score, expected[file]["score"].as_i64().unwrap(), "{file}");
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, v: &'a [String]) -> &'a String {
        &v[(self.next() % v.len() as u64) as usize]
    }
    fn some(&mut self, v: &[String], most: u64) -> Vec<String> {
        // A set: profiles refuse a value listed twice.
        let mut out: Vec<String> = Vec::new();
        for _ in 0..self.next() % (most + 1) {
            let x = self.pick(v).clone();
            if !out.contains(&x) {
                out.push(x);
            }
        }
        out
    }
}

#[test]
fn classification_agrees_on_random_profiles() {
    let policy = Policy::default_policy();
    let mut rego = Rego::classify();
    let t = policy.classification();
    let ids = |f: &airisk::policy::FactorTable| -> Vec<String> {
        f.entries().iter().map(|e| e.id.to_string()).collect()
    };
    let (sectors, caps, data, autonomy, groups, mitigations) = (
        ids(&t.sectors),
        ids(&t.capabilities),
        ids(&t.data),
        ids(&t.autonomy),
        ids(&t.vulnerable_groups),
        ids(&t.mitigations),
    );
    let users = [
        0u64,
        1,
        9_999,
        10_000,
        99_999,
        100_000,
        999_999,
        1_000_000,
        9_999_999,
        10_000_000,
        u64::MAX,
    ];
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut grades = vec![0usize; policy.grades().len()];
    let mut floors = 0usize;
    for i in 0..5_000 {
        let p = Profile {
            id: format!("random-{i}"),
            sector: r.pick(&sectors).clone(),
            capabilities: r.some(&caps, 4),
            data: r.pick(&data).clone(),
            autonomy: r.pick(&autonomy).clone(),
            users: users[(r.next() % users.len() as u64) as usize],
            vulnerable_groups: r.some(&groups, 2),
            mitigations: r.some(&mitigations, 4),
            name: None,
            operator: None,
            operator_type: None,
        };
        check(&policy, &mut rego, &p);
        let c = classify(&policy, &p).unwrap();
        grades[c.grade_rank as usize] += 1;
        floors += c.floors.len();
    }
    // The sample reaches every grade and many floors.
    assert!(grades.iter().all(|&n| n > 0), "{grades:?}");
    assert!(floors > 1_000, "{floors}");
}

fn level_sweep(rule: &str) -> usize {
    let policy = Policy::default_policy();
    let grades: Vec<String> = policy.grades().iter().map(|g| g.id.to_string()).collect();
    let ranks: Vec<u32> = (0..grades.len() as u32).collect();
    let mut probe = LevelProbe::new(rule, &ranks);
    let mut rego = Rego::level();
    let mut n = 0;
    for (g, grade) in grades.iter().enumerate() {
        for v in sweep_values(rule, grade) {
            let input = level_input(rule, grade, v);
            let want = level_name(probe.decide(g, v));
            let a = rego.eval_interpreter(&input);
            let b = rego.eval_vm(&input);
            assert_eq!(a.as_string().unwrap().as_ref(), want, "{rule} {grade} {v}");
            assert_eq!(b.as_string().unwrap().as_ref(), want, "{rule} {grade} {v}");
            n += 1;
        }
    }
    n
}

#[test]
fn level_decision_agrees_above() {
    assert!(level_sweep("hallucination-rate") > 3_000);
}

#[test]
fn level_decision_agrees_below() {
    assert!(level_sweep("selection-disparity") > 3_000);
}

#[test]
fn level_probe_reaches_every_level() {
    // The sweep is not vacuous: airisk's probe gives every level for the highest grade.
    let mut probe = LevelProbe::new("hallucination-rate", &[4]);
    let seen: std::collections::BTreeSet<_> = sweep_values("hallucination-rate", "critical")
        .into_iter()
        .map(|v| probe.decide(0, v))
        .collect();
    assert_eq!(seen.len(), 5, "{seen:?}");
}

#[test]
fn level_decision_agrees_in_steady_state() {
    // The bench's airisk path: one system per input, each always fed its own value, time
    // advancing 1 ms per observation (the window then holds many copies of that value).
    let policy = Policy::default_policy();
    let mut inputs = Vec::new();
    for (rank, g) in policy.grades().iter().enumerate() {
        for v in sweep_values("hallucination-rate", &g.id) {
            inputs.push((rank as u32, g.id.to_string(), v));
        }
    }
    let ranks: Vec<u32> = inputs.iter().map(|x| x.0).collect();
    let mut probe = LevelProbe::new("hallucination-rate", &ranks);
    let mut rego = Rego::level();
    for _round in 0..3 {
        for (k, (_, g, v)) in inputs.iter().enumerate() {
            let want = rego.eval_vm(&level_input("hallucination-rate", g, *v));
            let got = level_name(probe.observe_steady(k, *v));
            assert_eq!(want.as_string().unwrap().as_ref(), got, "{g} {v}");
        }
    }
}
