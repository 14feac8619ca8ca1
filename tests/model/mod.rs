//! A deliberately naive model of DESIGN.md sections 1–6 (evaluation semantics), for
//! comparing the engine with the contract rather than with itself.
//!
//! Nothing here is fast or clever, on purpose:
//! - every accepted observation is kept in a plain list per (system, signal), forever;
//! - every aggregate is recomputed from that list at every evaluation (no rings, no window
//!   caches, no arena, no shortcut for quiet rules);
//! - the policy is read from its JSON document by this module ([`ModelPolicy::parse`]), not
//!   through the engine's compiled form, so a mistake in the engine's compilation shows up.
//!
//! The only things taken from the crate are plain vocabulary types of its root
//! (`Level`, `Actions`, `Action`, `Scope`, and `Transition` to convert the engine's output
//! into the model's comparable form).
//!
//! # Layout (where later sections plug in)
//! - [`ModelPolicy`]: the parsed document. New policy sections (incidents §7, inhibitions §8,
//!   detector parameters §9) become fields here.
//! - [`Model`]: the operations of the API, one method each ([`Model::register`],
//!   [`Model::observe`], [`Model::tick`]); reload and batches (§10) become methods beside them.
//! - [`SystemState`]: everything the model knows about one system (observations, watermarks,
//!   one [`RuleState`] per rule, the system level). Incidents and silences (§7, §8) become
//!   fields here.
//! - [`Model::evaluate`]: one evaluation of a list of rules of one system — rule transitions
//!   in order, then the system-scope transition. It returns an [`Output`], where incident
//!   events (§7) would be appended in their documented order.
//! - [`Model::aggregate`]: one rule's value, recomputed from scratch — one match arm per
//!   aggregate, where the detectors of §9 add theirs.
//! - [`step`]: the per (system × rule) state machine.
#![allow(dead_code)]

pub mod generate;

use airisk::{Actions, Level, Scope};
use serde_json::Value;
use std::collections::HashMap;

/// "`none` < `blue` (IV) < `yellow` (III) < `orange` (II) < `red` (I)": the four warning
/// levels in threshold order (index 0 = blue).
pub const WARNINGS: [Level; 4] = [Level::Blue, Level::Yellow, Level::Orange, Level::Red];

// ---------------------------------------------------------------------------------------
// The policy document (DESIGN.md §2), as the model reads it.
// ---------------------------------------------------------------------------------------

/// "`count` (observations), `sum`, `mean`, `max`, `min`, `rate` (sum of `signal` / sum of
/// `per`, both over the same window), `silence_ms`".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Count,
    Sum,
    Mean,
    Max,
    Min,
    Rate,
    SilenceMs,
}

/// A signal: "`kind` is `counter` (each observation adds its value, usually 1) or `gauge`".
#[derive(Debug, Clone)]
pub struct ModelSignal {
    pub id: String,
    pub counter: bool,
}

/// A rule, with the defaults of §2 filled in: "`direction` "above", `min_samples` 0,
/// `for_ms` 0, `clear_for_ms` 0, `hysteresis` 0, `on_empty` "hold"".
#[derive(Debug, Clone)]
pub struct ModelRule {
    pub id: String,
    pub category: Option<String>,
    pub basis: Option<String>,
    pub signal: usize,
    pub per: Option<usize>,
    pub aggregate: Aggregate,
    /// `n = window_ms / bucket_ms` (0 for `silence_ms`, which takes no window).
    pub window_buckets: i64,
    pub min_samples: f64,
    pub above: bool,
    /// Per grade rank: T for blue, yellow, orange, red (`None` = level unused).
    pub thresholds: Vec<[Option<f64>; 4]>,
    pub for_ms: i64,
    pub clear_for_ms: i64,
    pub hysteresis: f64,
    pub clear_on_empty: bool,
    pub wilson_z: Option<f64>,
}

impl ModelRule {
    /// "every rule whose `signal` or `per` is x".
    pub fn reads(&self, signal: usize) -> bool {
        self.signal == signal || self.per == Some(signal)
    }
}

/// "with `escalation`, when at least `min_categories` distinct categories have a rule at
/// ≥ `at_least`, the system level is raised by `raise_by` (capped at red)".
#[derive(Debug, Clone, Copy)]
pub struct ModelEscalation {
    pub min_categories: usize,
    pub at_least: Level,
    pub raise_by: u32,
}

