// Process under faults and at scale: children that die early, huge calls,
// many processes, descriptor and zombie hygiene, stdio across fork, signal
// state in the child, daemons when the parent dies, threads.
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
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

int SleepArg(mproc_call_t* call) {
  double s;
  if (mproc_unpack(call, "d", &s) < 0) return -1;
  SleepS(s);
  return 0;
}

int ReturnZero(mproc_call_t*) { return 0; }

mproc_process_t* New(mproc_target_fn target, mproc_value_t* args = nullptr,
                     bool daemon = false, void* ctx = nullptr) {
  mproc_process_opts_t opts = {};
  opts.target = target;
  opts.args = args;
  opts.daemon = daemon;
  opts.ctx = ctx;
  mproc_process_t* p = nullptr;
  EXPECT_EQ(0, mproc_process_new(&p, &opts));
  return p;
}

mproc_process_t* NewSleeper(double s, bool daemon = false) {
  mproc_value_t* args;
  EXPECT_EQ(0, mproc_pack(&args, "(d)", s));
  mproc_process_t* p = New(SleepArg, args, daemon);
  mproc_value_free(args);
  return p;
}

int ExitCode(mproc_process_t* p) {
  int code = 12345;
  EXPECT_EQ(1, mproc_process_exitcode(p, &code));
  return code;
}

class Fault : public mproc_test::Deadline {
 protected:
  Fault() : Deadline(60) {}
  void TearDown() override {
    mproc__pidfd_force_disabled(false);
    Deadline::TearDown();
  }
};

// ---- Huge calls.

uint64_t Checksum(const unsigned char* p, size_t n) {
  uint64_t h = 1469598103934665603u;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211u;
  return h;
}

struct BigArg {
  size_t size;
  uint64_t sum;
};

int CheckBig(mproc_call_t* call) {
  const BigArg* want = static_cast<const BigArg*>(mproc_call_ctx(call));
  const void* p;
  size_t n;
  if (mproc_unpack(call, "y#", &p, &n) < 0) return -1;
  if (n != want->size) return 10;
  if (Checksum(static_cast<const unsigned char*>(p), n) != want->sum)
    return 11;
  return 0;
}

TEST_F(Fault, SixtyFourMiBArgDoesNotDeadlock) {
  std::string big(64u << 20, '\0');
  for (size_t i = 0; i < big.size(); i++)
    big[i] = static_cast<char>((i * 2654435761u) >> 13);
  BigArg want = {big.size(),
                 Checksum(reinterpret_cast<const unsigned char*>(big.data()),
                          big.size())};
  mproc_value_t* args;
  ASSERT_EQ(0, mproc_pack(&args, "(y#)", big.data(), big.size()));
  mproc_process_t* p = New(CheckBig, args, false, &want);
  mproc_value_free(args);
  ASSERT_EQ(0, mproc_process_start(p));
  ASSERT_EQ(0, mproc_process_join(p, -1));
  EXPECT_EQ(0, ExitCode(p));
  EXPECT_EQ(0, mproc_process_close(p));
}

// The child is SIGKILLed while the parent is still writing its (256 MiB)
// call: start() must not die of SIGPIPE, must not hang, and the exit code
// must tell what happened.
TEST_F(Fault, ChildDyingBeforeReadingItsCallGivesAnExitCodeNotSigpipe) {
  ASSERT_EQ(SIG_DFL, signal(SIGPIPE, SIG_DFL));  // SIGPIPE would kill us
  std::string big(256u << 20, 'x');
  mproc_value_t* args;
  ASSERT_EQ(0, mproc_pack(&args, "(y#)", big.data(), big.size()));
  mproc_process_t* p = New(ReturnZero, args);
  mproc_value_free(args);
  big.clear();
  big.shrink_to_fit();

  pid_t me = static_cast<pid_t>(syscall(SYS_gettid));
  std::atomic<pid_t> killed{0};
  std::thread killer([&] {
    double deadline = Now() + 20;
    while (Now() < deadline) {
      std::vector<pid_t> kids = mproc_test::ChildrenOfThread(me);
      if (!kids.empty()) {
        kill(kids[0], SIGKILL);
        killed = kids[0];
        return;
      }
      usleep(50);
    }
  });
  EXPECT_EQ(0, mproc_process_start(p));
  killer.join();
  ASSERT_EQ(mproc_process_pid(p), killed.load());
  ASSERT_EQ(0, mproc_process_join(p, 10));
  EXPECT_EQ(-SIGKILL, ExitCode(p));
  mproc_timing_t t;
  ASSERT_EQ(0, mproc_process_timing(p, &t));
  EXPECT_EQ(0u, t.entered_ns);  // it never got to the target
  sigset_t pending;
  sigpending(&pending);
  EXPECT_FALSE(sigismember(&pending, SIGPIPE));
  EXPECT_EQ(0, mproc_process_close(p));
}

