// The library's promises seen from outside: this binary runs itself again
// (a "nested" gtest run, in a RunInChild child that execs /proc/self/exe)
// on one of its DISABLED_ tests, and checks the nested run's exit status
// and output. The DISABLED_ tests fail on purpose — a child's EXPECT, a
// leaked descriptor, a hang — and never run in the outer run (gtest skips
// DISABLED_ tests), so this suite passes exactly when each of them fails
// the nested run the way it should. The target runs sharded (shard_count
// in BUILD): the nested run is given no shard of its own.
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "multiproc/process.h"
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
using mproc_test::Contains;
using mproc_test::Count;

// Every test of this binary, the outer ones included, runs under the leak
// check (short grace: the nested leaks below are meant to be found).
[[maybe_unused]] mproc::testing::LeakCheckListener* const leak_check = [] {
  mproc::testing::LeakCheckOptions opts;
  opts.grace = std::chrono::milliseconds(300);
  return mproc::testing::InstallLeakCheck(opts);
}();

// Runs this binary on the tests `filter` selects, its own shard and
// report files withheld (they are the outer run's).
ChildResult RunNested(const std::string& filter,
                      const std::string& extra = "--gtest_color=no") {
  ChildOptions opts;
  opts.timeout = 60s * mproc::testing::DeadlineScale();
  return RunInChild([&] {
    for (const char* v :
         {"GTEST_SHARD_INDEX", "GTEST_TOTAL_SHARDS", "TEST_SHARD_STATUS_FILE",
          "XML_OUTPUT_FILE", "GTEST_OUTPUT", "TEST_PREMATURE_EXIT_FILE",
          "TESTBRIDGE_TEST_ONLY", "GTEST_FILTER", "GTEST_REPEAT"})
      unsetenv(v);
    std::string f = "--gtest_filter=" + filter;
    execl("/proc/self/exe", "nested", f.c_str(),
          "--gtest_also_run_disabled_tests", "--gtest_color=no",
          extra.c_str(), static_cast<char*>(nullptr));
    perror("execl");
    return 127;
  }, opts);
}

class NestedTest : public mproc::testing::DeadlineTest {
 protected:
  NestedTest() : DeadlineTest(120s) {}
};

// ---- the nested tests (run only by RunNested).

TEST(Nested, DISABLED_ChildPasses) {
  auto r = RunInChild([] {
    printf("child says hi\n");
    EXPECT_EQ(6 * 7, 42);
  }, 20s);
  EXPECT_EQ(r.std_out, "child says hi\n");
}

TEST(Nested, DISABLED_ChildPassesUncaptured) {
  ChildOptions opts;
  opts.capture_output = false;
  RunInChild([] { printf("uncaptured child says hi\n"); }, opts);
}

TEST(Nested, DISABLED_ChildExpectFails) {
  RunInChild([] { EXPECT_EQ(1 + 1, 3) << "nested-child-expect"; }, 20s);
  printf("parent went on\n");
}

TEST(Nested, DISABLED_ChildAssertStopsParent) {
  ASSERT_NO_FATAL_FAILURE(
      RunInChild([] { ASSERT_TRUE(false) << "nested-child-assert"; }, 20s));
  printf("parent-not-reached\n");
}

TEST(Nested, DISABLED_RawForkLosesFailures) {
  // Without RunInChild: the child's failure goes nowhere the parent sees
  // (why the library carries them), and the child must _exit.
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    EXPECT_EQ(1, 2) << "lost-in-raw-child";
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
}

TEST(Nested, DISABLED_LeaksAPipe) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
}

MPROC_TARGET(testing_nested_sleeper) {
  (void)call;
  sleep(60);
  return 0;
}

TEST(Nested, DISABLED_LeaksARunningChild) {
  mproc_process_opts_t po = {};
  po.target = testing_nested_sleeper;
  po.daemon = true;  // terminated, not joined, when the nested run exits
  mproc_process_t* p = nullptr;
  ASSERT_EQ(mproc_process_new(&p, &po), 0);
  ASSERT_EQ(mproc_process_start(p), 0);
  printf("leaked-pid %d\n", static_cast<int>(mproc_process_pid(p)));
  // neither joined nor closed: the pidfd and the child both leak
}

TEST(Nested, DISABLED_LeaksAZombie) {
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  printf("zombie-pid %d\n", static_cast<int>(pid));
}

class NestedDeadline : public mproc::testing::DeadlineTest {
 protected:
  NestedDeadline() : DeadlineTest(300ms) {}
};

