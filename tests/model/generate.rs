//! Random valid policies and random operation logs (proptest strategies) for comparing the
//! engine with the model.
//!
//! Values are chosen so that every window sum the engine and the model compute is exact in
//! floating point whatever the order of addition: counter values are small multiples of
//! 1/4 (and a few small integers), gauge values multiples of 3/8 in [-3, 3], and thresholds
//! multiples of 1/8. With at most a few hundred observations, every partial sum is a
//! multiple of 1/8 far below 2^50, so `sum`, `mean`, `rate` and the Wilson bound (computed
//! from those sums with the same formula) agree bit for bit. Detector parameters keep that
//! property where the engine may take a run of empty buckets at once (the closed forms §9
//! asks for): `ewma` over a counter without `per` has `1 − α` ∈ {1/2, 1/4, 0}, and `cusum`
//! targets and slacks are multiples of 1/8. PSI and the per-bucket ratios are not exact,
//! but both sides compute them with the same formula, in the same order.
//!
//! A generated case is a list of policy documents ([`Case::policies`]: the first is the
//! engine's, the others what a reload may load) and a log of operations with absolute
//! times ([`Case::log`]). Its `Debug` form prints the policies as JSON and the log in the
//! line format of `airisk replay` (`docs/formats.md`, "Event lines"), so a failing case can be
//! replayed; acknowledgements and reports name the incident by its place in the model's
//! list, which the harness resolves (and prints) as it runs.

use airisk::ReportKind;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::fmt;

/// One operation of a log, with absolute times.
#[derive(Clone, Debug)]
pub enum Op {
    /// `engine.register(profile)`.
    Register { profile: Value },
    /// `engine.observe(handle, signal, value, ts)`.
    Observe {
        system: u32,
        signal: Sig,
        value: f64,
        ts: i64,
    },
    /// `engine.observe_many(handle, values, ts)`.
    Batch {
        system: u32,
        values: Vec<(Sig, f64)>,
        ts: i64,
    },
    /// `engine.tick(ts)`.
    Tick { ts: i64 },
    /// `engine.silence(..)`.
    Silence {
        id: String,
        system: Option<String>,
        category: Option<String>,
        rule: Option<String>,
        starts: i64,
        ends: i64,
    },
    /// `engine.unsilence(id)`.
    Unsilence { id: String },
    /// `engine.acknowledge(..)` of the `pick`-th incident the model knows, those not closed
    /// first (modulo one more than their number: the last choice is an id no incident
    /// has).
    Ack { pick: u16, ts: i64 },
    /// `engine.file_report(..)` of the `pick`-th incident, as for [`Op::Ack`].
    Report {
        pick: u16,
        /// `None`: the kind the incident owes first (if it owes none: `initial`).
        kind: Option<ReportKind>,
        ts: i64,
    },
    /// `engine.reload(..)`: `None` reloads the policy the engine holds (the identical
    /// policy), `Some(k)` loads `policies[k]`.
    Reload { to: Option<usize> },
}

/// A signal id by its place in [`Case::signals`] (every id any of the case's policies
/// defines), or an id no policy defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sig {
    Known(usize),
    /// `SignalId(1000 + k)`.
    Unknown(u32),
}

/// A generated set of policies and a log.
#[derive(Clone)]
pub struct Case {
    pub policies: Vec<Value>,
    /// Every signal id of every policy of the case, in order of first appearance, with its
    /// kind (counter?), which every policy of the case agrees on.
    pub signals: Vec<(String, bool)>,
    pub log: Vec<Op>,
}

impl Case {
    /// The log as `airisk replay` lines. Handles are shown as the ids of the systems they
    /// name; non-finite values, unknown handles and unknown signals, which JSON or the
    /// replay format cannot carry, are shown as strings, and so are reload targets and the
    /// incidents of `ack` and `report` lines (resolved by the harness).
    pub fn log_lines(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        let sig = |s: &Sig| match s {
            Sig::Known(i) => self.signals[*i].0.clone(),
            Sig::Unknown(k) => format!("<unknown signal id {}>", 1000 + k),
        };
        let val = |v: f64| {
            if v.is_finite() {
                json!(v)
            } else {
                json!(format!("{v}"))
            }
        };
        self.log
            .iter()
            .map(|op| match op {
                Op::Register { profile } => {
                    let id = profile["id"].as_str().unwrap().to_owned();
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                    json!({"op": "register", "ts": 0, "profile": profile}).to_string()
                }
                Op::Observe {
                    system,
                    signal,
                    value,
                    ts,
                } => {
                    let system = system_name(&ids, *system);
                    json!({"op": "observe", "ts": ts, "system": system, "signal": sig(signal),
                           "value": val(*value)})
                    .to_string()
                }
                Op::Batch { system, values, ts } => {
                    let system = system_name(&ids, *system);
                    // A repeated signal cannot be a JSON object's key twice: a list then.
                    let list: Vec<Value> = values
                        .iter()
                        .map(|(s, v)| json!([sig(s), val(*v)]))
                        .collect();
                    json!({"op": "observe", "ts": ts, "system": system, "values": list}).to_string()
                }
                Op::Tick { ts } => json!({"op": "tick", "ts": ts}).to_string(),
                Op::Silence {
                    id,
                    system,
                    category,
                    rule,
                    starts,
                    ends,
                } => {
                    let mut v = json!({"op": "silence", "ts": starts, "id": id,
                                       "starts": starts, "ends": ends});
                    for (k, x) in [("system", system), ("category", category), ("rule", rule)] {
                        if let Some(x) = x {
                            v[k] = json!(x);
                        }
                    }
                    v.to_string()
                }
                Op::Unsilence { id } => json!({"op": "unsilence", "ts": 0, "id": id}).to_string(),
                Op::Ack { pick, ts } => {
                    json!({"op": "ack", "ts": ts, "incident": format!("<incident #{pick}>"),
                           "by": "ops"})
                    .to_string()
                }
                Op::Report { pick, kind, ts } => json!({"op": "report", "ts": ts,
                    "incident": format!("<incident #{pick}>"),
                    "kind": kind.map_or("<owed>", |k| k.name()),
                    "reference": format!("ref-{ts}")})
                .to_string(),
                Op::Reload { to } => json!({"op": "reload", "ts": 0, "policy": match to {
                    None => "<the policy held>".to_owned(),
                    Some(k) => format!("<policy {k}>"),
                }})
                .to_string(),
            })
            .collect()
    }
}

