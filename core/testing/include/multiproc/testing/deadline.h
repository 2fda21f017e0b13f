// multiproc testing — a deadline for every test of a fixture: a hang is a
// failure, reported by name, never a wait for Bazel's timeout.
//
// Part of "multiproc/testing.h" (include that).
//
//     class PoolTest : public mproc::testing::DeadlineTest {
//      protected:
//       PoolTest() : DeadlineTest(std::chrono::seconds(20)) {}
//     };
//     TEST_F(PoolTest, MapFinishes) { ... }
//
//     TEST_F(PoolTest, Long) {
//       SetDeadline(std::chrono::minutes(2));   // this test needs more
//       ...
//     }
//
// The clock starts when the fixture is constructed and stops when it is
// destroyed, so the fixture's constructor, SetUp, the body, TearDown and
// the destructor are all covered. A watchdog thread (one per test, idle
// until the deadline) does the watching, so the deadline holds whatever the
// test does with signals: it may block SIGALRM, install handlers, sleep in
// a syscall that ignores EINTR, or deadlock. When the deadline passes, the
// watchdog writes to stderr
//
//     [ DEADLINE ] Suite.Name did not finish within 20 s: aborting the test
//     binary. Its children: 4242 (sleep) 4243 (seed_basic, zombie)
//
// kills the binary's children (SIGKILL: they must not outlive it and hold
// Bazel's pipes), and calls abort(): the binary ends with SIGABRT, and
// Bazel reports the target failed, the message in its log. No later test
// of the binary runs: a binary whose test hung is in an unknown state.
//
// The default deadline is 60 s, scaled by the environment variable
// MPROC_TEST_DEADLINE_SCALE when set (e.g. 3 for sanitizer runs).
// Children forked by the test (RunInChild, Process, pools) have no
// watchdog — the thread is not copied into them — and leave through their
// own paths; RunInChild has its own timeout.
#ifndef MPROC_TESTING_DEADLINE_H
#define MPROC_TESTING_DEADLINE_H

#include <chrono>
#include <memory>

#include <gtest/gtest.h>

namespace mproc {
namespace testing {

class DeadlineTest : public ::testing::Test {
 protected:
  explicit DeadlineTest(
      std::chrono::duration<double> deadline = std::chrono::seconds(60));
  ~DeadlineTest() override;

  // Restarts the clock: the test now has `deadline` from this moment
  // (scaled as the constructor's). May be called any number of times.
  void SetDeadline(std::chrono::duration<double> deadline);

  // The deadline currently running (scaled).
  std::chrono::duration<double> deadline() const;

 public:
  class Watchdog;  // deadline.cc

 private:
  std::unique_ptr<Watchdog> watchdog_;
};

// MPROC_TEST_DEADLINE_SCALE from the environment (1 when unset or not a
// positive number).
double DeadlineScale();

}  // namespace testing
}  // namespace mproc

#endif  // MPROC_TESTING_DEADLINE_H
