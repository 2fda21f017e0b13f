// ASSERT_MPROC_OK and friends, the matchers, the RAII handles and the
// type-checked values of multiproc/testing.h. Failures the assertions
// under test report are intercepted (capture.h) and their messages checked.
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <stdint.h>
#include <unistd.h>

#include <array>
#include <thread>
#include <chrono>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "multiproc/pool.h"
#include "multiproc/process.h"
#include "multiproc/target.h"
#include "multiproc/testing.h"
#include "tests/testing/capture.h"

namespace {

using namespace std::chrono_literals;
namespace mt = mproc::testing;
using mproc_test::Contains;
using mproc_test::Reported;
using ::testing::Not;

class ApiTest : public mt::DeadlineTest {
 protected:
  ApiTest() : DeadlineTest(60s) {}
};

// ---- ASSERT_MPROC_OK, EXPECT_MPROC_ERR.

TEST_F(ApiTest, MprocOkPassesCountsAndZero) {
  ASSERT_MPROC_OK(0);
  EXPECT_MPROC_OK(7);  // a count
  auto r = Reported([] { EXPECT_MPROC_OK(0); });
  EXPECT_TRUE(r.empty());
}

TEST_F(ApiTest, MprocOkStreamsNameTextAndDetail) {
  mproc_process_opts_t po = {};
  po.target_name = "testing_api_no_such_target";
  mproc_process_t* p = nullptr;
  auto r = Reported([&] {
    EXPECT_MPROC_OK(mproc_process_new(&p, &po)) << "extra context";
  });
  ASSERT_EQ(r.size(), 1u);
  const std::string m = r[0].message();
  EXPECT_TRUE(r[0].nonfatally_failed());
  EXPECT_TRUE(Contains(m, "mproc_process_new(&p, &po) failed")) << m;
  EXPECT_TRUE(Contains(m, "MPROC_ENOTARGET")) << m;
  EXPECT_TRUE(Contains(m, mproc_strerror(MPROC_ENOTARGET))) << m;
  EXPECT_TRUE(Contains(m, "detail: ")) << m;  // mproc_last_error()
  EXPECT_TRUE(Contains(m, "testing_api_no_such_target")) << m;
  EXPECT_TRUE(Contains(m, "extra context")) << m;
  EXPECT_EQ(p, nullptr);
}

TEST_F(ApiTest, AssertMprocOkIsFatalAndReturns) {
  bool after = false;
  auto r = Reported([&] {
    [&] {
      ASSERT_MPROC_OK(MPROC_ETIMEDOUT);
      after = true;
    }();
  });
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].fatally_failed());
  EXPECT_FALSE(after);
  // No call recorded a detail: an older one would mislead, and is left out.
  EXPECT_FALSE(Contains(r[0].message(), "detail:")) << r[0].message();
}

TEST_F(ApiTest, ExpressionEvaluatedOnce) {
  int calls = 0;
  EXPECT_MPROC_OK((calls++, 0));
  EXPECT_EQ(calls, 1);
  auto r = Reported([&] { EXPECT_MPROC_OK((calls++, -1)); });
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(r.size(), 1u);
}

TEST_F(ApiTest, MprocErrMatchesExactly) {
  EXPECT_MPROC_ERR(MPROC_ETIMEDOUT, MPROC_ETIMEDOUT);
  EXPECT_MPROC_ERR(0, 0);
  auto r = Reported([] { EXPECT_MPROC_ERR(MPROC_ETIMEDOUT, MPROC_EINVAL); });
  ASSERT_EQ(r.size(), 1u);
  const std::string m = r[0].message();
  EXPECT_TRUE(Contains(m, "MPROC_EINVAL returned")) << m;
  EXPECT_TRUE(Contains(m, "expected MPROC_ETIMEDOUT")) << m;
  auto r2 = Reported([] { EXPECT_MPROC_ERR(MPROC_ETIMEDOUT, 0); });
  ASSERT_EQ(r2.size(), 1u);
  EXPECT_TRUE(Contains(r2[0].message(), "0 (success)")) << r2[0].message();
}

