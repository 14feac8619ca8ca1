#!/usr/bin/env python3
"""Computes the PSI fixtures of tests/detectors.rs independently of airisk (numpy).

    python3 tests/data/psi/compute_psi.py > tests/data/psi/cases.json

PSI of a sample against a reference distribution over bins with inner edges e_1 < ... <
e_{B-1} (bin 1: x < e_1; bin i: e_{i-1} <= x < e_i; bin B: x >= e_{B-1}):
a_i = (c_i + 0.5) / (n + 0.5 B), r_i = max(p_i, 1e-4), PSI = sum (a_i - r_i) ln(a_i / r_i).
"""
import json
import numpy as np


def psi(bins, reference, samples):
    # np.digitize(x, bins, right=False) is the number of edges <= x: 0-based bin index.
    idx = np.digitize(np.asarray(samples, dtype=float), np.asarray(bins, dtype=float), right=False)
    counts = np.bincount(idx, minlength=len(reference)).astype(float)
    n = counts.sum()
    b = len(reference)
    a = (counts + 0.5) / (n + 0.5 * b)
    r = np.maximum(np.asarray(reference, dtype=float), 1e-4)
    return float(np.sum((a - r) * np.log(a / r))), counts.astype(int).tolist()


rng = np.random.default_rng(20261130)
cases = []
uniform5 = [0.2, 0.2, 0.2, 0.2, 0.2]
edges5 = [0.2, 0.4, 0.6, 0.8]
cases.append(("uniform sample, uniform reference", edges5, uniform5,
              [round(float(x), 6) for x in rng.uniform(0, 1, 400)]))
cases.append(("sample shifted up", edges5, uniform5,
              [round(float(x), 6) for x in rng.beta(4, 2, 400)]))
cases.append(("empty bins: every sample in the middle bin", edges5, uniform5, [0.5] * 50))
cases.append(("samples exactly on the edges go to the upper bin", edges5, uniform5,
              [0.2, 0.4, 0.6, 0.8, 0.2, 0.4, 0.6, 0.8, 0.0, 1.0]))
cases.append(("a zero reference proportion counts as 1e-4", [0.0, 1.0], [0.5, 0.0, 0.5],
              [-1.0, -0.5, 0.5, 2.0, 3.0, 0.7]))
cases.append(("ten bins of a score, skewed reference", [0.1 * i for i in range(1, 10)],
              [0.05, 0.05, 0.1, 0.1, 0.2, 0.2, 0.1, 0.1, 0.05, 0.05],
              [round(float(x), 6) for x in rng.normal(0.6, 0.15, 240)]))
out = []
for name, bins, ref, samples in cases:
    value, counts = psi(bins, ref, samples)
    out.append({"name": name, "bins": bins, "reference": ref, "samples": samples,
                "counts": counts, "psi": value})
print(json.dumps(out, indent=1))
