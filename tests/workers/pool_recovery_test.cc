// The pool recovering from what goes wrong around it: a program that
// ignores SIGCHLD, workers killed while they start or between tasks, a
// fork server killed, the descriptor limit, task timeouts landing right at
// a task's end, output of tasks on a worker killed later, chunk items whose
// results cannot travel together. Each test causes the fault itself.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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

// ---- Targets (square, sleep_then_pid and kill_self: targets.cc).

// Prints its text to stdout (no newline flush forced), then sleeps s.
MPROC_TARGET(rec_print_then_sleep) {
  const char* text;
  double s;
  if (mproc_unpack(call, "sd", &text, &s) < 0) return -1;
  fputs(text, stdout);
  SleepS(s);
  return 0;
}

// A list nested `depth` deep around an int: depth 64 is the deepest legal.
mproc_value_t* Nested(int depth) {
  mproc_value_t* v = nullptr;
  mproc_value_int(&v, 7);
  for (int i = 0; i < depth; i++) {
    mproc_value_t* list = nullptr;
    mproc_value_list(&list);
    mproc_list_append(list, v);
    v = list;
  }
  return v;
}

// x * 10, except that item 1 returns a value nested 64 deep (legal alone).
MPROC_TARGET(rec_deep_at_1) {
  int64_t x;
  if (mproc_unpack(call, "L", &x) < 0) return -1;
  if (x == 1) return mproc_call_set_result(call, Nested(MPROC_MAX_DEPTH));
  return mproc_call_return(call, "L", x * 10);
}

// x * 10, except that item 1 returns `big` bytes.
MPROC_TARGET(rec_big_at_1) {
  int64_t x, big;
  if (mproc_unpack(call, "L|L", &x, &big) < 0) return -1;
  if (x == 1) {
    std::string s(static_cast<size_t>(200000), 'x');
    return mproc_call_return(call, "y#", s.data(), s.size());
  }
  return mproc_call_return(call, "L", x * 10);
}

class PoolRecovery : public mproc_test::Deadline {
 protected:
  PoolRecovery() : Deadline(120) {}
};

pid_t WorkerPid(mproc_pool_t* pool, size_t slot, double wait_s = 10) {
  for (double end = Now() + wait_s; Now() < end; SleepS(0.002)) {
    std::vector<mproc_worker_stats_t> s = Stats(pool);
    if (slot < s.size() && s[slot].pid > 0) return s[slot].pid;
  }
  return 0;
}

std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::vector<pid_t> out;
  std::ifstream f("/proc/" + std::to_string(pid) + "/task/" +
                  std::to_string(pid) + "/children");
  pid_t c;
  while (f >> c) out.push_back(c);
  return out;
}

