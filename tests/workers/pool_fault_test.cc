// Pool under faults and at scale: workers that die mid-task (killed,
// exiting, aborting), task timeouts, retirement by task count and memory,
// terminate with a long queue, 200 workers, descriptor and zombie hygiene,
// no orphans when the pool's process dies, futures and iterators that
// outlive their pool (run under ASan to catch use-after-free).
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "multiproc.h"
#include "tests/support/fork_support.h"
#include "tests/workers/pool_util.h"

namespace {

using mproc_test::Now;
using namespace pool_test;

// ---- Targets (square, my_pid, sleep_then_pid, instant and kill_self are
// shared: tests/workers/targets.cc).

// Leaves with _exit(code), never answering.
MPROC_TARGET(exit_without_answer) {
  int code;
  if (mproc_unpack(call, "i", &code) < 0) return -1;
  _exit(code);
}

MPROC_TARGET(do_abort) {
  (void)call;
  abort();
}

MPROC_TARGET(ignore_sigterm_then_sleep) {
  double s;
  if (mproc_unpack(call, "d", &s) < 0) return -1;
  signal(SIGTERM, SIG_IGN);
  SleepS(s);
  return mproc_call_return(call, "i", (int)getpid());
}

// Allocates and touches mib MiB, then frees it; returns the pid.
MPROC_TARGET(alloc_touch) {
  int mib;
  if (mproc_unpack(call, "i", &mib) < 0) return -1;
  size_t n = static_cast<size_t>(mib) << 20;
  volatile char* p = static_cast<volatile char*>(malloc(n));
  if (p == nullptr) return mproc_call_fail(call, "malloc(%zu) failed", n);
  for (size_t i = 0; i < n; i += 4096) p[i] = static_cast<char>(i >> 12);
  free(const_cast<char*>(p));
  return mproc_call_return(call, "i", (int)getpid());
}

// Forks a raw child (no multiproc involved) that keeps every descriptor,
// the worker's pipe included, for `hold` seconds (it dies with the worker
// if that comes first), then kills its own worker if `die`.
MPROC_TARGET(fork_holder) {
  double hold;
  bool die;
  if (mproc_unpack(call, "db", &hold, &die) < 0) return -1;
  pid_t worker = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != worker) _exit(0);
    SleepS(hold);
    _exit(0);
  }
  if (die) raise(SIGKILL);
  return mproc_call_return(call, "i", (int)pid);
}

// x * x, except that item 13 kills its worker.
MPROC_TARGET(kill_at_13) {
  int64_t x;
  if (mproc_unpack(call, "L", &x) < 0) return -1;
  if (x == 13) raise(SIGKILL);
  return mproc_call_return(call, "L", x * x);
}

// An initializer that takes its time (loading something big).
int SlowInit(mproc_call_t* call) {
  double s;
  if (mproc_unpack(call, "d", &s) < 0) return -1;
  SleepS(s);
  return 0;
}

class PoolFault : public mproc_test::Deadline {
 protected:
  PoolFault() : Deadline(120) {}
};

// Every process whose parent is this process (any thread), with its state.
std::vector<std::pair<pid_t, char>> ChildrenOfThisProcess() {
  std::vector<std::pair<pid_t, char>> out;
  pid_t self = getpid();
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  while (struct dirent* e = readdir(d)) {
    pid_t pid = atoi(e->d_name);
    if (pid <= 0) continue;
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(f, line)) continue;
    size_t close = line.rfind(')');
    char state = 0;
    int ppid = 0;
    if (close == std::string::npos ||
        sscanf(line.c_str() + close + 1, " %c %d", &state, &ppid) != 2)
      continue;
    if (ppid == self) out.emplace_back(pid, state);
  }
  closedir(d);
  return out;
}

// State letter of pid from /proc (0 when it does not exist).
char StateOf(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return 0;
  size_t close = line.rfind(')');
  char state = 0;
  if (close == std::string::npos ||
      sscanf(line.c_str() + close + 1, " %c", &state) != 1)
    return 0;
  return state;
}

// Dead: gone, or a zombie waiting for whoever its parent now is.
bool Dead(pid_t pid) {
  char state = StateOf(pid);
  return state == 0 || state == 'Z' || state == 'X';
}

pid_t ParentOf(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return -1;
  size_t close = line.rfind(')');
  char state = 0;
  int ppid = -1;
  if (close == std::string::npos ||
      sscanf(line.c_str() + close + 1, " %c %d", &state, &ppid) != 2)
    return -1;
  return ppid;
}

// ---- Workers dying mid-task.

