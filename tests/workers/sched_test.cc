// The pool's task state machine (workers/sched.c), fed events by hand:
// no process is forked, no descriptor opened. A fake pool with worker
// records stands in for the real one; tasks are real task objects with
// real encoded frames.
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

#include <gtest/gtest.h>

#include "core/base/check.h"
#include "workers/sched.h"

namespace {

class Sched : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = static_cast<mproc_pool_t*>(calloc(1, sizeof *pool_));
    mproc__mutex_init(&pool_->lock);  // error-checking in debug builds
    pthread_cond_init(&pool_->cond, nullptr);
    pool_->refs = 1;
    pool_->state = POOL_OPEN;
    pool_->nworkers = 3;
    pool_->wcfg.max_frame = 1 << 20;
    pool_->workers =
        static_cast<worker_t*>(calloc(pool_->nworkers, sizeof(worker_t)));
    for (unsigned i = 0; i < pool_->nworkers; i++) {
      worker_t* w = &pool_->workers[i];
      w->slot = static_cast<int>(i);
      w->state = WORKER_RUNNING;
      w->ready = true;
      w->pid = 1000 + static_cast<pid_t>(i);
    }
    pool_->now_ns = 1000000000;
    pthread_mutex_lock(&pool_->lock);
  }

  void TearDown() override {
    for (mproc_future_t* t : tasks_) {
      // Outstanding ones are failed so that their holds drop.
      if (t->state != TASK_DONE) mproc__sched_fail_locked(pool_, t, -1, 0, 0, "x");
    }
    pthread_mutex_unlock(&pool_->lock);
    for (mproc_future_t* t : tasks_) mproc_future_free(t);
    for (unsigned i = 0; i < pool_->nworkers; i++)
      mproc__buf_free(&pool_->workers[i].out);
    pthread_mutex_lock(&pool_->lock);
    mproc__pool_unref_locked(pool_);  // frees the pool
  }

  // A queued task calling "t" with one int argument x.
  mproc_future_t* Task(int64_t x) {
    mproc_future_t* t = mproc__task_new_locked(pool_);
    mproc_value_t* args = nullptr;
    mproc_pack(&args, "(L)", x);
    EXPECT_EQ(0, mproc__task_encode(pool_, t, "t", args, nullptr, 0, nullptr,
                                    MPROC__CALL_ONE, 0));
    mproc_value_free(args);
    mproc__sched_enqueue_locked(pool_, t);
    tasks_.push_back(t);
    return t;
  }

  // The answer a worker would send for t: result x, or failure code.
  mproc__report_t Answer(const mproc_future_t* t, int64_t result,
                         int code = 0) {
    mproc__report_t r;
    memset(&r, 0, sizeof r);
    r.kind = MPROC__REPORT_RETURNED;
    r.id = t->id;
    r.t_enter_ns = pool_->now_ns;
    r.t_ns = pool_->now_ns + 1000;
    r.code = code;
    if (code == 0) mproc_value_int(&r.result, result);
    return r;
  }

  std::vector<uint64_t> Outstanding(const worker_t* w) {
    std::vector<uint64_t> ids;
    for (const mproc_future_t* t = w->ohead; t != nullptr; t = t->next)
      ids.push_back(t->id);
    return ids;
  }

  std::vector<uint64_t> Queue() {
    std::vector<uint64_t> ids;
    for (const mproc_future_t* t = pool_->qhead; t != nullptr; t = t->next)
      ids.push_back(t->id);
    return ids;
  }

  worker_t* W(unsigned i) { return &pool_->workers[i]; }

  mproc_pool_t* pool_ = nullptr;
  std::vector<mproc_future_t*> tasks_;
};