// The pool's fork server: the child of this process that is the parent of
// the pool's workers.
pid_t ServerOf(pid_t worker) {
  std::ifstream f("/proc/" + std::to_string(worker) + "/stat");
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

// ---- A program that ignores SIGCHLD (defect 1).

// Runs in a child of its own: SIGCHLD's disposition is process-wide.
int PoolUnderIgnoredSigchld() {
  signal(SIGCHLD, SIG_IGN);
  mproc_pool_opts_t opts = {};
  opts.workers = 2;
  opts.max_tasks_per_child = 1;
  mproc_pool_t* pool = nullptr;
  if (mproc_pool_new(&pool, &opts) != 0) return 10;
  // A worker that dies fails its task.
  mproc_future_t* f = nullptr;
  if (mproc_pool_submit(pool, "kill_self", nullptr, nullptr, &f) != 0)
    return 11;
  if (mproc_future_wait(f, 10) != 0) return 12;  // hung: defect 1
  mproc_task_error_t err;
  if (mproc_future_error(f, &err) != MPROC_EWORKER || err.signal != SIGKILL)
    return 13;
  mproc_future_free(f);
  // Retirements (one task per worker) are replaced: ten tasks, ten pids.
  std::set<int> pids;
  mproc_value_t* args = nullptr;
  mproc_pack(&args, "(d)", 0.0);
  for (int i = 0; i < 10; i++) {
    mproc_value_t* r = nullptr;
    if (mproc_pool_apply(pool, "sleep_then_pid", args, nullptr, &r,
                         nullptr) != 0)
      return 14;
    int64_t pid = 0;
    mproc_value_get_int(r, &pid);
    pids.insert(static_cast<int>(pid));
    mproc_value_free(r);
  }
  mproc_value_free(args);
  if (pids.size() != 10) return 15;
  if (mproc_pool_close(pool) != 0) return 16;
  if (mproc_pool_join(pool, 10) != 0) return 17;  // hung: defect 1
  mproc_pool_free(pool);
  return 0;
}

TEST_F(PoolRecovery, PoolBehavesAsUsualWhenTheProgramIgnoresSigchld) {
  int status = mproc_test::RunInChild(PoolUnderIgnoredSigchld, 60);
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(0, WEXITSTATUS(status));
}

// Workers keep the program's SIGCHLD disposition (the fork server itself
// must not ignore it, or it could not reap them).
MPROC_TARGET(rec_sigchld_ignored) {
  struct sigaction sa;
  sigaction(SIGCHLD, nullptr, &sa);
  return mproc_call_return(call, "b", sa.sa_handler == SIG_IGN);
}

int WorkersKeepIgnoredSigchld() {
  signal(SIGCHLD, SIG_IGN);
  mproc_pool_t* pool = nullptr;
  mproc_pool_opts_t opts = {};
  opts.workers = 1;
  if (mproc_pool_new(&pool, &opts) != 0) return 10;
  mproc_value_t* r = nullptr;
  if (mproc_pool_apply(pool, "rec_sigchld_ignored", nullptr, nullptr, &r,
                       nullptr) != 0)
    return 11;
  bool ignored = false;
  mproc_value_get_bool(r, &ignored);
  mproc_value_free(r);
  mproc_pool_free(pool);
  return ignored ? 0 : 12;
}

TEST_F(PoolRecovery, WorkersKeepTheProgramsIgnoredSigchld) {
  int status = mproc_test::RunInChild(WorkersKeepIgnoredSigchld, 30);
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(0, WEXITSTATUS(status));
}

// ---- Output of finished tasks survives a later kill (defect 3).

int OutputSurvivesTimeoutKill(const char* path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0) return 10;
  close(fd);
  // stdout is a file: fully buffered, in the workers too.
  mproc_pool_opts_t opts = {};
  opts.workers = 1;
  opts.task_timeout_s = 0.5;
  opts.kill_grace_s = 0.1;
  mproc_pool_t* pool = nullptr;
  if (mproc_pool_new(&pool, &opts) != 0) return 11;
  mproc_value_t *quick = nullptr, *stuck = nullptr;
  mproc_pack(&quick, "(sd)", "first-task-output\n", 0.0);
  mproc_pack(&stuck, "(sd)", "second-task-output\n", 30.0);
  mproc_value_t* r = nullptr;
  if (mproc_pool_apply(pool, "rec_print_then_sleep", quick, nullptr, &r,
                       nullptr) != 0)
    return 12;
  mproc_value_free(r);
  mproc_task_error_t err;
  int rc = mproc_pool_apply(pool, "rec_print_then_sleep", stuck, nullptr, &r,
                            &err);
  if (rc != MPROC_ETASKTIMEOUT) return 13;
  mproc_value_free(quick);
  mproc_value_free(stuck);
  mproc_pool_free(pool);
  return 0;
}

TEST_F(PoolRecovery, OutputOfTasksOnAWorkerKilledLaterIsNotLost) {
  char path[] = "/tmp/mproc_outXXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  int status = mproc_test::RunInChild(
      [&] { return OutputSurvivesTimeoutKill(path); }, 30);
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(0, WEXITSTATUS(status));
  std::ifstream f(path);
  std::string all((std::istreambuf_iterator<char>(f)),
                  std::istreambuf_iterator<char>());
  unlink(path);
  // Flushed after each task: a task that finished has its output written
  // whatever happens to its worker later. (The killed task's own buffered
  // output dies with it, as in any process killed by a signal.)
  EXPECT_NE(std::string::npos, all.find("first-task-output")) << all;
}

