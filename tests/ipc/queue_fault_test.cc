// Queue faults, caused: producers SIGKILLed mid-put (small, ring-sized and
// spilled items, inside and outside the queue's lock), consumers SIGKILLed
// mid-get. The queue never hands out a torn item, never hands one out
// twice, never wedges, and leaks no descriptor.
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/ipc/queue_testing.h"
#include "multiproc.h"
#include "tests/ipc/ipc_util.h"
#include "tests/support/fork_support.h"

namespace {

using mproc_test::ExitedZero;
using mproc_test::Now;
using mproc_test::Reap;
using mproc_test::Spawn;

class QueueFault : public mproc_test::IpcTest {
 protected:
  QueueFault() : IpcTest(240) {}
};

// An item that proves itself whole: (id, bytes) where the bytes are a
// pattern of id over a length derived from id.
size_t SizeOf(int64_t id, size_t small, size_t large) {
  return id % 3 == 2 ? large + (size_t)(id % 1000) : small + (size_t)(id % 1000);
}

mproc_value_t* Item(int64_t id, size_t n) {
  std::string b(n, '\0');
  for (size_t i = 0; i < n; i++)
    b[i] = static_cast<char>((i * 131 + (size_t)id * 7) & 0xff);
  mproc_value_t* v;
  EXPECT_EQ(0, mproc_pack(&v, "(Ly#)", id, b.data(), b.size()));
  return v;
}

// The item's id when it is whole, else -1.
int64_t Check(const mproc_value_t* v, size_t small, size_t large) {
  const mproc_value_t *idv, *body;
  int64_t id;
  const void* p;
  size_t n;
  if (mproc_list_get(v, 0, &idv) != 0 || mproc_list_get(v, 1, &body) != 0 ||
      mproc_value_get_int(idv, &id) != 0 ||
      mproc_value_get_bytes(body, &p, &n) != 0 || n != SizeOf(id, small, large))
    return -1;
  const unsigned char* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; i++)
    if (b[i] != ((i * 131 + (size_t)id * 7) & 0xff)) return -1;
  return id;
}

// A producer putting items without end, SIGKILLed after a random delay,
// round after round; between rounds the parent drains what is there. Each
// item must be whole; ids strictly increase within a round (one producer).
void KillProducersMidPut(mproc_queue_t* q, size_t small, size_t large,
                         int rounds, uint64_t* recovered) {
  std::mt19937 rng(12345);
  mproc_array_t* puts_a;
  ASSERT_EQ(0, mproc_array_new(&puts_a, 'q', 2, false));
  // [0]: puts done; [1]: how long the last one took, item making
  // included (ns).
  volatile long long* puts = static_cast<long long*>(mproc_array_data(puts_a));
  int fds = mproc_test::CountOpenFds();
  int64_t got = 0, torn = 0;
  for (int r = 0; r < rounds; r++) {
    puts[0] = 0;
    pid_t pid = Spawn([&, r] {
      for (int64_t id = (int64_t)r << 32;; id++) {
        double t0 = Now();
        mproc_value_t* v = Item(id, SizeOf(id, small, large));
        // A full queue waits: the kill then finds it waiting.
        int rc = mproc_queue_put(q, v, -1);
        mproc_value_free(v);
        if (rc != 0) return 1;
        __atomic_store_n(&puts[1], (long long)((Now() - t0) * 1e9),
                         __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&puts[0], 1, __ATOMIC_SEQ_CST);
      }
    });
    // Killed at a random instant of a later put (or of the making of its
    // item), whatever the machine's speed or load: after the first put,
    // within about what one took.
    double until = Now() + 30;
    while (__atomic_load_n(&puts[0], __ATOMIC_SEQ_CST) == 0 && Now() < until)
      usleep(100);
    long long cycle_us = __atomic_load_n(&puts[1], __ATOMIC_SEQ_CST) / 1000;
    usleep((useconds_t)(rng() % (uint64_t)(cycle_us * 5 / 4 + 1)));
    kill(pid, SIGKILL);
    int st = Reap(pid);
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    int64_t last = -1;
    for (;;) {
      mproc_value_t* v;
      int rc = mproc_queue_get(q, &v, 0);
      if (rc == MPROC_EEMPTY) break;
      ASSERT_EQ(0, rc) << mproc_err_name(rc);
      int64_t id = Check(v, small, large);
      mproc_value_free(v);
      if (id < 0) {
        torn++;
        continue;
      }
      EXPECT_GT(id, last);
      last = id;
      got++;
    }
  }
  mproc_array_free(puts_a);
  EXPECT_EQ(0, torn);
  EXPECT_GE(got, rounds);
  // Still a working queue.
  mproc_value_t* v = Item(7, SizeOf(7, small, large));
  ASSERT_EQ(0, mproc_queue_put(q, v, 5));
  mproc_value_free(v);
  ASSERT_EQ(0, mproc_queue_get(q, &v, 5));
  EXPECT_EQ(7, Check(v, small, large));
  mproc_value_free(v);
  EXPECT_EQ(1, mproc_queue_empty(q));
  EXPECT_EQ(fds, mproc_test::CountOpenFds());
  *recovered = mproc__queue_recoveries(q);
  printf("[queue] %d producers killed mid-put: %lld whole items, %llu "
         "deaths inside the lock recovered, %llu stray descriptors closed\n",
         rounds, (long long)got, (unsigned long long)*recovered,
         (unsigned long long)mproc__queue_strays(q));
}