TEST_F(Sched, DispatchSpreadsTasksOverTheLeastLoadedWorkers) {
  for (int i = 0; i < 6; i++) Task(i);
  EXPECT_EQ(6u, mproc__sched_dispatch_locked(pool_, pool_->now_ns));
  for (unsigned i = 0; i < 3; i++) {
    EXPECT_EQ(2u, W(i)->nout) << i;
    EXPECT_TRUE(W(i)->flush_now) << "was idle: write at once";
  }
  EXPECT_EQ(0u, pool_->queued);
  EXPECT_EQ(6u, pool_->unfinished);
  // Each worker's output holds exactly its tasks' frames, in order.
  for (unsigned i = 0; i < 3; i++) {
    size_t want = 0;
    for (const mproc_future_t* t = W(i)->ohead; t; t = t->next) {
      EXPECT_EQ(TASK_DISPATCHED, t->state);
      EXPECT_EQ(static_cast<int>(i), t->timing.worker);
      EXPECT_EQ(W(i)->pid, t->timing.pid);
      want += t->frame.len;
    }
    EXPECT_EQ(want, W(i)->out.len);
  }
}

TEST_F(Sched, WorkersThatCannotTakeTasksGetNone) {
  W(0)->retiring = true;
  W(1)->timed_out_id = 99;
  W(2)->dead = true;
  Task(1);
  EXPECT_EQ(0u, mproc__sched_dispatch_locked(pool_, pool_->now_ns));
  EXPECT_EQ(1u, pool_->queued);
  W(2)->dead = false;
  W(2)->state = WORKER_SPAWNING;
  EXPECT_EQ(0u, mproc__sched_dispatch_locked(pool_, pool_->now_ns));
  W(2)->state = WORKER_RUNNING;
  EXPECT_EQ(1u, mproc__sched_dispatch_locked(pool_, pool_->now_ns));
  EXPECT_EQ(1u, W(2)->nout);
}

TEST_F(Sched, InFlightDepthFollowsTheRecentRunTime) {
  pool_->nworkers = 1;
  pool_->ema_run_ns = 1000000.0;  // 1 ms tasks: 2 in flight
  for (int i = 0; i < 10; i++) Task(i);
  EXPECT_EQ(2u, mproc__sched_dispatch_locked(pool_, pool_->now_ns));
  pool_->ema_run_ns = 1000.0;  // 1 us tasks: up to 256 in flight
  EXPECT_EQ(8u, mproc__sched_dispatch_locked(pool_, pool_->now_ns));
  EXPECT_EQ(10u, W(0)->nout);
}

TEST_F(Sched, MaxTasksPerChildCapsDispatchAndRetires) {
  pool_->nworkers = 1;
  pool_->max_tasks_per_child = 2;
  mproc_future_t* a = Task(1);
  Task(2);
  Task(3);
  EXPECT_EQ(2u, mproc__sched_dispatch_locked(pool_, pool_->now_ns));
  mproc__report_t r = Answer(a, 10);
  EXPECT_EQ(0, mproc__sched_complete_locked(pool_, W(0), &r, pool_->now_ns));
  mproc__report_clear(&r);
  EXPECT_TRUE(W(0)->retiring) << "dispatched its quota";
  EXPECT_EQ(1u, pool_->queued) << "the third waits for a new worker";
}

TEST_F(Sched, AnswersCompleteTheOldestTaskWithItsOutcome) {
  mproc_future_t* a = Task(1);
  mproc_future_t* b = Task(2);
  pool_->nworkers = 1;
  mproc__sched_dispatch_locked(pool_, pool_->now_ns);
  mproc__report_t ra = Answer(a, 10);
  ASSERT_EQ(0, mproc__sched_complete_locked(pool_, W(0), &ra, pool_->now_ns));
  mproc__report_clear(&ra);
  EXPECT_EQ(TASK_DONE, a->state);
  EXPECT_EQ(0, a->code);
  int64_t v = 0;
  ASSERT_EQ(0, mproc_value_get_int(a->result, &v));
  EXPECT_EQ(10, v);
  EXPECT_GT(pool_->ema_run_ns, 0);
  EXPECT_EQ(1u, W(0)->tasks);
  mproc__report_t rb = Answer(b, 0, 3);  // the target returned 3
  rb.message = strdup("bad input");
  ASSERT_EQ(0, mproc__sched_complete_locked(pool_, W(0), &rb, pool_->now_ns));
  mproc__report_clear(&rb);
  EXPECT_EQ(MPROC_EFAILED, b->code);
  EXPECT_EQ(3, b->exit_code);
  EXPECT_STREQ("bad input", b->message);
  EXPECT_EQ(0u, pool_->unfinished);
  EXPECT_TRUE(pool_->completed);
}

