// Helpers for tests that fork.
#ifndef MPROC_TESTS_SUPPORT_FORK_SUPPORT_H
#define MPROC_TESTS_SUPPORT_FORK_SUPPORT_H

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace mproc_test {

// A hang is a failure: every test in a fixture deriving from this gets a
// SIGALRM deadline, whose default action kills the test binary (bazel then
// reports the target as failed, with the test's name in the log).
class Deadline : public ::testing::Test {
 protected:
  explicit Deadline(unsigned seconds = 30) : seconds_(seconds) {}
  void SetUp() override;
  void TearDown() override;

 private:
  unsigned seconds_;
};

// Seconds on CLOCK_MONOTONIC.
double Now();

// Open descriptors of this process.
int CountOpenFds();

// Descriptors of this process whose /proc/self/fd link starts with one of
// the prefixes ("socket:", "pipe:", "anon_inode:[pidfd]").
int CountFdsLike(const std::vector<std::string>& prefixes);

// Zombie children of this process (state Z with our pid as parent).
int CountZombieChildren();

// Pids of this thread's children (from /proc/<pid>/task/<tid>/children)
// for the thread tid of this process.
std::vector<pid_t> ChildrenOfThread(pid_t tid);

// Runs fn in a forked child (which leaves with _exit(fn())) and returns its
// raw wait status; fails the test if it does not end within timeout_s (and
// kills it).
int RunInChild(const std::function<int()>& fn, double timeout_s = 20);

// Whether pid exists (kill(pid, 0)).
bool Exists(pid_t pid);

// Reads everything from fd until EOF.
std::string ReadAll(int fd);

// Path of a runfile in this workspace ("examples/seed_basic").
std::string Runfile(const std::string& path);

// Runs argv[0] with its stdout (and stderr when merge_stderr) captured.
// Returns the exit status via *status.
std::string RunCapture(const std::vector<std::string>& argv, int* status,
                       bool merge_stderr = false);

}  // namespace mproc_test

#endif  // MPROC_TESTS_SUPPORT_FORK_SUPPORT_H