// Small items: most of a put is encoding, outside the lock.
TEST_F(QueueFault, ProducerKilledMidPutSmallItems) {
  mproc_queue_t* q;
  ASSERT_EQ(0, mproc_queue_new(&q, nullptr));
  uint64_t recovered;
  KillProducersMidPut(q, 16, 16, 40, &recovered);
  mproc_queue_close(q);
}

// Items of ~1.5 MiB copied into an 8 MiB ring: the copy under the lock
// takes as long as the encoding before it, so many kills land inside the
// lock, half-way through writing a record.
TEST_F(QueueFault, ProducerKilledHoldingTheLockLeavesNoTornItem) {
  mproc_queue_opts_t o = {};
  o.capacity = 8 << 20;
  o.maxsize = 4;  // the producer also dies waiting for room
  mproc_queue_t* q;
  ASSERT_EQ(0, mproc_queue_new(&q, &o));
  uint64_t recovered;
  KillProducersMidPut(q, 1500 << 10, 1500 << 10, 60, &recovered);
  EXPECT_GT(recovered, 0u) << "no kill landed inside the lock";
  mproc_queue_close(q);
}

// Large items spilled to memory files (16 MiB): kills during the
// encoding, between sending the descriptor and committing the record.
TEST_F(QueueFault, ProducerKilledMidPutLargeItems) {
  mproc_queue_t* q;
  ASSERT_EQ(0, mproc_queue_new(&q, nullptr));
  uint64_t recovered;
  KillProducersMidPut(q, 100, 16 << 20, 30, &recovered);
  mproc_queue_close(q);
}

