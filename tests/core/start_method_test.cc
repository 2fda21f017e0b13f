// Start methods (issue 11): the global and per-process choice, and spawn
// for Process — a fork+exec of this test binary that runs its target by
// name before main(), returns result, error, exit code and timing as fork
// does, and holds none of the parent's memory or descriptors.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/process_testing.h"
#include "multiproc.h"
#include "tests/support/fork_support.h"

namespace {

int g_marker;  // set by the parent at run time: a spawned child sees 0

std::string Status(const char* key) {
  FILE* f = fopen("/proc/self/status", "r");
  if (f == nullptr) return "";
  char line[256];
  std::string out;
  size_t n = strlen(key);
  while (fgets(line, sizeof line, f) != nullptr)
    if (strncmp(line, key, n) == 0) out = line + n;
  fclose(f);
  return std::to_string(atol(out.c_str()));
}

// Descriptors >= 3 open in this process, "3 7 ...".
std::string OpenFds() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return "?";
  std::vector<int> fds;
  for (struct dirent* e; (e = readdir(d)) != nullptr;) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] != '.' && fd >= 3 && fd != dirfd(d)) fds.push_back(fd);
  }
  closedir(d);
  std::string out;
  for (int fd : fds) out += (out.empty() ? "" : " ") + std::to_string(fd);
  return out;
}

std::vector<int> Ints(const std::string& s) {
  std::vector<int> v;
  for (size_t i = 0; i < s.size();) {
    size_t j = s.find(' ', i);
    if (j == std::string::npos) j = s.size();
    v.push_back(atoi(s.substr(i, j - i).c_str()));
    i = j + 1;
  }
  return v;
}

}  // namespace

MPROC_TARGET(spawn_add) {
  int64_t a, b;
  if (mproc_unpack(call, "LL", &a, &b) < 0) return -1;
  return mproc_call_return(call, "L", a + b);
}

MPROC_TARGET(spawn_fail) { return mproc_call_fail(call, "boom %d", 7); }

MPROC_TARGET(spawn_exit3) {
  (void)call;
  return 3;
}

MPROC_TARGET(spawn_sleep) {
  (void)call;
  sleep(30);
  return 0;
}

// What the child holds: the parent's marker, its descriptors, its resident
// set (kB), its name.
MPROC_TARGET(spawn_inspect) {
  std::string fds = OpenFds();
  return mproc_call_return(call, "(isss)", g_marker, fds.c_str(),
                           Status("VmRSS:").c_str(),
                           mproc_current_process_name());
}

// A spawn child that spawns: its child adds, it adds one more.
MPROC_TARGET(spawn_nested) {
  mproc_value_t* args;
  if (mproc_pack(&args, "(ii)", 20, 21) < 0) return -1;
  mproc_process_opts_t o = {};
  o.target_name = "spawn_add";
  o.args = args;
  o.start_method = MPROC_START_SPAWN;
  mproc_process_t* p;
  int rc = mproc_process_new(&p, &o);
  mproc_value_free(args);
  if (rc < 0) return mproc_call_fail(call, "new: %s", mproc_last_error());
  if (mproc_process_start(p) < 0)
    return mproc_call_fail(call, "start: %s", mproc_last_error());
  if (mproc_process_join(p, 20) < 0) return mproc_call_fail(call, "join");
  const mproc_value_t* r;
  int64_t v = 0;
  if (mproc_process_result(p, &r) != 1 || mproc_value_get_int(r, &v) < 0)
    return mproc_call_fail(call, "no result");
  mproc_process_close(p);
  return mproc_call_return(call, "(Ls)", v + 1, mproc_current_process_name());
}

namespace {

class StartMethod : public mproc_test::Deadline {
 protected:
  void TearDown() override {
    mproc_set_start_method(MPROC_START_DEFAULT);
    mproc_test::Deadline::TearDown();
  }

