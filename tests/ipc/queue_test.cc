// Queue, SimpleQueue, JoinableQueue (multiproc/queue.h): order, sizes,
// timeouts, many producers and consumers in processes and threads, pool
// workers and Process children using a queue made before them.
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <string>
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

class Queue : public mproc_test::IpcTest {
 protected:
  Queue() : IpcTest(120) {}
};

mproc_value_t* Str(const char* s) {
  mproc_value_t* v;
  EXPECT_EQ(0, mproc_value_str(&v, s));
  return v;
}

mproc_value_t* Int(int64_t i) {
  mproc_value_t* v;
  EXPECT_EQ(0, mproc_value_int(&v, i));
  return v;
}

// Bytes of size n whose content says which (seed) and how long they are.
mproc_value_t* Pattern(size_t n, uint32_t seed) {
  std::string b(n, '\0');
  for (size_t i = 0; i < n; i++)
    b[i] = static_cast<char>((i * 131 + seed * 7 + (i >> 12)) & 0xff);
  mproc_value_t* v;
  EXPECT_EQ(0, mproc_value_bytes(&v, b.data(), b.size()));
  return v;
}

bool IsPattern(const mproc_value_t* v, size_t n, uint32_t seed) {
  const void* p;
  size_t len;
  if (mproc_value_get_bytes(v, &p, &len) != 0 || len != n) return false;
  const unsigned char* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; i++)
    if (b[i] != ((i * 131 + seed * 7 + (i >> 12)) & 0xff)) return false;
  return true;
}

int Put(mproc_queue_t* q, mproc_value_t* v, double timeout = -1) {
  int rc = mproc_queue_put(q, v, timeout);
  mproc_value_free(v);
  return rc;
}

std::string GetStr(mproc_queue_t* q, double timeout = 10) {
  mproc_value_t* v;
  int rc = mproc_queue_get(q, &v, timeout);
  if (rc < 0) return std::string("error ") + mproc_err_name(rc);
  const char* s;
  size_t n;
  std::string out = mproc_value_get_str(v, &s, &n) == 0 ? std::string(s, n)
                                                         : "not a str";
  mproc_value_free(v);
  return out;
}

TEST_F(Queue, FifoWithinOneProcess) {
  mproc_queue_t* q;
  ASSERT_EQ(0, mproc_queue_new(&q, nullptr));
  EXPECT_EQ(1, mproc_queue_empty(q));
  EXPECT_EQ(0, mproc_queue_full(q));  // no maxsize: never full
  for (const char* s : {"A", "B", "C"}) ASSERT_EQ(0, Put(q, Str(s)));
  EXPECT_EQ(3, mproc_queue_qsize(q));
  EXPECT_EQ(0, mproc_queue_empty(q));
  EXPECT_EQ("A", GetStr(q));
  EXPECT_EQ("B", GetStr(q));
  EXPECT_EQ("C", GetStr(q));
  EXPECT_EQ(1, mproc_queue_empty(q));
  EXPECT_EQ(0, mproc_queue_close(q));
  EXPECT_EQ(0, mproc_queue_close(nullptr));
}

TEST_F(Queue, ItemsOfEveryKindRoundTrip) {
  mproc_queue_t* q;
  ASSERT_EQ(0, mproc_queue_new(&q, nullptr));
  mproc_value_t* v;
  ASSERT_EQ(0, mproc_pack(&v, "(n b i d s y# [i{s:i}] {s:(ss)})", true, -7,
                          1.5, "\xe4\xb8\xad", "\0\1", (size_t)2, 3, "k", 4,
                          "t", "a", "b"));
  ASSERT_EQ(0, mproc_queue_put(q, v, 0));
  mproc_value_t* got;
  ASSERT_EQ(0, mproc_queue_get(q, &got, 0));
  EXPECT_TRUE(mproc_value_equal(v, got));
  char a[256], b[256];
  mproc_repr(v, a, sizeof a);
  mproc_repr(got, b, sizeof b);
  EXPECT_STREQ(a, b);
  mproc_value_free(got);
  mproc_value_free(v);
  mproc_queue_close(q);
}