fn system_name(ids: &[String], system: u32) -> String {
    ids.get(system as usize)
        .cloned()
        .unwrap_or_else(|| format!("<unknown handle {system}>"))
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.policies.iter().enumerate() {
            writeln!(f, "\n--- policy {i} ---")?;
            writeln!(f, "{p}")?;
        }
        writeln!(
            f,
            "--- log ({} operations, airisk replay lines) ---",
            self.log.len()
        )?;
        for (i, l) in self.log_lines().iter().enumerate() {
            writeln!(f, "#{i} {l}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Policies.
// ---------------------------------------------------------------------------------------

/// A duration spec, resolved against `bucket_ms`: 0 (half the time), a multiple of half a
/// bucket, or a length that is no multiple of anything in particular.
#[derive(Clone, Copy, Debug)]
struct Dur(u8, u8);

impl Dur {
    fn ms(self, bucket: i64) -> i64 {
        let k = 1 + (self.1 % 8) as i64;
        match self.0 % 4 {
            0 | 1 => 0,
            2 => (k * bucket / 2).max(1),
            _ => (k * bucket / 7).max(1) + k,
        }
    }
}

fn dur() -> impl Strategy<Value = Dur> {
    (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Dur(a, b))
}

/// Detector parameters (used by the detector aggregates only).
#[derive(Clone, Debug)]
struct DetP {
    alpha: u8,
    target: u8,
    slack: u8,
    up: bool,
    /// PSI bin edges (grid steps) and reference weights.
    edges: Vec<u8>,
    weights: Vec<u8>,
    /// `ewma` / `cusum` over a per-bucket rate.
    per: bool,
}

fn det_p() -> impl Strategy<Value = DetP> {
    (
        any::<u8>(),
        0..=8u8,
        any::<u8>(),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 1..=4),
        prop::collection::vec(0..5u8, 5),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(alpha, target, slack, up, edges, weights, per)| DetP {
            alpha,
            target,
            slack,
            up,
            edges,
            weights,
            per,
        })
}

/// Raw choices for one rule; [`build_policy`] turns them into a valid rule.
#[derive(Clone, Debug)]
struct RuleP {
    /// Its id is `r<id>`.
    id: u32,
    signal: usize,
    per: usize,
    /// 0 count, 1 sum, 2 mean, 3 max, 4 min, 5 rate, 6 silence_ms, 7 ewma, 8 cusum, 9 psi.
    aggregate: usize,
    window: i64,
    min_samples: u64,
    below: bool,
    /// Per grade (up to 4): threshold steps, `None` = unused level.
    thresholds: [[Option<u8>; 4]; 4],
    for_ms: Dur,
    clear_for_ms: Dur,
    hysteresis: f64,
    clear: bool,
    wilson: Option<f64>,
    category: usize,
    /// No `category` of its own (it then takes its signal's, if any).
    no_category: bool,
    /// A basis text variant (a text: changing it keeps the rule).
    basis: u8,
    det: DetP,
}

fn thresholds_p() -> impl Strategy<Value = [[Option<u8>; 4]; 4]> {
    prop::array::uniform4(prop::array::uniform4(prop::option::weighted(
        0.75,
        0..=12u8,
    )))
}

fn rule_p() -> impl Strategy<Value = RuleP> {
    let aggregate = prop_oneof![
        2 => Just(0usize), 2 => Just(1), 2 => Just(2), 2 => Just(3), 2 => Just(4),
        3 => Just(5), 1 => Just(6), 2 => Just(7), 2 => Just(8), 2 => Just(9)
    ];
    let window = prop_oneof![4 => 1..=4i64, 2 => 5..=8i64, 1 => 9..=16i64];
    let min_samples = prop_oneof![3 => Just(0u64), 2 => 1..=4u64];
    let hysteresis = prop::sample::select(vec![0.0, 0.0, 0.0, 0.1, 0.25, 0.5, 0.9]);
    let wilson = prop::option::weighted(0.4, prop::sample::select(vec![0.5, 1.0, 1.5, 1.96, 3.0]));
    (
        (
            any::<usize>(),
            any::<usize>(),
            aggregate,
            window,
            min_samples,
        ),
        (any::<bool>(), thresholds_p(), dur(), dur()),
        (
            hysteresis,
            prop::bool::weighted(0.3),
            wilson,
            any::<usize>(),
            prop::bool::weighted(0.15),
            0..2u8,
        ),
        det_p(),
    )
        .prop_map(
            |(
                (signal, per, aggregate, window, min_samples),
                (below, thresholds, for_ms, clear_for_ms),
                (hysteresis, clear, wilson, category, no_category, basis),
                det,
            )| RuleP {
                id: 0,
                signal,
                per,
                aggregate,
                window,
                min_samples,
                below,
                thresholds,
                for_ms,
                clear_for_ms,
                hysteresis,
                clear,
                wilson,
                category,
                no_category,
                basis,
                det,
            },
        )
}

/// A response: actions (bits) and `report_within_s`.
type ResponseP = (u8, Option<i64>);

fn response() -> impl Strategy<Value = ResponseP> {
    (
        any::<u8>(),
        prop::option::weighted(
            0.6,
            prop::sample::select(vec![0i64, 600, 3600, 14400, 86400]),
        ),
    )
}

/// The `incidents` section (§7).
#[derive(Clone, Debug)]
struct IncidentsP {
    /// `open_at` (0 = blue .. 3 = red).
    open_at: usize,
    severities: usize,
    /// Steps of `severity_by_level` from `open_at` up (each adds 0 or 1 rank).
    first: usize,
    steps: [bool; 4],
    /// (category, level, severity) candidates; those breaking monotony are left out.
    overrides: Vec<(usize, usize, usize)>,
    report_at: usize,
    /// `initial_within_s` per operator type (index into [`SECONDS`]).
    operator_types: Vec<usize>,
    ack: Option<usize>,
    final_within: usize,
    basis: bool,
}

/// Deadlines in seconds.
const SECONDS: [i64; 7] = [0, 1, 5, 60, 600, 3600, 86400];

fn incidents_p() -> impl Strategy<Value = IncidentsP> {
    (
        prop_oneof![1 => Just(0usize), 2 => Just(1), 3 => Just(2), 1 => Just(3)],
        1..=4usize,
        0..4usize,
        prop::array::uniform4(any::<bool>()),
        prop::collection::vec((any::<usize>(), 0..4usize, 0..4usize), 0..=2),
        0..4usize,
        prop::collection::vec(0..SECONDS.len(), 1..=3),
        prop::option::weighted(0.6, 0..SECONDS.len()),
        0..SECONDS.len(),
        any::<bool>(),
    )
        .prop_map(
            |(
                open_at,
                severities,
                first,
                steps,
                overrides,
                report_at,
                operator_types,
                ack,
                final_within,
                basis,
            )| IncidentsP {
                open_at,
                severities,
                first,
                steps,
                overrides,
                report_at,
                operator_types,
                ack,
                final_within,
                basis,
            },
        )
}

/// An `inhibit` entry (§8).
#[derive(Clone, Debug)]
struct InhibitP {
    source: usize,
    at_least: usize,
    targets: Vec<usize>,
}

fn inhibit_p() -> impl Strategy<Value = InhibitP> {
    (
        any::<usize>(),
        0..4usize,
        prop::collection::vec(any::<usize>(), 1..=2),
    )
        .prop_map(|(source, at_least, targets)| InhibitP {
            source,
            at_least,
            targets,
        })
}

#[derive(Clone, Debug)]
struct PolicyP {
    bucket_ms: i64,
    grades: usize,
    categories: Vec<bool>,
    /// Per signal: its category. Its kind is fixed by its index ([`counter_at`]).
    signals: Vec<Option<usize>>,
    rules: Vec<RuleP>,
    escalation: Option<(u64, usize, Option<u64>)>,
    floor: bool,
    /// Points of the sectors `sec1`.. (10 per step at first): a reload may move them, and
    /// with them the systems' grades.
    sector_step: i64,
    levels: [Option<ResponseP>; 4],
    overrides: Vec<(usize, usize, ResponseP)>,
    incidents: Option<IncidentsP>,
    inhibit: Vec<InhibitP>,
}

/// Whether signal `sig<i>` is a counter: fixed by its index, so that every policy of a
/// case agrees (signal 0 is always a counter, so every policy can have rate rules).
fn counter_at(i: usize, kinds: &[bool]) -> bool {
    i == 0 || kinds.get(i).copied().unwrap_or(i % 2 == 0)
}

fn policy_p() -> impl Strategy<Value = (PolicyP, Vec<bool>)> {
    (
        (
            prop::sample::select(vec![1i64, 2, 10, 250, 1000, 60_000]),
            2..=4usize,
            prop::collection::vec(any::<bool>(), 2..=4),
            prop::collection::vec(
                (any::<bool>(), prop::option::weighted(0.5, any::<usize>())),
                2..=5,
            ),
            prop::collection::vec(rule_p(), 1..=6),
            prop::option::weighted(0.4, (1..=3u64, 1..=4usize, prop::option::of(1..=2u64))),
            any::<bool>(),
        ),
        (
            prop::array::uniform4(prop::option::weighted(0.9, response())),
            prop::collection::vec((any::<usize>(), 1..=4usize, response()), 0..=3),
            prop::option::weighted(0.5, incidents_p()),
            prop::collection::vec(inhibit_p(), 0..=2),
        ),
    )
        .prop_map(
            |(
                (bucket_ms, grades, categories, signals, mut rules, escalation, floor),
                (levels, overrides, incidents, inhibit),
            )| {
                for (i, r) in rules.iter_mut().enumerate() {
                    r.id = i as u32;
                }
                let kinds: Vec<bool> = signals.iter().map(|s| s.0).collect();
                (
                    PolicyP {
                        bucket_ms,
                        grades,
                        categories,
                        signals: signals.into_iter().map(|s| s.1).collect(),
                        rules,
                        escalation,
                        floor,
                        sector_step: 10,
                        levels,
                        overrides,
                        incidents,
                        inhibit,
                    },
                    kinds,
                )
            },
        )
}

const LEVELS: [&str; 4] = ["blue", "yellow", "orange", "red"];
const ACTIONS: [&str; 8] = [
    "log",
    "notify_operator",
    "human_review",
    "throttle",
    "fallback",
    "suspend",
    "report_regulator",
    "public_notice",
];

fn response_json((bits, report): ResponseP, incidents: bool) -> Value {
    // §7: under an incidents policy, `report_regulator` and `report_within_s` are errors.
    let bits = if incidents { bits & !(1 << 6) } else { bits };
    let actions: Vec<&str> = (0..8)
        .filter(|i| bits & (1 << i) != 0)
        .map(|i| ACTIONS[i])
        .collect();
    if incidents {
        json!({"actions": actions})
    } else {
        json!({"actions": actions, "report_within_s": report})
    }
}

/// What a rule's thresholds are compared with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scale {
    /// `count`.
    Count,
    /// `sum`, or `mean`/`max`/`min`/`ewma` of a counter.
    CounterSum,
    CounterMean,
    /// A gauge's values (and their means).
    Gauge,
    /// A ratio (`rate`, detectors over `per`).
    Ratio,
    Silence,
    /// `ewma` over a counter without `per`: strictly positive thresholds (a run of empty
    /// buckets takes it towards 0, and the engine's closed form may reach 0 a little sooner
    /// than repeated halving in the subnormal range).
    Decay,
    /// `cusum`'s S ≥ 0.
    Cusum,
    /// PSI ≥ 0.
    Psi,
}

/// The threshold a step stands for.
fn threshold(scale: Scale, step: u8, bucket_ms: i64) -> f64 {
    let s = step as f64;
    match scale {
        Scale::Count | Scale::CounterSum => s * 0.5,
        Scale::CounterMean => s * 0.25,
        Scale::Gauge => -3.0 + s * 0.5,
        Scale::Ratio => s * 0.125,
        Scale::Silence => s * bucket_ms as f64 / 2.0,
        Scale::Decay => (s + 1.0) * 0.25,
        Scale::Cusum => s * 0.5,
        Scale::Psi => s * 0.0625,
    }
}

/// Builds a valid policy document from raw choices: 2–4 grades (`g0`..) with `min_score`
/// 10·rank, sector points that reach every grade, capabilities, data, autonomy, scale and
/// mitigations that move a profile across grades, and sometimes a floor.
fn build_policy(p: &PolicyP, kinds: &[bool]) -> Value {
    let bucket = p.bucket_ms;
    let has_incidents = p.incidents.is_some();
    let categories: Vec<Value> = p
        .categories
        .iter()
        .enumerate()
        .map(|(i, basis)| {
            if *basis {
                json!({"id": format!("cat{i}"), "basis": format!("Art. {}", 40 + i)})
            } else {
                json!({"id": format!("cat{i}")})
            }
        })
        .collect();
    let ncat = categories.len();
    let grades: Vec<Value> = (0..p.grades)
        .map(|i| {
            if i == 0 {
                json!({"id": "g0"})
            } else {
                json!({"id": format!("g{i}"), "min_score": 10 * i})
            }
        })
        .collect();
    let signals: Vec<(bool, Option<usize>)> = p
        .signals
        .iter()
        .enumerate()
        .map(|(i, cat)| (counter_at(i, kinds), cat.map(|c| c % ncat)))
        .collect();
    let counters: Vec<usize> = (0..signals.len()).filter(|&i| signals[i].0).collect();
    let gauges: Vec<usize> = (0..signals.len()).filter(|&i| !signals[i].0).collect();
    let mut rules = Vec::new();
    for r in &p.rules {
        let mut agg = r.aggregate.min(9);
        if agg == 9 && gauges.is_empty() {
            agg = 2;
        }
        let signal = match agg {
            5 => counters[r.signal % counters.len()],
            9 => gauges[r.signal % gauges.len()],
            _ => r.signal % signals.len(),
        };
        let counter = signals[signal].0;
        // A different counter as denominator when there is one.
        let others: Vec<usize> = counters.iter().copied().filter(|&c| c != signal).collect();
        let per = if others.is_empty() {
            signal
        } else {
            others[r.per % others.len()]
        };
        let below = r.below && agg != 8;
        let mut rule = json!({
            "id": format!("r{}", r.id),
            "basis": format!("Art. {}{}", 10 + r.id, ["", "a"][r.basis as usize % 2]),
            "signal": format!("sig{signal}"),
            "direction": if below { "below" } else { "above" },
        });
        if !r.no_category {
            rule["category"] = json!(format!("cat{}", r.category % ncat));
        }
        let d = &r.det;
        let det_per = matches!(agg, 7 | 8) && d.per && !counters.is_empty();
        let scale = match agg {
            0 => Scale::Count,
            1 if counter => Scale::CounterSum,
            2..=4 if counter => Scale::CounterMean,
            1..=4 => Scale::Gauge,
            5 => Scale::Ratio,
            6 => Scale::Silence,
            7 | 8 if det_per => {
                if agg == 7 {
                    Scale::Ratio
                } else {
                    Scale::Cusum
                }
            }
            7 if counter => Scale::Decay,
            7 => Scale::Gauge,
            8 => Scale::Cusum,
            _ => Scale::Psi,
        };
        rule["aggregate"] = json!(
            [
                "count",
                "sum",
                "mean",
                "max",
                "min",
                "rate",
                "silence_ms",
                "ewma",
                "cusum",
                "psi"
            ][agg]
        );
        if agg == 5 {
            rule["per"] = json!(format!("sig{per}"));
            if let Some(z) = r.wilson {
                rule["wilson_z"] = json!(z);
            }
        }
        if det_per {
            rule["per"] = json!(format!("sig{per}"));
        }
        match agg {
            7 => {
                let alpha = if counter && !det_per {
                    [0.5, 0.75, 1.0][d.alpha as usize % 3]
                } else {
                    [0.1, 0.25, 0.5, 0.75, 1.0][d.alpha as usize % 5]
                };
                rule["alpha"] = json!(alpha);
            }
            8 => {
                let t = d.target as f64;
                let target = if det_per {
                    t * 0.125
                } else if counter {
                    t * 0.25
                } else {
                    -3.0 + t * 0.75
                };
                rule["target"] = json!(target);
                rule["slack"] = json!([0.0, 0.125, 0.25, 0.5][d.slack as usize % 4]);
                rule["side"] = json!(if d.up { "up" } else { "down" });
            }
            9 => {
                let mut edges: Vec<i64> = d.edges.iter().map(|e| (*e % 17) as i64 - 8).collect();
                edges.sort();
                edges.dedup();
                let edges: Vec<f64> = edges.iter().map(|e| *e as f64 * 0.375).collect();
                let mut w: Vec<u8> = d.weights.iter().take(edges.len() + 1).copied().collect();
                if w.iter().all(|x| *x == 0) {
                    w[0] = 1;
                }
                let total: f64 = w.iter().map(|x| *x as f64).sum();
                let reference: Vec<f64> = w.iter().map(|x| *x as f64 / total).collect();
                rule["bins"] = json!(edges);
                rule["reference"] = json!(reference);
            }
            _ => {}
        }
        if !matches!(agg, 6..=8) {
            rule["window_ms"] = json!(r.window * bucket);
            if r.clear {
                rule["on_empty"] = json!("clear");
            }
        }
        if agg != 6 && r.min_samples > 0 {
            rule["min_samples"] = json!(r.min_samples);
        }
        let mut th = serde_json::Map::new();
        for (g, row) in r.thresholds.iter().take(p.grades).enumerate() {
            let mut vals: Vec<f64> = row
                .iter()
                .flatten()
                .map(|&s| threshold(scale, s, bucket))
                .collect();
            vals.sort_by(f64::total_cmp);
            if below {
                vals.reverse();
            }
            let mut vals = vals.into_iter();
            let out: Vec<Value> = row
                .iter()
                .map(|x| x.map_or(Value::Null, |_| json!(vals.next().unwrap())))
                .collect();
            th.insert(format!("g{g}"), Value::Array(out));
        }
        rule["thresholds"] = Value::Object(th);
        for (k, d) in [("for_ms", r.for_ms), ("clear_for_ms", r.clear_for_ms)] {
            let ms = d.ms(bucket);
            if ms > 0 {
                rule[k] = json!(ms);
            }
        }
        if r.hysteresis > 0.0 {
            rule["hysteresis"] = json!(r.hysteresis);
        }
        rules.push(rule);
    }
    let mut levels = serde_json::Map::new();
    for (i, l) in p.levels.iter().enumerate() {
        if let Some(r) = l {
            levels.insert(LEVELS[i].into(), response_json(*r, has_incidents));
        }
    }
    let mut overrides: Vec<Value> = Vec::new();
    let mut seen = Vec::new();
    for &(c, l, r) in &p.overrides {
        let key = (c % ncat, l - 1);
        if !seen.contains(&key) {
            seen.push(key);
            let mut o = response_json(r, has_incidents);
            o["category"] = json!(format!("cat{}", key.0));
            o["level"] = json!(LEVELS[key.1]);
            overrides.push(o);
        }
    }
    let s = p.sector_step;
    let mut doc = json!({
        "schema": 1,
        "policy_version": "model",
        "categories": categories,
        "grades": grades,
        "classification": {
            "sectors": {"sec0": 0, "sec1": s, "sec2": 2 * s, "sec3": 3 * s, "sec4": 4 * s},
            "capabilities": {"gen": 3, "bio": 7},
            "data": {"public": 0, "personal": 4},
            "autonomy": {"hitl": 0, "auto": 5},
            "scale": [{"min_users": 1000, "score": 2}],
            "mitigations": {"review": -6}
        },
        "bucket_ms": bucket,
        "signals": signals.iter().enumerate().map(|(i, (c, cat))| {
            let mut s = json!({"id": format!("sig{i}"), "kind": if *c { "counter" } else { "gauge" }});
            if let Some(cat) = cat {
                s["category"] = json!(format!("cat{cat}"));
            }
            s
        }).collect::<Vec<_>>(),
        "rules": rules,
        "responses": {"levels": levels, "overrides": overrides},
    });
    if p.floor {
        doc["classification"]["floors"] =
            json!([{"id": "bio-floor", "when": {"capabilities": ["bio"]}, "grade": "g1"}]);
    }
    if let Some((min_categories, at_least, raise_by)) = p.escalation {
        let mut e = json!({"min_categories": min_categories, "at_least": LEVELS[at_least - 1]});
        if let Some(r) = raise_by {
            e["raise_by"] = json!(r);
        }
        doc["escalation"] = e;
    }
    if let Some(ip) = &p.incidents {
        doc["incidents"] = incidents_json(ip, ncat);
    }
    let inhibit: Vec<Value> = p
        .inhibit
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let mut targets: Vec<usize> = x.targets.iter().map(|c| c % ncat).collect();
            targets.sort();
            targets.dedup();
            json!({"id": format!("inh{i}"),
                   "source": {"rule": format!("r{}", p.rules[x.source % p.rules.len()].id),
                              "at_least": LEVELS[x.at_least]},
                   "target": {"categories": targets.iter().map(|c| format!("cat{c}")).collect::<Vec<_>>()}})
        })
        .collect();
    if !inhibit.is_empty() {
        doc["inhibit"] = json!(inhibit);
    }
    doc
}

