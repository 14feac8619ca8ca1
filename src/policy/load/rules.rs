//! `rules`: each warning rule, checked field by field against the signals, categories and
//! grades the document defines.

use super::{choice, i18n, id_section, known_id, non_negative_ms, opt_arc, opt_choice, opt_string};
use crate::hash::FastMap;
use crate::json::{Walker, idx, key};
use crate::level::Level;
use crate::policy::MAX_BUCKETS_PER_SYSTEM;
use crate::policy::model::*;
use serde_json::{Map, Value};
use std::sync::Arc;

const RULE_KEYS: &[&str] = &[
    "id",
    "name",
    "category",
    "basis",
    "description",
    "signal",
    "aggregate",
    "per",
    "window_ms",
    "min_samples",
    "direction",
    "thresholds",
    "for_ms",
    "clear_for_ms",
    "hysteresis",
    "on_empty",
    "wilson_z",
    "alpha",
    "target",
    "slack",
    "side",
    "bins",
    "reference",
];

/// What a rule may refer to.
pub(super) struct Context<'a> {
    pub signals: &'a [Signal],
    pub signal_ix: &'a FastMap<Arc<str>, u32>,
    pub category_ix: &'a FastMap<Arc<str>, u32>,
    pub grades: &'a [Grade],
    pub grade_ix: &'a FastMap<Arc<str>, u32>,
    pub bucket_ms: i64,
}

pub(super) fn rules(w: &mut Walker, top: &Map<String, Value>, ctx: &Context<'_>) -> Vec<Rule> {
    let mut rules = Vec::new();
    let raw = w.req(top, "", "rules");
    for (p, m, id) in id_section(w, raw, "rules", RULE_KEYS) {
        if let Some(r) = rule(w, &p, m, id, rules.len() as u32, ctx) {
            rules.push(r);
        }
    }
    rules
}

/// One rule; `None` when any of its fields has a problem (each recorded in `w`).
fn rule(
    w: &mut Walker,
    p: &str,
    m: &Map<String, Value>,
    id: Arc<str>,
    index: u32,
    ctx: &Context<'_>,
) -> Option<Rule> {
    let before = w.issues.len();
    // Required: `null` is an error too (not "absent"), or the rule would be dropped unseen.
    let signal = w
        .req(m, p, "signal")
        .and_then(|v| known_id(w, v, &key(p, "signal"), "signal", ctx.signal_ix));
    let per =
        Walker::opt(m, "per").and_then(|v| known_id(w, v, &key(p, "per"), "signal", ctx.signal_ix));
    let category = match Walker::opt(m, "category") {
        Some(c) => known_id(w, c, &key(p, "category"), "category", ctx.category_ix),
        None => signal.and_then(|s| ctx.signals[s as usize].category),
    };
    let name = i18n(w, m.get("name"), p);
    let basis = opt_arc(w, m, p, "basis");
    let description = opt_string(w, m, p, "description");
    let aggregate = w
        .req(m, p, "aggregate")
        .and_then(|a| choice(w, a, &key(p, "aggregate"), "aggregate", Aggregate::NAMES));
    check_per(w, p, m, aggregate);
    let (window_ms, window_buckets) = window(w, p, m, aggregate, ctx.bucket_ms);
    let min_samples = match Walker::opt(m, "min_samples") {
        None => 0,
        Some(v) => v.as_u64().unwrap_or_else(|| {
            w.err(key(p, "min_samples"), "expected a non-negative integer");
            0
        }),
    };
    let direction = opt_choice(
        w,
        m,
        p,
        "direction",
        &[("above", Direction::Above), ("below", Direction::Below)],
        Direction::Above,
    );
    let for_ms = non_negative_ms(w, m, p, "for_ms");
    let clear_for_ms = non_negative_ms(w, m, p, "clear_for_ms");
    let hysteresis = hysteresis(w, p, m);
    let on_empty = opt_choice(
        w,
        m,
        p,
        "on_empty",
        &[("hold", OnEmpty::Hold), ("clear", OnEmpty::Clear)],
        OnEmpty::Hold,
    );
    let wilson_z = wilson_z(w, p, m, aggregate);
    let detector = detector(w, p, m, aggregate, direction, signal, per, ctx);
    let thresholds = thresholds(w, p, m, direction, ctx);
    if w.issues.len() != before {
        return None;
    }
    Some(Rule {
        id,
        index,
        name,
        category,
        basis,
        description,
        signal: signal?,
        aggregate: aggregate?,
        per,
        window_ms,
        window_buckets,
        min_samples,
        direction,
        thresholds,
        for_ms,
        clear_for_ms,
        hysteresis,
        on_empty,
        wilson_z,
        detector,
    })
}