TEST_F(Queue, ProducerProcessAndConsumerProcess) {
  mproc_queue_t* q;
  ASSERT_EQ(0, mproc_queue_new(&q, nullptr));
  pid_t producer = Spawn([&] {
    for (const char* s : {"A", "B", "C"})
      if (Put(q, Str(s)) != 0) return 1;
    return 0;  // leaves at once: nothing to flush, unlike Python's feeder
  });
  pid_t consumer = Spawn([&] {
    for (const char* s : {"A", "B", "C"})
      if (GetStr(q) != s) return 1;
    return 0;
  });
  EXPECT_TRUE(ExitedZero(Reap(producer)));
  EXPECT_TRUE(ExitedZero(Reap(consumer)));
  EXPECT_EQ(1, mproc_queue_empty(q));
  mproc_queue_close(q);
}

// The seed tutorial's Queue(3) program: full after three, put(timeout)
// and put_nowait give Full, get_nowait drains.
TEST_F(Queue, MaxsizeNowaitAndTimeouts) {
  mproc_queue_opts_t o = {};
  o.maxsize = 3;
  mproc_queue_t* q;
  ASSERT_EQ(0, mproc_queue_new(&q, &o));
  ASSERT_EQ(0, Put(q, Str("m1")));
  ASSERT_EQ(0, Put(q, Str("m2")));
  EXPECT_EQ(0, mproc_queue_full(q));
  ASSERT_EQ(0, Put(q, Str("m3")));
  EXPECT_EQ(1, mproc_queue_full(q));
  double t0 = Now();
  EXPECT_EQ(MPROC_EFULL, Put(q, Str("m4"), 0.05));
  double took = Now() - t0;
  EXPECT_GE(took, 0.05);
  EXPECT_LT(took, 0.55);
  EXPECT_EQ(MPROC_EFULL, Put(q, Str("m4"), 0));
  EXPECT_EQ(3, mproc_queue_qsize(q));
  for (const char* s : {"m1", "m2", "m3"}) EXPECT_EQ(s, GetStr(q, 0));
  mproc_value_t* v;
  EXPECT_EQ(MPROC_EEMPTY, mproc_queue_get(q, &v, 0));
  EXPECT_EQ(nullptr, v);
  t0 = Now();
  EXPECT_EQ(MPROC_EEMPTY, mproc_queue_get(q, &v, 0.05));
  took = Now() - t0;
  EXPECT_GE(took, 0.05);
  EXPECT_LT(took, 0.55);
  EXPECT_EQ(MPROC_EINVAL, mproc_queue_get(q, &v, NAN));
  EXPECT_STREQ("mproc_queue_get: timeout_s must be a number (NaN is not)",
               mproc_last_error());
  EXPECT_EQ(MPROC_EINVAL, mproc_queue_put(q, nullptr, 0));
  EXPECT_STREQ("mproc_queue_put: item is NULL", mproc_last_error());
  mproc_queue_close(q);
}

// A blocked put goes through as soon as a consumer makes room.
TEST_F(Queue, FullQueueBlocksTheProducerUntilRoom) {
  mproc_queue_opts_t o = {};
  o.maxsize = 1;
  mproc_queue_t* q;
  ASSERT_EQ(0, mproc_queue_new(&q, &o));
  pid_t producer = Spawn([&] {
    for (int i = 0; i < 200; i++)
      if (Put(q, Int(i)) != 0) return 1;
    return 0;
  });
  for (int i = 0; i < 200; i++) {
    mproc_value_t* v;
    ASSERT_EQ(0, mproc_queue_get(q, &v, 10));
    int64_t x;
    ASSERT_EQ(0, mproc_value_get_int(v, &x));
    EXPECT_EQ(i, x);
    EXPECT_LE(mproc_queue_qsize(q), 1);
    mproc_value_free(v);
  }
  EXPECT_TRUE(ExitedZero(Reap(producer)));
  mproc_queue_close(q);
}

// Items from empty to 64 MiB, in the ring or spilled, cross whole.
TEST_F(Queue, ItemsOfAnySizeCrossWhole) {
  mproc_queue_t* q;
  ASSERT_EQ(0, mproc_queue_new(&q, nullptr));
  const std::vector<size_t> sizes = {0,          1,          100 << 10,
                                     127 << 10,  129 << 10,  600 << 10,
                                     64u << 20, 5,          3 << 20};
  pid_t producer = Spawn([&] {
    for (size_t i = 0; i < sizes.size(); i++)
      if (Put(q, Pattern(sizes[i], (uint32_t)i)) != 0) return 1;
    return 0;
  });
  for (size_t i = 0; i < sizes.size(); i++) {
    mproc_value_t* v;
    ASSERT_EQ(0, mproc_queue_get(q, &v, 30)) << sizes[i];
    EXPECT_TRUE(IsPattern(v, sizes[i], (uint32_t)i)) << sizes[i];
    mproc_value_free(v);
  }
  EXPECT_TRUE(ExitedZero(Reap(producer)));
  mproc_queue_close(q);
}