fn incidents_json(ip: &IncidentsP, ncat: usize) -> Value {
    let nsev = ip.severities;
    let severities: Vec<Value> = (0..nsev)
        .map(|i| json!({"id": format!("sev{i}")}))
        .collect();
    // severity_by_level: non-decreasing from open_at up.
    let mut by_level = [None; 4];
    let mut s = ip.first % nsev;
    for (slot, step) in by_level.iter_mut().zip(ip.steps).skip(ip.open_at) {
        *slot = Some(s);
        if step {
            s = (s + 1).min(nsev - 1);
        }
    }
    // Overrides that keep every category's map non-decreasing.
    let mut overrides: Vec<(usize, usize, usize)> = Vec::new();
    for &(c, l, sev) in &ip.overrides {
        let (c, l, sev) = (c % ncat, ip.open_at + l % (4 - ip.open_at), sev % nsev);
        if overrides.iter().any(|o| o.0 == c && o.1 == l) {
            continue;
        }
        let mut trial = overrides.clone();
        trial.push((c, l, sev));
        let effective = |lv: usize| {
            trial
                .iter()
                .find(|o| o.0 == c && o.1 == lv)
                .map_or(by_level[lv].unwrap(), |o| o.2)
        };
        if (ip.open_at..3).all(|lv| effective(lv) <= effective(lv + 1)) {
            overrides = trial;
        }
    }
    let mut by = serde_json::Map::new();
    for (l, s) in by_level.iter().enumerate() {
        if let Some(s) = s {
            by.insert(LEVELS[l].into(), json!(format!("sev{s}")));
        }
    }
    let mut v = json!({
        "open_at": LEVELS[ip.open_at],
        "severities": severities,
        "severity_by_level": by,
        "severity_overrides": overrides.iter().map(|(c, l, s)| json!({
            "category": format!("cat{c}"), "level": LEVELS[*l], "severity": format!("sev{s}")
        })).collect::<Vec<_>>(),
        "report_at": format!("sev{}", ip.report_at % nsev),
        "operator_types": ip.operator_types.iter().enumerate().map(|(i, s)| json!({
            "id": format!("op{i}"), "initial_within_s": SECONDS[*s]
        })).collect::<Vec<_>>(),
        "final_within_s": SECONDS[ip.final_within],
    });
    if let Some(a) = ip.ack {
        v["ack_within_s"] = json!(SECONDS[a]);
    }
    if ip.basis {
        v["basis"] = json!("CAC 2025");
    }
    v
}

