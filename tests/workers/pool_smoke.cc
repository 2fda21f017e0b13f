#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>
#include "workers/pool.h"
#include "tests/support/fork_support.h"

MPROC_TARGET(square) {
  int64_t x;
  if (mproc_unpack(call, "x=L", &x) < 0) return -1;
  return mproc_call_return(call, "L", x * x);
}

MPROC_TARGET(suicide) {
  (void)call;
  raise(SIGKILL);
  return 0;
}

class Smoke : public mproc_test::Deadline {};

TEST_F(Smoke, ApplyMapCrash) {
  mproc_pool_opts_t o = {};
  o.workers = 2;
  mproc_pool_t *pool;
  ASSERT_EQ(0, mproc_pool_new(&pool, &o));
  mproc_value_t *args, *res;
  mproc_pack(&args, "(i)", 7);
  mproc_task_error_t err;
  ASSERT_EQ(0, mproc_pool_apply(pool, "square", args, nullptr, &res, &err)) << err.message;
  int64_t v;
  mproc_value_get_int(res, &v);
  EXPECT_EQ(49, v);
  mproc_value_free(res);
  EXPECT_EQ(MPROC_EWORKER, mproc_pool_apply(pool, "suicide", nullptr, nullptr, &res, &err));
  printf("err: %s\n", err.message);
  ASSERT_EQ(0, mproc_pool_apply(pool, "square", args, nullptr, &res, &err)) << err.message;
  mproc_value_free(res);
  mproc_value_free(args);
  mproc_value_t *items;
  mproc_value_list(&items);
  for (int i = 0; i < 1000; i++) { mproc_value_t *x; mproc_value_int(&x, i); mproc_list_append(items, x); }
  mproc_value_t *out;
  ASSERT_EQ(0, mproc_pool_map(pool, "square", items, 0, &out, &err)) << err.message;
  ASSERT_EQ(1000u, mproc_value_len(out));
  const mproc_value_t *e; mproc_list_get(out, 999, &e); mproc_value_get_int(e, &v); EXPECT_EQ(999*999, v);
  mproc_value_free(out); mproc_value_free(items);
  ASSERT_EQ(0, mproc_pool_close(pool));
  ASSERT_EQ(0, mproc_pool_join(pool, 10));
  mproc_pool_free(pool);
}