/// The detector fields: each belongs to one aggregate and is an error on any other.
#[allow(clippy::too_many_arguments)]
fn detector(
    w: &mut Walker,
    p: &str,
    m: &Map<String, Value>,
    aggregate: Option<Aggregate>,
    direction: Direction,
    signal: Option<u32>,
    per: Option<u32>,
    ctx: &Context<'_>,
) -> Option<Detector> {
    let a = aggregate?;
    for (field, owner) in [
        ("alpha", Aggregate::Ewma),
        ("target", Aggregate::Cusum),
        ("slack", Aggregate::Cusum),
        ("side", Aggregate::Cusum),
        ("bins", Aggregate::Psi),
        ("reference", Aggregate::Psi),
    ] {
        if m.contains_key(field) && a != owner {
            let name = Aggregate::NAMES
                .iter()
                .find(|(_, x)| *x == owner)
                .map_or("", |(n, _)| *n);
            w.err(
                key(p, field),
                format!("{field:?} is only allowed with aggregate {name:?}"),
            );
        }
    }
    if a.consumes_buckets() && m.contains_key("on_empty") {
        w.err(
            key(p, "on_empty"),
            "on_empty is not allowed with ewma or cusum (they consume closed buckets, empty ones included)",
        );
    }
    let num = |w: &mut Walker, k: &str| w.req(m, p, k).and_then(|v| w.num(v, &key(p, k)));
    match a {
        Aggregate::Ewma => {
            let alpha = num(w, "alpha")?;
            if !(alpha > 0.0 && alpha <= 1.0) {
                w.err(
                    key(p, "alpha"),
                    format!("alpha must be in (0, 1]; found {alpha}"),
                );
                return None;
            }
            Some(Detector::Ewma { alpha })
        }
        Aggregate::Cusum => {
            if direction == Direction::Below {
                w.err(
                    key(p, "direction"),
                    "a cusum rule compares S with its thresholds from above: direction \"below\" is not allowed (use side \"down\" for downward shifts)",
                );
            }
            let target = num(w, "target");
            let slack = num(w, "slack");
            if let Some(k) = slack {
                if k < 0.0 {
                    w.err(key(p, "slack"), format!("slack must be ≥ 0; found {k}"));
                }
            }
            let side = w.req(m, p, "side").and_then(|v| {
                choice(
                    w,
                    v,
                    &key(p, "side"),
                    "side",
                    &[("up", Side::Up), ("down", Side::Down)],
                )
            });
            let (target, slack, side) = (target?, slack?, side?);
            (slack >= 0.0).then_some(Detector::Cusum {
                target,
                slack,
                side,
            })
        }
        Aggregate::Psi => {
            if per.is_some() {
                w.err(
                    key(p, "per"),
                    "\"per\" is not allowed with aggregate \"psi\"",
                );
            }
            if let Some(s) = signal {
                if ctx.signals[s as usize].kind != SignalKind::Gauge {
                    w.err(
                        key(p, "signal"),
                        format!(
                            "psi needs a gauge (a distribution of samples); {:?} is a counter",
                            &*ctx.signals[s as usize].id
                        ),
                    );
                }
            }
            let list = |w: &mut Walker, k: &str| -> Option<Vec<f64>> {
                let kp = key(p, k);
                let a = w.req(m, p, k).and_then(|v| w.arr(v, &kp))?;
                let mut out = Vec::with_capacity(a.len());
                for (i, x) in a.iter().enumerate() {
                    out.push(w.num(x, &idx(&kp, i))?);
                }
                Some(out)
            };
            let bins = list(w, "bins")?;
            let reference = list(w, "reference")?;
            let b = bins.len() + 1;
            let mut ok = true;
            if !(2..=32).contains(&b) {
                w.err(
                    key(p, "bins"),
                    format!(
                        "psi takes 2 to 32 bins (1 to 31 edges); found {} edges",
                        bins.len()
                    ),
                );
                ok = false;
            }
            if let Some(i) = bins.windows(2).position(|x| x[1] <= x[0]) {
                w.err(
                    idx(&key(p, "bins"), i + 1),
                    format!(
                        "bin edges must be strictly increasing: {} is not above {}",
                        bins[i + 1],
                        bins[i]
                    ),
                );
                ok = false;
            }
            if reference.len() != b {
                w.err(
                    key(p, "reference"),
                    format!(
                        "{} edges make {b} bins, so the reference needs {b} proportions; found {}",
                        bins.len(),
                        reference.len()
                    ),
                );
                ok = false;
            }
            if let Some(i) = reference.iter().position(|&r| r < 0.0) {
                w.err(
                    idx(&key(p, "reference"), i),
                    format!("proportions must be ≥ 0; found {}", reference[i]),
                );
                ok = false;
            }
            let total: f64 = reference.iter().sum();
            if (total - 1.0).abs() > 1e-9 {
                w.err(
                    key(p, "reference"),
                    format!(
                        "the reference proportions must sum to 1 (within 1e-9); they sum to {total}"
                    ),
                );
                ok = false;
            }
            ok.then_some(Detector::Psi { bins, reference })
        }
        _ => None,
    }
}