TEST_F(PoolFault, WorkerKilledMidTaskFailsOnlyThatTask) {
  PoolPtr pool = NewPool(2);
  Value args = Pack("(d)", 0.005);
  std::vector<Future> before, after;
  for (int i = 0; i < 20; i++)
    before.push_back(Submit(pool.get(), "sleep_then_pid", args.get()));
  Future killed = Submit(pool.get(), "kill_self", nullptr);
  for (int i = 0; i < 20; i++)
    after.push_back(Submit(pool.get(), "sleep_then_pid", args.get()));

  ASSERT_EQ(0, mproc_future_wait(killed.get(), 30));
  mproc_task_error_t err = ErrorOf(killed.get());
  EXPECT_EQ(MPROC_EWORKER, err.code);
  EXPECT_EQ(SIGKILL, err.signal);
  EXPECT_EQ(0, err.exit_code);
  EXPECT_NE(nullptr, strstr(err.message, "signal 9")) << err.message;
  pid_t dead = TimingOf(killed.get()).pid;
  EXPECT_GT(dead, 0);

  for (std::vector<Future>* fs : {&before, &after})
    for (Future& f : *fs) {
      ASSERT_EQ(0, mproc_future_wait(f.get(), 30));
      EXPECT_GT(IntResult(f.get()), 0);
    }

  // Usable afterwards, and a new worker took the dead one's place.
  std::set<pid_t> pids;
  for (int round = 0; round < 20 && pids.size() < 2; round++) {
    std::vector<Future> fs;
    for (int i = 0; i < 4; i++)
      fs.push_back(Submit(pool.get(), "sleep_then_pid", args.get()));
    for (Future& f : fs) {
      ASSERT_EQ(0, mproc_future_wait(f.get(), 30));
      pids.insert(static_cast<pid_t>(IntResult(f.get())));
    }
  }
  EXPECT_EQ(2u, pids.size());
  EXPECT_EQ(0u, pids.count(dead));
  unsigned restarts = 0, crashes = 0;
  for (const mproc_worker_stats_t& s : Stats(pool.get())) {
    restarts += s.restarts;
    crashes += s.crashes;
    EXPECT_NE(dead, s.pid);
    EXPECT_GT(s.pid, 0);
    EXPECT_EQ(s.pid, s.last_pid);  // the replacement is the latest
  }
  EXPECT_EQ(1u, restarts);
  EXPECT_EQ(1u, crashes);
  EXPECT_TRUE(Dead(dead));
}

// The test kills the worker itself, from the pid the task's timing names;
// the tasks queued behind it on that worker run elsewhere.
TEST_F(PoolFault, WorkerKilledFromOutsideFailsItsTaskAndTheQueueMovesOn) {
  PoolPtr pool = NewPool(1);
  Value slow = Pack("(d)", 30.0);
  Value quick = Pack("(d)", 0.001);
  Future victim = Submit(pool.get(), "sleep_then_pid", slow.get());
  std::vector<Future> behind;
  for (int i = 0; i < 5; i++)
    behind.push_back(Submit(pool.get(), "sleep_then_pid", quick.get()));
  pid_t pid = 0;
  for (double end = Now() + 20; pid == 0 && Now() < end; SleepS(0.01))
    pid = TimingOf(victim.get()).pid;
  ASSERT_GT(pid, 0) << "never dispatched";
  SleepS(0.2);  // inside the target by now
  ASSERT_EQ(0, kill(pid, SIGKILL));

  ASSERT_EQ(0, mproc_future_wait(victim.get(), 10));
  mproc_task_error_t err = ErrorOf(victim.get());
  EXPECT_EQ(MPROC_EWORKER, err.code);
  EXPECT_EQ(SIGKILL, err.signal);
  for (Future& f : behind) {
    ASSERT_EQ(0, mproc_future_wait(f.get(), 10));
    int64_t by = IntResult(f.get());
    EXPECT_GT(by, 0);
    EXPECT_NE(pid, by);
  }
}

TEST_F(PoolFault, WorkerExitingWithoutAnsweringFailsItsTask) {
  PoolPtr pool = NewPool(2);
  for (int code : {0, 7}) {
    Value args = Pack("(i)", code);
    mproc_value_t* res = nullptr;
    mproc_task_error_t err;
    EXPECT_EQ(MPROC_EWORKER, mproc_pool_apply(pool.get(), "exit_without_answer",
                                              args.get(), nullptr, &res, &err));
    EXPECT_EQ(MPROC_EWORKER, err.code);
    EXPECT_EQ(code, err.exit_code);
    EXPECT_EQ(0, err.signal);
    EXPECT_NE(nullptr,
              strstr(err.message, ("exit code " + std::to_string(code)).c_str()))
        << err.message;
  }
  Value args = Pack("(i)", 6);
  mproc_value_t* res = nullptr;
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "square", args.get(), nullptr,
                                &res, nullptr));
  EXPECT_EQ(36, AsInt(res));
  mproc_value_free(res);
}