/// A response: actions and `report_within_s`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelResponse {
    pub actions: Actions,
    pub report_within_s: Option<i64>,
}

/// A floor of the classification: "`when` holds when every key in it holds".
#[derive(Debug, Clone)]
pub struct ModelFloor {
    pub when: serde_json::Map<String, Value>,
    pub grade: usize,
}

/// The parsed policy document.
#[derive(Debug, Clone)]
pub struct ModelPolicy {
    pub bucket_ms: i64,
    /// Grade ids and `min_score`s, lowest first.
    pub grades: Vec<(String, Option<i64>)>,
    /// `classification.<table>[id]` points, for sectors, capabilities, data, autonomy,
    /// vulnerable_groups, mitigations.
    pub tables: HashMap<String, HashMap<String, i64>>,
    /// `classification.scale`: (min_users, score), increasing.
    pub scale: Vec<(u64, i64)>,
    pub floors: Vec<ModelFloor>,
    pub signals: Vec<ModelSignal>,
    pub rules: Vec<ModelRule>,
    pub escalation: Option<ModelEscalation>,
    /// `responses.levels`, blue to red (absent = no actions, null deadline).
    pub levels: [ModelResponse; 4],
    /// `responses.overrides`: (category, level, response).
    pub overrides: Vec<(String, Level, ModelResponse)>,
    /// B per signal: "the largest n of any rule using the signal as `signal` or `per` (1 if
    /// no windowed rule uses it)".
    pub ring: Vec<i64>,
}

fn s(v: &Value) -> String {
    v.as_str().expect("a string").to_owned()
}

fn parse_actions(v: Option<&Value>) -> Actions {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| airisk::Action::from_name(x.as_str().unwrap()).expect("known action"))
                .collect()
        })
        .unwrap_or(Actions::EMPTY)
}

fn parse_response(v: &Value) -> ModelResponse {
    ModelResponse {
        actions: parse_actions(v.get("actions")),
        report_within_s: v.get("report_within_s").and_then(Value::as_i64),
    }
}

