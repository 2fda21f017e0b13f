#!/usr/bin/env bash
# multiproc without Bazel, as a C user gets it: installs into a temporary
# prefix (bazel run //:install) and builds programs with the system
# compiler and pkg-config only. Each check prints one line,
# "install: PASS name" or "install: FAIL name: why", and .ci/run counts
# them:
#   layout   the files, a valid multiproc.pc whose Version is the headers'
#            MPROC_VERSION_STRING and mproc_version(), no -D in its Cflags,
#            the soname libmultiproc.so.<major>
#   symbols  libmultiproc.a and libmultiproc.so define the same global
#            symbols, all of them mproc_[a-z]*
#   shared   examples/consumer/primes.c built with
#            cc $(pkg-config --cflags --libs multiproc), run
#   static   the same built -static with --static, run; needs no shared
#            library at all
# Exits non-zero if any check fails. KEEP=1 keeps the prefix.
#   tools/check_install.sh
set -uo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d "${TMPDIR:-/tmp}/mproc-install.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then
  echo "install: keeping $work"
else
  trap 'rm -rf "$work"' EXIT
fi
prefix="$work/prefix"
failed=0
pass() { echo "install: PASS $1"; }
fail() { echo "install: FAIL $1: $2"; failed=1; }

if ! bazel run //:install -- "$prefix" >"$work/install.log" 2>&1; then
  tail -20 "$work/install.log"
  fail layout "bazel run //:install failed"
  exit 1
fi
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cc=${CC:-cc}

# layout
why=""
for f in include/multiproc.h include/multiproc/version.h \
    include/multiproc/process.h include/multiproc/pool.h \
    include/multiproc/queue.h lib/libmultiproc.a \
    lib/libmultiproc.so lib/pkgconfig/multiproc.pc; do
  [ -e "$prefix/$f" ] || why="$why missing $f;"
done
pkg-config --validate multiproc || why="$why multiproc.pc is not valid;"
version=$(pkg-config --modversion multiproc)
header=$(sed -n 's/^#define MPROC_VERSION_STRING "\(.*\)"$/\1/p' \
  "$prefix/include/multiproc/version.h")
[ -n "$version" ] && [ "$version" = "$header" ] ||
  why="$why pkg-config says '$version', version.h '$header';"
cflags=$(pkg-config --cflags --static multiproc)
case " $cflags " in *" -D"*) why="$why Cflags define something: $cflags;" ;; esac
soname=$(readelf -d "$prefix/lib/libmultiproc.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libmultiproc.so.${version%%.*}" ] ||
  why="$why soname '$soname' is not libmultiproc.so.${version%%.*};"
printf '#include <stdio.h>\n#include <multiproc.h>\nint main(void) { puts(mproc_version()); return 0; }\n' \
  > "$work/version.c"
# shellcheck disable=SC2046
if $cc -o "$work/version" "$work/version.c" $(pkg-config --cflags --libs multiproc) 2>"$work/cc.log"; then
  runtime=$(LD_LIBRARY_PATH="$prefix/lib" "$work/version")
  [ "$runtime" = "$version" ] || why="$why mproc_version() says '$runtime';"
else
  why="$why version.c does not build: $(head -3 "$work/cc.log");"
fi
if [ -z "$why" ]; then pass "layout (multiproc $version)"; else fail layout "$why"; fi

# symbols: what each library offers a program.
so_syms=$(readelf --dyn-syms -W "$prefix/lib/libmultiproc.so" |
  awk '$5 ~ /GLOBAL|WEAK/ && $6 == "DEFAULT" && $7 != "UND" {print $8}' |
  sed 's/@.*//' | sort -u)
a_syms=$(nm -g --defined-only "$prefix/lib/libmultiproc.a" | awk 'NF == 3 {print $3}' | sort -u)
bad=$(printf '%s\n' "$a_syms" "$so_syms" | grep -v '^mproc_[a-z]' | grep . | sort -u | head -5)
if [ -n "$bad" ]; then
  fail symbols "not the API: $(echo $bad)"
elif [ "$so_syms" != "$a_syms" ]; then
  fail symbols "the static and shared libraries differ: $(diff <(echo "$a_syms") <(echo "$so_syms") | grep '^[<>]' | head -5 | tr '\n' ' ')"
else
  pass "symbols ($(echo "$so_syms" | wc -l) mproc_* in both)"
fi

# shared and static: a batch program on the pool.
want="primes below 100000: 9592"
# shellcheck disable=SC2046
if ! $cc -std=c11 -Wall -Wextra -Werror -o "$work/primes_shared" examples/consumer/primes.c \
    $(pkg-config --cflags --libs multiproc) 2>"$work/cc.log"; then
  fail shared "does not build: $(head -5 "$work/cc.log")"
elif ! readelf -d "$work/primes_shared" | grep -q 'NEEDED.*\[libmultiproc\.so\.'; then
  fail shared "not linked against libmultiproc.so"
elif ! got=$(LD_LIBRARY_PATH="$prefix/lib" "$work/primes_shared" 100000 2); then
  fail shared "exited with $?"
elif [ "$got" != "$want" ]; then
  fail shared "printed '$got', not '$want'"
else
  pass shared
fi

# shellcheck disable=SC2046
if ! $cc -std=c11 -Wall -Wextra -Werror -static -o "$work/primes_static" examples/consumer/primes.c \
    $(pkg-config --cflags --libs --static multiproc) 2>"$work/cc.log"; then
  fail static "does not build: $(head -5 "$work/cc.log")"
elif readelf -d "$work/primes_static" | grep -q NEEDED; then
  fail static "still needs shared libraries"
elif ! got=$(env -u LD_LIBRARY_PATH "$work/primes_static" 100000 2); then
  fail static "exited with $?"
elif [ "$got" != "$want" ]; then
  fail static "printed '$got', not '$want'"
else
  pass static
fi

exit $failed
