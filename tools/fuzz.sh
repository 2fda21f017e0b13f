#!/usr/bin/env bash
# Fuzzes multiproc's decoders and frame readers (tests/fuzz/) with libFuzzer,
# built by clang-14 with ASan and UBSan (bazel build --config=fuzz).
#
#   tools/fuzz.sh [SECONDS [TARGET...]]
#
#   1. builds the targets (one per directory of tests/fuzz/corpus/);
#   2. replays every file of every corpus directory through every target;
#   3. fuzzes each target for SECONDS (default 30), from a scratch copy of
#      its corpus, and prints what libFuzzer reports:
#        fuzz: value_fuzz: ok: replayed 67 files; 2375770 execs in 21 s,
#        113131 exec/s, 1141 new inputs
#
# Exits 1 if any target fails: a crash, leak, hang (> 10 s on one input),
# sanitizer report or failed check, in the replay or while fuzzing. The
# input that did it is kept in the work directory (named in the output;
# FUZZ_WORK=dir chooses it, and keeps it even when all is well, with the
# grown corpora). A real finding belongs in tests/fuzz/corpus/<target>/ as
# crash-<what>, so every later run replays it.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-30}
if [ $# -gt 0 ]; then shift; fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for d in tests/fuzz/corpus/*/; do targets+=("$(basename "$d")"); done
fi

if [ -n "${FUZZ_WORK:-}" ]; then
  work=$FUZZ_WORK
  mkdir -p "$work"
else
  work=$(mktemp -d /tmp/mproc-fuzz.XXXXXX)
fi

labels=()
for t in "${targets[@]}"; do labels+=("//tests/fuzz:$t"); done
if ! bazel build --config=fuzz "${labels[@]}"; then
  echo "fuzz: build failed"
  for t in "${targets[@]}"; do echo "fuzz: $t: FAILED: not built"; done
  exit 1
fi
bin=$(bazel info --config=fuzz bazel-bin 2>/dev/null)/tests/fuzz

# Readable stacks (llvm-14 ships the symbolizer; it is not on PATH).
sym=/usr/lib/llvm-14/bin/llvm-symbolizer
# handle_abort: a failed FUZZ_CHECK (abort) gets a stack too.
export ASAN_OPTIONS="detect_leaks=1:handle_abort=1:external_symbolizer_path=$sym"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:external_symbolizer_path=$sym"

mapfile -t seeds < <(find tests/fuzz/corpus -type f | LC_ALL=C sort)

# The value of a libFuzzer final statistic from a log.
stat() { awk -v k="stat::$1:" '$1 == k { print $2 }' "$2"; }

# The tail of a failed run's log and the inputs it left.
explain() {
  echo "--- last lines of $1:"
  grep -v '^#[0-9]\|^INFO:\|^Running:\|^Executed ' "$1" | tail -40
  local found
  found=$(grep '^Running: ' "$1" | tail -1)
  if [ -n "$found" ]; then echo "--- input: ${found#Running: }"; fi
  found=$(find "$work/$2" -maxdepth 1 -type f \( -name 'crash-*' -o \
          -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) 2>/dev/null)
  if [ -n "$found" ]; then echo "--- input kept: $found"; fi
}

failed=0
for t in "${targets[@]}"; do
  mkdir -p "$work/$t/corpus"
  # Regression: every committed input, of every target, runs once.
  log=$work/$t.replay.log
  if ! timeout 300 "$bin/$t" -timeout=10 -artifact_prefix="$work/$t/" \
      "${seeds[@]}" >"$log" 2>&1; then
    echo "fuzz: $t: FAILED: replaying the corpus"
    explain "$log" "$t"
    failed=$((failed + 1))
    continue
  fi

  cp tests/fuzz/corpus/"$t"/* "$work/$t/corpus/"
  log=$work/$t.fuzz.log
  start=$SECONDS
  timeout $((seconds + 120)) "$bin/$t" -max_total_time="$seconds" \
    -max_len=16384 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$work/$t/" "$work/$t/corpus" >"$log" 2>&1
  rc=$?
  took=$((SECONDS - start))
  execs=$(stat number_of_executed_units "$log")
  if [ $rc -ne 0 ] || [ -z "$execs" ]; then
    echo "fuzz: $t: FAILED: exit $rc after $took s"
    explain "$log" "$t"
    failed=$((failed + 1))
    continue
  fi
  echo "fuzz: $t: ok: replayed ${#seeds[@]} files; $execs execs in $took s," \
    "$(stat average_exec_per_sec "$log") exec/s," \
    "$(stat new_units_added "$log") new inputs"
done

summary="fuzz: $((${#targets[@]} - failed)) of ${#targets[@]} targets ok"
if [ "$failed" -eq 0 ] && [ -z "${FUZZ_WORK:-}" ]; then
  rm -rf "$work"
  echo "$summary"
else
  echo "$summary; logs and inputs kept in $work"
fi
[ "$failed" -eq 0 ]