impl ModelPolicy {
    /// Reads a policy document. The document is assumed valid (the engine validates it; the
    /// generator only makes valid ones): this parser fills in defaults and panics on
    /// anything it does not understand.
    pub fn parse(doc: &Value) -> ModelPolicy {
        let bucket_ms = doc
            .get("bucket_ms")
            .and_then(Value::as_i64)
            .unwrap_or(60_000);
        let grades: Vec<(String, Option<i64>)> = doc["grades"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (s(&g["id"]), g.get("min_score").and_then(Value::as_i64)))
            .collect();
        let grade_rank = |id: &str| grades.iter().position(|(g, _)| g == id).unwrap();
        let cls = &doc["classification"];
        let mut tables = HashMap::new();
        for t in [
            "sectors",
            "capabilities",
            "data",
            "autonomy",
            "vulnerable_groups",
            "mitigations",
        ] {
            let mut m = HashMap::new();
            if let Some(o) = cls.get(t).and_then(Value::as_object) {
                for (k, v) in o {
                    let points = v.as_i64().or_else(|| v["score"].as_i64()).unwrap();
                    m.insert(k.clone(), points);
                }
            }
            tables.insert(t.to_owned(), m);
        }
        let scale = cls
            .get("scale")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            e["min_users"].as_u64().unwrap(),
                            e["score"].as_i64().unwrap(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let floors = cls
            .get("floors")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|f| ModelFloor {
                        when: f["when"].as_object().unwrap().clone(),
                        grade: grade_rank(f["grade"].as_str().unwrap()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let signals: Vec<ModelSignal> = doc["signals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| ModelSignal {
                id: s(&x["id"]),
                counter: x["kind"] == "counter",
            })
            .collect();
        let signal_ix = |v: &Value| {
            signals
                .iter()
                .position(|x| x.id == v.as_str().unwrap())
                .expect("known signal")
        };
        let rules: Vec<ModelRule> = doc["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let aggregate = match r["aggregate"].as_str().unwrap() {
                    "count" => Aggregate::Count,
                    "sum" => Aggregate::Sum,
                    "mean" => Aggregate::Mean,
                    "max" => Aggregate::Max,
                    "min" => Aggregate::Min,
                    "rate" => Aggregate::Rate,
                    "silence_ms" => Aggregate::SilenceMs,
                    other => panic!("unknown aggregate {other}"),
                };
                let above = r.get("direction").is_none_or(|d| d == "above");
                let mut thresholds = vec![[None; 4]; grades.len()];
                for (g, row) in r["thresholds"].as_object().unwrap() {
                    let row = row.as_array().unwrap();
                    for (i, t) in row.iter().enumerate() {
                        thresholds[grade_rank(g)][i] = t.as_f64();
                    }
                }
                let ms = |k: &str| r.get(k).and_then(Value::as_i64).unwrap_or(0);
                ModelRule {
                    id: s(&r["id"]),
                    category: r.get("category").map(s),
                    basis: r.get("basis").map(s),
                    signal: signal_ix(&r["signal"]),
                    per: r.get("per").map(signal_ix),
                    aggregate,
                    window_buckets: r
                        .get("window_ms")
                        .and_then(Value::as_i64)
                        .map_or(0, |w| w / bucket_ms),
                    min_samples: r.get("min_samples").and_then(Value::as_u64).unwrap_or(0) as f64,
                    above,
                    thresholds,
                    for_ms: ms("for_ms"),
                    clear_for_ms: ms("clear_for_ms"),
                    hysteresis: r.get("hysteresis").and_then(Value::as_f64).unwrap_or(0.0),
                    clear_on_empty: r.get("on_empty").is_some_and(|o| o == "clear"),
                    wilson_z: r.get("wilson_z").and_then(Value::as_f64),
                }
            })
            .collect();
        let escalation = doc.get("escalation").map(|e| ModelEscalation {
            min_categories: e["min_categories"].as_u64().unwrap() as usize,
            at_least: Level::from_name(e["at_least"].as_str().unwrap()).unwrap(),
            raise_by: e.get("raise_by").and_then(Value::as_u64).unwrap_or(1) as u32,
        });
        let mut levels = [ModelResponse::default(); 4];
        let mut overrides = Vec::new();
        if let Some(resp) = doc.get("responses") {
            for (i, l) in WARNINGS.iter().enumerate() {
                if let Some(r) = resp.get("levels").and_then(|x| x.get(l.name())) {
                    levels[i] = parse_response(r);
                }
            }
            for o in resp
                .get("overrides")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                overrides.push((
                    s(&o["category"]),
                    Level::from_name(o["level"].as_str().unwrap()).unwrap(),
                    parse_response(o),
                ));
            }
        }
        let ring = (0..signals.len())
            .map(|x| {
                rules
                    .iter()
                    .filter(|r| r.reads(x))
                    .map(|r| r.window_buckets)
                    .fold(1, i64::max)
            })
            .collect();
        ModelPolicy {
            bucket_ms,
            grades,
            tables,
            scale,
            floors,
            signals,
            rules,
            escalation,
            levels,
            overrides,
            ring,
        }
    }

    /// "bucket index = `ts_ms.div_euclid(bucket_ms)`".
    pub fn bucket(&self, ts: i64) -> i64 {
        ts.div_euclid(self.bucket_ms)
    }

    /// "A transition carries the response of its new level: `responses.levels[level]`,
    /// replaced by an `overrides` entry whose category and level match. A transition to
    /// `none` carries no actions."
    pub fn response(&self, level: Level, category: Option<&str>) -> ModelResponse {
        let Some(i) = WARNINGS.iter().position(|l| *l == level) else {
            return ModelResponse::default();
        };
        if let Some(c) = category {
            if let Some((_, _, r)) = self
                .overrides
                .iter()
                .find(|(oc, ol, _)| oc == c && *ol == level)
            {
                return *r;
            }
        }
        self.levels[i]
    }

    /// The grade rank of a profile (§2 "Classification"): score = the sum of the points of
    /// its sector, capabilities, data, autonomy, scale step, vulnerable groups and
    /// mitigations; "score grade = the last grade whose `min_score` ≤ score, else the first
    /// grade"; "grade = max(score grade, grade of every floor that holds)". `None` when the
    /// profile names something the policy does not define.
    pub fn classify(&self, p: &Value) -> Option<usize> {
        let one = |t: &str, k: &str| self.tables[t].get(p.get(k)?.as_str()?).copied();
        let list = |t: &str, k: &str| -> Option<i64> {
            let mut sum = 0;
            for x in p.get(k).and_then(Value::as_array).into_iter().flatten() {
                sum += self.tables[t].get(x.as_str()?)?;
            }
            Some(sum)
        };
        let users = p.get("users")?.as_u64()?;
        let scale = self
            .scale
            .iter()
            .rev()
            .find(|(min, _)| *min <= users)
            .map_or(0, |(_, s)| *s);
        let score = one("sectors", "sector")?
            + list("capabilities", "capabilities")?
            + one("data", "data")?
            + one("autonomy", "autonomy")?
            + scale
            + list("vulnerable_groups", "vulnerable_groups")?
            + list("mitigations", "mitigations")?;
        let mut grade = self
            .grades
            .iter()
            .rposition(|(_, min)| min.is_some_and(|m| m <= score))
            .unwrap_or(0);
        for f in &self.floors {
            let holds = f.when.iter().all(|(k, v)| {
                if k == "min_users" {
                    return users >= v.as_u64().unwrap();
                }
                let allowed: Vec<&str> = v
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap())
                    .collect();
                match p.get(k.as_str()) {
                    Some(Value::String(x)) => allowed.contains(&x.as_str()),
                    Some(Value::Array(xs)) => xs
                        .iter()
                        .any(|x| allowed.contains(&x.as_str().unwrap_or(""))),
                    _ => false,
                }
            });
            if holds {
                grade = grade.max(f.grade);
            }
        }
        Some(grade)
    }
}

