/* //bench:all, big payloads and worker memory: one 256 MiB bytes argument
 * handed to a Process child, and a 64 MiB bytes argument to a pool task
 * with the same 64 MiB back, each against the raw pipe bandwidth measured
 * in the same round (a child reading 256 MiB through a pipe into a reused
 * 1 MiB buffer); and an idle pool worker's private memory, before and
 * after it handled the 64 MiB task. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/all.h"
#include "multiproc.h"

/* Checks the bytes argument: its size, and a byte at each end. */
static int check_blob(mproc_call_t *call, const mproc_value_t **out) {
  const mproc_value_t *b;
  if (mproc_unpack(call, "O", &b) < 0) return -1;
  const void *p;
  size_t n;
  if (mproc_value_get_bytes(b, &p, &n) < 0 || n == 0)
    return mproc_call_fail(call, "expected bytes");
  const unsigned char *c = p;
  if (c[0] != 0 || c[n - 1] != (unsigned char)((n - 1) * 7))
    return mproc_call_fail(call, "wrong bytes");
  *out = b;
  return 0;
}

static int blob_target(mproc_call_t *call) {
  const mproc_value_t *b;
  return check_blob(call, &b);
}

/* The pool task: returns its bytes argument (a copy: args are borrowed). */
MPROC_TARGET(bench_echo_bytes) {
  const mproc_value_t *b;
  if (check_blob(call, &b) < 0) return -1;
  mproc_value_t *copy;
  int rc = mproc_value_copy(&copy, b);
  if (rc < 0) return rc;
  return mproc_call_set_result(call, copy);
}

MPROC_TARGET(bench_small) { return mproc_call_return(call, "i", 1); }

/* Seconds to move n bytes of buf through a pipe into a child that reads
 * them into a reused 1 MiB buffer. */
static double raw_pipe_s(const unsigned char *buf, size_t n) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) bench_die("pipe2", strerror(errno));
  fflush(NULL);
  uint64_t t0 = bench_now_ns();
  pid_t pid = fork();
  if (pid < 0) bench_die("fork", strerror(errno));
  if (pid == 0) {
    close(p[1]);
    static unsigned char in[1 << 20];
    size_t got = 0;
    ssize_t r;
    while ((r = read(p[0], in, sizeof in)) != 0) {
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) _exit(2);
      got += (size_t)r;
    }
    _exit(got == n ? 0 : 1);
  }
  close(p[0]);
  for (size_t put = 0; put < n;) {
    size_t want = n - put < (1u << 20) ? n - put : (1u << 20);
    ssize_t w = write(p[1], buf + put, want);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) bench_die("write", strerror(errno));
    put += (size_t)w;
  }
  close(p[1]);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) bench_die("waitpid", strerror(errno));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    bench_die("raw pipe child", "short read");
  return (double)(bench_now_ns() - t0) / 1e9;
}

/* From the caller's buffer to the child's target and back to join: pack,
 * new, start, join, close. */
static double process_blob_s(const unsigned char *buf, size_t n) {
  uint64_t t0 = bench_now_ns();
  mproc_value_t *args;
  bench_check(mproc_pack(&args, "(y#)", buf, n), "pack");
  mproc_process_opts_t opts = {0};
  opts.target = blob_target;
  opts.args = args;
  opts.max_frame = n + 4096;
  mproc_process_t *p;
  bench_check(mproc_process_new(&p, &opts), "mproc_process_new");
  mproc_value_free(args);
  bench_check(mproc_process_start(p), "mproc_process_start");
  bench_check(mproc_process_join(p, -1), "mproc_process_join");
  int code = -1;
  if (mproc_process_exitcode(p, &code) != 1 || code != 0) {
    const char *e = mproc_process_error(p);
    bench_die("256 MiB child", e ? e : "did not exit with 0");
  }
  bench_check(mproc_process_close(p), "mproc_process_close");
  return (double)(bench_now_ns() - t0) / 1e9;
}

/* From the caller's buffer to the task and its copy back in the caller's
 * hands: pack, submit, wait, result. */
static double pool_blob_s(mproc_pool_t *pool, const unsigned char *buf,
                          size_t n, pid_t *worker) {
  uint64_t t0 = bench_now_ns();
  mproc_value_t *args;
  bench_check(mproc_pack(&args, "(y#)", buf, n), "pack");
  mproc_future_t *f;
  bench_check(mproc_pool_submit(pool, "bench_echo_bytes", args, NULL, &f),
              "submit");
  mproc_value_free(args);
  bench_check(mproc_future_wait(f, -1), "wait");
  const mproc_value_t *v;
  int rc = mproc_future_result(f, &v);
  if (rc < 0) {
    mproc_task_error_t err;
    mproc_future_error(f, &err);
    bench_die("64 MiB task", err.message);
  }
  const void *p;
  size_t len;
  if (mproc_value_get_bytes(v, &p, &len) < 0 || len != n ||
      ((const unsigned char *)p)[n - 1] != (unsigned char)((n - 1) * 7))
    bench_die("64 MiB task", "wrong result");
  mproc_task_timing_t t;
  mproc_future_timing(f, &t);
  *worker = t.pid;
  mproc_future_free(f);
  return (double)(bench_now_ns() - t0) / 1e9;
}