TEST_F(Sched, AnAnswerOutOfOrderIsRefused) {
  pool_->nworkers = 1;
  Task(1);
  mproc_future_t* b = Task(2);
  mproc__sched_dispatch_locked(pool_, pool_->now_ns);
  mproc__report_t r = Answer(b, 20);
  EXPECT_EQ(MPROC_EMALFORMED,
            mproc__sched_complete_locked(pool_, W(0), &r, pool_->now_ns));
  mproc__report_clear(&r);
  EXPECT_EQ(2u, W(0)->nout) << "nothing changed";
}

TEST_F(Sched, DeathFailsOnlyTheRunningTaskAndRequeuesTheRestInOrder) {
  pool_->nworkers = 1;
  mproc_future_t* a = Task(1);
  mproc_future_t* b = Task(2);
  mproc_future_t* c = Task(3);
  mproc_future_t* d = Task(4);  // stays queued: cap
  pool_->ema_run_ns = 1000000.0;  // 2 in flight... then more
  mproc__sched_dispatch_locked(pool_, pool_->now_ns);
  pool_->ema_run_ns = 1000.0;
  mproc__sched_dispatch_locked(pool_, pool_->now_ns);
  ASSERT_EQ((std::vector<uint64_t>{a->id, b->id, c->id, d->id}),
            Outstanding(W(0)));
  // The board said it was inside b (a had been answered... not here: a
  // is still outstanding, as if its answer were lost with the worker).
  EXPECT_TRUE(mproc__sched_worker_died_locked(pool_, W(0), b->id,
                                              MPROC_EWORKER, 0, 9, "killed"));
  EXPECT_EQ(TASK_DONE, b->state);
  EXPECT_EQ(MPROC_EWORKER, b->code);
  EXPECT_EQ(9, b->signal);
  EXPECT_STREQ("killed", b->message);
  EXPECT_EQ((std::vector<uint64_t>{a->id, c->id, d->id}), Queue());
  for (mproc_future_t* t : {a, c, d}) {
    EXPECT_EQ(TASK_QUEUED, t->state);
    EXPECT_EQ(-1, t->timing.worker);
  }
  EXPECT_EQ(0u, W(0)->nout);
  EXPECT_EQ(nullptr, W(0)->ohead);
  EXPECT_EQ(3u, pool_->unfinished);
}

TEST_F(Sched, ADeathRequeuesTheRunningTaskWhileItHasRetriesLeft) {
  pool_->nworkers = 1;
  pool_->max_retries = 1;
  mproc_future_t* a = Task(1);
  mproc_future_t* b = Task(2);
  mproc__sched_dispatch_locked(pool_, pool_->now_ns);
  ASSERT_EQ((std::vector<uint64_t>{a->id, b->id}), Outstanding(W(0)));
  EXPECT_TRUE(mproc__sched_worker_died_locked(pool_, W(0), a->id,
                                              MPROC_EWORKER, 0, 9, "killed"));
  EXPECT_EQ((std::vector<uint64_t>{a->id, b->id}), Queue());
  EXPECT_EQ(TASK_QUEUED, a->state);
  EXPECT_EQ(1u, a->timing.retries);
  EXPECT_EQ(-1, a->timing.worker);
  // The second death is the last try.
  mproc__sched_dispatch_locked(pool_, pool_->now_ns);
  EXPECT_TRUE(mproc__sched_worker_died_locked(pool_, W(0), a->id,
                                              MPROC_EWORKER, 0, 9, "killed"));
  EXPECT_EQ(TASK_DONE, a->state);
  EXPECT_EQ(MPROC_EWORKER, a->code);
  EXPECT_STREQ("killed (2 tries)", a->message);
  EXPECT_EQ((std::vector<uint64_t>{b->id}), Queue());
  EXPECT_EQ(0u, b->timing.retries);
  // A timeout is never retried.
  mproc__sched_dispatch_locked(pool_, pool_->now_ns);
  EXPECT_TRUE(mproc__sched_worker_died_locked(
      pool_, W(0), b->id, MPROC_ETASKTIMEOUT, 0, 15, "too long"));
  EXPECT_EQ(TASK_DONE, b->state);
  EXPECT_STREQ("too long", b->message);
}