// ---------------------------------------------------------------------------------------
// State.
// ---------------------------------------------------------------------------------------

/// One accepted observation.
#[derive(Debug, Clone, Copy)]
pub struct Obs {
    pub ts: i64,
    pub value: f64,
}

/// The state machine of one (system × rule) (§2 "Levels, thresholds and the state machine").
#[derive(Debug, Clone, Copy, Default)]
pub struct RuleState {
    /// C, the current level.
    pub level: Level,
    /// "for each level L the engine remembers since when `met(L, v)` has been true at every
    /// evaluation" (blue..red; `None` = not met at the last evaluation).
    pub met_since: [Option<i64>; 4],
    /// Since when D < C has held at every evaluation (`None` = it did not at the last one).
    pub below_since: Option<i64>,
}

/// Everything the model knows about one registered system.
#[derive(Debug, Clone)]
pub struct SystemState {
    pub id: String,
    pub grade: usize,
    /// "the largest ts it has seen (from an observation of any of its signals, or from
    /// `tick`)".
    pub watermark: Option<i64>,
    /// The first watermark (for `silence_ms` before any observation of the signal).
    pub first_watermark: Option<i64>,
    /// Every accepted observation, per signal, in arrival order. Never pruned.
    pub obs: Vec<Vec<Obs>>,
    pub rules: Vec<RuleState>,
    /// "A system's level is the highest level of its rules" (plus escalation).
    pub level: Level,
}

/// Why the model refused an operation. The harness compares these with the engine's
/// `Error` variants by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// "An observation whose bucket is `≤ idx(w) - B` is rejected as stale".
    Stale,
    /// "Values must be finite; counters must be ≥ 0."
    Value,
    /// A handle or signal id the engine does not know.
    Unknown,
    /// A second system with the same id.
    Duplicate,
    /// A profile that names something the policy does not define.
    Profile,
}

/// A transition, in a form both the model and the engine's output convert to, compared
/// field for field. (`system` and `grade` are the handle and rank; their ids are compared
/// too.)
#[derive(Debug, Clone)]
pub struct Tr {
    pub seq: u64,
    pub ts: i64,
    pub scope: Scope,
    pub system: u32,
    pub system_id: String,
    pub grade: u32,
    pub grade_id: String,
    pub rule: Option<u32>,
    pub rule_id: Option<String>,
    pub category: Option<String>,
    pub from: Level,
    pub to: Level,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub actions: Actions,
    pub report_within_s: Option<i64>,
    pub basis: Option<String>,
}

