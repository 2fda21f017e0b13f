// ASSERT_MPROC_OK and friends: the messages.
#include <string>

#include "multiproc/testing/assert.h"

namespace mproc {
namespace testing {

std::string ErrorText(long long rc) {
  if (rc == 0) return "0 (success)";
  // Codes outside int are no multiproc code; say so rather than truncate.
  if (rc < -2147483647LL || rc > 2147483647LL)
    return std::to_string(rc) + " (not an error code)";
  int code = static_cast<int>(rc);
  return std::string(mproc_err_name(code)) + " (" + mproc_strerror(code) +
         ")";
}

namespace internal {

std::string LastErrorNow() {
  const char* e = mproc_last_error();
  return e ? e : "";
}

static void AddDetail(::testing::AssertionResult& r, const Outcome& o) {
  if (o.fresh_detail && !o.detail.empty()) r << "\n  detail: " << o.detail;
}

::testing::AssertionResult CheckOk(const char* expr, const Outcome& o) {
  if (o.rc >= 0) return ::testing::AssertionSuccess();
  ::testing::AssertionResult r = ::testing::AssertionFailure();
  r << expr << " failed: " << o.rc << " " << ErrorText(o.rc);
  AddDetail(r, o);
  return r;
}

::testing::AssertionResult CheckErr(const char* want_expr, long long want,
                                    const char* expr, const Outcome& o) {
  if (o.rc == want) return ::testing::AssertionSuccess();
  ::testing::AssertionResult r = ::testing::AssertionFailure();
  r << expr << " returned " << o.rc << " " << ErrorText(o.rc) << "\n"
    << "  expected " << want_expr << " = " << want << " " << ErrorText(want);
  if (o.rc < 0) AddDetail(r, o);
  return r;
}

}  // namespace internal
}  // namespace testing
}  // namespace mproc
