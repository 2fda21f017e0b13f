// A GoogleTest suite in another workspace using @multiproc//core/testing
// (multiproc/testing.h): a child's gtest assertions count here, its output
// is captured, codes are asserted by name, handles free themselves.
#include <signal.h>
#include <stdio.h>

#include <chrono>
#include <vector>

#include "multiproc.h"
#include "multiproc/testing.h"

namespace {

using namespace std::chrono_literals;
namespace mt = mproc::testing;

MPROC_TARGET(consumer_square) {
  int x = 0;
  int rc = mt::Unpack(call, &x);  // the format comes from x's type
  if (rc < 0) return rc;
  return mt::SetResult(call, x * x);
}

class ConsumerTesting : public mt::DeadlineTest {
 protected:
  ConsumerTesting() : DeadlineTest(30s) {}
};

TEST_F(ConsumerTesting, ChildOutputAndAssertions) {
  mt::ChildResult r = mt::RunInChild([] {
    printf("from the child\n");
    EXPECT_EQ(6 * 7, 42);  // a failure here would fail this test
    return 3;
  }, 10s);
  EXPECT_THAT(r, mt::ExitedWith(3));
  EXPECT_EQ(r.std_out, "from the child\n");
  EXPECT_TRUE(r.failures.empty());
  EXPECT_THAT(mt::RunInChild([] { raise(SIGKILL); }, 10s),
              mt::KilledBySignal(SIGKILL));
}

TEST_F(ConsumerTesting, PoolWithHandles) {
  mproc_pool_opts_t opts = {};
  opts.workers = 2;
  mt::PoolPtr pool;
  ASSERT_MPROC_OK(mproc_pool_new(mt::Out(pool), &opts));
  mt::ValuePtr results;
  mproc_task_error_t err = {};
  ASSERT_MPROC_OK(mproc_pool_map(pool.get(), "consumer_square",
                                 mt::List(1, 2, 3).get(), 0,
                                 mt::Out(results), &err))
      << err.message;
  EXPECT_THAT(results, mt::EqualsValue(std::vector<int>{1, 4, 9}));
  EXPECT_MPROC_ERR(MPROC_ENOTARGET,
                   mproc_pool_apply(pool.get(), "no_such_target",
                                    mt::Args().get(), nullptr,
                                    mt::Out(results), &err));
}

}  // namespace