/// `per` is required by `rate`, allowed with `ewma` and `cusum` (a per-bucket rate) and
/// nowhere else (`psi` says so itself).
fn check_per(w: &mut Walker, p: &str, m: &Map<String, Value>, aggregate: Option<Aggregate>) {
    let Some(a) = aggregate else { return };
    // `null` is absent, as everywhere: `"per": null` does not satisfy `rate`.
    let has_per = Walker::opt(m, "per").is_some();
    if a == Aggregate::Rate && !has_per {
        w.err(
            key(p, "per"),
            "aggregate \"rate\" needs \"per\" (the denominator signal)",
        );
    }
    if !matches!(
        a,
        Aggregate::Rate | Aggregate::Ewma | Aggregate::Cusum | Aggregate::Psi
    ) && has_per
    {
        w.err(
            key(p, "per"),
            "\"per\" is only allowed with aggregate \"rate\" (or \"ewma\" and \"cusum\", for a per-bucket rate)",
        );
    }
}

/// `window_ms` (required by every windowed aggregate, refused by the others) and its length
/// in buckets.
fn window(
    w: &mut Walker,
    p: &str,
    m: &Map<String, Value>,
    aggregate: Option<Aggregate>,
    bucket_ms: i64,
) -> (Option<i64>, u32) {
    let wp = key(p, "window_ms");
    let Some(a) = aggregate else {
        return (None, 0);
    };
    match (a.windowed(), Walker::opt(m, "window_ms")) {
        (false, Some(_)) => {
            let name = Aggregate::NAMES
                .iter()
                .find(|(_, x)| *x == a)
                .map_or("", |(n, _)| *n);
            w.err(wp, format!("aggregate {name:?} takes no window_ms"));
            (None, 0)
        }
        (false, None) => (None, 0),
        (true, None) => {
            w.err(wp, "missing required field");
            (None, 0)
        }
        (true, Some(v)) => {
            let Some(x) = w.int(v, &wp) else {
                return (None, 0);
            };
            if x <= 0 || x % bucket_ms != 0 {
                w.err(
                    wp,
                    format!("window_ms must be a positive multiple of bucket_ms ({bucket_ms}); found {x}"),
                );
                (None, 0)
            } else if x / bucket_ms > MAX_BUCKETS_PER_SYSTEM as i64 {
                w.err(
                    wp,
                    format!(
                        "window of {} buckets; at most {MAX_BUCKETS_PER_SYSTEM} are allowed",
                        x / bucket_ms
                    ),
                );
                (None, 0)
            } else {
                (Some(x), (x / bucket_ms) as u32)
            }
        }
    }
}

fn hysteresis(w: &mut Walker, p: &str, m: &Map<String, Value>) -> f64 {
    let Some(v) = Walker::opt(m, "hysteresis") else {
        return 0.0;
    };
    match w.num(v, &key(p, "hysteresis")) {
        Some(h) if (0.0..1.0).contains(&h) => h,
        Some(h) => {
            w.err(
                key(p, "hysteresis"),
                format!("hysteresis must be in [0, 1); found {h}"),
            );
            0.0
        }
        None => 0.0,
    }
}

fn wilson_z(
    w: &mut Walker,
    p: &str,
    m: &Map<String, Value>,
    aggregate: Option<Aggregate>,
) -> Option<f64> {
    let v = Walker::opt(m, "wilson_z")?;
    let zp = key(p, "wilson_z");
    let z = w.num(v, &zp);
    if aggregate.is_some_and(|a| a != Aggregate::Rate) {
        w.err(&zp, "wilson_z is only allowed with aggregate \"rate\"");
    }
    match z {
        Some(z) if z > 0.0 => Some(z),
        Some(z) => {
            w.err(zp, format!("wilson_z must be positive; found {z}"));
            None
        }
        None => None,
    }
}

