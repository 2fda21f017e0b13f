// Futures as concurrent.futures users know them: waiting on many (with
// Process sentinels in the same wait), as_completed.
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "multiproc.h"
#include "tests/support/fork_support.h"
#include "tests/workers/pool_util.h"

using mproc_test::Now;
using namespace pool_test;

namespace {

MPROC_TARGET(fut_sleep) {
  double s;
  if (mproc_unpack(call, "d", &s) < 0) return -1;
  SleepS(s);
  return mproc_call_return(call, "d", s);
}

MPROC_TARGET(fut_fail) {
  (void)call;
  return mproc_call_fail(call, "failed on purpose");
}

class Futures : public mproc_test::Deadline {
 protected:
  Futures() : Deadline(60) {}
};

Future SubmitSleep(mproc_pool_t* pool, double s) {
  Value args = Pack("(d)", s);
  return Submit(pool, "fut_sleep", args.get());
}

TEST_F(Futures, WaitFirstCompletedReturnsWhenTheFastOneEnds) {
  PoolPtr pool = NewPool(2);
  Future slow = SubmitSleep(pool.get(), 30);
  Future fast = SubmitSleep(pool.get(), 0.05);
  mproc_future_t* fs[2] = {slow.get(), fast.get()};
  bool done[2] = {true, false};
  double t0 = Now();
  EXPECT_EQ(1, mproc_futures_wait(fs, 2, MPROC_FIRST_COMPLETED, 20, done));
  EXPECT_LT(Now() - t0, 10.0);
  EXPECT_FALSE(done[0]);
  EXPECT_TRUE(done[1]);
  EXPECT_EQ(0, mproc_future_ready(slow.get()));
  // The slow one is killed with the pool (terminate).
}

TEST_F(Futures, WaitAllCompletedWaitsForEveryOne) {
  PoolPtr pool = NewPool(2);
  std::vector<Future> owned;
  std::vector<mproc_future_t*> fs;
  for (int i = 0; i < 6; i++) {
    owned.push_back(SubmitSleep(pool.get(), 0.02 * i));
    fs.push_back(owned.back().get());
  }
  bool done[6] = {};
  EXPECT_EQ(6, mproc_futures_wait(fs.data(), 6, MPROC_ALL_COMPLETED, -1, done));
  for (int i = 0; i < 6; i++) {
    EXPECT_TRUE(done[i]) << i;
    EXPECT_EQ(1, mproc_future_ready(fs[i])) << i;
  }
  // Already done: returns at once, also with a zero timeout.
  EXPECT_EQ(6, mproc_futures_wait(fs.data(), 6, MPROC_ALL_COMPLETED, 0, nullptr));
  EXPECT_EQ(0, mproc_futures_wait(nullptr, 0, MPROC_ALL_COMPLETED, 0, nullptr));
}

TEST_F(Futures, WaitTimesOutAndStillSaysWhichAreDone) {
  PoolPtr pool = NewPool(2);
  Future slow = SubmitSleep(pool.get(), 30);
  Future fast = SubmitSleep(pool.get(), 0);
  ASSERT_EQ(0, mproc_future_wait(fast.get(), 20));
  mproc_future_t* fs[2] = {slow.get(), fast.get()};
  bool done[2] = {true, false};
  double t0 = Now();
  EXPECT_EQ(MPROC_ETIMEDOUT,
            mproc_futures_wait(fs, 2, MPROC_ALL_COMPLETED, 0.2, done));
  double took = Now() - t0;
  EXPECT_GE(took, 0.19);
  EXPECT_LT(took, 5.0);
  EXPECT_FALSE(done[0]);
  EXPECT_TRUE(done[1]);
  // Just looking.
  EXPECT_EQ(MPROC_ETIMEDOUT,
            mproc_futures_wait(fs, 2, MPROC_ALL_COMPLETED, 0, done));
}

TEST_F(Futures, WaitFirstExceptionReturnsOnAFailureNotOnSuccess) {
  PoolPtr pool = NewPool(3);
  Future slow = SubmitSleep(pool.get(), 30);
  Future ok = SubmitSleep(pool.get(), 0);
  ASSERT_EQ(0, mproc_future_wait(ok.get(), 20));
  mproc_future_t* fs2[2] = {slow.get(), ok.get()};
  // A success alone does not end a FIRST_EXCEPTION wait.
  EXPECT_EQ(MPROC_ETIMEDOUT,
            mproc_futures_wait(fs2, 2, MPROC_FIRST_EXCEPTION, 0.1, nullptr));
  Future bad = Submit(pool.get(), "fut_fail", nullptr);
  mproc_waitable_t ws[3] = {};
  ws[0].future = slow.get();
  ws[1].future = ok.get();
  ws[2].future = bad.get();
  double t0 = Now();
  EXPECT_EQ(2, mproc_wait_many(ws, 3, MPROC_FIRST_EXCEPTION, 20));
  EXPECT_LT(Now() - t0, 10.0);
  EXPECT_FALSE(ws[0].done);
  EXPECT_TRUE(ws[1].done);
  EXPECT_FALSE(ws[1].failed);
  EXPECT_TRUE(ws[2].done);
  EXPECT_TRUE(ws[2].failed);
}

int ProcSleep(mproc_call_t* call) {
  double s;
  if (mproc_unpack(call, "d", &s) < 0) return -1;
  SleepS(s);
  return 7;
}

struct Proc {
  mproc_process_t* p = nullptr;
  explicit Proc(double s) {
    Value args = Pack("(d)", s);
    mproc_process_opts_t opts = {};
    opts.target = ProcSleep;
    opts.args = args.get();
    EXPECT_EQ(0, mproc_process_new(&p, &opts));
    EXPECT_EQ(0, mproc_process_start(p));
  }
  ~Proc() {
    mproc_process_kill(p);
    mproc_process_join(p, -1);
    mproc_process_close(p);
  }
};

TEST_F(Futures, ProcessSentinelsAndFuturesInOneWait) {
  PoolPtr pool = NewPool(1);
  Future slow = SubmitSleep(pool.get(), 30);
  Proc proc(0.1);
  mproc_waitable_t ws[2] = {};
  ws[0].future = slow.get();
  ws[1].fd = mproc_process_sentinel(proc.p);
  ASSERT_GE(ws[1].fd, 0);
  double t0 = Now();
  EXPECT_EQ(1, mproc_wait_many(ws, 2, MPROC_FIRST_COMPLETED, 20));
  EXPECT_LT(Now() - t0, 10.0);
  EXPECT_FALSE(ws[0].done);
  EXPECT_TRUE(ws[1].done);
  EXPECT_FALSE(ws[1].failed);
  EXPECT_EQ(0, mproc_process_join(proc.p, 0));
  int code = -1;
  EXPECT_EQ(1, mproc_process_exitcode(proc.p, &code));
  EXPECT_EQ(7, code);

  // The other way round: the future ends first, the process keeps running.
  Proc slow_proc(30);
  Future fast = SubmitSleep(pool.get(), 0);  // behind `slow` on 1 worker
  mproc_pool_t* pool2 = nullptr;
  mproc_pool_opts_t opts = {};
  opts.workers = 1;
  ASSERT_EQ(0, mproc_pool_new(&pool2, &opts));
  PoolPtr owner2(pool2);
  Future quick = SubmitSleep(pool2, 0.05);
  mproc_waitable_t ws2[3] = {};
  ws2[0].fd = mproc_process_sentinel(slow_proc.p);
  ws2[1].future = fast.get();
  ws2[2].future = quick.get();  // another pool
  EXPECT_EQ(1, mproc_wait_many(ws2, 3, MPROC_FIRST_COMPLETED, 20));
  EXPECT_FALSE(ws2[0].done);
  EXPECT_FALSE(ws2[1].done);
  EXPECT_TRUE(ws2[2].done);
  EXPECT_EQ(1, mproc_process_is_alive(slow_proc.p));
}

TEST_F(Futures, AllCompletedOverProcessesAndFuturesOfTwoPools) {
  PoolPtr a = NewPool(1), b = NewPool(1);
  Future fa = SubmitSleep(a.get(), 0.2);
  Future fb = SubmitSleep(b.get(), 0.1);
  Proc p1(0.15), p2(0.05);
  mproc_waitable_t ws[4] = {};
  ws[0].future = fa.get();
  ws[1].fd = mproc_process_sentinel(p1.p);
  ws[2].future = fb.get();
  ws[3].fd = mproc_process_sentinel(p2.p);
  EXPECT_EQ(4, mproc_wait_many(ws, 4, MPROC_ALL_COMPLETED, 20));
  for (int i = 0; i < 4; i++) EXPECT_TRUE(ws[i].done) << i;
  EXPECT_EQ(1, mproc_future_ready(fa.get()));
  EXPECT_EQ(1, mproc_future_ready(fb.get()));
}

TEST_F(Futures, AsCompletedYieldsInTheOrderTheyEnd) {
  PoolPtr pool = NewPool(3);
  Future f0 = SubmitSleep(pool.get(), 1.2);
  Future f1 = SubmitSleep(pool.get(), 0.1);
  Future f2 = SubmitSleep(pool.get(), 0.6);
  Proc proc(0.35);
  mproc_waitable_t ws[4] = {};
  ws[0].future = f0.get();
  ws[1].future = f1.get();
  ws[2].future = f2.get();
  ws[3].fd = mproc_process_sentinel(proc.p);
  mproc_as_completed_t* it = nullptr;
  ASSERT_EQ(0, mproc_as_completed_new(&it, ws, 4, 30));
  std::vector<size_t> order;
  size_t index = 99;
  int rc;
  while ((rc = mproc_as_completed_next(it, &index)) == 1) {
    order.push_back(index);
    if (index < 3) {
      EXPECT_EQ(1, mproc_future_ready(ws[index].future));
    }
  }
  EXPECT_EQ(0, rc);
  EXPECT_EQ(0, mproc_as_completed_next(it, &index));  // stays at the end
  mproc_as_completed_free(it);
  EXPECT_EQ((std::vector<size_t>{1, 3, 2, 0}), order);
}

TEST_F(Futures, AsCompletedYieldsThoseDoneFirstThenTimesOut) {
  PoolPtr pool = NewPool(2);
  Future slow = SubmitSleep(pool.get(), 30);
  Future done = SubmitSleep(pool.get(), 0);
  ASSERT_EQ(0, mproc_future_wait(done.get(), 20));
  mproc_future_t* fs[2] = {slow.get(), done.get()};
  mproc_waitable_t ws[2] = {};
  ws[0].future = fs[0];
  ws[1].future = fs[1];
  mproc_as_completed_t* it = nullptr;
  ASSERT_EQ(0, mproc_as_completed_new(&it, ws, 2, 0.3));
  size_t index = 99;
  EXPECT_EQ(1, mproc_as_completed_next(it, &index));
  EXPECT_EQ(1u, index);
  double t0 = Now();
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_as_completed_next(it, &index));
  EXPECT_LT(Now() - t0, 5.0);
  mproc_as_completed_free(it);
  mproc_as_completed_free(nullptr);
}

