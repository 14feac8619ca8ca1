//! The per (system × rule) state machine (DESIGN.md "Levels, thresholds and the state
//! machine").
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

use crate::level::Level;
use crate::policy::{Direction, Rule};
use crate::window::NONE;
use serde::{Deserialize, Serialize};

/// What a rule's aggregate gave at an evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Eval {
    /// A value.
    Value(f64),
    /// Not enough data (`min_samples`, empty denominator, ...).
    Undefined,
    /// Empty window under `on_empty: "clear"`.
    Empty,
    /// The evaluation provably changes nothing (a quiet rule far from its thresholds).
    Unchanged,
}

/// The state of one rule for one system.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RuleState {
    /// Current level.
    pub level: Level,
    /// For blue..red: since when `met` has held at every evaluation (`i64::MIN` = not met).
    pub met_since: [i64; 4],
    /// Since when the lowering target has been below the current level (`i64::MIN` = not).
    pub below_since: i64,
}

impl Default for RuleState {
    fn default() -> Self {
        RuleState {
            level: Level::None,
            met_since: [NONE; 4],
            below_since: NONE,
        }
    }
}

impl RuleState {
    /// Reads a rule record (met_since ×4, below_since, level) from a state arena.
    #[inline]
    pub(crate) fn load(w: &[u64]) -> RuleState {
        RuleState {
            met_since: [w[0] as i64, w[1] as i64, w[2] as i64, w[3] as i64],
            below_since: w[4] as i64,
            level: Level::from_u8(w[5] as u8).unwrap_or(Level::None),
        }
    }

    /// Writes a rule record into a state arena.
    #[inline]
    pub(crate) fn store(&self, w: &mut [u64]) {
        for (x, m) in w.iter_mut().zip(self.met_since) {
            *x = m as u64;
        }
        w[4] = self.below_since as u64;
        w[5] = self.level as u64;
    }

    /// No level, no timer running: the state of a rule that has nothing to report.
    #[inline]
    pub(crate) fn is_quiet(&self) -> bool {
        self.level == Level::None
            && self.below_since == NONE
            && self.met_since[0] == NONE
            && self.met_since[1] == NONE
            && self.met_since[2] == NONE
            && self.met_since[3] == NONE
    }

    /// The record of a rule that was never evaluated.
    pub(crate) const INITIAL: [u64; 6] = [
        NONE as u64,
        NONE as u64,
        NONE as u64,
        NONE as u64,
        NONE as u64,
        0,
    ];
}

/// A change of level decided by [`step`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Change {
    pub from: Level,
    pub to: Level,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
}

#[inline]
fn met(dir: Direction, v: f64, t: f64) -> bool {
    match dir {
        Direction::Above => v >= t,
        Direction::Below => v <= t,
    }
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

/// Whether `v` meets the lowest used threshold of `rule` for grade rank `grade` (the first
/// non-null one: thresholds are monotone from blue to red). `false` when no level is used.
#[inline]
pub(crate) fn may_meet(rule: &Rule, grade: usize, v: f64) -> bool {
    match rule.thresholds[grade].iter().flatten().next() {
        Some(&t) => met(rule.direction, v, t),
        None => false,
    }
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
        Eval::Unchanged => None,
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
