// RunInChild and RunTargetInChild: exit codes, signals, captured output,
// timeouts, and the child's gtest failures carried back to this test.
// Every failure a child reports is intercepted here (capture.h) so the
// records themselves can be checked without failing this suite; the
// nested runs (nested_test.cc) show the same failures failing a real test.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "multiproc/target.h"
#include "multiproc/testing.h"
#include "tests/testing/capture.h"

namespace {

using namespace std::chrono_literals;
using mproc::testing::ChildOptions;
using mproc::testing::ChildResult;
using mproc::testing::ExitedWith;
using mproc::testing::KilledBySignal;
using mproc::testing::RunInChild;
using mproc::testing::RunTargetInChild;
using mproc::testing::Succeeded;
using mproc::testing::TimedOut;
using mproc_test::Contains;
using mproc_test::Reported;
using ::testing::TestPartResult;

class RunInChildTest : public mproc::testing::DeadlineTest {
 protected:
  RunInChildTest() : DeadlineTest(60s) {}
};

TEST_F(RunInChildTest, VoidCallableExitsZeroWithItsOutput) {
  ChildResult r = RunInChild([] {
    printf("to stdout\n");
    fprintf(stderr, "to stderr\n");
  }, 20s);
  EXPECT_THAT(r, Succeeded());
  EXPECT_THAT(r, ExitedWith(0));
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.std_out, "to stdout\n");
  EXPECT_EQ(r.std_err, "to stderr\n");
  EXPECT_GT(r.pid, 0);
  EXPECT_NE(r.pid, getpid());
  EXPECT_FALSE(r.name.empty());
  EXPECT_GT(r.wall_s, 0);
  EXPECT_GE(r.timing.wall_s, 0);
  EXPECT_TRUE(r.failures.empty());
}

TEST_F(RunInChildTest, IntCallableIsTheExitCode) {
  ChildResult r = RunInChild([] { return 3; }, 20s);
  EXPECT_THAT(r, ExitedWith(3));
  EXPECT_THAT(r, ExitedWith(::testing::Ne(0)));
  EXPECT_THAT(r, ::testing::Not(Succeeded()));
  EXPECT_EQ(r.Describe(), "exited with code 3");
}

// As a target's return value: 0..255 as is, anything else exit code 1.
TEST_F(RunInChildTest, ExitCodesOutsideTheByteAreOne) {
  EXPECT_THAT(RunInChild([] { return 255; }, 20s), ExitedWith(255));
  EXPECT_THAT(RunInChild([] { return 256; }, 20s), ExitedWith(1));
  EXPECT_THAT(RunInChild([] { return -5; }, 20s), ExitedWith(1));
}

TEST_F(RunInChildTest, SignalIsReported) {
  ChildResult r = RunInChild([] { raise(SIGTERM); }, 20s);
  EXPECT_THAT(r, KilledBySignal(SIGTERM));
  EXPECT_THAT(r, ::testing::Not(ExitedWith(::testing::_)));
  EXPECT_FALSE(r.exited);
  EXPECT_TRUE(Contains(r.Describe(), "SIGTERM")) << r.Describe();
}

TEST_F(RunInChildTest, ChildNameAndCppStreams) {
  ChildOptions opts;
  opts.name = "named-child";
  ChildResult r = RunInChild([] {
    std::ios::sync_with_stdio(false);  // std::cout's own buffer
    std::cout << "cout line\n";
    std::cerr << "cerr line\n";
  }, opts);
  EXPECT_EQ(r.name, "named-child");
  EXPECT_EQ(r.std_out, "cout line\n");
  EXPECT_EQ(r.std_err, "cerr line\n");
}

// Megabytes on both streams at once: the parent drains both while the
// child runs, so neither pipe fills and blocks the child.
TEST_F(RunInChildTest, LargeOutputOnBothStreams) {
  const size_t kEach = 3 << 20;
  ChildResult r = RunInChild([&] {
    std::string chunk(4096, 'o');
    std::string echunk(4096, 'e');
    for (size_t done = 0; done < kEach; done += chunk.size()) {
      fwrite(chunk.data(), 1, chunk.size(), stdout);
      fwrite(echunk.data(), 1, echunk.size(), stderr);
    }
  }, 60s);
  EXPECT_THAT(r, Succeeded());
  EXPECT_EQ(r.std_out.size(), kEach);
  EXPECT_EQ(r.std_err.size(), kEach);
  EXPECT_FALSE(r.output_truncated);
}

TEST_F(RunInChildTest, OutputBeyondMaxIsTruncated) {
  ChildOptions opts;
  opts.max_output = 10;
  ChildResult r = RunInChild([] { printf("0123456789abcdef"); }, opts);
  EXPECT_EQ(r.std_out, "0123456789");
  EXPECT_TRUE(r.output_truncated);
}

TEST_F(RunInChildTest, UncapturedOutputGoesToTheTestsOwnStreams) {
  ChildOptions opts;
  opts.capture_output = false;
  ChildResult r = RunInChild([] { printf("uncaptured child line\n"); }, opts);
  EXPECT_THAT(r, Succeeded());
  EXPECT_EQ(r.std_out, "");
}