// ---- Scale and hygiene.

TEST_F(Fault, HundredProcessesStartedThenTerminated) {
  std::vector<mproc_process_t*> ps;
  for (int i = 0; i < 100; i++) {
    ps.push_back(NewSleeper(60));
    ASSERT_EQ(0, mproc_process_start(ps.back()));
  }
  for (mproc_process_t* p : ps) EXPECT_EQ(1, mproc_process_is_alive(p));
  for (mproc_process_t* p : ps) ASSERT_EQ(0, mproc_process_terminate(p));
  for (mproc_process_t* p : ps) {
    ASSERT_EQ(0, mproc_process_join(p, 10));
    EXPECT_EQ(-SIGTERM, ExitCode(p));
    EXPECT_EQ(0, mproc_process_close(p));
  }
  EXPECT_EQ(0, mproc_test::CountZombieChildren());
}

void NoFdGrowth(bool sentinel_pipe) {
  mproc__pidfd_force_disabled(sentinel_pipe);
  // Warm up lazily allocated state (the registry, the atexit hook).
  mproc_process_t* p = New(ReturnZero);
  ASSERT_EQ(0, mproc_process_start(p));
  ASSERT_EQ(0, mproc_process_join(p, -1));
  ASSERT_EQ(0, mproc_process_close(p));
  int before = mproc_test::CountOpenFds();
  for (int i = 0; i < 1000; i++) {
    p = New(ReturnZero);
    ASSERT_EQ(0, mproc_process_start(p));
    ASSERT_EQ(0, mproc_process_join(p, -1));
    ASSERT_EQ(0, ExitCode(p));
    ASSERT_EQ(0, mproc_process_close(p));
  }
  EXPECT_EQ(before, mproc_test::CountOpenFds());
  EXPECT_EQ(0, mproc_test::CountZombieChildren());
}

TEST_F(Fault, NoFdGrowthAfterThousandStartJoinCycles) { NoFdGrowth(false); }

TEST_F(Fault, NoFdGrowthAfterThousandStartJoinCyclesWithSentinelPipes) {
  NoFdGrowth(true);
}

// Counts the child's sockets, pipes and pidfds.
int CountChannels(mproc_call_t*) {
  return mproc_test::CountFdsLike({"socket:", "pipe:", "anon_inode:[pidfd]"});
}

void ChildKeepsOnlyItsOwnEnds(bool sentinel_pipe) {
  mproc__pidfd_force_disabled(sentinel_pipe);
  int baseline =
      mproc_test::CountFdsLike({"socket:", "pipe:", "anon_inode:[pidfd]"});
  // Siblings running and ended, holding descriptors in the parent.
  mproc_process_t* running = NewSleeper(60);
  mproc_process_t* ended = New(ReturnZero);
  ASSERT_EQ(0, mproc_process_start(running));
  ASSERT_EQ(0, mproc_process_start(ended));
  ASSERT_EQ(0, mproc_process_join(ended, -1));

  mproc_process_t* p = New(CountChannels);
  ASSERT_EQ(0, mproc_process_start(p));
  ASSERT_EQ(0, mproc_process_join(p, -1));
  // Its own socket, plus its sentinel pipe's write end without pidfds.
  EXPECT_EQ(baseline + 1 + (sentinel_pipe ? 1 : 0), ExitCode(p));

  ASSERT_EQ(0, mproc_process_kill(running));
  ASSERT_EQ(0, mproc_process_join(running, -1));
  for (mproc_process_t* q : {running, ended, p})
    EXPECT_EQ(0, mproc_process_close(q));
}

TEST_F(Fault, ChildKeepsOnlyItsOwnPipeEnds) { ChildKeepsOnlyItsOwnEnds(false); }

TEST_F(Fault, ChildKeepsOnlyItsOwnPipeEndsWithSentinelPipes) {
  ChildKeepsOnlyItsOwnEnds(true);
}

