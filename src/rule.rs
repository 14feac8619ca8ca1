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

use crate::layout::{NONE, RuleLayout, RuleState, SystemArena};
use crate::level::Level;
use crate::policy::model::{Direction, Rule};
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

/// The lowest used threshold of each grade's row (thresholds are monotone from blue to red,
/// so it is the first non-null one): a quiet rule whose value does not meet it stays quiet.
pub(crate) fn lowest_thresholds(rule: &Rule) -> Vec<Option<f64>> {
    rule.thresholds
        .iter()
        .map(|row| row.iter().flatten().next().copied())
        .collect()
}

/// Evaluates `rule` for the system whose state is `arena`, at its watermark, and returns
/// the change of level, if any. `lowest` is [`lowest_thresholds`] of the rule.
#[inline]
pub(crate) fn evaluate(
    rule: &Rule,
    rl: &RuleLayout,
    lowest: &[Option<f64>],
    arena: &mut SystemArena<'_>,
) -> Option<Change> {
    let r = rule.index as usize;
    let grade = arena.grade() as usize;
    let quiet = !arena.active(r);
    let lowest = lowest[grade];
    if quiet && lowest.is_none() {
        // No level is used for this grade: nothing can ever happen.
        return None;
    }
    let eval = window::value(rule, rl, arena, if quiet { lowest } else { None })?;
    if quiet {
        // A quiet rule changes only when its value meets the lowest threshold.
        match (eval, lowest) {
            (Eval::Value(v), Some(t)) if met(rule.direction, v, t) => {}
            _ => return None,
        }
    }
    let mut st = arena.rule_state(r);
    let w = arena.watermark();
    let change = step(rule, grade, &mut st, w, eval);
    arena.set_rule_state(r, &st);
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
