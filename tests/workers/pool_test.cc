// Pool API: apply, submit and futures, map/starmap, imap and
// imap_unordered (items and producers, windows), task failures, misuse,
// statistics, initializers, threads, process names.
//
// Workers are forked (through the fork server) from a copy of this program
// taken at mproc_pool_new: globals the parent changes later are not seen by
// the workers, so every target takes what it needs from its args.
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "multiproc.h"
#include "tests/support/fork_support.h"
#include "tests/workers/pool_util.h"

namespace {

using mproc_test::Now;
using namespace pool_test;

// ---- Targets (square, my_pid, sleep_then_pid, instant and kill_self are
// shared: tests/workers/targets.cc).

// x * x after a pause of 0..0.8 ms that depends on x, so that tasks finish
// out of input order.
MPROC_TARGET(jitter_square) {
  int64_t x;
  if (mproc_unpack(call, "L", &x) < 0) return -1;
  SleepS(((x * 7919) % 5) * 0.0002);
  return mproc_call_return(call, "L", x * x);
}

MPROC_TARGET(no_result) {
  (void)call;
  return 0;
}

MPROC_TARGET(add) {
  int64_t a, b;
  if (mproc_unpack(call, "a=L b=L", &a, &b) < 0) return -1;
  return mproc_call_return(call, "L", a + b);
}

// Sets 42 twice as the very same value, then offers an item of a list:
// the call keeps 42, refuses the item (not its to take) and leaves it be.
MPROC_TARGET(result_set_twice) {
  mproc_value_t *v = nullptr, *list = nullptr;
  if (mproc_value_int(&v, 42) < 0) return -1;
  if (mproc_call_set_result(call, v) < 0) return -1;
  if (mproc_call_set_result(call, v) < 0) return -1;
  if (mproc_pack(&list, "[i]", 7) < 0) return -1;
  const mproc_value_t *item = nullptr;
  int rc = mproc_list_get(list, 0, &item);
  if (rc == 0)
    rc = mproc_call_set_result(call, const_cast<mproc_value_t *>(item));
  bool kept = mproc_value_len(list) == 1;
  mproc_value_free(list);
  return rc == MPROC_EOWNED && kept ? 0 : -1;
}

// Item 0 takes half a second; the others return at once.
MPROC_TARGET(slow_zero) {
  int64_t x;
  if (mproc_unpack(call, "L", &x) < 0) return -1;
  if (x == 0) SleepS(0.5);
  return mproc_call_return(call, "L", x * x);
}

MPROC_TARGET(fail_with) {
  const char* what;
  if (mproc_unpack(call, "s", &what) < 0) return -1;
  return mproc_call_fail(call, "failed: %s", what);
}

MPROC_TARGET(return_code) {
  int code;
  if (mproc_unpack(call, "i", &code) < 0) return -1;
  return code;
}

// Items 37, 60 and 81 fail ("bad item N"); 37 only after 150 ms, so that
// the later failures are the first to complete.
MPROC_TARGET(fail_some) {
  int64_t x;
  if (mproc_unpack(call, "L", &x) < 0) return -1;
  if (x == 37) SleepS(0.15);
  if (x == 37 || x == 60 || x == 81)
    return mproc_call_fail(call, "bad item %lld", (long long)x);
  return mproc_call_return(call, "L", x * x);
}

MPROC_TARGET(process_name) {
  return mproc_call_return(call, "s", mproc_current_process_name());
}

MPROC_TARGET(big_bytes) {
  size_t n;
  if (mproc_unpack(call, "z", &n) < 0) return -1;
  std::string s(n, 'b');
  return mproc_call_return(call, "y#", s.data(), s.size());
}

// Set by the initializer, in the workers only.
int64_t g_init_value = 0;
int g_init_runs = 0;

int InitSet(mproc_call_t* call) {
  int64_t v;
  if (mproc_unpack(call, "L", &v) < 0) return -1;
  g_init_value = v;
  g_init_runs++;
  return 0;
}

int InitFail(mproc_call_t* call) {
  return mproc_call_fail(call, "no database at %s", "db:5432");
}

MPROC_TARGET(read_init) {
  return mproc_call_return(call, "(Lii)", g_init_value, g_init_runs,
                           (int)getpid());
}

// Changed by the parent before and after creating a pool.
int g_snapshot = 0;

MPROC_TARGET(read_snapshot) { return mproc_call_return(call, "i", g_snapshot); }

// (SIGUSR1 blocked?, SIGUSR2's handler is SIG_DFL?, SIGINT ignored?)
MPROC_TARGET(signal_state) {
  sigset_t mask;
  pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  struct sigaction usr2, intr;
  sigaction(SIGUSR2, nullptr, &usr2);
  sigaction(SIGINT, nullptr, &intr);
  return mproc_call_return(call, "(bbb)", sigismember(&mask, SIGUSR1) == 1,
                           usr2.sa_handler == SIG_DFL,
                           intr.sa_handler == SIG_IGN);
}

MPROC_TARGET(nested_result) {
  return mproc_call_return(call, "{s:[ids#y#]s:ns:(b)}", "a", 1, 2.5, "x\0y",
                           static_cast<size_t>(3), "\x00\xff",
                           static_cast<size_t>(2), "n", "t", true);
}

int RegisteredLate(mproc_call_t*) { return 0; }

uint64_t Fnv(const void* p, size_t n) {
  const unsigned char* b = static_cast<const unsigned char*>(p);
  uint64_t h = 1469598103934665603u;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211u;
  return h;
}

std::string Pattern(size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i++)
    s[i] = static_cast<char>(((i + seed) * 2654435761u) >> 13);
  return s;
}

// (checksum of the bytes given, the same bytes reversed).
MPROC_TARGET(checksum_and_reverse) {
  const void* p;
  size_t n;
  if (mproc_unpack(call, "y#", &p, &n) < 0) return -1;
  std::string r(static_cast<const char*>(p), n);
  std::reverse(r.begin(), r.end());
  return mproc_call_return(call, "(Ly#)", static_cast<int64_t>(Fnv(p, n)),
                           r.data(), r.size());
}

class Pool : public mproc_test::Deadline {
 protected:
  Pool() : Deadline(90) {}
};

// ---- apply.

TEST_F(Pool, ApplyReturnsTheTargetsResult) {
  PoolPtr pool = NewPool(2);
  ASSERT_TRUE(pool);
  Value args = Pack("(i)", 7);
  mproc_value_t* res = nullptr;
  mproc_task_error_t err;
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "square", args.get(), nullptr,
                                &res, &err))
      << err.message;
  Value owned(res);
  EXPECT_EQ(49, AsInt(res));
  EXPECT_EQ(0, err.code);
}

TEST_F(Pool, ApplyPassesKwargsAndAcceptsAListOfArgs) {
  PoolPtr pool = NewPool(1);
  Value args = Pack("[i]", 40);
  Value kwargs = Pack("{s:i}", "b", 2);
  mproc_value_t* res = nullptr;
  mproc_task_error_t err;
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "add", args.get(), kwargs.get(),
                                &res, &err))
      << err.message;
  Value owned(res);
  EXPECT_EQ(42, AsInt(res));
}

TEST_F(Pool, ApplyGivesNoneWhenTheTargetSetsNoResult) {
  PoolPtr pool = NewPool(1);
  mproc_value_t* res = nullptr;
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "no_result", nullptr, nullptr,
                                &res, nullptr));
  Value owned(res);
  ASSERT_NE(nullptr, res);
  EXPECT_EQ(MPROC_NONE, mproc_value_kind(res));

  // The same through a future.
  Future f = Submit(pool.get(), "no_result", nullptr);
  ASSERT_EQ(0, mproc_future_wait(f.get(), -1));
  const mproc_value_t* r = nullptr;
  ASSERT_EQ(0, mproc_future_result(f.get(), &r));
  ASSERT_NE(nullptr, r);
  EXPECT_EQ(MPROC_NONE, mproc_value_kind(r));
}

TEST_F(Pool, SettingTheSameResultTwiceKeepsIt) {
  PoolPtr pool = NewPool(1);
  mproc_value_t* res = nullptr;
  mproc_task_error_t err;
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "result_set_twice", nullptr,
                                nullptr, &res, &err))
      << err.message;
  Value owned(res);
  EXPECT_EQ(42, AsInt(res));
}

// value.h's rule: set_result takes its value even when it fails (the ASan
// run sees a leak otherwise).
TEST(CallResult, SetResultTakesTheValueEvenWhenItFails) {
  mproc_value_t* v = nullptr;
  ASSERT_EQ(0, mproc_value_str(&v, "taken"));
  EXPECT_EQ(MPROC_EINVAL, mproc_call_set_result(nullptr, v));
}

TEST_F(Pool, SizeIsTheWorkerCountOrTheCpusAvailable) {
  PoolPtr three = NewPool(3);
  EXPECT_EQ(3u, mproc_pool_size(three.get()));
  cpu_set_t set;
  ASSERT_EQ(0, sched_getaffinity(0, sizeof set, &set));
  PoolPtr dflt = NewPool(0);
  EXPECT_EQ(static_cast<unsigned>(CPU_COUNT(&set)),
            mproc_pool_size(dflt.get()));
}

