/* Pool benchmark: multiproc's pool next to Python's multiprocessing.Pool
 * (fork start method) on the same machine, the same trivial task
 * (identity), the same number of workers:
 *
 *   apply     sequential round trips of one task, next to a raw 1-byte pipe
 *             ping-pong between two processes (the floor for any IPC
 *             round trip)
 *   submit    N tasks submitted one per call, then all waited for, next to
 *             Python's Pool.map(chunksize=1) over N items
 *   map       map over N items with automatic chunking, next to Python's
 *             Pool.map with its default chunking
 *
 *   bazel run //bench:pool_bench -- [--workers W] [--apply N] [--tasks N]
 *                                   [--rounds R]
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "multiproc.h"
#include "multiproc/pool.h"

MPROC_TARGET(ident) {
  const mproc_value_t *x;
  if (mproc_unpack(call, "x=O", &x) < 0) return -1;
  mproc_value_t *copy;
  int rc = mproc_value_copy(&copy, x);
  if (rc < 0) return rc;
  return mproc_call_set_result(call, copy);
}

/* ---- raw ping-pong: the floor of a round trip between two processes */

static double raw_pingpong_us(size_t n) {
  int a[2], b[2];
  if (pipe2(a, O_CLOEXEC) < 0 || pipe2(b, O_CLOEXEC) < 0)
    bench_die("pipe2", strerror(errno));
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) bench_die("fork", strerror(errno));
  char c = 'x';
  if (pid == 0) {
    close(a[1]);
    close(b[0]);
    for (;;) {
      ssize_t r = read(a[0], &c, 1);
      if (r <= 0) _exit(0);
      if (write(b[1], &c, 1) != 1) _exit(1);
    }
  }
  close(a[0]);
  close(b[1]);
  for (size_t i = 0; i < 100; i++) {
    if (write(a[1], &c, 1) != 1 || read(b[0], &c, 1) != 1)
      bench_die("ping-pong", "short transfer");
  }
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < n; i++) {
    if (write(a[1], &c, 1) != 1 || read(b[0], &c, 1) != 1)
      bench_die("ping-pong", "short transfer");
  }
  double us = (double)(bench_now_ns() - t0) / 1e3 / (double)n;
  close(a[1]);
  close(b[0]);
  waitpid(pid, NULL, 0);
  return us;
}

/* ---- multiproc */

static double apply_us(mproc_pool_t *pool, size_t n) {
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < n; i++) {
    mproc_value_t *args, *result;
    bench_check(mproc_pack(&args, "(z)", i), "pack");
    mproc_task_error_t err;
    int rc = mproc_pool_apply(pool, "ident", args, NULL, &result, &err);
    if (rc < 0) bench_die("apply", err.message);
    mproc_value_free(result);
    mproc_value_free(args);
  }
  return (double)(bench_now_ns() - t0) / 1e3 / (double)n;
}

static double submit_s(mproc_pool_t *pool, size_t n) {
  mproc_future_t **fs = malloc(n * sizeof *fs);
  if (fs == NULL) bench_die("malloc", strerror(errno));
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < n; i++) {
    mproc_value_t *args;
    bench_check(mproc_pack(&args, "(z)", i), "pack");
    bench_check(mproc_pool_submit(pool, "ident", args, NULL, &fs[i]),
                "submit");
    mproc_value_free(args);
  }
  for (size_t i = 0; i < n; i++) {
    const mproc_value_t *v;
    bench_check(mproc_future_wait(fs[i], -1), "wait");
    bench_check(mproc_future_result(fs[i], &v), "result");
    mproc_future_free(fs[i]);
  }
  double s = (double)(bench_now_ns() - t0) / 1e9;
  free(fs);
  return s;
}

static double map_s(mproc_pool_t *pool, size_t n) {
  mproc_value_t *items;
  bench_check(mproc_value_list(&items), "list");
  for (size_t i = 0; i < n; i++) {
    mproc_value_t *v;
    bench_check(mproc_value_int(&v, (int64_t)i), "int");
    bench_check(mproc_list_append(items, v), "append");
  }
  uint64_t t0 = bench_now_ns();
  mproc_value_t *out;
  mproc_task_error_t err;
  if (mproc_pool_map(pool, "ident", items, 0, &out, &err) < 0)
    bench_die("map", err.message);
  double s = (double)(bench_now_ns() - t0) / 1e9;
  if (mproc_value_len(out) != n) bench_die("map", "wrong result count");
  mproc_value_free(out);
  mproc_value_free(items);
  return s;
}

/* ---- python */