/// A change of a policy for a reload (§10).
#[derive(Clone, Debug)]
enum Mutation {
    /// New thresholds for a rule (a reset for the grades whose row changes).
    Thresholds(usize, [[Option<u8>; 4]; 4]),
    /// A new window (a definition change; maybe a ring size change).
    Window(usize, i64),
    Timers(usize, Dur, Dur),
    Hysteresis(usize, f64),
    /// A new basis text (the rule is kept).
    Basis(usize),
    Remove(usize),
    Add(RuleP),
    /// Rules in reverse order (indexes change, definitions do not).
    Reverse,
    /// Sector points move: systems change grade.
    Sectors(i64),
    Escalation(Option<(u64, usize, Option<u64>)>),
    Levels([Option<ResponseP>; 4]),
    Inhibit(Vec<InhibitP>),
    /// New deadlines in the incidents section.
    Deadlines(usize, Option<usize>),
    /// No incidents section any more (refused while an incident is not closed).
    DropIncidents,
    /// A new incidents section (or a changed one).
    Incidents(IncidentsP),
    /// One more signal at the end (its kind fixed by its index).
    AddSignal(Option<usize>),
    /// The last signal gone (rules reading it move to other signals).
    DropSignal,
    /// The last category gone (refused while one of its incidents is not closed).
    DropCategory,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), thresholds_p()).prop_map(|(r, t)| Mutation::Thresholds(r, t)),
        2 => (any::<usize>(), 1..=8i64).prop_map(|(r, w)| Mutation::Window(r, w)),
        1 => (any::<usize>(), dur(), dur()).prop_map(|(r, a, b)| Mutation::Timers(r, a, b)),
        1 => (any::<usize>(), prop::sample::select(vec![0.0, 0.25, 0.5]))
            .prop_map(|(r, h)| Mutation::Hysteresis(r, h)),
        1 => any::<usize>().prop_map(Mutation::Basis),
        2 => any::<usize>().prop_map(Mutation::Remove),
        2 => rule_p().prop_map(Mutation::Add),
        1 => Just(Mutation::Reverse),
        2 => prop::sample::select(vec![5i64, 15, 20]).prop_map(Mutation::Sectors),
        1 => prop::option::weighted(0.5, (1..=3u64, 1..=4usize, prop::option::of(1..=2u64)))
            .prop_map(Mutation::Escalation),
        1 => prop::array::uniform4(prop::option::weighted(0.9, response())).prop_map(Mutation::Levels),
        1 => prop::collection::vec(inhibit_p(), 0..=2).prop_map(Mutation::Inhibit),
        1 => (0..SECONDS.len(), prop::option::of(0..SECONDS.len()))
            .prop_map(|(f, a)| Mutation::Deadlines(f, a)),
        1 => Just(Mutation::DropIncidents),
        1 => incidents_p().prop_map(Mutation::Incidents),
        1 => prop::option::weighted(0.5, any::<usize>()).prop_map(Mutation::AddSignal),
        1 => Just(Mutation::DropSignal),
        1 => Just(Mutation::DropCategory),
    ]
}

