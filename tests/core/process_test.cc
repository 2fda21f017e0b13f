// Process lifecycle: exit codes, signals, joins with timeouts, sentinels,
// mproc_wait, names, misuse, timing. Every test runs twice: with pidfds and
// with the portable sentinel-pipe fallback.
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "core/process_testing.h"
#include "multiproc.h"
#include "tests/support/fork_support.h"

namespace {

using mproc_test::Now;

void SleepS(double s) {
  struct timespec ts = {static_cast<time_t>(s),
                        static_cast<long>((s - floor(s)) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

// Targets. Each reads what it needs from its args.
int ReturnArg(mproc_call_t* call) {
  int code;
  if (mproc_unpack(call, "i", &code) < 0) return -1;
  return code;
}

int SleepArg(mproc_call_t* call) {
  double s;
  if (mproc_unpack(call, "d", &s) < 0) return -1;
  SleepS(s);
  return 0;
}

int Abort(mproc_call_t*) { abort(); }

int Fail(mproc_call_t* call) {
  return mproc_call_fail(call, "bad thing %d", 42);
}

int FailButReturnZero(mproc_call_t* call) {
  mproc_call_fail(call, "reported, then returned 0");
  return 0;
}

int ExitArg(mproc_call_t* call) {
  int code;
  if (mproc_unpack(call, "i", &code) < 0) return -1;
  exit(code);
}

int RaiseSegv(mproc_call_t*) {
  raise(SIGSEGV);
  return 0;
}

struct Expected {
  mproc_value_t* args;
  mproc_value_t* kwargs;
};

// Returns 0 when the child received exactly the parent's args and kwargs.
int CheckArgs(mproc_call_t* call) {
  const Expected* want = static_cast<const Expected*>(mproc_call_ctx(call));
  if (!mproc_value_equal(mproc_call_args(call), want->args)) return 10;
  if (!mproc_value_equal(mproc_call_kwargs(call), want->kwargs)) return 11;
  // Order of kwargs is kept, as in Python.
  for (size_t i = 0; i < mproc_value_len(want->kwargs); i++) {
    const char *a, *b;
    mproc_dict_item(want->kwargs, i, &a, nullptr);
    mproc_dict_item(mproc_call_kwargs(call), i, &b, nullptr);
    if (strcmp(a, b) != 0) return 12;
  }
  return 0;
}

enum Mode { kPidfd, kSentinelPipe };

class ProcessTest : public mproc_test::Deadline,
                    public ::testing::WithParamInterface<Mode> {
 protected:
  void SetUp() override {
    Deadline::SetUp();
    mproc__pidfd_force_disabled(GetParam() == kSentinelPipe);
    if (GetParam() == kPidfd) {
      ASSERT_TRUE(mproc__pidfd_enabled());
    }
  }
  void TearDown() override {
    for (mproc_process_t* p : procs_) {
      if (mproc_process_is_alive(p) == 1) {
        mproc_process_kill(p);
        mproc_process_join(p, -1);
      }
      EXPECT_EQ(0, mproc_process_close(p));
    }
    mproc__pidfd_force_disabled(false);
    Deadline::TearDown();
  }

  // A new, unstarted process; fmt/... build its args tuple.
  mproc_process_t* Make(mproc_target_fn target, const char* fmt = nullptr,
                        ...) {
    mproc_value_t* args = nullptr;
    if (fmt != nullptr) {
      va_list ap;
      va_start(ap, fmt);
      EXPECT_EQ(0, mproc_vpack(&args, fmt, ap));
      va_end(ap);
    }
    mproc_process_opts_t opts = {};
    opts.target = target;
    opts.args = args;
    mproc_process_t* p = nullptr;
    EXPECT_EQ(0, mproc_process_new(&p, &opts));
    mproc_value_free(args);
    if (p) procs_.push_back(p);
    return p;
  }

  mproc_process_t* Start(mproc_target_fn target, const char* fmt, int arg) {
    mproc_process_t* p = Make(target, fmt, arg);
    EXPECT_EQ(0, mproc_process_start(p));
    return p;
  }

  mproc_process_t* StartSleeper(double s) {
    mproc_process_t* p = Make(SleepArg, "(d)", s);
    EXPECT_EQ(0, mproc_process_start(p));
    return p;
  }

  static int ExitCodeAfterJoin(mproc_process_t* p) {
    EXPECT_EQ(0, mproc_process_join(p, -1));
    int code = 12345;
    EXPECT_EQ(1, mproc_process_exitcode(p, &code));
    return code;
  }

  std::vector<mproc_process_t*> procs_;
};

INSTANTIATE_TEST_SUITE_P(Modes, ProcessTest,
                         ::testing::Values(kPidfd, kSentinelPipe),
                         [](const ::testing::TestParamInfo<Mode>& info) {
                           return info.param == kPidfd ? "Pidfd"
                                                       : "SentinelPipe";
                         });

TEST_P(ProcessTest, ExitCodeIsTheTargetsReturnValue) {
  for (int code : {0, 1, 7, 255}) {
    mproc_process_t* p = Start(ReturnArg, "(i)", code);
    EXPECT_EQ(code, ExitCodeAfterJoin(p)) << "returned " << code;
    EXPECT_EQ(nullptr, mproc_process_error(p));
  }
}

TEST_P(ProcessTest, ReturnOutsideZeroTo255ExitsWithOneAndSaysWhy) {
  mproc_process_t* p = Start(ReturnArg, "(i)", 300);
  EXPECT_EQ(1, ExitCodeAfterJoin(p));
  ASSERT_NE(nullptr, mproc_process_error(p));
  EXPECT_NE(nullptr, strstr(mproc_process_error(p), "300"));

  p = Start(ReturnArg, "(i)", MPROC_ENOENT);
  EXPECT_EQ(1, ExitCodeAfterJoin(p));
  ASSERT_NE(nullptr, mproc_process_error(p));
  EXPECT_NE(nullptr, strstr(mproc_process_error(p), "MPROC_ENOENT"));
}

TEST_P(ProcessTest, FailedTargetExitsWithOneAndItsMessageReachesTheParent) {
  mproc_process_t* p = Make(Fail);
  ASSERT_EQ(0, mproc_process_start(p));
  EXPECT_EQ(1, ExitCodeAfterJoin(p));
  ASSERT_NE(nullptr, mproc_process_error(p));
  EXPECT_STREQ("bad thing 42", mproc_process_error(p));

  p = Make(FailButReturnZero);
  ASSERT_EQ(0, mproc_process_start(p));
  EXPECT_EQ(1, ExitCodeAfterJoin(p));
  EXPECT_STREQ("reported, then returned 0", mproc_process_error(p));
}

TEST_P(ProcessTest, UnpackErrorIsReportedInPythonsWords) {
  mproc_process_t* p = Make(ReturnArg, "(s)", "not an int");
  ASSERT_EQ(0, mproc_process_start(p));
  EXPECT_EQ(1, ExitCodeAfterJoin(p));
  ASSERT_NE(nullptr, mproc_process_error(p));
  EXPECT_NE(nullptr, strstr(mproc_process_error(p), "must be int, not str"))
      << mproc_process_error(p);
}

TEST_P(ProcessTest, AbortGivesMinusSigabrt) {
  mproc_process_t* p = Make(Abort);
  ASSERT_EQ(0, mproc_process_start(p));
  EXPECT_EQ(-SIGABRT, ExitCodeAfterJoin(p));
}

TEST_P(ProcessTest, CrashGivesMinusTheSignal) {
  mproc_process_t* p = Make(RaiseSegv);
  ASSERT_EQ(0, mproc_process_start(p));
  EXPECT_EQ(-SIGSEGV, ExitCodeAfterJoin(p));
}

TEST_P(ProcessTest, ExitInTheTargetGivesThatCode) {
  mproc_process_t* p = Start(ExitArg, "(i)", 3);
  EXPECT_EQ(3, ExitCodeAfterJoin(p));
  mproc_timing_t t;
  ASSERT_EQ(0, mproc_process_timing(p, &t));
  EXPECT_NE(0u, t.entered_ns);
  EXPECT_EQ(0u, t.returned_ns);  // it never returned
}

TEST_P(ProcessTest, TerminateGivesMinusSigterm) {
  mproc_process_t* p = StartSleeper(60);
  ASSERT_EQ(1, mproc_process_is_alive(p));
  ASSERT_EQ(0, mproc_process_terminate(p));
  EXPECT_EQ(-SIGTERM, ExitCodeAfterJoin(p));
  EXPECT_EQ(0, mproc_process_is_alive(p));
}

TEST_P(ProcessTest, KillGivesMinusSigkill) {
  mproc_process_t* p = StartSleeper(60);
  ASSERT_EQ(0, mproc_process_kill(p));
  EXPECT_EQ(-SIGKILL, ExitCodeAfterJoin(p));
}

TEST_P(ProcessTest, TerminateAndKillOfAnEndedProcessDoNothing) {
  mproc_process_t* p = Start(ReturnArg, "(i)", 5);
  EXPECT_EQ(5, ExitCodeAfterJoin(p));
  EXPECT_EQ(0, mproc_process_terminate(p));
  EXPECT_EQ(0, mproc_process_kill(p));
  int code = 0;
  EXPECT_EQ(1, mproc_process_exitcode(p, &code));
  EXPECT_EQ(5, code);
}

TEST_P(ProcessTest, TerminateOfAnEndedButUnreapedProcessDoesNothing) {
  mproc_process_t* p = Start(ReturnArg, "(i)", 6);
  // Let it end without reaping it: the sentinel fires, nobody waits.
  struct pollfd pfd = {mproc_process_sentinel(p), POLLIN, 0};
  ASSERT_EQ(1, poll(&pfd, 1, 10000));
  EXPECT_EQ(0, mproc_process_terminate(p));
  EXPECT_EQ(6, ExitCodeAfterJoin(p));
}

TEST_P(ProcessTest, JoinZeroOnASleeperTimesOutAtOnce) {
  mproc_process_t* p = StartSleeper(60);
  double t0 = Now();
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_process_join(p, 0));
  EXPECT_LT(Now() - t0, 0.1);
  EXPECT_EQ(1, mproc_process_is_alive(p));
  int code;
  EXPECT_EQ(0, mproc_process_exitcode(p, &code));  // unknown while running
}

TEST_P(ProcessTest, JoinWithTimeoutWaitsAboutThatLong) {
  mproc_process_t* p = StartSleeper(60);
  double t0 = Now();
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_process_join(p, 0.2));
  double waited = Now() - t0;
  EXPECT_GE(waited, 0.2);
  EXPECT_LT(waited, 0.2 + 0.5);  // generous: a loaded CI machine
}

TEST_P(ProcessTest, JoinReturnsAsSoonAsTheChildEnds) {
  mproc_process_t* p = StartSleeper(0.2);
  double t0 = Now();
  EXPECT_EQ(0, mproc_process_join(p, 10));
  double waited = Now() - t0;
  EXPECT_GE(waited, 0.15);
  EXPECT_LT(waited, 0.2 + 0.5);
  EXPECT_EQ(0, ExitCodeAfterJoin(p));
}

TEST_P(ProcessTest, JoinIsInterruptedBySignalsButKeepsWaiting) {
  struct sigaction sa = {}, old;
  sa.sa_handler = [](int) {};
  sigaction(SIGUSR1, &sa, &old);  // no SA_RESTART: ppoll sees EINTR
  mproc_process_t* p = StartSleeper(0.3);
  timer_t timer;
  struct sigevent sev = {};
  sev.sigev_notify = SIGEV_SIGNAL;
  sev.sigev_signo = SIGUSR1;
  ASSERT_EQ(0, timer_create(CLOCK_MONOTONIC, &sev, &timer));
  struct itimerspec its = {{0, 5000000}, {0, 5000000}};  // every 5 ms
  ASSERT_EQ(0, timer_settime(timer, 0, &its, nullptr));
  double t0 = Now();
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_process_join(p, 0.1));
  EXPECT_GE(Now() - t0, 0.1);
  EXPECT_EQ(0, mproc_process_join(p, -1));
  timer_delete(timer);
  sigaction(SIGUSR1, &old, nullptr);
  EXPECT_EQ(0, ExitCodeAfterJoin(p));
}

TEST_P(ProcessTest, IsAliveReapsAndLeavesNoZombie) {
  mproc_process_t* p = StartSleeper(0.05);
  pid_t pid = mproc_process_pid(p);
  ASSERT_GT(pid, 0);
  double deadline = Now() + 10;
  while (mproc_process_is_alive(p) == 1 && Now() < deadline) SleepS(0.005);
  EXPECT_EQ(0, mproc_process_is_alive(p));
  // Reaped: the pid is no longer our child.
  EXPECT_EQ(-1, waitpid(pid, nullptr, WNOHANG));
  EXPECT_EQ(ECHILD, errno);
}

TEST_P(ProcessTest, JoinLeavesNoZombie) {
  mproc_process_t* p = Start(ReturnArg, "(i)", 0);
  pid_t pid = mproc_process_pid(p);
  ASSERT_EQ(0, mproc_process_join(p, -1));
  EXPECT_EQ(-1, waitpid(pid, nullptr, WNOHANG));
  EXPECT_EQ(ECHILD, errno);
  EXPECT_EQ(0, mproc_test::CountZombieChildren());
}

TEST_P(ProcessTest, SentinelBecomesReadableWhenTheProcessEnds) {
  mproc_process_t* p = Make(SleepArg, "(d)", 0.2);
  EXPECT_EQ(MPROC_ESTATE, mproc_process_sentinel(p));
  ASSERT_EQ(0, mproc_process_start(p));
  int fd = mproc_process_sentinel(p);
  ASSERT_GE(fd, 0);
  struct pollfd pfd = {fd, POLLIN, 0};
  EXPECT_EQ(0, poll(&pfd, 1, 50));  // still running
  double t0 = Now();
  ASSERT_EQ(1, poll(&pfd, 1, 10000));
  EXPECT_LT(Now() - t0, 1.0);
  EXPECT_EQ(0, mproc_process_join(p, 0));
  EXPECT_EQ(0, ExitCodeAfterJoin(p));
}

TEST_P(ProcessTest, WaitReturnsTheFirstToEnd) {
  mproc_process_t* ps[3] = {StartSleeper(0.6), StartSleeper(0.1),
                            StartSleeper(0.3)};
  size_t index = 99;
  double t0 = Now();
  ASSERT_EQ(0, mproc_wait(ps, 3, 10, &index));
  EXPECT_EQ(1u, index);
  EXPECT_LT(Now() - t0, 0.5);
  EXPECT_EQ(0, mproc_process_is_alive(ps[1]));
  // An ended process counts at once.
  ASSERT_EQ(0, mproc_wait(ps, 3, 10, &index));
  EXPECT_EQ(1u, index);
  mproc_process_t* rest[2] = {ps[0], ps[2]};
  ASSERT_EQ(0, mproc_wait(rest, 2, 10, &index));
  EXPECT_EQ(1u, index);
}

TEST_P(ProcessTest, WaitTimesOut) {
  mproc_process_t* ps[2] = {StartSleeper(60), StartSleeper(60)};
  size_t index = 99;
  double t0 = Now();
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_wait(ps, 2, 0.1, &index));
  EXPECT_GE(Now() - t0, 0.1);
  EXPECT_EQ(99u, index);
}