TEST_F(ApiTest, ErrorTextForAnyCode) {
  EXPECT_EQ(mt::ErrorText(0), "0 (success)");
  EXPECT_TRUE(Contains(mt::ErrorText(MPROC_ENOMEM), "MPROC_ENOMEM"));
  EXPECT_TRUE(Contains(mt::ErrorText(1LL << 40), "not an error code"));
}

// ---- handles.

MPROC_TARGET(testing_api_sleep) {
  (void)call;
  sleep(30);
  return 0;
}

MPROC_TARGET(testing_api_exit) {
  int code = 0;
  int rc = mproc_unpack(call, "i", &code);
  return rc < 0 ? rc : code;
}

MPROC_TARGET(testing_api_square) {
  int x = 0;
  int rc = mt::Unpack(call, &x);
  if (rc < 0) return rc;
  if (x < 0) raise(SIGKILL);
  return mt::SetResult(call, x * x);
}

TEST_F(ApiTest, ProcessPtrKillsAndReapsARunningProcess) {
  pid_t pid = 0;
  {
    mproc_process_opts_t po = {};
    po.target = testing_api_sleep;
    mt::ProcessPtr p;
    ASSERT_MPROC_OK(mproc_process_new(mt::Out(p), &po));
    ASSERT_NE(p, nullptr);
    ASSERT_MPROC_OK(mproc_process_start(p.get()));
    pid = mproc_process_pid(p.get());
    ASSERT_GT(pid, 0);
  }  // killed, joined, closed
  EXPECT_NE(kill(pid, 0), 0) << "child " << pid << " still exists";
}

TEST_F(ApiTest, OutReplacesAndReleasesTheOldHandle) {
  mt::ValuePtr v = mt::Pack(1);
  mproc_value_t* old = v.get();
  ASSERT_MPROC_OK(mproc_value_int(mt::Out(v), 2));
  EXPECT_NE(v.get(), nullptr);
  EXPECT_THAT(v, mt::EqualsValue(2));
  (void)old;  // freed by Out (asan would see a leak otherwise)
  // A failing call stores NULL: the handle ends up empty.
  mt::ProcessPtr p;
  mproc_process_opts_t po = {};
  EXPECT_MPROC_ERR(MPROC_EINVAL, mproc_process_new(mt::Out(p), &po));
  EXPECT_EQ(p, nullptr);
}

// ---- matchers.

TEST_F(ApiTest, StatusMatchersOnAProcess) {
  mproc_process_opts_t po = {};
  po.target = testing_api_exit;
  mt::ValuePtr args = mt::Args(4);
  po.args = args.get();
  mt::ProcessPtr p;
  ASSERT_MPROC_OK(mproc_process_new(mt::Out(p), &po));
  ASSERT_MPROC_OK(mproc_process_start(p.get()));
  ASSERT_MPROC_OK(mproc_process_join(p.get(), 20));
  EXPECT_THAT(p, mt::ExitedWith(4));
  EXPECT_THAT(p.get(), mt::ExitedWith(::testing::Gt(3)));
  EXPECT_THAT(p, Not(mt::KilledBySignal(::testing::_)));
  EXPECT_THAT(p, Not(mt::Succeeded()));
}

TEST_F(ApiTest, StatusMatchersExplainMismatches) {
  auto r = mt::RunInChild([] { raise(SIGKILL); }, 20s);
  EXPECT_THAT(r, mt::KilledBySignal(::testing::AnyOf(SIGTERM, SIGKILL)));
  ::testing::StringMatchResultListener l;
  EXPECT_FALSE(::testing::ExplainMatchResult(mt::ExitedWith(0), r, &l));
  EXPECT_TRUE(Contains(l.str(), "killed by signal 9")) << l.str();
  std::ostringstream d;
  ::testing::Matcher<const mt::ChildResult&>(mt::ExitedWith(0)).DescribeTo(&d);
  EXPECT_TRUE(Contains(d.str(), "exited with a code that")) << d.str();
  auto failures = Reported([&] { EXPECT_THAT(r, mt::ExitedWith(0)); });
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_TRUE(Contains(failures[0].message(), "killed by signal 9"))
      << failures[0].message();
}