// The hang is a failure of the calling test, naming the child, with the
// tail of what it wrote; the child is killed (SIGKILL).
TEST_F(RunInChildTest, TimeoutKillsAndFails) {
  ChildResult r;
  auto reported = Reported([&] {
    r = RunInChild([] {
      printf("about to hang\n");
      fflush(stdout);
      for (;;) pause();
    }, 300ms);
  });
  EXPECT_THAT(r, TimedOut());
  EXPECT_THAT(r, KilledBySignal(SIGKILL));
  EXPECT_GE(r.wall_s, 0.3);
  EXPECT_LT(r.wall_s, 20);
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_TRUE(reported[0].nonfatally_failed());
  EXPECT_TRUE(Contains(reported[0].message(), "did not finish within"))
      << reported[0].message();
  EXPECT_TRUE(Contains(reported[0].message(), "about to hang"));
  EXPECT_STREQ(reported[0].file_name(), __FILE__);
}

TEST_F(RunInChildTest, TimeoutWithoutFailureWhenAsked) {
  ChildOptions opts;
  opts.timeout = 200ms;
  opts.fail_on_timeout = false;
  ChildResult r;
  auto reported = Reported([&] { r = RunInChild([] { pause(); }, opts); });
  EXPECT_TRUE(reported.empty());
  EXPECT_THAT(r, TimedOut());
  EXPECT_TRUE(Contains(r.Describe(), "timed out")) << r.Describe();
}

// ---- gtest failures inside the child.

TEST_F(RunInChildTest, ChildExpectFailureIsCarriedBack) {
  ChildResult r;
  const int line = __LINE__ + 3;
  auto reported = Reported([&] {
    r = RunInChild([&] {
      EXPECT_EQ(2 + 2, 5) << "arithmetic in the child";
      printf("went on after the EXPECT\n");
    }, 20s);
  });
  ASSERT_EQ(reported.size(), 1u);
  const TestPartResult& f = reported[0];
  EXPECT_TRUE(f.nonfatally_failed());
  EXPECT_STREQ(f.file_name(), __FILE__);
  EXPECT_EQ(f.line_number(), line);  // the child's EXPECT, not RunInChild
  EXPECT_TRUE(Contains(f.message(), "arithmetic in the child")) << f.message();
  EXPECT_TRUE(Contains(f.message(), "In child " + r.name)) << f.message();
  EXPECT_EQ(r.std_out, "went on after the EXPECT\n");
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_FALSE(r.failures[0].fatal);
  EXPECT_EQ(r.failures[0].line, f.line_number());
  EXPECT_THAT(r, ExitedWith(0));
  EXPECT_THAT(r, ::testing::Not(Succeeded()));  // exit 0, but a failure
  EXPECT_FALSE(r.ok());
}

TEST_F(RunInChildTest, ChildAssertIsFatalAndReturns) {
  ChildResult r;
  auto reported = Reported([&] {
    r = RunInChild([] {
      ASSERT_TRUE(false) << "fatal in child";
      printf("not reached\n");
    }, 20s);
  });
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_TRUE(reported[0].fatally_failed());
  EXPECT_TRUE(Contains(reported[0].message(), "fatal in child"));
  EXPECT_EQ(r.std_out, "");
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_TRUE(r.failures[0].fatal);
}

TEST_F(RunInChildTest, SeveralFailuresInOrderAndFromThreads) {
  ChildResult r;
  auto reported = Reported([&] {
    r = RunInChild([] {
      ADD_FAILURE() << "first";
      std::thread t([] { ADD_FAILURE() << "from a thread"; });
      t.join();
      EXPECT_TRUE(false) << "third";
    }, 20s);
  });
  ASSERT_EQ(reported.size(), 3u);
  EXPECT_TRUE(Contains(reported[0].message(), "first"));
  EXPECT_TRUE(Contains(reported[1].message(), "from a thread"));
  EXPECT_TRUE(Contains(reported[2].message(), "third"));
  EXPECT_TRUE(Contains(r.Describe(), "3 gtest failures")) << r.Describe();
}

// A failure sent before the child crashed still counts.
TEST_F(RunInChildTest, FailureBeforeCrashStillCounts) {
  ChildResult r;
  auto reported = Reported([&] {
    r = RunInChild([] {
      ADD_FAILURE() << "before the crash";
      abort();
    }, 20s);
  });
  EXPECT_THAT(r, KilledBySignal(SIGABRT));
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_TRUE(Contains(reported[0].message(), "before the crash"));
}

TEST_F(RunInChildTest, FailuresKeptButNotReportedWhenAsked) {
  ChildOptions opts;
  opts.report_failures = false;
  ChildResult r;
  auto reported = Reported([&] {
    r = RunInChild([] { ADD_FAILURE() << "kept"; }, opts);
  });
  EXPECT_TRUE(reported.empty());
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_TRUE(Contains(r.failures[0].message, "kept"));
}