fn mutate(p: &PolicyP, ms: &[Mutation], next_id: &mut u32) -> PolicyP {
    let mut p = p.clone();
    for m in ms {
        let n = p.rules.len();
        match m {
            Mutation::Thresholds(r, t) => p.rules[r % n].thresholds = *t,
            Mutation::Window(r, w) => p.rules[r % n].window = *w,
            Mutation::Timers(r, a, b) => {
                p.rules[r % n].for_ms = *a;
                p.rules[r % n].clear_for_ms = *b;
            }
            Mutation::Hysteresis(r, h) => p.rules[r % n].hysteresis = *h,
            Mutation::Basis(r) => p.rules[r % n].basis += 1,
            Mutation::Remove(r) if n > 1 => {
                p.rules.remove(r % n);
            }
            Mutation::Remove(_) => {}
            Mutation::Add(r) => {
                let mut r = r.clone();
                r.id = *next_id;
                *next_id += 1;
                p.rules.push(r);
            }
            Mutation::Reverse => p.rules.reverse(),
            Mutation::Sectors(s) => p.sector_step = *s,
            Mutation::Escalation(e) => p.escalation = *e,
            Mutation::Levels(l) => p.levels = *l,
            Mutation::Inhibit(i) => p.inhibit = i.clone(),
            Mutation::Deadlines(f, a) => {
                if let Some(ip) = p.incidents.as_mut() {
                    ip.final_within = *f;
                    ip.ack = *a;
                }
            }
            Mutation::DropIncidents => p.incidents = None,
            Mutation::Incidents(ip) => {
                // The operator types stay: the profiles name them.
                let mut ip = ip.clone();
                if let Some(old) = &p.incidents {
                    ip.operator_types = old.operator_types.clone();
                }
                p.incidents = Some(ip);
            }
            Mutation::AddSignal(cat) => p.signals.push(*cat),
            Mutation::DropSignal if p.signals.len() > 2 => {
                p.signals.pop();
            }
            Mutation::DropSignal => {}
            Mutation::DropCategory if p.categories.len() > 2 => {
                p.categories.pop();
            }
            Mutation::DropCategory => {}
        }
    }
    p
}

