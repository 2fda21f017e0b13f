// A GoogleTest suite in another workspace, against @multiproc//:multiproc
// and @multiproc//:gtest_main: a Process, a pool, an error, the version.
#include <gtest/gtest.h>

#include <string>

#include "multiproc.h"

#ifdef PB_ENABLE_MALLOC
#error "PB_ENABLE_MALLOC leaked from multiproc onto this compile line"
#endif

namespace {

int exit_with_arg(mproc_call_t* call) {
  int code;
  if (mproc_unpack(call, "code=i", &code) < 0) return -1;
  return code;
}

}  // namespace

MPROC_TARGET(consumer_double) {
  int64_t x;
  if (mproc_unpack(call, "x=L", &x) < 0) return -1;
  if (x < 0) return mproc_call_fail(call, "negative: %lld", (long long)x);
  return mproc_call_return(call, "L", 2 * x);
}

TEST(Consumer, ProcessExitCode) {
  mproc_value_t* args;
  ASSERT_EQ(0, mproc_pack(&args, "(i)", 7));
  mproc_process_opts_t opts = {};
  opts.target = exit_with_arg;
  opts.args = args;
  mproc_process_t* p;
  ASSERT_EQ(0, mproc_process_new(&p, &opts));
  mproc_value_free(args);
  ASSERT_EQ(0, mproc_process_start(p));
  ASSERT_EQ(0, mproc_process_join(p, 10));
  int code = -1;
  ASSERT_EQ(1, mproc_process_exitcode(p, &code));
  EXPECT_EQ(7, code);
  EXPECT_EQ(0, mproc_process_close(p));
}

TEST(Consumer, PoolMapAndFailure) {
  mproc_pool_opts_t opts = {};
  opts.workers = 2;
  mproc_pool_t* pool;
  ASSERT_EQ(0, mproc_pool_new(&pool, &opts));
  mproc_value_t *items, *results = nullptr;
  ASSERT_EQ(0, mproc_pack(&items, "[iii]", 1, 2, 3));
  mproc_task_error_t err;
  ASSERT_EQ(0, mproc_pool_map(pool, "consumer_double", items, 0, &results,
                              &err));
  char text[64];
  ASSERT_GT(mproc_repr(results, text, sizeof text), 0);
  EXPECT_EQ("[2, 4, 6]", std::string(text));
  mproc_value_free(items);
  mproc_value_free(results);

  mproc_value_t* args;
  ASSERT_EQ(0, mproc_pack(&args, "(i)", -5));
  mproc_value_t* result = nullptr;
  EXPECT_EQ(MPROC_EFAILED, mproc_pool_apply(pool, "consumer_double", args,
                                            nullptr, &result, &err));
  EXPECT_EQ(MPROC_EFAILED, err.code);
  EXPECT_EQ("negative: -5", std::string(err.message));
  mproc_value_free(args);

  EXPECT_EQ(0, mproc_pool_close(pool));
  EXPECT_EQ(0, mproc_pool_join(pool, 30));
  mproc_pool_free(pool);
}

TEST(Consumer, Version) {
  EXPECT_EQ(std::to_string(MPROC_VERSION_MAJOR) + "." +
                std::to_string(MPROC_VERSION_MINOR) + "." +
                std::to_string(MPROC_VERSION_PATCH),
            std::string(mproc_version()));
}