TEST_P(ProcessTest, WaitRejectsBadArguments) {
  mproc_process_t* unstarted = Make(ReturnArg, "(i)", 0);
  size_t index;
  EXPECT_EQ(MPROC_ESTATE, mproc_wait(&unstarted, 1, 0, &index));
  EXPECT_EQ(MPROC_EINVAL, mproc_wait(nullptr, 1, 0, &index));
  EXPECT_EQ(MPROC_EINVAL, mproc_wait(&unstarted, 0, 0, &index));
  EXPECT_EQ(MPROC_EINVAL, mproc_wait(&unstarted, 1, 0, nullptr));
  EXPECT_EQ(MPROC_EINVAL, mproc_wait(&unstarted, 1, NAN, &index));
}

TEST_P(ProcessTest, ArgsAndKwargsArriveIntactAndInOrder) {
  Expected want;
  ASSERT_EQ(0, mproc_pack(&want.args, "(si[nb]{s:d}y#)", "test", 18, 1,
                          "x", 2.5, "\0\1\2", (size_t)3));
  ASSERT_EQ(0, mproc_pack(&want.kwargs, "{s:i,s:s,s:i}", "m", 20, "zz",
                          "中文", "a", 1));
  mproc_process_opts_t opts = {};
  opts.target = CheckArgs;
  opts.args = want.args;
  opts.kwargs = want.kwargs;
  opts.ctx = &want;
  mproc_process_t* p = nullptr;
  ASSERT_EQ(0, mproc_process_new(&p, &opts));
  procs_.push_back(p);
  ASSERT_EQ(0, mproc_process_start(p));
  EXPECT_EQ(0, ExitCodeAfterJoin(p));
  mproc_value_free(want.args);
  mproc_value_free(want.kwargs);
}

