// Runs a pool test binary with a start method other than fork: a global
// test environment sets it (mproc_set_start_method) before the first test,
// from MPROC_TEST_START_METHOD ("forkserver" or "spawn"), and every test
// that leaves the pool's start_method at 0 (the global one) uses it.
#include <stdlib.h>
#include <string.h>

#include <gtest/gtest.h>

#include "multiproc.h"

namespace {

class StartMethodEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* m = getenv("MPROC_TEST_START_METHOD");
    ASSERT_NE(nullptr, m) << "set MPROC_TEST_START_METHOD";
    mproc_start_method_t method = strcmp(m, "spawn") == 0
                                      ? MPROC_START_SPAWN
                                      : MPROC_START_FORKSERVER;
    ASSERT_EQ(0, strcmp(m, "spawn") == 0 || strcmp(m, "forkserver") == 0
                     ? 0
                     : 1)
        << m;
    ASSERT_EQ(0, mproc_set_start_method(method));
  }
};

const ::testing::Environment* const kEnv =
    ::testing::AddGlobalTestEnvironment(new StartMethodEnv);

}  // namespace