impl From<&airisk::Transition> for Tr {
    fn from(t: &airisk::Transition) -> Tr {
        Tr {
            seq: t.seq,
            ts: t.ts,
            scope: t.scope,
            system: t.system.0,
            system_id: t.system_id.to_string(),
            grade: t.grade,
            grade_id: t.grade_id.to_string(),
            rule: t.rule,
            rule_id: t.rule_id.as_deref().map(str::to_owned),
            category: t.category.as_deref().map(str::to_owned),
            from: t.from,
            to: t.to,
            value: t.value,
            threshold: t.threshold,
            actions: t.actions,
            report_within_s: t.report_within_s,
            basis: t.basis.as_deref().map(str::to_owned),
        }
    }
}

/// What one operation emitted, in emission order. (Incident events, §7, would get their own
/// list here.)
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub transitions: Vec<Tr>,
}

/// Counters comparable with `Engine::stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub observed: u64,
    pub rejected_stale: u64,
    /// Non-finite values, negative counters, unknown handles or signals.
    pub rejected_invalid: u64,
}

/// What a rule's aggregate gave at one evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Eval {
    Value(f64),
    /// "The value is *undefined* when ...".
    Undefined,
    /// `on_empty: "clear"` and "a window with no observations of its signal (nor of `per`)".
    Empty,
}

/// Plain window aggregates of one signal (recomputed from the observation list).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

/// The model: a policy, the registered systems (handle = index), and `seq`.
#[derive(Debug, Clone)]
pub struct Model {
    pub policy: ModelPolicy,
    pub systems: Vec<SystemState>,
    /// The last `seq` used: "`seq` starts at 1 and grows by 1 for every transition an
    /// engine emits".
    pub seq: u64,
    pub counters: Counters,
}

impl Model {
    pub fn new(doc: &Value) -> Model {
        Model {
            policy: ModelPolicy::parse(doc),
            systems: Vec::new(),
            seq: 0,
            counters: Counters::default(),
        }
    }

    /// `register`: classify, fix the grade; handles are dense from 0 in registration order.
    /// "registering moves no clock".
    pub fn register(&mut self, profile: &Value) -> Result<u32, Reject> {
        let grade = self.policy.classify(profile).ok_or(Reject::Profile)?;
        let id = profile["id"].as_str().ok_or(Reject::Profile)?.to_owned();
        if self.systems.iter().any(|s| s.id == id) {
            return Err(Reject::Duplicate);
        }
        self.systems.push(SystemState {
            id,
            grade,
            watermark: None,
            first_watermark: None,
            obs: vec![Vec::new(); self.policy.signals.len()],
            rules: vec![RuleState::default(); self.policy.rules.len()],
            level: Level::None,
        });
        Ok(self.systems.len() as u32 - 1)
    }

    /// `observe(s, x, value, ts)`.
    ///
    /// - "Values must be finite; counters must be ≥ 0." (checked first: an invalid value is
    ///   invalid whatever its time);
    /// - "An observation whose bucket is `≤ idx(w) - B` is rejected as stale; it changes
    ///   nothing. [...] A system with no watermark yet rejects nothing as stale."
    /// - "A late observation inside the ring is added to its own bucket" (here: it is kept
    ///   in the list with its own ts);
    /// - "Observing `(s, x)` evaluates, for system s, every rule whose `signal` or `per` is
    ///   x, at time w (after the observation is applied), in rule declaration order."
    ///
    /// Returns the system's level afterwards, and what the evaluation emitted.
    pub fn observe(
        &mut self,
        h: u32,
        signal: usize,
        value: f64,
        ts: i64,
        out: &mut Output,
    ) -> Result<Level, Reject> {
        let p = &self.policy;
        if h as usize >= self.systems.len() || signal >= p.signals.len() {
            self.counters.rejected_invalid += 1;
            return Err(Reject::Unknown);
        }
        if !value.is_finite() || (p.signals[signal].counter && value < 0.0) {
            self.counters.rejected_invalid += 1;
            return Err(Reject::Value);
        }
        let sys = &mut self.systems[h as usize];
        if let Some(w) = sys.watermark {
            if p.bucket(ts) <= p.bucket(w) - p.ring[signal] {
                self.counters.rejected_stale += 1;
                return Err(Reject::Stale);
            }
        }
        self.counters.observed += 1;
        sys.obs[signal].push(Obs { ts, value });
        sys.watermark = Some(sys.watermark.map_or(ts, |w| w.max(ts)));
        sys.first_watermark.get_or_insert(ts);
        let rules: Vec<usize> = (0..p.rules.len())
            .filter(|&r| p.rules[r].reads(signal))
            .collect();
        self.evaluate(h, &rules, out);
        Ok(self.systems[h as usize].level)
    }

