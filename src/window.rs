//! Time windows and the value of a rule's aggregate over its window.
//!
//! Time is cut into buckets of `bucket_ms`; bucket index = `ts_ms.div_euclid(bucket_ms)`.
//! Each (system, signal) keeps a ring of `B` buckets (B = the largest window, in buckets, of
//! any rule using the signal as `signal` or `per`; 1 if none), holding only the fields the
//! rules on that signal need (count, sum, min, max). A rule's window is the last
//! `window_ms / bucket_ms` buckets ending at the bucket of the system's watermark; its
//! aggregate is read from a cache kept up to date as observations arrive (see
//! [`crate::layout`] for where rings and caches live).
//!
//! Aggregates: `count`, `sum`, `mean`, `max`, `min`, `rate` (sum of `signal` / sum of
//! `per`, optionally the Wilson score bound), `silence_ms` (watermark − the largest accepted
//! ts of the signal, or − the first watermark before any). Undefined when there are too few
//! samples (`min_samples`), and "empty" under `on_empty: "clear"` when the window holds no
//! observation.

use crate::detector::psi;
use crate::layout::{Agg, CacheRef, NONE, SystemArena};
use crate::policy::model::{Aggregate, Detector, Direction};
use crate::rule::{Pass, RuleEval};

/// Bucket index of a timestamp.
#[inline]
pub(crate) fn bucket_index(ts_ms: i64, bucket_ms: i64) -> i64 {
    ts_ms.div_euclid(bucket_ms)
}

/// What a rule's aggregate gave at an evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Eval {
    /// A value.
    Value(f64),
    /// Not enough data (`min_samples`, empty denominator, ...).
    Undefined,
    /// Empty window under `on_empty: "clear"`.
    Empty,
}

/// The value of a rule's aggregate at the system's watermark. Brings the rings it reads up
/// to date first.
///
/// With `lowest = Some(t)` (the rule is quiet and `t` is its lowest used threshold for the
/// system's grade), a `rate` whose raw proportion cannot meet `t` returns `None` without
/// computing the Wilson bound: for p in [0, 1] the Wilson interval contains p, so the
/// bound used (lower for "above", upper for "below") cannot meet `t` either.
#[inline(always)]
pub(crate) fn value(
    ev: &RuleEval,
    arena: &mut SystemArena<'_>,
    pass: &Pass,
    lowest: Option<f64>,
) -> Option<Eval> {
    let s = ev.signal;
    if ev.special {
        return special(ev, arena, pass);
    }
    if pass.observed != Some(s) {
        arena.current_ring(s as usize, ev.sig_stale);
    }
    if let Some(per) = ev.per {
        if pass.observed != Some(per) {
            arena.current_ring(per as usize, ev.per_stale);
        }
    }
    let inputs = ArenaInputs {
        arena,
        sig: &ev.at.sig,
        per: &ev.at.per,
    };
    compute(ev, &inputs, lowest)
}

/// The window sums a windowed aggregate reads: of its signal (count, sum, min, max) and of
/// its `per` signal (count, sum). Read lazily, so a rule touches only the words it needs.
pub(crate) trait Inputs {
    fn count(&self) -> f64;
    fn sum(&self) -> f64;
    fn min(&self) -> f64;
    fn max(&self) -> f64;
    fn per_count(&self) -> f64;
    fn per_sum(&self) -> f64;
}

/// The window caches in a system's arena.
struct ArenaInputs<'a, 'b> {
    arena: &'a SystemArena<'b>,
    sig: &'a CacheRef,
    per: &'a CacheRef,
}

