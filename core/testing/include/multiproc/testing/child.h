// multiproc testing — running code in a child process from a test.
//
// Part of "multiproc/testing.h" (include that).
//
//     using namespace std::chrono_literals;
//     auto r = mproc::testing::RunInChild([] {
//       printf("hello\n");
//       EXPECT_EQ(2 + 2, 5);            // fails the *parent's* test
//     }, 5s);
//     EXPECT_EQ(r.std_out, "hello\n");
//     EXPECT_THAT(r, mproc::testing::ExitedWith(0));
//
// The child is a multiproc Process (multiproc/process.h) whose target runs
// the callable: it is forked with the library's fork hygiene, never
// returns into the test's frames, and leaves through _exit — so it never
// runs gtest's remaining tests, teardown or summary, and gtest's output is
// never duplicated. A C++ exception escaping the callable ends the child
// with exit code 1, its description in `error` and on the child's stderr.
//
// GoogleTest assertions inside the child count in the parent. The child
// intercepts every assertion result (EXPECT_*, ASSERT_*, ADD_FAILURE, FAIL,
// in any of its threads) and sends each over a pipe as it happens; the
// parent reports each again in the current test, at the child's file and
// line, fatal ones as fatal (so HasFatalFailure() and
// ASSERT_NO_FATAL_FAILURE see them), with the child's message under a
// line naming the child. A failure sent before the child crashed or was
// killed still counts. An ASSERT_* in the child returns from the
// callable, as in a test body: the callable must return void for ASSERT_*
// (gtest's rule). GTEST_SKIP() in a child is recorded (`skipped`) but does
// not skip the parent's test.
//
// stdout and stderr are captured by default, through pipes the child's
// descriptors 1 and 2 are redirected to (exec'd programs inherit them);
// the parent drains both (and the failure pipe) while the child runs, so
// a child writing megabytes to both never blocks. The child flushes stdio
// and std::cout/cerr before it leaves; output still buffered when it is
// killed is lost, as in any process. Once the child has ended, the parent
// takes what the pipes hold and stops: a grandchild that keeps the pipes
// open does not hold RunInChild up.
//
// A child still running at the timeout is killed (SIGKILL) and, unless
// `fail_on_timeout` is false, the test fails naming it, with the tail of
// its output. A timeout of zero or less means no limit.
//
// Threads: RunInChild may be called from several threads at once. Forking
// copies only the calling thread; a lock another thread held at that
// instant stays held in the child (multiproc/process.h) — including
// gtest's own: avoid running RunInChild while other threads of the test
// report gtest failures.
#ifndef MPROC_TESTING_CHILD_H
#define MPROC_TESTING_CHILD_H

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "multiproc/process.h"

namespace mproc {
namespace testing {

// One assertion that failed in a child.
struct ChildFailure {
  std::string file;  // "" when gtest knew none
  int line = -1;     // -1 when gtest knew none
  std::string message;
  bool fatal = false;  // ASSERT_*, FAIL()
};

// How to run a child; each field's default is given.
struct ChildOptions {
  // The child is killed once it has run this long; zero or less: no limit.
  std::chrono::duration<double> timeout = std::chrono::seconds(30);
  // Capture stdout and stderr into the result; false: the child writes to
  // the test's own descriptors (the test log, or the terminal with
  // --test_output=streamed).
  bool capture_output = true;
  // Bytes kept of each stream; more is read and dropped (output_truncated).
  size_t max_output = size_t{64} << 20;
  // Report the child's gtest failures in the current test (the point of
  // this library); false only keeps them in ChildResult::failures.
  bool report_failures = true;
  // Fail the current test when the child times out.
  bool fail_on_timeout = true;
  // The Process's name (mproc_current_process_name() in the child);
  // empty: multiproc's default, "Process-N".
  std::string name;
};

// How a child ended, what it wrote, how long it took.
struct ChildResult {
  pid_t pid = 0;
  std::string name;   // the Process name
  int start_error = 0;  // < 0: the child could not be started (and the
                        // test failed); nothing else is filled then
  bool exited = false;  // ended through a return or _exit
  int exit_code = -1;   // when exited: the callable's return value (0 for
                        // a void one), 1 after an escaping exception
  int signal = 0;       // the signal that ended it, or 0
  bool timed_out = false;  // killed by RunInChild at the timeout (then
                           // signal is SIGKILL)
  std::string std_out;     // captured stdout
  std::string std_err;     // captured stderr
  bool output_truncated = false;  // a stream exceeded max_output
  std::string error;  // mproc_process_error(): an escaped exception's
                      // description, or a target's failure message
  std::vector<ChildFailure> failures;  // gtest failures, in order
  bool skipped = false;                // the child called GTEST_SKIP()
  mproc_timing_t timing{};  // mproc_process_timing (startup, run, CPU, RSS)
  double wall_s = 0;        // from start to reaped, measured here