    /// "`tick(now)` raises every registered system's watermark to `now` (never lowers it),
    /// then evaluates every rule of every system at its own watermark, systems in
    /// registration order."
    pub fn tick(&mut self, now: i64, out: &mut Output) {
        for sys in &mut self.systems {
            sys.watermark = Some(sys.watermark.map_or(now, |w| w.max(now)));
            sys.first_watermark.get_or_insert(now);
        }
        let all: Vec<usize> = (0..self.policy.rules.len()).collect();
        for h in 0..self.systems.len() as u32 {
            self.evaluate(h, &all, out);
        }
    }

    /// One evaluation of `rules` (declaration order) for system `h` at its watermark: each
    /// rule's aggregate and state machine, a rule-scope transition per change of level, then
    /// "Every change of a system's level emits a system-scope transition (no rule, no
    /// category), after the rule transitions of the same evaluation."
    pub fn evaluate(&mut self, h: u32, rules: &[usize], out: &mut Output) {
        let w = self.systems[h as usize]
            .watermark
            .expect("evaluated with a watermark");
        for &r in rules {
            let eval = self.aggregate(h, r);
            let p = &self.policy;
            let rule = &p.rules[r];
            let sys = &mut self.systems[h as usize];
            let t = &rule.thresholds[sys.grade];
            if let Some((from, to, value)) = step(rule, t, &mut sys.rules[r], w, eval) {
                let resp = p.response(to, rule.category.as_deref());
                self.seq += 1;
                out.transitions.push(Tr {
                    seq: self.seq,
                    ts: w,
                    scope: Scope::Rule,
                    system: h,
                    system_id: sys.id.clone(),
                    grade: sys.grade as u32,
                    grade_id: p.grades[sys.grade].0.clone(),
                    rule: Some(r as u32),
                    rule_id: Some(rule.id.clone()),
                    category: rule.category.clone(),
                    from,
                    to,
                    value,
                    // "`threshold` is T of the new level (null for none)".
                    threshold: threshold_of(t, to),
                    actions: resp.actions,
                    report_within_s: resp.report_within_s,
                    basis: rule.basis.clone(),
                });
            }
        }
        let level = self.system_level(h);
        let sys = &self.systems[h as usize];
        if level != sys.level {
            let resp = self.system_response(h, level);
            self.seq += 1;
            out.transitions.push(Tr {
                seq: self.seq,
                ts: w,
                scope: Scope::System,
                system: h,
                system_id: sys.id.clone(),
                grade: sys.grade as u32,
                grade_id: self.policy.grades[sys.grade].0.clone(),
                rule: None,
                rule_id: None,
                category: None,
                from: sys.level,
                to: level,
                value: None,
                threshold: None,
                actions: resp.actions,
                report_within_s: resp.report_within_s,
                basis: None,
            });
            self.systems[h as usize].level = level;
        }
    }

    /// "A system's level is the highest level of its rules. With `escalation`, when at least
    /// `min_categories` distinct categories have a rule at ≥ `at_least`, the system level is
    /// raised by `raise_by` (capped at red)."
    pub fn system_level(&self, h: u32) -> Level {
        let sys = &self.systems[h as usize];
        let mut level = sys
            .rules
            .iter()
            .map(|r| r.level)
            .max()
            .unwrap_or(Level::None);
        if let Some(e) = self.policy.escalation {
            let mut cats: Vec<&str> = Vec::new();
            for (r, st) in self.policy.rules.iter().zip(&sys.rules) {
                if st.level >= e.at_least {
                    if let Some(c) = r.category.as_deref() {
                        if !cats.contains(&c) {
                            cats.push(c);
                        }
                    }
                }
            }
            if cats.len() >= e.min_categories {
                level = level.raised(e.raise_by);
            }
        }
        level
    }

