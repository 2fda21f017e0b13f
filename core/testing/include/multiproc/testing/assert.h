// multiproc testing — assertions on multiproc's return codes.
//
// Part of "multiproc/testing.h" (include that).
//
//     ASSERT_MPROC_OK(mproc_process_start(p));
//     EXPECT_MPROC_OK(mproc_pool_map(pool, "square", items, 0, &r, &err))
//         << err.message;
//     EXPECT_MPROC_ERR(MPROC_ETIMEDOUT, mproc_process_join(p, 0.05));
//
// On failure the message names the expression, the code, its name and text
// and the thread's mproc_last_error() detail:
//
//     mproc_process_new(Out(p), &opts) failed: -4031 MPROC_ENOTARGET (no
//     target registered under that name)
//       detail: no target registered as 'nope'
//
// The detail is shown as recorded by this very call when the call changed
// it; when it did not (the function records no detail for this failure),
// an older text would mislead and is left out. Like every gtest assertion,
// each macro takes further context with `<<`. The expression is evaluated
// exactly once; any integer type is accepted (int, ssize_t, ...), and
// the MPROC_E* enumerators themselves.
#ifndef MPROC_TESTING_ASSERT_H
#define MPROC_TESTING_ASSERT_H

#include <string>
#include <type_traits>

#include <gtest/gtest.h>

#include "multiproc/error.h"

namespace mproc {
namespace testing {

// "MPROC_ETIMEDOUT (timed out)", for any code (negative errno values and
// codes this version does not know included); "0 (success)" for 0.
std::string ErrorText(long long rc);

namespace internal {

// What an expression returned and whether it recorded a new detail.
struct Outcome {
  long long rc;
  bool fresh_detail;
  std::string detail;
};

// The thread's mproc_last_error() text, copied (it is overwritten later).
std::string LastErrorNow();

template <typename F>
Outcome Evaluate(F&& f) {
  std::string before = LastErrorNow();
  auto rc = f();
  // The codes themselves (MPROC_ETIMEDOUT) are enumerators.
  static_assert(std::is_integral_v<decltype(rc)> ||
                    std::is_enum_v<decltype(rc)>,
                "ASSERT_MPROC_OK / EXPECT_MPROC_ERR take an expression "
                "returning an integer code");
  Outcome o{static_cast<long long>(rc), false, LastErrorNow()};
  o.fresh_detail = o.detail != before;
  return o;
}

::testing::AssertionResult CheckOk(const char* expr, const Outcome& o);
::testing::AssertionResult CheckErr(const char* want_expr, long long want,
                                    const char* expr, const Outcome& o);

}  // namespace internal
}  // namespace testing
}  // namespace mproc

// The statement form gtest's own assertions use (a dangling `else` cannot
// capture a user's `else`); `fail` is GTEST_FATAL_FAILURE_ or
// GTEST_NONFATAL_FAILURE_.
#define MPROC_TESTING_ASSERT_(result, fail)                          \
  switch (0)                                                         \
  case 0:                                                            \
  default:                                                           \
    if (const ::testing::AssertionResult mproc_testing_ar_ = result) \
      ;                                                              \
    else                                                             \
      fail(mproc_testing_ar_.failure_message())

// Fails unless expr returns >= 0 (a success or a count); returns from the
// current function (ASSERT_) or goes on (EXPECT_), as gtest's macros do.
#define ASSERT_MPROC_OK(expr)                                            \
  MPROC_TESTING_ASSERT_(                                                 \
      ::mproc::testing::internal::CheckOk(                               \
          #expr, ::mproc::testing::internal::Evaluate(                   \
                     [&]() { return (expr); })),                         \
      GTEST_FATAL_FAILURE_)
#define EXPECT_MPROC_OK(expr)                                            \
  MPROC_TESTING_ASSERT_(                                                 \
      ::mproc::testing::internal::CheckOk(                               \
          #expr, ::mproc::testing::internal::Evaluate(                   \
                     [&]() { return (expr); })),                         \
      GTEST_NONFATAL_FAILURE_)

// Fails unless expr returns exactly the code `want` (MPROC_ETIMEDOUT, or
// 0); both are shown by name on failure.
#define ASSERT_MPROC_ERR(want, expr)                                     \
  MPROC_TESTING_ASSERT_(                                                 \
      ::mproc::testing::internal::CheckErr(                              \
          #want, (want), #expr,                                          \
          ::mproc::testing::internal::Evaluate([&]() { return (expr); })), \
      GTEST_FATAL_FAILURE_)
#define EXPECT_MPROC_ERR(want, expr)                                     \
  MPROC_TESTING_ASSERT_(                                                 \
      ::mproc::testing::internal::CheckErr(                              \
          #want, (want), #expr,                                          \
          ::mproc::testing::internal::Evaluate([&]() { return (expr); })), \
      GTEST_NONFATAL_FAILURE_)

#endif  // MPROC_TESTING_ASSERT_H
