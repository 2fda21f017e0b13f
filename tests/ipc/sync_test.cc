// Process-shared Lock, RLock, Semaphore, Event, Condition, Barrier: their
// semantics across processes and threads, timeouts, EINTR storms, and
// holders killed while holding (multiproc/sync.h).
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "multiproc.h"
#include "tests/ipc/ipc_util.h"
#include "tests/support/fork_support.h"

namespace {

using mproc_test::ExitedZero;
using mproc_test::Now;
using mproc_test::Reap;
using mproc_test::Spawn;

class Sync : public mproc_test::IpcTest {};

// Shared scratch memory for the tests' own bookkeeping.
struct Scratch {
  Scratch() { EXPECT_EQ(0, mproc_array_new(&a, 'q', 64, false)); }
  ~Scratch() { mproc_array_free(a); }
  long long* v() { return static_cast<long long*>(mproc_array_data(a)); }
  mproc_array_t* a = nullptr;
};

// Waits (briefly polling) until *p reaches want; false after 10 s.
bool WaitFor(volatile long long* p, long long want) {
  double end = Now() + 10;
  while (__atomic_load_n(p, __ATOMIC_SEQ_CST) < want)
    if (Now() > end) return false;
    else usleep(200);
  return true;
}

// ---- Lock and RLock.

TEST_F(Sync, LockAcquireReleaseHeld) {
  mproc_lock_t* l;
  ASSERT_EQ(0, mproc_lock_new(&l));
  EXPECT_EQ(0, mproc_lock_held(l));
  EXPECT_EQ(0, mproc_lock_acquire(l, -1));
  EXPECT_EQ(1, mproc_lock_held(l));
  EXPECT_EQ(MPROC_EDEADLK, mproc_lock_acquire(l, -1));
  EXPECT_EQ(MPROC_EDEADLK, mproc_lock_acquire(l, 0));
  EXPECT_EQ(0, mproc_lock_release(l));
  EXPECT_EQ(MPROC_EPERM, mproc_lock_release(l));
  EXPECT_EQ(MPROC_EINVAL, mproc_lock_acquire(l, NAN));
  EXPECT_EQ(MPROC_EINVAL, mproc_lock_acquire(nullptr, 0));
  mproc_lock_free(l);
  mproc_lock_free(nullptr);
}

TEST_F(Sync, LockReleasedOnlyByItsHolder) {
  mproc_lock_t* l;
  ASSERT_EQ(0, mproc_lock_new(&l));
  ASSERT_EQ(0, mproc_lock_acquire(l, -1));
  int other = 0;
  std::thread t([&] { other = mproc_lock_release(l); });
  t.join();
  EXPECT_EQ(MPROC_EPERM, other);
  EXPECT_EQ(0, mproc_lock_release(l));
  mproc_lock_free(l);
}

TEST_F(Sync, LockTimesOutWhileAnotherProcessHoldsIt) {
  mproc_lock_t* l;
  mproc_event_t* held;
  mproc_event_t* done;
  ASSERT_EQ(0, mproc_lock_new(&l));
  ASSERT_EQ(0, mproc_event_new(&held));
  ASSERT_EQ(0, mproc_event_new(&done));
  pid_t pid = Spawn([&] {
    if (mproc_lock_acquire(l, -1) != 0) return 1;
    mproc_event_set(held);
    if (mproc_event_wait(done, 30) != 0) return 2;
    return mproc_lock_release(l) == 0 ? 0 : 3;
  });
  ASSERT_EQ(0, mproc_event_wait(held, 10));
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_lock_acquire(l, 0));
  double t0 = Now();
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_lock_acquire(l, 0.05));
  double took = Now() - t0;
  EXPECT_GE(took, 0.05);
  EXPECT_LT(took, 0.05 + 0.5);
  mproc_event_set(done);
  EXPECT_EQ(0, mproc_lock_acquire(l, 10));
  EXPECT_EQ(0, mproc_lock_release(l));
  EXPECT_TRUE(ExitedZero(Reap(pid)));
  mproc_event_free(held);
  mproc_event_free(done);
  mproc_lock_free(l);
}