TEST_F(Pool, NewRejectsBadOptions) {
  mproc_pool_t* p = reinterpret_cast<mproc_pool_t*>(1);
  mproc_pool_opts_t o = {};
  o.task_timeout_s = -1;
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_new(&p, &o));
  EXPECT_EQ(nullptr, p);
  o = {};
  o.kill_grace_s = -0.5;
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_new(&p, &o));
  o = {};
  Value not_a_tuple = Pack("i", 3);
  o.initargs = not_a_tuple.get();
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_new(&p, &o));
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_new(nullptr, nullptr));
}

// ---- Futures.

TEST_F(Pool, FutureWaitTimesOutOnASleepingTaskThenReportsItsResult) {
  PoolPtr pool = NewPool(1);
  Value args = Pack("(d)", 0.4);
  Future f = Submit(pool.get(), "sleep_then_pid", args.get());
  ASSERT_TRUE(f);

  double t0 = Now();
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_future_wait(f.get(), 0.05));
  double waited = Now() - t0;
  EXPECT_GE(waited, 0.045);
  EXPECT_LT(waited, 0.35);
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_future_wait(f.get(), 0));
  // Still running: nothing to report yet.
  EXPECT_EQ(0, mproc_future_ready(f.get()));
  EXPECT_EQ(MPROC_ESTATE, mproc_future_successful(f.get()));
  const mproc_value_t* r = reinterpret_cast<const mproc_value_t*>(1);
  EXPECT_EQ(MPROC_ESTATE, mproc_future_result(f.get(), &r));
  EXPECT_EQ(nullptr, r);
  mproc_task_error_t err;
  EXPECT_EQ(MPROC_ESTATE, mproc_future_error(f.get(), &err));

  ASSERT_EQ(0, mproc_future_wait(f.get(), -1));
  EXPECT_EQ(1, mproc_future_ready(f.get()));
  EXPECT_EQ(1, mproc_future_successful(f.get()));
  ASSERT_EQ(0, mproc_future_result(f.get(), &r));
  EXPECT_GT(AsInt(r), 0);
  EXPECT_EQ(0, mproc_future_error(f.get(), &err));
  EXPECT_EQ(0, err.code);
  EXPECT_EQ(0, err.exit_code);
  EXPECT_EQ(0, err.signal);
  EXPECT_STREQ("", err.message);
  // Waiting on a finished task returns at once.
  EXPECT_EQ(0, mproc_future_wait(f.get(), 0));
}

TEST_F(Pool, FutureTimingIsOrderedAndPlausible) {
  PoolPtr pool = NewPool(2);
  Value args = Pack("(d)", 0.1);
  Future f = Submit(pool.get(), "sleep_then_pid", args.get());
  ASSERT_EQ(0, mproc_future_wait(f.get(), -1));
  pid_t pid = static_cast<pid_t>(IntResult(f.get()));
  mproc_task_timing_t t = TimingOf(f.get());
  EXPECT_GT(t.submitted_ns, 0u);
  EXPECT_LE(t.submitted_ns, t.dispatched_ns);
  EXPECT_LE(t.dispatched_ns, t.started_ns);
  EXPECT_LE(t.started_ns, t.finished_ns);
  EXPECT_LE(t.finished_ns, t.completed_ns);
  // Clocks agree with this process's CLOCK_MONOTONIC.
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  uint64_t now_ns = now.tv_sec * 1000000000ull + now.tv_nsec;
  EXPECT_LE(t.completed_ns, now_ns);
  EXPECT_LT(now_ns - t.submitted_ns, 10000000000ull);
  // run_s and queue_s are the differences they claim to be.
  EXPECT_GE(t.run_s, 0.095);
  EXPECT_LT(t.run_s, 5);
  EXPECT_NEAR(t.run_s, (t.finished_ns - t.started_ns) / 1e9, 1e-6);
  EXPECT_NEAR(t.queue_s, (t.started_ns - t.submitted_ns) / 1e9, 1e-6);
  EXPECT_GE(t.worker, 0);
  EXPECT_LT(t.worker, 2);
  EXPECT_EQ(pid, t.pid);
  EXPECT_NE(getpid(), t.pid);
  // The slot named is the one whose worker ran it.
  std::vector<mproc_worker_stats_t> s = Stats(pool.get());
  EXPECT_EQ(pid, s[t.worker].pid);
}

TEST_F(Pool, FutureOfAFailedTaskReportsItsError) {
  PoolPtr pool = NewPool(1);
  Value args = Pack("(s)", "boom");
  Future f = Submit(pool.get(), "fail_with", args.get());
  ASSERT_EQ(0, mproc_future_wait(f.get(), -1));
  EXPECT_EQ(1, mproc_future_ready(f.get()));
  EXPECT_EQ(0, mproc_future_successful(f.get()));
  const mproc_value_t* r = reinterpret_cast<const mproc_value_t*>(1);
  EXPECT_EQ(MPROC_EFAILED, mproc_future_result(f.get(), &r));
  EXPECT_EQ(nullptr, r);
  mproc_task_error_t err = ErrorOf(f.get());
  EXPECT_EQ(MPROC_EFAILED, err.code);
  EXPECT_EQ(1, err.exit_code);
  EXPECT_EQ(0, err.signal);
  EXPECT_STREQ("failed: boom", err.message);
  EXPECT_EQ(MPROC_EFAILED, mproc_future_error(f.get(), &err));
}

// ---- Target failures.

TEST_F(Pool, CallFailFailsTheTaskAndTheWorkerKeepsServing) {
  PoolPtr pool = NewPool(1);
  mproc_value_t* res = nullptr;
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "my_pid", nullptr, nullptr, &res,
                                nullptr));
  int64_t pid = AsInt(res);
  mproc_value_free(res);

  Value args = Pack("(s)", "disk full");
  mproc_task_error_t err;
  EXPECT_EQ(MPROC_EFAILED, mproc_pool_apply(pool.get(), "fail_with",
                                            args.get(), nullptr, &res, &err));
  EXPECT_EQ(nullptr, res);
  EXPECT_EQ(MPROC_EFAILED, err.code);
  EXPECT_EQ(1, err.exit_code);
  EXPECT_EQ(0, err.signal);
  EXPECT_STREQ("failed: disk full", err.message);

  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "my_pid", nullptr, nullptr, &res,
                                nullptr));
  EXPECT_EQ(pid, AsInt(res));  // the same worker answered
  mproc_value_free(res);
  std::vector<mproc_worker_stats_t> s = Stats(pool.get());
  EXPECT_EQ(0u, s[0].restarts);
  EXPECT_EQ(0u, s[0].crashes);
}

TEST_F(Pool, NonZeroReturnFailsTheTaskWithItsExitCode) {
  PoolPtr pool = NewPool(1);
  mproc_value_t* res = nullptr;
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "my_pid", nullptr, nullptr, &res,
                                nullptr));
  int64_t pid = AsInt(res);
  mproc_value_free(res);

  struct Case {
    int ret, code, exit_code;
    const char* message;
  } cases[] = {
      {42, MPROC_EFAILED, 42, "target returned 42"},
      {255, MPROC_EFAILED, 255, "target returned 255"},
      {MPROC_EINVAL, MPROC_EFAILED, 1,
       "target returned MPROC_EINVAL (invalid argument)"},
      {256, MPROC_EFAILED, 1, "target returned 256, outside 0..255"},
  };
  for (const Case& c : cases) {
    Value args = Pack("(i)", c.ret);
    mproc_task_error_t err;
    EXPECT_EQ(c.code, mproc_pool_apply(pool.get(), "return_code", args.get(),
                                       nullptr, &res, &err))
        << c.ret;
    EXPECT_EQ(c.code, err.code) << c.ret;
    EXPECT_EQ(c.exit_code, err.exit_code) << c.ret;
    EXPECT_EQ(0, err.signal) << c.ret;
    EXPECT_STREQ(c.message, err.message) << c.ret;
  }
  // Returning 0 is success.
  Value zero = Pack("(i)", 0);
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "return_code", zero.get(), nullptr,
                                &res, nullptr));
  mproc_value_free(res);
  // A bad call (missing argument) fails with unpack's message.
  mproc_task_error_t err;
  EXPECT_EQ(MPROC_EFAILED, mproc_pool_apply(pool.get(), "return_code",
                                            nullptr, nullptr, &res, &err));
  EXPECT_NE(nullptr, strstr(err.message, "return_code()")) << err.message;

  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "my_pid", nullptr, nullptr, &res,
                                nullptr));
  EXPECT_EQ(pid, AsInt(res));
  mproc_value_free(res);
}

// ---- map and starmap.

class PoolMap : public mproc_test::Deadline,
                public ::testing::WithParamInterface<size_t> {
 protected:
  PoolMap() : Deadline(90) {}
};

TEST_P(PoolMap, ResultsComeInInputOrder) {
  PoolPtr pool = NewPool(2);
  const int n = 300;
  Value items = Range(n);
  mproc_value_t* out = nullptr;
  mproc_task_error_t err;
  ASSERT_EQ(0, mproc_pool_map(pool.get(), "jitter_square", items.get(),
                              GetParam(), &out, &err))
      << err.message;
  Value results(out);
  ASSERT_EQ(MPROC_LIST, mproc_value_kind(out));
  ASSERT_EQ(static_cast<size_t>(n), mproc_value_len(out));
  for (int i = 0; i < n; i++) ASSERT_EQ(i * i, AsInt(Item(out, i))) << i;
  EXPECT_EQ(0, err.code);
}