/// `thresholds`: one row of four per grade, every grade present, monotone in `direction`.
fn thresholds(
    w: &mut Walker,
    p: &str,
    m: &Map<String, Value>,
    direction: Direction,
    ctx: &Context<'_>,
) -> Vec<[Option<f64>; 4]> {
    let mut out = vec![[None; 4]; ctx.grades.len()];
    let tp = key(p, "thresholds");
    let Some(tv) = w.req(m, p, "thresholds") else {
        return out;
    };
    let Some(tm) = w.map(tv, &tp) else {
        return out;
    };
    for (g, row) in tm {
        let gp = key(&tp, g);
        let Some(&rank) = ctx.grade_ix.get(g.as_str()) else {
            w.err(gp, format!("unknown grade {g:?}"));
            continue;
        };
        if let Some(r) = threshold_row(w, &gp, row, direction) {
            out[rank as usize] = r;
        }
    }
    for g in ctx.grades {
        if !tm.contains_key(&*g.id) {
            w.err(
                key(&tp, &g.id),
                format!("grade {:?} has no thresholds", &*g.id),
            );
        }
    }
    out
}

fn threshold_row(
    w: &mut Walker,
    gp: &str,
    row: &Value,
    direction: Direction,
) -> Option<[Option<f64>; 4]> {
    let a = w.arr(row, gp)?;
    if a.len() != 4 {
        w.err(
            gp,
            format!(
                "expected 4 thresholds (blue, yellow, orange, red), found {}",
                a.len()
            ),
        );
        return None;
    }
    let mut out = [None; 4];
    for (i, x) in a.iter().enumerate() {
        if !x.is_null() {
            out[i] = w.num(x, &idx(gp, i));
        }
    }
    let mut prev: Option<(usize, f64)> = None;
    for (i, t) in out.iter().enumerate() {
        let Some(t) = *t else { continue };
        if let Some((pi, pt)) = prev {
            let (bad, verb, dname) = match direction {
                Direction::Above => (t < pt, "decrease", "above"),
                Direction::Below => (t > pt, "increase", "below"),
            };
            if bad {
                w.err(
                    gp,
                    format!(
                        "thresholds must not {verb} for direction {dname:?}: {} is {t} after {} {pt}",
                        Level::WARNINGS[i].name(),
                        Level::WARNINGS[pi].name()
                    ),
                );
            }
        }
        prev = Some((i, t));
    }
    Some(out)
}

/// `inhibit` (optional): while a source rule is at or above a level, transitions of the
/// target categories' rules are muted.
pub(super) fn inhibit(
    w: &mut Walker,
    top: &Map<String, Value>,
    rules: &[Rule],
    category_ix: &FastMap<Arc<str>, u32>,
) -> Vec<crate::silence::Inhibit> {
    let mut out = Vec::new();
    for (p, m, id) in id_section(
        w,
        Walker::opt(top, "inhibit"),
        "inhibit",
        &["id", "source", "target", "basis", "description"],
    ) {
        let source = w.req(m, &p, "source").and_then(|v| {
            let sp = key(&p, "source");
            let sm = w.obj(v, &sp, &["rule", "at_least"])?;
            let rule = w.req(sm, &sp, "rule").and_then(|r| {
                let rp = key(&sp, "rule");
                let s = w.str(r, &rp)?;
                let found = rules.iter().find(|x| &*x.id == s).map(|x| x.index);
                if found.is_none() {
                    w.err(
                        rp,
                        crate::classify::unknown_value("rule", s, rules.iter().map(|x| &*x.id)),
                    );
                }
                found
            });
            let at_least = w
                .req(sm, &sp, "at_least")
                .and_then(|l| super::warning_level(w, l, &key(&sp, "at_least")));
            Some((rule?, at_least?))
        });
        let targets = w.req(m, &p, "target").and_then(|v| {
            let tp = key(&p, "target");
            let tm = w.obj(v, &tp, &["categories"])?;
            let cp = key(&tp, "categories");
            let list = w.req(tm, &tp, "categories")?;
            let a = w.arr(list, &cp)?;
            if a.is_empty() {
                w.err(&cp, "at least one category is needed");
            }
            let mut out = Vec::new();
            for (i, x) in a.iter().enumerate() {
                if let Some(c) = known_id(w, x, &idx(&cp, i), "category", category_ix) {
                    out.push(c);
                }
            }
            Some(out)
        });
        let basis = opt_arc(w, m, &p, "basis");
        let _ = opt_string(w, m, &p, "description");
        if let (Some((source_rule, at_least)), Some(targets)) = (source, targets) {
            out.push(crate::silence::Inhibit {
                id,
                source_rule,
                at_least,
                targets,
                basis,
            });
        }
    }
    out
}