TEST_F(RunInChildTest, SkipInChildIsRecordedOnly) {
  ChildResult r;
  auto reported = Reported([&] {
    r = RunInChild([] { GTEST_SKIP() << "nothing to do"; }, 20s);
  });
  EXPECT_TRUE(reported.empty());
  EXPECT_TRUE(r.skipped);
  EXPECT_TRUE(r.failures.empty());
  EXPECT_FALSE(IsSkipped());
}

TEST_F(RunInChildTest, EscapingExceptionExitsOne) {
  ChildResult r = RunInChild([] { throw std::runtime_error("boom"); }, 20s);
  EXPECT_THAT(r, ExitedWith(1));
  EXPECT_TRUE(Contains(r.error, "boom")) << r.error;
  EXPECT_TRUE(Contains(r.std_err, "boom")) << r.std_err;
}

// The parent's stdio buffers are flushed before the fork, so nothing the
// test printed before RunInChild shows up again in the child's output.
TEST_F(RunInChildTest, ParentBufferNotRepeatedByChild) {
  printf("parent-buffered-marker ");  // no newline: still buffered
  ChildResult r = RunInChild([] { printf("child\n"); }, 20s);
  printf("\n");
  EXPECT_EQ(r.std_out, "child\n");
}

// A RunInChild inside a RunInChild: the grandchild's failure travels
// through both.
TEST_F(RunInChildTest, FailuresCrossTwoGenerations) {
  ChildResult r;
  auto reported = Reported([&] {
    r = RunInChild([] {
      auto inner = RunInChild([] { ADD_FAILURE() << "from the grandchild"; },
                              20s);
      printf("inner exit %d\n", inner.exit_code);
    }, 30s);
  });
  EXPECT_EQ(r.std_out, "inner exit 0\n");
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_TRUE(Contains(reported[0].message(), "from the grandchild"))
      << reported[0].message();
  EXPECT_EQ(mproc_test::Count(reported[0].message(), "In child "), 2)
      << reported[0].message();
}

// From a thread of the test other than the main one.
TEST_F(RunInChildTest, FromAnotherThread) {
  ChildResult r;
  std::vector<::testing::TestPartResult> reported;
  std::thread t([&] {
    reported = Reported([&] {
      r = RunInChild([] { ADD_FAILURE() << "thread's child"; return 4; }, 20s);
    });
  });
  t.join();
  EXPECT_THAT(r, ExitedWith(4));
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_TRUE(Contains(reported[0].message(), "thread's child"));
}

// ---- targets.

MPROC_TARGET(testing_child_add) {
  int a = 0, b = 0;
  int rc = mproc_unpack(call, "ii", &a, &b);
  if (rc < 0) return rc;
  printf("%d\n", a + b);
  EXPECT_EQ(a + b, 5) << "sum in target";
  return a + b;
}

TEST_F(RunInChildTest, TargetByFunctionAndByName) {
  auto args = mproc::testing::Args(2, 3);
  ChildResult r = RunTargetInChild(testing_child_add, args.get(), nullptr);
  EXPECT_THAT(r, ExitedWith(5));
  EXPECT_EQ(r.std_out, "5\n");

  auto args2 = mproc::testing::Args(1, 1);
  ChildResult r2;
  auto reported = Reported([&] {
    r2 = RunTargetInChild("testing_child_add", args2.get(), nullptr);
  });
  EXPECT_THAT(r2, ExitedWith(2));
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_TRUE(Contains(reported[0].message(), "sum in target"));
}

TEST_F(RunInChildTest, TargetUnpackFailureIsExitOneWithMessage) {
  auto args = mproc::testing::Args("not an int", 3);
  ChildResult r = RunTargetInChild(testing_child_add, args.get(), nullptr);
  EXPECT_THAT(r, ExitedWith(1));
  EXPECT_FALSE(r.error.empty());
}

TEST_F(RunInChildTest, UnknownTargetNameFailsTheTest) {
  ChildResult r;
  auto reported = Reported(
      [&] { r = RunTargetInChild("no_such_target_here", nullptr, nullptr); });
  EXPECT_EQ(r.start_error, MPROC_ENOTARGET);
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_TRUE(Contains(reported[0].message(), "no_such_target_here"))
      << reported[0].message();
  EXPECT_TRUE(Contains(r.Describe(), "could not start")) << r.Describe();

  auto none = Reported([&] {
    r = RunTargetInChild(static_cast<mproc_target_fn>(nullptr), nullptr,
                         nullptr);
  });
  EXPECT_EQ(r.start_error, MPROC_EINVAL);
  EXPECT_EQ(none.size(), 1u);
  auto unnamed = Reported([&] {
    r = RunTargetInChild(static_cast<const char*>(nullptr), nullptr, nullptr);
  });
  EXPECT_EQ(r.start_error, MPROC_EINVAL);
  EXPECT_EQ(unnamed.size(), 1u);
}

}  // namespace
