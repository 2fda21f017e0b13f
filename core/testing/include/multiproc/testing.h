// multiproc testing — help for GoogleTest suites that test multiprocess
// code (with multiproc or without).
//
// Bazel: depend on @multiproc//core/testing (in this workspace
// //core/testing) from a cc_test; it brings GoogleTest and gMock (Debian's
// libgtest-dev and libgmock-dev, through @mproc_system), but no main():
// add @multiproc//:gtest_main, or write your own main. The target is
// testonly: cc_test targets and other testonly targets may depend on it.
// The including code must be compiled as C++17 or later (Bazel's default
// is older: give the cc_test copts = ["-std=c++17"], or build with
// --cxxopt=-std=c++17). It is Bazel-only: //:install installs the C
// library and its headers, not this.
//
//     #include "multiproc/testing.h"
//
//     using namespace std::chrono_literals;
//     using mproc::testing::RunInChild;
//
//     class WorkerTest : public mproc::testing::DeadlineTest {};  // no hang
//
//     TEST_F(WorkerTest, ChildAssertionsCount) {
//       auto r = RunInChild([] {
//         std::printf("working\n");
//         EXPECT_EQ(6 * 7, 42);        // a failure here fails this test
//       }, 5s);
//       EXPECT_THAT(r, mproc::testing::Succeeded());
//       EXPECT_EQ(r.std_out, "working\n");
//     }
//
//     TEST_F(WorkerTest, PoolSquares) {
//       mproc_pool_opts_t opts = {};
//       mproc::testing::PoolPtr pool;        // freed however the test ends
//       ASSERT_MPROC_OK(mproc_pool_new(mproc::testing::Out(pool), &opts));
//       mproc::testing::ValuePtr results;
//       ASSERT_MPROC_OK(mproc_pool_map(pool.get(), "square",
//                                      mproc::testing::List(1, 2, 3).get(), 0,
//                                      mproc::testing::Out(results), nullptr));
//       EXPECT_THAT(results, mproc::testing::EqualsValue(std::vector<int>{1, 4, 9}));
//     }
//
// What is here, one header each (all included by this one):
//   multiproc/testing/child.h     RunInChild, RunTargetInChild, ChildResult
//   multiproc/testing/assert.h    ASSERT_MPROC_OK, EXPECT_MPROC_ERR, ...
//   multiproc/testing/matchers.h  ExitedWith, KilledBySignal, TimedOut,
//                                 Succeeded, EqualsValue
//   multiproc/testing/deadline.h  DeadlineTest
//   multiproc/testing/leaks.h     LeakCheckListener, InstallLeakCheck
//   multiproc/testing/handles.h   ValuePtr, ProcessPtr, PoolPtr, FuturePtr,
//                                 IterPtr, Out()
//   multiproc/testing/values.h    Pack, Args, List, Kwargs, Unpack,
//                                 FromValue, SetResult (type-checked)
//
// Everything is in namespace mproc::testing. Inside it `testing` names
// mproc::testing, so a `using namespace mproc;` would make `testing::Test`
// ambiguous: name things as mproc::testing::X (or `using` them one by one).
//
// Sharding (GTEST_SHARD_INDEX / GTEST_TOTAL_SHARDS, Bazel's shard_count),
// --gtest_repeat, --runs_per_test and --test_output=streamed all work: no
// state outlives a test, and a child never prints gtest output of its own
// (it leaves through _exit, never through gtest's teardown or summary).
#ifndef MPROC_TESTING_H
#define MPROC_TESTING_H

#if !defined(__cplusplus) || __cplusplus < 201703L
#error "multiproc/testing.h is C++17: compile with -std=c++17 (Bazel: copts or --cxxopt=-std=c++17)"
#endif

#include "multiproc/testing/assert.h"
#include "multiproc/testing/child.h"
#include "multiproc/testing/deadline.h"
#include "multiproc/testing/handles.h"
#include "multiproc/testing/leaks.h"
#include "multiproc/testing/matchers.h"
#include "multiproc/testing/values.h"

#endif  // MPROC_TESTING_H
