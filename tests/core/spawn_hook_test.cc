// A program without MPROC_TARGET: spawn works once it calls
// mproc_spawn_child_main itself, and is refused (MPROC_ENOSYS, saying
// why) when it does not — its main() never runs in a child.
#include <string>

#include <gtest/gtest.h>

#include "tests/support/fork_support.h"

namespace {

class SpawnHook : public mproc_test::Deadline {};

TEST_F(SpawnHook, ExplicitHookRunsTheRegisteredTarget) {
  int status = -1;
  std::string out = mproc_test::RunCapture(
      {mproc_test::Runfile("tests/core/spawn_hook_main")}, &status);
  EXPECT_EQ(0, status);
  EXPECT_EQ("result 42\n", out);
}

TEST_F(SpawnHook, WithoutTheHookSpawnIsRefused) {
  int status = -1;
  std::string out = mproc_test::RunCapture(
      {mproc_test::Runfile("tests/core/spawn_hook_main"), "nohook"}, &status);
  EXPECT_EQ(0, status);
  EXPECT_EQ(
      "start: MPROC_ENOSYS: mproc_process_start: the spawn start method needs a "
      "program that recognises its spawned children before main(): this one "
      "defines no MPROC_TARGET and never called mproc_spawn_child_main()\n",
      out);
}

}  // namespace
