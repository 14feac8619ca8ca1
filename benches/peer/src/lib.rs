//! airisk side by side with regorus (Microsoft's Rust Rego): the same policy numbers, the
//! same inputs, two implementations.
//!
//! - [`Rego`] loads `rego/classify.rego` or `rego/level.rego` with the default policy
//!   (`seeds/policy/default.json`, read at run time, numbers never copied) as Rego data, and
//!   evaluates it two ways regorus offers: the interpreter (`Engine::eval_rule`) and the
//!   Rego VM (`RegoVM::execute` on a program compiled for the entry point).
//! - [`LevelProbe`] makes airisk take the same level decision on its real code path: an
//!   engine whose policy is the default one with the rule under test turned into a
//!   timer-free rule on a gauge with a one-bucket `max` window, one registered system per
//!   input, and `Engine::observe` — which adds the value to the window, aggregates it, runs
//!   the rule's state machine and returns the system's level. With `for_ms`,
//!   `clear_for_ms` and `hysteresis` at 0, that level is exactly "the highest level whose
//!   threshold is met", the decision the Rego rule takes.

use airisk::{Engine, Level, Policy, Profile, SignalId, SystemHandle};
use regorus::Value;
use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::vm::RegoVM;
use std::path::{Path, PathBuf};

/// The airisk repository root (this package lives in `benches/peer`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `seeds/policy/default.json`, parsed.
pub fn default_policy_json() -> serde_json::Value {
    let text = std::fs::read_to_string(root().join("seeds/policy/default.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Rego data: `{"airisk": {"policy": <default.json as is>, "rules": {<rule id>: <rule>}}}`.
/// Rules are keyed by id (OPA's guidance: prefer objects to arrays) so a query looks its
/// rule up instead of scanning; nothing else is changed.
pub fn rego_data() -> Value {
    let doc = default_policy_json();
    let rules: serde_json::Map<String, serde_json::Value> = doc["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_owned(), r.clone()))
        .collect();
    Value::from(serde_json::json!({"airisk": {"policy": doc, "rules": rules}}))
}

/// A Rego policy loaded into regorus, ready to evaluate one entry point.
pub struct Rego {
    engine: regorus::Engine,
    vm: RegoVM,
    entry: String,
}

impl Rego {
    fn load(file: &str, entry: &str) -> Rego {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("rego")
                .join(file),
        )
        .unwrap();
        let mut engine = regorus::Engine::new();
        engine.add_policy(file.to_owned(), text).unwrap();
        engine.add_data(rego_data()).unwrap();
        let compiled = engine
            .compile_with_entrypoint(&entry.into())
            .expect("compile for the Rego VM");
        let program = Compiler::compile_from_policy(&compiled, &[entry]).expect("RVM program");
        let mut vm = RegoVM::new();
        vm.load_program(program);
        vm.set_data(rego_data()).unwrap();
        Rego {
            engine,
            vm,
            entry: entry.to_owned(),
        }
    }

    /// `rego/classify.rego`, entry point `data.airisk.classify.result`.
    pub fn classify() -> Rego {
        Rego::load("classify.rego", "data.airisk.classify.result")
    }

    /// `rego/level.rego`, entry point `data.airisk.level.level`.
    pub fn level() -> Rego {
        Rego::load("level.rego", "data.airisk.level.level")
    }

    /// Evaluates with regorus's interpreter: `set_input` (an `Rc` clone of the prepared
    /// input) and `eval_rule`.
    pub fn eval_interpreter(&mut self, input: &Value) -> Value {
        self.engine.set_input(input.clone());
        self.engine.eval_rule(self.entry.clone()).unwrap()
    }

    /// Evaluates with the Rego VM: `set_input` and `execute`.
    pub fn eval_vm(&mut self, input: &Value) -> Value {
        self.vm.set_input(input.clone());
        self.vm.execute().unwrap()
    }
}

/// A profile as Rego input (prepared once, outside any timed loop).
pub fn profile_input(p: &Profile) -> Value {
    Value::from(serde_json::to_value(p).unwrap())
}

/// A level decision's Rego input.
pub fn level_input(rule: &str, grade: &str, value: f64) -> Value {
    Value::from(serde_json::json!({"rule": rule, "grade": grade, "value": value}))
}

/// The 12 seed profiles with their file names, sorted.
pub fn seed_profiles() -> Vec<(String, Profile)> {
    let dir = root().join("seeds/profiles");
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|f| f.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "expected.json")
        .collect();
    v.sort();
    v.iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                Profile::from_json(&std::fs::read_to_string(p).unwrap()).unwrap(),
            )
        })
        .collect()
}

