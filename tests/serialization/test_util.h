// Helpers shared by the serialization tests.
#ifndef MPROC_TESTS_SERIALIZATION_TEST_UTIL_H
#define MPROC_TESTS_SERIALIZATION_TEST_UTIL_H

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

#include "multiproc/value.h"

namespace mproc_test {

// A deadline for a test that blocks on descriptors or threads: if the scope
// is still alive after `seconds`, the whole test binary exits with status 124
// and says which guard fired, instead of hanging until Bazel's timeout. It
// uses a thread, not alarm(), so it also works in tests that use SIGALRM.
class ScopedDeadline {
 public:
  ScopedDeadline(const char *what, int seconds)
      : what_(what), thread_([this, seconds] { Run(seconds); }) {}
  ~ScopedDeadline() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  ScopedDeadline(const ScopedDeadline &) = delete;
  ScopedDeadline &operator=(const ScopedDeadline &) = delete;

 private:
  void Run(int seconds) {
    // Signals meant for the test (SIGALRM storms, SIGPIPE) must not land
    // here.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(seconds),
                      [this] { return done_; })) {
      std::fprintf(stderr, "\nDEADLINE EXCEEDED (%d s): %s\n", seconds, what_);
      std::fflush(stderr);
      _exit(124);
    }
  }

  const char *what_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: started once the rest is ready
};

// Python's repr of v, through mproc_repr.
inline std::string Repr(const mproc_value_t *v) {
  int n = mproc_repr(v, nullptr, 0);
  if (n < 0) return "<mproc_repr error " + std::to_string(n) + ">";
  std::string s(static_cast<size_t>(n) + 1, '\0');
  int m = mproc_repr(v, &s[0], s.size());
  if (m != n) return "<mproc_repr length changed>";
  s.resize(static_cast<size_t>(n));
  return s;
}

// Owns a value for the length of a scope.
struct ValuePtr {
  mproc_value_t *v = nullptr;
  ValuePtr() = default;
  explicit ValuePtr(mproc_value_t *p) : v(p) {}
  ~ValuePtr() { mproc_value_free(v); }
  ValuePtr(const ValuePtr &) = delete;
  ValuePtr &operator=(const ValuePtr &) = delete;
  mproc_value_t **out() {
    mproc_value_free(v);
    v = nullptr;
    return &v;
  }
  mproc_value_t *release() {
    mproc_value_t *p = v;
    v = nullptr;
    return p;
  }
  mproc_value_t *get() const { return v; }
  operator mproc_value_t *() const { return v; }
};

}  // namespace mproc_test

#endif  // MPROC_TESTS_SERIALIZATION_TEST_UTIL_H