TEST_F(PoolFault, TargetThatAbortsFailsWithSigabrt) {
  PoolPtr pool = NewPool(1);
  mproc_value_t* res = nullptr;
  mproc_task_error_t err;
  EXPECT_EQ(MPROC_EWORKER, mproc_pool_apply(pool.get(), "do_abort", nullptr,
                                            nullptr, &res, &err));
  EXPECT_EQ(SIGABRT, err.signal);
  EXPECT_EQ(0, err.exit_code);
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "my_pid", nullptr, nullptr, &res,
                                nullptr));
  mproc_value_free(res);
}

TEST_F(PoolFault, WorkerDeathFailsOnlyItsMapChunk) {
  PoolPtr pool = NewPool(2);
  Value items = Range(40);
  // map: the first failure in input order is the death of item 13's chunk.
  mproc_value_t* out = nullptr;
  mproc_task_error_t err;
  EXPECT_EQ(MPROC_EWORKER, mproc_pool_map(pool.get(), "kill_at_13",
                                          items.get(), 5, &out, &err));
  EXPECT_EQ(nullptr, out);
  EXPECT_EQ(SIGKILL, err.signal);
  // imap: the items of that chunk (10..14) fail, the others do not.
  mproc_imap_opts_t o = {};
  o.target = "kill_at_13";
  o.items = items.get();
  o.chunksize = 5;
  mproc_iter_t* raw = nullptr;
  ASSERT_EQ(0, mproc_pool_imap(pool.get(), &o, &raw));
  Iter it(raw);
  mproc_item_t item;
  int rc, n = 0;
  while ((rc = mproc_iter_next(it.get(), 30, &item)) == 1) {
    n++;
    if (item.index >= 10 && item.index < 15) {
      EXPECT_EQ(MPROC_EWORKER, item.error.code) << item.index;
      EXPECT_EQ(SIGKILL, item.error.signal);
    } else {
      ASSERT_EQ(0, item.error.code) << item.index << ": " << item.error.message;
      EXPECT_EQ(static_cast<int64_t>(item.index * item.index),
                AsInt(item.result));
    }
  }
  EXPECT_EQ(0, rc);
  EXPECT_EQ(40, n);
}

// A process the target forked still holds the worker's pipe: the pool
// watches the worker itself (not only its pipe's end), so neither a death
// nor a close waits for that process.
TEST_F(PoolFault, ProcessesForkedByATargetDelayNothing) {
  PoolPtr pool = NewPool(1);
  Value die = Pack("(db)", 20.0, true);
  mproc_value_t* res = nullptr;
  mproc_task_error_t err;
  double t0 = Now();
  EXPECT_EQ(MPROC_EWORKER, mproc_pool_apply(pool.get(), "fork_holder",
                                            die.get(), nullptr, &res, &err));
  EXPECT_EQ(SIGKILL, err.signal);
  EXPECT_LT(Now() - t0, 5);
  // Returning normally, leaving a 20 s process behind, then closing.
  Value live = Pack("(db)", 20.0, false);
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "fork_holder", live.get(), nullptr,
                                &res, &err))
      << err.message;
  mproc_value_free(res);
  t0 = Now();
  ASSERT_EQ(0, mproc_pool_close(pool.get()));
  ASSERT_EQ(0, mproc_pool_join(pool.get(), 10));
  EXPECT_LT(Now() - t0, 5);
}

TEST_F(PoolFault, WorkersIgnoreSigint) {
  PoolPtr pool = NewPool(1);
  Value args = Pack("(d)", 0.4);
  Future f = Submit(pool.get(), "sleep_then_pid", args.get());
  pid_t pid = 0;
  for (double end = Now() + 20; pid == 0 && Now() < end; SleepS(0.01))
    pid = TimingOf(f.get()).pid;
  ASSERT_GT(pid, 0);
  SleepS(0.1);
  ASSERT_EQ(0, kill(pid, SIGINT));
  ASSERT_EQ(0, mproc_future_wait(f.get(), 10));
  EXPECT_EQ(pid, IntResult(f.get()));
}

// ---- Timeouts.

TEST_F(PoolFault, TaskPastItsTimeoutFailsPromptlyWhileOthersComplete) {
  const double timeout = 0.5, grace = 0.5;
  mproc_pool_opts_t o = {};
  o.workers = 2;
  o.task_timeout_s = timeout;
  o.kill_grace_s = grace;
  PoolPtr pool = NewPool(o);
  Value long_sleep = Pack("(d)", 30.0);
  Value short_sleep = Pack("(d)", 0.01);
  Future slow = Submit(pool.get(), "sleep_then_pid", long_sleep.get());
  std::vector<Future> fast;
  for (int i = 0; i < 20; i++)
    fast.push_back(Submit(pool.get(), "sleep_then_pid", short_sleep.get()));

  ASSERT_EQ(0, mproc_future_wait(slow.get(), 20));
  mproc_task_error_t err = ErrorOf(slow.get());
  EXPECT_EQ(MPROC_ETASKTIMEOUT, err.code);
  EXPECT_EQ(SIGTERM, err.signal);  // SIGTERM was enough
  EXPECT_NE(nullptr, strstr(err.message, "longer than")) << err.message;
  mproc_task_timing_t t = TimingOf(slow.get());
  double took = (t.completed_ns - t.submitted_ns) / 1e9;
  EXPECT_GE(took, timeout);
  EXPECT_LT(took, timeout + grace + 1.0);

  int done_before = 0;
  for (Future& f : fast) {
    ASSERT_EQ(0, mproc_future_wait(f.get(), 20));
    EXPECT_GT(IntResult(f.get()), 0);
    if (TimingOf(f.get()).completed_ns < t.completed_ns) done_before++;
  }
  // The other worker did not wait for the slow task.
  EXPECT_GT(done_before, 0);
  unsigned crashes = 0;
  for (const mproc_worker_stats_t& s : Stats(pool.get())) crashes += s.crashes;
  EXPECT_EQ(1u, crashes);
  // And the pool goes on.
  mproc_value_t* res = nullptr;
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "my_pid", nullptr, nullptr, &res,
                                nullptr));
  mproc_value_free(res);
}