TEST_F(ApiTest, RunningProcessMatchesNothing) {
  mproc_process_opts_t po = {};
  po.target = testing_api_sleep;
  mt::ProcessPtr p;
  ASSERT_MPROC_OK(mproc_process_new(mt::Out(p), &po));
  ASSERT_MPROC_OK(mproc_process_start(p.get()));
  ::testing::StringMatchResultListener l;
  EXPECT_FALSE(::testing::ExplainMatchResult(mt::ExitedWith(::testing::_), p, &l));
  EXPECT_TRUE(Contains(l.str(), "still running")) << l.str();
}  // ProcessPtr kills it

TEST_F(ApiTest, PoolTasksWithHandlesAndMatchers) {
  mproc_pool_opts_t opts = {};
  opts.workers = 2;
  mt::PoolPtr pool;
  ASSERT_MPROC_OK(mproc_pool_new(mt::Out(pool), &opts));
  mt::ValuePtr results;
  mproc_task_error_t err = {};
  ASSERT_MPROC_OK(mproc_pool_map(pool.get(), "testing_api_square",
                                 mt::List(1, 2, 3).get(), 0,
                                 mt::Out(results), &err));
  EXPECT_THAT(results, mt::EqualsValue(std::vector<int>{1, 4, 9}));
  EXPECT_THAT(err, mt::Succeeded());

  mt::FuturePtr f;
  ASSERT_MPROC_OK(mproc_pool_submit(pool.get(), "testing_api_square",
                                    mt::Args(-1).get(), nullptr, mt::Out(f)));
  ASSERT_MPROC_OK(mproc_future_wait(f.get(), 30));
  mproc_task_error_t died = {};
  EXPECT_MPROC_ERR(MPROC_EWORKER, mproc_future_error(f.get(), &died));
  EXPECT_THAT(died, mt::KilledBySignal(SIGKILL));
  EXPECT_THAT(died, Not(mt::Succeeded()));

  mt::ValuePtr bad;
  mproc_task_error_t unpack_err = {};
  EXPECT_MPROC_ERR(MPROC_EFAILED,
                   mproc_pool_apply(pool.get(), "testing_api_square",
                                    mt::Args("x").get(), nullptr,
                                    mt::Out(bad), &unpack_err));
  EXPECT_THAT(unpack_err, mt::ExitedWith(1));
  EXPECT_TRUE(Contains(unpack_err.message, "testing_api_square()"))
      << unpack_err.message;
}  // futures, then the pool, freed

TEST_F(ApiTest, EqualsValueUsesPythonEquality) {
  mt::ValuePtr v = mt::Pack(std::make_tuple(1, "a", 2.5));
  EXPECT_THAT(v, mt::EqualsValue(std::make_tuple(1, std::string("a"), 2.5)));
  EXPECT_THAT(v.get(), Not(mt::EqualsValue(std::make_tuple(1, "b", 2.5))));
  ::testing::StringMatchResultListener l;
  EXPECT_FALSE(::testing::ExplainMatchResult(mt::EqualsValue(3), v, &l));
  EXPECT_TRUE(Contains(l.str(), "(1, 'a', 2.5)")) << l.str();
}

// ---- values.

TEST_F(ApiTest, PackArgsListKwargsRepr) {
  EXPECT_EQ(mt::Repr(mt::Args("test", 18, std::vector<int>{1, 2}).get()),
            "('test', 18, [1, 2])");
  EXPECT_EQ(mt::Repr(mt::Args(5).get()), "(5,)");
  EXPECT_EQ(mt::Repr(mt::Args().get()), "()");
  EXPECT_EQ(mt::Repr(mt::Pack(5).get()), "5");
  EXPECT_EQ(mt::Repr(mt::Pack(1, 2).get()), "(1, 2)");
  EXPECT_EQ(mt::Repr(mt::List().get()), "[]");
  EXPECT_EQ(mt::Repr(mt::List(true, mt::None{}, 1.5).get()),
            "[True, None, 1.5]");
  EXPECT_EQ(mt::Repr(mt::Kwargs("m", 20, "tag", nullptr).get()),
            "{'m': 20, 'tag': None}");
  std::map<std::string, std::optional<int>> m{{"a", 1}, {"b", std::nullopt}};
  EXPECT_EQ(mt::Repr(mt::Pack(m).get()), "{'a': 1, 'b': None}");
  EXPECT_EQ(mt::Repr(mt::Pack(mt::Bytes(std::string("\0a", 2))).get()),
            "b'\\x00a'");
  const char* null_str = nullptr;
  EXPECT_EQ(mt::Repr(mt::Pack(null_str).get()), "None");
  EXPECT_EQ(mt::Repr(nullptr), "NULL");
  std::array<int, 2> a{7, 8};
  EXPECT_EQ(mt::Repr(mt::Pack(a).get()), "[7, 8]");
}