TEST_F(Futures, ManyThreadsWaitOnTheSameFutures) {
  PoolPtr pool = NewPool(2);
  std::vector<Future> owned;
  std::vector<mproc_future_t*> fs;
  for (int i = 0; i < 20; i++) {
    owned.push_back(SubmitSleep(pool.get(), 0.005 * (i % 4)));
    fs.push_back(owned.back().get());
  }
  std::vector<int> rcs(4, -1);
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; k++)
    threads.emplace_back([&, k] {
      rcs[k] = mproc_futures_wait(fs.data(), fs.size(),
                                  k % 2 ? MPROC_FIRST_COMPLETED
                                        : MPROC_ALL_COMPLETED,
                                  30, nullptr);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(20, rcs[0]);
  EXPECT_EQ(20, rcs[2]);
  EXPECT_GE(rcs[1], 1);
  EXPECT_GE(rcs[3], 1);
}

TEST_F(Futures, WaitMisuseIsRefusedWithADetail) {
  PoolPtr pool = NewPool(1);
  Future f = SubmitSleep(pool.get(), 0);
  mproc_waitable_t ws[2] = {};
  ws[0].future = f.get();
  ws[1].fd = -1;
  EXPECT_EQ(MPROC_EINVAL, mproc_wait_many(ws, 2, MPROC_ALL_COMPLETED, 1));
  EXPECT_NE(nullptr, strstr(mproc_last_error(), "mproc_wait_many"));
  EXPECT_NE(nullptr, strstr(mproc_last_error(), "ws[1]"));
  EXPECT_EQ(MPROC_EINVAL, mproc_wait_many(nullptr, 1, MPROC_ALL_COMPLETED, 1));
  EXPECT_EQ(MPROC_EINVAL,
            mproc_wait_many(ws, 1, static_cast<mproc_return_when_t>(9), 1));
  EXPECT_NE(nullptr, strstr(mproc_last_error(), "when"));
  EXPECT_EQ(MPROC_EINVAL, mproc_wait_many(ws, 1, MPROC_ALL_COMPLETED, NAN));
  EXPECT_NE(nullptr, strstr(mproc_last_error(), "timeout_s"));
  mproc_future_t* fs[2] = {f.get(), nullptr};
  EXPECT_EQ(MPROC_EINVAL,
            mproc_futures_wait(fs, 2, MPROC_ALL_COMPLETED, 1, nullptr));
  EXPECT_NE(nullptr, strstr(mproc_last_error(), "mproc_futures_wait"));
  EXPECT_NE(nullptr, strstr(mproc_last_error(), "fs[1]"));
  // A descriptor that is not open.
  int fds[2];
  ASSERT_EQ(0, pipe(fds));
  close(fds[0]);
  close(fds[1]);
  ws[1].fd = fds[0];
  EXPECT_EQ(MPROC_EBADF, mproc_wait_many(ws, 2, MPROC_ALL_COMPLETED, 1));
  mproc_as_completed_t* it = nullptr;
  EXPECT_EQ(MPROC_EINVAL, mproc_as_completed_new(nullptr, ws, 1, 1));
  EXPECT_EQ(MPROC_EINVAL, mproc_as_completed_new(&it, nullptr, 1, 1));
  EXPECT_NE(nullptr, strstr(mproc_last_error(), "mproc_as_completed_new"));
  EXPECT_EQ(MPROC_EINVAL, mproc_as_completed_next(nullptr, nullptr));
}

}  // namespace