// Four processes add 10,000 each under the lock: exactly 40,000.
TEST_F(Sync, LockExcludesFourProcesses) {
  mproc_lock_t* l;
  ASSERT_EQ(0, mproc_lock_new(&l));
  Scratch s;
  volatile long long* counter = s.v();
  std::vector<pid_t> pids;
  for (int i = 0; i < 4; i++)
    pids.push_back(Spawn([&] {
      for (int k = 0; k < 10000; k++) {
        if (mproc_lock_acquire(l, -1) != 0) return 1;
        *counter = *counter + 1;
        if (mproc_lock_release(l) != 0) return 2;
      }
      return 0;
    }));
  for (pid_t p : pids) EXPECT_TRUE(ExitedZero(Reap(p)));
  EXPECT_EQ(40000, *counter);
  mproc_lock_free(l);
}

TEST_F(Sync, LockExcludesThreadsToo) {
  mproc_lock_t* l;
  ASSERT_EQ(0, mproc_lock_new(&l));
  long counter = 0;
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; i++)
    ts.emplace_back([&] {
      for (int k = 0; k < 10000; k++) {
        ASSERT_EQ(0, mproc_lock_acquire(l, -1));
        counter++;
        ASSERT_EQ(0, mproc_lock_release(l));
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(40000, counter);
  mproc_lock_free(l);
}

// The holder is SIGKILLed: the next acquirer gets MPROC_EOWNERDEAD with
// the lock held, and the lock works on.
TEST_F(Sync, LockHolderKilledGivesOwnerDead) {
  for (int recursive = 0; recursive < 2; recursive++) {
    mproc_lock_t* l;
    mproc_event_t* held;
    ASSERT_EQ(0, recursive ? mproc_rlock_new(&l) : mproc_lock_new(&l));
    ASSERT_EQ(0, mproc_event_new(&held));
    pid_t pid = Spawn([&] {
      if (mproc_lock_acquire(l, -1) != 0) return 1;
      if (recursive && mproc_lock_acquire(l, -1) != 0) return 1;
      mproc_event_set(held);
      pause();
      return 0;
    });
    ASSERT_EQ(0, mproc_event_wait(held, 10));
    EXPECT_EQ(MPROC_ETIMEDOUT, mproc_lock_acquire(l, 0.01));
    kill(pid, SIGKILL);
    int st = Reap(pid);
    EXPECT_TRUE(WIFSIGNALED(st));
    EXPECT_EQ(MPROC_EOWNERDEAD, mproc_lock_acquire(l, 10));
    EXPECT_EQ(1, mproc_lock_held(l));
    EXPECT_EQ(0, mproc_lock_release(l));  // once, even for the RLock
    EXPECT_EQ(0, mproc_lock_held(l));
    EXPECT_EQ(0, mproc_lock_acquire(l, 0));  // consistent again
    EXPECT_EQ(0, mproc_lock_release(l));
    mproc_event_free(held);
    mproc_lock_free(l);
  }
}

// Waiters blocked on the lock when its holder dies: one of them gets
// MPROC_EOWNERDEAD, the other gets the lock after it, nobody hangs.
TEST_F(Sync, LockHolderKilledWhileOthersWait) {
  mproc_lock_t* l;
  mproc_event_t* held;
  ASSERT_EQ(0, mproc_lock_new(&l));
  ASSERT_EQ(0, mproc_event_new(&held));
  Scratch s;
  volatile long long* v = s.v();
  pid_t holder = Spawn([&] {
    mproc_lock_acquire(l, -1);
    mproc_event_set(held);
    pause();
    return 0;
  });
  ASSERT_EQ(0, mproc_event_wait(held, 10));
  std::vector<pid_t> waiters;
  for (int i = 0; i < 2; i++)
    waiters.push_back(Spawn([&, i] {
      __atomic_add_fetch(&v[10], 1, __ATOMIC_SEQ_CST);
      int rc = mproc_lock_acquire(l, 20);
      v[i] = rc;
      usleep(20000);
      mproc_lock_release(l);
      return 0;
    }));
  ASSERT_TRUE(WaitFor(&v[10], 2));
  usleep(50000);  // both asleep on the lock
  kill(holder, SIGKILL);
  Reap(holder);
  for (pid_t p : waiters) EXPECT_TRUE(ExitedZero(Reap(p)));
  std::multiset<long long> got = {v[0], v[1]};
  EXPECT_EQ((std::multiset<long long>{MPROC_EOWNERDEAD, 0}), got);
  mproc_event_free(held);
  mproc_lock_free(l);
}

// Robust lists are per thread: a thread that ends holding the lock is a
// dead holder too.
TEST_F(Sync, LockHeldByAnEndedThreadGivesOwnerDead) {
  mproc_lock_t* l;
  ASSERT_EQ(0, mproc_lock_new(&l));
  std::thread t([&] { ASSERT_EQ(0, mproc_lock_acquire(l, -1)); });
  t.join();
  EXPECT_EQ(MPROC_EOWNERDEAD, mproc_lock_acquire(l, 5));
  EXPECT_EQ(0, mproc_lock_release(l));
  mproc_lock_free(l);
}

TEST_F(Sync, RLockCountsItsDepth) {
  mproc_lock_t* l;
  ASSERT_EQ(0, mproc_rlock_new(&l));
  for (int i = 0; i < 3; i++) ASSERT_EQ(0, mproc_lock_acquire(l, -1));
  int other = 0;
  auto try_other = [&] {
    std::thread t([&] { other = mproc_lock_acquire(l, 0); });
    t.join();
  };
  try_other();
  EXPECT_EQ(MPROC_ETIMEDOUT, other);
  for (int i = 0; i < 2; i++) ASSERT_EQ(0, mproc_lock_release(l));
  try_other();
  EXPECT_EQ(MPROC_ETIMEDOUT, other);
  ASSERT_EQ(0, mproc_lock_release(l));
  EXPECT_EQ(MPROC_EPERM, mproc_lock_release(l));
  pid_t pid = Spawn([&] {
    if (mproc_lock_acquire(l, 0) != 0) return 1;
    return mproc_lock_release(l) == 0 ? 0 : 2;
  });
  EXPECT_TRUE(ExitedZero(Reap(pid)));
  mproc_lock_free(l);
}

// ---- Semaphore.

TEST_F(Sync, SemaphoreCounts) {
  mproc_sem_t* s;
  ASSERT_EQ(0, mproc_sem_new(&s, 2));
  EXPECT_EQ(2, mproc_sem_value(s));
  EXPECT_EQ(0, mproc_sem_acquire(s, 0));
  EXPECT_EQ(0, mproc_sem_acquire(s, -1));
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_sem_acquire(s, 0));
  double t0 = Now();
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_sem_acquire(s, 0.03));
  EXPECT_GE(Now() - t0, 0.03);
  EXPECT_EQ(0, mproc_sem_release(s));
  EXPECT_EQ(0, mproc_sem_release(s));
  EXPECT_EQ(0, mproc_sem_release(s));  // above the start: a Semaphore may
  EXPECT_EQ(3, mproc_sem_value(s));
  mproc_sem_free(s);
  EXPECT_EQ(MPROC_ERANGE, mproc_sem_new(&s, 0x80000000u));
}

