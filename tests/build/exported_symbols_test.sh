#!/usr/bin/env bash
# The library exports exactly its API: every symbol libmultiproc.so defines
# for other programs is a public mproc_ function or object — no internal
# mproc__ one, no nanopb pb_ one, nothing unprefixed.
set -euo pipefail
so="$1"
test -f "$so" || { echo "no $so"; exit 1; }
# Defined (Ndx != UND), global or weak, default visibility.
syms=$(readelf --dyn-syms -W "$so" |
  awk '$5 ~ /GLOBAL|WEAK/ && $6 == "DEFAULT" && $7 != "UND" {print $8}' |
  sed 's/@.*//' | sort -u)
count=$(printf '%s\n' "$syms" | grep -c . || true)
bad=$(printf '%s\n' "$syms" | grep -v '^mproc_[a-z]' | grep . || true)
internal=$(printf '%s\n' "$syms" | grep '^mproc__' || true)
echo "exported: $count symbols"
if [ -n "$bad$internal" ]; then
  echo "exported but not the API:"
  printf '%s\n' "$bad" "$internal" | grep . | sort -u
  exit 1
fi
# The API is there: a few functions from each module.
for want in mproc_strerror mproc_last_error mproc_version mproc_value_int mproc_pack \
    mproc_frame_read mproc_call_fail mproc_target_register_at \
    mproc_process_start mproc_pool_new mproc_pool_map mproc_process_result \
    mproc_pipe mproc_queue_put mproc_lock_acquire mproc_shm_create \
    mproc_array_new; do
  # A here-string, not a pipe: grep -q leaves at the first match, and under
  # pipefail the writer's SIGPIPE would read as "missing".
  grep -qx "$want" <<<"$syms" || { echo "missing: $want"; exit 1; }
done
echo "ok: only mproc_* is exported"

# And in the library's objects themselves (each archive passed after the
# shared object): no internal mproc__ symbol has default visibility.
shift
checked=0
for lib in "$@"; do
  case "$lib" in *.a | *.lo) ;; *) continue ;; esac
  test -f "$lib" || { echo "no $lib"; exit 1; }
  checked=$((checked + 1))
  leaked=$(readelf -s -W "$lib" |
    awk '$5 ~ /GLOBAL|WEAK/ && $6 == "DEFAULT" && $7 != "UND" && $8 ~ /^mproc__/ {print $8}' |
    sort -u)
  if [ -n "$leaked" ]; then
    echo "$lib: internal symbols with default visibility:"
    echo "$leaked"
    exit 1
  fi
  echo "ok: $(basename "$lib"): internal symbols hidden"
done
[ "$checked" -gt 0 ] || { echo "no archive to check in: $*"; exit 1; }
