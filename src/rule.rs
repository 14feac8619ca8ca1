//! Evaluating one rule for one system: its aggregate's value, then its state machine.
//!
//! - `met(L, v)`: `v ≥ T[L]` (above) or `v ≤ T[L]` (below).
//! - `held(L, v)`: `v ≥ T[L]·(1−h)` (above) or `v ≤ T[L]·(1+h)` (below).
//! - Raising: for each level the state remembers since when `met` has held at every
//!   evaluation; the level rises to the highest level met for at least `for_ms`.
//! - Lowering: `D` = the highest level ≤ the current one that is `held`, or none; when
//!   `D` has been below the current level at every evaluation for at least `clear_for_ms`,
//!   the level falls to `D` as computed at that evaluation.
//! - An undefined value changes no level and resets every timer; an empty window under
//!   `on_empty: "clear"` resets the raising timers and counts as `D = none`.
//!
//! [`evaluate`] is the whole path from a rule to its decision: it reads the window value
//! ([`crate::window::value`]), steps the state machine and stores it back in the arena.

use crate::layout::{Bit, NONE, RingLayout, RuleLayout, RuleState, SystemArena};
use crate::level::Level;
use crate::policy::model::{Aggregate, Detector, Direction, OnEmpty, Rule};
use crate::reload::Fresh;
use crate::window::{self, Eval, met};

/// A change of level decided by an evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Change {
    pub from: Level,
    pub to: Level,
    /// The aggregate that caused it (`None` when the window was empty).
    pub value: Option<f64>,
    /// Threshold of the new level (`None` for none).
    pub threshold: Option<f64>,
}

/// A rule's compiled parameters: everything its evaluation reads on the hot path, in one
/// small struct (the [`Rule`] itself holds ids, names and texts).
#[derive(Debug, Clone)]
pub(crate) struct RuleEval {
    pub index: u32,
    pub aggregate: Aggregate,
    /// `silence_ms`, `ewma`, `cusum` or `psi`: not a plain window aggregate.
    pub special: bool,
    pub direction: Direction,
    pub clear_on_empty: bool,
    /// `min_samples` as a float.
    pub min: f64,
    /// `max(1, min_samples)`.
    pub min1: f64,
    pub signal: u32,
    /// The `per` signal (`rate`).
    pub per: Option<u32>,
    pub wilson_z: Option<f64>,
    /// Its window caches' fields, its timers and active bit (see [`crate::layout`]).
    pub at: RuleLayout,
    /// The "stale" bits of its signal's ring and of its `per` signal's ring.
    pub sig_stale: Bit,
    pub per_stale: Bit,
    /// Detector parameters (`ewma`, `cusum`, `psi`).
    pub detector: Option<Detector>,
    /// Whether its signal is a counter (for a detector's bucket inputs).
    pub counter: bool,
    /// Per grade rank: the lowest used threshold (thresholds are monotone from blue to red,
    /// so it is the first non-null one). A quiet rule whose value does not meet it stays
    /// quiet; `None` when the grade uses no level of this rule.
    pub lowest: [Option<f64>; 8],
}

impl RuleEval {
    pub fn new(rule: &Rule, at: RuleLayout, rings: &[RingLayout], counter: bool) -> RuleEval {
        let mut lowest = [None; 8];
        for (g, row) in rule.thresholds.iter().enumerate().take(8) {
            lowest[g] = row.iter().flatten().next().copied();
        }
        RuleEval {
            index: rule.index,
            aggregate: rule.aggregate,
            special: matches!(
                rule.aggregate,
                Aggregate::SilenceMs | Aggregate::Ewma | Aggregate::Cusum | Aggregate::Psi
            ),
            direction: rule.direction,
            clear_on_empty: rule.on_empty == OnEmpty::Clear,
            min: rule.min_samples as f64,
            min1: (rule.min_samples as f64).max(1.0),
            signal: rule.signal,
            per: rule.per,
            wilson_z: rule.wilson_z,
            at,
            sig_stale: rings[rule.signal as usize].stale,
            per_stale: rule.per.map_or(Bit::default(), |p| rings[p as usize].stale),
            detector: rule.detector.clone(),
            counter,
            lowest,
        }
    }
}

/// What an evaluation pass of one system shares: its grade, its watermark, and the signal
/// just observed (whose ring is already current), if any.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pass {
    pub grade: usize,
    pub w: i64,
    pub observed: Option<u32>,
    /// Whether the system has private windows (after a reload).
    pub fresh: bool,
}

