/* Where multiproc's start+join time goes, next to the raw fork/pipe loop of
 * the process rows of //bench:all. Two tools in one run, both interleaved over rounds:
 *
 * 1. Timelines. Instants of one iteration, relative to its start, as
 *    medians: for raw, fork() back in the parent, the child's first
 *    instruction (a pthread_atfork child handler), the child holding its
 *    payload, waitpid() back; for multiproc the same fork instants, then
 *    mproc_process_timing's entered/returned/reaped and the return of each
 *    call (new, start, join, close).
 *
 * 2. Ablation. The raw loop with multiproc's extra steps added one at a
 *    time (each an imitation of what core/process.c, child.c and reap.c
 *    do), then all together, next to multiproc itself. The median cost of
 *    each step is its median minus raw's.
 *
 *   bazel run //bench:process_steps -- [--iters N] [--rounds R]
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/pidfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "multiproc.h"
/* Only to build the exact call frame: */
#include "serialization/frame_internal.h"
#include "serialization/message.h"

static void die(const char *what, const char *why) {
  fprintf(stderr, "process_steps: %s: %s\n", what, why);
  exit(1);
}

static void check(int rc, const char *what) {
  if (rc < 0) die(what, mproc_strerror(rc));
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Instants written by children, in a page shared across fork. */
typedef struct {
  volatile uint64_t child0; /* first thing after fork, in the child */
  volatile uint64_t got;    /* raw child: payload read */
} shared_t;
static shared_t *shared;

static void atfork_child(void) { shared->child0 = now_ns(); }

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* The q-quantile of n values, in microseconds; sorts v. */
static double quantile_us(uint64_t *v, size_t n, double q) {
  qsort(v, n, sizeof *v, cmp_u64);
  size_t i = (size_t)(q * (double)(n - 1) + 0.5);
  return (double)v[i] / 1e3;
}

static double median_us(uint64_t *v, size_t n) {
  return quantile_us(v, n, 0.5);
}

static void reap(pid_t pid, bool with_rusage) {
  int status;
  struct rusage ru;
  pid_t r;
  do {
    r = wait4(pid, &status, 0, with_rusage ? &ru : NULL);
  } while (r < 0 && errno == EINTR);
  if (r < 0) die("wait4", strerror(errno));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    die("child", "did not exit with 0");
}

static void read_exact(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) _exit(2);
    got += (size_t)r;
  }
}

static void write_exact(int fd, const void *buf, size_t n, bool sock) {
  size_t put = 0;
  while (put < n) {
    ssize_t w = sock ? send(fd, (const char *)buf + put, n - put, MSG_NOSIGNAL)
                     : write(fd, (const char *)buf + put, n - put);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) die("write", strerror(errno));
    put += (size_t)w;
  }
}

/* ---- ablation: raw plus multiproc's steps */

enum {
  X_SOCKET = 1 << 0,   /* socketpair + sendmsg instead of pipe2 + write */
  X_SIGMASK = 1 << 1,  /* block all signals across fork, child restores */
  X_SIGRESET = 1 << 2, /* child: reset_signal_handlers (~60 sigaction) */
  X_PIDFD = 1 << 3,    /* pidfd_open + ppoll before wait4(rusage) */
  X_REPORTS = 1 << 4,  /* child: 2 report frames back; parent drains */
  X_FRAME = 1 << 5,    /* child: header read + malloc'd payload read */
  X_LIBC = 1 << 6,     /* child: registry/identity work: malloc, snprintf,
                          strdup, clock_gettime, fflush(NULL) */
  X_GETPID = 1 << 7,   /* parent: 7 getpid() (owner checks) */
  X_ALL = (1 << 8) - 1,
};

typedef struct {
  const char *name;
  int flags; /* -1: multiproc itself */
} variant_t;

static const variant_t variants[] = {
    {"raw", 0},
    {"+socketpair/sendmsg", X_SOCKET},
    {"+sigmask around fork", X_SIGMASK},
    {"+child sigaction reset", X_SIGRESET},
    {"+pidfd_open+ppoll+rusage", X_PIDFD},
    {"+reports back (2 frames)", X_SOCKET | X_REPORTS},
    {"+framed read into malloc", X_FRAME},
    {"+child libc work", X_LIBC},
    {"+7 getpid", X_GETPID},
    {"raw+all of the above", X_ALL},
    {"multiproc", -1},
};
#define NV (sizeof variants / sizeof variants[0])

static void child_sigreset(void) {
  struct sigaction dfl, old;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    if (sigaction(sig, &dfl, &old) != 0) continue;
    if (old.sa_handler == SIG_IGN) sigaction(sig, &old, NULL);
  }
}

static void child_libc(void) {
  char *id = malloc(32);
  char *name = strdup("Process-123");
  if (id == NULL || name == NULL) _exit(3);
  snprintf(id, 32, "%s%s%u", "", "", 123u);
  (void)now_ns();
  fflush(NULL);
  free(id);
  free(name);
}