TEST_F(Sched, DeathBetweenTasksFailsNothing) {
  mproc_future_t* a = Task(1);
  mproc_future_t* b = Task(2);
  pool_->nworkers = 1;
  mproc__sched_dispatch_locked(pool_, pool_->now_ns);
  EXPECT_FALSE(mproc__sched_worker_died_locked(pool_, W(0), 0, MPROC_EWORKER,
                                               0, 9, "killed"));
  EXPECT_EQ((std::vector<uint64_t>{a->id, b->id}), Queue());
  // Requeued tasks go before those that were waiting already.
  mproc_future_t* c = Task(3);
  EXPECT_EQ((std::vector<uint64_t>{a->id, b->id, c->id}), Queue());
}

TEST_F(Sched, FailAllFailsQueuedAndOptionallyDispatchedTasks) {
  pool_->nworkers = 1;
  pool_->ema_run_ns = 1000000.0;
  mproc_future_t* a = Task(1);
  mproc_future_t* b = Task(2);
  mproc_future_t* c = Task(3);
  mproc__sched_dispatch_locked(pool_, pool_->now_ns);
  mproc__sched_fail_all_locked(pool_, MPROC_EBROKEN, false, "broken");
  EXPECT_EQ(TASK_DISPATCHED, a->state);
  EXPECT_EQ(TASK_DONE, c->state);
  EXPECT_EQ(MPROC_EBROKEN, c->code);
  mproc__sched_fail_all_locked(pool_, MPROC_ETERMINATED, true, "terminated");
  EXPECT_EQ(MPROC_ETERMINATED, a->code);
  EXPECT_EQ(MPROC_ETERMINATED, b->code);
  EXPECT_STREQ("terminated", b->message);
  EXPECT_EQ(0u, pool_->unfinished);
}

TEST_F(Sched, ChunkAnswersHandOverEveryItemsResult) {
  pool_->nworkers = 1;
  mproc_future_t* t = mproc__task_new_locked(pool_);
  mproc_value_t *x = nullptr, *y = nullptr;
  mproc_value_int(&x, 1);
  mproc_value_int(&y, 2);
  const mproc_value_t* items[2] = {x, y};
  ASSERT_EQ(0, mproc__task_encode(pool_, t, "t", nullptr, items, 2, nullptr,
                                  MPROC__CALL_MAP, 40));
  mproc_value_free(x);
  mproc_value_free(y);
  mproc__sched_enqueue_locked(pool_, t);
  tasks_.push_back(t);
  mproc__sched_dispatch_locked(pool_, pool_->now_ns);
  mproc__report_t r = Answer(t, 0);
  mproc_value_free(r.result);
  r.result = nullptr;
  r.n_results = 2;
  r.results = static_cast<mproc_value_t**>(calloc(2, sizeof *r.results));
  mproc_value_int(&r.results[0], 10);
  mproc_value_none(&r.results[1]);
  r.n_item_errors = 1;
  r.item_errors = static_cast<mproc__item_error_t*>(
      calloc(1, sizeof *r.item_errors));
  r.item_errors[0].index = 1;
  r.item_errors[0].code = 2;
  r.item_errors[0].message = strdup("item failed");
  ASSERT_EQ(0, mproc__sched_complete_locked(pool_, W(0), &r, pool_->now_ns));
  mproc__report_clear(&r);
  EXPECT_EQ(40u, t->first);
  mproc_task_error_t err;
  const mproc_value_t* res = nullptr;
  mproc__chunk_item(t, 0, &err, &res);
  EXPECT_EQ(0, err.code);
  int64_t v = 0;
  ASSERT_EQ(0, mproc_value_get_int(res, &v));
  EXPECT_EQ(10, v);
  mproc__chunk_item(t, 1, &err, &res);
  EXPECT_EQ(MPROC_EFAILED, err.code);
  EXPECT_EQ(2, err.exit_code);
  EXPECT_STREQ("item failed", err.message);
  EXPECT_EQ(nullptr, res);
}

