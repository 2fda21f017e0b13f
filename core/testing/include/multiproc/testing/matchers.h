// multiproc testing — gMock matchers for how processes and tasks ended,
// and for values.
//
// Part of "multiproc/testing.h" (include that).
//
//     EXPECT_THAT(RunInChild([] { return 3; }), ExitedWith(3));
//     EXPECT_THAT(RunInChild([] { raise(SIGSEGV); }), KilledBySignal(SIGSEGV));
//     EXPECT_THAT(p.get(), ExitedWith(Ne(0)));   // a ProcessPtr's process
//     EXPECT_THAT(err, KilledBySignal(SIGKILL));  // an mproc_task_error_t
//     EXPECT_THAT(result, EqualsValue(std::vector<int>{1, 4, 9}));
//
// The status matchers take any of:
//   - a ChildResult (RunInChild);
//   - an mproc_process_t* or a ProcessPtr: its exit code as Python's
//     exitcode (mproc_process_exitcode, checked without waiting: join it
//     first); a process still running matches none of them;
//   - an mproc_task_error_t (a pool task's failure): its signal, or its exit
//     code (0 for a task that did not fail).
// Their inner argument is a value or any gMock matcher of int (Ne(0),
// AnyOf(SIGTERM, SIGKILL)). On a mismatch gMock prints how it did end.
#ifndef MPROC_TESTING_MATCHERS_H
#define MPROC_TESTING_MATCHERS_H

#include <memory>
#include <ostream>
#include <string>
#include <utility>

#include <gmock/gmock.h>

#include "multiproc/pool.h"
#include "multiproc/process.h"
#include "multiproc/testing/child.h"
#include "multiproc/testing/handles.h"
#include "multiproc/testing/values.h"

namespace mproc {
namespace testing {
namespace internal {

// How something ended, in one shape.
struct EndStatus {
  bool known = false;  // false: still running, never started
  bool exited = false;
  int code = -1;
  int signal = 0;
  bool timed_out = false;
  bool clean = false;  // exited 0 with nothing else wrong
  std::string what;    // "exited with code 3", ...
};
EndStatus StatusOf(const ChildResult& r);
EndStatus StatusOf(mproc_process_t* p);
EndStatus StatusOf(const mproc_task_error_t& e);
inline EndStatus StatusOf(const ProcessPtr& p) { return StatusOf(p.get()); }

enum class Which { kExited, kSignal };

class StatusMatcher {
 public:
  StatusMatcher(Which which, ::testing::Matcher<int> inner)
      : which_(which), inner_(std::move(inner)) {}

  template <typename T>
  bool MatchAndExplain(const T& x, ::testing::MatchResultListener* l) const {
    EndStatus s = StatusOf(x);
    *l << s.what;
    bool right_kind = which_ == Which::kExited ? s.exited : s.signal != 0;
    return s.known && right_kind &&
           inner_.Matches(which_ == Which::kExited ? s.code : s.signal);
  }
  void DescribeTo(std::ostream* os) const {
    *os << (which_ == Which::kExited ? "exited with a code that "
                                     : "was killed by a signal that ");
    inner_.DescribeTo(os);
  }
  void DescribeNegationTo(std::ostream* os) const {
    *os << "did not ";
    DescribeTo(os);
  }

 private:
  Which which_;
  ::testing::Matcher<int> inner_;
};

class FlagMatcher {
 public:
  enum Flag { kTimedOut, kSucceeded };
  explicit FlagMatcher(Flag f) : flag_(f) {}
  template <typename T>
  bool MatchAndExplain(const T& x, ::testing::MatchResultListener* l) const {
    EndStatus s = StatusOf(x);
    *l << s.what;
    return flag_ == kTimedOut ? s.timed_out : s.known && s.clean;
  }
  void DescribeTo(std::ostream* os) const {
    *os << (flag_ == kTimedOut
                ? "timed out"
                : "exited with code 0, without gtest failures or timeout");
  }
  void DescribeNegationTo(std::ostream* os) const {
    *os << "did not ";
    DescribeTo(os);
  }

 private:
  Flag flag_;
};

const mproc_value_t* RawValue(const mproc_value_t* v);
inline const mproc_value_t* RawValue(const ValuePtr& v) { return v.get(); }

class ValueMatcher {
 public:
  explicit ValueMatcher(std::shared_ptr<mproc_value_t> want)
      : want_(std::move(want)) {}
  template <typename T>
  bool MatchAndExplain(const T& x, ::testing::MatchResultListener* l) const {
    const mproc_value_t* v = RawValue(x);
    *l << "which is " << Repr(v);
    return v != nullptr && want_ && mproc_value_equal(v, want_.get());
  }
  void DescribeTo(std::ostream* os) const {
    *os << "equals " << Repr(want_.get()) << " (Python's ==)";
  }
  void DescribeNegationTo(std::ostream* os) const {
    *os << "does not equal " << Repr(want_.get());
  }

 private:
  std::shared_ptr<mproc_value_t> want_;
};

}  // namespace internal

// Ended through exit/return with a code matching `code` (a value or an
// int matcher).
template <typename M>
::testing::PolymorphicMatcher<internal::StatusMatcher> ExitedWith(M code) {
  return ::testing::MakePolymorphicMatcher(internal::StatusMatcher(
      internal::Which::kExited, ::testing::SafeMatcherCast<int>(code)));
}

// Ended by a signal matching `sig` (a value or an int matcher).
template <typename M>
::testing::PolymorphicMatcher<internal::StatusMatcher> KilledBySignal(M sig) {
  return ::testing::MakePolymorphicMatcher(internal::StatusMatcher(
      internal::Which::kSignal, ::testing::SafeMatcherCast<int>(sig)));
}

// RunInChild killed it at its timeout (a task: it failed with
// MPROC_ETASKTIMEOUT).
inline ::testing::PolymorphicMatcher<internal::FlagMatcher> TimedOut() {
  return ::testing::MakePolymorphicMatcher(
      internal::FlagMatcher(internal::FlagMatcher::kTimedOut));
}

// Exited with 0 — and, for a ChildResult, without gtest failures or a
// timeout (ChildResult::ok()); for a task, did not fail.
inline ::testing::PolymorphicMatcher<internal::FlagMatcher> Succeeded() {
  return ::testing::MakePolymorphicMatcher(
      internal::FlagMatcher(internal::FlagMatcher::kSucceeded));
}

// A value (const mproc_value_t*, or ValuePtr) equal, by Python's rules
// (mproc_value_equal), to what `expected` packs to (any type Pack takes).
// Mismatches print both reprs.
template <typename T>
::testing::PolymorphicMatcher<internal::ValueMatcher> EqualsValue(
    const T& expected) {
  ValuePtr v = Pack(expected);
  return ::testing::MakePolymorphicMatcher(
      internal::ValueMatcher(std::shared_ptr<mproc_value_t>(
          v.release(), [](mproc_value_t* p) { mproc_value_free(p); })));
}

}  // namespace testing
}  // namespace mproc

#endif  // MPROC_TESTING_MATCHERS_H