TEST_F(Sync, BoundedSemaphoreRefusesTooManyReleases) {
  mproc_sem_t* s;
  ASSERT_EQ(0, mproc_bsem_new(&s, 1));
  EXPECT_EQ(MPROC_ERANGE, mproc_sem_release(s));
  EXPECT_EQ(0, mproc_sem_acquire(s, 0));
  EXPECT_EQ(0, mproc_sem_release(s));
  EXPECT_EQ(MPROC_ERANGE, mproc_sem_release(s));
  EXPECT_EQ(1, mproc_sem_value(s));
  mproc_sem_free(s);
}

// Children block on an empty semaphore; each release lets exactly one go.
TEST_F(Sync, SemaphoreReleasesWaitingProcessesOneByOne) {
  mproc_sem_t* s;
  ASSERT_EQ(0, mproc_sem_new(&s, 0));
  Scratch sc;
  volatile long long* passed = sc.v();
  std::vector<pid_t> pids;
  for (int i = 0; i < 4; i++)
    pids.push_back(Spawn([&] {
      if (mproc_sem_acquire(s, 30) != 0) return 1;
      __atomic_add_fetch(passed, 1, __ATOMIC_SEQ_CST);
      return 0;
    }));
  usleep(50000);
  EXPECT_EQ(0, *passed);
  for (int i = 1; i <= 4; i++) {
    ASSERT_EQ(0, mproc_sem_release(s));
    ASSERT_TRUE(WaitFor(passed, i));
    usleep(20000);
    EXPECT_EQ(i, *passed);
  }
  for (pid_t p : pids) EXPECT_TRUE(ExitedZero(Reap(p)));
  EXPECT_EQ(0, mproc_sem_value(s));
  mproc_sem_free(s);
}

