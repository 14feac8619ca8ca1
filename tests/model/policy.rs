//! The policy document (§2, §7–§9: `docs/policy.md`), as the model reads it: straight from the
//! JSON, not through the engine's compiled form, so a mistake in the engine's compilation
//! shows up.

use airisk::{Actions, Level};
use serde_json::Value;
use std::collections::HashMap;

/// "`none` < `blue` (IV) < `yellow` (III) < `orange` (II) < `red` (I)": the four warning
/// levels in threshold order (index 0 = blue).
pub const WARNINGS: [Level; 4] = [Level::Blue, Level::Yellow, Level::Orange, Level::Red];

/// §2 "`count` (observations), `sum`, `mean`, `max`, `min`, `rate` (sum of `signal` / sum
/// of `per`, both over the same window), `silence_ms`", and §9's detectors with their
/// parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Aggregate {
    Count,
    Sum,
    Mean,
    Max,
    Min,
    Rate,
    SilenceMs,
    /// "`ewma` (`"alpha": a`, 0 < a ≤ 1)".
    Ewma {
        alpha: f64,
    },
    /// "`cusum` (`"target": μ, "slack": k ≥ 0, "side": "up" | "down"`)".
    Cusum {
        target: f64,
        slack: f64,
        up: bool,
    },
    /// "`psi` (gauges only; `"bins": [e1, .., e_{B-1}]` [...], `"reference": [p1, .., pB]`".
    Psi {
        bins: Vec<f64>,
        reference: Vec<f64>,
    },
}

impl Aggregate {
    /// `ewma` and `cusum` "consume the buckets [the watermark] closes".
    pub fn consumes_buckets(&self) -> bool {
        matches!(self, Aggregate::Ewma { .. } | Aggregate::Cusum { .. })
    }
}

/// A signal: "`kind` is `counter` (each observation adds its value, usually 1) or `gauge`".
#[derive(Debug, Clone)]
pub struct ModelSignal {
    pub id: String,
    pub counter: bool,
    pub category: Option<String>,
}

/// A rule, with the defaults of §2 filled in: "`direction` "above", `min_samples` 0,
/// `for_ms` 0, `clear_for_ms` 0, `hysteresis` 0, `on_empty` "hold"".
#[derive(Debug, Clone)]
pub struct ModelRule {
    pub id: String,
    /// The rule's own category, else its signal's (the engine's documented default:
    /// `policy::model::Rule::category`).
    pub category: Option<String>,
    pub basis: Option<String>,
    pub signal: usize,
    pub per: Option<usize>,
    pub aggregate: Aggregate,
    pub window_ms: Option<i64>,
    /// `n = window_ms / bucket_ms` (0 for the aggregates that take no window).
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

/// What §10 compares to keep a rule: "its canonical definition (the parsed rule with
/// defaults filled in, without `thresholds`)" — here with signals by id, and without the
/// texts (basis), which change no state.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub id: String,
    pub category: Option<String>,
    pub signal: String,
    pub per: Option<String>,
    pub aggregate: Aggregate,
    pub window_ms: Option<i64>,
    pub min_samples: f64,
    pub above: bool,
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

/// §8 "Inhibition": "While the source rule on a system is at ≥ `at_least`, transitions of
/// that system's rules in the target categories are emitted with `"inhibited_by"`".
#[derive(Debug, Clone)]
pub struct ModelInhibit {
    pub id: String,
    /// The source rule's id.
    pub source: String,
    pub at_least: Level,
    pub targets: Vec<String>,
}

/// §7's `incidents` section.
#[derive(Debug, Clone)]
pub struct ModelIncidents {
    pub open_at: Level,
    /// Severity ids, lowest first ("an ordered ladder").
    pub severities: Vec<String>,
    /// Per warning level (blue..red): the severity rank.
    pub by_level: [Option<usize>; 4],
    /// `severity_overrides`: (category, level, severity rank).
    pub overrides: Vec<(String, Level, usize)>,
    /// `report_at` as a severity rank.
    pub report_at: usize,
    /// `operator_types`: (id, initial_within_s), the first being the default.
    pub operator_types: Vec<(String, i64)>,
    pub ack_within_s: Option<i64>,
    pub final_within_s: i64,
    pub basis: Option<String>,
}

impl ModelIncidents {
    /// "the severity mapped from the level of any rule of c on s (`severity_overrides`
    /// replace `severity_by_level` for their category and level)"; nothing below `open_at`.
    pub fn severity(&self, category: &str, level: Level) -> Option<usize> {
        if level < self.open_at {
            return None;
        }
        if let Some((_, _, s)) = self
            .overrides
            .iter()
            .find(|(c, l, _)| c == category && *l == level)
        {
            return Some(*s);
        }
        let i = WARNINGS.iter().position(|l| *l == level)?;
        self.by_level[i]
    }

