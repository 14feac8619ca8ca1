//! Time windows (DESIGN.md "Time, windows and evaluation").
//!
//! Time is cut into buckets of `bucket_ms`; bucket index = `ts_ms.div_euclid(bucket_ms)`.
//! Each (system, signal) keeps a ring of `B` buckets (B = the largest window, in buckets, of
//! any rule using the signal as `signal` or `per`; 1 if none), holding only the fields the
//! policy's rules on that signal need (count, sum, min, max). All rings of a system live in
//! one flat `f64` slice, laid out by [`RingSpec`](crate::policy::RingSpec).
//!
//! A ring's `head` is the newest bucket index it holds. Rings advance lazily: before a ring
//! is written or read at watermark `w`, [`advance`] clears the slots of the buckets between
//! its head and `idx(w)`.

use crate::policy::{FIELD_COUNT, FIELD_MAX, FIELD_MIN, FIELD_SUM, RingSpec};

/// Sentinel for "no timestamp / no bucket yet".
pub(crate) const NONE: i64 = i64::MIN;

/// Bucket index of a timestamp.
#[inline]
pub fn bucket_index(ts_ms: i64, bucket_ms: i64) -> i64 {
    ts_ms.div_euclid(bucket_ms)
}

#[inline]
fn field_offset(fields: u8, f: u8) -> usize {
    (fields & (f - 1)).count_ones() as usize
}

/// The window aggregates of one ring.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Agg {
    pub count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

#[inline]
fn clear_slot(s: &mut [f64], fields: u8) {
    let mut i = 0;
    if fields & FIELD_COUNT != 0 {
        s[i] = 0.0;
        i += 1;
    }
    if fields & FIELD_SUM != 0 {
        s[i] = 0.0;
        i += 1;
    }
    if fields & FIELD_MIN != 0 {
        s[i] = f64::INFINITY;
        i += 1;
    }
    if fields & FIELD_MAX != 0 {
        s[i] = f64::NEG_INFINITY;
    }
}

/// The storage of one ring inside a system's bucket slice.
#[inline]
fn ring<'a>(store: &'a mut [f64], spec: &RingSpec) -> &'a mut [f64] {
    let stride = spec.fields.count_ones() as usize;
    let start = spec.offset as usize;
    &mut store[start..start + stride * spec.len as usize]
}

/// Advances a ring so that its newest bucket is `to`, clearing the buckets in between.
#[inline]
pub(crate) fn advance(store: &mut [f64], spec: &RingSpec, head: &mut i64, to: i64) {
    let stride = spec.fields.count_ones() as usize;
    if stride == 0 {
        if *head == NONE || to > *head {
            *head = to;
        }
        return;
    }
    let len = spec.len as i64;
    let r = ring(store, spec);
    if *head == NONE || to.saturating_sub(*head) >= len {
        for s in r.chunks_exact_mut(stride) {
            clear_slot(s, spec.fields);
        }
        *head = to;
        return;
    }
    if to <= *head {
        return;
    }
    let mut i = *head + 1;
    while i <= to {
        let slot = i.rem_euclid(len) as usize;
        clear_slot(&mut r[slot * stride..(slot + 1) * stride], spec.fields);
        i += 1;
    }
    *head = to;
}

/// Adds one observation to bucket `b` (which must be within the ring: `head-len < b <= head`).
#[inline]
pub(crate) fn add(store: &mut [f64], spec: &RingSpec, b: i64, value: f64) {
    let stride = spec.fields.count_ones() as usize;
    if stride == 0 {
        return;
    }
    let slot = b.rem_euclid(spec.len as i64) as usize;
    let r = ring(store, spec);
    let s = &mut r[slot * stride..(slot + 1) * stride];
    let f = spec.fields;
    if f & FIELD_COUNT != 0 {
        s[field_offset(f, FIELD_COUNT)] += 1.0;
    }
    if f & FIELD_SUM != 0 {
        s[field_offset(f, FIELD_SUM)] += value;
    }
    if f & FIELD_MIN != 0 {
        let m = &mut s[field_offset(f, FIELD_MIN)];
        if value < *m {
            *m = value;
        }
    }
    if f & FIELD_MAX != 0 {
        let m = &mut s[field_offset(f, FIELD_MAX)];
        if value > *m {
            *m = value;
        }
    }
}