TEST_P(ProcessTest, MisuseIsAnErrorCodeNotAnAbort) {
  mproc_process_t* p = Make(SleepArg, "(d)", 60.0);
  int code;
  EXPECT_EQ(MPROC_ESTATE, mproc_process_join(p, 0));
  EXPECT_EQ(MPROC_ESTATE, mproc_process_terminate(p));
  EXPECT_EQ(MPROC_ESTATE, mproc_process_kill(p));
  EXPECT_EQ(0, mproc_process_is_alive(p));
  EXPECT_EQ(0, mproc_process_exitcode(p, &code));
  EXPECT_EQ(0, mproc_process_pid(p));
  ASSERT_EQ(0, mproc_process_start(p));
  EXPECT_EQ(MPROC_ESTATE, mproc_process_start(p));
  EXPECT_EQ(MPROC_EBUSY, mproc_process_close(p));
  EXPECT_EQ(MPROC_EINVAL, mproc_process_join(p, NAN));
  EXPECT_STREQ("mproc_process_join: timeout_s must be a number (NaN is not)",
               mproc_last_error());
  EXPECT_EQ(MPROC_EINVAL, mproc_process_exitcode(p, nullptr));
  ASSERT_EQ(0, mproc_process_kill(p));
  EXPECT_EQ(-SIGKILL, ExitCodeAfterJoin(p));
  EXPECT_EQ(MPROC_ESTATE, mproc_process_start(p));  // no restart

  EXPECT_EQ(MPROC_EINVAL, mproc_process_join(nullptr, 0));
  EXPECT_EQ(MPROC_EINVAL, mproc_process_start(nullptr));
  EXPECT_EQ(0, mproc_process_close(nullptr));
  EXPECT_EQ(MPROC_EINVAL, mproc_process_is_alive(nullptr));
}

