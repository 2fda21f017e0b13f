// A Process's result (mproc_call_set_result / mproc_call_return in the
// target) reaches the parent: mproc_process_result. Small results ride in
// the child's report, large ones (64 MiB here) in a memory file sent with
// it; in pidfd, sentinel-pipe and relay (SIGCHLD ignored) modes.
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/process_testing.h"
#include "multiproc.h"
#include "tests/support/fork_support.h"

namespace {

using mproc_test::Now;

int ReturnAnswer(mproc_call_t* call) {
  return mproc_call_return(call, "(si)", "answer", 42);
}

int ReturnNothing(mproc_call_t*) { return 0; }

int ReturnBytes(mproc_call_t* call) {
  size_t n;
  if (mproc_unpack(call, "n=z", &n) < 0) return -1;
  std::string b(n, '\0');
  for (size_t i = 0; i < n; i++) b[i] = static_cast<char>((i * 7 + n) & 0xff);
  return mproc_call_return(call, "y#", b.data(), b.size());
}

int FailWithResult(mproc_call_t* call) {
  mproc_call_return(call, "i", 1);
  return mproc_call_fail(call, "no");
}

int SetThenExitCode(mproc_call_t* call) {
  mproc_call_return(call, "s", "kept");
  return 3;
}

int KillSelf(mproc_call_t* call) {
  mproc_call_return(call, "i", 1);
  raise(SIGKILL);
  return 0;
}

int SleepLong(mproc_call_t*) {
  sleep(30);
  return 0;
}

bool IsPattern(const mproc_value_t* v, size_t n) {
  const void* p;
  size_t len;
  if (mproc_value_get_bytes(v, &p, &len) != 0 || len != n) return false;
  const unsigned char* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; i++)
    if (b[i] != ((i * 7 + n) & 0xff)) return false;
  return true;
}

enum Mode { kPidfd, kSentinelPipe };

class ProcessResult : public mproc_test::Deadline,
                      public ::testing::WithParamInterface<Mode> {
 protected:
  ProcessResult() : Deadline(120) {}
  void SetUp() override {
    Deadline::SetUp();
    mproc__pidfd_force_disabled(GetParam() == kSentinelPipe);
  }
  void TearDown() override {
    mproc__pidfd_force_disabled(false);
    Deadline::TearDown();
  }

  static mproc_process_t* Run(mproc_target_fn fn, size_t n = 0) {
    mproc_value_t* args;
    EXPECT_EQ(0, mproc_pack(&args, "(z)", n));
    mproc_process_opts_t o = {};
    o.target = fn;
    o.args = args;
    mproc_process_t* p;
    EXPECT_EQ(0, mproc_process_new(&p, &o));
    mproc_value_free(args);
    EXPECT_EQ(0, mproc_process_start(p));
    return p;
  }
};

INSTANTIATE_TEST_SUITE_P(Modes, ProcessResult,
                         ::testing::Values(kPidfd, kSentinelPipe),
                         [](const ::testing::TestParamInfo<Mode>& info) {
                           return info.param == kPidfd ? "Pidfd"
                                                       : "SentinelPipe";
                         });

TEST_P(ProcessResult, ReturnedValueReachesTheParent) {
  mproc_process_t* p = Run(ReturnAnswer);
  ASSERT_EQ(0, mproc_process_join(p, 10));
  const mproc_value_t* v;
  ASSERT_EQ(1, mproc_process_result(p, &v));
  char buf[64];
  mproc_repr(v, buf, sizeof buf);
  EXPECT_STREQ("('answer', 42)", buf);
  int code;
  EXPECT_EQ(1, mproc_process_exitcode(p, &code));
  EXPECT_EQ(0, code);
  mproc_process_close(p);
}

TEST_P(ProcessResult, NoResultSetIsNone) {
  mproc_process_t* p = Run(ReturnNothing);
  ASSERT_EQ(0, mproc_process_join(p, 10));
  const mproc_value_t* v;
  ASSERT_EQ(1, mproc_process_result(p, &v));
  EXPECT_EQ(MPROC_NONE, mproc_value_kind(v));
  mproc_process_close(p);
}

TEST_P(ProcessResult, ExitCodeAndResultBothArrive) {
  mproc_process_t* p = Run(SetThenExitCode);
  ASSERT_EQ(0, mproc_process_join(p, 10));
  const mproc_value_t* v;
  ASSERT_EQ(1, mproc_process_result(p, &v));
  const char* s;
  size_t n;
  ASSERT_EQ(0, mproc_value_get_str(v, &s, &n));
  EXPECT_STREQ("kept", s);
  int code;
  EXPECT_EQ(1, mproc_process_exitcode(p, &code));
  EXPECT_EQ(3, code);
  mproc_process_close(p);
}