TEST_P(PoolMap, EmptyInputGivesAnEmptyList) {
  PoolPtr pool = NewPool(2);
  Value empty_list = Range(0);
  Value empty_tuple = Pack("()");
  for (const mproc_value_t* items : {empty_list.get(), empty_tuple.get()}) {
    mproc_value_t* out = nullptr;
    ASSERT_EQ(0, mproc_pool_map(pool.get(), "square", items, GetParam(), &out,
                                nullptr));
    Value results(out);
    ASSERT_EQ(MPROC_LIST, mproc_value_kind(out));
    EXPECT_EQ(0u, mproc_value_len(out));
    ASSERT_EQ(0, mproc_pool_starmap(pool.get(), "add", items, GetParam(), &out,
                                    nullptr));
    Value results2(out);
    EXPECT_EQ(0u, mproc_value_len(out));
  }
}

TEST_P(PoolMap, StarmapUnpacksEachItemAsArguments) {
  PoolPtr pool = NewPool(2);
  mproc_value_t* items;
  ASSERT_EQ(0, mproc_value_list(&items));
  Value owned(items);
  const int n = 100;
  for (int i = 0; i < n; i++) {
    // Tuples and lists both work as argument lists.
    Value pair = i % 2 ? Pack("(ii)", i, 1000 * i) : Pack("[ii]", i, 1000 * i);
    ASSERT_EQ(0, mproc_list_append(items, pair.release()));
  }
  mproc_value_t* out = nullptr;
  mproc_task_error_t err;
  ASSERT_EQ(0, mproc_pool_starmap(pool.get(), "add", items, GetParam(), &out,
                                  &err))
      << err.message;
  Value results(out);
  ASSERT_EQ(static_cast<size_t>(n), mproc_value_len(out));
  for (int i = 0; i < n; i++) EXPECT_EQ(1001 * i, AsInt(Item(out, i))) << i;
}

TEST_P(PoolMap, FailingItemsReportTheFirstFailureInInputOrder) {
  PoolPtr pool = NewPool(2);
  Value items = Range(100);
  mproc_value_t* out = reinterpret_cast<mproc_value_t*>(1);
  mproc_task_error_t err;
  EXPECT_EQ(MPROC_EFAILED, mproc_pool_map(pool.get(), "fail_some", items.get(),
                                          GetParam(), &out, &err));
  EXPECT_EQ(nullptr, out);
  EXPECT_EQ(MPROC_EFAILED, err.code);
  EXPECT_EQ(1, err.exit_code);
  EXPECT_STREQ("bad item 37", err.message);
  // The pool is still fine.
  ASSERT_EQ(0, mproc_pool_map(pool.get(), "square", items.get(), GetParam(),
                              &out, &err))
      << err.message;
  Value results(out);
  EXPECT_EQ(99 * 99, AsInt(Item(out, 99)));
}

std::string ChunkName(const ::testing::TestParamInfo<size_t>& info) {
  return info.param ? "Chunksize" + std::to_string(info.param) : "AutoChunks";
}

INSTANTIATE_TEST_SUITE_P(Chunks, PoolMap, ::testing::Values(1, 7, 0),
                         ChunkName);

TEST_F(Pool, StarmapItemThatIsNotATupleFailsThatItem) {
  PoolPtr pool = NewPool(1);
  Value items = Pack("[(ii)(ii)i(ii)]", 1, 2, 3, 4, 5, 6, 7);
  mproc_value_t* out = nullptr;
  mproc_task_error_t err;
  int rc = mproc_pool_starmap(pool.get(), "add", items.get(), 1, &out, &err);
  EXPECT_LT(rc, 0);
  EXPECT_EQ(rc, err.code);
  EXPECT_EQ(nullptr, out);
  EXPECT_NE(nullptr, strstr(err.message, "item 2 is an int, not a tuple"))
      << err.message;
}

TEST_F(Pool, StarmapBadItemMessageNamesItsInputIndex) {
  PoolPtr pool = NewPool(1);
  Value items = Pack("[(ii)(ii)(ii)(ii)(ii)(ii)(ii)(ii)i(ii)]", 1, 1, 1, 1, 1,
                     1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 5, 1, 1);
  mproc_value_t* out = nullptr;
  mproc_task_error_t err;
  EXPECT_LT(mproc_pool_starmap(pool.get(), "add", items.get(), 4, &out, &err),
            0);
  EXPECT_NE(nullptr, strstr(err.message, "item 8")) << err.message;
}

// ---- imap and imap_unordered.

struct Counter {
  int64_t next = 0, end = 0;
};

int ProduceRange(void* ctx, mproc_value_t** args) {
  Counter* c = static_cast<Counter*>(ctx);
  if (c->next == c->end) return 0;
  return mproc_pack(args, "(L)", c->next++) == 0 ? 1 : MPROC_ENOMEM;
}

// Collects every item of an iterator: (index, result or -1 on error).
std::vector<std::pair<size_t, int64_t>> Drain(mproc_iter_t* it) {
  std::vector<std::pair<size_t, int64_t>> got;
  for (;;) {
    mproc_item_t item;
    int rc = mproc_iter_next(it, 30, &item);
    if (rc == 0) break;
    if (rc != 1) {
      ADD_FAILURE() << "mproc_iter_next: " << mproc_err_name(rc);
      break;
    }
    if (item.error.code != 0) {
      EXPECT_EQ(nullptr, item.result);
      got.emplace_back(item.index, -1);
    } else {
      got.emplace_back(item.index, AsInt(item.result));
    }
  }
  return got;
}

class PoolImap
    : public mproc_test::Deadline,
      public ::testing::WithParamInterface<std::tuple<bool, bool, size_t>> {
 protected:
  PoolImap() : Deadline(90) {}
  bool unordered() const { return std::get<0>(GetParam()); }
  bool producer() const { return std::get<1>(GetParam()); }
  size_t chunksize() const { return std::get<2>(GetParam()); }
};

TEST_P(PoolImap, YieldsEveryResultOnceWithItsIndex) {
  PoolPtr pool = NewPool(2);
  const int n = 200;
  Value items = Range(n);
  Counter counter;
  counter.end = n;
  mproc_imap_opts_t o = {};
  o.target = "jitter_square";
  if (producer()) {
    o.next = ProduceRange;
    o.next_ctx = &counter;
  } else {
    o.items = items.get();
  }
  o.unordered = unordered();
  o.chunksize = chunksize();
  mproc_iter_t* raw = nullptr;
  ASSERT_EQ(0, mproc_pool_imap(pool.get(), &o, &raw));
  Iter it(raw);
  std::vector<std::pair<size_t, int64_t>> got = Drain(it.get());
  ASSERT_EQ(static_cast<size_t>(n), got.size());
  std::vector<int> seen(n, 0);
  for (size_t k = 0; k < got.size(); k++) {
    size_t i = got[k].first;
    ASSERT_LT(i, static_cast<size_t>(n));
    seen[i]++;
    EXPECT_EQ(static_cast<int64_t>(i * i), got[k].second) << i;
    if (!unordered()) {
      EXPECT_EQ(k, i) << "out of input order";
    }
  }
  for (int i = 0; i < n; i++) EXPECT_EQ(1, seen[i]) << "index " << i;
  // The end is sticky.
  mproc_item_t item;
  EXPECT_EQ(0, mproc_iter_next(it.get(), 1, &item));
  if (producer()) {
    EXPECT_EQ(n, counter.next);
  }
}

std::string ImapName(
    const ::testing::TestParamInfo<std::tuple<bool, bool, size_t>>& info) {
  return std::string(std::get<0>(info.param) ? "Unordered" : "Ordered") +
         (std::get<1>(info.param) ? "Producer" : "Items") + "Chunksize" +
         std::to_string(std::get<2>(info.param));
}

INSTANTIATE_TEST_SUITE_P(Modes, PoolImap,
                         ::testing::Combine(::testing::Bool(),
                                            ::testing::Bool(),
                                            ::testing::Values(1, 3)),
                         ImapName);

TEST_F(Pool, ImapUnorderedYieldsFastResultsBeforeASlowFirstOne) {
  PoolPtr pool = NewPool(2);
  Value items = Range(20);
  for (bool unordered : {false, true}) {
    mproc_imap_opts_t o = {};
    o.target = "slow_zero";
    o.items = items.get();
    o.unordered = unordered;
    mproc_iter_t* raw = nullptr;
    ASSERT_EQ(0, mproc_pool_imap(pool.get(), &o, &raw));
    Iter it(raw);
    std::vector<std::pair<size_t, int64_t>> got = Drain(it.get());
    ASSERT_EQ(20u, got.size());
    if (unordered) {
      // Item 0 sleeps; the other worker's results come first.
      EXPECT_NE(0u, got[0].first);
      size_t pos0 = 0;
      while (pos0 < got.size() && got[pos0].first != 0) pos0++;
      EXPECT_GE(pos0, 5u) << "the slow item was not overtaken";
    } else {
      EXPECT_EQ(0u, got[0].first);
    }
  }
}