TEST_P(ProcessTest, NewRejectsBadOptions) {
  mproc_process_t* p = reinterpret_cast<mproc_process_t*>(1);
  mproc_process_opts_t opts = {};
  EXPECT_EQ(MPROC_EINVAL, mproc_process_new(&p, &opts));  // no target
  EXPECT_STREQ("mproc_process_new: opts.target or opts.target_name must be set",
               mproc_last_error());
  EXPECT_EQ(nullptr, p);
  EXPECT_EQ(MPROC_EINVAL, mproc_process_new(&p, nullptr));
  EXPECT_STREQ("mproc_process_new: opts is NULL", mproc_last_error());
  EXPECT_EQ(MPROC_EINVAL, mproc_process_new(nullptr, &opts));
  EXPECT_STREQ("mproc_process_new: out is NULL", mproc_last_error());
  opts.target = ReturnArg;
  mproc_value_t* v;
  ASSERT_EQ(0, mproc_pack(&v, "i", 1));
  opts.args = v;  // not a tuple
  EXPECT_EQ(MPROC_EINVAL, mproc_process_new(&p, &opts));
  EXPECT_STREQ("mproc_process_new: opts.args must be a tuple or list, not int",
               mproc_last_error());
  opts.args = nullptr;
  opts.kwargs = v;  // not a dict
  EXPECT_EQ(MPROC_EINVAL, mproc_process_new(&p, &opts));
  EXPECT_STREQ("mproc_process_new: opts.kwargs must be a dict, not int",
               mproc_last_error());
  mproc_value_free(v);
  // A call bigger than the allowed frame.
  ASSERT_EQ(0, mproc_pack(&v, "(s)", std::string(4096, 'x').c_str()));
  opts.kwargs = nullptr;
  opts.args = v;
  opts.max_frame = 1024;
  EXPECT_EQ(MPROC_ETOOBIG, mproc_process_new(&p, &opts));
  mproc_value_free(v);
}