  // Starts target_name with method, joins it within 20 s.
  mproc_process_t* Run(const char* target_name, mproc_start_method_t method,
                       const char* args_fmt = nullptr, int a = 0, int b = 0) {
    mproc_value_t* args = nullptr;
    if (args_fmt != nullptr) {
      EXPECT_EQ(0, mproc_pack(&args, args_fmt, a, b));
    }
    mproc_process_opts_t o = {};
    o.target_name = target_name;
    o.args = args;
    o.start_method = method;
    mproc_process_t* p = nullptr;
    EXPECT_EQ(0, mproc_process_new(&p, &o)) << mproc_last_error();
    mproc_value_free(args);
    if (p == nullptr) return nullptr;
    EXPECT_EQ(0, mproc_process_start(p)) << mproc_last_error();
    EXPECT_EQ(0, mproc_process_join(p, 20));
    return p;
  }
};

TEST_F(StartMethod, GlobalDefaultIsForkAndCanBeSet) {
  EXPECT_EQ(MPROC_START_FORK, mproc_get_start_method());
  EXPECT_EQ(0, mproc_set_start_method(MPROC_START_SPAWN));
  EXPECT_EQ(MPROC_START_SPAWN, mproc_get_start_method());
  EXPECT_EQ(0, mproc_set_start_method(MPROC_START_FORKSERVER));
  EXPECT_EQ(MPROC_START_FORKSERVER, mproc_get_start_method());
  EXPECT_EQ(0, mproc_set_start_method(MPROC_START_DEFAULT));
  EXPECT_EQ(MPROC_START_FORK, mproc_get_start_method());
  EXPECT_EQ(MPROC_EINVAL, mproc_set_start_method((mproc_start_method_t)7));
  EXPECT_STREQ(
      "mproc_set_start_method: method 7 is not an mproc_start_method_t",
      mproc_last_error());
  EXPECT_EQ(MPROC_START_FORK, mproc_get_start_method());
}

TEST_F(StartMethod, ProcessRefusesAnUnknownMethod) {
  mproc_process_opts_t o = {};
  o.target_name = "spawn_add";
  o.start_method = (mproc_start_method_t)-1;
  mproc_process_t* p = nullptr;
  EXPECT_EQ(MPROC_EINVAL, mproc_process_new(&p, &o));
  EXPECT_STREQ(
      "mproc_process_new: opts.start_method -1 is not an "
      "mproc_start_method_t",
      mproc_last_error());
  EXPECT_EQ(nullptr, p);
}

TEST_F(StartMethod, ForkserverIsNotAvailableToProcessYet) {
  mproc_process_opts_t o = {};
  o.target_name = "spawn_add";
  o.start_method = MPROC_START_FORKSERVER;
  mproc_process_t* p;
  ASSERT_EQ(0, mproc_process_new(&p, &o));
  EXPECT_EQ(MPROC_ENOSYS, mproc_process_start(p));
  EXPECT_NE(nullptr, strstr(mproc_last_error(), "forkserver"));
  EXPECT_EQ(0, mproc_process_pid(p));
  EXPECT_EQ(0, mproc_process_close(p));
}

TEST_F(StartMethod, SpawnReturnsResultExitCodeAndTiming) {
  int fds = mproc_test::CountOpenFds();
  mproc_process_t* p = Run("spawn_add", MPROC_START_SPAWN, "(ii)", 2, 3);
  ASSERT_NE(nullptr, p);
  int code = -99;
  EXPECT_EQ(1, mproc_process_exitcode(p, &code));
  EXPECT_EQ(0, code);
  const mproc_value_t* r;
  int64_t v = 0;
  ASSERT_EQ(1, mproc_process_result(p, &r));
  ASSERT_EQ(0, mproc_value_get_int(r, &v));
  EXPECT_EQ(5, v);
  EXPECT_EQ(nullptr, mproc_process_error(p));
  mproc_timing_t t;
  ASSERT_EQ(0, mproc_process_timing(p, &t));
  EXPECT_GT(t.entered_ns, t.started_ns);
  EXPECT_GE(t.returned_ns, t.entered_ns);
  EXPECT_GT(t.reaped_ns, 0u);
  EXPECT_GT(t.startup_s, 0.0);
  EXPECT_EQ(0, mproc_process_close(p));
  EXPECT_EQ(fds, mproc_test::CountOpenFds());
  EXPECT_EQ(0, mproc_test::CountZombieChildren());
}

TEST_F(StartMethod, SpawnReportsFailureAndExitCode) {
  mproc_process_t* p = Run("spawn_fail", MPROC_START_SPAWN);
  ASSERT_NE(nullptr, p);
  int code = -99;
  EXPECT_EQ(1, mproc_process_exitcode(p, &code));
  EXPECT_EQ(1, code);
  ASSERT_NE(nullptr, mproc_process_error(p));
  EXPECT_STREQ("boom 7", mproc_process_error(p));
  const mproc_value_t* r;
  EXPECT_EQ(MPROC_EFAILED, mproc_process_result(p, &r));
  EXPECT_EQ(0, mproc_process_close(p));

  p = Run("spawn_exit3", MPROC_START_SPAWN);
  ASSERT_NE(nullptr, p);
  EXPECT_EQ(1, mproc_process_exitcode(p, &code));
  EXPECT_EQ(3, code);
  EXPECT_EQ(0, mproc_process_close(p));
}

TEST_F(StartMethod, GlobalSpawnAppliesAndTheOptionOverridesIt) {
  g_marker = 42;
  ASSERT_EQ(0, mproc_set_start_method(MPROC_START_SPAWN));
  const mproc_value_t* r;
  int marker = -1;
  const char *fds, *rss, *name;
  mproc_process_t* p = Run("spawn_inspect", MPROC_START_DEFAULT);
  ASSERT_NE(nullptr, p);
  ASSERT_EQ(1, mproc_process_result(p, &r));
  ASSERT_EQ(0, mproc_unpack_values(r, nullptr, nullptr, 0, "isss", &marker, &fds, &rss,
                                   &name)) << mproc_last_error();
  EXPECT_EQ(0, marker);  // spawned: the parent's memory is not there
  EXPECT_STREQ(mproc_process_name(p), name);
  EXPECT_EQ(0, mproc_process_close(p));

  p = Run("spawn_inspect", MPROC_START_FORK);
  ASSERT_NE(nullptr, p);
  ASSERT_EQ(1, mproc_process_result(p, &r));
  ASSERT_EQ(0, mproc_unpack_values(r, nullptr, nullptr, 0, "isss", &marker, &fds, &rss,
                                   &name));
  EXPECT_EQ(42, marker);  // forked: a copy of the parent
  EXPECT_EQ(0, mproc_process_close(p));
  g_marker = 0;
}

// The parent holds a pipe without close-on-exec and 128 MiB it wrote: a
// forked child has both, a spawned one neither — only its own socket (and
// sentinel pipe where pidfds are off).
class SpawnIsolation : public StartMethod,
                       public ::testing::WithParamInterface<bool> {};

TEST_P(SpawnIsolation, SpawnedChildHasNoneOfTheParentsMemoryOrDescriptors) {
  mproc__pidfd_force_disabled(GetParam());
  int leak[2];
  ASSERT_EQ(0, pipe(leak));  // inheritable, on purpose
  size_t big = (size_t)128 << 20;
  char* mem = static_cast<char*>(malloc(big));
  ASSERT_NE(nullptr, mem);
  memset(mem, 1, big);
  const mproc_value_t* r;
  int marker;
  const char *fds, *rss, *name;
  for (mproc_start_method_t m : {MPROC_START_SPAWN, MPROC_START_FORK}) {
    mproc_process_t* p = Run("spawn_inspect", m);
    ASSERT_NE(nullptr, p);
    ASSERT_EQ(1, mproc_process_result(p, &r));
    ASSERT_EQ(0, mproc_unpack_values(r, nullptr, nullptr, 0, "isss", &marker, &fds,
                                     &rss, &name));
    std::vector<int> open = Ints(fds);
    bool has_leak = false;
    for (int fd : open) has_leak |= fd == leak[0] || fd == leak[1];
    long rss_kb = atol(rss);
    if (m == MPROC_START_SPAWN) {
      EXPECT_FALSE(has_leak) << fds;
      // Its socket, and its sentinel pipe's write end without pidfds.
      EXPECT_EQ(GetParam() ? 2u : 1u, open.size()) << fds;
      EXPECT_LT(rss_kb, 64 << 10);
    } else {
      EXPECT_TRUE(has_leak) << fds;
      EXPECT_GT(rss_kb, 100 << 10);
    }
    EXPECT_EQ(0, mproc_process_close(p));
  }
  free(mem);
  close(leak[0]);
  close(leak[1]);
  mproc__pidfd_force_disabled(false);
}

INSTANTIATE_TEST_SUITE_P(PidfdOrSentinel, SpawnIsolation,
                         ::testing::Values(false, true));

TEST_F(StartMethod, SpawnOfSpawnWorks) {
  mproc_process_t* p = Run("spawn_nested", MPROC_START_SPAWN);
  ASSERT_NE(nullptr, p);
  const mproc_value_t* r;
  int code = -1;
  EXPECT_EQ(1, mproc_process_exitcode(p, &code));
  EXPECT_EQ(0, code) << mproc_process_error(p);
  ASSERT_EQ(1, mproc_process_result(p, &r)) << mproc_process_error(p);
  int64_t v;
  const char* name;
  ASSERT_EQ(0, mproc_unpack_values(r, nullptr, nullptr, 0, "Ls", &v, &name));
  EXPECT_EQ(42, v);
  EXPECT_STREQ(mproc_process_name(p), name);
  EXPECT_EQ(0, mproc_process_close(p));
}

int Unregistered(mproc_call_t*) { return 0; }

TEST_F(StartMethod, SpawnRefusesATargetThatIsNotRegistered) {
  mproc_process_opts_t o = {};
  o.target = Unregistered;
  o.start_method = MPROC_START_SPAWN;
  mproc_process_t* p;
  ASSERT_EQ(0, mproc_process_new(&p, &o));
  EXPECT_EQ(MPROC_ENOTARGET, mproc_process_start(p));
  EXPECT_NE(nullptr, strstr(mproc_last_error(),
                            "is not registered for spawn: a spawned child "
                            "runs its target by name; define it with "
                            "MPROC_TARGET"))
      << mproc_last_error();
  EXPECT_EQ(0, mproc_process_pid(p));
  EXPECT_EQ(0, mproc_process_close(p));
}

TEST_F(StartMethod, SpawnRefusesACtx) {
  int x;
  mproc_process_opts_t o = {};
  o.target_name = "spawn_add";
  o.ctx = &x;
  o.start_method = MPROC_START_SPAWN;
  mproc_process_t* p;
  ASSERT_EQ(0, mproc_process_new(&p, &o));
  EXPECT_EQ(MPROC_EINVAL, mproc_process_start(p));
  EXPECT_NE(nullptr, strstr(mproc_last_error(), "opts.ctx must be NULL"));
  EXPECT_EQ(0, mproc_process_close(p));
}

int LateTarget(mproc_call_t*) { return 0; }

// Registered in the parent after main() began: the child cannot know it,
// and says so, naming it.
TEST_F(StartMethod, SpawnedChildNamesATargetRegisteredTooLate) {
  ASSERT_EQ(0, mproc_target_register("late_target", LateTarget));
  mproc_process_t* p = Run("late_target", MPROC_START_SPAWN);
  ASSERT_NE(nullptr, p);
  int code = -1;
  EXPECT_EQ(1, mproc_process_exitcode(p, &code));
  EXPECT_EQ(1, code);
  ASSERT_NE(nullptr, mproc_process_error(p));
  EXPECT_NE(nullptr,
            strstr(mproc_process_error(p),
                   "spawn: no target 'late_target' is registered in the "
                   "spawned program"))
      << mproc_process_error(p);
  EXPECT_EQ(0, mproc_process_close(p));
}

TEST_F(StartMethod, SpawnedChildCanBeTerminatedAndWaitedFor) {
  mproc_process_opts_t o = {};
  o.target_name = "spawn_sleep";
  o.start_method = MPROC_START_SPAWN;
  mproc_process_t* p;
  ASSERT_EQ(0, mproc_process_new(&p, &o));
  ASSERT_EQ(0, mproc_process_start(p));
  EXPECT_EQ(1, mproc_process_is_alive(p));
  EXPECT_GE(mproc_process_sentinel(p), 0);
  EXPECT_EQ(MPROC_ETIMEDOUT, mproc_process_join(p, 0.05));
  EXPECT_EQ(0, mproc_process_terminate(p));
  size_t index = 9;
  EXPECT_EQ(0, mproc_wait(&p, 1, 20, &index));
  EXPECT_EQ(0u, index);
  int code = 0;
  EXPECT_EQ(1, mproc_process_exitcode(p, &code));
  EXPECT_EQ(-SIGTERM, code);
  EXPECT_EQ(0, mproc_process_is_alive(p));
  EXPECT_EQ(0, mproc_process_close(p));
  EXPECT_EQ(0, mproc_test::CountZombieChildren());
}

// A program that ignores SIGCHLD starts children through a relay: spawn
// works there too.
TEST_F(StartMethod, SpawnWorksThroughTheRelay) {
  struct sigaction ign = {}, old;
  ign.sa_handler = SIG_IGN;
  sigaction(SIGCHLD, &ign, &old);
  mproc_process_t* p = Run("spawn_add", MPROC_START_SPAWN, "(ii)", 40, 2);
  sigaction(SIGCHLD, &old, nullptr);
  ASSERT_NE(nullptr, p);
  const mproc_value_t* r;
  int64_t v = 0;
  ASSERT_EQ(1, mproc_process_result(p, &r)) << mproc_process_error(p);
  ASSERT_EQ(0, mproc_value_get_int(r, &v));
  EXPECT_EQ(42, v);
  EXPECT_EQ(0, mproc_process_close(p));
}

}  // namespace