int PrintLine(mproc_call_t*) {
  printf("child\n");
  return 0;
}

TEST_F(Fault, NoDuplicatedStdoutAfterFork) {
  int fds[2];
  ASSERT_EQ(0, pipe2(fds, O_CLOEXEC));
  int status = mproc_test::RunInChild([&] {
    dup2(fds[1], 1);
    setvbuf(stdout, nullptr, _IOFBF, 1 << 16);  // as when piped
    printf("parent-before ");  // sits in the buffer at fork time
    mproc_process_t* p = New(PrintLine);
    if (mproc_process_start(p) < 0 || mproc_process_join(p, -1) < 0) return 1;
    printf("parent-after\n");
    mproc_process_close(p);
    fflush(stdout);
    return 0;
  });
  close(fds[1]);
  std::string out = mproc_test::ReadAll(fds[0]);
  close(fds[0]);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(0, WEXITSTATUS(status));
  EXPECT_EQ("parent-before child\nparent-after\n", out);
}

// ---- Signal state in the child.

int ReportSignalState(mproc_call_t*) {
  struct sigaction sa;
  sigaction(SIGTERM, nullptr, &sa);
  if (sa.sa_handler != SIG_DFL) return 10;  // caught: reset to default
  sigaction(SIGUSR2, nullptr, &sa);
  if (sa.sa_handler != SIG_IGN) return 11;  // ignored: stays ignored
  sigset_t mask;
  pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  if (!sigismember(&mask, SIGUSR1)) return 12;  // the parent's mask
  if (sigismember(&mask, SIGTERM)) return 13;   // nothing more blocked
  return 0;
}

TEST_F(Fault, ChildResetsHandlersKeepsIgnoresAndTheParentsMask) {
  struct sigaction sa = {}, old_term, old_usr2;
  sa.sa_handler = [](int) {};
  sigaction(SIGTERM, &sa, &old_term);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGUSR2, &sa, &old_usr2);
  sigset_t usr1, old_mask;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &usr1, &old_mask);

  mproc_process_t* p = New(ReportSignalState);
  ASSERT_EQ(0, mproc_process_start(p));
  ASSERT_EQ(0, mproc_process_join(p, -1));
  EXPECT_EQ(0, ExitCode(p));
  EXPECT_EQ(0, mproc_process_close(p));
  // And terminate still terminates, whatever the parent's handler.
  p = NewSleeper(60);
  ASSERT_EQ(0, mproc_process_start(p));
  ASSERT_EQ(0, mproc_process_terminate(p));
  ASSERT_EQ(0, mproc_process_join(p, -1));
  EXPECT_EQ(-SIGTERM, ExitCode(p));
  EXPECT_EQ(0, mproc_process_close(p));

  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  sigaction(SIGUSR2, &old_usr2, nullptr);
}

// ---- Daemons and exit-time cleanup. These make this test process a child
// subreaper, so orphaned grandchildren come back to it and their fate can be
// read with waitpid.

class Orphans : public Fault {
 protected:
  void SetUp() override {
    Fault::SetUp();
    ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1));
  }
  void TearDown() override {
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    Fault::TearDown();
  }

  // Waits (with a deadline) for the orphan pid and returns its wait status.
  static int ReapOrphan(pid_t pid, double timeout_s) {
    double deadline = Now() + timeout_s;
    int status = 0;
    for (;;) {
      pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) return status;
      if (r < 0 || Now() > deadline) {
        ADD_FAILURE() << "orphan " << pid << " did not end";
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return -1;
      }
      SleepS(0.002);
    }
  }
};

// Writes one byte to the fd in args[0] once running, then sleeps a minute.
int SignalReadyThenSleep(mproc_call_t* call) {
  int fd;
  if (mproc_unpack(call, "i", &fd) < 0) return -1;
  if (write(fd, "r", 1) != 1) return 1;
  close(fd);
  SleepS(60);
  return 0;
}