/* Private_Clean + Private_Dirty of pid, in kB (-1 when unreadable). */
static long private_kb(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
  FILE *f = fopen(path, "r");
  if (f == NULL) return -1;
  long kb = 0, v;
  while (fgets(line, sizeof line, f) != NULL) {
    if (sscanf(line, "Private_Clean: %ld kB", &v) == 1 ||
        sscanf(line, "Private_Dirty: %ld kB", &v) == 1)
      kb += v;
  }
  fclose(f);
  return kb;
}

static long max_worker_private_kb(mproc_pool_t *pool) {
  mproc_worker_stats_t st[64];
  size_t n = 0;
  bench_check(mproc_pool_stats(pool, st, 64, &n), "stats");
  long most = -1;
  for (size_t i = 0; i < n && i < 64; i++) {
    long kb = st[i].pid > 0 ? private_kb(st[i].pid) : -1;
    if (kb > most) most = kb;
  }
  return most;
}

static void nap(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

void bench_group_payload(const bench_opts_t *o) {
  size_t big = (o->quick ? 32u : 256u) << 20, mid = (o->quick ? 8u : 64u)
                                                     << 20;
  unsigned char *buf = malloc(big);
  if (buf == NULL) bench_die("malloc", strerror(errno));
  for (size_t i = 0; i < big; i++) buf[i] = (unsigned char)(i * 7);

  mproc_pool_opts_t opts = {0};
  opts.workers = o->workers;
  opts.max_frame = mid + 4096;
  mproc_pool_t *pool;
  bench_check(mproc_pool_new(&pool, &opts), "mproc_pool_new");
  mproc_value_t *items, *out;
  bench_check(mproc_pack(&items, "[iiiiiiii]", 1, 2, 3, 4, 5, 6, 7, 8), "p");
  mproc_task_error_t err;
  bench_check(mproc_pool_map(pool, "bench_small", items, 1, &out, &err), "m");
  mproc_value_free(out);
  mproc_value_free(items);
  nap(0.3);
  long idle_kb = max_worker_private_kb(pool);

  size_t R = o->rounds;
  double raw[64] = {0}, proc[64] = {0}, pool_s[64] = {0};
  pid_t worker = 0;
  for (size_t r = 0; r < R; r++) {
    if (r % 2) {
      proc[r] = process_blob_s(buf, big);
      pool_s[r] = pool_blob_s(pool, buf, mid, &worker);
      raw[r] = raw_pipe_s(buf, big);
    } else {
      raw[r] = raw_pipe_s(buf, big);
      proc[r] = process_blob_s(buf, big);
      pool_s[r] = pool_blob_s(pool, buf, mid, &worker);
    }
  }
  /* The worker that ran the last big task, once idle again. */
  nap(0.5);
  long after_kb = private_kb(worker);
  mproc_pool_close(pool);
  bench_check(mproc_pool_join(pool, -1), "join");
  mproc_pool_free(pool);
  free(buf);

  double raw_mbs = (double)big / bench_median(raw, R) / 1e6;
  double proc_mbs = (double)big / bench_median(proc, R) / 1e6;
  double pool_mbs = 2.0 * (double)mid / bench_median(pool_s, R) / 1e6;
  char name[64];
  snprintf(name, sizeof name, "%zu MiB bytes arg to a Process child",
           big >> 20);
  bench_row(name, bench_fmt("%.0f MB/s", proc_mbs),
            bench_fmt("%.0f MB/s raw", raw_mbs), proc_mbs / raw_mbs,
            ">= 0.6x raw pipe", proc_mbs / raw_mbs >= 0.6);
  snprintf(name, sizeof name, "%zu MiB to a pool task and back", mid >> 20);
  bench_row(name, bench_fmt("%.0f MB/s", pool_mbs),
            bench_fmt("%.0f MB/s raw", raw_mbs), pool_mbs / raw_mbs,
            ">= 0.6x raw pipe", pool_mbs / raw_mbs >= 0.6);
  bench_row("idle pool worker private memory", bench_fmt("%ld kB", idle_kb),
            "-", NAN, "<= 300 kB", idle_kb >= 0 && idle_kb <= 300);
  snprintf(name, sizeof name, "idle worker after a %zu MiB task", mid >> 20);
  bench_row(name, bench_fmt("%ld kB", after_kb), "-", NAN, "<= 1 MB",
            after_kb >= 0 && after_kb <= 1024);
  bench_note("MB/s counts the payload once for the Process (%zu MiB) and "
             "twice for the pool task (%zu MiB each way); timed from the "
             "caller's buffer (pack) to the child's target / the result in "
             "hand",
             big >> 20, mid >> 20);
}
