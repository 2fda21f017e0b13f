/* Limits: see fdlimit.h. */
#include "core/fdlimit.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/base/error_detail.h"
#include "core/registry.h"
#include "multiproc/error.h"

/* The soft limit before multiproc raised it; 0 while it has not. Read in
 * children, which inherit it with the rest of the parent's memory. */
static rlim_t original_soft;
static pthread_mutex_t raise_lock = PTHREAD_MUTEX_INITIALIZER;

bool mproc__fd_limit_retry(int rc) {
  if (rc != MPROC_EMFILE) return false;
  pthread_mutex_lock(&raise_lock);
  struct rlimit rl;
  bool raised = false;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rlim_t before = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0) {
      if (original_soft == 0) original_soft = before;
      raised = true;
    }
  }
  pthread_mutex_unlock(&raise_lock);
  return raised;
}

void mproc__fd_limit_restore(void) {
  if (original_soft == 0) return;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rl.rlim_cur = original_soft;
  (void)setrlimit(RLIMIT_NOFILE, &rl);
}

static long count_open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL) return -1;
  long n = 0;
  while (readdir(d) != NULL) n++;
  closedir(d);
  return n > 3 ? n - 3 : n; /* ".", "..", and the directory's own */
}

static long read_long(const char *path) {
  FILE *f = fopen(path, "re");
  if (f == NULL) return -1;
  long v = -1;
  if (fscanf(f, "%ld", &v) != 1) v = -1;
  fclose(f);
  return v;
}

/* Tasks on the whole system, from /proc/loadavg ("0.1 0.2 0.3 2/431 ..."). */
static long system_tasks(void) {
  FILE *f = fopen("/proc/loadavg", "re");
  if (f == NULL) return -1;
  long running = 0, total = -1;
  double a, b, c;
  if (fscanf(f, "%lf %lf %lf %ld/%ld", &a, &b, &c, &running, &total) != 5)
    total = -1;
  fclose(f);
  return total;
}

int mproc__fail_limit(int rc, const char *doing) {
  if (rc == MPROC_EMFILE || rc == MPROC_ENFILE) {
    struct rlimit rl = {0, 0};
    getrlimit(RLIMIT_NOFILE, &rl);
    size_t objects = 0;
    size_t held = mproc__registry_fds(&objects);
    if (rc == MPROC_ENFILE)
      return mproc__fail(rc,
                         "cannot %s: the system's table of open files is full "
                         "(fs.file-max); multiproc holds %zu descriptors for "
                         "%zu live objects",
                         doing, held, objects);
    return mproc__fail(
        rc,
        "cannot %s: out of file descriptors: %ld open, limit %llu (hard "
        "limit %llu, already raised to it); multiproc holds %zu of them for "
        "%zu live objects (a Process child holds 2, a pool worker 3); raise "
        "the hard limit (ulimit -Hn) or end some children",
        doing, count_open_fds(), (unsigned long long)rl.rlim_cur,
        (unsigned long long)rl.rlim_max, held, objects);
  }
  if (rc == MPROC_EAGAIN) {
    struct rlimit nproc = {0, 0};
    getrlimit(RLIMIT_NPROC, &nproc);
    char limit[32];
    if (nproc.rlim_cur == RLIM_INFINITY)
      snprintf(limit, sizeof limit, "unlimited");
    else
      snprintf(limit, sizeof limit, "%llu", (unsigned long long)nproc.rlim_cur);
    return mproc__fail(rc,
                       "cannot %s: fork refused: a process limit is reached — "
                       "this user's RLIMIT_NPROC (%s), the system's pid_max "
                       "(%ld) or threads-max (%ld); %ld tasks run on the "
                       "system",
                       doing, limit, read_long("/proc/sys/kernel/pid_max"),
                       read_long("/proc/sys/kernel/threads-max"),
                       system_tasks());
  }
  if (rc == MPROC_ENOMEM)
    return mproc__fail(rc,
                       "cannot %s: out of memory (RLIMIT_AS, RLIMIT_DATA, or "
                       "the system's memory and overcommit policy)",
                       doing);
  return mproc__fail(rc, "cannot %s: %s", doing, mproc_strerror(rc));
}
