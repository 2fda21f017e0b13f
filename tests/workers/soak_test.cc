// Soak: many pool tasks and many Process start/join cycles leave the
// parent's memory and descriptors where they were, workers stay small, and
// a worker that handled one big task gives its memory back.
//
// Sizes (defaults are the short form that `bazel test //...` runs):
//   MPROC_SOAK_TASKS   pool tasks            (default 50000; full: 1000000)
//   MPROC_SOAK_PROCS   Process start/joins   (default 500;   full: 5000)
//   bazel test //tests/workers:soak_test
//       --test_env=MPROC_SOAK_TASKS=1000000 --test_env=MPROC_SOAK_PROCS=5000
//
// Under AddressSanitizer the parent's RSS measures ASan's quarantine and a
// worker's private memory its shadow pages, so the memory checks are
// reported but not asserted there (descriptor checks still are).
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "multiproc.h"
#include "tests/support/fork_support.h"
#include "tests/workers/chaos_util.h"
#include "tests/workers/pool_util.h"

namespace {

using mproc_test::Now;
using namespace pool_test;

// gcc says __SANITIZE_ADDRESS__, clang __has_feature(address_sanitizer).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#else
constexpr bool kAsan = false;
#endif

// ---- Targets.

MPROC_TARGET(twice_plus_one) {
  int64_t x;
  if (mproc_unpack(call, "L", &x) < 0) return -1;
  return mproc_call_return(call, "L", 2 * x + 1);
}

// Returns its bytes argument as is.
MPROC_TARGET(echo_bytes) {
  const mproc_value_t* b;
  if (mproc_list_get(mproc_call_args(call), 0, &b) < 0)
    return mproc_call_fail(call, "echo_bytes() takes one argument");
  mproc_value_t* copy;
  int rc = mproc_value_copy(&copy, b);
  if (rc < 0) return rc;
  return mproc_call_set_result(call, copy);
}

int ProcessTarget(mproc_call_t* call) {
  const char* name;
  int age;
  if (mproc_unpack(call, "name=s age=i **", &name, &age) < 0) return -1;
  return age == 18 && strcmp(name, "test") == 0 ? 0 : 3;
}

// ---- Measures.

size_t EnvSize(const char* name, size_t fallback) {
  const char* v = getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  long long n = atoll(v);
  return n > 0 ? static_cast<size_t>(n) : fallback;
}

// This process's resident set in KiB, after giving free heap back (so that
// what is counted is memory in use, not malloc's cache).
long RssKb() {
  malloc_trim(0);
  long pages = 0, resident = 0;
  FILE* f = fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
  fclose(f);
  return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

// Allowed RSS growth between the warmed-up state and the end.
constexpr long kRssSlackKb = 2 * 1024;

class Soak : public mproc_test::Deadline {
 protected:
  Soak() : Deadline(900) {}
};

// One round of pool work: futures, a map with automatic chunks, an
// imap_unordered, checking every result. Returns the tasks it ran.
size_t PoolRound(mproc_pool_t* pool, int64_t first, size_t n) {
  size_t third = n / 3;
  // Futures, one task each.
  std::vector<Future> fs;
  fs.reserve(third);
  for (size_t i = 0; i < third; i++) {
    Value args = Pack("(L)", first + static_cast<int64_t>(i));
    fs.push_back(Submit(pool, "twice_plus_one", args.get()));
  }
  for (size_t i = 0; i < third; i++) {
    EXPECT_EQ(0, mproc_future_wait(fs[i].get(), 60));
    int64_t want = 2 * (first + static_cast<int64_t>(i)) + 1;
    if (IntResult(fs[i].get()) != want) {
      ADD_FAILURE() << "future " << i << " wrong";
      break;
    }
  }
  fs.clear();
  first += static_cast<int64_t>(third);
  // map, automatic chunks.
  Value items = Range(static_cast<int64_t>(third), first);
  mproc_value_t* out = nullptr;
  mproc_task_error_t err;
  EXPECT_EQ(0, mproc_pool_map(pool, "twice_plus_one", items.get(), 0, &out,
                              &err))
      << err.message;
  Value results(out);
  EXPECT_EQ(third, mproc_value_len(out));
  for (size_t i = 0; i < mproc_value_len(out); i++)
    if (AsInt(Item(out, i)) != 2 * (first + static_cast<int64_t>(i)) + 1) {
      ADD_FAILURE() << "map item " << i << " wrong";
      break;
    }
  first += static_cast<int64_t>(third);
  // imap_unordered, chunks of 1.
  size_t rest = n - 2 * third;
  Value more = Range(static_cast<int64_t>(rest), first);
  mproc_imap_opts_t o = {};
  o.target = "twice_plus_one";
  o.items = more.get();
  o.unordered = true;
  mproc_iter_t* raw = nullptr;
  EXPECT_EQ(0, mproc_pool_imap(pool, &o, &raw));
  Iter it(raw);
  mproc_item_t item;
  size_t got = 0;
  int rc;
  while ((rc = mproc_iter_next(it.get(), 60, &item)) == 1) {
    got++;
    if (item.error.code != 0 ||
        AsInt(item.result) !=
            2 * (first + static_cast<int64_t>(item.index)) + 1) {
      ADD_FAILURE() << "imap item " << item.index << " wrong: "
                    << item.error.message;
      break;
    }
  }
  EXPECT_EQ(0, rc);
  EXPECT_EQ(rest, got);
  return n;
}

// ---- Tests.

TEST_F(Soak, PoolTasksLeaveTheParentsMemoryAndDescriptorsUnchanged) {
  const size_t total = EnvSize("MPROC_SOAK_TASKS", 50000);
  const size_t round = 3000;
  const size_t warmup = std::max<size_t>(total / 10, 2 * round);
  int fds_before_pool = mproc_test::CountOpenFds();
  PoolPtr pool = NewPool(2);
  ASSERT_TRUE(pool);

  size_t done = 0;
  int64_t next = 0;
  while (done < warmup) {
    done += PoolRound(pool.get(), next, round);
    next += static_cast<int64_t>(round);
  }
  long rss0 = RssKb();
  int fds0 = mproc_test::CountOpenFds();
  double t0 = Now();
  while (done < total + warmup && !HasFailure()) {
    done += PoolRound(pool.get(), next, round);
    next += static_cast<int64_t>(round);
  }
  double secs = Now() - t0;
  long rss1 = RssKb();
  int fds1 = mproc_test::CountOpenFds();

  long worker_max = 0;
  std::string worker_private;
  for (const mproc_worker_stats_t& s : Stats(pool.get())) {
    if (s.max_rss_kb > worker_max) worker_max = s.max_rss_kb;
    EXPECT_EQ(0u, s.crashes);
    worker_private += " " + std::to_string(chaos::PrivateKb(s.pid));
  }
  printf("[soak] %zu pool tasks after a %zu-task warm-up in %.1f s: parent "
         "RSS %ld -> %ld KiB (%+ld), descriptors %d -> %d; largest worker "
         "max RSS %ld KiB; workers' private memory now (KiB):%s%s\n",
         done - warmup, warmup, secs, rss0, rss1, rss1 - rss0, fds0, fds1,
         worker_max, worker_private.c_str(),
         kAsan ? " (ASan: memory not asserted)" : "");
  EXPECT_EQ(fds0, fds1) << "descriptors grew while tasks ran";
  if (!kAsan) {
    EXPECT_LE(rss1 - rss0, kRssSlackKb)
        << "the parent's RSS grew by " << (rss1 - rss0) << " KiB over "
        << done - warmup << " tasks";
    EXPECT_LT(worker_max, 64 * 1024) << "a worker's RSS went past 64 MiB";
  }

  ASSERT_EQ(0, mproc_pool_close(pool.get()));
  ASSERT_EQ(0, mproc_pool_join(pool.get(), 60));
  pool.reset();
  EXPECT_EQ(fds_before_pool, mproc_test::CountOpenFds());
  EXPECT_EQ(0, mproc_test::CountZombieChildren());
}

TEST_F(Soak, ProcessCyclesLeaveTheParentsMemoryAndDescriptorsUnchanged) {
  const size_t total = EnvSize("MPROC_SOAK_PROCS", 500);
  const size_t warmup = std::max<size_t>(total / 10, 50);
  Value args = Pack("(si)", "test", 18);
  Value kwargs = Pack("{s:i}", "m", 20);
  auto cycle = [&]() {
    mproc_process_opts_t o = {};
    o.target = ProcessTarget;
    o.args = args.get();
    o.kwargs = kwargs.get();
    mproc_process_t* p = nullptr;
    ASSERT_EQ(0, mproc_process_new(&p, &o));
    ASSERT_EQ(0, mproc_process_start(p));
    ASSERT_EQ(0, mproc_process_join(p, 30));
    int code = -1;
    EXPECT_EQ(1, mproc_process_exitcode(p, &code));
    EXPECT_EQ(0, code) << mproc_process_error(p);
    ASSERT_EQ(0, mproc_process_close(p));
  };
  for (size_t i = 0; i < warmup && !HasFailure(); i++) cycle();
  long rss0 = RssKb();
  int fds0 = mproc_test::CountOpenFds();
  double t0 = Now();
  size_t n = 0;
  for (; n < total && !HasFailure(); n++) cycle();
  double secs = Now() - t0;
  long rss1 = RssKb();
  int fds1 = mproc_test::CountOpenFds();
  printf("[soak] %zu Process start/join cycles after %zu warm-up ones in "
         "%.1f s (%.0f us each): parent RSS %ld -> %ld KiB (%+ld), "
         "descriptors %d -> %d%s\n",
         n, warmup, secs, n ? secs / n * 1e6 : 0.0, rss0, rss1, rss1 - rss0,
         fds0, fds1, kAsan ? " (ASan: memory not asserted)" : "");
  EXPECT_EQ(total, n);
  EXPECT_EQ(fds0, fds1);
  EXPECT_EQ(0, mproc_test::CountZombieChildren());
  if (!kAsan) {
    EXPECT_LE(rss1 - rss0, kRssSlackKb)
        << "the parent's RSS grew by " << (rss1 - rss0) << " KiB over " << n
        << " cycles";
  }
}

// Waits until pid's private memory stops falling (at most timeout_s) and
// returns the least seen, in KiB.
long SettledPrivateKb(pid_t pid, double timeout_s) {
  long least = chaos::PrivateKb(pid);
  for (double end = Now() + timeout_s; Now() < end;) {
    SleepS(0.05);
    long kb = chaos::PrivateKb(pid);
    if (kb >= 0 && (least < 0 || kb < least)) least = kb;
  }
  return least;
}

// A worker that once took a 64 MiB argument and returned a 64 MiB result
// keeps none of it once idle: its private memory (Private_Clean +
// Private_Dirty) is back under 1 MiB.
TEST_F(Soak, WorkerGivesBackTheMemoryOfABigTask) {
  if (kAsan) GTEST_SKIP() << "private memory under ASan counts its shadow";
  PoolPtr pool = NewPool(1);
  ASSERT_TRUE(pool);
  // A small task first, so that the worker is serving.
  Value small = Pack("(y#)", "abc", static_cast<size_t>(3));
  mproc_value_t* res = nullptr;
  mproc_task_error_t err;
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "echo_bytes", small.get(),
                                nullptr, &res, &err))
      << err.message;
  mproc_value_free(res);
  pid_t pid = Stats(pool.get())[0].pid;
  ASSERT_GT(pid, 0);
  long before_kb = SettledPrivateKb(pid, 0.3);