TEST_P(ProcessTest, TimingIsRecordedInOrder) {
  mproc_process_t* p = StartSleeper(0.1);
  ASSERT_EQ(0, mproc_process_join(p, -1));
  mproc_timing_t t;
  ASSERT_EQ(0, mproc_process_timing(p, &t));
  EXPECT_GT(t.started_ns, 0u);
  EXPECT_GE(t.entered_ns, t.started_ns);
  EXPECT_GE(t.returned_ns, t.entered_ns);
  EXPECT_GE(t.reaped_ns, t.returned_ns);
  EXPECT_GE(t.run_s, 0.1);
  EXPECT_LT(t.run_s, 1.0);
  EXPECT_EQ(t.returned_ns, t.ended_ns);  // it returned: it says so
  EXPECT_GE(t.reaped_ns, t.ended_ns);
  EXPECT_GE(t.wall_s, t.run_s);
  EXPECT_NEAR(t.wall_s, (t.ended_ns - t.started_ns) / 1e9, 1e-6);
  EXPECT_GT(t.startup_s, 0.0);
  EXPECT_GT(t.max_rss_kb, 0);
  EXPECT_GE(t.user_s, 0.0);
  EXPECT_GE(t.sys_s, 0.0);
}

// wall_s is the child's life, from start to the child's end; how late the
// parent joined does not count.
TEST_P(ProcessTest, WallTimeEndsWhenTheChildLeavesNotWhenItIsJoined) {
  mproc_process_t* p = StartSleeper(0.1);
  SleepS(1.0);  // the child ended long ago
  ASSERT_EQ(0, mproc_process_join(p, -1));
  mproc_timing_t t;
  ASSERT_EQ(0, mproc_process_timing(p, &t));
  EXPECT_GE((t.reaped_ns - t.started_ns) / 1e9, 1.0);
  EXPECT_EQ(t.returned_ns, t.ended_ns);
  EXPECT_NEAR(t.wall_s, (t.ended_ns - t.started_ns) / 1e9, 1e-6);
  EXPECT_GE(t.wall_s, 0.1);
  EXPECT_LT(t.wall_s, 0.8);  // a 0.1 s target, however loaded the machine
}