TEST_F(ApiTest, PackFailureFailsTheTest) {
  auto r = Reported([] {
    mt::ValuePtr v = mt::Pack(std::numeric_limits<uint64_t>::max());
    EXPECT_EQ(v, nullptr);
  });
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(Contains(r[0].message(), "MPROC_ERANGE")) << r[0].message();
  mt::ValuePtr out;
  std::string why;
  EXPECT_EQ(mt::ToValue(std::string("\xff"), &out, &why), MPROC_EUTF8);
  EXPECT_TRUE(Contains(why, "UTF-8")) << why;
  EXPECT_EQ(mt::ToValue(std::vector<std::string>{"ok", "\xfe"}, &out, &why),
            MPROC_EUTF8);
  EXPECT_TRUE(Contains(why, "[1]")) << why;
}

TEST_F(ApiTest, FromValueChecksKindsAndRanges) {
  mt::ValuePtr v = mt::Pack(std::make_tuple(1, "two", std::vector<int>{3}));
  std::tuple<int, std::string, std::vector<int>> t;
  std::string why;
  ASSERT_MPROC_OK(mt::FromValue(v.get(), &t, &why)) << why;
  EXPECT_EQ(t, std::make_tuple(1, std::string("two"), std::vector<int>{3}));

  std::tuple<int, int, std::vector<int>> wrong;
  EXPECT_EQ(mt::FromValue(v.get(), &wrong, &why), MPROC_ETYPE);
  EXPECT_EQ(why, "[1]: expected int, got str");

  std::tuple<int, std::string> short_t;
  EXPECT_EQ(mt::FromValue(v.get(), &short_t, &why), MPROC_ETYPE);
  EXPECT_TRUE(Contains(why, "expected 2 items, got 3")) << why;

  int8_t small = 0;
  EXPECT_EQ(mt::FromValue(mt::Pack(300).get(), &small, &why), MPROC_ERANGE);
  EXPECT_EQ(small, 0);  // unchanged on failure
  unsigned u = 0;
  EXPECT_EQ(mt::FromValue(mt::Pack(-1).get(), &u, &why), MPROC_ERANGE);
  float fl = 0;
  EXPECT_EQ(mt::FromValue(mt::Pack(1e300).get(), &fl, &why), MPROC_ERANGE);
  double d = 0;
  ASSERT_MPROC_OK(mt::FromValue(mt::Pack(3).get(), &d));  // int to float
  EXPECT_EQ(d, 3.0);
  std::optional<int> o = 5;
  ASSERT_MPROC_OK(mt::FromValue(mt::Pack(mt::None{}).get(), &o));
  EXPECT_FALSE(o.has_value());
  std::map<std::string, int> m;
  ASSERT_MPROC_OK(mt::FromValue(mt::Kwargs("a", 1, "b", 2).get(), &m));
  EXPECT_EQ(m, (std::map<std::string, int>{{"a", 1}, {"b", 2}}));
  EXPECT_EQ(mt::FromValue(mt::Kwargs("a", "x").get(), &m, &why), MPROC_ETYPE);
  EXPECT_EQ(why, "['a']: expected int, got str");
  EXPECT_EQ(mt::FromValue(static_cast<const mproc_value_t*>(nullptr), &d),
            MPROC_EINVAL);
  mt::Bytes b;
  ASSERT_MPROC_OK(mt::FromValue(mt::Pack(mt::Bytes("xy", 2)).get(), &b));
  EXPECT_EQ(b, mt::Bytes("xy", 2));
}