// Consumers SIGKILLed mid-get, again and again, while a producer puts
// numbered items (a third of them spilled): every item the survivors get
// is whole and comes once; at most one item is lost per kill.
TEST_F(QueueFault, ConsumerKilledMidGet) {
  mproc_queue_t* q;
  ASSERT_EQ(0, mproc_queue_new(&q, nullptr));
  const int64_t n = 600;
  const size_t small = 2000, large = 300 << 10;
  mproc_array_t* marks_a;
  ASSERT_EQ(0, mproc_array_new(&marks_a, 'i', n + 1, false));
  int* marks = static_cast<int*>(mproc_array_data(marks_a));
  int fds = mproc_test::CountOpenFds();
  pid_t producer = Spawn([&] {
    for (int64_t id = 0; id < n; id++) {
      mproc_value_t* v = Item(id, SizeOf(id, small, large));
      int rc = mproc_queue_put(q, v, 30);
      mproc_value_free(v);
      if (rc != 0) return 1;
      usleep(300);
    }
    return 0;
  });
  auto consumer = [&] {
    for (;;) {
      mproc_value_t* v;
      if (mproc_queue_get(q, &v, 30) != 0) return 1;
      if (mproc_value_kind(v) == MPROC_NONE) return 0;
      int64_t id = Check(v, small, large);
      mproc_value_free(v);
      __atomic_add_fetch(&marks[id < 0 ? n : id], 1, __ATOMIC_SEQ_CST);
    }
  };
  std::mt19937 rng(777);
  int kills = 0;
  std::vector<pid_t> consumers;
  for (int c = 0; c < 3; c++) consumers.push_back(Spawn(consumer));
  double end = Now() + 60;
  for (;;) {
    int st;
    if (waitpid(producer, &st, WNOHANG) == producer) {
      EXPECT_TRUE(ExitedZero(st));
      break;
    }
    ASSERT_LT(Now(), end);
    usleep(2000 + rng() % 6000);
    size_t victim = rng() % consumers.size();
    kill(consumers[victim], SIGKILL);
    Reap(consumers[victim]);
    kills++;
    consumers[victim] = Spawn(consumer);
  }
  for (size_t c = 0; c < consumers.size(); c++) {
    mproc_value_t* none;
    ASSERT_EQ(0, mproc_value_none(&none));
    ASSERT_EQ(0, mproc_queue_put(q, none, 10));
    mproc_value_free(none);
  }
  for (pid_t p : consumers) EXPECT_TRUE(ExitedZero(Reap(p)));
  int lost = 0, twice = 0;
  for (int64_t i = 0; i < n; i++) {
    if (marks[i] == 0) lost++;
    if (marks[i] > 1) twice++;
  }
  EXPECT_EQ(0, marks[n]) << "torn items";
  EXPECT_EQ(0, twice);
  EXPECT_LE(lost, kills);
  EXPECT_EQ(1, mproc_queue_empty(q));
  EXPECT_EQ(fds, mproc_test::CountOpenFds());
  printf("[queue] %d consumers killed mid-get: %lld items, %d lost with "
         "them, none twice, none torn; %llu stray descriptors closed\n",
         kills, (long long)n, lost,
         (unsigned long long)mproc__queue_strays(q));
  mproc_array_free(marks_a);
  mproc_queue_close(q);
}

// The instants a random kill rarely hits, hit on purpose.

// Killed between sending a spilled item's descriptor and committing its
// record: the item is not in the queue; the stray descriptor is closed by
// the next getter of a spilled item, who gets the right one.
TEST_F(QueueFault, DeathBetweenSendAndCommitLeavesOnlyAStray) {
  mproc_queue_t* q;
  ASSERT_EQ(0, mproc_queue_new(&q, nullptr));
  const size_t big = 1 << 20;
  pid_t pid = Spawn([&] {
    mproc__queue_die_at(MPROC__QUEUE_DIE_AFTER_SEND);
    mproc_value_t* v = Item(1, SizeOf(1, big, big));
    mproc_queue_put(q, v, 5);
    return 1;  // not reached
  });
  int st = Reap(pid);
  EXPECT_TRUE(WIFSIGNALED(st));
  EXPECT_EQ(1, mproc_queue_empty(q));
  mproc_value_t* v;
  EXPECT_EQ(MPROC_EEMPTY, mproc_queue_get(q, &v, 0));
  v = Item(2, SizeOf(2, big, big));
  ASSERT_EQ(0, mproc_queue_put(q, v, 5));
  mproc_value_free(v);
  ASSERT_EQ(0, mproc_queue_get(q, &v, 5));
  EXPECT_EQ(2, Check(v, big, big));
  mproc_value_free(v);
  EXPECT_EQ(1u, mproc__queue_strays(q));
  mproc_queue_close(q);
}