TEST_F(Pool, ImapFailedItemIsAnItemAndIterationContinues) {
  PoolPtr pool = NewPool(2);
  for (size_t chunksize : {1, 4}) {
    Value items = Range(100);
    mproc_imap_opts_t o = {};
    o.target = "fail_some";
    o.items = items.get();
    o.chunksize = chunksize;
    mproc_iter_t* raw = nullptr;
    ASSERT_EQ(0, mproc_pool_imap(pool.get(), &o, &raw));
    Iter it(raw);
    size_t count = 0;
    std::vector<size_t> failed;
    for (;;) {
      mproc_item_t item;
      int rc = mproc_iter_next(it.get(), 30, &item);
      ASSERT_GE(rc, 0) << mproc_err_name(rc);
      if (rc == 0) break;
      EXPECT_EQ(count, item.index);
      count++;
      if (item.error.code != 0) {
        failed.push_back(item.index);
        EXPECT_EQ(MPROC_EFAILED, item.error.code);
        EXPECT_EQ(1, item.error.exit_code);
        EXPECT_EQ(nullptr, item.result);
        EXPECT_EQ("bad item " + std::to_string(item.index),
                  std::string(item.error.message));
      } else {
        ASSERT_NE(nullptr, item.result);
        EXPECT_EQ(static_cast<int64_t>(item.index * item.index),
                  AsInt(item.result));
      }
    }
    EXPECT_EQ(100u, count) << "chunksize " << chunksize;
    EXPECT_EQ((std::vector<size_t>{37, 60, 81}), failed);
  }
}

// A producer of 100,000 items: at every call it checks how far production
// has run ahead of consumption. An item counts as consumed from the moment
// the mproc_iter_next call that hands it out is made.
struct WindowCtx {
  int64_t total = 0, produced = 0, consumed = 0;
  int64_t window = 0, max_ahead = 0, violations = 0;
};

int ProduceWindowed(void* ctx, mproc_value_t** args) {
  WindowCtx* c = static_cast<WindowCtx*>(ctx);
  if (c->produced == c->total) return 0;
  c->produced++;
  int64_t ahead = c->produced - c->consumed;
  if (ahead > c->max_ahead) c->max_ahead = ahead;
  if (ahead > c->window) c->violations++;
  return mproc_pack(args, "(L)", c->produced - 1) == 0 ? 1 : MPROC_ENOMEM;
}

TEST_F(Pool, ImapWindowBoundsHowFarTheProducerRunsAhead) {
  PoolPtr pool = NewPool(2);
  for (bool unordered : {false, true}) {
    WindowCtx c;
    c.total = 100000;
    c.window = 96;
    mproc_imap_opts_t o = {};
    o.target = "square";
    o.next = ProduceWindowed;
    o.next_ctx = &c;
    o.chunksize = 16;
    o.window = static_cast<size_t>(c.window);
    o.unordered = unordered;
    mproc_iter_t* raw = nullptr;
    ASSERT_EQ(0, mproc_pool_imap(pool.get(), &o, &raw));
    Iter it(raw);
    EXPECT_EQ(0, c.produced) << "produced before anything was asked";
    int64_t sum = 0, want = 0;
    for (;;) {
      mproc_item_t item;
      c.consumed++;
      int rc = mproc_iter_next(it.get(), 30, &item);
      ASSERT_GE(rc, 0) << mproc_err_name(rc);
      if (rc == 0) break;
      ASSERT_EQ(0, item.error.code) << item.error.message;
      ASSERT_EQ(static_cast<int64_t>(item.index * item.index),
                AsInt(item.result));
      sum += static_cast<int64_t>(item.index);
    }
    for (int64_t i = 0; i < c.total; i++) want += i;
    EXPECT_EQ(want, sum);
    EXPECT_EQ(c.total, c.produced);
    EXPECT_EQ(0, c.violations)
        << "ran up to " << c.max_ahead << " items ahead, window " << c.window;
    EXPECT_LE(c.max_ahead, c.window);
    // It does read ahead (that is what the window is for).
    EXPECT_GE(c.max_ahead, c.window / 2);
  }
}

// The default window adapts: while an ordered imap waits for one slow
// first item, the other worker keeps getting new items (the window grows
// with each completion), instead of idling once 4 x workers were out. With a
// fixed default of 8 the producer would have stopped at 8.
TEST_F(Pool, ImapDefaultWindowGrowsPastASlowHeadAndStaysBounded) {
  PoolPtr pool = NewPool(2);
  {
    WindowCtx c;
    c.total = 200;
    c.window = 1024;
    mproc_imap_opts_t o = {};
    o.target = "slow_zero";  // item 0 sleeps 0.5 s, the others return at once
    o.next = ProduceWindowed;
    o.next_ctx = &c;
    mproc_iter_t* raw = nullptr;
    ASSERT_EQ(0, mproc_pool_imap(pool.get(), &o, &raw));
    Iter it(raw);
    mproc_item_t item;
    c.consumed++;
    ASSERT_EQ(1, mproc_iter_next(it.get(), 30, &item));
    EXPECT_EQ(0u, item.index);
    EXPECT_GE(c.produced, 64) << "the window did not grow behind the slow head";
    std::vector<std::pair<size_t, int64_t>> rest = Drain(it.get());
    EXPECT_EQ(199u, rest.size());
  }
  // Whatever it grows to, it stays bounded: 1,024 tasks for 2 workers.
  for (bool unordered : {false, true}) {
    WindowCtx c;
    c.total = 20000;
    c.window = 1024;
    mproc_imap_opts_t o = {};
    o.target = "square";
    o.next = ProduceWindowed;
    o.next_ctx = &c;
    o.unordered = unordered;
    mproc_iter_t* raw = nullptr;
    ASSERT_EQ(0, mproc_pool_imap(pool.get(), &o, &raw));
    Iter it(raw);
    size_t n = 0;
    for (;;) {
      mproc_item_t item;
      c.consumed++;
      int rc = mproc_iter_next(it.get(), 30, &item);
      ASSERT_GE(rc, 0) << mproc_err_name(rc);
      if (rc == 0) break;
      ASSERT_EQ(0, item.error.code) << item.error.message;
      n++;
    }
    EXPECT_EQ(20000u, n);
    EXPECT_EQ(0, c.violations)
        << "ran up to " << c.max_ahead << " items ahead, bound 1024";
  }
}

int ProduceThenFail(void* ctx, mproc_value_t** args) {
  Counter* c = static_cast<Counter*>(ctx);
  if (c->next == c->end) return MPROC_EIO;
  return mproc_pack(args, "(L)", c->next++) == 0 ? 1 : MPROC_ENOMEM;
}

TEST_F(Pool, ImapProducerErrorEndsTheIterationWithThatError) {
  PoolPtr pool = NewPool(2);
  Counter c;
  c.end = 10;
  mproc_imap_opts_t o = {};
  o.target = "square";
  o.next = ProduceThenFail;
  o.next_ctx = &c;
  mproc_iter_t* raw = nullptr;
  ASSERT_EQ(0, mproc_pool_imap(pool.get(), &o, &raw));
  Iter it(raw);
  int items = 0, rc;
  mproc_item_t item;
  while ((rc = mproc_iter_next(it.get(), 30, &item)) == 1) {
    EXPECT_EQ(0, item.error.code);
    items++;
  }
  EXPECT_EQ(10, items);  // what was produced is delivered first
  EXPECT_EQ(MPROC_EIO, rc);
}

TEST_F(Pool, ImapNextTimesOut) {
  PoolPtr pool = NewPool(1);
  Value items = Range(1);
  mproc_imap_opts_t o = {};
  o.target = "slow_zero";
  o.items = items.get();
  mproc_iter_t* raw = nullptr;
  ASSERT_EQ(0, mproc_pool_imap(pool.get(), &o, &raw));
  Iter it(raw);
  mproc_item_t item;
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_iter_next(it.get(), 0.05, &item));
  EXPECT_EQ(1, mproc_iter_next(it.get(), 30, &item));
  EXPECT_EQ(0u, item.index);
  EXPECT_EQ(0, mproc_iter_next(it.get(), 30, &item));
}

// ---- Misuse.

TEST_F(Pool, UnknownTargetIsRefusedUpFrontWithNothingQueued) {
  PoolPtr pool = NewPool(1);
  Value args = Pack("(i)", 1);
  mproc_future_t* f = reinterpret_cast<mproc_future_t*>(1);
  EXPECT_EQ(MPROC_ENOTARGET,
            mproc_pool_submit(pool.get(), "no_such_target", args.get(),
                              nullptr, &f));
  EXPECT_EQ(nullptr, f);
  mproc_value_t* res = nullptr;
  mproc_task_error_t err;
  EXPECT_EQ(MPROC_ENOTARGET, mproc_pool_apply(pool.get(), "no_such_target",
                                              args.get(), nullptr, &res, &err));
  Value items = Range(10);
  EXPECT_EQ(MPROC_ENOTARGET, mproc_pool_map(pool.get(), "no_such_target",
                                            items.get(), 0, &res, &err));
  EXPECT_EQ(nullptr, res);
  EXPECT_EQ(MPROC_ENOTARGET, mproc_pool_starmap(pool.get(), "no_such_target",
                                                items.get(), 0, &res, &err));
  mproc_imap_opts_t o = {};
  o.target = "no_such_target";
  o.items = items.get();
  mproc_iter_t* it = reinterpret_cast<mproc_iter_t*>(1);
  EXPECT_EQ(MPROC_ENOTARGET, mproc_pool_imap(pool.get(), &o, &it));
  EXPECT_EQ(nullptr, it);
  // Nothing ran: the workers completed no task at all.
  ASSERT_EQ(0, mproc_pool_close(pool.get()));
  ASSERT_EQ(0, mproc_pool_join(pool.get(), 10));
  uint64_t tasks = 0;
  for (const mproc_worker_stats_t& s : Stats(pool.get())) tasks += s.tasks;
  EXPECT_EQ(0u, tasks);
}