impl Inputs for ArenaInputs<'_, '_> {
    #[inline(always)]
    fn count(&self) -> f64 {
        self.arena.field(self.sig.count, 0.0)
    }
    #[inline(always)]
    fn sum(&self) -> f64 {
        self.arena.field(self.sig.sum, 0.0)
    }
    #[inline(always)]
    fn min(&self) -> f64 {
        self.arena.field(self.sig.min, f64::INFINITY)
    }
    #[inline(always)]
    fn max(&self) -> f64 {
        self.arena.field(self.sig.max, f64::NEG_INFINITY)
    }
    #[inline(always)]
    fn per_count(&self) -> f64 {
        self.arena.field(self.per.count, 0.0)
    }
    #[inline(always)]
    fn per_sum(&self) -> f64 {
        self.arena.field(self.per.sum, 0.0)
    }
}

/// Window aggregates held whole (a rule's private window after a policy reload).
pub(crate) struct AggInputs {
    pub sig: Agg,
    pub per: Agg,
}

impl Inputs for AggInputs {
    fn count(&self) -> f64 {
        self.sig.count
    }
    fn sum(&self) -> f64 {
        self.sig.sum
    }
    fn min(&self) -> f64 {
        self.sig.min
    }
    fn max(&self) -> f64 {
        self.sig.max
    }
    fn per_count(&self) -> f64 {
        self.per.count
    }
    fn per_sum(&self) -> f64 {
        self.per.sum
    }
}

/// A windowed aggregate's value from its window sums (see [`value`] for `lowest`).
#[inline(always)]
pub(crate) fn compute<I: Inputs>(ev: &RuleEval, w: &I, lowest: Option<f64>) -> Option<Eval> {
    if ev.per.is_some() {
        if ev.clear_on_empty && w.count() == 0.0 && w.per_count() == 0.0 {
            return Some(Eval::Empty);
        }
        let n = w.per_sum();
        if n == 0.0 || n < ev.min {
            return Some(Eval::Undefined);
        }
        let k = w.sum();
        return match ev.wilson_z {
            Some(z) => {
                if let Some(t) = lowest {
                    if !met(ev.direction, k.min(n) / n, t) {
                        return None;
                    }
                }
                let above = ev.direction == Direction::Above;
                Some(Eval::Value(wilson(k, n, z, above)))
            }
            None => Some(Eval::Value(k / n)),
        };
    }
    let count = w.count();
    if ev.clear_on_empty && count == 0.0 {
        return Some(Eval::Empty);
    }
    let need = match ev.aggregate {
        Aggregate::Count | Aggregate::Sum => ev.min,
        _ => ev.min1,
    };
    if count < need {
        return Some(Eval::Undefined);
    }
    Some(Eval::Value(match ev.aggregate {
        Aggregate::Count => count,
        Aggregate::Sum => w.sum(),
        Aggregate::Mean => w.sum() / count,
        Aggregate::Max => w.max(),
        Aggregate::Min => w.min(),
        _ => return Some(Eval::Undefined),
    }))
}

/// The value of a `silence_ms`, `ewma`, `cusum` or `psi` rule.
#[cold]
#[inline(never)]
fn special(ev: &RuleEval, arena: &mut SystemArena<'_>, pass: &Pass) -> Option<Eval> {
    Some(match ev.aggregate {
        Aggregate::SilenceMs => {
            let last = arena.last_ts(ev.signal as usize);
            let last = if last != NONE {
                last
            } else {
                arena.first_watermark()
            };
            Eval::Value(pass.w.saturating_sub(last) as f64)
        }
        Aggregate::Ewma | Aggregate::Cusum => {
            let (stat, consumed) = arena.detector(ev.at.det);
            if (consumed as f64) < ev.min1 {
                Eval::Undefined
            } else {
                Eval::Value(stat)
            }
        }
        Aggregate::Psi => {
            let (Some(h), Some(Detector::Psi { reference, .. })) = (&ev.at.hist, &ev.detector)
            else {
                return Some(Eval::Undefined);
            };
            arena.current_hist(h);
            let counts = arena.hist_counts(h);
            // `on_empty: "clear"` holds for psi as for any windowed aggregate.
            if ev.clear_on_empty && counts.iter().all(|c| f64::from_bits(*c) == 0.0) {
                return Some(Eval::Empty);
            }
            match psi(counts, reference, ev.min1) {
                Some(v) => Eval::Value(v),
                None => Eval::Undefined,
            }
        }
        _ => Eval::Undefined,
    })
}