// ---------------------------------------------------------------------------------------
// Logs.
// ---------------------------------------------------------------------------------------

/// A profile: sector, capabilities (bits), personal data?, autonomous?, reviewed?, users,
/// operator type (an index, taken modulo the policy's number of them).
#[derive(Clone, Debug)]
struct ProfileP(usize, u8, bool, bool, bool, u64, Option<u8>);

fn profile_p() -> impl Strategy<Value = ProfileP> {
    (
        0..=4usize,
        0..4u8,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::sample::select(vec![1u64, 5000, 2_000_000]),
        prop::option::weighted(0.5, any::<u8>()),
    )
        .prop_map(|(a, b, c, d, e, f, g)| ProfileP(a, b, c, d, e, f, g))
}

fn profile_json(id: &str, p: &ProfileP, operator_types: usize) -> Value {
    let caps: Vec<&str> = [(1, "gen"), (2, "bio")]
        .iter()
        .filter(|(b, _)| p.1 & b != 0)
        .map(|(_, c)| *c)
        .collect();
    let mut v = json!({
        "id": id, "sector": format!("sec{}", p.0), "capabilities": caps,
        "data": if p.2 { "personal" } else { "public" },
        "autonomy": if p.3 { "auto" } else { "hitl" }, "users": p.5,
    });
    if p.4 {
        v["mitigations"] = json!(["review"]);
    }
    if let (Some(o), true) = (p.6, operator_types > 0) {
        v["operator_type"] = json!(format!("op{}", o as usize % operator_types));
    }
    v
}

