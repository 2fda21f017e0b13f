// Start methods (issue 11): the global and per-process choice, and spawn
// for Process — a fork+exec of this test binary that runs its target by
// name before main(), returns result, error, exit code and timing as fork
// does, and holds none of the parent's memory or descriptors.
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

// What the descriptors >= 3 of this process are: "socket:[12] pipe:[34]".
std::string OpenFds() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return "?";
  std::string out;
  for (struct dirent* e; (e = readdir(d)) != nullptr;) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] == '.' || fd < 3 || fd == dirfd(d)) continue;
    char path[64], link[256];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n < 0) continue;
    link[n] = '\0';
    out += (out.empty() ? "" : " ") + std::string(link);
  }
  closedir(d);
  return out;
}

std::vector<std::string> Words(const std::string& s) {
  std::vector<std::string> v;
  for (size_t i = 0; i < s.size();) {
    size_t j = s.find(' ', i);
    if (j == std::string::npos) j = s.size();
    v.push_back(s.substr(i, j - i));
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
  int method;
  if (mproc_unpack(call, "i", &method) < 0) return -1;
  mproc_value_t* args;
  if (mproc_pack(&args, "(ii)", 20, 21) < 0) return -1;
  mproc_process_opts_t o = {};
  o.target_name = "spawn_add";
  o.args = args;
  o.start_method = (mproc_start_method_t)method;
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

TEST_F(StartMethod, ForkserverStartsOnceEarly) {
  EXPECT_EQ(0, mproc_forkserver_start());
  int fds = mproc_test::CountOpenFds();
  EXPECT_EQ(0, mproc_forkserver_start());  // has one: nothing to do
  EXPECT_EQ(fds, mproc_test::CountOpenFds());
}

// The methods that run a fresh image of this program: spawn, and the
// children of the fork server (itself spawned).
const mproc_start_method_t kFresh[] = {MPROC_START_SPAWN,
                                       MPROC_START_FORKSERVER};

TEST_F(StartMethod, SpawnReturnsResultExitCodeAndTiming) {
  ASSERT_EQ(0, mproc_forkserver_start());  // its control socket stays
  for (mproc_start_method_t m : kFresh) {
  SCOPED_TRACE(m);
  int fds = mproc_test::CountOpenFds();
  mproc_process_t* p = Run("spawn_add", m, "(ii)", 2, 3);
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
}

TEST_F(StartMethod, SpawnReportsFailureAndExitCode) {
  for (mproc_start_method_t m : kFresh) {
  SCOPED_TRACE(m);
  mproc_process_t* p = Run("spawn_fail", m);
  ASSERT_NE(nullptr, p);
  int code = -99;
  EXPECT_EQ(1, mproc_process_exitcode(p, &code));
  EXPECT_EQ(1, code);
  ASSERT_NE(nullptr, mproc_process_error(p));
  EXPECT_STREQ("boom 7", mproc_process_error(p));
  const mproc_value_t* r;
  EXPECT_EQ(MPROC_EFAILED, mproc_process_result(p, &r));
  EXPECT_EQ(0, mproc_process_close(p));

  p = Run("spawn_exit3", m);
  ASSERT_NE(nullptr, p);
  EXPECT_EQ(1, mproc_process_exitcode(p, &code));
  EXPECT_EQ(3, code);
  EXPECT_EQ(0, mproc_process_close(p));
  }
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

  ASSERT_EQ(0, mproc_set_start_method(MPROC_START_FORKSERVER));
  p = Run("spawn_inspect", MPROC_START_DEFAULT);
  ASSERT_NE(nullptr, p);
  ASSERT_EQ(1, mproc_process_result(p, &r));
  ASSERT_EQ(0, mproc_unpack_values(r, nullptr, nullptr, 0, "isss", &marker,
                                   &fds, &rss, &name));
  EXPECT_EQ(0, marker);  // from the fork server: a fresh program
  EXPECT_STREQ(mproc_process_name(p), name);
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
  struct stat st;
  ASSERT_EQ(0, fstat(leak[0], &st));
  std::string leak_name = "pipe:[" + std::to_string(st.st_ino) + "]";
  size_t big = (size_t)128 << 20;
  char* mem = static_cast<char*>(malloc(big));
  ASSERT_NE(nullptr, mem);
  memset(mem, 1, big);
  const mproc_value_t* r;
  int marker;
  const char *fds, *rss, *name;
  for (mproc_start_method_t m :
       {MPROC_START_SPAWN, MPROC_START_FORKSERVER, MPROC_START_FORK}) {
    SCOPED_TRACE(m);
    mproc_process_t* p = Run("spawn_inspect", m);
    ASSERT_NE(nullptr, p);
    ASSERT_EQ(1, mproc_process_result(p, &r));
    ASSERT_EQ(0, mproc_unpack_values(r, nullptr, nullptr, 0, "isss", &marker, &fds,
                                     &rss, &name));
    std::vector<std::string> open = Words(fds);
    bool has_leak = false;
    for (const std::string& f : open) has_leak |= f == leak_name;
    long rss_kb = atol(rss);
    if (m != MPROC_START_FORK) {
      EXPECT_EQ(0, marker);
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
  for (mproc_start_method_t m : kFresh) {
  SCOPED_TRACE(m);
  mproc_process_t* p = Run("spawn_nested", m, "(i)", m);
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
}

int Unregistered(mproc_call_t*) { return 0; }

TEST_F(StartMethod, SpawnRefusesATargetThatIsNotRegistered) {
  for (mproc_start_method_t m : kFresh) {
  SCOPED_TRACE(m);
  mproc_process_opts_t o = {};
  o.target = Unregistered;
  o.start_method = m;
  mproc_process_t* p;
  ASSERT_EQ(0, mproc_process_new(&p, &o));
  EXPECT_EQ(MPROC_ENOTARGET, mproc_process_start(p));
  EXPECT_NE(nullptr, strstr(mproc_last_error(),
                            m == MPROC_START_SPAWN
                                ? "is not registered for spawn: a spawned "
                                  "child runs its target by name; define it "
                                  "with MPROC_TARGET"
                                : "is not registered for forkserver: a "
                                  "forkserver child runs its target by name; "
                                  "define it with MPROC_TARGET"))
      << mproc_last_error();
  EXPECT_EQ(0, mproc_process_pid(p));
  EXPECT_EQ(0, mproc_process_close(p));
  }
}

TEST_F(StartMethod, SpawnRefusesACtx) {
  for (mproc_start_method_t m : kFresh) {
  SCOPED_TRACE(m);
  int x;
  mproc_process_opts_t o = {};
  o.target_name = "spawn_add";
  o.ctx = &x;
  o.start_method = m;
  mproc_process_t* p;
  ASSERT_EQ(0, mproc_process_new(&p, &o));
  EXPECT_EQ(MPROC_EINVAL, mproc_process_start(p));
  EXPECT_NE(nullptr, strstr(mproc_last_error(), "opts.ctx must be NULL"));
  EXPECT_EQ(0, mproc_process_close(p));
  }
}

int LateTarget(mproc_call_t*) { return 0; }

// Registered in the parent after main() began: the child cannot know it,
// and says so, naming it.
TEST_F(StartMethod, SpawnedChildNamesATargetRegisteredTooLate) {
  for (mproc_start_method_t m : kFresh) {
  SCOPED_TRACE(m);
  EXPECT_EQ(0, mproc_target_register("late_target", LateTarget));
  mproc_process_t* p = Run("late_target", m);
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
}

TEST_F(StartMethod, SpawnedChildCanBeTerminatedAndWaitedFor) {
  for (mproc_start_method_t m : kFresh) {
  SCOPED_TRACE(m);
  mproc_process_opts_t o = {};
  o.target_name = "spawn_sleep";
  o.start_method = m;
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
}

// A program that ignores SIGCHLD starts children through a relay: spawn
// works there too.
TEST_F(StartMethod, SpawnWorksThroughTheRelay) {
  for (mproc_start_method_t m : kFresh) {
  SCOPED_TRACE(m);
  struct sigaction ign = {}, old;
  ign.sa_handler = SIG_IGN;
  sigaction(SIGCHLD, &ign, &old);
  mproc_process_t* p = Run("spawn_add", m, "(ii)", 40, 2);
  sigaction(SIGCHLD, &old, nullptr);
  ASSERT_NE(nullptr, p);
  const mproc_value_t* r;
  int64_t v = 0;
  ASSERT_EQ(1, mproc_process_result(p, &r)) << mproc_process_error(p);
  ASSERT_EQ(0, mproc_value_get_int(r, &v));
  EXPECT_EQ(42, v);
  EXPECT_EQ(0, mproc_process_close(p));
  }
}

}  // namespace

namespace {

// Pools: every method works (forkserver and spawn through a fresh fork
// server, multiproc/pool.h); an unknown one is refused.
TEST_F(StartMethod, PoolAcceptsEveryMethodAndRefusesAnUnknownOne) {
  for (mproc_start_method_t m :
       {MPROC_START_FORK, MPROC_START_FORKSERVER, MPROC_START_SPAWN}) {
    SCOPED_TRACE(m);
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
  mproc_pool_t* pool = nullptr;
  o.start_method = (mproc_start_method_t)9;
  EXPECT_EQ(MPROC_EINVAL, mproc_pool_new(&pool, &o));
  EXPECT_STREQ(
      "mproc_pool_new: opts.start_method 9 is not an mproc_start_method_t",
      mproc_last_error());
  EXPECT_EQ(nullptr, pool);
}

}  // namespace

// ---- Pools with a fresh fork server.

namespace {

pthread_mutex_t g_held = PTHREAD_MUTEX_INITIALIZER;  // held by a parent thread
int g_init_value;                                    // set by pool_init

}  // namespace

// What a pool worker holds: the parent's marker, whether the mutex a
// parent thread held at pool_new is free, its descriptors, its resident
// set (kB), its pid.
MPROC_TARGET(pool_inspect) {
  std::string fds = OpenFds();
  int lock_free = pthread_mutex_trylock(&g_held) == 0;
  if (lock_free) pthread_mutex_unlock(&g_held);
  return mproc_call_return(call, "(iissi)", g_marker, lock_free, fds.c_str(),
                           Status("VmRSS:").c_str(), (int)getpid());
}

MPROC_TARGET(pool_init) {
  int64_t a, b;
  if (mproc_unpack(call, "LL", &a, &b) < 0) return -1;
  g_init_value = (int)(a * b);
  return 0;
}

// Writes its pid to the file args[0] names (a fresh worker shares no
// descriptor with the test), then sleeps: the parent knows it is inside.
MPROC_TARGET(pool_pid_then_sleep) {
  const char* path;
  if (mproc_unpack(call, "s", &path) < 0) return -1;
  std::string tmp = std::string(path) + ".tmp";  // renamed: read whole
  FILE* f = fopen(tmp.c_str(), "w");
  if (f == nullptr) return mproc_call_fail(call, "cannot write %s", path);
  fprintf(f, "%d\n", (int)getpid());
  fclose(f);
  if (rename(tmp.c_str(), path) != 0) return mproc_call_fail(call, "rename");
  sleep(30);
  return 0;
}

MPROC_TARGET(pool_init_value) {
  return mproc_call_return(call, "(ii)", g_init_value, (int)getpid());
}

namespace {

int UnregisteredInit(mproc_call_t* call) {
  (void)call;
  return 0;
}

int LateInit(mproc_call_t* call) {
  (void)call;
  return 0;
}

const mproc_start_method_t kFreshPool[] = {MPROC_START_FORKSERVER,
                                           MPROC_START_SPAWN};

class FreshPool : public StartMethod {
 protected:
  mproc_pool_t* New(mproc_start_method_t m, unsigned workers = 1,
                    mproc_target_fn init = nullptr,
                    const mproc_value_t* initargs = nullptr) {
    mproc_pool_opts_t o = {};
    o.workers = workers;
    o.start_method = m;
    o.initializer = init;
    o.initargs = initargs;
    mproc_pool_t* pool = nullptr;
    EXPECT_EQ(0, mproc_pool_new(&pool, &o)) << mproc_last_error();
    return pool;
  }
  // Applies target with no arguments; its result, or null.
  mproc_value_t* Apply(mproc_pool_t* pool, const char* target) {
    mproc_value_t* result = nullptr;
    mproc_task_error_t err = {};
    EXPECT_EQ(0, mproc_pool_apply(pool, target, nullptr, nullptr, &result,
                                  &err))
        << err.message;
    return result;
  }
  void Finish(mproc_pool_t* pool) {
    EXPECT_EQ(0, mproc_pool_close(pool));
    EXPECT_EQ(0, mproc_pool_join(pool, 20));
    mproc_pool_free(pool);
  }
};

// The parent wrote 128 MiB and a marker, holds an inheritable pipe and
// (another thread) a mutex when the pool starts: a fork pool's worker has
// all four, a forkserver or spawn pool's worker none — only its own task
// socket and answer pipe.
TEST_F(FreshPool, WorkersHaveNoneOfTheParentsMemoryDescriptorsOrLocks) {
  int leak[2];
  ASSERT_EQ(0, pipe(leak));  // inheritable, on purpose
  struct stat st;
  ASSERT_EQ(0, fstat(leak[0], &st));
  std::string leak_name = "pipe:[" + std::to_string(st.st_ino) + "]";
  size_t big = (size_t)128 << 20;
  char* mem = static_cast<char*>(malloc(big));
  ASSERT_NE(nullptr, mem);
  memset(mem, 1, big);
  g_marker = 77;
  int hold[2], release[2];
  ASSERT_EQ(0, pipe(hold));
  ASSERT_EQ(0, pipe(release));
  pthread_t holder;
  int holder_fds[3] = {hold[0], hold[1], release[0]};
  ASSERT_EQ(0, pthread_create(
                   &holder, nullptr,
                   [](void* arg) -> void* {
                     int* fds = static_cast<int*>(arg);
                     pthread_mutex_lock(&g_held);
                     char c = 1;
                     if (write(fds[1], &c, 1) != 1) abort();
                     if (read(fds[2], &c, 1) != 1) abort();
                     pthread_mutex_unlock(&g_held);
                     return nullptr;
                   },
                   holder_fds));
  char c;
  ASSERT_EQ(1, read(hold[0], &c, 1));  // the mutex is held now
  for (mproc_start_method_t m :
       {MPROC_START_FORKSERVER, MPROC_START_SPAWN, MPROC_START_FORK}) {
    SCOPED_TRACE(m);
    mproc_pool_t* pool = New(m);
    ASSERT_NE(nullptr, pool);
    mproc_value_t* r = Apply(pool, "pool_inspect");
    ASSERT_NE(nullptr, r);
    int marker, lock_free, pid;
    const char *fds, *rss;
    ASSERT_EQ(0, mproc_unpack_values(r, nullptr, nullptr, 0, "iissi", &marker,
                                     &lock_free, &fds, &rss, &pid));
    std::vector<std::string> open = Words(fds);
    bool has_leak = false;
    for (const std::string& f : open) has_leak |= f == leak_name;
    long rss_kb = atol(rss);
    if (m != MPROC_START_FORK) {
      EXPECT_EQ(0, marker);
      EXPECT_TRUE(lock_free);
      EXPECT_FALSE(has_leak) << fds;
      EXPECT_EQ(2u, open.size()) << fds;  // its task socket and answer pipe
      EXPECT_LT(rss_kb, 64 << 10);
    } else {
      EXPECT_EQ(77, marker);
      EXPECT_FALSE(lock_free);  // fork's known hazard, which fresh avoids
      EXPECT_TRUE(has_leak) << fds;
      EXPECT_GT(rss_kb, 100 << 10);
    }
    mproc_value_free(r);
    Finish(pool);
  }
  ASSERT_EQ(1, write(release[1], &c, 1));
  pthread_join(holder, nullptr);
  g_marker = 0;
  free(mem);
  for (int fd : {leak[0], leak[1], hold[0], hold[1], release[0], release[1]})
    close(fd);
}

// The initializer crosses exec by name, its arguments encoded.
TEST_F(FreshPool, InitializerRunsByNameWithItsArguments) {
  mproc_value_t* initargs;
  ASSERT_EQ(0, mproc_pack(&initargs, "(ii)", 6, 7));
  for (mproc_start_method_t m : kFreshPool) {
    SCOPED_TRACE(m);
    mproc_pool_t* pool = New(m, 2, pool_init, initargs);
    ASSERT_NE(nullptr, pool);
    mproc_value_t* r = Apply(pool, "pool_init_value");
    int v = 0, pid = 0;
    ASSERT_EQ(0, mproc_unpack_values(r, nullptr, nullptr, 0, "ii", &v, &pid));
    EXPECT_EQ(42, v);
    mproc_value_free(r);
    Finish(pool);
  }
  mproc_value_free(initargs);
}

// An initializer that is not registered cannot cross exec: refused at once,
// naming it; one registered after main (in the parent only) breaks the pool
// with a message naming it.
TEST_F(FreshPool, UnregisteredInitializerIsRefusedOrBreaksThePoolNamingIt) {
  for (mproc_start_method_t m : kFreshPool) {
    SCOPED_TRACE(m);
    mproc_pool_opts_t o = {};
    o.workers = 1;
    o.start_method = m;
    o.initializer = UnregisteredInit;
    mproc_pool_t* pool = nullptr;
    EXPECT_EQ(MPROC_ENOTARGET, mproc_pool_new(&pool, &o));
    EXPECT_EQ(nullptr, pool);
    EXPECT_NE(nullptr, strstr(mproc_last_error(), "initializer"))
        << mproc_last_error();
    EXPECT_NE(nullptr, strstr(mproc_last_error(), "not registered"))
        << mproc_last_error();
    EXPECT_NE(nullptr, strstr(mproc_last_error(),
                              m == MPROC_START_SPAWN ? "spawn" : "forkserver"))
        << mproc_last_error();
  }
  ASSERT_EQ(0, mproc_target_register("late_init", LateInit));
  for (mproc_start_method_t m : kFreshPool) {
    SCOPED_TRACE(m);
    mproc_pool_t* pool = New(m, 1, LateInit);
    ASSERT_NE(nullptr, pool);
    mproc_value_t* result = nullptr;
    mproc_task_error_t err = {};
    EXPECT_EQ(MPROC_EBROKEN, mproc_pool_apply(pool, "spawn_add", nullptr,
                                              nullptr, &result, &err));
    EXPECT_NE(nullptr, strstr(err.message, "'late_init'")) << err.message;
    EXPECT_NE(nullptr, strstr(err.message, "not registered")) << err.message;
    mproc_pool_free(pool);
  }
}

// kill -9 of a worker: its task fails, a fresh worker replaces it.
TEST_F(FreshPool, KilledWorkerIsReplaced) {
  for (mproc_start_method_t m : kFreshPool) {
    SCOPED_TRACE(m);
    mproc_pool_t* pool = New(m);
    ASSERT_NE(nullptr, pool);
    char path[] = "/tmp/mproc_fresh_pool_XXXXXX";
    int tmp = mkstemp(path);
    ASSERT_GE(tmp, 0);
    close(tmp);
    mproc_value_t* args;
    ASSERT_EQ(0, mproc_pack(&args, "(s)", path));
    mproc_future_t* f;
    ASSERT_EQ(0, mproc_pool_submit(pool, "pool_pid_then_sleep", args, nullptr,
                                   &f));
    mproc_value_free(args);
    pid_t pid = 0;
    double until = mproc_test::Now() + 10;
    while (mproc_test::Now() < until && pid == 0) {
      FILE* pf = fopen(path, "r");
      int got = 0;
      if (pf != nullptr) {
        if (fscanf(pf, "%d", &got) != 1) got = 0;
        fclose(pf);
      }
      pid = got;
      if (pid == 0) usleep(5000);
    }
    unlink(path);
    ASSERT_GT(pid, 0);  // inside the task now
    ASSERT_EQ(0, kill(pid, SIGKILL));
    ASSERT_EQ(0, mproc_future_wait(f, 20));
    mproc_task_error_t err = {};
    EXPECT_EQ(MPROC_EWORKER, mproc_future_error(f, &err));
    EXPECT_EQ(SIGKILL, err.signal) << err.message;
    mproc_future_free(f);
    mproc_value_t* r = Apply(pool, "pool_inspect");
    ASSERT_NE(nullptr, r);
    int marker, lock_free, pid2;
    const char *fds, *rss;
    ASSERT_EQ(0, mproc_unpack_values(r, nullptr, nullptr, 0, "iissi", &marker,
                                     &lock_free, &fds, &rss, &pid2));
    EXPECT_NE(pid, pid2);
    mproc_value_free(r);
    Finish(pool);
  }
}

}  // namespace


namespace {

pid_t PpidOf(pid_t pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE* f = fopen(path, "r");
  if (f == nullptr) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char* close_paren = strrchr(buf, ')');
  char state;
  int ppid = 0;
  if (close_paren == nullptr ||
      sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2)
    return 0;
  return state == 'Z' ? 0 : ppid;  // a zombie counts as gone
}

bool Gone(pid_t pid) { return PpidOf(pid) == 0; }

// A daemonic spawn child dies with its parent, as a forked one does.
TEST_F(StartMethod, DaemonicSpawnChildDiesWithItsParent) {
  int pids[2];
  ASSERT_EQ(0, pipe(pids));
  int status = mproc_test::RunInChild([&]() -> int {
    close(pids[0]);
    mproc_process_opts_t o = {};
    o.target_name = "spawn_sleep";
    o.daemon = true;
    o.start_method = MPROC_START_SPAWN;
    mproc_process_t* p;
    if (mproc_process_new(&p, &o) < 0 || mproc_process_start(p) < 0) return 10;
    pid_t pid = mproc_process_pid(p);
    if (write(pids[1], &pid, sizeof pid) != sizeof pid) return 20;
    return 0;  // _exit: the daemon is not terminated by an exit hook
  });
  close(pids[1]);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(0, WEXITSTATUS(status));
  pid_t got = 0;
  ASSERT_EQ((ssize_t)sizeof got, read(pids[0], &got, sizeof got));
  close(pids[0]);
  ASSERT_GT(got, 0);
  double until = mproc_test::Now() + 10;
  while (mproc_test::Now() < until && !Gone(got)) usleep(10000);
  EXPECT_TRUE(Gone(got)) << "the daemonic spawn child outlived its parent";
}

// The parent dies without joining: the server kills its daemonic child,
// lets the other finish, and leaves — nothing is left running.
TEST_F(StartMethod, ForkserverLeavesNoOrphansWhenTheParentDies) {
  int pids[2];
  ASSERT_EQ(0, pipe(pids));
  int status = mproc_test::RunInChild([&]() -> int {
    close(pids[0]);
    pid_t out[3] = {0, 0, 0};
    for (int i = 0; i < 2; i++) {
      mproc_process_opts_t o = {};
      o.target_name = i == 0 ? "spawn_sleep" : "spawn_exit3";
      o.daemon = i == 0;
      o.start_method = MPROC_START_FORKSERVER;
      mproc_process_t* p;
      if (mproc_process_new(&p, &o) < 0 || mproc_process_start(p) < 0)
        return 10 + i;
      out[i] = mproc_process_pid(p);
    }
    out[2] = PpidOf(out[0]);  // the server
    if (write(pids[1], out, sizeof out) != sizeof out) return 20;
    return 0;  // _exit: no joins; the control socket closes
  });
  close(pids[1]);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(0, WEXITSTATUS(status));
  pid_t got[3];
  ASSERT_EQ((ssize_t)sizeof got, read(pids[0], got, sizeof got));
  close(pids[0]);
  ASSERT_GT(got[2], 0);
  double until = mproc_test::Now() + 10;
  while (mproc_test::Now() < until &&
         !(Gone(got[0]) && Gone(got[1]) && Gone(got[2])))
    usleep(10000);
  EXPECT_TRUE(Gone(got[0])) << "the daemonic child outlived its parent";
  EXPECT_TRUE(Gone(got[1]));
  EXPECT_TRUE(Gone(got[2])) << "the fork server outlived its parent";
}

// The parent dies without closing its fresh pool: its fork server and
// worker go with it (PR_SET_PDEATHSIG across exec, and the server's
// control socket at end of file).
TEST_F(StartMethod, FreshPoolLeavesNoOrphansWhenTheParentDies) {
  for (mproc_start_method_t m : kFreshPool) {
    SCOPED_TRACE(m);
    int pids[2];
    ASSERT_EQ(0, pipe(pids));
    int status = mproc_test::RunInChild([&]() -> int {
      close(pids[0]);
      mproc_pool_opts_t o = {};
      o.workers = 1;
      o.start_method = m;
      mproc_pool_t* pool;
      if (mproc_pool_new(&pool, &o) < 0) return 10;
      mproc_future_t* f;
      if (mproc_pool_submit(pool, "spawn_sleep", nullptr, nullptr, &f) < 0)
        return 11;
      pid_t out[2] = {0, 0};
      for (int i = 0; i < 1000 && out[0] == 0; i++) {
        mproc_worker_stats_t s;
        size_t n;
        if (mproc_pool_stats(pool, &s, 1, &n) < 0) return 12;
        out[0] = s.pid;
        usleep(5000);
      }
      out[1] = PpidOf(out[0]);  // the server
      if (write(pids[1], out, sizeof out) != sizeof out) return 20;
      return 0;  // _exit: no close, no free
    });
    close(pids[1]);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(0, WEXITSTATUS(status));
    pid_t got[2];
    ASSERT_EQ((ssize_t)sizeof got, read(pids[0], got, sizeof got));
    close(pids[0]);
    ASSERT_GT(got[0], 0);
    ASSERT_GT(got[1], 0);
    double until = mproc_test::Now() + 10;
    while (mproc_test::Now() < until && !(Gone(got[0]) && Gone(got[1])))
      usleep(10000);
    EXPECT_TRUE(Gone(got[0])) << "the worker outlived its pool's process";
    EXPECT_TRUE(Gone(got[1])) << "the fork server outlived its pool's process";
  }
}

}  // namespace
