//! Random valid policies and random operation logs (proptest strategies) for comparing the
//! engine with the model.
//!
//! Values are chosen so that every window sum the engine and the model compute is exact in
//! floating point whatever the order of addition: counter values are small multiples of
//! 1/4 (and a few small integers), gauge values multiples of 3/8 in [-3, 3], and thresholds
//! multiples of 1/8. With at most a few hundred observations, every partial sum is a
//! multiple of 1/8 far below 2^50, so `sum`, `mean`, `rate` and the Wilson bound (computed
//! from those sums with the same formula) agree bit for bit.
//!
//! A generated case is a policy document ([`Case::policy`]) and a log of operations with
//! absolute times ([`Case::log`]). Its `Debug` form prints the policy as JSON and the log in
//! the line format of `airisk replay` (DESIGN.md §5), so a failing case can be replayed.

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
    /// `engine.tick(ts)`.
    Tick { ts: i64 },
}

/// A signal of the policy (its index), or an id the policy does not define.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sig {
    Known(usize),
    /// `SignalId(number of signals + k)`.
    Unknown(u32),
}

/// A generated policy and log.
#[derive(Clone)]
pub struct Case {
    pub policy: Value,
    pub log: Vec<Op>,
}

impl Case {
    /// The log as `airisk replay` lines (DESIGN.md §5). Handles are shown as the ids of
    /// the systems they name; non-finite values, unknown handles and unknown signals, which
    /// JSON or the replay format cannot carry, are shown as strings.
    pub fn log_lines(&self) -> Vec<String> {
        let signals: Vec<String> = self.policy["signals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect();
        let mut ids: Vec<String> = Vec::new();
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
                    let system = ids
                        .get(*system as usize)
                        .cloned()
                        .unwrap_or_else(|| format!("<unknown handle {system}>"));
                    let signal = match signal {
                        Sig::Known(i) => signals[*i].clone(),
                        Sig::Unknown(k) => {
                            format!("<unknown signal id {}>", signals.len() as u32 + k)
                        }
                    };
                    let value = if value.is_finite() {
                        json!(value)
                    } else {
                        json!(format!("{value}"))
                    };
                    json!({"op": "observe", "ts": ts, "system": system, "signal": signal,
                           "value": value})
                    .to_string()
                }
                Op::Tick { ts } => json!({"op": "tick", "ts": ts}).to_string(),
            })
            .collect()
    }
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "\n--- policy ---")?;
        writeln!(f, "{}", self.policy)?;
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

/// Raw choices for one rule; [`build_policy`] turns them into a valid rule.
#[derive(Clone, Debug)]
struct RuleP {
    signal: usize,
    per: usize,
    /// 0 count, 1 sum, 2 mean, 3 max, 4 min, 5 rate, 6 silence_ms.
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
}

fn rule_p() -> impl Strategy<Value = RuleP> {
    let aggregate = prop_oneof![
        2 => Just(0usize), 2 => Just(1), 2 => Just(2), 2 => Just(3), 2 => Just(4),
        3 => Just(5), 1 => Just(6)
    ];
    let window = prop_oneof![4 => 1..=4i64, 2 => 5..=8i64, 1 => 9..=16i64];
    let min_samples = prop_oneof![3 => Just(0u64), 2 => 1..=4u64];
    let step = prop::option::weighted(0.75, 0..=12u8);
    let thresholds = prop::array::uniform4(prop::array::uniform4(step));
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
        (any::<bool>(), thresholds, dur(), dur()),
        (
            hysteresis,
            prop::bool::weighted(0.3),
            wilson,
            any::<usize>(),
        ),
    )
        .prop_map(
            |(
                (signal, per, aggregate, window, min_samples),
                (below, thresholds, for_ms, clear_for_ms),
                (hysteresis, clear, wilson, category),
            )| RuleP {
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
            },
        )
}

/// A response: actions (bits) and `report_within_s`.
fn response() -> impl Strategy<Value = (u8, Option<i64>)> {
    (
        any::<u8>(),
        prop::option::weighted(
            0.6,
            prop::sample::select(vec![0i64, 600, 3600, 14400, 86400]),
        ),
    )
}

#[derive(Clone, Debug)]
struct PolicyP {
    bucket_ms: i64,
    grades: usize,
    categories: Vec<bool>,
    /// Per signal: counter?, category.
    signals: Vec<(bool, Option<usize>)>,
    rules: Vec<RuleP>,
    escalation: Option<(u64, usize, Option<u64>)>,
    floor: bool,
    levels: [Option<(u8, Option<i64>)>; 4],
    overrides: Vec<(usize, usize, (u8, Option<i64>))>,
}