TEST_F(NestedDeadline, DISABLED_Hangs) {
  mproc_process_opts_t po = {};
  po.target = testing_nested_sleeper;
  po.daemon = true;  // terminated, not joined, when the nested run exits
  mproc_process_t* p = nullptr;
  ASSERT_EQ(mproc_process_new(&p, &po), 0);
  ASSERT_EQ(mproc_process_start(p), 0);
  for (;;) pause();
}

// ---- the outer tests.

TEST_F(NestedTest, PassingChildPrintsGtestOutputOnce) {
  ChildResult r = RunNested("Nested.DISABLED_ChildPasses");
  EXPECT_THAT(r, ExitedWith(0)) << r.std_out;
  // One run, one summary: no child repeated gtest's output.
  EXPECT_EQ(Count(r.std_out, "[==========]"), 2) << r.std_out;
  EXPECT_EQ(Count(r.std_out, "[ RUN      ]"), 1) << r.std_out;
  EXPECT_EQ(Count(r.std_out, "[       OK ]"), 1) << r.std_out;
  EXPECT_EQ(Count(r.std_out, "[  PASSED  ]"), 1) << r.std_out;
  EXPECT_EQ(Count(r.std_out, "child says hi"), 0) << r.std_out;  // captured
}

TEST_F(NestedTest, UncapturedChildOutputAppearsOnce) {
  ChildResult r = RunNested("Nested.DISABLED_ChildPassesUncaptured");
  EXPECT_THAT(r, ExitedWith(0)) << r.std_out;
  EXPECT_EQ(Count(r.std_out, "uncaptured child says hi"), 1) << r.std_out;
  EXPECT_EQ(Count(r.std_out, "[==========]"), 2) << r.std_out;
  EXPECT_EQ(Count(r.std_out, "[ RUN      ]"), 1) << r.std_out;
}

TEST_F(NestedTest, ChildExpectFailsTheTest) {
  ChildResult r = RunNested("Nested.DISABLED_ChildExpectFails");
  EXPECT_THAT(r, ExitedWith(1)) << r.std_out;
  EXPECT_EQ(Count(r.std_out, "nested-child-expect"), 1) << r.std_out;
  EXPECT_TRUE(Contains(r.std_out, "In child ")) << r.std_out;
  EXPECT_TRUE(Contains(r.std_out, "nested_test.cc:"))  // the child's line
      << r.std_out;
  EXPECT_TRUE(Contains(r.std_out, "parent went on")) << r.std_out;
  EXPECT_TRUE(Contains(r.std_out, "[  FAILED  ] Nested.DISABLED_ChildExpectFails"))
      << r.std_out;
  EXPECT_EQ(Count(r.std_out, "[==========]"), 2) << r.std_out;
}

TEST_F(NestedTest, ChildAssertIsFatalInTheParent) {
  ChildResult r = RunNested("Nested.DISABLED_ChildAssertStopsParent");
  EXPECT_THAT(r, ExitedWith(1)) << r.std_out;
  EXPECT_TRUE(Contains(r.std_out, "nested-child-assert")) << r.std_out;
  EXPECT_FALSE(Contains(r.std_out, "parent-not-reached")) << r.std_out;
}

// The problem the library solves, shown: a raw fork's failure is lost.
TEST_F(NestedTest, RawForkFailureIsLostWithoutTheLibrary) {
  ChildResult r = RunNested("Nested.DISABLED_RawForkLosesFailures");
  EXPECT_THAT(r, ExitedWith(0)) << r.std_out;
  EXPECT_TRUE(Contains(r.std_out, "[  PASSED  ] 1 test")) << r.std_out;
}

TEST_F(NestedTest, LeakedPipeFailsTheTest) {
  ChildResult r = RunNested("Nested.DISABLED_LeaksAPipe");
  EXPECT_THAT(r, ExitedWith(1)) << r.std_out;
  EXPECT_TRUE(Contains(r.std_out, "Nested.DISABLED_LeaksAPipe leaked:"))
      << r.std_out;
  EXPECT_EQ(Count(r.std_out, "-> pipe:["), 2) << r.std_out;
  EXPECT_TRUE(Contains(r.std_out, "[  FAILED  ] Nested.DISABLED_LeaksAPipe"))
      << r.std_out;
}

TEST_F(NestedTest, LeakedChildFailsTheTest) {
  ChildResult r = RunNested("Nested.DISABLED_LeaksARunningChild");
  EXPECT_THAT(r, ExitedWith(1)) << r.std_out;
  size_t at = r.std_out.find("leaked-pid ");
  ASSERT_NE(at, std::string::npos) << r.std_out;
  int pid = atoi(r.std_out.c_str() + at + 11);
  EXPECT_TRUE(Contains(r.std_out, "child " + std::to_string(pid) + " ("))
      << r.std_out;
  EXPECT_TRUE(Contains(r.std_out, "running")) << r.std_out;
  EXPECT_TRUE(Contains(r.std_out, "anon_inode:[pidfd]")) << r.std_out;
}