/// When an operation happens, relative to the log's clock (the largest time so far).
#[derive(Clone, Copy, Debug)]
enum When {
    /// At the clock.
    Same,
    /// Forward by k quarter-buckets.
    Forward(u8),
    /// k buckets (and a fraction) before the clock: late, or stale past the ring.
    Late(u8, u8),
    /// Far ahead: the rings wrap and empty.
    Jump(u32),
}

fn when(jump_weight: u32) -> impl Strategy<Value = When> {
    prop_oneof![
        3 => Just(When::Same),
        6 => (1..=8u8).prop_map(When::Forward),
        3 => (0..=20u8, any::<u8>()).prop_map(|(b, f)| When::Late(b, f)),
        jump_weight => prop_oneof![5..=40u32, 100..=5000u32, 100_000..=1_000_000u32]
            .prop_map(When::Jump),
    ]
}

#[derive(Clone, Copy, Debug)]
enum Val {
    /// A valid value (index into the counter list, or a gauge step).
    Grid(u8),
    Nan,
    Inf,
    NegInf,
    /// Negative: fine for a gauge, invalid for a counter.
    Negative(u8),
}

const COUNTER_VALUES: [f64; 17] = [
    1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 2.0, 3.0, 0.25, 0.5, 0.75, 1.5, 4.0, 10.0, 100.0, 1.0,
];

#[derive(Clone, Debug)]
enum OpP {
    Register(ProfileP),
    /// Registers the id of the first system again (an error).
    Duplicate,
    Observe {
        system: u8,
        signal: Sig,
        value: Val,
        when: When,
    },
    Batch {
        system: u8,
        entries: Vec<(Sig, Val)>,
        when: When,
        /// Keep a repeated signal (an invalid batch) instead of dropping the repeat.
        repeat: bool,
    },
    Tick(When),
    Silence {
        id: u8,
        system: Option<u8>,
        category: Option<u8>,
        rule: Option<u8>,
        /// Start, in quarter-buckets from the clock.
        starts: i8,
        /// Length in quarter-buckets (0: an invalid, empty window; 255: far).
        len: u8,
    },
    Unsilence(u8),
    Ack {
        pick: u16,
        at: i8,
    },
    Report {
        pick: u16,
        kind: u8,
        at: i8,
    },
    Reload(Option<u8>),
}

fn op_p() -> impl Strategy<Value = OpP> {
    let signal = || {
        prop_oneof![
            30 => any::<u8>().prop_map(|s| Sig::Known(s as usize)),
            1 => (0..3u32).prop_map(Sig::Unknown),
        ]
    };
    let value = || {
        prop_oneof![
            40 => (0..17u8).prop_map(Val::Grid),
            1 => Just(Val::Nan),
            1 => Just(Val::Inf),
            1 => Just(Val::NegInf),
            3 => (0..12u8).prop_map(Val::Negative),
        ]
    };
    // Batches of several values: fewer invalid ones (one rejects the whole batch).
    let batch_value = || {
        prop_oneof![
            150 => (0..17u8).prop_map(Val::Grid),
            1 => Just(Val::Nan),
            1 => Just(Val::Inf),
            4 => (0..12u8).prop_map(Val::Negative),
        ]
    };
    let system = || prop_oneof![40 => any::<u8>(), 1 => Just(u8::MAX)];
    prop_oneof![
        2 => profile_p().prop_map(OpP::Register),
        1 => Just(OpP::Duplicate),
        40 => (system(), signal(), value(), when(1)).prop_map(|(system, signal, value, when)| {
            OpP::Observe { system, signal, value, when }
        }),
        6 => (
            system(),
            prop::collection::vec((signal(), batch_value()), 0..=4),
            when(1),
            prop::bool::weighted(0.1),
        )
            .prop_map(|(system, entries, when, repeat)| OpP::Batch { system, entries, when, repeat }),
        8 => when(3).prop_map(OpP::Tick),
        3 => (
            0..4u8,
            prop::option::weighted(0.5, any::<u8>()),
            prop::option::weighted(0.3, any::<u8>()),
            prop::option::weighted(0.3, any::<u8>()),
            -8..=8i8,
            prop_oneof![1 => Just(0u8), 10 => 1..=60u8, 2 => Just(255u8)],
        )
            .prop_map(|(id, system, category, rule, starts, len)| OpP::Silence {
                id, system, category, rule, starts, len
            }),
        1 => (0..5u8).prop_map(OpP::Unsilence),
        3 => (any::<u16>(), any::<i8>()).prop_map(|(pick, at)| OpP::Ack { pick, at }),
        4 => (any::<u16>(), 0..6u8, any::<i8>())
            .prop_map(|(pick, kind, at)| OpP::Report { pick, kind, at }),
        2 => prop::option::weighted(0.7, any::<u8>()).prop_map(OpP::Reload),
    ]
}

/// A start time near 0 (a few buckets either side) or far below it.
fn start() -> impl Strategy<Value = (i64, u16)> {
    (
        prop_oneof![8 => -6..=6i64, 1 => Just(-1_000_000i64)],
        any::<u16>(),
    )
}

/// Systems registered first in some cases, so that the systems the log works on get handles
/// ≥ 64 and share the engine's shards (of 64) with them.
const FILLERS: u32 = 64;