TEST_P(ProcessResult, NoResultFromAFailedOrKilledTarget) {
  const mproc_value_t* v = nullptr;
  mproc_process_t* p = Run(FailWithResult);
  ASSERT_EQ(0, mproc_process_join(p, 10));
  EXPECT_EQ(MPROC_EFAILED, mproc_process_result(p, &v));
  EXPECT_EQ(nullptr, v);
  EXPECT_STREQ("no", mproc_process_error(p));
  mproc_process_close(p);
  p = Run(KillSelf);
  ASSERT_EQ(0, mproc_process_join(p, 10));
  EXPECT_EQ(MPROC_EFAILED, mproc_process_result(p, &v));
  mproc_process_close(p);
}

TEST_P(ProcessResult, NothingYetWhileRunningOrBeforeStart) {
  mproc_process_opts_t o = {};
  o.target = SleepLong;
  mproc_process_t* p;
  ASSERT_EQ(0, mproc_process_new(&p, &o));
  const mproc_value_t* v;
  EXPECT_EQ(0, mproc_process_result(p, &v));
  ASSERT_EQ(0, mproc_process_start(p));
  EXPECT_EQ(0, mproc_process_result(p, &v));
  EXPECT_EQ(nullptr, v);
  EXPECT_EQ(MPROC_EINVAL, mproc_process_result(p, nullptr));
  EXPECT_EQ(MPROC_EINVAL, mproc_process_result(nullptr, &v));
  mproc_process_kill(p);
  mproc_process_join(p, -1);
  EXPECT_EQ(MPROC_EFAILED, mproc_process_result(p, &v));
  mproc_process_close(p);
}

// Around the inline limit (32 KiB), and far beyond: 64 MiB, which the
// child sends without waiting for the parent, who may join long after.
TEST_P(ProcessResult, ResultsOfAnySizeArriveWhole) {
  int fds = mproc_test::CountOpenFds();
  for (size_t n : {(size_t)0, (size_t)1000, (size_t)32700, (size_t)32768,
                   (size_t)40000, (size_t)1 << 20, (size_t)64 << 20}) {
    mproc_process_t* p = Run(ReturnBytes, n);
    usleep(n > (1 << 20) ? 300000 : 0);  // the child is long done
    ASSERT_EQ(0, mproc_process_join(p, 60)) << n;
    const mproc_value_t* v;
    ASSERT_EQ(1, mproc_process_result(p, &v)) << n;
    EXPECT_TRUE(IsPattern(v, n)) << n;
    int code;
    EXPECT_EQ(1, mproc_process_exitcode(p, &code));
    EXPECT_EQ(0, code) << n;
    mproc_process_close(p);
  }
  EXPECT_EQ(fds, mproc_test::CountOpenFds());
}

// Many at once, joined in reverse: each keeps its own result.
TEST_P(ProcessResult, ManyProcessesEachKeepTheirOwn) {
  std::vector<mproc_process_t*> ps;
  for (size_t i = 0; i < 10; i++) ps.push_back(Run(ReturnBytes, 50000 + i));
  for (size_t i = ps.size(); i-- > 0;) {
    ASSERT_EQ(0, mproc_process_join(ps[i], 30));
    const mproc_value_t* v;
    ASSERT_EQ(1, mproc_process_result(ps[i], &v));
    EXPECT_TRUE(IsPattern(v, 50000 + i));
    mproc_process_close(ps[i]);
  }
}

// A program that ignores SIGCHLD starts its children through a relay
// (core/relay.h): results arrive just the same, large ones included.
TEST(ProcessResultRelay, ResultsArriveThroughTheRelay) {
  int st = mproc_test::RunInChild([] {
    signal(SIGCHLD, SIG_IGN);
    for (size_t n : {(size_t)10, (size_t)8 << 20}) {
      mproc_value_t* args;
      mproc_pack(&args, "(z)", n);
      mproc_process_opts_t o = {};
      o.target = ReturnBytes;
      o.args = args;
      mproc_process_t* p;
      if (mproc_process_new(&p, &o) != 0) return 1;
      mproc_value_free(args);
      if (mproc_process_start(p) != 0) return 2;
      if (mproc_process_join(p, 30) != 0) return 3;
      const mproc_value_t* v;
      if (mproc_process_result(p, &v) != 1) return 4;
      if (!IsPattern(v, n)) return 5;
      mproc_process_close(p);
    }
    return 0;
  }, 60);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
}

}  // namespace