    pub fn operator_type(&self, id: &str) -> Option<usize> {
        self.operator_types.iter().position(|(o, _)| o == id)
    }
}

/// The parsed policy document.
#[derive(Debug, Clone)]
pub struct ModelPolicy {
    /// The document itself (a reload of the identical policy reloads this).
    pub doc: Value,
    pub bucket_ms: i64,
    pub categories: Vec<String>,
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
    pub inhibit: Vec<ModelInhibit>,
    pub incidents: Option<ModelIncidents>,
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

fn level(v: &Value) -> Level {
    Level::from_name(v.as_str().unwrap()).expect("a level name")
}

fn nums(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
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
        let categories: Vec<String> = doc["categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| s(&c["id"]))
            .collect();
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
                category: x.get("category").map(s),
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
                    "ewma" => Aggregate::Ewma {
                        alpha: r["alpha"].as_f64().unwrap(),
                    },
                    "cusum" => Aggregate::Cusum {
                        target: r["target"].as_f64().unwrap(),
                        slack: r["slack"].as_f64().unwrap(),
                        up: r["side"] == "up",
                    },
                    "psi" => Aggregate::Psi {
                        bins: nums(&r["bins"]),
                        reference: nums(&r["reference"]),
                    },
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
                let signal = signal_ix(&r["signal"]);
                let window_ms = r.get("window_ms").and_then(Value::as_i64);
                ModelRule {
                    id: s(&r["id"]),
                    category: r
                        .get("category")
                        .map(s)
                        .or_else(|| signals[signal].category.clone()),
                    basis: r.get("basis").map(s),
                    signal,
                    per: r.get("per").map(signal_ix),
                    aggregate,
                    window_ms,
                    window_buckets: window_ms.map_or(0, |w| w / bucket_ms),
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
            at_least: level(&e["at_least"]),
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
                overrides.push((s(&o["category"]), level(&o["level"]), parse_response(o)));
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
        let inhibit = doc
            .get("inhibit")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|i| ModelInhibit {
                id: s(&i["id"]),
                source: s(&i["source"]["rule"]),
                at_least: level(&i["source"]["at_least"]),
                targets: i["target"]["categories"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(s)
                    .collect(),
            })
            .collect();
        let incidents = doc.get("incidents").map(|ip| {
            let severities: Vec<String> = ip["severities"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| s(&x["id"]))
                .collect();
            let rank = |v: &Value| {
                severities
                    .iter()
                    .position(|x| x == v.as_str().unwrap())
                    .expect("a known severity")
            };
            let mut by_level = [None; 4];
            for (i, l) in WARNINGS.iter().enumerate() {
                if let Some(v) = ip["severity_by_level"].get(l.name()) {
                    by_level[i] = Some(rank(v));
                }
            }
            ModelIncidents {
                open_at: level(&ip["open_at"]),
                by_level,
                overrides: ip
                    .get("severity_overrides")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|o| (s(&o["category"]), level(&o["level"]), rank(&o["severity"])))
                    .collect(),
                report_at: rank(&ip["report_at"]),
                operator_types: ip["operator_types"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| (s(&o["id"]), o["initial_within_s"].as_i64().unwrap()))
                    .collect(),
                ack_within_s: ip.get("ack_within_s").and_then(Value::as_i64),
                final_within_s: ip["final_within_s"].as_i64().unwrap(),
                basis: ip.get("basis").map(s),
                severities,
            }
        });
        ModelPolicy {
            doc: doc.clone(),
            bucket_ms,
            categories,
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
            inhibit,
            incidents,
        }
    }

    /// "bucket index = `ts_ms.div_euclid(bucket_ms)`".
    pub fn bucket(&self, ts: i64) -> i64 {
        ts.div_euclid(self.bucket_ms)
    }

    pub fn signal_ix(&self, id: &str) -> Option<usize> {
        self.signals.iter().position(|s| s.id == id)
    }

    pub fn rule_ix(&self, id: &str) -> Option<usize> {
        self.rules.iter().position(|r| r.id == id)
    }

    /// B of the signal named `id` (`None` when the policy has no such signal).
    pub fn ring_of(&self, id: &str) -> Option<i64> {
        self.signal_ix(id).map(|i| self.ring[i])
    }

    /// Rule `r`'s definition, as §10 compares it across a reload.
    pub fn definition(&self, r: usize) -> Definition {
        let rule = &self.rules[r];
        Definition {
            id: rule.id.clone(),
            category: rule.category.clone(),
            signal: self.signals[rule.signal].id.clone(),
            per: rule.per.map(|p| self.signals[p].id.clone()),
            aggregate: rule.aggregate.clone(),
            window_ms: rule.window_ms,
            min_samples: rule.min_samples,
            above: rule.above,
            for_ms: rule.for_ms,
            clear_for_ms: rule.clear_for_ms,
            hysteresis: rule.hysteresis,
            clear_on_empty: rule.clear_on_empty,
            wilson_z: rule.wilson_z,
        }
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
    /// profile names something the policy does not define (§7: an unknown `operator_type`
    /// too, under an incidents policy).
    pub fn classify(&self, p: &Value) -> Option<usize> {
        let one = |t: &str, k: &str| self.tables[t].get(p.get(k)?.as_str()?).copied();
        let list = |t: &str, k: &str| -> Option<i64> {
            let mut sum = 0;
            for x in p.get(k).and_then(Value::as_array).into_iter().flatten() {
                sum += self.tables[t].get(x.as_str()?)?;
            }
            Some(sum)
        };
        if let (Some(ip), Some(ot)) = (&self.incidents, p.get("operator_type")) {
            ip.operator_type(ot.as_str()?)?;
        }
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

    /// The operator type of a profile: "default: the first of `operator_types`".
    pub fn operator_type(&self, p: &Value) -> usize {
        match (
            &self.incidents,
            p.get("operator_type").and_then(Value::as_str),
        ) {
            (Some(ip), Some(ot)) => ip.operator_type(ot).unwrap_or(0),
            _ => 0,
        }
    }
}