// An intermediate process starts a child (daemon or not) that would run for
// a minute, sends its pid up a pipe once the child is inside its target,
// then ends as how_to_end says (0: exit(0), else wait to be killed).
pid_t StartIntermediate(bool daemon, int how_to_end, pid_t* intermediate) {
  int fds[2], ready[2];
  if (pipe2(fds, O_CLOEXEC) != 0 || pipe(ready) != 0) return -1;
  fflush(nullptr);
  pid_t mid = fork();
  if (mid == 0) {
    alarm(0);
    close(ready[0]);
    mproc_value_t* args;
    mproc_pack(&args, "(i)", ready[1]);
    mproc_process_t* p = New(SignalReadyThenSleep, args, daemon);
    mproc_value_free(args);
    if (mproc_process_start(p) < 0) _exit(2);
    close(ready[1]);
    pid_t pid = mproc_process_pid(p);
    if (write(fds[1], &pid, sizeof pid) != sizeof pid) _exit(3);
    if (how_to_end == 0) exit(0);  // normal exit: atexit cleanup runs
    pause();                       // wait to be killed
    _exit(4);
  }
  close(fds[1]);
  close(ready[1]);
  pid_t pid = -1;
  char r = 0;
  if (read(fds[0], &pid, sizeof pid) != sizeof pid) pid = -1;
  // A killed parent must find its daemon armed (inside its target); a
  // normally exiting one terminates it wherever it is.
  if (how_to_end != 0 && (read(ready[0], &r, 1) != 1 || r != 'r')) pid = -1;
  close(fds[0]);
  close(ready[0]);
  *intermediate = mid;
  return pid;
}

TEST_F(Orphans, DaemonChildDiesWhenItsParentIsKilled) {
  pid_t mid;
  pid_t daemon = StartIntermediate(true, 1, &mid);
  ASSERT_GT(daemon, 0);
  ASSERT_TRUE(mproc_test::Exists(daemon));
  ASSERT_EQ(0, kill(mid, SIGKILL));
  int st;
  ASSERT_EQ(mid, waitpid(mid, &st, 0));
  int status = ReapOrphan(daemon, 10);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(SIGKILL, WTERMSIG(status));
}

TEST_F(Orphans, DaemonChildIsTerminatedAtItsParentsNormalExit) {
  pid_t mid;
  pid_t daemon = StartIntermediate(true, 0, &mid);
  ASSERT_GT(daemon, 0);
  int st;
  ASSERT_EQ(mid, waitpid(mid, &st, 0));
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(0, WEXITSTATUS(st));
  // The parent terminated and joined it before exiting: it is our child now
  // only if the parent left it behind, and then it must already be gone.
  int status = 0;
  pid_t r = waitpid(daemon, &status, WNOHANG);
  EXPECT_TRUE(r == -1 || (r == daemon && WIFSIGNALED(status) &&
                          WTERMSIG(status) == SIGTERM))
      << "daemon was left running";
  if (r == 0) {
    kill(daemon, SIGKILL);
    waitpid(daemon, &status, 0);
  }
}

int SleepThenWrite(mproc_call_t* call) {
  int fd;
  if (mproc_unpack(call, "i", &fd) < 0) return -1;
  SleepS(0.3);
  return write(fd, "done", 4) == 4 ? 0 : 1;
}

TEST_F(Orphans, NonDaemonChildIsJoinedAtItsParentsNormalExit) {
  int fds[2];
  ASSERT_EQ(0, pipe(fds));
  double t0 = Now();
  int status = mproc_test::RunInChild([&] {
    close(fds[0]);
    mproc_value_t* args;
    mproc_pack(&args, "(i)", fds[1]);
    mproc_process_t* p = New(SleepThenWrite, args);
    mproc_value_free(args);
    if (mproc_process_start(p) < 0) return 2;
    close(fds[1]);
    exit(0);  // no join: the atexit cleanup must wait for the child
  });
  double took = Now() - t0;
  close(fds[1]);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(0, WEXITSTATUS(status));
  EXPECT_GE(took, 0.3);  // it waited for its child
  EXPECT_EQ("done", mproc_test::ReadAll(fds[0]));
  close(fds[0]);
}

// ---- Threads.

TEST_F(Fault, StartsFromFourThreadsAtOnce) {
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; i++) {
        mproc_process_t* p = New(CountChannels);
        if (mproc_process_start(p) < 0 || mproc_process_join(p, -1) < 0) {
          failures++;
          continue;
        }
        int code = -1;
        if (mproc_process_exitcode(p, &code) != 1 || code < 1) failures++;
        if (mproc_process_close(p) < 0) failures++;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(0, failures.load());
  EXPECT_EQ(0, mproc_test::CountZombieChildren());
}

}  // namespace
