#!/usr/bin/env bash
# Runs one README snippet and compares its stdout with what the README
# shows after it. The snippet must exit 0.
#   snippet_test.sh BINARY EXPECTED_STDOUT
set -uo pipefail
bin=$1 want=$2
got=$(mktemp "${TEST_TMPDIR:-/tmp}/snippet.XXXXXX")
"$bin" > "$got"
rc=$?
if [ $rc -ne 0 ]; then
  echo "FAIL: $(basename "$bin") exited with $rc"
  exit 1
fi
if ! diff -u "$want" "$got"; then
  echo "FAIL: $(basename "$bin"): stdout differs from README.md (- README, + program)"
  exit 1
fi
echo "ok: $(basename "$bin") prints what README.md shows"