/// Evaluates `rule` for the system whose state is `arena`, at the pass's watermark, and
/// returns the change of level, if any.
#[inline(always)]
pub(crate) fn evaluate(
    rule: &Rule,
    ev: &RuleEval,
    pass: &Pass,
    arena: &mut SystemArena<'_>,
) -> Option<Change> {
    // A quiet rule changes only when its value meets the lowest threshold for the grade
    // (so a rate can skip the Wilson bound); with no threshold there is nothing to decide.
    let bound = if arena.bit(ev.at.active) {
        None
    } else {
        Some(ev.lowest[pass.grade]?)
    };
    let eval = window::value(ev, arena, pass, bound)?;
    decide(rule, ev, pass, arena, bound, eval)
}

/// [`evaluate`] with the value from a rule's private window (after a policy reload).
pub(crate) fn evaluate_fresh(
    rule: &Rule,
    ev: &RuleEval,
    pass: &Pass,
    arena: &mut SystemArena<'_>,
    fresh: &mut Fresh,
) -> Option<Change> {
    let bound = if arena.bit(ev.at.active) {
        None
    } else {
        Some(ev.lowest[pass.grade]?)
    };
    let eval = match ev.aggregate {
        Aggregate::SilenceMs => {
            let last = arena.last_ts(ev.signal as usize).max(fresh.since);
            Some(Eval::Value(pass.w.saturating_sub(last) as f64))
        }
        Aggregate::Ewma | Aggregate::Cusum | Aggregate::Psi => {
            window::value(ev, arena, pass, bound)
        }
        _ => window::compute(ev, &fresh.inputs(arena.wb()), bound),
    }?;
    decide(rule, ev, pass, arena, bound, eval)
}

/// A rule's decision from its value computed against `bound`.
#[inline(always)]
fn decide(
    rule: &Rule,
    ev: &RuleEval,
    pass: &Pass,
    arena: &mut SystemArena<'_>,
    bound: Option<f64>,
    eval: Eval,
) -> Option<Change> {
    if let Some(t) = bound {
        match eval {
            Eval::Value(v) if met(ev.direction, v, t) => {}
            _ => return None,
        }
    }
    let r = ev.index as usize;
    let mut st = arena.rule_state(r, ev.at.timers);
    let change = step(rule, pass.grade, &mut st, pass.w, eval);
    arena.set_rule_state(r, ev.at.timers, &st);
    change
}

#[inline]
fn held(dir: Direction, v: f64, t: f64, h: f64) -> bool {
    match dir {
        Direction::Above => v >= t * (1.0 - h),
        Direction::Below => v <= t * (1.0 + h),
    }
}

#[inline]
fn since(w: i64, t: i64) -> i64 {
    w.saturating_sub(t)
}

/// Lowering towards `d` at time `w`.
#[inline]
fn lower(
    st: &mut RuleState,
    rule: &Rule,
    t: &[Option<f64>; 4],
    d: Level,
    w: i64,
    value: Option<f64>,
) -> Option<Change> {
    if d < st.level {
        if st.below_since == NONE {
            st.below_since = w;
        }
        if since(w, st.below_since) >= rule.clear_for_ms {
            let from = st.level;
            st.level = d;
            st.below_since = NONE;
            return Some(Change {
                from,
                to: d,
                value,
                threshold: d.slot().and_then(|s| t[s]),
            });
        }
    } else {
        st.below_since = NONE;
    }
    None
}

/// Advances the state machine of `rule` for a system of grade rank `grade` at time `w`.
#[inline]
pub(crate) fn step(
    rule: &Rule,
    grade: usize,
    st: &mut RuleState,
    w: i64,
    eval: Eval,
) -> Option<Change> {
    let t = &rule.thresholds[grade];
    match eval {
        Eval::Undefined => {
            st.met_since = [NONE; 4];
            st.below_since = NONE;
            None
        }
        Eval::Empty => {
            st.met_since = [NONE; 4];
            lower(st, rule, t, Level::None, w, None)
        }
        Eval::Value(v) => {
            let dir = rule.direction;
            for (i, ms) in st.met_since.iter_mut().enumerate() {
                match t[i] {
                    Some(th) if met(dir, v, th) => {
                        if *ms == NONE {
                            *ms = w;
                        }
                    }
                    _ => *ms = NONE,
                }
            }
            let mut r = Level::None;
            for i in (0..4).rev() {
                let ms = st.met_since[i];
                if ms != NONE && since(w, ms) >= rule.for_ms {
                    r = Level::WARNINGS[i];
                    break;
                }
            }
            if r > st.level {
                let from = st.level;
                st.level = r;
                st.below_since = NONE;
                return Some(Change {
                    from,
                    to: r,
                    value: Some(v),
                    threshold: r.slot().and_then(|s| t[s]),
                });
            }
            let mut d = Level::None;
            if let Some(c) = st.level.slot() {
                for i in (0..=c).rev() {
                    if let Some(th) = t[i] {
                        if held(dir, v, th, rule.hysteresis) {
                            d = Level::WARNINGS[i];
                            break;
                        }
                    }
                }
            }
            lower(st, rule, t, d, w, Some(v))
        }
    }
}