    /// §7, "System-scope actions (replaces section 2 for every policy)": "a system-scope
    /// transition's actions are the union of its new level's response and the responses
    /// (with overrides) of the current levels of all the system's rules [...]; its
    /// `report_within_s` is the smallest non-null `report_within_s` among those responses
    /// [...]. A system transition to none has none."
    pub fn system_response(&self, h: u32, level: Level) -> ModelResponse {
        if level == Level::None {
            return ModelResponse::default();
        }
        let p = &self.policy;
        let sys = &self.systems[h as usize];
        let mut all = vec![p.response(level, None)];
        for (r, st) in p.rules.iter().zip(&sys.rules) {
            all.push(p.response(st.level, r.category.as_deref()));
        }
        ModelResponse {
            actions: Actions(all.iter().fold(0, |b, r| b | r.actions.0)),
            report_within_s: all.iter().filter_map(|r| r.report_within_s).min(),
        }
    }

    /// The observations of `signal` on system `h` in the window of `n` buckets ending at the
    /// bucket of w: "indexes `idx(w)-n+1 ..= idx(w)`", aggregated by a plain scan.
    pub fn window(&self, h: u32, signal: usize, n: i64) -> Window {
        let sys = &self.systems[h as usize];
        let top = self.policy.bucket(sys.watermark.unwrap());
        let mut a = Window {
            count: 0.0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        };
        for o in &sys.obs[signal] {
            let b = self.policy.bucket(o.ts);
            if top - n < b && b <= top {
                a.count += 1.0;
                a.sum += o.value;
                a.min = a.min.min(o.value);
                a.max = a.max.max(o.value);
            }
        }
        a
    }

    /// Rule `r`'s value for system `h` at its watermark, from scratch (§2 "Aggregates over
    /// the window", "The value is *undefined* when", `on_empty`, `wilson_z`).
    pub fn aggregate(&self, h: u32, r: usize) -> Eval {
        let rule = &self.policy.rules[r];
        let sys = &self.systems[h as usize];
        let w = sys.watermark.unwrap();
        let min = rule.min_samples;
        match rule.aggregate {
            // "w − the largest ts among the signal's accepted observations; before any,
            // w − the system's first watermark". No window, never undefined.
            Aggregate::SilenceMs => {
                let last = sys.obs[rule.signal].iter().map(|o| o.ts).max();
                let since = last.or(sys.first_watermark).unwrap();
                Eval::Value((w - since) as f64)
            }
            Aggregate::Rate => {
                let k = self.window(h, rule.signal, rule.window_buckets);
                let per = rule.per.expect("rate has per");
                let n = self.window(h, per, rule.window_buckets);
                if rule.clear_on_empty && k.count == 0.0 && n.count == 0.0 {
                    return Eval::Empty;
                }
                // "`rate` has a denominator sum of 0 or below `min_samples`".
                if n.sum == 0.0 || n.sum < min {
                    return Eval::Undefined;
                }
                match rule.wilson_z {
                    None => Eval::Value(k.sum / n.sum),
                    Some(z) => Eval::Value(wilson(k.sum, n.sum, z, rule.above)),
                }
            }
            agg => {
                let a = self.window(h, rule.signal, rule.window_buckets);
                if rule.clear_on_empty && a.count == 0.0 {
                    return Eval::Empty;
                }
                match agg {
                    // "`count`/`sum` have fewer than `min_samples` observations".
                    Aggregate::Count | Aggregate::Sum if a.count < min => Eval::Undefined,
                    Aggregate::Count => Eval::Value(a.count),
                    Aggregate::Sum => Eval::Value(a.sum),
                    // "`mean`/`max`/`min` have fewer than max(1, `min_samples`)".
                    _ if a.count < min.max(1.0) => Eval::Undefined,
                    Aggregate::Mean => Eval::Value(a.sum / a.count),
                    Aggregate::Max => Eval::Value(a.max),
                    Aggregate::Min => Eval::Value(a.min),
                    Aggregate::Rate | Aggregate::SilenceMs => unreachable!(),
                }
            }
        }
    }
}

