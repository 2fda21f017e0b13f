// Process children of a program that ignores SIGCHLD (SIG_IGN, a daemon
// idiom, or SA_NOCLDWAIT), whose children the kernel reaps as they end:
// exit codes, signals, timing, joins and the exit-time cleanup behave
// exactly as with SIGCHLD's default disposition. Each scenario runs in a
// child of the test, since the disposition is process-wide.
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>

#include "core/process_testing.h"
#include "multiproc.h"
#include "tests/support/fork_support.h"

namespace {

using mproc_test::Now;

int ReturnSeven(mproc_call_t*) { return 7; }

int SleepLong(mproc_call_t*) {
  sleep(30);
  return 0;
}

int KillSelf(mproc_call_t*) {
  raise(SIGKILL);
  return 0;
}

int Nap(mproc_call_t*) {
  usleep(100000);
  return 3;
}

// Checks, in the scenario's process; the first failing check's number is
// the exit code the test reports.
#define CHECK(n, cond)                                              \
  do {                                                              \
    if (!(cond)) {                                                  \
      fprintf(stderr, "check %d failed: %s\n", n, #cond);           \
      return n;                                                     \
    }                                                               \
  } while (0)

mproc_process_t* Start(mproc_target_fn fn, bool daemon = false) {
  mproc_process_opts_t opts = {};
  opts.target = fn;
  opts.daemon = daemon;
  mproc_process_t* p = nullptr;
  if (mproc_process_new(&p, &opts) != 0) return nullptr;
  if (mproc_process_start(p) != 0) {
    mproc_process_close(p);
    return nullptr;
  }
  return p;
}

int ExitCodesAndSignals() {
  mproc_process_t* p = Start(ReturnSeven);
  CHECK(10, p != nullptr);
  CHECK(11, mproc_process_join(p, 10) == 0);
  int code = -1;
  CHECK(12, mproc_process_exitcode(p, &code) == 1 && code == 7);
  mproc_timing_t t;
  mproc_process_timing(p, &t);
  CHECK(13, t.entered_ns != 0 && t.returned_ns != 0 && t.reaped_ns != 0);
  CHECK(14, t.max_rss_kb > 0);
  mproc_process_close(p);

  p = Start(SleepLong);
  CHECK(20, p != nullptr);
  CHECK(21, mproc_process_is_alive(p) == 1);
  CHECK(22, mproc_process_join(p, 0.05) == MPROC_ETIMEDOUT);
  CHECK(23, mproc_process_terminate(p) == 0);
  CHECK(24, mproc_process_join(p, 10) == 0);
  CHECK(25, mproc_process_exitcode(p, &code) == 1 && code == -SIGTERM);
  CHECK(26, mproc_process_is_alive(p) == 0);
  mproc_process_close(p);

  p = Start(KillSelf);
  CHECK(30, p != nullptr);
  CHECK(31, mproc_process_join(p, -1) == 0);
  CHECK(32, mproc_process_exitcode(p, &code) == 1 && code == -SIGKILL);
  mproc_process_close(p);

  // mproc_wait over several.
  mproc_process_t* ps[2] = {Start(SleepLong), Start(Nap)};
  CHECK(40, ps[0] != nullptr && ps[1] != nullptr);
  size_t index = 9;
  CHECK(41, mproc_wait(ps, 2, 10, &index) == 0 && index == 1);
  CHECK(42, mproc_process_exitcode(ps[1], &code) == 1 && code == 3);
  mproc_process_kill(ps[0]);
  CHECK(43, mproc_process_join(ps[0], 10) == 0);
  mproc_process_close(ps[0]);
  mproc_process_close(ps[1]);
  // Nothing left behind: relays are reaped by the kernel, as asked.
  usleep(50000);
  CHECK(50, mproc_test::CountZombieChildren() == 0);
  return 0;
}

void Ignore() { signal(SIGCHLD, SIG_IGN); }

void NoCldWait() {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  sa.sa_flags = SA_NOCLDWAIT;
  sigaction(SIGCHLD, &sa, nullptr);
}

class IgnoredSigchld : public mproc_test::Deadline {};

TEST_F(IgnoredSigchld, ExitCodesSignalsJoinsAndTimingAreExact) {
  int status = mproc_test::RunInChild(
      [] {
        Ignore();
        return ExitCodesAndSignals();
      },
      60);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST_F(IgnoredSigchld, SaNoCldWaitIsHandledTheSame) {
  int status = mproc_test::RunInChild(
      [] {
        NoCldWait();
        return ExitCodesAndSignals();
      },
      60);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST_F(IgnoredSigchld, SentinelPipeFallbackToo) {
  int status = mproc_test::RunInChild(
      [] {
        mproc__pidfd_force_disabled(true);
        Ignore();
        return ExitCodesAndSignals();
      },
      60);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(0, WEXITSTATUS(status));
}

// The child keeps the program's disposition: its own children are reaped
// by the kernel, as the program expects.
int ChildSeesIgnored(mproc_call_t*) {
  struct sigaction sa;
  sigaction(SIGCHLD, nullptr, &sa);
  return sa.sa_handler == SIG_IGN ? 0 : 1;
}

TEST_F(IgnoredSigchld, TheChildKeepsTheIgnoredDisposition) {
  int status = mproc_test::RunInChild(
      [] {
        Ignore();
        mproc_process_t* p = Start(ChildSeesIgnored);
        if (p == nullptr || mproc_process_join(p, 10) != 0) return 10;
        int code = -1;
        mproc_process_exitcode(p, &code);
        mproc_process_close(p);
        return code;
      },
      30);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(0, WEXITSTATUS(status));
}

// At exit, daemonic children are terminated and the others joined: a
// program that ignores SIGCHLD exits promptly, after its non-daemon child
// finished its work.
int WriteMarker(mproc_call_t* call) {
  const char* path;
  if (mproc_unpack(call, "s", &path) < 0) return -1;
  usleep(200000);
  FILE* f = fopen(path, "w");
  if (f == nullptr) return 1;
  fputs("done", f);
  fclose(f);
  return 0;
}

TEST_F(IgnoredSigchld, ExitJoinsChildrenAndEndsDaemons) {
  char path[] = "/tmp/mproc_sigchldXXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  int pipefd[2];
  ASSERT_EQ(0, pipe(pipefd));
  double t0 = Now();
  int status = mproc_test::RunInChild(
      [&] {
        close(pipefd[0]);
        Ignore();
        mproc_value_t* args = nullptr;
        mproc_pack(&args, "(s)", path);
        mproc_process_opts_t opts = {};
        opts.target = WriteMarker;
        opts.args = args;
        mproc_process_t* worker = nullptr;
        if (mproc_process_new(&worker, &opts) != 0 ||
            mproc_process_start(worker) != 0)
          return 10;
        mproc_process_t* daemon = Start(SleepLong, true);
        if (daemon == nullptr) return 11;
        pid_t dpid = mproc_process_pid(daemon);
        if (write(pipefd[1], &dpid, sizeof dpid) != sizeof dpid) return 12;
        exit(0);  // the exit-time cleanup, not _exit
      },
      30);
  close(pipefd[1]);
  pid_t daemon_pid = 0;
  ASSERT_EQ(static_cast<ssize_t>(sizeof daemon_pid),
            read(pipefd[0], &daemon_pid, sizeof daemon_pid));
  close(pipefd[0]);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(0, WEXITSTATUS(status));
  EXPECT_LT(Now() - t0, 10);
  std::string content;
  if (FILE* f = fopen(path, "r")) {
    char buf[16] = {0};
    if (fgets(buf, sizeof buf, f) != nullptr) content = buf;
    fclose(f);
  }
  unlink(path);
  EXPECT_EQ("done", content) << "the non-daemon child was not joined";
  for (double end = Now() + 5; mproc_test::Exists(daemon_pid) && Now() < end;)
    usleep(10000);
  EXPECT_FALSE(mproc_test::Exists(daemon_pid)) << "daemon left running";
}

}  // namespace
