"""One fuzz target: a libFuzzer binary and a corpus replay test."""

load("//tools:build_defs.bzl", "MPROC_COPTS", "MPROC_TEST_COPTS")

def mproc_fuzz_target(name, srcs, deps = []):
    """Declares <name> (libFuzzer, clang only: bazel build --config=fuzz) and
    <name>_replay_test (every corpus file through the target, any compiler).

    Args:
      name: the target, e.g. "value_fuzz"; its corpus is corpus/<name>/.
      srcs: the C file defining LLVMFuzzerTestOneInput.
      deps: what it tests.
    """

    # alwayslink: nothing in the binary calls the entry point by name before
    # the linker reaches this archive (libFuzzer's main or the replay test
    # does), so it must not be dropped.
    native.cc_library(
        name = name + "_lib",
        testonly = True,
        srcs = srcs,
        copts = MPROC_COPTS,
        alwayslink = True,
        deps = deps + [":fuzz_util"],
    )

    # manual: only clang links -fsanitize=fuzzer, so //... (gcc) skips it.
    native.cc_binary(
        name = name,
        testonly = True,
        linkopts = ["-fsanitize=fuzzer"],
        tags = ["manual"],
        deps = [":" + name + "_lib"],
    )

    native.cc_test(
        name = name + "_replay_test",
        size = "small",
        timeout = "short",
        srcs = ["replay_test.cc"],
        copts = MPROC_TEST_COPTS,
        data = [":corpus"],
        deps = [
            ":" + name + "_lib",
            "@mproc_system//:gtest_main",
        ],
    )