// What the compiler refuses (a static_assert when used): plain char and
// types with no value kind.
static_assert(mt::kPackable<int>);
static_assert(mt::kPackable<std::vector<std::tuple<int, std::string>>>);
static_assert(!mt::kPackable<char>);
static_assert(!mt::kPackable<std::vector<char>>);
static_assert(!mt::kPackable<std::map<int, int>>);
static_assert(!mt::kPackable<void*>);
static_assert(mt::kUnpackable<std::optional<double>>);
static_assert(!mt::kUnpackable<const char*>);  // only in Unpack
static_assert(!mt::kUnpackable<const int>);

MPROC_TARGET(testing_api_unpack) {
  std::string name;
  int age = 0;
  std::vector<int> xs;
  std::optional<std::string> tag;
  int rc = mt::Unpack(call, mt::Arg("name", &name), mt::Arg("age", &age),
                      mt::kOptional, mt::Arg("xs", &xs), mt::kKeywordOnly,
                      mt::Arg("tag", &tag));
  if (rc < 0) return rc;
  return mt::SetResult(
      call, std::make_tuple(name, age * 2, xs.size(), tag.value_or("-")));
}

TEST_F(ApiTest, UnpackAndSetResultInATarget) {
  mproc_pool_opts_t opts = {};
  opts.workers = 1;
  mt::PoolPtr pool;
  ASSERT_MPROC_OK(mproc_pool_new(mt::Out(pool), &opts));
  mt::ValuePtr r;
  mproc_task_error_t err = {};
  ASSERT_MPROC_OK(mproc_pool_apply(pool.get(), "testing_api_unpack",
                                   mt::Args("ann", 20).get(),
                                   mt::Kwargs("tag", "t").get(), mt::Out(r),
                                   &err))
      << err.message;
  EXPECT_THAT(r, mt::EqualsValue(std::make_tuple("ann", 40, 0, "t")));

  ASSERT_MPROC_OK(mproc_pool_apply(pool.get(), "testing_api_unpack",
                                   mt::Args("bo", 1, mt::List(1, 2)).get(),
                                   nullptr, mt::Out(r), &err))
      << err.message;
  EXPECT_THAT(r, mt::EqualsValue(std::make_tuple("bo", 2, 2, "-")));

  EXPECT_MPROC_ERR(MPROC_EFAILED,
                   mproc_pool_apply(pool.get(), "testing_api_unpack",
                                    mt::Args("cy").get(), nullptr,
                                    mt::Out(r), &err));
  EXPECT_TRUE(Contains(err.message, "age")) << err.message;

  EXPECT_MPROC_ERR(
      MPROC_EFAILED,
      mproc_pool_apply(pool.get(), "testing_api_unpack",
                       mt::Args("di", 1, mt::List(1, "x")).get(), nullptr,
                       mt::Out(r), &err));
  EXPECT_TRUE(Contains(err.message, "argument 'xs': [1]: expected int, got str"))
      << err.message;
}

TEST_F(ApiTest, UnpackValuesOnBuiltValues) {
  std::string s;
  long l = 0;
  mt::Bytes b;
  std::string why;
  ASSERT_MPROC_OK(mt::UnpackValues(mt::Args("x", 9, mt::Bytes("z", 1)).get(),
                                   nullptr, &why, &s, &l, &b))
      << why;
  EXPECT_EQ(s, "x");
  EXPECT_EQ(l, 9);
  EXPECT_EQ(b, mt::Bytes("z", 1));
  EXPECT_EQ(mt::UnpackValues(mt::Args(1).get(), nullptr, &why, &s),
            MPROC_ETYPE);
  EXPECT_FALSE(why.empty());
  EXPECT_EQ(mt::UnpackValues(mt::Args(1).get(), nullptr, &why,
                             mt::Arg("bad name", &l)),
            MPROC_EFORMAT);
}

// ---- the leak check, driven by hand on this test's own TestInfo.

const ::testing::TestInfo& ThisTest() {
  return *::testing::UnitTest::GetInstance()->current_test_info();
}