TEST_F(PoolFault, TaskIgnoringSigtermIsKilledAfterTheGrace) {
  const double timeout = 0.3, grace = 0.5;
  mproc_pool_opts_t o = {};
  o.workers = 1;
  o.task_timeout_s = timeout;
  o.kill_grace_s = grace;
  PoolPtr pool = NewPool(o);
  Value args = Pack("(d)", 30.0);
  Future f = Submit(pool.get(), "ignore_sigterm_then_sleep", args.get());
  ASSERT_EQ(0, mproc_future_wait(f.get(), 20));
  mproc_task_error_t err = ErrorOf(f.get());
  EXPECT_EQ(MPROC_ETASKTIMEOUT, err.code);
  EXPECT_EQ(SIGKILL, err.signal);
  EXPECT_NE(nullptr, strstr(err.message, "SIGKILL")) << err.message;
  mproc_task_timing_t t = TimingOf(f.get());
  double took = (t.completed_ns - t.submitted_ns) / 1e9;
  EXPECT_GE(took, timeout + grace);
  EXPECT_LT(took, timeout + grace + 1.5);
}

// The pool thread itself hands the slow task to a worker that has just
// become idle: with in-flight tasks capped at 2 (tasks of ~10 ms so far),
// the two instant tasks are answered together, the worker is idle when the
// pool thread applies them, and the queued slow task goes to it from
// there. Its deadline must still be watched. Several rounds, as the two
// answers are not always read together.
TEST_F(PoolFault, TimeoutHoldsForATaskThePoolThreadHandsToAnIdleWorker) {
  mproc_pool_opts_t o = {};
  o.workers = 1;
  o.task_timeout_s = 0.3;
  o.kill_grace_s = 0.2;
  PoolPtr pool = NewPool(o);
  Value warm = Pack("(d)", 0.01);
  Value first = Pack("(d)", 0.05);
  Value slow = Pack("(d)", 30.0);
  for (int round = 0; round < 6; round++) {
    for (int i = 0; i < 5; i++) {
      mproc_value_t* r = nullptr;
      ASSERT_EQ(0, mproc_pool_apply(pool.get(), "sleep_then_pid", warm.get(),
                                    nullptr, &r, nullptr));
      mproc_value_free(r);
    }
    std::vector<Future> fs;
    fs.push_back(Submit(pool.get(), "sleep_then_pid", first.get()));
    fs.push_back(Submit(pool.get(), "instant", nullptr));
    fs.push_back(Submit(pool.get(), "instant", nullptr));
    Future s = Submit(pool.get(), "sleep_then_pid", slow.get());
    ASSERT_EQ(0, mproc_future_wait(s.get(), 5))
        << "round " << round << ": the task timeout was never enforced";
    EXPECT_EQ(MPROC_ETASKTIMEOUT, ErrorOf(s.get()).code);
    for (Future& f : fs) EXPECT_EQ(1, mproc_future_successful(f.get()));
  }
}

// task_timeout_s limits how long a task runs, not how long its worker
// takes to start: tasks queued while the initializer runs must not be
// timed out (nor the workers counted as failing to start).
TEST_F(PoolFault, TaskTimeoutDoesNotCountTheWorkersStartup) {
  Value initargs = Pack("(d)", 0.6);
  mproc_pool_opts_t o = {};
  o.workers = 1;
  o.initializer = SlowInit;
  o.initargs = initargs.get();
  o.task_timeout_s = 0.3;
  o.kill_grace_s = 0.2;
  PoolPtr pool = NewPool(o);
  Value quick = Pack("(d)", 0.01);
  std::vector<Future> fs;
  for (int i = 0; i < 3; i++)
    fs.push_back(Submit(pool.get(), "sleep_then_pid", quick.get()));
  for (Future& f : fs) {
    ASSERT_EQ(0, mproc_future_wait(f.get(), 20));
    mproc_task_error_t err = ErrorOf(f.get());
    EXPECT_EQ(0, err.code) << err.message;
  }
  // The timeout still holds once the worker is up.
  Value slow = Pack("(d)", 30.0);
  Future s = Submit(pool.get(), "sleep_then_pid", slow.get());
  ASSERT_EQ(0, mproc_future_wait(s.get(), 10));
  EXPECT_EQ(MPROC_ETASKTIMEOUT, ErrorOf(s.get()).code);
}

