// Start methods under a busy multithreaded parent (issue 11): 8 threads
// hammer a mutex and malloc while the main thread starts 1,000 children
// with each method — fork, forkserver and spawn for Process and for a pool
// whose workers each serve one task — and every child ends. A hang is a
// failure (the Deadline, and a join timeout per child).
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "multiproc.h"
#include "tests/support/fork_support.h"

namespace {

pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
std::atomic<bool> g_stop;
volatile size_t g_sink;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int kChildren = 150;  // each spawned child starts the sanitizer
#else
constexpr int kChildren = 1000;
#endif

// Holds the lock across malloc and free, as often as it can: at any fork,
// some thread likely holds it (and malloc's arena locks).
void Hammer() {
  while (!g_stop.load(std::memory_order_relaxed)) {
    pthread_mutex_lock(&g_lock);
    char* p = static_cast<char*>(malloc(64 + (g_sink & 1023)));
    if (p != nullptr) {
      p[0] = 1;
      g_sink += static_cast<size_t>(p[0]);
    }
    free(p);
    pthread_mutex_unlock(&g_lock);
  }
}

}  // namespace

// Forked: malloc must work (glibc makes it fork-safe); the program's own
// mutex may be held by a thread that does not exist here, so it is left
// alone.
MPROC_TARGET(stress_malloc) {
  void* p = malloc(1000);
  if (p == nullptr) return mproc_call_fail(call, "no memory");
  memset(p, 1, 1000);
  free(p);
  return 0;
}

// Spawned: a fresh program, whose mutex is free whatever the parent did.
MPROC_TARGET(stress_lock_malloc) {
  if (pthread_mutex_lock(&g_lock) != 0) return -1;
  void* p = malloc(1000);
  pthread_mutex_unlock(&g_lock);
  if (p == nullptr) return mproc_call_fail(call, "no memory");
  free(p);
  return 0;
}

namespace {

class StartStress : public mproc_test::Deadline {
 protected:
  StartStress() : mproc_test::Deadline(240) {}
  void SetUp() override {
    mproc_test::Deadline::SetUp();
    g_stop = false;
    for (int i = 0; i < 8; i++) threads_.emplace_back(Hammer);
  }
  void TearDown() override {
    g_stop = true;
    for (auto& t : threads_) t.join();
    mproc_test::Deadline::TearDown();
  }

  void StartMany(const char* target, mproc_start_method_t method) {
    mproc_process_opts_t o = {};
    o.target_name = target;
    o.start_method = method;
    for (int i = 0; i < kChildren; i++) {
      mproc_process_t* p;
      ASSERT_EQ(0, mproc_process_new(&p, &o));
      ASSERT_EQ(0, mproc_process_start(p)) << i << ": " << mproc_last_error();
      ASSERT_EQ(0, mproc_process_join(p, 30)) << "child " << i << " hangs";
      int code = -1;
      ASSERT_EQ(1, mproc_process_exitcode(p, &code));
      ASSERT_EQ(0, code) << i << ": " << mproc_process_error(p);
      ASSERT_EQ(0, mproc_process_close(p));
    }
    EXPECT_EQ(0, mproc_test::CountZombieChildren());
  }

  std::vector<std::thread> threads_;
};

TEST_F(StartStress, ForkThousandChildren) {
  StartMany("stress_malloc", MPROC_START_FORK);
}

TEST_F(StartStress, ForkserverThousandChildren) {
  StartMany("stress_lock_malloc", MPROC_START_FORKSERVER);
}

TEST_F(StartStress, SpawnThousandChildren) {
  StartMany("stress_lock_malloc", MPROC_START_SPAWN);
}

// A pool whose workers each serve one task (a fresh worker for every
// task), target run kChildren times.
void PoolMany(const char* target, mproc_start_method_t method) {
  mproc_pool_opts_t o = {};
  o.workers = 2;
  o.max_tasks_per_child = 1;  // a fresh worker for every task
  o.start_method = method;
  mproc_pool_t* pool;
  ASSERT_EQ(0, mproc_pool_new(&pool, &o)) << mproc_last_error();
  for (int i = 0; i < kChildren; i++) {
    mproc_value_t* result = nullptr;
    mproc_task_error_t err;
    ASSERT_EQ(0, mproc_pool_apply(pool, target, nullptr, nullptr, &result,
                                  &err))
        << i << ": " << err.message;
    mproc_value_free(result);
  }
  EXPECT_EQ(0, mproc_pool_close(pool));
  EXPECT_EQ(0, mproc_pool_join(pool, 30));
  mproc_pool_free(pool);
}

// A fork pool's server is forked from this busy program at mproc_pool_new
// (multiproc/pool.h): its workers may find the program's mutex held, so
// they, like forked children, leave it alone.
TEST_F(StartStress, ForkPoolThousandWorkers) {
  PoolMany("stress_malloc", MPROC_START_FORK);
}

// A forkserver or spawn pool's server is exec'd fresh: its workers take the
// mutex that the busy threads hold and release (held in the parent, never
// in them).
TEST_F(StartStress, ForkserverPoolThousandWorkers) {
  PoolMany("stress_lock_malloc", MPROC_START_FORKSERVER);
}

TEST_F(StartStress, SpawnPoolThousandWorkers) {
  PoolMany("stress_lock_malloc", MPROC_START_SPAWN);
}

}  // namespace