// ---- Chunks: one item's result never fails its neighbours (defect 4).

TEST_F(PoolRecovery, ImapChunkItemWithADeepResultFailsNothingElse) {
  PoolPtr pool = NewPool(1);
  Value items = Range(6);
  mproc_imap_opts_t o = {};
  o.target = "rec_deep_at_1";
  o.items = items.get();
  o.chunksize = 3;
  mproc_iter_t* raw = nullptr;
  ASSERT_EQ(0, mproc_pool_imap(pool.get(), &o, &raw));
  Iter it(raw);
  mproc_item_t item;
  for (size_t i = 0; i < 6; i++) {
    ASSERT_EQ(1, mproc_iter_next(it.get(), 10, &item)) << i;
    EXPECT_EQ(i, item.index);
    ASSERT_EQ(0, item.error.code) << i << ": " << item.error.message;
    if (i == 1) {
      // The 64-deep value arrives whole, as apply would return it.
      const mproc_value_t* v = item.result;
      for (int d = 0; d < MPROC_MAX_DEPTH; d++) {
        ASSERT_EQ(MPROC_LIST, mproc_value_kind(v)) << d;
        v = Item(v, 0);
      }
      EXPECT_EQ(7, AsInt(v));
    } else {
      EXPECT_EQ(static_cast<int64_t>(i) * 10, AsInt(item.result));
    }
  }
  EXPECT_EQ(0, mproc_iter_next(it.get(), 10, &item));
}

TEST_F(PoolRecovery, MapSaysWhichItemsResultIsTooDeepForItsList) {
  PoolPtr pool = NewPool(1);
  Value items = Range(6);
  mproc_value_t* results = nullptr;
  mproc_task_error_t err;
  EXPECT_EQ(MPROC_EDEPTH,
            mproc_pool_map(pool.get(), "rec_deep_at_1", items.get(), 3,
                           &results, &err));
  EXPECT_EQ(nullptr, results);
  EXPECT_EQ(MPROC_EDEPTH, err.code);
  EXPECT_NE(nullptr, strstr(err.message, "item 1")) << err.message;
}

TEST_F(PoolRecovery, ChunkItemWhoseResultExceedsMaxFrameFailsAlone) {
  mproc_pool_opts_t opts = {};
  opts.workers = 1;
  opts.max_frame = 100000;  // item 1's 200,000 bytes cannot come back
  PoolPtr pool = NewPool(opts);
  Value items = Range(6);
  mproc_imap_opts_t o = {};
  o.target = "rec_big_at_1";
  o.items = items.get();
  o.chunksize = 3;
  mproc_iter_t* raw = nullptr;
  ASSERT_EQ(0, mproc_pool_imap(pool.get(), &o, &raw));
  Iter it(raw);
  mproc_item_t item;
  for (size_t i = 0; i < 6; i++) {
    ASSERT_EQ(1, mproc_iter_next(it.get(), 10, &item)) << i;
    if (i == 1) {
      EXPECT_EQ(MPROC_ETOOBIG, item.error.code) << item.error.message;
      EXPECT_EQ(nullptr, item.result);
    } else {
      ASSERT_EQ(0, item.error.code) << i << ": " << item.error.message;
      EXPECT_EQ(static_cast<int64_t>(i) * 10, AsInt(item.result));
    }
  }
}

// ---- A timeout that lands as a task finishes (defect 6).

MPROC_TARGET(rec_sleep_us) {
  int64_t us;
  if (mproc_unpack(call, "L", &us) < 0) return -1;
  SleepS(static_cast<double>(us) / 1e6);
  return mproc_call_return(call, "L", us);
}

