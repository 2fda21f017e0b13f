"""Compiler options shared by every multiproc target (after brotli's
STRICT_C_OPTIONS). Generated nanopb code is compiled without them."""

MPROC_COPTS = [
    # pipe2, ppoll, accept4, strerrordesc_np: Linux and glibc interfaces.
    "-D_GNU_SOURCE",
    "-std=c11",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wshadow",
    "-Wmissing-prototypes",
    "-Wstrict-prototypes",
    "-Wpointer-arith",
    "-Wformat=2",
    "-Wvla",
    "-Wno-missing-field-initializers",
    # Only MPROC_API declarations (multiproc/error.h) are exported; the
    # internal mproc__ functions stay inside the library.
    "-fvisibility=hidden",
]

# For the targets whose files include nanopb's pb.h, as local_defines: the
# configuration Debian's libprotobuf-nanopb.a was built with
# (third_party/system/system.BUILD). Local, so it never reaches the compile
# lines of programs that use multiproc (serialization/codec.h checks it).
MPROC_NANOPB_DEFINES = ["PB_ENABLE_MALLOC=1"]

MPROC_TEST_COPTS = [
    "-D_GNU_SOURCE",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-missing-field-initializers",
    # libstdc++'s <regex> trips this false positive at -O1 (the asan config).
    "-Wno-maybe-uninitialized",
]

def mproc_cc_test(name, srcs, deps = [], size = "medium", timeout = "moderate", copts = [], **kwargs):
    """A GoogleTest cc_test with the project's test options and gtest_main.

    Every test has a size and a timeout (medium/moderate unless given): a hang
    is a failure, never a wait."""
    native.cc_test(
        name = name,
        srcs = srcs,
        size = size,
        timeout = timeout,
        copts = MPROC_TEST_COPTS + copts,
        deps = deps + ["@mproc_system//:gtest_main"],
        **kwargs
    )
