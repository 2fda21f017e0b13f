// multiproc testing — failing the tests that leak children, zombies or
// descriptors.
//
// Part of "multiproc/testing.h" (include that). Opt in for a whole binary,
// in main or from any test file:
//
//     int main(int argc, char** argv) {
//       ::testing::InitGoogleTest(&argc, argv);
//       mproc::testing::InstallLeakCheck();
//       return RUN_ALL_TESTS();
//     }
//
// or, with gtest_main, from a static initializer in one of the test files:
//
//     static auto* const leak_check = mproc::testing::InstallLeakCheck();
//
// Before each test the listener notes this process's open descriptors
// (/proc/self/fd) and its children (/proc/self/task/*/children); after the
// test — after the fixture's destructor — it compares. A test fails, at
// its TEST line, when it leaves
//   - a descriptor it opened ("fd 7 -> pipe:[40321]", "fd 9 ->
//     anon_inode:[pidfd]"): a number not open before, or open on something
//     else now;
//   - a child it started that is still running ("child 4242 (sleep),
//     running") or a zombie nobody reaped ("child 4243 (seed_basic),
//     zombie: never reaped").
// Children and descriptors may take a moment to go (a pool's workers
// leaving after mproc_pool_free returned, a thread closing its end): the
// check retries for `grace` before it reports. What existed before the test
// (a suite-wide pool from SetUpTestSuite, gtest's own files) is never
// reported.
//
// The failure is added to the test itself, before gtest prints its result,
// so the test shows as FAILED and the summary lists it. Works with
// sharding, --gtest_repeat and filters (each test is compared with its own
// start). Children of a RunInChild or a Process child are theirs, not the
// test's: only this process's are checked.
#ifndef MPROC_TESTING_LEAKS_H
#define MPROC_TESTING_LEAKS_H

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace mproc {
namespace testing {

// This process's descriptors and children at one instant.
struct ResourceSnapshot {
  std::map<int, std::string> fds;  // fd -> /proc/self/fd link target
  struct Child {
    std::string comm;  // its /proc/<pid>/comm
    bool zombie = false;
  };
  std::map<pid_t, Child> children;

  static ResourceSnapshot Take();
};

struct LeakCheckOptions {
  // How long leaks may take to disappear before they are reported.
  std::chrono::milliseconds grace{2000};
  bool check_fds = true;
  bool check_children = true;
  // Descriptors whose link target starts with one of these are never
  // reported (e.g. "/tmp/my_log" for a log file a library opens lazily).
  std::vector<std::string> ignore_fd_prefixes;
};

// What `after` holds that `before` did not, one line per leak; "" when
// nothing leaked.
std::string DescribeLeaks(const ResourceSnapshot& before,
                          const ResourceSnapshot& after,
                          const LeakCheckOptions& opts = LeakCheckOptions());

// Snapshot at each test's start, then DescribeLeaks (with the grace
// retries) at its end; a leak is a non-fatal failure of that test.
class LeakCheckListener : public ::testing::EmptyTestEventListener {
 public:
  explicit LeakCheckListener(LeakCheckOptions opts = LeakCheckOptions());
  void OnTestStart(const ::testing::TestInfo& test) override;
  void OnTestEnd(const ::testing::TestInfo& test) override;

  // The leaks found at the latest test's end ("" if none).
  const std::string& last_report() const { return last_report_; }

 private:
  LeakCheckOptions opts_;
  ResourceSnapshot before_;
  std::string last_report_;
};

// Appends a LeakCheckListener to gtest's listeners (which own it from then
// on) and returns it. Call once per binary.
LeakCheckListener* InstallLeakCheck(LeakCheckOptions opts = LeakCheckOptions());

}  // namespace testing
}  // namespace mproc

#endif  // MPROC_TESTING_LEAKS_H