TEST_F(Sched, FinishedTasksTheCallerReleasedAreRecycled) {
  mproc_future_t* a = Task(1);
  tasks_.pop_back();
  a->user_holds = false;  // as mproc_future_free does
  pool_->refs--;
  pool_->nworkers = 1;
  mproc__sched_dispatch_locked(pool_, pool_->now_ns);
  mproc__report_t r = Answer(a, 1);
  size_t free_before = pool_->nfree;
  ASSERT_EQ(0, mproc__sched_complete_locked(pool_, W(0), &r, pool_->now_ns));
  mproc__report_clear(&r);
  EXPECT_EQ(free_before + 1, pool_->nfree);
}

}  // namespace

// ---- Work stealing (board.h): an idle worker gets the tasks another holds
// behind one that has run for a while; the board's gate decides which, so
// that a task never runs at both.

class Steal : public Sched {
 protected:
  void SetUp() override {
    Sched::SetUp();
    pool_->nworkers = 2;
    pool_->board = mproc__board_new(2);
    ASSERT_NE(nullptr, pool_->board);
  }
  mproc__post_t* Post(unsigned i) { return &pool_->board[i]; }
  // W's worker reads task t (admitted) and enters it now.
  void Enter(unsigned i, const mproc_future_t* t) {
    ASSERT_TRUE(mproc__post_admit(Post(i), t->wseq));
    ASSERT_TRUE(mproc__post_enter(Post(i), t->id, pool_->now_ns));
  }
  void Finish(unsigned i, mproc_future_t* t) {
    ASSERT_TRUE(mproc__post_leave(Post(i), t->id));
    mproc__report_t r = Answer(t, 0);
    ASSERT_EQ(0, mproc__sched_complete_locked(pool_, W(i), &r, pool_->now_ns));
    mproc__report_clear(&r);
  }
};

// W0 got two tasks before W1 could take any (W1 still starting), and has
// not entered the first yet: the pool must look again later, or c would
// wait behind a slow a while W1 idles.
TEST_F(Steal, ALookIsPlannedWhileTheBusyWorkerHasNotStarted) {
  W(1)->state = WORKER_SPAWNING;
  mproc_future_t* a = Task(1);
  mproc_future_t* c = Task(2);
  ASSERT_EQ(2u, mproc__sched_dispatch_locked(pool_, pool_->now_ns));
  ASSERT_EQ((std::vector<uint64_t>{a->id, c->id}), Outstanding(W(0)));
  W(1)->state = WORKER_RUNNING;  // W1 is ready now, W0 not inside a yet
  EXPECT_EQ(0u, mproc__sched_dispatch_locked(pool_, pool_->now_ns));
  EXPECT_EQ(pool_->now_ns + 1000000, pool_->steal_at_ns);
  Enter(0, a);
  pool_->now_ns += 2000000;  // a has run 2 ms: c goes to W1
  EXPECT_EQ(1u, mproc__sched_dispatch_locked(pool_, pool_->now_ns));
  EXPECT_EQ((std::vector<uint64_t>{a->id}), Outstanding(W(0)));
  EXPECT_EQ((std::vector<uint64_t>{c->id}), Outstanding(W(1)));
}

TEST_F(Steal, AnIdleWorkerTakesTasksWaitingBehindASlowOne) {
  mproc_future_t* a = Task(1);
  mproc_future_t* b = Task(2);
  mproc_future_t* c = Task(3);
  mproc_future_t* d = Task(4);
  ASSERT_EQ(4u, mproc__sched_dispatch_locked(pool_, pool_->now_ns));
  ASSERT_EQ((std::vector<uint64_t>{a->id, c->id}), Outstanding(W(0)));
  ASSERT_EQ((std::vector<uint64_t>{b->id, d->id}), Outstanding(W(1)));
  Enter(0, a);  // a is slow
  Enter(1, b);
  Finish(1, b);
  Enter(1, d);
  Finish(1, d);
  // W1 is idle, nothing is queued; a has only just started.
  EXPECT_EQ(0u, mproc__sched_dispatch_locked(pool_, pool_->now_ns));
  EXPECT_EQ(pool_->now_ns + 1000000, pool_->steal_at_ns);
  pool_->now_ns += 2000000;  // a has run 2 ms: c goes to W1
  EXPECT_EQ(1u, mproc__sched_dispatch_locked(pool_, pool_->now_ns));
  EXPECT_EQ((std::vector<uint64_t>{a->id}), Outstanding(W(0)));
  EXPECT_EQ((std::vector<uint64_t>{c->id}), Outstanding(W(1)));
  EXPECT_EQ(1, c->timing.worker);
  EXPECT_TRUE(W(1)->flush_now) << "W1 was idle: write at once";
  EXPECT_EQ(UINT64_MAX, pool_->steal_at_ns);
  // While a runs on, W0 gets nothing more: it would wait behind a.
  mproc_future_t* e = Task(5);
  W(1)->retiring = true;  // W1 cannot take it either
  EXPECT_EQ(0u, mproc__sched_dispatch_locked(pool_, pool_->now_ns));
  W(1)->retiring = false;
  W(1)->timed_out_id = 1;  // nor now: e is for W0 once a is done
  // W0's worker, done with a, reads c (sequence 2): it drops it. A task
  // written to it later is its own.
  Finish(0, a);
  EXPECT_FALSE(mproc__post_admit(Post(0), 2));
  EXPECT_EQ(1u, mproc__sched_dispatch_locked(pool_, pool_->now_ns));
  EXPECT_EQ(0, e->timing.worker);
  EXPECT_EQ(3u, e->wseq);
  EXPECT_TRUE(mproc__post_admit(Post(0), 3));
  W(1)->timed_out_id = 0;
}