// issue 9: the error quotes the name and suggests the closest registered
// one; map fills err as apply does.
TEST_F(Pool, UnknownTargetNamesTheClosestRegisteredOne) {
  PoolPtr pool = NewPool(1);
  mproc_value_t* res = nullptr;
  mproc_task_error_t err;
  Value items = Range(3);
  EXPECT_EQ(MPROC_ENOTARGET,
            mproc_pool_map(pool.get(), "sqaure", items.get(), 0, &res, &err));
  EXPECT_EQ(MPROC_ENOTARGET, err.code);
  EXPECT_NE(nullptr, strstr(err.message, "'sqaure'")) << err.message;
  EXPECT_NE(nullptr, strstr(err.message, "did you mean 'square'?"))
      << err.message;
  EXPECT_NE(nullptr, strstr(mproc_last_error(), "did you mean 'square'?"))
      << mproc_last_error();
  Value args = Pack("(i)", 1);
  EXPECT_EQ(MPROC_ENOTARGET, mproc_pool_apply(pool.get(), "squares",
                                              args.get(), nullptr, &res, &err));
  EXPECT_NE(nullptr, strstr(err.message, "did you mean 'square'?"))
      << err.message;
  // Nothing near: no guess, and how to register one.
  EXPECT_EQ(MPROC_ENOTARGET,
            mproc_pool_apply(pool.get(), "zzzzzzzzzzzzzzzzzzzzzz", args.get(),
                             nullptr, &res, &err));
  EXPECT_EQ(nullptr, strstr(err.message, "did you mean")) << err.message;
  EXPECT_NE(nullptr, strstr(err.message, "MPROC_TARGET(zzzzzzzzzzzzzzzzzzzzzz)"))
      << err.message;
}

// issue 9: every MPROC_EINVAL names the function and what is wrong.
TEST_F(Pool, BadArgumentsAreNamed) {
  PoolPtr pool = NewPool(1);
  mproc_value_t* res = nullptr;
  mproc_task_error_t err;
  Value d = Pack("{s:i}", "x", 3);
  EXPECT_EQ(MPROC_EINVAL,
            mproc_pool_map(pool.get(), "square", d.get(), 0, &res, &err));
  EXPECT_STREQ("mproc_pool_map: items must be a list or tuple, not dict",
               mproc_last_error());
  EXPECT_EQ(MPROC_EINVAL,
            mproc_pool_starmap(pool.get(), "square", nullptr, 0, &res, &err));
  EXPECT_STREQ("mproc_pool_starmap: items is NULL", mproc_last_error());
  Value items = Range(3);
  mproc_imap_opts_t o = {};
  o.target = "square";
  mproc_iter_t* it = nullptr;
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_imap(pool.get(), &o, &it));
  EXPECT_STREQ(
      "mproc_pool_imap: set exactly one of opts.items and opts.next (neither "
      "is set)",
      mproc_last_error());
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_join(pool.get(), NAN));
  EXPECT_STREQ("mproc_pool_join: timeout_s must be a number (NaN is not)",
               mproc_last_error());
  mproc_pool_opts_t po = {};
  po.task_timeout_s = -1;
  mproc_pool_t* p2 = nullptr;
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_new(&p2, &po));
  EXPECT_STREQ(
      "mproc_pool_new: opts.task_timeout_s must be 0 (none) or more, not -1",
      mproc_last_error());
  po.task_timeout_s = 0;
  Value s = Pack("s", "x");
  po.initargs = s.get();
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_new(&p2, &po));
  EXPECT_STREQ("mproc_pool_new: opts.initargs must be a tuple or list, not str",
               mproc_last_error());
  EXPECT_EQ(MPROC_EINVAL, mproc_future_wait(nullptr, 1));
  EXPECT_STREQ("mproc_future_wait: f is NULL", mproc_last_error());
}

TEST_F(Pool, ArgsThatAreNotATupleAreRefused) {
  PoolPtr pool = NewPool(1);
  Value i = Pack("i", 3);
  Value d = Pack("{s:i}", "x", 3);
  Value t = Pack("(i)", 3);
  Value l = Pack("[i]", 3);
  mproc_future_t* f = reinterpret_cast<mproc_future_t*>(1);
  EXPECT_EQ(MPROC_EINVAL,
            mproc_pool_submit(pool.get(), "square", i.get(), nullptr, &f));
  EXPECT_EQ(nullptr, f);
  EXPECT_EQ(MPROC_EINVAL,
            mproc_pool_submit(pool.get(), "square", d.get(), nullptr, &f));
  EXPECT_STREQ("mproc_pool_submit: args must be a tuple or list, not dict",
               mproc_last_error());
  // kwargs must be a dict.
  EXPECT_EQ(MPROC_EINVAL,
            mproc_pool_submit(pool.get(), "square", t.get(), l.get(), &f));
  EXPECT_STREQ("mproc_pool_submit: kwargs must be a dict, not list",
               mproc_last_error());
  mproc_value_t* res = nullptr;
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_apply(pool.get(), "square", i.get(),
                                           nullptr, &res, nullptr));
  // map's items must be a list or tuple.
  EXPECT_EQ(MPROC_EINVAL,
            mproc_pool_map(pool.get(), "square", i.get(), 0, &res, nullptr));
  EXPECT_EQ(MPROC_EINVAL,
            mproc_pool_map(pool.get(), "square", d.get(), 0, &res, nullptr));
  mproc_imap_opts_t o = {};
  o.target = "square";
  o.items = d.get();
  mproc_iter_t* it = nullptr;
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_imap(pool.get(), &o, &it));
  o.items = nullptr;  // neither items nor a producer
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_imap(pool.get(), &o, &it));
  Counter c;
  o.items = t.get();  // both
  o.next = ProduceRange;
  o.next_ctx = &c;
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_imap(pool.get(), &o, &it));
  // Nothing was harmed.
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "square", t.get(), nullptr, &res,
                                nullptr));
  EXPECT_EQ(9, AsInt(res));
  mproc_value_free(res);
}

TEST_F(Pool, ArgsLargerThanMaxFrameAreRefusedAtSubmit) {
  mproc_pool_opts_t o = {};
  o.workers = 1;
  o.max_frame = 64 * 1024;
  PoolPtr pool = NewPool(o);
  std::string big(100 * 1024, 'x');
  Value args = Pack("(y#)", big.data(), big.size());
  mproc_future_t* f = reinterpret_cast<mproc_future_t*>(1);
  EXPECT_EQ(MPROC_ETOOBIG,
            mproc_pool_submit(pool.get(), "no_result", args.get(), nullptr,
                              &f));
  EXPECT_EQ(nullptr, f);
}

TEST_F(Pool, ResultLargerThanMaxFrameFailsWithETOOBIG) {
  mproc_pool_opts_t o = {};
  o.workers = 1;
  o.max_frame = 64 * 1024;
  PoolPtr pool = NewPool(o);
  Value args = Pack("(z)", static_cast<size_t>(100 * 1024));
  mproc_value_t* res = nullptr;
  mproc_task_error_t err;
  EXPECT_EQ(MPROC_ETOOBIG, mproc_pool_apply(pool.get(), "big_bytes",
                                            args.get(), nullptr, &res, &err))
      << err.message;
  EXPECT_EQ(MPROC_ETOOBIG, err.code);
  EXPECT_NE(nullptr, strstr(err.message, "max_frame")) << err.message;
  // A result that fits still comes back, from the same worker.
  std::vector<mproc_worker_stats_t> s = Stats(pool.get());
  EXPECT_EQ(0u, s[0].restarts);
  EXPECT_EQ(0u, s[0].crashes);
  Value small = Pack("(z)", static_cast<size_t>(1000));
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "big_bytes", small.get(), nullptr,
                                &res, &err))
      << err.message;
  EXPECT_EQ(1000u, mproc_value_len(res));
  mproc_value_free(res);
}

