// For the library's own tests: the gtest results a piece of test code
// reports, intercepted (they do not fail the test that runs it) so they
// can be inspected.
#ifndef MPROC_TESTS_TESTING_CAPTURE_H
#define MPROC_TESTS_TESTING_CAPTURE_H

#include <string>
#include <vector>

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

namespace mproc_test {

template <typename F>
std::vector<::testing::TestPartResult> Reported(F&& f) {
  ::testing::TestPartResultArray results;
  {
    ::testing::ScopedFakeTestPartResultReporter intercept(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ALL_THREADS,
        &results);
    f();
  }
  std::vector<::testing::TestPartResult> out;
  for (int i = 0; i < results.size(); i++)
    out.push_back(results.GetTestPartResult(i));
  return out;
}

inline bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

inline int Count(const std::string& s, const std::string& part) {
  int n = 0;
  for (size_t at = s.find(part); at != std::string::npos;
       at = s.find(part, at + part.size()))
    n++;
  return n;
}

}  // namespace mproc_test

#endif  // MPROC_TESTS_TESTING_CAPTURE_H
