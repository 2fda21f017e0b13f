// LeakCheckListener: descriptors and children before and after each test.
#include "multiproc/testing/leaks.h"

#include <sstream>
#include <thread>

#include "core/testing/proc.h"

namespace mproc {
namespace testing {

ResourceSnapshot ResourceSnapshot::Take() {
  ResourceSnapshot s;
  s.fds = OpenFds();
  for (const auto& kv : Children()) {
    Child c;
    c.comm = kv.second.comm;
    c.zombie = kv.second.state == 'Z';
    s.children[kv.first] = c;
  }
  return s;
}

static bool Ignored(const std::string& target, const LeakCheckOptions& opts) {
  for (const std::string& p : opts.ignore_fd_prefixes)
    if (target.compare(0, p.size(), p) == 0) return true;
  return false;
}

std::string DescribeLeaks(const ResourceSnapshot& before,
                          const ResourceSnapshot& after,
                          const LeakCheckOptions& opts) {
  std::ostringstream o;
  if (opts.check_fds) {
    for (const auto& kv : after.fds) {
      auto was = before.fds.find(kv.first);
      if (was != before.fds.end() && was->second == kv.second) continue;
      if (Ignored(kv.second, opts)) continue;
      o << "fd " << kv.first << " -> " << kv.second << "\n";
    }
  }
  if (opts.check_children) {
    for (const auto& kv : after.children) {
      auto was = before.children.find(kv.first);
      // A child that was there, alive, and is now a zombie: the test
      // should have reaped it (or not touched it); count the zombie.
      if (was != before.children.end() &&
          (was->second.zombie || !kv.second.zombie))
        continue;
      o << "child " << kv.first << " ("
        << (kv.second.comm.empty() ? "?" : kv.second.comm) << "), "
        << (kv.second.zombie ? "zombie: never reaped" : "running") << "\n";
    }
  }
  return o.str();
}

LeakCheckListener::LeakCheckListener(LeakCheckOptions opts)
    : opts_(std::move(opts)) {}

void LeakCheckListener::OnTestStart(const ::testing::TestInfo&) {
  last_report_.clear();
  before_ = ResourceSnapshot::Take();
}

void LeakCheckListener::OnTestEnd(const ::testing::TestInfo& test) {
  auto until = std::chrono::steady_clock::now() + opts_.grace;
  std::string leaks;
  for (;;) {
    leaks = DescribeLeaks(before_, ResourceSnapshot::Take(), opts_);
    if (leaks.empty() || std::chrono::steady_clock::now() >= until) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  last_report_ = leaks;
  if (leaks.empty()) return;
  // Still this test's: gtest attributes failures to the current test until
  // every listener has had OnTestEnd, and calls ours before its printer's
  // (end events go to listeners in reverse order).
  std::string text = std::string("mproc::testing::LeakCheckListener: ") +
                     test.test_suite_name() + "." + test.name() +
                     " leaked:\n" + leaks;
  ::testing::internal::AssertHelper(::testing::TestPartResult::kNonFatalFailure,
                                    test.file(), test.line(), text.c_str()) =
      ::testing::Message();
}

LeakCheckListener* InstallLeakCheck(LeakCheckOptions opts) {
  auto* l = new LeakCheckListener(std::move(opts));
  ::testing::UnitTest::GetInstance()->listeners().Append(l);
  return l;
}

}  // namespace testing
}  // namespace mproc
