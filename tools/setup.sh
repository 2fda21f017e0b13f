#!/usr/bin/env bash
# Installs everything multiproc needs to build and test, from Debian 12's
# packages, on a machine that may have nothing (no compiler, no python).
# Idempotent: installs only what is missing, and runs apt-get only then.
set -euo pipefail

PACKAGES=(
  bazel-bootstrap    # Bazel 4.2.3 (builds offline with third_party/ stubs)
  g++                # the C and C++ compilers, libasan, libubsan
  libgtest-dev       # GoogleTest
  libgmock-dev       # gMock (the matchers of //core/testing)
  nanopb             # protoc-gen-nanopb, the generator
  libnanopb-dev      # pb.h and libprotobuf-nanopb.a
  protobuf-compiler  # protoc
  python3-protobuf   # the generator runs on /usr/bin/python3
  python3            # the benchmarks compare with Python's multiprocessing
  libssl-dev         # libcrypto for the sha256 example
  valgrind           # memcheck on the examples (tools/valgrind_examples.sh)
  clang-14           # clang sanitizer builds and fuzzing (.bazelrc, tools/fuzz.sh)
  libclang-rt-14-dev # clang's ASan/UBSan/TSan runtimes and libFuzzer
  llvm-14            # llvm-symbolizer, for readable sanitizer stacks
  pkg-config         # the install check builds programs with pkg-config (tools/check_install.sh)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