/// Aggregates the last `n` buckets ending at the ring's head (`head-n+1 ..= head`).
/// The ring must have been advanced to the evaluation watermark. Fields the ring does not
/// keep read as 0 (count, sum) or ±∞ (min, max).
#[inline]
pub(crate) fn window(store: &[f64], spec: &RingSpec, head: i64, n: u32) -> Agg {
    let mut a = Agg {
        count: 0.0,
        sum: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
    };
    let stride = spec.fields.count_ones() as usize;
    if stride == 0 || head == NONE {
        return a;
    }
    let f = spec.fields;
    let len = spec.len as i64;
    let n = (n as i64).min(len).max(1);
    let start = spec.offset as usize;
    let r = &store[start..start + stride * spec.len as usize];
    let oc = (f & FIELD_COUNT != 0).then(|| field_offset(f, FIELD_COUNT));
    let os = (f & FIELD_SUM != 0).then(|| field_offset(f, FIELD_SUM));
    let omin = (f & FIELD_MIN != 0).then(|| field_offset(f, FIELD_MIN));
    let omax = (f & FIELD_MAX != 0).then(|| field_offset(f, FIELD_MAX));
    // Walk the n slots ending at head's slot, oldest first, as two contiguous runs.
    let head_slot = head.rem_euclid(len);
    let first = (head_slot - n + 1).rem_euclid(len) as usize;
    let mut visit = |s: &[f64]| {
        if let Some(o) = oc {
            a.count += s[o];
        }
        if let Some(o) = os {
            a.sum += s[o];
        }
        if let Some(o) = omin {
            if s[o] < a.min {
                a.min = s[o];
            }
        }
        if let Some(o) = omax {
            if s[o] > a.max {
                a.max = s[o];
            }
        }
    };
    let n = n as usize;
    let run1 = (spec.len as usize - first).min(n);
    for s in r[first * stride..(first + run1) * stride].chunks_exact(stride) {
        visit(s);
    }
    for s in r[..(n - run1) * stride].chunks_exact(stride) {
        visit(s);
    }
    a
}

/// Wilson score bound of `k/n` with `z`: the lower bound when `lower`, else the upper.
///
/// `(p + z²/2n ∓ z·sqrt(p(1−p)/n + z²/4n²)) / (1 + z²/n)`, with `p(1−p)` taken as 0 when
/// `p` is outside [0, 1] (a "rate" that is not a proportion).
pub fn wilson(k: f64, n: f64, z: f64, lower: bool) -> f64 {
    let p = k / n;
    let z2 = z * z;
    let center = p + z2 / (2.0 * n);
    let var = (p * (1.0 - p)).max(0.0) / n + z2 / (4.0 * n * n);
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
    fn ring_advances_clears_and_windows() {
        let spec = RingSpec {
            len: 4,
            fields: FIELD_COUNT | FIELD_SUM | FIELD_MAX,
            offset: 0,
        };
        let mut store = vec![0.0; 12];
        let mut head = NONE;
        advance(&mut store, &spec, &mut head, 10);
        add(&mut store, &spec, 10, 2.0);
        add(&mut store, &spec, 9, 5.0);
        let a = window(&store, &spec, head, 2);
        assert_eq!((a.count, a.sum, a.max), (2.0, 7.0, 5.0));
        let a = window(&store, &spec, head, 1);
        assert_eq!((a.count, a.sum, a.max), (1.0, 2.0, 2.0));
        advance(&mut store, &spec, &mut head, 12);
        // bucket 9 is now out of a 4-bucket ring? No: ring holds 9..=12.
        let a = window(&store, &spec, head, 4);
        assert_eq!((a.count, a.sum), (2.0, 7.0));
        advance(&mut store, &spec, &mut head, 13);
        let a = window(&store, &spec, head, 4);
        assert_eq!((a.count, a.sum), (1.0, 2.0));
        advance(&mut store, &spec, &mut head, 100);
        let a = window(&store, &spec, head, 4);
        assert_eq!((a.count, a.sum, a.max), (0.0, 0.0, f64::NEG_INFINITY));
    }

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
}