// ---- Event.

TEST_F(Sync, EventWakesEveryWaiter) {
  mproc_event_t* e;
  ASSERT_EQ(0, mproc_event_new(&e));
  EXPECT_EQ(0, mproc_event_is_set(e));
  double t0 = Now();
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_event_wait(e, 0.02));
  EXPECT_GE(Now() - t0, 0.02);
  std::vector<pid_t> pids;
  for (int i = 0; i < 4; i++)
    pids.push_back(Spawn([&] { return mproc_event_wait(e, 30) == 0 ? 0 : 1; }));
  usleep(30000);
  ASSERT_EQ(0, mproc_event_set(e));
  EXPECT_EQ(1, mproc_event_is_set(e));
  for (pid_t p : pids) EXPECT_TRUE(ExitedZero(Reap(p)));
  EXPECT_EQ(0, mproc_event_wait(e, 0));
  EXPECT_EQ(0, mproc_event_clear(e));
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_event_wait(e, 0));
  mproc_event_free(e);
}

// ---- Condition.

struct Box {
  mproc_cond_t* cond;
  volatile long long* value;
  long long want;
};

bool Reached(void* ctx) {
  Box* b = static_cast<Box*>(ctx);
  return *b->value >= b->want;
}

TEST_F(Sync, ConditionProducerConsumerAcrossProcesses) {
  mproc_cond_t* c;
  ASSERT_EQ(0, mproc_cond_new(&c, nullptr));
  Scratch s;
  volatile long long* v = s.v();
  pid_t consumer = Spawn([&] {
    mproc_lock_t* l = mproc_cond_lock(c);
    if (mproc_lock_acquire(l, -1) != 0) return 1;
    Box b = {c, v, 5};
    int rc = mproc_cond_wait_for(c, Reached, &b, 30);
    v[1] = *v;
    mproc_lock_release(l);
    return rc == 0 ? 0 : 2;
  });
  for (int i = 0; i < 5; i++) {
    usleep(5000);
    ASSERT_EQ(0, mproc_lock_acquire(mproc_cond_lock(c), -1));
    *v = *v + 1;
    ASSERT_EQ(0, mproc_cond_notify(c, 1));
    ASSERT_EQ(0, mproc_lock_release(mproc_cond_lock(c)));
  }
  EXPECT_TRUE(ExitedZero(Reap(consumer)));
  EXPECT_EQ(5, v[1]);
  mproc_cond_free(c);
}

TEST_F(Sync, ConditionNeedsItsLockHeld) {
  mproc_cond_t* c;
  ASSERT_EQ(0, mproc_cond_new(&c, nullptr));
  EXPECT_EQ(MPROC_EPERM, mproc_cond_wait(c, 0));
  EXPECT_EQ(MPROC_EPERM, mproc_cond_notify(c, 1));
  EXPECT_EQ(MPROC_EPERM, mproc_cond_notify_all(c));
  mproc_lock_free(mproc_cond_lock(c));  // its own: ignored
  mproc_cond_free(c);
}

// wait releases an RLock however deep it is held, and restores the depth.
TEST_F(Sync, ConditionWaitReleasesAnRLockWhole) {
  mproc_lock_t* l;
  ASSERT_EQ(0, mproc_rlock_new(&l));
  mproc_cond_t* c;
  ASSERT_EQ(0, mproc_cond_new(&c, l));
  EXPECT_EQ(l, mproc_cond_lock(c));
  for (int i = 0; i < 3; i++) ASSERT_EQ(0, mproc_lock_acquire(l, -1));
  int other = 1;
  std::thread t([&] {
    other = mproc_lock_acquire(l, 5);  // possible only while c waits
    mproc_cond_notify(c, 1);
    mproc_lock_release(l);
  });
  EXPECT_EQ(0, mproc_cond_wait(c, 5));
  t.join();
  EXPECT_EQ(0, other);
  for (int i = 0; i < 3; i++) EXPECT_EQ(0, mproc_lock_release(l));
  EXPECT_EQ(MPROC_EPERM, mproc_lock_release(l));
  mproc_cond_free(c);
  mproc_lock_free(l);
}

