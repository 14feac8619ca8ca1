//! Detectors: statistical early warning over closed buckets (`ewma`, `cusum`) and
//! distribution drift over a window (`psi`).
//!
//! - A bucket is **closed** when the system's watermark moves into a later bucket. Each rise
//!   of the watermark makes every `ewma` and `cusum` rule consume the buckets it closes, once
//!   each, in order, starting from the bucket of the system's first watermark; a jump closes
//!   every bucket in between, empty ones included, at a cost independent of its length
//!   (closed forms below). Consuming evaluates nothing; later observations into a closed
//!   bucket do not change the statistic.
//! - A closed bucket's input x: with `per`, the bucket's sum of the signal over its sum of
//!   `per` (skipped when that is 0); for a counter, the bucket's sum (0 when empty); for a
//!   gauge, the bucket's mean (skipped when empty).
//! - `ewma` (α): s = x for the first input, then s ← α·x + (1 − α)·s. m empty buckets of a
//!   counter at once: s·(1 − α)^m (`powi`; `powf` past 2³¹ buckets), or 0 when no input
//!   came before.
//! - `cusum` (μ, k, side): S starts at 0; up: S ← max(0, S + x − μ − k); down:
//!   S ← max(0, S + μ − k − x). m empty buckets of a counter (x = 0) at once:
//!   max(0, S + m·c) with c = −μ − k (up) or μ − k (down).
//! - Both are undefined until `max(1, min_samples)` inputs were consumed.
//! - `psi` (bins e₁ < … < e_{B−1}, reference p): over the window, cᵢ observations in bin i
//!   (bin 1: x < e₁; bin i: e_{i−1} ≤ x < eᵢ; bin B: x ≥ e_{B−1}), n = Σ cᵢ, undefined when
//!   n < max(1, min_samples); aᵢ = (cᵢ + 0.5)/(n + 0.5·B), rᵢ = max(pᵢ, 1e−4),
//!   PSI = Σ (aᵢ − rᵢ)·ln(aᵢ / rᵢ).

use crate::layout::{Agg, SystemArena};
use crate::policy::model::{Detector, Side};
use crate::rule::RuleEval;

/// The input a closed bucket gives a rule: `None` when it is skipped.
#[inline]
fn input(ev: &RuleEval, sig: &Agg, per: Option<&Agg>, counter: bool) -> Option<f64> {
    match per {
        Some(p) => (p.sum != 0.0).then(|| sig.sum / p.sum),
        None if counter => Some(sig.sum),
        None => {
            let _ = ev;
            (sig.count != 0.0).then(|| sig.sum / sig.count)
        }
    }
}

/// Feeds one input to the statistic `(stat, consumed)`.
#[inline]
fn feed(d: &Detector, stat: f64, consumed: u64, x: f64) -> f64 {
    match *d {
        Detector::Ewma { alpha } => {
            if consumed == 0 {
                x
            } else {
                alpha * x + (1.0 - alpha) * stat
            }
        }
        Detector::Cusum {
            target,
            slack,
            side,
        } => match side {
            Side::Up => (stat + x - target - slack).max(0.0),
            Side::Down => (stat + target - slack - x).max(0.0),
        },
        Detector::Psi { .. } => stat,
    }
}

/// Feeds `m` zero inputs at once (the empty buckets of a counter).
#[inline]
fn feed_zeros(d: &Detector, stat: f64, consumed: u64, m: u64) -> f64 {
    match *d {
        Detector::Ewma { alpha } => {
            if consumed == 0 {
                // No input before: the first is 0 and so is every later one.
                0.0
            } else if let Ok(m) = i32::try_from(m) {
                stat * (1.0 - alpha).powi(m)
            } else {
                // More than 2³¹ buckets at once, past `powi`'s exponent. (1 − α)^m is not 0
                // in f64 for every α: with α = 10⁻⁹ it is e^(−α·m) ≈ 0.12 at m = 2³¹.
                stat * (1.0 - alpha).powf(m as f64)
            }
        }
        Detector::Cusum {
            target,
            slack,
            side,
        } => {
            let c = match side {
                Side::Up => -target - slack,
                Side::Down => target - slack,
            };
            (stat + m as f64 * c).max(0.0)
        }
        Detector::Psi { .. } => stat,
    }
}

/// Consumes, for rule `ev`, the buckets `from ..= to` that the watermark just closed:
/// `from` as the rings hold it (unless `skip_first`: a detector restarted by a reload does
/// not take the bucket that was open then), the rest empty.
pub(crate) fn consume(
    ev: &RuleEval,
    arena: &mut SystemArena<'_>,
    from: i64,
    to: i64,
    counter: bool,
    skip_first: bool,
) {
    let Some(d) = &ev.detector else { return };
    let det = ev.at.det;
    let (mut stat, mut consumed) = arena.detector(det);
    let sig = arena.bucket_if_head(ev.signal as usize, from);
    let per = ev.per.map(|p| arena.bucket_if_head(p as usize, from));
    if let Some(x) = input(ev, &sig, per.as_ref(), counter).filter(|_| !skip_first) {
        stat = feed(d, stat, consumed, x);
        consumed += 1;
    }
    let empties = to.saturating_sub(from) as u64;
    if empties > 0 && counter && ev.per.is_none() {
        stat = feed_zeros(d, stat, consumed, empties);
        consumed = consumed.saturating_add(empties);
    }
    arena.set_detector(det, stat, consumed);
}

/// The PSI of a window's counts against `reference`; `None` when fewer than `need`
/// observations.
pub(crate) fn psi(counts: &[u64], reference: &[f64], need: f64) -> Option<f64> {
    let n: f64 = counts.iter().map(|c| f64::from_bits(*c)).sum();
    if n < need {
        return None;
    }
    let b = counts.len() as f64;
    let mut v = 0.0;
    for (c, p) in counts.iter().zip(reference) {
        let a = (f64::from_bits(*c) + 0.5) / (n + 0.5 * b);
        let r = p.max(1e-4);
        v += (a - r) * (a / r).ln();
    }
    Some(v)
}

/// The bin of `x` among the inner edges `bins`: the number of edges ≤ x.
#[inline]
pub(crate) fn bin(bins: &[f64], x: f64) -> usize {
    bins.partition_point(|e| *e <= x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_put_edges_in_the_upper_bin() {
        let e = [0.2, 0.4, 0.6];
        assert_eq!(bin(&e, -5.0), 0);
        assert_eq!(bin(&e, 0.2), 1);
        assert_eq!(bin(&e, 0.39), 1);
        assert_eq!(bin(&e, 0.6), 3);
        assert_eq!(bin(&e, 9.0), 3);
    }

    #[test]
    fn ewma_and_cusum_closed_forms_match_repetition() {
        let ew = Detector::Ewma { alpha: 0.25 };
        let mut s = feed(&ew, 0.0, 0, 8.0);
        let one = feed_zeros(&ew, s, 1, 5);
        for _ in 0..5 {
            s = feed(&ew, s, 1, 0.0);
        }
        assert_eq!(one, s);
        for side in [Side::Up, Side::Down] {
            let cu = Detector::Cusum {
                target: -0.5,
                slack: 0.25,
                side,
            };
            let mut s = 3.0;
            let at_once = feed_zeros(&cu, s, 1, 7);
            for _ in 0..7 {
                s = feed(&cu, s, 1, 0.0);
            }
            assert_eq!(at_once, s, "{side:?}");
        }
    }
}
