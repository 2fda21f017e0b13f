// Many processes under a stock descriptor limit (issue 12): a soft
// RLIMIT_NOFILE of 1,024 stops a program at ~510 children when each holds
// two descriptors. multiproc raises the soft limit to the hard one when it
// runs out, restores the original in every child, and says clearly what
// stopped it when the hard limit is reached. Each scenario runs in a child
// of its own (limits are process-wide).
//
// MPROC_MANY_PROCS sets how many run at once (default 2,000; the issue's
// full form: --test_env=MPROC_MANY_PROCS=10000).
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "multiproc.h"
#include "tests/support/fork_support.h"

namespace {

#define CHECK(n, cond)                                        \
  do {                                                        \
    if (!(cond)) {                                            \
      fprintf(stderr, "check %d failed: %s\n", n, #cond);     \
      return n;                                               \
    }                                                         \
  } while (0)

size_t ManyProcs() {
  const char* env = getenv("MPROC_MANY_PROCS");
  long n = env ? atol(env) : 2000;
  return n > 0 ? static_cast<size_t>(n) : 2000;
}

int Nap(mproc_call_t*) {
  struct timespec ts = {0, 500000000};
  while (nanosleep(&ts, &ts) != 0) {
  }
  return 0;
}

// Exit code 0 when the child's soft descriptor limit is 1,024 (what the
// program set), else 1.
int SoftLimitIs1024(mproc_call_t*) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_cur == 1024 ? 0 : 1;
}

// The same two, registered: a fork server's child finds its target by name.
MPROC_TARGET(many_nap) { return Nap(call); }
MPROC_TARGET(many_soft_1024) { return SoftLimitIs1024(call); }

mproc_process_t* New(mproc_target_fn fn,
                     mproc_start_method_t method = MPROC_START_DEFAULT) {
  mproc_process_opts_t opts = {};
  opts.target = fn;
  opts.start_method = method;
  mproc_process_t* p = nullptr;
  return mproc_process_new(&p, &opts) == 0 ? p : nullptr;
}

// The limits of a stock machine: a soft limit of 1,024 and a hard one far
// higher (systemd's default is 524,288). Where the hard limit is lower (this
// CI VM has 20,000, too few for 10,000 children of two descriptors each),
// it is raised to that when the test may (CAP_SYS_RESOURCE, as root in CI).
int SetStockLimits() {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
  rl.rlim_cur = 1024;
  if (rl.rlim_max < 524288) {
    struct rlimit raised = {1024, 524288};
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) return 0;
  }
  return setrlimit(RLIMIT_NOFILE, &rl);
}

// Starts n nappers, then joins them all (one by one, or through mproc_wait
// over all of them).
int StartAndJoin(size_t n, bool with_wait,
                 mproc_start_method_t method = MPROC_START_DEFAULT) {
  std::vector<mproc_process_t*> ps;
  for (size_t i = 0; i < n; i++) {
    mproc_process_t* p = method == MPROC_START_DEFAULT ? New(Nap)
                                                       : New(many_nap, method);
    CHECK(10, p != nullptr);
    int rc = mproc_process_start(p);
    if (rc != 0) {
      fprintf(stderr, "start %zu: %s: %s\n", i, mproc_err_name(rc),
              mproc_last_error());
      return 11;
    }
    ps.push_back(p);
  }
  if (with_wait) {
    std::vector<mproc_process_t*> live = ps;
    while (!live.empty()) {
      size_t i = 0;
      CHECK(20, mproc_wait(live.data(), live.size(), 30, &i) == 0);
      live[i] = live.back();
      live.pop_back();
    }
  }
  for (mproc_process_t* p : ps) {
    CHECK(30, mproc_process_join(p, 30) == 0);
    int code = -1;
    CHECK(31, mproc_process_exitcode(p, &code) == 1 && code == 0);
    CHECK(32, mproc_process_close(p) == 0);
  }
  return 0;
}

int ManyUnderSoftLimit(bool with_wait,
                       mproc_start_method_t method = MPROC_START_DEFAULT) {
  CHECK(1, SetStockLimits() == 0);
  // The fork server is started first: it stays, and is no leak.
  if (method == MPROC_START_FORKSERVER)
    CHECK(2, mproc_forkserver_start() == 0);
  int before = mproc_test::CountOpenFds();
  int rc = StartAndJoin(ManyProcs(), with_wait, method);
  if (rc != 0) return rc;
  // Children see the limit the program set, not the raised one.
  mproc_process_t* p = method == MPROC_START_DEFAULT
                           ? New(SoftLimitIs1024)
                           : New(many_soft_1024, method);
  CHECK(40, p != nullptr && mproc_process_start(p) == 0);
  CHECK(41, mproc_process_join(p, 10) == 0);
  int code = -1;
  CHECK(42, mproc_process_exitcode(p, &code) == 1 && code == 0);
  mproc_process_close(p);
  CHECK(50, mproc_test::CountOpenFds() == before);
  CHECK(51, mproc_test::CountZombieChildren() == 0);
  return 0;
}

class ManyProcesses : public mproc_test::Deadline {
 protected:
  ManyProcesses() : Deadline(240) {}
};

TEST_F(ManyProcesses, ThousandsAtOnceUnderASoftLimitOf1024) {
  int status = mproc_test::RunInChild([] { return ManyUnderSoftLimit(false); },
                                      200);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(0, WEXITSTATUS(status));
}