TEST_F(Pool, SubmitAfterCloseOrTerminateIsRefused) {
  for (bool terminate : {false, true}) {
    PoolPtr pool = NewPool(1);
    ASSERT_EQ(0, terminate ? mproc_pool_terminate(pool.get())
                           : mproc_pool_close(pool.get()));
    Value args = Pack("(i)", 2);
    mproc_future_t* f = reinterpret_cast<mproc_future_t*>(1);
    EXPECT_EQ(MPROC_ECLOSED,
              mproc_pool_submit(pool.get(), "square", args.get(), nullptr,
                                &f));
    EXPECT_EQ(nullptr, f);
    mproc_value_t* res = nullptr;
    EXPECT_EQ(MPROC_ECLOSED, mproc_pool_apply(pool.get(), "square",
                                              args.get(), nullptr, &res,
                                              nullptr));
    Value items = Range(5);
    EXPECT_EQ(MPROC_ECLOSED, mproc_pool_map(pool.get(), "square", items.get(),
                                            0, &res, nullptr));
    mproc_imap_opts_t o = {};
    o.target = "square";
    o.items = items.get();
    mproc_iter_t* raw = nullptr;
    int rc = mproc_pool_imap(pool.get(), &o, &raw);
    Iter it(raw);
    if (rc == 0) {
      mproc_item_t item;
      rc = mproc_iter_next(it.get(), 5, &item);
    }
    EXPECT_EQ(MPROC_ECLOSED, rc);
    EXPECT_EQ(0, mproc_pool_join(pool.get(), 10));
  }
}

// As Python's imap, an iterator started before close runs to the end of
// its input after close (its window is far smaller than the input).
TEST_F(Pool, ImapStartedBeforeCloseRunsToTheEnd) {
  PoolPtr pool = NewPool(2);
  Counter c;
  c.end = 200;
  mproc_imap_opts_t o = {};
  o.target = "square";
  o.next = ProduceRange;
  o.next_ctx = &c;
  o.window = 4;
  mproc_iter_t* raw = nullptr;
  ASSERT_EQ(0, mproc_pool_imap(pool.get(), &o, &raw));
  Iter it(raw);
  ASSERT_EQ(0, mproc_pool_close(pool.get()));
  std::vector<std::pair<size_t, int64_t>> got = Drain(it.get());
  ASSERT_EQ(200u, got.size());
  for (size_t i = 0; i < got.size(); i++) {
    EXPECT_EQ(i, got[i].first);
    EXPECT_EQ(static_cast<int64_t>(i * i), got[i].second);
  }
  it.reset();
  EXPECT_EQ(0, mproc_pool_join(pool.get(), 10));
}

TEST_F(Pool, JoinOnAnOpenPoolIsAStateError) {
  PoolPtr pool = NewPool(1);
  EXPECT_EQ(MPROC_ESTATE, mproc_pool_join(pool.get(), 0));
  EXPECT_EQ(MPROC_ESTATE, mproc_pool_join(pool.get(), -1));
  // Still usable.
  Value args = Pack("(i)", 5);
  mproc_value_t* res = nullptr;
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "square", args.get(), nullptr,
                                &res, nullptr));
  EXPECT_EQ(25, AsInt(res));
  mproc_value_free(res);
}

// ---- close and join.

TEST_F(Pool, CloseLetsQueuedTasksFinishAndJoinWaitsForThem) {
  PoolPtr pool = NewPool(2);
  Value args = Pack("(d)", 0.05);
  std::vector<Future> fs;
  for (int i = 0; i < 20; i++)
    fs.push_back(Submit(pool.get(), "sleep_then_pid", args.get()));
  ASSERT_EQ(0, mproc_pool_close(pool.get()));
  ASSERT_EQ(0, mproc_pool_close(pool.get()));  // twice is fine
  // 20 x 50 ms on 2 workers: about half a second.
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_pool_join(pool.get(), 0.05));
  ASSERT_EQ(0, mproc_pool_join(pool.get(), 30));
  for (Future& f : fs) {
    EXPECT_EQ(1, mproc_future_ready(f.get()));
    EXPECT_GT(IntResult(f.get()), 0);
  }
  // The workers have left: no slot has a worker.
  for (const mproc_worker_stats_t& s : Stats(pool.get())) EXPECT_EQ(0, s.pid);
  EXPECT_EQ(0, mproc_pool_join(pool.get(), 0));  // again: still joined
}

// ---- Statistics.

TEST_F(Pool, StatsCountTasksBusyTimeAndPidsPerSlot) {
  PoolPtr pool = NewPool(2);
  Value args = Pack("(d)", 0.01);
  std::vector<Future> fs;
  for (int i = 0; i < 40; i++)
    fs.push_back(Submit(pool.get(), "sleep_then_pid", args.get()));
  std::set<pid_t> pids;
  double run = 0;
  for (Future& f : fs) {
    ASSERT_EQ(0, mproc_future_wait(f.get(), -1));
    pids.insert(static_cast<pid_t>(IntResult(f.get())));
    run += TimingOf(f.get()).run_s;
  }
  std::vector<mproc_worker_stats_t> s = Stats(pool.get());
  ASSERT_EQ(2u, s.size());
  uint64_t tasks = 0;
  double busy = 0;
  for (size_t i = 0; i < s.size(); i++) {
    EXPECT_EQ(static_cast<int>(i), s[i].slot);
    tasks += s[i].tasks;
    busy += s[i].busy_s;
    EXPECT_EQ(0u, s[i].restarts);
    EXPECT_EQ(0u, s[i].crashes);
    EXPECT_GE(s[i].idle_s, 0);
    EXPECT_GE(s[i].user_s, 0);
    EXPECT_GE(s[i].sys_s, 0);
    EXPECT_EQ(s[i].pid, s[i].last_pid) << "slot " << i;  // running
    if (s[i].tasks > 0) {
      EXPECT_TRUE(pids.count(s[i].pid)) << "slot " << i << " pid " << s[i].pid;
      EXPECT_GT(s[i].max_rss_kb, 0);
    }
  }
  EXPECT_EQ(40u, tasks);
  EXPECT_GE(busy, 0.4);
  EXPECT_NEAR(run, busy, 0.01);
  // cap smaller than the pool: n still tells the slot count.
  size_t n = 0;
  mproc_worker_stats_t one;
  EXPECT_EQ(0, mproc_pool_stats(pool.get(), &one, 1, &n));
  EXPECT_EQ(2u, n);
  EXPECT_EQ(0, mproc_pool_stats(pool.get(), nullptr, 0, &n));
  EXPECT_EQ(2u, n);

  // After close and join the counts stay, and each slot's last pid (psha256
  // --stats prints it then); leaving at close is not a restart.
  std::vector<mproc_worker_stats_t> before = s;
  ASSERT_EQ(0, mproc_pool_close(pool.get()));
  ASSERT_EQ(0, mproc_pool_join(pool.get(), 10));
  s = Stats(pool.get());
  tasks = 0;
  for (const mproc_worker_stats_t& w : s) {
    tasks += w.tasks;
    EXPECT_EQ(0, w.pid);
    EXPECT_GT(w.last_pid, 0) << "slot " << w.slot;
    EXPECT_EQ(before[w.slot].last_pid, w.last_pid) << "slot " << w.slot;
    EXPECT_EQ(0u, w.restarts) << "slot " << w.slot;
    EXPECT_EQ(0u, w.crashes) << "slot " << w.slot;
  }
  EXPECT_EQ(40u, tasks);
}

// ---- Initializers.

TEST_F(Pool, InitializerRunsOnceInEachWorkerBeforeItsTasks) {
  for (unsigned max_tasks : {0u, 3u}) {
    Value initargs = Pack("(L)", static_cast<int64_t>(1234));
    mproc_pool_opts_t o = {};
    o.workers = 2;
    o.initializer = InitSet;
    o.initargs = initargs.get();
    o.max_tasks_per_child = max_tasks;
    PoolPtr pool = NewPool(o);
    initargs.reset();  // the pool keeps its own copy
    std::vector<Future> fs;
    for (int i = 0; i < 30; i++)
      fs.push_back(Submit(pool.get(), "read_init", nullptr));
    std::set<int64_t> pids;
    for (Future& f : fs) {
      ASSERT_EQ(0, mproc_future_wait(f.get(), -1));
      const mproc_value_t* r = nullptr;
      ASSERT_EQ(0, mproc_future_result(f.get(), &r)) << ErrorOf(f.get()).message;
      EXPECT_EQ(1234, AsInt(Item(r, 0)));
      EXPECT_EQ(1, AsInt(Item(r, 1))) << "initializer runs in that worker";
      pids.insert(AsInt(Item(r, 2)));
    }
    if (max_tasks == 0) {
      EXPECT_LE(pids.size(), 2u);
    } else {
      EXPECT_GE(pids.size(), 10u);  // every new worker initialized itself
    }
  }
  // Not in the parent.
  EXPECT_EQ(0, g_init_value);
  EXPECT_EQ(0, g_init_runs);
}