TEST_F(Sync, ConditionWaitTimesOutWithTheLockHeld) {
  mproc_cond_t* c;
  ASSERT_EQ(0, mproc_cond_new(&c, nullptr));
  ASSERT_EQ(0, mproc_lock_acquire(mproc_cond_lock(c), -1));
  double t0 = Now();
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_cond_wait(c, 0.03));
  EXPECT_GE(Now() - t0, 0.03);
  EXPECT_EQ(1, mproc_lock_held(mproc_cond_lock(c)));
  long long zero = 0;
  Box b = {c, &zero, 1};
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_cond_wait_for(c, Reached, &b, 0.02));
  EXPECT_EQ(0, mproc_lock_release(mproc_cond_lock(c)));
  mproc_cond_free(c);
}

// A process notifies and dies holding the lock: the waiter wakes with the
// lock held and MPROC_EOWNERDEAD.
TEST_F(Sync, ConditionWaiterLearnsTheLockHolderDied) {
  mproc_cond_t* c;
  ASSERT_EQ(0, mproc_cond_new(&c, nullptr));
  mproc_lock_t* l = mproc_cond_lock(c);
  ASSERT_EQ(0, mproc_lock_acquire(l, -1));
  pid_t pid = Spawn([&] {
    mproc_lock_acquire(l, -1);  // once the parent waits
    mproc_cond_notify_all(c);
    kill(getpid(), SIGKILL);
    return 0;
  });
  EXPECT_EQ(MPROC_EOWNERDEAD, mproc_cond_wait(c, 20));
  EXPECT_EQ(1, mproc_lock_held(l));
  EXPECT_EQ(0, mproc_lock_release(l));
  EXPECT_TRUE(WIFSIGNALED(Reap(pid)));
  mproc_cond_free(c);
}

// ---- Barrier.

TEST_F(Sync, BarrierReleasesPartiesTogetherWithDistinctIndices) {
  const int parties = 4, rounds = 20;
  mproc_barrier_t* b;
  ASSERT_EQ(0, mproc_barrier_new(&b, parties, nullptr));
  EXPECT_EQ(parties, mproc_barrier_parties(b));
  Scratch s;
  volatile long long* v = s.v();
  std::vector<pid_t> pids;
  for (int i = 0; i < parties; i++)
    pids.push_back(Spawn([&, i] {
      for (int r = 0; r < rounds; r++) {
        __atomic_add_fetch(&v[0], 1, __ATOMIC_SEQ_CST);
        int idx = mproc_barrier_wait(b, 30);
        if (idx < 0 || idx >= parties) return 1;
        // Everyone of this round arrived before anyone left.
        if (__atomic_load_n(&v[0], __ATOMIC_SEQ_CST) < (r + 1) * parties)
          return 2;
        __atomic_add_fetch(&v[1 + idx], 1, __ATOMIC_SEQ_CST);
        (void)i;
      }
      return 0;
    }));
  for (pid_t p : pids) EXPECT_TRUE(ExitedZero(Reap(p)));
  for (int i = 0; i < parties; i++) EXPECT_EQ(rounds, v[1 + i]) << i;
  EXPECT_EQ(0, mproc_barrier_broken(b));
  mproc_barrier_free(b);
}

int CountAction(void* ctx) {
  __atomic_add_fetch(static_cast<long long*>(ctx), 1, __ATOMIC_SEQ_CST);
  return 0;
}

TEST_F(Sync, BarrierActionRunsOncePerGeneration) {
  Scratch s;
  mproc_barrier_opts_t o = {};
  o.action = CountAction;
  o.action_ctx = const_cast<long long*>(s.v());
  mproc_barrier_t* b;
  ASSERT_EQ(0, mproc_barrier_new(&b, 3, &o));
  std::vector<pid_t> pids;
  for (int i = 0; i < 3; i++)
    pids.push_back(Spawn([&] {
      for (int r = 0; r < 10; r++)
        if (mproc_barrier_wait(b, 30) < 0) return 1;
      return 0;
    }));
  for (pid_t p : pids) EXPECT_TRUE(ExitedZero(Reap(p)));
  EXPECT_EQ(10, s.v()[0]);
  mproc_barrier_free(b);
}

