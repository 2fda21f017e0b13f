// Helpers for the pool tests: owning handles for values, pools, futures and
// iterators, and shorthand for building and reading values. Header-only, so
// that each test binary keeps its own MPROC_TARGETs (constructors in a
// library's object files could be dropped by the linker).
#ifndef MPROC_TESTS_WORKERS_POOL_UTIL_H
#define MPROC_TESTS_WORKERS_POOL_UTIL_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "multiproc.h"

namespace pool_test {

struct ValueFree {
  void operator()(mproc_value_t* v) const { mproc_value_free(v); }
};
using Value = std::unique_ptr<mproc_value_t, ValueFree>;

struct PoolFree {
  void operator()(mproc_pool_t* p) const { mproc_pool_free(p); }
};
using PoolPtr = std::unique_ptr<mproc_pool_t, PoolFree>;

struct FutureFree {
  void operator()(mproc_future_t* f) const { mproc_future_free(f); }
};
using Future = std::unique_ptr<mproc_future_t, FutureFree>;

struct IterFree {
  void operator()(mproc_iter_t* it) const { mproc_iter_free(it); }
};
using Iter = std::unique_ptr<mproc_iter_t, IterFree>;

inline void SleepS(double s) {
  struct timespec ts = {static_cast<time_t>(s),
                        static_cast<long>((s - floor(s)) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

// mproc_pack, failing the test on error.
inline Value Pack(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mproc_value_t* v = nullptr;
  int rc = mproc_vpack(&v, fmt, ap);
  va_end(ap);
  EXPECT_EQ(0, rc) << "mproc_pack(\"" << fmt << "\")";
  return Value(v);
}

// [first, first + 1, ..., first + n - 1] as a list of ints.
inline Value Range(int64_t n, int64_t first = 0) {
  mproc_value_t* list = nullptr;
  EXPECT_EQ(0, mproc_value_list(&list));
  for (int64_t i = 0; i < n; i++) {
    mproc_value_t* x = nullptr;
    EXPECT_EQ(0, mproc_value_int(&x, first + i));
    EXPECT_EQ(0, mproc_list_append(list, x));
  }
  return Value(list);
}

inline int64_t AsInt(const mproc_value_t* v) {
  int64_t x = INT64_MIN;
  EXPECT_EQ(0, mproc_value_get_int(v, &x)) << "not an int";
  return x;
}

inline std::string AsStr(const mproc_value_t* v) {
  const char* s = nullptr;
  size_t n = 0;
  EXPECT_EQ(0, mproc_value_get_str(v, &s, &n)) << "not a str";
  return s ? std::string(s, n) : std::string();
}

inline const mproc_value_t* Item(const mproc_value_t* seq, size_t i) {
  const mproc_value_t* v = nullptr;
  EXPECT_EQ(0, mproc_list_get(seq, i, &v)) << "no item " << i;
  return v;
}

inline std::string Repr(const mproc_value_t* v) {
  char buf[512];
  int n = mproc_repr(v, buf, sizeof buf);
  return n < 0 ? std::string("<repr failed>") : std::string(buf);
}

inline PoolPtr NewPool(const mproc_pool_opts_t& opts) {
  mproc_pool_t* p = nullptr;
  EXPECT_EQ(0, mproc_pool_new(&p, &opts));
  return PoolPtr(p);
}

inline PoolPtr NewPool(unsigned workers) {
  mproc_pool_opts_t opts = {};
  opts.workers = workers;
  return NewPool(opts);
}

inline Future Submit(mproc_pool_t* pool, const char* target,
                     const mproc_value_t* args,
                     const mproc_value_t* kwargs = nullptr) {
  mproc_future_t* f = nullptr;
  int rc = mproc_pool_submit(pool, target, args, kwargs, &f);
  EXPECT_EQ(0, rc) << "submit " << target << ": " << mproc_err_name(rc);
  return Future(f);
}

inline mproc_task_error_t ErrorOf(mproc_future_t* f) {
  mproc_task_error_t e;
  memset(&e, 0x5a, sizeof e);
  mproc_future_error(f, &e);
  return e;
}

inline mproc_task_timing_t TimingOf(mproc_future_t* f) {
  mproc_task_timing_t t;
  memset(&t, 0, sizeof t);
  EXPECT_EQ(0, mproc_future_timing(f, &t));
  return t;
}

// The int result of a finished future (INT64_MIN, and a test failure, when
// it failed).
inline int64_t IntResult(mproc_future_t* f) {
  const mproc_value_t* r = nullptr;
  int rc = mproc_future_result(f, &r);
  if (rc != 0) {
    ADD_FAILURE() << "task failed: " << mproc_err_name(rc) << ": "
                  << ErrorOf(f).message;
    return INT64_MIN;
  }
  return AsInt(r);
}

inline std::vector<mproc_worker_stats_t> Stats(mproc_pool_t* pool) {
  std::vector<mproc_worker_stats_t> s(mproc_pool_size(pool));
  size_t n = 0;
  EXPECT_EQ(0, mproc_pool_stats(pool, s.data(), s.size(), &n));
  EXPECT_EQ(s.size(), n);
  return s;
}

}  // namespace pool_test

#endif  // MPROC_TESTS_WORKERS_POOL_UTIL_H