// A small ring wraps around thousands of times under items of odd sizes.
TEST_F(Queue, RingWrapsAroundUnderOddSizes) {
  mproc_queue_opts_t o = {};
  o.capacity = 4096;
  mproc_queue_t* q;
  ASSERT_EQ(0, mproc_queue_new(&q, &o));
  const int n = 5000;
  pid_t producer = Spawn([&] {
    for (int i = 0; i < n; i++)
      if (Put(q, Pattern((size_t)(i * 37) % 1500, (uint32_t)i)) != 0)
        return 1;
    return 0;
  });
  for (int i = 0; i < n; i++) {
    mproc_value_t* v;
    ASSERT_EQ(0, mproc_queue_get(q, &v, 10));
    ASSERT_TRUE(IsPattern(v, (size_t)(i * 37) % 1500, (uint32_t)i)) << i;
    mproc_value_free(v);
  }
  EXPECT_TRUE(ExitedZero(Reap(producer)));
  mproc_queue_close(q);
}

TEST_F(Queue, JoinableQueueJoinsOnceEveryTaskIsDone) {
  mproc_queue_opts_t o = {};
  o.joinable = true;
  mproc_queue_t* q;
  ASSERT_EQ(0, mproc_queue_new(&q, &o));
  EXPECT_EQ(0, mproc_queue_join(q, 0));  // nothing put yet
  EXPECT_EQ(MPROC_ERANGE, mproc_queue_task_done(q));
  for (int i = 0; i < 20; i++) ASSERT_EQ(0, Put(q, Int(i)));
  double t0 = Now();
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_queue_join(q, 0.05));
  EXPECT_GE(Now() - t0, 0.05);
  std::vector<pid_t> workers;
  for (int w = 0; w < 2; w++)
    workers.push_back(Spawn([&] {
      for (;;) {
        mproc_value_t* v;
        int rc = mproc_queue_get(q, &v, 0.2);
        if (rc == MPROC_EEMPTY) return 0;
        if (rc != 0) return 1;
        mproc_value_free(v);
        usleep(2000);
        if (mproc_queue_task_done(q) != 0) return 2;
      }
    }));
  EXPECT_EQ(0, mproc_queue_join(q, 30));
  EXPECT_EQ(1, mproc_queue_empty(q));
  for (pid_t p : workers) EXPECT_TRUE(ExitedZero(Reap(p)));
  EXPECT_EQ(MPROC_ERANGE, mproc_queue_task_done(q));
  mproc_queue_close(q);

  ASSERT_EQ(0, mproc_queue_new(&q, nullptr));
  EXPECT_EQ(MPROC_ESTATE, mproc_queue_task_done(q));
  EXPECT_EQ(MPROC_ESTATE, mproc_queue_join(q, 0));
  mproc_queue_close(q);
}