TEST_F(Sync, BarrierTimeoutBreaksItUntilReset) {
  mproc_barrier_t* b;
  ASSERT_EQ(0, mproc_barrier_new(&b, 2, nullptr));
  pid_t pid = Spawn([&] {
    return mproc_barrier_wait(b, 30) == MPROC_EBROKENBARRIER ? 0 : 1;
  });
  while (mproc_barrier_n_waiting(b) < 1) usleep(1000);
  // Three parties would be needed: the parent's wait times out (barrier of
  // 2 with one waiting would release, so make it time out on a fresh one).
  mproc_barrier_t* b3;
  ASSERT_EQ(0, mproc_barrier_new(&b3, 3, nullptr));
  double t0 = Now();
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_barrier_wait(b3, 0.03));
  EXPECT_GE(Now() - t0, 0.03);
  EXPECT_EQ(1, mproc_barrier_broken(b3));
  EXPECT_EQ(MPROC_EBROKENBARRIER, mproc_barrier_wait(b3, 1));
  EXPECT_EQ(0, mproc_barrier_reset(b3));
  EXPECT_EQ(0, mproc_barrier_broken(b3));
  mproc_barrier_free(b3);
  // abort wakes the child's wait with MPROC_EBROKENBARRIER.
  EXPECT_EQ(0, mproc_barrier_abort(b));
  EXPECT_TRUE(ExitedZero(Reap(pid)));
  EXPECT_EQ(MPROC_EBROKENBARRIER, mproc_barrier_wait(b, 0));
  EXPECT_EQ(0, mproc_barrier_reset(b));
  std::thread t([&] { EXPECT_EQ(0, mproc_barrier_wait(b, 5)); });
  while (mproc_barrier_n_waiting(b) < 1) usleep(1000);
  EXPECT_EQ(1, mproc_barrier_wait(b, 5));
  t.join();
  mproc_barrier_free(b);
}

TEST_F(Sync, BarrierResetBreaksCurrentWaiters) {
  mproc_barrier_t* b;
  ASSERT_EQ(0, mproc_barrier_new(&b, 3, nullptr));
  int rc = 0;
  std::thread t([&] { rc = mproc_barrier_wait(b, 10); });
  while (mproc_barrier_n_waiting(b) < 1) usleep(1000);
  EXPECT_EQ(0, mproc_barrier_reset(b));
  t.join();
  EXPECT_EQ(MPROC_EBROKENBARRIER, rc);
  EXPECT_EQ(0, mproc_barrier_broken(b));
  EXPECT_EQ(0, mproc_barrier_n_waiting(b));
  mproc_barrier_free(b);
}

// ---- Timeouts and EINTR storms.