// A killed child reports no end: the reap is the best known one.
TEST_P(ProcessTest, KilledChildsEndIsItsReap) {
  mproc_process_t* p = StartSleeper(60);
  SleepS(0.2);
  ASSERT_EQ(0, mproc_process_kill(p));
  SleepS(0.3);  // the parent is late: it counts, nothing better is known
  ASSERT_EQ(-SIGKILL, ExitCodeAfterJoin(p));
  mproc_timing_t t;
  ASSERT_EQ(0, mproc_process_timing(p, &t));
  EXPECT_EQ(0u, t.returned_ns);
  EXPECT_EQ(0.0, t.run_s);
  EXPECT_EQ(t.reaped_ns, t.ended_ns);
  EXPECT_NEAR(t.wall_s, (t.reaped_ns - t.started_ns) / 1e9, 1e-6);
  EXPECT_GE(t.wall_s, 0.5);
}

// Burns 0.2 s of the child's own CPU time (not wall time: a loaded machine
// would give it less).
int BurnCpu(mproc_call_t*) {
  volatile double x = 0;
  struct timespec ts;
  do {
    for (int i = 0; i < 100000; i++) x = x + 1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  } while (ts.tv_sec * 1e9 + ts.tv_nsec < 0.2e9);
  return 0;
}

TEST_P(ProcessTest, TimingCountsTheChildsCpu) {
  mproc_process_t* p = Make(BurnCpu);
  ASSERT_EQ(0, mproc_process_start(p));
  ASSERT_EQ(0, mproc_process_join(p, -1));
  mproc_timing_t t;
  ASSERT_EQ(0, mproc_process_timing(p, &t));
  EXPECT_GT(t.user_s + t.sys_s, 0.19);
}

// ---- Names.

TEST_P(ProcessTest, DefaultNamesCountFromOneAndNamedOnesUseANumberToo) {
  mproc_process_t* a = Make(ReturnArg, "(i)", 0);
  const char* name = mproc_process_name(a);
  ASSERT_EQ(0, strncmp(name, "Process-", 8));
  int n = atoi(name + 8);
  ASSERT_GE(n, 1);
  mproc_process_opts_t opts = {};
  opts.target = ReturnArg;
  opts.name = "dongGe";
  mproc_process_t* b = nullptr;
  ASSERT_EQ(0, mproc_process_new(&b, &opts));
  procs_.push_back(b);
  EXPECT_STREQ("dongGe", mproc_process_name(b));
  mproc_process_t* c = Make(ReturnArg, "(i)", 0);
  EXPECT_EQ("Process-" + std::to_string(n + 2), mproc_process_name(c));
  EXPECT_STREQ("MainProcess", mproc_current_process_name());
}