// Eight processes and four threads at once, producing and consuming small
// and spilled items: every item arrives exactly once, whole.
TEST_F(Queue, EightProcessesAndFourThreadsAtOnce) {
  mproc_queue_opts_t o = {};
  o.capacity = 64 << 10;  // spills from 16 KiB, and a ring that fills
  mproc_queue_t* q;
  ASSERT_EQ(0, mproc_queue_new(&q, &o));
  const int producers = 6, per = 1500;  // 4 processes + 2 threads
  const int total = producers * per;
  mproc_array_t* seen;
  ASSERT_EQ(0, mproc_array_new(&seen, 'i', total, false));
  int* marks = static_cast<int*>(mproc_array_data(seen));
  mproc_array_t* bad;
  ASSERT_EQ(0, mproc_array_new(&bad, 'i', 1, false));
  int* bads = static_cast<int*>(mproc_array_data(bad));

  auto item_size = [](int id) -> size_t {
    return id % 97 == 0 ? 20000 + id % 5000 : (size_t)(id % 200);
  };
  auto produce = [&](int p) {
    for (int k = 0; k < per; k++) {
      int id = p * per + k;
      mproc_value_t* v;
      mproc_value_t* body = Pattern(item_size(id), (uint32_t)id);
      if (mproc_pack(&v, "(iN)", id, body) != 0) return 1;
      if (Put(q, v) != 0) return 2;
    }
    return 0;
  };
  // Consumers stop at a None, one per consumer.
  auto consume = [&] {
    for (;;) {
      mproc_value_t* v;
      if (mproc_queue_get(q, &v, 60) != 0) return 1;
      if (mproc_value_kind(v) == MPROC_NONE) {
        mproc_value_free(v);
        return 0;
      }
      const mproc_value_t *idv, *body;
      int64_t id = -1;
      if (mproc_list_get(v, 0, &idv) != 0 || mproc_list_get(v, 1, &body) != 0 ||
          mproc_value_get_int(idv, &id) != 0 || id < 0 || id >= total ||
          !IsPattern(body, item_size((int)id), (uint32_t)id))
        __atomic_add_fetch(bads, 1, __ATOMIC_SEQ_CST);
      else
        __atomic_add_fetch(&marks[id], 1, __ATOMIC_SEQ_CST);
      mproc_value_free(v);
    }
  };
  std::vector<pid_t> prod_pids, cons_pids;
  for (int p = 0; p < 4; p++) prod_pids.push_back(Spawn([&, p] { return produce(p); }));
  for (int c = 0; c < 4; c++) cons_pids.push_back(Spawn(consume));
  std::vector<std::thread> threads;
  int thread_rc[4] = {0, 0, 0, 0};
  for (int t = 0; t < 2; t++)
    threads.emplace_back([&, t] { thread_rc[t] = produce(4 + t); });
  for (int t = 2; t < 4; t++)
    threads.emplace_back([&, t] { thread_rc[t] = consume(); });
  for (pid_t p : prod_pids) EXPECT_TRUE(ExitedZero(Reap(p)));
  threads[0].join();
  threads[1].join();
  for (int c = 0; c < 6; c++) {
    mproc_value_t* none;
    ASSERT_EQ(0, mproc_value_none(&none));
    ASSERT_EQ(0, Put(q, none));
  }
  for (pid_t p : cons_pids) EXPECT_TRUE(ExitedZero(Reap(p)));
  threads[2].join();
  threads[3].join();
  for (int rc : thread_rc) EXPECT_EQ(0, rc);
  EXPECT_EQ(0, *bads);
  int missing = 0, twice = 0;
  for (int i = 0; i < total; i++) {
    if (marks[i] == 0) missing++;
    if (marks[i] > 1) twice++;
  }
  EXPECT_EQ(0, missing);
  EXPECT_EQ(0, twice);
  EXPECT_EQ(1, mproc_queue_empty(q));
  mproc_array_free(seen);
  mproc_array_free(bad);
  mproc_queue_close(q);
}

// A queue made before mproc_pool_new is usable in the pool's workers.
mproc_queue_t* g_pool_queue;

MPROC_TARGET(put_square) {
  int64_t x;
  if (mproc_unpack(call, "x=L", &x) < 0) return -1;
  mproc_value_t* v;
  if (mproc_value_int(&v, x * x) < 0) return -1;
  int rc = mproc_queue_put(g_pool_queue, v, 10);
  mproc_value_free(v);
  return rc < 0 ? mproc_call_fail(call, "put: %s", mproc_err_name(rc)) : 0;
}

TEST_F(Queue, MadeBeforeThePoolWorksInItsWorkers) {
  ASSERT_EQ(0, mproc_queue_new(&g_pool_queue, nullptr));
  mproc_pool_opts_t po = {};
  po.workers = 2;
  mproc_pool_t* pool;
  ASSERT_EQ(0, mproc_pool_new(&pool, &po));
  mproc_value_t *items, *results;
  ASSERT_EQ(0, mproc_pack(&items, "[iiiiii]", 1, 2, 3, 4, 5, 6));
  mproc_task_error_t err;
  ASSERT_EQ(0, mproc_pool_map(pool, "put_square", items, 1, &results, &err))
      << err.message;
  int64_t sum = 0;
  for (int i = 0; i < 6; i++) {
    mproc_value_t* v;
    ASSERT_EQ(0, mproc_queue_get(g_pool_queue, &v, 10));
    int64_t x;
    ASSERT_EQ(0, mproc_value_get_int(v, &x));
    sum += x;
    mproc_value_free(v);
  }
  EXPECT_EQ(1 + 4 + 9 + 16 + 25 + 36, sum);
  mproc_value_free(items);
  mproc_value_free(results);
  mproc_pool_close(pool);
  EXPECT_EQ(0, mproc_pool_join(pool, 30));
  mproc_pool_free(pool);
  mproc_queue_close(g_pool_queue);
}