TEST_F(PoolRecovery, TimeoutsLandingAtATasksEndNeverFailItsSuccessor) {
  const double timeout = 0.010;
  mproc_pool_opts_t opts = {};
  opts.workers = 2;
  opts.task_timeout_s = timeout;
  opts.kill_grace_s = 0.05;
  PoolPtr pool = NewPool(opts);
  // 480 tasks whose run times land within +-1.5 ms of the timeout.
  std::vector<Future> fs;
  std::vector<int64_t> us;
  for (int i = 0; i < 480; i++) {
    int64_t t = static_cast<int64_t>(timeout * 1e6) - 1500 + (i * 37) % 3001;
    us.push_back(t);
    Value args = Pack("(L)", t);
    fs.push_back(Submit(pool.get(), "rec_sleep_us", args.get()));
  }
  int ok = 0, timed_out = 0;
  for (size_t i = 0; i < fs.size(); i++) {
    ASSERT_EQ(0, mproc_future_wait(fs[i].get(), 60)) << i;
    mproc_task_error_t e = ErrorOf(fs[i].get());
    if (e.code == 0) {
      ok++;
      EXPECT_EQ(us[i], IntResult(fs[i].get()));
    } else {
      // A task fails only by running past its own timeout; never because
      // a neighbour's timeout killed the worker under it.
      EXPECT_EQ(MPROC_ETASKTIMEOUT, e.code)
          << "task " << i << " (" << us[i] << " us): "
          << mproc_err_name(e.code) << ": " << e.message;
      timed_out++;
    }
  }
  EXPECT_GT(ok, 0);
  EXPECT_GT(timed_out, 0);
}

// A task that outlives its timeout fails with MPROC_ETASKTIMEOUT even when
// the pool's SIGTERM could not stop it in time (here it is blocked; on a
// loaded machine it may come late): the timeout is the contract.
MPROC_TARGET(rec_block_sigterm_sleep) {
  double s;
  if (mproc_unpack(call, "d", &s) < 0) return -1;
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigprocmask(SIG_BLOCK, &term, nullptr);
  SleepS(s);
  return mproc_call_return(call, "i", 1);
}

TEST_F(PoolRecovery, ATaskThatOutlivesItsTimeoutFailsEvenIfTheKillComesLate) {
  mproc_pool_opts_t opts = {};
  opts.workers = 1;
  opts.task_timeout_s = 0.05;
  opts.kill_grace_s = 5;  // SIGKILL would come long after it returns
  PoolPtr pool = NewPool(opts);
  Value args = Pack("(d)", 0.3);
  mproc_value_t* r = nullptr;
  mproc_task_error_t err;
  EXPECT_EQ(MPROC_ETASKTIMEOUT,
            mproc_pool_apply(pool.get(), "rec_block_sigterm_sleep", args.get(),
                             nullptr, &r, &err))
      << err.message;
  EXPECT_EQ(nullptr, r);
  // The pool serves on.
  Value x = Pack("(L)", static_cast<int64_t>(4));
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "square", x.get(), nullptr, &r,
                                &err))
      << err.message;
  EXPECT_EQ(16, AsInt(r));
  mproc_value_free(r);
}

// ---- A worker killed while it starts (defect 7).

TEST_F(PoolRecovery, WorkersKilledWhileStartingNeverBreakThePool) {
  PoolPtr pool = NewPool(1);
  pid_t first = WorkerPid(pool.get(), 0);
  ASSERT_GT(first, 0);
  pid_t server = ServerOf(first);
  ASSERT_GT(server, 0);
  // Kill each new worker the moment it appears, 20 times: most die before
  // they serve. Without an initializer none of that is an initializer
  // failing, and the pool must not break.
  std::set<pid_t> killed;
  ASSERT_EQ(0, kill(first, SIGKILL));
  killed.insert(first);
  for (double end = Now() + 20; killed.size() < 20 && Now() < end;) {
    for (pid_t c : ChildrenOf(server))
      if (killed.insert(c).second) kill(c, SIGKILL);
  }
  ASSERT_GE(killed.size(), 20u);
  Value args = Pack("(L)", static_cast<int64_t>(9));
  mproc_value_t* r = nullptr;
  mproc_task_error_t err;
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "square", args.get(), nullptr,
                                &r, &err))
      << err.message;
  EXPECT_EQ(81, AsInt(r));
  mproc_value_free(r);
}

// An initializer that dies while it runs is an initializer failure: three
// in a row break the pool, with the reason.
int DyingInit(mproc_call_t* call) {
  (void)call;
  raise(SIGKILL);
  return 0;
}