TEST_F(Pool, FailingInitializerBreaksThePool) {
  mproc_pool_opts_t o = {};
  o.workers = 2;
  o.initializer = InitFail;
  PoolPtr pool = NewPool(o);
  ASSERT_TRUE(pool);
  // Queued before any worker could fail.
  std::vector<Future> fs;
  Value args = Pack("(i)", 3);
  for (int i = 0; i < 50; i++) {
    mproc_future_t* f = nullptr;
    int rc = mproc_pool_submit(pool.get(), "square", args.get(), nullptr, &f);
    if (rc == MPROC_EBROKEN) break;  // already broken: that is fine too
    ASSERT_EQ(0, rc);
    fs.emplace_back(f);
  }
  for (Future& f : fs) {
    ASSERT_EQ(0, mproc_future_wait(f.get(), 20)) << "a queued task hangs";
    mproc_task_error_t err = ErrorOf(f.get());
    EXPECT_EQ(MPROC_EBROKEN, err.code);
    EXPECT_NE(nullptr, strstr(err.message, "no database at db:5432"))
        << err.message;
  }
  // From now on, nothing is accepted.
  mproc_future_t* f = reinterpret_cast<mproc_future_t*>(1);
  EXPECT_EQ(MPROC_EBROKEN,
            mproc_pool_submit(pool.get(), "square", args.get(), nullptr, &f));
  EXPECT_EQ(nullptr, f);
  mproc_value_t* res = nullptr;
  mproc_task_error_t err;
  EXPECT_EQ(MPROC_EBROKEN, mproc_pool_apply(pool.get(), "square", args.get(),
                                            nullptr, &res, &err));
  Value items = Range(4);
  EXPECT_EQ(MPROC_EBROKEN, mproc_pool_map(pool.get(), "square", items.get(),
                                          0, &res, &err));
  double t0 = Now();
  ASSERT_EQ(0, mproc_pool_close(pool.get()));
  ASSERT_EQ(0, mproc_pool_join(pool.get(), 10));
  pool.reset();
  EXPECT_LT(Now() - t0, 5);
}

TEST_F(Pool, BrokenPoolIsFreedWithoutClose) {
  mproc_pool_opts_t o = {};
  o.workers = 3;
  o.initializer = InitFail;
  PoolPtr pool = NewPool(o);
  Future f = Submit(pool.get(), "no_result", nullptr);
  ASSERT_EQ(0, mproc_future_wait(f.get(), 20));
  EXPECT_EQ(MPROC_EBROKEN, ErrorOf(f.get()).code);
  double t0 = Now();
  pool.reset();  // free: terminates and joins
  EXPECT_LT(Now() - t0, 5);
  EXPECT_EQ(MPROC_EBROKEN, ErrorOf(f.get()).code);  // still valid
}

// A broken pool tells later callers why, where it can: apply and map fill
// their err with the initializer's message.
TEST_F(Pool, BrokenPoolTellsLaterCallersTheInitializersMessage) {
  mproc_pool_opts_t o = {};
  o.workers = 1;
  o.initializer = InitFail;
  PoolPtr pool = NewPool(o);
  Future f = Submit(pool.get(), "no_result", nullptr);
  ASSERT_EQ(0, mproc_future_wait(f.get(), 20));
  ASSERT_EQ(MPROC_EBROKEN, ErrorOf(f.get()).code);
  mproc_value_t* res = nullptr;
  mproc_task_error_t err;
  EXPECT_EQ(MPROC_EBROKEN, mproc_pool_apply(pool.get(), "no_result", nullptr,
                                            nullptr, &res, &err));
  EXPECT_EQ(MPROC_EBROKEN, err.code);
  EXPECT_NE(nullptr, strstr(err.message, "no database at db:5432"))
      << "apply: '" << err.message << "'";
  Value items = Range(3);
  EXPECT_EQ(MPROC_EBROKEN, mproc_pool_map(pool.get(), "square", items.get(),
                                          0, &res, &err));
  EXPECT_EQ(MPROC_EBROKEN, err.code);
  EXPECT_NE(nullptr, strstr(err.message, "no database at db:5432"))
      << "map: '" << err.message << "'";
}

// ---- Threads.

TEST_F(Pool, SubmissionsFromFourThreadsAtOnce) {
  PoolPtr pool = NewPool(2);
  std::atomic<int> wrong{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&, t] {
      std::vector<mproc_future_t*> fs;
      for (int i = 0; i < 2000; i++) {
        mproc_value_t* args;
        if (mproc_pack(&args, "(L)", static_cast<int64_t>(t * 100000 + i)) <
            0) {
          failed++;
          continue;
        }
        mproc_future_t* f = nullptr;
        if (mproc_pool_submit(pool.get(), "square", args, nullptr, &f) < 0)
          failed++;
        else
          fs.push_back(f);
        mproc_value_free(args);
      }
      for (size_t i = 0; i < fs.size(); i++) {
        const mproc_value_t* r;
        int64_t v = -1;
        if (mproc_future_wait(fs[i], 60) < 0 ||
            mproc_future_result(fs[i], &r) < 0 ||
            mproc_value_get_int(r, &v) < 0)
          failed++;
        int64_t x = t * 100000 + static_cast<int64_t>(i);
        if (v != x * x) wrong++;
        mproc_future_free(fs[i]);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(0, failed.load());
  EXPECT_EQ(0, wrong.load());
  uint64_t tasks = 0;
  for (const mproc_worker_stats_t& s : Stats(pool.get())) tasks += s.tasks;
  EXPECT_EQ(8000u, tasks);
}

TEST_F(Pool, MapsAndImapsFromFourThreadsAtOnce) {
  PoolPtr pool = NewPool(2);
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; round++) {
        Value items = Range(500, t * 1000);
        mproc_value_t* out = nullptr;
        if (mproc_pool_map(pool.get(), "square", items.get(), 0, &out,
                           nullptr) != 0) {
          bad++;
          continue;
        }
        for (int i = 0; i < 500; i++) {
          int64_t x = t * 1000 + i, v = -1;
          const mproc_value_t* e;
          if (mproc_list_get(out, i, &e) < 0 || mproc_value_get_int(e, &v) < 0 ||
              v != x * x)
            bad++;
        }
        mproc_value_free(out);
        mproc_imap_opts_t o = {};
        o.target = "square";
        o.items = items.get();
        o.unordered = round % 2;
        mproc_iter_t* it = nullptr;
        if (mproc_pool_imap(pool.get(), &o, &it) != 0) {
          bad++;
          continue;
        }
        mproc_item_t item;
        int n = 0, rc;
        while ((rc = mproc_iter_next(it, 60, &item)) == 1) {
          int64_t x = t * 1000 + static_cast<int64_t>(item.index), v = -1;
          if (item.error.code != 0 ||
              mproc_value_get_int(item.result, &v) < 0 || v != x * x)
            bad++;
          n++;
        }
        if (rc != 0 || n != 500) bad++;
        mproc_iter_free(it);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(0, bad.load());
}

// ---- Names.

TEST_F(Pool, TasksRunInProcessesNamedPoolWorker) {
  PoolPtr pool = NewPool(2);
  std::vector<Future> fs;
  for (int i = 0; i < 10; i++)
    fs.push_back(Submit(pool.get(), "process_name", nullptr));
  for (Future& f : fs) {
    ASSERT_EQ(0, mproc_future_wait(f.get(), -1));
    const mproc_value_t* r = nullptr;
    ASSERT_EQ(0, mproc_future_result(f.get(), &r));
    std::string name = AsStr(r);
    EXPECT_EQ(0u, name.rfind("PoolWorker-", 0)) << name;
    EXPECT_GT(name.size(), strlen("PoolWorker-")) << name;
  }
  EXPECT_STREQ("MainProcess", mproc_current_process_name());
}

// ---- What workers inherit.

TEST_F(Pool, WorkersSeeTheProgramAsItWasWhenThePoolWasCreated) {
  g_snapshot = 1;
  PoolPtr pool = NewPool(1);
  g_snapshot = 2;  // too late for the pool's workers, even new ones
  mproc_value_t* res = nullptr;
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "read_snapshot", nullptr, nullptr,
                                &res, nullptr));
  EXPECT_EQ(1, AsInt(res));
  mproc_value_free(res);
  mproc_task_error_t err;
  EXPECT_EQ(MPROC_EWORKER, mproc_pool_apply(pool.get(), "kill_self", nullptr,
                                            nullptr, &res, &err));
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "read_snapshot", nullptr, nullptr,
                                &res, nullptr));
  EXPECT_EQ(1, AsInt(res)) << "a respawned worker";
  mproc_value_free(res);
  g_snapshot = 0;
}

TEST_F(Pool, TargetRegisteredAfterThePoolFailsInTheWorker) {
  PoolPtr pool = NewPool(1);
  ASSERT_EQ(0, mproc_target_register("registered_late", RegisteredLate));
  mproc_value_t* res = nullptr;
  mproc_task_error_t err;
  EXPECT_EQ(MPROC_ENOTARGET, mproc_pool_apply(pool.get(), "registered_late",
                                              nullptr, nullptr, &res, &err));
  EXPECT_EQ(MPROC_ENOTARGET, err.code);
  EXPECT_NE(nullptr, strstr(err.message, "registered_late")) << err.message;
  // In a map, each item fails so.
  Value items = Range(3);
  EXPECT_EQ(MPROC_ENOTARGET, mproc_pool_map(pool.get(), "registered_late",
                                            items.get(), 0, &res, &err));
  EXPECT_EQ(MPROC_ENOTARGET, err.code);
  // A pool created now has it.
  PoolPtr later = NewPool(1);
  ASSERT_EQ(0, mproc_pool_apply(later.get(), "registered_late", nullptr,
                                nullptr, &res, &err))
      << err.message;
  mproc_value_free(res);
}

int ClashOne(mproc_call_t*) { return 0; }
int ClashTwo(mproc_call_t*) { return 0; }

