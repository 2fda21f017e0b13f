/* //bench:all, skewed batches on 2 workers: one 3 s task and forty 50 ms
 * ones (through submit, ordered imap with chunksize 1, and map with
 * automatic chunks), and 1 ms tasks with every tenth 10 ms (submit); each
 * against Python's Pool on the same durations and against the ideal
 * schedule: the tasks, in order, each to the first worker free, with no
 * cost for moving them (and each sleep as long as a sleep of that length
 * really takes on this machine, measured in the run). The tasks sleep, so the figures do not depend on
 * the CPU time other jobs take on a shared machine. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/all.h"
#include "multiproc.h"

#define SKEW_WORKERS 2

MPROC_TARGET(bench_sleep) {
  double s;
  if (mproc_unpack(call, "d", &s) < 0) return -1;
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
  return mproc_call_return(call, "d", s);
}

static void nap(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* What a sleep of d seconds really takes here (the timer's slack and the
 * wake-up): the median of a few, measured now. A 3 s sleep is taken as 3 s
 * plus a 50 ms sleep's overshoot. */
static double actual_sleep_s(double d) {
  static double asked[8], took[8];
  static size_t known;
  for (size_t i = 0; i < known; i++)
    if (asked[i] == d) return took[i];
  double probe = d > 0.1 ? 0.05 : d;
  size_t k = probe < 0.005 ? 30 : probe < 0.02 ? 10 : 5;
  double v[32];
  for (size_t i = 0; i < k; i++) {
    uint64_t t0 = bench_now_ns();
    nap(probe);
    v[i] = (double)(bench_now_ns() - t0) / 1e9;
  }
  double t = d + (bench_median(v, k) - probe);
  if (known < 8) {
    asked[known] = d;
    took[known++] = t;
  }
  return t;
}

/* Makespan of the list schedule: each task, in order, to the worker that
 * is free first, each taking what its sleep really takes. */
static double ideal_s(const double *asked, size_t n, unsigned workers) {
  double free_at[SKEW_WORKERS] = {0};
  double d[512];
  for (size_t i = 0; i < n; i++) d[i] = actual_sleep_s(asked[i]);
  for (size_t i = 0; i < n; i++) {
    unsigned best = 0;
    for (unsigned w = 1; w < workers; w++)
      if (free_at[w] < free_at[best]) best = w;
    free_at[best] += d[i];
  }
  double end = 0;
  for (unsigned w = 0; w < workers; w++)
    if (free_at[w] > end) end = free_at[w];
  return end;
}

static mproc_pool_t *fresh_pool(void) {
  mproc_pool_opts_t opts = {0};
  opts.workers = SKEW_WORKERS;
  mproc_pool_t *pool;
  bench_check(mproc_pool_new(&pool, &opts), "mproc_pool_new");
  mproc_value_t *items, *out;
  bench_check(mproc_pack(&items, "[dddd]", 0.0, 0.0, 0.0, 0.0), "pack");
  mproc_task_error_t err;
  bench_check(mproc_pool_map(pool, "bench_sleep", items, 1, &out, &err),
              "warm-up");
  mproc_value_free(out);
  mproc_value_free(items);
  return pool;
}

static void done_pool(mproc_pool_t *pool) {
  mproc_pool_close(pool);
  bench_check(mproc_pool_join(pool, -1), "join");
  mproc_pool_free(pool);
}

static mproc_value_t *float_list(const double *d, size_t n) {
  mproc_value_t *l;
  bench_check(mproc_value_list(&l), "list");
  for (size_t i = 0; i < n; i++) {
    mproc_value_t *v;
    bench_check(mproc_value_float(&v, d[i]), "float");
    bench_check(mproc_list_append(l, v), "append");
  }
  return l;
}

typedef enum { SUBMIT, IMAP, MAP, IMAP_WIDE } how_t;

