// Shared memory (multiproc/shm.h): anonymous memory shared with children,
// named segments for unrelated processes (and never leaked by a test),
// Value and Array with and without their lock.
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "multiproc.h"
#include "tests/ipc/ipc_util.h"
#include "tests/support/fork_support.h"

namespace {

using mproc_test::CountShm;
using mproc_test::ExitedZero;
using mproc_test::Reap;
using mproc_test::Spawn;

// Named segments of these tests are "mproc-test-<pid>-<n>": SetUp removes
// those of test processes that no longer exist (killed before cleaning),
// TearDown this process's own, whatever the test did.
class Shm : public mproc_test::IpcTest {
 protected:
  void SetUp() override {
    IpcTest::SetUp();
    Sweep(false);
  }
  void TearDown() override {
    Sweep(true);
    EXPECT_EQ(0, CountShm(Prefix()));
    IpcTest::TearDown();
  }
  static std::string Prefix() {
    return "mproc-test-" + std::to_string(getpid()) + "-";
  }
  std::string Name() { return Prefix() + std::to_string(++n_); }

 private:
  static void Sweep(bool mine) {
    DIR* d = opendir("/dev/shm");
    if (d == nullptr) return;
    std::vector<std::string> doomed;
    while (struct dirent* e = readdir(d)) {
      if (strncmp(e->d_name, "mproc-test-", 11) != 0) continue;
      pid_t pid = atoi(e->d_name + 11);
      if (mine ? pid == getpid() : (pid > 0 && kill(pid, 0) != 0))
        doomed.push_back(e->d_name);
    }
    closedir(d);
    for (const std::string& s : doomed) shm_unlink(("/" + s).c_str());
  }
  int n_ = 0;
};

TEST_F(Shm, AnonymousMemoryIsSharedWithChildren) {
  mproc_shm_t* s;
  ASSERT_EQ(0, mproc_shm_new(&s, 10000));
  EXPECT_EQ(10000u, mproc_shm_size(s));
  EXPECT_EQ(nullptr, mproc_shm_name(s));
  EXPECT_EQ(MPROC_EINVAL, mproc_shm_unlink(s));
  char* p = static_cast<char*>(mproc_shm_buf(s));
  EXPECT_EQ(0, p[9999]);  // zeroed
  pid_t pid = Spawn([&] {
    strcpy(p, "written by the child");
    mproc_shm_close(s);  // the child's view only
    return 0;
  });
  EXPECT_TRUE(ExitedZero(Reap(pid)));
  EXPECT_STREQ("written by the child", p);
  EXPECT_EQ(0, mproc_shm_close(s));
  EXPECT_EQ(MPROC_EINVAL, mproc_shm_new(&s, 0));
}

TEST_F(Shm, NamedSegmentForUnrelatedProcesses) {
  std::string name = Name();
  mproc_shm_t* s;
  ASSERT_EQ(0, mproc_shm_create(&s, name.c_str(), 4096));
  EXPECT_EQ(name, mproc_shm_name(s));
  EXPECT_EQ(1, CountShm(name));
  strcpy(static_cast<char*>(mproc_shm_buf(s)), "hello, unrelated");
  // An unrelated program reads it by name.
  int status;
  std::string out = mproc_test::RunCapture(
      {"/bin/sh", "-c", "tr -d '\\000' < /dev/shm/" + name}, &status);
  EXPECT_EQ(0, status);
  EXPECT_EQ("hello, unrelated", out);
  // Another process attaches by name ("/name" works too) and writes.
  pid_t pid = Spawn([&] {
    mproc_shm_t* other;
    if (mproc_shm_attach(&other, ("/" + name).c_str()) != 0) return 1;
    if (mproc_shm_size(other) != 4096) return 2;
    strcpy(static_cast<char*>(mproc_shm_buf(other)) + 100, "answer");
    return mproc_shm_close(other);
  });
  EXPECT_TRUE(ExitedZero(Reap(pid)));
  EXPECT_STREQ("answer", static_cast<char*>(mproc_shm_buf(s)) + 100);
  EXPECT_EQ(0, mproc_shm_unlink(s));
  EXPECT_EQ(0, CountShm(name));
  EXPECT_EQ(MPROC_ENOENT, mproc_shm_unlink(s));
  mproc_shm_t* gone;
  EXPECT_EQ(MPROC_ENOENT, mproc_shm_attach(&gone, name.c_str()));
  // Unlinked, the memory lives on for its holders.
  EXPECT_STREQ("answer", static_cast<char*>(mproc_shm_buf(s)) + 100);
  mproc_shm_close(s);
}

TEST_F(Shm, NamesAreCheckedAndNeverReused) {
  std::string name = Name();
  mproc_shm_t *a, *b;
  ASSERT_EQ(0, mproc_shm_create(&a, name.c_str(), 100));
  EXPECT_EQ(MPROC_EEXIST, mproc_shm_create(&b, name.c_str(), 100));
  for (const char* bad : {"", "/", "a/b", "..", "sp ace", "é"})
    EXPECT_EQ(MPROC_EINVAL, mproc_shm_create(&b, bad, 100)) << bad;
  EXPECT_EQ(MPROC_EINVAL, mproc_shm_create(&b, "sp ace", 100));
  EXPECT_STREQ(
      "mproc_shm_create: name 'sp ace': ' ' is not allowed (letters, digits, "
      "'.', '_', '-')",
      mproc_last_error());
  EXPECT_EQ(MPROC_EINVAL, mproc_shm_create(&b, Name().c_str(), 0));
  EXPECT_STREQ("mproc_shm_create: size must be 1 or more", mproc_last_error());
  EXPECT_EQ(MPROC_EINVAL, mproc_shm_create(&b, std::string(201, 'x').c_str(), 1));
  EXPECT_EQ(MPROC_EINVAL, mproc_shm_create(&b, Name().c_str(), 0));
  EXPECT_EQ(MPROC_EINVAL, mproc_shm_attach(&b, nullptr));
  // Generated names are unique, and follow the documented form.
  mproc_shm_t *g1, *g2;
  ASSERT_EQ(0, mproc_shm_create(&g1, nullptr, 10));
  ASSERT_EQ(0, mproc_shm_create(&g2, nullptr, 10));
  std::string n1 = mproc_shm_name(g1), n2 = mproc_shm_name(g2);
  EXPECT_NE(n1, n2);
  EXPECT_EQ(0u, n1.find("mproc-" + std::to_string(getpid()) + "-"));
  EXPECT_EQ(0, mproc_shm_unlink(g1));
  EXPECT_EQ(0, mproc_shm_unlink(g2));
  mproc_shm_close(g1);
  mproc_shm_close(g2);
  EXPECT_EQ(0, mproc_shm_unlink(a));
  mproc_shm_close(a);
}

TEST_F(Shm, NothingLeaksAfterClose) {
  int fds = mproc_test::CountOpenFds();
  for (int i = 0; i < 100; i++) {
    mproc_shm_t* s;
    ASSERT_EQ(0, mproc_shm_create(&s, nullptr, 1 << 16));
    mproc_shm_t* t;
    ASSERT_EQ(0, mproc_shm_attach(&t, mproc_shm_name(s)));
    ASSERT_EQ(0, mproc_shm_unlink(s));
    mproc_shm_close(t);
    mproc_shm_close(s);
    ASSERT_EQ(0, mproc_shm_new(&s, 1 << 16));
    mproc_shm_close(s);
  }
  EXPECT_EQ(fds, mproc_test::CountOpenFds());
  EXPECT_EQ(0, CountShm("mproc-" + std::to_string(getpid()) + "-"));
}

TEST_F(Shm, ArrayOfEveryTypecode) {
  const char* codes = "cbBhHiIlLqQfd";
  for (const char* c = codes; *c; c++) {
    mproc_array_t* a;
    ASSERT_EQ(0, mproc_array_new(&a, *c, 10, true)) << *c;
    EXPECT_EQ(10u, mproc_array_len(a));
    EXPECT_EQ(*c, mproc_array_typecode(a));
    EXPECT_NE(nullptr, mproc_array_lock(a));
    EXPECT_EQ(0u, reinterpret_cast<uintptr_t>(mproc_array_data(a)) % 16);
    EXPECT_EQ(0, mproc_array_set_int(a, 3, 100)) << *c;
    int64_t i;
    EXPECT_EQ(0, mproc_array_get_int(a, 3, &i));
    EXPECT_EQ(100, i);
    double d;
    EXPECT_EQ(0, mproc_array_get_float(a, 3, &d));
    EXPECT_EQ(100.0, d);
    EXPECT_EQ(MPROC_ERANGE, mproc_array_get_int(a, 10, &i));
    mproc_array_free(a);
  }
  mproc_array_t* a;
  ASSERT_EQ(0, mproc_array_new(&a, 'B', 2, false));
  EXPECT_EQ(nullptr, mproc_array_lock(a));
  EXPECT_EQ(MPROC_ERANGE, mproc_array_set_int(a, 0, 256));
  EXPECT_EQ(MPROC_ERANGE, mproc_array_set_int(a, 0, -1));
  EXPECT_EQ(0, mproc_array_set_float(a, 1, 7.9));
  int64_t i;
  EXPECT_EQ(0, mproc_array_get_int(a, 1, &i));
  EXPECT_EQ(7, i);
  mproc_array_free(a);
  ASSERT_EQ(0, mproc_array_new(&a, 'd', 3, true));
  EXPECT_EQ(sizeof(double), mproc_array_itemsize(a));
  static_cast<double*>(mproc_array_data(a))[2] = 2.5;
  double d;
  EXPECT_EQ(0, mproc_array_get_float(a, 2, &d));
  EXPECT_EQ(2.5, d);
  EXPECT_EQ(0, mproc_array_set_float(a, 0, NAN));
  mproc_lock_free(mproc_array_lock(a));  // the array's: ignored
  mproc_array_free(a);
  EXPECT_EQ(MPROC_EINVAL, mproc_array_new(&a, 'z', 1, true));
  EXPECT_EQ(MPROC_EINVAL, mproc_array_new(&a, 'i', 0, true));
  EXPECT_EQ(MPROC_EINVAL, mproc_array_new(&a, 'q', SIZE_MAX / 4, true));
}

// Python's Value('i') counter: four processes add 10,000 each. Under the
// value's lock the total is exactly 40,000; with per-access locking only
// (get, then set) it can only lose updates, never gain.
TEST_F(Shm, CounterUnderTheLockIsExact) {
  for (int locked = 1; locked >= 0; locked--) {
    mproc_array_t* v;
    ASSERT_EQ(0, mproc_array_new(&v, 'i', 1, true));
    mproc_barrier_t* start;
    ASSERT_EQ(0, mproc_barrier_new(&start, 4, nullptr));
    std::vector<pid_t> pids;
    for (int p = 0; p < 4; p++)
      pids.push_back(Spawn([&] {
        mproc_lock_t* l = mproc_array_lock(v);
        if (mproc_barrier_wait(start, 30) < 0) return 1;
        for (int k = 0; k < 10000; k++) {
          if (locked && mproc_lock_acquire(l, -1) != 0) return 2;
          int64_t x;
          if (mproc_array_get_int(v, 0, &x) != 0) return 3;
          if (mproc_array_set_int(v, 0, x + 1) != 0) return 4;
          if (locked && mproc_lock_release(l) != 0) return 5;
        }
        return 0;
      }));
    for (pid_t p : pids) EXPECT_TRUE(ExitedZero(Reap(p)));
    int64_t total;
    ASSERT_EQ(0, mproc_array_get_int(v, 0, &total));
    if (locked)
      EXPECT_EQ(40000, total);
    else
      EXPECT_LE(total, 40000);
    printf("[shm] counter %s the lock: %lld\n", locked ? "under" : "without",
           (long long)total);
    mproc_barrier_free(start);
    mproc_array_free(v);
  }
}

// The holder of an array's lock dies: the next access goes through and
// says so.
TEST_F(Shm, ArrayAccessAfterTheLockHolderDied) {
  mproc_array_t* v;
  ASSERT_EQ(0, mproc_array_new(&v, 'q', 1, true));
  mproc_event_t* held;
  ASSERT_EQ(0, mproc_event_new(&held));
  pid_t pid = Spawn([&] {
    mproc_lock_acquire(mproc_array_lock(v), -1);
    mproc_event_set(held);
    pause();
    return 0;
  });
  ASSERT_EQ(0, mproc_event_wait(held, 10));
  kill(pid, SIGKILL);
  Reap(pid);
  EXPECT_EQ(MPROC_EOWNERDEAD, mproc_array_set_int(v, 0, 5));
  int64_t x;
  EXPECT_EQ(0, mproc_array_get_int(v, 0, &x));
  EXPECT_EQ(5, x);
  mproc_event_free(held);
  mproc_array_free(v);
}

}  // namespace