// Killed between committing a spilled record's removal and receiving its
// descriptor: that item is gone with the getter (never handed out twice),
// the next one arrives whole.
TEST_F(QueueFault, DeathBetweenPopAndReceiveLosesOnlyThatItem) {
  mproc_queue_t* q;
  ASSERT_EQ(0, mproc_queue_new(&q, nullptr));
  const size_t big = 1 << 20;
  for (int64_t id = 1; id <= 2; id++) {
    mproc_value_t* v = Item(id, SizeOf(id, big, big));
    ASSERT_EQ(0, mproc_queue_put(q, v, 5));
    mproc_value_free(v);
  }
  int fds = mproc_test::CountOpenFds();
  pid_t pid = Spawn([&] {
    mproc__queue_die_at(MPROC__QUEUE_DIE_AFTER_POP);
    mproc_value_t* v;
    mproc_queue_get(q, &v, 5);
    return 1;
  });
  EXPECT_TRUE(WIFSIGNALED(Reap(pid)));
  EXPECT_EQ(1, mproc_queue_qsize(q));
  mproc_value_t* v;
  ASSERT_EQ(0, mproc_queue_get(q, &v, 5));
  EXPECT_EQ(2, Check(v, big, big));
  mproc_value_free(v);
  EXPECT_EQ(1u, mproc__queue_strays(q));
  EXPECT_EQ(fds, mproc_test::CountOpenFds());
  mproc_queue_close(q);
}

// A getter with no free descriptor slot cannot receive a spilled item's
// memory file: it says so (MPROC_EMFILE), that item is lost, the queue
// goes on.
TEST_F(QueueFault, GetterWithoutADescriptorSlotLosesOnlyThatItem) {
  mproc_queue_t* q;
  ASSERT_EQ(0, mproc_queue_new(&q, nullptr));
  const size_t big = 1 << 20;
  for (int64_t id = 1; id <= 2; id++) {
    mproc_value_t* v = Item(id, SizeOf(id, big, big));
    ASSERT_EQ(0, mproc_queue_put(q, v, 5));
    mproc_value_free(v);
  }
  int st = mproc_test::RunInChild([&] {
    int lowest = dup(0);
    close(lowest);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    struct rlimit tight = {(rlim_t)lowest, rl.rlim_max};
    setrlimit(RLIMIT_NOFILE, &tight);
    mproc_value_t* v;
    int rc = mproc_queue_get(q, &v, 5);
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rc != MPROC_EMFILE) return 1;
    if (mproc_queue_get(q, &v, 5) != 0) return 2;
    int64_t id = Check(v, big, big);
    mproc_value_free(v);
    return id == 2 ? 0 : 3;
  });
  EXPECT_TRUE(ExitedZero(st)) << st;
  EXPECT_EQ(1, mproc_queue_empty(q));
  mproc_queue_close(q);
}

// Killed inside a commit, the journal valid and the state not yet
// written: the next holder finishes the commit — the put happened, whole.
TEST_F(QueueFault, DeathInsideACommitIsFinishedByTheNextHolder) {
  mproc_queue_opts_t o = {};
  o.joinable = true;
  mproc_queue_t* q;
  ASSERT_EQ(0, mproc_queue_new(&q, &o));
  pid_t pid = Spawn([&] {
    mproc__queue_die_at(MPROC__QUEUE_DIE_IN_COMMIT);
    mproc_value_t* v = Item(5, SizeOf(5, 100, 100));
    mproc_queue_put(q, v, 5);
    return 1;
  });
  EXPECT_TRUE(WIFSIGNALED(Reap(pid)));
  EXPECT_EQ(0u, mproc__queue_recoveries(q));
  mproc_value_t* v;
  ASSERT_EQ(0, mproc_queue_get(q, &v, 5));
  EXPECT_EQ(5, Check(v, 100, 100));
  mproc_value_free(v);
  EXPECT_EQ(1u, mproc__queue_recoveries(q));
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_queue_join(q, 0));  // counted as put
  EXPECT_EQ(0, mproc_queue_task_done(q));
  EXPECT_EQ(0, mproc_queue_join(q, 0));
  // And a getter killed inside its commit: the item is taken, once.
  v = Item(6, SizeOf(6, 100, 100));
  ASSERT_EQ(0, mproc_queue_put(q, v, 5));
  mproc_value_free(v);
  pid = Spawn([&] {
    mproc__queue_die_at(MPROC__QUEUE_DIE_IN_COMMIT);
    mproc_value_t* got;
    mproc_queue_get(q, &got, 5);
    return 1;
  });
  EXPECT_TRUE(WIFSIGNALED(Reap(pid)));
  EXPECT_EQ(MPROC_EEMPTY, mproc_queue_get(q, &v, 0));
  EXPECT_EQ(2u, mproc__queue_recoveries(q));
  mproc_queue_close(q);
}

}  // namespace