namespace {

// Pools: fork and forkserver both mean the pool's own fork server; spawn
// is refused for now.
TEST_F(StartMethod, PoolAcceptsForkAndForkserverAndRefusesSpawn) {
  for (mproc_start_method_t m : {MPROC_START_FORK, MPROC_START_FORKSERVER}) {
    mproc_pool_opts_t o = {};
    o.workers = 1;
    o.start_method = m;
    mproc_pool_t* pool;
    ASSERT_EQ(0, mproc_pool_new(&pool, &o)) << mproc_last_error();
    mproc_value_t *args, *result = nullptr;
    ASSERT_EQ(0, mproc_pack(&args, "(ii)", 4, 5));
    ASSERT_EQ(0, mproc_pool_apply(pool, "spawn_add", args, nullptr, &result,
                                  nullptr));
    int64_t v = 0;
    ASSERT_EQ(0, mproc_value_get_int(result, &v));
    EXPECT_EQ(9, v);
    mproc_value_free(args);
    mproc_value_free(result);
    EXPECT_EQ(0, mproc_pool_close(pool));
    EXPECT_EQ(0, mproc_pool_join(pool, 20));
    mproc_pool_free(pool);
  }
  mproc_pool_opts_t o = {};
  o.start_method = MPROC_START_SPAWN;
  mproc_pool_t* pool = nullptr;
  EXPECT_EQ(MPROC_ENOSYS, mproc_pool_new(&pool, &o));
  EXPECT_NE(nullptr, strstr(mproc_last_error(), "spawn"));
  o.start_method = (mproc_start_method_t)9;
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_new(&pool, &o));
  EXPECT_STREQ(
      "mproc_pool_new: opts.start_method 9 is not an mproc_start_method_t",
      mproc_last_error());
  ASSERT_EQ(0, mproc_set_start_method(MPROC_START_SPAWN));
  o.start_method = MPROC_START_DEFAULT;
  EXPECT_EQ(MPROC_ENOSYS, mproc_pool_new(&pool, &o));
}

}  // namespace
