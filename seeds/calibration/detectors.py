#!/usr/bin/env python3
"""Calibration of the default policy's detector rules (seeds/README.md section 2.4).

    python3 seeds/calibration/detectors.py > seeds/calibration/detectors.txt

Seeded simulations with numpy, independent of airisk. Each section prints the numbers that
seeds/README.md quotes:

1. score-distribution-shift (psi): the PSI of n scores of a model that has NOT drifted (the
   null distribution) against the validation deciles, and the PSI of a drifted model, as the
   engine computes it: a_i = (c_i + 0.5) / (n + 0.5 B), r_i = max(p_i, 1e-4),
   PSI = sum (a_i - r_i) ln(a_i / r_i).
2. hallucination-drift (cusum up, target 0.10, slack 0.005, one input per 5-minute bucket:
   the bucket's flagged / interactions): how often a service that is in control reaches each
   threshold within a day, and how long a drifted one takes to reach it.
3. selection-disparity-trend (ewma, alpha 0.2, one input per 30 minutes): the EWMA's noise
   against that of the plain rule's one-hour mean of two samples, and the false-alarm and
   detection behaviour at its thresholds.
"""
import math
import numpy as np

def psi_of_counts(counts, ref):
    counts = np.asarray(counts, dtype=float)
    n = counts.sum(axis=-1, keepdims=True)
    b = counts.shape[-1]
    a = (counts + 0.5) / (n + 0.5 * b)
    r = np.maximum(np.asarray(ref, dtype=float), 1e-4)
    return np.sum((a - r) * np.log(a / r), axis=-1)


rng = np.random.default_rng(20260302)
print("== 1. score-distribution-shift: PSI against the validation deciles (10 bins, 10% each)")
ref = np.full(10, 0.1)
edges = np.arange(1, 10) / 10.0
trials = 20000
print("no drift (scores are percentiles of the validation sample: uniform on [0, 1)):")
print("     n    mean    p99     p99.9   share >= 0.1")
for n in (100, 200, 300, 500, 1000):
    counts = rng.multinomial(n, ref, size=trials)
    v = psi_of_counts(counts, ref)
    print(f"  {n:5d}  {v.mean():.4f}  {np.quantile(v, 0.99):.4f}  {np.quantile(v, 0.999):.4f}  "
          f"{(v >= 0.1).mean():.5f}")
print("drift: the live score is the validation score shifted by d standard deviations")
print("(normal scores); expected PSI with n = 300 and n = 1000 (mean of 2000 windows):")
print("     d    n=300   n=1000")
for d in (0.1, 0.2, 0.3, 0.5, 0.75, 1.0):
    # Validation deciles of N(0, 1): Phi^-1(k/10), by bisection on the CDF.
    q = []
    for e in edges:
        lo, hi = -10.0, 10.0
        for _ in range(200):
            mid = (lo + hi) / 2
            if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < e:
                lo = mid
            else:
                hi = mid
        q.append((lo + hi) / 2)
    cdf = [0.0] + [0.5 * (1 + math.erf((x - d) / math.sqrt(2))) for x in q] + [1.0]
    p = np.diff(cdf)
    row = []
    for n in (300, 1000):
        counts = rng.multinomial(n, p, size=2000)
        row.append(psi_of_counts(counts, ref).mean())
    print(f"  {d:4.2f}   {row[0]:.4f}   {row[1]:.4f}")

print()
rng = np.random.default_rng(20260303)
print("== 2. hallucination-drift: CUSUM up of 5-minute rates, target 0.10, slack 0.005")
BUCKETS_PER_DAY = 288
days = 200
print("in control: share of days on which S reaches h at least once (200 simulated days,")
print("interactions per bucket fixed at n, flagged ~ Binomial(n, p)):")
hs = (0.25, 0.5, 1, 2, 4, 8)
print("     p     n  " + "  ".join(f"h={h:<4}" for h in hs))
for p in (0.02, 0.05, 0.08, 0.10):
    for n in (1, 2, 5, 25, 100):
        x = rng.binomial(n, p, size=days * BUCKETS_PER_DAY) / n
        s = 0.0
        peak = np.zeros(days)
        for i, xi in enumerate(x):
            s = max(0.0, s + xi - 0.105)
            d = i // BUCKETS_PER_DAY
            if s > peak[d]:
                peak[d] = s
        print(f"  {p:4.2f}  {n:4d}  " + "  ".join(f"{(peak >= h).mean():6.3f}" for h in hs))
print("drifted: hours from the shift until S first reaches h (median of 500 runs, S = 0 at")
print("the shift, n = 25 per bucket):")
print("     p    " + "  ".join(f"h={h:<4}" for h in hs))
for p in (0.115, 0.13, 0.15, 0.20):
    res = []
    for h in hs:
        hits = []
        for _ in range(500):
            s, t = 0.0, 0
            while s < h and t < 100000:
                s = max(0.0, s + rng.binomial(25, p) / 25 - 0.105)
                t += 1
            hits.append(t)
        res.append(np.median(hits) * 5 / 60)
    print(f"  {p:5.3f}  " + "  ".join(f"{r:6.1f}" for r in res))

print()
rng = np.random.default_rng(20260304)
print("== 3. selection-disparity-trend: EWMA (alpha 0.2) of the ratio, one sample per 30 min")
alpha = 0.2
f = math.sqrt(alpha / (2 - alpha))
print(f"noise of the EWMA (steady state) / noise of one sample: sqrt(a / (2 - a)) = {f:.3f}")
print(f"noise of the plain rule's 1-hour mean of 2 samples / one sample: {1 / math.sqrt(2):.3f}")
print("in control (true ratio m, sample sd 0.05): share of 30-minute samples at which the")
print("value is at or below t (200 000 samples; the EWMA after 20 warm-up samples):")
print("     m     t     EWMA     1-h mean")
for m, t in ((0.97, 0.9), (0.95, 0.9), (0.95, 0.85), (0.92, 0.85), (1.0, 0.93), (1.0, 0.95)):
    x = m + 0.05 * rng.standard_normal(200000)
    e = np.empty_like(x)
    s = x[0]
    for i, xi in enumerate(x):
        s = alpha * xi + (1 - alpha) * s
        e[i] = s
    mean2 = (x[1:] + x[:-1]) / 2
    print(f"  {m:4.2f}  {t:4.2f}  {(e[20:] <= t).mean():.5f}  {(mean2 <= t).mean():.5f}")
print("drift: the ratio falls linearly from 0.95 by 0.02 a day (sample sd 0.05); days until the")
print("first sample at which the value is at or below t (median of 500 runs):")
print("     t     EWMA   1-h mean")
for t in (0.9, 0.85, 0.8):
    we, wm = [], []
    for _ in range(500):
        k = np.arange(48 * 15)
        m = 0.95 - 0.02 * k / 48
        x = m + 0.05 * rng.standard_normal(k.size)
        s = x[0]
        first_e = first_m = None
        for i in range(k.size):
            s = alpha * x[i] + (1 - alpha) * s
            if first_e is None and i >= 3 and s <= t:
                first_e = i
            if first_m is None and i >= 1 and (x[i] + x[i - 1]) / 2 <= t:
                first_m = i
        we.append(first_e / 48)
        wm.append(first_m / 48)
    print(f"  {t:4.2f}  {np.median(we):5.2f}  {np.median(wm):5.2f}")
