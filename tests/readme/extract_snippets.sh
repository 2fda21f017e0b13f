#!/usr/bin/env bash
# Pulls README.md's C snippets apart for readme tests: each ```c block
# becomes OUTDIR/snippet_<n>.c and the ```text block that follows it (within
# a few lines of prose, "It prints:") OUTDIR/snippet_<n>.out, the stdout it
# must print. Fails when a snippet has no such block, or when the README
# holds another number of snippets than tests/readme/BUILD expects.
#   extract_snippets.sh README.md OUTDIR COUNT
set -euo pipefail
readme=$1 out=$2 want=$3
awk -v dir="$out" -v want="$want" '
  function fail(msg) { print "README.md:" NR ": " msg > "/dev/stderr"; bad = 1 }
  state == 0 && /^```c$/ {
    n++; state = 1; src = dir "/snippet_" n ".c"; printf "" > src; next
  }
  state == 1 && /^```$/ { close(src); state = 2; gap = 0; next }
  state == 1 { print > src; next }
  state == 2 && /^```text$/ {
    state = 3; res = dir "/snippet_" n ".out"; printf "" > res; next
  }
  state == 2 && /^```/ { fail("C snippet " n " has no ```text block (its output) after it"); state = 0 }
  state == 2 { if (++gap > 5) { fail("C snippet " n " has no ```text block (its output) after it"); state = 0 }; next }
  state == 3 && /^```$/ { close(res); state = 0; next }
  state == 3 { print > res; next }
  END {
    if (state == 1 || state == 3) fail("unterminated block")
    if (n != want)
      fail(n " C snippets, tests/readme/BUILD expects " want ": update SNIPPETS there")
    exit bad
  }' "$readme"