/// Resolves relative times against the log's clock and `bucket_ms`; with `fillers`, first
/// registers [`FILLERS`] systems that only ticks touch.
#[allow(clippy::too_many_arguments)]
fn resolve(
    policy: &Value,
    variants: usize,
    signals: &[(String, bool)],
    rule_ids: &[String],
    start: (i64, u16),
    fillers: bool,
    first: &[ProfileP],
    ops: &[OpP],
) -> Vec<Op> {
    let bucket = policy["bucket_ms"].as_i64().unwrap();
    let ncat = policy["categories"].as_array().unwrap().len();
    let operator_types = policy["incidents"]["operator_types"]
        .as_array()
        .map_or(0, Vec::len);
    let quarter = (bucket / 4).max(1);
    let mut clock = start.0 * bucket + start.1 as i64 % bucket;
    let at = |w: When, clock: &mut i64| -> i64 {
        match w {
            When::Same => *clock,
            When::Forward(k) => {
                *clock += k as i64 * quarter;
                *clock
            }
            When::Late(b, f) => *clock - b as i64 * bucket - f as i64 * bucket / 256,
            When::Jump(n) => {
                *clock += n as i64 * bucket + quarter;
                *clock
            }
        }
    };
    let mut log = Vec::new();
    let skip = if fillers { FILLERS } else { 0 };
    for i in 0..skip {
        log.push(Op::Register {
            profile: profile_json(
                &format!("filler{i}"),
                &ProfileP(i as usize % 5, 0, false, false, false, 1, None),
                operator_types,
            ),
        });
    }
    let mut registered = 0u32;
    let mut next_id = 0;
    let mut register = |p: &ProfileP, log: &mut Vec<Op>, registered: &mut u32| {
        log.push(Op::Register {
            profile: profile_json(&format!("sys{next_id}"), p, operator_types),
        });
        next_id += 1;
        *registered += 1;
    };
    for p in first {
        register(p, &mut log, &mut registered);
    }
    let value = |signal: Sig, v: Val| {
        let counter = match signal {
            Sig::Known(s) => signals[s].1,
            Sig::Unknown(_) => true,
        };
        match v {
            Val::Grid(i) if counter => COUNTER_VALUES[i as usize],
            Val::Grid(i) => (i as f64 - 8.0) * 0.375,
            Val::Nan => f64::NAN,
            Val::Inf => f64::INFINITY,
            Val::NegInf => f64::NEG_INFINITY,
            Val::Negative(i) => -(i as f64 + 1.0) * 0.25,
        }
    };
    let sig = |s: Sig| match s {
        Sig::Known(s) => Sig::Known(s % signals.len()),
        u => u,
    };
    for op in ops {
        let system_of = |system: u8, registered: u32| {
            skip + if system == u8::MAX {
                registered + 2
            } else {
                system as u32 % registered
            }
        };
        match op {
            OpP::Register(p) => register(p, &mut log, &mut registered),
            OpP::Duplicate => log.push(Op::Register {
                profile: profile_json(
                    "sys0",
                    &ProfileP(1, 0, false, false, false, 1, None),
                    operator_types,
                ),
            }),
            OpP::Observe {
                system,
                signal,
                value: v,
                when,
            } => {
                let signal = sig(*signal);
                log.push(Op::Observe {
                    system: system_of(*system, registered),
                    signal,
                    value: value(signal, *v),
                    ts: at(*when, &mut clock),
                });
            }
            OpP::Batch {
                system,
                entries,
                when,
                repeat,
            } => {
                let mut values: Vec<(Sig, f64)> = Vec::new();
                for (s, v) in entries {
                    let s = sig(*s);
                    if *repeat || !values.iter().any(|x| x.0 == s) {
                        values.push((s, value(s, *v)));
                    }
                }
                log.push(Op::Batch {
                    system: system_of(*system, registered),
                    values,
                    ts: at(*when, &mut clock),
                });
            }
            OpP::Tick(w) => {
                let ts = at(*w, &mut clock);
                log.push(Op::Tick { ts });
            }
            OpP::Silence {
                id,
                system,
                category,
                rule,
                starts,
                len,
            } => {
                let starts = clock + *starts as i64 * quarter;
                let ends = match len {
                    255 => starts + 1_000_000_000_000,
                    l => starts + *l as i64 * quarter,
                };
                log.push(Op::Silence {
                    id: format!("s{id}"),
                    system: system.map(|s| format!("sys{}", s as u32 % (registered + 1))),
                    // One more than the categories and rules: a matcher naming nothing.
                    category: category.map(|c| format!("cat{}", c as usize % (ncat + 1))),
                    rule: rule.map(|r| {
                        rule_ids
                            .get(r as usize % (rule_ids.len() + 1))
                            .cloned()
                            .unwrap_or_else(|| "no-such-rule".into())
                    }),
                    starts,
                    ends,
                });
            }
            OpP::Unsilence(id) => log.push(Op::Unsilence {
                id: format!("s{id}"),
            }),
            OpP::Ack { pick, at: d } => log.push(Op::Ack {
                pick: *pick,
                ts: clock + *d as i64 * quarter * 8,
            }),
            OpP::Report { pick, kind, at: d } => log.push(Op::Report {
                pick: *pick,
                kind: [ReportKind::Initial, ReportKind::Update, ReportKind::Final]
                    .get(*kind as usize)
                    .copied(),
                ts: clock + *d as i64 * quarter * 8,
            }),
            OpP::Reload(to) => log.push(Op::Reload {
                to: to.map(|k| k as usize % variants),
            }),
        }
    }
    log
}

/// Random valid policies with random logs of up to `max_ops` operations after 1–3
/// registrations (after [`FILLERS`] more in one case out of ten), and 1–2 more policies
/// (changes of the first) that reloads load.
pub fn case(max_ops: usize) -> impl Strategy<Value = Case> {
    (
        policy_p(),
        prop::collection::vec(prop::collection::vec(mutation(), 1..=4), 1..=2),
        start(),
        prop::bool::weighted(0.1),
        prop::collection::vec(profile_p(), 1..=3),
        prop::collection::vec(op_p(), 1..=max_ops),
    )
        .prop_map(|((p, kinds), muts, start, fillers, first, ops)| {
            let mut next_id = 100;
            let mut ps = vec![p.clone()];
            for m in &muts {
                ps.push(mutate(&p, m, &mut next_id));
            }
            let policies: Vec<Value> = ps.iter().map(|x| build_policy(x, &kinds)).collect();
            let mut signals: Vec<(String, bool)> = Vec::new();
            let mut rule_ids: Vec<String> = Vec::new();
            for doc in &policies {
                for s in doc["signals"].as_array().unwrap() {
                    let id = s["id"].as_str().unwrap().to_owned();
                    if !signals.iter().any(|x| x.0 == id) {
                        signals.push((id, s["kind"] == "counter"));
                    }
                }
                for r in doc["rules"].as_array().unwrap() {
                    let id = r["id"].as_str().unwrap().to_owned();
                    if !rule_ids.contains(&id) {
                        rule_ids.push(id);
                    }
                }
            }
            let log = resolve(
                &policies[0],
                policies.len(),
                &signals,
                &rule_ids,
                start,
                fillers,
                &first,
                &ops,
            );
            Case {
                policies,
                signals,
                log,
            }
        })
}