// In a child of its own: the clash would make every later pool refuse.
int ClashAtRunTime() {
  mproc_pool_t* pool = nullptr;
  if (mproc_pool_new(&pool, nullptr) != 0) return 10;
  if (mproc_target_register_at("claimed_twice", ClashOne, "one.c:1") != 0)
    return 11;
  if (mproc_target_register_at("claimed_twice", ClashTwo, "two.c:2") !=
      MPROC_EDUPTARGET)
    return 12;
  mproc_value_t* res = nullptr;
  mproc_task_error_t err;
  if (mproc_pool_apply(pool, "claimed_twice", nullptr, nullptr, &res, &err) !=
          MPROC_EDUPTARGET ||
      err.code != MPROC_EDUPTARGET ||
      strstr(err.message, "one.c:1 and two.c:2") == nullptr)
    return 13;
  mproc_value_t* items = nullptr;
  mproc_pack(&items, "[iii]", 1, 2, 3);
  memset(&err, 0, sizeof err);
  int rc = mproc_pool_map(pool, "claimed_twice", items, 0, &res, &err);
  mproc_value_free(items);
  if (rc != MPROC_EDUPTARGET || strstr(err.message, "registered twice") == 0)
    return 14;
  mproc_future_t* f = nullptr;
  if (mproc_pool_submit(pool, "claimed_twice", nullptr, nullptr, &f) !=
          MPROC_EDUPTARGET ||
      f != nullptr)
    return 15;
  // A new pool refuses the whole program while the clash stands.
  mproc_pool_t* other = nullptr;
  if (mproc_pool_new(&other, nullptr) != MPROC_EDUPTARGET) return 16;
  mproc_pool_free(pool);
  return 0;
}

TEST_F(Pool, NameClaimedByTwoFunctionsAtRunTimeIsRefusedNamingBoth) {
  int status = mproc_test::RunInChild(ClashAtRunTime, 30);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(0, WEXITSTATUS(status));
}

void OnUsr2(int) {}

TEST_F(Pool, WorkersStartWithTheCallersMaskDefaultHandlersAndSigintIgnored) {
  sigset_t usr1, old;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, &usr1, &old));
  struct sigaction sa = {}, old_usr2;
  sa.sa_handler = OnUsr2;
  ASSERT_EQ(0, sigaction(SIGUSR2, &sa, &old_usr2));
  PoolPtr pool = NewPool(1);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  sigaction(SIGUSR2, &old_usr2, nullptr);
  mproc_value_t* res = nullptr;
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "signal_state", nullptr, nullptr,
                                &res, nullptr));
  Value owned(res);
  bool blocked = false, dfl = false, ign = false;
  ASSERT_EQ(0, mproc_value_get_bool(Item(res, 0), &blocked));
  ASSERT_EQ(0, mproc_value_get_bool(Item(res, 1), &dfl));
  ASSERT_EQ(0, mproc_value_get_bool(Item(res, 2), &ign));
  EXPECT_TRUE(blocked) << "the caller's mask";
  EXPECT_TRUE(dfl) << "handlers reset";
  EXPECT_TRUE(ign) << "SIGINT ignored";
}

TEST_F(Pool, NestedResultsComeBackIntact) {
  PoolPtr pool = NewPool(1);
  mproc_value_t* res = nullptr;
  mproc_task_error_t err;
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "nested_result", nullptr, nullptr,
                                &res, &err))
      << err.message;
  Value got(res);
  Value want = Pack("{s:[ids#y#]s:ns:(b)}", "a", 1, 2.5, "x\0y",
                    static_cast<size_t>(3), "\x00\xff",
                    static_cast<size_t>(2), "n", "t", true);
  EXPECT_TRUE(mproc_value_equal(want.get(), got.get()))
      << Repr(got.get()) << " != " << Repr(want.get());
}

// Big frames both ways, several at once: the pool writes without blocking
// and must finish partial writes (and read answers) as the pipes drain.
TEST_F(Pool, LargeArgsAndResultsCrossThePipesIntact) {
  PoolPtr pool = NewPool(2);
  const size_t sizes[] = {32u << 20, 4u << 20, 4u << 20, 1u << 20,
                          4u << 20,  3u << 20, 5u << 20, 4u << 20};
  std::vector<std::string> data;
  std::vector<Future> fs;
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    data.push_back(Pattern(sizes[i], static_cast<unsigned>(i)));
    Value args = Pack("(y#)", data.back().data(), data.back().size());
    fs.push_back(Submit(pool.get(), "checksum_and_reverse", args.get()));
  }
  for (size_t i = 0; i < fs.size(); i++) {
    ASSERT_EQ(0, mproc_future_wait(fs[i].get(), 60));
    const mproc_value_t* r = nullptr;
    ASSERT_EQ(0, mproc_future_result(fs[i].get(), &r))
        << ErrorOf(fs[i].get()).message;
    EXPECT_EQ(static_cast<int64_t>(Fnv(data[i].data(), data[i].size())),
              AsInt(Item(r, 0)));
    const void* p = nullptr;
    size_t n = 0;
    ASSERT_EQ(0, mproc_value_get_bytes(Item(r, 1), &p, &n));
    ASSERT_EQ(data[i].size(), n);
    std::string back(static_cast<const char*>(p), n);
    std::reverse(back.begin(), back.end());
    EXPECT_TRUE(back == data[i]) << "task " << i;
  }
}

// ---- More lifecycle.

TEST_F(Pool, PoolsCreatedFromFourThreadsAtOnce) {
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; round++) {
        mproc_pool_opts_t o = {};
        o.workers = 2;
        mproc_pool_t* p = nullptr;
        if (mproc_pool_new(&p, &o) != 0) {
          bad++;
          continue;
        }
        mproc_value_t* args;
        mproc_pack(&args, "(i)", t * 10 + round);
        mproc_value_t* res = nullptr;
        int64_t v = -1;
        if (mproc_pool_apply(p, "square", args, nullptr, &res, nullptr) != 0 ||
            mproc_value_get_int(res, &v) != 0 ||
            v != (t * 10 + round) * (t * 10 + round))
          bad++;
        mproc_value_free(res);
        mproc_value_free(args);
        if (round % 2) {
          if (mproc_pool_close(p) != 0 || mproc_pool_join(p, 20) != 0) bad++;
        }
        mproc_pool_free(p);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(0, bad.load());
  EXPECT_EQ(0, mproc_test::CountZombieChildren());
}

TEST_F(Pool, TerminateFromAnotherThreadEndsAWaitingMap) {
  PoolPtr pool = NewPool(2);
  mproc_value_t* items;
  ASSERT_EQ(0, mproc_value_list(&items));
  Value owned(items);
  for (int i = 0; i < 100; i++) {
    mproc_value_t* d;
    ASSERT_EQ(0, mproc_value_float(&d, 0.1));
    ASSERT_EQ(0, mproc_list_append(items, d));
  }
  int rc = 1;
  mproc_task_error_t err;
  double ended = 0;
  std::thread mapper([&] {
    mproc_value_t* out = nullptr;
    rc = mproc_pool_map(pool.get(), "sleep_then_pid", items, 1, &out, &err);
    ended = Now();
    mproc_value_free(out);
  });
  SleepS(0.3);
  double t0 = Now();
  ASSERT_EQ(0, mproc_pool_terminate(pool.get()));
  mapper.join();
  EXPECT_EQ(MPROC_ETERMINATED, rc);
  EXPECT_EQ(MPROC_ETERMINATED, err.code);
  EXPECT_LT(ended - t0, 2.0);  // not the 5 s the map would take
}

TEST_F(Pool, IteratorFreedMidwayLeavesNothingBehind) {
  PoolPtr pool = NewPool(2);
  Value items = Range(1000);
  mproc_imap_opts_t o = {};
  o.target = "jitter_square";
  o.items = items.get();
  o.window = 16;
  mproc_iter_t* it = nullptr;
  ASSERT_EQ(0, mproc_pool_imap(pool.get(), &o, &it));
  mproc_item_t item;
  for (int i = 0; i < 3; i++) ASSERT_EQ(1, mproc_iter_next(it, 30, &item));
  mproc_iter_free(it);  // tasks in flight run to the end unobserved
  mproc_iter_free(nullptr);
  ASSERT_EQ(0, mproc_pool_close(pool.get()));
  ASSERT_EQ(0, mproc_pool_join(pool.get(), 30));
  uint64_t tasks = 0;
  for (const mproc_worker_stats_t& s : Stats(pool.get())) tasks += s.tasks;
  EXPECT_GE(tasks, 3u);
  EXPECT_LE(tasks, 3u + 16u) << "the window bounds what was submitted";
}

// ---- Daemons.

int NewPoolInDaemon(mproc_call_t*) {
  mproc_pool_t* p = reinterpret_cast<mproc_pool_t*>(1);
  int rc = mproc_pool_new(&p, nullptr);
  return rc == MPROC_EDAEMONIC && p == nullptr ? 0 : 1;
}

TEST_F(Pool, DaemonicProcessCannotCreateAPool) {
  mproc_process_opts_t o = {};
  o.target = NewPoolInDaemon;
  o.daemon = true;
  mproc_process_t* p = nullptr;
  ASSERT_EQ(0, mproc_process_new(&p, &o));
  ASSERT_EQ(0, mproc_process_start(p));
  ASSERT_EQ(0, mproc_process_join(p, 20));
  int code = -1;
  EXPECT_EQ(1, mproc_process_exitcode(p, &code));
  EXPECT_EQ(0, code);
  EXPECT_EQ(0, mproc_process_close(p));
}

}  // namespace
