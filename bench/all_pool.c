/* //bench:all, pool throughput rows: map with automatic chunks, one submit
 * per task, imap and imap_unordered with chunksize 1 (each against
 * Python's Pool on the same workload), and the apply round trip against a
 * raw 1-byte pipe ping-pong. The task is the identity on an int. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/all.h"
#include "multiproc.h"

MPROC_TARGET(bench_ident) {
  const mproc_value_t *x;
  if (mproc_unpack(call, "x=O", &x) < 0) return -1;
  mproc_value_t *copy;
  int rc = mproc_value_copy(&copy, x);
  if (rc < 0) return rc;
  return mproc_call_set_result(call, copy);
}

/* The floor of any round trip between two processes: one byte each way
 * through two pipes. Returns microseconds per round trip. */
static double pingpong_us(size_t n) {
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
      if (read(a[0], &c, 1) != 1) _exit(0);
      if (write(b[1], &c, 1) != 1) _exit(1);
    }
  }
  close(a[0]);
  close(b[1]);
  for (size_t i = 0; i < 100; i++)
    if (write(a[1], &c, 1) != 1 || read(b[0], &c, 1) != 1)
      bench_die("ping-pong", "short transfer");
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < n; i++)
    if (write(a[1], &c, 1) != 1 || read(b[0], &c, 1) != 1)
      bench_die("ping-pong", "short transfer");
  double us = (double)(bench_now_ns() - t0) / 1e3 / (double)n;
  close(a[1]);
  close(b[0]);
  waitpid(pid, NULL, 0);
  return us;
}

static double apply_us(mproc_pool_t *pool, size_t n) {
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < n; i++) {
    mproc_value_t *args, *result;
    bench_check(mproc_pack(&args, "(z)", i), "pack");
    mproc_task_error_t err;
    if (mproc_pool_apply(pool, "bench_ident", args, NULL, &result, &err) < 0)
      bench_die("apply", err.message);
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
    bench_check(mproc_pool_submit(pool, "bench_ident", args, NULL, &fs[i]),
                "submit");
    mproc_value_free(args);
  }
  for (size_t i = 0; i < n; i++) {
    const mproc_value_t *v;
    bench_check(mproc_future_wait(fs[i], -1), "wait");
    bench_check(mproc_future_result(fs[i], &v), "result");
    int64_t x;
    if (mproc_value_get_int(v, &x) < 0 || x != (int64_t)i)
      bench_die("submit", "wrong result");
    mproc_future_free(fs[i]);
  }
  double s = (double)(bench_now_ns() - t0) / 1e9;
  free(fs);
  return s;
}

static mproc_value_t *int_list(size_t n) {
  mproc_value_t *items;
  bench_check(mproc_value_list(&items), "list");
  for (size_t i = 0; i < n; i++) {
    mproc_value_t *v;
    bench_check(mproc_value_int(&v, (int64_t)i), "int");
    bench_check(mproc_list_append(items, v), "append");
  }
  return items;
}

static double map_s(mproc_pool_t *pool, const mproc_value_t *items) {
  uint64_t t0 = bench_now_ns();
  mproc_value_t *out;
  mproc_task_error_t err;
  if (mproc_pool_map(pool, "bench_ident", items, 0, &out, &err) < 0)
    bench_die("map", err.message);
  double s = (double)(bench_now_ns() - t0) / 1e9;
  if (!mproc_value_equal(out, items)) bench_die("map", "wrong results");
  mproc_value_free(out);
  return s;
}

static double imap_s(mproc_pool_t *pool, const mproc_value_t *items,
                     bool unordered, size_t window) {
  size_t n = mproc_value_len(items);
  mproc_imap_opts_t im = {0};
  im.target = "bench_ident";
  im.items = items;
  im.chunksize = 1;
  im.unordered = unordered;
  im.window = window;
  uint64_t t0 = bench_now_ns();
  mproc_iter_t *it;
  bench_check(mproc_pool_imap(pool, &im, &it), "imap");
  mproc_item_t item;
  size_t got = 0;
  int64_t sum = 0;
  int rc;
  while ((rc = mproc_iter_next(it, -1, &item)) == 1) {
    int64_t x;
    if (item.error.code != 0 || mproc_value_get_int(item.result, &x) < 0 ||
        x != (int64_t)item.index)
      bench_die("imap", "wrong result");
    sum += x;
    got++;
  }
  bench_check(rc, "iter_next");
  mproc_iter_free(it);
  double s = (double)(bench_now_ns() - t0) / 1e9;
  if (got != n || sum != (int64_t)(n * (n - 1) / 2))
    bench_die("imap", "wrong result count");
  return s;
}