/// `seeds/profiles/expected.json`.
pub fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(root().join("seeds/profiles/expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The default policy with rule `rule_id` turned into a timer-free rule on a new gauge
/// `probe_value`: aggregate `max` over one bucket, no `min_samples`, `for_ms`,
/// `clear_for_ms`, `hysteresis`, `wilson_z` or `per`; same id, category, basis, direction
/// and thresholds. It is the only rule; escalation is removed (one rule cannot escalate).
pub fn probe_policy(rule_id: &str) -> Policy {
    let mut doc = default_policy_json();
    let bucket = doc["bucket_ms"].as_i64().unwrap_or(60_000);
    let mut rule = doc["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == rule_id)
        .unwrap_or_else(|| panic!("no rule {rule_id} in the default policy"))
        .clone();
    let o = rule.as_object_mut().unwrap();
    for k in [
        "per",
        "wilson_z",
        "min_samples",
        "for_ms",
        "clear_for_ms",
        "hysteresis",
        "on_empty",
    ] {
        o.remove(k);
    }
    o.insert("signal".into(), "probe_value".into());
    o.insert("aggregate".into(), "max".into());
    o.insert("window_ms".into(), bucket.into());
    doc["signals"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"id": "probe_value", "kind": "gauge"}));
    doc["rules"] = serde_json::json!([rule]);
    doc.as_object_mut().unwrap().remove("escalation");
    Policy::from_value(doc).unwrap()
}

/// A seed profile of each grade of the default ladder (rank → profile), from the seeds.
pub fn profile_of_each_grade(policy: &Policy) -> Vec<Profile> {
    let seeds = seed_profiles();
    (0..policy.grades().len() as u32)
        .map(|rank| {
            seeds
                .iter()
                .map(|(_, p)| p)
                .find(|p| airisk::classify(policy, p).unwrap().grade_rank == rank)
                .unwrap_or_else(|| panic!("no seed profile of grade rank {rank}"))
                .clone()
        })
        .collect()
}

/// airisk taking the level decision of one rule on its real path, `Engine::observe` (see
/// the crate docs). System `i` is registered with a profile of grade `grades[i]`.
pub struct LevelProbe {
    /// The engine (default policy with the probe rule).
    pub engine: Engine,
    /// The gauge the probe rule reads.
    pub signal: SignalId,
    /// One system per entry of `grades` given to [`LevelProbe::new`].
    pub systems: Vec<SystemHandle>,
    bucket_ms: i64,
    now: i64,
}

/// Start of the probes' clock.
pub const T0: i64 = 1_764_374_400_000;

impl LevelProbe {
    /// An engine for rule `rule_id` with one system per entry of `grades` (grade ranks).
    pub fn new(rule_id: &str, grades: &[u32]) -> LevelProbe {
        let policy = probe_policy(rule_id);
        let by_grade = profile_of_each_grade(&policy);
        let bucket_ms = policy.bucket_ms();
        let engine = Engine::new(policy);
        let systems = grades
            .iter()
            .enumerate()
            .map(|(i, &g)| {
                let mut p = by_grade[g as usize].clone();
                p.id = format!("probe-{i}");
                engine.register(p).unwrap()
            })
            .collect();
        let signal = engine.signal("probe_value").unwrap();
        LevelProbe {
            engine,
            signal,
            systems,
            bucket_ms,
            now: T0,
        }
    }

    /// Observes `value` on system `i` at the start of the bucket after the previous
    /// observation's, so the one-bucket window holds only this value whatever came before;
    /// returns the system's level. Every call rolls the window over.
    #[inline]
    pub fn decide(&mut self, i: usize, value: f64) -> Level {
        self.now = (self.now.div_euclid(self.bucket_ms) + 1) * self.bucket_ms;
        self.engine
            .observe(self.systems[i], self.signal, value, self.now)
            .unwrap()
    }

    /// Observes `value` on system `i` 1 ms after the previous observation (a new bucket
    /// once in `bucket_ms` calls): airisk's steady state. The window's `max` is `value`
    /// only when system `i` is always fed the same value, as the benchmark does.
    #[inline]
    pub fn observe_steady(&mut self, i: usize, value: f64) -> Level {
        self.now += 1;
        self.engine
            .observe(self.systems[i], self.signal, value, self.now)
            .unwrap()
    }
}

/// A level's name as the Rego rule returns it.
pub fn level_name(l: Level) -> &'static str {
    match l {
        Level::None => "none",
        Level::Blue => "blue",
        Level::Yellow => "yellow",
        Level::Orange => "orange",
        Level::Red => "red",
    }
}

/// Thresholds of `rule_id` for grade `grade` in the default policy document.
pub fn thresholds(rule_id: &str, grade: &str) -> Vec<Option<f64>> {
    let doc = default_policy_json();
    let rule = doc["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == rule_id)
        .unwrap()
        .clone();
    rule["thresholds"][grade]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64())
        .collect()
}

/// The sweep of values for a rule and grade: every threshold, its neighbouring doubles
/// and ±1e-9 around it, a grid from −0.05 to 1.5 in steps of 0.0025, and a few extremes.
pub fn sweep_values(rule_id: &str, grade: &str) -> Vec<f64> {
    let mut v = vec![0.0, -0.0, -1.0, 1e-300, 1e300, f64::MAX, f64::MIN_POSITIVE];
    for t in thresholds(rule_id, grade).into_iter().flatten() {
        v.extend([
            t,
            f64::from_bits(t.to_bits() + 1),
            f64::from_bits(t.to_bits() - 1),
            t + 1e-9,
            t - 1e-9,
        ]);
    }
    v.extend((-20..=600).map(|i| i as f64 * 0.0025));
    v
}