TEST_F(Steal, TasksTheWorkerAdmittedStayWithIt) {
  pool_->nworkers = 1;
  mproc_future_t* a = Task(1);
  mproc_future_t* b = Task(2);
  mproc_future_t* c = Task(3);
  ASSERT_EQ(3u, mproc__sched_dispatch_locked(pool_, pool_->now_ns));
  pool_->nworkers = 2;  // a second worker arrives, idle
  Enter(0, a);
  // The worker admits b at the very moment the pool steals (the race the
  // gate settles): only c can go.
  ASSERT_TRUE(mproc__post_admit(Post(0), b->wseq));
  uint32_t c_at_w0 = c->wseq;
  pool_->now_ns += 5000000;
  EXPECT_EQ(1u, mproc__sched_dispatch_locked(pool_, pool_->now_ns));
  EXPECT_EQ((std::vector<uint64_t>{a->id, b->id}), Outstanding(W(0)));
  EXPECT_EQ((std::vector<uint64_t>{c->id}), Outstanding(W(1)));
  EXPECT_FALSE(mproc__post_admit(Post(0), c_at_w0));
}

TEST_F(Steal, OneRangeAtATimeAndNothingBetweenTasks) {
  pool_->nworkers = 1;
  mproc_future_t* a = Task(1);
  Task(2);
  Task(3);
  ASSERT_EQ(3u, mproc__sched_dispatch_locked(pool_, pool_->now_ns));
  pool_->nworkers = 2;
  pool_->now_ns += 5000000;
  // Between tasks (admitted a, not inside it): it takes the next itself.
  ASSERT_TRUE(mproc__post_admit(Post(0), a->wseq));
  EXPECT_EQ(0u, mproc__sched_dispatch_locked(pool_, pool_->now_ns));
  // Inside a for 4 ms: both behind it go, to the queue, then W1 (which
  // takes its cap: the short tasks of this fixture, all of them).
  ASSERT_TRUE(mproc__post_enter(Post(0), a->id, pool_->now_ns - 4000000));
  EXPECT_EQ(2u, mproc__sched_dispatch_locked(pool_, pool_->now_ns));
  EXPECT_EQ(1u, W(0)->nout);
  EXPECT_EQ(2u, W(1)->nout);
  // The range taken (sequences 2 and 3) is not yet passed by W0's
  // worker: were W0 to hold more behind a, none could be taken until it
  // is. Here: a task written to W0 after a leaves.
  EXPECT_EQ(MPROC__SEQ_MASK + 1, mproc__post_revoke(Post(0), 4, 5));
  EXPECT_FALSE(mproc__post_admit(Post(0), 2));
  EXPECT_FALSE(mproc__post_admit(Post(0), 3));
  EXPECT_TRUE(mproc__post_admit(Post(0), 4));  // past the range
  EXPECT_EQ(5u, mproc__post_revoke(Post(0), 5, 6));
  EXPECT_FALSE(mproc__post_admit(Post(0), 5));
}