TEST_F(PoolFault, MapUnderATaskTimeoutFailsWithTheTimeout) {
  mproc_pool_opts_t o = {};
  o.workers = 2;
  o.task_timeout_s = 0.3;
  PoolPtr pool = NewPool(o);
  Value items = Pack("[dddd]", 0.01, 0.01, 30.0, 0.01);
  mproc_value_t* out = nullptr;
  mproc_task_error_t err;
  double t0 = Now();
  EXPECT_EQ(MPROC_ETASKTIMEOUT, mproc_pool_map(pool.get(), "sleep_then_pid",
                                               items.get(), 0, &out, &err));
  EXPECT_LT(Now() - t0, 0.3 + 1.0 + 1.5);
  EXPECT_EQ(nullptr, out);
}

// ---- Retirement.

TEST_F(PoolFault, MaxTasksPerChildOneGivesEveryTaskAFreshWorker) {
  mproc_pool_opts_t o = {};
  o.workers = 2;
  o.max_tasks_per_child = 1;
  PoolPtr pool = NewPool(o);
  std::vector<Future> fs;
  for (int i = 0; i < 40; i++)
    fs.push_back(Submit(pool.get(), "my_pid", nullptr));
  std::set<int64_t> pids;
  for (Future& f : fs) {
    ASSERT_EQ(0, mproc_future_wait(f.get(), 30));
    ASSERT_EQ(1, mproc_future_successful(f.get())) << ErrorOf(f.get()).message;
    pids.insert(IntResult(f.get()));
  }
  EXPECT_EQ(40u, pids.size());
  double t0 = Now();
  ASSERT_EQ(0, mproc_pool_close(pool.get()));
  ASSERT_EQ(0, mproc_pool_join(pool.get(), 10)) << "close+join hangs";
  EXPECT_LT(Now() - t0, 3);
  uint64_t tasks = 0;
  unsigned restarts = 0, crashes = 0;
  for (const mproc_worker_stats_t& s : Stats(pool.get())) {
    tasks += s.tasks;
    restarts += s.restarts;
    crashes += s.crashes;
  }
  EXPECT_EQ(40u, tasks);
  EXPECT_GE(restarts, 38u);  // retirements, not failures
  EXPECT_EQ(0u, crashes);
}

TEST_F(PoolFault, MaxRssRetiresTheWorkerWithoutFailure) {
  // How big is an idle worker? (Forked children start from their parent's
  // peak, and sanitizers add their own.)
  long base_kb = 0;
  {
    PoolPtr probe = NewPool(1);
    mproc_value_t* res = nullptr;
    ASSERT_EQ(0, mproc_pool_apply(probe.get(), "my_pid", nullptr, nullptr,
                                  &res, nullptr));
    mproc_value_free(res);
    base_kb = Stats(probe.get())[0].max_rss_kb;
    ASSERT_GT(base_kb, 0);
  }
  mproc_pool_opts_t o = {};
  o.workers = 1;
  o.max_rss_per_child = (static_cast<size_t>(base_kb) + 32 * 1024) * 1024;
  PoolPtr pool = NewPool(o);
  mproc_value_t* res = nullptr;
  mproc_task_error_t err;
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "my_pid", nullptr, nullptr, &res,
                                &err));
  int64_t first = AsInt(res);
  mproc_value_free(res);
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "my_pid", nullptr, nullptr, &res,
                                &err));
  EXPECT_EQ(first, AsInt(res)) << "retired below the limit";
  mproc_value_free(res);
  Value mib = Pack("(i)", 64);
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "alloc_touch", mib.get(), nullptr,
                                &res, &err))
      << err.message;
  EXPECT_EQ(first, AsInt(res));  // the big task itself succeeds
  mproc_value_free(res);
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "my_pid", nullptr, nullptr, &res,
                                &err))
      << err.message;
  EXPECT_NE(first, AsInt(res)) << "not retired after 64 MiB";
  mproc_value_free(res);
  std::vector<mproc_worker_stats_t> s = Stats(pool.get());
  EXPECT_EQ(1u, s[0].restarts);
  EXPECT_EQ(0u, s[0].crashes);
  EXPECT_EQ(4u, s[0].tasks);
  EXPECT_GE(s[0].max_rss_kb, 64 * 1024);  // the retired worker's peak
}

// ---- terminate.