static double python(const char *script, const char *mode, size_t n,
                     unsigned workers) {
  char n_s[32], w_s[32];
  snprintf(n_s, sizeof n_s, "%zu", n);
  snprintf(w_s, sizeof w_s, "%u", workers);
  char *argv[] = {(char *)BENCH_PYTHON, (char *)script, (char *)mode, n_s,
                  w_s, NULL};
  char *text = bench_run_capture(argv);
  double s = bench_field(text, "seconds");
  free(text);
  if (isnan(s)) bench_die(script, "no seconds= in its output");
  return s;
}

static size_t parse_count(const char *flag, const char *s) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (s[0] == '-' || *end != '\0' || errno != 0 || v == 0 || v > 100000000)
    bench_die(flag, "expects a positive count");
  return (size_t)v;
}

static double median(double *v, size_t n) {
  samples_t s = {v, n, n};
  return stats_of(&s).median;
}

int main(int argc, char **argv) {
  size_t workers = 2, napply = 5000, ntasks = 100000, rounds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--workers") == 0)
      workers = parse_count(argv[i], argv[i + 1]);
    else if (strcmp(argv[i], "--apply") == 0)
      napply = parse_count(argv[i], argv[i + 1]);
    else if (strcmp(argv[i], "--tasks") == 0)
      ntasks = parse_count(argv[i], argv[i + 1]);
    else if (strcmp(argv[i], "--rounds") == 0)
      rounds = parse_count(argv[i], argv[i + 1]);
    else
      bench_die(argv[i], "unknown flag");
  }
  const char *script = NULL;
  if (access(BENCH_PYTHON, X_OK) == 0)
    script = bench_runfile(argv[0], "bench/pool_bench.py");

  struct utsname u;
  uname(&u);
  printf("multiproc pool benchmark\n");
  printf("machine : nproc=%ld, %s %s %s\n", sysconf(_SC_NPROCESSORS_ONLN),
         u.sysname, u.release, u.machine);
  printf("settings: workers=%zu, apply=%zu, tasks=%zu, rounds=%zu "
         "(medians of the rounds, variants interleaved)\n",
         workers, napply, ntasks, rounds);
  if (script == NULL) printf("python  : unavailable; C figures only\n");
  fflush(stdout);

  mproc_pool_opts_t opts = {0};
  opts.workers = (unsigned)workers;
  mproc_pool_t *pool;
  bench_check(mproc_pool_new(&pool, &opts), "mproc_pool_new");
  map_s(pool, workers * 16); /* warm up: every worker started */

  double raw[16], app[16], sub[16], map[16], py_app[16], py_map1[16],
      py_map[16];
  if (rounds > 16) rounds = 16;
  for (size_t r = 0; r < rounds; r++) {
    raw[r] = raw_pingpong_us(napply);
    app[r] = apply_us(pool, napply);
    sub[r] = submit_s(pool, ntasks);
    map[r] = map_s(pool, ntasks);
    if (script != NULL) {
      py_app[r] = python(script, "apply", napply, (unsigned)workers) * 1e6 /
                  (double)napply;
      py_map1[r] = python(script, "map1", ntasks, (unsigned)workers);
      py_map[r] = python(script, "map", ntasks, (unsigned)workers);
    }
  }
  mproc_pool_close(pool);
  bench_check(mproc_pool_join(pool, -1), "join");
  mproc_pool_free(pool);

  double m_raw = median(raw, rounds), m_app = median(app, rounds),
         m_sub = median(sub, rounds), m_map = median(map, rounds);
  printf("\n%-34s %12s %12s %8s  %s\n", "workload", "multiproc", "reference",
         "ratio", "goal");
  printf("%-34s %9.1f us %9.1f us %8.2f  <= 2 (vs raw ping-pong) %s\n",
         "apply round trip", m_app, m_raw, m_app / m_raw,
         m_app / m_raw <= 2 ? "met" : "NOT met");
  if (script != NULL) {
    double p_app = median(py_app, rounds), p_map1 = median(py_map1, rounds),
           p_map = median(py_map, rounds);
    printf("%-34s %9.1f us %9.1f us %8.2f  (python/multiproc)\n",
           "apply round trip vs Python", m_app, p_app, p_app / m_app);
    printf("%-34s %10.3f s %10.3f s %8.2f  >= 10 (python/multiproc) %s\n",
           "submit one per call vs map(cs=1)", m_sub, p_map1, p_map1 / m_sub,
           p_map1 / m_sub >= 10 ? "met" : "NOT met");
    printf("%-34s %10.3f s %10.3f s %8.2f  >= 1.5 (python/multiproc) %s\n",
           "map, automatic chunks", m_map, p_map, p_map / m_map,
           p_map / m_map >= 1.5 ? "met" : "NOT met");
  } else {
    printf("%-34s %10.3f s\n", "submit one per call", m_sub);
    printf("%-34s %10.3f s\n", "map, automatic chunks", m_map);
  }
  return 0;
}