static void ablate_once(int x, const uint8_t *frame, size_t len) {
  int fds[2];
  bool sock = x & X_SOCKET;
  if (sock ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds)
           : pipe2(fds, O_CLOEXEC))
    die("pipe", strerror(errno));
  /* pipe2: fds[0] read, fds[1] write. socketpair: parent 0, child 1. */
  int parent_fd = sock ? fds[0] : fds[1];
  int child_fd = sock ? fds[1] : fds[0];
  sigset_t all, old;
  if (x & X_SIGMASK) {
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
  }
  if (x & X_GETPID) (void)syscall(SYS_getpid);
  pid_t pid = fork();
  if (pid < 0) die("fork", strerror(errno));
  if (pid == 0) {
    if (x & X_SIGRESET) child_sigreset();
    close(parent_fd);
    if (x & X_LIBC) child_libc();
    if (x & X_SIGMASK) pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (x & X_FRAME) {
      uint8_t hdr[4];
      read_exact(child_fd, hdr, 4);
      size_t want = mproc__frame_get_header(hdr);
      uint8_t *buf = malloc(want + 1);
      if (buf == NULL) _exit(3);
      read_exact(child_fd, buf, want);
      free(buf);
    } else {
      uint8_t buf[4096];
      read_exact(child_fd, buf, len);
    }
    if (x & X_REPORTS) {
      uint8_t rep[17] = {13};
      write_exact(child_fd, rep, sizeof rep, true);
      write_exact(child_fd, rep, sizeof rep, true);
    }
    _exit(0);
  }
  if (x & X_SIGMASK) pthread_sigmask(SIG_SETMASK, &old, NULL);
  close(child_fd);
  int pidfd = -1;
  if (x & X_PIDFD) {
    pidfd = pidfd_open(pid, 0);
    if (pidfd < 0) die("pidfd_open", strerror(errno));
  }
  write_exact(parent_fd, frame, len, sock);
  if (x & X_GETPID)
    for (int i = 0; i < 6; i++) (void)syscall(SYS_getpid);
  if (x & X_PIDFD) {
    struct pollfd pfd = {pidfd, POLLIN, 0};
    while (ppoll(&pfd, 1, NULL, NULL) < 0)
      if (errno != EINTR) die("ppoll", strerror(errno));
  }
  reap(pid, x & X_PIDFD);
  if (x & X_REPORTS) {
    uint8_t buf[4096];
    while (recv(parent_fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
  }
  close(parent_fd);
  if (pidfd >= 0) close(pidfd);
}

/* ---- multiproc */

static int bench_target(mproc_call_t *call) {
  const char *name;
  int age;
  int rc = mproc_unpack(call, "name=s age=i **", &name, &age);
  if (rc < 0) return rc;
  return strcmp(name, "test") == 0 && age == 18 ? 0 : 1;
}

enum { M_CHILD0, M_ENTERED, M_STARTED, M_RETURNED, M_REAPED, M_JOINED,
       M_NEW, M_CLOSED, M_N };
static const char *const m_names[M_N] = {
    "child runs (atfork)", "child entered target", "start() returned",
    "child returned",      "reaped (wait4)",       "join() returned",
    "new() returned",      "close() returned"};

static void mproc_once(const mproc_process_opts_t *opts, uint64_t *at) {
  uint64_t t0 = now_ns();
  mproc_process_t *p;
  check(mproc_process_new(&p, opts), "new");
  at[M_NEW] = now_ns() - t0;
  check(mproc_process_start(p), "start");
  at[M_STARTED] = now_ns() - t0;
  check(mproc_process_join(p, -1), "join");
  at[M_JOINED] = now_ns() - t0;
  int code = -1;
  if (mproc_process_exitcode(p, &code) != 1 || code != 0)
    die("multiproc child", "did not exit with 0");
  mproc_timing_t t;
  check(mproc_process_timing(p, &t), "timing");
  check(mproc_process_close(p), "close");
  at[M_CLOSED] = now_ns() - t0;
  at[M_CHILD0] = shared->child0 - t0;
  at[M_ENTERED] = t.entered_ns - t0;
  at[M_RETURNED] = t.returned_ns - t0;
  at[M_REAPED] = t.reaped_ns - t0;
}

enum { R_FORKED, R_CHILD0, R_GOT, R_REAPED, R_N };
static const char *const r_names[R_N] = {"fork() back in parent",
                                         "child runs (atfork)",
                                         "child read payload",
                                         "waitpid() returned"};

static void raw_timeline_once(const uint8_t *frame, size_t len, uint64_t *at) {
  uint64_t t0 = now_ns();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) die("pipe2", strerror(errno));
  pid_t pid = fork();
  if (pid < 0) die("fork", strerror(errno));
  if (pid == 0) {
    close(fds[1]);
    uint8_t buf[4096];
    read_exact(fds[0], buf, len);
    shared->got = now_ns();
    _exit(0);
  }
  at[R_FORKED] = now_ns() - t0;
  close(fds[0]);
  write_exact(fds[1], frame, len, false);
  close(fds[1]);
  reap(pid, false);
  at[R_REAPED] = now_ns() - t0;
  at[R_CHILD0] = shared->child0 - t0;
  at[R_GOT] = shared->got - t0;
}