TEST_F(PoolFault, TerminateWithTenThousandQueuedTasksIsPrompt) {
  PoolPtr pool = NewPool(2);
  Value args = Pack("(d)", 0.05);
  std::vector<Future> fs;
  fs.reserve(10000);
  for (int i = 0; i < 10000; i++)
    fs.push_back(Submit(pool.get(), "sleep_then_pid", args.get()));
  SleepS(0.1);  // some are running
  std::vector<pid_t> workers;
  for (const mproc_worker_stats_t& s : Stats(pool.get()))
    if (s.pid > 0) workers.push_back(s.pid);
  double t0 = Now();
  ASSERT_EQ(0, mproc_pool_terminate(pool.get()));
  double took = Now() - t0;
  EXPECT_LT(took, 3.0);
  int ok = 0, terminated = 0;
  for (Future& f : fs) {
    ASSERT_EQ(1, mproc_future_ready(f.get()));
    mproc_task_error_t err = ErrorOf(f.get());
    if (err.code == 0) {
      ok++;
    } else {
      ASSERT_EQ(MPROC_ETERMINATED, err.code) << err.message;
      terminated++;
    }
  }
  EXPECT_EQ(10000, ok + terminated);
  EXPECT_GE(terminated, 9000);
  EXPECT_EQ(0, mproc_pool_join(pool.get(), 0));
  ASSERT_EQ(0, mproc_pool_terminate(pool.get()));  // again: nothing to do
  // "returns once they are gone"
  for (pid_t pid : workers) EXPECT_TRUE(Dead(pid)) << pid;
  fs.clear();
}

// ---- Scale.

TEST_F(PoolFault, TwoHundredWorkersRunTwoThousandTasks) {
  PoolPtr pool = NewPool(200);
  // Let every worker start, then give them all work.
  double end = Now() + 60;
  size_t up = 0;
  while (Now() < end) {
    up = 0;
    for (const mproc_worker_stats_t& s : Stats(pool.get())) up += s.pid > 0;
    if (up == 200) break;
    SleepS(0.02);
  }
  ASSERT_EQ(200u, up);
  Value args = Pack("(d)", 0.05);
  std::vector<Future> fs;
  for (int i = 0; i < 2000; i++)
    fs.push_back(Submit(pool.get(), "sleep_then_pid", args.get()));
  std::set<int64_t> pids;
  for (Future& f : fs) {
    ASSERT_EQ(0, mproc_future_wait(f.get(), 60));
    pids.insert(IntResult(f.get()));
  }
  EXPECT_EQ(200u, pids.size());
  ASSERT_EQ(0, mproc_pool_close(pool.get()));
  ASSERT_EQ(0, mproc_pool_join(pool.get(), 60));
  pool.reset();
  EXPECT_EQ(0, mproc_test::CountZombieChildren());
}

// ---- Hygiene.

void OneLifecycle(int how) {
  mproc_pool_opts_t o = {};
  o.workers = 3;
  PoolPtr pool = NewPool(o);
  ASSERT_TRUE(pool);
  Value args = Pack("(d)", 0.001);
  std::vector<Future> fs;
  for (int i = 0; i < 30; i++)
    fs.push_back(Submit(pool.get(), "sleep_then_pid", args.get()));
  fs.push_back(Submit(pool.get(), "kill_self", nullptr));  // one respawn
  Value items = Range(50);
  mproc_value_t* out = nullptr;
  ASSERT_EQ(0, mproc_pool_map(pool.get(), "square", items.get(), 0, &out,
                              nullptr));
  mproc_value_free(out);
  if (how == 0) {
    ASSERT_EQ(0, mproc_pool_close(pool.get()));
    ASSERT_EQ(0, mproc_pool_join(pool.get(), 20));
  } else if (how == 1) {
    ASSERT_EQ(0, mproc_pool_terminate(pool.get()));
  }  // else: free alone
  fs.clear();
  pool.reset();
}

TEST_F(PoolFault, FullLifecyclesLeaveNoZombiesNorDescriptors) {
  OneLifecycle(0);  // warm up whatever is allocated once
  int before = mproc_test::CountOpenFds();
  int sockets = mproc_test::CountFdsLike({"socket:", "pipe:", "anon_inode:"});
  for (int round = 0; round < 3; round++)
    for (int how = 0; how < 3; how++) {
      OneLifecycle(how);
      EXPECT_EQ(before, mproc_test::CountOpenFds())
          << "round " << round << " how " << how;
    }
  EXPECT_EQ(sockets,
            mproc_test::CountFdsLike({"socket:", "pipe:", "anon_inode:"}));
  EXPECT_EQ(0, mproc_test::CountZombieChildren());
  // No process of ours is left at all: fork servers and workers are gone.
  EXPECT_TRUE(ChildrenOfThisProcess().empty());
}

// Waits until pid has died (reaping it if it became our child); false if
// it still runs after timeout_s. An orphan another process has yet to reap
// counts as dead.
bool GoneWithin(pid_t pid, double timeout_s) {
  double end = Now() + timeout_s;
  for (;;) {
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return true;
    if (r < 0 && Dead(pid)) return true;
    if (Now() > end) return false;
    SleepS(0.005);
  }
}