// Through the fork server, which holds one descriptor per live child (to
// report its end): it too must go past the soft limit it was exec'd with.
// Before it did, the 1,021st start failed ("no child process").
TEST_F(ManyProcesses, ThousandsAtOnceThroughTheForkServer) {
  int status = mproc_test::RunInChild(
      [] { return ManyUnderSoftLimit(false, MPROC_START_FORKSERVER); }, 200);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST_F(ManyProcesses, ThousandsAtOnceJoinedThroughWait) {
  int status = mproc_test::RunInChild([] { return ManyUnderSoftLimit(true); },
                                      200);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(0, WEXITSTATUS(status));
}

// The hard limit reached: a clear error that says how many descriptors are
// open, the limit, and multiproc's share; nothing leaks; raised again, it
// goes on.
int HardLimit() {
  struct rlimit old;
  CHECK(1, getrlimit(RLIMIT_NOFILE, &old) == 0);
  struct rlimit tight = {256, 256};
  CHECK(2, setrlimit(RLIMIT_NOFILE, &tight) == 0);
  int before = mproc_test::CountOpenFds();
  std::vector<mproc_process_t*> ps;
  int rc = 0;
  for (int i = 0; i < 1000 && rc == 0; i++) {
    mproc_process_t* p = New(Nap);
    CHECK(10, p != nullptr);
    rc = mproc_process_start(p);
    if (rc == 0)
      ps.push_back(p);
    else
      mproc_process_close(p);
  }
  CHECK(20, rc == MPROC_EMFILE);
  std::string why = mproc_last_error();
  fprintf(stderr, "the error: %s\n", why.c_str());
  CHECK(21, why.find("out of file descriptors") != std::string::npos);
  CHECK(22, why.find("limit 256") != std::string::npos);
  CHECK(23, why.find("multiproc holds") != std::string::npos);
  CHECK(24, ps.size() > 100);  // ~127 children of 2 descriptors each
  for (mproc_process_t* p : ps) {
    CHECK(30, mproc_process_join(p, 30) == 0);
    mproc_process_close(p);
  }
  CHECK(31, mproc_test::CountOpenFds() == before);  // nothing leaked
  // Raising a hard limit takes CAP_SYS_RESOURCE (root, as in CI).
  if (setrlimit(RLIMIT_NOFILE, &old) != 0) return 0;
  CHECK(40, StartAndJoin(300, false) == 0);
  return 0;
}

TEST_F(ManyProcesses, TheHardLimitGivesAClearErrorThenRecovers) {
  int status = mproc_test::RunInChild(HardLimit, 120);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(0, WEXITSTATUS(status));
}

// ---- A pool of 1,000 workers under the same soft limit.

MPROC_TARGET(many_soft_limit) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  return mproc_call_return(call, "L", (int64_t)rl.rlim_cur);
}

// Doubles its argument after a nap of 50 ms, so that a map of 5,000
// items keeps many workers busy at once.
MPROC_TARGET(many_double) {
  int64_t x;
  if (mproc_unpack(call, "L", &x) < 0) return -1;
  struct timespec ts = {0, 50000000};
  while (nanosleep(&ts, &ts) != 0) {
  }
  return mproc_call_return(call, "L", 2 * x);
}

int ThousandWorkers() {
  CHECK(1, SetStockLimits() == 0);
  mproc_pool_opts_t opts = {};
  opts.workers = 1000;
  mproc_pool_t* pool = nullptr;
  int rc = mproc_pool_new(&pool, &opts);
  if (rc != 0) {
    fprintf(stderr, "pool: %s: %s\n", mproc_err_name(rc), mproc_last_error());
    return 2;
  }
  mproc_value_t* items = nullptr;
  mproc_value_list(&items);
  for (int i = 0; i < 5000; i++) {
    mproc_value_t* x = nullptr;
    mproc_value_int(&x, i);
    mproc_list_append(items, x);
  }
  mproc_value_t* results = nullptr;
  mproc_task_error_t err;
  rc = mproc_pool_map(pool, "many_double", items, 1, &results, &err);
  if (rc != 0) fprintf(stderr, "map: %s\n", err.message);
  CHECK(10, rc == 0);
  CHECK(11, mproc_value_len(results) == 5000);
  for (size_t i = 0; i < 5000; i++) {
    const mproc_value_t* v = nullptr;
    int64_t got = -1;
    mproc_list_get(results, i, &v);
    mproc_value_get_int(v, &got);
    CHECK(12, got == 2 * static_cast<int64_t>(i));
  }
  mproc_value_free(results);
  mproc_value_free(items);
  // Every worker comes up (no slot left empty by the limit): workers start
  // as the pool thread gets to them, so this waits for them (the test's
  // deadline bounds it).
  std::vector<mproc_worker_stats_t> s(1000);
  size_t up = 0;
  for (;;) {
    size_t n = 0;
    CHECK(20, mproc_pool_stats(pool, s.data(), s.size(), &n) == 0 && n == 1000);
    up = 0;
    for (const mproc_worker_stats_t& w : s) up += w.pid > 0;
    if (up == 1000) break;
    usleep(10000);
  }
  // The parent's soft limit was raised to hold them.
  struct rlimit rl;
  CHECK(22, getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > 1024);
  // Workers see the program's soft limit.
  mproc_value_t* r = nullptr;
  CHECK(30, mproc_pool_apply(pool, "many_soft_limit", nullptr, nullptr, &r,
                             nullptr) == 0);
  int64_t lim = 0;
  mproc_value_get_int(r, &lim);
  mproc_value_free(r);
  CHECK(31, lim == 1024);
  CHECK(40, mproc_pool_close(pool) == 0 && mproc_pool_join(pool, 60) == 0);
  mproc_pool_free(pool);
  return 0;
}

TEST_F(ManyProcesses, APoolOfAThousandWorkersUnderASoftLimitOf1024) {
  int status = mproc_test::RunInChild(ThousandWorkers, 200);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(0, WEXITSTATUS(status));
}

}  // namespace