static size_t parse_count(const char *flag, const char *s) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (s[0] == '-' || *end != '\0' || errno != 0 || v == 0 || v > 1000000)
    die(flag, "expects a positive count");
  return (size_t)v;
}

int main(int argc, char **argv) {
  size_t iters = 1000, rounds = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--iters") == 0)
      iters = parse_count(argv[i], argv[i + 1]);
    else if (strcmp(argv[i], "--rounds") == 0)
      rounds = parse_count(argv[i], argv[i + 1]);
    else
      die(argv[i], "unknown flag (--iters N, --rounds R)");
  }
  if (argc % 2 == 0) die("usage", "process_steps [--iters N] [--rounds R]");
  size_t per = (iters + rounds - 1) / rounds;
  iters = per * rounds;

  shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) die("mmap", strerror(errno));
  int rc = pthread_atfork(NULL, NULL, atfork_child);
  if (rc != 0) die("pthread_atfork", strerror(rc));

  mproc_value_t *args, *kwargs;
  check(mproc_pack(&args, "(si)", "test", 18), "pack");
  check(mproc_pack(&kwargs, "{s:i}", "m", 20), "pack");
  mproc__buf_t frame = {0};
  mproc__call_out_t call = {NULL, args, kwargs, 0};
  check(mproc__call_encode_frame(&frame, &call), "encode");
  mproc_process_opts_t opts = {0};
  opts.target = bench_target;
  opts.args = args;
  opts.kwargs = kwargs;
  fflush(stdout);

  uint64_t *abl[NV], *mt[M_N], *rt[R_N];
  for (size_t v = 0; v < NV; v++) abl[v] = calloc(iters, sizeof(uint64_t));
  for (int k = 0; k < M_N; k++) mt[k] = calloc(iters, sizeof(uint64_t));
  for (int k = 0; k < R_N; k++) rt[k] = calloc(iters, sizeof(uint64_t));
  for (size_t v = 0; v < NV; v++)
    if (abl[v] == NULL) die("calloc", "out of memory");

  /* Warm-up. */
  uint64_t at[M_N];
  for (int i = 0; i < 50; i++) {
    for (size_t v = 0; v + 1 < NV; v++)
      ablate_once(variants[v].flags, frame.p, frame.len);
    mproc_once(&opts, at);
    raw_timeline_once(frame.p, frame.len, at);
  }

  size_t n = 0;
  size_t nv_all = NV + 2; /* ablation variants, then the two timelines */
  for (size_t r = 0; r < rounds; r++) {
    for (size_t k = 0; k < nv_all; k++) {
      size_t v = (r + k) % nv_all;
      for (size_t i = 0; i < per; i++) {
        if (v < NV && variants[v].flags >= 0) {
          uint64_t t0 = now_ns();
          ablate_once(variants[v].flags, frame.p, frame.len);
          abl[v][n + i] = now_ns() - t0;
        } else if (v < NV) {
          uint64_t t0 = now_ns();
          mproc_once(&opts, at);
          abl[v][n + i] = now_ns() - t0;
        } else if (v == NV) {
          mproc_once(&opts, at);
          for (int m = 0; m < M_N; m++) mt[m][n + i] = at[m];
        } else {
          raw_timeline_once(frame.p, frame.len, at);
          for (int m = 0; m < R_N; m++) rt[m][n + i] = at[m];
        }
      }
    }
    n += per;
  }

  printf("process_steps: iters=%zu per variant, rounds=%zu, interleaved; "
         "medians in us\n\n",
         iters, rounds);
  printf("raw timeline (from the iteration's start)\n");
  for (int m = 0; m < R_N; m++)
    printf("  %-26s %8.1f\n", r_names[m], median_us(rt[m], iters));
  printf("multiproc timeline (from before mproc_process_new)\n");
  int order[M_N] = {M_NEW,      M_CHILD0, M_STARTED, M_ENTERED,
                    M_RETURNED, M_REAPED, M_JOINED,  M_CLOSED};
  for (int k = 0; k < M_N; k++)
    printf("  %-26s %8.1f\n", m_names[order[k]],
           median_us(mt[order[k]], iters));

  printf("\nablation (raw + one multiproc step)      p10      p25   median"
         "  median-raw\n");
  double base = median_us(abl[0], iters);
  for (size_t v = 0; v < NV; v++) {
    double m = median_us(abl[v], iters);
    printf("  %-32s %8.1f %8.1f %8.1f   %+8.1f\n", variants[v].name,
           quantile_us(abl[v], iters, 0.10), quantile_us(abl[v], iters, 0.25),
           m, m - base);
  }

  for (size_t v = 0; v < NV; v++) free(abl[v]);
  for (int k = 0; k < M_N; k++) free(mt[k]);
  for (int k = 0; k < R_N; k++) free(rt[k]);
  mproc__buf_free(&frame);
  mproc_value_free(args);
  mproc_value_free(kwargs);
  return 0;
}
