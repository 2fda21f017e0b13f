#!/usr/bin/env bash
# Installs multiproc for builds without Bazel:
#
#   bazel run //:install -- PREFIX        (from the checkout; or, in another
#                                          workspace, @multiproc//:install)
#   tools/install.sh PREFIX               (builds //:dist first)
#
# PREFIX/include/multiproc.h, PREFIX/include/multiproc/*.h   public headers
# PREFIX/lib/libmultiproc.a                static (nanopb's runtime inside)
# PREFIX/lib/libmultiproc.so.X.Y.Z, .so.X, .so   shared (soname .so.X)
# PREFIX/lib/pkgconfig/multiproc.pc        for pkg-config
#
# Then: cc prog.c $(pkg-config --cflags --libs multiproc)            shared
#       cc -static prog.c $(pkg-config --cflags --libs --static multiproc)
# (with PKG_CONFIG_PATH=PREFIX/lib/pkgconfig unless pkg-config looks there
# already, and PREFIX/lib on the loader's path for the shared one).
#
# DESTDIR, when set, is prepended to every installed path but not to the
# prefix written into multiproc.pc (for packaging). A relative PREFIX is
# taken from the directory bazel run was started in.
set -euo pipefail

usage() { echo "usage: $0 PREFIX" >&2; exit 2; }
[ $# -eq 1 ] || usage
prefix=$1
[ -n "$prefix" ] || usage
case "$prefix" in
  /*) ;;
  *) prefix="${BUILD_WORKING_DIRECTORY:-$PWD}/$prefix" ;;
esac
prefix=${prefix%/}

# The staged tree: in the runfiles under bazel run, else built now.
dist=""
for d in "$0.runfiles"/*/dist "${RUNFILES_DIR:-/nonexistent}"/*/dist; do
  if [ -f "$d/lib/pkgconfig/multiproc.pc" ]; then dist=$d; break; fi
done
if [ -z "$dist" ]; then
  root=$(cd "$(dirname "$0")/.." && pwd)
  (cd "$root" && bazel build //:dist) >&2
  dist="$(cd "$root" && bazel info bazel-bin 2>/dev/null)/dist"
fi
[ -f "$dist/lib/libmultiproc.a" ] || { echo "install: no build in $dist" >&2; exit 1; }

version=$(sed -n 's/^Version: //p' "$dist/lib/pkgconfig/multiproc.pc")
major=${version%%.*}
dest="${DESTDIR:-}$prefix"

install -d "$dest/include/multiproc" "$dest/lib/pkgconfig"
install -m 644 "$dist/include/multiproc.h" "$dest/include/"
install -m 644 "$dist"/include/multiproc/*.h "$dest/include/multiproc/"
install -m 644 "$dist/lib/libmultiproc.a" "$dest/lib/"
install -m 755 "$dist/lib/libmultiproc.so" "$dest/lib/libmultiproc.so.$version"
ln -sfn "libmultiproc.so.$version" "$dest/lib/libmultiproc.so.$major"
ln -sfn "libmultiproc.so.$major" "$dest/lib/libmultiproc.so"
sed "s|^prefix=@PREFIX@$|prefix=$prefix|" "$dist/lib/pkgconfig/multiproc.pc" \
  > "$dest/lib/pkgconfig/multiproc.pc"
chmod 644 "$dest/lib/pkgconfig/multiproc.pc"
echo "install: multiproc $version in $dest"