class PoolOrphans : public PoolFault {
 protected:
  void SetUp() override {
    PoolFault::SetUp();
    ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1));
  }
  void TearDown() override {
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    // Reap whatever is left, so later tests count no zombies.
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    PoolFault::TearDown();
  }
};

// An intermediate process creates a pool of 3 workers, finds their pids
// (from inside tasks), sets all three on minute-long tasks, sends the pids
// up a pipe, then either waits to be killed (how 1) or exits without
// freeing its pool (how 0). Returns the worker pids.
std::vector<pid_t> StartPoolOwner(int how, pid_t* owner) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  fflush(nullptr);
  pid_t mid = fork();
  if (mid == 0) {
    alarm(0);
    close(fds[0]);
    mproc_pool_opts_t o = {};
    o.workers = 3;
    mproc_pool_t* pool = nullptr;
    if (mproc_pool_new(&pool, &o) != 0) _exit(2);
    std::set<pid_t> pids;
    mproc_value_t* args;
    mproc_pack(&args, "(d)", 0.2);
    for (int round = 0; round < 50 && pids.size() < 3; round++) {
      mproc_future_t* f[3];
      for (mproc_future_t*& one : f)
        if (mproc_pool_submit(pool, "sleep_then_pid", args, nullptr, &one) < 0)
          _exit(3);
      for (mproc_future_t* one : f) {
        const mproc_value_t* r;
        int64_t pid;
        if (mproc_future_wait(one, -1) < 0 ||
            mproc_future_result(one, &r) < 0 ||
            mproc_value_get_int(r, &pid) < 0)
          _exit(4);
        pids.insert(static_cast<pid_t>(pid));
        mproc_future_free(one);
      }
    }
    mproc_value_free(args);
    if (pids.size() != 3) _exit(5);
    mproc_pack(&args, "(d)", 60.0);
    for (int i = 0; i < 3; i++) {
      mproc_future_t* f;
      if (mproc_pool_submit(pool, "sleep_then_pid", args, nullptr, &f) < 0)
        _exit(6);
    }
    SleepS(0.2);  // they are inside their tasks
    for (pid_t pid : pids)
      if (write(fds[1], &pid, sizeof pid) != sizeof pid) _exit(7);
    if (how == 0) exit(0);  // normal exit, the pool still open
    pause();
    _exit(8);
  }
  close(fds[1]);
  std::vector<pid_t> pids;
  for (int i = 0; i < 3; i++) {
    pid_t pid;
    if (read(fds[0], &pid, sizeof pid) != sizeof pid) break;
    pids.push_back(pid);
  }
  close(fds[0]);
  *owner = mid;
  return pids;
}

TEST_F(PoolOrphans, WorkersAndForkServerDieWhenThePoolsProcessIsKilled) {
  pid_t owner;
  std::vector<pid_t> workers = StartPoolOwner(1, &owner);
  ASSERT_EQ(3u, workers.size());
  pid_t server = ParentOf(workers[0]);
  ASSERT_GT(server, 0);
  EXPECT_NE(owner, server);
  EXPECT_EQ(owner, ParentOf(server)) << "the fork server is the owner's child";
  for (pid_t w : workers) {
    EXPECT_TRUE(mproc_test::Exists(w));
    EXPECT_EQ(server, ParentOf(w));
  }
  ASSERT_EQ(0, kill(owner, SIGKILL));
  int st;
  ASSERT_EQ(owner, waitpid(owner, &st, 0));
  EXPECT_TRUE(GoneWithin(server, 10)) << "fork server " << server << " left";
  for (pid_t w : workers)
    EXPECT_TRUE(GoneWithin(w, 10)) << "worker " << w << " orphaned";
}

TEST_F(PoolOrphans, WorkersDieWhenThePoolsProcessExitsWithoutFreeingIt) {
  pid_t owner;
  std::vector<pid_t> workers = StartPoolOwner(0, &owner);
  ASSERT_EQ(3u, workers.size());
  pid_t server = ParentOf(workers[0]);
  int st;
  ASSERT_EQ(owner, waitpid(owner, &st, 0));
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
  if (server > 0) {
    EXPECT_TRUE(GoneWithin(server, 10)) << "fork server " << server << " left";
  }
  for (pid_t w : workers)
    EXPECT_TRUE(GoneWithin(w, 10)) << "worker " << w << " orphaned";
}

// ---- Futures and iterators that outlive their tasks or their pool.

