#!/usr/bin/env bash
# Runs every benchmark side by side and prints one table (Markdown): operation, airisk,
# peer or floor, ratio, goal. About 2½ minutes once built; the first build adds 8–10
# minutes on 2 cores (most of it regorus, in the peer package). Wall-clock numbers are
# for reports; the gate is benches/latency-guard.sh. See benches/README.md.
#
#   bash benches/report.sh                 # everything
#   AIRISK_BENCH_MAX_SYSTEMS=100000 bash benches/report.sh   # skip the 1 000 000-system run
#
# Needs python3 (to read criterion's estimates) and valgrind (instruction counts; the
# table says so when it is missing). Run on a quiet machine: `uptime` before.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
case $CARGO_TARGET_DIR in /*) ;; *) CARGO_TARGET_DIR=$root/$CARGO_TARGET_DIR ;; esac
export CARGO_TERM_COLOR=never
# The peer package builds airisk with other serde_json features (regorus's): it gets its own
# target folder, or the two builds of airisk overwrite each other's library.
peer_target=${AIRISK_PEER_TARGET_DIR:-$CARGO_TARGET_DIR/peer}
crit=$CARGO_TARGET_DIR/criterion
peer_crit=$peer_target/criterion
log=$CARGO_TARGET_DIR/bench-report.log
mkdir -p "$CARGO_TARGET_DIR"
: >"$log"
echo "report: logs in $log" >&2
step() { echo "report: $*" >&2; }

step "load before: $(uptime)"
step "peer: Rego and airisk agree (benches/peer, cargo test --release)"
(cd benches/peer && CARGO_TARGET_DIR=$peer_target cargo test --release >>"$log" 2>&1) || {
  tail -40 "$log" >&2
  echo "report: Rego and airisk disagree (or the peer does not build): no comparison" >&2
  exit 1
}
step "peer: criterion (classification, level decision)"
(cd benches/peer && CARGO_TARGET_DIR=$peer_target cargo bench --bench peer >>"$log" 2>&1)
step "engine: criterion (observe vs floor vs C ABI, tick, threads)"
cargo bench --bench engine >>"$log" 2>&1
step "scale: criterion (1 000 / 100 000 / 1 000 000 systems)"
cargo bench --bench scale >>"$log" 2>&1
step "instruction counts (callgrind)"
guard_out=$CARGO_TARGET_DIR/latency-guard.out
if command -v valgrind >/dev/null; then
  bash benches/latency-guard.sh >"$guard_out" 2>&1 || true
else
  echo "valgrind not installed" >"$guard_out"
fi
step "load after: $(uptime)"

python3 - "$crit" "$peer_crit" "$log" "$guard_out" <<'EOF'
import json, os, re, subprocess, sys, datetime

crit, peer_crit, log, guard = sys.argv[1:5]

def est(group, bench):
    base = peer_crit if group.startswith("peer_") else crit
    p = os.path.join(base, group, bench, "new", "estimates.json")
    try:
        with open(p) as f:
            return json.load(f)["median"]["point_estimate"]
    except FileNotFoundError:
        return None

def t(ns):
    if ns is None:
        return "n/a"
    if ns < 1e3:
        return f"{ns:.1f} ns" if ns < 100 else f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns / 1e6:.1f} ms"

def ratio(a, b):
    return None if a is None or b is None else a / b

rows = []

def row(op, airisk, other, r, goal="", verdict=""):
    rows.append((op, airisk, other, r, goal, verdict))

def judge(r, goal, higher_is_better):
    if r is None:
        return "n/a"
    ok = r >= goal if higher_is_better else r <= goal
    return "met" if ok else "**missed**"

# 1. Peer: regorus, its fastest evaluator.
for op, group, a_bench, goal_op in [
    ("classify a parsed profile (the seed profiles)", "peer_classify", "airisk", "classify"),
    ("level decision, `hallucination-rate` (80 inputs)", "peer_level", "airisk_observe", "level"),
]:
    a = est(group, a_bench)
    vm = est(group, "regorus_vm")
    it = est(group, "regorus_interpreter")
    best = min(x for x in (vm, it) if x is not None) if (vm or it) else None
    r = ratio(best, a)
    row(op, t(a), f"regorus VM {t(vm)}; interpreter {t(it)}",
        f"{r:.0f}× faster" if r else "n/a", "≥ 100×", judge(r, 100, True))
    if group == "peer_level":
        a2 = est(group, "airisk_observe_new_bucket")
        r2 = ratio(best, a2)
        if a2 is not None:
            row("level decision, every call opening a new bucket (worst case)", t(a2),
                f"regorus VM {t(vm)}", f"{r2:.0f}× faster" if r2 else "n/a", "", "")

# 2-3. Observe vs the memory-access floor, by size.
for label, group, name in [
    ("100", "engine", "100"), ("1 000", "scale", "1k"), ("10 000", "engine", "10k"),
    ("100 000", "scale", "100k"), ("1 000 000", "scale", "1m"),
]:
    a = est(group, f"observe_{name}_systems")
    f = est(group, f"floor_{name}_systems")
    d = est(group, f"floor_dependent_{name}_systems")
    if a is None:
        continue
    r = ratio(a, f)
    other = f"floor {t(f)}"
    if d is not None:
        other += f" (dependent accesses: {t(d)}, observe = {a / d:.1f} of them)"
    row(f"`observe`, {label} systems, random order", t(a), other,
        f"{r:.1f}× floor" if r else "n/a", "≤ 10×", judge(r, 10, False))

# tick per system.
for label, group, name in [
    ("1 000", "scale", "1k"), ("10 000", "engine", "10k"), ("100 000", "scale", "100k"),
    ("1 000 000", "scale", "1m"),
]:
    a = est(group, f"tick_{name}_systems")
    if a is None:
        continue
    n = int(label.replace(" ", ""))
    row(f"`tick`, per system, {label} systems", t(a / n), "", "", "", "")

# Memory per system (counting allocator), from the bench logs.
mem = {}
with open(log) as f:
    for line in f:
        m = re.search(r"memory: systems=(\d+) bytes_per_system=(\d+) state_bytes_per_system=(\d+)(?: register_s=([\d.]+))?", line)
        if m:
            mem[int(m.group(1))] = (int(m.group(2)), int(m.group(3)), m.group(4))
for n in sorted(mem):
    b, s, reg = mem[n]
    extra = f"; registering took {reg} s" if reg else ""
    count = f"{n:,}".replace(",", " ")
    row(f"heap per registered system, {count} systems", f"{b} B",
        f"`state_bytes_per_system()` {s} B{extra}", "", "", "")

# 4. Threads.
for kind in ("disjoint", "shared"):
    one = est("threads", f"observe_{kind}_1_threads")
    two = est("threads", f"observe_{kind}_2_threads")
    if one is None or two is None:
        continue
    # One iteration = one observation per thread.
    tp1, tp2 = 1e9 / one, 2e9 / two
    what = "disjoint systems" if kind == "disjoint" else "one shared hot system"
    row(f"throughput, 1 → 2 threads, {what}", f"{tp1 / 1e6:.2f} → {tp2 / 1e6:.2f} M obs/s",
        "", f"{tp2 / tp1:.2f}× scaling", "", "")

# 5. C ABI vs Rust.
for label, name in [("100", "100"), ("10 000", "10k")]:
    a = est("engine", f"ffi_observe_{name}_systems")
    r_ = est("engine", f"observe_{name}_systems")
    r = ratio(a, r_)
    row(f"`airisk_observe` (C ABI), {label} systems", t(a), f"Rust `observe` {t(r_)}",
        f"{r:.2f}×" if r else "n/a", "≤ 1.2×", judge(r, 1.2, False))

# 6. Instruction counts.
counts = {}
with open(guard) as f:
    for line in f:
        m = re.match(r"(observe|ffi_observe|classify|tick)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\S+)", line)
        if m:
            counts[m.group(1)] = float(m.group(3))
if counts:
    for op, what in [("observe", "`observe`"), ("ffi_observe", "`airisk_observe`"),
                     ("classify", "`classify`"), ("tick", "`tick`, per system")]:
        if op in counts:
            other, r, goal, v = "", "", "", ""
            if op == "ffi_observe" and "observe" in counts:
                rr = counts[op] / counts["observe"]
                other, r, goal, v = (f"Rust `observe` {counts['observe']:.0f}", f"{rr:.3f}×",
                                     "≤ 1.2×", judge(rr, 1.2, False))
            row(f"instructions per op (callgrind), {what}", f"{counts[op]:.0f}", other, r, goal, v)

cpu = "unknown CPU"
try:
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    m = re.search(r"Model name:\s*(.+)", out)
    cpu = m.group(1).strip() if m else cpu
except OSError:
    pass
print(f"Measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {cpu}, "
      f"{os.cpu_count()} cores; rustc {subprocess.run(['rustc', '--version'], capture_output=True, text=True).stdout.split()[1]}; "
      "medians of criterion samples; ratios from the same run.")
print()
print("| operation | airisk | peer or floor | ratio | goal | verdict |")
print("| --- | --- | --- | --- | --- | --- |")
for r in rows:
    print("| " + " | ".join(r) + " |")
EOF