TEST_F(PoolRecovery, InitializerDyingBreaksThePoolWithTheReason) {
  mproc_pool_opts_t opts = {};
  opts.workers = 1;
  opts.initializer = DyingInit;
  PoolPtr pool = NewPool(opts);
  Value args = Pack("(L)", static_cast<int64_t>(3));
  mproc_value_t* r = nullptr;
  mproc_task_error_t err;
  EXPECT_EQ(MPROC_EBROKEN, mproc_pool_apply(pool.get(), "square",
                                            args.get(), nullptr, &r, &err));
  EXPECT_NE(nullptr, strstr(err.message, "signal 9")) << err.message;
}

// ---- The descriptor limit (defect 8).

int LostHandoverRecovers() {
  mproc_pool_opts_t opts = {};
  opts.workers = 1;
  mproc_pool_t* pool = nullptr;
  if (mproc_pool_new(&pool, &opts) != 0) return 10;
  pid_t worker = WorkerPid(pool, 0);
  if (worker <= 0) return 11;
  struct rlimit old;
  getrlimit(RLIMIT_NOFILE, &old);
  // No new descriptor at all in this process, and no way up (the soft limit
  // would be raised to the hard one): the fork server (its own process, its
  // own limit) can still make a worker, but the pool cannot receive the
  // worker's descriptors.
  struct rlimit none = {3, 3};
  if (setrlimit(RLIMIT_NOFILE, &none) != 0) return 12;
  kill(worker, SIGKILL);
  mproc_value_t* args = nullptr;
  mproc_pack(&args, "(L)", (int64_t)5);
  mproc_future_t* f = nullptr;
  if (mproc_pool_submit(pool, "square", args, nullptr, &f) != 0)
    return 13;
  // It must not wait forever: it fails, with the descriptor limit.
  if (mproc_future_wait(f, 20) != 0) return 14;
  mproc_task_error_t err;
  int code = mproc_future_error(f, &err);
  mproc_future_free(f);
  if (code != MPROC_EMFILE) {
    fprintf(stderr, "task failed with %s: %s\n", mproc_err_name(code),
            err.message);
    return 15;
  }
  // Raised again (raising a hard limit takes CAP_SYS_RESOURCE: root, as in
  // CI): the pool serves again.
  if (setrlimit(RLIMIT_NOFILE, &old) != 0) return 0;
  mproc_value_t* r = nullptr;
  if (mproc_pool_apply(pool, "square", args, nullptr, &r, &err) != 0) {
    fprintf(stderr, "after raising the limit: %s\n", err.message);
    return 16;
  }
  int64_t v = 0;
  mproc_value_get_int(r, &v);
  mproc_value_free(r);
  mproc_value_free(args);
  if (v != 25) return 17;
  if (mproc_pool_close(pool) != 0 || mproc_pool_join(pool, 10) != 0)
    return 18;
  mproc_pool_free(pool);
  return 0;
}

TEST_F(PoolRecovery, LostWorkerHandoverAtTheDescriptorLimitRecovers) {
  int status = mproc_test::RunInChild(LostHandoverRecovers, 60);
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(0, WEXITSTATUS(status));
}

int PoolNewAtTheLimitSaysEmfile() {
  // Room for exactly two more descriptors: the pool's epoll and eventfd
  // fit, the fork server's socket pair does not.
  int probe = dup(0);
  if (probe < 0) return 10;
  close(probe);
  struct rlimit old;
  getrlimit(RLIMIT_NOFILE, &old);
  // (The hard limit too: the soft one alone would be raised to it.)
  struct rlimit tight = {static_cast<rlim_t>(probe + 2),
                         static_cast<rlim_t>(probe + 2)};
  if (setrlimit(RLIMIT_NOFILE, &tight) != 0) return 11;
  mproc_pool_t* pool = nullptr;
  int rc = mproc_pool_new(&pool, nullptr);
  setrlimit(RLIMIT_NOFILE, &old);  // in this child only; root may raise it
  if (rc != MPROC_EMFILE) {
    fprintf(stderr, "mproc_pool_new: %s\n", mproc_err_name(rc));
    mproc_pool_free(pool);
    return 12;
  }
  return 0;
}