/// `met(L, v)` for a threshold `t`: `v ≥ t` (above) or `v ≤ t` (below).
#[inline]
pub(crate) fn met(dir: Direction, v: f64, t: f64) -> bool {
    match dir {
        Direction::Above => v >= t,
        Direction::Below => v <= t,
    }
}

/// Wilson score bound of `k/n` with `z`: the lower bound when `lower`, else the upper.
///
/// `(p + z²/2n ∓ z·sqrt(p(1−p)/n + z²/4n²)) / (1 + z²/n)` with `p = k/n`, where `k` is taken
/// as `n` when `k > n` (more flagged events than denominator events in the window), so that
/// `p ≤ 1` and the small-sample guard holds exactly when the sample is smallest.
pub(crate) fn wilson(k: f64, n: f64, z: f64, lower: bool) -> f64 {
    let p = k.min(n) / n;
    let z2 = z * z;
    let center = p + z2 / (2.0 * n);
    let var = p * (1.0 - p) / n + z2 / (4.0 * n * n);
    let rad = z * var.sqrt();
    let denom = 1.0 + z2 / n;
    if lower {
        (center - rad) / denom
    } else {
        (center + rad) / denom
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_timestamps_use_euclidean_buckets() {
        assert_eq!(bucket_index(-1, 60_000), -1);
        assert_eq!(bucket_index(-60_000, 60_000), -1);
        assert_eq!(bucket_index(-60_001, 60_000), -2);
        assert_eq!(bucket_index(0, 60_000), 0);
        assert_eq!(bucket_index(59_999, 60_000), 0);
    }

    #[test]
    fn wilson_bounds_match_hand_computation() {
        // k = 10, n = 100, z = 1.96: p = 0.1,
        // center = 0.1 + 3.8416/200 = 0.119208; var = 0.0009 + 3.8416/40000 = 0.00099604
        // rad = 1.96 * 0.0315601 = 0.0618578; denom = 1.038416
        let lo = wilson(10.0, 100.0, 1.96, true);
        let hi = wilson(10.0, 100.0, 1.96, false);
        assert!((lo - 0.055229).abs() < 1e-5, "{lo}");
        assert!((hi - 0.174367).abs() < 1e-5, "{hi}");
    }

    #[test]
    fn wilson_takes_k_as_n_when_k_exceeds_n() {
        // n = 1, z = 1, k = n = 1: p = 1, center = 1.5, var = 0.25, rad = 0.5, denom = 2.
        assert_eq!(wilson(1.0, 1.0, 1.0, true), 0.5);
        assert_eq!(wilson(1.0, 1.0, 1.0, false), 1.0);
        // k = 2 > n = 1 is taken as k = 1: the same bounds, not 1.0 at once.
        assert_eq!(wilson(2.0, 1.0, 1.0, true), 0.5);
        assert_eq!(wilson(2.0, 1.0, 1.0, false), 1.0);
        // n = 4, z = 1, k = n + 1 = 5 (taken as 4): p = 1, center = 1.125, var = 1/64,
        // rad = 0.125, denom = 1.25: lower 0.8, upper 1.0; equal to k = n = 4.
        assert_eq!(wilson(5.0, 4.0, 1.0, true), 0.8);
        assert_eq!(wilson(5.0, 4.0, 1.0, false), 1.0);
        assert_eq!(wilson(4.0, 4.0, 1.0, true), 0.8);
        // k = n - 1 = 3 is unchanged: p = 0.75, center = 0.875, var = 0.046875 + 0.015625
        // = 0.0625, rad = 0.25, denom = 1.25: lower 0.5, upper 0.9.
        assert!((wilson(3.0, 4.0, 1.0, true) - 0.5).abs() < 1e-12);
        assert!((wilson(3.0, 4.0, 1.0, false) - 0.9).abs() < 1e-12);
    }
}
