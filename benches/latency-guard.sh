#!/usr/bin/env bash
# Latency guard: counts the instructions of airisk's hot operations under callgrind and
# fails when any grew more than 5% over benches/callgrind-baseline.json.
#
#   bash benches/latency-guard.sh            # check (CI)
#   bash benches/latency-guard.sh --update   # measure and rewrite the baseline, on purpose
#
# Instruction counts, not seconds: the same binary and inputs give the same count whatever
# else the machine is doing, so the gate is not flaky on a busy or shared machine. Each
# operation runs twice under callgrind (N and 2N operations, only the measuring function
# collected); the difference over N is the count per operation, every fixed cost cancelled.
# See benches/README.md. Environment: AIRISK_GUARD_TOLERANCE (percent, default 5).
set -euo pipefail
cd "$(dirname "$0")/.."

update=0
case "${1:-}" in
  --update) update=1 ;;
  "") ;;
  *) echo "usage: $0 [--update]" >&2; exit 2 ;;
esac
baseline=benches/callgrind-baseline.json
tolerance=${AIRISK_GUARD_TOLERANCE:-5}

if ! command -v valgrind >/dev/null; then
  echo "latency guard: valgrind is not installed (apt-get install valgrind)" >&2
  exit 1
fi

log=$(mktemp)
work=$(mktemp -d)
trap 'rm -rf "$log" "$work"' EXIT
if ! cargo bench --bench callgrind --no-run >"$log" 2>&1; then
  cat "$log" >&2
  echo "latency guard: building benches/callgrind.rs failed" >&2
  exit 1
fi
bin=$(sed -n 's/.*Executable benches\/callgrind\.rs (\(.*\))$/\1/p' "$log" | tail -1)
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
  cat "$log" >&2
  echo "latency guard: could not find the callgrind bench binary" >&2
  exit 1
fi

# Collected instructions and unit operations of one run: "IR UNITS".
run() { # op n
  local out="$work/$1.$2"
  valgrind --tool=callgrind --callgrind-out-file="$out.cg" --collect-atstart=no \
    "--toggle-collect=*measure_$1*" "$bin" "$1" "$2" >"$out.stdout" 2>"$out.stderr" || {
    cat "$out.stderr" >&2
    echo "latency guard: $1 failed under valgrind" >&2
    exit 1
  }
  local ir units
  ir=$(sed -n 's/^summary: \([0-9]*\).*/\1/p' "$out.cg")
  units=$(sed -n 's/^units=\([0-9]*\)$/\1/p' "$out.stdout")
  echo "$ir $units"
}

# Operation and N (the second run does 2N).
ops="observe:20000 ffi_observe:20000 classify:5000 tick:5 observe_no_incidents:20000 observe_silenced:20000 observe_mean:20000 observe_ewma:20000 observe_cusum:20000 observe_psi:20000 observe_many:20000"
# Ratios measured in the same run that must hold whatever the baseline: "A B max" means
# A / B ≤ max (issue-level goals: incidents and silences cost next to nothing when idle).
# observe_many: one call with a period's three signals (interactions, a flag, heartbeat)
# evaluates the 10 rules that read them, where one `observe` of the mixed stream evaluates
# 5.8 on average; measured 2.10 (2 139.5 / 1 018.8), so the goal of 1.5 is not met and
# this bound only keeps it from growing.
ratios="observe:observe_no_incidents:1.05 observe_silenced:observe:1.10 observe_ewma:observe_mean:1.00 observe_cusum:observe_mean:1.00 observe_many:observe:2.20"
declare -A now
for spec in $ops; do
  op=${spec%%:*}
  n=${spec##*:}
  read -r ir1 u1 <<<"$(run "$op" "$n")"
  read -r ir2 u2 <<<"$(run "$op" $((2 * n)))"
  now[$op]=$(awk -v a="$ir1" -v b="$ir2" -v u="$u1" -v w="$u2" 'BEGIN { printf "%.1f", (b - a) / (w - u) }')
done

rustc_v=$(rustc --version)
valgrind_v=$(valgrind --version)

if [ "$update" = 1 ]; then
  {
    echo "{"
    echo "  \"what\": \"instructions per operation under valgrind --tool=callgrind (benches/latency-guard.sh)\","
    echo "  \"rustc\": \"$rustc_v\","
    echo "  \"valgrind\": \"$valgrind_v\","
    echo "  \"ops\": {"
    first=1
    for spec in $ops; do
      op=${spec%%:*}
      [ "$first" = 1 ] || echo ","
      first=0
      printf '    "%s": %s' "$op" "${now[$op]}"
    done
    echo
    echo "  }"
    echo "}"
  } >"$baseline"
  echo "latency guard: baseline written to $baseline"
  for spec in $ops; do
    op=${spec%%:*}
    printf '  %-12s %12s instructions/op\n' "$op" "${now[$op]}"
  done
  exit 0
fi

if [ ! -f "$baseline" ]; then
  echo "latency guard: no $baseline; create it with $0 --update" >&2
  exit 1
fi
base_rustc=$(sed -n 's/^  "rustc": "\(.*\)",$/\1/p' "$baseline")
base_valgrind=$(sed -n 's/^  "valgrind": "\(.*\)",$/\1/p' "$baseline")
if [ "$base_rustc" != "$rustc_v" ] || [ "$base_valgrind" != "$valgrind_v" ]; then
  echo "note: baseline recorded with $base_rustc, $base_valgrind; now $rustc_v, $valgrind_v"
fi

fail=0
printf '%-12s %14s %14s %8s  %s\n' operation baseline now ratio verdict
for spec in $ops; do
  op=${spec%%:*}
  old=$(sed -n "s/^ *\"$op\": \([0-9.]*\),\{0,1\}$/\1/p" "$baseline")
  if [ -z "$old" ]; then
    printf '%-12s %14s %14s %8s  %s\n' "$op" "-" "${now[$op]}" "-" "not in baseline (run --update)"
    fail=1
    continue
  fi
  verdict=$(awk -v o="$old" -v n="${now[$op]}" -v t="$tolerance" \
    'BEGIN { r = n / o; printf "%.3f %s", r, (r > 1 + t / 100) ? "FAIL" : (r < 1 - t / 100) ? "ok,improved" : "ok" }')
  ratio=${verdict% *}
  word=${verdict#* }
  case $word in
    ok,improved)
      printf '%-12s %14s %14s %8s  %s\n' "$op" "$old" "${now[$op]}" "$ratio" \
        "ok (improved: run --update to lock the gain in)"
      ;;
    *) printf '%-12s %14s %14s %8s  %s\n' "$op" "$old" "${now[$op]}" "$ratio" "$word" ;;
  esac
  [ "$word" != FAIL ] || fail=1
done
echo
printf '%-40s %8s %8s  %s\n' "ratio (same run)" now max verdict
for spec in $ratios; do
  IFS=: read -r a b max <<<"$spec"
  r=$(awk -v x="${now[$a]}" -v y="${now[$b]}" 'BEGIN { printf "%.3f", x / y }')
  ok=$(awk -v r="$r" -v m="$max" 'BEGIN { print (r <= m) ? "ok" : "FAIL" }')
  printf '%-40s %8s %8s  %s\n' "$a / $b" "$r" "$max" "$ok"
  [ "$ok" = ok ] || fail=1
done
if [ "$fail" = 1 ]; then
  echo "latency guard: FAILED: an operation costs more than ${tolerance}% over the baseline, or a ratio is over its maximum."
  echo "If the growth is intended, rerun with --update and commit $baseline."
  exit 1
fi
echo "latency guard: ok (tolerance ${tolerance}%)"