/* One row against Python: figure and reference in seconds, the ratio
 * python/multiproc, the goal ">= want". */
static void py_row(const bench_opts_t *o, const char *name, double mine,
                   double py, double want) {
  char goal[64];
  snprintf(goal, sizeof goal, ">= %.0fx Python", want);
  double ratio = py / mine;
  bench_row(name, bench_fmt("%.3f s", mine),
            o->py ? bench_fmt("%.3f s py", py) : "skipped", ratio, goal,
            isnan(ratio) ? -1 : ratio >= want);
}

void bench_group_pool(const bench_opts_t *o) {
  size_t n = o->quick ? 10000 : 100000, napply = o->quick ? 1000 : 5000;
  char n_s[32];
  snprintf(n_s, sizeof n_s, "%zu", n);

  mproc_pool_opts_t opts = {0};
  opts.workers = o->workers;
  mproc_pool_t *pool;
  bench_check(mproc_pool_new(&pool, &opts), "mproc_pool_new");
  mproc_value_t *items = int_list(n);
  mproc_value_t *warm = int_list(o->workers * 16);
  map_s(pool, warm); /* every worker started */
  mproc_value_free(warm);

  enum { MAP, SUBMIT, IMAP, IMAPU, IMAPW, APPLY, RAW, NV };
  double v[NV][64] = {{0}}, py[NV][64] = {{0}};
  size_t R = o->rounds;
  for (size_t r = 0; r < R; r++) {
    /* Python first on odd rounds: machine drift hits both alike. */
    bool py_first = r % 2;
    for (int k = 0; k < 2; k++) {
      if ((k == 0) == py_first) {
        py[MAP][r] = bench_py(o, "map", o->workers, n_s, NULL);
        py[SUBMIT][r] = bench_py(o, "map1", o->workers, n_s, NULL);
        py[IMAP][r] = bench_py(o, "imap", o->workers, n_s, NULL);
        py[IMAPU][r] = bench_py(o, "imap_unordered", o->workers, n_s, NULL);
      } else {
        v[MAP][r] = map_s(pool, items);
        v[SUBMIT][r] = submit_s(pool, n);
        v[IMAP][r] = imap_s(pool, items, false, 0);
        v[IMAPU][r] = imap_s(pool, items, true, 0);
        v[IMAPW][r] = imap_s(pool, items, false, 1024);
        v[RAW][r] = pingpong_us(napply);
        v[APPLY][r] = apply_us(pool, napply);
      }
    }
  }
  mproc_value_free(items);
  mproc_pool_close(pool);
  bench_check(mproc_pool_join(pool, -1), "join");
  mproc_pool_free(pool);

  double m[NV], p[NV];
  for (int k = 0; k < NV; k++) {
    m[k] = bench_median(v[k], R);
    p[k] = bench_median(py[k], R);
  }
  char name[64];
  snprintf(name, sizeof name, "map, automatic chunks, %zuk ints", n / 1000);
  py_row(o, name, m[MAP], p[MAP], 3);
  snprintf(name, sizeof name, "submit one per call, %zuk (py map cs=1)",
           n / 1000);
  py_row(o, name, m[SUBMIT], p[SUBMIT], 12);
  snprintf(name, sizeof name, "imap, chunksize 1, %zuk", n / 1000);
  py_row(o, name, m[IMAP], p[IMAP], 10);
  snprintf(name, sizeof name, "imap_unordered, chunksize 1, %zuk", n / 1000);
  py_row(o, name, m[IMAPU], p[IMAPU], 10);
  /* Python's imap reads its whole input ahead; multiproc's keeps a bounded
   * window (by default adaptive: from 4 x workers x chunksize, 8 here, up
   * to 1,024). The same with a fixed window of 1,024, not a goal row: what
   * the adaptive start costs. */
  snprintf(name, sizeof name, "(info) imap, window 1024, %zuk", n / 1000);
  double ratio_w = p[IMAP] / m[IMAPW];
  bench_row(name, bench_fmt("%.3f s", m[IMAPW]),
            o->py ? bench_fmt("%.3f s py", p[IMAP]) : "skipped", ratio_w,
            "(info)", -1);
  double ratio = m[APPLY] / m[RAW];
  bench_row("apply round trip (vs raw pipe ping-pong)",
            bench_fmt("%.1f us", m[APPLY]), bench_fmt("%.1f us raw", m[RAW]),
            ratio, "<= 1.5x raw", ratio <= 1.5);
}