// In the child: its own name, and its first child's name.
int ReportNames(mproc_call_t* call) {
  const char* want_self;
  if (mproc_unpack(call, "s", &want_self) < 0) return -1;
  if (strcmp(mproc_current_process_name(), want_self) != 0)
    return mproc_call_fail(call, "current name %s",
                           mproc_current_process_name());
  mproc_process_opts_t opts = {};
  opts.target = ReturnArg;
  mproc_value_t* args;
  mproc_pack(&args, "(i)", 9);
  opts.args = args;
  mproc_process_t* child;
  if (mproc_process_new(&child, &opts) < 0) return 20;
  mproc_value_free(args);
  std::string want_child =
      std::string(want_self).substr(8) + ":1";  // "N:1"
  if (std::string(mproc_process_name(child)) != "Process-" + want_child)
    return mproc_call_fail(call, "child name %s", mproc_process_name(child));
  if (mproc_process_start(child) < 0) return 21;
  if (mproc_process_join(child, -1) < 0) return 22;
  int code = -1;
  mproc_process_exitcode(child, &code);
  mproc_process_close(child);
  return code == 9 ? 0 : 23;
}

TEST_P(ProcessTest, ChildrenOfAChildAreNamedAfterIt) {
  mproc_process_opts_t opts = {};
  opts.target = ReportNames;
  mproc_process_t* p = nullptr;
  // First get the number this handle will have, then pass its name in.
  ASSERT_EQ(0, mproc_process_new(&p, &opts));
  procs_.push_back(p);
  std::string name = mproc_process_name(p);
  mproc_process_t* q = nullptr;
  mproc_value_t* args;
  ASSERT_EQ(0, mproc_pack(&args, "(s)", ("Process-" + std::to_string(
                                              atoi(name.c_str() + 8) + 1))
                                             .c_str()));
  opts.args = args;
  ASSERT_EQ(0, mproc_process_new(&q, &opts));
  procs_.push_back(q);
  mproc_value_free(args);
  ASSERT_EQ(0, mproc_process_start(q));
  EXPECT_EQ(0, ExitCodeAfterJoin(q)) << mproc_process_error(q);
}

// ---- Daemons and handles across fork.

int TryToStartAChild(mproc_call_t*) {
  mproc_process_opts_t opts = {};
  opts.target = ReturnArg;
  mproc_process_t* child;
  if (mproc_process_new(&child, &opts) < 0) return 30;
  int rc = mproc_process_start(child);
  mproc_process_close(child);
  return rc == MPROC_EDAEMONIC ? 0 : 31;
}

TEST_P(ProcessTest, DaemonicProcessesMayNotHaveChildren) {
  mproc_process_opts_t opts = {};
  opts.target = TryToStartAChild;
  opts.daemon = true;
  mproc_process_t* p = nullptr;
  ASSERT_EQ(0, mproc_process_new(&p, &opts));
  procs_.push_back(p);
  EXPECT_TRUE(mproc_process_daemon(p));
  ASSERT_EQ(0, mproc_process_start(p));
  EXPECT_EQ(0, ExitCodeAfterJoin(p));
}

int JoinASibling(mproc_call_t* call) {
  mproc_process_t* sibling = static_cast<mproc_process_t*>(mproc_call_ctx(call));
  if (mproc_process_join(sibling, 0) != MPROC_ENOTCHILD) return 40;
  if (mproc_process_terminate(sibling) != MPROC_ENOTCHILD) return 41;
  if (mproc_process_is_alive(sibling) != MPROC_ENOTCHILD) return 42;
  return 0;
}

TEST_P(ProcessTest, AnInheritedHandleIsNotUsableInTheChild) {
  mproc_process_t* sibling = StartSleeper(60);
  mproc_process_opts_t opts = {};
  opts.target = JoinASibling;
  opts.ctx = sibling;
  mproc_process_t* p = nullptr;
  ASSERT_EQ(0, mproc_process_new(&p, &opts));
  procs_.push_back(p);
  ASSERT_EQ(0, mproc_process_start(p));
  EXPECT_EQ(0, ExitCodeAfterJoin(p));
  EXPECT_EQ(1, mproc_process_is_alive(sibling));  // untouched
}

}  // namespace
