#!/usr/bin/env bash
# The batch program against known prime counts (pi(10^k)), with one and
# with several workers, and its usage error.
set -uo pipefail
primes=$1
status=0
check() {
  local want=$1
  shift
  local got
  got=$("$primes" "$@")
  if [ "$got" = "$want" ]; then
    echo "ok: primes $*: $got"
  else
    echo "FAIL: primes $*: got '$got', want '$want'"
    status=1
  fi
}
check "primes below 0: 0" 0
check "primes below 10: 4" 10
check "primes below 100000: 9592" 100000 1
check "primes below 100000: 9592" 100000 3
check "primes below 1000000: 78498" 1000000
if "$primes" 2>/dev/null; then
  echo "FAIL: primes with no argument succeeded"
  status=1
else
  echo "ok: primes with no argument fails"
fi
exit $status