TEST_F(PoolFault, FuturesFreedBeforeCompletionStillRun) {
  PoolPtr pool = NewPool(2);
  Value args = Pack("(d)", 0.002);
  for (int i = 0; i < 200; i++) {
    mproc_future_t* f = nullptr;
    ASSERT_EQ(0, mproc_pool_submit(pool.get(), "sleep_then_pid", args.get(),
                                   nullptr, &f));
    mproc_future_free(f);  // queued or running: it runs anyway
  }
  mproc_future_free(nullptr);
  Future last = Submit(pool.get(), "my_pid", nullptr);
  ASSERT_EQ(0, mproc_future_wait(last.get(), 30));
  ASSERT_EQ(0, mproc_pool_close(pool.get()));
  ASSERT_EQ(0, mproc_pool_join(pool.get(), 30));
  uint64_t tasks = 0;
  for (const mproc_worker_stats_t& s : Stats(pool.get())) tasks += s.tasks;
  EXPECT_EQ(201u, tasks);

  // Freed, then terminated while queued.
  PoolPtr second = NewPool(2);
  Value slow = Pack("(d)", 0.05);
  for (int i = 0; i < 200; i++) {
    mproc_future_t* f = nullptr;
    ASSERT_EQ(0, mproc_pool_submit(second.get(), "sleep_then_pid", slow.get(),
                                   nullptr, &f));
    mproc_future_free(f);
  }
  ASSERT_EQ(0, mproc_pool_terminate(second.get()));
}

TEST_F(PoolFault, PoolFreedWhileTheCallerHoldsFutures) {
  mproc_pool_t* pool = nullptr;
  mproc_pool_opts_t o = {};
  o.workers = 2;
  ASSERT_EQ(0, mproc_pool_new(&pool, &o));
  std::vector<Future> fast, slow;
  for (int i = 0; i < 5; i++) {
    Value args = Pack("(i)", i);
    fast.push_back(Submit(pool, "square", args.get()));
  }
  for (Future& f : fast) ASSERT_EQ(0, mproc_future_wait(f.get(), 30));
  Value long_sleep = Pack("(d)", 30.0);
  for (int i = 0; i < 10; i++)
    slow.push_back(Submit(pool, "sleep_then_pid", long_sleep.get()));
  double t0 = Now();
  mproc_pool_free(pool);
  EXPECT_LT(Now() - t0, 3.0);
  for (int i = 0; i < 5; i++) {
    EXPECT_EQ(1, mproc_future_ready(fast[i].get()));
    EXPECT_EQ(1, mproc_future_successful(fast[i].get()));
    EXPECT_EQ(i * i, IntResult(fast[i].get()));
    EXPECT_GT(TimingOf(fast[i].get()).completed_ns, 0u);
  }
  for (Future& f : slow) {
    EXPECT_EQ(0, mproc_future_wait(f.get(), 1));
    EXPECT_EQ(1, mproc_future_ready(f.get()));
    EXPECT_EQ(0, mproc_future_successful(f.get()));
    const mproc_value_t* r;
    EXPECT_EQ(MPROC_ETERMINATED, mproc_future_result(f.get(), &r));
    mproc_task_error_t err = ErrorOf(f.get());
    EXPECT_EQ(MPROC_ETERMINATED, err.code);
    EXPECT_NE(nullptr, strstr(err.message, "terminated")) << err.message;
  }
  // Futures freed in any order after the pool; the last one frees the
  // pool's memory (ASan watches).
  slow.clear();
  fast.clear();
}

TEST_F(PoolFault, PoolFreedWhileTheCallerHoldsAnIterator) {
  mproc_pool_t* pool = nullptr;
  mproc_pool_opts_t o = {};
  o.workers = 2;
  ASSERT_EQ(0, mproc_pool_new(&pool, &o));
  mproc_value_t* items;
  ASSERT_EQ(0, mproc_value_list(&items));
  Value owned(items);
  for (int i = 0; i < 50; i++) {
    mproc_value_t* d;
    ASSERT_EQ(0, mproc_value_float(&d, i < 2 ? 0.0 : 0.2));
    ASSERT_EQ(0, mproc_list_append(items, d));
  }
  mproc_imap_opts_t io = {};
  io.target = "sleep_then_pid";
  io.items = items;
  mproc_iter_t* raw = nullptr;
  ASSERT_EQ(0, mproc_pool_imap(pool, &io, &raw));
  Iter it(raw);
  mproc_item_t item;
  for (int i = 0; i < 2; i++) {
    ASSERT_EQ(1, mproc_iter_next(it.get(), 30, &item));
    EXPECT_EQ(0, item.error.code);
  }
  double t0 = Now();
  mproc_pool_free(pool);
  EXPECT_LT(Now() - t0, 3.0);
  int rc, n = 0;
  while ((rc = mproc_iter_next(it.get(), 5, &item)) == 1) {
    n++;
    EXPECT_TRUE(item.error.code == 0 || item.error.code == MPROC_ETERMINATED)
        << item.error.code << " " << item.error.message;
    ASSERT_LT(n, 100);
  }
  // The rest of the input can no longer be submitted.
  EXPECT_TRUE(rc == 0 || rc == MPROC_ECLOSED) << mproc_err_name(rc);
  it.reset();
}

}  // namespace