// ... and one made before a Process starts, in that Process.
int PutHello(mproc_call_t* call) {
  mproc_queue_t* q = static_cast<mproc_queue_t*>(mproc_call_ctx(call));
  mproc_value_t* v;
  if (mproc_value_str(&v, "hello from the child") < 0) return -1;
  int rc = mproc_queue_put(q, v, 10);
  mproc_value_free(v);
  return rc < 0 ? 1 : 0;
}

TEST_F(Queue, MadeBeforeStartWorksInTheProcess) {
  mproc_queue_t* q;
  ASSERT_EQ(0, mproc_queue_new(&q, nullptr));
  mproc_process_opts_t po = {};
  po.target = PutHello;
  po.ctx = q;
  mproc_process_t* p;
  ASSERT_EQ(0, mproc_process_new(&p, &po));
  ASSERT_EQ(0, mproc_process_start(p));
  EXPECT_EQ("hello from the child", GetStr(q));
  ASSERT_EQ(0, mproc_process_join(p, 10));
  int code = -1;
  EXPECT_EQ(1, mproc_process_exitcode(p, &code));
  EXPECT_EQ(0, code);
  mproc_process_close(p);
  mproc_queue_close(q);
}

// Blocking put and get survive a SIGALRM storm and keep their timeouts.
TEST_F(Queue, BlockingCallsSurviveAnEintrStorm) {
  mproc_queue_opts_t o = {};
  o.maxsize = 1;
  mproc_queue_t* q;
  ASSERT_EQ(0, mproc_queue_new(&q, &o));
  pid_t pid = Spawn([&] {
    for (int i = 0; i < 50; i++) {
      usleep(2000);
      mproc_value_t* v;
      if (mproc_queue_get(q, &v, 10) != 0) return 1;
      mproc_value_free(v);
    }
    return 0;
  });
  {
    mproc_test::EintrStorm storm(1000);
    long before = mproc_test::EintrStorm::Signals();
    for (int i = 0; i < 51; i++) ASSERT_EQ(0, Put(q, Int(i), -1));
    double t0 = Now();
    EXPECT_EQ(MPROC_EFULL, Put(q, Int(0), 0.05));
    EXPECT_GE(Now() - t0, 0.05);
    EXPECT_TRUE(ExitedZero(Reap(pid)));
    mproc_value_t* v;
    ASSERT_EQ(0, mproc_queue_get(q, &v, -1));
    mproc_value_free(v);
    t0 = Now();
    EXPECT_EQ(MPROC_EEMPTY, mproc_queue_get(q, &v, 0.05));
    double took = Now() - t0;
    EXPECT_GE(took, 0.05);
    EXPECT_LT(took, 0.55);
    EXPECT_GT(mproc_test::EintrStorm::Signals() - before, 50);
  }
  mproc_queue_close(q);
}

// Nothing is left behind: descriptors and mappings come back, including
// after spilled items.
TEST_F(Queue, CloseLeavesNoDescriptorsOrMappings) {
  int fds = mproc_test::CountOpenFds();
  for (int i = 0; i < 50; i++) {
    mproc_queue_t* q;
    ASSERT_EQ(0, mproc_queue_new(&q, nullptr));
    ASSERT_EQ(0, Put(q, Pattern(300 << 10, 1)));
    ASSERT_EQ(0, Put(q, Pattern(10, 2)));
    mproc_value_t* v;
    ASSERT_EQ(0, mproc_queue_get(q, &v, 0));
    EXPECT_TRUE(IsPattern(v, 300 << 10, 1));
    mproc_value_free(v);
    // One item left in it: closing is fine anyway.
    ASSERT_EQ(0, mproc_queue_close(q));
  }
  EXPECT_EQ(fds, mproc_test::CountOpenFds());
}

}  // namespace
