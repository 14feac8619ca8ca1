#!/usr/bin/env bash
# Mutation testing of the core modules with cargo-mutants (docs/testing.md explains how to
# read the results and lists the survivors known to be equivalent).
#
#   scripts/mutants.sh                          # every core file, one after the other
#   scripts/mutants.sh src/rule.rs src/level.rs # some files
#   MUTANTS_ITERATE=1 scripts/mutants.sh src/window.rs
#                                               # only the mutants not caught last time
#
# Install the tool once: cargo install cargo-mutants --locked
#
# Each file is its own run (one mutant at a time, `--jobs 1`: the test targets already use
# every core), its logs in target/mutants/<file>/mutants.out/ (caught.txt, missed.txt,
# timeout.txt, unviable.txt, outcomes.json, log/), every mutant's latest outcome (across
# --iterate runs) in target/mutants/<file>/all/, and a summary with the score at the end.
# A mutant is tested against the semantic test targets only (no CLI, no C under valgrind,
# no soak or stress): the library's unit tests, the engine semantics, the gap tests, the
# model comparison (fewer cases: AIRISK_MODEL_CASES, default 150 here) and the laws. A
# missed mutant is worth re-checking against the whole `cargo test` before writing a test
# for it.
#
# Environment: MUTANTS_JOBS (default 1), MUTANTS_TIMEOUT (seconds per test run, default 60;
# the unmutated run of these targets takes 3-10 s), MUTANTS_BUILD_TIMEOUT (default 900),
# MUTANTS_ITERATE (non-empty: --iterate), AIRISK_MODEL_CASES (default 150), CARGO_TARGET_DIR
# (default target/mutants/build, shared by the runs).
set -uo pipefail
cd "$(dirname "$0")/.."

if ! cargo mutants --version >/dev/null 2>&1; then
  echo "cargo-mutants is not installed: cargo install cargo-mutants --locked" >&2
  exit 2
fi

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  files=(src/rule.rs src/level.rs src/window.rs src/detector.rs src/incident.rs src/silence.rs
    src/classify.rs src/system.rs src/engine.rs)
fi

# `--lib` and the listed test targets that exist.
targets() {
  local t
  printf '%s\n' --lib
  for t in "$@"; do
    [ -f "tests/$t.rs" ] && printf '%s\n' --test "$t"
  done
}
# The targets that check evaluation semantics.
mapfile -t evaluation_tests < <(targets engine_semantics gaps detectors model_agreement \
  model_findings properties batches silences incidents reload design_example)
# Classification is checked by its own targets.
mapfile -t classify_tests < <(targets classification default_policy policy_validation \
  fingerprint model_agreement)

export AIRISK_MODEL_CASES="${AIRISK_MODEL_CASES:-150}"
# A failing property test is enough to catch a mutant: no shrinking (which can take minutes).
export PROPTEST_MAX_SHRINK_ITERS=0 AIRISK_MODEL_SHRINK_ITERS=0
# cargo-mutants builds in a fresh copy of the tree for every run; one target directory for
# all the runs keeps the dependencies compiled once instead of once per file.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/mutants/build}"
worst=0
for f in "${files[@]}"; do
  name="$(basename "$f" .rs)"
  case "$f" in
    src/classify.rs) tests=("${classify_tests[@]}") ;;
    # The engine's numbering of outputs also keeps each queue in seq order across threads.
    src/engine.rs) tests=("${evaluation_tests[@]}" --test stress) ;;
    *) tests=("${evaluation_tests[@]}") ;;
  esac
  args=(--file "$f" --jobs "${MUTANTS_JOBS:-1}" --timeout "${MUTANTS_TIMEOUT:-60}"
    --build-timeout "${MUTANTS_BUILD_TIMEOUT:-900}" --no-default-features
    --output "target/mutants/$name")
  # Policy reload's outputs are not evaluation code (they have their own tests).
  [ "$f" = src/system.rs ] && args+=(--exclude-re 'reload_outputs')
  # The ranking of "did you mean" suggestions in error messages is not classification
  # (tests/lookups.rs, tests/classification.rs and tests/cli.rs check the suggestions made).
  [ "$f" = src/classify.rs ] && args+=(--exclude-re 'edit_distance|closeness|normalise|normal_char')
  # Of the engine, the evaluation entry points: observe, observe_many, tick and the
  # numbering of their outputs (registration, snapshots, journal and reload have their own
  # test targets, which this subset does not run).
  [ "$f" = src/engine.rs ] && args+=(--re 'Engine::(observe|observe_many|tick|sequence)\b')
  [ -n "${MUTANTS_ITERATE:-}" ] && args+=(--iterate)
  mkdir -p "target/mutants/$name"
  echo "== cargo mutants ${args[*]} -- ${tests[*]}"
  start=$(date +%s)
  cargo mutants "${args[@]}" -- "${tests[@]}"
  status=$?
  echo "== $f: exit $status in $(( $(date +%s) - start )) s"
  # 0: every mutant caught; 2: some missed; 3: some timed out; others: the run failed.
  [ $status -gt $worst ] && worst=$status
  # target/mutants/<file>/all/: every mutant's outcome at its latest test. An --iterate run
  # re-tests only the missed and timed-out ones, so its caught and unviable lists add to the
  # earlier ones and its missed and timeout lists replace them.
  out="target/mutants/$name/mutants.out" all="target/mutants/$name/all"
  if [ $status -le 3 ] && [ -d "$out" ]; then
    [ -z "${MUTANTS_ITERATE:-}" ] && rm -rf "$all"
    mkdir -p "$all"
    for k in caught unviable; do
      cat "$out/$k.txt" "$all/$k.txt" 2>/dev/null | sort -u >"$all/$k.tmp"
      mv "$all/$k.tmp" "$all/$k.txt"
    done
    for k in missed timeout; do cp "$out/$k.txt" "$all/$k.txt"; done
  fi
done

echo "== summary (target/mutants/<file>/all; the last run's logs in .../mutants.out)"
for f in "${files[@]}"; do
  d="target/mutants/$(basename "$f" .rs)/all"
  [ -d "$d" ] || continue
  # grep -c prints 0 for an empty file (and exits 1): no second "0".
  count() { if [ -f "$d/$1.txt" ]; then grep -c . "$d/$1.txt"; else echo 0; fi; }
  caught=$(count caught); missed=$(count missed); timeout=$(count timeout)
  unviable=$(count unviable)
  viable=$((caught + missed + timeout))
  score="n/a"
  [ $viable -gt 0 ] && score="$(( (caught + timeout) * 100 / viable ))%"
  printf '%-18s caught %4s  missed %4s  timeout %3s  unviable %3s  score %s\n' \
    "$f" "$caught" "$missed" "$timeout" "$unviable" "$score"
  [ "$missed" -gt 0 ] && sed 's/^/    missed: /' "$d/missed.txt"
done
exit $worst