TEST_F(ApiTest, LeakListenerReportsADescriptorAtTheTestsLine) {
  mt::LeakCheckOptions opts;
  opts.grace = std::chrono::milliseconds(50);
  mt::LeakCheckListener l(opts);
  l.OnTestStart(ThisTest());
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  auto r = Reported([&] { l.OnTestEnd(ThisTest()); });
  close(fds[0]);
  close(fds[1]);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].nonfatally_failed());
  EXPECT_STREQ(r[0].file_name(), __FILE__);
  EXPECT_EQ(r[0].line_number(), ThisTest().line());
  EXPECT_TRUE(Contains(r[0].message(), "fd " + std::to_string(fds[0]) +
                                           " -> pipe:["))
      << r[0].message();
  EXPECT_TRUE(Contains(r[0].message(), "leaked:\n" + l.last_report()))
      << r[0].message();
  EXPECT_FALSE(l.last_report().empty());
}

TEST_F(ApiTest, LeakListenerWaitsOutTheGraceAndIgnoresPrefixes) {
  mt::LeakCheckOptions opts;
  opts.grace = std::chrono::seconds(10);
  mt::LeakCheckListener l(opts);
  l.OnTestStart(ThisTest());
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::thread closer([&] {  // closes them a moment after the test "ends"
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    close(fds[0]);
    close(fds[1]);
  });
  auto r = Reported([&] { l.OnTestEnd(ThisTest()); });
  closer.join();
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(l.last_report(), "");

  mt::LeakCheckOptions ignoring;
  ignoring.grace = std::chrono::milliseconds(0);
  ignoring.ignore_fd_prefixes = {"pipe:"};
  mt::LeakCheckListener l2(ignoring);
  l2.OnTestStart(ThisTest());
  ASSERT_EQ(pipe(fds), 0);
  auto r2 = Reported([&] { l2.OnTestEnd(ThisTest()); });
  close(fds[0]);
  close(fds[1]);
  EXPECT_TRUE(r2.empty());
}

TEST_F(ApiTest, DescribeLeaksNamesChildrenAndZombies) {
  mt::ResourceSnapshot before = mt::ResourceSnapshot::Take();
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  ASSERT_GT(pid, 0);
  std::string leaks;
  for (int i = 0; i < 500; i++) {  // until it has become a zombie
    leaks = mt::DescribeLeaks(before, mt::ResourceSnapshot::Take());
    if (Contains(leaks, "zombie")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(Contains(leaks, "child " + std::to_string(pid) + " (")) << leaks;
  EXPECT_TRUE(Contains(leaks, "zombie: never reaped")) << leaks;
  mt::LeakCheckOptions no_children;
  no_children.check_children = false;
  EXPECT_EQ(mt::DescribeLeaks(before, mt::ResourceSnapshot::Take(),
                              no_children),
            "");
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_EQ(mt::DescribeLeaks(before, mt::ResourceSnapshot::Take()), "");
}

// ---- the deadline's clock, in a child (its expiry aborts the binary:
// nested_test shows that through a whole gtest run).

struct ShortDeadline : mt::DeadlineTest {
  ShortDeadline() : DeadlineTest(std::chrono::milliseconds(200)) {}
  using DeadlineTest::deadline;
  using DeadlineTest::SetDeadline;
  void TestBody() override {}
};

TEST_F(ApiTest, SetDeadlineRestartsTheClock) {
  auto r = mt::RunInChild([] {
    ShortDeadline d;
    d.SetDeadline(std::chrono::seconds(20));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    return d.deadline() >= std::chrono::seconds(20) ? 0 : 2;
  }, 30s);
  EXPECT_THAT(r, mt::ExitedWith(0)) << r.std_err;
}

TEST_F(ApiTest, DeadlineExpiryAbortsNamingTheTest) {
  auto r = mt::RunInChild([] {
    ShortDeadline d;
    for (;;) pause();
  }, 30s);
  EXPECT_THAT(r, mt::KilledBySignal(SIGABRT));
  EXPECT_TRUE(Contains(r.std_err,
                       "[ DEADLINE ] ApiTest.DeadlineExpiryAbortsNamingTheTest "
                       "did not finish within"))
      << r.std_err;
}

}  // namespace