/// "the Wilson score bound of p = k/n (k, n the window sums, with k taken as n when k > n,
/// so p ≤ 1): the lower bound for `above`, the upper bound for `below`:
/// `(p + z²/2n ∓ z·sqrt(p(1−p)/n + z²/4n²)) / (1 + z²/n)`".
///
/// Computed term by term in the order the formula is written, which is the only place the
/// model's floating point could differ from another correct implementation: `z²/2n` as
/// `z²/(2n)`, `z²/4n²` as `z²/(4·n·n)`, `p(1−p)/n` as `(p·(1−p))/n`.
pub fn wilson(k: f64, n: f64, z: f64, above: bool) -> f64 {
    let k = if k > n { n } else { k };
    let p = k / n;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let denom = 1.0 + z2 / n;
    if above {
        (centre - spread) / denom
    } else {
        (centre + spread) / denom
    }
}

/// T of `level` in a grade's row (`None` for none, or an unused level).
pub fn threshold_of(t: &[Option<f64>; 4], level: Level) -> Option<f64> {
    WARNINGS.iter().position(|l| *l == level).and_then(|i| t[i])
}

/// "`met(L, v)`: v ≥ T[L] (`above`) or v ≤ T[L] (`below`)."
fn met(rule: &ModelRule, v: f64, t: f64) -> bool {
    if rule.above { v >= t } else { v <= t }
}

/// "`held(L, v)`: v ≥ T[L]·(1−h) (`above`) or v ≤ T[L]·(1+h) (`below`)."
fn held(rule: &ModelRule, v: f64, t: f64) -> bool {
    if rule.above {
        v >= t * (1.0 - rule.hysteresis)
    } else {
        v <= t * (1.0 + rule.hysteresis)
    }
}

/// One evaluation of a rule's state machine at watermark `w` with thresholds `t` (the row of
/// the system's grade). Returns `(from, to, value)` when C changed.
///
/// - "Raising: for each level L the engine remembers since when `met(L, v)` has been true at
///   every evaluation. The current level C rises to the highest L that has been met for
///   ≥ `for_ms`." An unused level (null T) is never met.
/// - "Lowering: D = the highest L ≤ C with `held(L, v)`, or none. If D < C at every
///   evaluation for ≥ `clear_for_ms`, C falls to D as computed at that evaluation."
///   Reading of a point the text leaves open: an evaluation that raises C does not also
///   judge lowering, and restarts the lowering timer (it can only matter for negative
///   thresholds with hysteresis, where met(L) does not imply held(L)).
/// - "An undefined value changes no level and resets every pending timer of that rule."
/// - `on_empty: "clear"`: an empty window "resets the raising timers and counts as D = none
///   for lowering".
/// - "`value` is the aggregate that caused it (null when the window was empty)".
pub fn step(
    rule: &ModelRule,
    t: &[Option<f64>; 4],
    st: &mut RuleState,
    w: i64,
    eval: Eval,
) -> Option<(Level, Level, Option<f64>)> {
    let (d, value) = match eval {
        Eval::Undefined => {
            st.met_since = [None; 4];
            st.below_since = None;
            return None;
        }
        Eval::Empty => {
            st.met_since = [None; 4];
            (Level::None, None)
        }
        Eval::Value(v) => {
            for (since, th) in st.met_since.iter_mut().zip(t) {
                let now_met = th.is_some_and(|th| met(rule, v, th));
                *since = if now_met {
                    Some(since.unwrap_or(w))
                } else {
                    None
                };
            }
            let raise_to = (0..4)
                .rev()
                .find(|&i| st.met_since[i].is_some_and(|since| w - since >= rule.for_ms))
                .map_or(Level::None, |i| WARNINGS[i]);
            if raise_to > st.level {
                let from = st.level;
                st.level = raise_to;
                st.below_since = None;
                return Some((from, raise_to, Some(v)));
            }
            let d = (0..4)
                .rev()
                .filter(|&i| WARNINGS[i] <= st.level)
                .find(|&i| t[i].is_some_and(|th| held(rule, v, th)))
                .map_or(Level::None, |i| WARNINGS[i]);
            (d, Some(v))
        }
    };
    if d < st.level {
        let since = *st.below_since.get_or_insert(w);
        if w - since >= rule.clear_for_ms {
            let from = st.level;
            st.level = d;
            st.below_since = None;
            return Some((from, d, value));
        }
    } else {
        st.below_since = None;
    }
    None
}
