#!/usr/bin/env bash
# Runs the examples under valgrind's memcheck and fails on any memory error
# or definite leak, in any process they start:
#   seed_basic, seed_terminate, seed_two_workers   (Process children)
#   psha256 on a few files                          (fork server, workers)
#   psha256 with one worker crashing                (a worker's death)
#   ipc_queue, ipc_queue_full, ipc_pipe, ipc_counter (queues, a pipe, locks,
#                                                    shared memory)
#
# Which processes are checked: valgrind cannot leave a fork(2)ed child, so
# every Process child, the pool's fork server and every worker run under
# memcheck with the parent's options; --trace-children=yes adds programs
# started with exec (the examples start none). Each process writes its own
# log (%p), and the verdict comes from every log, not only from the exit
# status: a forked child's --error-exitcode would only change an exit code
# its parent may not look at. A child killed on purpose (seed_terminate's
# SIGTERM, the crashing worker's abort) is still checked up to its death.
#
# Valgrind 3.19 (Debian 12) does not know pidfd_open (syscall 434): it
# warns and fails the call, and the library falls back to its sentinel
# pipes, so under valgrind that path is the one checked.
#
# Prints "valgrind: PASS name" or "valgrind: FAIL name: why" per example,
# then "valgrind: N passed, N failed"; exits 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

if ! command -v valgrind >/dev/null; then
  echo "valgrind: FAIL all: valgrind is not installed (bash tools/setup.sh)"
  echo "valgrind: 0 passed, 1 failed"
  exit 1
fi

if ! bazel build //examples:seed_basic //examples:seed_terminate \
    //examples:seed_two_workers //examples:psha256 //examples:ipc_queue \
    //examples:ipc_queue_full //examples:ipc_pipe //examples:ipc_counter; then
  echo "valgrind: FAIL all: the examples do not build"
  echo "valgrind: 0 passed, 1 failed"
  exit 1
fi
BIN=$(readlink -f bazel-bin/examples)
LOGS=$(mktemp -d)
trap 'rm -rf "$LOGS"' EXIT
# Per example, at most this long under valgrind (they take seconds).
LIMIT=${MPROC_VALGRIND_TIMEOUT:-300}

passed=0
failed=0

# check NAME EXPECTED_STATUS CMD...: runs CMD under memcheck (stdout to
# $LOGS/NAME.out), then judges its status and every process's log.
check() {
  local name=$1 want=$2
  shift 2
  local dir="$LOGS/$name"
  mkdir -p "$dir"
  timeout -k 10 "$LIMIT" valgrind --error-exitcode=99 --leak-check=full \
    --track-origins=yes \
    --errors-for-leak-kinds=definite --trace-children=yes \
    --log-file="$dir/vg.%p.log" "$@" >"$LOGS/$name.out" 2>"$LOGS/$name.err"
  local rc=$?
  local why=""
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    why="timed out after ${LIMIT}s"
  elif [ "$rc" -eq 99 ]; then
    why="memcheck found errors in the main process"
  elif [ "$rc" -ne "$want" ]; then
    why="exit status $rc, expected $want"
  fi
  # Every process that ran to its end (or to a fatal signal other than
  # SIGKILL) wrote an ERROR SUMMARY; definite leaks count as errors there
  # (--errors-for-leak-kinds=definite).
  local bad
  bad=$(grep -l -E "ERROR SUMMARY: [1-9]|definitely lost: [1-9]|Invalid (read|write|free)|uninitialised|Mismatched free|overlap" "$dir"/vg.*.log 2>/dev/null)
  if [ -n "$bad" ]; then
    why="${why:+$why; }memcheck findings in $(echo "$bad" | wc -l) process(es)"
  fi
  local procs
  procs=$(ls "$dir"/vg.*.log 2>/dev/null | wc -l)
  if [ -z "$why" ] && [ -n "${EXTRA_CHECK:-}" ]; then
    why=$($EXTRA_CHECK "$name")
  fi
  if [ -z "$why" ]; then
    echo "valgrind: PASS $name ($procs processes checked)"
    passed=$((passed + 1))
  else
    echo "valgrind: FAIL $name: $why"
    for f in $bad; do
      echo "----- $f"
      cat "$f"
    done
    echo "----- stderr of $name"
    tail -20 "$LOGS/$name.err"
    failed=$((failed + 1))
  fi
}

# psha256 must print what sha256sum prints.
FILES=(core/base/error.c core/base/io.c core/base/clock.c core/base/buf.c workers/include/multiproc/pool.h README.md)
same_as_sha256sum() {
  if ! diff <(sha256sum "${FILES[@]}") "$LOGS/$1.out" >/dev/null; then
    echo "output differs from sha256sum's"
  fi
}
# With the worker hashing README.md crashing: the others are listed, that
# one is an error line.
one_error_line() {
  if ! diff <(sha256sum "${FILES[@]}" | grep -v ' README.md$') \
      "$LOGS/$1.out" >/dev/null; then
    echo "the files other than the crashing one are not all listed"
  elif ! grep -q "psha256: README.md:" "$LOGS/$1.err"; then
    echo "no error line for the crashing file"
  fi
}

EXTRA_CHECK= check seed_basic 0 "$BIN/seed_basic"
EXTRA_CHECK= check seed_terminate 0 "$BIN/seed_terminate"
EXTRA_CHECK= check seed_two_workers 0 "$BIN/seed_two_workers"
EXTRA_CHECK=same_as_sha256sum check psha256 0 "$BIN/psha256" -j 2 "${FILES[@]}"
PSHA256_CRASH_ON=README.md EXTRA_CHECK=one_error_line \
  check psha256_crashing_worker 1 "$BIN/psha256" -j 2 "${FILES[@]}"
# Talking between processes: queues, a pipe, locks and shared memory.
EXTRA_CHECK= check ipc_queue 0 "$BIN/ipc_queue"
EXTRA_CHECK= check ipc_queue_full 0 "$BIN/ipc_queue_full"
EXTRA_CHECK= check ipc_pipe 0 "$BIN/ipc_pipe"
EXTRA_CHECK= check ipc_counter 0 "$BIN/ipc_counter"

echo "valgrind: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