  // Exited with 0, no gtest failure, not timed out.
  bool ok() const {
    return start_error == 0 && exited && exit_code == 0 && !timed_out &&
           failures.empty();
  }
  // "exited with code 3", "killed by signal 9 (SIGKILL)", "timed out after
  // 5 s (killed)", "could not start: MPROC_EAGAIN (...)", plus the number
  // of gtest failures when there were any.
  std::string Describe() const;
};

// Prints Describe() and the tails of the captured output, for gtest.
void PrintTo(const ChildResult& r, std::ostream* os);

namespace internal {
// Where a call was made, for the failures the library itself reports.
struct CallSite {
  const char* file;
  int line;
};
ChildResult RunFunction(std::function<int()> fn, const ChildOptions& opts,
                        CallSite site);
ChildResult RunTarget(mproc_target_fn target, const mproc_value_t* args,
                      const mproc_value_t* kwargs, const ChildOptions& opts,
                      CallSite site);
template <typename F>
std::function<int()> AsIntFunction(F&& fn) {
  using R = std::invoke_result_t<std::decay_t<F>&>;
  static_assert(std::is_void_v<R> || std::is_convertible_v<R, int>,
                "RunInChild takes a callable returning void or an int "
                "(the exit code)");
  if constexpr (std::is_void_v<R>) {
    return [f = std::forward<F>(fn)]() mutable {
      f();
      return 0;
    };
  } else {
    return [f = std::forward<F>(fn)]() mutable {
      return static_cast<int>(f());
    };
  }
}
}  // namespace internal

// Runs fn() in a child process and waits for it (see above). fn returns
// void (exit code 0) or an int, the exit code (0..255; a negative value or
// one above 255 ends the child with 1, as a target's would). Never throws;
// problems are test failures and fields of the result. The file and line
// are the caller's (for the failures RunInChild reports itself).
template <typename F>
ChildResult RunInChild(F&& fn, const ChildOptions& opts,
                       const char* file = __builtin_FILE(),
                       int line = __builtin_LINE()) {
  return internal::RunFunction(internal::AsIntFunction(std::forward<F>(fn)),
                               opts, {file, line});
}
template <typename F>
ChildResult RunInChild(F&& fn,
                       std::chrono::duration<double> timeout =
                           std::chrono::seconds(30),
                       const char* file = __builtin_FILE(),
                       int line = __builtin_LINE()) {
  ChildOptions opts;
  opts.timeout = timeout;
  return internal::RunFunction(internal::AsIntFunction(std::forward<F>(fn)),
                               opts, {file, line});
}

// Runs a target — a function, or the name it was registered under — in a
// child with these args (a tuple or list, or NULL) and kwargs (a dict, or
// NULL), exactly as a Process would, with RunInChild's capture, failure
// forwarding and timeout. The exit code is the target's return value
// (1 after mproc_call_fail or a failed mproc_unpack; `error` has the
// message). An unknown name fails the test (start_error MPROC_ENOTARGET),
// and so does a null target or name (start_error MPROC_EINVAL).
ChildResult RunTargetInChild(mproc_target_fn target, const mproc_value_t* args,
                             const mproc_value_t* kwargs,
                             const ChildOptions& opts = ChildOptions(),
                             const char* file = __builtin_FILE(),
                             int line = __builtin_LINE());
ChildResult RunTargetInChild(const char* name, const mproc_value_t* args,
                             const mproc_value_t* kwargs,
                             const ChildOptions& opts = ChildOptions(),
                             const char* file = __builtin_FILE(),
                             int line = __builtin_LINE());

}  // namespace testing
}  // namespace mproc

#endif  // MPROC_TESTING_CHILD_H