// Every blocking wait ends at its deadline, not before, not much after,
// whatever the signals: SIGALRM every millisecond without SA_RESTART.
TEST_F(Sync, TimeoutsHoldUnderAnEintrStorm) {
  mproc_lock_t* l;
  mproc_sem_t* s;
  mproc_event_t* e;
  mproc_event_t* held;
  mproc_cond_t* c;
  mproc_barrier_t* b;
  ASSERT_EQ(0, mproc_lock_new(&l));
  ASSERT_EQ(0, mproc_sem_new(&s, 0));
  ASSERT_EQ(0, mproc_event_new(&e));
  ASSERT_EQ(0, mproc_event_new(&held));
  ASSERT_EQ(0, mproc_cond_new(&c, nullptr));
  ASSERT_EQ(0, mproc_barrier_new(&b, 2, nullptr));
  pid_t pid = Spawn([&] {
    mproc_lock_acquire(l, -1);
    mproc_event_set(held);
    pause();
    return 0;
  });
  ASSERT_EQ(0, mproc_event_wait(held, 10));
  const double t = 0.1;
  std::vector<double> late;
  {
    mproc_test::EintrStorm storm(1000);
    long before = mproc_test::EintrStorm::Signals();
    auto timed = [&](const char* what, const std::function<int()>& f,
                     int want) {
      double t0 = Now();
      EXPECT_EQ(want, f()) << what;
      double took = Now() - t0;
      EXPECT_GE(took, t) << what;
      EXPECT_LT(took, t + 0.5) << what;  // loaded machine: generous
      late.push_back(took - t);
    };
    timed("lock", [&] { return mproc_lock_acquire(l, t); }, MPROC_ETIMEDOUT);
    timed("sem", [&] { return mproc_sem_acquire(s, t); }, MPROC_ETIMEDOUT);
    timed("event", [&] { return mproc_event_wait(e, t); }, MPROC_ETIMEDOUT);
    ASSERT_EQ(0, mproc_lock_acquire(mproc_cond_lock(c), -1));
    timed("cond", [&] { return mproc_cond_wait(c, t); }, MPROC_ETIMEDOUT);
    mproc_lock_release(mproc_cond_lock(c));
    timed("barrier", [&] { return mproc_barrier_wait(b, t); },
          MPROC_ETIMEDOUT);
    EXPECT_GT(mproc_test::EintrStorm::Signals() - before, 100);
  }
  std::sort(late.begin(), late.end());
  printf("[sync] timeouts late by (ms): min %.3f median %.3f max %.3f\n",
         late.front() * 1e3, late[late.size() / 2] * 1e3, late.back() * 1e3);
  kill(pid, SIGKILL);
  Reap(pid);
  mproc_barrier_free(b);
  mproc_cond_free(c);
  mproc_event_free(held);
  mproc_event_free(e);
  mproc_sem_free(s);
  mproc_lock_free(l);
}

// Waits without a deadline survive the storm too, and end when they should.
TEST_F(Sync, BlockingWaitsSurviveAnEintrStorm) {
  mproc_sem_t* s;
  mproc_event_t* e;
  ASSERT_EQ(0, mproc_sem_new(&s, 0));
  ASSERT_EQ(0, mproc_event_new(&e));
  pid_t pid = Spawn([&] {
    usleep(100000);
    mproc_sem_release(s);
    usleep(100000);
    mproc_event_set(e);
    return 0;
  });
  {
    mproc_test::EintrStorm storm(1000);
    EXPECT_EQ(0, mproc_sem_acquire(s, -1));
    EXPECT_EQ(0, mproc_event_wait(e, -1));
  }
  EXPECT_TRUE(ExitedZero(Reap(pid)));
  mproc_event_free(e);
  mproc_sem_free(s);
}

TEST_F(Sync, ObjectsFreedLeaveNoMappingsBehind) {
  // Shared anonymous mappings, which is what each object is: the kernel
  // names them "/dev/zero (deleted)". (All mappings would count the
  // sanitizers' own too.)
  auto maps = [] {
    std::ifstream f("/proc/self/maps");
    std::string line;
    long n = 0;
    while (std::getline(f, line))
      if (line.find("/dev/zero (deleted)") != std::string::npos) n++;
    return n;
  };
  // Warm up whatever the first creations allocate.
  mproc_lock_t* l0;
  ASSERT_EQ(0, mproc_lock_new(&l0));
  mproc_lock_free(l0);
  long before = maps();
  int fds = mproc_test::CountOpenFds();
  for (int i = 0; i < 100; i++) {
    mproc_lock_t* l;
    mproc_sem_t* s;
    mproc_event_t* e;
    mproc_cond_t* c;
    mproc_barrier_t* b;
    ASSERT_EQ(0, mproc_lock_new(&l));
    ASSERT_EQ(0, mproc_sem_new(&s, 1));
    ASSERT_EQ(0, mproc_event_new(&e));
    ASSERT_EQ(0, mproc_cond_new(&c, nullptr));
    ASSERT_EQ(0, mproc_barrier_new(&b, 2, nullptr));
    mproc_barrier_free(b);
    mproc_cond_free(c);
    mproc_event_free(e);
    mproc_sem_free(s);
    mproc_lock_free(l);
  }
  EXPECT_EQ(before, maps());
  EXPECT_EQ(fds, mproc_test::CountOpenFds());
  // The count is real: five objects, five more mappings.
  mproc_lock_t* l;
  ASSERT_EQ(0, mproc_lock_new(&l));
  EXPECT_EQ(before + 1, maps());
  mproc_lock_free(l);
}

}  // namespace