  const size_t n = size_t{64} << 20;
  std::vector<char> big(n);
  for (size_t i = 0; i < n; i += 4096) big[i] = static_cast<char>(i >> 12);
  Value args = Pack("(y#)", big.data(), n);
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "echo_bytes", args.get(), nullptr,
                                &res, &err))
      << err.message;
  Value result(res);
  args.reset();
  const void* p = nullptr;
  size_t len = 0;
  ASSERT_EQ(0, mproc_value_get_bytes(res, &p, &len));
  ASSERT_EQ(n, len);
  EXPECT_EQ(0, memcmp(p, big.data(), n));
  result.reset();
  ASSERT_EQ(pid, Stats(pool.get())[0].pid) << "the worker was replaced";

  long after_kb = SettledPrivateKb(pid, 2.0);
  long rss_kb = chaos::ProcKb("status", pid, "VmRSS:");
  printf("[soak] idle worker %d private memory (Private_Clean + "
         "Private_Dirty): %ld KiB before any big task, %ld KiB after a 64 MiB "
         "argument and result (VmRSS %ld KiB)\n",
         (int)pid, before_kb, after_kb, rss_kb);
  EXPECT_LT(before_kb, 1024) << "an idle worker is not small to begin with";
  EXPECT_LT(after_kb, 1024)
      << "the idle worker keeps " << after_kb
      << " KiB of private memory after one 64 MiB task";
}

}  // namespace