TEST_F(NestedTest, ZombieFailsTheTest) {
  ChildResult r = RunNested("Nested.DISABLED_LeaksAZombie");
  EXPECT_THAT(r, ExitedWith(1)) << r.std_out;
  size_t at = r.std_out.find("zombie-pid ");
  ASSERT_NE(at, std::string::npos) << r.std_out;
  int pid = atoi(r.std_out.c_str() + at + 11);
  EXPECT_TRUE(Contains(r.std_out, "child " + std::to_string(pid) + " ("))
      << r.std_out;
  EXPECT_TRUE(Contains(r.std_out, "zombie: never reaped")) << r.std_out;
}

TEST_F(NestedTest, DeadlineAbortsNamingTheTest) {
  auto t0 = std::chrono::steady_clock::now();
  ChildResult r = RunNested("NestedDeadline.DISABLED_Hangs");
  EXPECT_THAT(r, KilledBySignal(SIGABRT)) << r.std_out << r.std_err;
  EXPECT_TRUE(Contains(r.std_err,
                       "[ DEADLINE ] NestedDeadline.DISABLED_Hangs did not "
                       "finish within"))
      << r.std_err;
  EXPECT_TRUE(Contains(r.std_err, "Its children: ")) << r.std_err;
  EXPECT_FALSE(Contains(r.std_err, "Its children: none")) << r.std_err;
  EXPECT_LT(std::chrono::steady_clock::now() - t0,
            30s * mproc::testing::DeadlineScale());
}

// --gtest_repeat: each iteration runs the child once, fails once.
TEST_F(NestedTest, RepeatedRunsStayApart) {
  ChildResult r = RunNested(
      "Nested.DISABLED_ChildPasses:Nested.DISABLED_ChildExpectFails",
      "--gtest_repeat=3");
  EXPECT_THAT(r, ExitedWith(1)) << r.std_out;
  EXPECT_EQ(Count(r.std_out, "[ RUN      ]"), 6) << r.std_out;
  EXPECT_EQ(Count(r.std_out, "nested-child-expect"), 3) << r.std_out;
  EXPECT_EQ(Count(r.std_out, "[       OK ] Nested.DISABLED_ChildPasses"), 3)
      << r.std_out;
}

MPROC_TARGET(testing_nested_double) {
  int x = 0;
  int rc = mproc::testing::Unpack(call, &x);
  return rc < 0 ? rc : mproc::testing::SetResult(call, 2 * x);
}

// What a test normally does — a pool, a Process, a RunInChild that starts
// a pool of its own — leaves nothing the listener would report: it runs
// on every test of this binary, and would fail this one.
TEST_F(NestedTest, PoolsAndProcessesLeaveNothing) {
  namespace mt = mproc::testing;
  {
    mproc_pool_opts_t opts = {};
    opts.workers = 2;
    mt::PoolPtr pool;
    ASSERT_MPROC_OK(mproc_pool_new(mt::Out(pool), &opts));
    mt::ValuePtr results;
    ASSERT_MPROC_OK(mproc_pool_map(pool.get(), "testing_nested_double",
                                   mt::List(1, 2).get(), 0,
                                   mt::Out(results), nullptr));
    EXPECT_THAT(results, mt::EqualsValue(std::vector<int>{2, 4}));
  }
  {
    mproc_process_opts_t po = {};
    po.target = testing_nested_sleeper;
    mt::ProcessPtr p;
    ASSERT_MPROC_OK(mproc_process_new(mt::Out(p), &po));
    ASSERT_MPROC_OK(mproc_process_start(p.get()));
  }  // killed and reaped by ProcessPtr
  auto r = RunInChild([] {
    mproc_pool_opts_t opts = {};
    opts.workers = 1;
    mt::PoolPtr pool;
    ASSERT_MPROC_OK(mproc_pool_new(mt::Out(pool), &opts));
    mt::ValuePtr result;
    ASSERT_MPROC_OK(mproc_pool_apply(pool.get(), "testing_nested_double",
                                     mt::Args(21).get(), nullptr,
                                     mt::Out(result), nullptr));
    EXPECT_THAT(result, mt::EqualsValue(42));
  }, 30s);
  EXPECT_THAT(r, mt::Succeeded());
}


}  // namespace
