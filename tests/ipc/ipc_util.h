// Helpers for the IPC tests: children running a lambda, signal storms,
// counting descriptors and /dev/shm entries.
#ifndef MPROC_TESTS_IPC_IPC_UTIL_H
#define MPROC_TESTS_IPC_IPC_UTIL_H

#include <dirent.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>

#include <gtest/gtest.h>

namespace mproc_test {

// Kills this process with SIGUSR2 (default action) after seconds: a
// deadline that, unlike alarm(), survives SIGALRM storms. Not inherited by
// children (timer_create timers never are).
inline void ArmDeadline(int seconds) {
  signal(SIGUSR2, SIG_DFL);
  struct sigevent ev;
  memset(&ev, 0, sizeof ev);
  ev.sigev_notify = SIGEV_SIGNAL;
  ev.sigev_signo = SIGUSR2;
  timer_t t;
  if (timer_create(CLOCK_MONOTONIC, &ev, &t) != 0) abort();
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  its.it_value.tv_sec = seconds;
  timer_settime(t, 0, &its, nullptr);
}

// A hang is a failure: every test of a fixture deriving from this one dies
// (SIGUSR2) after its deadline, SIGALRM storms or not.
class IpcTest : public ::testing::Test {
 protected:
  explicit IpcTest(int seconds = 60) : seconds_(seconds) {}
  void SetUp() override {
    signal(SIGUSR2, SIG_DFL);
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR2;
    ASSERT_EQ(0, timer_create(CLOCK_MONOTONIC, &ev, &timer_));
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_sec = seconds_;
    ASSERT_EQ(0, timer_settime(timer_, 0, &its, nullptr));
  }
  void TearDown() override { timer_delete(timer_); }

 private:
  int seconds_;
  timer_t timer_;
};

// Forks a child that runs fn and leaves with _exit(fn()); returns its pid.
// A stuck child dies after 60 s rather than outlive the test.
inline pid_t Spawn(const std::function<int()>& fn) {
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    ArmDeadline(60);
    int rc = fn();
    _exit(rc);
  }
  return pid;
}

// Waits for pid; returns its raw wait status (-1 if waitpid failed).
inline int Reap(pid_t pid) {
  int status = -1;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

inline bool ExitedZero(int status) {
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// SIGALRM every period_us, without SA_RESTART: every blocking system call
// of the calling process is interrupted (EINTR) again and again while it
// lives. The handler only counts.
class EintrStorm {
 public:
  explicit EintrStorm(long period_us = 1000) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = Count;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART
    sigaction(SIGALRM, &sa, &old_);
    struct itimerval it;
    it.it_interval.tv_sec = 0;
    it.it_interval.tv_usec = period_us;
    it.it_value = it.it_interval;
    setitimer(ITIMER_REAL, &it, nullptr);
  }
  ~EintrStorm() {
    struct itimerval it;
    memset(&it, 0, sizeof it);
    setitimer(ITIMER_REAL, &it, nullptr);
    sigaction(SIGALRM, &old_, nullptr);
  }
  static long Signals() { return count_; }

 private:
  static void Count(int) { count_ = count_ + 1; }
  static inline volatile long count_ = 0;
  struct sigaction old_;
};

// Entries of /dev/shm whose names start with prefix.
inline int CountShm(const std::string& prefix) {
  int n = 0;
  DIR* d = opendir("/dev/shm");
  if (d == nullptr) return -1;
  while (struct dirent* e = readdir(d))
    if (strncmp(e->d_name, prefix.c_str(), prefix.size()) == 0) n++;
  closedir(d);
  return n;
}

}  // namespace mproc_test

#endif  // MPROC_TESTS_IPC_IPC_UTIL_H