fn policy_p() -> impl Strategy<Value = PolicyP> {
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
        prop::array::uniform4(prop::option::weighted(0.9, response())),
        prop::collection::vec((any::<usize>(), 1..=4usize, response()), 0..=3),
    )
        .prop_map(
            |(
                bucket_ms,
                grades,
                categories,
                signals,
                rules,
                escalation,
                floor,
                levels,
                overrides,
            )| {
                PolicyP {
                    bucket_ms,
                    grades,
                    categories,
                    signals,
                    rules,
                    escalation,
                    floor,
                    levels,
                    overrides,
                }
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

fn response_json((bits, report): (u8, Option<i64>)) -> Value {
    let actions: Vec<&str> = (0..8)
        .filter(|i| bits & (1 << i) != 0)
        .map(|i| ACTIONS[i])
        .collect();
    json!({"actions": actions, "report_within_s": report})
}

/// The threshold a step stands for, for an aggregate over a counter or a gauge.
fn threshold(aggregate: usize, counter: bool, step: u8, bucket_ms: i64) -> f64 {
    let s = step as f64;
    match (aggregate, counter) {
        (0, _) => s * 0.5,
        (1, true) => s * 0.5,
        (2..=4, true) => s * 0.25,
        (1..=4, false) => -3.0 + s * 0.5,
        (5, _) => s * 0.125,
        _ => s * bucket_ms as f64 / 2.0,
    }
}

/// Builds a valid policy document from raw choices: 2–4 grades (`g0`..) with `min_score`
/// 10·rank, sector points that reach every grade, capabilities, data, autonomy, scale and
/// mitigations that move a profile across grades, and sometimes a floor.
fn build_policy(p: &PolicyP) -> Value {
    let bucket = p.bucket_ms;
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
    // Signal 0 is always a counter, so every policy can have rate rules.
    let signals: Vec<(bool, Option<usize>)> = p
        .signals
        .iter()
        .enumerate()
        .map(|(i, &(c, cat))| (c || i == 0, cat.map(|c| c % ncat)))
        .collect();
    let counters: Vec<usize> = (0..signals.len()).filter(|&i| signals[i].0).collect();
    let mut rules = Vec::new();
    for (i, r) in p.rules.iter().enumerate() {
        let mut agg = r.aggregate;
        let signal = if agg == 5 {
            counters[r.signal % counters.len()]
        } else {
            r.signal % signals.len()
        };
        let counter = signals[signal].0;
        let mut rule = json!({
            "id": format!("r{i}"),
            "category": format!("cat{}", r.category % ncat),
            "basis": format!("Art. {}", 10 + i),
            "signal": format!("sig{signal}"),
            "direction": if r.below { "below" } else { "above" },
        });
        if agg == 5 {
            // A different counter as denominator when there is one.
            let others: Vec<usize> = counters.iter().copied().filter(|&c| c != signal).collect();
            let per = if others.is_empty() {
                signal
            } else {
                others[r.per % others.len()]
            };
            rule["per"] = json!(format!("sig{per}"));
            if let Some(z) = r.wilson {
                rule["wilson_z"] = json!(z);
            }
        }
        if agg > 6 {
            agg = 0;
        }
        rule["aggregate"] =
            json!(["count", "sum", "mean", "max", "min", "rate", "silence_ms"][agg]);
        if agg != 6 {
            rule["window_ms"] = json!(r.window * bucket);
            if r.min_samples > 0 {
                rule["min_samples"] = json!(r.min_samples);
            }
            if r.clear {
                rule["on_empty"] = json!("clear");
            }
        }
        let mut th = serde_json::Map::new();
        for (g, row) in r.thresholds.iter().take(p.grades).enumerate() {
            let mut vals: Vec<f64> = row
                .iter()
                .flatten()
                .map(|&s| threshold(agg, counter, s, bucket))
                .collect();
            vals.sort_by(f64::total_cmp);
            if r.below {
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
            levels.insert(LEVELS[i].into(), response_json(*r));
        }
    }
    let mut overrides: Vec<Value> = Vec::new();
    let mut seen = Vec::new();
    for &(c, l, r) in &p.overrides {
        let key = (c % ncat, l - 1);
        if !seen.contains(&key) {
            seen.push(key);
            let mut o = response_json(r);
            o["category"] = json!(format!("cat{}", key.0));
            o["level"] = json!(LEVELS[key.1]);
            overrides.push(o);
        }
    }
    let mut doc = json!({
        "schema": 1,
        "policy_version": "model",
        "categories": categories,
        "grades": grades,
        "classification": {
            "sectors": {"sec0": 0, "sec1": 10, "sec2": 20, "sec3": 30, "sec4": 40},
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
    doc
}

// ---------------------------------------------------------------------------------------
// Logs.
// ---------------------------------------------------------------------------------------

/// A profile: sector, capabilities (bits), personal data?, autonomous?, reviewed?, users.
#[derive(Clone, Debug)]
struct ProfileP(usize, u8, bool, bool, bool, u64);

fn profile_p() -> impl Strategy<Value = ProfileP> {
    (
        0..=4usize,
        0..4u8,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::sample::select(vec![1u64, 5000, 2_000_000]),
    )
        .prop_map(|(a, b, c, d, e, f)| ProfileP(a, b, c, d, e, f))
}

fn profile_json(id: &str, p: &ProfileP) -> Value {
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
    Tick(When),
}

fn op_p() -> impl Strategy<Value = OpP> {
    let signal = prop_oneof![
        30 => any::<u8>().prop_map(|s| Sig::Known(s as usize)),
        1 => (0..3u32).prop_map(Sig::Unknown),
    ];
    let value = prop_oneof![
        40 => (0..17u8).prop_map(Val::Grid),
        1 => Just(Val::Nan),
        1 => Just(Val::Inf),
        1 => Just(Val::NegInf),
        3 => (0..12u8).prop_map(Val::Negative),
    ];
    let system = prop_oneof![40 => any::<u8>(), 1 => Just(u8::MAX)];
    prop_oneof![
        2 => profile_p().prop_map(OpP::Register),
        1 => Just(OpP::Duplicate),
        40 => (system, signal, value, when(1)).prop_map(|(system, signal, value, when)| {
            OpP::Observe { system, signal, value, when }
        }),
        8 => when(3).prop_map(OpP::Tick),
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
fn resolve(
    policy: &Value,
    start: (i64, u16),
    fillers: bool,
    first: &[ProfileP],
    ops: &[OpP],
) -> Vec<Op> {
    let bucket = policy["bucket_ms"].as_i64().unwrap();
    let nsig = policy["signals"].as_array().unwrap().len();
    let counters: Vec<bool> = policy["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"] == "counter")
        .collect();
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
                &ProfileP(i as usize % 5, 0, false, false, false, 1),
            ),
        });
    }
    let mut registered = 0u32;
    let mut next_id = 0;
    let mut register = |p: &ProfileP, log: &mut Vec<Op>, registered: &mut u32| {
        log.push(Op::Register {
            profile: profile_json(&format!("sys{next_id}"), p),
        });
        next_id += 1;
        *registered += 1;
    };
    for p in first {
        register(p, &mut log, &mut registered);
    }
    for op in ops {
        match op {
            OpP::Register(p) => register(p, &mut log, &mut registered),
            OpP::Duplicate => log.push(Op::Register {
                profile: profile_json("sys0", &ProfileP(1, 0, false, false, false, 1)),
            }),
            OpP::Observe {
                system,
                signal,
                value,
                when,
            } => {
                let system = skip
                    + if *system == u8::MAX {
                        registered + 2
                    } else {
                        *system as u32 % registered
                    };
                let signal = match signal {
                    Sig::Known(s) => Sig::Known(s % nsig),
                    u => *u,
                };
                let counter = match signal {
                    Sig::Known(s) => counters[s],
                    Sig::Unknown(_) => true,
                };
                let value = match *value {
                    Val::Grid(i) if counter => COUNTER_VALUES[i as usize],
                    Val::Grid(i) => (i as f64 - 8.0) * 0.375,
                    Val::Nan => f64::NAN,
                    Val::Inf => f64::INFINITY,
                    Val::NegInf => f64::NEG_INFINITY,
                    Val::Negative(i) => -(i as f64 + 1.0) * 0.25,
                };
                let ts = at(*when, &mut clock);
                log.push(Op::Observe {
                    system,
                    signal,
                    value,
                    ts,
                });
            }
            OpP::Tick(w) => {
                let ts = at(*w, &mut clock);
                log.push(Op::Tick { ts });
            }
        }
    }
    log
}

/// Random valid policies with random logs of up to `max_ops` operations after 1–3
/// registrations (after [`FILLERS`] more in one case out of ten).
pub fn case(max_ops: usize) -> impl Strategy<Value = Case> {
    (
        policy_p(),
        start(),
        prop::bool::weighted(0.1),
        prop::collection::vec(profile_p(), 1..=3),
        prop::collection::vec(op_p(), 1..=max_ops),
    )
        .prop_map(|(p, start, fillers, first, ops)| {
            let policy = build_policy(&p);
            let log = resolve(&policy, start, fillers, &first, &ops);
            Case { policy, log }
        })
}