static double run(how_t how, const double *d, size_t n) {
  mproc_pool_t *pool = fresh_pool();
  mproc_value_t *items = float_list(d, n);
  uint64_t t0 = bench_now_ns();
  if (how == SUBMIT) {
    mproc_future_t **fs = malloc(n * sizeof *fs);
    if (fs == NULL) bench_die("malloc", strerror(errno));
    for (size_t i = 0; i < n; i++) {
      mproc_value_t *args;
      bench_check(mproc_pack(&args, "(d)", d[i]), "pack");
      bench_check(mproc_pool_submit(pool, "bench_sleep", args, NULL, &fs[i]),
                  "submit");
      mproc_value_free(args);
    }
    for (size_t i = 0; i < n; i++) {
      bench_check(mproc_future_wait(fs[i], -1), "wait");
      mproc_future_free(fs[i]);
    }
    free(fs);
  } else if (how == IMAP || how == IMAP_WIDE) {
    mproc_imap_opts_t im = {0};
    im.target = "bench_sleep";
    im.items = items;
    im.chunksize = 1;
    if (how == IMAP_WIDE) im.window = 64;
    mproc_iter_t *it;
    bench_check(mproc_pool_imap(pool, &im, &it), "imap");
    mproc_item_t item;
    int rc;
    size_t got = 0;
    while ((rc = mproc_iter_next(it, -1, &item)) == 1) {
      if (item.error.code != 0) bench_die("imap", item.error.message);
      got++;
    }
    bench_check(rc, "iter_next");
    mproc_iter_free(it);
    if (got != n) bench_die("imap", "wrong count");
  } else {
    mproc_value_t *out;
    mproc_task_error_t err;
    if (mproc_pool_map(pool, "bench_sleep", items, 0, &out, &err) < 0)
      bench_die("map", err.message);
    mproc_value_free(out);
  }
  double s = (double)(bench_now_ns() - t0) / 1e9;
  mproc_value_free(items);
  done_pool(pool);
  return s;
}

static char *durations_arg(const double *d, size_t n) {
  size_t cap = n * 24 + 1, len = 0;
  char *s = malloc(cap);
  if (s == NULL) bench_die("malloc", strerror(errno));
  s[0] = '\0';
  for (size_t i = 0; i < n; i++)
    len += (size_t)snprintf(s + len, cap - len, "%s%.6f", i ? "," : "", d[i]);
  return s;
}

static void rows_for(const bench_opts_t *o, const char *name, how_t how,
                     const char *py_mode, const double *d, size_t n) {
  char *arg = durations_arg(d, n);
  double mine[64] = {0}, py[64] = {0};
  for (size_t r = 0; r < o->rounds; r++) {
    if (r % 2) py[r] = bench_py(o, py_mode, SKEW_WORKERS, arg, NULL);
    mine[r] = run(how, d, n);
    if (r % 2 == 0) py[r] = bench_py(o, py_mode, SKEW_WORKERS, arg, NULL);
  }
  free(arg);
  double m = bench_median(mine, o->rounds), p = bench_median(py, o->rounds);
  double ideal = ideal_s(d, n, SKEW_WORKERS);
  char label[64];
  bool info = strncmp(name, "(info)", 6) == 0;
  snprintf(label, sizeof label, "%s (vs Python)", name);
  bench_row(label, bench_fmt("%.3f s", m),
            o->py ? bench_fmt("%.3f s py", p) : "skipped", p / m,
            info ? "(info)" : "<= Python's time",
            info || isnan(p) ? -1 : m <= p);
  snprintf(label, sizeof label, "%s (vs ideal)", name);
  bench_row(label, bench_fmt("%.3f s", m), bench_fmt("%.3f s ideal", ideal),
            m / ideal, info ? "(info)" : "<= 1.1x ideal",
            info ? -1 : m <= 1.1 * ideal);
}

void bench_group_skew(const bench_opts_t *o) {
  double scale = o->quick ? 0.1 : 1.0;
  double d[512];
  size_t n = 0;
  d[n++] = 3.0 * scale;
  for (int i = 0; i < 40; i++) d[n++] = 0.05 * scale;
  rows_for(o, "skew 1x3s+40x50ms, submit", SUBMIT, "skew_submit", d, n);
  rows_for(o, "skew 1x3s+40x50ms, ordered imap", IMAP, "skew_imap", d, n);
  rows_for(o, "skew 1x3s+40x50ms, map", MAP, "skew_map", d, n);
  rows_for(o, "(info) skew, ordered imap, window 64", IMAP_WIDE, "skew_imap",
           d, n);
  n = 0;
  for (int i = 0; i < 400; i++) d[n++] = (i % 10 == 0 ? 0.010 : 0.001);
  rows_for(o, "skew 400x1ms, every 10th 10ms, submit", SUBMIT, "skew_submit",
           d, n);
}
