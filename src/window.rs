//! Time windows (DESIGN.md "Time, windows and evaluation").
//!
//! Time is cut into buckets of `bucket_ms`; bucket index = `ts_ms.div_euclid(bucket_ms)`.
//! Each (system, signal) keeps a ring of `B` buckets (B = the largest window, in buckets, of
//! any rule using the signal as `signal` or `per`; 1 if none), holding only the fields the
//! policy's rules on that signal need (count, sum, min, max).
//!
//! A system's whole state is one arena of 64-bit words (f64 values are stored as their
//! bits): per signal its ring head and last timestamp, per rule a record (state machine,
//! then the window aggregates the rule reads), then the rings' buckets. One allocation per
//! system keeps an observation to a handful of cache lines, and makes a snapshot a copy.
//!
//! A ring's `head` is the newest bucket index it holds. Rings advance lazily: before a ring
//! is written or read at watermark `w`, `advance` clears the slots between its head and
//! `idx(w)` and recomputes the window caches it feeds. `add` adds an observation to its
//! bucket and to every cache whose window holds that bucket, so evaluating a rule reads its
//! own cache instead of scanning the window.

use crate::policy::{FIELD_COUNT, FIELD_MAX, FIELD_MIN, FIELD_SUM, RingSpec};

/// Sentinel for "no timestamp / no bucket yet".
pub(crate) const NONE: i64 = i64::MIN;

/// Bucket index of a timestamp.
#[inline]
pub fn bucket_index(ts_ms: i64, bucket_ms: i64) -> i64 {
    ts_ms.div_euclid(bucket_ms)
}

/// The window aggregates of one ring.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Agg {
    pub count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

impl Agg {
    pub const EMPTY: Agg = Agg {
        count: 0.0,
        sum: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
    };
}

#[inline]
fn get(s: &[u64], i: usize) -> f64 {
    f64::from_bits(s[i])
}

#[inline]
fn set(s: &mut [u64], i: usize, v: f64) {
    s[i] = v.to_bits();
}

/// Writes `a` into an entry of `fields` layout (a bucket or a cache).
#[inline]
fn store_agg(s: &mut [u64], fields: u8, a: &Agg) {
    let mut i = 0;
    if fields & FIELD_COUNT != 0 {
        set(s, i, a.count);
        i += 1;
    }
    if fields & FIELD_SUM != 0 {
        set(s, i, a.sum);
        i += 1;
    }
    if fields & FIELD_MIN != 0 {
        set(s, i, a.min);
        i += 1;
    }
    if fields & FIELD_MAX != 0 {
        set(s, i, a.max);
    }
}

/// Reads an entry of `fields` layout. Fields not kept read as 0 (count, sum) or ±∞.
#[inline]
fn load_agg(s: &[u64], f: u8) -> Agg {
    let mut i = 0;
    let mut a = Agg::EMPTY;
    if f & FIELD_COUNT != 0 {
        a.count = get(s, i);
        i += 1;
    }
    if f & FIELD_SUM != 0 {
        a.sum = get(s, i);
        i += 1;
    }
    if f & FIELD_MIN != 0 {
        a.min = get(s, i);
        i += 1;
    }
    if f & FIELD_MAX != 0 {
        a.max = get(s, i);
    }
    a
}

/// The cached window aggregate at arena offset `off` (a rule's `sig_cache`/`per_cache`).
#[inline]
pub(crate) fn cached(store: &[u64], spec: &RingSpec, off: u32) -> Agg {
    load_agg(
        &store[off as usize..off as usize + spec.stride()],
        spec.fields,
    )
}

/// Advances a ring so that its newest bucket is `to`, clearing the buckets in between and
/// recomputing the window caches it feeds. Does nothing when `to` is not newer than `head`.
#[inline(always)]
pub(crate) fn advance(store: &mut [u64], spec: &RingSpec, head: &mut i64, to: i64) {
    // Almost every call finds the ring current: keep that check inline at the call site.
    if *head != NONE && to <= *head {
        return;
    }
    advance_slow(store, spec, head, to);
}

#[inline(never)]
fn advance_slow(store: &mut [u64], spec: &RingSpec, head: &mut i64, to: i64) {
    let stride = spec.stride();
    if stride == 0 {
        *head = to;
        return;
    }
    let len = spec.len as i64;
    let start = spec.offset as usize;
    let r = &mut store[start..start + stride * spec.len as usize];
    if *head == NONE || to.saturating_sub(*head) >= len {
        for s in r.chunks_exact_mut(stride) {
            store_agg(s, spec.fields, &Agg::EMPTY);
        }
    } else {
        // to - head < len here; count steps instead of indexes so i64::MAX cannot overflow.
        let steps = to - *head;
        let mut slot = (*head).rem_euclid(len);
        for _ in 0..steps {
            slot = if slot + 1 == len { 0 } else { slot + 1 };
            let s = slot as usize;
            store_agg(
                &mut r[s * stride..(s + 1) * stride],
                spec.fields,
                &Agg::EMPTY,
            );
        }
    }
    *head = to;
    for &(n, off) in &spec.caches {
        let a = window(store, spec, to, n);
        store_agg(
            &mut store[off as usize..off as usize + stride],
            spec.fields,
            &a,
        );
    }
}