TEST_F(PoolRecovery, PoolNewAtTheDescriptorLimitSaysEmfile) {
  int status = mproc_test::RunInChild(PoolNewAtTheLimitSaysEmfile, 30);
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(0, WEXITSTATUS(status));
}

// ---- The fork server killed (defect 9).

TEST_F(PoolRecovery, KilledForkServerIsReplacedAndLaterTasksRun) {
  PoolPtr pool = NewPool(2);
  Value args = Pack("(d)", 30.0);
  Future running = Submit(pool.get(), "sleep_then_pid", args.get());
  pid_t pid = 0;
  for (double end = Now() + 20; pid == 0 && Now() < end; SleepS(0.01))
    pid = TimingOf(running.get()).pid;
  ASSERT_GT(pid, 0);
  pid_t server = ServerOf(pid);
  ASSERT_GT(server, 0);
  ASSERT_NE(getpid(), server);
  ASSERT_EQ(0, kill(server, SIGKILL));
  // The running task dies with its worker, which dies with its server.
  ASSERT_EQ(0, mproc_future_wait(running.get(), 10)) << "running task hangs";
  EXPECT_EQ(MPROC_EWORKER, ErrorOf(running.get()).code)
      << ErrorOf(running.get()).message;
  // Later tasks run, on workers of a new server.
  for (int i = 0; i < 20; i++) {
    Value x = Pack("(L)", static_cast<int64_t>(i));
    mproc_value_t* r = nullptr;
    mproc_task_error_t err;
    ASSERT_EQ(0, mproc_pool_apply(pool.get(), "square", x.get(), nullptr,
                                  &r, &err))
        << i << ": " << err.message;
    EXPECT_EQ(i * i, AsInt(r));
    mproc_value_free(r);
  }
  pid_t fresh = WorkerPid(pool.get(), 0);
  ASSERT_GT(fresh, 0);
  pid_t new_server = ServerOf(fresh);
  EXPECT_NE(server, new_server);
  EXPECT_EQ(getpid(), ServerOf(new_server));
  ASSERT_EQ(0, mproc_pool_close(pool.get()));
  ASSERT_EQ(0, mproc_pool_join(pool.get(), 10));
}

// ---- Tasks handed to a worker that dies before starting them (defect 10).

TEST_F(PoolRecovery, TasksAWorkerHeldButNeverStartedGoToAnotherWorker) {
  PoolPtr pool = NewPool(1);
  Value zero = Pack("(d)", 0.0);
  Future warm = Submit(pool.get(), "sleep_then_pid", zero.get());
  ASSERT_EQ(0, mproc_future_wait(warm.get(), 10));
  pid_t worker = static_cast<pid_t>(IntResult(warm.get()));
  ASSERT_GT(worker, 0);
  // Stopped while it waits for work: the tasks handed to it sit unread.
  ASSERT_EQ(0, kill(worker, SIGSTOP));
  std::vector<Future> held;
  for (int i = 0; i < 4; i++) {
    Value x = Pack("(L)", static_cast<int64_t>(i + 2));
    held.push_back(Submit(pool.get(), "square", x.get()));
  }
  // The first ones are handed to it at once (how many depends on the
  // in-flight depth, from recent run times); the rest wait in the queue.
  for (double end = Now() + 5; Now() < end; SleepS(0.005))
    if (TimingOf(held[0].get()).pid == worker) break;
  ASSERT_EQ(worker, TimingOf(held[0].get()).pid) << "never dispatched";
  ASSERT_EQ(0, kill(worker, SIGKILL));
  for (int i = 0; i < 4; i++) {
    ASSERT_EQ(0, mproc_future_wait(held[i].get(), 10)) << i;
    mproc_task_error_t e = ErrorOf(held[i].get());
    ASSERT_EQ(0, e.code) << "task " << i << " never ran, yet: " << e.message;
    EXPECT_EQ((i + 2) * (i + 2), IntResult(held[i].get()));
    EXPECT_NE(worker, TimingOf(held[i].get()).pid);
  }
}

}  // namespace