#[inline]
fn add_to(s: &mut [u64], f: u8, value: f64) {
    let mut i = 0;
    if f & FIELD_COUNT != 0 {
        set(s, i, get(s, i) + 1.0);
        i += 1;
    }
    if f & FIELD_SUM != 0 {
        set(s, i, get(s, i) + value);
        i += 1;
    }
    if f & FIELD_MIN != 0 {
        if value < get(s, i) {
            set(s, i, value);
        }
        i += 1;
    }
    if f & FIELD_MAX != 0 && value > get(s, i) {
        set(s, i, value);
    }
}

/// Adds one observation to bucket `b` of a ring whose head is `head` (the caller has
/// checked `head − len < b ≤ head`), and to every window cache whose window holds `b`.
#[inline]
#[cfg(test)]
pub(crate) fn add(store: &mut [u64], spec: &RingSpec, head: i64, b: i64, value: f64) {
    add_at(
        store,
        spec,
        head,
        b,
        b.rem_euclid(spec.len as i64) as usize,
        value,
    );
}

/// [`add`] with the bucket's slot (`b mod len`) already computed by the caller.
#[inline]
pub(crate) fn add_at(
    store: &mut [u64],
    spec: &RingSpec,
    head: i64,
    b: i64,
    slot: usize,
    value: f64,
) {
    let stride = spec.stride();
    if stride == 0 {
        return;
    }
    let f = spec.fields;
    let at = spec.offset as usize + slot * stride;
    add_to(&mut store[at..at + stride], f, value);
    for &(n, off) in &spec.caches {
        if b > head.saturating_sub(n as i64) {
            add_to(&mut store[off as usize..off as usize + stride], f, value);
        }
    }
}

/// Aggregates the last `n` buckets ending at the ring's head (`head-n+1 ..= head`) by
/// scanning them: the reference the caches are computed from.
pub(crate) fn window(store: &[u64], spec: &RingSpec, head: i64, n: u32) -> Agg {
    let mut a = Agg::EMPTY;
    let stride = spec.stride();
    if stride == 0 || head == NONE {
        return a;
    }
    let f = spec.fields;
    let len = spec.len as i64;
    let n = (n as i64).min(len).max(1);
    let start = spec.offset as usize;
    let r = &store[start..start + stride * spec.len as usize];
    let head_slot = head.rem_euclid(len);
    let first = (head_slot - n + 1).rem_euclid(len) as usize;
    let n = n as usize;
    let run1 = (spec.len as usize - first).min(n);
    let slots = r[first * stride..(first + run1) * stride]
        .chunks_exact(stride)
        .chain(r[..(n - run1) * stride].chunks_exact(stride));
    for s in slots {
        let b = load_agg(s, f);
        a.count += b.count;
        a.sum += b.sum;
        if b.min < a.min {
            a.min = b.min;
        }
        if b.max > a.max {
            a.max = b.max;
        }
    }
    a
}

/// Wilson score bound of `k/n` with `z`: the lower bound when `lower`, else the upper.
///
/// `(p + z²/2n ∓ z·sqrt(p(1−p)/n + z²/4n²)) / (1 + z²/n)` with `p = k/n`, where `k` is taken
/// as `n` when `k > n` (more flagged events than denominator events in the window), so that
/// `p ≤ 1` and the small-sample guard holds exactly when the sample is smallest.
pub fn wilson(k: f64, n: f64, z: f64, lower: bool) -> f64 {
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

    /// A ring of `len` buckets at offset 9, caches for windows 1, 2, 4 at 0, 3, 6.
    fn spec(len: u32) -> RingSpec {
        RingSpec {
            len,
            fields: FIELD_COUNT | FIELD_SUM | FIELD_MAX,
            offset: 9,
            caches: [(1, 0), (2, 3), (4, 6)].into_iter().collect(),
        }
    }

    #[test]
    fn ring_advances_clears_and_windows() {
        let spec = spec(4);
        let mut store = vec![0u64; 9 + 4 * 3];
        let mut head = NONE;
        advance(&mut store, &spec, &mut head, 10);
        add(&mut store, &spec, head, 10, 2.0);
        add(&mut store, &spec, head, 9, 5.0);
        let a = window(&store, &spec, head, 2);
        assert_eq!((a.count, a.sum, a.max), (2.0, 7.0, 5.0));
        let a = window(&store, &spec, head, 1);
        assert_eq!((a.count, a.sum, a.max), (1.0, 2.0, 2.0));
        let c = |store: &[u64], j: u32| cached(store, &spec, 3 * j);
        assert_eq!(c(&store, 1), window(&store, &spec, head, 2));
        assert_eq!(c(&store, 0), window(&store, &spec, head, 1));
        advance(&mut store, &spec, &mut head, 12);
        // The ring holds buckets 9..=12.
        let a = window(&store, &spec, head, 4);
        assert_eq!((a.count, a.sum), (2.0, 7.0));
        assert_eq!(c(&store, 2), a);
        assert_eq!(c(&store, 1), Agg::EMPTY);
        advance(&mut store, &spec, &mut head, 13);
        let a = window(&store, &spec, head, 4);
        assert_eq!((a.count, a.sum), (1.0, 2.0));
        assert_eq!(c(&store, 2), a);
        add(&mut store, &spec, head, 11, 1.0); // late: in the 4-bucket window only
        assert_eq!(c(&store, 2).count, 2.0);
        assert_eq!(c(&store, 1).count, 0.0);
        advance(&mut store, &spec, &mut head, 100);
        let a = window(&store, &spec, head, 4);
        assert_eq!((a.count, a.sum, a.max), (0.0, 0.0, f64::NEG_INFINITY));
        assert_eq!(c(&store, 2), a);
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
